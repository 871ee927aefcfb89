/**
 * The coordinator. It receives fetched batches from the source, routes them to the worker
 * pool, merges the workers' partials into window state, tracks event time per partition,
 * decides which windows are final, writes them (and dead letters) to PostgreSQL, and
 * checkpoints state so that nothing is lost or counted twice across crashes.
 *
 * Why the results are exact across a crash at any moment
 * ------------------------------------------------------
 * - A checkpoint is taken at a barrier: no batch is in flight, so the window state in the
 *   snapshot holds exactly the records below the snapshot's per-partition offsets, minus
 *   those already in final windows or dead letters, which were written to PostgreSQL
 *   before the snapshot (the sink loop runs one flush at a time, and the barrier flush
 *   takes everything pending).
 * - Kafka offsets are committed only after the snapshot that covers them is durable. The
 *   snapshot, not Kafka, is the source of truth on restart: the engine seeks every
 *   partition to the snapshot's offsets, whatever Kafka has committed.
 * - Crash after a PostgreSQL commit but before the snapshot: the restart replays from the
 *   previous snapshot and produces the same final windows again; the upsert overwrites
 *   them with identical values and dead letters conflict on (topic, partition, offset).
 * - Crash after the snapshot but before the Kafka commit: the restart seeks to the
 *   snapshot's offsets, so the committed offset being older does not matter.
 * - Crash between snapshot rename and directory fsync: the previous snapshot is used,
 *   which is the case above.
 * - A window is written only when no unmerged batch could still contribute to it: the
 *   threshold is the lowest of the topic's watermark and the watermark every in-flight
 *   batch was dispatched with (lateness is decided at dispatch).
 * - Crash during a rebalance: nothing is committed while partitions move; the state and
 *   offsets in the last snapshot still describe each other, and on (re)assignment every
 *   partition is sought to the offset the state covers, whatever Kafka's committed offset
 *   says (a batch fetched from elsewhere before the seek lands is dropped unprocessed).
 * - Sums and averages are exact integer arithmetic, so a replay that batches records
 *   differently produces the same digits (floating-point sums would not).
 */
import { performance } from 'node:perf_hooks';
import { KIND_NAMES, Kind, REASONS, R_LATE, type AggregateResult } from '../workers/protocol.js';
import type { CheckpointStore, Snapshot, TopicSnapshot } from './checkpoint.js';
import type { DirLock } from './dir-lock.js';
import { describeError, SmartGridError } from './errors.js';
import type { Logger } from './log.js';
import type { EngineMetrics } from './metrics.js';
import type { AggregatePool } from './pool.js';
import { route } from './router.js';
import type { DeadLetter, SinkBatch, SinkCounts } from './sink.js';
import type { BatchContext, PartitionRef, RecordSource, SourceBatch } from './source.js';
import { backoff, Signal, sleep } from './signal.js';
import { TopicClock } from './watermark.js';
import { WindowStore, type WindowState } from './window-store.js';

export interface Sink {
  write(batch: SinkBatch): Promise<SinkCounts>;
}

export interface EngineOptions {
  groupId: string;
  topics: { sensor: string; meter: string; weather: string };
  windowMs: { sensor: number; meter: number; weather: number };
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  taskRecords: number;
  maxInflightBatches: number;
  checkpointIntervalMs: number;
  ignoreMissingCheckpoint: boolean;
  availableNow: boolean;
  startingOffsets: 'earliest' | 'latest';
  createTopics: boolean;
  topicPartitions: number;
  maxPendingRows: number;
  sinkRetryMaxMs: number;
  shutdownTimeoutMs: number;
  progressIntervalMs: number;
  /** Records stamped later than the wall clock plus this are `future` (0 = no limit). */
  maxFutureSkewMs: number;
  /** Open (window, group) states at which fetching pauses (see backpressured). */
  maxOpenStates: number;
  /** A write running longer than this counts as failing in metrics and /health. */
  sinkStallTimeoutMs: number;
  /** Failed checkpoints in a row that are survived (the next one is tried as usual). */
  checkpointFailuresTolerated: number;
}

export interface EngineDeps {
  source: RecordSource;
  sink: Sink;
  pool: AggregatePool;
  checkpoints: CheckpointStore;
  metrics: EngineMetrics;
  log: Logger;
  now?: () => number;
  /**
   * The checkpoint directory's lock: taken before anything else, so that one instance at
   * a time owns the state (see dir-lock.ts). Tests that run engines in-process may omit it.
   */
  lock?: DirLock;
}

interface KindState {
  kind: Kind;
  topic: string;
  windowMs: number;
  store: WindowStore;
  clock: TopicClock;
  /** Dispatch watermark of each batch in flight. */
  inflight: Map<number, number>;
  pending: WindowState[];
}

interface PartState {
  kind: Kind;
  topic: string;
  partition: number;
  /** Next offset to process: everything below it is in the state; null until known. */
  next: number | null;
  /** Next offset expected from the source: `next` plus the batches in flight. */
  fetched: number | null;
  /** Merges of this partition's batches, in fetch order. */
  chain: Promise<void>;
  assigned: boolean;
  /** A seek to `next` was requested and not yet seen to take effect. */
  seeking: boolean;
  /** Available-now: the log end when the run started. */
  target: number | null;
  maxTs: number;
  /** Log end offset last seen. */
  high: number;
}

