/**
 * A member of a consumer group speaking the classic group protocol (JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup; KIP-62 rebalance timeout, KIP-345 static membership, KIP-394
 * member id required, KIP-814 skip assignment), with the `consumer` protocol type so that
 * Kafka's tools describe the group like one of Java consumers.
 *
 * Rebalancing is eager, as the Java consumer's "range"/"roundrobin" assignors do it: before
 * rejoining, the member gives up all its partitions (onRevoke, awaited: the caller flushes,
 * snapshots and commits), and gets its new set in onAssign after SyncGroup. So a partition
 * is never held by two members of the same generation, and a member whose generation is
 * over cannot commit: the coordinator refuses it (GROUP_FENCED). The leader assigns with
 * the sticky round-robin assignor (assignor.ts): the same partitions come back to the same
 * members wherever the balance allows.
 *
 * Static membership (groupInstanceId): a member that stops without LeaveGroup (the
 * default for static members) keeps its partitions in the coordinator until its session
 * times out; an instance restarted with the same id in that time gets them back at once,
 * without a rebalance of the others.
 *
 * Concurrency: one internal loop runs joins and every callback, so onRevoke and onAssign
 * never overlap; heartbeats go on (on the member's own connection) while the callbacks
 * run, so a slow flush does not cost the session.
 */
import type { KafkaWireClient, TopicPartition } from './client.js';
import { KafkaCode, KafkaWireError, kafkaCodeName } from './errors.js';
import type { CommitOffset } from './group-offsets-protocol.js';
import { resolveGroupOptions, type GroupMemberOptions, type GroupMemberState } from './group-options.js';
import { Heartbeats } from './group-heartbeat.js';
import { partitionCountChange } from './group-leader.js';
import { groupError, joinAndSync, leaveGroup, type RoundHost, type RoundSettings } from './group-join.js';
import { Wakeup, sleep, tpKey } from './util.js';

export type { GroupMemberOptions, GroupMemberState, RevokeInfo } from './group-options.js';

let lanes = 0;

