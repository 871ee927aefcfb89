/** The periodic one-line progress log. */
import type { Engine } from './engine.js';
import type { Logger } from '../common/log.js';
import type { EngineMetrics } from './metrics.js';

export function startProgressLog(engine: Engine, metrics: EngineMetrics, intervalMs: number, log: Logger): { stop(): void } {
  if (intervalMs <= 0) return { stop() {} };
  let lastIn = metrics.totalIn();
  let lastAt = Date.now();
  const t = setInterval(() => {
    const now = Date.now();
    const total = metrics.totalIn();
    const rate = ((total - lastIn) * 1000) / Math.max(1, now - lastAt);
    lastIn = total;
    lastAt = now;
    const wm = engine.watermarks();
    log.info('progress', {
      records: total,
      perSecond: Math.round(rate),
      openStates: engine.openStates(),
      rowsWritten: metrics.rowsWritten.reduce((a, b) => a + b, 0),
      deadLetters: metrics.deadLettersWritten,
      watermark: Object.fromEntries(
        Object.entries(wm).map(([k, v]) => [k, Math.abs(v) < 8.64e15 ? new Date(v).toISOString() : null]),
      ),
    });
  }, intervalMs);
  t.unref();
  return { stop: () => clearInterval(t) };
}
