/**
 * A group member's joining and leaving. The join/sync round: JoinGroup (with the KIP-394
 * member id handshake) until the coordinator forms a generation, the leader's assignment
 * (group-leader.ts), then SyncGroup, which hands this member its partitions. GroupMember
 * (group.ts) runs one round per (re)join and reads and updates its identity through
 * RoundHost. LeaveGroup when the member leaves; groupError for refusals.
 */
import type { KafkaWireClient, TopicPartition } from './client.js';
import { KafkaCode, KafkaWireError, kafkaCodeName } from './errors.js';
import { leaderAssignment, partitionCounts, subscribedTopics } from './group-leader.js';
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment, encodeSubscription, joinGroupRequest, leaveGroupRequest, syncGroupRequest } from './group-protocol.js';
import { sleep } from './util.js';
import { STICKY_ROUND_ROBIN, fromTopicPartitions, toTopicPartitions } from './assignor.js';

export interface RoundSettings {
  readonly groupId: string;
  /** The member's own connection to the coordinator. */
  readonly lane: string;
  readonly topics: readonly string[];
  readonly groupInstanceId: string | null;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly userData: Uint8Array | null;
}

/** What a round reads from and tells its member. */
export interface RoundHost {
  stopping(): boolean;
  /** Forgets the member id if a rejoin asked for that (the coordinator no longer knows it). */
  applyMemberIdReset(): void;
  memberId(): string;
  setMemberId(memberId: string): void;
  /** The previous generation's partitions (owned_partitions in the subscription). */
  owned(): TopicPartition[];
  /** JoinGroup succeeded: the generation's leader. */
  leader(leaderId: string): void;
  /** Leader: the partition counts the assignment was made with. */
  assignedCounts(counts: Map<string, number>): void;
  /** SyncGroup succeeded: the member is in `generationId`. */
  synced(generationId: number): void;
  report(e: KafkaWireError): void;
  describe(): string;
}

/** The error for a refusing answer to a group request; GROUP_FENCED when another process took the instance id. */
export function groupError(s: RoundSettings, describe: string, what: string, code: number): KafkaWireError {
  if (code === KafkaCode.FENCED_INSTANCE_ID) {
    return new KafkaWireError(
      'GROUP_FENCED',
      `${what} ${s.groupId}: another process now uses group.instance.id ${s.groupInstanceId ?? ''} (${kafkaCodeName(code)}); this one stops`,
      { kafkaCode: code },
    );
  }
  const hint =
    code === KafkaCode.INCONSISTENT_GROUP_PROTOCOL
      ? ` (the group's members use another protocol type or assignor than ${CONSUMER_PROTOCOL_TYPE}/${STICKY_ROUND_ROBIN})`
      : code === KafkaCode.INVALID_SESSION_TIMEOUT
        ? ` (sessionTimeoutMs ${s.sessionTimeoutMs} is outside the broker's group.min/max.session.timeout.ms)`
        : '';
  return new KafkaWireError('KAFKA_ERROR', `${what} ${s.groupId} as ${describe}: ${kafkaCodeName(code)}${hint}`, { kafkaCode: code });
}

