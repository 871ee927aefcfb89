/**
 * The sink against the real PostgreSQL, at the edges: every field driven through its
 * extremes is accepted by the columns; a row PostgreSQL refuses for a data reason is
 * isolated (the rest of the flush is written) and kept in rejected_rows exactly once;
 * a write blocked by a lock fails after the statement timeout instead of hanging.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { mulberry32 } from '../../loadgen/random.js';
import { silentLogger } from '../../src/common/log.js';
import { PgSink } from '../../src/main/pg-sink.js';
import type { SinkBatch } from '../../src/main/sink.js';
import { SmartGridError } from '../../src/common/errors.js';
import { WindowStore } from '../../src/main/window-store.js';
import { aggregateBatch } from '../../src/workers/aggregate.js';
import { MAX_MS, MIN_MS } from '../../src/workers/parse.js';
import { Kind } from '../../src/workers/protocol.js';
import { createSchema, packTask, PG } from '../helpers.js';

const MIN5 = 300000;
const HOUR = 3600000;

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

/** Builds final windows from payloads exactly as the engine does (worker → store). */
function windows(kind: Kind, windowMs: number, payloads: string[]) {
  const store = new WindowStore(kind, windowMs);
  const r = aggregateBatch(packTask(kind, payloads, -Infinity, windowMs));
  store.merge(r);
  return { windows: store.takeFinal(Infinity), rejected: r.rejected.length, errors: r.errors };
}

async function sinkFor(schema: string, opts = {}) {
  const sink = new PgSink({ ...PG, schema }, silentLogger, opts);
  await sink.init();
  return sink;
}

const batch = (b: Partial<SinkBatch>): SinkBatch => ({
  sensor: [],
  meter: [],
  weather: [],
  deadLetters: [],
  windowMs: { sensor: MIN5, meter: HOUR, weather: HOUR },
  ...b,
});

