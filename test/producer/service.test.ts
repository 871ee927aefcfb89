/**
 * The weather producer service against the real broker: the API's message is read back
 * with the contract's fields, the loop produces on schedule, Kafka being down gives 503
 * and the service recovers when it comes back, and bad requests get JSON errors.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from 'kafkajs';
import { KAFKA_BROKER, createTopics, kafka, uniqueName } from '../helpers.js';
import { startWeatherService, type WeatherService } from '../../src/producer/service.js';
import { weatherProducerConfig } from '../../src/producer/config.js';
import { ConfigError } from '../../src/common/errors.js';

const FIELDS = ['timestamp', 'temperature', 'humidity', 'pressure', 'wind_speed', 'wind_direction', 'weather_condition', 'location'];

async function readMessages(c: Consumer, topic: string, count: number, timeoutMs = 20_000): Promise<{ key: string; value: Record<string, unknown>; partition: number; offset: string; at: number }[]> {
  const out: { key: string; value: Record<string, unknown>; partition: number; offset: string; at: number }[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} messages`)), timeoutMs);
    c.run({
      eachMessage: async ({ message, partition }) => {
        out.push({ key: message.key!.toString(), value: JSON.parse(message.value!.toString()), partition, offset: message.offset, at: Number(message.timestamp) });
        if (out.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  return out;
}

async function post(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/weather/generate`, { method: 'POST', headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Whether a TCP connection to host:port opens. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000, () => s.destroy());
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => resolve(false));
  });
}

test('POST /api/v1/weather/generate produces a message a consumer reads back with the contract fields', async (t) => {
  const topic = uniqueName('weather');
  const { cleanup } = await createTopics([topic], 3);
  const consumer = kafka('weather-test').consumer({ groupId: uniqueName('g') });
  const holder: { svc?: WeatherService; proxy?: net.Server } = {};
  t.after(async () => {
    await holder.svc?.close();
    await consumer.disconnect();
    await cleanup();
  });
  const svc = (holder.svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 0 }));
  const r = await post(svc.port);
  assert.equal(r.status, 201);
  assert.equal(r.body.status, 'success');
  assert.equal(r.body.topic, topic);
  const msg = r.body.message as Record<string, unknown>;
  assert.deepEqual(Object.keys(msg), FIELDS);
  const [read] = await readMessages(consumer, topic, 1);
  assert.equal(read.key, 'weather');
  assert.deepEqual(read.value, msg);
  assert.equal(read.partition, r.body.partition);
  assert.equal(read.offset, r.body.offset);
  assert.ok(Math.abs(Date.parse(msg.timestamp as string) - Date.now()) < 60_000);

  const health = await fetch(`http://127.0.0.1:${svc.port}/health`);
  assert.equal(health.status, 200);
  const h = (await health.json()) as Record<string, unknown>;
  assert.equal(h.status, 'healthy');
  assert.equal(h.service, 'weather-producer');
  assert.equal(h.topic, topic);
  assert.equal((h.kafka as Record<string, unknown>).reachable, true);
});

test('the background loop produces one message per interval', async (t) => {
  const topic = uniqueName('weather_loop');
  const { cleanup } = await createTopics([topic], 1);
  const consumer = kafka('weather-test').consumer({ groupId: uniqueName('g') });
  const holder: { svc?: WeatherService; proxy?: net.Server } = {};
  t.after(async () => {
    await holder.svc?.close();
    await consumer.disconnect();
    await cleanup();
  });
  const started = Date.now();
  const svc = (holder.svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 400 }));
  const msgs = await readMessages(consumer, topic, 5);
  await svc.close();
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 5 * 400 - 50, `5 messages after ${elapsed} ms`);
  const times = msgs.map((m) => Date.parse(m.value.timestamp as string));
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    assert.ok(gap > 250 && gap < 800, `gap ${gap} ms between messages ${i - 1} and ${i}`);
  }
  for (const m of msgs) assert.deepEqual(Object.keys(m.value), FIELDS);
});

test('Kafka down: 503 with a clear error, the service keeps running, and recovers when Kafka returns', async (t) => {
  // A port with nothing behind it stands for the broker; later a TCP proxy to the real
  // broker starts listening there (bootstrap goes through it; the broker's advertised
  // address is used after that).
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const topic = uniqueName('weather_down');
  const { cleanup } = await createTopics([topic], 1);
  const holder: { svc?: WeatherService; proxy?: net.Server } = {};
  const sockets = new Set<net.Socket>();
  t.after(async () => {
    await holder.svc?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (holder.proxy ? holder.proxy.close(() => r()) : r()));
    await cleanup();
  });
  const svc = (holder.svc = await startWeatherService({ brokers: [`127.0.0.1:${port}`], topic, port: 0, intervalMs: 0, produceTimeoutMs: 3000 }));
  const t0 = Date.now();
  const down = await post(svc.port);
  assert.equal(down.status, 503);
  assert.equal(down.body.error, 'kafka_unavailable');
  assert.match(down.body.message as string, /Kafka is not reachable/);
  assert.ok(Date.now() - t0 < 6000, 'answers within seconds');
  const h = (await (await fetch(`http://127.0.0.1:${svc.port}/health`)).json()) as Record<string, unknown>;
  assert.equal(h.status, 'degraded');
  assert.equal((h.kafka as Record<string, unknown>).reachable, false);

  const [bhost, bport] = KAFKA_BROKER.split(':');
  const proxy = (holder.proxy = net.createServer((client) => {
    const upstream = net.connect({ host: bhost, port: Number(bport) });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }));
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', () => r()));
  let up = await post(svc.port);
  for (let i = 0; i < 10 && up.status !== 201; i++) {
    await new Promise((r) => setTimeout(r, 500));
    up = await post(svc.port);
  }
  assert.equal(up.status, 201);
  assert.equal(up.body.topic, topic);
});

test('wrong methods get 405 with Allow, unknown routes 404, both as JSON', async (t) => {
  const svc = await startWeatherService({ brokers: ['127.0.0.1:1'], topic: 'unused', port: 0, intervalMs: 0 });
  t.after(() => svc.close());
  const get = await fetch(`http://127.0.0.1:${svc.port}/api/v1/weather/generate`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal(((await get.json()) as Record<string, unknown>).error, 'method_not_allowed');
  const del = await fetch(`http://127.0.0.1:${svc.port}/health`, { method: 'DELETE' });
  assert.equal(del.status, 405);
  assert.equal(del.headers.get('allow'), 'GET');
  await del.body?.cancel();
  const nf = await fetch(`http://127.0.0.1:${svc.port}/nope`);
  assert.equal(nf.status, 404);
  assert.match(nf.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(((await nf.json()) as Record<string, unknown>).error, 'not_found');
});

test('configuration from the environment: defaults, and one clear error per wrong setting', () => {
  assert.deepEqual(weatherProducerConfig({}), {
    brokers: ['127.0.0.1:9092'],
    topic: 'smartgrid-weather-data',
    port: 5006,
    host: '127.0.0.1',
    intervalMs: 60_000,
    topicPartitions: 3,
    createTopic: true,
    generateRateLimit: { perSecond: 10, burst: 20 },
  });
  assert.equal(weatherProducerConfig({ WEATHER_HOST: '0.0.0.0' }).host, '0.0.0.0');
  assert.equal(weatherProducerConfig({ WEATHER_HOST: '::' }).host, '::');
  assert.equal(weatherProducerConfig({ WEATHER_HOST: 'weather.internal' }).host, 'weather.internal');
  assert.equal(weatherProducerConfig({ WEATHER_API_TOKEN: 'a'.repeat(16) }).apiToken, 'a'.repeat(16));
  assert.deepEqual(weatherProducerConfig({ WEATHER_GENERATE_RATE: '0.5', WEATHER_GENERATE_BURST: '3' }).generateRateLimit, { perSecond: 0.5, burst: 3 });
  assert.equal(weatherProducerConfig({ WEATHER_GENERATE_RATE: '0' }).generateRateLimit, null, '0 turns the limit off');
  assert.equal(weatherProducerConfig({ WEATHER_TOPIC_PARTITIONS: '6' }).topicPartitions, 6);
  assert.equal(weatherProducerConfig({ WEATHER_CREATE_TOPIC: 'false' }).createTopic, false);
  assert.equal(weatherProducerConfig({ WEATHER_UPDATE_INTERVAL: '0.5' }).intervalMs, 500);
  for (const [k, v] of [
    ['WEATHER_UPDATE_INTERVAL', 'soon'],
    ['WEATHER_UPDATE_INTERVAL', '0'],
    ['KAFKA_BROKER', 'kafka'],
    ['WEATHER_PRODUCER_PORT', '70000'],
    ['KAFKA_TOPIC_WEATHER', 'a topic'],
    ['WEATHER_TOPIC_PARTITIONS', '0'],
    ['WEATHER_CREATE_TOPIC', 'maybe'],
    ['WEATHER_HOST', 'a host'],
    ['WEATHER_HOST', 'http://0.0.0.0'],
    ['WEATHER_API_TOKEN', 'too-short'],
    ['WEATHER_API_TOKEN', 'has a space in it, 16+ chars'],
    ['WEATHER_API_TOKEN_FILE', '/nonexistent/token'],
    ['WEATHER_GENERATE_RATE', '-1'],
    ['WEATHER_GENERATE_RATE', 'fast'],
    ['WEATHER_GENERATE_RATE', '1e9'],
    ['WEATHER_GENERATE_BURST', '0'],
    ['WEATHER_GENERATE_BURST', '1.5'],
  ] as const) {
    assert.throws(() => weatherProducerConfig({ [k]: v }), (e: unknown) => e instanceof ConfigError && e.setting === k && e.message.startsWith(k));
  }
});

test('the API token comes from WEATHER_API_TOKEN_FILE without its trailing newline; both variables at once is an error', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weather-token-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  await writeFile(file, '0123456789abcdef0123\n');
  assert.equal(weatherProducerConfig({ WEATHER_API_TOKEN_FILE: file }).apiToken, '0123456789abcdef0123');
  assert.throws(
    () => weatherProducerConfig({ WEATHER_API_TOKEN_FILE: file, WEATHER_API_TOKEN: '0123456789abcdef0123' }),
    (e: unknown) => e instanceof ConfigError && e.setting === 'WEATHER_API_TOKEN_FILE',
  );
  await writeFile(file, 'short\n');
  assert.throws(
    () => weatherProducerConfig({ WEATHER_API_TOKEN_FILE: file }),
    (e: unknown) => e instanceof ConfigError && e.setting === 'WEATHER_API_TOKEN_FILE' && !e.message.includes('short'),
  );
});

test('listens on 127.0.0.1 by default, not on the other interfaces', async (t) => {
  const svc = await startWeatherService({ brokers: ['127.0.0.1:1'], topic: 'unused', port: 0, intervalMs: 0 });
  t.after(() => svc.close());
  assert.equal(svc.host, '127.0.0.1');
  assert.equal(await connects('127.0.0.1', svc.port), true);
  // Any address of this machine that is not loopback must refuse (when there is one).
  const other = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a !== undefined && !a.internal && a.family === 'IPv4');
  if (other === undefined) t.diagnostic('no non-loopback IPv4 address here: only the bound address is checked');
  else assert.equal(await connects(other.address, svc.port), false, `${other.address}:${svc.port} must not accept connections`);
});

test('with an API token, generate answers 401 without it or with a wrong one and 201 with it; /health stays open', async (t) => {
  const topic = uniqueName('weather_auth');
  const { cleanup } = await createTopics([topic], 1);
  const consumer = kafka('weather-test').consumer({ groupId: uniqueName('g') });
  const holder: { svc?: WeatherService } = {};
  t.after(async () => {
    await holder.svc?.close();
    await consumer.disconnect();
    await cleanup();
  });
  const token = 'c0ffee'.repeat(4);
  const svc = (holder.svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 0, apiToken: token }));
  for (const headers of [{}, { authorization: `Bearer ${'c0ffee'.repeat(3)}c0ffef` }, { authorization: `Bearer ${token}x` }, { authorization: token }, { authorization: `Basic ${token}` }] as Record<string, string>[]) {
    const r = await post(svc.port, headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.body.error, 'unauthorized');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
  }
  const ok = await post(svc.port, { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 201);
  // Only the authorised request reached the topic.
  const [read] = await readMessages(consumer, topic, 1);
  assert.deepEqual(read.value, ok.body.message);
  assert.equal(read.offset, '0');
  assert.equal(svc.stats.produced, 1);
  assert.equal((await fetch(`http://127.0.0.1:${svc.port}/health`)).status, 200);
});

test('over the rate limit, generate answers 429 with Retry-After and produces nothing', async (t) => {
  const topic = uniqueName('weather_rate');
  const { cleanup } = await createTopics([topic], 1);
  const holder: { svc?: WeatherService } = {};
  t.after(async () => {
    await holder.svc?.close();
    await cleanup();
  });
  // One request per 10 s with a burst of 2: however slow this machine, the third of six
  // requests arrives before a token comes back.
  const svc = (holder.svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 0, generateRateLimit: { perSecond: 0.1, burst: 2 } }));
  const answers = await Promise.all(Array.from({ length: 6 }, () => post(svc.port)));
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [201, 201, 429, 429, 429, 429]);
  for (const a of answers.filter((x) => x.status === 429)) {
    assert.equal(a.body.error, 'rate_limited');
    const after = Number(a.headers.get('retry-after'));
    assert.ok(Number.isInteger(after) && after >= 1 && after <= 10, `Retry-After ${a.headers.get('retry-after')}`);
  }
  assert.equal(svc.stats.produced, 2);
});
