/**
 * Partition positions: for every input partition, where processing stands and where the
 * source stands, and the offset arithmetic between them.
 *
 * - `next`: everything below it is in the window state or in PostgreSQL (what a snapshot
 *   records and what is committed);
 * - `fetched`: the next offset expected from the source (`next` plus the batches in flight);
 * - `seeking`: a seek to `fetched` was requested (at a (re)assignment) and not yet seen to
 *   take effect — kafkajs may deliver one batch from its own position first;
 * - `target`: available-now only, the log end when the run started;
 * - `high`: the log end offset last seen; `maxTs`: the highest event time merged.
 */
import type { Kind } from '../workers/protocol.js';
import type { Snapshot } from './checkpoint.js';
import { SmartGridError } from '../common/errors.js';
import type { PartitionOffsets, RawRecords, SourceBatch, SourceMessage } from './source.js';

export interface PartState {
  kind: Kind;
  topic: string;
  partition: number;
  next: number | null;
  fetched: number | null;
  /** Merges of this partition's batches, in fetch order. */
  chain: Promise<void>;
  assigned: boolean;
  seeking: boolean;
  target: number | null;
  maxTs: number;
  high: number;
}

/** What to do with a fetched batch (see Positions.plan). */
export type BatchPlan =
  | { action: 'seek'; offset: number }
  | { action: 'process'; messages: SourceMessage[]; next: number; skippedFrom: number | null };

/** What to do with raw record batches (see Positions.planRaw). */
export type RawPlan =
  | { action: 'seek'; offset: number }
  | { action: 'process'; fetchOffset: number; endOffset: number; next: number; skippedFrom: number | null };

export interface StartOptions {
  groupId: string;
  checkpointDir: string;
  startingOffsets: 'earliest' | 'latest';
  ignoreMissingCheckpoint: boolean;
  availableNow: boolean;
}

export class Positions {
  private readonly parts = new Map<string, PartState>();

  constructor(private readonly kindOfTopic: (topic: string) => Kind | undefined) {}

  private static key(topic: string, partition: number): string {
    return topic + ':' + partition;
  }

  all(): IterableIterator<PartState> {
    return this.parts.values();
  }

  get(topic: string, partition: number): PartState | undefined {
    return this.parts.get(Positions.key(topic, partition));
  }

  /** The partition's state, created on first sight. */
  part(topic: string, partition: number): PartState {
    const key = Positions.key(topic, partition);
    let ps = this.parts.get(key);
    if (ps === undefined) {
      const kind = this.kindOfTopic(topic);
      if (kind === undefined) throw new SmartGridError('INTERNAL', `record from unexpected topic ${topic}`);
      ps = { kind, topic, partition, next: null, fetched: null, chain: Promise.resolve(), assigned: false, seeking: false, target: null, maxTs: -Infinity, high: 0 };
      this.parts.set(key, ps);
    }
    return ps;
  }

  /** Positions from a snapshot: the snapshot, not Kafka, is the source of truth. */
  restore(snap: Snapshot): void {
    for (const t of snap.topics) {
      for (const o of t.offsets) {
        const ps = this.part(t.topic, o.partition);
        ps.next = o.offset;
        ps.fetched = o.offset;
        ps.maxTs = t.partitions.find((p) => p.partition === o.partition)?.maxTs ?? -Infinity;
      }
    }
  }

  /**
   * Where each partition of `topic` starts when the snapshot did not say: the group's
   * committed offset, else earliest/latest. Refuses (CHECKPOINT_MISSING) when offsets were
   * committed but there is no snapshot. Records deleted by retention are skipped with a
   * warning (returned). Available-now records the log end as the target.
   */
  start(
    topic: string,
    offsets: PartitionOffsets[],
    committed: Map<number, number>,
    restored: boolean,
    o: StartOptions,
  ): { topic: string; partition: number; from: number; to: number }[] {
    if (!restored && !o.ignoreMissingCheckpoint && [...committed.values()].some((c) => c >= 0)) {
      // Offsets were committed after a snapshot that is not here any more: starting from
      // them with empty state would rewrite already written windows with partial results,
      // and records for final windows would not be recognised as late.
      throw new SmartGridError(
        'CHECKPOINT_MISSING',
        `consumer group '${o.groupId}' has committed offsets on ${topic}, but the checkpoint directory ` +
          `${o.checkpointDir} holds no snapshot: the window state and watermarks that go with those offsets ` +
          `are missing. Point --checkpoint-dir at the right folder; or start over with a new --group-id (everything ` +
          `is read again and the tables end the same); or pass --ignore-missing-checkpoint to continue from the ` +
          `committed offsets with empty state`,
      );
    }
    const deleted: { topic: string; partition: number; from: number; to: number }[] = [];
    for (const off of offsets) {
      const ps = this.part(topic, off.partition);
      if (ps.next === null) {
        const c = committed.get(off.partition) ?? -1;
        ps.next = c >= 0 ? c : o.startingOffsets === 'earliest' ? off.low : off.high;
      }
      if (ps.next < off.low) {
        deleted.push({ topic, partition: off.partition, from: ps.next, to: off.low });
        ps.next = off.low;
      }
      ps.fetched = ps.next;
      if (o.availableNow) ps.target = off.high;
      ps.high = off.high;
    }
    return deleted;
  }

