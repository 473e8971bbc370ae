/**
 * The R4 (4.0.1) structure definitions the validator walks, compiled on first use from the generated
 * table `src/search/structure-definitions-r4.json` (see `scripts/generate-structure-definitions.ts` for
 * its format). Every lookup the validator makes per JSON key is one `Map.get`.
 * @packageDocumentation
 */
import table from '../search/structure-definitions-r4.json' with { type: 'json' };

/** A FHIR primitive type: its JSON type and the check of its value. */
export interface PrimitiveType {
  readonly name: string;
  readonly json: 'string' | 'number' | 'boolean';
  /** The spec's regex, anchored (strings only); undefined where {@link scan} checks the whole format. */
  readonly pattern: RegExp | undefined;
  /**
   * How a string of this type is scanned character by character, where its pattern does not exclude C0
   * controls and lone surrogates: `text` for those only (string, markdown, xhtml); `uri` and `code` check
   * their whole format that way too (the spec's `[^\s]*` and `[^\s]+(\s[^\s]+)*`), which is several times
   * faster than the regex on the short values they mostly hold. Undefined: the pattern admits printable ASCII only.
   */
  readonly scan: 'text' | 'uri' | 'code' | 'base64' | undefined;
}

/** An element of a structure, e.g. `Patient.name` or `Observation.value[x]`. */
export interface ElementDefinition {
  /** The element's name without `[x]`: `name`, `value`. */
  readonly name: string;
  readonly choice: boolean;
  /** Type codes: a primitive, a datatype, a backbone structure (`Patient.contact`) or `Resource`. */
  readonly types: readonly string[];
  readonly min: 0 | 1;
  /** Max cardinality `*`: the JSON value is an array. */
  readonly array: boolean;
  /** The codes of a required binding, for `code` elements bound to an enumerable value set. */
  readonly valueSet: { readonly name: string; readonly codes: ReadonlySet<string> } | undefined;
}

/** What one JSON key of an object means: an element, in one of its types. */
export interface ElementKey {
  /** The JSON key: the element's name, or the variant's (`valueQuantity`) for a choice. */
  readonly key: string;
  readonly element: ElementDefinition;
  readonly type: string;
  /** Set when `type` is primitive. */
  readonly primitive: PrimitiveType | undefined;
  /** `_` + key: where the primitive's id and extensions are (primitives only). */
  readonly extensionKey: string | undefined;
  /** The structure of a complex `type` (not `Resource`), resolved on first use. */
  readonly structure: Structure | undefined;
}

/** A complex datatype, a resource or a backbone element. */
export interface Structure {
  readonly name: string;
  /** JSON key → element, with one key per choice variant (`valueQuantity`). */
  readonly keys: ReadonlyMap<string, ElementKey>;
  /** Elements with min 1, each with the JSON keys any of which makes it present (`_status` included). */
  readonly required: readonly { readonly element: ElementDefinition; readonly keys: readonly string[] }[];
  /** Choice elements, for the message about a variant of a type the element does not allow. */
  readonly choices: readonly ElementDefinition[];
}

interface Table {
  resourceTypes: string[];
  primitives: Record<string, [string, string]>;
  structures: Record<string, [string | null, Record<string, string>]>;
  valueSets: Record<string, string[]>;
}
const data = table as unknown as Table;

/** Every concrete R4 resource type (`Patient`, …; not `Resource` or `DomainResource`). */
export const RESOURCE_TYPES: ReadonlySet<string> = new Set(data.resourceTypes);

/** The spec's patterns that a scan checks whole (`\s` as XML Schema reads it: space, tab, LF, CR). */
const SCANNED: Record<string, PrimitiveType['scan']> = {
  '[^ \\t\\n\\r]*': 'uri',
  '[^ \\t\\n\\r]+([ \\t\\n\\r][^ \\t\\n\\r]+)*': 'code',
  // Its regex takes ~0.3 µs per character on a long invalid value (5 s of CPU for a 16 MiB body).
  '[ \\t\\n\\r]*(?:[0-9a-zA-Z+/=]{4}[ \\t\\n\\r]*)+': 'base64',
};

