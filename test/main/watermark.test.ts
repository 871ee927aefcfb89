import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicClock } from '../../src/main/watermark.js';

test('watermark is the minimum over partitions minus the lateness', () => {
  const c = new TopicClock(10, 1000);
  c.assign(0, true, 0);
  c.assign(1, true, 0);
  c.observe(0, 500);
  assert.equal(c.update(0), -Infinity, 'a partition with a backlog and no record yet holds it back');
  c.observe(1, 300);
  assert.equal(c.update(0), 290);
  c.observe(1, 800);
  assert.equal(c.update(0), 490);
});

test('a caught-up partition stops holding the watermark back after the idle time', () => {
  const c = new TopicClock(10, 1000);
  c.assign(0, true, 0);
  c.assign(1, false, 0); // empty partition
  c.observe(0, 500);
  assert.equal(c.update(999), -Infinity);
  assert.equal(c.update(1000), 490);
  c.progress(1, true, 1000); // records arrive again
  assert.equal(c.update(1001), 490, 'the watermark never moves backwards');
  c.observe(1, 400);
  c.observe(0, 900);
  assert.equal(c.update(1002), 490);
  c.observe(1, 950);
  assert.equal(c.update(1003), 890);
});

test('when every partition is idle the watermark follows the highest event time', () => {
  const c = new TopicClock(10, 100);
  c.assign(0, true, 0);
  c.assign(1, true, 0);
  c.observe(0, 500);
  c.observe(1, 700);
  c.progress(0, false, 0);
  c.progress(1, false, 0);
  assert.equal(c.update(50), 490);
  assert.equal(c.update(100), 690);
});

test('revoked partitions no longer count; advanceTo raises the watermark', () => {
  const c = new TopicClock(0, 1000);
  c.assign(0, true, 0);
  c.assign(1, true, 0);
  c.observe(0, 100);
  c.observe(1, 50);
  assert.equal(c.update(0), 50);
  c.revoke(1);
  assert.equal(c.update(0), 100);
  c.advanceTo(5000);
  assert.equal(c.update(0), 5000);
  assert.deepEqual(c.snapshot().watermark, 5000);
});
