/**
 * What stands between the network and `POST /api/v1/weather/generate`: an optional
 * bearer token, compared in constant time, and a token-bucket rate limit. Without them
 * anyone who reaches the port writes to the production weather topic as fast as they
 * like (issue #10: 1,000 concurrent POSTs wrote 1,000 messages).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an `Authorization` header carries `Bearer <token>`. Both sides are hashed
 * first so the comparison takes the same time whatever the length or the first wrong
 * byte of the guess (timingSafeEqual alone needs equal lengths and would leak the length).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = createHash('sha256')
    .update(m?.[1] ?? '')
    .digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

export interface RateLimit {
  /** Requests per second allowed on average. */
  perSecond: number;
  /** Requests allowed at once after a quiet period (the bucket's size). */
  burst: number;
}

/**
 * A token bucket: it holds up to `burst` tokens, refills at `perSecond`, and each request
 * takes one. `take()` answers 0 when the request may go, else the milliseconds until a
 * token is there (for Retry-After).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number = Date.now,
  ) {
    if (!(limit.perSecond > 0 && Number.isFinite(limit.perSecond))) throw new RangeError('options.rateLimit.perSecond must be a positive number');
    if (!(Number.isInteger(limit.burst) && limit.burst >= 1)) throw new RangeError('options.rateLimit.burst must be a positive integer');
    this.tokens = limit.burst;
    this.last = clock();
  }

  take(): number {
    const now = this.clock();
    // A clock that steps back refills nothing rather than draining the bucket.
    this.tokens = Math.min(this.limit.burst, this.tokens + (Math.max(0, now - this.last) * this.limit.perSecond) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.limit.perSecond);
  }
}
