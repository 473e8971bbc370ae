/**
 * Generates `src/search/compartments-r4.json`, the compact table of the five R4 (4.0.1) compartments,
 * from the official CompartmentDefinitions in the npm package `hl7.fhir.r4.examples@4.0.1` (a
 * devDependency; CC0): `CompartmentDefinition-{patient,encounter,relatedPerson,practitioner,device}.json`.
 *
 * Usage: `npm run generate:compartments` (or `npx tsx scripts/generate-compartments.ts [packageDir] [output]`).
 *
 * Output: `{ version, compartments: { [code]: { url, resources: { [type]: string[] } } } }`: per
 * compartment, each resource type that can be a member and the search parameters that make it one
 * (`{def}` = the compartment's own resource). Types without parameters are left out: they are never
 * members. Every parameter is checked to be an R4 reference parameter of its type that may point at
 * the compartment's type, so that membership can be derived from those parameters' index entries.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import definitions from '../src/search/definitions-r4.json' with { type: 'json' };

interface CompartmentDefinition {
  url: string;
  code: string;
  resource?: { code: string; param?: string[] }[];
}

const FILES = ['patient', 'encounter', 'relatedPerson', 'practitioner', 'device'];

const packageDir = process.argv[2] ?? fileURLToPath(new URL('../node_modules/hl7.fhir.r4.examples/', import.meta.url));
const output = process.argv[3] ?? fileURLToPath(new URL('../src/search/compartments-r4.json', import.meta.url));

type ParamTuple = readonly [string, string, readonly string[], string, readonly string[] | 0, string];
const params = new Map<string, ParamTuple>();
for (const p of (definitions as unknown as { params: ParamTuple[] }).params) {
  for (const base of p[2]) params.set(`${base}.${p[0]}`, p);
}

const compartments: Record<string, { url: string; resources: Record<string, string[]> }> = {};
for (const file of FILES) {
  const def = JSON.parse(readFileSync(join(packageDir, `CompartmentDefinition-${file}.json`), 'utf8')) as CompartmentDefinition;
  const resources: Record<string, string[]> = {};
  for (const r of def.resource ?? []) {
    if (!r.param || r.param.length === 0) continue;
    for (const code of r.param) {
      if (code === '{def}') continue;
      const p = params.get(`${r.code}.${code}`);
      if (!p || p[1] !== 'reference' || (p[4] !== 0 && !p[4].includes(def.code))) {
        throw new Error(`${def.code} compartment: ${r.code}.${code} is no reference parameter that may point at ${def.code}.`);
      }
    }
    resources[r.code] = [...r.param];
  }
  compartments[def.code] = { url: def.url, resources };
}

const json =
  '{"version":"4.0.1","compartments":{\n' +
  Object.entries(compartments)
    .map(([code, c]) => `${JSON.stringify(code)}:{"url":${JSON.stringify(c.url)},"resources":${JSON.stringify(c.resources)}}`)
    .join(',\n') +
  '\n}}\n';
writeFileSync(output, json);
console.log(`wrote ${Object.keys(compartments).length} compartments to ${output}`);
