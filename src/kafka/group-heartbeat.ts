/**
 * A group member's heartbeats and session watchdog: a Heartbeat request every
 * heartbeatIntervalMs on the member's own connection (one at a time, skipped while the
 * member is not in a generation), and a timer that declares the partitions lost when no
 * beat got through for a session timeout, since the coordinator may then have given them
 * to others; and what the coordinator's answer to a beat means for the member (answer()).
 */
import type { KafkaWireClient } from './client.js';
import { KafkaCode, KafkaWireError } from './errors.js';
import { heartbeatRequest } from './group-protocol.js';

export interface HeartbeatSettings {
  readonly groupId: string;
  /** The member's own connection to the coordinator. */
  readonly lane: string;
  readonly groupInstanceId: string | null;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
}

/** What the heartbeats read from and report to their member. */
export interface HeartbeatHost {
  /** The member is in a generation and running: it beats. */
  on(): boolean;
  /** Tests: a stalled process (no heartbeats, no session watchdog). */
  paused(): boolean;
  current(): { generationId: number; memberId: string };
  /** An answer says the member must revoke and rejoin (`lost`: its partitions are lost already). */
  rejoin(reason: string, lost: boolean, resetMemberId?: boolean): void;
  /** An answer the member cannot go on after (`code`: the Kafka error code). */
  fatal(code: number): void;
  /** No beat got through for a session timeout. */
  sessionExpired(): void;
  report(e: KafkaWireError): void;
}

export class Heartbeats {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatBusy = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: KafkaWireClient,
    private readonly s: HeartbeatSettings,
    private readonly host: HeartbeatHost,
  ) {}

  start(): void {
    this.stop();
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.s.heartbeatIntervalMs);
  }

  stop(): void {
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.clearWatchdog();
  }

  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = undefined;
    if (!this.host.on()) return;
    if (this.heartbeatBusy || this.host.paused()) {
      this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.s.heartbeatIntervalMs);
      return;
    }
    this.heartbeatBusy = true;
    const sentAt = Date.now();
    const { generationId, memberId } = this.host.current();
    const { groupId, groupInstanceId } = this.s;
    try {
      const res = await this.client.groupRequest(
        groupId,
        this.s.lane,
        'Heartbeat',
        () => heartbeatRequest({ groupId, generationId, memberId, groupInstanceId }),
        (r) => r.errorCode,
        { retryForMs: 0, timeoutMs: Math.min(this.client.requestTimeoutMs, this.s.sessionTimeoutMs) },
      );
      // An answer about a generation the member has since left says nothing about the current one.
      const now = this.host.current();
      if (generationId === now.generationId && memberId === now.memberId && !this.host.paused()) this.answer(res.errorCode, sentAt, generationId);
    } catch (e) {
      // Lost connection, coordinator moving: the next beat tries again, and the session
      // watchdog gives the partitions up if none gets through in time.
      if (!(e instanceof KafkaWireError && (e.canRetry || e.code === 'KAFKA_RETRIES_EXHAUSTED' || e.code === 'CLIENT_CLOSED'))) {
        this.host.report(e instanceof KafkaWireError ? e : new KafkaWireError('KAFKA_ERROR', `Heartbeat ${groupId}: ${String(e)}`, { cause: e }));
      }
    } finally {
      this.heartbeatBusy = false;
    }
    if (this.host.on() && this.heartbeatTimer === undefined) this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.s.heartbeatIntervalMs);
  }

  /** The coordinator's answer to a beat sent at `sentAt` in the member's current generation. */
  private answer(code: number, sentAt: number, generationId: number): void {
    switch (code) {
      case KafkaCode.NONE:
        this.sessionAlive(sentAt);
        return;
      case KafkaCode.REBALANCE_IN_PROGRESS:
        // The coordinator counts this beat: the session lives on while the member revokes.
        this.sessionAlive(sentAt);
        this.host.rejoin('the group is rebalancing', false);
        return;
      case KafkaCode.ILLEGAL_GENERATION:
        this.host.rejoin(`generation ${generationId} is over (the group rebalanced without this member)`, true);
        return;
      case KafkaCode.UNKNOWN_MEMBER_ID:
        this.host.rejoin('the coordinator no longer knows this member (its session expired)', true, true);
        return;
      default:
        // FENCED_INSTANCE_ID among them: another process took the instance id.
        this.host.fatal(code);
    }
  }

  /**
   * A beat sent at `sentAt` got through: the coordinator's session timer restarted no
   * earlier than that. If nothing gets through for a session timeout after it, the
   * coordinator may have given the partitions to others: they are lost here too.
   */
  sessionAlive(sentAt: number): void {
    this.clearWatchdog();
    this.watchdog = setTimeout(
      () => {
        this.watchdog = undefined;
        if (!this.host.paused()) this.host.sessionExpired();
      },
      Math.max(0, sentAt + this.s.sessionTimeoutMs - Date.now()),
    );
  }

  clearWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }
}
