/**
 * The classic consumer-group protocol (KIP-62/KIP-345): request encoders and response
 * decoders for JoinGroup v9, SyncGroup v5, Heartbeat v4 and LeaveGroup v5 — the newest
 * versions Kafka 3.x and 4.x brokers answer, all flexible (KIP-482) — and the payloads of
 * the `consumer` protocol type that travel inside them (ConsumerProtocolSubscription and
 * ConsumerProtocolAssignment), so that Kafka's own tools (kafka-consumer-groups.sh
 * --describe, Admin.describeConsumerGroups) show this client's members and assignments.
 *
 * Field lists follow clients/src/main/resources/common/message/{JoinGroup,SyncGroup,
 * Heartbeat,LeaveGroup}{Request,Response}.json and ConsumerProtocol{Subscription,
 * Assignment}.json of Apache Kafka. OffsetCommit as a member is protocol.ts's
 * offsetCommitRequest with its `member` argument.
 */
import { Reader, Writer } from './codec.js';
import { KafkaWireError } from './errors.js';
import type { RequestSpec } from './protocol.js';

export const GroupApiKey = {
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
} as const;

/**
 * The version of each group API this client sends. JoinGroup v5+ carries
 * group_instance_id (static membership), v9 adds `reason` and the leader's
 * `skip_assignment`; LeaveGroup v3+ names members (instance id + member id).
 */
export const GROUP_API_VERSIONS: Readonly<Record<keyof typeof GroupApiKey, number>> = {
  JoinGroup: 9,
  Heartbeat: 4,
  LeaveGroup: 5,
  SyncGroup: 5,
  DescribeGroups: 5,
};

/** The protocol type of Kafka consumers: the tools decode member metadata and assignments only for it. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer';

// ------------------------------------------------------------------ helpers

/** COMPACT_BYTES (uvarint length + 1). */
function writeCompactBytes(w: Writer, b: Uint8Array): void {
  w.uvarint(b.length + 1).bytes(b);
}

function readCompactBytesCopy(r: Reader): Buffer {
  const b = r.compactBytes();
  // Copied: the frame buffer is the connection's, and assignments outlive the response.
  return b === null ? Buffer.alloc(0) : Buffer.from(b);
}

// ------------------------------------------------------------------ JoinGroup v9

export interface JoinGroupProtocol {
  /** The assignor's name (e.g. "range"); the coordinator picks one every member supports. */
  name: string;
  metadata: Uint8Array;
}

export interface JoinGroupRequest {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** '' on the first join; the coordinator then answers MEMBER_ID_REQUIRED with one (KIP-394). */
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: readonly JoinGroupProtocol[];
  reason: string | null;
}

export interface JoinGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Buffer;
}

export interface JoinGroupResponse {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  /** The leader must not compute an assignment: a static leader rejoined a stable group (KIP-814). */
  skipAssignment: boolean;
  memberId: string;
  /** Every member and its metadata: filled in the leader's response only. */
  members: JoinGroupMember[];
}

export function joinGroupRequest(req: JoinGroupRequest): RequestSpec<JoinGroupResponse> {
  return {
    apiKey: GroupApiKey.JoinGroup,
    apiVersion: GROUP_API_VERSIONS.JoinGroup,
    body: (w) =>
      w
        .compactString(req.groupId)
        .int32(req.sessionTimeoutMs)
        .int32(req.rebalanceTimeoutMs)
        .compactString(req.memberId)
        .compactString(req.groupInstanceId)
        .compactString(req.protocolType)
        .compactArray(req.protocols, (x, p) => {
          x.compactString(p.name);
          writeCompactBytes(x, p.metadata);
          x.tags();
        })
        .compactString(req.reason)
        .tags(),
    decode: (r) => {
      r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      const generationId = r.int32();
      const protocolType = r.compactString();
      const protocolName = r.compactString();
      const leader = r.compactString() ?? '';
      const skipAssignment = r.bool();
      const memberId = r.compactString() ?? '';
      const members = r.compactArray((x) => {
        const m = { memberId: x.compactString() ?? '', groupInstanceId: x.compactString(), metadata: readCompactBytesCopy(x) };
        x.tags();
        return m;
      });
      r.tags();
      return { errorCode, generationId, protocolType, protocolName, leader, skipAssignment, memberId, members };
    },
  };
}

// ------------------------------------------------------------------ SyncGroup v5

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  /** The leader's assignment of every member; empty from the other members. */
  assignments: readonly { memberId: string; assignment: Uint8Array }[];
}

export interface SyncGroupResponse {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  /** This member's assignment (ConsumerProtocolAssignment bytes for the consumer protocol type). */
  assignment: Buffer;
}

