/**
 * Wiring: builds the engine and its parts from a configuration. Used by the CLI and by
 * tests that run the engine in-process.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { MemberFence } from './member-sink.js';
import { PartitionStateStore } from './partition-state.js';
import { join } from 'node:path';
import { CheckpointStore } from './checkpoint.js';
import { groupDirName, type EngineConfig } from './config.js';
import { DirLock } from './dir-lock.js';
import { GroupLock } from './group-lock.js';
import { Engine } from './engine.js';
import { describeError, SmartGridError } from '../common/errors.js';
import { STREAM_LIST } from '../common/streams.js';
import { KafkaSource } from './kafka-source.js';
import { WireSource } from './wire-source.js';
import type { Logger } from '../common/log.js';
import { EngineMetrics, registerEngineMetrics } from './metrics.js';
import { KafkaReachability, Probes } from './health.js';
import type { RecordSource } from './source.js';
import { createPool, type AggregatePool } from './pool.js';
import { PgSink, sqlState } from './pg-sink.js';
import { backoff, sleep } from '../common/signal.js';
import type { Server } from 'node:http';
import { serverPort, startHttpServer } from './http.js';

export interface App {
  engine: Engine;
  /** Liveness and readiness (/livez, /readyz, /health). */
  probes: Probes;
  /** The port /metrics and the probes listen on, once running. */
  httpPort(): number | null;
  metrics: EngineMetrics;
  sink: PgSink;
  pool: AggregatePool;
  /** Creates the schema (retrying while PostgreSQL is not ready), then runs the engine. */
  run(): Promise<void>;
  /** Graceful stop at any moment, start-up included. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export function createApp(config: EngineConfig, log: Logger): App {
  const metrics = new EngineMetrics();
  const reachability = new KafkaReachability(log.child('kafka'));
  // --group-member: who this member is in the group's current generation (the engine sets
  // it at each assignment); the sink and the partition snapshots check it in PostgreSQL.
  const fence: MemberFence = { groupId: config.groupId, generation: -1, memberId: '', instanceId: config.instanceId ?? hostname() };
  const sink = new PgSink(config.postgres, log.child('sink'), {
    statementTimeoutMs: config.sinkStatementTimeoutMs,
    ...(config.groupMember ? { fence: () => fence, idleInTransactionTimeoutMs: Math.max(5000, config.sessionTimeoutMs) } : {}),
  });
  // Sorts by start time (fixed-width base 36 milliseconds): the single-instance check
  // lets the earlier of two engines that joined at once keep the group.
  const instanceId = `${Date.now().toString(36).padStart(9, '0')}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const pool = createPool(config.workers);
  const clientId = `smartgrid-stream@${instanceId}`;
  const topics = STREAM_LIST.map((s) => config.topics[s.name]);
  // What both read paths take; each adds its own.
  const common = {
    brokers: config.kafkaBrokers,
    groupId: config.groupId,
    clientId,
    fromBeginning: config.startingOffsets === 'earliest',
    maxBytesPerPartition: config.maxBytesPerPartition,
    maxBytes: config.maxBytes,
    maxWaitMs: config.maxWaitMs,
    reachability,
  };
  const source: RecordSource =
    config.kafkaClient === 'wire'
      ? new WireSource(
          {
            ...common,
            readCommitted: config.isolationLevel === 'read_committed',
            security: config.kafkaSecurity,
            ...(config.groupMember ? { member: { instanceId: fence.instanceId, sessionTimeoutMs: config.sessionTimeoutMs } } : {}),
          },
          log.child('kafka'),
        )
      : new KafkaSource(
          { ...common, partitionsConcurrency: config.partitionsConcurrency, sessionTimeoutMs: config.sessionTimeoutMs, topics },
          log.child('kafka'),
        );
  let probes: Probes | null = null;
  // The probes learn of assignments by watching the engine's source, so the engine needs no hook.
  const watched: RecordSource = {
    clientId: source.clientId,
    groupMembers: () => source.groupMembers(),
    connect: () => source.connect(),
    ensureTopics: (t, c, p) => source.ensureTopics(t, c, p),
    offsets: (t) => source.offsets(t),
    committed: (t) => source.committed(t),
    run: (h) =>
      source.run({
        ...h,
        onAssignment: (a) => {
          probes?.assigned(a.length);
          h.onAssignment(a);
        },
        ...(h.onPartitionsAssigned === undefined
          ? {}
          : {
              onPartitionsAssigned: async (a, generation, memberId) => {
                const from = await h.onPartitionsAssigned!(a, generation, memberId);
                probes?.assigned(a.length);
                return from;
              },
            }),
      }),
    seek: (t, p, o) => source.seek(t, p, o),
    pause: () => source.pause(),
    commit: (o) => source.commit(o),
    stop: () => source.stop(),
  };
  let engine: Engine;
  if (config.groupMember) {
    // State per partition in PostgreSQL, leases instead of the directory and group locks.
    const states = new PartitionStateStore(sink, () => fence, log.child('checkpoint'));
    engine = new Engine(config, {
      source: watched,
      sink,
      pool,
      checkpoints: states,
      metrics,
      log,
      member: { fence, claim: (parts) => states.claim(parts) },
    });
  } else {
    const dir = join(config.checkpointDir, groupDirName(config.groupId));
    const checkpoints = new CheckpointStore(dir, config.checkpointsKept, log.child('checkpoint'));
    const lock = new DirLock(dir, instanceId);
    const groupLock = new GroupLock(config.postgres, config.groupId, instanceId, log.child('lock'));
    engine = new Engine(config, { source: watched, sink, pool, checkpoints, metrics, log, lock, groupLock });
  }
  probes = new Probes(engine, metrics, reachability, { kafkaUnreachableAfterMs: config.kafkaUnreachableAfterMs, member: config.groupMember });
  const ready = probes;
  registerEngineMetrics(metrics, {
    status: () => engine.status(),
    kafkaUnreachableSeconds: (now) => reachability.unreachableForMs(now) / 1000,
    ready: (now) => ready.readyz(now).status === 'ok',
    healthy: (now) => ready.health(now).status === 'ok',
    kafkaClient: config.kafkaClient,
  });
  let server: Server | null = null;
  let stopRequested: (() => void) | null = null;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  return {
    engine,
    probes,
    metrics,
    sink,
    pool,
    httpPort: () => (server === null ? null : serverPort(server)),
    async run() {
      server = await startHttpServer(ready, metrics, config.metricsPort, config.metricsHost).catch((e: unknown) => {
        throw new SmartGridError('CONFIG_INVALID', `cannot serve /metrics on ${config.metricsHost}:${config.metricsPort}`, { cause: e });
      });
      log.info('serving /metrics, /livez, /readyz and /health', { host: config.metricsHost, port: serverPort(server) });
      if (!(await initSink(sink, log, config.startupTimeoutMs, stopped))) {
        log.info('stopped before the engine had started');
        return;
      }
      await engine.run();
    },
    async stop() {
      stopRequested?.();
      await engine.stop();
    },
    async close() {
      if (server !== null) await new Promise((r) => server!.close(r));
      await pool.close().catch(() => {});
      await sink.close().catch(() => {});
    },
  };
}

/**
 * SQLSTATEs that mean the configuration is wrong, not that PostgreSQL is not ready yet:
 * the database does not exist, the password or role is wrong, a permission is missing.
 * At start-up they fail at once; waiting cannot fix them.
 */