test('every field at its extremes passes validation and is accepted by the real columns', async (t) => {
  const db = await createSchema('edge');
  const sink = await sinkFor(db.schema);
  t.after(async () => {
    await sink.close();
    await db.cleanup();
  });
  const rand = mulberry32(20261129);
  // Times at the edges of what is accepted: the first window of year 0001, the last
  // 5-minute and hourly windows that end within 9999, and ordinary ones.
  const lastSensorWindow = Math.floor((MAX_MS - MIN5) / MIN5) * MIN5;
  const lastHourWindow = Math.floor((MAX_MS - HOUR) / HOUR) * HOUR;
  const times = [MIN_MS, MIN_MS + 1, lastSensorWindow, lastSensorWindow + MIN5 - 1, Date.UTC(2026, 10, 29), 0, -1];
  const hourTimes = [MIN_MS, lastHourWindow, lastHourWindow + HOUR - 1, Date.UTC(2026, 10, 29)];
  const long = (n: number, c: string) => c.repeat(n);
  const texts = (max: number) => ['a', long(max, 'z'), long(max, '😀'), long(max - 1, 'ü') + '\\', 'tab\there', 'new\nline', '"q\'', '\u00a0x'];
  const sensorValues = ['999999.9999', '-999999.9999', 999999.9999, -999999.99994, 0, 1e-9, '0.00005', 123456.78905];
  const readings = ['99999999.9999', '-99999999.9999', 99999999.99994, 0, -0.00005];
  const sensorPayloads: string[] = [];
  for (let i = 0; i < 400; i++) {
    sensorPayloads.push(
      JSON.stringify({
        sensor_id: pick(rand, texts(99)) + (i % 7),
        sensor_type: pick(rand, texts(50)),
        value: pick(rand, sensorValues),
        timestamp: pick(rand, times),
      }),
    );
  }
  // One group with the widest spread: stddev ≈ 1.4e6 must fit the widened column.
  for (const v of [999999.9999, -999999.9999, 999999.9999, -999999.9999]) {
    sensorPayloads.push(JSON.stringify({ sensor_id: 'spread', sensor_type: 'voltage', value: v, timestamp: times[4] }));
  }
  const meterPayloads: string[] = [];
  for (let i = 0; i < 3000; i++) {
    // Many maximal readings for one customer: the sum needs the widened DECIMAL(20,4).
    meterPayloads.push(JSON.stringify({ customer_id: i % 3 === 0 ? 'big' : pick(rand, texts(100)), reading: i % 3 === 0 ? '99999999.9999' : pick(rand, readings), timestamp: pick(rand, hourTimes) }));
  }
  const weatherPayloads: string[] = [];
  for (let i = 0; i < 200; i++) {
    weatherPayloads.push(
      JSON.stringify({
        timestamp: pick(rand, hourTimes),
        temperature: pick(rand, ['999.99', '-999.99', 0, 999.994]),
        humidity: pick(rand, [999.99, -999.99, '0.005']),
        pressure: pick(rand, ['99999.99', -99999.99, 1013.25]),
        wind_speed: pick(rand, [999.99, 0]),
        weather_condition: pick(rand, texts(50)),
      }),
    );
  }
  const s = windows(Kind.sensor, MIN5, sensorPayloads);
  const m = windows(Kind.meter, HOUR, meterPayloads);
  const w = windows(Kind.weather, HOUR, weatherPayloads);
  assert.deepEqual([s.rejected, m.rejected, w.rejected], [0, 0, 0], `validation rejected: ${[...s.errors, ...m.errors, ...w.errors].slice(0, 3).join('; ')}`);
  const counts = await sink.write(batch({ sensor: s.windows, meter: m.windows, weather: w.windows }));
  assert.equal(counts.rejected, 0);
  const n = async (table: string) => Number((await db.client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  assert.equal(await n('sensor_aggregates_realtime'), counts.sensor);
  assert.equal(await n('consumption_aggregates_realtime'), counts.meter);
  assert.equal(await n('weather_aggregates_realtime'), counts.weather);
  assert.equal(await n('rejected_rows'), 0);
  const edges = await db.client.query(
    `SELECT min(window_start)::text AS first, max(window_end)::text AS last FROM sensor_aggregates_realtime`,
  );
  assert.deepEqual(edges.rows[0], { first: '0001-01-01 00:00:00', last: '9999-12-31 23:55:00' });
  const big = await db.client.query(`SELECT total_consumption::text AS t, reading_count::int AS c FROM consumption_aggregates_realtime WHERE customer_id = 'big' ORDER BY window_start`);
  const total = big.rows.reduce((a, r) => a + BigInt(r.t.replace('.', '')), 0n);
  assert.equal(total, 999999999999n * 1000n, 'a thousand maximal readings sum exactly');
  const spread = await db.client.query(`SELECT stddev_value::text AS sd FROM sensor_aggregates_realtime WHERE sensor_id = 'spread'`);
  assert.equal(spread.rows[0].sd, '1154700.5383');
});

test('a row PostgreSQL refuses is found by bisection, kept in rejected_rows once, and the rest is written', async (t) => {
  const db = await createSchema('bisect');
  const sink = await sinkFor(db.schema);
  t.after(async () => {
    await sink.close();
    await db.cleanup();
  });
  // An operator's constraint stands in for any data error the validation cannot foresee.
  await db.client.query(`ALTER TABLE sensor_aggregates_realtime ADD CONSTRAINT no_poison CHECK (sensor_id <> 'poison')`);
  const base = Date.UTC(2026, 10, 29);
  const payloads = Array.from({ length: 57 }, (_, i) =>
    JSON.stringify({ sensor_id: i === 41 ? 'poison' : `s${i}`, sensor_type: 'voltage', value: i, timestamp: base + (i % 3) * MIN5 }),
  );
  const dl = { topic: 't', partition: 0, offset: 5, key: null, payload: Buffer.from('x'), reason: 'invalid_json', error: 'e' };
  for (let round = 0; round < 2; round++) {
    const s = windows(Kind.sensor, MIN5, payloads);
    const counts = await sink.write(batch({ sensor: s.windows, deadLetters: [dl] }));
    assert.equal(counts.rejected, 1, `round ${round}`);
    assert.equal(counts.sensor, 56);
  }
  const rows = await db.client.query(`SELECT count(*)::int AS n FROM sensor_aggregates_realtime`);
  assert.equal(rows.rows[0].n, 56);
  const dls = await db.client.query(`SELECT count(*)::int AS n FROM dead_letters`);
  assert.equal(dls.rows[0].n, 1);
  const rej = await db.client.query(`SELECT target_table, sqlstate, row_text, error FROM rejected_rows`);
  assert.equal(rej.rows.length, 1, 'a replay does not add the refused row twice');
  assert.equal(rej.rows[0].target_table, 'sensor_aggregates_realtime');
  assert.equal(rej.rows[0].sqlstate, '23514');
  assert.match(rej.rows[0].row_text, /\tvoltage\tpoison\t41\.0000\t/);
  assert.match(rej.rows[0].error, /no_poison/);
});

test('a write blocked by a table lock fails after the statement timeout and can be retried', async (t) => {
  const db = await createSchema('lock');
  const sink = await sinkFor(db.schema, { statementTimeoutMs: 300 });
  const locker = new pg.Client(db.connection);
  await locker.connect();
  t.after(async () => {
    await locker.end().catch(() => {});
    await sink.close();
    await db.cleanup();
  });
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE sensor_aggregates_realtime IN ACCESS EXCLUSIVE MODE');
  const s = windows(Kind.sensor, MIN5, [JSON.stringify({ sensor_id: 'a', sensor_type: 'v', value: 1, timestamp: Date.UTC(2026, 10, 29) })]);
  const t0 = Date.now();
  const err = await sink.write(batch({ sensor: s.windows })).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof SmartGridError, `expected a sink error, got ${String(err)}`);
  assert.equal(err.canRetry, true, 'a lock timeout is transient');
  assert.ok(Date.now() - t0 < 10000, 'it did not hang');
  await locker.query('ROLLBACK');
  const counts = await sink.write(batch({ sensor: s.windows }));
  assert.equal(counts.sensor, 1);
});

test('a flush whose rows are partly in the table already (a replay) upserts them: new rows added, existing ones overwritten, dead letters once', async (t) => {
  // The first write goes straight into the tables (COPY); the second meets a unique
  // violation and must go the staging-and-upsert way for those tables, in one transaction.
  const db = await createSchema('replay');
  const sink = await sinkFor(db.schema);
  t.after(async () => {
    await sink.close();
    await db.cleanup();
  });
  const base = Date.UTC(2026, 10, 29);
  const sensors = (ids: number[], value: (i: number) => number) =>
    windows(Kind.sensor, MIN5, ids.map((i) => JSON.stringify({ sensor_id: `s${i}`, sensor_type: 'voltage', value: value(i), timestamp: base })));
  const meters = (ids: number[]) =>
    windows(Kind.meter, HOUR, ids.map((i) => JSON.stringify({ customer_id: `c${i}`, reading: i, timestamp: base })));
  const dl = (offset: number) => ({ topic: 't', partition: 0, offset, key: null, payload: Buffer.from('x'), reason: 'invalid_json', error: 'e' });
  const first = await sink.write(batch({ sensor: sensors([1, 2, 3], (i) => i).windows, meter: meters([1]).windows, deadLetters: [dl(1), dl(2)] }));
  assert.deepEqual([first.sensor, first.meter, first.deadLetters, first.rejected], [3, 1, 2, 0]);
  // Sensors 2 and 3 again with other values, 4 and 5 new; the meter row is new (no conflict
  // in that table); dead letter 2 again and 3 new.
  const second = await sink.write(batch({ sensor: sensors([2, 3, 4, 5], (i) => 100 + i).windows, meter: meters([2]).windows, deadLetters: [dl(2), dl(3)] }));
  assert.deepEqual([second.sensor, second.meter, second.deadLetters, second.rejected], [4, 1, 2, 0]);
  const rows = await db.client.query<{ sensor_id: string; avg: string }>(`SELECT sensor_id, avg_value::text AS avg FROM sensor_aggregates_realtime ORDER BY sensor_id`);
  assert.deepEqual(
    rows.rows.map((r) => [r.sensor_id, r.avg]),
    [['s1', '1.0000'], ['s2', '102.0000'], ['s3', '103.0000'], ['s4', '104.0000'], ['s5', '105.0000']],
  );
  const m = await db.client.query(`SELECT count(*)::int AS n FROM consumption_aggregates_realtime`);
  assert.equal(m.rows[0].n, 2);
  const d = await db.client.query(`SELECT kafka_offset::int AS o FROM dead_letters ORDER BY kafka_offset`);
  assert.deepEqual(d.rows.map((r) => r.o), [1, 2, 3]);
  // The same flush a third time: nothing changes, nothing is added.
  await sink.write(batch({ sensor: sensors([2, 3, 4, 5], (i) => 100 + i).windows, meter: meters([2]).windows, deadLetters: [dl(2), dl(3)] }));
  const n = await db.client.query(`SELECT (SELECT count(*) FROM sensor_aggregates_realtime)::int AS s, (SELECT count(*) FROM dead_letters)::int AS d`);
  assert.deepEqual(n.rows[0], { s: 5, d: 3 });
});
