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
import { EngineMetrics } from './metrics.js';
import { createPool, type AggregatePool } from './pool.js';
import { PgSink } from './sink.js';
import { backoff, sleep } from './signal.js';
import type { Server } from 'node:http';
import { serverPort, startHttpServer } from './http.js';

/** /health turns unhealthy when PostgreSQL writes have failed for longer than this. */
export const HEALTH_SINK_FAILURE_MS = 60000;

export interface App {
  engine: Engine;
  /** The port /metrics and /health listen on, once running. */
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
    },
    log.child('kafka'),
  );
  source.subscribeTo([config.topics.sensor, config.topics.meter, config.topics.weather]);
  const checkpoints = new CheckpointStore(
    join(config.checkpointDir, config.groupId),
    config.checkpointsKept,
    log.child('checkpoint'),
  );
  const engine = new Engine(config, { source, sink, pool, checkpoints, metrics, log });
  let server: Server | null = null;
  return {
    engine,
    metrics,
    sink,
    pool,
    httpPort: () => (server === null ? null : serverPort(server)),
    async run() {
      server = await startHttpServer(engine, metrics, config.metricsPort, { sinkFailureMs: HEALTH_SINK_FAILURE_MS }).catch((e: unknown) => {
        throw new SmartGridError('CONFIG_INVALID', `cannot serve /metrics on port ${config.metricsPort}`, { cause: e });
      });
      log.info('serving /metrics and /health', { port: serverPort(server) });
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