const STARTUP_CONFIG_STATES: Record<string, string> = {
  '3D000': 'the database does not exist (check --postgres-db / POSTGRES_DB)',
  '28P01': 'the password was refused (check --postgres-password / POSTGRES_PASSWORD)',
  '28000': 'the role may not connect (check --postgres-user / POSTGRES_USER and pg_hba.conf)',
  '42501': 'the role lacks a permission the engine needs (CREATE on the schema, or on the tables)',
  '3F000': 'the schema does not exist and cannot be created (check --postgres-schema / POSTGRES_SCHEMA)',
};

/**
 * Creates the schema, retrying transient failures (PostgreSQL still starting, network)
 * with backoff until `deadlineMs` has passed. Configuration errors fail at once. Returns
 * false when a stop was requested meanwhile.
 */
async function initSink(sink: PgSink, log: Logger, deadlineMs: number, stopped: Promise<void>): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  let stop = false;
  void stopped.then(() => (stop = true));
  const STOP = Symbol('stop');
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await Promise.race([sink.init(), stopped.then(() => STOP)]);
      return r !== STOP;
    } catch (e) {
      const state = sqlState(e);
      if (state !== null && STARTUP_CONFIG_STATES[state] !== undefined) {
        throw new SmartGridError('POSTGRES_ERROR', `PostgreSQL refused the engine at start-up: ${STARTUP_CONFIG_STATES[state]}`, {
          cause: e,
        });
      }
      const retry = e instanceof SmartGridError && e.canRetry && Date.now() < until;
      if (!retry) {
        if (e instanceof SmartGridError && e.canRetry) {
          throw new SmartGridError('POSTGRES_UNAVAILABLE', `PostgreSQL was not reachable within --startup-timeout (${deadlineMs} ms)`, {
            cause: e,
          });
        }
        throw e;
      }
      const wait = Math.min(backoff(attempt, 5000), Math.max(0, until - Date.now()));
      log.warn('PostgreSQL is not ready; retrying', { retryInMs: wait, error: describeError(e) });
      await Promise.race([sleep(wait), stopped]);
      if (stop) return false;
    }
  }
}
