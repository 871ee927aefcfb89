/**
 * Wiring: builds the engine and its parts from a configuration. Used by the CLI and by
 * tests that run the engine in-process.
 */
import { join } from 'node:path';
import { CheckpointStore } from './checkpoint.js';
import type { EngineConfig } from './config.js';
import { Engine } from './engine.js';
import { describeError, SmartGridError } from './errors.js';
import { KafkaSource } from './kafka-source.js';
import type { Logger } from './log.js';
import { EngineMetrics, registerEngineMetrics } from './metrics.js';
import { KafkaReachability, Probes } from './health.js';
import type { RecordSource } from './source.js';
import { createPool, type AggregatePool } from './pool.js';
import { PgSink } from './sink.js';
import { backoff, sleep } from './signal.js';
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
  close(): Promise<void>;
}

export function createApp(config: EngineConfig, log: Logger): App {
  const metrics = new EngineMetrics();
  const reachability = new KafkaReachability(log.child('kafka'));
  const sink = new PgSink(config.postgres, log.child('sink'));
  const pool = createPool(config.workers);
  const source = new KafkaSource(
    {
      brokers: config.kafkaBrokers,
      groupId: config.groupId,
      fromBeginning: config.startingOffsets === 'earliest',
      maxBytesPerPartition: config.maxBytesPerPartition,
      maxBytes: config.maxBytes,
      maxWaitMs: config.maxWaitMs,
      partitionsConcurrency: config.partitionsConcurrency,
      sessionTimeoutMs: config.sessionTimeoutMs,
      reachability,
    },
    log.child('kafka'),
  );
  source.subscribeTo([config.topics.sensor, config.topics.meter, config.topics.weather]);
  let probes: Probes | null = null;
  // The probes learn of assignments by watching the engine's source, so the engine needs no hook.
  const watched: RecordSource = {
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
      }),
    seek: (t, p, o) => source.seek(t, p, o),
    pause: () => source.pause(),
    commit: (o) => source.commit(o),
    stop: () => source.stop(),
  };
  const checkpoints = new CheckpointStore(
    join(config.checkpointDir, config.groupId),
    config.checkpointsKept,
    log.child('checkpoint'),
  );
  const engine = new Engine(config, { source: watched, sink, pool, checkpoints, metrics, log });
  probes = new Probes(engine, metrics, reachability, { kafkaUnreachableAfterMs: config.kafkaUnreachableAfterMs });
  const ready = probes;
  registerEngineMetrics(metrics, {
    status: () => engine.status(),
    kafkaUnreachableSeconds: (now) => reachability.unreachableForMs(now) / 1000,
    ready: (now) => ready.readyz(now).status === 'ok',
    healthy: (now) => ready.health(now).status === 'ok',
  });
  let server: Server | null = null;
  return {
    engine,
    probes,
    metrics,
    sink,
    pool,
    httpPort: () => (server === null ? null : serverPort(server)),
    async run() {
      server = await startHttpServer(ready, metrics, config.metricsPort).catch((e: unknown) => {
        throw new SmartGridError('CONFIG_INVALID', `cannot serve /metrics on port ${config.metricsPort}`, { cause: e });
      });
      log.info('serving /metrics, /livez, /readyz and /health', { port: serverPort(server) });
      await initSink(sink, log, 60000);
      await engine.run();
    },
    async close() {
      if (server !== null) await new Promise((r) => server!.close(r));
      await pool.close().catch(() => {});
      await sink.close().catch(() => {});
    },
  };
}

async function initSink(sink: PgSink, log: Logger, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await sink.init();
      return;
    } catch (e) {
      const retry = e instanceof SmartGridError && e.canRetry && Date.now() < until;
      if (!retry) throw e;
      const wait = backoff(attempt, 5000);
      log.warn('PostgreSQL is not ready; retrying', { retryInMs: wait, error: describeError(e) });
      await sleep(wait);
    }
  }
}
