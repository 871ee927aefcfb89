/**
 * Open window state of one kind: per window start, per group key, the merged Welford
 * statistics (and weather condition counts). Partials from workers are merged with Chan
 * et al.'s formula; windows leave the store when they become final.
 */
import { STATS_WIDTH, statsMerge } from '../workers/stats.js';
import { STREAM_LIST, VARS_PER_KIND, type Kind } from '../common/streams.js';
import type { AggregateResult } from '../workers/protocol.js';

export interface WindowState {
  start: number;
  keys: string[];
  /** The store's key number (see WindowStore.keyNumber) → index in `keys`. */
  slots: Map<number, number>;
  /** keys.length × width statistics. */
  stats: Float64Array;
  /** Streams with a category (weather) only: category → count (one group per window). */
  conds: Map<string, number> | null;
  /** Wall-clock time the window became final (for the final → committed latency). */
  finalAt?: number;
  /** --group-member: the source partition whose records the window holds (its partial rows are per partition). */
  topic?: string;
  partition?: number;
}

export interface WindowSnapshot {
  start: number;
  /** The keys; only the first `n` belong to the snapshot when `n` is given (the array may grow). */
  keys: string[];
  n?: number;
  /** keys.length × width statistics (stored as their exact float64 bytes). */
  stats: Float64Array;
  conds?: [string, number][];
}

export class WindowStore {
  readonly width: number;
  /** The stream counts a category per window (weather conditions). */
  private readonly counted: boolean;
  private readonly windows = new Map<number, WindowState>();
  private states = 0;
  /**
   * Every key string of the open windows gets a small number, by which windows find their
   * slots (a Map keyed by a small integer, no string hashing); renumbered when old keys
   * pile up (compactKeys).
   */
  private readonly keyNumbers = new Map<string, number>();
  /**
   * Per worker thread: the key number + 1 of each id of its key table (AggregateResult.keyIds),
   * for one epoch of that table. A key a worker has sent before costs an array read, not a
   * hash of its string.
   */
  private readonly threadKeys = new Map<number, { epoch: number; toKey: Int32Array }>();

  constructor(
    readonly kind: Kind,
    readonly windowMs: number,
  ) {
    this.width = VARS_PER_KIND[kind] * STATS_WIDTH;
    this.counted = STREAM_LIST[kind].category !== undefined;
  }

  /** Number of open (window, group) states. */
  get openStates(): number {
    return this.states;
  }

  get openWindows(): number {
    return this.windows.size;
  }

  private window(start: number): WindowState {
    let w = this.windows.get(start);
    if (w === undefined) {
      w = { start, keys: [], slots: new Map(), stats: new Float64Array(8 * this.width), conds: this.counted ? new Map() : null };
      this.windows.set(start, w);
    }
    return w;
  }

  private keyNumber(key: string): number {
    let k = this.keyNumbers.get(key);
    if (k === undefined) {
      k = this.keyNumbers.size;
      this.keyNumbers.set(key, k);
    }
    return k;
  }

