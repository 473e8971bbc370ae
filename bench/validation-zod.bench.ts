/**
 * Decision bench (kept in history, removed after the choice): the table-driven walker of
 * `src/validation/` against zod schemas generated from the same compiled definitions, on the same data
 * (Synthea Patients and Observations, the 641 HL7 examples of ../shared/testdata/r4-examples/resources),
 * in one process, rounds interleaved. The zod schemas check the same rules as the walker as far as zod
 * expresses them: strict objects, JSON types, arrays with min 1, primitive regexes and ranges, required
 * bindings, reference shape; required elements and single choice variants in a refinement.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { RESOURCE_TYPES, primitiveType, structure, type ElementKey } from '../src/validation/definitions.js';
import { referenceProblem } from '../src/validation/primitives.js';
import { validateResource } from '../src/validation/index.js';

const SHARED = join(process.cwd(), '..', 'shared', 'testdata');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

// ---- zod schemas from the definitions -------------------------------------------------------------
const INT_MIN: Record<string, number> = { integer: -2147483648, unsignedInt: 0, positiveInt: 1 };
const schemas = new Map<string, z.ZodType>();
let anyResource: z.ZodType | undefined;
const referenceKey = structure('Reference')!.keys.get('reference');

function primitiveSchema(key: ElementKey): z.ZodType {
  const p = key.primitive!;
  let s: z.ZodType;
  if (p.json === 'string') {
    let str = z.string().min(1);
    if (p.pattern) str = str.regex(p.pattern);
    s = str;
  } else if (p.json === 'number') {
    s = INT_MIN[p.name] !== undefined ? z.number().int().min(INT_MIN[p.name]!).max(2147483647) : z.number();
  } else {
    s = z.boolean();
  }
  const vs = key.element.valueSet;
  if (vs) s = s.refine((v) => vs.codes.has(v as string), `not in ${vs.name}`);
  if (key === referenceKey) s = s.refine((v) => !referenceProblem(v as string), 'bad reference');
  return s;
}

function structureSchema(name: string): z.ZodType {
  const cached = schemas.get(name);
  if (cached) return cached;
  const st = structure(name)!;
  const shape: Record<string, z.ZodType> = {};
  const element = z.lazy(() => structureSchema('Element'));
  for (const [key, def] of st.keys) {
    const item = def.primitive
      ? primitiveSchema(def)
      : def.type === 'Resource'
        ? z.lazy(() => resourceSchema())
        : z.lazy(() => structureSchema(def.type));
    shape[key] = (def.element.array ? z.array(def.primitive ? item.nullable() : item).min(1) : item).optional();
    if (def.primitive) shape[`_${key}`] = (def.element.array ? z.array(element.nullable()).min(1) : element).optional();
  }
  const isResource = RESOURCE_TYPES.has(name);
  if (isResource) shape.resourceType = z.literal(name);
  const schema = z.strictObject(shape).superRefine((value, ctx) => {
    const obj = value as Record<string, unknown>;
    let keys = 0;
    const chosen = new Map<unknown, string>();
    for (const key of Object.keys(obj)) {
      keys++;
      const def = st.keys.get(key.startsWith('_') ? key.slice(1) : key);
      if (def?.element.choice) {
        const other = chosen.get(def.element);
        if (other !== undefined && other !== def.key) ctx.addIssue({ code: 'custom', message: 'two variants', path: [key] });
        chosen.set(def.element, def.key);
      }
    }
    if (keys === 0) ctx.addIssue({ code: 'custom', message: 'empty object' });
    for (const { element: el, keys: present } of st.required)
      if (!present.some((k) => Object.hasOwn(obj, k))) ctx.addIssue({ code: 'custom', message: 'required', path: [el.name] });
  });
  schemas.set(name, schema);
  return schema;
}

function resourceSchema(): z.ZodType {
  return (anyResource ??= z.discriminatedUnion(
    'resourceType',
    [...RESOURCE_TYPES].map((t) => structureSchema(t)) as unknown as [z.ZodObject, ...z.ZodObject[]],
  ));
}

// ---- data -------------------------------------------------------------------------------------------
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8'));
function synthea(): Record<string, unknown>[] {
  const dir = join(SHARED, 'synthea');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(dir, d.name)).filter((f) => f.endsWith('.json')).map((f) => join(dir, d.name, f)))
    .flatMap((path) => (readJson(path).entry as { resource: Record<string, unknown> }[]).map((e) => e.resource));
}
const examplesDir = join(SHARED, 'r4-examples', 'resources');

function compare(bench: string, resources: Record<string, unknown>[], perRound: number): void {
  const zod = resourceSchema();
  const table = (r: unknown) => validateResource(r).length === 0;
  const viaZod = (r: unknown) => zod.safeParse(r).success;
  const disagree = resources.filter((r) => table(r) !== viaZod(r)).length;
  const time = (fn: (r: unknown) => boolean): number => {
    const t = performance.now();
    for (let i = 0; i < perRound; i++) fn(resources[i % resources.length]);
    return performance.now() - t;
  };
  for (let i = 0; i < 3; i++) {
    time(table);
    time(viaZod);
  }
  const t: number[] = [];
  const zt: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    t.push(time(table));
    zt.push(time(viaZod));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const perSec = (ms: number) => Math.round((perRound / ms) * 1000);
  console.log(
    JSON.stringify({ bench, distinct: resources.length, disagree, tableOpsPerSec: perSec(best(t)), zodOpsPerSec: perSec(best(zt)), zodOverTable: +(best(zt) / best(t)).toFixed(2) }),
  );
}

if (!existsSync(SHARED)) {
  console.log(JSON.stringify({ bench: 'validation-zod', skipped: `${SHARED} is absent` }));
} else {
  const t0 = performance.now();
  resourceSchema();
  const zodBuild = performance.now() - t0;
  const all = synthea();
  const examples = readdirSync(examplesDir).map((f) => readJson(join(examplesDir, f)));
  compare('validation-zod.synthea-patient', all.filter((r) => r.resourceType === 'Patient'), 5000);
  compare('validation-zod.synthea-observation', all.filter((r) => r.resourceType === 'Observation'), 20000);
  compare('validation-zod.hl7-examples', examples, 5000);
  // A wrong value: how each reports it (the walker gives FHIRPath and every problem).
  const bad = JSON.parse('{"resourceType":"Patient","birthDate":"garbage","gender":42,"name":"notalist","foo":"bar","active":"yes"}');
  const zodResult = resourceSchema().safeParse(bad);
  console.log(JSON.stringify({ bench: 'validation-zod.build', zodSchemaBuildMs: Math.round(zodBuild), zodIssues: zodResult.success ? 0 : zodResult.error.issues.length, tableIssues: validateResource(bad).length }));
}
