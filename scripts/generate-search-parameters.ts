/**
 * Generates `src/search/definitions-r4.json` from the official R4 (4.0.1) SearchParameter bundle.
 *
 * Usage:
 *   npm pack hl7.fhir.r4.examples@4.0.1 --pack-destination /tmp
 *   tar xzf /tmp/hl7.fhir.r4.examples-4.0.1.tgz -C /tmp/r4ex package/Bundle-searchParams.json
 *   npx tsx scripts/generate-search-parameters.ts node_modules/hl7.fhir.r4.examples/Bundle-searchParams.json
 *   (the package is a devDependency; the tarball steps above are for a checkout without it)
 *
 * Output: `{ resourceTypes: string[], params: [code, type, base[], expression, target[] | 0, url, components?][] }`
 * (compact tuples keep the file small); `components` only for composite parameters, as
 * `[definition url, expression][]`. The resource type list comes from the R4 model that ships
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
  component?: { definition: string; expression: string }[];
}

const input = process.argv[2] ?? '/tmp/r4ex/package/Bundle-searchParams.json';
const output = fileURLToPath(new URL('../src/search/definitions-r4.json', import.meta.url));

/**
 * R4 (4.0.1) names the wrong definitions for the parts of `DocumentReference-relationship`: `code`
 * (a code) points at `relatesto` (a reference parameter) and `target` (a Reference) at `relation` (a
 * token parameter). Each part gets the definition of its own type, as R5 has it.
 */
function corrected(p: RawSearchParameter): RawSearchParameter {
  if (p.url !== 'http://hl7.org/fhir/SearchParameter/DocumentReference-relationship' || !p.component) return p;
  const definitionOf: Record<string, string> = {
    code: 'http://hl7.org/fhir/SearchParameter/DocumentReference-relation',
    target: 'http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto',
  };
  return { ...p, component: p.component.map((c) => ({ ...c, definition: definitionOf[c.expression] ?? c.definition })) };
}

const bundle = JSON.parse(readFileSync(input, 'utf8')) as { entry: { resource: RawSearchParameter }[] };
const params = bundle.entry
  .map((e) => e.resource)
  .filter((r) => r.resourceType === 'SearchParameter')
  .map(corrected)
  .map((p) => {
    const tuple = [p.code, p.type, p.base, p.expression ?? '', p.target ?? 0, p.url] as const;
    return p.component ? [...tuple, p.component.map((c) => [c.definition, c.expression])] : tuple;
  });

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