  /**
   * What to do with a fetched batch. A batch that starts past the expected position while
   * a seek is pending was fetched from the client's own position before the seek took
   * effect: it is dropped and the seek repeated. Records below the position (already in
   * the state) and, in available-now mode, at or beyond the target are left out. The
   * position after the batch skips offsets missing before the target (compaction,
   * retention), never unread records.
   */
  plan(ps: PartState, batch: SourceBatch): BatchPlan {
    let msgs = batch.messages;
    const pos = ps.fetched;
    let skippedFrom: number | null = null;
    if (pos !== null) {
      const first = msgs[0].offset;
      if (first > pos) {
        if (ps.seeking) {
          ps.seeking = false;
          return { action: 'seek', offset: pos };
        }
        skippedFrom = pos;
      }
      if (first < pos) msgs = msgs.filter((m) => m.offset >= pos);
    }
    ps.seeking = false;
    if (ps.target !== null) msgs = msgs.filter((m) => m.offset < ps.target!);
    let next: number;
    const last = batch.messages[batch.messages.length - 1].offset;
    if (msgs.length > 0) next = msgs[msgs.length - 1].offset + 1;
    else if (ps.target !== null && batch.messages[0].offset >= ps.target) next = Math.max(pos ?? 0, ps.target);
    else next = Math.max(pos ?? 0, Math.min(last + 1, ps.target ?? Infinity));
    ps.fetched = next;
    return { action: 'process', messages: msgs, next, skippedFrom };
  }

  /**
   * The same for raw record batches, whose records only a worker sees: the source fetched
   * from `raw.fetchOffset` (the worker drops records below it and, in available-now mode,
   * at or beyond the target), and continues at `raw.nextOffset`. A fetch from another
   * position than expected is dropped and the seek repeated, unless the source moved
   * ahead on its own (records deleted by retention): then the gap is reported.
   */
  planRaw(ps: PartState, raw: RawRecords): RawPlan {
    const pos = ps.fetched;
    let skippedFrom: number | null = null;
    if (pos !== null && raw.fetchOffset !== pos) {
      if (raw.fetchOffset < pos || ps.seeking) {
        ps.seeking = false;
        return { action: 'seek', offset: pos };
      }
      skippedFrom = pos;
    }
    ps.seeking = false;
    const endOffset = ps.target ?? Infinity;
    const next = Math.max(raw.fetchOffset, Math.min(raw.nextOffset, endOffset));
    ps.fetched = next;
    return { action: 'process', fetchOffset: raw.fetchOffset, endOffset, next, skippedFrom };
  }

  /** The batch is merged: processing stands at `next`. Returns whether records are left to fetch. */
  advance(ps: PartState, next: number, highWatermark: number): { changed: boolean; backlog: boolean } {
    const changed = ps.next !== next;
    ps.next = next;
    ps.high = Math.max(ps.high, highWatermark);
    return { changed, backlog: next < (ps.target ?? highWatermark) };
  }

  /** Available-now: every partition has reached its target. */
  allCaughtUp(): boolean {
    for (const ps of this.parts.values()) if (ps.target !== null && (ps.next ?? 0) < ps.target) return false;
    return true;
  }

  /** Records left before the targets (available-now). */
  remaining(): number {
    let n = 0;
    for (const ps of this.parts.values()) n += Math.max(0, (ps.target ?? 0) - (ps.next ?? 0));
    return n;
  }

  /** Offsets to commit: assigned partitions' processing positions. */
  committable(): { topic: string; partition: number; offset: number }[] {
    const out: { topic: string; partition: number; offset: number }[] = [];
    for (const p of this.parts.values()) if (p.assigned && p.next !== null) out.push({ topic: p.topic, partition: p.partition, offset: p.next });
    return out;
  }

  /** One partition's position, for its own snapshot (--group-member). */
  ofPart(topic: string, partition: number): { partition: number; next: number; maxTs: number }[] {
    const p = this.get(topic, partition);
    return p === undefined || p.next === null ? [] : [{ partition, next: p.next, maxTs: p.maxTs }];
  }

  /** The partition went to another member (--group-member). */
  remove(topic: string, partition: number): void {
    this.parts.delete(Positions.key(topic, partition));
  }

  /** One kind's partitions with a known position, for its snapshot. */
  ofKind(kind: Kind): { partition: number; next: number; maxTs: number }[] {
    const out: { partition: number; next: number; maxTs: number }[] = [];
    for (const p of this.parts.values()) if (p.kind === kind && p.next !== null) out.push({ partition: p.partition, next: p.next, maxTs: p.maxTs });
    return out;
  }

  assigned(): PartState[] {
    return [...this.parts.values()].filter((p) => p.assigned);
  }
}