/** JoinGroup and SyncGroup until the member is in a generation; its partitions (of the subscribed topics) and that generation. */
export async function joinAndSync(
  client: KafkaWireClient,
  s: RoundSettings,
  host: RoundHost,
  reason: string,
): Promise<{ partitions: TopicPartition[]; generationId: number }> {
  const retryForMs = client.retryTimeoutMs;
  for (let round = 0; ; round++) {
    if (host.stopping()) throw new KafkaWireError('CLIENT_CLOSED', `group member ${host.describe()} is stopping`);
    host.applyMemberIdReset();
    const metadata = encodeSubscription({ topics: s.topics, userData: s.userData, ownedPartitions: toTopicPartitions(host.owned()) });
    const join = await client.groupRequest(
      s.groupId,
      s.lane,
      'JoinGroup',
      () =>
        joinGroupRequest({
          groupId: s.groupId,
          sessionTimeoutMs: s.sessionTimeoutMs,
          rebalanceTimeoutMs: s.rebalanceTimeoutMs,
          memberId: host.memberId(),
          groupInstanceId: s.groupInstanceId,
          protocolType: CONSUMER_PROTOCOL_TYPE,
          protocols: [{ name: STICKY_ROUND_ROBIN, metadata }],
          reason,
        }),
      (r) => r.errorCode,
      { retryForMs, extraTimeoutMs: s.rebalanceTimeoutMs },
    );
    if (join.errorCode === KafkaCode.MEMBER_ID_REQUIRED) {
      // KIP-394: the coordinator hands out the member id first; join again with it.
      host.setMemberId(join.memberId);
      continue;
    }
    if (join.errorCode === KafkaCode.UNKNOWN_MEMBER_ID) {
      host.setMemberId('');
      continue;
    }
    if (join.errorCode === KafkaCode.REBALANCE_IN_PROGRESS || join.errorCode === KafkaCode.ILLEGAL_GENERATION) {
      await sleep(client.retryBackoffMs);
      continue;
    }
    if (join.errorCode !== 0) throw groupError(s, host.describe(), 'JoinGroup', join.errorCode);
    if (join.protocolName !== null && join.protocolName !== STICKY_ROUND_ROBIN) {
      throw new KafkaWireError('KAFKA_ERROR', `JoinGroup ${s.groupId}: the coordinator chose protocol ${join.protocolName}, this member offered only ${STICKY_ROUND_ROBIN}`);
    }
    host.setMemberId(join.memberId);
    host.leader(join.leader);
    let assignments: { memberId: string; assignment: Uint8Array }[] = [];
    if (join.leader === join.memberId) {
      if (join.skipAssignment) {
        // A static leader rejoined a stable group: the assignment stands (KIP-814), but
        // note the partition counts so that a later change still triggers a rebalance.
        host.assignedCounts(await partitionCounts(client, subscribedTopics(s.topics, join.members)));
      } else {
        const leader = await leaderAssignment(client, s.groupId, s.topics, join.members, (e) => host.report(e));
        host.assignedCounts(leader.counts);
        assignments = leader.assignments;
      }
    }
    const sync = await client.groupRequest(
      s.groupId,
      s.lane,
      'SyncGroup',
      () =>
        syncGroupRequest({
          groupId: s.groupId,
          generationId: join.generationId,
          memberId: host.memberId(),
          groupInstanceId: s.groupInstanceId,
          protocolType: CONSUMER_PROTOCOL_TYPE,
          protocolName: join.protocolName ?? STICKY_ROUND_ROBIN,
          assignments,
        }),
      (r) => r.errorCode,
      { retryForMs, extraTimeoutMs: s.rebalanceTimeoutMs },
    );
    if (sync.errorCode === KafkaCode.REBALANCE_IN_PROGRESS || sync.errorCode === KafkaCode.ILLEGAL_GENERATION) continue;
    if (sync.errorCode === KafkaCode.UNKNOWN_MEMBER_ID) {
      host.setMemberId('');
      continue;
    }
    if (sync.errorCode !== 0) throw groupError(s, host.describe(), 'SyncGroup', sync.errorCode);
    host.synced(join.generationId);
    const subscribed = new Set(s.topics);
    const partitions = fromTopicPartitions(decodeAssignment(sync.assignment).assignedPartitions).filter((tp) => subscribed.has(tp.topic));
    return { partitions, generationId: join.generationId };
  }
}

/** LeaveGroup for this member, so that the others get its partitions at once; failures are reported, not thrown. */
export async function leaveGroup(client: KafkaWireClient, s: RoundSettings, host: RoundHost): Promise<void> {
  try {
    const res = await client.groupRequest(
      s.groupId,
      s.lane,
      'LeaveGroup',
      () => leaveGroupRequest(s.groupId, [{ memberId: host.memberId(), groupInstanceId: s.groupInstanceId, reason: 'the member leaves' }]),
      (r) => r.errorCode,
      { retryForMs: Math.min(client.retryTimeoutMs, s.sessionTimeoutMs) },
    );
    const code = res.errorCode !== 0 ? res.errorCode : (res.members.find((m) => m.errorCode !== 0)?.errorCode ?? 0);
    // UNKNOWN_MEMBER_ID: the coordinator had already removed it, which is what leaving wants.
    if (code !== 0 && code !== KafkaCode.UNKNOWN_MEMBER_ID) {
      host.report(new KafkaWireError('KAFKA_ERROR', `LeaveGroup ${s.groupId} as ${host.describe()}: ${kafkaCodeName(code)}`, { kafkaCode: code }));
    }
  } catch (e) {
    host.report(e instanceof KafkaWireError ? e : new KafkaWireError('KAFKA_ERROR', `LeaveGroup ${s.groupId}: ${String(e)}`, { cause: e }));
  }
}
