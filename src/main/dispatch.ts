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

/** A task's result, and rejected record j (index into `result.rejected`) as a message. */
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
      return { result, rejected: (j: number) => msgs[t.index[result.rejected[j]]] };
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

const toBuffer = (b: Uint8Array | null): Buffer | null => (b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
