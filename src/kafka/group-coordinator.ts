/**
 * A client's requests to group coordinators: FindCoordinator (cached per group, forgotten
 * when the coordinator moves), OffsetCommit and OffsetFetch for a group the client is not a
 * member of, and a member's requests on its own connection (groupRequest, commits as a
 * member). KafkaWireClient owns one and lends it its connections through ClientLink.
 */
import type { Connection } from './connection.js';
import { KafkaCode, KafkaWireError, kafkaCodeName } from './errors.js';
import type { BrokerInfo, RequestSpec } from './protocol.js';
import {
  findCoordinatorRequest,
  offsetCommitRequest,
  offsetFetchRequest,
  type CommitMember,
  type CommitOffset,
  type FetchedOffset,
} from './group-offsets-protocol.js';
import type { TopicPartition } from './client.js';

/** What the coordinator requests use of their client. */
export interface ClientLink {
  readonly requestTimeoutMs: number;
  /** Any broker (for FindCoordinator). */
  anyConnection(): Promise<Connection>;
  /** The connection to host:port on `lane` ('' : the client's own). */
  connection(host: string, port: number, lane: string): Promise<Connection>;
  /** Sends on c; a connection-level failure drops the connection. */
  sendOn<T>(c: Connection, spec: RequestSpec<T>, extraTimeoutMs?: number, timeoutMs?: number): Promise<T>;
  /** Runs op, retrying retriable errors with backoff for up to timeoutMs (default: the client's retryTimeoutMs). */
  retrying<T>(what: string, op: () => Promise<T>, timeoutMs?: number): Promise<T>;
}

/** Answers to a member's commit meaning that it no longer is the member it says (or the group is between generations). */
const FENCING_CODES: ReadonlySet<number> = new Set([KafkaCode.ILLEGAL_GENERATION, KafkaCode.UNKNOWN_MEMBER_ID, KafkaCode.FENCED_INSTANCE_ID, KafkaCode.REBALANCE_IN_PROGRESS]);

export class GroupCoordinator {
  constructor(
    private readonly link: ClientLink,
    /** The coordinator of each group (the client's map: it is shared). */
    private readonly coordinators: Map<string, BrokerInfo>,
  ) {}

  private async coordinator(groupId: string, lane = ''): Promise<Connection> {
    let b = this.coordinators.get(groupId);
    if (b === undefined) {
      const c = await this.link.anyConnection();
      const r = await this.link.sendOn(c, findCoordinatorRequest(groupId));
      if (r.errorCode !== 0) {
        throw new KafkaWireError('KAFKA_ERROR', `FindCoordinator ${groupId}: ${kafkaCodeName(r.errorCode)}${r.errorMessage ? ` (${r.errorMessage})` : ''}`, {
          kafkaCode: r.errorCode,
          canRetry: r.errorCode === KafkaCode.COORDINATOR_NOT_AVAILABLE || r.errorCode === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS,
        });
      }
      b = { nodeId: r.nodeId, host: r.host, port: r.port };
      this.coordinators.set(groupId, b);
    }
    try {
      return await this.link.connection(b.host, b.port, lane);
    } catch (e) {
      // The coordinator's broker is gone (or moved): ask again who coordinates the group.
      if (this.coordinators.get(groupId) === b) this.coordinators.delete(groupId);
      throw e;
    }
  }

  private coordinatorError(groupId: string, what: string, code: number): KafkaWireError {
    const moved = code === KafkaCode.NOT_COORDINATOR || code === KafkaCode.COORDINATOR_NOT_AVAILABLE || code === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS;
    if (moved) this.coordinators.delete(groupId);
    const hint =
      code === KafkaCode.ILLEGAL_GENERATION || code === KafkaCode.UNKNOWN_MEMBER_ID || code === KafkaCode.REBALANCE_IN_PROGRESS
        ? ' (the group has active members: a non-member may only commit to a group nobody is in)'
        : '';
    return new KafkaWireError('KAFKA_ERROR', `${what} for group ${groupId}: ${kafkaCodeName(code)}${hint}`, { kafkaCode: code, canRetry: moved });
  }

  /** See KafkaWireClient.commitOffsets. */
  async commitOffsets(groupId: string, offsets: readonly CommitOffset[]): Promise<void> {
    await this.link.retrying(`OffsetCommit ${groupId}`, async () => {
      const c = await this.coordinator(groupId);
      const res = await this.link.sendOn(c, offsetCommitRequest(groupId, offsets));
      for (const r of res) if (r.errorCode !== 0) throw this.coordinatorError(groupId, `OffsetCommit ${r.topic}[${r.partition}]`, r.errorCode);
    });
  }

  /** See KafkaWireClient.fetchCommittedOffsets. */
  async fetchCommittedOffsets(groupId: string, partitions: readonly TopicPartition[]): Promise<FetchedOffset[]> {
    return this.link.retrying(`OffsetFetch ${groupId}`, async () => {
      const c = await this.coordinator(groupId);
      const res = await this.link.sendOn(c, offsetFetchRequest(groupId, partitions));
      if (res.errorCode !== 0) throw this.coordinatorError(groupId, 'OffsetFetch', res.errorCode);
      for (const r of res.offsets) if (r.errorCode !== 0) throw this.coordinatorError(groupId, `OffsetFetch ${r.topic}[${r.partition}]`, r.errorCode);
      return res.offsets;
    });
  }

  /** See KafkaWireClient.groupRequest. */
  async groupRequest<T>(
    groupId: string,
    lane: string,
    what: string,
    spec: () => RequestSpec<T>,
    errorCodeOf: (res: T) => number,
    options: { retryForMs: number; extraTimeoutMs?: number; timeoutMs?: number },
  ): Promise<T> {
    return this.link.retrying(
      `${what} ${groupId}`,
      async () => {
        const c = await this.coordinator(groupId, lane);
        const res = await this.link.sendOn(c, spec(), options.extraTimeoutMs ?? 0, options.timeoutMs ?? this.link.requestTimeoutMs + (options.extraTimeoutMs ?? 0));
        const code = errorCodeOf(res);
        if (code === KafkaCode.NOT_COORDINATOR || code === KafkaCode.COORDINATOR_NOT_AVAILABLE || code === KafkaCode.COORDINATOR_LOAD_IN_PROGRESS) {
          throw this.coordinatorError(groupId, what, code);
        }
        return res;
      },
      options.retryForMs,
    );
  }

  /** See KafkaWireClient.commitOffsetsAsMember. */
  async commitOffsetsAsMember(groupId: string, member: CommitMember, offsets: readonly CommitOffset[], lane = ''): Promise<void> {
    await this.link.retrying(`OffsetCommit ${groupId}`, async () => {
      const c = await this.coordinator(groupId, lane);
      const res = await this.link.sendOn(c, offsetCommitRequest(groupId, offsets, member));
      for (const r of res) {
        if (r.errorCode === 0) continue;
        if (FENCING_CODES.has(r.errorCode)) {
          const who = `member ${member.memberId}${member.groupInstanceId === null ? '' : ` (instance ${member.groupInstanceId})`} of generation ${member.generationId}`;
          throw new KafkaWireError(
            'GROUP_FENCED',
            `OffsetCommit ${r.topic}[${r.partition}] for group ${groupId} refused: ${who} is not current (${kafkaCodeName(r.errorCode)}); its partitions may belong to another member now`,
            { kafkaCode: r.errorCode },
          );
        }
        throw this.coordinatorError(groupId, `OffsetCommit ${r.topic}[${r.partition}]`, r.errorCode);
      }
    });
  }
}
