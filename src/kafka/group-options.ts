/**
 * What a GroupMember is given (its options and callbacks) and what it reports (its state,
 * what onRevoke is told): the group member's public contract, apart from its code (group.ts);
 * and resolveGroupOptions, which checks the options and fills in their defaults.
 */
import type { TopicPartition } from './client.js';
import { KafkaWireError } from './errors.js';
import { positiveInt } from './util.js';

export interface RevokeInfo {
  /**
   * True when the partitions are already lost: the session expired, the generation is
   * over or another process took the instance id. Another member may own them now, and
   * commits will be refused: drop uncommitted work instead of flushing it.
   */
  lost: boolean;
  /** Why (for logs). */
  reason: string;
  /** The generation the partitions were assigned in. */
  generationId: number;
}

export interface GroupMemberOptions {
  groupId: string;
  /** Topics to subscribe to; the leader assigns the partitions of all of them together. */
  topics: readonly string[];
  /**
   * group.instance.id for static membership (KIP-345): unique per instance and stable across
   * its restarts (e.g. the host or pod name). Null/absent: a dynamic member.
   */
  groupInstanceId?: string | null;
  /**
   * The coordinator removes the member when no heartbeat arrives for this long; the broker
   * allows [group.min.session.timeout.ms, group.max.session.timeout.ms] (6 s to 30 min by
   * default). Default 45 s (the Java consumer's).
   */
  sessionTimeoutMs?: number;
  /** How long the coordinator waits for every member to rejoin (onRevoke included) in a rebalance. Default 60 s. */
  rebalanceTimeoutMs?: number;
  /** Default: a third of the session timeout, at most 3 s. */
  heartbeatIntervalMs?: number;
  /**
   * Whether leave() sends LeaveGroup. Default: true for dynamic members (the others get
   * their partitions at once), false for static ones (a restart within the session timeout
   * gets the same partitions back without a rebalance).
   */
  leaveGroupOnLeave?: boolean;
  /** How often the leader checks whether the subscribed topics' partition counts changed (then it rebalances). Default 30 s. */
  metadataCheckIntervalMs?: number;
  /** Opaque bytes sent in the subscription (visible to the leader). */
  userData?: Uint8Array | null;
  /** A new set of partitions, after each (re)join; awaited (heartbeats go on meanwhile). */
  onAssign?: (partitions: TopicPartition[], generationId: number) => void | Promise<void>;
  /**
   * The member gives up `partitions`: before it rejoins (eager rebalance), when it leaves,
   * or when they were lost (info.lost). Awaited before the member rejoins; unless lost,
   * commit() still works during the call. Not called when the member holds nothing.
   */
  onRevoke?: (partitions: TopicPartition[], info: RevokeInfo) => void | Promise<void>;
  /**
   * Problems in the background: retries exhausted while rejoining (the member keeps
   * trying: error.canRetry is true), a callback that threw (GROUP_CALLBACK_FAILED), or a fatal
   * error (fenced by another instance with the same groupInstanceId, an inconsistent
   * group protocol): the member then stops; see `failure`.
   */
  onError?: (error: KafkaWireError) => void;
}

export type GroupMemberState = 'idle' | 'joining' | 'stable' | 'leaving' | 'closed' | 'failed';

/** The options checked, with their defaults filled in. */
export interface ResolvedGroupOptions {
  groupId: string;
  /** Deduplicated and sorted. */
  topics: readonly string[];
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  metadataCheckIntervalMs: number;
  leaveGroupOnLeave: boolean;
  userData: Uint8Array | null;
}

/** Checks a GroupMember's options (INVALID_ARGUMENT) and fills in the defaults. */
export function resolveGroupOptions(options: GroupMemberOptions): ResolvedGroupOptions {
  if (typeof options.groupId !== 'string' || options.groupId === '') throw new KafkaWireError('INVALID_ARGUMENT', 'options.groupId must be a non-empty string');
  if (!Array.isArray(options.topics) || options.topics.length === 0 || options.topics.some((t) => typeof t !== 'string' || t === '')) {
    throw new KafkaWireError('INVALID_ARGUMENT', 'options.topics must list at least one topic name');
  }
  if (options.groupInstanceId !== undefined && options.groupInstanceId !== null && (typeof options.groupInstanceId !== 'string' || options.groupInstanceId === '')) {
    throw new KafkaWireError('INVALID_ARGUMENT', 'options.groupInstanceId must be a non-empty string or null');
  }
  const groupInstanceId = options.groupInstanceId ?? null;
  const sessionTimeoutMs = positiveInt('sessionTimeoutMs', options.sessionTimeoutMs, 45_000);
  const rebalanceTimeoutMs = positiveInt('rebalanceTimeoutMs', options.rebalanceTimeoutMs, 60_000);
  const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', options.heartbeatIntervalMs, Math.max(1, Math.min(3_000, Math.floor(sessionTimeoutMs / 3))));
  if (heartbeatIntervalMs >= sessionTimeoutMs) {
    throw new KafkaWireError('INVALID_ARGUMENT', `options.heartbeatIntervalMs (${heartbeatIntervalMs}) must be below sessionTimeoutMs (${sessionTimeoutMs})`);
  }
  return {
    groupId: options.groupId,
    topics: [...new Set(options.topics)].sort(),
    groupInstanceId,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    heartbeatIntervalMs,
    metadataCheckIntervalMs: positiveInt('metadataCheckIntervalMs', options.metadataCheckIntervalMs, 30_000),
    leaveGroupOnLeave: options.leaveGroupOnLeave ?? groupInstanceId === null,
    userData: options.userData ?? null,
  };
}
