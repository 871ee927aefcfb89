/**
 * An in-memory engine test driver, in the spirit of Kafka Streams' TopologyTestDriver:
 * the real Engine with a scripted source (partitions, batches, assignments, end offsets),
 * an in-memory sink that can fail on demand, an inline worker pool running the real
 * aggregation code, in-memory snapshots and a clock the test moves. No Kafka, no
 * PostgreSQL, milliseconds per test.
 */
import { Engine, type EngineOptions } from '../../src/main/engine.js';
import type { Snapshot, TopicSnapshot } from '../../src/main/checkpoint.js';
import { SmartGridError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/log.js';
import { EngineMetrics } from '../../src/main/metrics.js';
import type { Sink, SinkBatch, SinkCounts } from '../../src/main/sink.js';
import type { GroupMember, PartitionOffsets, PartitionRef, RecordSource, SourceHandlers, SourceMessage } from '../../src/main/source.js';
import { aggregateBatch } from '../../src/workers/aggregate.js';
import { VARS_PER_KIND, type AggregateResult, type AggregateTask } from '../../src/workers/protocol.js';
import { S_COUNT, STATS_WIDTH } from '../../src/workers/stats.js';

export const TOPICS = { sensor: 'sensor', meter: 'meter', weather: 'weather' };
export const MIN = 60000;
export const BASE = Date.UTC(2026, 10, 28, 6);

export function options(o: Partial<EngineOptions> = {}): EngineOptions {
  return {
    groupId: 'g',
    topics: TOPICS,
    windowMs: { sensor: 5 * MIN, meter: 60 * MIN, weather: 60 * MIN },
    allowedLatenessMs: MIN,
    idleTimeoutMs: 30,
    taskRecords: 1000,
    maxInflightBatches: 8,
    checkpointIntervalMs: 40,
    ignoreMissingCheckpoint: false,
    availableNow: false,
    startingOffsets: 'earliest',
    createTopics: true,
    topicPartitions: 2,
    maxPendingRows: 100000,
    sinkRetryMaxMs: 40,
    shutdownTimeoutMs: 5000,
    progressIntervalMs: 0,
    maxFutureSkewMs: 0,
    maxOpenStates: 1_000_000,
    sinkStallTimeoutMs: 10_000,
    checkpointFailuresTolerated: 3,
    ...o,
  };
}

export const sensor = (id: string, ts: number, value = 1): string =>
  JSON.stringify({ sensor_id: id, sensor_type: 'voltage', value, timestamp: new Date(ts).toISOString() });

/** A logger that keeps what it is told. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'debug', msg, fields });
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', msg, fields });
  }
  child(): Logger {
    return this;
  }
  has(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }
}

/** Kafka as a script: logs per partition, a fetch position per partition, recorded seeks and commits. */
export class ScriptedSource implements RecordSource {
  readonly clientId = 'smartgrid-stream@test';
  readonly logs = new Map<string, SourceMessage[][]>();
  readonly fetchAt = new Map<string, number>();
  readonly seeks: { topic: string; partition: number; offset: number }[] = [];
  readonly commits: { topic: string; partition: number; offset: number }[][] = [];
  committedOffsets = new Map<string, number>();
  handlers: SourceHandlers | null = null;
  paused = false;
  stopped = false;

  constructor(partitions = 2) {
    for (const t of Object.values(TOPICS)) this.logs.set(t, Array.from({ length: partitions }, () => []));
  }

  produce(topic: string, partition: number, payloads: string[]): void {
    const log = this.logs.get(topic)![partition];
    for (const p of payloads) log.push({ offset: log.length, key: Buffer.from('k'), value: Buffer.from(p) });
  }

  async groupMembers(): Promise<GroupMember[]> {
    return [];
  }
  async connect(): Promise<void> {}
  async ensureTopics(topics: string[]): Promise<Map<string, number[]>> {
    return new Map(topics.map((t) => [t, this.logs.get(t)!.map((_, i) => i)]));
  }
  async offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.logs.get(topic)!.map((log, partition) => ({ partition, low: 0, high: log.length }));
  }
  async committed(topic: string): Promise<Map<number, number>> {
    return new Map(this.logs.get(topic)!.map((_, p) => [p, this.committedOffsets.get(`${topic}:${p}`) ?? -1]));
  }
  async run(h: SourceHandlers): Promise<void> {
    this.handlers = h;
  }
  seek(topic: string, partition: number, offset: number): void {
    this.seeks.push({ topic, partition, offset });
    this.fetchAt.set(`${topic}:${partition}`, offset);
  }
  pause(): void {
    this.paused = true;
  }
  async commit(offsets: { topic: string; partition: number; offset: number }[]): Promise<void> {
    this.commits.push(offsets);
    for (const o of offsets) this.committedOffsets.set(`${o.topic}:${o.partition}`, o.offset);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }

  assign(parts: PartitionRef[]): void {
    this.handlers!.onAssignment(parts);
  }

  /**
   * Delivers up to `count` records of a partition from its fetch position (or from
   * `from`, as a client that has not seen a seek yet would), as kafkajs would. Returns
   * whether the engine took the batch (the position then moves past it).
   */
  async deliver(topic: string, partition: number, o: { count?: number; from?: number } = {}): Promise<boolean> {
    const key = `${topic}:${partition}`;
    const log = this.logs.get(topic)![partition];
    const from = o.from ?? this.fetchAt.get(key) ?? 0;
    const messages = log.slice(from, from + (o.count ?? 1000));
    if (messages.length === 0) return false;
    const took = await this.handlers!.onBatch(
      { topic, partition, highWatermark: log.length, messages },
      { heartbeat: async () => {} },
    );
    if (took) this.fetchAt.set(key, messages[messages.length - 1].offset + 1);
    return took;
  }
}

