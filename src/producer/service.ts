/**
 * The weather producer service (contract section 7): an HTTP API on node:http and a
 * background loop, both producing simulated weather to Kafka with the key `weather`.
 *
 *   POST /api/v1/weather/generate  → 201 {status, message, topic, partition, offset}
 *                                    401 {error: unauthorized} without the bearer token (when one is set)
 *                                    429 {error: rate_limited} + Retry-After over the rate limit
 *                                    503 {error: kafka_unavailable | topic_missing, …}
 *   GET  /health                   → 200 {status, service, topic, kafka: {reachable, topicExists, …}, …}
 *
 * The topic is created when missing (`topicPartitions`), at start and whenever a send
 * finds it gone, so the service works on a fresh cluster whoever starts first. "Topic
 * missing" (Kafka answers, the topic is not there and could not or may not be created) and
 * "Kafka unreachable" are told apart in answers and logs.
 *
 * Kafka being down never stops the service: requests answer 503, the loop logs and goes
 * on, and the producer reconnects on the next attempt once the broker is back.
 *
 * It listens on 127.0.0.1 unless told otherwise (a container sets 0.0.0.0): the generate
 * endpoint writes to a production topic, so it is not offered to every interface by default.
 */
import http from 'node:http';
import net from 'node:net';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { SmartGridError, describeError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { WeatherSimulator, type WeatherMessage } from './weather.js';
import { TokenBucket, bearerMatches, type RateLimit } from './guard.js';

export const SERVICE_NAME = 'weather-producer';
export const WEATHER_KEY = 'weather';

export interface WeatherServiceOptions {
  /** `host:port` of the Kafka brokers. */
  brokers: string[];
  topic: string;
  /** HTTP port; 0 picks a free one (tests). */
  port: number;
  /** Address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface). */
  host?: string;
  /** When set, `POST /api/v1/weather/generate` needs `Authorization: Bearer <apiToken>` (else 401). */
  apiToken?: string;
  /** Rate limit of `POST /api/v1/weather/generate` (default 10/s, burst 20); null for none. */
  generateRateLimit?: RateLimit | null;
  /** Time between background messages (ms); 0 turns the loop off. */
  intervalMs: number;
  logger?: Logger;
  /** The weather source (default: a simulator for 41.98,20.37 with Math.random). */
  simulator?: WeatherSimulator;
  /** Time of a message (default Date.now). */
  clock?: () => number;
  /** How long one produce may take, retries included, before the API answers 503 (default 5 s). */
  produceTimeoutMs?: number;
  /** Create the topic when it is missing (default true). */
  createTopic?: boolean;
  /** Partitions of a topic the service creates (default 3, as the engine's --topic-partitions). */
  topicPartitions?: number;
}

export interface Produced {
  message: WeatherMessage;
  topic: string;
  partition: number;
  offset: string;
}

export const DEFAULT_GENERATE_RATE_LIMIT: RateLimit = { perSecond: 10, burst: 20 };

export interface WeatherService {
  /** The port the HTTP server listens on. */
  readonly port: number;
  /** The address the HTTP server listens on. */
  readonly host: string;
  /** Produces one message now. Rejects with KAFKA_UNAVAILABLE when Kafka is down, KAFKA_TOPIC_MISSING when the topic is missing. */
  produceNow(): Promise<Produced>;
  readonly stats: { produced: number; failed: number; lastProducedAt: string | null; lastError: string | null };
  /** Stops the loop and the server, waits for what is in flight, disconnects. */
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function sendJson(res: http.ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

/** Whether a TCP connection to one of the brokers opens within `timeoutMs`. */
function probe(brokers: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let pending = brokers.length;
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      if (ok || --pending === 0) {
        done = true;
        resolve(ok);
      }
    };
    for (const b of brokers) {
      const i = b.lastIndexOf(':');
      const s = net.connect({ host: b.slice(0, i), port: Number(b.slice(i + 1)) });
      s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
      s.once('connect', () => {
        s.destroy();
        finish(true);
      });
      s.once('error', () => finish(false));
    }
  });
}

