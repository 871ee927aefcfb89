/**
 * End to end against the real broker and database: a known mixed data set in three
 * topics with several partitions each (out-of-order records within the lateness, late
 * records, bad records of every kind, keys that COPY must escape) goes through the engine
 * in available-now mode; every row and every dead letter is checked against an
 * independent computation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../loadgen/random.js';
import { threadId } from 'node:worker_threads';
import type pg from 'pg';
import { createApp } from '../../src/main/app.js';
import { loadConfig } from '../../src/main/config.js';
import { silentLogger } from '../../src/common/log.js';
import { createSchema, createTopics, kafka, KAFKA_BROKER, PG, uniqueName } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../src/main/cli.js', import.meta.url));
const BASE = Date.UTC(2026, 10, 28, 0, 0, 0);
const MIN = 60000;
const HOUR = 3600000;
const PARTITIONS = 3;


/** Renders an event time in one of the forms the contract allows. */
function timeForm(ms: number, style: number): string | number {
  const iso = new Date(ms).toISOString();
  switch (style % 5) {
    case 0:
      return iso;
    case 1:
      return iso.slice(0, 23) + '000'; // microseconds, no zone
    case 2:
      return iso.slice(0, 10) + ' ' + iso.slice(11, 23); // space, no zone
    case 3:
      return new Date(ms + 2 * HOUR).toISOString().slice(0, 23) + '+02:00';
    default:
      return ms;
  }
}

interface Msg {
  partition: number;
  key: string;
  value: Buffer;
  /** null = accepted; otherwise the expected dead-letter reason. */
  reject: string | null;
  /** For accepted records: what the engine should aggregate. */
  ts?: number;
  group?: string;
  x?: number[];
  cond?: string;
}

const SENSORS = [
  ['voltage', 'sensor_001'],
  ['voltage', 'tab\tid'],
  ['current', 'new\nline'],
  ['current', 'back\\slash'],
  ['power', 'quote"s\'and,commas'],
  ['frequency', 'ünïcødé-日本-😀'],
  ['temperature', 'sensor_007'],
  ['humidity', 'sensor_008'],
  ['precise', 'near_999000'],
] as const;

function sensorData(rand: () => number, from: number, to: number, step: number): Msg[] {
  const out: Msg[] = [];
  let n = 0;
  for (let t = from; t < to; t += step) {
    SENSORS.forEach(([type, id], si) => {
      // Out of order within the lateness: up to 4 minutes back.
      const ts = rand() < 0.2 ? t - Math.floor(rand() * 4 * MIN) : t + Math.floor(rand() * 1000);
      const x = type === 'precise' ? 999000 + (1 + (Math.floor(n / SENSORS.length) % 9)) / 10000 : Math.round((rand() * 1000 - 100) * 10000) / 10000;
      const value = n % 10 === 3 ? String(x) : x;
      out.push({
        partition: si % PARTITIONS,
        key: id,
        value: Buffer.from(JSON.stringify({ event_id: `e${n}`, sensor_id: id, sensor_type: type, value, location: { lat: 42.6, lon: 21.1 }, timestamp: timeForm(ts, n), metadata: { unit: 'V' } })),
        reject: null,
        ts,
        group: type + '\u0000' + id,
        x: [x],
      });
      n++;
    });
  }
  return out;
}

function meterData(rand: () => number, from: number, to: number, step: number): Msg[] {
  const out: Msg[] = [];
  let n = 0;
  for (let t = from; t < to; t += step) {
    for (let m = 0; m < 10; m++) {
      const ts = rand() < 0.2 ? t - Math.floor(rand() * 4 * MIN) : t;
      const x = Math.round((rand() * 3 - 0.5) * 10000) / 10000; // may be negative: net metering
      const customer = `customer_${m % 4}`;
      const rec: Record<string, unknown> = { event_id: `m${n}`, meter_id: `meter_${m}`, customer_id: customer, reading: n % 7 === 0 ? String(x) : x, unit: 'kWh', timestamp: timeForm(ts, n) };
      if (m === 9) delete rec.meter_id;
      // One customer's meters sit on different partitions.
      out.push({ partition: m % PARTITIONS, key: `meter_${m}`, value: Buffer.from(JSON.stringify(rec)), reject: null, ts, group: customer, x: [x] });
      n++;
    }
  }
  return out;
}

