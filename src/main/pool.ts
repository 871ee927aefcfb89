/**
 * The worker pool: a fixed set of piscina threads running the aggregation worker.
 */
import { Piscina } from 'piscina';
import type { AggregateResult, AnyAggregateTask } from '../workers/protocol.js';
import { SmartGridError } from '../common/errors.js';

/** Errors of src/kafka's decoder (see workers/raw.ts): the fetched data, not the worker, is at fault. */
const KAFKA_DECODE_ERROR = /^(CORRUPT_MESSAGE|CRC_MISMATCH|UNSUPPORTED_MAGIC|UNSUPPORTED_CODEC): /;

const WORKER_FILE = new URL('../workers/aggregate.worker.js', import.meta.url).href;

export interface AggregatePool {
  run(task: AnyAggregateTask): Promise<AggregateResult>;
  readonly threads: number;
  utilization(): number;
  close(): Promise<void>;
}

export function createPool(threads: number): AggregatePool {
  const pool = new Piscina({
    filename: WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 2 ** 31 - 1,
    // No maxQueue: tasks are awaited batch by batch, so the queue is already bounded by
    // the partition batches in flight times the tasks per batch.
    concurrentTasksPerWorker: 1,
  });
  return {
    threads,
    async run(task) {
      try {
        return (await pool.run(task, {
          transferList: ('raw' in task
            ? // shared memory is shared, not transferred
              task.raw.bytes.buffer instanceof SharedArrayBuffer
              ? []
              : [task.raw.bytes.buffer]
            : [task.bytes.buffer, task.offsets.buffer, task.parts.buffer]) as ArrayBuffer[],
        })) as AggregateResult;
      } catch (e) {
        // A record batch the wire source could not decode (CRC mismatch, unsupported codec)
        // keeps its own code and message: it names the batch and what is wrong with it.
        if (e instanceof Error && KAFKA_DECODE_ERROR.test(e.message)) {
          throw new SmartGridError('KAFKA_CORRUPT_DATA', e.message, { cause: e });
        }
        throw new SmartGridError('WORKER_FAILED', 'an aggregation worker failed', { cause: e });
      }
    },
    utilization: () => pool.utilization,
    close: () => pool.destroy(),
  };
}
