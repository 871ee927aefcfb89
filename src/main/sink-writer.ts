/**
 * The sink writer: what waits for PostgreSQL (final windows per stream, dead letters),
 * how many rows that is (fetching pauses above --max-pending-rows), and the write with
 * retries. A failed write is retried with capped backoff while fetching is paused
 * (`failing`); a write that runs longer than --sink-stall-timeout counts as failing in
 * metrics and /health at once. Only the sink's own errors say whether retrying can help:
 * anything else is a bug and fails the engine (retrying it forever would look like a
 * PostgreSQL outage).
 */
import { performance } from 'node:perf_hooks';
import { Kind, REASONS } from '../workers/protocol.js';
import { byStream, STREAM_LIST } from '../common/streams.js';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EngineMetrics } from './metrics.js';
import { backoff, sleep } from '../common/signal.js';
import type { DeadLetter, Sink, SinkBatch } from './sink.js';
import type { TaskOutcome } from './dispatch.js';
import type { WindowState } from './window-store.js';

export interface SinkWriterOptions {
  windowMs: { sensor: number; meter: number; weather: number };
  sinkRetryMaxMs: number;
  sinkStallTimeoutMs: number;
}

export class SinkWriter {
  /** Per stream, by Kind. */
  private windows: WindowState[][] = STREAM_LIST.map(() => []);
  private deadLetters: DeadLetter[] = [];
  /** Rows of final windows not yet committed in PostgreSQL. */
  pendingRows = 0;
  /** The last write failed and is being retried. */
  failing = false;

  constructor(
    private readonly sink: Sink,
    private readonly metrics: EngineMetrics,
    private readonly log: Logger,
    private readonly opts: SinkWriterOptions,
    private readonly now: () => number,
    /** Called after a successful write (fetching may resume). */
    private readonly onWritten: () => void,
    /** The engine's fatal error, if it has one: retries stop then. */
    private readonly fatal: () => Error | null,
  ) {}

  /** Final windows of one stream, oldest first. */
  addFinal(kind: Kind, windows: WindowState[]): void {
    const now = this.now();
    for (const w of windows) {
      w.finalAt = now;
      this.pendingRows += w.keys.length;
    }
    this.windows[kind].push(...windows);
  }

  addDeadLetter(d: DeadLetter): void {
    this.deadLetters.push(d);
  }

  /** The records a worker rejected, as dead letters (raw key and payload copied). */
  addRejected(topic: string, partition: number, o: TaskOutcome): void {
    const r = o.result;
    for (let j = 0; j < r.rejected.length; j++) {
      const msg = o.rejected(j);
      const reason = REASONS[r.reasons[j]];
      this.metrics.recordDeadLetter(reason);
      this.deadLetters.push({
        topic,
        partition,
        offset: msg.offset,
        // Already copies (see dispatch.ts): nothing here pins a fetched response.
        key: msg.key,
        payload: msg.value,
        reason,
        error: r.errors[j],
      });
    }
  }

  /** Member mode: the partitions were lost to another member; what waits for them is not written. */
  dropPartitions(lost: Set<string>): void {
    for (const list of this.windows) {
      const kept = list.filter((w) => w.topic === undefined || !lost.has(w.topic + ':' + w.partition));
      for (const w of list) if (!kept.includes(w)) this.pendingRows -= w.keys.length;
      list.splice(0, list.length, ...kept);
    }
    this.deadLetters = this.deadLetters.filter((d) => !lost.has(d.topic + ':' + d.partition));
  }

  get deadLetterCount(): number {
    return this.deadLetters.length;
  }

  /** Writes everything queued, retrying until it succeeds or fails for good. */
  async flush(): Promise<void> {
    const windows = this.windows;
    const batch: SinkBatch = { ...byStream((s) => windows[Kind[s.name]]), windowMs: this.opts.windowMs, deadLetters: this.deadLetters };
    if (windows.every((list) => list.length === 0) && batch.deadLetters.length === 0) return;
    this.windows = STREAM_LIST.map(() => []);
    this.deadLetters = [];
    const rows = windows.flat().reduce((n, w) => n + w.keys.length, 0);
    const m = this.metrics;
    for (let attempt = 0; ; attempt++) {
      const startedAt = this.now();
      const stall = setTimeout(() => {
        if (m.sinkFailingSince === null) m.sinkFailingSince = startedAt;
        m.sinkStalled = true;
        this.log.warn('a PostgreSQL write has been running for longer than --sink-stall-timeout', { ms: this.now() - startedAt });
      }, this.opts.sinkStallTimeoutMs);
      try {
        const t0 = performance.now();
        const counts = await this.sink.write(batch).finally(() => clearTimeout(stall));
        m.recordFlush(counts, performance.now() - t0);
        const done = this.now();
        for (const list of windows) {
          for (const w of list) if (w.finalAt !== undefined) m.finalToCommit.recordMs(done - w.finalAt);
        }
        this.log.debug('flushed', { ...counts });
        if (this.failing) {
          this.log.info('PostgreSQL writes succeed again; resuming', { after: attempt + 1 });
          this.failing = false;
          m.sinkFailingSince = null;
        }
        if (m.sinkStalled) m.sinkFailingSince = null;
        m.sinkStalled = false;
        this.pendingRows -= rows;
        this.onWritten();
        return;
      } catch (e) {
        const retry = e instanceof SmartGridError && e.canRetry;
        m.sinkFailures++;
        m.sinkStalled = false;
        if (!retry) throw e;
        if (!this.failing) m.sinkFailingSince = startedAt;
        this.failing = true;
        const wait = backoff(attempt, this.opts.sinkRetryMaxMs);
        this.log.warn('PostgreSQL write failed; fetching paused, retrying', { attempt: attempt + 1, retryInMs: wait, error: describeError(e) });
        await sleep(wait);
        const fatal = this.fatal();
        if (fatal !== null) throw fatal;
      }
    }
  }
}
