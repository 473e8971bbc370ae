/**
 * Generates `src/search/structure-definitions-r4.json`, the compact table the structural validator
 * (`src/validation/`) reads, from the official R4 (4.0.1) StructureDefinitions, ValueSets and CodeSystems
 * in the npm package `hl7.fhir.r4.examples@4.0.1` (a devDependency; CC0).
 *
 * Usage: `npm run generate:structures` (or `npx tsx scripts/generate-structure-definitions.ts [packageDir] [output]`).
 *
 * Output:
 * ```
 * { version, resourceTypes: string[],
 *   primitives: { [type]: [jsonType, regex] },            // regex from the spec ('' when it gives none)
 *   structures: { [name]: [base, { [element]: spec }] },  // datatypes, resources and their backbone elements
 *   valueSets: { [name]: string[] } }                     // codes of required bindings on `code` elements
 * ```
 * A structure is a complex datatype (`HumanName`), a resource (`Patient`) or a backbone element, named by
 * its path (`Patient.contact`). Elements the structure inherits unchanged from its base (`id`, `extension`,
 * `meta`, …) are left out and put back by the loader. An element spec is `types card [=valueSet]`:
 * `types` is a type code or `a|b|c` for a choice (`deceased[x]`), `card` is '' (0..1), `*` (0..*),
 * `!` (1..1) or `+` (1..*).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface TypeRef {
  code: string;
  extension?: { url: string; valueUrl?: string; valueString?: string }[];
}
interface ElementDefinition {
  path: string;
  min?: number;
  max?: string;
  type?: TypeRef[];
  contentReference?: string;
  binding?: { strength: string; valueSet?: string };
}
interface StructureDefinition {
  name: string;
  type: string;
  kind: string;
  abstract: boolean;
  derivation?: string;
  baseDefinition?: string;
  snapshot?: { element: ElementDefinition[] };
}
interface Concept {
  code: string;
  concept?: Concept[];
}
interface CodeSystem {
  url: string;
  content: string;
  concept?: Concept[];
}
interface ValueSet {
  url: string;
  id: string;
  compose?: {
    include: { system?: string; concept?: { code: string }[]; filter?: unknown[]; valueSet?: string[] }[];
    exclude?: unknown[];
  };
}

const packageDir =
  process.argv[2] ?? fileURLToPath(new URL('../node_modules/hl7.fhir.r4.examples/', import.meta.url));
const output = process.argv[3] ?? fileURLToPath(new URL('../src/search/structure-definitions-r4.json', import.meta.url));

const files = readdirSync(packageDir).sort();
const load = <T>(prefix: string): T[] =>
  files
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(`${packageDir}/${f}`, 'utf8')) as T);

const FHIR_TYPE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/regex';
const extension = (type: TypeRef, url: string) => type.extension?.find((e) => e.url === url);

// Base definitions only: profiles (derivation "constraint", e.g. SimpleQuantity, vitalsigns) and logical
// models are not types an instance can have.
const definitions = load<StructureDefinition>('StructureDefinition-').filter(
  (sd) => sd.snapshot && sd.kind !== 'logical' && (sd.derivation === 'specialization' || sd.abstract),
);

// Primitive types. The JSON type follows json.html: boolean, and the integer and decimal families are JSON
// numbers (the 4.0.1 snapshots give positiveInt and unsignedInt the FHIRPath type String, so follow the base).
// The spec's regexes are XML Schema patterns, where `\s` is only space, tab, CR and LF: they are rewritten for
// JavaScript. Numbers and booleans carry no regex (their text is gone once parsed; ranges are checked in code).
const XSD_SPACE = ' \\t\\n\\r';
const REGEX_REWRITES: Record<string, string> = {
  // `[ \r\n\t\S]+` accepts any non-empty string in XML Schema; emptiness is checked for every primitive.
  string: '',
  markdown: '',
  // The spec's `(\s*([0-9a-zA-Z\+/=]){4}\s*)+` backtracks exponentially on a long invalid value; this
  // accepts the same strings in linear time.
  base64Binary: `[${XSD_SPACE}]*(?:[0-9a-zA-Z+/=]{4}[${XSD_SPACE}]*)+`,
};
const toJavaScript = (regex: string): string =>
  regex
    .replaceAll('[^\\s]', `[^${XSD_SPACE}]`)
    .replaceAll('\\S', `[^${XSD_SPACE}]`)
    .replaceAll('\\s', `[${XSD_SPACE}]`);
const primitiveDefinitions = new Map(definitions.filter((d) => d.kind === 'primitive-type').map((d) => [d.type, d]));
function jsonType(sd: StructureDefinition): string {
  for (let d: StructureDefinition | undefined = sd; d; d = primitiveDefinitions.get(d.baseDefinition!.split('/').pop()!)) {
    if (d.type === 'boolean') return 'boolean';
    if (d.type === 'integer' || d.type === 'decimal') return 'number';
  }
  return 'string';
}
const primitives: Record<string, [string, string]> = {};
for (const sd of primitiveDefinitions.values()) {
  const type = jsonType(sd);
  const value = sd.snapshot!.element.find((e) => e.path === `${sd.type}.value`)!.type![0]!;
  const regex = extension(value, REGEX_EXTENSION)?.valueString ?? '';
  primitives[sd.type] = [type, type !== 'string' ? '' : (REGEX_REWRITES[sd.type] ?? toJavaScript(regex))];
}

// Required bindings on `code` elements whose value set is an enumerable list of codes.
const codeSystems = new Map(load<CodeSystem>('CodeSystem-').map((cs) => [cs.url, cs]));
const valueSetsByUrl = new Map(load<ValueSet>('ValueSet-').map((vs) => [vs.url, vs]));
const valueSets: Record<string, string[]> = {};
const valueSetNames = new Map<string, string | null>();

function enumerate(url: string): string[] | null {
  const vs = valueSetsByUrl.get(url);
  if (!vs?.compose || vs.compose.exclude) return null;
  const codes: string[] = [];
  for (const include of vs.compose.include) {
    if (include.filter || include.valueSet) return null;
    if (include.concept) {
      codes.push(...include.concept.map((c) => c.code));
      continue;
    }
    const cs = include.system ? codeSystems.get(include.system) : undefined;
    if (!cs || cs.content !== 'complete') return null; // e.g. BCP-13 mime types, ISO 4217 currencies
    const walk = (concepts: Concept[] = []): void => {
      for (const c of concepts) {
        codes.push(c.code);
        walk(c.concept);
      }
    };
    walk(cs.concept);
  }
  return [...new Set(codes)];
}

function valueSetName(binding: ElementDefinition['binding']): string | null {
  if (binding?.strength !== 'required' || !binding.valueSet) return null;
  const url = binding.valueSet.split('|')[0]!;
  if (!valueSetNames.has(url)) {
    const codes = enumerate(url);
    const name = codes ? valueSetsByUrl.get(url)!.id : null;
    if (name && codes) valueSets[name] = codes;
    valueSetNames.set(url, name);
  }
  return valueSetNames.get(url)!;
}

function typeCode(element: ElementDefinition, type: TypeRef, isResourceRoot: boolean): string {
  // The 4.0.1 snapshots give `Resource.id` the FHIR type string, but the spec (resource.html) types it
  // `id`; other system types carry their FHIR type in an extension (`Element.id` string, `Extension.url` uri).
  if (isResourceRoot && element.path.endsWith('.id')) return 'id';
  if (!type.code.startsWith('http://hl7.org/fhirpath/System.')) return type.code;
  return extension(type, FHIR_TYPE_EXTENSION)!.valueUrl!;
}

function cardinality(element: ElementDefinition): string {
  const key = `${element.min ?? 0}..${element.max ?? '1'}`;
  const suffix = ({ '0..1': '', '0..*': '*', '1..1': '!', '1..*': '+' } as Record<string, string>)[key];
  if (suffix === undefined) throw new Error(`${element.path}: cardinality ${key} has no encoding`);
  return suffix;
}

type Structure = [base: string | null, elements: Record<string, string>];
const structures: Record<string, Structure> = {};

for (const sd of definitions.filter((d) => d.kind !== 'primitive-type')) {
  const isResource = sd.kind === 'resource';
  const base = sd.baseDefinition ? sd.baseDefinition.split('/').pop()! : null;
  structures[sd.type] = [base, {}];
  for (const element of sd.snapshot!.element.slice(1)) {
    const dot = element.path.lastIndexOf('.');
    const parent = element.path.slice(0, dot);
    const name = element.path.slice(dot + 1);
    const owner = structures[parent];
    if (!owner) throw new Error(`${element.path}: no structure for ${parent}`);
    let types: string;
    if (element.contentReference) {
      types = element.contentReference.slice(1);
    } else {
      const codes = element.type!.map((t) => typeCode(element, t, isResource && parent === sd.type));
      if (codes.length === 1 && (codes[0] === 'BackboneElement' || codes[0] === 'Element') && sd.type !== 'Element') {
        // A backbone element: a structure of its own, named by its path.
        structures[element.path] = [codes[0], {}];
        types = element.path;
      } else {
        types = codes.join('|');
      }
    }
    const vs = element.type?.length === 1 && element.type[0]!.code === 'code' ? valueSetName(element.binding) : null;
    owner[1][name] = types + cardinality(element) + (vs ? `=${vs}` : '');
  }
}

// Leave out what a structure inherits unchanged; `Resource` and `Element` are the roots.
const inherited = (name: string, element: string): string | undefined => {
  for (let base = structures[name]?.[0]; base; base = structures[base]?.[0]) {
    const spec = structures[base]?.[1][element];
    if (spec !== undefined) return spec;
  }
  return undefined;
};
const compacted: Record<string, Structure> = {};
for (const name of Object.keys(structures).sort()) {
  const [base, elements] = structures[name]!;
  const own = Object.entries(elements).filter(([element, spec]) => inherited(name, element) !== spec);
  compacted[name] = [base, Object.fromEntries(own)];
}

const resourceTypes = definitions
  .filter((d) => d.kind === 'resource' && !d.abstract)
  .map((d) => d.type)
  .sort();

const sortedValueSets = Object.fromEntries(Object.keys(valueSets).sort().map((k) => [k, valueSets[k]!]));
const lines = (record: Record<string, unknown>): string =>
  Object.entries(record)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join(',\n');
const json =
  `{"version":"4.0.1",\n"resourceTypes":${JSON.stringify(resourceTypes)},\n` +
  `"primitives":{\n${lines(primitives)}},\n"structures":{\n${lines(compacted)}},\n` +
  `"valueSets":{\n${lines(sortedValueSets)}}}\n`;
writeFileSync(output, json);
console.log(
  `wrote ${Object.keys(compacted).length} structures, ${Object.keys(primitives).length} primitives, ` +
    `${Object.keys(valueSets).length} value sets, ${resourceTypes.length} resource types ` +
    `(${(json.length / 1024).toFixed(0)} KB) to ${output}`,
);
