/**
 * Probes. Liveness (/livez): the process and its event loop answer, and the engine has not
 * failed for good; a restart is the cure. Readiness (/readyz): the engine is doing its job
 * right now; not ready until the consumer group first assigns partitions, while Kafka has
 * not answered for longer than `kafkaUnreachableAfterMs`, and while PostgreSQL writes fail.
 * /health is both together.
 *
 * KafkaReachability turns the Kafka client's per-attempt connection errors into one log
 * line when an outage starts and one when it ends, instead of a stack trace per retry.
 */
import type { Logger } from '../common/log.js';
import type { EngineMetrics } from './metrics.js';

/** What the probes read from the engine (Engine.status() provides it). */
export interface EngineProbeStatus {
  started: boolean;
  assigned: number;
  lastAssignmentChange: number;
  fatal: string | null;
}

export interface ProbeOptions {
  /** Readiness fails when Kafka has not answered for longer than this. */
  kafkaUnreachableAfterMs: number;
  /** Readiness fails when the consumer has held no partition for this long after having had some. */
  unassignedAfterMs?: number;
  /** --group-member: a member the group gave no partitions is a ready standby. */
  member?: boolean;
}

export interface ProbeResult {
  status: 'ok' | 'unavailable';
  reasons: string[];
}

const secs = (ms: number): number => Math.round(ms / 1000);

/**
 * Tracks when Kafka last answered. The source reports every response (`answered`) and every
 * connection failure the client logs (`failed`).
 */
export class KafkaReachability {
  private lastAnswerAt: number | null = null;
  private failingSince: number | null = null;
  private lastError: { broker: string; error: string } | null = null;
  private lastReminderAt = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly startedAt = now(),
    /** While an outage lasts, a reminder line every this many ms. */
    private readonly reminderMs = 60_000,
  ) {}

  answered(): void {
    const now = this.now();
    if (this.failingSince !== null) {
      this.log.info('Kafka answers again', {
        broker: this.lastError?.broker,
        failedForSeconds: secs(now - this.failingSince),
        lastError: this.lastError?.error,
      });
      this.failingSince = null;
    }
    this.lastAnswerAt = now;
  }

  failed(broker: string, error: string): void {
    const now = this.now();
    this.lastError = { broker, error };
    if (this.failingSince === null) {
      this.failingSince = now;
      this.lastReminderAt = now;
      this.log.warn('Kafka unreachable; the client keeps retrying', {
        broker,
        error,
        lastAnsweredSecondsAgo: this.lastAnswerAt === null ? null : secs(now - this.lastAnswerAt),
      });
    } else if (now - this.lastReminderAt >= this.reminderMs) {
      this.lastReminderAt = now;
      this.log.warn('Kafka still unreachable; the client keeps retrying', { broker, error, failingForSeconds: secs(now - this.failingSince) });
    }
  }

  /** Milliseconds since Kafka last answered (since the start if it never has). */
  unreachableForMs(now = this.now()): number {
    return Math.max(0, now - (this.lastAnswerAt ?? this.startedAt));
  }

  get everAnswered(): boolean {
    return this.lastAnswerAt !== null;
  }

  get error(): { broker: string; error: string } | null {
    return this.lastError;
  }
}

export interface HealthReport {
  status: 'ok' | 'unhealthy';
  live: ProbeResult;
  ready: ProbeResult;
  reasons: string[];
  uptimeSeconds: number;
  assignedPartitions: number;
  kafkaUnreachableSeconds: number;
  sinkFailingSeconds: number;
  lastCheckpointAgeSeconds: number | null;
}

export class Probes {
  private firstAssignmentAt: number | null = null;

  constructor(
    private readonly engine: { status(): EngineProbeStatus },
    private readonly metrics: EngineMetrics,
    readonly kafka: KafkaReachability,
    private readonly opts: ProbeOptions,
  ) {}

  /** The consumer group assigned partitions (called by the source wrapper in app.ts). */
  assigned(count: number, now = Date.now()): void {
    if ((count > 0 || this.opts.member === true) && this.firstAssignmentAt === null) this.firstAssignmentAt = now;
  }

  livez(): ProbeResult {
    const fatal = this.engine.status().fatal;
    return fatal === null ? { status: 'ok', reasons: [] } : { status: 'unavailable', reasons: [`the engine failed: ${fatal}`] };
  }

  readyz(now = Date.now()): ProbeResult {
    const reasons: string[] = [];
    const st = this.engine.status();
    if (st.fatal !== null) reasons.push(`the engine failed: ${st.fatal}`);
    if (this.firstAssignmentAt === null) {
      reasons.push('waiting for the consumer group to assign partitions');
    } else if (st.assigned === 0 && this.opts.member !== true && now - st.lastAssignmentChange > (this.opts.unassignedAfterMs ?? 30_000)) {
      reasons.push(`the consumer has held no partitions for ${secs(now - st.lastAssignmentChange)} s`);
    }
    const down = this.kafka.unreachableForMs(now);
    if (down > this.opts.kafkaUnreachableAfterMs) {
      const e = this.kafka.error;
      const what = this.kafka.everAnswered ? `Kafka has not answered for ${secs(down)} s` : `Kafka has not answered since the start ${secs(down)} s ago`;
      reasons.push(e === null ? what : `${what} (${e.broker}: ${e.error})`);
    }
    const since = this.metrics.sinkFailingSince;
    if (since !== null) {
      reasons.push(
        this.metrics.sinkStalled
          ? `a PostgreSQL write has been running for ${secs(now - since)} s (longer than --sink-stall-timeout)`
          : `PostgreSQL writes are failing (for ${secs(now - since)} s); fetching is paused`,
      );
    }
    if (this.metrics.checkpointFailuresInRow > 0) {
      reasons.push(`the last ${this.metrics.checkpointFailuresInRow} checkpoint(s) failed; the previous snapshot is in force`);
    }
    return { status: reasons.length === 0 ? 'ok' : 'unavailable', reasons };
  }

  health(now = Date.now()): HealthReport {
    const live = this.livez();
    const ready = this.readyz(now);
    const m = this.metrics;
    const reasons = [...new Set([...live.reasons, ...ready.reasons])];
    return {
      status: reasons.length === 0 ? 'ok' : 'unhealthy',
      live,
      ready,
      reasons,
      uptimeSeconds: secs(now - m.startedAt),
      assignedPartitions: this.engine.status().assigned,
      kafkaUnreachableSeconds: secs(this.kafka.unreachableForMs(now)),
      sinkFailingSeconds: m.sinkFailingSince === null ? 0 : secs(now - m.sinkFailingSince),
      lastCheckpointAgeSeconds: m.lastCheckpointAt === null ? null : secs(now - m.lastCheckpointAt),
    };
  }
}
