#!/usr/bin/env node
/**
 * Entry point of the engine (`npm start`). The only place that reads process.argv and
 * process.env; everything below takes typed options.
 */
import { infoRequest } from '../common/options.js';
import { versionLine } from '../common/version.js';
import { createApp } from './app.js';
import { helpText, loadConfig, type EngineConfig } from './config.js';
import { ConfigError, describeError, SmartGridError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { startProgressLog } from './progress.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const info = infoRequest(argv);
  if (info !== null) {
    process.stdout.write(info === 'version' ? versionLine('smartgrid-stream') : helpText() + '\n');
    return 0;
  }
  let config: EngineConfig;
  try {
    config = loadConfig(argv, env).config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`error: invalid configuration: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  const log = createLogger({ level: config.logLevel, json: config.logFormat === 'json' });
  const app = createApp(config, log);
  const { engine, metrics } = app;

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting without a final checkpoint', { signal: sig });
      process.exit(130);
    }
    log.info('stopping: finishing in-flight batches, writing final windows, checkpointing', { signal: sig });
    app.stop().catch((e: unknown) => log.error('graceful stop failed', { error: describeError(e) }));
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
    await app.run();
    log.info('stopped');
    return 0;
  } catch (e) {
    const code = e instanceof SmartGridError ? e.code : 'INTERNAL';
    log.error('engine stopped on an error', { code, error: describeError(e) });
    return code === 'CONFIG_INVALID' ? 2 : 1;
  } finally {
    progress.stop();
    await app.close();
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fatal: ${describeError(e)}\n`);
    process.exit(1);
  },
);
