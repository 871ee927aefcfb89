import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateLimit } from '../../src/main/state-limit.js';
import { RecordingLogger } from './engine-driver.js';

test('the state bound: a pause first, STATE_LIMIT only when nothing can free states for longer than the grace', () => {
  const log = new RecordingLogger();
  const l = new StateLimit(100, 5000, log);
  assert.equal(l.reached(99), false);
  assert.equal(l.reached(100), true);
  assert.equal(l.check(100, false, 0), null, 'first time at the bound: a warning, fetching pauses');
  assert.ok(log.has('open states reached --max-open-states; fetching paused until windows become final'));
  assert.equal(l.check(100, false, 5000), null, 'within the grace');
  assert.equal(l.check(100, true, 6000), null, 'progress (a window became final, a batch in flight) resets it');
  assert.equal(l.check(100, false, 7000), null);
  const e = l.check(100, false, 12001);
  assert.equal(e?.code, 'STATE_LIMIT');
  assert.match(e!.message, /100 open \(window, group\) states reached --max-open-states 100.*raise --max-open-states/);
  assert.equal(l.check(50, false, 20000), null, 'below the bound: fine');
});