export interface EngineStatus {
  topics: string[];
  watermarks: number[];
  partitions: { topic: string; partition: number; lag: number }[];
  openWindows: number[];
  openStates: number[];
  pendingRows: number;
  started: boolean;
  assigned: number;
  lastAssignmentChange: number;
  fatal: string | null;
  workerThreads: number;
  workerUtilization: number;
  recentRate: number;
}

const KINDS: Kind[] = [Kind.sensor, Kind.meter, Kind.weather];

class StoppedDuringStartup extends Error {}

export class Engine {
  private readonly kinds: KindState[];
  private readonly byTopic = new Map<string, KindState>();
  private readonly parts = new Map<string, PartState>();
  private deadLetters: DeadLetter[] = [];
  private active = 0;
  private batchSeq = 0;
  private barrier = false;
  private stopping = false;
  private finished = false;
  private fatal: Error | null = null;
  private readonly gateSignal = new Signal();
  private readonly idleSignal = new Signal();
  private readonly sinkSignal = new Signal();
  private lastCheckpoint = 0;
  private checkpointRequested = false;
  /** Something a snapshot records has changed since the last one. */
  private dirty = true;
  private sinkFailing = false;
  private pendingRows = 0;
  private readonly now: () => number;
  private doneResolve: (() => void) | null = null;
  /** Flushes and checkpoints run one at a time (see the argument above). */
  private sinkLock: Promise<void> = Promise.resolve();
  private readonly done: Promise<void>;

  constructor(
    private readonly opts: EngineOptions,
    private readonly deps: EngineDeps,
  ) {
    this.now = deps.now ?? Date.now;
    const topicOf = [opts.topics.sensor, opts.topics.meter, opts.topics.weather];
    const windowOf = [opts.windowMs.sensor, opts.windowMs.meter, opts.windowMs.weather];
    this.kinds = KINDS.map((kind) => ({
      kind,
      topic: topicOf[kind],
      windowMs: windowOf[kind],
      store: new WindowStore(kind, windowOf[kind]),
      clock: new TopicClock(opts.allowedLatenessMs, opts.idleTimeoutMs),
      inflight: new Map(),
      pending: [],
    }));
    for (const k of this.kinds) this.byTopic.set(k.topic, k);
    this.done = new Promise((r) => (this.doneResolve = r));
  }

  private get log(): Logger {
    return this.deps.log;
  }

  /** Open (window, group) states over all kinds. */
  openStates(): number {
    return this.kinds.reduce((n, k) => n + k.store.openStates, 0);
  }

  watermarks(): Record<string, number> {
    return Object.fromEntries(this.kinds.map((k) => [KIND_NAMES[k.kind], k.clock.watermark]));
  }

  status(): EngineStatus {
    const parts = [...this.parts.values()].filter((p) => p.assigned);
    return {
      topics: this.kinds.map((k) => k.topic),
      watermarks: this.kinds.map((k) => k.clock.watermark),
      partitions: parts.map((p) => ({ topic: p.topic, partition: p.partition, lag: Math.max(0, p.high - (p.next ?? p.high)) })),
      openWindows: this.kinds.map((k) => k.store.openWindows),
      openStates: this.kinds.map((k) => k.store.openStates),
      pendingRows: this.pendingRows,
      started: this.started,
      assigned: parts.length,
      lastAssignmentChange: this.lastAssignmentChange,
      fatal: this.fatal === null ? null : describeError(this.fatal),
      workerThreads: this.deps.pool.threads,
      workerUtilization: this.deps.pool.utilization(),
      recentRate: this.recentRate,
    };
  }

  private started = false;
  private ownership: Promise<void> = Promise.resolve();
  /** This instance has owned partitions (so a member that joins later is the newcomer). */
  private ownedBefore = false;
  private stateLimitSince: number | null = null;
  /** A snapshot copy is being taken (see snapshotTopics). */
  private capturing = false;
  private checkpointFailuresInRow = 0;
  private lastAssignmentChange = Date.now();
  private recentRate = 0;
  private rateAt = Date.now();
  private rateCount = 0;

  // ---------------------------------------------------------------- start-up

