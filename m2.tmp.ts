const N=20000;
function run(keysPer: (i:number)=>string[]) {
  const m = new Map<string, any>();
  const ids = Array.from({length:N},(_, i)=>'pat-'+i);
  let t = performance.now();
  for (let i = 0; i < N; i++) { const id = ids[i]!; for (const key of keysPer(i)) { const s = m.get(key); if (s===undefined) m.set(key, id); else if (typeof s === 'string') m.set(key, new Set([s,id])); else s.add(id); } }
  return performance.now() - t;
}
console.log('unique keys x90', run(i => Array.from({length:90},(_,k)=>`c\u0000v${k}-${i}`)));
console.log('shared keys x90', run(i => Array.from({length:90},(_,k)=>`c\u0000v${k}`)));
console.log('keys only', (()=>{let t=performance.now(); let n=0; for(let i=0;i<N;i++) n+=Array.from({length:90},(_,k)=>`c\u0000v${k}-${i}`).length; return performance.now()-t;})());
