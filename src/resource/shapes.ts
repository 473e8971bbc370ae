/**
 * The shapes of what the typed API takes and returns: any resource type a user already has fits
 * (`@types/fhir`'s `fhir4.Patient`, `@medplum/fhirtypes`' `Patient`), and the Bundles and the
 * CapabilityStatement it returns are typed, not bare resources.
 * @packageDocumentation
 */
import type { Meta, Resource } from './resource.js';

/**
 * The least a resource is: an object with a `resourceType`. The typed API constrains on this, with
 * no index signature, so that interfaces such as `fhir4.Patient` fit.
 */
export interface AnyResource {
  resourceType: string;
  id?: string | undefined;
}

/**
 * The resource type names of an engine's resource union `R`: each `resourceType` of a typed union
 * (`'Patient' | 'Observation' | …`), any string for the untyped default.
 */
export type ResourceType<R extends AnyResource> = R['resourceType'];

/** True when `R` tells resource types apart (a union of typed resources), false for the untyped default. */
export type IsTyped<R extends AnyResource> = string extends R['resourceType'] ? false : true;

/** The resource of type `K` in the union `R` (`Extract` on `resourceType`); `R` itself when `R` is untyped. */
export type ResourceOfType<R extends AnyResource, K extends string> = IsTyped<R> extends true ? Extract<R, { resourceType: K }> : R;

/** What a typed write accepts: a member of a typed union `R`, or any resource-like object for the untyped default. */
export type AcceptedResource<R extends AnyResource> = IsTyped<R> extends true ? R : AnyResource;

/** `T` when given explicitly, else `Otherwise` (a method's `T` defaults to `never`). */
export type Given<T, Otherwise> = [T] extends [never] ? Otherwise : T;

/** A link of a Bundle. */
export interface BundleLink {
  relation: string;
  url: string;
}

/** A Bundle: what a batch or transaction takes (anything else is a 400). */
export interface BundleInput extends AnyResource {
  type?: string;
  entry?: readonly unknown[];
}

/** An entry of a searchset Bundle. */
export interface SearchEntry<T> {
  fullUrl?: string;
  resource?: T;
  search?: { mode: 'match' | 'include' | 'outcome'; score?: number };
}

/** A `searchset` Bundle of `T`s (an `include` or `outcome` entry may hold another type). */
export interface SearchBundle<T = Resource> {
  resourceType: 'Bundle';
  id?: string;
  meta?: Meta;
  type: 'searchset';
  total?: number;
  link?: BundleLink[];
  entry?: SearchEntry<T>[];
}

/** An entry of a history Bundle: a version, with the request that wrote it and its response. */
export interface HistoryEntry<T> {
  fullUrl?: string;
  /** Absent for a delete. */
  resource?: T;
  request: { method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string };
  response: { status: string; etag?: string; lastModified?: string };
}

/** A `history` Bundle, newest version first. */
export interface HistoryBundle<T = Resource> {
  resourceType: 'Bundle';
  type: 'history';
  total?: number;
  link?: BundleLink[];
  entry?: HistoryEntry<T>[];
}

/** A search parameter of a {@link CapabilityStatement}. */
export interface CapabilitySearchParam {
  name: string;
  type: string;
  definition?: string;
}

/** What a {@link CapabilityStatement} says of one resource type. */
export interface CapabilityResource {
  type: string;
  interaction?: { code: string }[];
  versioning?: string;
  readHistory?: boolean;
  updateCreate?: boolean;
  conditionalCreate?: boolean;
  conditionalRead?: string;
  conditionalUpdate?: boolean;
  conditionalDelete?: string;
  searchParam?: CapabilitySearchParam[];
  operation?: { name: string; definition: string }[];
}

/** The CapabilityStatement of an engine (`GET /metadata`). */
export interface CapabilityStatement {
  resourceType: 'CapabilityStatement';
  status: string;
  date: string;
  kind: string;
  software?: { name: string; version?: string };
  fhirVersion: string;
  format: string[];
  patchFormat?: string[];
  rest?: {
    mode: string;
    resource?: CapabilityResource[];
    interaction?: { code: string }[];
    operation?: { name: string; definition: string }[];
  }[];
}
