/**
 * Property tests (fast-check): take a valid HL7 example, apply ONE random mutation, and the validator reports
 * exactly that problem (issue code) at that place (FHIRPath), nothing else; the unmutated example stays valid.
 *
 * Mutations: an unknown key (`__proto__`, `constructor`, `prototype` included), a wrong JSON type, a second
 * choice variant, a malformed date, a removed required element, an array where a single value belongs and
 * the reverse. Mutation sites come from walking the example with the R4 definitions.
 *
 * Each run uses a fresh seed; on failure fast-check prints it with the path of the shrunk case. Replay with
 * `FC_SEED=<seed> FC_PATH=<path> npx vitest run test/validation/mutations`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { structure, type ElementKey, type Structure } from '../../src/validation/definitions.js';
import { validateResource } from '../../src/validation/index.js';
import { allR4ExampleFiles, r4Example } from '../support/corpora.js';

type Json = Record<string, unknown>;

/** An object of the example with its structure and FHIRPath. */
interface Node {
  readonly value: Json;
  readonly of: Structure;
  readonly path: string;
  readonly isResource: boolean;
}
/** A present element of a node, or one item of it (`index`). */
interface Site {
  readonly node: number;
  readonly key: string;
  readonly element: ElementKey;
  readonly index?: number;
}

// Conformance and terminology resources make up 90% of the package and add nothing here; Bundles are kept
// for their nested resources.
const SKIPPED = /^(SearchParameter|ValueSet|CodeSystem|StructureDefinition|ConceptMap|OperationDefinition|CapabilityStatement|ImplementationGuide|NamingSystem|StructureMap|CompartmentDefinition|TerminologyCapabilities)-/;
const examples = allR4ExampleFiles()
  .filter((f) => !SKIPPED.test(f) && f !== 'Questionnaire-qs1.json')
  .map((file) => ({ file, resource: r4Example<Json>(file) }))
  .filter(({ file, resource }) => !file.startsWith('Bundle-') || JSON.stringify(resource).length < 200_000);

function nodesOf(resource: Json): Node[] {
  const nodes: Node[] = [];
  const visit = (value: Json, of: Structure, path: string, isResource: boolean): void => {
    nodes.push({ value, of, path, isResource });
    for (const key of Object.keys(value)) {
      const element = of.keys.get(key);
      if (!element || element.primitive) continue; // resourceType, _x, primitives
      const child = (item: unknown, at: string) =>
        element.type === 'Resource'
          ? visit(item as Json, structure((item as Json).resourceType as string)!, at, true)
          : visit(item as Json, structure(element.type)!, at, false);
      if (element.element.array) (value[key] as unknown[]).forEach((item, i) => child(item, `${path}.${key}[${i}]`));
      else child(value[key], `${path}.${key}`);
    }
  };
  visit(resource, structure(resource.resourceType as string)!, resource.resourceType as string, true);
  return nodes;
}

function sitesOf(nodes: Node[]): Site[] {
  return nodes.flatMap(({ value, of }, node) =>
    Object.keys(value).flatMap((key): Site[] => {
      const element = of.keys.get(key);
      if (!element) return [];
      if (!element.element.array) return [{ node, key, element }];
      return (value[key] as unknown[]).flatMap((item, index) => (item === null ? [] : [{ node, key, element, index }]));
    }),
  );
}

const corpus = examples.map(({ file, resource }) => {
  const nodes = nodesOf(resource);
  return { file, resource, nodes, sites: sitesOf(nodes) };
});

const sitePath = (nodes: Node[], site: Site): string =>
  `${nodes[site.node]!.path}.${site.key}${site.index === undefined ? '' : `[${site.index}]`}`;

/** A mutation: from a fresh copy's nodes and sites, changes the copy and says which issue to expect. */
type Mutation = (nodes: Node[], sites: Site[], pick: number, variant: number) => [code: string, expression: string] | undefined;

/** Runs `mutation` on examples where it applies: exactly the expected issue, and the original stays valid. */
function check(mutation: Mutation, numRuns = 300): void {
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now();
  fc.assert(
    fc.property(fc.nat(corpus.length - 1), fc.nat(), fc.nat(), (example, pick, variant) => {
      const { file, resource } = corpus[example]!;
      const copy = structuredClone(resource);
      const nodes = nodesOf(copy);
      const expected = mutation(nodes, sitesOf(nodes), pick, variant);
      fc.pre(expected !== undefined);
      expect(validateResource(resource), file).toEqual([]);
      expect(validateResource(copy).map((i) => [i.code, i.expression?.[0]]), `${file}: ${JSON.stringify(expected)}`).toEqual([expected]);
    }),
    { seed, numRuns, ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) },
  );
}

const at = <T>(list: readonly T[], pick: number): T | undefined => (list.length ? list[pick % list.length] : undefined);

/** Replaces the value at a site. */
function replace(nodes: Node[], site: Site, value: unknown): void {
  const holder = nodes[site.node]!.value;
  if (site.index === undefined) holder[site.key] = value;
  else (holder[site.key] as unknown[])[site.index] = value;
}
const current = (nodes: Node[], site: Site): unknown => {
  const value = nodes[site.node]!.value[site.key];
  return site.index === undefined ? value : (value as unknown[])[site.index];
};

