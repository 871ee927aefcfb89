/**
 * The aggregation kernel of the workers: assigns each decoded record its tumbling window,
 * rejects what is late for the dispatch watermark, and folds the values into
 * per-(window, group) Welford statistics and exact sums (stats.ts); the result's arrays
 * are the ones transferred back to the coordinator. aggregate.ts decodes the columns it reads.
 */
import { threadId } from 'node:worker_threads';
import { columnValues, type ColumnBuffers } from '../arrow/columns.js';
import { Kind, R_LATE, SUM_SCALE, VARS_PER_KIND, type AggregateResult, type TaskHead } from './protocol.js';
import { STATS_WIDTH, statsAdd, statsInit } from './stats.js';
import type { Dict } from './dict.js';
import type { Rejects } from './fields.js';

/** Windows of one task whose partials are looked up in a dense array per window (see below). */
const DENSE_WINDOWS = 4;

/** Assigns windows and folds the decoded columns into per-(window, group) partials. */
export function aggregateTable(
  task: TaskHead,
  table: ReturnType<ColumnBuffers['toTable']>,
  m: number,
  srcIndex: Uint32Array,
  rej: Rejects,
  groups: Dict,
  conds: Dict,
): AggregateResult {
  const { kind, windowMs, watermark } = task;
  const nvars = VARS_PER_KIND[kind];
  const width = nvars * STATS_WIDTH;
  const scale = SUM_SCALE[kind];
  const ts = columnValues<Float64Array>(table, 'event_time');
  const vars: Float64Array[] =
    kind === Kind.sensor
      ? [columnValues(table, 'value')]
      : kind === Kind.meter
        ? [columnValues(table, 'reading')]
        : [
            columnValues(table, 'temperature'),
            columnValues(table, 'humidity'),
            columnValues(table, 'pressure'),
            columnValues(table, 'wind_speed'),
          ];
  const grp: Int32Array | null = kind === Kind.weather ? null : columnValues<Int32Array>(table, 'group');
  const cond: Int32Array | null = kind === Kind.weather ? columnValues<Int32Array>(table, 'condition') : null;

  const partMaxTs = new Float64Array(task.numParts).fill(-Infinity);
  const parts = task.parts;
  // Local window ids keep the composite (window, group) key well inside 2^53.
  const winIds = new Map<number, number>();
  let lastWinStart = NaN;
  let lastWinId = -1;
  // A partial is found by (window, group): for the task's first DENSE_WINDOWS windows (all of
  // them, nearly always) in an array per window indexed by group id (partial index + 1),
  // for any further window in a Map. Group ids are dense: the dictionary is complete here.
  const groupCount = Math.max(1, groups.names.length);
  const dense: Int32Array[] = [];
  let lastDense: Int32Array | null = null;
  const partialOf = new Map<number, number>();
  let stats = new Float64Array(Math.max(16, Math.min(m, 4096)) * width);
  let pWin = new Float64Array(stats.length / width);
  let pGrp = new Uint32Array(stats.length / width);
  let np = 0;
  const condCount = new Map<number, number>();
  const late: number[] = [];

  for (let j = 0; j < m; j++) {
    const t = ts[j];
    const src = srcIndex[j];
    const p = parts[src];
    if (t > partMaxTs[p]) partMaxTs[p] = t;
    const ws = Math.floor(t / windowMs) * windowMs;
    if (ws + windowMs <= watermark) {
      late.push(j);
      continue;
    }
    if (ws !== lastWinStart) {
      let w = winIds.get(ws);
      if (w === undefined) {
        w = winIds.size;
        winIds.set(ws, w);
      }
      lastWinStart = ws;
      lastWinId = w;
      lastDense = w < DENSE_WINDOWS ? (dense[w] ??= new Int32Array(groupCount)) : null;
    }
    const g = grp === null ? 0 : grp[j];
    let pi: number;
    let fresh = false;
    if (lastDense !== null) {
      pi = lastDense[g] - 1;
      if (pi < 0) {
        pi = np++;
        lastDense[g] = np;
        fresh = true;
      }
    } else {
      const key = lastWinId * 0x1000000 + g;
      const q = partialOf.get(key);
      if (q === undefined) {
        pi = np++;
        partialOf.set(key, pi);
        fresh = true;
      } else {
        pi = q;
      }
    }
    if (fresh) {
      if (np * width > stats.length) {
        const grown = new Float64Array(stats.length * 2);
        grown.set(stats);
        stats = grown;
        const w2 = new Float64Array(pWin.length * 2);
        w2.set(pWin);
        pWin = w2;
        const g2 = new Uint32Array(pGrp.length * 2);
        g2.set(pGrp);
        pGrp = g2;
      }
      pWin[pi] = ws;
      pGrp[pi] = g;
      for (let v = 0; v < nvars; v++) statsInit(stats, pi * width + v * STATS_WIDTH);
    }
    const base = pi * width;
    for (let v = 0; v < nvars; v++) statsAdd(stats, base + v * STATS_WIDTH, vars[v][j], scale);
    if (cond !== null) {
      const ck = pi * 0x100000 + cond[j];
      condCount.set(ck, (condCount.get(ck) ?? 0) + 1);
    }
  }

  for (const j of late) {
    const t = ts[j];
    const ws = Math.floor(t / windowMs) * windowMs;
    rej.add(
      srcIndex[j],
      R_LATE,
      `event time ${new Date(t).toISOString()} falls in window [${new Date(ws).toISOString()}, ${new Date(ws + windowMs).toISOString()}), which was already final (watermark ${new Date(watermark).toISOString()})`,
    );
  }

  const condCounts = new Uint32Array(condCount.size * 3);
  let c = 0;
  for (const [k, count] of condCount) {
    condCounts[c++] = Math.floor(k / 0x100000);
    condCounts[c++] = k % 0x100000;
    condCounts[c++] = count;
  }

  // Rejected records in task order, so the coordinator can walk them with the batch.
  const order = rej.idx.map((_, k) => k).sort((a, b) => rej.idx[a] - rej.idx[b]);
  const rejected = new Uint32Array(order.length);
  const reasons = new Uint8Array(order.length);
  const errors: string[] = new Array(order.length);
  for (let k = 0; k < order.length; k++) {
    rejected[k] = rej.idx[order[k]];
    reasons[k] = rej.reason[order[k]];
    errors[k] = rej.error[order[k]];
  }

  return {
    kind,
    n: srcIndex.length,
    keys: groups.names,
    windows: pWin.slice(0, np),
    groups: pGrp.slice(0, np),
    stats: stats.slice(0, np * width),
    condNames: conds.names,
    condCounts,
    rejected,
    reasons,
    errors,
    partMaxTs,
    threadId,
    keyIds: Int32Array.from(groups.globalIds),
    keyEpoch: groups.epoch,
    decodeNs: 0,
    aggregateNs: 0,
  };
}
