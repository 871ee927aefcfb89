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

    // The columns hold UTC; print them as the load generator does.
    const ws = (c: string) => `to_char(${c}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    const q = async (sql: string) => (await db.client.query(sql)).rows;
    const sensor = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count::int, stddev_value FROM sensor_aggregates_realtime ORDER BY 1, 3, 4`);
    const consumption = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, customer_id, total_consumption, avg_consumption, reading_count::int FROM consumption_aggregates_realtime ORDER BY 1, 3`);
    const weather = await q(`SELECT ${ws('window_start')} AS window_start, ${ws('window_end')} AS window_end, avg_temperature, avg_humidity, avg_pressure, avg_wind_speed, weather_condition FROM weather_aggregates_realtime ORDER BY 1`);
    const dead = await q(`SELECT reason, count(*)::int AS n FROM dead_letters GROUP BY 1`);

    const byKey = <R extends Record<string, unknown>>(rows: R[], key: (r: R) => string) => new Map(rows.map((r) => [key(r), r]));
    const sk = (r: Record<string, unknown>) => `${r.window_start}|${r.sensor_type}|${r.sensor_id}`;
    assert.equal(sensor.length, expected.sensor.length, 'sensor rows');
    const es = byKey(expected.sensor as unknown as Record<string, unknown>[], sk);
    let stddevOff = 0;
    for (const row of sensor) {
      const e = es.get(sk(row)) as Record<string, unknown> | undefined;
      assert.ok(e, `unexpected sensor row ${sk(row)}`);
      assert.deepEqual([row.avg_value, row.min_value, row.max_value, row.count], [e.avg_value, e.min_value, e.max_value, e.count], sk(row));
      // The stddev is irrational in general; doubles may land one unit off only if the
      // true value sits within ~1e-12 of a rounding boundary.
      if (row.stddev_value !== e.stddev_value) {
        stddevOff++;
        assert.ok(Math.abs(Number(row.stddev_value) - Number(e.stddev_value)) <= 0.0001, sk(row));
      }
    }
    assert.ok(stddevOff <= 1, `${stddevOff} stddev values one unit off`);
    assert.deepEqual(consumption, expected.consumption, 'consumption rows, digit for digit');
    assert.deepEqual(weather, expected.weather, 'weather rows, digit for digit');
    const deadBy = Object.fromEntries(dead.map((d) => [d.reason, d.n]));
    for (const [reason, n] of Object.entries(expected.deadLetters.byReason)) assert.equal(deadBy[reason] ?? 0, n, `dead letters: ${reason}`);
    assert.equal(app.metrics.totalIn(), 200000);
  });
}
