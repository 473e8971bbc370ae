/**
 * Generates `src/search/definitions-r4.json` from the official R4 (4.0.1) SearchParameter bundle.
 *
 * Usage:
 *   npm pack hl7.fhir.r4.examples@4.0.1 --pack-destination /tmp
 *   tar xzf /tmp/hl7.fhir.r4.examples-4.0.1.tgz -C /tmp/r4ex package/Bundle-searchParams.json
 *   npx tsx scripts/generate-search-parameters.ts /tmp/r4ex/package/Bundle-searchParams.json
 *
 * Output: `{ resourceTypes: string[], params: [code, type, base[], expression, target[] | 0, url][] }`
 * (compact tuples keep the file small). The resource type list comes from the R4 model that ships
 * with `fhirpath` (every type whose ancestry reaches `Resource`, abstract ones excluded).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import r4model from 'fhirpath/fhir-context/r4';

interface RawSearchParameter {
  resourceType: string;
  code: string;
  type: string;
  base: string[];
  expression?: string;
  target?: string[];
  url: string;
}

const input = process.argv[2] ?? '/tmp/r4ex/package/Bundle-searchParams.json';
const output = fileURLToPath(new URL('../src/search/definitions-r4.json', import.meta.url));

const bundle = JSON.parse(readFileSync(input, 'utf8')) as { entry: { resource: RawSearchParameter }[] };
const params = bundle.entry
  .map((e) => e.resource)
  .filter((r) => r.resourceType === 'SearchParameter')
  .map((p) => [p.code, p.type, p.base, p.expression ?? '', p.target ?? 0, p.url] as const);

const parents = r4model.type2Parent as Record<string, string>;
const isResource = (t: string): boolean => {
  for (let x: string | undefined = t; x; x = parents[x]) if (x === 'Resource') return true;
  return false;
};
const resourceTypes = Object.keys(parents)
  .filter((t) => isResource(t) && t !== 'Resource' && t !== 'DomainResource')
  .sort();

const json = '{"resourceTypes":' + JSON.stringify(resourceTypes) + ',"params":[\n' +
  params.map((p) => JSON.stringify(p)).join(',\n') + '\n]}\n';
writeFileSync(output, json);
console.log(`wrote ${params.length} parameters and ${resourceTypes.length} resource types to ${output}`);