  /** Runs until stopped (live) or until the input is processed (available-now). */
  async run(): Promise<void> {
    const { source, checkpoints } = this.deps;
    const topics = this.kinds.map((k) => k.topic);
    // A stop while still connecting (Kafka unreachable at start) ends the run at once.
    const startup = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([p, this.done.then(() => Promise.reject(new StoppedDuringStartup()))]);
    try {
      await startup(this.lockCheckpoints());
      await startup(source.connect());
      await startup(this.checkSingleMember('start'));
      await startup(source.ensureTopics(topics, this.opts.createTopics, this.opts.topicPartitions));
      await checkpoints.removeLeftovers();
      const snap = await startup(checkpoints.loadLatest());
      if (snap !== null) this.restore(snap);
      await startup(this.startingOffsets(snap !== null));
    } catch (e) {
      await this.deps.lock?.release();
      if (e instanceof StoppedDuringStartup) {
        this.log.info('stopped before the engine had started');
        return;
      }
      throw e;
    }

    if (this.opts.availableNow) {
      const total = [...this.parts.values()].reduce((n, p) => n + Math.max(0, (p.target ?? 0) - (p.next ?? 0)), 0);
      this.log.info('available-now: processing the records present at start', { records: total });
    }

    const sinkLoop = this.sinkLoop();
    this.started = true;
    const ticker = setInterval(() => this.tick(), Math.max(50, Math.min(1000, this.opts.idleTimeoutMs / 2)));
    try {
      if (this.opts.availableNow && this.allCaughtUp()) {
        this.finish();
      } else {
        await source.run({
          onBatch: (b, ctx) => this.onBatch(b, ctx),
          onAssignment: (a) => this.onAssignment(a),
          onFatal: (e) => this.fail(new SmartGridError('KAFKA_ERROR', 'the Kafka consumer stopped', { cause: e })),
        });
      }
      await this.done;
    } finally {
      clearInterval(ticker);
    }
    await sinkLoop;
    await this.deps.lock?.release();
    if (this.fatal !== null) throw this.fatal;
  }

  // ---------------------------------------------------------------- single owner

  private async lockCheckpoints(): Promise<void> {
    const lock = this.deps.lock;
    if (lock === undefined) return;
    lock.onLost = (why) =>
      this.fail(new SmartGridError('INSTANCE_CONFLICT', `lost the checkpoint directory lock: ${why}; stopping without writing`));
    const owner = await lock.acquire();
    this.log.info('checkpoint directory locked', {
      dir: lock.dir,
      instance: owner.instanceId,
      ...(lock.lastTakeOver === null ? {} : { tookOverStaleLock: lock.lastTakeOver }),
    });
  }

  /**
   * One instance per consumer group: the engine runs as a single instance, so another
   * member in its group (another engine with the same --group-id, here or on another
   * machine, or any other consumer) would split the partitions and corrupt the results.
   * At start a member that is not a predecessor of this instance (whose session may
   * linger after a kill -9) makes this instance refuse. After a join, when two engines
   * started at once, the one that started later refuses; the earlier one keeps the
   * watermarks of partitions it lost (they still hold event time back, so nothing turns
   * late) and gets them back once the newcomer has left. A newcomer that is not an engine
   * (any other consumer with this group id) cannot be made to leave; it holds its
   * partitions until it does.
   */
  private async checkSingleMember(at: 'start' | 'join'): Promise<void> {
    const { source, lock } = this.deps;
    if (lock === undefined) return;
    const owner = lock.owner;
    const mine = instanceOfClient(source.clientId);
    const ignore = new Set([mine, ...(owner?.predecessors ?? [])]);
    let members;
    try {
      members = await source.groupMembers();
    } catch (e) {
      this.log.warn('could not list the consumer group members; skipping the single-instance check', { error: describeError(e) });
      return;
    }
    const others = members.filter((m) => !ignore.has(instanceOfClient(m.clientId)));
    if (others.length === 0) return;
    const who = others.map((m) => `${m.clientId} on ${m.clientHost}`).join(', ');
    // Who was there first keeps the group. An instance that already owned partitions
    // before this join was: the others are newcomers. On a first assignment, engine
    // members compare their instance ids, which sort by start time; another consumer
    // that is already there wins.
    const newcomers =
      at === 'join' &&
      (this.ownedBefore || others.every((m) => m.clientId.includes('@') && instanceOfClient(m.clientId) > mine));
    if (newcomers) {
      this.log.warn('another member joined the consumer group; this instance keeps its state and waits for its partitions to come back', {
        members: who,
      });
      return;
    }
    throw new SmartGridError(
      'INSTANCE_CONFLICT',
      `consumer group '${this.opts.groupId}' already has ${others.length === 1 ? 'an active member' : `${others.length} active members`} ` +
        `(${who}): another engine instance (or another consumer) uses this group id. The engine runs as a single ` +
        `instance per group, and two would split the partitions and overwrite each other's rows. Stop the other ` +
        `one, or use another --group-id. (A member of a killed instance leaves the group after --session-timeout.)`,
    );
  }

