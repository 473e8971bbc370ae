/**
 * An {@link ExportSink} over a directory: export `jobId` writes `<directory>/<jobId>/<file>`.
 * @packageDocumentation
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { ExportFileWriter, ExportSink } from '../../src/adapter-kit.js';

/** Options of {@link DirectoryExportSink}. */
export interface DirectoryExportSinkOptions {
  /**
   * Flush each chunk to the disk (`fdatasync`) before its job commits it, so that an export
   * survives a power loss, not only a crash of the process. Default true.
   */
  readonly sync?: boolean;
}

/** A job id or file name used as one path segment: nothing that could leave the directory. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function segment(name: string): string {
  if (!SAFE_NAME.test(name) || name.includes('..')) throw new Error(`Invalid export file or job name '${name}'.`);
  return name;
}

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** Export files in `<directory>/<jobId>/`; the directory is created on first use. */
export class DirectoryExportSink implements ExportSink {
  readonly #sync: boolean;

  constructor(
    readonly directory: string,
    options: DirectoryExportSinkOptions = {},
  ) {
    this.#sync = options.sync ?? true;
  }

  async open(jobId: string, file: string, length: number): Promise<ExportFileWriter> {
    const dir = join(this.directory, segment(jobId));
    const path = join(dir, segment(file));
    await mkdir(dir, { recursive: true });
    // 'a+' would append past bytes a crashed chunk left behind: open for writing at `length` instead.
    const handle = await open(path, length === 0 ? 'w' : 'r+').catch((error: unknown) => {
      if (isMissing(error)) throw new Error(`The export file ${path} is gone; its job had committed ${length} bytes of it.`);
      throw error;
    });
    try {
      if (length > 0) {
        const { size } = await handle.stat();
        if (size < length) throw new Error(`The export file ${path} has ${size} bytes, shorter than the ${length} its job committed.`);
        if (size > length) await handle.truncate(length);
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    let position = length;
    const sync = this.#sync;
    return {
      async append(ndjson) {
        const bytes = Buffer.from(ndjson, 'utf8');
        let written = 0;
        while (written < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
          written += bytesWritten;
        }
        position += bytes.length;
      },
      async finish() {
        try {
          if (sync) await handle.datasync();
        } finally {
          await handle.close();
        }
      },
    };
  }

  async read(jobId: string, file: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const path = join(this.directory, segment(jobId), segment(file));
    try {
      if (!(await stat(path)).isFile()) return undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return createReadStream(path);
  }

  async delete(jobId: string): Promise<void> {
    await rm(join(this.directory, segment(jobId)), { recursive: true, force: true });
  }
}
