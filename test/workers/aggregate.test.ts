import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateBatch } from '../../src/workers/aggregate.js';
import { Kind, REASONS, type AggregateResult, type AggregateTask } from '../../src/workers/protocol.js';
import { packTask } from '../helpers.js';
import { STATS_WIDTH, S_COUNT, S_MAX, S_MEAN, S_MIN, exactSum, sampleVariance } from '../../src/workers/stats.js';

const MIN5 = 300000;
const BASE = Date.UTC(2026, 10, 28, 0, 0, 0);

function task(kind: Kind, payloads: (string | Uint8Array)[], watermark = -Infinity, windowMs = MIN5): AggregateTask {
  return packTask(kind, payloads, watermark, windowMs);
}

function rejects(r: AggregateResult): [number, string, string][] {
  return Array.from(r.rejected, (idx, k) => [idx, REASONS[r.reasons[k]], r.errors[k]]);
}

const sensor = (o: Record<string, unknown>) =>
  JSON.stringify({ sensor_id: 's1', sensor_type: 'voltage', value: 230, timestamp: new Date(BASE).toISOString(), ...o });

test('sensor records are grouped by (type, id) and 5-minute window with exact statistics', () => {
  const r = aggregateBatch(
    task(Kind.sensor, [
      sensor({ value: 1e9 - 1e9 + 4 }),
      sensor({ value: '7' }),
      sensor({ value: 13, timestamp: BASE + MIN5 - 1 }),
      sensor({ value: 16, timestamp: '2026-11-28 00:04:59.999999' }),
      sensor({ value: 100, timestamp: BASE + MIN5 }),
      sensor({ sensor_id: 's2', value: 1 }),
      sensor({ sensor_type: 'current', value: 2 }),
    ]),
  );
  assert.deepEqual(rejects(r), []);
  const rows = Array.from(r.windows, (w, i) => ({ w, key: r.keys[r.groups[i]], s: r.stats.slice(i * STATS_WIDTH, (i + 1) * STATS_WIDTH) }));
  const find = (w: number, key: string) => rows.find((x) => x.w === w && x.key === key)!;
  const a = find(BASE, 'voltage\u0000s1');
  assert.equal(a.s[S_COUNT], 4);
  assert.equal(a.s[S_MEAN], 10);
  assert.equal(sampleVariance(a.s, 0), 30);
  assert.equal(a.s[S_MIN], 4);
  assert.equal(a.s[S_MAX], 16);
  assert.equal(exactSum(a.s, 0), 40_000_000_000n);
  assert.equal(find(BASE + MIN5, 'voltage\u0000s1').s[S_COUNT], 1);
  assert.equal(find(BASE, 'voltage\u0000s2').s[S_COUNT], 1);
  assert.equal(find(BASE, 'current\u0000s1').s[S_MEAN], 2);
  assert.equal(rows.length, 4);
  assert.equal(r.partMaxTs[0], BASE + MIN5);
  assert.notEqual(r.decodeNs, 0);
});

