/**
 * Child: a restart from a checkpoint, in a fresh process as after a crash. Times
 * CheckpointStore.loadLatest() (read, SHA-256 check, JSON.parse) and WindowStore.restore()
 * for every kind, and reports the RSS with the state restored.
 */
import { CheckpointStore } from '../../src/main/checkpoint.js';
import { silentLogger } from '../../src/common/log.js';
import { WindowStore } from '../../src/main/window-store.js';
import { Kind } from '../../src/workers/protocol.js';
import { RssSampler } from './common.js';
import { serveChild } from './child.js';

export interface RestoreRequest {
  dir: string;
}
export interface RestoreReply {
  loadMs: number;
  restoreMs: number;
  totalMs: number;
  openStates: number;
  rssAfter: number;
  peakRss: number;
  baselineRss: number;
}

serveChild<RestoreRequest, RestoreReply>(async (req) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const rss = new RssSampler(50);
  const baselineRss = rss.peak;
  const t0 = performance.now();
  const snap = await new CheckpointStore(req.dir, 3, silentLogger).loadLatest();
  if (snap === null) throw new Error(`no checkpoint in ${req.dir}`);
  const t1 = performance.now();
  const kinds = [Kind.sensor, Kind.meter, Kind.weather];
  const stores = snap.topics.map((t, i) => {
    const s = new WindowStore(kinds[i], t.windowMs);
    s.restore(t.windows);
    return s;
  });
  const t2 = performance.now();
  const openStates = stores.reduce((n, s) => n + s.openStates, 0);
  // The snapshot object is garbage now; the stores are what the engine keeps.
  (snap as { topics: unknown }).topics = [];
  gc?.();
  rss.sample();
  const rssAfter = rss.last;
  const peakRss = rss.stop();
  void stores;
  return { loadMs: t1 - t0, restoreMs: t2 - t1, totalMs: t2 - t0, openStates, rssAfter, peakRss, baselineRss };
});