/** Whether a send failed because the broker does not know the topic. */
function isUnknownTopic(e: unknown): boolean {
  for (let cur = e, depth = 0; cur !== null && cur !== undefined && depth < 6; depth++) {
    const x = cur as { type?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    if (x.type === 'UNKNOWN_TOPIC_OR_PARTITION' || (typeof x.message === 'string' && x.message.includes('does not host this topic-partition'))) return true;
    cur = x.cause ?? x.originalError;
  }
  return false;
}

export async function startWeatherService(opts: WeatherServiceOptions): Promise<WeatherService> {
  if (opts.brokers.length === 0) throw new RangeError('options.brokers must name at least one broker');
  if (!(opts.intervalMs >= 0)) throw new RangeError('options.intervalMs must be ≥ 0');
  if (opts.apiToken !== undefined && !/^[\x21-\x7e]+$/.test(opts.apiToken)) throw new RangeError('options.apiToken must be visible ASCII, without spaces');
  const host = opts.host ?? '127.0.0.1';
  const rateLimit = opts.generateRateLimit === undefined ? DEFAULT_GENERATE_RATE_LIMIT : opts.generateRateLimit;
  const generateLimit = rateLimit === null ? undefined : new TokenBucket(rateLimit);
  const log = opts.logger ?? silentLogger;
  const clock = opts.clock ?? Date.now;
  const sim = opts.simulator ?? new WeatherSimulator({ rng: Math.random });
  const produceTimeoutMs = opts.produceTimeoutMs ?? 5000;
  const kafka = new Kafka({
    clientId: SERVICE_NAME,
    brokers: opts.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: produceTimeoutMs,
    // Few, short retries: a caller waiting on the API should get a 503 within seconds.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
  });
  const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  const createTopic = opts.createTopic ?? true;
  const topicPartitions = opts.topicPartitions ?? 3;
  if (!(Number.isInteger(topicPartitions) && topicPartitions >= 1)) throw new RangeError('options.topicPartitions must be a positive integer');
  /** Whether the topic exists, as last seen; null when not known (not checked yet, or a send found it gone). */
  let topicExists: boolean | null = null;
  let adminConnected: Promise<void> | undefined;
  let checking: Promise<void> | undefined;
  const topicMissing = (why: string, cause?: unknown): SmartGridError =>
    new SmartGridError('KAFKA_TOPIC_MISSING', `Kafka at ${opts.brokers.join(',')} answers, but topic ${opts.topic} does not exist: ${why}`, {
      cause,
      canRetry: true,
    });
  /** Makes sure the topic exists, creating it when allowed. Rejects with KAFKA_TOPIC_MISSING or a connection error. */
  const ensureTopic = (): Promise<void> => {
    checking ??= (async () => {
      adminConnected ??= admin.connect().catch((e: unknown) => {
        adminConnected = undefined;
        throw e;
      });
      await adminConnected;
      if ((await admin.listTopics()).includes(opts.topic)) {
        topicExists = true;
        return;
      }
      topicExists = false;
      if (!createTopic) throw topicMissing('creating it is turned off (WEATHER_CREATE_TOPIC=false)');
      try {
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic: opts.topic, numPartitions: topicPartitions }] });
        log.info('created the weather topic', { topic: opts.topic, partitions: topicPartitions });
      } catch (e) {
        // Someone else (the engine, another producer) created it meanwhile: fine.
        if ((e as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw topicMissing(`creating it failed: ${describeError(e)}`, e);
      }
      topicExists = true;
    })().finally(() => {
      checking = undefined;
    });
    return checking;
  };
  let connected = false;
  let connecting: Promise<void> | undefined;
  producer.on(producer.events.CONNECT, () => {
    connected = true;
  });
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
  });
  const stats: WeatherService['stats'] = { produced: 0, failed: 0, lastProducedAt: null, lastError: null };
  const inflight = new Set<Promise<unknown>>();
  let closing = false;

  const ensureConnected = (): Promise<void> => {
    if (connected) return Promise.resolve();
    connecting ??= producer.connect().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };

  const produceNow = (): Promise<Produced> => {
    if (closing) return Promise.reject(new SmartGridError('SHUTDOWN_TIMEOUT', 'the service is stopping'));
    const message = sim.next(clock());
    const work = (async (): Promise<Produced> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from Kafka within ${produceTimeoutMs} ms`)), produceTimeoutMs);
        });
        await Promise.race([ensureConnected(), timeout]);
        if (topicExists !== true) await Promise.race([ensureTopic(), timeout]);
        const [meta] = await Promise.race([
          producer.send({ topic: opts.topic, acks: -1, messages: [{ key: WEATHER_KEY, value: JSON.stringify(message) }] }),
          timeout,
        ]);
        stats.produced++;
        stats.lastProducedAt = new Date().toISOString();
        stats.lastError = null;
        return { message, topic: meta.topicName, partition: meta.partition, offset: meta.baseOffset ?? meta.offset ?? '' };
      } catch (e) {
        stats.failed++;
        stats.lastError = describeError(e);
        if (e instanceof SmartGridError && e.code === 'KAFKA_TOPIC_MISSING') throw e;
        if (isUnknownTopic(e)) {
          // Deleted since it was seen: check (and create) again at the next attempt.
          topicExists = null;
          throw topicMissing('the broker does not know it (deleted?); it is checked again at the next attempt', e);
        }
        throw new SmartGridError('KAFKA_UNAVAILABLE', `cannot produce to ${opts.topic}: ${describeError(e)}`, { cause: e, canRetry: true });
      } finally {
        clearTimeout(timer);
      }
    })();
    inflight.add(work);
    void work.finally(() => inflight.delete(work)).catch(() => {});
    return work;
  };

  let lastProbe = { at: 0, ok: false };
  const reachable = async (): Promise<boolean> => {
    if (connected && stats.lastError === null) return true;
    if (Date.now() - lastProbe.at > 1000) lastProbe = { at: Date.now(), ok: await probe(opts.brokers, 1000) };
    return lastProbe.ok;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname.replace(/\/+$/, '') || '/';
    const routes: Record<string, string> = { '/api/v1/weather/generate': 'POST', '/health': 'GET' };
    const allowed = routes[route];
    if (allowed === undefined) {
      sendJson(res, 404, { error: 'not_found', message: `no route ${req.method} ${url.pathname}` });
      return;
    }
    if (req.method !== allowed && !(allowed === 'GET' && req.method === 'HEAD')) {
      sendJson(res, 405, { error: 'method_not_allowed', message: `${route} accepts ${allowed} only` }, { allow: allowed });
      return;
    }
    req.resume(); // a body, if any, is not used
    if (route === '/api/v1/weather/generate') {
      // The token first: a caller without it must not use up the rate limit of those with it.
      if (opts.apiToken !== undefined && !bearerMatches(req.headers.authorization, opts.apiToken)) {
        const given = req.headers.authorization !== undefined;
        sendJson(
          res,
          401,
          { error: 'unauthorized', message: given ? 'the bearer token is not valid' : 'this endpoint needs Authorization: Bearer <token>' },
          { 'www-authenticate': given ? 'Bearer realm="weather-producer", error="invalid_token"' : 'Bearer realm="weather-producer"' },
        );
        return;
      }
      const waitMs = generateLimit?.take() ?? 0;
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        sendJson(res, 429, { error: 'rate_limited', message: `too many requests; try again in ${seconds} s`, retryAfterSeconds: seconds }, { 'retry-after': String(seconds) });
        return;
      }
    }
    if (route === '/health') {
      void reachable().then((ok) =>
        sendJson(res, 200, {
          status: ok && topicExists !== false ? 'healthy' : 'degraded',
          service: SERVICE_NAME,
          topic: opts.topic,
          kafka: { reachable: ok, brokers: opts.brokers, topicExists, lastError: stats.lastError },
          intervalSeconds: opts.intervalMs / 1000,
          messagesProduced: stats.produced,
          lastProducedAt: stats.lastProducedAt,
        }),
      );
      return;
    }
    produceNow().then(
      (p) => sendJson(res, 201, { status: 'success', message: p.message, topic: p.topic, partition: p.partition, offset: p.offset }),
      (e: unknown) => {
        const missing = e instanceof SmartGridError && e.code === 'KAFKA_TOPIC_MISSING';
        log.warn(missing ? 'weather message not produced: the topic is missing' : 'weather message not produced: Kafka is not reachable', {
          topic: opts.topic,
          error: describeError(e),
        });
        sendJson(res, 503, {
          error: missing ? 'topic_missing' : 'kafka_unavailable',
          message: missing
            ? `Kafka is reachable, but topic ${opts.topic} does not exist and was not created; the message was not produced.`
            : `Kafka is not reachable at ${opts.brokers.join(',')}; the message was not produced. Try again later.`,
          detail: describeError(e),
        });
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const port = address.port;
  log.info('weather producer listening', {
    port,
    host: address.address,
    topic: opts.topic,
    intervalSeconds: opts.intervalMs / 1000,
    generateNeedsToken: opts.apiToken !== undefined,
    generateRateLimit: rateLimit === null ? 'none' : `${rateLimit.perSecond}/s, burst ${rateLimit.burst}`,
  });

  // The background loop, at a fixed rate (no drift from the time a produce takes).
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;
  const started = Date.now();
  const schedule = (): void => {
    if (closing || opts.intervalMs === 0) return;
    ticks++;
    const due = started + ticks * opts.intervalMs;
    timer = setTimeout(tick, Math.max(0, due - Date.now()));
  };
  const tick = (): void => {
    produceNow().then(
      (p) => log.info('weather message produced', { topic: p.topic, partition: p.partition, offset: p.offset, condition: p.message.weather_condition }),
      (e: unknown) =>
        log.warn(
          e instanceof SmartGridError && e.code === 'KAFKA_TOPIC_MISSING'
            ? 'weather message not produced: the topic is missing; will try again at the next interval'
            : 'weather message not produced: Kafka is not reachable; will try again at the next interval',
          { topic: opts.topic, error: describeError(e) },
        ),
    );
    schedule();
  };
  // Connect and create the topic in the background; a failure here only means the first
  // sends try again.
  ensureConnected()
    .then(() => ensureTopic())
    .catch((e: unknown) =>
      log.warn(e instanceof SmartGridError && e.code === 'KAFKA_TOPIC_MISSING' ? 'the weather topic is missing' : 'Kafka not reachable yet', {
        topic: opts.topic,
        error: describeError(e),
      }),
    );
  schedule();

  return {
    port,
    host: address.address,
    produceNow,
    stats,
    async close() {
      if (closing) return;
      closing = true;
      clearTimeout(timer);
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await Promise.allSettled([...inflight]);
      await closed;
      await producer.disconnect().catch(() => {});
      await checking?.catch(() => {});
      await admin.disconnect().catch(() => {});
      log.info('weather producer stopped', { produced: stats.produced });
    },
  };
}
