/**
 * The engine against an independent computation at scale: the load generator produces
 * 200k events (out-of-order, late and bad records of every kind, lenient timestamp and
 * number forms) and computes, in exact decimal arithmetic of its own, the rows the
 * engine must write. The engine's tables must match them digit for digit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../loadgen/index.js';
import { createApp } from '../../src/main/app.js';
import { loadConfig } from '../../src/main/config.js';
import { silentLogger } from '../../src/common/log.js';
import { createSchema, createTopics, KAFKA_BROKER, PG, uniqueName } from '../helpers.js';
import { assertTablesMatch } from '../expected-rows.js';

for (const client of ['wire', 'kafkajs'] as const) {
  test(`200k generated events, ${client} client: every row equals the load generator's exact expectation`, { timeout: 240000 }, async (t) => {
    const topics = { sensor: uniqueName('lg-s'), meter: uniqueName('lg-m'), weather: uniqueName('lg-w') };
    const { cleanup } = await createTopics(Object.values(topics), 3);
    t.after(cleanup);
    const db = await createSchema('lg');
    t.after(db.cleanup);
    const dir = await mkdtemp(join(tmpdir(), 'lg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));

    const summary = await runLoad({
      generate: {
        seed: 11, events: 200000, sensors: 400, meters: 150, customers: 40, weatherLocations: 3, spanMs: 24 * 3600000,
        partitions: 3, topics, outOfOrderShare: 0.05, lateShare: 0.005, badShare: 0.01, timestampStyle: 'mixed',
      },
      // Lateness is decided per fetched batch (the watermark a batch is dispatched with), so
      // a record is certainly late only if batches cover little event time: small producer
      // batches and small fetches keep each one to a few minutes of it.
      kafka: { brokers: [KAFKA_BROKER], batchBytes: 16384 },
      expected: true,
    });
    const expected = summary.expected!;
    assert.ok(expected.deadLetters.byReason.late > 0 && expected.deadLetters.byReason.invalid_json > 0);

    const argv = [
      '--available-now', '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port),
      '--postgres-db', PG.database, '--postgres-schema', db.schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter,
      '--topic-weather', topics.weather, '--group-id', uniqueName('lg'), '--checkpoint-dir', dir, '--idle-timeout', '0',
      '--metrics-port', '0', '--progress-interval', '0', '--no-create-topics', '--max-bytes-per-partition', '16kb', '--kafka-client', client,
    ];
    const app = createApp(loadConfig(argv, {}).config, silentLogger);
    try {
      await app.run();
    } finally {
      await app.close();
    }

    await assertTablesMatch(db.client, expected);
    assert.equal(app.metrics.totalIn(), 200000);
  });
}
