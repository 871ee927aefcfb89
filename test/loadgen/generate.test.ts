import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventGenerator, generate, valueBytes, type GenerateInput, type LoadEvent } from '../../loadgen/generate.js';
import { expectedAggregates } from '../../loadgen/expected.js';
import { partitionForKey } from '../../loadgen/partition.js';
import { mean, mode, replay, stddev, type RawMessage } from './reference.js';

const BASE: GenerateInput = {
  seed: 42,
  events: 60_000,
  sensors: 24,
  meters: 30,
  customers: 6,
  weatherLocations: 3,
  spanMs: 12 * 3_600_000,
  partitions: 3,
  outOfOrderShare: 0.05,
  lateShare: 0.02,
  badShare: 0.03,
  timestampStyle: 'mixed',
};

function digest(events: Iterable<LoadEvent>): string {
  const h = createHash('sha256');
  for (const e of events) h.update(`${e.topic}\u0000${e.partition}\u0000${e.key}\u0000`).update(valueBytes(e)).update('\u0001');
  return h.digest('hex');
}

function byPartition(events: LoadEvent[]): Map<string, RawMessage[]> {
  const m = new Map<string, RawMessage[]>();
  for (const e of events) {
    const k = `${e.topic}:${e.partition}`;
    (m.get(k) ?? m.set(k, []).get(k)!).push({ topic: e.topic, partition: e.partition, key: e.key, value: valueBytes(e) });
  }
  return m;
}

test('partitions are chosen as Kafka\'s default partitioner does (murmur2 of the key)', () => {
  const require = createRequire(import.meta.url);
  const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (k: Buffer) => number;
  for (const key of ['', 'a', 'ab', 'abc', 'weather', 'sensor_007', 'meter_12', 'customer_3', 'ünïcødé']) {
    assert.equal(partitionForKey(key, 7), (kafkajsMurmur2(Buffer.from(key)) & 0x7fffffff) % 7, key);
  }
});