  /** Where each partition starts: the snapshot wins over Kafka's committed offset. */
  private async startingOffsets(restored: boolean): Promise<void> {
    const { source } = this.deps;
    for (const k of this.kinds) {
      const offs = await source.offsets(k.topic);
      const committed = await source.committed(k.topic);
      if (!restored && !this.opts.ignoreMissingCheckpoint && [...committed.values()].some((c) => c >= 0)) {
        // Offsets were committed after a snapshot that is not here any more: starting
        // from them with empty state would rewrite already written windows with partial
        // results, and records for final windows would not be recognised as late.
        throw new SmartGridError(
          'CHECKPOINT_MISSING',
          `consumer group '${this.opts.groupId}' has committed offsets on ${k.topic}, but the checkpoint directory ` +
            `${this.deps.checkpoints.dir} holds no snapshot: the window state and watermarks that go with those offsets ` +
            `are missing. Point --checkpoint-dir at the right folder; or start over with a new --group-id (everything ` +
            `is read again and the tables end the same); or pass --ignore-missing-checkpoint to continue from the ` +
            `committed offsets with empty state`,
        );
      }
      for (const o of offs) {
        const ps = this.part(k.topic, o.partition);
        if (ps.next === null) {
          const c = committed.get(o.partition) ?? -1;
          ps.next = c >= 0 ? c : this.opts.startingOffsets === 'earliest' ? o.low : o.high;
        }
        if (ps.next < o.low) {
          this.log.warn('records were deleted by retention before they were processed', {
            topic: k.topic,
            partition: o.partition,
            from: ps.next,
            to: o.low,
          });
          ps.next = o.low;
        }
        ps.fetched = ps.next;
        if (this.opts.availableNow) ps.target = o.high;
        ps.high = o.high;
      }
    }
  }


  private key(topic: string, partition: number): string {
    return topic + ':' + partition;
  }

  private part(topic: string, partition: number): PartState {
    const key = this.key(topic, partition);
    let ps = this.parts.get(key);
    if (ps === undefined) {
      const k = this.byTopic.get(topic);
      if (k === undefined) throw new SmartGridError('INTERNAL', `record from unexpected topic ${topic}`);
      ps = {
        kind: k.kind,
        topic,
        partition,
        next: null,
        fetched: null,
        chain: Promise.resolve(),
        assigned: false,
        seeking: false,
        target: null,
        maxTs: -Infinity,
        high: 0,
      };
      this.parts.set(key, ps);
    }
    return ps;
  }

  private restore(snap: Snapshot): void {
    for (const t of snap.topics) {
      const k = this.byTopic.get(t.topic) ?? this.kinds.find((x) => KIND_NAMES[x.kind] === (t as { kind?: string }).kind);
      if (k === undefined) {
        throw new SmartGridError(
          'CHECKPOINT_CORRUPT',
          `the checkpoint covers topic ${t.topic}, which is not configured; use another --checkpoint-dir or --group-id`,
        );
      }
      if (t.windowMs !== k.windowMs) {
        throw new SmartGridError(
          'CONFIG_INVALID',
          `the checkpoint was taken with ${t.topic} windows of ${t.windowMs} ms, but ${k.windowMs} ms is configured; ` +
            `window sizes cannot change under existing state (use a new --group-id and --checkpoint-dir)`,
        );
      }
      k.store.restore(t.windows);
      k.clock.restore({ watermark: t.watermark });
      for (const o of t.offsets) {
        const ps = this.part(t.topic, o.partition);
        ps.next = o.offset;
        ps.fetched = o.offset;
        ps.maxTs = t.partitions.find((p) => p.partition === o.partition)?.maxTs ?? -Infinity;
      }
    }
    this.log.info('state restored', { openStates: this.openStates(), seq: snap.seq });
  }

  // ---------------------------------------------------------------- assignment

  private onAssignment(assigned: PartitionRef[]): void {
    const now = this.now();
    this.ownership = this.checkSingleMember('join')
      .then(() => {
        if (assigned.length > 0) this.ownedBefore = true;
      })
      .catch((e: unknown) => this.fail(e));
    const set = new Set(assigned.map((a) => this.key(a.topic, a.partition)));
    for (const ps of this.parts.values()) {
      if (ps.assigned && !set.has(this.key(ps.topic, ps.partition))) {
        // A single instance never gives partitions away for good: one it lost keeps
        // holding its topic's watermark at the event time it had reached, so that the
        // partitions it still has cannot turn that partition's records late meanwhile.
        ps.assigned = false;
        this.kinds[ps.kind].clock.assign(ps.partition, true, now);
        this.log.warn('partition revoked from this single instance; its event time keeps holding the watermark', {
          topic: ps.topic,
          partition: ps.partition,
        });
      }
    }
    for (const a of assigned) {
      const ps = this.part(a.topic, a.partition);
      const clock = this.kinds[ps.kind].clock;
      ps.assigned = true;
      // Until we know better, a partition holds the watermark back.
      clock.assign(a.partition, true, now);
      clock.observe(a.partition, ps.maxTs);
      if (ps.fetched !== null) {
        // Batches still in flight will be merged; the source continues after them.
        ps.seeking = true;
        this.deps.source.seek(a.topic, a.partition, ps.fetched);
      }
    }
    this.lastAssignmentChange = now;
    this.log.info('partitions assigned', { count: assigned.length });
    void this.refreshBacklog();
    // Whoever owns a partition next starts from a committed offset that matches state.
    this.checkpointRequested = true;
    this.sinkSignal.notify();
  }

