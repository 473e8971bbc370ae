/**
 * The typed API against the FHIR type packages users already have: `@types/fhir` and
 * `@medplum/fhirtypes`, compiled with the repository's compiler options. The fixtures hold the
 * positive cases (they must compile) and, as `@ts-expect-error`, the negative ones (they must not).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function diagnosticsOf(file: string): string[] {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram([join(root, 'test/types', file)], { ...options, noEmit: true });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName.slice(root.length)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('FHIR type packages', () => {
  it('@types/fhir (R4): its resources go in and come out typed; misspelt types do not compile', () => {
    expect(diagnosticsOf('fhir4.fixture.ts')).toEqual([]);
  });

  it('@medplum/fhirtypes: its resources go in and come out typed; misspelt types do not compile', () => {
    expect(diagnosticsOf('medplum.fixture.ts')).toEqual([]);
  });
});