test('every bad-record case is rejected with its reason and a sentence naming the field', () => {
  const long = 'x'.repeat(101);
  const cases: [string | Uint8Array, string, RegExp][] = [
    [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'invalid_json', /UTF-8/],
    ['{"sensor_id": "s1", ', 'invalid_json', /not valid JSON/],
    ['[1,2,3]', 'invalid_json', /an array, not a JSON object/],
    ['"text"', 'invalid_json', /not a JSON object/],
    ['null', 'invalid_json', /null, not a JSON object/],
    ['', 'invalid_json', /payload is empty \(a Kafka tombstone/],
    [sensor({ sensor_id: undefined }), 'invalid_record', /'sensor_id' is missing/],
    [sensor({ sensor_id: 42 }), 'invalid_record', /'sensor_id' is number 42, not a string/],
    [sensor({ sensor_type: null }), 'invalid_record', /'sensor_type' is null/],
    [sensor({ sensor_id: long }), 'invalid_record', /'sensor_id' is 101 characters long/],
    [sensor({ sensor_type: 'y'.repeat(51) }), 'invalid_record', /'sensor_type' is 51 characters/],
    [sensor({ value: undefined }), 'invalid_record', /'value' is missing/],
    [sensor({ value: 'abc' }), 'invalid_record', /'value' is the string "abc", not a finite number/],
    [sensor({ value: true }), 'invalid_record', /'value' is boolean true/],
    [sensor({ value: 'Infinity' }), 'invalid_record', /'value'/],
    ['{"sensor_id":"s1","sensor_type":"v","value":1e999,"timestamp":0}', 'invalid_record', /'value' is number Infinity/],
    [sensor({ timestamp: undefined }), 'invalid_record', /'timestamp' is missing/],
    [sensor({ timestamp: 'yesterday' }), 'invalid_record', /'timestamp' is the string "yesterday"/],
    [sensor({ timestamp: '2026-02-30T00:00:00' }), 'invalid_record', /'timestamp'/],
    [sensor({ sensor_id: '   ' }), 'invalid_record', /'sensor_id' is blank/],
    [sensor({ value: ' 12 ' }), 'invalid_record', /'value' is the string " 12 ", not a finite number/],
    // The poison pill: valid, but its window ends in the year 10000, which the TIMESTAMP columns are not written with.
    [sensor({ timestamp: '9999-12-31T23:59:59Z' }), 'out_of_range', /window does not lie within the years 0001 to 9999/],
    [sensor({ timestamp: '0000-12-31T23:59:59Z' }), 'invalid_record', /not a valid time in the years 0001 to 9999/],
    [sensor({ timestamp: -62135596800001 }), 'invalid_record', /epoch milliseconds -62135596800001, outside the years 0001 to 9999/],
    [sensor({ value: 1e6 }), 'out_of_range', /'value' is 1000000, which does not fit DECIMAL\(10, 4\)/],
    [sensor({ value: -999999.99995 }), 'out_of_range', /'value'/],
  ];
  const r = aggregateBatch(task(Kind.sensor, [...cases.map((c) => c[0]), sensor({})]));
  const got = rejects(r);
  assert.equal(got.length, cases.length);
  got.forEach(([idx, reason, error], k) => {
    assert.equal(idx, k);
    assert.equal(reason, cases[k][1], `case ${k}: ${error}`);
    assert.match(error, cases[k][2], `case ${k}`);
  });
  assert.equal(r.windows.length, 1, 'the good record is still aggregated');
  assert.equal(r.stats[S_COUNT], 1);
});

test('edges that are accepted: a byte order mark, year 0001, the last window of 9999, numbers with exponents', () => {
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(sensor({}))]);
  const r = aggregateBatch(
    task(Kind.sensor, [
      bom,
      sensor({ timestamp: '0001-01-01T00:00:00Z' }),
      sensor({ timestamp: '9999-12-31T23:54:59.999Z' }),
      sensor({ value: '1e3' }),
    ]),
  );
  assert.deepEqual(rejects(r), []);
  const starts = Array.from(r.windows).sort((a, b) => a - b);
  assert.equal(starts[0], -62135596800000, 'year 0001 is year 0001, not 1901');
  assert.equal(new Date(starts[starts.length - 1]).toISOString(), '9999-12-31T23:50:00.000Z');
});