  /** Learns which assigned partitions have nothing to fetch (they never send a batch). */
  private async refreshBacklog(): Promise<void> {
    try {
      for (const k of this.kinds) {
        const offs = await this.deps.source.offsets(k.topic);
        const now = this.now();
        for (const o of offs) {
          const ps = this.parts.get(this.key(k.topic, o.partition));
          if (ps === undefined || !ps.assigned || ps.next === null) continue;
          ps.high = o.high;
          const end = ps.target ?? o.high;
          k.clock.progress(o.partition, ps.next < end, now);
        }
      }
      this.tick();
    } catch (e) {
      this.log.warn('could not read partition end offsets', { error: describeError(e) });
    }
  }

  // ---------------------------------------------------------------- hot path

  private backpressured(): boolean {
    return (
      this.barrier ||
      this.sinkFailing ||
      this.pendingRows > this.opts.maxPendingRows ||
      this.active >= this.opts.maxInflightBatches ||
      this.openStates() >= this.opts.maxOpenStates
    );
  }

  /**
   * The bound on open states: at the limit fetching pauses (backpressured) while final
   * windows are written, which frees their states. If, with nothing in flight, no window
   * can become final for longer than the idle timeout plus 5 s, more input is needed to
   * move the watermark but none may be read: the engine fails with a clear error instead
   * of waiting forever or running out of memory.
   */
  private checkStateLimit(now: number, tookFinal: boolean): void {
    const states = this.openStates();
    if (states < this.opts.maxOpenStates || tookFinal || this.active > 0 || this.pendingRows > 0) {
      this.stateLimitSince = null;
      return;
    }
    if (this.stateLimitSince === null) {
      this.stateLimitSince = now;
      this.log.warn('open states reached --max-open-states; fetching paused until windows become final', {
        openStates: states,
        maxOpenStates: this.opts.maxOpenStates,
      });
      return;
    }
    if (now - this.stateLimitSince > this.opts.idleTimeoutMs + 5000) {
      this.fail(
        new SmartGridError(
          'STATE_LIMIT',
          `${states} open (window, group) states reached --max-open-states ${this.opts.maxOpenStates}, and no window can ` +
            `become final without reading more input: raise --max-open-states (about 250 bytes of memory each), ` +
            `shorten the windows or --allowed-lateness, or fix the producers whose keys or timestamps spread so widely`,
        ),
      );
    }
  }

  private async gate(ctx: BatchContext): Promise<void> {
    // No batch of a new assignment is processed before the single-instance check of it.
    await this.ownership;
    while (this.backpressured() && !this.stopping) {
      await this.gateSignal.wait(1000);
      await ctx.heartbeat().catch(() => {});
    }
  }

  /**
   * Takes a fetched batch: filters what the state already covers, dispatches the rest to
   * the workers and returns at once, so that the client fetches the next batch while the
   * workers decode this one (kafkajs waits for eachBatch before fetching again). Results
   * are merged per partition in fetch order; at most `maxInflightBatches` batches are in
   * flight.
   */
  private async onBatch(batch: SourceBatch, ctx: BatchContext): Promise<boolean> {
    await this.gate(ctx);
    if (this.stopping) return false;
    const ps = this.part(batch.topic, batch.partition);
    const k = this.kinds[ps.kind];
    let msgs = batch.messages;
    const pos = ps.fetched;
    if (pos !== null) {
      const first = msgs[0].offset;
      if (first > pos) {
        if (ps.seeking) {
          // kafkajs fetched from its own position before our seek took effect.
          this.deps.source.seek(batch.topic, batch.partition, pos);
          ps.seeking = false;
          return false;
        }
        this.log.warn('offsets skipped (deleted by retention or compaction)', {
          topic: batch.topic,
          partition: batch.partition,
          expected: pos,
          got: first,
        });
      }
      if (first < pos) msgs = msgs.filter((m) => m.offset >= pos);
    }
    ps.seeking = false;
    if (ps.target !== null) msgs = msgs.filter((m) => m.offset < ps.target!);
    // The position after this batch: records at or beyond an available-now target are
    // left for a later run; offsets missing before the target (compaction) are skipped.
    let next: number;
    if (msgs.length > 0) next = msgs[msgs.length - 1].offset + 1;
    else if (ps.target !== null && batch.messages[0].offset >= ps.target) next = Math.max(pos ?? 0, ps.target);
    else next = Math.max(pos ?? 0, Math.min(batch.messages[batch.messages.length - 1].offset + 1, ps.target ?? Infinity));
    ps.fetched = next;

    const id = ++this.batchSeq;
    const t0 = performance.now();
    const wd = k.clock.watermark;
    k.inflight.set(id, wd);
    this.active++;
    let work: Promise<{ tasks: ReturnType<typeof route>; results: AggregateResult[] }> | null = null;
    if (msgs.length > 0) {
      const futureLimit = this.opts.maxFutureSkewMs > 0 ? this.now() + this.opts.maxFutureSkewMs : Infinity;
      const tasks = route(msgs, k.kind, k.windowMs, wd, this.deps.pool.threads, this.opts.taskRecords, futureLimit);
      work = Promise.all(tasks.map((t) => this.deps.pool.run(t.task))).then((results) => ({ tasks, results }));
      // Reported through the chain below; this only keeps the rejection from being unhandled.
      work.catch(() => {});
    }
    const merge = async (): Promise<void> => {
      if (work !== null) {
        const { tasks, results } = await work;
        let maxTs = -Infinity;
        for (let i = 0; i < results.length; i++) {
          const r = results[i];
          k.store.merge(r);
          this.collectRejects(batch, msgs, tasks[i].index, r);
          if (r.partMaxTs[0] > maxTs) maxTs = r.partMaxTs[0];
          this.account(k.kind, r);
        }
        if (maxTs > ps.maxTs) ps.maxTs = maxTs;
        this.dirty = true;
        k.clock.observe(batch.partition, maxTs);
        this.deps.metrics.batchLatency.recordMs(performance.now() - t0);
      }
      this.afterBatch(ps, k, batch, next);
    };
    ps.chain = ps.chain
      .then(merge)
      .catch((e: unknown) => {
        this.fail(e instanceof SmartGridError ? e : new SmartGridError('INTERNAL', 'batch processing failed', { cause: e }));
      })
      .finally(() => {
        k.inflight.delete(id);
        this.active--;
        if (this.active === 0) this.idleSignal.notify();
        this.gateSignal.notify();
        this.tick();
      });
    return true;
  }

