/**
 * The weather producer service against the real broker: the API's message is read back
 * with the contract's fields, the loop produces on schedule, Kafka being down gives 503
 * and the service recovers when it comes back, and bad requests get JSON errors.
 */
import net from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from 'kafkajs';
import { KAFKA_BROKER, createTopics, kafka, uniqueName } from '../helpers.js';
import { startWeatherService, type WeatherService } from '../../src/producer/service.js';
import { weatherProducerConfig } from '../../src/producer/config.js';
import { ConfigError } from '../../src/main/errors.js';

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

async function post(port: number, path = '/api/v1/weather/generate'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
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
    intervalMs: 60_000,
    topicPartitions: 3,
    createTopic: true,
  });
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
  ] as const) {
    assert.throws(() => weatherProducerConfig({ [k]: v }), (e: unknown) => e instanceof ConfigError && e.setting === k && e.message.startsWith(k));
  }
});
