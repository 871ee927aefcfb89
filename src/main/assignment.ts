/**
 * A (re)assignment of partitions by the consumer group, applied to positions and clocks.
 */
import type { Logger } from '../common/log.js';
import type { Positions } from './positions.js';
import type { PartitionRef, RecordSource } from './source.js';
import type { StreamOperator } from './stream.js';

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
