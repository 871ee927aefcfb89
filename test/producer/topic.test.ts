/**
 * The weather producer on a fresh cluster (issue #13 item 5): it creates its topic when
 * missing, with the configured partitions, whether it starts before the engine or not; with
 * creation turned off, a missing topic is answered as "topic missing", never as "Kafka is
 * not reachable"; a broker that is really down still answers "kafka_unavailable".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWeatherService } from '../../src/producer/service.js';
import { createLogger } from '../../src/common/log.js';
import { KAFKA_BROKER, kafka, uniqueName } from '../helpers.js';

async function post(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/weather/generate`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function health(port: number): Promise<{ status: string; kafka: { reachable: boolean; topicExists: boolean | null } }> {
  return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { status: string; kafka: { reachable: boolean; topicExists: boolean | null } };
}

test('a missing topic is created with the configured partitions; the first POST succeeds', async (t) => {
  const topic = uniqueName('weather-fresh');
  const admin = kafka().admin();
  await admin.connect();
  t.after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });
  assert.ok(!(await admin.listTopics()).includes(topic));
  const svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 0, topicPartitions: 2 });
  t.after(() => svc.close());
  const r = await post(svc.port);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.topic, topic);
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.equal(meta.topics[0].partitions.length, 2);
  const h = await health(svc.port);
  assert.equal(h.status, 'healthy');
  assert.equal(h.kafka.topicExists, true);

  // Deleted behind its back: the next POST says the topic is missing, the one after recreates it.
  await admin.deleteTopics({ topics: [topic] });
  let again = await post(svc.port);
  for (let i = 0; i < 20 && again.status !== 201; i++) {
    assert.equal(again.body.error, 'topic_missing', JSON.stringify(again.body));
    await new Promise((res) => setTimeout(res, 500));
    again = await post(svc.port);
  }
  assert.equal(again.status, 201, 'recreated');
});

test('creation turned off: "topic missing" while Kafka is reachable, in the answer, /health and the log', async (t) => {
  const topic = uniqueName('weather-nocreate');
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ json: true, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const svc = await startWeatherService({ brokers: [KAFKA_BROKER], topic, port: 0, intervalMs: 0, createTopic: false, logger });
  t.after(() => svc.close());
  const r = await post(svc.port);
  assert.equal(r.status, 503);
  assert.equal(r.body.error, 'topic_missing');
  assert.match(String(r.body.message), new RegExp(`Kafka is reachable, but topic ${topic} does not exist`));
  const h = await health(svc.port);
  assert.equal(h.kafka.reachable, true);
  assert.equal(h.kafka.topicExists, false);
  assert.equal(h.status, 'degraded');
  assert.ok(lines.some((l) => l.msg === 'weather message not produced: the topic is missing'), JSON.stringify(lines));
  assert.ok(!lines.some((l) => String(l.msg).includes('Kafka is not reachable')));
  const admin = kafka().admin();
  await admin.connect();
  assert.ok(!(await admin.listTopics()).includes(topic), 'not created');
  await admin.disconnect();
});

test('a broker that is down is still "kafka_unavailable", not "topic_missing"', async (t) => {
  const svc = await startWeatherService({ brokers: ['127.0.0.1:1'], topic: 'unused', port: 0, intervalMs: 0, produceTimeoutMs: 2000 });
  t.after(() => svc.close());
  const r = await post(svc.port);
  assert.equal(r.status, 503);
  assert.equal(r.body.error, 'kafka_unavailable');
});
