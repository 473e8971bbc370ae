import type { EngineContext } from './context.js';
import type { Resource } from '../resource/resource.js';

/** Operations of one type beyond `$purge-history`: `$everything` and the bulk data `$export`s. */
const TYPE_OPERATIONS: Readonly<Record<string, readonly { name: string; definition: string }[]>> = {
  Patient: [
    { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
    { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
  ],
  Group: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' }],
};

const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];

/** A CapabilityStatement built from what the engine and its registry support. */
export function capabilityStatement(ctx: EngineContext): Resource {
  const resource = [...ctx.registry.resourceTypes].sort().map((type) => ({
    type,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'not-supported',
    conditionalUpdate: true,
    conditionalDelete: 'multiple',
    // Only what a search evaluates: an advertised parameter is never "not supported".
    searchParam: [...ctx.registry.forType(type).values()]
      .filter((p) => ctx.search.supports(type, p))
      .map((p) => ({ name: p.code, type: p.type, ...(p.url && { definition: p.url }) })),
    operation: [
      { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
      { name: 'purge-history', definition: 'OperationDefinition/purge-history' },
      ...(TYPE_OPERATIONS[type] ?? []),
    ],
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: ctx.clock.now().toISOString(),
    kind: 'instance',
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
    software: { name: 'fhir-engine' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        resource,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }, { code: 'history-system' }],
        operation: [
          { name: 'bulk-delete', definition: 'OperationDefinition/bulk-delete' },
          { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
        ],
        compartment: ctx.extractor.compartments.codes.map((code) => ctx.extractor.compartments.url(code)!),
      },
    ],
  };
}
