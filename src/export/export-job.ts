/**
 * The `bulk-export` job (FHIR Bulk Data Access IG v2, `$export`): writes the current resources that
 * existed when it was submitted into one NDJSON file per type, chunk by chunk, through an
 * {@link ExportSink}. Each line is a resource's stored JSON, exactly as a read returns it.
 *
 * The work is a list of parts, each one storage query walked in keyset order: per type, all of its
 * resources (system level), those in some patient's compartment (`Patient/$export`; every Patient),
 * or those in the compartment of the group's patients (`Group/[id]/$export`; the group's Patients).
 * The job's state is the part, the position in it, and each file's committed length and line count;
 * a chunk appends its lines, makes them durable, then commits the state (see {@link ExportSink}).
 * @packageDocumentation
 */
import { badRequest } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import { read } from '../interactions/crud.js';
import type { JobHandler } from '../jobs/job-runner.js';
import type { Resource } from '../resource/resource.js';
import { COMPARTMENT_PARAM, compartmentClause } from '../search/compartments.js';
import { parseReference } from '../search/normalize.js';
import { sinceClause } from '../search/since.js';
import type { JobProgress } from '../storage/job-record.js';
import type { Clause, SearchHit } from '../storage/query.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import type { ExportSink } from './sink.js';

/** The job kind. */
export const BULK_EXPORT = 'bulk-export';

/** The one output format: NDJSON of FHIR JSON resources. */
export const NDJSON = 'application/fhir+ndjson';

/** `_outputFormat` values that mean {@link NDJSON} (IG: `application/ndjson` and `ndjson` are abbreviations). */
const NDJSON_FORMATS = new Set([NDJSON, 'application/ndjson', 'ndjson']);

/** Group members per compartment query: the clause carries one reference per member. */
export const GROUP_BATCH = 500;

/** A bulk export request, as the typed API takes it. */
export interface BulkExportRequest {
  /** `system` (`$export`), `patient` (`Patient/$export`) or `group` (`Group/[id]/$export`). */
  readonly level: 'system' | 'patient' | 'group';
  /** The Group of a `group` export. */
  readonly groupId?: string;
  /** Only these resource types (`_type`). */
  readonly types?: readonly string[];
  /** Only resources last updated at or after this instant (`_since`). */
  readonly since?: string;
  /** `_outputFormat`; default `application/fhir+ndjson`, the only one. */
  readonly outputFormat?: string;
  /** The kick-off URL, reported as the manifest's `request`. Default: one built from the fields above. */
  readonly requestUrl?: string;
}

/** One part of the work: a type, and for a group export, one batch of its members. */
export interface ExportPart {
  readonly type: string;
  /** The batch of the group's members (group exports only). */
  readonly batch?: number;
}

/** A bulk-export job's fixed parameters (stored with the job). */
export interface BulkExportParams {
  readonly level: BulkExportRequest['level'];
  readonly groupId?: string;
  /** The manifest's `transactionTime`: the submission time. */
  readonly transactionTime: string;
  /** The manifest's `request`. */
  readonly request: string;
  readonly since?: string;
  /** `since` as a clause. */
  readonly sinceClause?: Clause;
  readonly parts: readonly ExportPart[];
  /** The group's patients, in batches of 500 (group exports only). */
  readonly batches?: readonly (readonly string[])[];
  /** Snapshot: only resources whose current version has `seq <= maxSeq`. */
  readonly maxSeq: number;
}

/** One output file as committed: its length in bytes and its number of lines. */
export interface ExportFileState {
  readonly length: number;
  readonly count: number;
}

/** A bulk-export job's cursor. */
export interface BulkExportState {
  /** The part being walked. */
  readonly part: number;
  /** The keyset position of the last resource written in it. */
  readonly after?: string;
  /** Per type, the file written so far. */
  readonly files: Readonly<Record<string, ExportFileState>>;
  /** Set once a client deleted the export (its files are gone). */
  readonly removed?: boolean;
}

/** The file name of a type's output. */
export const fileOf = (type: string): string => `${type}.ndjson`;

