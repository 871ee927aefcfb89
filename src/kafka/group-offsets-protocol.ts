/**
 * The group-offset requests of the wire client, in the same style as protocol.ts (one
 * flexible version each): FindCoordinator v4 (the broker that keeps a group's offsets),
 * OffsetCommit v8 (as a member of the group or from outside it) and OffsetFetch v7.
 * Field lists follow the JSON message definitions in
 * clients/src/main/resources/common/message/ of Apache Kafka.
 */
import { ApiKey, groupByTopic, type RequestSpec } from './protocol.js';

// ------------------------------------------------------------------ FindCoordinator v4

export interface Coordinator {
  key: string;
  nodeId: number;
  host: string;
  port: number;
  errorCode: number;
  errorMessage: string | null;
}

export function findCoordinatorRequest(groupId: string): RequestSpec<Coordinator> {
  return {
    apiKey: ApiKey.FindCoordinator,
    apiVersion: 4,
    body: (w) =>
      w
        .int8(0) // key_type: group
        .compactArray([groupId], (x, k) => x.compactString(k))
        .tags(),
    decode: (r) => {
      r.int32();
      const cs = r.compactArray((x) => {
        const c = { key: x.compactString() ?? '', nodeId: x.int32(), host: x.compactString() ?? '', port: x.int32(), errorCode: x.int16(), errorMessage: x.compactString() };
        x.tags();
        return c;
      });
      r.tags();
      return cs[0];
    },
  };
}

// ------------------------------------------------------------------ OffsetCommit v8

export interface CommitOffset {
  topic: string;
  partition: number;
  offset: bigint;
  metadata?: string | null;
}

export interface PartitionResult {
  topic: string;
  partition: number;
  errorCode: number;
}

/** Who commits: a group member's generation and ids (group-protocol.ts, GroupMember). */
export interface CommitMember {
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

/**
 * Without `member`: generation -1 and an empty member id, a commit from outside the group,
 * which the group coordinator accepts while the group has no active members (simple
 * consumer). With it: a commit as that member, which the coordinator refuses
 * (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID) unless it is current.
 */
export function offsetCommitRequest(groupId: string, offsets: readonly CommitOffset[], member?: CommitMember): RequestSpec<PartitionResult[]> {
  const byTopic = groupByTopic(offsets);
  return {
    apiKey: ApiKey.OffsetCommit,
    apiVersion: 8,
    body: (w) =>
      w
        .compactString(groupId)
        .int32(member?.generationId ?? -1)
        .compactString(member?.memberId ?? '')
        .compactString(member?.groupInstanceId ?? null)
        .compactArray([...byTopic], (x, [topic, ps]) =>
          x
            .compactString(topic)
            .compactArray(ps, (y, p) =>
              y
                .int32(p.partition)
                .int64(p.offset)
                .int32(-1) // committed_leader_epoch: unknown
                .compactString(p.metadata ?? null)
                .tags(),
            )
            .tags(),
        )
        .tags(),
    decode: (r) => {
      r.int32();
      const out: PartitionResult[] = [];
      r.compactArray((x) => {
        const topic = x.compactString() ?? '';
        x.compactArray((y) => {
          out.push({ topic, partition: y.int32(), errorCode: y.int16() });
          y.tags();
        });
        x.tags();
      });
      r.tags();
      return out;
    },
  };
}

// ------------------------------------------------------------------ OffsetFetch v7

export interface FetchedOffset {
  topic: string;
  partition: number;
  /** -1 when the group has no offset for the partition. */
  offset: bigint;
  metadata: string | null;
  errorCode: number;
}

export function offsetFetchRequest(
  groupId: string,
  partitions: readonly { topic: string; partition: number }[],
): RequestSpec<{ errorCode: number; offsets: FetchedOffset[] }> {
  const byTopic = groupByTopic(partitions);
  return {
    apiKey: ApiKey.OffsetFetch,
    apiVersion: 7,
    body: (w) =>
      w
        .compactString(groupId)
        .compactArray([...byTopic], (x, [topic, ps]) =>
          x
            .compactString(topic)
            .compactArray(ps, (y, p) => y.int32(p.partition))
            .tags(),
        )
        .bool(false) // require_stable
        .tags(),
    decode: (r) => {
      r.int32();
      const offsets: FetchedOffset[] = [];
      r.compactArray((x) => {
        const topic = x.compactString() ?? '';
        x.compactArray((y) => {
          const partition = y.int32();
          const offset = y.int64();
          y.int32(); // committed_leader_epoch
          const metadata = y.compactString();
          const errorCode = y.int16();
          y.tags();
          offsets.push({ topic, partition, offset, metadata, errorCode });
        });
        x.tags();
      });
      const errorCode = r.int16();
      r.tags();
      return { errorCode, offsets };
    },
  };
}
