/**
 * The message contract between the coordinator (src/main) and the aggregation workers.
 * Both sides import these types; the worker never imports the pool or the coordinator.
 *
 * Records travel as one packed buffer per task (payload bytes back to back, plus an
 * offsets array) whose ArrayBuffers are transferred, never cloned; results come back as
 * typed arrays that are transferred the same way.
 */

/**
 * The streams (Kind, their names) and the statistics layout and sum units per Kind, from
 * the table of stream facts; re-exported here because they are part of the message contract.
 */
export { Kind, KIND_NAMES, SUM_SCALE, VARS_PER_KIND } from '../common/streams.js';
import type { Kind } from '../common/streams.js';

/** Dead-letter reasons, as stored in `dead_letters.reason`. Index 0 means "accepted". */
export const REASONS = ['', 'invalid_json', 'invalid_record', 'out_of_range', 'late', 'future'] as const;
export const R_INVALID_JSON = 1;
export const R_INVALID_RECORD = 2;
export const R_OUT_OF_RANGE = 3;
export const R_LATE = 4;
export const R_FUTURE = 5;

export interface AggregateTask {
  kind: Kind;
  /** Tumbling window size in milliseconds. */
  windowMs: number;
  /**
   * The topic's watermark when the task was dispatched (epoch ms). A record whose
   * window_end is at or below it is late. -Infinity when nothing holds a watermark yet.
   */
  watermark: number;
  /**
   * The latest event time accepted (epoch ms): the engine's wall clock at dispatch plus
   * the allowed future skew; Infinity when the guard is off. Later records are `future`.
   */
  futureLimit: number;
  /** Payloads back to back. */
  bytes: Uint8Array;
  /** n + 1 byte offsets into `bytes`: record i is bytes[offsets[i] .. offsets[i+1]). */
  offsets: Uint32Array;
  /** Per record, the index of its source partition in the caller's list (0 .. numParts-1). */
  parts: Uint16Array;
  numParts: number;
}

/** A task without its payloads: what the field readers and the window kernel need. */
export type TaskHead = Omit<AggregateTask, 'bytes' | 'offsets'>;

export interface AggregateResult {
  kind: Kind;
  /** Records in the task. */
  n: number;
  /** Group keys by local id (sensor: `${sensor_type}\0${sensor_id}`, meter: customer_id, weather: ''). */
  keys: string[];
  /** Per partial: window start (epoch ms). */
  windows: Float64Array;
  /** Per partial: local group id (index into `keys`). */
  groups: Uint32Array;
  /** Per partial: VARS_PER_KIND[kind] statistics of STATS_WIDTH slots each. */
  stats: Float64Array;
  /** Weather condition names by local id. */
  condNames: string[];
  /** Weather: (partial index, condition id, count) triples. */
  condCounts: Uint32Array;
  /** Indexes (into the task's records) of rejected records, ascending. */
  rejected: Uint32Array;
  /** Per rejected record: a reason code (R_*). */
  reasons: Uint8Array;
  /** Per rejected record: a sentence naming the field and the problem. */
  errors: string[];
  /** Per source partition: the maximum valid event time seen (ms), or -Infinity. */
  partMaxTs: Float64Array;
  /** Worker thread that did the work (shows that decoding ran off the main thread). */
  threadId: number;
  /**
   * Per key: its id in the worker's key table, the same for the same key in every result
   * of this thread with the same `keyEpoch` (the coordinator caches what each id stands
   * for, instead of hashing every key string again). Absent in synthetic results.
   */
  keyIds?: Int32Array;
  keyEpoch?: number;
  /** Time spent decoding JSON into columns, and aggregating them, in nanoseconds. */
  decodeNs: number;
  aggregateNs: number;
  /** Raw tasks only: the rejected records' offsets, keys and values, for dead letters. */
  rejectedRecords?: RejectedRecords;
  /** Raw tasks only: transaction markers and records of aborted transactions skipped. */
  controlRecords?: number;
  abortedRecords?: number;
}

/**
 * A task of raw Kafka record batches (the wire source): one partition's fetched bytes,
 * which the worker verifies (CRC-32C), decompresses and decodes before aggregating, so
 * that the main thread never touches a record.
 */
export interface RawAggregateTask {
  kind: Kind;
  windowMs: number;
  watermark: number;
  futureLimit: number;
  raw: {
    /** Complete RecordBatch v2 batches in their own (transferred) ArrayBuffer. */
    bytes: Uint8Array;
    /** Records below it are dropped (a fetch into the middle of a batch). */
    fetchOffset: number;
    /** Records at or beyond it are dropped (available-now's end of input); Infinity for none. */
    endOffset: number;
    readCommitted: boolean;
    abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null;
  };
}

export type AnyAggregateTask = AggregateTask | RawAggregateTask;

/** Per rejected record of a raw task: what its dead letter needs (copies, not views). */
export interface RejectedRecords {
  offsets: Float64Array;
  keys: (Uint8Array | null)[];
  values: (Uint8Array | null)[];
}
