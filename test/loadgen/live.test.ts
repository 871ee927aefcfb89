/**
 * The load generator for live runs (issue #13 item 7): `--start now`, event time that
 * follows the wall clock in --duration mode (1/rate per event), and accurate pacing at low
 * rates, with events reaching Kafka while the run goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseLoadgenArgs, parseStart } from '../../loadgen/config.js';
import { runLoad } from '../../loadgen/run.js';
import { ConfigError } from '../../src/common/errors.js';
import { createTopics, KAFKA_BROKER, uniqueName } from '../helpers.js';

test('--start now, now-D and ISO times', () => {
  const now = Date.UTC(2027, 0, 1, 12, 0, 0);
  assert.equal(parseStart('now', now), now);
  assert.equal(parseStart('now-6h', now), now - 6 * 3_600_000);
  assert.equal(parseStart('now-90s', now), now - 90_000);
  assert.equal(parseStart('2026-11-28T00:00:00Z', now), Date.UTC(2026, 10, 28));
  assert.throws(() => parseStart('tomorrow', now), (e: unknown) => e instanceof ConfigError && e.setting === '--start');
  assert.throws(() => parseStart('now-', now), ConfigError);
  const before = Date.now();
  const cfg = parseLoadgenArgs(['--start', 'now', '--duration', '3s', '--rate', '50', '--no-kafka', '--file', '/dev/null'], {});
  assert.ok(cfg.run.generate.startMs! >= before && cfg.run.generate.startMs! <= Date.now());
});

test('--duration 3s --rate 50: about 150 events in about 3 s, event time following the wall clock, in Kafka while it runs', { timeout: 60_000 }, async (t) => {
  const topics = { sensor: uniqueName('lg-live-s'), meter: uniqueName('lg-live-m'), weather: uniqueName('lg-live-w') };
  const { admin, cleanup } = await createTopics(Object.values(topics), 1);
  t.after(cleanup);
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-live-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'events.ndjson');
  const cfg = parseLoadgenArgs(
    ['--start', 'now', '--duration', '3s', '--rate', '50', '--partitions', '1', '--file', file, '--brokers', KAFKA_BROKER,
      '--topic-sensor', topics.sensor, '--topic-meter', topics.meter, '--topic-weather', topics.weather, '--quiet'],
    {},
  );
  const startMs = cfg.run.generate.startMs!;
  const inKafka = async () => {
    let n = 0;
    for (const topic of Object.values(topics)) for (const o of await admin.fetchTopicOffsets(topic)) n += Number(o.high);
    return n;
  };
  const t0 = Date.now();
  const running = runLoad(cfg.run);
  await new Promise((r) => setTimeout(r, 1500));
  const midway = await inKafka();
  const summary = await running;
  const elapsed = Date.now() - t0;

  assert.equal(summary.events, 150, 'one event per 20 ms for 3 s');
  assert.ok(elapsed >= 2800 && elapsed < 4500, `took ${elapsed} ms`);
  assert.ok(midway >= 40 && midway <= 110, `${midway} events in Kafka after 1.5 s: sent as they are made, not at the end`);
  assert.equal(await inKafka(), 150);
  // Event time: the first event at the start, then 20 ms per event (= the wall clock).
  const times = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse((JSON.parse(l) as { value: string }).value) as { timestamp: string }).timestamp)
    .map((ts) => Date.parse(/(Z|[+-]\d\d:\d\d)$/.test(ts) ? ts : ts + 'Z')); // no zone means UTC (contract section 1)
  assert.equal(times.length, 150);
  const span = Math.max(...times) - Math.min(...times);
  assert.ok(Math.abs(Math.min(...times) - startMs) <= 20, 'starts now');
  assert.ok(span >= 2900 && span <= 3000, `event time spans ${span} ms, as the wall clock did`);
  assert.ok(Math.max(...times) <= Date.now(), 'never ahead of the wall clock');
});
