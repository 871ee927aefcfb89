/**
 * Routing a fetched batch to the workers without parsing it: records are split by a hash
 * of their Kafka key, and each worker's share is packed into one byte buffer plus an
 * offsets array, so one task carries thousands of records and its buffers are transferred
 * rather than cloned.
 */
import type { AggregateTask, Kind } from '../workers/protocol.js';
import type { SourceMessage } from './source.js';

export interface PackedTask {
  task: AggregateTask;
  /** Per record of the task, the index of its message in the batch. */
  index: Uint32Array;
}

/** FNV-1a over the key bytes. */
export function hashKey(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Splits messages into at most `workers` × ceil(share / taskRecords) tasks. Records with
 * the same key always go to the same worker, so a group usually yields one partial.
 */
export function route(
  messages: readonly SourceMessage[],
  kind: Kind,
  windowMs: number,
  watermark: number,
  workers: number,
  taskRecords: number,
  futureLimit = Infinity,
): PackedTask[] {
  const n = messages.length;
  const dest = new Uint16Array(n);
  const count = new Uint32Array(workers);
  const size = new Float64Array(workers);
  for (let i = 0; i < n; i++) {
    const m = messages[i];
    const w = workers === 1 ? 0 : (m.key === null ? i : hashKey(m.key)) % workers;
    dest[i] = w;
    count[w]++;
    size[w] += m.value === null ? 0 : m.value.length;
  }
  const out: PackedTask[] = [];
  for (let w = 0; w < workers; w++) {
    if (count[w] === 0) continue;
    const chunks = Math.ceil(count[w] / taskRecords);
    const per = Math.ceil(count[w] / chunks);
    let i = 0;
    for (let c = 0; c < chunks; c++) {
      const k = Math.min(per, count[w] - c * per);
      // One pass to size this chunk's bytes, one to copy them.
      const index = new Uint32Array(k);
      let bytes = 0;
      for (let j = 0; j < k; i++) {
        if (dest[i] !== w) continue;
        index[j++] = i;
        const v = messages[i].value;
        bytes += v === null ? 0 : v.length;
      }
      const buf = new Uint8Array(bytes);
      const offsets = new Uint32Array(k + 1);
      let at = 0;
      for (let j = 0; j < k; j++) {
        const v = messages[index[j]].value;
        offsets[j] = at;
        if (v !== null) {
          buf.set(v, at);
          at += v.length;
        }
      }
      offsets[k] = at;
      out.push({
        task: { kind, windowMs, watermark, futureLimit, bytes: buf, offsets, parts: new Uint16Array(k), numParts: 1 },
        index,
      });
    }
  }
  return out;
}
