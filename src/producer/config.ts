/**
 * Settings of the weather producer, from environment variables (contract section 6).
 * The entry point passes `process.env` in; nothing here reads it.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ConfigError } from '../common/errors.js';
import type { WeatherServiceOptions } from './service.js';

/** Every environment variable the weather producer reads. */
export const WEATHER_PRODUCER_ENV_VARS = [
  'KAFKA_BROKER',
  'KAFKA_TOPIC_WEATHER',
  'WEATHER_UPDATE_INTERVAL',
  'WEATHER_PRODUCER_PORT',
  'WEATHER_TOPIC_PARTITIONS',
  'WEATHER_CREATE_TOPIC',
  'WEATHER_HOST',
  'WEATHER_API_TOKEN',
  'WEATHER_API_TOKEN_FILE',
  'WEATHER_GENERATE_RATE',
  'WEATHER_GENERATE_BURST',
] as const;
export type WeatherProducerEnv = Partial<Record<(typeof WEATHER_PRODUCER_ENV_VARS)[number], string>>;

export const WEATHER_PRODUCER_DEFAULTS = {
  KAFKA_BROKER: '127.0.0.1:9092',
  KAFKA_TOPIC_WEATHER: 'smartgrid-weather-data',
  WEATHER_UPDATE_INTERVAL: '60',
  WEATHER_PRODUCER_PORT: '5006',
  WEATHER_TOPIC_PARTITIONS: '3',
  WEATHER_CREATE_TOPIC: 'true',
  WEATHER_HOST: '127.0.0.1',
  WEATHER_API_TOKEN: '',
  WEATHER_API_TOKEN_FILE: '',
  WEATHER_GENERATE_RATE: '10',
  WEATHER_GENERATE_BURST: '20',
} as const;

/** A token shorter than this is refused: it would be guessed (there is no lock-out, only the rate limit). */
export const MIN_API_TOKEN_LENGTH = 16;

/** The service options for `env`; throws a ConfigError naming the first wrong setting. */
export function weatherProducerConfig(env: WeatherProducerEnv): Omit<WeatherServiceOptions, 'logger'> {
  const get = (k: keyof WeatherProducerEnv): string => {
    const v = env[k];
    return v === undefined || v.trim() === '' ? WEATHER_PRODUCER_DEFAULTS[k] : v.trim();
  };
  const brokers = get('KAFKA_BROKER').split(',').map((b) => b.trim());
  for (const b of brokers) {
    if (!/^[^\s:/]+:\d{1,5}$/.test(b)) throw new ConfigError('KAFKA_BROKER', `"${b}" must be host:port (several separated by commas)`);
  }
  const topic = get('KAFKA_TOPIC_WEATHER');
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) throw new ConfigError('KAFKA_TOPIC_WEATHER', `"${topic}" is not a valid Kafka topic name`);
  const intervalText = get('WEATHER_UPDATE_INTERVAL');
  const interval = Number(intervalText);
  if (!/^\d+(\.\d+)?$/.test(intervalText) || !(interval > 0) || interval > 86_400) {
    throw new ConfigError('WEATHER_UPDATE_INTERVAL', `"${intervalText}" must be a number of seconds, more than 0 and at most 86400`);
  }
  const portText = get('WEATHER_PRODUCER_PORT');
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new ConfigError('WEATHER_PRODUCER_PORT', `"${portText}" must be a TCP port (0–65535)`);
  const partitionsText = get('WEATHER_TOPIC_PARTITIONS');
  const topicPartitions = Number(partitionsText);
  if (!/^\d+$/.test(partitionsText) || topicPartitions < 1 || topicPartitions > 10_000) {
    throw new ConfigError('WEATHER_TOPIC_PARTITIONS', `"${partitionsText}" must be a whole number of partitions from 1 to 10000`);
  }
  const createText = get('WEATHER_CREATE_TOPIC').toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(createText)) throw new ConfigError('WEATHER_CREATE_TOPIC', `"${createText}" must be true or false`);
  const createTopic = ['true', '1', 'yes'].includes(createText);
  const host = get('WEATHER_HOST');
  if (net.isIP(host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) {
    throw new ConfigError('WEATHER_HOST', `"${host}" must be an IP address or a host name (0.0.0.0 for every interface)`);
  }
  const apiToken = apiTokenOf(env);
  const rateText = get('WEATHER_GENERATE_RATE');
  const rate = Number(rateText);
  if (!/^\d+(\.\d+)?$/.test(rateText) || rate > 100_000) {
    throw new ConfigError('WEATHER_GENERATE_RATE', `"${rateText}" must be requests per second, from 0 (no limit) to 100000`);
  }
  const burstText = get('WEATHER_GENERATE_BURST');
  const burst = Number(burstText);
  if (!/^\d+$/.test(burstText) || burst < 1 || burst > 1_000_000) {
    throw new ConfigError('WEATHER_GENERATE_BURST', `"${burstText}" must be a whole number of requests from 1 to 1000000`);
  }
  return {
    brokers,
    topic,
    port,
    host,
    intervalMs: Math.round(interval * 1000),
    topicPartitions,
    createTopic,
    ...(apiToken === undefined ? {} : { apiToken }),
    generateRateLimit: rate === 0 ? null : { perSecond: rate, burst },
  };
}

/** The API token from WEATHER_API_TOKEN or the file WEATHER_API_TOKEN_FILE names (one of them), or undefined. */
function apiTokenOf(env: WeatherProducerEnv): string | undefined {
  const inline = env.WEATHER_API_TOKEN ?? '';
  const file = (env.WEATHER_API_TOKEN_FILE ?? '').trim();
  if (inline !== '' && file !== '') throw new ConfigError('WEATHER_API_TOKEN_FILE', 'set either WEATHER_API_TOKEN or WEATHER_API_TOKEN_FILE, not both');
  let token: string;
  let setting: string;
  if (file !== '') {
    setting = 'WEATHER_API_TOKEN_FILE';
    try {
      // A secret file usually ends with a newline; that is not part of the token.
      token = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new ConfigError(setting, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  } else if (inline !== '') {
    setting = 'WEATHER_API_TOKEN';
    token = inline;
  } else {
    return undefined;
  }
  // Never echo the token itself in the message.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(setting, 'the token must be visible ASCII characters without spaces (it travels in an HTTP header)');
  if (token.length < MIN_API_TOKEN_LENGTH) throw new ConfigError(setting, `the token must have at least ${MIN_API_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`);
  return token;
}