function checkRequest(input: unknown): BulkExportRequest {
  if (typeof input !== 'object' || input === null) throw badRequest('A bulk export request must be an object.');
  const r = input as Record<string, unknown>;
  if (r.level !== 'system' && r.level !== 'patient' && r.level !== 'group') throw badRequest("level must be 'system', 'patient' or 'group'.");
  if (r.level === 'group' && typeof r.groupId !== 'string') throw badRequest('A group export needs a groupId.');
  if (r.types !== undefined && !(Array.isArray(r.types) && r.types.every((t) => typeof t === 'string'))) throw badRequest('types must be a list of resource types.');
  for (const k of ['since', 'outputFormat', 'requestUrl'] as const) if (r[k] !== undefined && typeof r[k] !== 'string') throw badRequest(`${k} must be a string.`);
  return input as BulkExportRequest;
}

/** The highest committed seq: the snapshot an export reads up to. */
async function maxSeqOf(tx: StorageTx): Promise<number> {
  const { items } = await tx.readHistory({ level: 'system' }, { count: 1 });
  return items[0]?.seq ?? 0;
}

/** The ids of the Patients a Group's members reference, sorted, once each. */
function groupPatients(ctx: EngineContext, group: Resource): string[] {
  const ids = new Set<string>();
  const members = Array.isArray(group.member) ? (group.member as { entity?: { reference?: unknown } }[]) : [];
  for (const m of members) {
    const ref = typeof m?.entity?.reference === 'string' ? parseReference(m.entity.reference, (t) => ctx.registry.resourceTypes.has(t)) : undefined;
    if (ref?.targetType === 'Patient' && ref.targetId !== null) ids.add(ref.targetId);
  }
  return [...ids].sort();
}

/** The default `request` of the manifest, for a request built through the typed API. */
function requestUrlOf(ctx: EngineContext, r: BulkExportRequest): string {
  const path = r.level === 'system' ? '$export' : r.level === 'patient' ? 'Patient/$export' : `Group/${r.groupId}/$export`;
  const params: string[] = [];
  if (r.types !== undefined) params.push(`_type=${r.types.join(',')}`);
  if (r.since !== undefined) params.push(`_since=${encodeURIComponent(r.since)}`);
  return `${ctx.baseUrl}/${path}${params.length > 0 ? `?${params.join('&')}` : ''}`;
}

/** The parts of an export, in file order. */
function partsOf(ctx: EngineContext, level: BulkExportRequest['level'], types: readonly string[] | undefined, batches: number): ExportPart[] {
  if (level === 'system') return (types ?? [...ctx.registry.resourceTypes].sort()).map((type) => ({ type }));
  // The Patients first, then the types of the Patient compartment (a Patient in one through `link` is a Patient already).
  const inScope = ['Patient', ...ctx.extractor.compartments.memberTypes('Patient').filter((t) => t !== 'Patient')];
  const wanted = types === undefined ? inScope : inScope.filter((t) => types.includes(t));
  if (level === 'patient') return wanted.map((type) => ({ type }));
  return wanted.flatMap((type) => Array.from({ length: batches }, (_, batch) => ({ type, batch })));
}

/** What a part's storage query selects. */
function whereOf(params: BulkExportParams, part: ExportPart): Clause[] {
  const where: Clause[] = [];
  if (params.level === 'patient' && part.type !== 'Patient') where.push(compartmentClause('Patient'));
  if (part.batch !== undefined) {
    const members = params.batches![part.batch]!;
    where.push(part.type === 'Patient' ? { kind: 'ids', ids: members } : compartmentClause('Patient', members));
  }
  if (params.sinceClause) where.push(params.sinceClause);
  return where;
}

/**
 * Whether a hit of part `part` belongs to an earlier batch of the group: a resource in the
 * compartments of members of several batches is written by the first of them only.
 */
function firstBatch(ctx: EngineContext, hit: SearchHit, batch: number, batchOf: ReadonlyMap<string, number>): boolean {
  const entries = ctx.extractor.extractParam(JSON.parse(hit.json!) as Resource, COMPARTMENT_PARAM);
  for (const e of entries) {
    if (e.kind !== 'reference' || e.targetType !== 'Patient' || e.targetId === null) continue;
    const b = batchOf.get(e.targetId);
    if (b !== undefined && b < batch) return false;
  }
  return true;
}

