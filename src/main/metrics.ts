/**
 * Engine counters, gauges and latency histograms, kept as plain numbers on the hot path
 * and rendered in the Prometheus text format on demand.
 */
import hdr from 'hdr-histogram-js';
import { KIND_NAMES } from '../workers/protocol.js';

export type Outcome = 'aggregated' | 'late' | 'bad';

/** A latency histogram in microseconds (hdr-histogram records integers). */
export class Latency {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  sumUs = 0;

  recordMs(ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.h.recordValue(Math.min(us, 3_600_000_000));
    this.sumUs += us;
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Value at a percentile, in milliseconds. */
  percentileMs(p: number): number {
    return this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p) / 1000;
  }

  maxMs(): number {
    return this.h.maxValue / 1000;
  }

  reset(): void {
    this.h.reset();
    this.sumUs = 0;
  }
}

export class EngineMetrics {
  readonly startedAt = Date.now();
  readonly recordsIn = KIND_NAMES.map(() => ({ aggregated: 0, late: 0, bad: 0 }));
  readonly deadLettersByReason = new Map<string, number>();
  readonly rowsWritten = KIND_NAMES.map(() => 0);
  deadLettersWritten = 0;
  flushes = 0;
  sinkFailures = 0;
  sinkFailingSince: number | null = null;
  /** A write has run longer than --sink-stall-timeout and is still running. */
  sinkStalled = false;
  /** Rows PostgreSQL refused for a data reason (kept in rejected_rows). */
  rejectedRows = 0;
  checkpointFailures = 0;
  checkpointFailuresInRow = 0;
  checkpoints = 0;
  lastCheckpointAt: number | null = null;
  lastCheckpointMs = 0;
  batches = 0;
  workerThreadIds = new Set<number>();
  decodeNs = 0;
  aggregateNs = 0;
  /** Per-batch processing time (dispatch to merged). */
  readonly batchLatency = new Latency();
  /** Time of one sink transaction. */
  readonly flushLatency = new Latency();
  /** From a window becoming final to its row being committed. */
  readonly finalToCommit = new Latency();

  totalIn(): number {
    let n = 0;
    for (const r of this.recordsIn) n += r.aggregated + r.late + r.bad;
    return n;
  }
}
