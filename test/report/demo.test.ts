import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseLoadgenArgs } from '../../loadgen/config.js';

const DEMO = readFileSync(new URL('../../../scripts/demo.mjs', import.meta.url), 'utf8');

test('npm run demo covers at least 48 hours of event time, with a weather effect and sensor faults', () => {
  const hours = Number(/const SPAN_HOURS = (\d+);/.exec(DEMO)?.[1]);
  const events = /const events = Number\(process\.env\.DEMO_EVENTS \?\? (\d+)\)/.exec(DEMO)?.[1] ?? '0';
  assert.ok(hours >= 48, `SPAN_HOURS ${hours}`);
  // the load generator's arguments, as the demo passes them (the template strings filled in)
  const list = /'dist\/loadgen\/cli\.js', ([^\]]+)\]/.exec(DEMO)?.[1];
  assert.ok(list, 'the demo runs dist/loadgen/cli.js');
  const args = [...list.matchAll(/'([^']*)'|`([^`]*)`|String\(([^)]+)\)|new Date\(start\)\.toISOString\(\)/g)].map((m) =>
    m[1] ?? (m[2] !== undefined ? m[2].replace('${SPAN_HOURS}', String(hours)) : m[3] === 'events' ? events : m[3] !== undefined ? '1' : '2026-11-27T16:00:00Z'),
  );
  const run = parseLoadgenArgs(args, {}).run.generate;
  assert.equal(run.spanMs, hours * 3_600_000);
  assert.ok((run.weatherEffect?.heatingKwhPerDegree ?? 0) > 0);
  assert.ok((run.anomalies?.spikes ?? 0) > 0 && (run.anomalies?.outOfBand ?? 0) > 0 && (run.anomalies?.silenced ?? 0) > 0);
  // every 5-minute sensor window holds a few readings on average (jumps need more than one)
  const perWindow = ((run.events ?? 0) * 0.6) / (run.sensors ?? 1) / (hours * 12);
  assert.ok(perWindow >= 3, `${perWindow.toFixed(1)} readings per sensor window`);
});
