import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBytea, copyNumber, copyText, copyTimestamp } from '../../src/main/copy-text.js';
import { modeCondition } from '../../src/main/copy-rows.js';

test('COPY text escaping', () => {
  assert.equal(copyText('plain'), 'plain');
  assert.equal(copyText('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e');
  assert.equal(copyText('"quotes" ë 日本 😀'), '"quotes" ë 日本 😀');
  assert.equal(copyNumber(null), '\\N');
  assert.equal(copyNumber(NaN), '\\N');
  assert.equal(copyNumber(1.5), '1.5');
  assert.equal(copyBytea(null), '\\N');
  assert.equal(copyBytea(Buffer.from([0, 255, 10])), '\\\\x00ff0a');
  assert.equal(copyTimestamp(Date.UTC(2026, 10, 28, 2, 50, 0, 7)), '2026-11-28 02:50:00.007');
});

test('weather condition: most frequent, ties to the alphabetically first', () => {
  assert.equal(modeCondition(new Map([['Sunny', 2], ['Cloudy', 2], ['Rainy', 1]])), 'Cloudy');
  assert.equal(modeCondition(new Map([['Sunny', 3], ['Cloudy', 2]])), 'Sunny');
  assert.equal(modeCondition(new Map([['b', 1], ['a', 1], ['C', 1]])), 'C', 'code point order, as PostgreSQL\'s C collation');
  assert.equal(modeCondition(new Map()), null);
});