const HOURLY_CONDITIONS = [
  ['Sunny', 'Cloudy', 'Sunny', 'Cloudy', 'Sunny', 'Cloudy', 'Sunny', 'Cloudy', 'Sunny', 'Cloudy', 'Sunny', 'Cloudy'], // tie → Cloudy
  ['Rainy', 'Sunny', 'Rainy', 'Rainy', 'Sunny', 'Rainy', 'Rainy', 'Sunny', 'Rainy', 'Sunny', 'Rainy', 'Sunny'], // Rainy 7
  ['Windy', 'Foggy', 'Stormy', 'Windy', 'Foggy', 'Stormy', 'Windy', 'Foggy', 'Stormy', 'Windy', 'Foggy', 'Stormy'], // tie → Foggy
];

function weatherData(rand: () => number, from: number, to: number): Msg[] {
  const out: Msg[] = [];
  let n = 0;
  for (let t = from; t < to; t += 5 * MIN) {
    const hour = Math.floor((t - BASE) / HOUR);
    const cond = HOURLY_CONDITIONS[hour % 3][Math.floor((t % HOUR) / (5 * MIN))];
    const x = [Math.round((rand() * 30) * 10) / 10, Math.round((40 + rand() * 50) * 10) / 10, Math.round((990 + rand() * 30) * 10) / 10, Math.round(rand() * 15 * 10) / 10];
    const rec = { timestamp: timeForm(t, n), temperature: x[0], humidity: String(x[1]), pressure: x[2], wind_speed: x[3], wind_direction: 211, weather_condition: cond, location: n % 2 ? '41.98,20.37' : { lat: 41.98, lon: 20.37 } };
    out.push({ partition: n % PARTITIONS, key: ['weather', 'pristina', 'tirana'][n % 3], value: Buffer.from(JSON.stringify(rec)), reject: null, ts: t, group: '', x, cond });
    n++;
  }
  return out;
}

const bad = (partition: number, value: Buffer | string, reject: string): Msg => ({ partition, key: 'bad', value: Buffer.isBuffer(value) ? value : Buffer.from(value), reject });

function badSensor(t: number): Msg[] {
  const ok = { sensor_id: 's', sensor_type: 'voltage', value: 1, timestamp: new Date(t).toISOString() };
  const j = (o: Record<string, unknown>) => JSON.stringify({ ...ok, ...o });
  return [
    bad(0, Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), 'invalid_json'),
    bad(1, '{"sensor_id": "s1", "value": ', 'invalid_json'),
    bad(2, '[1, 2, 3]', 'invalid_json'),
    bad(0, j({ sensor_id: undefined }), 'invalid_record'),
    bad(1, j({ sensor_type: 7 }), 'invalid_record'),
    bad(2, j({ value: 'n/a' }), 'invalid_record'),
    bad(0, j({ timestamp: '28/11/2026 02:51' }), 'invalid_record'),
    bad(1, j({ sensor_id: 'x'.repeat(101) }), 'invalid_record'),
    bad(2, j({ value: 1e6 }), 'out_of_range'),
    bad(0, j({ value: -2e6 }), 'out_of_range'),
  ];
}

function badMeter(t: number): Msg[] {
  const ok = { meter_id: 'mx', customer_id: 'customer_0', reading: 1, timestamp: new Date(t).toISOString() };
  const j = (o: Record<string, unknown>) => JSON.stringify({ ...ok, ...o });
  return [
    bad(0, 'not json at all', 'invalid_json'),
    bad(1, j({ customer_id: undefined }), 'invalid_record'),
    bad(2, j({ reading: null }), 'invalid_record'),
    bad(0, j({ timestamp: 'soon' }), 'invalid_record'),
    bad(1, j({ reading: 123456789 }), 'out_of_range'),
  ];
}

