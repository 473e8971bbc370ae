/**
 * Where the validation tests find their public corpora: the HL7 R4 examples from the npm package
 * `hl7.fhir.r4.examples@4.0.1` (a devDependency, always present) and the Synthea bundles, which live only
 * in `../shared/testdata/synthea/` (absent in a clone without `../shared`). One small module so that a
 * shared corpora loader can replace it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Json = Record<string, unknown>;

/** The unpacked npm package (npm drops the tarball's `package/` folder). */
export const HL7_EXAMPLES_DIR = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

/** File names of every resource in the HL7 package (`Patient-example.json`, …; not package.json or .index.json). */
export const hl7ExampleFiles = (): string[] =>
  readdirSync(HL7_EXAMPLES_DIR)
    .filter((f) => /^[A-Z][A-Za-z]+-.+\.json$/.test(f))
    .sort();

export const readHl7Example = (file: string): Json => JSON.parse(readFileSync(join(HL7_EXAMPLES_DIR, file), 'utf8')) as Json;

export const SYNTHEA_DIR = fileURLToPath(new URL('../../../shared/testdata/synthea/', import.meta.url));

/** The Synthea bundles by file name, or undefined when the corpus is absent. */
export function syntheaBundles(): { name: string; bundle: Json }[] | undefined {
  if (!existsSync(SYNTHEA_DIR)) return undefined;
  return readdirSync(SYNTHEA_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(SYNTHEA_DIR, d.name))
        .filter((f) => f.endsWith('.json'))
        .map((f) => ({ name: `${d.name}/${f}`, bundle: JSON.parse(readFileSync(join(SYNTHEA_DIR, d.name, f), 'utf8')) as Json })),
    );
}
