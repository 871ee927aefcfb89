/**
 * The field readers of the workers: a task's payloads as text, each record parsed into a
 * JSON object, and its fields read and checked against the seed's column types (text
 * lengths, DECIMAL(precision, scale), the timestamp's window and the future guard). A
 * record that fails is added to Rejects with the reason and a message for the dead
 * letters; aggregate.ts uses these per stream.
 */
import { isUtf8, type Buffer } from 'node:buffer';
import { checkText, describe, fitsDecimal, parseNumber, parseTimestamp, timestampProblem, windowInRange } from './parse.js';
import { R_FUTURE, R_INVALID_JSON, R_INVALID_RECORD, R_OUT_OF_RANGE, type AggregateTask } from './protocol.js';

/** Rejected records collected while decoding. */
export class Rejects {
  idx: number[] = [];
  reason: number[] = [];
  error: string[] = [];
  add(i: number, reason: number, error: string): void {
    this.idx.push(i);
    this.reason.push(reason);
    this.error.push(error);
  }
}

export type Obj = Record<string, unknown>;

/**
 * Where a task's payloads are: record i is `buffers[buffer[i]]` (buffers[0] when `buffer`
 * is null) from `start[i]`, `length[i]` bytes long; -1 for a null value (a tombstone).
 * A packed task has one buffer; a raw task's records stay where the record batches (or
 * their decompressed sections) hold them.
 */
export interface RecordSource {
  count: number;
  buffers: Buffer[];
  buffer: Uint16Array | null;
  start: Int32Array | Uint32Array;
  length: Int32Array;
}

/** The payloads of a source as text, for the general path (JSON.parse). */
export class Payloads {
  constructor(private readonly src: RecordSource) {}

  /** Record i as a string, or null when it is not valid UTF-8. */
  get(i: number): string | null {
    const { buffers, buffer, start, length } = this.src;
    const len = length[i];
    if (len <= 0) return '';
    const b = buffers[buffer === null ? 0 : buffer[i]];
    const s = start[i];
    return isUtf8(b.subarray(s, s + len)) ? b.toString('utf8', s, s + len) : null;
  }
}

/** Parses record i into an object, or records why not. */
export function parseRecord(src: Payloads, i: number, rej: Rejects): Obj | null {
  let text = src.get(i);
  if (text === null) {
    rej.add(i, R_INVALID_JSON, 'payload is not valid UTF-8');
    return null;
  }
  if (text.length === 0) {
    rej.add(i, R_INVALID_JSON, 'payload is empty (a Kafka tombstone or an empty message), not a JSON object');
    return null;
  }
  // A UTF-8 byte order mark is allowed before the JSON text (RFC 8259 lets parsers ignore it).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    rej.add(i, R_INVALID_JSON, `payload is not valid JSON: ${(e as Error).message}`);
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    rej.add(i, R_INVALID_JSON, `payload is ${describe(v)}, not a JSON object`);
    return null;
  }
  return v as Obj;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Reads the event time and checks that the record can be used at all: its window lies
 * inside what the TIMESTAMP columns are written with (years 0001–9999, window end
 * included), and it is not further ahead of the engine's wall clock than the allowed
 * future skew. A rejected record never moves event time.
 */
export function readTimestamp(o: Obj, i: number, rej: Rejects, task: Pick<AggregateTask, 'futureLimit' | 'windowMs'>): number {
  const raw = o.timestamp;
  const t = parseTimestamp(raw);
  if (Number.isNaN(t)) {
    rej.add(i, R_INVALID_RECORD, timestampProblem(raw));
    return NaN;
  }
  if (t > task.futureLimit) {
    rej.add(
      i,
      R_FUTURE,
      `event time ${iso(t)} is ahead of the engine's clock by more than the allowed future skew (latest accepted: ${iso(task.futureLimit)})`,
    );
    return NaN;
  }
  if (!windowInRange(t, task.windowMs)) {
    rej.add(
      i,
      R_OUT_OF_RANGE,
      `field 'timestamp' is ${iso(t)}, whose ${task.windowMs / 1000} s window does not lie within the years 0001 to 9999 that window_start and window_end are written in`,
    );
    return NaN;
  }
  return t;
}

/**
 * Whether an event time passes every check of readTimestamp (read, not in the future,
 * its window inside the years 0001–9999): the fast path's test, with no message.
 */
export function timeUsable(t: number, task: Pick<AggregateTask, 'futureLimit' | 'windowMs'>): boolean {
  return t <= task.futureLimit && windowInRange(t, task.windowMs); // false for NaN too
}

export function readText(o: Obj, field: string, max: number, i: number, rej: Rejects): string | null {
  const v = o[field];
  if (typeof v !== 'string') {
    rej.add(
      i,
      R_INVALID_RECORD,
      v === undefined ? `required field '${field}' is missing` : `field '${field}' is ${describe(v)}, not a string`,
    );
    return null;
  }
  const err = checkText(field, v, max);
  if (err !== null) {
    rej.add(i, R_INVALID_RECORD, err);
    return null;
  }
  return v;
}

export function readDecimal(
  o: Obj,
  field: string,
  limit: readonly [number, number],
  i: number,
  rej: Rejects,
): number {
  const raw = o[field];
  const x = parseNumber(raw);
  if (Number.isNaN(x)) {
    rej.add(
      i,
      R_INVALID_RECORD,
      raw === undefined
        ? `required field '${field}' is missing`
        : `field '${field}' is ${describe(raw)}, not a finite number`,
    );
    return NaN;
  }
  if (!fitsDecimal(x, limit[0], limit[1])) {
    rej.add(
      i,
      R_OUT_OF_RANGE,
      `field '${field}' is ${x}, which does not fit DECIMAL(${limit[0]}, ${limit[1]}) (|value| < ${10 ** (limit[0] - limit[1])})`,
    );
    return NaN;
  }
  return x;
}