export function syncGroupRequest(req: SyncGroupRequest): RequestSpec<SyncGroupResponse> {
  return {
    apiKey: GroupApiKey.SyncGroup,
    apiVersion: GROUP_API_VERSIONS.SyncGroup,
    body: (w) =>
      w
        .compactString(req.groupId)
        .int32(req.generationId)
        .compactString(req.memberId)
        .compactString(req.groupInstanceId)
        .compactString(req.protocolType)
        .compactString(req.protocolName)
        .compactArray(req.assignments, (x, a) => {
          x.compactString(a.memberId);
          writeCompactBytes(x, a.assignment);
          x.tags();
        })
        .tags(),
    decode: (r) => {
      r.int32();
      const errorCode = r.int16();
      const protocolType = r.compactString();
      const protocolName = r.compactString();
      const assignment = readCompactBytesCopy(r);
      r.tags();
      return { errorCode, protocolType, protocolName, assignment };
    },
  };
}

// ------------------------------------------------------------------ Heartbeat v4

export function heartbeatRequest(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): RequestSpec<{ errorCode: number }> {
  return {
    apiKey: GroupApiKey.Heartbeat,
    apiVersion: GROUP_API_VERSIONS.Heartbeat,
    body: (w) => w.compactString(req.groupId).int32(req.generationId).compactString(req.memberId).compactString(req.groupInstanceId).tags(),
    decode: (r) => {
      r.int32();
      const errorCode = r.int16();
      r.tags();
      return { errorCode };
    },
  };
}

// ------------------------------------------------------------------ LeaveGroup v5

export interface LeaveGroupResponse {
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

/**
 * Removes members. A static member is named by its instance id; its member id may be ''
 * (the admin tools' way: whoever holds the instance id) or its own, which the coordinator
 * checks (FENCED_INSTANCE_ID when another process took the instance id over).
 */
export function leaveGroupRequest(
  groupId: string,
  members: readonly { memberId: string; groupInstanceId: string | null; reason?: string | null }[],
): RequestSpec<LeaveGroupResponse> {
  return {
    apiKey: GroupApiKey.LeaveGroup,
    apiVersion: GROUP_API_VERSIONS.LeaveGroup,
    body: (w) =>
      w
        .compactString(groupId)
        .compactArray(members, (x, m) => x.compactString(m.memberId).compactString(m.groupInstanceId).compactString(m.reason ?? null).tags())
        .tags(),
    decode: (r) => {
      r.int32();
      const errorCode = r.int16();
      const ms = r.compactArray((x) => {
        const m = { memberId: x.compactString() ?? '', groupInstanceId: x.compactString(), errorCode: x.int16() };
        x.tags();
        return m;
      });
      r.tags();
      return { errorCode, members: ms };
    },
  };
}

// ------------------------------------------------------------------ DescribeGroups v5

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  /** Stable, PreparingRebalance, CompletingRebalance, Empty, Dead (or '' ). */
  state: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string }[];
}

/** DescribeGroups v5 (flexible): the state and members of groups, from their coordinator. */
export function describeGroupsRequest(groupIds: readonly string[]): RequestSpec<{ groups: DescribedGroup[] }> {
  return {
    apiKey: GroupApiKey.DescribeGroups,
    apiVersion: GROUP_API_VERSIONS.DescribeGroups,
    body: (w) =>
      w
        .compactArray(groupIds, (x, g) => x.compactString(g))
        .bool(false)
        .tags(),
    decode: (r) => {
      r.int32(); // throttle
      const groups = r.compactArray((x) => {
        const errorCode = x.int16();
        const groupId = x.compactString() ?? '';
        const state = x.compactString() ?? '';
        x.compactString(); // protocol type
        x.compactString(); // protocol data (the assignor)
        const members = x.compactArray((y) => {
          const m = { memberId: y.compactString() ?? '', groupInstanceId: y.compactString(), clientId: y.compactString() ?? '', clientHost: y.compactString() ?? '' };
          y.compactBytes(); // metadata
          y.compactBytes(); // assignment
          y.tags();
          return m;
        });
        x.int32(); // authorized operations
        x.tags();
        return { errorCode, groupId, state, members };
      });
      r.tags();
      return { groups };
    },
  };
}

// ------------------------------------------------------------------ ConsumerProtocol payloads

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface ConsumerSubscription {
  /** The version the bytes were written with (0-3 are defined; this client writes 1). */
  version: number;
  topics: string[];
  userData: Buffer | null;
  /** Partitions the member held in its last generation (v1+): the leader keeps them where it can. */
  ownedPartitions: TopicPartitions[];
  /** v2+; -1 when absent. */
  generationId: number;
  /** v3+; null when absent. */
  rackId: string | null;
}

