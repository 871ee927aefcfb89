/**
 * The table of stream facts (src/common/streams.ts) and what is derived from it: the
 * shipped schema agrees with it, the exact sums cannot overflow, and the sink's rows and
 * SQL follow its columns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { columnType, Kind, KIND_NAMES, STREAM_LIST, STREAMS, SUM_SCALE, sqlType, VARS_PER_KIND } from '../../src/common/streams.js';
import { streamRows } from '../../src/main/copy-rows.js';
import { SINK_TARGETS, STAGING_SQL } from '../../src/main/sink-sql.js';
import type { WindowState } from '../../src/main/window-store.js';
import { STATS_WIDTH, statsAdd, statsInit } from '../../src/workers/stats.js';
import * as protocol from '../../src/workers/protocol.js';

const SCHEMA = readFileSync(new URL('../../../sql/schema.sql', import.meta.url), 'utf8');

/** The columns (name → type) and constraints of each CREATE TABLE in sql/schema.sql. */
function schemaTables(): Map<string, { columns: Map<string, string>; constraints: string[] }> {
  const tables = new Map<string, { columns: Map<string, string>; constraints: string[] }>();
  for (const m of SCHEMA.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(\n([\s\S]*?)\n\);/g)) {
    const columns = new Map<string, string>();
    const constraints: string[] = [];
    for (const raw of m[2].split('\n')) {
      const line = raw.trim().replace(/,$/, '');
      if (line.startsWith('CONSTRAINT ')) constraints.push(line.replace(/\s+/g, ' '));
      else {
        const [, name, type] = /^(\w+) (\w+(?:\([\d, ]+\))?)/.exec(line)!;
        columns.set(name, type.replace(/\s+/g, ''));
      }
    }
    tables.set(m[1], { columns, constraints });
  }
  return tables;
}

test('streams: names, Kind numbers and the per-Kind constants agree, and the workers see the same', () => {
  assert.deepEqual(KIND_NAMES, ['sensor', 'meter', 'weather']);
  KIND_NAMES.forEach((name, k) => {
    assert.equal(Kind[name], k);
    assert.equal(STREAMS[name].name, name);
    assert.equal(STREAM_LIST[k], STREAMS[name]);
  });
  assert.deepEqual(VARS_PER_KIND, [1, 1, 4]);
  assert.deepEqual(SUM_SCALE, [1e9, 1e7, 1e9]);
  assert.equal(protocol.Kind, Kind);
  assert.equal(protocol.SUM_SCALE, SUM_SCALE);
  assert.equal(new Set(STREAM_LIST.map((s) => s.topic.env)).size, STREAM_LIST.length);
  assert.equal(new Set(STREAM_LIST.map((s) => s.window.flag)).size, STREAM_LIST.length);
});

test('streams: sql/schema.sql has each table with the columns, types and unique key of the table of facts', () => {
  const tables = schemaTables();
  for (const s of STREAM_LIST) {
    const t = tables.get(s.table);
    assert.ok(t, `${s.table} is in sql/schema.sql`);
    const expected = [
      ['window_start', 'TIMESTAMP'],
      ['window_end', 'TIMESTAMP'],
      ...s.groupBy.map((g) => [g, sqlType(s.fields[g])]),
      ...s.columns.map((c) => [c.name, sqlType(columnType(s, c))]),
    ];
    const own = [...t.columns].filter(([name]) => !['id', 'created_at', 'updated_at'].includes(name));
    assert.deepEqual(own, expected, s.table);
    assert.ok(t.columns.has('updated_at'), `${s.table}.updated_at (the upsert sets it)`);
    assert.ok(
      t.constraints.includes(`CONSTRAINT ${s.unique} UNIQUE (${['window_start', ...s.groupBy].join(', ')})`),
      `${s.table}: ${s.unique} on the window and the group columns; has ${t.constraints.join('; ')}`,
    );
  }
});