test('future guard: records beyond the limit are dead letters and never move event time', () => {
  const limit = BASE + 60_000;
  const t = { ...task(Kind.sensor, [sensor({}), sensor({ timestamp: limit + 1 }), sensor({ timestamp: limit })]), futureLimit: limit };
  const r = aggregateBatch(t);
  const got = rejects(r);
  assert.deepEqual(got.map((g) => [g[0], g[1]]), [[1, 'future']]);
  assert.match(got[0][2], /ahead of the engine's clock by more than the allowed future skew/);
  assert.equal(r.partMaxTs[0], limit, 'the future record does not count as event time');
});

test('meter records group by customer_id; meter_id may be absent', () => {
  const m = (o: Record<string, unknown>) => JSON.stringify({ meter_id: 'm1', customer_id: 'c1', reading: 1.5, unit: 'kWh', timestamp: BASE, ...o });
  const r = aggregateBatch(
    task(Kind.meter, [m({}), m({ meter_id: 'm2', reading: '-0.5' }), m({ meter_id: undefined, reading: 2 }), m({ customer_id: 'c2' }), m({ reading: 1e8 }), m({ customer_id: undefined })], -Infinity, 3600000),
  );
  assert.deepEqual(rejects(r).map((x) => x[1]), ['out_of_range', 'invalid_record']);
  const c1 = r.keys.indexOf('c1');
  const i = Array.from(r.groups).indexOf(c1);
  assert.equal(r.stats[i * STATS_WIDTH + S_COUNT], 3);
  assert.equal(exactSum(r.stats, i * STATS_WIDTH), 30_000_000n, 'readings sum in units of 1e-7');
});

test('weather: four statistics per window and condition counts; location in either form', () => {
  const w = (o: Record<string, unknown>) =>
    JSON.stringify({ timestamp: '2026-11-28T02:51:52.512Z', temperature: 24.3, humidity: 61, pressure: 1003.2, wind_speed: 7.4, wind_direction: 211, weather_condition: 'Cloudy', location: '41.98,20.37', ...o });
  const r = aggregateBatch(
    task(Kind.weather, [w({}), w({ temperature: '25.7', weather_condition: 'Sunny', location: { lat: 1, lon: 2 } }), w({ weather_condition: 'Sunny' }), w({ pressure: 100000 }), w({ humidity: undefined })], -Infinity, 3600000),
  );
  assert.deepEqual(rejects(r).map((x) => x[1]), ['out_of_range', 'invalid_record']);
  assert.equal(r.windows.length, 1);
  assert.equal(r.windows[0], Date.UTC(2026, 10, 28, 2));
  assert.equal(r.stats[S_COUNT], 3);
  assert.ok(Math.abs(r.stats[S_MEAN] - (24.3 + 25.7 + 24.3) / 3) < 1e-12);
  assert.equal(r.stats[2 * STATS_WIDTH + S_MEAN], 1003.2);
  const counts = new Map<string, number>();
  for (let k = 0; k < r.condCounts.length; k += 3) counts.set(r.condNames[r.condCounts[k + 1]], r.condCounts[k + 2]);
  assert.deepEqual(Object.fromEntries(counts), { Cloudy: 1, Sunny: 2 });
});

test('records whose window ended at or before the dispatch watermark are late', () => {
  const wm = BASE + 2 * MIN5;
  const r = aggregateBatch(
    task(Kind.sensor, [sensor({ timestamp: BASE }), sensor({ timestamp: BASE + MIN5 + 1 }), sensor({ timestamp: BASE + 2 * MIN5 }), sensor({ value: 'bad', timestamp: BASE })], wm),
  );
  const got = rejects(r);
  assert.deepEqual(got.map((x) => [x[0], x[1]]), [[0, 'late'], [1, 'late'], [3, 'invalid_record']]);
  assert.match(got[0][2], /already final/);
  assert.equal(r.windows.length, 1);
  assert.equal(r.windows[0], BASE + 2 * MIN5);
  assert.equal(r.partMaxTs[0], BASE + 2 * MIN5, 'late records still count as observed event time');
});

test('a task spanning many windows in any order: one partial per (window, group), each with every record of it', () => {
  // 12 windows × 7 sensors, records shuffled so windows recur out of order: the first four
  // windows seen are looked up in dense arrays, the later ones in a map; both must agree
  // with a plain count and sum per (window, key).
  const want = new Map<string, { n: number; sum: bigint }>();
  const payloads: string[] = [];
  let seed = 7;
  const rnd = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % k);
  for (let i = 0; i < 3000; i++) {
    const w = rnd(12);
    const id = `s${rnd(7)}`;
    const value = rnd(1000);
    payloads.push(sensor({ sensor_id: id, value, timestamp: new Date(BASE + w * MIN5 + rnd(MIN5)).toISOString() }));
    const k = `${BASE + w * MIN5}|voltage\u0000${id}`;
    const x = want.get(k) ?? { n: 0, sum: 0n };
    x.n++;
    x.sum += BigInt(value) * 1_000_000_000n; // sums are exact, in units of 1e-9
    want.set(k, x);
  }
  const r = aggregateBatch(task(Kind.sensor, payloads));
  assert.deepEqual(rejects(r), []);
  const got = new Map<string, { n: number; sum: bigint }>();
  for (let i = 0; i < r.windows.length; i++) {
    const k = `${r.windows[i]}|${r.keys[r.groups[i]]}`;
    assert.ok(!got.has(k), `one partial per (window, group): ${k} twice`);
    const s = r.stats.subarray(i * STATS_WIDTH, (i + 1) * STATS_WIDTH);
    got.set(k, { n: s[S_COUNT], sum: exactSum(s, 0) });
  }
  assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()));
});
