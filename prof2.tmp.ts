import { MemoryIndex } from './adapters/memory/memory-index.js';
import { IndexExtractor } from './src/search/extract.js';
import { SearchParameterRegistry } from './src/search/registry.js';
const registry = SearchParameterRegistry.r4();
const extractor = new IndexExtractor(registry);
const CITIES = Array.from({ length: 200 }, (_, i) => `City${i}`);
const mk = (i: number) => ({ resourceType: 'Patient', id: `pat-${i}`, meta: { versionId: '1', lastUpdated: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), tag: [{ system: 'urn:bench', code: `t${i % 5}` }] }, active: i % 7 !== 0,
    identifier: [ { system: 'urn:oid:1.2.3.4', value: `MRN${i}`, type: { text: 'Medical record number' } }, { system: 'http://hl7.org/fhir/sid/us-ssn', value: `999-${String(i).padStart(6, '0')}` } ],
    name: [{ use: 'official', family: 'Smith', given: ['A','B'] }], telecom: [ { system: 'phone', value: `555-${i}`, use: 'home' }, { system: 'email', value: `p${i}@example.org` } ],
    gender: i % 2 ? 'male' : 'female', birthDate: '1980-01-01', address: [{ use: 'home', line: [`${i} Main St`], city: CITIES[i % 200], state: 'MA', postalCode: String(10000 + (i % 900)), country: 'US' }],
    generalPractitioner: [{ reference: `Practitioner/pr-${i % 100}` }], managingOrganization: { reference: `Organization/org-${i % 20}` }, communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }] } }] });
const ps = Array.from({length: 20000}, (_, i) => mk(i));
const es = ps.map(p => extractor.extract(p as any));
const idx = new MemoryIndex();
let t = performance.now();
for (let i = 0; i < ps.length; i++) idx.replace('Patient', 'pat-'+i, es[i]!);
console.log('index only', performance.now() - t);
const idx2 = new MemoryIndex();
t = performance.now();
for (let i = 0; i < ps.length; i++) idx2.replace('Patient', 'pat-'+i, extractor.extract(ps[i] as any));
console.log('extract+index', performance.now() - t);