  private afterBatch(ps: PartState, k: KindState, batch: SourceBatch, next: number): void {
    if (ps.next !== next) this.dirty = true;
    ps.next = next;
    ps.high = Math.max(ps.high, batch.highWatermark);
    const end = ps.target ?? batch.highWatermark;
    k.clock.progress(ps.partition, next < end, this.now());
    if (this.opts.availableNow && this.allCaughtUp()) this.finish();
  }

  private account(kind: Kind, r: AggregateResult): void {
    const m = this.deps.metrics;
    let late = 0;
    for (let i = 0; i < r.reasons.length; i++) if (r.reasons[i] === R_LATE) late++;
    const c = m.recordsIn[kind];
    c.late += late;
    c.bad += r.reasons.length - late;
    c.aggregated += r.n - r.reasons.length;
    m.batches++;
    m.workerThreadIds.add(r.threadId);
    m.decodeNs += r.decodeNs;
    m.aggregateNs += r.aggregateNs;
  }

  private collectRejects(batch: SourceBatch, msgs: SourceBatch['messages'], index: Uint32Array, r: AggregateResult): void {
    const m = this.deps.metrics;
    for (let j = 0; j < r.rejected.length; j++) {
      const msg = msgs[index[r.rejected[j]]];
      const reason = REASONS[r.reasons[j]];
      m.deadLettersByReason.set(reason, (m.deadLettersByReason.get(reason) ?? 0) + 1);
      this.deadLetters.push({
        topic: batch.topic,
        partition: batch.partition,
        offset: msg.offset,
        // Copies: the fetched buffers are slices of a large response we must not pin.
        key: msg.key === null ? null : Buffer.from(msg.key),
        payload: msg.value === null ? null : Buffer.from(msg.value),
        reason,
        error: r.errors[j],
      });
    }
  }

