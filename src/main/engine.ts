/**
 * The coordinator's lifecycle: start-up and restore, run, stop, finish and fail, around
 * the parts that do the work. Fetched batches go through the batch path (batch-flow.ts:
 * gate, plan, dispatch to the worker pool, merge into window state); here event time
 * decides which windows are final (tick), the sink loop writes them (and dead letters) to
 * PostgreSQL, and the checkpoint barrier snapshots state so that nothing is lost or
 * counted twice across crashes.
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
 *
 * Member mode (--group-member, several instances)
 * -----------------------------------------------
 * The consumer group assigns the partitions. Each assigned partition has an operator of
 * its own (its window state and its own watermark), restored at assignment from its
 * snapshot in PostgreSQL (partition-state.ts), and given up at revocation after a
 * checkpoint of just those partitions. Final windows are written as partials per source
 * partition and merged in PostgreSQL (member-sink.ts); every write checks the partition's
 * lease, so a member whose generation is over writes nothing. The arguments above hold
 * per partition, with the partition's row in PostgreSQL in place of the snapshot file.
 */
import { STREAM_LIST, type Kind } from '../common/streams.js';
import { applyAssignment, refreshBacklog, restorePartitions } from './assignment.js';
import type { EngineDeps, EngineOptions, EngineStatus } from './engine-types.js';
import type { Snapshot, TopicSnapshot } from './checkpoint.js';
import { Checkpointer } from './checkpointer.js';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { BatchFlow } from './batch-flow.js';
import { Positions } from './positions.js';
import { Signal, sleep } from '../common/signal.js';
import { SingleOwner } from './single-owner.js';
import { SinkWriter } from './sink-writer.js';
import type { PartitionRef } from './source.js';
import { StateLimit } from './state-limit.js';
import { StreamOperator } from './stream.js';


export type { EngineDeps, EngineOptions, EngineStatus } from './engine-types.js';

class StoppedDuringStartup extends Error {}

export class Engine {
  private readonly streams: StreamOperator[];
  /** --group-member: one operator per assigned partition (state and watermark of its own). */
  private readonly member: boolean;
  private readonly partOps = new Map<string, StreamOperator>();
  private readonly byTopic = new Map<string, StreamOperator>();
  private readonly positions: Positions;
  private readonly writer: SinkWriter;
  private readonly checkpointer: Checkpointer;
  private readonly owner: SingleOwner;
  private readonly stateLimit: StateLimit;
  private readonly now: () => number;
  /** The batch path: gate, plan, dispatch, merge; counts the batches in flight. */
  private readonly flow: BatchFlow;
  /** The snapshot is being written: no window becomes final (see checkpointNow). */
  private capturing = false;
  private stopping = false;
  private finished = false;
  private started = false;
  private fatal: Error | null = null;
  private readonly sinkSignal = new Signal();
  private doneResolve: (() => void) | null = null;
  private readonly done: Promise<void>;
  private ownership: Promise<void> = Promise.resolve();
  private lastAssignmentChange = Date.now();
  private recentRate = 0;
  private rateAt = Date.now();
  private rateCount = 0;

  constructor(
    private readonly opts: EngineOptions,
    private readonly deps: EngineDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.streams = STREAM_LIST.map(
      (spec, kind) =>
        new StreamOperator(kind as Kind, opts.topics[spec.name], opts.windowMs[spec.name], opts.allowedLatenessMs, opts.idleTimeoutMs),
    );
    for (const s of this.streams) this.byTopic.set(s.topic, s);
    this.member = opts.groupMember === true;
    if (this.member && deps.member === undefined) throw new SmartGridError('INTERNAL', 'member mode needs deps.member');
    this.positions = new Positions((topic) => this.byTopic.get(topic)?.kind);
    this.writer = new SinkWriter(deps.sink, deps.metrics, deps.log, opts, this.now, () => this.flow.wake(), () => this.fatal);
    this.checkpointer = new Checkpointer(deps.checkpoints, deps.source, deps.metrics, deps.log, opts, this.now);
    this.owner = new SingleOwner(deps.lock, deps.source, opts.groupId, deps.log, deps.groupLock);
    this.stateLimit = new StateLimit(opts.maxOpenStates, opts.stateLimitGraceMs ?? opts.idleTimeoutMs + 5000, deps.log);
    this.flow = new BatchFlow(
      {
        operatorOf: (ps) => (this.member ? this.partOps.get(ps.topic + ':' + ps.partition) : this.streams[ps.kind]),
        member: this.member,
        positions: this.positions, writer: this.writer, checkpointer: this.checkpointer, stateLimit: this.stateLimit, deps, opts, now: this.now },
      {
        stopping: () => this.stopping,
        ownership: () => this.ownership,
        openStates: () => this.openStates(),
        settled: () => this.tick(),
        fail: (e) => this.fail(e),
        caughtUp: () => this.finish(),
      },
    );
    this.done = new Promise((r) => (this.doneResolve = r));
  }

