/** A wake-up signal: `wait(ms)` resolves on the next `notify()` or after `ms`. */
export class Signal {
  private waiters: (() => void)[] = [];
  /** A notify() that found nobody waiting: the next wait() returns at once. */
  private latched = false;

  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    if (w.length === 0) this.latched = true;
    for (const f of w) f();
  }

  wait(ms: number): Promise<void> {
    if (this.latched) {
      this.latched = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Capped exponential backoff with jitter: 100 ms, 200 ms, … up to `maxMs`. */
export function backoff(attempt: number, maxMs: number): number {
  const base = Math.min(maxMs, 100 * 2 ** Math.min(attempt, 20));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}
