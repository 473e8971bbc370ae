/**
 * The ExportSink contract on both sinks of the repository: append at the committed length (what a
 * crashed chunk wrote past it is dropped), read back, delete; and the directory sink's path safety.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryExportSink } from '../../adapters/directory-export/index.js';
import { MemoryExportSink, type ExportSink } from '../../src/adapter-kit.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const directory = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'export-sink-'));
  dirs.push(d);
  return d;
};

async function read(sink: ExportSink, job: string, file: string): Promise<string | undefined> {
  const stream = await sink.read(job, file);
  if (!stream) return undefined;
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}

async function append(sink: ExportSink, job: string, file: string, length: number, text: string): Promise<number> {
  const writer = await sink.open(job, file, length);
  await writer.append(text);
  await writer.finish();
  return length + Buffer.byteLength(text);
}

const SINKS: [string, () => ExportSink][] = [
  ['MemoryExportSink', () => new MemoryExportSink()],
  ['DirectoryExportSink', () => new DirectoryExportSink(directory())],
  ['DirectoryExportSink without sync', () => new DirectoryExportSink(directory(), { sync: false })],
];

for (const [name, make] of SINKS) {
  describe(`ExportSink contract: ${name}`, () => {
    it('appends chunk after chunk, and reads the file back whole', async () => {
      const sink = make();
      let length = await append(sink, 'job-1', 'Patient.ndjson', 0, '{"a":1}\n');
      length = await append(sink, 'job-1', 'Patient.ndjson', length, '{"b":"é"}\n{"c":3}\n');
      expect(length).toBe(Buffer.byteLength('{"a":1}\n{"b":"é"}\n{"c":3}\n'));
      expect(await read(sink, 'job-1', 'Patient.ndjson')).toBe('{"a":1}\n{"b":"é"}\n{"c":3}\n');
      expect(await read(sink, 'job-1', 'Observation.ndjson')).toBeUndefined();
      expect(await read(sink, 'job-2', 'Patient.ndjson')).toBeUndefined();
    });

    it('reopened at the committed length, drops what an uncommitted chunk wrote past it', async () => {
      const sink = make();
      const committed = await append(sink, 'job-1', 'Patient.ndjson', 0, 'one\n');
      await append(sink, 'job-1', 'Patient.ndjson', committed, 'two\nthree\n'); // its job never committed this
      await append(sink, 'job-1', 'Patient.ndjson', committed, 'two\n'); // the chunk, redone
      expect(await read(sink, 'job-1', 'Patient.ndjson')).toBe('one\ntwo\n');
      // Opened at 0, a file starts again empty.
      await append(sink, 'job-1', 'Patient.ndjson', 0, 'again\n');
      expect(await read(sink, 'job-1', 'Patient.ndjson')).toBe('again\n');
    });

    it('refuses a file shorter than its committed length (lost content), or gone', async () => {
      const sink = make();
      await append(sink, 'job-1', 'Patient.ndjson', 0, 'one\n');
      await expect(sink.open('job-1', 'Patient.ndjson', 10)).rejects.toThrow(/shorter|bytes/);
      await expect(sink.open('job-1', 'Observation.ndjson', 4)).rejects.toThrow();
    });

    it('delete removes every file of a job, and only of that job', async () => {
      const sink = make();
      await append(sink, 'job-1', 'Patient.ndjson', 0, 'one\n');
      await append(sink, 'job-1', 'Observation.ndjson', 0, 'two\n');
      await append(sink, 'job-2', 'Patient.ndjson', 0, 'three\n');
      await sink.delete('job-1');
      await sink.delete('job-1');
      expect(await read(sink, 'job-1', 'Patient.ndjson')).toBeUndefined();
      expect(await read(sink, 'job-1', 'Observation.ndjson')).toBeUndefined();
      expect(await read(sink, 'job-2', 'Patient.ndjson')).toBe('three\n');
    });
  });
}

describe('DirectoryExportSink', () => {
  it('writes <directory>/<job>/<file> and never leaves the directory', async () => {
    const dir = directory();
    const sink = new DirectoryExportSink(join(dir, 'exports'));
    await append(sink, 'job-1', 'Patient.ndjson', 0, 'x\n');
    expect(existsSync(join(dir, 'exports', 'job-1', 'Patient.ndjson'))).toBe(true);
    writeFileSync(join(dir, 'secret'), 's');
    for (const [job, file] of [['..', 'secret'], ['job-1', '../../secret'], ['job-1', '..'], ['a/b', 'x'], ['', 'x']] as const) {
      await expect(sink.open(job, file, 0)).rejects.toThrow(/Invalid export file or job name/);
      await expect(sink.read(job, file)).rejects.toThrow(/Invalid export file or job name/);
    }
  });
});