/** The `bulk-export` handler, bound to an engine's context and its export sink. */
export function bulkExportHandler(ctx: EngineContext, sink: ExportSink): JobHandler<BulkExportParams, BulkExportState> {
  // Per job, the member → batch map of a group export (rebuilt after a restart).
  const batchMaps = new Map<string, Map<string, number>>();
  const batchMap = (jobId: string, batches: readonly (readonly string[])[]): Map<string, number> => {
    let map = batchMaps.get(jobId);
    if (!map) {
      map = new Map();
      batches.forEach((batch, b) => batch.forEach((id) => map!.set(id, b)));
      batchMaps.set(jobId, map);
    }
    return map;
  };

  return {
    kind: BULK_EXPORT,

    async plan(tx, input) {
      const request = checkRequest(input);
      const format = request.outputFormat?.replace(/ /g, '+').trim();
      if (format !== undefined && !NDJSON_FORMATS.has(format)) {
        throw badRequest(`The _outputFormat '${request.outputFormat}' is not supported; use ${NDJSON}.`, ['_outputFormat']);
      }
      const types = request.types?.map((t) => t.trim()).filter(Boolean);
      for (const t of types ?? []) if (!ctx.registry.resourceTypes.has(t)) throw badRequest(`Unknown resource type '${t}' in _type.`, ['_type']);
      const since = request.since === undefined ? undefined : sinceClause(ctx.search.parser, request.since);
      const batches: string[][] = [];
      if (request.level === 'group') {
        const group = JSON.parse((await read(ctx, 'Group', request.groupId!, tx)).json!) as Resource;
        const patients = groupPatients(ctx, group);
        for (let i = 0; i < patients.length; i += GROUP_BATCH) batches.push(patients.slice(i, i + GROUP_BATCH));
      }
      const params: BulkExportParams = {
        level: request.level,
        ...(request.groupId !== undefined && { groupId: request.groupId }),
        transactionTime: ctx.clock.now().toISOString(),
        request: request.requestUrl ?? requestUrlOf(ctx, request),
        ...(request.since !== undefined && { since: request.since, sinceClause: since }),
        parts: partsOf(ctx, request.level, types && [...new Set(types)], batches.length),
        ...(request.level === 'group' && { batches }),
        maxSeq: await maxSeqOf(tx),
      };
      const progress: JobProgress = { processed: 0, byType: {}, chunks: 0 };
      return { params, state: { part: 0, files: {} }, progress };
    },

    async step(tx, job) {
      const { parts, maxSeq, batches } = job.params;
      const size = ctx.limits.exportChunkSize;
      const part = parts[job.state.part];
      if (part === undefined) return { state: job.state, progress: job.progress, done: true };
      const { hits } = await tx.search({
        types: [part.type],
        where: whereOf(job.params, part),
        sort: [],
        limit: size + 1,
        maxSeq,
        ...(job.state.after !== undefined && { after: job.state.after }),
      });
      const chunk = hits.slice(0, size);
      let lines = '';
      let count = 0;
      // Past the first batch of a group's members, a resource may have been written with an earlier one.
      const batchOf = part.batch !== undefined && part.batch > 0 && part.type !== 'Patient' ? batchMap(job.id, batches!) : undefined;
      for (const hit of chunk) {
        if (hit.json === undefined) continue;
        if (batchOf && !firstBatch(ctx, hit, part.batch!, batchOf)) continue;
        lines += `${hit.json}\n`;
        count++;
      }
      let files = job.state.files;
      if (count > 0) {
        const file = fileOf(part.type);
        const before = files[part.type] ?? { length: 0, count: 0 };
        const writer = await sink.open(job.id, file, before.length);
        try {
          await writer.append(lines);
        } finally {
          await writer.finish();
        }
        files = { ...files, [part.type]: { length: before.length + byteLength(lines), count: before.count + count } };
      }
      const more = hits.length > size;
      const next = more ? job.state.part : job.state.part + 1;
      const done = next >= parts.length;
      if (done) batchMaps.delete(job.id);
      const state: BulkExportState = { part: next, files, ...(more && { after: chunk[chunk.length - 1]!.position }) };
      const byType = count > 0 ? { ...job.progress.byType, [part.type]: (job.progress.byType[part.type] ?? 0) + count } : job.progress.byType;
      return { state, progress: { processed: job.progress.processed + count, byType, chunks: job.progress.chunks + 1 }, done };
    },
  };
}

const encoder = new TextEncoder();

/** UTF-8 length of a string, without encoding it when it is ASCII. */
function byteLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).byteLength;
}
