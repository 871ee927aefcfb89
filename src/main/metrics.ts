/**
 * Engine metrics. The hot path updates plain numbers on `EngineMetrics`; prom-client reads
 * them through collect callbacks only when /metrics is scraped. Latencies go into
 * cumulative Prometheus histograms (per batch, flush or window, never per record) and into
 * an HDR histogram that the benchmarks read as percentiles.
 */
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import { packageVersion } from '../common/version.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KIND_NAMES, STREAM_LIST } from '../common/streams.js';
import { R_LATE, REASONS, type AggregateResult } from '../workers/protocol.js';
import type { EngineStatus } from './engine-types.js';
import type { SinkCounts } from './sink.js';

/** What happened to an input record, as counted in smartgrid_records_in_total. */
export const OUTCOMES = ['aggregated', 'late', 'bad'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * Dead-letter reasons exported at 0 from the start, so that `rate()` and alerts see a
 * series before the first bad record. Follows the workers' reason table; a reason added
 * there (or here) appears without further changes.
 */
export const DEAD_LETTER_REASONS: readonly string[] = REASONS.filter((r) => r !== '');

/** Histogram buckets in seconds: one batch takes ms, a flush tens of ms, final → committed up to a checkpoint interval or an outage. */
export const BUCKETS = {
  batch: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  flush: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  finalToCommit: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
} as const;

/**
 * A latency: a cumulative Prometheus histogram (never reset; Prometheus takes rates) and an
 * HDR histogram in microseconds for percentiles in the benchmarks (which may reset it).
 */
export class Latency {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  sumUs = 0;

  constructor(readonly histogram: Histogram | null = null) {}

  recordMs(ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.h.recordValue(Math.min(us, 3_600_000_000));
    this.sumUs += us;
    this.histogram?.observe(Math.max(0, ms) / 1000);
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

  /** Resets the percentiles (benchmarks); the Prometheus histogram stays cumulative. */
  reset(): void {
    this.h.reset();
    this.sumUs = 0;
  }
}

/** Worker utilisation is averaged over this much wall-clock time. */
export const UTILIZATION_WINDOW_MS = 10_000;

export class EngineMetrics {
  readonly startedAt = Date.now();
  /** The engine's own metrics; /metrics adds the process metrics (processRegistry). */
  readonly registry = new Registry();
  readonly recordsIn = KIND_NAMES.map(() => ({ aggregated: 0, late: 0, bad: 0 }) as Record<Outcome, number>);
  readonly deadLettersByReason = new Map<string, number>(DEAD_LETTER_REASONS.map((r) => [r, 0]));
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
  readonly batchLatency: Latency;
  /** Time of one sink transaction. */
  readonly flushLatency: Latency;
  /** From a window becoming final to its row being committed. */
  readonly finalToCommit: Latency;
  private readonly utilSamples: { at: number; busyNs: number }[] = [];

  constructor() {
    const histogram = (name: string, help: string, buckets: readonly number[]): Histogram =>
      new Histogram({ name, help, buckets: [...buckets], registers: [this.registry] });
    this.batchLatency = new Latency(histogram('smartgrid_batch_seconds', 'Processing time of one partition batch, dispatch to merged.', BUCKETS.batch));
    this.flushLatency = new Latency(histogram('smartgrid_flush_seconds', 'Duration of one sink transaction.', BUCKETS.flush));
    this.finalToCommit = new Latency(
      histogram('smartgrid_final_to_commit_seconds', 'From a window becoming final to its row being committed in PostgreSQL.', BUCKETS.finalToCommit),
    );
  }

  /** Accounts one worker result: records in by outcome, batch and worker time. */
  recordResult(kind: number, r: AggregateResult): void {
    let late = 0;
    for (let i = 0; i < r.reasons.length; i++) if (r.reasons[i] === R_LATE) late++;
    const c = this.recordsIn[kind];
    c.late += late;
    c.bad += r.reasons.length - late;
    c.aggregated += r.n - r.reasons.length;
    this.workerThreadIds.add(r.threadId);
    this.decodeNs += r.decodeNs;
    this.aggregateNs += r.aggregateNs;
  }

  recordDeadLetter(reason: string): void {
    this.deadLettersByReason.set(reason, (this.deadLettersByReason.get(reason) ?? 0) + 1);
  }

  /** Accounts one successful sink write. */
  recordFlush(counts: SinkCounts, ms: number): void {
    this.flushLatency.recordMs(ms);
    KIND_NAMES.forEach((name, k) => (this.rowsWritten[k] += counts[name]));
    this.deadLettersWritten += counts.deadLetters;
    this.rejectedRows += counts.rejected;
    this.flushes++;
  }

  totalIn(): number {
    let n = 0;
    for (const r of this.recordsIn) n += r.aggregated + r.late + r.bad;
    return n;
  }

  /** Time workers spent decoding and aggregating, in nanoseconds. */
  workerBusyNs(): number {
    return this.decodeNs + this.aggregateNs;
  }

  /**
   * Share of the pool's capacity (threads × wall time) that workers spent on tasks over
   * about the last UTILIZATION_WINDOW_MS. Sampled lazily, at most once a second, so
   * several readers do not disturb each other. (piscina's own `utilization` divides a
   * mean in milliseconds by 1000 and reads far too low.)
   */
  workerUtilization(threads: number, now = performance.now()): number {
    const busy = this.workerBusyNs();
    const s = this.utilSamples;
    if (s.length === 0 || now - s[s.length - 1].at >= 1000) s.push({ at: now, busyNs: busy });
    while (s.length > 2 && now - s[1].at >= UTILIZATION_WINDOW_MS) s.shift();
    const wallMs = now - s[0].at;
    if (wallMs <= 0 || threads <= 0) return 0;
    return Math.min(1, Math.max(0, (busy - s[0].busyNs) / 1e6 / (wallMs * threads)));
  }
}

// ---------------------------------------------------------------- exporter

/** What the exporter reads besides EngineMetrics (the engine, the probes). */
export interface MetricsView {
  status(): Pick<EngineStatus, 'topics' | 'watermarks' | 'partitions' | 'openWindows' | 'openStates' | 'pendingRows' | 'workerThreads' | 'recentRate'>;
  /** Seconds since Kafka last answered a request. */
  kafkaUnreachableSeconds(now: number): number;
  ready(now: number): boolean;
  healthy(now: number): boolean;
  /** The Kafka read path (--kafka-client), for smartgrid_build_info. */
  kafkaClient: string;
}

export const BUILD_INFO = { version: packageVersion(), nodejs: process.versions.node } as const;

/**
 * Registers every engine metric on `m.registry`: counters and gauges read the plain
 * numbers in collect callbacks. Call once per EngineMetrics.
 */
export function registerEngineMetrics(m: EngineMetrics, view: MetricsView): void {
  const registers = [m.registry];
  const topicsOf = (): string[] => view.status().topics;
  // A counter whose value is set from a plain number at scrape time.
  const counter = <L extends string>(name: string, help: string, labelNames: L[], read: (set: (labels: Partial<Record<L, string | number>>, v: number) => void) => void): void => {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: L[], read: (set: (labels: Partial<Record<L, string | number>>, v: number) => void) => void): void => {
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        read((labels, v) => this.set(labels, v));
      },
    });
  };

  new Gauge({ name: 'smartgrid_build_info', help: 'Version of the engine, Node.js and Kafka client; always 1.', labelNames: ['version', 'nodejs', 'kafka_client'], registers }).set(
    { ...BUILD_INFO, kafka_client: view.kafkaClient },
    1,
  );
  gauge('smartgrid_start_time_seconds', 'When the engine started (Unix seconds).', [], (set) => set({}, m.startedAt / 1000));

  counter('smartgrid_records_in_total', 'Input records by topic and outcome.', ['topic', 'outcome'], (set) => {
    const topics = topicsOf();
    KIND_NAMES.forEach((_, k) => OUTCOMES.forEach((o) => set({ topic: topics[k], outcome: o }, m.recordsIn[k][o] ?? 0)));
  });
  counter('smartgrid_dead_letters_total', 'Records sent to the dead-letter table, by reason.', ['reason'], (set) => {
    for (const [reason, v] of m.deadLettersByReason) set({ reason }, v);
  });
  counter('smartgrid_rows_written_total', 'Aggregate rows written, by table.', ['table'], (set) => {
    STREAM_LIST.forEach((s, k) => set({ table: s.table }, m.rowsWritten[k]));
  });
  counter('smartgrid_dead_letters_written_total', 'Dead letters written (conflicting replays included).', [], (set) => set({}, m.deadLettersWritten));
  gauge('smartgrid_events_per_second', 'Input records per second over the last second.', [], (set) => set({}, view.status().recentRate));

  gauge('smartgrid_watermark_seconds', 'Event-time watermark per topic (Unix seconds); absent until the topic has one.', ['topic'], (set) => {
    const st = view.status();
    st.watermarks.forEach((w, k) => {
      if (Number.isFinite(w)) set({ topic: st.topics[k] }, w / 1000);
    });
  });
  gauge('smartgrid_watermark_delay_seconds', 'Wall-clock time minus the watermark, per topic; negative when the watermark is in the future.', ['topic'], (set) => {
    const st = view.status();
    const now = Date.now();
    st.watermarks.forEach((w, k) => {
      if (Number.isFinite(w)) set({ topic: st.topics[k] }, (now - w) / 1000);
    });
  });
  gauge('smartgrid_consumer_lag', 'Records left to fetch per partition (log end minus next offset).', ['topic', 'partition'], (set) => {
    for (const p of view.status().partitions) set({ topic: p.topic, partition: p.partition }, p.lag);
  });
  gauge('smartgrid_assigned_partitions', 'Partitions assigned to this engine.', [], (set) => set({}, view.status().partitions.length));
  gauge('smartgrid_open_windows', 'Open windows per topic.', ['topic'], (set) => {
    const st = view.status();
    st.openWindows.forEach((n, k) => set({ topic: st.topics[k] }, n));
  });
  gauge('smartgrid_open_states', 'Open (window, group) states per topic.', ['topic'], (set) => {
    const st = view.status();
    st.openStates.forEach((n, k) => set({ topic: st.topics[k] }, n));
  });
  gauge('smartgrid_pending_rows', 'Final rows waiting for PostgreSQL.', [], (set) => set({}, view.status().pendingRows));
  counter('smartgrid_sink_flushes_total', 'Successful sink transactions.', [], (set) => set({}, m.flushes));
  counter('smartgrid_sink_failures_total', 'Failed sink transactions (each is retried).', [], (set) => set({}, m.sinkFailures));
  gauge('smartgrid_sink_failing', '1 while PostgreSQL writes are failing and being retried.', [], (set) => set({}, m.sinkFailingSince === null ? 0 : 1));
  gauge('smartgrid_sink_failing_seconds', 'How long PostgreSQL writes have been failing (0 when they succeed).', [], (set) =>
    set({}, m.sinkFailingSince === null ? 0 : Math.max(0, Date.now() - m.sinkFailingSince) / 1000),
  );
  gauge('smartgrid_sink_stalled', '1 while a PostgreSQL write has run longer than --sink-stall-timeout.', [], (set) => set({}, m.sinkStalled ? 1 : 0));
  counter('smartgrid_sink_rejected_rows_total', 'Rows PostgreSQL refused for a data reason, kept in rejected_rows (the rest of their flush was written).', [], (set) =>
    set({}, m.rejectedRows),
  );
  counter('smartgrid_checkpoints_total', 'Checkpoints written.', [], (set) => set({}, m.checkpoints));
  counter('smartgrid_checkpoint_failures_total', 'Checkpoints that could not be written (the previous snapshot stayed in force).', [], (set) =>
    set({}, m.checkpointFailures),
  );
  gauge('smartgrid_checkpoint_failures_in_row', 'Failed checkpoints since the last one that succeeded.', [], (set) => set({}, m.checkpointFailuresInRow));
  gauge('smartgrid_last_checkpoint_time_seconds', 'When the last checkpoint was written (Unix seconds); absent before the first.', [], (set) => {
    if (m.lastCheckpointAt !== null) set({}, m.lastCheckpointAt / 1000);
  });
  gauge('smartgrid_checkpoint_age_seconds', 'Seconds since the last checkpoint (since the start before the first).', [], (set) =>
    set({}, (Date.now() - (m.lastCheckpointAt ?? m.startedAt)) / 1000),
  );
  gauge('smartgrid_checkpoint_duration_seconds', 'Duration of the last checkpoint.', [], (set) => set({}, m.lastCheckpointMs / 1000));
  counter('smartgrid_batches_total', 'Partition batches processed.', [], (set) => set({}, m.batches));
  gauge('smartgrid_worker_threads', 'Worker threads in the pool.', [], (set) => set({}, view.status().workerThreads));
  gauge('smartgrid_worker_utilization', `Share of the pool's capacity spent on tasks over the last ${UTILIZATION_WINDOW_MS / 1000} s (0–1).`, [], (set) =>
    set({}, m.workerUtilization(view.status().workerThreads)),
  );
  counter('smartgrid_worker_busy_seconds_total', 'Time workers spent on tasks (decoding plus aggregating).', [], (set) => set({}, m.workerBusyNs() / 1e9));
  counter('smartgrid_worker_decode_seconds_total', 'Time workers spent decoding JSON into columns.', [], (set) => set({}, m.decodeNs / 1e9));
  counter('smartgrid_worker_aggregate_seconds_total', 'Time workers spent aggregating columns.', [], (set) => set({}, m.aggregateNs / 1e9));
  gauge('smartgrid_kafka_unreachable_seconds', 'Seconds since Kafka last answered a request (about 0 while it is reachable).', [], (set) =>
    set({}, view.kafkaUnreachableSeconds(Date.now())),
  );
  gauge('smartgrid_ready', '1 when /readyz answers 200.', [], (set) => set({}, view.ready(Date.now()) ? 1 : 0));
  gauge('smartgrid_healthy', '1 when /health answers 200 (live and ready).', [], (set) => set({}, view.healthy(Date.now()) ? 1 : 0));
}

let processRegistry: Registry | null = null;

/** Node.js and process metrics (CPU, RSS, heap, event-loop lag, GC): one registry per process. */
export function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges named like counters: `promtool check metrics` rejects them, and the same
    // numbers are in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      processRegistry.removeSingleMetric(name);
    }
  }
  return processRegistry;
}

/** The whole /metrics page: process metrics, then the engine's. */
export async function scrape(m: EngineMetrics): Promise<string> {
  const parts = await Promise.all([processMetrics().metrics(), m.registry.metrics()]);
  return parts.map((p) => p.replace(/\n*$/, '\n')).join('');
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
