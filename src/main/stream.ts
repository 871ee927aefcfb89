/**
 * The per-stream operator: everything the engine knows about one input stream (sensor,
 * meter or weather) that is not about Kafka positions. It holds the open window state and
 * the topic's event-time clock, remembers the watermark each in-flight batch was
 * dispatched with, and decides which windows are final. Like Arroyo's operators it has
 * explicit hooks — restore (on start), dispatch/merge (process a batch), takeFinal
 * (handle the watermark), snapshot (at the checkpoint barrier) — and the engine, not the
 * operator, writes, persists and commits.
 */
import { KIND_NAMES, type AggregateResult, type Kind } from '../workers/protocol.js';
import type { TopicSnapshot } from './checkpoint.js';
import { SmartGridError } from '../common/errors.js';
import { TopicClock } from './watermark.js';
import { WindowStore, type WindowState } from './window-store.js';

export class StreamOperator {
  readonly store: WindowStore;
  readonly clock: TopicClock;
  /** Dispatch watermark of each batch in flight, by batch id. */
  private readonly inflight = new Map<number, number>();

  constructor(
    readonly kind: Kind,
    readonly topic: string,
    readonly windowMs: number,
    allowedLatenessMs: number,
    idleTimeoutMs: number,
    /** --group-member: the one partition this operator holds (its watermark is the partition's own). */
    readonly partition: number | null = null,
  ) {
    this.store = new WindowStore(kind, windowMs);
    this.clock = new TopicClock(allowedLatenessMs, idleTimeoutMs);
  }

  get name(): string {
    return KIND_NAMES[this.kind];
  }

  /** Restores window state and watermark from a snapshot of this topic. */
  restore(t: TopicSnapshot): void {
    if (t.windowMs !== this.windowMs) {
      throw new SmartGridError(
        'CONFIG_INVALID',
        `the checkpoint was taken with ${t.topic} windows of ${t.windowMs} ms, but ${this.windowMs} ms is configured; ` +
          `window sizes cannot change under existing state (use a new --group-id and --checkpoint-dir)`,
      );
    }
    this.store.restore(t.windows);
    this.clock.restore({ watermark: t.watermark });
  }

  /**
   * A batch is dispatched: lateness is decided against the current watermark, which the
   * operator remembers until the batch is merged (a window is final only when no
   * in-flight batch was dispatched with a lower watermark).
   */
  dispatch(batchId: number): number {
    const wm = this.clock.watermark;
    this.inflight.set(batchId, wm);
    return wm;
  }

  /** Merges a worker's partial results into the window state. */
  merge(r: AggregateResult): void {
    this.store.merge(r);
  }

  /** The batch is merged (or dropped): it no longer holds finality back. */
  settled(batchId: number): void {
    this.inflight.delete(batchId);
  }

  /**
   * Recomputes the watermark at wall-clock `now` and takes the windows that became final:
   * those ending at or below the lowest of the watermark and every in-flight batch's
   * dispatch watermark. Oldest first.
   */
  takeFinal(now: number): WindowState[] {
    this.clock.update(now);
    let threshold = this.clock.watermark;
    for (const wd of this.inflight.values()) if (wd < threshold) threshold = wd;
    if (this.store.earliestEnd() > threshold) return [];
    return this.tagged(this.store.takeFinal(threshold));
  }

  /** A partition's operator marks its windows with their source partition (partial rows). */
  private tagged(windows: WindowState[]): WindowState[] {
    if (this.partition !== null) {
      for (const w of windows) {
        w.topic = this.topic;
        w.partition = this.partition;
      }
    }
    return windows;
  }

  /**
   * End of input (available-now): every open window becomes final, and the watermark
   * moves to the end of the latest, so that later records for them are late.
   */
  takeAll(): WindowState[] {
    const fin = this.tagged(this.store.takeFinal(Infinity));
    if (fin.length > 0) this.clock.advanceTo(fin[fin.length - 1].start + this.windowMs);
    return fin;
  }

  /** This topic's part of a snapshot; `partitions` are its positions. */
  snapshot(partitions: { partition: number; next: number; maxTs: number }[]): TopicSnapshot {
    return {
      topic: this.topic,
      windowMs: this.windowMs,
      watermark: this.clock.snapshot().watermark,
      partitions: partitions.map((p) => ({ partition: p.partition, maxTs: Number.isFinite(p.maxTs) ? p.maxTs : null })),
      offsets: partitions.map((p) => ({ partition: p.partition, offset: p.next })),
      windows: this.store.snapshot(),
    };
  }
}
