/**
 * Decode, validate, window and aggregate one packed batch of records of one kind.
 * Runs inside a worker thread; pure apart from reusing its column buffers.
 */
import { Buffer, isAscii, isUtf8 } from 'node:buffer';
import { threadId } from 'node:worker_threads';
import { ColumnBuffers, columnValues } from '../arrow/columns.js';
import { STREAMS } from '../common/streams.js';
import { checkText, describe, fitsDecimal, MAX_WINDOW_END, MIN_MS, parseNumber, parseTimestamp, timestampProblem } from './parse.js';
import {
  Kind,
  R_FUTURE,
  R_INVALID_JSON,
  R_INVALID_RECORD,
  R_LATE,
  R_OUT_OF_RANGE,
  SUM_SCALE,
  VARS_PER_KIND,
  type AggregateResult,
  type AggregateTask,
} from './protocol.js';
import { STATS_WIDTH, statsAdd, statsInit } from './stats.js';

/** The input fields of each stream with the seed's column types: text lengths and DECIMAL(precision, scale). */
const SENSOR = STREAMS.sensor.fields;
const METER = STREAMS.meter.fields;
const WEATHER = STREAMS.weather.fields;

const sensorCols = new ColumnBuffers(['event_time', 'value'], ['group']);
const meterCols = new ColumnBuffers(['event_time', 'reading'], ['group']);
const weatherCols = new ColumnBuffers(
  ['event_time', 'temperature', 'humidity', 'pressure', 'wind_speed'],
  ['condition'],
);

/** Rejected records collected while decoding. */
class Rejects {
  idx: number[] = [];
  reason: number[] = [];
  error: string[] = [];
  add(i: number, reason: number, error: string): void {
    this.idx.push(i);
    this.reason.push(reason);
    this.error.push(error);
  }
}

type Obj = Record<string, unknown>;

/**
 * The task's payloads as text. When the whole buffer is ASCII (the usual case) it is
 * decoded once and records are cheap slices of that string, with no per-record UTF-8
 * check; otherwise each record is checked and decoded on its own.
 */
class Payloads {
  private readonly text: string | null;

  constructor(
    private readonly buf: Buffer,
    private readonly off: Uint32Array,
  ) {
    this.text = isAscii(buf) ? buf.toString('latin1') : null;
  }

  /** Record i as a string, or null when it is not valid UTF-8. */
  get(i: number): string | null {
    const a = this.off[i];
    const b = this.off[i + 1];
    if (this.text !== null) return this.text.slice(a, b);
    return isUtf8(this.buf.subarray(a, b)) ? this.buf.toString('utf8', a, b) : null;
  }
}

/** Parses record i into an object, or records why not. */
function parseRecord(src: Payloads, i: number, rej: Rejects): Obj | null {
  let text = src.get(i);
  if (text === null) {
    rej.add(i, R_INVALID_JSON, 'payload is not valid UTF-8');
    return null;
  }
  if (text.length === 0) {
    rej.add(i, R_INVALID_JSON, 'payload is empty (a Kafka tombstone or an empty message), not a JSON object');
    return null;
  }
  // A UTF-8 byte order mark is allowed before the JSON text (RFC 8259 lets parsers ignore it).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    rej.add(i, R_INVALID_JSON, `payload is not valid JSON: ${(e as Error).message}`);
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    rej.add(i, R_INVALID_JSON, `payload is ${describe(v)}, not a JSON object`);
    return null;
  }
  return v as Obj;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Reads the event time and checks that the record can be used at all: its window lies
 * inside what the TIMESTAMP columns are written with (years 0001–9999, window end
 * included), and it is not further ahead of the engine's wall clock than the allowed
 * future skew. A rejected record never moves event time.
 */
function readTimestamp(o: Obj, i: number, rej: Rejects, task: AggregateTask): number {
  const raw = o.timestamp;
  const t = parseTimestamp(raw);
  if (Number.isNaN(t)) {
    rej.add(i, R_INVALID_RECORD, timestampProblem(raw));
    return NaN;
  }
  if (t > task.futureLimit) {
    rej.add(
      i,
      R_FUTURE,
      `event time ${iso(t)} is ahead of the engine's clock by more than the allowed future skew (latest accepted: ${iso(task.futureLimit)})`,
    );
    return NaN;
  }
  const ws = Math.floor(t / task.windowMs) * task.windowMs;
  if (ws < MIN_MS || ws + task.windowMs > MAX_WINDOW_END) {
    rej.add(
      i,
      R_OUT_OF_RANGE,
      `field 'timestamp' is ${iso(t)}, whose ${task.windowMs / 1000} s window does not lie within the years 0001 to 9999 that window_start and window_end are written in`,
    );
    return NaN;
  }
  return t;
}

function readText(o: Obj, field: string, max: number, i: number, rej: Rejects): string | null {
  const v = o[field];
  if (typeof v !== 'string') {
    rej.add(
      i,
      R_INVALID_RECORD,
      v === undefined ? `required field '${field}' is missing` : `field '${field}' is ${describe(v)}, not a string`,
    );
    return null;
  }
  const err = checkText(field, v, max);
  if (err !== null) {
    rej.add(i, R_INVALID_RECORD, err);
    return null;
  }
  return v;
}

