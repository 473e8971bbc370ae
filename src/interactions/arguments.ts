/**
 * Checks of the typed API's arguments: what TypeScript checks at compile time, checked again for
 * JavaScript callers and casts, so that a wrong argument is a `FhirError` 400 (as the same input
 * over HTTP would be), never a `TypeError` from deep inside.
 * @packageDocumentation
 */
import { badRequest } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { checkEnvelope } from '../resource/validate.js';

const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A resource argument: an object with a resourceType (and, if any, a valid id and meta): 400 otherwise. */
export function resourceArgument(value: unknown, name = 'resource'): Resource {
  if (!isObject(value)) throw badRequest(`The ${name} must be a FHIR resource object, got ${kindOf(value)}.`);
  return checkEnvelope(value);
}

/** A resource type or id argument: a string, 400 otherwise. */
export function stringArgument(value: unknown, name: string): string {
  if (typeof value !== 'string') throw badRequest(`The ${name} must be a string, got ${kindOf(value)}.`);
  return value;
}

/** A query argument: a string such as `family=doe&_count=10` (or absent), 400 otherwise. */
export function queryArgument(value: unknown, name = 'query'): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    throw badRequest(`The ${name} must be a query string such as 'family=doe&_count=10', got ${kindOf(value)}.`);
  }
  return value;
}

/** An options argument: an object or absent, 400 otherwise. */
export function optionsArgument<T extends object>(value: T | undefined, name = 'options'): T | Record<string, never> {
  if (value === undefined) return {};
  if (!isObject(value)) throw badRequest(`The ${name} must be an object, got ${kindOf(value)}.`);
  return value;
}
