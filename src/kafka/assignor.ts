/**
 * The partition assignor the group leader runs: "sticky round-robin".
 *
 * - Deterministic: the result depends only on the members (ordered by group.instance.id,
 *   else member id, so that static members keep their place across restarts), their
 *   subscriptions and previously owned partitions, and the partition counts — never on
 *   the order the coordinator lists members in.
 * - Balanced over all subscribed topics together: with identical subscriptions every
 *   member gets ⌊N/M⌋ or ⌈N/M⌉ of the N partitions (round-robin over the partitions of all
 *   topics sorted by topic and partition, so two members split 2 topics × 3 partitions
 *   3 + 3, where a per-topic range assignor would give 4 + 2).
 * - Sticky-ish: a member keeps the partitions it owned in the previous generation
 *   (ConsumerProtocolSubscription v1 owned_partitions) up to its quota; only the rest
 *   moves. A partition claimed by two members (a zombie's stale claim) goes to the first
 *   in member order. Fresh groups get plain round-robin.
 * - Different subscriptions are allowed: a partition only goes to a member subscribed to
 *   its topic (the least loaded one); the result is valid but not necessarily optimal.
 */
import type { TopicPartition } from './client.js';
import type { TopicPartitions } from './group-protocol.js';

export interface AssignorMember {
  memberId: string;
  groupInstanceId: string | null;
  topics: readonly string[];
  ownedPartitions: readonly TopicPartitions[];
}

/** The name the members announce in JoinGroup (the group's "assignment strategy" in the tools). */
export const STICKY_ROUND_ROBIN = 'smartgrid-sticky-roundrobin';

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

function compareTp(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}

function compareMembers(a: AssignorMember, b: AssignorMember): number {
  const ka = a.groupInstanceId ?? a.memberId;
  const kb = b.groupInstanceId ?? b.memberId;
  if (ka !== kb) return ka < kb ? -1 : 1;
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
}

/**
 * The assignment of every member (by member id; members that get nothing map to []),
 * each list sorted by topic and partition. `partitionsPerTopic` holds the partition count
 * of each subscribed topic; topics missing from it (or with 0 partitions) are not assigned.
 */
export function assignStickyRoundRobin(members: readonly AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): Map<string, TopicPartition[]> {
  const ordered = [...members].sort(compareMembers);
  const subscribed = ordered.map((m) => new Set(m.topics));
  const topics = [...new Set(ordered.flatMap((m) => m.topics))].sort();
  const all: TopicPartition[] = [];
  for (const topic of topics) {
    const n = partitionsPerTopic.get(topic) ?? 0;
    for (let partition = 0; partition < n; partition++) all.push({ topic, partition });
  }
  const assigned: TopicPartition[][] = ordered.map(() => []);
  const taken = new Set<string>();
  const exists = new Set(all.map((tp) => key(tp.topic, tp.partition)));

  // Quotas for identical subscriptions: everybody gets `floor`, `extra` members one more.
  const floor = ordered.length === 0 ? 0 : Math.floor(all.length / ordered.length);
  let extra = ordered.length === 0 ? 0 : all.length % ordered.length;

  // 1. Keep what each member owned, up to its quota.
  ordered.forEach((m, i) => {
    const owned = m.ownedPartitions
      .flatMap((tps) => tps.partitions.map((partition) => ({ topic: tps.topic, partition })))
      .filter((tp) => subscribed[i].has(tp.topic) && exists.has(key(tp.topic, tp.partition)) && !taken.has(key(tp.topic, tp.partition)))
      .sort(compareTp);
    const unique = owned.filter((tp, j) => j === 0 || compareTp(owned[j - 1], tp) !== 0);
    let quota = floor;
    if (unique.length > floor && extra > 0) {
      quota++;
      extra--;
    }
    for (const tp of unique.slice(0, quota)) {
      assigned[i].push(tp);
      taken.add(key(tp.topic, tp.partition));
    }
  });

  // 2. Hand out the rest in topic/partition order, each to the least loaded subscribed
  //    member (the first in member order on a tie): round-robin when nothing was kept.
  for (const tp of all) {
    if (taken.has(key(tp.topic, tp.partition))) continue;
    let best = -1;
    for (let i = 0; i < ordered.length; i++) {
      if (!subscribed[i].has(tp.topic)) continue;
      if (best < 0 || assigned[i].length < assigned[best].length) best = i;
    }
    if (best < 0) continue; // cannot happen: the topic came from some member's subscription
    assigned[best].push(tp);
    taken.add(key(tp.topic, tp.partition));
  }

  const out = new Map<string, TopicPartition[]>();
  ordered.forEach((m, i) => out.set(m.memberId, assigned[i].sort(compareTp)));
  return out;
}

/** [{topic, partition}] → [{topic, partitions}] (topics and partitions sorted), as the ConsumerProtocol payloads carry them. */
export function toTopicPartitions(tps: readonly TopicPartition[]): TopicPartitions[] {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    let l = m.get(tp.topic);
    if (l === undefined) m.set(tp.topic, (l = []));
    l.push(tp.partition);
  }
  return [...m.keys()].sort().map((topic) => ({ topic, partitions: m.get(topic)!.sort((a, b) => a - b) }));
}

/** [{topic, partitions}] → [{topic, partition}], sorted by topic and partition. */
export function fromTopicPartitions(tps: readonly TopicPartitions[]): TopicPartition[] {
  return tps.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))).sort(compareTp);
}
