/**
 * From a fetched batch to worker tasks: decoded messages are routed by key and packed
 * (router.ts); raw record batches go whole to one worker, which decodes them. Either way
 * each result comes back with a way to find its rejected records for the dead letters.
 */
import type { AggregateResult } from '../workers/protocol.js';
import type { AggregatePool } from './pool.js';
import { route } from './router.js';
import type { RawRecords, SourceMessage } from './source.js';
import type { StreamOperator } from './stream.js';

/**
 * A task's result, and rejected record j (index into `result.rejected`) as a message whose
 * key and value are copies (a dead letter must not pin the fetched response).
 */
export interface TaskOutcome {
  result: AggregateResult;
  rejected(j: number): SourceMessage;
}

interface Common {
  stream: StreamOperator;
  /** The watermark the batch is dispatched with (lateness is decided with it). */
  watermark: number;
  futureLimit: number;
  pool: Pick<AggregatePool, 'run' | 'threads'>;
}

export function dispatchMessages(msgs: SourceMessage[], taskRecords: number, c: Common): Promise<TaskOutcome[]> {
  const { stream: s } = c;
  const tasks = route(msgs, s.kind, s.windowMs, c.watermark, c.pool.threads, taskRecords, c.futureLimit);
  return Promise.all(
    tasks.map(async (t) => {
      const result = await c.pool.run(t.task);
      // Copies: kafkajs's messages are slices of a large response we must not pin.
      const rejected = (j: number): SourceMessage => {
        const m = msgs[t.index[result.rejected[j]]];
        return { offset: m.offset, key: m.key === null ? null : Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value) };
      };
      return { result, rejected };
    }),
  );
}

export async function dispatchRaw(raw: RawRecords, fetchOffset: number, endOffset: number, c: Common): Promise<TaskOutcome[]> {
  const { stream: s } = c;
  const result = await c.pool.run({
    kind: s.kind,
    windowMs: s.windowMs,
    watermark: c.watermark,
    futureLimit: c.futureLimit,
    raw: { bytes: raw.bytes, fetchOffset, endOffset, readCommitted: raw.readCommitted, abortedTransactions: raw.abortedTransactions },
  });
  const rec = result.rejectedRecords;
  return [
    {
      result,
      rejected: (j: number) => ({ offset: rec!.offsets[j], key: toBuffer(rec!.keys[j]), value: toBuffer(rec!.values[j]) }),
    },
  ];
}

/** The worker already copied them: a view is enough. */
const toBuffer = (b: Uint8Array | null): Buffer | null => (b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
