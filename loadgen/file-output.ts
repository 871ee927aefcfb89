/**
 * Writes generated events to a file as NDJSON, one envelope per line:
 *   {"topic":…,"partition":…,"key":…,"value":"<payload text>","kind":…[,"reason":…]}
 * A payload that is deliberately not UTF-8 is written as "value_base64" instead of "value".
 * Lines are gathered into large chunks and the stream's back-pressure is honoured.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { LoadEvent } from './generate.js';

const CHUNK_CHARS = 1 << 20;

/** The NDJSON line (without the newline) for an event. */
export function eventLine(ev: LoadEvent): string {
  const value =
    typeof ev.value === 'string' ? `"value":${JSON.stringify(ev.value)}` : `"value_base64":"${ev.value.toString('base64')}"`;
  const reason = ev.reason === undefined ? '' : `,"reason":"${ev.reason}"`;
  return `{"topic":${JSON.stringify(ev.topic)},"partition":${ev.partition},"key":${JSON.stringify(ev.key)},${value},"kind":"${ev.kind}"${reason}}`;
}

export class FileOutput {
  bytes = 0;
  lines = 0;
  private chunk: string[] = [];
  private chunkChars = 0;

  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
  ) {}

  static async open(path: string): Promise<FileOutput> {
    const stream = createWriteStream(path);
    await once(stream, 'open');
    return new FileOutput(path, stream);
  }

  /** Adds one event; returns false when the caller should `await ready()`. */
  add(ev: LoadEvent): boolean {
    const line = eventLine(ev);
    this.chunk.push(line);
    this.chunkChars += line.length + 1;
    this.lines++;
    if (this.chunkChars >= CHUNK_CHARS) return this.writeChunk();
    return true;
  }

  private writeChunk(): boolean {
    if (this.chunk.length === 0) return true;
    const data = Buffer.from(this.chunk.join('\n') + '\n', 'utf8');
    this.chunk = [];
    this.chunkChars = 0;
    this.bytes += data.length;
    return this.stream.write(data);
  }

  async ready(): Promise<void> {
    if (this.stream.writableNeedDrain) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.writeChunk();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}
