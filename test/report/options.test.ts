import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/report/errors.js';
import { parseCliArgs, parseTime } from '../../src/report/options.js';

const iso = (flag: string, text: string, endOfDay = false): string => parseTime(flag, text, endOfDay).toISOString();

test('times: no zone is UTC, whatever the local zone; zones and a space separator are read', () => {
  assert.equal(iso('--from', '2026-11-01'), '2026-11-01T00:00:00.000Z');
  assert.equal(iso('--from', '2026-11-01T06:00'), '2026-11-01T06:00:00.000Z');
  assert.equal(iso('--from', '2026-11-01 06:30:15.5'), '2026-11-01T06:30:15.500Z');
  assert.equal(iso('--from', '2026-11-01T06:00+02:00'), '2026-11-01T04:00:00.000Z');
  assert.equal(iso('--from', '2026-11-01T06:00Z'), '2026-11-01T06:00:00.000Z');
});

test('a date alone in --to is the end of that day; a date-time is taken as it is', () => {
  assert.equal(iso('--to', '2026-11-07', true), '2026-11-08T00:00:00.000Z');
  assert.equal(iso('--to', '2026-12-31', true), '2027-01-01T00:00:00.000Z');
  assert.equal(iso('--to', '2026-11-07T00:00', true), '2026-11-07T00:00:00.000Z');
});

test('dates that do not exist and other text are refused, naming the flag', () => {
  for (const bad of ['2026-02-30', '2026-13-01', '2026-02-30T10:00', '1 Nov 2026', '', '2026-11-01T25:00', 'now']) {
    assert.throws(
      () => parseTime('--from', bad),
      (e: unknown) => e instanceof ConfigError && e.setting === '--from' && e.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test('defaults and flags', () => {
  const none = {
    'postgres-host': undefined, 'postgres-port': undefined, 'postgres-db': undefined, 'postgres-user': undefined,
    'postgres-password': undefined, 'postgres-password-file': undefined, 'postgres-schema': undefined, schema: undefined,
  };
  const defaults = { help: false, version: false, json: false, top: 10, bandWidth: 5, baselineWindows: 24, zThreshold: 5, silentForMs: 1_800_000 };
  assert.deepEqual(parseCliArgs([]), { ...defaults, pg: none });
  const o = parseCliArgs([
    '--json', '--top', '3', '--band-width', '2.5', '--chart', 'a.SVG', '--customer', 'c1', '--schema', 's_1',
    '--png', 'b.png', '--csv', 'h.csv', '--baseline', '12', '--z', '3.5', '--silent-for', '2h', '--postgres-port', '6543',
  ]);
  assert.deepEqual(o, {
    ...defaults, json: true, top: 3, bandWidth: 2.5, chart: 'a.SVG', png: 'b.png', csv: 'h.csv', customer: 'c1',
    baselineWindows: 12, zThreshold: 3.5, silentForMs: 7_200_000, pg: { ...none, schema: 's_1', 'postgres-port': '6543' },
  });
  assert.equal(parseCliArgs(['--chart', 'x.PNG']).png, 'x.PNG');
  assert.equal(parseCliArgs(['-h']).help, true);
  assert.equal(parseCliArgs(['--version']).version, true);
});

test('bad values name their flag', () => {
  const cases: [string[], string][] = [
    [['--top', '1.5'], '--top'],
    [['--top', '-1'], '--top'],
    [['--band-width', '0'], '--band-width'],
    [['--band-width', 'Infinity'], '--band-width'],
    [['--band-width', ''], '--band-width'],
    [['--from', '2026-01-02', '--to', '2026-01-01T12:00'], '--to'],
    [['--chart', 'x.pdf'], '--chart'],
    [['--png', 'x.svg'], '--png'],
    [['--chart', 'a.png', '--png', 'b.png'], '--png'],
    [['--csv', '-', '--json'], '--csv'],
    [['--baseline', '0'], '--baseline'],
    [['--z', '-1'], '--z'],
    [['--silent-for', '10'], '--silent-for'],
    [['--postgres-schema', 'a b'], '--postgres-schema'],
    [['--customer', ''], '--customer'],
    [['--schema', 'x";drop'], '--schema'],
    [['--nope'], '--nope'],
  ];
  for (const [args, flag] of cases) {
    assert.throws(
      () => parseCliArgs(args),
      (e: unknown) => e instanceof ConfigError && e.setting === flag,
      args.join(' '),
    );
  }
});
