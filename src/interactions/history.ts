import { badRequest, notFound } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { weakETag } from '../resource/version.js';
import type { HistoryScope, StorageReader, StoredVersion } from '../storage/storage-adapter.js';
import { assertResourceType } from './crud.js';
import type { EngineContext } from './context.js';

/** Options of a history read. */
export interface HistoryOptions {
  /** Page size (default limits.defaultCount, at most limits.maxCount). */
  readonly count?: number;
  /** Only versions with lastUpdated at or after this instant. */
  readonly since?: string;
  /** Continue below this cursor (the `_cursor` of a next link). */
  readonly cursor?: number;
}

const STATUS: Record<StoredVersion['method'], string> = {
  POST: '201 Created',
  PUT: '200 OK',
  PATCH: '200 OK',
  DELETE: '204 No Content',
};

/** Reads history query parameters: `_count`, `_since`, `_cursor`. */
export function historyOptionsOf(params: readonly (readonly [string, string])[]): HistoryOptions {
  const options: { count?: number; since?: string; cursor?: number } = {};
  for (const [name, value] of params) {
    if (name === '_count') {
      if (!/^\d+$/.test(value)) throw badRequest(`_count must be a non-negative integer, not '${value}'.`);
      options.count = Number(value);
    } else if (name === '_since') {
      if (Number.isNaN(Date.parse(value)) || !/^\d{4}/.test(value)) {
        throw badRequest(`_since must be an instant, not '${value}'.`);
      }
      options.since = new Date(Date.parse(value)).toISOString();
    } else if (name === '_cursor') {
      if (!/^\d+$/.test(value)) throw badRequest(`Invalid history cursor '${value}'.`);
      options.cursor = Number(value);
    }
  }
  return options;
}

function pathOf(scope: HistoryScope): string {
  if (scope.level === 'instance') return `${scope.type}/${scope.id}/_history`;
  if (scope.level === 'type') return `${scope.type}/_history`;
  return '_history';
}

/**
 * Builds a `history` Bundle for one page, newest first, with self and next links, read through
 * `reader` (a transaction's unit of work, or committed state).
 */
export async function history(
  ctx: EngineContext,
  scope: HistoryScope,
  options: HistoryOptions = {},
  reader: StorageReader = ctx.storage,
): Promise<Resource> {
  if (scope.level !== 'system') assertResourceType(ctx, scope.type);
  const count = Math.min(options.count ?? ctx.limits.defaultCount, ctx.limits.maxCount);
  const page = await reader.readHistory(scope, {
    count: count + 1,
    ...(options.since !== undefined && { since: options.since }),
    ...(options.cursor !== undefined && { before: options.cursor }),
  });
  if (scope.level === 'instance' && page.items.length === 0 && options.cursor === undefined) {
    const current = await reader.readCurrent(scope);
    if (!current) throw notFound(`Resource type '${scope.type}' with id '${scope.id}' couldn't be found.`);
  }
  const items = page.items.slice(0, count);
  const base = ctx.baseUrl;
  const path = pathOf(scope);
  const query = (extra: Record<string, string>): string => {
    const params = new URLSearchParams({ _count: String(count), ...(options.since && { _since: options.since }), ...extra });
    return `${base}/${path}?${params.toString()}`;
  };
  const link = [{ relation: 'self', url: query(options.cursor !== undefined ? { _cursor: String(options.cursor) } : {}) }];
  if (page.items.length > count && items.length > 0) {
    link.push({ relation: 'next', url: query({ _cursor: String(items[items.length - 1]!.seq) }) });
  }
  return {
    resourceType: 'Bundle',
    type: 'history',
    link,
    entry: items.map((v) => ({
      fullUrl: `${base}/${v.type}/${v.id}`,
      resource: JSON.parse(v.json!) as Resource,
      request: { method: v.method, url: v.method === 'POST' ? v.type : `${v.type}/${v.id}` },
      response: {
        status: v.method === 'PUT' && v.versionId === '1' ? '201 Created' : STATUS[v.method],
        etag: weakETag(v.versionId),
        lastModified: v.lastUpdated,
      },
    })),
  };
}