  /** The key number of each of a result's keys. */
  private keyNumbersOf(r: AggregateResult): Int32Array {
    const n = r.keys.length;
    const out = new Int32Array(n);
    if (r.keyIds === undefined || r.keyEpoch === undefined) {
      for (let i = 0; i < n; i++) out[i] = this.keyNumber(r.keys[i]);
      return out;
    }
    let t = this.threadKeys.get(r.threadId);
    if (t === undefined || t.epoch !== r.keyEpoch) {
      t = { epoch: r.keyEpoch, toKey: new Int32Array(1024) };
      this.threadKeys.set(r.threadId, t);
    }
    const ids = r.keyIds;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id >= t.toKey.length) {
        const grown = new Int32Array(Math.max(id + 1, t.toKey.length * 2));
        grown.set(t.toKey);
        t.toKey = grown;
      }
      let k = t.toKey[id] - 1;
      if (k < 0) {
        k = this.keyNumber(r.keys[i]);
        t.toKey[id] = k + 1;
      }
      out[i] = k;
    }
    return out;
  }

  /**
   * Renumbers the keys of the open windows once numbers of keys no window holds any more
   * outnumber them (keys come and go: meters are added, sensors replaced), so the tables
   * stay the size of the open state.
   */
  private compactKeys(): void {
    if (this.keyNumbers.size <= 2 * this.states + 100_000) return;
    this.keyNumbers.clear();
    this.threadKeys.clear();
    for (const w of this.windows.values()) {
      const slots = new Map<number, number>();
      for (let i = 0; i < w.keys.length; i++) slots.set(this.keyNumber(w.keys[i]), i);
      w.slots = slots;
    }
  }

  private slot(w: WindowState, k: number, key: string): number {
    let s = w.slots.get(k);
    if (s === undefined) {
      s = w.keys.length;
      w.keys.push(key);
      w.slots.set(k, s);
      this.states++;
      const need = (s + 1) * this.width;
      if (need > w.stats.length) {
        const grown = new Float64Array(Math.max(need, w.stats.length * 2));
        grown.set(w.stats);
        w.stats = grown;
      }
      // A fresh slot is all zeros; statsMerge copies b into an empty (count 0) slot.
    }
    return s;
  }

  /** Merges a worker's partial results. */
  merge(r: AggregateResult): void {
    const width = this.width;
    const np = r.windows.length;
    const partialWin: WindowState[] = new Array(np);
    const kn = this.keyNumbersOf(r);
    let start = NaN;
    let w: WindowState | undefined;
    for (let i = 0; i < np; i++) {
      if (r.windows[i] !== start || w === undefined) {
        start = r.windows[i];
        w = this.window(start);
      }
      const g = r.groups[i];
      const s = this.slot(w, kn[g], r.keys[g]);
      partialWin[i] = w;
      for (let v = 0; v < width; v += STATS_WIDTH) statsMerge(w.stats, s * width + v, r.stats, i * width + v);
    }
    const cc = r.condCounts;
    for (let k = 0; k < cc.length; k += 3) {
      const conds = partialWin[cc[k]].conds!;
      const name = r.condNames[cc[k + 1]];
      conds.set(name, (conds.get(name) ?? 0) + cc[k + 2]);
    }
  }

  /** Merges one group's statistics (a stored partial) into window `start`. */
  mergeStats(start: number, key: string, stats: Float64Array, conds: [string, number][] | null): void {
    if (stats.length !== this.width) throw new RangeError(`partial statistics of ${stats.length} values; ${this.width} expected`);
    const w = this.window(start);
    const s = this.slot(w, this.keyNumber(key), key);
    for (let v = 0; v < this.width; v += STATS_WIDTH) statsMerge(w.stats, s * this.width + v, stats, v);
    if (conds !== null && w.conds !== null) for (const [name, n] of conds) w.conds.set(name, (w.conds.get(name) ?? 0) + n);
  }

  /** The earliest open window's end, or Infinity. */
  earliestEnd(): number {
    let min = Infinity;
    for (const start of this.windows.keys()) if (start < min) min = start;
    return min + this.windowMs;
  }

  /** Removes and returns the windows whose end is at or below `threshold`, oldest first. */
  takeFinal(threshold: number): WindowState[] {
    const out: WindowState[] = [];
    for (const [start, w] of this.windows) {
      if (start + this.windowMs <= threshold) out.push(w);
    }
    out.sort((a, b) => a.start - b.start);
    for (const w of out) {
      this.windows.delete(w.start);
      this.states -= w.keys.length;
    }
    if (out.length > 0) this.compactKeys();
    return out;
  }

  /**
   * The open state for a checkpoint, without copying it: views of each window's keys (the
   * count they cover; a key array only ever grows) and statistics. The caller must keep
   * every merge away until it has finished with them (the engine holds its checkpoint
   * barrier while the snapshot is written). Copying instead was measured: a fresh copy of
   * the statistics of 2M states (112 MiB) made V8 run a full garbage collection under
   * external-memory pressure, stalling the event loop for 300–800 ms.
   */
  snapshot(): WindowSnapshot[] {
    const out: WindowSnapshot[] = [];
    for (const w of this.windows.values()) {
      const n = w.keys.length;
      const s: WindowSnapshot = { start: w.start, keys: w.keys, n, stats: w.stats.subarray(0, n * this.width) };
      if (w.conds !== null) s.conds = [...w.conds];
      out.push(s);
    }
    return out;
  }

  restore(windows: WindowSnapshot[]): void {
    this.windows.clear();
    this.states = 0;
    for (const s of windows) {
      const keys = s.n !== undefined && s.n !== s.keys.length ? s.keys.slice(0, s.n) : s.keys;
      if (s.stats.length !== keys.length * this.width) {
        throw new RangeError(`snapshot window ${s.start} has ${s.stats.length} statistics for ${keys.length} keys`);
      }
      const stats = s.stats;
      const slots = new Map<number, number>();
      for (let i = 0; i < keys.length; i++) slots.set(this.keyNumber(keys[i]), i);
      const w: WindowState = {
        start: s.start,
        keys,
        slots,
        stats,
        conds: this.counted ? new Map(s.conds ?? []) : null,
      };
      this.windows.set(s.start, w);
      this.states += w.keys.length;
    }
  }
}