function primitive(name: string, json: PrimitiveType['json'], regex: string): PrimitiveType {
  if (json !== 'string') return { name, json, pattern: undefined, scan: undefined };
  const whole = SCANNED[regex];
  if (whole !== undefined) return { name, json, pattern: undefined, scan: whole };
  // A pattern without a negated class (`[^…]`) admits printable ASCII only: it already excludes the rest.
  const scan = regex === '' || regex.includes('[^') ? 'text' : undefined;
  return { name, json, pattern: regex ? new RegExp(`^(?:${regex})$`) : undefined, scan };
}

const primitives = new Map<string, PrimitiveType>(
  Object.entries(data.primitives).map(([name, [json, regex]]) => [name, primitive(name, json as PrimitiveType['json'], regex)]),
);

/** The primitive type `name`, or undefined when it is not one. */
export const primitiveType = (name: string): PrimitiveType | undefined => primitives.get(name);

const valueSets = new Map<string, { name: string; codes: ReadonlySet<string> }>();
function valueSet(name: string): ElementDefinition['valueSet'] {
  let vs = valueSets.get(name);
  if (!vs) {
    vs = { name, codes: new Set(data.valueSets[name]) };
    valueSets.set(name, vs);
  }
  return vs;
}

const CARDINALITY = /^(.*?)([*!+]?)(?:=(.+))?$/;

function parseElement(key: string, spec: string): ElementDefinition {
  const [, types, card, vs] = CARDINALITY.exec(spec)!;
  const choice = key.endsWith('[x]');
  return {
    name: choice ? key.slice(0, -3) : key,
    choice,
    types: types!.split('|'),
    min: card === '!' || card === '+' ? 1 : 0,
    array: card === '*' || card === '+',
    valueSet: vs ? valueSet(vs) : undefined,
  };
}

/** `value` + `Quantity` → `valueQuantity` (json.html, choice types). */
const variantKey = (name: string, type: string): string => name + type[0]!.toUpperCase() + type.slice(1);

class Key implements ElementKey {
  #structure: Structure | undefined;
  constructor(
    readonly key: string,
    readonly element: ElementDefinition,
    readonly type: string,
    readonly primitive: PrimitiveType | undefined,
    readonly extensionKey: string | undefined,
  ) {}
  get structure(): Structure | undefined {
    return (this.#structure ??= structure(this.type));
  }
}

const compiled = new Map<string, Structure>();

/** The structure `name` (`Patient`, `HumanName`, `Patient.contact`), or undefined when there is none. */
export function structure(name: string): Structure | undefined {
  let result = compiled.get(name);
  if (result || !Object.hasOwn(data.structures, name)) return result;
  const own: [string, string][] = [];
  // The table leaves out what a structure inherits: collect the chain, the root's elements first.
  for (let at: string | null = name; at; at = data.structures[at]![0]) own.unshift(...Object.entries(data.structures[at]![1]));
  const elements = new Map<string, ElementDefinition>();
  for (const [key, spec] of own) elements.set(key, parseElement(key, spec));

  const keys = new Map<string, ElementKey>();
  const required: Structure['required'][number][] = [];
  const choices: ElementDefinition[] = [];
  for (const element of elements.values()) {
    const jsonKeys: string[] = [];
    for (const type of element.types) {
      const key = element.choice ? variantKey(element.name, type) : element.name;
      const primitive = primitives.get(type);
      const extensionKey = primitive ? `_${key}` : undefined;
      keys.set(key, new Key(key, element, type, primitive, extensionKey));
      jsonKeys.push(key);
      if (extensionKey) jsonKeys.push(extensionKey);
    }
    if (element.min > 0) required.push({ element, keys: jsonKeys });
    if (element.choice) choices.push(element);
  }
  result = { name, keys, required, choices };
  compiled.set(name, result);
  return result;
}

/**
 * The elements of `resourceType` with min ≥ 1 (`Observation` → `status`, `code`), as FHIRPath names
 * (`effective[x]` stays as is); undefined for an unknown type. Search uses them for `_elements`.
 */
export function mandatoryElements(resourceType: string): string[] | undefined {
  if (!RESOURCE_TYPES.has(resourceType)) return undefined;
  return structure(resourceType)!.required.map(({ element }) => (element.choice ? `${element.name}[x]` : element.name));
}

let reference: ElementKey | undefined;
/** `Reference.reference`: the one element whose value also gets a shape check (references.html). */
export const referenceElementKey = (): ElementKey => (reference ??= structure('Reference')!.keys.get('reference')!);