  private get log(): Logger {
    return this.deps.log;
  }

  /** The operators holding state: one per stream, or (member mode) one per assigned partition. */
  private operators(): Iterable<StreamOperator> {
    return this.member ? this.partOps.values() : this.streams;
  }

  /** Open (window, group) states over all streams. */
  openStates(): number {
    let n = 0;
    for (const s of this.operators()) n += s.store.openStates;
    return n;
  }

  /** Per stream: its watermark (member mode: the lowest of its partitions'; -Infinity with none). */
  private watermarkOf(s: StreamOperator): number {
    if (!this.member) return s.clock.watermark;
    let min = Infinity;
    for (const op of this.partOps.values()) if (op.kind === s.kind && op.clock.watermark < min) min = op.clock.watermark;
    return min === Infinity ? -Infinity : min;
  }

  private sumOf(s: StreamOperator, f: (op: StreamOperator) => number): number {
    if (!this.member) return f(s);
    let n = 0;
    for (const op of this.partOps.values()) if (op.kind === s.kind) n += f(op);
    return n;
  }

  watermarks(): Record<string, number> {
    return Object.fromEntries(this.streams.map((s) => [s.name, this.watermarkOf(s)]));
  }

  status(): EngineStatus {
    const parts = this.positions.assigned();
    return {
      topics: this.streams.map((s) => s.topic),
      watermarks: this.streams.map((s) => this.watermarkOf(s)),
      partitions: parts.map((p) => ({ topic: p.topic, partition: p.partition, lag: Math.max(0, p.high - (p.next ?? p.high)) })),
      openWindows: this.streams.map((s) => this.sumOf(s, (op) => op.store.openWindows)),
      openStates: this.streams.map((s) => this.sumOf(s, (op) => op.store.openStates)),
      pendingRows: this.writer.pendingRows,
      started: this.started,
      assigned: parts.length,
      lastAssignmentChange: this.lastAssignmentChange,
      fatal: this.fatal === null ? null : describeError(this.fatal),
      workerThreads: this.deps.pool.threads,
      workerUtilization: this.deps.pool.utilization(),
      recentRate: this.recentRate,
    };
  }

  // ---------------------------------------------------------------- start-up

  /** Runs until stopped (live) or until the input is processed (available-now). */
  async run(): Promise<void> {
    const { source, checkpoints } = this.deps;
    // A stop while still connecting (Kafka unreachable at start) ends the run at once.
    const startup = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([p, this.done.then(() => Promise.reject(new StoppedDuringStartup()))]);
    try {
      // Member mode: the group and the partitions' leases decide who owns what (no
      // directory or group lock); state is restored per partition when assigned.
      if (!this.member) await startup(this.owner.acquire((e) => this.fail(e)));
      await startup(source.connect());
      if (!this.member) await startup(this.owner.check('start'));
      await startup(source.ensureTopics(this.streams.map((s) => s.topic), this.opts.createTopics, this.opts.topicPartitions));
      if (!this.member) {
        await checkpoints.removeLeftovers();
        const snap = await startup(checkpoints.loadLatest());
        if (snap !== null) this.restore(snap);
        await startup(this.startingOffsets(snap !== null));
      }
    } catch (e) {
      await this.owner.release();
      if (e instanceof StoppedDuringStartup) {
        this.log.info('stopped before the engine had started');
        return;
      }
      throw e;
    }
    if (this.opts.availableNow) this.log.info('available-now: processing the records present at start', { records: this.positions.remaining() });

    const sinkLoop = this.sinkLoop();
    this.started = true;
    const ticker = setInterval(() => this.tick(), Math.max(50, Math.min(1000, this.opts.idleTimeoutMs / 2)));
    try {
      if (this.opts.availableNow && !this.member && this.positions.allCaughtUp()) {
        this.finish();
      } else {
        await source.run({
          onBatch: (b, ctx) => this.flow.onBatch(b, ctx),
          onAssignment: (a) => this.onAssignment(a),
          onPartitionsAssigned: (parts, generation, memberId) => this.onPartitionsAssigned(parts, generation, memberId),
          onPartitionsRevoked: (parts, lost) => this.onPartitionsRevoked(parts, lost),
          onFatal: (e) => this.fail(new SmartGridError('KAFKA_ERROR', 'the Kafka consumer stopped', { cause: e })),
        });
      }
      await this.done;
    } finally {
      clearInterval(ticker);
    }
    await sinkLoop;
    await this.owner.release();
    if (this.fatal !== null) throw this.fatal;
  }

