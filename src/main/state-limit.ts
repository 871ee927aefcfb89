/**
 * The bound on open (window, group) states (--max-open-states). At the bound the engine
 * pauses fetching (its back-pressure) while final windows are written, which frees their
 * states. If, with nothing in flight or waiting to be written, no window can become final
 * for longer than `graceMs` (the idle timeout plus 5 s), more input would be needed to
 * move the watermark but none may be read: the engine fails with a clear error instead of
 * waiting forever or running out of memory.
 */
import { SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

export class StateLimit {
  private since: number | null = null;

  constructor(
    readonly max: number,
    private readonly graceMs: number,
    private readonly log: Logger,
  ) {}

  /** Fetching must pause. */
  reached(states: number): boolean {
    return states >= this.max;
  }

  /**
   * Called at every tick. `progress`: a window became final, a batch is in flight or rows
   * wait for PostgreSQL (something can still free states). Returns the error to fail with.
   */
  check(states: number, progress: boolean, now: number): SmartGridError | null {
    if (states < this.max || progress) {
      this.since = null;
      return null;
    }
    if (this.since === null) {
      this.since = now;
      this.log.warn('open states reached --max-open-states; fetching paused until windows become final', { openStates: states, maxOpenStates: this.max });
      return null;
    }
    if (now - this.since <= this.graceMs) return null;
    return new SmartGridError(
      'STATE_LIMIT',
      `${states} open (window, group) states reached --max-open-states ${this.max}, and no window can become final ` +
        `without reading more input: raise --max-open-states (about 250 bytes of memory each), shorten the windows or ` +
        `--allowed-lateness, or fix the producers whose keys or timestamps spread so widely`,
    );
  }
}
