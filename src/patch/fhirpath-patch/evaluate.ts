/**
 * Evaluating FHIRPath Patch paths with fhirpath.js into `ResourceNode`s (which know their parent, property and index).
 * @packageDocumentation
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { forbiddenSegmentError } from '../guard.js';
import { invalid } from './errors.js';

/** The parts of fhirpath.js's `ResourceNode` used here. */
export interface FpNode {
  data: unknown;
  _data: unknown;
  parentResNode: FpNode | null;
  path: string | null;
  propName: string | null;
  index: number | null;
  fhirNodeDataType: string | null;
}

type CompiledPath = (resource: unknown) => unknown[];

const MAX_CACHED_EXPRESSIONS = 1000;
const compiled = new Map<string, CompiledPath>();

const KEYWORD_MEMBERS = /^(div|mod|and|or|xor|implies|true|false)(?![A-Za-z0-9_])/;

/**
 * FHIR element names that are FHIRPath keywords (`Narrative.div`) are not identifiers in the
 * FHIRPath grammar, yet FHIRPath Patch paths use them (`Patient.text.div`, as HAPI and the HL7 test
 * cases do). After a `.`, such a name is rewritten as a delimited identifier (`` .`div` ``).
 */
export function normaliseFhirPath(expression: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression.charAt(i);
    out += ch;
    if (quote) {
      if (ch === '\\') {
        out += expression.charAt(i + 1);
        i++;
      } else if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '`' || ch === '"') {
      quote = ch;
    } else if (ch === '.') {
      const rest = expression.slice(i + 1);
      const match = KEYWORD_MEMBERS.exec(rest);
      if (match?.[1]) {
        out += `\`${match[1]}\``;
        i += match[1].length;
      }
    }
  }
  return out;
}

/** Compiles (once, cached by expression string) a FHIRPath expression against the R4 model. */
function compilePath(expression: string, where: string): CompiledPath {
  const cached = compiled.get(expression);
  if (cached) return cached;
  let fn: CompiledPath;
  try {
    const compiledFn = fhirpath.compile(normaliseFhirPath(expression), r4, { resolveInternalTypes: false, async: false });
    fn = (resource: unknown) => compiledFn(resource) as unknown[];
  } catch (error) {
    throw invalid(`Invalid FHIRPath expression '${expression}': ${error instanceof Error ? error.message : String(error)}`, where);
  }
  if (compiled.size >= MAX_CACHED_EXPRESSIONS) {
    const oldest = compiled.keys().next();
    if (!oldest.done) compiled.delete(oldest.value);
  }
  compiled.set(expression, fn);
  return fn;
}

/** Refuses `__proto__`, `constructor`, `prototype` used as identifiers in a FHIRPath expression. */
function assertSafeExpression(expression: string, where: string): void {
  const withoutStrings = expression.replace(/'(?:\\.|[^'\\])*'/g, "''");
  const match = /(?:^|[^A-Za-z0-9_])`?(__proto__|constructor|prototype)`?(?![A-Za-z0-9_])/.exec(withoutStrings);
  if (match?.[1]) throw forbiddenSegmentError(match[1], `${where} path`);
}

function isNode(value: unknown): value is FpNode {
  return typeof value === 'object' && value !== null && 'parentResNode' in value && 'data' in value;
}

/** The nodes `expression` selects in `resource`; 400 when it is invalid, unsafe or selects no elements. */
export function evaluatePath(resource: unknown, expression: string, where: string): FpNode[] {
  assertSafeExpression(expression, where);
  const fn = compilePath(expression, where);
  let result: unknown[];
  try {
    result = fn(resource);
  } catch (error) {
    throw invalid(`Error evaluating FHIRPath expression '${expression}': ${error instanceof Error ? error.message : String(error)}`, where);
  }
  if (!Array.isArray(result)) return [];
  return result.map((item) => {
    if (!isNode(item)) {
      throw invalid(`The path '${expression}' does not select elements of the resource.`, where);
    }
    return item;
  });
}