test('streams: every variable is a DECIMAL whose largest value times the sum unit stays exact (below 2^52)', () => {
  for (const s of STREAM_LIST) {
    for (const v of s.variables) {
      const t = s.fields[v];
      assert.equal(t.sql, 'DECIMAL', `${s.name}.${v}`);
      if (t.sql === 'DECIMAL') assert.ok(10 ** (t.digits[0] - t.digits[1]) * s.sumScale <= 2 ** 52, `${s.name}.${v} with unit 1/${s.sumScale}`);
    }
    for (const g of s.groupBy) assert.equal(s.fields[g].sql, 'VARCHAR', `${s.name} groups by text (${g})`);
    if (s.category !== undefined) assert.equal(s.fields[s.category].sql, 'VARCHAR');
    for (const c of s.columns) {
      if (c.of === 'count') continue;
      if (c.of === 'mode') assert.equal(c.field, s.category, `${s.table}.${c.name}`);
      else assert.ok(s.variables.includes(c.field), `${s.table}.${c.name} reads a variable`);
      if (c.of === 'mean' || c.of === 'sum') assert.equal(columnType(s, c).sql, 'DECIMAL', `${s.table}.${c.name}`);
    }
  }
});

/** One final window of `s` with the given values per group key (one array of values per variable). */
function windowOf(kind: number, keys: string[], values: number[][][], conds: Map<string, number> | null): WindowState {
  const s = STREAM_LIST[kind];
  const width = s.variables.length * STATS_WIDTH;
  const stats = new Float64Array(keys.length * width);
  keys.forEach((_, g) =>
    values[g].forEach((xs, v) => {
      statsInit(stats, g * width + v * STATS_WIDTH);
      for (const x of xs) statsAdd(stats, g * width + v * STATS_WIDTH, x, s.sumScale);
    }),
  );
  return { start: Date.UTC(2026, 10, 28, 2, 50), keys, slots: new Map(), stats, conds };
}

test('streams: COPY rows have the window, the group columns and the columns in table order, with the columns\' decimal places', () => {
  const sensor = windowOf(Kind.sensor, ['voltage\u0000s\t1'], [[[230.1, 230.2, 230.35]]], null);
  assert.equal(
    streamRows(STREAMS.sensor, [sensor], 300_000),
    '2026-11-28 02:50:00.000\t2026-11-28 02:55:00.000\tvoltage\ts\\t1\t230.2167\t230.1\t230.35\t3\t0.12583057392119365\n',
  );
  const meter = windowOf(Kind.meter, ['c1', 'c2'], [[[1.25, 1.25, -0.5]], [[99999999.9999, 99999999.9999]]], null);
  assert.equal(
    streamRows(STREAMS.meter, [meter], 3_600_000),
    '2026-11-28 02:50:00.000\t2026-11-28 03:50:00.000\tc1\t2.0000\t0.6667\t3\n' +
      '2026-11-28 02:50:00.000\t2026-11-28 03:50:00.000\tc2\t199999999.9998\t99999999.9999\t2\n',
  );
  const weather = windowOf(Kind.weather, [''], [[[20.005, 20], [50], [1000.1], [3]]], new Map([['Sunny', 1], ['Cloudy', 1]]));
  assert.equal(
    streamRows(STREAMS.weather, [weather, { ...weather, keys: [] }], 3_600_000),
    '2026-11-28 02:50:00.000\t2026-11-28 03:50:00.000\t20.00\t50.00\t1000.10\t3.00\tCloudy\n',
    'a weather window without records writes no row',
  );
});

test('streams: the sink stages and upserts every column of each table, conflicting on its unique key', () => {
  assert.deepEqual(
    SINK_TARGETS.map((t) => [t.stage, t.table]),
    [
      ['stage_sensor', 'sensor_aggregates_realtime'],
      ['stage_meter', 'consumption_aggregates_realtime'],
      ['stage_weather', 'weather_aggregates_realtime'],
      ['stage_dead_letters', 'dead_letters'],
    ],
  );
  const tables = schemaTables();
  for (const t of SINK_TARGETS) {
    assert.ok(STAGING_SQL.includes(t.ddl));
    const cols = [...tables.get(t.table)!.columns.keys()].filter((c) => !['id', 'created_at', 'updated_at'].includes(c));
    assert.ok(t.upsert.includes(`(${cols.join(', ')})\nSELECT ${cols.join(', ')} FROM ${t.stage}`), t.table);
    if (t.stream !== null) {
      assert.match(t.upsert, new RegExp(`ON CONFLICT ON CONSTRAINT ${t.stream.unique} DO UPDATE SET`));
      for (const c of t.stream.columns) assert.ok(t.upsert.includes(`${c.name} = EXCLUDED.${c.name}`), `${t.table} updates ${c.name}`);
    }
  }
});