/** PostgreSQL as a list: every row written, and failures on demand. */
export class MemorySink implements Sink {
  readonly rows: { kind: 'sensor' | 'meter' | 'weather'; start: number; key: string; count: number }[] = [];
  readonly deadLetters: { topic: string; partition: number; offset: number; reason: string }[] = [];
  writes = 0;
  /** The next n writes fail (retriably unless `fatal`). */
  failNext = 0;
  fatal = false;
  /** The next write waits until this promise settles (a write stuck on a lock). */
  stuck: Promise<void> | null = null;

  async write(b: SinkBatch): Promise<SinkCounts> {
    this.writes++;
    if (this.stuck !== null) {
      const s = this.stuck;
      this.stuck = null;
      await s;
    }
    if (this.failNext > 0) {
      this.failNext--;
      throw this.fatal ? new Error('a bug, not a PostgreSQL error') : new SmartGridError('SINK_WRITE_FAILED', 'PostgreSQL is away', { canRetry: true });
    }
    (['sensor', 'meter', 'weather'] as const).forEach((kind, k) => {
      const width = VARS_PER_KIND[k] * STATS_WIDTH;
      for (const w of b[kind]) w.keys.forEach((key, i) => this.rows.push({ kind, start: w.start, key, count: w.stats[i * width + S_COUNT] }));
    });
    for (const d of b.deadLetters) this.deadLetters.push({ topic: d.topic, partition: d.partition, offset: d.offset, reason: d.reason });
    return {
      sensor: b.sensor.reduce((n, w) => n + w.keys.length, 0),
      meter: b.meter.reduce((n, w) => n + w.keys.length, 0),
      weather: b.weather.length,
      deadLetters: b.deadLetters.length,
      rejected: 0,
    };
  }
}

/** Snapshots kept in memory, copied (the engine hands over views of its live state). */
export class MemoryCheckpoints {
  readonly dir = '(memory)';
  readonly saved: Snapshot[] = [];
  /** Called when a save starts (to observe what is in flight then). */
  onSave: (() => void) | null = null;
  /** While set, a save waits for it after onSave (a slow disk). */
  saveGate: Promise<void> | null = null;
  failNext = 0;
  async removeLeftovers(): Promise<void> {}
  async loadLatest(): Promise<Snapshot | null> {
    return this.saved.at(-1) ?? null;
  }
  async save(s: { groupId: string; topics: TopicSnapshot[] }): Promise<Snapshot> {
    this.onSave?.();
    if (this.saveGate !== null) await this.saveGate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new SmartGridError('CHECKPOINT_IO', 'disk full', { canRetry: true });
    }
    const topics = s.topics.map((t) => ({
      ...t,
      windows: t.windows.map((w) => ({ start: w.start, keys: w.keys.slice(0, w.n ?? w.keys.length), stats: w.stats.slice(), conds: w.conds })),
    }));
    const snap: Snapshot = { format: 4, seq: this.saved.length + 1, createdAt: new Date(0).toISOString(), groupId: s.groupId, topics };
    this.saved.push(snap);
    return snap;
  }
}

/** The real aggregation code, inline; `hold()` keeps tasks in flight until released. */
export class InlinePool {
  readonly threads = 1;
  private held: (() => void)[] | null = null;
  /** Only this many more tasks are held (Infinity: all, while holding). */
  private holdCount = Infinity;
  utilization(): number {
    return 0;
  }
  /** Tasks started and not finished. */
  running = 0;
  async run(task: AggregateTask): Promise<AggregateResult> {
    this.running++;
    try {
      if (this.held !== null && this.holdCount > 0) {
        this.holdCount--;
        await new Promise<void>((r) => this.held!.push(r));
      }
      return aggregateBatch(task);
    } finally {
      this.running--;
    }
  }
  hold(count = Infinity): void {
    this.held = [];
    this.holdCount = count;
  }
  release(): void {
    const h = this.held ?? [];
    this.held = null;
    for (const r of h) r();
  }
}

export interface Driver {
  engine: Engine;
  source: ScriptedSource;
  sink: MemorySink;
  checkpoints: MemoryCheckpoints;
  pool: InlinePool;
  log: RecordingLogger;
  metrics: EngineMetrics;
  /** The engine's wall clock: real time shifted by `offsetMs` (tests move it). */
  clock: { offsetMs: number };
  running: Promise<void>;
}

/** Starts an engine on fakes; the run's promise is `running`. */
export async function startDriver(
  o: Partial<EngineOptions> = {},
  setup: (d: Omit<Driver, 'engine' | 'running'>) => void = () => {},
): Promise<Driver> {
  const parts: Omit<Driver, 'engine' | 'running'> = {
    source: new ScriptedSource(),
    sink: new MemorySink(),
    checkpoints: new MemoryCheckpoints(),
    pool: new InlinePool(),
    log: new RecordingLogger(),
    metrics: new EngineMetrics(),
    clock: { offsetMs: 0 },
  };
  setup(parts);
  const engine = new Engine(options(o), { ...parts, now: () => Date.now() + parts.clock.offsetMs });
  const running = engine.run();
  running.catch(() => {});
  await until('the engine to start', () => engine.status().started || parts.source.handlers !== null || undefined);
  return { ...parts, engine, running };
}

export async function until<T>(what: string, f: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