function badWeather(t: number): Msg[] {
  const ok = { timestamp: new Date(t).toISOString(), temperature: 20, humidity: 50, pressure: 1000, wind_speed: 3, weather_condition: 'Sunny' };
  const j = (o: Record<string, unknown>) => JSON.stringify({ ...ok, ...o });
  return [
    bad(0, '"just a string"', 'invalid_json'),
    bad(1, j({ pressure: undefined }), 'invalid_record'),
    bad(2, j({ weather_condition: 'c'.repeat(51) }), 'invalid_record'),
    bad(0, j({ temperature: 1000 }), 'out_of_range'),
    bad(1, j({ pressure: 123456.7 }), 'out_of_range'),
  ];
}

/** Inserts bad records at regular places in a stream of good ones. */
function interleave(good: Msg[], bads: Msg[]): Msg[] {
  const out = good.slice();
  bads.forEach((b, i) => out.splice(Math.floor(((i + 1) * out.length) / (bads.length + 1)), 0, b));
  return out;
}

interface Produced {
  topic: string;
  msgs: (Msg & { offset: number })[];
}

async function produce(topic: string, msgs: Msg[], nextOffset: number[]): Promise<Produced> {
  const producer = kafka().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const withOffsets = msgs.map((m) => ({ ...m, offset: nextOffset[m.partition]++ }));
    for (let i = 0; i < msgs.length; i += 2000) {
      await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 2000).map((m) => ({ partition: m.partition, key: m.key, value: m.value })) });
    }
    return { topic, msgs: withOffsets };
  } finally {
    await producer.disconnect();
  }
}

// ----------------------------------------------------------------- the reference

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const r2 = (x: number) => Math.round(x * 1e2) / 1e2;

function expectedRows(kind: 'sensor' | 'meter' | 'weather', msgs: Msg[], windowMs: number): Map<string, Record<string, unknown>> {
  const groups = new Map<string, Msg[]>();
  for (const m of msgs) {
    if (m.reject !== null) continue;
    const ws = Math.floor(m.ts! / windowMs) * windowMs;
    const k = ws + '|' + m.group!;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const [k, ms] of groups) {
    const ws = Number(k.slice(0, k.indexOf('|')));
    const n = ms.length;
    if (kind === 'weather') {
      const avg = (v: number) => ms.reduce((a, m) => a + m.x![v], 0) / n;
      const counts = new Map<string, number>();
      for (const m of ms) counts.set(m.cond!, (counts.get(m.cond!) ?? 0) + 1);
      const top = Math.max(...counts.values());
      const cond = [...counts].filter(([, c]) => c === top).map(([c]) => c).sort()[0];
      out.set(String(ws), { n, avg_temperature: r2(avg(0)), avg_humidity: r2(avg(1)), avg_pressure: r2(avg(2)), avg_wind_speed: r2(avg(3)), weather_condition: cond });
      continue;
    }
    const xs = ms.map((m) => m.x![0]);
    // Exact sum of 4-decimal values in integers; two-pass variance.
    const sum = xs.reduce((a, x) => a + Math.round(x * 1e4), 0) / 1e4;
    const mean = xs.reduce((a, x) => a + x, 0) / n;
    const variance = n > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : null;
    const g = ms[0].group!;
    if (kind === 'sensor') {
      const [type, id] = g.split('\u0000');
      out.set(ws + '|' + type + '|' + id, { count: n, avg_value: mean, min_value: r4(Math.min(...xs)), max_value: r4(Math.max(...xs)), stddev_value: variance === null ? null : Math.sqrt(variance) });
    } else {
      out.set(ws + '|' + g, { reading_count: n, total_consumption: sum, avg_consumption: mean });
    }
  }
  return out;
}

// ----------------------------------------------------------------- helpers