export interface ConsumerAssignment {
  version: number;
  assignedPartitions: TopicPartitions[];
  userData: Buffer | null;
}

/** The version of the ConsumerProtocol payloads this client writes. */
export const CONSUMER_PROTOCOL_VERSION = 1;

function writeBytes(w: Writer, b: Uint8Array | null): void {
  if (b === null) w.int32(-1);
  else w.int32(b.length).bytes(b);
}

function writeTopicPartitions(w: Writer, tps: readonly TopicPartitions[]): void {
  w.int32(tps.length);
  for (const tp of tps) {
    w.string(tp.topic).int32(tp.partitions.length);
    for (const p of tp.partitions) w.int32(p);
  }
}

function readArrayLength(r: Reader, what: string): number {
  const n = r.int32();
  // Each element takes at least one byte: a longer count is garbage, not a huge allocation.
  if (n < -1 || n > r.buf.length - r.pos) throw new KafkaWireError('CORRUPT_MESSAGE', `${what}: array length ${n} at ${r.pos - 4} does not fit in ${r.buf.length} bytes`);
  return n;
}

function readBytes(r: Reader, what: string): Buffer | null {
  const n = readArrayLength(r, what);
  if (n < 0) return null;
  const b = Buffer.from(r.buf.subarray(r.pos, r.pos + n));
  r.pos += n;
  return b;
}

function readString(r: Reader, what: string): string {
  const s = r.string();
  if (s === null) throw new KafkaWireError('CORRUPT_MESSAGE', `${what}: null where a string is required`);
  return s;
}

function readTopicPartitions(r: Reader, what: string): TopicPartitions[] {
  const n = readArrayLength(r, what);
  const out: TopicPartitions[] = [];
  for (let i = 0; i < n; i++) {
    const topic = readString(r, what);
    const m = readArrayLength(r, what);
    const partitions: number[] = [];
    for (let j = 0; j < m; j++) partitions.push(r.int32());
    out.push({ topic, partitions });
  }
  return out;
}

function payloadReader(bytes: Uint8Array, what: string): { r: Reader; version: number } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf);
  const version = r.int16();
  if (version < 0) throw new KafkaWireError('CORRUPT_MESSAGE', `${what}: negative version ${version}`);
  return { r, version };
}

/** ConsumerProtocolSubscription, written as version 1 (topics, user data, owned partitions). */
export function encodeSubscription(s: { topics: readonly string[]; userData?: Uint8Array | null; ownedPartitions?: readonly TopicPartitions[] }): Buffer {
  const w = new Writer(64);
  w.int16(CONSUMER_PROTOCOL_VERSION).int32(s.topics.length);
  for (const t of s.topics) w.string(t);
  writeBytes(w, s.userData ?? null);
  writeTopicPartitions(w, s.ownedPartitions ?? []);
  return Buffer.from(w.view());
}

/**
 * Reads any version: newer ones are read as the newest this decoder knows (v3), as the
 * Java consumer does (the format promises that fields are only ever appended).
 */
export function decodeSubscription(bytes: Uint8Array): ConsumerSubscription {
  const what = 'ConsumerProtocolSubscription';
  const { r, version } = payloadReader(bytes, what);
  const n = readArrayLength(r, what);
  const topics: string[] = [];
  for (let i = 0; i < n; i++) topics.push(readString(r, what));
  const userData = readBytes(r, what);
  const ownedPartitions = version >= 1 ? readTopicPartitions(r, what) : [];
  const generationId = version >= 2 ? r.int32() : -1;
  const rackId = version >= 3 ? r.string() : null;
  return { version, topics, userData, ownedPartitions, generationId, rackId };
}

/** ConsumerProtocolAssignment, written as version 1 (same layout as v0; v2/v3 changed only the subscription). */
export function encodeAssignment(a: { assignedPartitions: readonly TopicPartitions[]; userData?: Uint8Array | null }): Buffer {
  const w = new Writer(64);
  w.int16(CONSUMER_PROTOCOL_VERSION);
  writeTopicPartitions(w, a.assignedPartitions);
  writeBytes(w, a.userData ?? null);
  return Buffer.from(w.view());
}

/** An empty byte string (what a member gets when the leader assigned it nothing at all) decodes to no partitions. */
export function decodeAssignment(bytes: Uint8Array): ConsumerAssignment {
  if (bytes.length === 0) return { version: CONSUMER_PROTOCOL_VERSION, assignedPartitions: [], userData: null };
  const what = 'ConsumerProtocolAssignment';
  const { r, version } = payloadReader(bytes, what);
  const assignedPartitions = readTopicPartitions(r, what);
  const userData = readBytes(r, what);
  return { version, assignedPartitions, userData };
}
