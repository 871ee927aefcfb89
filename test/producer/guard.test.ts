/** The generate endpoint's guards on their own: the bearer-token check and the token bucket on a fake clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, bearerMatches } from '../../src/producer/guard.js';

test('bearerMatches accepts exactly "Bearer <token>"', () => {
  const token = 'abcdefghijklmnop';
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`bearer ${token}`, token), true, 'the scheme is case-insensitive (RFC 7235)');
  for (const h of [undefined, '', token, `Bearer ${token}q`, `Bearer ${token.slice(1)}`, `Bearer abcdefghijklmnoP`, `Basic ${token}`, 'Bearer ', `Bearer ${token} extra`]) {
    assert.equal(bearerMatches(h, token), false, String(h));
  }
});

test('TokenBucket lets a burst through, then one request per 1/rate, and says how long to wait', () => {
  let now = 1_000_000;
  const b = new TokenBucket({ perSecond: 2, burst: 3 }, () => now);
  assert.deepEqual([b.take(), b.take(), b.take()], [0, 0, 0]);
  assert.equal(b.take(), 500);
  now += 250;
  assert.equal(b.take(), 250);
  now += 250;
  assert.equal(b.take(), 0);
  assert.equal(b.take(), 500);
  now += 60_000; // a long pause refills to the burst, no more
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [0, 0, 0, 500]);
  now -= 10_000; // a clock stepping back refills nothing and drains nothing
  assert.equal(b.take(), 500);
  assert.throws(() => new TokenBucket({ perSecond: 0, burst: 1 }), RangeError);
  assert.throws(() => new TokenBucket({ perSecond: 1, burst: 0 }), RangeError);
});
