/**
 * Where bulk export files go. An export job writes one NDJSON file per resource type through an
 * {@link ExportSink}, chunk by chunk, and the engine serves the files back at the manifest's URLs.
 * Implement it to put exports on object storage; `DirectoryExportSink`
 * (`fhir-engine/adapters/directory-export`) writes them to a directory, {@link MemoryExportSink}
 * (the engine's default) keeps them in process memory.
 *
 * The contract makes a job resumable without ever writing a line twice: a chunk's lines are
 * appended, made durable, and only then does the job commit the file's new length. A job that
 * resumes after a crash reopens each file at the length it last committed, which drops whatever a
 * chunk wrote without committing.
 * @packageDocumentation
 */

/** Appends to one file of an export. Used for one chunk, then finished. */
export interface ExportFileWriter {
  /** Appends NDJSON text: whole lines, each ending with `\n`. */
  append(ndjson: string): Promise<void>;
  /** Makes what was appended durable and releases the file. The writer is not used afterwards. */
  finish(): Promise<void>;
}

/** Storage for the NDJSON files of bulk exports. */
export interface ExportSink {
  /**
   * Opens file `file` (e.g. `Patient.ndjson`) of export `jobId` for appending at byte `length`: a
   * new, empty file for 0; otherwise the file as it was, cut back to `length` bytes (the length the
   * job last committed). Rejects when the file is shorter than `length` (its content was lost).
   */
  open(jobId: string, file: string, length: number): Promise<ExportFileWriter>;
  /** The bytes of a file, streamed; undefined when there is no such file. */
  read(jobId: string, file: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Removes every file of export `jobId`; nothing when there is none. */
  delete(jobId: string): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Export files in process memory: the default sink, for tests and short-lived engines. The files live
 * as long as this object (not across a restart of the process: a job resuming then fails, its files
 * being gone).
 */
export class MemoryExportSink implements ExportSink {
  readonly #files = new Map<string, Map<string, Uint8Array[]>>();

  async open(jobId: string, file: string, length: number): Promise<ExportFileWriter> {
    let job = this.#files.get(jobId);
    if (!job) this.#files.set(jobId, (job = new Map()));
    const kept = cut(job.get(file) ?? [], length, `${jobId}/${file}`);
    job.set(file, kept);
    const pending: Uint8Array[] = [];
    return {
      append: async (ndjson) => {
        pending.push(encoder.encode(ndjson));
      },
      finish: async () => {
        kept.push(...pending);
      },
    };
  }

  async read(jobId: string, file: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const parts = this.#files.get(jobId)?.get(file);
    if (!parts) return undefined;
    const snapshot = [...parts];
    return (async function* () {
      yield* snapshot;
    })();
  }

  async delete(jobId: string): Promise<void> {
    this.#files.delete(jobId);
  }
}

/** The first `length` bytes of `parts`, as parts. */
function cut(parts: readonly Uint8Array[], length: number, name: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = length;
  for (const part of parts) {
    if (left === 0) break;
    out.push(part.byteLength <= left ? part : part.subarray(0, left));
    left -= Math.min(part.byteLength, left);
  }
  if (left > 0) throw new Error(`The export file ${name} is shorter than the ${length} bytes its job committed: its content was lost.`);
  return out;
}
