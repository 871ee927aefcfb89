/**
 * Small helpers the wire client, its fetcher and the group member share: the key of a
 * (topic, partition) in maps, a sleep, the check of a positive integer option, and a
 * wakeable wait for background loops.
 */
import { KafkaWireError } from './errors.js';

/** The key of a (topic, partition) in maps. */
export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `v` (or `dflt` when not given), which must be a positive integer: `options.<name>`. */
export function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x <= 0) throw new KafkaWireError('INVALID_ARGUMENT', `options.${name} must be a positive integer, got ${String(v)}`);
  return x;
}

/** A loop's wait that others can end early: wait(ms) resolves on wake() or after ms (never, when undefined). */
export class Wakeup {
  private waiter: (() => void) | undefined;

  /** Ends the current wait, if any (a wake with nobody waiting is not remembered). */
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  wait(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        if (this.waiter === done) this.waiter = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.waiter = done;
    });
  }
}