async function tableState(client: pg.Client) {
  const sensor = await client.query(`SELECT (extract(epoch from window_start) * 1000)::bigint AS ws, (extract(epoch from window_end) * 1000)::bigint AS we, sensor_type, sensor_id, avg_value::text, min_value::text, max_value::text, count::int, stddev_value::text, id, updated_at FROM sensor_aggregates_realtime ORDER BY 1, 3, 4`);
  const meter = await client.query(`SELECT (extract(epoch from window_start) * 1000)::bigint AS ws, (extract(epoch from window_end) * 1000)::bigint AS we, customer_id, total_consumption::text, avg_consumption::text, reading_count::int, id, updated_at FROM consumption_aggregates_realtime ORDER BY 1, 3`);
  const weather = await client.query(`SELECT (extract(epoch from window_start) * 1000)::bigint AS ws, (extract(epoch from window_end) * 1000)::bigint AS we, avg_temperature::text, avg_humidity::text, avg_pressure::text, avg_wind_speed::text, weather_condition, id, updated_at FROM weather_aggregates_realtime ORDER BY 1`);
  const dead = await client.query(`SELECT topic, kafka_partition, kafka_offset::int, kafka_key, payload, reason, error, id FROM dead_letters ORDER BY 1, 2, 3`);
  return { sensor: sensor.rows, meter: meter.rows, weather: weather.rows, dead: dead.rows };
}

