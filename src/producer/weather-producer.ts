#!/usr/bin/env node
/**
 * Entry point of the weather producer service (`npm run weather-producer`). Reads the
 * environment (WEATHER_PRODUCER_ENV_VARS), starts the HTTP API and the background loop,
 * and stops gracefully on SIGTERM/SIGINT.
 */
import { versionLine } from '../common/version.js';
import { ConfigError, describeError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { infoRequest, parseArgv } from '../common/options.js';
import { producerHelp, weatherProducerConfig } from './config.js';
import { startWeatherService } from './service.js';

const log = createLogger({ component: 'weather-producer' });

async function main(): Promise<void> {
  let config;
  try {
    const argv = process.argv.slice(2);
    const info = infoRequest(argv);
    if (info !== null) {
      process.stdout.write(info === 'version' ? versionLine('weather-producer') : producerHelp() + '\n');
      process.exit(0);
    }
    // Settings come from the environment only: any argument is a mistake.
    parseArgv(argv, []);
    config = weatherProducerConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`weather-producer: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const service = await startWeatherService({ ...config, logger: log });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    const force = setTimeout(() => {
      log.error('graceful stop took too long; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    service.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('error while stopping', { error: describeError(e) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  log.error('weather producer failed to start', { error: describeError(e) });
  process.exit(1);
});