function callbackError(which: string, e: unknown): KafkaWireError {
  return new KafkaWireError('GROUP_CALLBACK_FAILED', `${which} threw: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

interface Rejoin {
  reason: string;
  lost: boolean;
}

export class GroupMember {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly groupInstanceId: string | null;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly metadataCheckIntervalMs: number;
  private readonly leaveGroupOnLeave: boolean;
  private readonly onAssignCb: GroupMemberOptions['onAssign'];
  private readonly onRevokeCb: GroupMemberOptions['onRevoke'];
  private readonly onErrorCb: GroupMemberOptions['onError'];
  /** This member's own connection to the coordinator (see KafkaWireClient.connection). */
  private readonly lane = `group-member-${++lanes}`;

  private _state: GroupMemberState = 'idle';
  private _memberId = '';
  private _generationId = -1;
  private _leaderId = '';
  private resetMemberId = false;
  private assigned: TopicPartition[] = [];
  /** The previous generation's partitions, announced as owned_partitions so that the leader keeps them here. */
  private owned: TopicPartition[] = [];
  /** Leader: the partition count of each subscribed topic the assignment was made with. */
  private assignedCounts = new Map<string, number>();
  /** Set when the partitions are lost (commits are refused locally) until the next assignment. */
  private lostReason: string | undefined;

  private rejoin: Rejoin | undefined;
  private fatal: KafkaWireError | undefined;
  private closing = false;
  private inRound = false;
  private readonly wakeup = new Wakeup();
  private loopDone: Promise<void> | undefined;
  private leaving: Promise<void> | undefined;
  private first: { resolve: (p: TopicPartition[]) => void; reject: (e: KafkaWireError) => void } | undefined;

  /** Heartbeats and the session watchdog (group-heartbeat.ts). */
  private readonly heartbeats: Heartbeats;
  /** Tests: simulates a stalled process (no heartbeats, no session watchdog). */
  private paused = false;
  /** What the join/sync round (group-join.ts) is given, and reads and updates of this member. */
  private readonly settings: RoundSettings;
  private readonly roundHost: RoundHost = {
    stopping: () => this.stopping(),
    applyMemberIdReset: () => {
      if (this.resetMemberId) {
        this._memberId = '';
        this.resetMemberId = false;
      }
    },
    memberId: () => this._memberId,
    setMemberId: (memberId) => (this._memberId = memberId),
    owned: () => this.owned,
    leader: (leaderId) => (this._leaderId = leaderId),
    assignedCounts: (counts) => (this.assignedCounts = counts),
    synced: (generationId) => {
      this._generationId = generationId;
      this.heartbeats.sessionAlive(Date.now());
    },
    report: (e) => this.report(e),
    describe: () => this.describe(),
  };

  constructor(
    private readonly client: KafkaWireClient,
    options: GroupMemberOptions,
  ) {
    const o = resolveGroupOptions(options);
    this.groupId = o.groupId;
    this.topics = o.topics;
    this.groupInstanceId = o.groupInstanceId;
    this.sessionTimeoutMs = o.sessionTimeoutMs;
    this.rebalanceTimeoutMs = o.rebalanceTimeoutMs;
    this.heartbeatIntervalMs = o.heartbeatIntervalMs;
    this.metadataCheckIntervalMs = o.metadataCheckIntervalMs;
    this.leaveGroupOnLeave = o.leaveGroupOnLeave;
    this.onAssignCb = options.onAssign;
    this.onRevokeCb = options.onRevoke;
    this.onErrorCb = options.onError;
    const { groupId, lane, topics, groupInstanceId, sessionTimeoutMs, rebalanceTimeoutMs, heartbeatIntervalMs } = this;
    this.settings = { groupId, lane, topics, groupInstanceId, sessionTimeoutMs, rebalanceTimeoutMs, userData: o.userData };
    this.heartbeats = new Heartbeats(client, { groupId, lane, groupInstanceId, sessionTimeoutMs, heartbeatIntervalMs }, {
      on: () => !this.inRound && this._generationId >= 0 && this.fatal === undefined && this._state !== 'closed' && this._state !== 'idle',
      paused: () => this.paused,
      current: () => ({ generationId: this._generationId, memberId: this._memberId }),
      rejoin: (reason, lost, resetMemberId) => this.requestRejoin(reason, lost, resetMemberId),
      fatal: (code) => this.stopFatally(groupError(this.settings, this.describe(), 'Heartbeat', code)),
      sessionExpired: () => this.requestRejoin(`no heartbeat got through for ${this.sessionTimeoutMs} ms (session timeout)`, true),
      report: (e) => this.report(e),
    });
  }

  get state(): GroupMemberState {
    return this._state;
  }
  /** The id the coordinator gave this member ('' before the first join). */
  get memberId(): string {
    return this._memberId;
  }
  /** The generation of the current assignment; -1 while (re)joining. */
  get generationId(): number {
    return this._generationId;
  }
  get isLeader(): boolean {
    return this._memberId !== '' && this._leaderId === this._memberId;
  }
  /** The partitions this member holds now (a copy), sorted by topic and partition. */
  get assignment(): TopicPartition[] {
    return this.assigned.map((tp) => ({ ...tp }));
  }
  /** The fatal error that stopped the member (state 'failed'). */
  get failure(): KafkaWireError | undefined {
    return this.fatal;
  }

  /**
   * Joins the group and resolves with the first assignment (after onAssign returned);
   * from then on the member heartbeats and rejoins by itself until leave(). Rejects when
   * the join fails for good (retries exhausted, fenced, inconsistent protocol) or onAssign
   * throws; the member is then stopped (state 'failed', partitions revoked as lost), and
   * leave() still sends LeaveGroup if the coordinator counts it as a member.
   */
  join(): Promise<TopicPartition[]> {
    if (this._state !== 'idle') return Promise.reject(new KafkaWireError('INVALID_ARGUMENT', `join() called on a member in state ${this._state}`));
    this._state = 'joining';
    const p = new Promise<TopicPartition[]>((resolve, reject) => (this.first = { resolve, reject }));
    this.rejoin = { reason: 'initial join', lost: false };
    this.loopDone = this.loop();
    return p;
  }

  /**
   * Commits offsets (the next offset to read, per partition) as this member of its
   * current generation. Rejects with GROUP_FENCED when the member does not hold every
   * partition in `offsets` in a current generation: it is rejoining, lost its partitions,
   * or the coordinator refused the commit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
   * FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS — see error.kafkaCode); then the member
   * rejoins. Coordinator moves and lost connections are retried.
   */
  async commit(offsets: readonly CommitOffset[]): Promise<void> {
    if (this._state === 'closed') throw new KafkaWireError('CLIENT_CLOSED', `group member ${this.describe()} has left`);
    if (this.fatal !== undefined) throw new KafkaWireError('GROUP_FENCED', `group member ${this.describe()} stopped: ${this.fatal.message}`, { cause: this.fatal, kafkaCode: this.fatal.kafkaCode });
    if (this.lostReason !== undefined) throw new KafkaWireError('GROUP_FENCED', `group member ${this.describe()} lost its partitions (${this.lostReason}): commit refused`);
    if (this._generationId < 0 || this.inRound) throw new KafkaWireError('GROUP_FENCED', `group member ${this.describe()} is (re)joining the group: it holds no partitions to commit`);
    const mine = new Set(this.assigned.map((tp) => tpKey(tp.topic, tp.partition)));
    const foreign = offsets.filter((o) => !mine.has(tpKey(o.topic, o.partition)));
    if (foreign.length > 0) {
      throw new KafkaWireError(
        'GROUP_FENCED',
        `group member ${this.describe()} does not hold ${foreign.map((o) => `${o.topic}[${o.partition}]`).join(', ')} in generation ${this._generationId}: commit refused`,
      );
    }
    if (offsets.length === 0) return;
    const member = { generationId: this._generationId, memberId: this._memberId, groupInstanceId: this.groupInstanceId };
    try {
      await this.client.commitOffsetsAsMember(this.groupId, member, offsets, this.lane);
    } catch (e) {
      if (e instanceof KafkaWireError && e.code === 'GROUP_FENCED' && member.generationId === this._generationId && member.memberId === this._memberId) {
        if (e.kafkaCode === KafkaCode.FENCED_INSTANCE_ID) this.stopFatally(e);
        else this.requestRejoin(`a commit was refused (${kafkaCodeName(e.kafkaCode ?? -1)})`, e.kafkaCode !== KafkaCode.REBALANCE_IN_PROGRESS, e.kafkaCode === KafkaCode.UNKNOWN_MEMBER_ID);
      }
      throw e;
    }
  }

  /**
   * Stops: gives up the partitions (onRevoke, awaited; commits still work in it), stops
   * heartbeating and, when `leaveGroup` (default: options.leaveGroupOnLeave), sends
   * LeaveGroup so that the others get the partitions at once. Without it a static
   * member's partitions wait for its restart (or its session timeout).
   */
  leave(options: { leaveGroup?: boolean } = {}): Promise<void> {
    this.leaving ??= this.doLeave(options.leaveGroup ?? this.leaveGroupOnLeave);
    return this.leaving;
  }

  private async doLeave(sendLeaveGroup: boolean): Promise<void> {
    const wasRunning = this._state === 'joining' || this._state === 'stable';
    if (wasRunning) this._state = 'leaving';
    this.closing = true;
    this.wake();
    const done = this.loopDone ?? Promise.resolve();
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      // A JoinGroup or SyncGroup may be waiting at the coordinator for the whole
      // rebalance: closing the member's connection ends it now.
      if (this.inRound) this.client.closeLane(this.lane);
      await Promise.race([done, sleep(50)]);
    }
    if (wasRunning && this.fatal === undefined) {
      await this.revoke(this.lostReason ?? 'the member leaves', this.lostReason !== undefined);
    }
    this.heartbeats.stop();
    this._generationId = -1;
    // After a fatal error the member may still be in the group (not when another process took its instance id).
    const mayLeave = this._memberId !== '' && this.fatal?.kafkaCode !== KafkaCode.FENCED_INSTANCE_ID;
    if (this._state !== 'idle' && sendLeaveGroup && mayLeave) {
      await leaveGroup(this.client, this.settings, this.roundHost);
    }
    this.client.closeLane(this.lane);
    if (this._state !== 'failed') this._state = 'closed';
    this.first?.reject(new KafkaWireError('CLIENT_CLOSED', `group member ${this.describe()} left before its first assignment`));
    this.first = undefined;
  }

  // ---------------------------------------------------------------- the loop

  private stopping(): boolean {
    return this.closing || this.fatal !== undefined;
  }

  private wake(): void {
    this.wakeup.wake();
  }

  /** Asks the loop to revoke and rejoin; `lost` marks the partitions lost at once. */
  private requestRejoin(reason: string, lost: boolean, resetMemberId = false): void {
    if (this.stopping() || this._state === 'idle') return;
    if (resetMemberId) this.resetMemberId = true;
    if (lost) {
      this.lostReason ??= reason;
      this.heartbeats.clearWatchdog();
    }
    if (this.rejoin === undefined) this.rejoin = { reason, lost };
    else this.rejoin.lost ||= lost;
    this.wake();
  }

  private stopFatally(e: KafkaWireError): void {
    if (this.fatal !== undefined || this.closing) return;
    this.fatal = e;
    this.lostReason ??= e.message;
    this.heartbeats.stop();
    this.wake();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping()) {
      const rejoin = this.rejoin;
      if (rejoin === undefined) {
        await this.wakeup.wait(this.isLeader ? this.metadataCheckIntervalMs : undefined);
        if (!this.stopping() && this.rejoin === undefined && this.isLeader) await this.checkMetadata();
        continue;
      }
      try {
        await this.revoke(rejoin.reason, rejoin.lost || this.lostReason !== undefined);
        if (this.stopping()) break;
        this.rejoin = undefined;
        const { partitions, generationId } = await this.joinAndSync(rejoin.reason);
        failures = 0;
        await this.assign(partitions, generationId);
      } catch (e) {
        if (this.stopping()) break;
        const err =
          e instanceof KafkaWireError ? e : new KafkaWireError('KAFKA_ERROR', `group ${this.groupId}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        this.rejoin ??= { reason: `retrying after: ${err.message}`, lost: false };
        // Before the first assignment, join() reports every failure; after it, only what
        // cannot get better by retrying stops the member.
        if (this.first !== undefined || !(err.canRetry || err.code === 'KAFKA_RETRIES_EXHAUSTED' || err.code === 'KAFKA_DISCONNECTED')) {
          this.stopFatally(err);
          break;
        }
        this.report(new KafkaWireError(err.code, `group ${this.groupId}: rejoining keeps failing, still trying: ${err.message}`, { cause: err, canRetry: true, kafkaCode: err.kafkaCode }));
        await sleep(Math.min(this.client.maxRetryBackoffMs, this.client.retryBackoffMs * 2 ** Math.min(failures++, 20)));
      }
    }
    if (this.fatal !== undefined) await this.failed(this.fatal);
  }

  private async failed(e: KafkaWireError): Promise<void> {
    this.heartbeats.stop();
    await this.revoke(e.message, true);
    this.client.closeLane(this.lane);
    this._state = 'failed';
    this._generationId = -1;
    this.report(e);
    this.first?.reject(e);
    this.first = undefined;
  }

  private async revoke(reason: string, lost: boolean): Promise<void> {
    const partitions = this.assigned;
    if (partitions.length === 0) return;
    if (lost) this.lostReason ??= reason;
    try {
      await this.onRevokeCb?.(
        partitions.map((tp) => ({ ...tp })),
        { lost, reason, generationId: this._generationId },
      );
    } catch (e) {
      this.report(callbackError('onRevoke', e));
    }
    this.assigned = [];
    this.owned = lost ? [] : partitions;
  }

  private async assign(partitions: TopicPartition[], generationId: number): Promise<void> {
    this.assigned = partitions;
    this.lostReason = undefined;
    if (this._state === 'joining') this._state = 'stable';
    this.heartbeats.start();
    try {
      await this.onAssignCb?.(
        partitions.map((tp) => ({ ...tp })),
        generationId,
      );
    } catch (e) {
      const err = callbackError('onAssign', e);
      if (this.first !== undefined) throw err;
      this.report(err);
    }
    this.first?.resolve(partitions.map((tp) => ({ ...tp })));
    this.first = undefined;
  }

  private report(e: KafkaWireError): void {
    try {
      this.onErrorCb?.(e);
    } catch {
      // an error handler that throws has nobody left to tell
    }
  }

  private describe(): string {
    return `${this._memberId || '(no member id)'}${this.groupInstanceId === null ? '' : ` (instance ${this.groupInstanceId})`} of group ${this.groupId}`;
  }

  // ---------------------------------------------------------------- JoinGroup + SyncGroup (group-join.ts)

  private async joinAndSync(reason: string): Promise<{ partitions: TopicPartition[]; generationId: number }> {
    this.inRound = true;
    this.heartbeats.stop();
    this._generationId = -1;
    if (this._state === 'stable') this._state = 'joining';
    try {
      return await joinAndSync(this.client, this.settings, this.roundHost, reason);
    } finally {
      this.inRound = false;
    }
  }

  /** Leader: a rebalance when a subscribed topic's partition count changed since the assignment. */
  private async checkMetadata(): Promise<void> {
    try {
      const change = await partitionCountChange(this.client, this.assignedCounts);
      if (change !== undefined) this.requestRejoin(change, false);
    } catch (e) {
      this.report(e instanceof KafkaWireError ? e : new KafkaWireError('KAFKA_ERROR', `metadata check: ${String(e)}`, { cause: e }));
    }
  }
}
