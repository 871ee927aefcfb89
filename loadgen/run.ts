/**
 * Runs the load generator: pulls events from the generator and hands them to the outputs
 * (Kafka, an NDJSON file, the expected-aggregates reference), paced to a target rate or
 * as fast as possible, for a number of events or a duration, reporting progress.
 */
import { EventGenerator, type GenerateInput, type GenerateOptions } from './generate.js';
import { ExpectedAggregator, type ExpectedOutput } from './expected.js';
import { FileOutput } from './file-output.js';
import { KafkaOutput, type KafkaOutputOptions } from './kafka-output.js';

export interface Progress {
  events: number;
  /** Planned events, or undefined for a duration run. */
  total: number | undefined;
  elapsedMs: number;
  /** Events per second since the start. */
  rate: number;
  /** Estimated time left (ms), when it can be known. */
  etaMs: number | undefined;
}

export interface RunOptions {
  generate: GenerateInput;
  /** Produce to Kafka (topics and partitions come from `generate`). */
  kafka?: Omit<KafkaOutputOptions, 'topics' | 'partitions'>;
  /** Also (or only) write NDJSON to this path. */
  file?: string;
  /** Compute the expected aggregates of what was produced. */
  expected?: boolean;
  /** Stop after this long (ms); with it, `generate.events` may be left infinite. */
  durationMs?: number;
  /**
   * Target events per second; 0 or undefined for as fast as possible. Paced event by
   * event at low rates. In a duration run without `generate.timeStepMs`, event time then
   * advances 1/rate per event, so it follows the wall clock.
   */
  rate?: number;
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface RunSummary {
  events: number;
  elapsedMs: number;
  /** Events per second, from the first event to the last acknowledgement. */
  rate: number;
  options: GenerateOptions;
  generated: EventGenerator['stats'];
  kafka?: { messages: number; bytes: number; requests: number; lastOffsets: Record<string, string> };
  file?: { path: string; bytes: number; lines: number };
  expected?: ExpectedOutput;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How often a paced run sends partly filled batches, so that a live engine sees events soon. */
export const LINGER_MS = 100;

export async function runLoad(opts: RunOptions): Promise<RunSummary> {
  if (opts.rate !== undefined && !(opts.rate >= 0)) throw new RangeError('options.rate must be ≥ 0');
  const input: GenerateInput = { ...opts.generate };
  if (opts.durationMs !== undefined && input.events === undefined) {
    input.events = Infinity;
    // Event time follows the wall clock: one event every 1/rate seconds.
    if (input.timeStepMs === undefined && (opts.rate ?? 0) > 0) input.timeStepMs = 1000 / opts.rate!;
  }
  const gen = new EventGenerator(input);
  const o = gen.options;
  if (o.events === Infinity && opts.durationMs === undefined) throw new RangeError('an endless stream needs durationMs');
  const kafka = opts.kafka ? await KafkaOutput.open({ ...opts.kafka, topics: o.topics, partitions: o.partitions }) : undefined;
  let file: FileOutput | undefined;
  try {
    file = opts.file !== undefined ? await FileOutput.open(opts.file) : undefined;
    const expected = opts.expected ? new ExpectedAggregator({ windows: o.windows }) : undefined;
    const total = o.events === Infinity ? undefined : o.events;
    const interval = opts.progressIntervalMs ?? 1000;
    const rate = opts.rate ?? 0;
    // Pacing and the clock are looked at every `chunk` events: every event at low rates
    // (50/s is one event per 20 ms), about every 10 ms of events at high rates.
    const chunk = rate > 0 ? Math.max(1, Math.min(1024, Math.floor(rate / 100))) : 1024;
    const start = performance.now();
    let lastLinger = start;
    let nextProgress = start + interval;
    let n = 0;
    const progress = (now: number): Progress => {
      const elapsedMs = now - start;
      const r = elapsedMs > 0 ? (n / elapsedMs) * 1000 : 0;
      let etaMs: number | undefined;
      if (total !== undefined && r > 0) etaMs = ((total - n) / r) * 1000;
      if (opts.durationMs !== undefined) etaMs = Math.min(etaMs ?? Infinity, Math.max(0, opts.durationMs - elapsedMs));
      return { events: n, total, elapsedMs, rate: r, etaMs };
    };
    while (!gen.done) {
      if (n % chunk === 0 && n > 0) {
        let now = performance.now();
        if (opts.signal?.aborted) break;
        if (rate > 0) {
          // Event n+1 is due at n/rate seconds; a duration run ends before the first event due at or after its end.
          const dueMs = (n / rate) * 1000;
          if (opts.durationMs !== undefined && dueMs >= opts.durationMs) break;
          if (start + dueMs > now) {
            await sleep(start + dueMs - now);
            now = performance.now();
          }
          if (kafka !== undefined && now - lastLinger >= LINGER_MS) {
            await kafka.flush();
            lastLinger = now;
          }
        } else {
          if (opts.durationMs !== undefined && now - start >= opts.durationMs) break;
          if (kafka === undefined && file === undefined && (n & 65535) === 0) {
            // Nothing awaited: let timers (progress, signals) run now and then.
            await sleep(0);
          }
        }
        if (now >= nextProgress && opts.onProgress) {
          opts.onProgress(progress(now));
          nextProgress = now + interval;
        }
        if (opts.signal?.aborted) break;
      }
      const ev = gen.next();
      n++;
      let wait = false;
      if (kafka !== undefined && !kafka.add(ev)) wait = true;
      if (file !== undefined && !file.add(ev)) wait = true;
      expected?.add(ev);
      if (wait) {
        if (kafka !== undefined) await kafka.ready();
        if (file !== undefined) await file.ready();
      }
    }
    if (kafka !== undefined) await kafka.flush();
    if (file !== undefined) await file.close();
    const elapsedMs = performance.now() - start;
    opts.onProgress?.(progress(start + elapsedMs));
    return {
      events: n,
      elapsedMs,
      rate: elapsedMs > 0 ? (n / elapsedMs) * 1000 : 0,
      options: o,
      generated: gen.stats,
      kafka:
        kafka === undefined
          ? undefined
          : {
              ...kafka.stats,
              lastOffsets: Object.fromEntries([...kafka.lastOffsets].map(([k, v]) => [k, v.toString()])),
            },
      file: file === undefined ? undefined : { path: file.path, bytes: file.bytes, lines: file.lines },
      expected: expected?.result(),
    };
  } finally {
    await kafka?.close();
  }
}
