/**
 * The checkpointer: when a checkpoint is due, writing the snapshot (tolerating a
 * configurable number of failures in a row), committing the offsets it covers to Kafka,
 * and serialising checkpoints with flushes. The engine decides what goes into a snapshot
 * (at its barrier, see Engine.checkpointNow); this part decides what happens around it.
 */
import type { CheckpointStore, Snapshot, TopicSnapshot } from './checkpoint.js';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EngineMetrics } from './metrics.js';
import type { RecordSource } from './source.js';

export interface CheckpointerOptions {
  groupId: string;
  checkpointIntervalMs: number;
  checkpointFailuresTolerated: number;
}

export class Checkpointer {
  /** Something a snapshot records has changed since the last one. */
  dirty = true;
  /** A checkpoint was asked for (an assignment changed) and is due at once. */
  requested = false;
  lastAt = 0;
  private failuresInRow = 0;
  /** Flushes and checkpoints run one at a time. */
  private lock: Promise<void> = Promise.resolve();

  constructor(
    readonly store: Pick<CheckpointStore, 'dir' | 'save' | 'loadLatest' | 'removeLeftovers'>,
    private readonly source: Pick<RecordSource, 'commit'>,
    private readonly metrics: EngineMetrics,
    private readonly log: Logger,
    private readonly opts: CheckpointerOptions,
    private readonly now: () => number,
  ) {}

  due(now: number): boolean {
    return this.requested || now - this.lastAt >= this.opts.checkpointIntervalMs;
  }

  /** Runs `fn` after every flush or checkpoint started before it. */
  exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Writes the snapshot, then commits `offsets`. A snapshot that cannot be written (disk
   * full, I/O error) leaves the previous one in force: nothing is committed, the next
   * checkpoint tries again, and rows already written are rewritten identically by a replay
   * from the previous one. Up to --checkpoint-failures-tolerated failures in a row are
   * survived unless `mustSucceed` (a stop or the end of an available-now run). Returns
   * whether the snapshot was written.
   */
  async write(
    topics: TopicSnapshot[],
    offsets: { topic: string; partition: number; offset: number }[],
    mustSucceed: boolean,
    startedAt: number,
  ): Promise<boolean> {
    const m = this.metrics;
    let snap: Snapshot;
    try {
      snap = await this.store.save({ groupId: this.opts.groupId, topics });
    } catch (e) {
      m.checkpointFailures++;
      m.checkpointFailuresInRow = ++this.failuresInRow;
      this.dirty = true;
      const tolerated = !mustSucceed && this.failuresInRow <= this.opts.checkpointFailuresTolerated;
      this.log.error(tolerated ? 'checkpoint failed; the engine keeps running on the previous one' : 'checkpoint failed', {
        inARow: this.failuresInRow,
        tolerated: this.opts.checkpointFailuresTolerated,
        error: describeError(e),
      });
      if (tolerated) return false;
      throw e;
    }
    m.checkpointFailuresInRow = this.failuresInRow = 0;
    try {
      await this.source.commit(offsets);
    } catch (e) {
      // The snapshot is what a restart resumes from; a failed commit only delays what
      // Kafka tools report as lag.
      this.log.warn('committing offsets to Kafka failed; will retry at the next checkpoint', { error: describeError(e) });
    }
    m.checkpoints++;
    m.lastCheckpointAt = this.now();
    m.lastCheckpointMs = this.now() - startedAt;
    this.log.debug('checkpoint', { seq: snap.seq, ms: m.lastCheckpointMs });
    return true;
  }
}
