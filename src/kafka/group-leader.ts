/**
 * The group leader's part of a rebalance: reading every member's subscription, the
 * partition counts of the topics they subscribe to, and every member's assignment by the
 * sticky round-robin assignor (assignor.ts), as ConsumerProtocolAssignment bytes; and the
 * check for a partition count that changed since (a new rebalance).
 */
import type { KafkaWireClient } from './client.js';
import { KafkaWireError } from './errors.js';
import { decodeSubscription, encodeAssignment, type JoinGroupMember } from './group-protocol.js';
import { assignStickyRoundRobin, toTopicPartitions, type AssignorMember } from './assignor.js';

/** The topics of this member (`own`) and of every member whose subscription can be read, sorted. */
export function subscribedTopics(own: readonly string[], members: readonly JoinGroupMember[]): string[] {
  const topics = new Set<string>(own);
  for (const m of members) {
    try {
      for (const t of decodeSubscription(m.metadata).topics) topics.add(t);
    } catch {
      // reported by leaderAssignment
    }
  }
  return [...topics].sort();
}

export async function partitionCounts(client: KafkaWireClient, topics: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const t of topics) counts.set(t, await client.partitionCount(t));
  return counts;
}

/** Why to rebalance when a topic's partition count differs from `counts` (the assignment's), checked in order; undefined when none does. */
export async function partitionCountChange(client: KafkaWireClient, counts: ReadonlyMap<string, number>): Promise<string | undefined> {
  for (const [topic, n] of counts) {
    const now = await client.partitionCount(topic);
    if (now !== n) return `topic ${topic} has ${now} partitions, the assignment was made for ${n}`;
  }
  return undefined;
}

/**
 * Every member's assignment, and the partition counts it was made with. A member whose
 * subscription cannot be read gets no partitions (and `report` is told).
 */
export async function leaderAssignment(
  client: KafkaWireClient,
  groupId: string,
  own: readonly string[],
  members: readonly JoinGroupMember[],
  report: (e: KafkaWireError) => void,
): Promise<{ counts: Map<string, number>; assignments: { memberId: string; assignment: Uint8Array }[] }> {
  const subs: AssignorMember[] = members.map((m) => {
    try {
      const s = decodeSubscription(m.metadata);
      return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics: s.topics, ownedPartitions: s.ownedPartitions };
    } catch (e) {
      report(new KafkaWireError('CORRUPT_MESSAGE', `group ${groupId}: member ${m.memberId} sent a subscription this leader cannot read; it gets no partitions`, { cause: e }));
      return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics: [], ownedPartitions: [] };
    }
  });
  const counts = await partitionCounts(client, subscribedTopics(own, members));
  const result = assignStickyRoundRobin(subs, counts);
  const assignments = subs.map((m) => ({ memberId: m.memberId, assignment: encodeAssignment({ assignedPartitions: toTopicPartitions(result.get(m.memberId) ?? []) }) }));
  return { counts, assignments };
}
