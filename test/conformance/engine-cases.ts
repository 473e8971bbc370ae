import type { StorageAdapter } from '../../src/storage/storage-adapter.js';

/** Engine-level behaviour on one adapter (filled in below). */
export function registerEngineConformance(_name: string, _makeAdapter: () => Promise<StorageAdapter>): void {}
