/**
 * Raw record batches → aggregate: the worker side of the wire source. Decodes one
 * partition's fetched batches (CRC-32C, decompression, transactions: src/kafka/decode.ts)
 * and aggregates the values where the batches hold them, like any other task. Rejected
 * records come back with their offsets, keys and values, since the main thread never
 * decoded them.
 */
import { Buffer } from 'node:buffer';
import { decodeRecordBatches } from '../kafka/decode.js';
import { KafkaWireError } from '../kafka/errors.js';
import { aggregateBatch, aggregateRecords } from './aggregate.js';
import type { AggregateResult, AnyAggregateTask, RawAggregateTask } from './protocol.js';

export function aggregateRaw(task: RawAggregateTask): AggregateResult {
  const t0 = process.hrtime.bigint();
  const { bytes, fetchOffset, endOffset, readCommitted, abortedTransactions } = task.raw;
  let d;
  try {
    d = decodeRecordBatches(bytes, { fetchOffset, readCommitted, abortedTransactions });
  } catch (e) {
    // Only the message crosses the thread boundary: it carries the code in front.
    if (e instanceof KafkaWireError) throw new Error(`${e.code}: ${e.message}`, { cause: e });
    throw e;
  }
  // Offsets ascend within a partition: the records before endOffset are a prefix.
  let n = d.count;
  while (n > 0 && d.offsets[n - 1] >= endOffset) n--;
  const bufs = d.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const t1 = process.hrtime.bigint();
  const r = aggregateRecords(
    { kind: task.kind, windowMs: task.windowMs, watermark: task.watermark, futureLimit: task.futureLimit, parts: new Uint16Array(n), numParts: 1 },
    { count: n, buffers: bufs, buffer: d.buffer, start: d.valueStart, length: d.valueLength },
  );
  const k = r.rejected.length;
  const rejectedRecords = { offsets: new Float64Array(k), keys: new Array<Uint8Array | null>(k), values: new Array<Uint8Array | null>(k) };
  for (let j = 0; j < k; j++) {
    const i = r.rejected[j];
    const b = bufs[d.buffer[i]];
    rejectedRecords.offsets[j] = d.offsets[i];
    rejectedRecords.keys[j] = d.keyLength[i] < 0 ? null : b.subarray(d.keyStart[i], d.keyStart[i] + d.keyLength[i]).slice();
    rejectedRecords.values[j] = d.valueLength[i] < 0 ? null : b.subarray(d.valueStart[i], d.valueStart[i] + d.valueLength[i]).slice();
  }
  r.rejectedRecords = rejectedRecords;
  r.controlRecords = d.controlRecords;
  r.abortedRecords = d.abortedRecords;
  r.decodeNs += Number(t1 - t0);
  return r;
}

/** Either kind of task. */
export function runTask(task: AnyAggregateTask): AggregateResult {
  return 'raw' in task ? aggregateRaw(task) : aggregateBatch(task);
}
