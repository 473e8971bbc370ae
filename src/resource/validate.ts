import { z } from 'zod';
import { badRequest } from '../errors.js';
import type { Resource } from './resource.js';

/** FHIR id syntax. */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

const ID_RULE =
  "Id must be any combination of upper or lower case ASCII letters ('A'..'Z', and 'a'..'z'), numerals ('0'..'9'), '-' and '.', with a length limit of 64 characters.";

const resourceSchema = z
  .object({
    resourceType: z.string().regex(/^[A-Z][A-Za-z]{0,63}$/, 'resourceType must be a resource type name'),
    id: z.string().regex(ID_PATTERN, ID_RULE).optional(),
    meta: z
      .object({
        versionId: z.string().optional(),
        lastUpdated: z.string().optional(),
        profile: z.array(z.string()).optional(),
        tag: z.array(z.object({}).loose()).optional(),
        security: z.array(z.object({}).loose()).optional(),
        source: z.string().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** Throws 400 unless `id` is a valid FHIR id. */
export function assertValidId(id: string): void {
  if (!ID_PATTERN.test(id)) throw badRequest(ID_RULE);
}

/**
 * Checks only the envelope of an incoming resource: an object with a resourceType, a valid id and meta.
 * What the engine relies on to store a resource at all; with `validation: 'off'` it is the only check.
 */
export function checkEnvelope(value: unknown): Resource {
  // Only the envelope is checked: handing zod just those fields spares a copy of the whole body.
  const envelope =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? { resourceType: (value as Resource).resourceType, id: (value as Resource).id, meta: (value as Resource).meta }
      : value;
  const result = resourceSchema.safeParse(envelope);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.join('.');
    throw badRequest(path ? `${path}: ${issue.message}` : `The body must be a FHIR resource: ${issue.message}`);
  }
  return value as Resource;
}

/** Parses JSON text, turning a syntax error into a 400. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`The body is not valid JSON: ${(error as Error).message}`);
  }
}
