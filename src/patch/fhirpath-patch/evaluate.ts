/**
 * Evaluating FHIRPath Patch paths with fhirpath.js into `ResourceNode`s (which know their parent,
 * property and index), compiled through the engine's one FHIRPath cache.
 * @packageDocumentation
 */
import { compileFhirPath, type CompiledFhirPath, type FhirPathDialect } from '../../fhirpath/compile.js';
import { FhirError } from '../../errors.js';
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

/** Patch paths: fhirpath.js nodes, with keyword member names quoted. */
const PATCH_PATHS: FhirPathDialect = { name: 'patch', rewrite: normaliseFhirPath, nodes: true };

/** The compiled path; 400 when fhirpath.js cannot compile it. */
function compilePath(expression: string, where: string): CompiledFhirPath {
  try {
    return compileFhirPath(expression, PATCH_PATHS);
  } catch (error) {
    throw invalid(`Invalid FHIRPath expression '${expression}': ${error instanceof Error ? error.message : String(error)}`, where);
  }
}

/**
 * Longest patch path, in characters. fhirpath.js compiles a long expression slowly (100,000
 * characters: most of a second) and blocks the event loop meanwhile; real paths are far shorter.
 */
const MAX_PATH_LENGTH = 4096;

/** Calls of the FHIRPath functions whose argument is a regular expression. */
const REGEX_FUNCTION = /(?:^|[^A-Za-z0-9_])`?(matches|matchesFull|replaceMatches)`?\s*\(/;

/**
 * Refuses what a client could use against the server in a FHIRPath expression: `__proto__`,
 * `constructor`, `prototype` as identifiers; `matches()`, `matchesFull()` and `replaceMatches()`, whose argument is a
 * regular expression run without a time limit (measured: `matches('^(a+)+$')` on a 27-character
 * string held the event loop 12 s; each more character doubles it); an over-long expression.
 * fhirpatch.html allows any FHIRPath in a path; these two functions are a deliberate exception.
 */
function assertSafeExpression(expression: string, where: string): void {
  if (expression.length > MAX_PATH_LENGTH) {
    throw new FhirError(400, 'too-costly', `The ${where} path is longer than ${MAX_PATH_LENGTH} characters.`);
  }
  const withoutStrings = expression.replace(/'(?:\\.|[^'\\])*'/g, "''");
  const match = /(?:^|[^A-Za-z0-9_])`?(__proto__|constructor|prototype)`?(?![A-Za-z0-9_])/.exec(withoutStrings);
  if (match?.[1]) throw forbiddenSegmentError(match[1], `${where} path`);
  const regex = REGEX_FUNCTION.exec(withoutStrings);
  if (regex?.[1]) {
    throw new FhirError(400, 'not-supported', `The FHIRPath function '${regex[1]}' is not allowed in a patch path: its regular expression could run without bound.`);
  }
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
  return result.map((item) => {
    if (!isNode(item)) {
      throw invalid(`The path '${expression}' does not select elements of the resource.`, where);
    }
    return item;
  });
}