  private restore(snap: Snapshot): void {
    for (const t of snap.topics) {
      const s = this.byTopic.get(t.topic);
      if (s === undefined) {
        throw new SmartGridError(
          'CHECKPOINT_CORRUPT',
          `the checkpoint covers topic ${t.topic}, which is not configured; use another --checkpoint-dir or --group-id`,
        );
      }
      s.restore(t);
    }
    this.positions.restore(snap);
    this.log.info('state restored', { openStates: this.openStates(), seq: snap.seq });
  }

  /** Where each partition starts: the snapshot wins over Kafka's committed offset. */
  private async startingOffsets(restored: boolean): Promise<void> {
    const { source, checkpoints } = this.deps;
    for (const s of this.streams) {
      const deleted = this.positions.start(s.topic, await source.offsets(s.topic), await source.committed(s.topic), restored, {
        ...this.opts,
        checkpointDir: checkpoints.dir,
      });
      for (const d of deleted) this.log.warn('records were deleted by retention before they were processed', d);
      // A single instance owns every partition of its topics: each holds the watermark
      // from the start (at the event time its state reached), whether or not the group
      // has assigned it yet — otherwise partitions assigned first (or a split with an
      // intruder) could finalise windows that the others' records still belong to.
      const now = this.now();
      for (const ps of this.positions.all()) {
        if (ps.kind !== s.kind || ps.next === null) continue;
        s.clock.assign(ps.partition, ps.next < (ps.target ?? ps.high), now);
        s.clock.observe(ps.partition, ps.maxTs);
      }
    }
  }

  // ---------------------------------------------------------------- assignment

  private onAssignment(assigned: PartitionRef[]): void {
    this.ownership = this.owner
      .check('join')
      .then(() => {
        if (assigned.length > 0) this.owner.ownedBefore = true;
      })
      .catch((e: unknown) => this.fail(e));
    applyAssignment(assigned, this.positions, this.streams, this.deps.source, this.now(), this.log);
    this.lastAssignmentChange = this.now();
    void refreshBacklog(this.positions, this.streams, this.deps.source, this.now).then(
      () => this.tick(),
      (e: unknown) => this.log.warn('could not read partition end offsets', { error: describeError(e) }),
    );
    // Whoever owns a partition next starts from a committed offset that matches state.
    this.checkpointer.requested = true;
    this.sinkSignal.notify();
  }

  // ---------------------------------------------------------------- group member mode

