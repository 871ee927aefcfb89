import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPTIONS } from '../src/main/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README opens with the two commands', () => {
  const head = README.split('\n').slice(0, 8).join('\n');
  assert.match(head, /npm run demo/);
  assert.match(head, /npm test/);
});

test('the README documents every engine option, its variable and its default', () => {
  for (const o of OPTIONS) {
    const row = README.split('\n').find((l) => l.startsWith(`| \`${o.flag}\` |`));
    assert.ok(row, `${o.flag} is in the configuration table`);
    assert.ok(row.includes(`\`${o.env}\``), `${o.flag} names ${o.env}`);
    if (o.flag !== '--workers') assert.ok(row.includes(o.def === '' ? '(empty)' : `\`${o.def}\``), `${o.flag} default ${o.def}`);
  }
});

test('the README\'s Operations section shows the probes, the reasons with future, every alert and the monitoring profile', async () => {
  const { alertRules } = await import('./ops-helpers.js');
  const ops = README.slice(README.indexOf('\n## Operations'), README.indexOf('\n## ', README.indexOf('\n## Operations') + 5));
  assert.ok(ops.length > 100, 'there is an Operations section');
  for (const route of ['/livez', '/readyz', '/health', '/metrics']) assert.ok(ops.includes(route), route);
  for (const reason of ['invalid_json', 'invalid_record', 'out_of_range', 'late', 'future']) {
    assert.ok(ops.split('\n').some((l) => l.startsWith(`| \`${reason}\` |`)), `reason ${reason}`);
  }
  for (const r of alertRules()) assert.ok(ops.includes(`\`${r.alert}\``), `alert ${r.alert}`);
  assert.match(ops, /docker compose --profile monitoring up/);
});

test('the README documents every weather producer variable and its default', async () => {
  const { WEATHER_PRODUCER_ENV_VARS, WEATHER_PRODUCER_DEFAULTS } = await import('../src/producer/config.js');
  for (const k of WEATHER_PRODUCER_ENV_VARS) {
    const row = README.split('\n').find((l) => l.startsWith(`| \`${k}\` |`));
    assert.ok(row, `${k} is in the weather producer table`);
    const def = WEATHER_PRODUCER_DEFAULTS[k];
    assert.ok(row.includes(def === '' ? '(empty)' : `\`${def}\``), `${k} default ${def}`);
  }
});