test('the same seed gives the same bytes; another seed gives others', () => {
  const a = digest(generate(BASE));
  const b = digest(generate(BASE));
  const c = digest(generate({ ...BASE, seed: 43 }));
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('shares of out-of-order, late and bad records are exact, bad reasons evenly spread', () => {
  const g = new EventGenerator(BASE);
  while (!g.done) g.next();
  assert.equal(g.stats.events, 60_000);
  assert.equal(g.stats.byKind.late, 1200);
  assert.equal(g.stats.byKind.bad, 1800);
  assert.equal(g.stats.byKind.out_of_order, 3000);
  for (const r of ['invalid_json', 'invalid_record', 'out_of_range'] as const) {
    assert.ok(Math.abs(g.stats.byReason[r] - 600) < 100, `${r}: ${g.stats.byReason[r]}`);
  }
});

test('messages have the contract fields and keys; one customer\'s meters sit on several partitions', () => {
  const events = [...generate({ ...BASE, timestampStyle: 'contract', badShare: 0, lateShare: 0 })];
  const fields = {
    sensor: ['event_id', 'sensor_id', 'sensor_type', 'value', 'location', 'timestamp', 'metadata'],
    meter: ['event_id', 'meter_id', 'customer_id', 'reading', 'unit', 'timestamp'],
    weather: ['timestamp', 'temperature', 'humidity', 'pressure', 'wind_speed', 'wind_direction', 'weather_condition', 'location'],
  };
  const parts = new Map<string, Set<number>>();
  for (const e of events) {
    const o = JSON.parse(e.value as string) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), fields[e.source]);
    assert.equal(e.partition, partitionForKey(e.key, 3));
    if (e.source === 'sensor') {
      assert.equal(e.key, o.sensor_id);
      assert.match(o.timestamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    } else if (e.source === 'meter') {
      assert.equal(e.key, o.meter_id);
      const c = o.customer_id as string;
      (parts.get(c) ?? parts.set(c, new Set()).get(c)!).add(e.partition);
    } else {
      assert.ok(['weather', 'prishtina', 'tirana', 'skopje'].includes(e.key));
      assert.match(o.timestamp as string, /Z$/);
      assert.ok((o.wind_speed as number) >= 0);
      assert.ok(['Sunny', 'Cloudy', 'Rainy', 'Windy', 'Foggy', 'Stormy'].includes(o.weather_condition as string));
      assert.ok(Number.isInteger(o.wind_direction) && (o.wind_direction as number) < 360);
    }
  }
  assert.ok([...parts.values()].some((s) => s.size > 1), 'some customer has meters on different partitions');
});

test('bad and late labels agree with an independent reading of the bytes, whatever the fetch interleaving', () => {
  const events = [...generate(BASE)];
  const parts = byPartition(events);
  const label = new Map<string, string>();
  const pos = new Map<string, number>();
  for (const e of events) {
    const k = `${e.topic}:${e.partition}`;
    const p = pos.get(k) ?? 0;
    pos.set(k, p + 1);
    label.set(`${k}:${p}`, e.kind === 'bad' ? e.reason! : e.kind === 'late' ? 'late' : 'ok');
  }
  const o = new EventGenerator(BASE).options;
  // Fetch sizes up to ~30 min of event time per partition and round (500 records here; a
  // 1 MiB fetch of a 2M-event, 24 h, 3-partition stream is ~18 min).
  for (const fetch of [1, 37, 500]) {
    const r = replay(o.topics, parts, { latenessMs: o.latenessMs, windows: o.windows, fetch });
    let mismatches = 0;
    for (const [id, l] of label) if (r.verdicts.get(id) !== l) mismatches++;
    assert.equal(mismatches, 0, `fetch ${fetch}: ${mismatches} records judged differently`);
  }
});

test('expected aggregates match a plain floating-point computation from the bytes', () => {
  const events = [...generate(BASE)];
  const o = new EventGenerator(BASE).options;
  const ex = expectedAggregates(events, { windows: o.windows });
  const r = replay(o.topics, byPartition(events), { latenessMs: o.latenessMs, windows: o.windows, fetch: 200 });
  const close = (a: string | null, b: number, unit: number, what: string): void =>
    assert.ok(a !== null && Math.abs(Number(a) - b) <= unit * 0.5 + 1e-9, `${what}: expected ${a}, reference ${b}`);

  assert.equal(ex.sensor.length, r.sensor.size);
  for (const row of ex.sensor) {
    const xs = r.sensor.get(`${Date.parse(row.window_start)}|${row.sensor_type}|${row.sensor_id}`);
    assert.ok(xs, `sensor row ${row.window_start} ${row.sensor_id}`);
    assert.equal(row.count, xs.length);
    assert.equal(Date.parse(row.window_end) - Date.parse(row.window_start), 300_000);
    close(row.avg_value, mean(xs), 1e-4, 'avg_value');
    close(row.min_value, Math.min(...xs), 1e-4, 'min_value');
    close(row.max_value, Math.max(...xs), 1e-4, 'max_value');
    if (xs.length === 1) assert.equal(row.stddev_value, null);
    else close(row.stddev_value, stddev(xs), 1e-4, 'stddev_value');
  }
  assert.equal(ex.consumption.length, r.consumption.size);
  for (const row of ex.consumption) {
    const xs = r.consumption.get(`${Date.parse(row.window_start)}|${row.customer_id}`);
    assert.ok(xs);
    assert.equal(row.reading_count, xs.length);
    close(row.total_consumption, xs.reduce((a, b) => a + b, 0), 1e-4, 'total_consumption');
    close(row.avg_consumption, mean(xs), 1e-4, 'avg_consumption');
  }
  assert.equal(ex.weather.length, r.weather.size);
  for (const row of ex.weather) {
    const w = r.weather.get(Date.parse(row.window_start));
    assert.ok(w);
    close(row.avg_temperature, mean(w.t), 0.01, 'avg_temperature');
    close(row.avg_humidity, mean(w.h), 0.01, 'avg_humidity');
    close(row.avg_pressure, mean(w.p), 0.01, 'avg_pressure');
    close(row.avg_wind_speed, mean(w.w), 0.01, 'avg_wind_speed');
    assert.equal(row.weather_condition, mode(w.c));
  }
  for (const reason of ['invalid_json', 'invalid_record', 'out_of_range', 'late'] as const) {
    assert.equal(ex.deadLetters.byReason[reason], r.dead[reason] ?? 0, reason);
  }
  assert.equal(ex.deadLetters.total + ex.aggregated.sensor + ex.aggregated.meter + ex.aggregated.weather, 60_000);
});

test('expected: exact decimal rounding, NULL stddev for one value, mode ties go alphabetically', () => {
  const mk = (i: number, value: number, ts: number): LoadEvent => ({
    index: i,
    source: 'sensor',
    topic: 's',
    partition: 0,
    key: 'a',
    value: '',
    kind: 'on_time',
    eventTimeMs: ts,
    record: { source: 'sensor', sensor_id: 'a', sensor_type: 'voltage', value },
  });
  const t0 = Date.UTC(2026, 0, 1);
  // 1e9 + {4, 7, 13, 16} would need 14 digits; the contract's point holds at this scale too:
  // values near 999000 that differ in the fourth decimal.
  const xs = [999000.0004, 999000.0007, 999000.0013, 999000.0016];
  const ex = expectedAggregates([...xs.map((x, i) => mk(i, x, t0 + i)), mk(9, 0.1263, t0 + 300_000)]);
  assert.equal(ex.sensor[0].avg_value, '999000.0010');
  assert.equal(ex.sensor[0].stddev_value, '0.0005'); // sqrt(30e-8) = 0.000548
  assert.equal(ex.sensor[0].min_value, '999000.0004');
  assert.equal(ex.sensor[1].stddev_value, null);
  const w = (i: number, c: string): LoadEvent => ({
    index: i,
    source: 'weather',
    topic: 'w',
    partition: 0,
    key: 'weather',
    value: '',
    kind: 'on_time',
    eventTimeMs: t0 + i,
    record: { source: 'weather', temperature: 0.05 * (i % 2), humidity: 50, pressure: 1000, wind_speed: 1, weather_condition: c },
  });
  const ew = expectedAggregates([w(0, 'Sunny'), w(1, 'Cloudy'), w(2, 'Sunny'), w(3, 'Cloudy')]);
  assert.equal(ew.weather[0].weather_condition, 'Cloudy');
  assert.equal(ew.weather[0].avg_temperature, '0.03'); // 0.025 rounds half away from zero
});

test('the weather: a daily cycle, days that differ, conditions that change; messages agree with the regional temperature', () => {
  const g = new EventGenerator({ seed: 8, events: 40_000, spanMs: 14 * 86_400_000, mix: { sensor: 0, meter: 0, weather: 1 } });
  const byHour = Array.from({ length: 24 }, () => [] as number[]);
  const byDay = new Map<number, number[]>();
  const conditions = new Map<string, number>();
  while (!g.done) {
    const ev = g.next();
    const w = JSON.parse(ev.value as string) as { temperature: number; weather_condition: string };
    assert.ok(Math.abs(w.temperature - g.temperatureAt(ev.eventTimeMs)) < 2, `${w.temperature} vs ${g.temperatureAt(ev.eventTimeMs)}`);
    byHour[new Date(ev.eventTimeMs).getUTCHours()].push(w.temperature);
    const d = Math.floor(ev.eventTimeMs / 86_400_000);
    (byDay.get(d) ?? byDay.set(d, []).get(d)!).push(w.temperature);
    conditions.set(w.weather_condition, (conditions.get(w.weather_condition) ?? 0) + 1);
  }
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  // solar time is UTC + 1.4 h: warmest mid-afternoon, coldest before dawn
  assert.ok(avg(byHour[13]) > avg(byHour[3]) + 5, `13h ${avg(byHour[13])} vs 3h ${avg(byHour[3])}`);
  const daily = [...byDay.values()].map(avg);
  assert.ok(Math.max(...daily) - Math.min(...daily) > 5, `daily means ${daily.map((x) => x.toFixed(1))}`);
  assert.ok(conditions.size >= 3, `conditions: ${[...conditions.keys()]}`);
  for (const n of conditions.values()) assert.ok(n < 0.8 * 40_000, 'no condition all the time');
});

test('weather effect: a reading grows by the coefficient per heating degree; 0 leaves the hour of day alone', () => {
  const opts: GenerateInput = { seed: 3, events: 20_000, mix: { sensor: 0, meter: 1, weather: 0 }, spanMs: 3 * 86_400_000 };
  const readings = (k: number): number[] =>
    [...generate({ ...opts, weatherEffect: { heatingKwhPerDegree: k, coolingKwhPerDegree: k } })].map((e) => (e.record as { reading: number }).reading);
  const g = new EventGenerator(opts);
  const base = readings(0);
  const planted = readings(0.05);
  let checked = 0;
  for (let i = 0; i < base.length; i++) {
    const ev = g.next();
    const t = g.temperatureAt(ev.eventTimeMs);
    const degrees = Math.max(0, 18 - t) + Math.max(0, t - 22);
    assert.ok(Math.abs(planted[i] - base[i] - 0.05 * degrees) <= 0.001 + 1e-9, `reading ${i}: ${planted[i]} − ${base[i]} vs ${degrees} degrees`);
    if (degrees > 1) checked++;
  }
  assert.ok(checked > 1000, `${checked} readings with heating or cooling need`);
});

test('planted sensor faults: distinct sensors, spike and out-of-band windows in the second half, silenced sensors quiet; nothing else leaves its band', async () => {
  const { SENSOR_BANDS } = await import('../../loadgen/generate.js');
  const opts: GenerateInput = {
    seed: 21, events: 30_000, sensors: 24, spanMs: 6 * 3_600_000, partitions: 3, outOfOrderShare: 0.05,
    anomalies: { spikes: 3, outOfBand: 4, silenced: 2, silenceMs: 3_600_000 },
  };
  const g = new EventGenerator(opts);
  const p = g.planted;
  assert.equal(p.spikes.length, 3);
  assert.equal(p.outOfBand.length, 4);
  assert.equal(new Set(p.outOfBand.map((o) => o.side)).size, 2, 'above and below');
  assert.equal(p.silenced.length, 2);
  const ids = [...p.spikes, ...p.outOfBand, ...p.silenced].map((x) => x.sensorId);
  assert.equal(new Set(ids).size, ids.length, 'one fault per sensor');
  const o = g.options;
  const half = o.startMs + o.spanMs / 2;
  for (const x of [...p.spikes, ...p.outOfBand]) {
    assert.ok(x.windowStartMs >= half && x.windowStartMs + 300_000 < o.startMs + o.spanMs, `window ${new Date(x.windowStartMs).toISOString()}`);
  }
  const fault = new Map<string, { start: number; kind: string }>();
  for (const x of p.spikes) fault.set(x.sensorId, { start: x.windowStartMs, kind: 'spike' });
  for (const x of p.outOfBand) fault.set(x.sensorId, { start: x.windowStartMs, kind: x.side });
  const silent = new Map(p.silenced.map((x) => [x.sensorId, x.fromMs]));
  let inFault = 0;
  while (!g.done) {
    const ev = g.next();
    if (ev.source !== 'sensor' || ev.record === undefined || ev.record.source !== 'sensor') continue;
    const r = ev.record;
    const from = silent.get(r.sensor_id);
    assert.ok(from === undefined || ev.eventTimeMs < from, `${r.sensor_id} sent at ${new Date(ev.eventTimeMs).toISOString()}`);
    const [low, high] = SENSOR_BANDS[r.sensor_type as keyof typeof SENSOR_BANDS];
    const f = fault.get(r.sensor_id);
    const inWindow = f !== undefined && ev.eventTimeMs >= f.start && ev.eventTimeMs < f.start + 300_000;
    if (!inWindow || f.kind === 'spike') {
      assert.ok(r.value >= low && r.value <= high, `${r.sensor_id} ${r.sensor_type} ${r.value} outside [${low}, ${high}]`);
    } else {
      inFault++;
      assert.ok(f.kind === 'above' ? r.value > high : r.value < low, `${r.sensor_id} ${r.value} should be ${f.kind} [${low}, ${high}]`);
    }
  }
  assert.ok(inFault > 0);
  assert.throws(() => new EventGenerator({ ...opts, sensors: 8 }), /anomalies: 9 faults need as many sensors/);
  assert.throws(() => new EventGenerator({ ...opts, events: Infinity }), /need a fixed number of events/);
});

test('command line: --weather-effect, --spikes, --out-of-band, --silence, --silence-for', async () => {
  const { parseLoadgenArgs } = await import('../../loadgen/config.js');
  const gen = (args: string[]) => parseLoadgenArgs([...args, '--no-kafka', '--expected', 'x.json'], {}).run.generate;
  assert.deepEqual(gen(['--weather-effect', '0.1,0.03']).weatherEffect, { heatingKwhPerDegree: 0.1, coolingKwhPerDegree: 0.03 });
  assert.deepEqual(gen(['--weather-effect', '0']).weatherEffect, { heatingKwhPerDegree: 0, coolingKwhPerDegree: 0 });
  assert.equal(gen([]).weatherEffect, undefined);
  assert.deepEqual(gen(['--spikes', '2', '--silence', '1', '--silence-for', '30m']).anomalies, { spikes: 2, silenced: 1, silenceMs: 1_800_000 });
  assert.deepEqual(gen(['--out-of-band', '0']).anomalies, { outOfBand: 0 });
  for (const [args, flag] of [
    [['--weather-effect', 'hot'], '--weather-effect'],
    [['--weather-effect', '1,2,3'], '--weather-effect'],
    [['--spikes', '1.5'], '--spikes'],
    [['--silence-for', 'soon'], '--silence-for'],
  ] as const) {
    assert.throws(() => gen([...args]), (e: unknown) => e instanceof Error && e.message.startsWith(`${flag}:`), args.join(' '));
  }
});