  /**
   * The group assigned `parts` to this member: take their leases, restore each one's state
   * from its last snapshot (or start it empty), and say where to read each from.
   */
  private async onPartitionsAssigned(parts: PartitionRef[], generation: number, memberId: string): Promise<{ topic: string; partition: number; offset: number }[]> {
    const m = this.deps.member!;
    m.fence.generation = generation;
    m.fence.memberId = memberId;
    let from: { topic: string; partition: number; offset: number }[] = [];
    try {
      await this.checkpointer.exclusive(async () => {
        from = await restorePartitions(parts, await m.claim(parts), {
          streams: this.byTopic,
          positions: this.positions,
          source: this.deps.source,
          opts: this.opts,
          now: this.now(),
          log: this.log,
          add: (key, op) => this.partOps.set(key, op),
        });
      });
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.lastAssignmentChange = this.now();
    this.checkpointer.requested = true;
    this.sinkSignal.notify();
    if (this.opts.availableNow && this.positions.allCaughtUp()) setImmediate(() => this.finish());
    return from;
  }

  /**
   * `parts` go to another member (or this one stops): unless they are already lost, write
   * their final windows and snapshot them while this member still owns them; then drop
   * their state.
   */
  private async onPartitionsRevoked(parts: PartitionRef[], lost: boolean): Promise<void> {
    const keys = new Set(parts.map((p) => p.topic + ':' + p.partition));
    try {
      await this.checkpointer.exclusive(async () => {
        await this.checkpointNow(false, { keys, lost: lost || this.fatal !== null });
        for (const p of parts) {
          this.partOps.delete(p.topic + ':' + p.partition);
          this.positions.remove(p.topic, p.partition);
        }
      });
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.lastAssignmentChange = this.now();
  }

  // ---------------------------------------------------------------- finality

  /** Recomputes watermarks and moves final windows to the sink writer. */
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
    for (const s of this.operators()) {
      const fin = s.takeFinal(now);
      if (fin.length === 0) continue;
      this.writer.addFinal(s.kind, fin);
      this.checkpointer.dirty = true;
      any = true;
    }
    const limit = this.stateLimit.check(this.openStates(), any || this.flow.inFlight > 0 || this.writer.pendingRows > 0, now);
    if (limit !== null) this.fail(limit);
    if (any || this.writer.deadLetterCount >= 10000 || this.checkpointer.due(now)) this.sinkSignal.notify();
  }

  // ---------------------------------------------------------------- sink & checkpoints

  private async sinkLoop(): Promise<void> {
    this.checkpointer.lastAt = this.now();
    while (!this.finished) {
      await this.sinkSignal.wait(Math.min(1000, this.opts.checkpointIntervalMs));
      if (this.finished) break;
      try {
        if (this.checkpointer.due(this.now())) await this.checkpoint();
        else await this.checkpointer.exclusive(() => this.writer.flush());
      } catch (e) {
        this.fail(e);
      }
    }
  }

  /** Barrier, flush everything pending, snapshot, then commit offsets to Kafka. */
  private checkpoint(finalWrite = false): Promise<void> {
    return this.checkpointer.exclusive(() => this.checkpointNow(finalWrite));
  }

  /**
   * `partitions` (member mode): a checkpoint of these partitions only, which must succeed
   * (they are being given up); `lost`: they are gone already — nothing of theirs is
   * written, what waits for them is dropped.
   */
  private async checkpointNow(finalWrite: boolean, partitions?: { keys: Set<string>; lost: boolean }): Promise<void> {
    const started = this.now();
    const cp = this.checkpointer;
    const requested = cp.requested || partitions !== undefined;
    if (partitions === undefined) cp.requested = false;
    this.flow.barrier = true;
    try {
      while (this.flow.inFlight > 0) await this.flow.settledOrAfter(50);
      if (partitions?.lost === true) {
        this.writer.dropPartitions(partitions.keys);
        return;
      }
      if (finalWrite) {
        for (const s of this.operators()) this.writer.addFinal(s.kind, s.takeAll());
      } else {
        this.tick();
      }
      await this.writer.flush();
      if (!cp.dirty && !finalWrite && !requested) return;
      // A checkpoint of some partitions leaves the others' changes to the next one.
      if (partitions === undefined) cp.dirty = false;
      // The snapshot is written while the barrier holds: it views the live state without
      // copying it (see WindowStore.snapshot), and the writer yields to the event loop
      // between pieces, so /health, heartbeats and timers keep running even for millions
      // of states; only merging waits. Offsets are committed once the file is durable.
      const only = (topic: string, partition: number): boolean => partitions === undefined || partitions.keys.has(topic + ':' + partition);
      const topics: TopicSnapshot[] = this.member
        ? [...this.partOps.values()].filter((op) => only(op.topic, op.partition!)).map((op) => op.snapshot(this.positions.ofPart(op.topic, op.partition!)))
        : this.streams.map((s) => s.snapshot(this.positions.ofKind(s.kind)));
      const offsets = this.positions.committable().filter((o) => only(o.topic, o.partition));
      this.capturing = true;
      try {
        await cp.write(topics, offsets, finalWrite || this.stopping || partitions !== undefined, started);
      } finally {
        this.capturing = false;
      }
    } finally {
      cp.lastAt = this.now();
      this.flow.barrier = false;
      this.flow.wake();
    }
  }

  // ---------------------------------------------------------------- stopping

  /** Graceful stop: stop fetching, finish in-flight work, flush, checkpoint, commit. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    this.flow.wake();
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
      while (this.flow.inFlight > 0) await this.flow.settledOrAfter(50);
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

  /** Available-now end of input: every open window is written, then the run ends. */
  private finish(): void {
    if (this.stopping) return;
    this.stopping = true;
    void (async () => {
      try {
        // Wait for in-flight batches of other partitions, then write everything.
        while (this.flow.inFlight > 0) await this.flow.settledOrAfter(50);
        await this.checkpoint(true);
        const m = this.deps.metrics;
        this.log.info('available-now run complete', {
          records: m.totalIn(),
          rows: m.rowsWritten.reduce((a, b) => a + b, 0),
          deadLetters: m.deadLettersWritten,
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
    this.flow.wake();
    void this.deps.source.stop().finally(() => this.end());
  }

  private end(): void {
    this.finished = true;
    this.sinkSignal.notify();
    this.doneResolve?.();
  }
}
