/**
 * Event-time progress of one topic.
 *
 * Watermark = min over the topic's assigned partitions of (max event time seen in the
 * partition) − allowed lateness, as Flink does across splits. A partition with records
 * left to fetch holds the watermark back even before its first record arrives; a
 * partition that has been caught up (nothing left to fetch) for the idle timeout stops
 * holding it back. When every partition is idle, nothing holds the watermark back and it
 * follows the highest event time seen. The watermark never moves backwards.
 */
export interface PartitionClockState {
  partition: number;
  /** Highest event time seen (ms), or null before the first record. */
  maxTs: number | null;
}

interface PartitionClock {
  maxTs: number;
  /** Wall-clock time since which the partition has had nothing left to fetch, or null. */
  caughtUpSince: number | null;
}

export class TopicClock {
  private readonly parts = new Map<number, PartitionClock>();
  private wm = -Infinity;

  constructor(
    private readonly latenessMs: number,
    private readonly idleMs: number,
  ) {}

  get watermark(): number {
    return this.wm;
  }

  /** Raises the watermark to at least `ts` (available-now end of input, restore). */
  advanceTo(ts: number): void {
    if (ts > this.wm) this.wm = ts;
  }

  /** A partition is assigned; `hasBacklog` tells whether it has records left to fetch. */
  assign(partition: number, hasBacklog: boolean, now: number): void {
    let p = this.parts.get(partition);
    if (p === undefined) {
      p = { maxTs: -Infinity, caughtUpSince: null };
      this.parts.set(partition, p);
    }
    p.caughtUpSince = hasBacklog ? null : now;
  }

  revoke(partition: number): void {
    this.parts.delete(partition);
  }

  /** Records the highest event time of a processed batch of the partition. */
  observe(partition: number, maxTs: number): void {
    const p = this.parts.get(partition);
    if (p !== undefined && maxTs > p.maxTs) p.maxTs = maxTs;
  }

  /** After a batch: whether the partition still has records left to fetch. */
  progress(partition: number, hasBacklog: boolean, now: number): void {
    const p = this.parts.get(partition);
    if (p === undefined) return;
    if (hasBacklog) p.caughtUpSince = null;
    else if (p.caughtUpSince === null) p.caughtUpSince = now;
  }

  /** Recomputes the watermark at wall-clock time `now` and returns it. */
  update(now: number): number {
    let min = Infinity;
    let max = -Infinity;
    let active = 0;
    for (const p of this.parts.values()) {
      if (p.maxTs > max) max = p.maxTs;
      const idle = p.caughtUpSince !== null && now - p.caughtUpSince >= this.idleMs;
      if (idle) continue;
      active++;
      if (p.maxTs < min) min = p.maxTs;
    }
    const candidate = (active > 0 ? min : max) - this.latenessMs;
    if (candidate > this.wm) this.wm = candidate;
    return this.wm;
  }

  snapshot(): { watermark: number | null; partitions: PartitionClockState[] } {
    return {
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      partitions: [...this.parts].map(([partition, p]) => ({ partition, maxTs: Number.isFinite(p.maxTs) ? p.maxTs : null })),
    };
  }

  /**
   * Restores the watermark from a snapshot; partitions' event times are re-applied with
   * `observe` when the source assigns them.
   */
  restore(s: { watermark: number | null }): void {
    this.wm = s.watermark ?? -Infinity;
  }
}
