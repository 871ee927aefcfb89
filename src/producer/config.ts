/**
 * Settings of the weather producer, from environment variables (contract section 6).
 * The entry point passes `process.env` in; nothing here reads it.
 */
import { ConfigError } from '../main/errors.js';
import type { WeatherServiceOptions } from './service.js';

/** Every environment variable the weather producer reads. */
export const WEATHER_PRODUCER_ENV_VARS = [
  'KAFKA_BROKER',
  'KAFKA_TOPIC_WEATHER',
  'WEATHER_UPDATE_INTERVAL',
  'WEATHER_PRODUCER_PORT',
  'WEATHER_TOPIC_PARTITIONS',
  'WEATHER_CREATE_TOPIC',
] as const;
export type WeatherProducerEnv = Partial<Record<(typeof WEATHER_PRODUCER_ENV_VARS)[number], string>>;

export const WEATHER_PRODUCER_DEFAULTS = {
  KAFKA_BROKER: '127.0.0.1:9092',
  KAFKA_TOPIC_WEATHER: 'smartgrid-weather-data',
  WEATHER_UPDATE_INTERVAL: '60',
  WEATHER_PRODUCER_PORT: '5006',
  WEATHER_TOPIC_PARTITIONS: '3',
  WEATHER_CREATE_TOPIC: 'true',
} as const;

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
  return { brokers, topic, port, intervalMs: Math.round(interval * 1000), topicPartitions, createTopic };
}
