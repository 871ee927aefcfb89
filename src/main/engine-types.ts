/**
 * The engine's options, dependencies and status, apart from the engine so that the parts
 * and tests can name them without the class.
 */
import type { CheckpointStore, TopicSnapshot } from './checkpoint.js';
import type { MemberFence } from './member-sink.js';
import type { DirLock } from './dir-lock.js';
import type { OwnerLock } from './single-owner.js';
import type { Logger } from '../common/log.js';
import type { EngineMetrics } from './metrics.js';
import type { AggregatePool } from './pool.js';
import type { Sink } from './sink.js';
import type { PartitionRef, RecordSource } from './source.js';

export interface EngineOptions {
  groupId: string;
  topics: { sensor: string; meter: string; weather: string };
  windowMs: { sensor: number; meter: number; weather: number };
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  taskRecords: number;
  maxInflightBatches: number;
  checkpointIntervalMs: number;
  ignoreMissingCheckpoint: boolean;
  availableNow: boolean;
  startingOffsets: 'earliest' | 'latest';
  createTopics: boolean;
  topicPartitions: number;
  maxPendingRows: number;
  sinkRetryMaxMs: number;
  shutdownTimeoutMs: number;
  progressIntervalMs: number;
  /** Records stamped later than the wall clock plus this are `future` (0 = no limit). */
  maxFutureSkewMs: number;
  /** Open (window, group) states at which fetching pauses (see state-limit.ts). */
  maxOpenStates: number;
  /** How long nothing may free states at the bound before STATE_LIMIT (default: idle timeout + 5 s). */
  stateLimitGraceMs?: number;
  /** A write running longer than this counts as failing in metrics and /health. */
  sinkStallTimeoutMs: number;
  /** Failed checkpoints in a row that are survived (the next one is tried as usual). */
  checkpointFailuresTolerated: number;
  /** --group-member: partitions come from the consumer group; state per partition (deps.member). */
  groupMember?: boolean;
}

export interface EngineDeps {
  source: RecordSource;
  sink: Sink;
  pool: Pick<AggregatePool, 'run' | 'threads' | 'utilization'>;
  checkpoints: Pick<CheckpointStore, 'dir' | 'save' | 'loadLatest' | 'removeLeftovers'>;
  metrics: EngineMetrics;
  log: Logger;
  now?: () => number;
  /**
   * The checkpoint directory's lock: taken before anything else, so that one instance at
   * a time owns the state (see dir-lock.ts). Tests that run engines in-process may omit it.
   */
  lock?: DirLock;
  /** The consumer group's lock in PostgreSQL (group-lock.ts), taken after the directory's. */
  groupLock?: OwnerLock;
  /**
   * --group-member: the member's identity in the current generation (the engine sets it
   * at each assignment; the sink and `checkpoints` read it) and the partitions' leases and
   * snapshots (partition-state.ts; `checkpoints` is the same store).
   */
  member?: {
    fence: MemberFence;
    claim(parts: PartitionRef[]): Promise<Map<string, TopicSnapshot | null>>;
  };
}

export interface EngineStatus {
  topics: string[];
  watermarks: number[];
  partitions: { topic: string; partition: number; lag: number }[];
  openWindows: number[];
  openStates: number[];
  pendingRows: number;
  started: boolean;
  assigned: number;
  lastAssignmentChange: number;
  fatal: string | null;
  workerThreads: number;
  workerUtilization: number;
  recentRate: number;
}
