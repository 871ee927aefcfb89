import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkText, fitsDecimal, parseNumber, parseTimestamp } from '../../src/workers/parse.js';

const T = Date.UTC(2026, 10, 28, 2, 51, 52, 512);

test('timestamps: every form the contract lists', () => {
  const same = [
    '2026-11-28T02:51:52.512000',
    '2026-11-28T02:51:52.512Z',
    '2026-11-28 02:51:52.512',
    '2026-11-28T04:51:52.512+02:00',
    '2026-11-28T00:21:52.512-0230',
    '2026-11-28T03:51:52.512+01',
    '2026-11-28T02:51:52.5129',
    '2026-11-28T02:51:52,512',
    T,
    T + 0.9,
  ];
  for (const v of same) assert.equal(parseTimestamp(v), T, String(v));
  assert.equal(parseTimestamp('2026-11-28T02:51:52'), Date.UTC(2026, 10, 28, 2, 51, 52));
  assert.equal(parseTimestamp('2026-11-28T02:51'), Date.UTC(2026, 10, 28, 2, 51));
  assert.equal(parseTimestamp('2026-11-28T02:51:52.5'), Date.UTC(2026, 10, 28, 2, 51, 52, 500));
  assert.equal(parseTimestamp('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
});

test('timestamps: unreadable values are NaN', () => {
  for (const v of [
    '', 'yesterday', '2026-13-01T00:00:00', '2026-02-29T00:00:00', '2026-11-28T24:00:00', '2026-11-28T23:60:00',
    '2026-11-28', '1764297112512', '2026-11-28T02:51:52+25:00', null, undefined, true, {}, [], NaN, Infinity, 1e20,
  ]) {
    assert.ok(Number.isNaN(parseTimestamp(v)), JSON.stringify(v) ?? String(v));
  }
});

test('numbers: JSON numbers and decimal strings; anything else is NaN', () => {
  assert.equal(parseNumber(231.7), 231.7);
  assert.equal(parseNumber('231.7'), 231.7);
  assert.equal(parseNumber('-1.5'), -1.5);
  assert.ok(Number.isNaN(parseNumber(' -1.5 ')), 'white space around a number is rejected');
  assert.equal(parseNumber('1e3'), 1000);
  assert.equal(parseNumber('.5'), 0.5);
  assert.equal(parseNumber(0), 0);
  for (const v of ['', 'abc', '1,5', '0x10', 'NaN', 'Infinity', '1e999', null, true, [], {}, Infinity, NaN, undefined]) {
    assert.ok(Number.isNaN(parseNumber(v)), String(v));
  }
});

test('DECIMAL limits round as PostgreSQL does before comparing', () => {
  assert.ok(fitsDecimal(999999.9999, 10, 4));
  assert.ok(fitsDecimal(-999999.99994, 10, 4));
  assert.ok(!fitsDecimal(999999.99995, 10, 4));
  assert.ok(!fitsDecimal(1e6, 10, 4));
  assert.ok(fitsDecimal(999.99, 5, 2));
  assert.ok(!fitsDecimal(999.995, 5, 2));
  assert.ok(!fitsDecimal(1e300, 12, 4));
});

test('text: length in characters (code points), NUL and lone surrogates rejected', () => {
  assert.equal(checkText('f', 'a'.repeat(50), 50), null);
  assert.match(checkText('f', 'a'.repeat(51), 50)!, /51 characters/);
  assert.equal(checkText('f', '😀'.repeat(50), 50), null, 'astral characters count once');
  assert.match(checkText('f', 'a\u0000b', 50)!, /NUL/);
  assert.match(checkText('f', 'a\ud800b', 50)!, /surrogate/);
  assert.match(checkText('f', '', 50)!, /empty/);
  assert.equal(checkText('f', 'tab\there\nnew\\"quote" ë ж 日本', 50), null);
});

test('timestamps: the fast path agrees with the general parser, minute cache included', () => {
  const forms = [
    '2026-11-28T02:51:52.512000', '2026-11-28T02:51:52.512Z', '2026-11-28T02:51:52Z', '2026-11-28T02:51:52',
    '2026-11-28 02:51:07.1', '2026-11-28T02:51:07.12', '2026-11-28T02:52:00.000', '2024-02-29T23:59:59.999Z',
    '2026-11-28T02:51:60', '2026-11-28T02:51:5', '2026-11-28T02:51:52.', '2026-11-28T02:51:52.51x', '2026-02-30T02:51:52',
    '2026-11-28X02:51:52', '2026-11-28T02:51:52.5+01:00', '2026-11-28T02:51:52ZZ', '9999-12-31T23:59:59.999Z',
  ];
  const reference = (v: string): number => {
    const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|\+01:00)?$/.exec(v);
    if (!m) return NaN;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
    if (s > 59 || mo > 12) return NaN;
    const t = Date.UTC(y, mo - 1, d, h, mi, s, m[7] ? Number((m[7] + '00').slice(0, 3)) : 0);
    if (new Date(t).getUTCDate() !== d) return NaN;
    return m[8] === '+01:00' ? t - 3600000 : t;
  };
  for (let round = 0; round < 2; round++) {
    for (const v of forms) {
      const a = parseTimestamp(v);
      const b = reference(v);
      assert.ok(a === b || (Number.isNaN(a) && Number.isNaN(b)), `${v}: ${a} vs ${b}`);
    }
  }
});

test('DECIMAL limits are judged on the decimal form PostgreSQL receives, at every boundary', () => {
  const cases: [number, number, number, boolean][] = [
    [999999.99995, 10, 4, false], [999999.99994999, 10, 4, true], [999999.9999, 10, 4, true], [-999999.99995, 10, 4, false],
    [999999.5, 10, 4, true], [999999, 10, 4, true], [1000000, 10, 4, false], [99999.995, 7, 2, false], [99999.994, 7, 2, true],
    [999.995, 5, 2, false], [999.9949999999, 5, 2, true], [99999999.99995, 12, 4, false], [99999999.9999, 12, 4, true],
    [0.00005, 10, 4, true], [123.456789, 5, 2, true], [Number.MAX_VALUE, 10, 4, false],
  ];
  for (const [x, p, sc, fits] of cases) assert.equal(fitsDecimal(x, p, sc), fits, `${x} in DECIMAL(${p}, ${sc})`);
});