function readDecimal(
  o: Obj,
  field: string,
  limit: readonly [number, number],
  i: number,
  rej: Rejects,
): number {
  const raw = o[field];
  const x = parseNumber(raw);
  if (Number.isNaN(x)) {
    rej.add(
      i,
      R_INVALID_RECORD,
      raw === undefined
        ? `required field '${field}' is missing`
        : `field '${field}' is ${describe(raw)}, not a finite number`,
    );
    return NaN;
  }
  if (!fitsDecimal(x, limit[0], limit[1])) {
    rej.add(
      i,
      R_OUT_OF_RANGE,
      `field '${field}' is ${x}, which does not fit DECIMAL(${limit[0]}, ${limit[1]}) (|value| < ${10 ** (limit[0] - limit[1])})`,
    );
    return NaN;
  }
  return x;
}

/** Dictionary of strings to dense ids for one batch. */
class Dict {
  readonly ids = new Map<string, number>();
  readonly names: string[] = [];
  private readonly byType = new Map<string, Map<string, number>>();
  /**
   * Id of the pair (a, b), named `${a}\0${b}`: a small map per `a` (sensor types are few),
   * so a known pair costs two lookups and no string building.
   */
  id2(a: string, b: string): number {
    let inner = this.byType.get(a);
    if (inner === undefined) this.byType.set(a, (inner = new Map()));
    let id = inner.get(b);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(a + '\u0000' + b);
      inner.set(b, id);
    }
    return id;
  }
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(s, id);
      this.names.push(s);
    }
    return id;
  }
}

export function aggregateBatch(task: AggregateTask): AggregateResult {
  const t0 = process.hrtime.bigint();
  const n = task.offsets.length - 1;
  const buf = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const src = new Payloads(buf, task.offsets);
  const rej = new Rejects();
  const groups = new Dict();
  const conds = new Dict();
  const cols = task.kind === Kind.sensor ? sensorCols : task.kind === Kind.meter ? meterCols : weatherCols;
  cols.reserve(n);
  // Records that pass validation are written densely; srcIndex maps back to task order.
  const srcIndex = new Uint32Array(n);
  let m = 0;
  const ts = cols.f64.get('event_time')!;

  if (task.kind === Kind.sensor) {
    const val = cols.f64.get('value')!;
    const grp = cols.i32.get('group')!;
    for (let i = 0; i < n; i++) {
      const o = parseRecord(src, i, rej);
      if (o === null) continue;
      const id = readText(o, 'sensor_id', SENSOR.sensor_id.max, i, rej);
      if (id === null) continue;
      const type = readText(o, 'sensor_type', SENSOR.sensor_type.max, i, rej);
      if (type === null) continue;
      const x = readDecimal(o, 'value', SENSOR.value.digits, i, rej);
      if (Number.isNaN(x)) continue;
      const t = readTimestamp(o, i, rej, task);
      if (Number.isNaN(t)) continue;
      ts[m] = t;
      val[m] = x;
      grp[m] = groups.id2(type, id);
      srcIndex[m++] = i;
    }
  } else if (task.kind === Kind.meter) {
    const val = cols.f64.get('reading')!;
    const grp = cols.i32.get('group')!;
    for (let i = 0; i < n; i++) {
      const o = parseRecord(src, i, rej);
      if (o === null) continue;
      const cust = readText(o, 'customer_id', METER.customer_id.max, i, rej);
      if (cust === null) continue;
      const x = readDecimal(o, 'reading', METER.reading.digits, i, rej);
      if (Number.isNaN(x)) continue;
      const t = readTimestamp(o, i, rej, task);
      if (Number.isNaN(t)) continue;
      ts[m] = t;
      val[m] = x;
      grp[m] = groups.id(cust);
      srcIndex[m++] = i;
    }
  } else {
    groups.id('');
    const temp = cols.f64.get('temperature')!;
    const hum = cols.f64.get('humidity')!;
    const pres = cols.f64.get('pressure')!;
    const wind = cols.f64.get('wind_speed')!;
    const cond = cols.i32.get('condition')!;
    for (let i = 0; i < n; i++) {
      const o = parseRecord(src, i, rej);
      if (o === null) continue;
      const t = readTimestamp(o, i, rej, task);
      if (Number.isNaN(t)) continue;
      const a = readDecimal(o, 'temperature', WEATHER.temperature.digits, i, rej);
      if (Number.isNaN(a)) continue;
      const h = readDecimal(o, 'humidity', WEATHER.humidity.digits, i, rej);
      if (Number.isNaN(h)) continue;
      const p = readDecimal(o, 'pressure', WEATHER.pressure.digits, i, rej);
      if (Number.isNaN(p)) continue;
      const w = readDecimal(o, 'wind_speed', WEATHER.wind_speed.digits, i, rej);
      if (Number.isNaN(w)) continue;
      const c = readText(o, 'weather_condition', WEATHER.weather_condition.max, i, rej);
      if (c === null) continue;
      ts[m] = t;
      temp[m] = a;
      hum[m] = h;
      pres[m] = p;
      wind[m] = w;
      cond[m] = conds.id(c);
      srcIndex[m++] = i;
    }
  }
  const t1 = process.hrtime.bigint();

  const table = cols.toTable(m);
  const result = aggregateTable(task, table, m, srcIndex, rej, groups, conds);
  const t2 = process.hrtime.bigint();
  result.decodeNs = Number(t1 - t0);
  result.aggregateNs = Number(t2 - t1);
  return result;
}

/** Assigns windows and folds the decoded columns into per-(window, group) partials. */
function aggregateTable(
  task: AggregateTask,
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
    }
    const g = grp === null ? 0 : grp[j];
    const key = lastWinId * 0x1000000 + g;
    let pi = partialOf.get(key);
    if (pi === undefined) {
      pi = np++;
      partialOf.set(key, pi);
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
    decodeNs: 0,
    aggregateNs: 0,
  };
}
