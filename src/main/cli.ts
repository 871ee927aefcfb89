#!/usr/bin/env node
/**
 * Entry point of the engine (`npm start`). The only place that reads process.argv and
 * process.env; everything below takes typed options.
 */
import { join } from 'node:path';
import { CheckpointStore } from './checkpoint.js';
import { helpText, loadConfig, type EngineConfig } from './config.js';
import { Engine } from './engine.js';
import { ConfigError, describeError, SmartGridError } from './errors.js';
import { KafkaSource } from './kafka-source.js';
import { createLogger, type Logger } from './log.js';
import { EngineMetrics } from './metrics.js';
import { createPool } from './pool.js';
import { PgSink } from './sink.js';
import { backoff, sleep } from './signal.js';
import { startProgressLog } from './progress.js';

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

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: EngineConfig;
  try {
    const parsed = loadConfig(argv, env);
    if (parsed.help) {
      process.stdout.write(helpText() + '\n');
      return 0;
    }
    config = parsed.config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`error: invalid configuration: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  const log = createLogger({ level: config.logLevel, json: config.logFormat === 'json' });
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
    },
    log.child('kafka'),
  );
  source.subscribeTo([config.topics.sensor, config.topics.meter, config.topics.weather]);
  const checkpoints = new CheckpointStore(join(config.checkpointDir, config.groupId), config.checkpointsKept, log.child('checkpoint'));
  const engine = new Engine(config, { source, sink, pool, checkpoints, metrics, log });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting without a final checkpoint', { signal: sig });
      process.exit(130);
    }
    log.info('stopping: finishing in-flight batches, writing final windows, checkpointing', { signal: sig });
    engine.stop().catch((e: unknown) => log.error('graceful stop failed', { error: describeError(e) }));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log.info('starting', {
    brokers: config.kafkaBrokers.join(','),
    topics: config.topics,
    postgres: `${config.postgres.host}:${config.postgres.port}/${config.postgres.database}`,
    groupId: config.groupId,
    workers: config.workers,
    availableNow: config.availableNow,
  });
  const progress = startProgressLog(engine, metrics, config.progressIntervalMs, log);
  try {
    await initSink(sink, log, 60000);
    await engine.run();
    log.info('stopped');
    return 0;
  } catch (e) {
    const code = e instanceof SmartGridError ? e.code : 'INTERNAL';
    log.error('engine stopped on an error', { code, error: describeError(e) });
    return code === 'CONFIG_INVALID' ? 2 : 1;
  } finally {
    progress.stop();
    await pool.close().catch(() => {});
    await sink.close().catch(() => {});
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fatal: ${describeError(e)}\n`);
    process.exit(1);
  },
);
