const m = new Map<string, any>();
let t = performance.now();
for (let i = 0; i < 20000; i++) { const id = 'pat-' + i; for (let k = 0; k < 60; k++) { const key = `c\u0000key${k % 30}`; const s = m.get(key); if (!s) m.set(key, new Set([id])); else s.add(id); } }
console.log('sets', performance.now() - t);
