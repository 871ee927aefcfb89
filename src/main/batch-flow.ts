/**
 * The batch path of the engine: each fetched batch goes through the gate (back-pressure and
 * the single-instance check of its assignment), the plan (what the state already covers,
 * the seek race), dispatch to the workers, and the per-partition merge chain, which merges
 * the partials in fetch order and then moves the partition's position (afterBatch). The
 * engine (engine.ts) owns the lifecycle; this part counts the batches in flight and holds
 * the barrier the checkpoint raises (see Engine.checkpointNow).
 */
import { performance } from 'node:perf_hooks';
import type { EngineDeps, EngineOptions } from './engine-types.js';
import type { Checkpointer } from './checkpointer.js';
import { SmartGridError } from '../common/errors.js';
import type { Positions, PartState } from './positions.js';
import { dispatchMessages, dispatchRaw, type TaskOutcome } from './dispatch.js';
import { Signal } from '../common/signal.js';
import type { SinkWriter } from './sink-writer.js';
import type { BatchContext, SourceBatch } from './source.js';
import type { StateLimit } from './state-limit.js';
import type { StreamOperator } from './stream.js';

/** What the batch path reads from and reports to the engine around it. */
export interface BatchFlowHost {
  /** The engine is stopping: no batch is taken any more. */
  stopping(): boolean;
  /** The single-instance check of the current assignment. */
  ownership(): Promise<void>;
  openStates(): number;
  /** A batch has settled (merged or failed): recompute finality. */
  settled(): void;
  fail(e: unknown): void;
  /** Available-now: every partition has reached its target. */
  caughtUp(): void;
}

export interface BatchFlowParts {
  /** The operator of a partition's records; undefined when the partition is not this instance's (member mode). */
  operatorOf: (ps: PartState) => StreamOperator | undefined;
  /** Member mode: positions exist only for assigned partitions; a batch of another is dropped. */
  member: boolean;
  positions: Positions;
  writer: SinkWriter;
  checkpointer: Checkpointer;
  stateLimit: StateLimit;
  deps: Pick<EngineDeps, 'source' | 'pool' | 'metrics' | 'log'>;
  opts: EngineOptions;
  now: () => number;
}

export class BatchFlow {
  /** Batches dispatched and not yet merged. */
  private active = 0;
  private batchSeq = 0;
  /** A checkpoint is being taken: no batch is dispatched. */
  barrier = false;
  private readonly gateSignal = new Signal();
  private readonly idleSignal = new Signal();

  constructor(
    private readonly p: BatchFlowParts,
    private readonly host: BatchFlowHost,
  ) {}

  /** Batches dispatched and not yet merged. */
  get inFlight(): number {
    return this.active;
  }

  /** Lets a batch waiting at the gate look again (the sink drained, a barrier lifted, a stop). */
  wake(): void {
    this.gateSignal.notify();
  }

  /** Resolves when the last batch in flight settles, or after `ms` (callers loop on inFlight). */
  settledOrAfter(ms: number): Promise<void> {
    return this.idleSignal.wait(ms);
  }

  private backpressured(): boolean {
    const { writer, opts, stateLimit } = this.p;
    return (
      this.barrier ||
      writer.failing ||
      writer.pendingRows > opts.maxPendingRows ||
      this.active >= opts.maxInflightBatches ||
      stateLimit.reached(this.host.openStates())
    );
  }

  private async gate(ctx: BatchContext): Promise<void> {
    // No batch of a new assignment is processed before the single-instance check of it.
    await this.host.ownership();
    while (this.backpressured() && !this.host.stopping()) {
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
  async onBatch(batch: SourceBatch, ctx: BatchContext): Promise<boolean> {
    await this.gate(ctx);
    if (this.host.stopping()) return false;
    const { positions, opts, deps, writer, checkpointer } = this.p;
    const ps = this.p.member ? positions.get(batch.topic, batch.partition) : positions.part(batch.topic, batch.partition);
    // Member mode: the partition went to another member while the batch waited.
    if (ps === undefined || (this.p.member && !ps.assigned)) return false;
    const s = this.p.operatorOf(ps);
    if (s === undefined) return false;
    const plan = batch.raw === undefined ? positions.plan(ps, batch) : positions.planRaw(ps, batch.raw);
    if (plan.action === 'seek') {
      // The source fetched from its own position before our seek took effect.
      deps.source.seek(batch.topic, batch.partition, plan.offset);
      return false;
    }
    if (plan.skippedFrom !== null) {
      deps.log.warn('offsets skipped (deleted by retention or compaction)', {
        topic: batch.topic,
        partition: batch.partition,
        expected: plan.skippedFrom,
        got: 'messages' in plan ? plan.messages[0]?.offset : plan.fetchOffset,
      });
    }
    const id = ++this.batchSeq;
    const t0 = performance.now();
    const c = {
      stream: s,
      watermark: s.dispatch(id),
      futureLimit: opts.maxFutureSkewMs > 0 ? this.p.now() + opts.maxFutureSkewMs : Infinity,
      pool: deps.pool,
    };
    this.active++;
    let work: Promise<TaskOutcome[]> | null = null;
    if ('messages' in plan) {
      if (plan.messages.length > 0) work = dispatchMessages(plan.messages, opts.taskRecords, c);
    } else if (batch.raw!.bytes.length > 0 && plan.fetchOffset < plan.endOffset) {
      work = dispatchRaw(batch.raw!, plan.fetchOffset, plan.endOffset, c);
    }
    // Reported through the chain below; this only keeps the rejection from being unhandled.
    work?.catch(() => {});
    const merge = async (): Promise<void> => {
      if (work !== null) {
        let maxTs = -Infinity;
        for (const o of await work) {
          const r = o.result;
          s.merge(r);
          writer.addRejected(batch.topic, batch.partition, o);
          if (r.partMaxTs[0] > maxTs) maxTs = r.partMaxTs[0];
          deps.metrics.recordResult(s.kind, r);
        }
        if (deps.metrics.batches++ === 0) {
          // How long a (re)start takes to process again: the figure the restart target is about.
          deps.log.info('first records processed', { sinceProcessStartMs: Math.round(performance.now()) });
        }
        if (maxTs > ps.maxTs) ps.maxTs = maxTs;
        checkpointer.dirty = true;
        s.clock.observe(batch.partition, maxTs);
        deps.metrics.batchLatency.recordMs(performance.now() - t0);
      }
      this.afterBatch(ps, s, batch, plan.next);
    };
    ps.chain = ps.chain
      .then(merge)
      .catch((e: unknown) => {
        this.host.fail(e instanceof SmartGridError ? e : new SmartGridError('INTERNAL', 'batch processing failed', { cause: e }));
      })
      .finally(() => {
        s.settled(id);
        this.active--;
        if (this.active === 0) this.idleSignal.notify();
        this.gateSignal.notify();
        this.host.settled();
      });
    return true;
  }

  private afterBatch(ps: PartState, s: StreamOperator, batch: SourceBatch, next: number): void {
    const { positions, opts } = this.p;
    const { changed, backlog } = positions.advance(ps, next, batch.highWatermark);
    if (changed) this.p.checkpointer.dirty = true;
    s.clock.progress(ps.partition, backlog, this.p.now());
    if (opts.availableNow && positions.allCaughtUp()) this.host.caughtUp();
  }
}
