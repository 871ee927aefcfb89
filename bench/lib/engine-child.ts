/**
 * Child: the engine in-process (createApp + silentLogger), so that its metrics can be read
 * directly. Available-now runs end by themselves; live runs end when the parent sends
 * "stop" (graceful stop: in-flight batches, final flush, checkpoint).
 */
import { createApp } from '../../src/main/app.js';
import { loadConfig } from '../../src/main/config.js';
import { silentLogger } from '../../src/common/log.js';
import { RssSampler, cpuMsSince, mainThreadCpuMs, summarize, type LatencySummary } from './common.js';
import { serveChild } from './child.js';

export interface EngineRequest {
  argv: string[];
  /** Records expected in; the time the last of them was counted is reported. */
  expected: number;
}

export interface EngineReply {
  /** createApp to run() resolved (available-now: everything written, checkpointed, committed). */
  wallMs: number;
  /** createApp to the first record counted / to the last expected record counted (100 ms resolution). */
  firstRecordMs: number;
  lastRecordMs: number;
  recordsIn: number;
  byKind: { aggregated: number; late: number; bad: number }[];
  rowsWritten: number[];
  deadLettersWritten: number;
  flushes: number;
  batches: number;
  checkpoints: number;
  workerThreads: number;
  decodeMs: number;
  aggregateMs: number;
  batchLatency: LatencySummary;
  flushLatency: LatencySummary;
  finalToCommit: LatencySummary;
  cpuMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** CPU of the main thread alone (/proc; NaN elsewhere): fetching, dispatch, merging, the sink. */
  mainThreadCpuMs: number;
  peakRss: number;
  baselineRss: number;
}

/** Messages from the parent: stop the engine, reset its histograms, or report them now. */
export type EngineMessage = { stop: true } | { reset: true } | { mark: string };
/** Events to the parent. */
export type EngineEvent =
  | { ready: true }
  | { mark: string; recordsIn: number; batchLatency: LatencySummary; flushLatency: LatencySummary; finalToCommit: LatencySummary; peakRss: number };

serveChild<EngineRequest, EngineReply>(async (req, ctx) => {
  const { config } = loadConfig(req.argv, {});
  const rss = new RssSampler(100);
  const baselineRss = rss.peak;
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const app = createApp(config, silentLogger);
  let firstAt = 0;
  let lastAt = 0;
  let ready = false;
  const watch = setInterval(() => {
    const n = app.metrics.totalIn();
    if (firstAt === 0 && n > 0) firstAt = performance.now();
    if (lastAt === 0 && n >= req.expected) lastAt = performance.now();
    if (!ready && app.engine.status().assigned > 0) {
      ready = true;
      ctx.emit({ ready: true } satisfies EngineEvent);
    }
  }, 100);
  const m = app.metrics;
  ctx.onMessage((msg) => {
    const x = msg as EngineMessage;
    if ('stop' in x) void app.engine.stop();
    else if ('reset' in x) {
      m.batchLatency.reset();
      m.flushLatency.reset();
      m.finalToCommit.reset();
    } else if ('mark' in x) {
      ctx.emit({
        mark: x.mark,
        recordsIn: m.totalIn(),
        batchLatency: summarize(m.batchLatency),
        flushLatency: summarize(m.flushLatency),
        finalToCommit: summarize(m.finalToCommit),
        peakRss: rss.peak,
      } satisfies EngineEvent);
    }
  });
  try {
    await app.run();
  } finally {
    clearInterval(watch);
  }
  const wallMs = performance.now() - t0;
  const mainCpu = mainThreadCpuMs() - main0;
  const cpu = cpuMsSince(cpu0);
  const peakRss = rss.stop();
  await app.close();
  return {
    wallMs,
    firstRecordMs: firstAt === 0 ? NaN : firstAt - t0,
    lastRecordMs: lastAt === 0 ? NaN : lastAt - t0,
    recordsIn: m.totalIn(),
    byKind: m.recordsIn.map((r) => ({ ...r })),
    rowsWritten: [...m.rowsWritten],
    deadLettersWritten: m.deadLettersWritten,
    flushes: m.flushes,
    batches: m.batches,
    checkpoints: m.checkpoints,
    workerThreads: m.workerThreadIds.size,
    decodeMs: m.decodeNs / 1e6,
    aggregateMs: m.aggregateNs / 1e6,
    batchLatency: summarize(m.batchLatency),
    flushLatency: summarize(m.flushLatency),
    finalToCommit: summarize(m.finalToCommit),
    cpuMs: cpu.totalMs,
    cpuUserMs: cpu.userMs,
    cpuSystemMs: cpu.systemMs,
    mainThreadCpuMs: mainCpu,
    peakRss,
    baselineRss,
  };
});
