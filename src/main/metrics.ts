/**
 * Engine counters and gauges, kept as plain numbers on the hot path and rendered in the
 * Prometheus text format on demand.
 */
import { KIND_NAMES } from '../workers/protocol.js';

export type Outcome = 'aggregated' | 'late' | 'bad';

export class EngineMetrics {
  readonly recordsIn = KIND_NAMES.map(() => ({ aggregated: 0, late: 0, bad: 0 }));
  readonly deadLettersByReason = new Map<string, number>();
  readonly rowsWritten = KIND_NAMES.map(() => 0);
  deadLettersWritten = 0;
  flushes = 0;
  sinkFailures = 0;
  sinkRetrying = false;
  sinkFailingSince: number | null = null;
  checkpoints = 0;
  lastCheckpointAt: number | null = null;
  lastCheckpointMs = 0;
  batches = 0;
  workerThreadIds = new Set<number>();
  decodeNs = 0;
  aggregateNs = 0;

  totalIn(): number {
    let n = 0;
    for (const r of this.recordsIn) n += r.aggregated + r.late + r.bad;
    return n;
  }
}