/** Valid values of the types a second choice variant is made of. */
const SAMPLES: Record<string, unknown> = {
  string: 'x', boolean: true, integer: 1, decimal: 1.5, code: 'x', uri: 'http://example.org', dateTime: '2020-01-02',
  date: '2020-01-02', instant: '2020-01-02T03:04:05Z', time: '10:00:00', positiveInt: 1, unsignedInt: 0, markdown: 'x',
  canonical: 'http://example.org/x', Quantity: { value: 1 }, CodeableConcept: { text: 'x' }, Coding: { code: 'x' },
  Reference: { display: 'x' }, Period: { start: '2020' }, Range: { low: { value: 1 } }, Age: { value: 1 }, Duration: { value: 1 },
  Identifier: { value: 'x' }, Attachment: { title: 'x' }, Ratio: { numerator: { value: 1 } }, Timing: { event: ['2020'] },
};

describe('one random mutation of a valid example gives exactly that issue at that path', () => {
  it(`uses a corpus of ${corpus.length} valid HL7 examples`, () => {
    expect(corpus.length).toBeGreaterThan(600);
    expect(corpus.filter(({ resource }) => validateResource(resource).length > 0).map(({ file }) => file)).toEqual([]);
  });

  it('an unknown key, __proto__, constructor and prototype included', () => {
    const keys = fc.sample(fc.stringMatching(/^[a-z][A-Za-z]{0,12}$/), { numRuns: 50, seed: 1 });
    const names = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueFoo', 'extensions', ...keys];
    check((nodes, _sites, pick, variant) => {
      const node = at(nodes, pick)!;
      const key = names[variant % names.length]!;
      if (node.of.keys.has(key) || (node.isResource && key === 'resourceType')) return undefined;
      Object.defineProperty(node.value, key, { value: { a: 1 }, enumerable: true, writable: true, configurable: true });
      return ['structure', `${node.path}.${key}`];
    });
  });

  it('a wrong JSON type', () => {
    const values: unknown[] = [42, 'text', true, { a: 1 }];
    check((nodes, sites, pick, variant) => {
      const site = at(sites.filter((s) => s.element.type !== 'Resource'), pick);
      if (!site) return undefined;
      const json = site.element.primitive?.json ?? 'object';
      const wrong = values.filter((v) => typeof v !== json);
      replace(nodes, site, wrong[variant % wrong.length]);
      return ['structure', sitePath(nodes, site)];
    });
  });

  it('a second choice variant', () => {
    check((nodes, sites, pick, variant) => {
      const site = at(sites.filter((s) => s.element.element.choice), pick);
      if (!site) return undefined;
      const { name, types } = site.element.element;
      const others = types.filter((t) => t !== site.element.type && t in SAMPLES);
      const type = at(others, variant);
      if (!type) return undefined;
      const key = name + type[0]!.toUpperCase() + type.slice(1);
      nodes[site.node]!.value[key] = SAMPLES[type];
      return ['structure', `${nodes[site.node]!.path}.${key}`];
    });
  });

  it('a malformed date, dateTime or instant', () => {
    const bad = ['garbage', '2020-13-01', '2021-02-29', '20200101', '2020-01-01T10:00:00', '2020-01-01 10:00:00Z', '2020-1-1', '99'];
    check((nodes, sites, pick, variant) => {
      const site = at(sites.filter((s) => ['date', 'dateTime', 'instant'].includes(s.element.type)), pick);
      if (!site) return undefined;
      replace(nodes, site, bad[variant % bad.length]);
      return ['value', sitePath(nodes, site)];
    });
  });

  it('a removed required element', () => {
    check((nodes, _sites, pick, variant) => {
      const candidates = nodes.flatMap((node) =>
        node.of.required
          .filter(({ keys }) => keys.some((k) => Object.hasOwn(node.value, k)))
          .map((required) => ({ node, required })),
      );
      const found = at(candidates, pick + variant);
      if (!found) return undefined;
      const { node, required } = found;
      const remaining = Object.keys(node.value).filter((k) => !required.keys.includes(k));
      if (remaining.length === 0) return undefined; // an empty object is a different problem
      for (const key of required.keys) delete node.value[key];
      const { name, choice } = required.element;
      return ['required', `${node.path}.${name}${choice ? '[x]' : ''}`];
    });
  });

  it('an array where a single value belongs', () => {
    check((nodes, sites, pick) => {
      const site = at(sites.filter((s) => !s.element.element.array), pick);
      if (!site) return undefined;
      replace(nodes, site, [current(nodes, site)]);
      return ['structure', sitePath(nodes, site)];
    });
  });

  it('a single value where an array belongs', () => {
    check((nodes, sites, pick) => {
      const site = at(sites.filter((s) => s.index === 0 && !Object.hasOwn(nodes[s.node]!.value, `_${s.key}`)), pick);
      if (!site) return undefined;
      nodes[site.node]!.value[site.key] = current(nodes, site);
      return ['structure', `${nodes[site.node]!.path}.${site.key}`];
    });
  });
});
