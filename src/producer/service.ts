/**
 * The weather producer service (contract section 7): an HTTP API on node:http and a
 * background loop, both producing simulated weather to Kafka with the key `weather`.
 *
 *   POST /api/v1/weather/generate  → 201 {status, message, topic, partition, offset}
 *                                    503 when Kafka cannot take the message
 *   GET  /health                   → 200 {status, service, topic, kafka: {reachable, …}, …}
 *
 * Kafka being down never stops the service: requests answer 503, the loop logs and goes
 * on, and the producer reconnects on the next attempt once the broker is back.
 */
import http from 'node:http';
import net from 'node:net';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { SmartGridError, describeError } from '../main/errors.js';
import { silentLogger, type Logger } from '../main/log.js';
import { WeatherSimulator, type WeatherMessage } from './weather.js';

export const SERVICE_NAME = 'weather-producer';
export const WEATHER_KEY = 'weather';

export interface WeatherServiceOptions {
  /** `host:port` of the Kafka brokers. */
  brokers: string[];
  topic: string;
  /** HTTP port; 0 picks a free one (tests). */
  port: number;
  /** Interface to listen on (default all). */
  host?: string;
  /** Time between background messages (ms); 0 turns the loop off. */
  intervalMs: number;
  logger?: Logger;
  /** The weather source (default: a simulator for 41.98,20.37 with Math.random). */
  simulator?: WeatherSimulator;
  /** Time of a message (default Date.now). */
  clock?: () => number;
  /** How long one produce may take, retries included, before the API answers 503 (default 5 s). */
  produceTimeoutMs?: number;
}

export interface Produced {
  message: WeatherMessage;
  topic: string;
  partition: number;
  offset: string;
}

export interface WeatherService {
  /** The port the HTTP server listens on. */
  readonly port: number;
  /** Produces one message now. Rejects with a KAFKA_UNAVAILABLE error when Kafka is down. */
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

export async function startWeatherService(opts: WeatherServiceOptions): Promise<WeatherService> {
  if (opts.brokers.length === 0) throw new RangeError('options.brokers must name at least one broker');
  if (!(opts.intervalMs >= 0)) throw new RangeError('options.intervalMs must be ≥ 0');
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
    if (route === '/health') {
      void reachable().then((ok) =>
        sendJson(res, 200, {
          status: ok ? 'healthy' : 'degraded',
          service: SERVICE_NAME,
          topic: opts.topic,
          kafka: { reachable: ok, brokers: opts.brokers, lastError: stats.lastError },
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
        log.warn('weather message not produced', { error: describeError(e) });
        sendJson(res, 503, {
          error: 'kafka_unavailable',
          message: `Kafka is not reachable at ${opts.brokers.join(',')}; the message was not produced. Try again later.`,
          detail: describeError(e),
        });
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  log.info('weather producer listening', { port, topic: opts.topic, intervalSeconds: opts.intervalMs / 1000 });

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
      (e: unknown) => log.warn('weather message not produced; will try again at the next interval', { error: describeError(e) }),
    );
    schedule();
  };
  // Connect in the background; failure here only means the first sends will retry it.
  ensureConnected().catch((e: unknown) => log.warn('Kafka not reachable yet', { error: describeError(e) }));
  schedule();

  return {
    port,
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
      log.info('weather producer stopped', { produced: stats.produced });
    },
  };
}
