/**
 * A (re)assignment of partitions by the consumer group, applied to positions and clocks.
 */
import type { Logger } from '../common/log.js';
import { SmartGridError } from '../common/errors.js';
import type { TopicSnapshot } from './checkpoint.js';
import type { EngineOptions } from './engine-types.js';
import type { Positions } from './positions.js';
import type { PartitionRef, RecordSource } from './source.js';
import { StreamOperator } from './stream.js';

/**
 * Marks the new assignment. A partition this single instance lost keeps holding its
 * topic's watermark at the event time it had reached (so the partitions it still has
 * cannot turn that partition's records late meanwhile); every assigned partition holds
 * the watermark until its backlog is known, and is sought to the position the state
 * covers, whatever Kafka's committed offset says.
 */
export function applyAssignment(
  assigned: PartitionRef[],
  positions: Positions,
  streams: StreamOperator[],
  source: Pick<RecordSource, 'seek'>,
  now: number,
  log: Logger,
): void {
  const set = new Set(assigned.map((a) => a.topic + ':' + a.partition));
  for (const ps of positions.all()) {
    if (ps.assigned && !set.has(ps.topic + ':' + ps.partition)) {
      ps.assigned = false;
      streams[ps.kind].clock.assign(ps.partition, true, now);
      log.warn('partition revoked from this single instance; its event time keeps holding the watermark', {
        topic: ps.topic,
        partition: ps.partition,
      });
    }
  }
  for (const a of assigned) {
    const ps = positions.part(a.topic, a.partition);
    const clock = streams[ps.kind].clock;
    ps.assigned = true;
    clock.assign(a.partition, true, now);
    clock.observe(a.partition, ps.maxTs);
    if (ps.fetched !== null) {
      // Batches still in flight will be merged; the source continues after them.
      ps.seeking = true;
      source.seek(a.topic, a.partition, ps.fetched);
    }
  }
  log.info('partitions assigned', { count: assigned.length });
}

/** Learns which partitions have nothing to fetch (they never send a batch) and which have records left. */
export async function refreshBacklog(
  positions: Positions,
  streams: StreamOperator[],
  source: Pick<RecordSource, 'offsets'>,
  now: () => number,
): Promise<void> {
  for (const s of streams) {
    const offs = await source.offsets(s.topic);
    for (const o of offs) {
      // Every partition, assigned or not: a single instance owns them all, and one with
      // records left (even while another member holds it) holds the watermark back.
      const ps = positions.get(s.topic, o.partition);
      if (ps === undefined || ps.next === null) continue;
      ps.high = o.high;
      s.clock.progress(o.partition, ps.next < (ps.target ?? o.high), now());
    }
  }
}

export interface RestoreParts {
  /** The stream operator of each topic (kind, window size). */
  streams: Map<string, StreamOperator>;
  positions: Positions;
  source: Pick<RecordSource, 'offsets' | 'committed'>;
  opts: Pick<EngineOptions, 'allowedLatenessMs' | 'idleTimeoutMs' | 'availableNow' | 'startingOffsets' | 'ignoreMissingCheckpoint' | 'groupId'>;
  now: number;
  log: Logger;
  /** Takes the new partition's operator. */
  add(key: string, op: StreamOperator): void;
}

/**
 * Member mode: the partitions the group assigned, each restored from its own snapshot
 * (window state, watermark, offset, event time) or started empty: from the group's
 * committed offset, else --starting-offsets (from the start, whatever it says, for a
 * partition added to a topic the group has read). Returns where to read each from.
 */
export async function restorePartitions(
  parts: PartitionRef[],
  snaps: Map<string, TopicSnapshot | null>,
  r: RestoreParts,
): Promise<{ topic: string; partition: number; offset: number }[]> {
  const out: { topic: string; partition: number; offset: number }[] = [];
  const topics = [...new Set(parts.map((p) => p.topic))];
  for (const topic of topics) {
    const s = r.streams.get(topic);
    if (s === undefined) throw new SmartGridError('INTERNAL', `assigned a partition of unexpected topic ${topic}`);
    const offsets = new Map((await r.source.offsets(topic)).map((o) => [o.partition, o]));
    const committed = await r.source.committed(topic);
    // The group has read this topic before: a partition of it without an offset was added
    // since, and holds only new records, so it is read from its start (--starting-offsets
    // latest is for a new group).
    const groupStarted = [...committed.values()].some((c) => c >= 0);
    for (const { partition } of parts.filter((p) => p.topic === topic)) {
      const key = topic + ':' + partition;
      const op = new StreamOperator(s.kind, topic, s.windowMs, r.opts.allowedLatenessMs, r.opts.idleTimeoutMs, partition);
      const snap = snaps.get(key) ?? null;
      r.positions.remove(topic, partition);
      const ps = r.positions.part(topic, partition);
      const off = offsets.get(partition) ?? { partition, low: 0, high: 0 };
      if (snap !== null) {
        op.restore(snap);
        ps.next = snap.offsets[0]?.offset ?? null;
        ps.maxTs = snap.partitions[0]?.maxTs ?? -Infinity;
      }
      if (ps.next === null) {
        const c = committed.get(partition) ?? -1;
        if (c >= 0 && !r.opts.ignoreMissingCheckpoint) {
          throw new SmartGridError(
            'CHECKPOINT_MISSING',
            `consumer group '${r.opts.groupId}' has committed offsets on ${topic}[${partition}], but smartgrid_partition_state ` +
              `holds no state for it (was the group run as a single instance, with its state in a checkpoint directory?): ` +
              `starting from those offsets with empty state would rewrite written windows with partial results. Start over with ` +
              `a new --group-id, or pass --ignore-missing-checkpoint to continue from the committed offsets with empty state`,
          );
        }
        ps.next = c >= 0 ? c : r.opts.startingOffsets === 'earliest' || groupStarted ? off.low : off.high;
      }
      if (ps.next < off.low) {
        r.log.warn('records were deleted by retention before they were processed', { topic, partition, from: ps.next, to: off.low });
        ps.next = off.low;
      }
      ps.fetched = ps.next;
      ps.high = off.high;
      ps.assigned = true;
      if (r.opts.availableNow) ps.target = off.high;
      op.clock.assign(partition, ps.next < off.high, r.now);
      op.clock.observe(partition, ps.maxTs);
      r.add(key, op);
      out.push({ topic, partition, offset: ps.next });
    }
  }
  r.log.info('partitions restored', { count: parts.length, withState: [...snaps.values()].filter((x) => x !== null).length });
  return out;
}
