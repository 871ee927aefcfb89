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
    if (o.key !== 'workers') assert.ok(row.includes(o.def === '' ? '(empty)' : `\`${o.def}\``), `${o.flag} default ${o.def}`);
  }
});
