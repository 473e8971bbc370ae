/**
 * Real data validates clean: every resource in the npm package `hl7.fhir.r4.examples@4.0.1` (all 5,305
 * JSON resources: clinical and administrative examples, conformance resources such as StructureDefinitions
 * and ValueSets, and the Bundles, whose entries are walked too), and every Synthea bundle with its entries.
 * The few official examples that are themselves invalid are listed below with the reason and exactly the
 * issues they get, so the list cannot hide a regression.
 */
import { describe, expect, it } from 'vitest';
import { validateResource, type ValidationIssue } from '../../src/validation/index.js';
import { allR4ExampleFiles, r4Example, synthea } from '../support/corpora.js';

const summary = (issues: ValidationIssue[]): string[] => issues.map((i) => `${i.code} ${i.expression?.[0] ?? ''}`);

/** Official examples that break the R4 definitions, by file: why, and the issues (code and FHIRPath). */
const INVALID_EXAMPLES: Record<string, { reason: string; issues: string[] }> = {
  'Questionnaire-qs1.json': {
    reason: 'Questionnaire.item.linkId is 1..1, but 32 nested items of this example have none',
    issues: [
      'required Questionnaire.item[0].item[0].linkId',
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((i) => `required Questionnaire.item[0].item[${i}].item[0].linkId`),
      'required Questionnaire.item[0].item[15].item[0].linkId',
      'required Questionnaire.item[0].item[15].item[1].linkId',
      ...[2, 3, 4, 5, 6].map((i) => `required Questionnaire.item[0].item[15].item[${i}].item[0].linkId`),
      'required Questionnaire.item[0].item[16].item[0].linkId',
      'required Questionnaire.item[0].item[17].item[0].linkId',
      'required Questionnaire.item[0].item[18].item[0].linkId',
      ...[1, 2, 3, 4, 5, 6].map((i) => `required Questionnaire.item[0].item[18].item[${i}].item[0].linkId`),
      'required Questionnaire.item[0].item[19].item[0].linkId',
    ],
  },
  'ImplementationGuide-fhir.json': {
    reason:
      'ImplementationGuide.name and .status are 1..1 and missing; one manifest entry references a SearchParameter whose id has 83 characters (an id has at most 64)',
    issues: [
      'value ImplementationGuide.manifest.resource[11904].reference.reference',
      'required ImplementationGuide.name',
      'required ImplementationGuide.status',
    ],
  },
  'SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json': {
    reason: 'its id has 83 characters; an id has at most 64',
    issues: ['value SearchParameter.id'],
  },
  ...Object.fromEntries(
    ['codesystem-extensions-CodeSystem', 'valueset-extensions-ValueSet'].flatMap((prefix) =>
      ['author', 'effective', 'end', 'keyword', 'workflow'].map((name) => [
        `SearchParameter-${prefix}-${name}.json`,
        { reason: 'SearchParameter.base is 1..*, and these extension search parameters have none', issues: ['required SearchParameter.base'] },
      ]),
    ),
  ),
};

describe('the HL7 R4 examples (npm hl7.fhir.r4.examples@4.0.1)', () => {
  it('every resource in the package validates clean, but for the listed invalid examples, which get exactly their issues', () => {
    const files = allR4ExampleFiles();
    expect(files.length).toBe(5305);
    const found: Record<string, string[]> = {};
    for (const file of files) {
      const issues = validateResource(r4Example(file));
      if (issues.length > 0) found[file] = summary(issues);
    }
    expect(found).toEqual(Object.fromEntries(Object.entries(INVALID_EXAMPLES).map(([file, { issues }]) => [file, issues])));
  });
});

/** The Synthea bundles of both folders, by `folder/file`. */
const syntheaBundles = (): { name: string; bundle: Record<string, unknown> }[] =>
  ['synthea-v2-simple', 'synthea-v3-conditional'].flatMap((folder) =>
    synthea.files(folder).map((file) => ({ name: `${folder}/${file}`, bundle: synthea.json(`${folder}/${file}`) })),
  );

describe.skipIf(!synthea.available)('the Synthea bundles (../shared/testdata/synthea)', () => {
  it('every bundle and every entry validates clean', () => {
    let entries = 0;
    const found: Record<string, string[]> = {};
    for (const { name, bundle } of syntheaBundles()) {
      const bundleIssues = validateResource(bundle);
      if (bundleIssues.length > 0) found[name] = summary(bundleIssues);
      for (const [i, entry] of (bundle.entry as { resource: unknown }[]).entries()) {
        entries++;
        const issues = validateResource(entry.resource);
        if (issues.length > 0) found[`${name} entry ${i}`] = summary(issues);
      }
    }
    expect(found).toEqual({});
    expect(entries).toBe(6713);
  });
});
