/**
 * The worker pool: a fixed set of piscina threads running the aggregation worker.
 */
import { Piscina } from 'piscina';
import type { AggregateResult, AggregateTask } from '../workers/protocol.js';
import { SmartGridError } from '../common/errors.js';

const WORKER_FILE = new URL('../workers/aggregate.worker.js', import.meta.url).href;

export interface AggregatePool {
  run(task: AggregateTask): Promise<AggregateResult>;
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
          transferList: [task.bytes.buffer, task.offsets.buffer, task.parts.buffer] as ArrayBuffer[],
        })) as AggregateResult;
      } catch (e) {
        throw new SmartGridError('WORKER_FAILED', 'an aggregation worker failed', { cause: e });
      }
    },
    utilization: () => pool.utilization,
    close: () => pool.destroy(),
  };
}