  private allCaughtUp(): boolean {
    for (const ps of this.parts.values()) {
      if (ps.target !== null && (ps.next ?? 0) < ps.target) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- finality

  /** Recomputes watermarks and moves final windows to the sink queue. */
  private tick(): void {
    if (this.capturing) return;
    const now = this.now();
    if (now - this.rateAt >= 1000) {
      const total = this.deps.metrics.totalIn();
      this.recentRate = Math.round(((total - this.rateCount) * 1000) / (now - this.rateAt));
      this.rateCount = total;
      this.rateAt = now;
    }
    let any = false;
    for (const k of this.kinds) {
      k.clock.update(now);
      let threshold = k.clock.watermark;
      for (const wd of k.inflight.values()) if (wd < threshold) threshold = wd;
      if (k.store.earliestEnd() <= threshold) {
        const fin = k.store.takeFinal(threshold);
        for (const w of fin) {
          this.pendingRows += w.keys.length;
          w.finalAt = now;
        }
        k.pending.push(...fin);
        any = true;
        this.dirty = true;
      }
    }
    this.checkStateLimit(now, any);
    if (any || this.deadLetters.length >= 10000 || now - this.lastCheckpoint >= this.opts.checkpointIntervalMs) {
      this.sinkSignal.notify();
    }
  }

  // ---------------------------------------------------------------- sink & checkpoints

  private async sinkLoop(): Promise<void> {
    this.lastCheckpoint = this.now();
    while (!this.finished) {
      await this.sinkSignal.wait(Math.min(1000, this.opts.checkpointIntervalMs));
      if (this.finished) break;
      try {
        const due = this.checkpointRequested || this.now() - this.lastCheckpoint >= this.opts.checkpointIntervalMs;
        if (due) await this.checkpoint();
        else await this.exclusive(() => this.flush());
      } catch (e) {
        this.fail(e);
      }
    }
  }

  /** Writes pending final windows and dead letters, retrying until it succeeds. */
  private async flush(): Promise<void> {
    const batch: SinkBatch = {
      sensor: this.kinds[Kind.sensor].pending,
      meter: this.kinds[Kind.meter].pending,
      weather: this.kinds[Kind.weather].pending,
      windowMs: this.opts.windowMs,
      deadLetters: this.deadLetters,
    };
    if (batch.sensor.length + batch.meter.length + batch.weather.length + batch.deadLetters.length === 0) return;
    for (const k of this.kinds) k.pending = [];
    this.deadLetters = [];
    const rows = batch.sensor.concat(batch.meter, batch.weather).reduce((n, w) => n + w.keys.length, 0);
    const m = this.deps.metrics;
    for (let attempt = 0; ; attempt++) {
      // A write that neither succeeds nor fails (a lock, a stuck server) counts as failing
      // once it has run for --sink-stall-timeout; the statement timeout then ends it.
      const startedAt = this.now();
      const stall = setTimeout(() => {
        if (m.sinkFailingSince === null) m.sinkFailingSince = startedAt;
        m.sinkStalled = true;
        this.log.warn('a PostgreSQL write has been running for longer than --sink-stall-timeout', {
          ms: this.now() - startedAt,
        });
      }, this.opts.sinkStallTimeoutMs);
      try {
        const t0 = performance.now();
        const counts = await this.deps.sink.write(batch).finally(() => clearTimeout(stall));
        m.flushLatency.recordMs(performance.now() - t0);
        const done = this.now();
        for (const list of [batch.sensor, batch.meter, batch.weather]) {
          for (const w of list) if (w.finalAt !== undefined) m.finalToCommit.recordMs(done - w.finalAt);
        }
        m.rowsWritten[Kind.sensor] += counts.sensor;
        m.rowsWritten[Kind.meter] += counts.meter;
        m.rowsWritten[Kind.weather] += counts.weather;
        m.deadLettersWritten += counts.deadLetters;
        m.rejectedRows += counts.rejected;
        m.flushes++;
        this.log.debug('flushed', { ...counts });
        if (this.sinkFailing) {
          this.log.info('PostgreSQL writes succeed again; resuming', { after: attempt + 1 });
          this.sinkFailing = false;
          m.sinkFailingSince = null;
        }
        if (m.sinkStalled && !this.sinkFailing) m.sinkFailingSince = null;
        m.sinkStalled = false;
        this.pendingRows -= rows;
        this.gateSignal.notify();
        return;
      } catch (e) {
        // Only the sink's own errors say whether retrying can help; anything else is a bug,
        // and retrying it forever would look like a PostgreSQL outage.
        const retry = e instanceof SmartGridError && e.canRetry;
        m.sinkFailures++;
        m.sinkStalled = false;
        if (!retry) throw e;
        if (!this.sinkFailing) m.sinkFailingSince = startedAt;
        this.sinkFailing = true;
        const wait = backoff(attempt, this.opts.sinkRetryMaxMs);
        this.log.warn('PostgreSQL write failed; fetching paused, retrying', {
          attempt: attempt + 1,
          retryInMs: wait,
          error: describeError(e),
        });
        await sleep(wait);
        if (this.fatal !== null) throw this.fatal;
      }
    }
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.sinkLock.then(fn, fn);
    this.sinkLock = run.catch(() => {});
    return run;
  }

  /** Barrier, flush everything pending, snapshot, then commit offsets to Kafka. */
  private checkpoint(finalWrite = false): Promise<void> {
    return this.exclusive(() => this.checkpointNow(finalWrite));
  }

  private async checkpointNow(finalWrite: boolean): Promise<void> {
    const started = this.now();
    const requested = this.checkpointRequested;
    this.checkpointRequested = false;
    this.barrier = true;
    try {
      while (this.active > 0) await this.idleSignal.wait(50);
      if (finalWrite) this.takeAll();
      else this.tick();
      await this.flush();
      if (!this.dirty && !finalWrite && !requested) return;
      this.dirty = false;
      // The snapshot is written while the barrier holds: it views the live state without
      // copying it (see WindowStore.snapshot), and the writer yields to the event loop
      // between pieces, so /health, heartbeats and timers keep running even for millions
      // of states; only merging waits. Offsets are committed once the file is durable.
      const topics = this.snapshotTopics();
      const offsets = [...this.parts.values()]
        .filter((p) => p.assigned && p.next !== null)
        .map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next! }));
      let snap: Snapshot;
      this.capturing = true;
      try {
        snap = await this.deps.checkpoints.save({ groupId: this.opts.groupId, topics });
      } catch (e) {
        // A snapshot that could not be written (disk full, I/O error) leaves the previous
        // one in force: nothing is committed, and the next checkpoint tries again. Rows
        // already written are rewritten identically by a replay from the previous one.
        const m = this.deps.metrics;
        m.checkpointFailures++;
        this.checkpointFailuresInRow++;
        m.checkpointFailuresInRow = this.checkpointFailuresInRow;
        this.dirty = true;
        const tolerated = !finalWrite && !this.stopping && this.checkpointFailuresInRow <= this.opts.checkpointFailuresTolerated;
        this.log.error(tolerated ? 'checkpoint failed; the engine keeps running on the previous one' : 'checkpoint failed', {
          inARow: this.checkpointFailuresInRow,
          tolerated: this.opts.checkpointFailuresTolerated,
          error: describeError(e),
        });
        if (tolerated) return;
        throw e;
      } finally {
        this.capturing = false;
      }
      this.checkpointFailuresInRow = 0;
      this.deps.metrics.checkpointFailuresInRow = 0;
      try {
        await this.deps.source.commit(offsets);
      } catch (e) {
        // The snapshot is what a restart resumes from; a failed commit only delays what
        // Kafka tools report as lag.
        this.log.warn('committing offsets to Kafka failed; will retry at the next checkpoint', {
          error: describeError(e),
        });
      }
      const m = this.deps.metrics;
      m.checkpoints++;
      m.lastCheckpointAt = this.now();
      m.lastCheckpointMs = this.now() - started;
      this.log.debug('checkpoint', { seq: snap.seq, openStates: this.openStates(), ms: m.lastCheckpointMs });
    } finally {
      this.lastCheckpoint = this.now();
      this.barrier = false;
      this.gateSignal.notify();
    }
  }

  /** Available-now end of input: every open window becomes final. */
  private takeAll(): void {
    for (const k of this.kinds) {
      const fin = k.store.takeFinal(Infinity);
      const now = this.now();
      for (const w of fin) w.finalAt = now;
      if (fin.length > 0) {
        k.pending.push(...fin);
        k.clock.advanceTo(fin[fin.length - 1].start + k.windowMs);
      }
      for (const w of fin) this.pendingRows += w.keys.length;
    }
  }

  /**
   * The state, watermarks and offsets for a snapshot, at the barrier: no batch is merged
   * while it is written, and no window becomes final (`capturing` makes tick() wait), so
   * they describe one moment.
   */
  private snapshotTopics(): TopicSnapshot[] {
    return this.kinds.map((k) => {
      const cs = k.clock.snapshot();
      const parts = [...this.parts.values()].filter((p) => p.kind === k.kind && p.next !== null);
      return {
        topic: k.topic,
        windowMs: k.windowMs,
        watermark: cs.watermark,
        partitions: parts.map((p) => ({ partition: p.partition, maxTs: Number.isFinite(p.maxTs) ? p.maxTs : null })),
        offsets: parts.map((p) => ({ partition: p.partition, offset: p.next! })),
        windows: k.store.snapshot(),
      };
    });
  }

  // ---------------------------------------------------------------- stopping

  /** Graceful stop: stop fetching, finish in-flight work, flush, checkpoint, commit. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    this.gateSignal.notify();
    if (!this.started) {
      // Still starting: there is no state of this run to save, and a snapshot now would
      // replace the real one with an empty state.
      this.end();
      return;
    }
    const work = (async () => {
      // Order matters: stop fetching, let in-flight batches finish, checkpoint and commit
      // while the consumer still belongs to the group, and only then leave it.
      this.deps.source.pause();
      while (this.active > 0) await this.idleSignal.wait(50);
      if (this.fatal === null) await this.checkpoint();
      await this.deps.source.stop();
    })();
    const timeout = sleep(this.opts.shutdownTimeoutMs).then(() => {
      throw new SmartGridError('SHUTDOWN_TIMEOUT', `graceful stop did not finish within ${this.opts.shutdownTimeoutMs} ms`);
    });
    try {
      await Promise.race([work, timeout]);
    } catch (e) {
      // The run ends with this error (exit code 1): what was not checkpointed is replayed
      // from the previous snapshot at the next start.
      if (this.fatal === null) this.fatal = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      this.end();
    }
  }

  private finish(): void {
    if (this.stopping) return;
    this.stopping = true;
    void (async () => {
      try {
        // Wait for in-flight batches of other partitions, then write everything.
        while (this.active > 0) await this.idleSignal.wait(50);
        await this.checkpoint(true);
        this.log.info('available-now run complete', {
          records: this.deps.metrics.totalIn(),
          rows: this.deps.metrics.rowsWritten.reduce((a, b) => a + b, 0),
          deadLetters: this.deps.metrics.deadLettersWritten,
        });
        await this.deps.source.stop();
      } catch (e) {
        this.fail(e);
      } finally {
        this.end();
      }
    })();
  }

  private fail(e: unknown): void {
    if (this.fatal === null) {
      this.fatal = e instanceof Error ? e : new Error(String(e));
      this.log.error('engine failed', { error: describeError(e) });
    }
    this.stopping = true;
    this.gateSignal.notify();
    void this.deps.source.stop().finally(() => this.end());
  }

  private end(): void {
    this.finished = true;
    this.sinkSignal.notify();
    this.doneResolve?.();
  }
}

/** The instance id in an engine's Kafka client id (`smartgrid-stream@<instance id>`), or the whole id. */
export function instanceOfClient(clientId: string): string {
  const at = clientId.lastIndexOf('@');
  return at < 0 ? clientId : clientId.slice(at + 1);
}
