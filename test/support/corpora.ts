/**
 * The public test corpora, from one place. Tests never build a path to a corpus themselves.
 *
 * - Published on npm, so always here (devDependencies): the HL7 R4 examples (`hl7.fhir.r4.examples@4.0.1`)
 *   and the RFC 6902 suite (`json-patch-test-suite@1.1.0`).
 * - Only in `../shared` beside the repository: Synthea bundles, the HL7 FHIRPath Patch suite, FHIR's
 *   `json-patch-tests.json`, the GitHub HEAD copy of the RFC 6902 `tests.json` (17 records newer than npm),
 *   HAPI's transaction edge cases and Microsoft's sample bundles. Tests that need one are skipped when it
 *   is missing (`describe.skipIf(!corpus.available)`); `test/support/corpora-setup.ts` prints one line
 *   naming what was skipped, and fails the run instead when `FHIR_ENGINE_REQUIRE_CORPORA=1` (as `.ci/run` sets).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from '../../src/resource/resource.js';

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** `../shared` beside the repository. */
export const sharedDir = join(repoRoot, '..', 'shared');

/** Reads a JSON file (a UTF-8 BOM allowed). */
export const readJsonFile = <T = Resource>(path: string): T =>
  JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, '')) as T;

const jsonFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();

// ---------------------------------------------------------------------------------------------------
// npm corpora

const examplesDir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));

/**
 * Types left out of {@link r4Examples}: conformance, terminology and knowledge artefacts, whose examples
 * are large definitions (1,400 SearchParameters, 1,316 ValueSets, …) rather than data a server stores,
 * and Bundles (see {@link r4Bundle}).
 */
const DEFINITION_TYPE =
  /^(StructureDefinition|CodeSystem|ValueSet|ConceptMap|SearchParameter|OperationDefinition|CapabilityStatement|CompartmentDefinition|ImplementationGuide|NamingSystem|StructureMap|GraphDefinition|MessageDefinition|TerminologyCapabilities|Library|TestScript|TestReport|ExampleScenario|Research\w*Definition|\w*Evidence\w*|Bundle)$/;

const typeOfFile = (file: string): string => file.slice(0, file.indexOf('-'));

/**
 * The R4 examples a FHIR server stores: 641 resources of 116 types, in file-name order (every example of
 * the npm package but the definitional types and Bundles; the same set as `../shared/testdata/r4-examples/resources`).
 */
export function r4Examples(): Resource[] {
  return jsonFiles(examplesDir)
    .filter((f) => /^[A-Z]/.test(f) && !DEFINITION_TYPE.test(typeOfFile(f)))
    .map((f) => readJsonFile(join(examplesDir, f)));
}

/** The folder of the unpacked npm package (npm drops the tarball's `package/` folder), for scripts that read it whole. */
export const r4ExamplesDir = examplesDir;

/** File names of every example of the npm package (5,305: `Patient-example.json`, …; not package.json), sorted. */
export const allR4ExampleFiles = (): string[] => jsonFiles(examplesDir).filter((f) => /^[A-Z]/.test(f));

/** One example of the npm package by file name, e.g. `Patient-example.json`. */
export const r4Example = <T = Resource>(file: string): T => readJsonFile<T>(join(examplesDir, file));

/** Every example of the npm package (5,305 resources, definitions and Bundles included), in file-name order. */
export function allR4Examples(): Resource[] {
  return allR4ExampleFiles().map((f) => r4Example(f));
}

/** One example Bundle by file name, e.g. `Bundle-bundle-transaction.json`. */
export const r4Bundle = <T = any>(file: string): T => r4Example<T>(file);

/** A record of the RFC 6902 test suite (`{doc, patch, expected?, error?, comment?, disabled?}`). */
export interface JsonPatchRecord {
  comment?: string;
  doc: unknown;
  patch: unknown;
  expected?: unknown;
  error?: string;
  disabled?: boolean;
}

const jsonPatchDir = dirname(require.resolve('json-patch-test-suite/package.json'));

/** The RFC 6902 suite as published on npm (1.1.0): `tests.json` (78 records) and `spec_tests.json` (17). */
export const jsonPatchSuite = (file: 'tests.json' | 'spec_tests.json'): JsonPatchRecord[] =>
  readJsonFile<JsonPatchRecord[]>(join(jsonPatchDir, file));

// ---------------------------------------------------------------------------------------------------
// corpora only in ../shared

/** A corpus that exists only in `../shared`. */
export interface SharedCorpus {
  readonly name: string;
  /** True when its folder is there. */
  readonly available: boolean;
  /** Absolute path of a file or folder inside it. */
  path(relative?: string): string;
  /** Its `.json` files (sorted) in `relative`. */
  files(relative?: string): string[];
  /** Parses one JSON file inside it. */
  json<T = any>(relative: string): T;
}

function shared(name: string, folder: string): SharedCorpus {
  const root = join(sharedDir, folder);
  const path = (relative = ''): string => join(root, relative);
  return {
    name,
    available: existsSync(root),
    path,
    files: (relative = '') => jsonFiles(path(relative)),
    json: <T>(relative: string) => readJsonFile<T>(path(relative)),
  };
}

/** Synthea R4 bundles: `synthea-v3-conditional/` and `synthea-v2-simple/`. */
export const synthea = shared('synthea', 'testdata/synthea');
/** HL7 FHIRPath Patch suite as JSON: `fhir-patch-tests.json`. */
export const fhirpathPatch = shared('fhirpath-patch', 'testdata/fhirpath-patch');
/** FHIR's `fhir-r4-json-patch-tests.json` and the GitHub HEAD `tests.json` of RFC 6902 (95 records). */
export const jsonPatchHead = shared('json-patch HEAD + FHIR', 'testdata/json-patch-rfc6902');
/** HAPI's transaction edge-case bundles: `hapi/*.json`. */
export const transactionEdgeCases = shared('transaction-edge-cases', 'testdata/transaction-edge-cases');
/** Microsoft FHIR server sample bundles: `Bundle-*.json`. */
export const msSamples = shared('ms-fhir-server-samples', 'reference/ms-fhir-server-samples/testdata');

/** Every corpus that only `../shared` has. */
export const sharedCorpora: readonly SharedCorpus[] = [synthea, fhirpathPatch, jsonPatchHead, transactionEdgeCases, msSamples];
