import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixed, formatReport, strength, textTable } from '../../src/report/format.js';
import type { Report } from '../../src/report/types.js';

test('textTable aligns columns and leaves no trailing spaces', () => {
  const t = textTable(
    [{ title: 'name' }, { title: 'n', align: 'right' }, { title: 'note' }],
    [
      ['a', '1', ''],
      ['longer', '100', 'x'],
    ],
  );
  assert.equal(t, ['name      n  note', '------  ---  ----', 'a         1', 'longer  100  x'].join('\n'));
});

test('fixed: n/a for missing and non-finite values, no "-0.000"', () => {
  assert.equal(fixed(null, 2), 'n/a');
  assert.equal(fixed(Number.NaN, 2), 'n/a');
  assert.equal(fixed(-1e-17, 3), '0.000');
  assert.equal(fixed(-0.5, 1), '-0.5');
  assert.equal(fixed(2, 3), '2.000');
});

test('strength words by |r|', () => {
  assert.deepEqual(
    [null, 0.05, -0.2, 0.4, -0.6, 0.95, 1].map(strength),
    ['n/a', 'none', 'weak negative', 'moderate positive', 'strong negative', 'very strong positive', 'very strong positive'],
  );
});

test('an empty report says so instead of printing empty tables', () => {
  const r: Report = {
    period: { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z') },
    customer: 'c9',
    coverage: { hoursMatched: 0, hoursWithoutWeather: 0, hoursWithoutConsumption: 0 },
    correlations: [{ variable: 'temperature', r: null, hours: 0, slope: null, intercept: null }],
    topHours: [],
    byCondition: [],
    bandWidth: 5,
    byTemperatureBand: [],
    degreeHours: {
      heatingBase: 18, coolingBase: 22, hours: 0, heatingDegreeHours: 0, coolingDegreeHours: 0, heatingHours: 0, coolingHours: 0,
      kwhPerHeatingDegreeHour: null, kwhPerCoolingDegreeHour: null, heatingAdjustedR: null, coolingAdjustedR: null,
    },
    warnings: [],
    health: {
      windows: 0,
      sensors: 0,
      outOfBand: { windows: 0, sensors: 0, byType: [], worst: [] },
      jumps: { baselineWindows: 24, zThreshold: 5, windows: 0, sensors: 0, largest: [] },
      stale: { silentForMs: 1_800_000, dataEnd: null, sensors: [] },
    },
  };
  const out = formatReport(r);
  assert.match(out, /^Weather and consumption, 2026-01-01 00:00 to 2026-01-02 00:00 UTC, customer c9$/m);
  assert.match(out, /^temperature\s+n\/a\s+n\/a\s+n\/a\s+n\/a\s+0\s+n\/a\s+n\/a\s+°C\s+fewer than 2 hours$/m);
  assert.match(out, /^Out of band \(window mean outside sensor_limits\): 0 window\(s\) from 0 sensor\(s\)$/m);
  assert.match(out, /^Stale \(no window for 30 min or more while others report\): 0 sensor\(s\)$/m);
  assert.doesNotMatch(out, /WARNING/);
  assert.match(out, /\(no hours with consumption in this period\)/);
  assert.match(out, /\(no hours with both consumption and weather in this period\)/);
  assert.match(out, /\(no hours with both consumption and a temperature in this period\)/);
});
