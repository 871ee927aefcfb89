/**
 * Settings of the weather producer, from environment variables (contract section 6): a
 * table of options read with the options kit (src/common/options.ts), as the engine's.
 * The entry point passes `process.env` in; nothing here reads it.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../common/errors.js';
import { anyText, bool, brokers, hostName, int, number, option, optionsHelp, optionsOf, readConfig, topicName, type Env, type Reader } from '../common/options.js';
import { STREAMS } from '../common/streams.js';
import type { WeatherServiceOptions } from './service.js';

export type WeatherProducerEnv = Env;

/** A token shorter than this is refused: it would be guessed (there is no lock-out, only the rate limit). */
export const MIN_API_TOKEN_LENGTH = 16;

const env = <T>(name: string, def: string, parse: (raw: string) => T, help: string) => option({ env: name, def, parse, help });
const topic = STREAMS.weather.topic;

/** The producer's settings in the README's order; an empty variable counts as unset. */
const producerOptions = (read: Reader): Omit<WeatherServiceOptions, 'logger'> => {
  const kafka = read(env('KAFKA_BROKER', '127.0.0.1:9092', brokers, 'Kafka bootstrap servers'));
  const weatherTopic = read(env(topic.env, topic.def, topicName, 'topic it writes to'));
  const intervalS = read(env('WEATHER_UPDATE_INTERVAL', '60', number(0, 86_400, true), 'seconds between background messages'));
  const port = read(env('WEATHER_PRODUCER_PORT', '5006', int(0, 65535), 'HTTP port'));
  const topicPartitions = read(env('WEATHER_TOPIC_PARTITIONS', '3', int(1, 10_000), 'partitions of the topic it creates'));
  const createTopic = read(env('WEATHER_CREATE_TOPIC', 'true', bool, 'create the topic when missing'));
  const host = read(env('WEATHER_HOST', '127.0.0.1', hostName, 'address the HTTP server listens on (0.0.0.0 for every interface)'));
  const token = read(env('WEATHER_API_TOKEN', '', anyText, 'when set, POST /api/v1/weather/generate needs Authorization: Bearer <token>'));
  const tokenFile = read(env('WEATHER_API_TOKEN_FILE', '', anyText, 'file holding the token instead (Docker secrets)'));
  const rate = read(env('WEATHER_GENERATE_RATE', '10', number(0, 100_000), 'generate requests per second (0 = no limit)'));
  const burst = read(env('WEATHER_GENERATE_BURST', '20', int(1, 1_000_000), 'generate requests allowed at once after a quiet period'));
  const apiToken = apiTokenOf(token, tokenFile.trim());
  return {
    brokers: kafka,
    topic: weatherTopic,
    port,
    host,
    intervalMs: Math.round(intervalS * 1000),
    topicPartitions,
    createTopic,
    ...(apiToken === undefined ? {} : { apiToken }),
    generateRateLimit: rate === 0 ? null : { perSecond: rate, burst },
  };
};

const OPTIONS = optionsOf(producerOptions);

/** Every environment variable the weather producer reads. */
export const WEATHER_PRODUCER_ENV_VARS: readonly string[] = OPTIONS.flatMap((o) => (o.env === undefined ? [] : [o.env]));

/** The default of each variable, as the README documents it. */
export const WEATHER_PRODUCER_DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(
  OPTIONS.flatMap((o) => (o.env === undefined || o.def === undefined ? [] : [[o.env, o.def]])),
);

/** The service options for `env`; throws a ConfigError naming the first wrong setting. */
export function weatherProducerConfig(e: WeatherProducerEnv): Omit<WeatherServiceOptions, 'logger'> {
  return readConfig(producerOptions, [], e, { emptyEnv: 'unset' });
}

export function producerHelp(): string {
  return ['Usage: npm run weather-producer      (or: node dist/src/producer/weather-producer.js)', '', 'Settings (environment only):', ...optionsHelp(OPTIONS), '  --help, --version'].join('\n');
}

/** The API token from WEATHER_API_TOKEN or the file WEATHER_API_TOKEN_FILE names (one of them), or undefined. */
function apiTokenOf(inline: string, file: string): string | undefined {
  if (inline !== '' && file !== '') throw new ConfigError('WEATHER_API_TOKEN_FILE', 'set either WEATHER_API_TOKEN or WEATHER_API_TOKEN_FILE, not both');
  let token: string;
  let setting: string;
  if (file !== '') {
    setting = 'WEATHER_API_TOKEN_FILE';
    try {
      // A secret file usually ends with a newline; that is not part of the token.
      token = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : String(e);
      throw new ConfigError(setting, `cannot read ${file}: ${code}`, { cause: e });
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