function closeTo(actual: string | null, expected: number | null, tol: number, what: string): void {
  if (expected === null) return assert.equal(actual, null, what);
  assert.notEqual(actual, null, what);
  assert.ok(Math.abs(Number(actual) - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

function checkRows(state: Awaited<ReturnType<typeof tableState>>, all: Produced[]): void {
  const [s, m, w] = all.map((p) => p.msgs);
  const es = expectedRows('sensor', s, 5 * MIN);
  assert.equal(state.sensor.length, es.size, 'one sensor row per (window, type, id)');
  for (const row of state.sensor) {
    const e = es.get(`${row.ws}|${row.sensor_type}|${row.sensor_id}`);
    const what = `sensor ${new Date(Number(row.ws)).toISOString()} ${JSON.stringify(row.sensor_id)}`;
    assert.ok(e, `${what} is expected`);
    assert.equal(Number(row.we) - Number(row.ws), 5 * MIN);
    assert.equal(row.count, e.count, what);
    assert.equal(Number(row.min_value), e.min_value, what);
    assert.equal(Number(row.max_value), e.max_value, what);
    closeTo(row.avg_value, e.avg_value as number, 0.00005 + 1e-9, what + ' avg');
    closeTo(row.stddev_value, e.stddev_value as number | null, 0.00005 + 1e-9, what + ' stddev');
  }
  // Readings near 999000 that differ in the fourth decimal get the right stddev.
  const precise = state.sensor.filter((r) => r.sensor_id === 'near_999000' && r.count > 2);
  assert.ok(precise.length > 5);
  for (const r of precise) assert.ok(Number(r.stddev_value) > 0.0001 && Number(r.stddev_value) < 0.0004, r.stddev_value);

  const em = expectedRows('meter', m, HOUR);
  assert.equal(state.meter.length, em.size);
  for (const row of state.meter) {
    const e = em.get(`${row.ws}|${row.customer_id}`);
    assert.ok(e, `consumption ${row.ws} ${row.customer_id}`);
    assert.equal(row.reading_count, e.reading_count);
    assert.equal(Number(row.total_consumption), e.total_consumption, 'total is exact');
    closeTo(row.avg_consumption, e.avg_consumption as number, 0.00005 + 1e-9, 'avg_consumption');
  }
  const ew = expectedRows('weather', w, HOUR);
  assert.equal(state.weather.length, ew.size);
  for (const row of state.weather) {
    const e = ew.get(String(row.ws))!;
    assert.ok(e);
    assert.equal(Number(row.avg_temperature), e.avg_temperature);
    assert.equal(Number(row.avg_humidity), e.avg_humidity);
    assert.equal(Number(row.avg_pressure), e.avg_pressure);
    assert.equal(Number(row.avg_wind_speed), e.avg_wind_speed);
    assert.equal(row.weather_condition, e.weather_condition);
  }
  assert.deepEqual(state.weather.map((r) => r.weather_condition).slice(0, 3), ['Cloudy', 'Rainy', 'Foggy'], 'mode with alphabetical tie-break');

  const expectedDead = all.flatMap((p) => p.msgs.filter((x) => x.reject !== null).map((x) => ({ ...x, topic: p.topic })));
  expectedDead.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset));
  assert.equal(state.dead.length, expectedDead.length);
  state.dead.forEach((d, i) => {
    const e = expectedDead[i];
    assert.deepEqual([d.topic, d.kafka_partition, d.kafka_offset, d.reason], [e.topic, e.partition, e.offset, e.reject]);
    assert.deepEqual(d.payload, e.value, 'raw payload bytes kept');
    assert.deepEqual(d.kafka_key, Buffer.from(e.key));
    assert.ok(d.error.length > 10);
  });
}

// ----------------------------------------------------------------- the test

test('three topics to three aggregate tables and dead letters, exactly', { timeout: 240000 }, async (t) => {
  const topics = { sensor: uniqueName('e2e-sensor'), meter: uniqueName('e2e-meter'), weather: uniqueName('e2e-weather') };
  const { cleanup } = await createTopics(Object.values(topics), PARTITIONS);
  t.after(cleanup);
  const db = await createSchema('e2e');
  t.after(db.cleanup);
  const ckDir = await mkdtemp(join(tmpdir(), 'e2e-ck-'));
  t.after(() => rm(ckDir, { recursive: true, force: true }));

  const rand = mulberry32(42);
  const offs = { sensor: [0, 0, 0], meter: [0, 0, 0], weather: [0, 0, 0] };
  // Phase 1: three hours of event time.
  const p1 = [
    await produce(topics.sensor, interleave(sensorData(rand, BASE, BASE + 3 * HOUR, 20000), badSensor(BASE + HOUR)), offs.sensor),
    await produce(topics.meter, interleave(meterData(rand, BASE, BASE + 3 * HOUR, MIN), badMeter(BASE + HOUR)), offs.meter),
    await produce(topics.weather, interleave(weatherData(rand, BASE, BASE + 3 * HOUR), badWeather(BASE + HOUR)), offs.weather),
  ];
  const flags = (group: string, dir: string) => [
    '--kafka-broker', KAFKA_BROKER, '--postgres-host', PG.host, '--postgres-port', String(PG.port), '--postgres-db', PG.database,
    '--postgres-user', PG.user, '--postgres-schema', db.schema, '--topic-sensor', topics.sensor, '--topic-meter', topics.meter,
    '--topic-weather', topics.weather, '--group-id', group, '--checkpoint-dir', dir, '--available-now', '--idle-timeout', '0',
    '--workers', '2', '--task-records', '500', '--max-bytes-per-partition', '64kb', '--no-create-topics', '--progress-interval', '0', '--metrics-port', '0',
  ];
  const group = uniqueName('e2e');
  let scraped = '';
  const runInProcess = async (argv: string[]) => {
    const app = createApp(loadConfig(argv, {}).config, silentLogger);
    try {
      await app.run();
      scraped = await (await fetch(`http://127.0.0.1:${app.httpPort()}/metrics`)).text();
    } finally {
      await app.close();
    }
    return app.metrics;
  };

  const m1 = await runInProcess(flags(group, ckDir));
  const s1 = await tableState(db.client);
  checkRows(s1, p1);

  await t.test('worker threads did the decoding and aggregation', () => {
    assert.ok(m1.workerThreadIds.size >= 2, `threads ${[...m1.workerThreadIds]}`);
    assert.ok(!m1.workerThreadIds.has(threadId), 'not on the main thread');
    assert.ok(m1.decodeNs > 0);
  });

  await t.test('every input record is counted once: aggregated or dead letter', () => {
    const produced = p1.reduce((n, p) => n + p.msgs.length, 0);
    const aggregated = s1.sensor.reduce((n, r) => n + r.count, 0) + s1.meter.reduce((n, r) => n + r.reading_count, 0) + m1.recordsIn[2].aggregated;
    assert.equal(m1.recordsIn[2].aggregated, p1[2].msgs.filter((x) => x.reject === null).length);
    assert.equal(aggregated + s1.dead.length, produced);
    assert.equal(m1.totalIn(), produced);
  });

  await t.test('/metrics counts every record: in = aggregated + late + bad', () => {
    const sample = (name: string, labels: Record<string, string>) => {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
      const line = scraped.split('\n').find((x) => x.startsWith(`${name}{${l}} `));
      assert.ok(line, `${name}{${l}}`);
      return Number(line.split(' ')[1]);
    };
    let total = 0;
    p1.forEach((p, k) => {
      const agg = sample('smartgrid_records_in_total', { topic: p.topic, outcome: 'aggregated' });
      const bad = sample('smartgrid_records_in_total', { topic: p.topic, outcome: 'bad' });
      const late = sample('smartgrid_records_in_total', { topic: p.topic, outcome: 'late' });
      assert.equal(agg, p.msgs.filter((x) => x.reject === null).length, `aggregated ${k}`);
      assert.equal(bad + late, p.msgs.filter((x) => x.reject !== null).length, `bad ${k}`);
      total += agg + bad + late;
    });
    assert.equal(total, p1.reduce((n, p) => n + p.msgs.length, 0));
    assert.equal(sample('smartgrid_dead_letters_total', { reason: 'invalid_json' }), p1.reduce((n, p) => n + p.msgs.filter((x) => x.reject === 'invalid_json').length, 0));
    assert.match(scraped, /smartgrid_rows_written_total\{table="sensor_aggregates_realtime"\} [1-9]/);
    assert.match(scraped, /smartgrid_batch_seconds_count [1-9]/);
  });

  await t.test('a second run from the earliest offsets (new group, npm start) leaves the tables unchanged', async () => {
    const ck2 = await mkdtemp(join(tmpdir(), 'e2e-ck2-'));
    try {
      const r = spawnSync(process.execPath, [CLI, ...flags(uniqueName('e2e-again'), ck2)], { encoding: 'utf8', timeout: 120000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /available-now run complete/);
    } finally {
      await rm(ck2, { recursive: true, force: true });
    }
    const s2 = await tableState(db.client);
    assert.deepEqual(s2, s1, 'same rows, same ids, same updated_at: nothing rewritten or duplicated');
  });

  await t.test('the group has committed offsets but the checkpoint directory is empty: refuse to start', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'e2e-empty-'));
    try {
      const r = spawnSync(process.execPath, [CLI, ...flags(group, empty)], { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /CHECKPOINT_MISSING/);
      assert.match(r.stderr, /--ignore-missing-checkpoint/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    assert.deepEqual(await tableState(db.client), s1, 'nothing was written');
  });

  await t.test('a later run continues: records for written windows are late, new windows are added', async () => {
    const rand2 = mulberry32(7);
    const late = (msgs: Msg[]) => msgs.map((x) => ({ ...x, reject: 'late' }));
    // Windows up to 03:00 are written; 03:00–03:10 is on time whatever the interleaving.
    const p2 = [
      await produce(topics.sensor, [...late(sensorData(rand2, BASE, BASE + 10 * MIN, 300000)), ...sensorData(rand2, BASE + 3 * HOUR + 4 * MIN, BASE + 3 * HOUR + 10 * MIN, 60000)], offs.sensor),
      await produce(topics.meter, [...late(meterData(rand2, BASE + HOUR, BASE + HOUR + 2 * MIN, MIN)), ...meterData(rand2, BASE + 3 * HOUR + 4 * MIN, BASE + 3 * HOUR + 10 * MIN, MIN)], offs.meter),
      await produce(topics.weather, [...late(weatherData(rand2, BASE + 2 * HOUR, BASE + 2 * HOUR + 10 * MIN)), ...weatherData(rand2, BASE + 3 * HOUR + 5 * MIN, BASE + 3 * HOUR + 10 * MIN)], offs.weather),
    ];
    const m2 = await runInProcess(flags(group, ckDir));
    const all = p1.map((p, i) => ({ topic: p.topic, msgs: [...p.msgs, ...p2[i].msgs] }));
    const s3 = await tableState(db.client);
    checkRows(s3, all);
    const lateRows = s3.dead.filter((d) => d.reason === 'late');
    assert.equal(lateRows.length, p2.reduce((n, p) => n + p.msgs.filter((x) => x.reject === 'late').length, 0));
    assert.match(lateRows[0].error, /already final/);
    assert.equal(m2.totalIn(), p2.reduce((n, p) => n + p.msgs.length, 0), 'only the new records were read');
    // Rows of phase 1 were not touched.
    const before = new Map(s1.sensor.map((r) => [r.id, r.updated_at.getTime()]));
    for (const r of s3.sensor) if (before.has(r.id)) assert.equal(r.updated_at.getTime(), before.get(r.id));
  });
});
