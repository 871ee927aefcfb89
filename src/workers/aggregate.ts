/**
 * Decode, validate, window and aggregate one batch of records of one kind.
 * Runs inside a worker thread; pure apart from reusing its column buffers. Each payload
 * is read by the fast path first (scan.ts: the wanted fields straight from the bytes);
 * one the fast path does not take whole — anything unusual, and every record that is
 * rejected — is read again by the general path (JSON.parse and the field readers of
 * fields.ts), which decides and words the outcome. The windowing and folding kernel is
 * in aggregate-table.ts.
 */
import { Buffer } from 'node:buffer';
import { ColumnBuffers } from '../arrow/columns.js';
import { STREAMS } from '../common/streams.js';
import { Kind, type AggregateResult, type AggregateTask, type TaskHead } from './protocol.js';
import { aggregateTable } from './aggregate-table.js';
import { Dict, Interner } from './dict.js';
import { Payloads, Rejects, parseRecord, readDecimal, readText, readTimestamp, timeUsable, type RecordSource } from './fields.js';
import { fitsDecimal, parseTimestamp, parseTimestampBytes } from './parse.js';
import { ABSENT, FieldScanner, NUMBER, STRING, asciiTextOk } from './scan.js';

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

/** Group keys and condition names, interned per worker across batches. */
const groupKeys = new Interner();
const conditionNames = new Interner();

const sensorScan = new FieldScanner(['sensor_id', 'sensor_type', 'value', 'timestamp']);
const meterScan = new FieldScanner(['customer_id', 'reading', 'timestamp']);
const weatherScan = new FieldScanner(['timestamp', 'temperature', 'humidity', 'pressure', 'wind_speed', 'weather_condition']);

/** Whether the general path is forced (tests compare both paths on the same records). */
let fastPath = true;
export function setFastPath(on: boolean): void {
  fastPath = on;
}

/** A packed task's payloads as a record source. */
export function packedSource(task: AggregateTask): RecordSource {
  const n = task.offsets.length - 1;
  const length = new Int32Array(n);
  for (let i = 0; i < n; i++) length[i] = task.offsets[i + 1] - task.offsets[i];
  return {
    count: n,
    buffers: [Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength)],
    buffer: null,
    start: task.offsets,
    length,
  };
}

export function aggregateBatch(task: AggregateTask): AggregateResult {
  return aggregateRecords(task, packedSource(task));
}

/** The event time of a scanned timestamp field (a string or a number), or NaN. */
function scannedTime(sc: FieldScanner, f: number, b: Uint8Array): number {
  return sc.state[f] === STRING ? parseTimestampBytes(b, sc.start[f], sc.end[f]) : parseTimestamp(sc.num[f]);
}

/** A scanned number that passes readDecimal's checks, or NaN. */
function scannedDecimal(sc: FieldScanner, f: number, digits: readonly [number, number]): number {
  if (sc.state[f] !== NUMBER) return NaN;
  const x = sc.num[f];
  return Number.isFinite(x) && fitsDecimal(x, digits[0], digits[1]) ? x : NaN;
}

/** A scanned string that passes readText's checks. */
function scannedText(sc: FieldScanner, f: number, b: Uint8Array, max: number): boolean {
  return sc.state[f] === STRING && asciiTextOk(b, sc.start[f], sc.end[f], max);
}

export function aggregateRecords(task: TaskHead, src: RecordSource): AggregateResult {
  const t0 = process.hrtime.bigint();
  const n = src.count;
  const { buffers, buffer, start, length } = src;
  const text = new Payloads(src);
  const rej = new Rejects();
  const groups = new Dict(groupKeys);
  const conds = new Dict(conditionNames);
  const cols = task.kind === Kind.sensor ? sensorCols : task.kind === Kind.meter ? meterCols : weatherCols;
  cols.reserve(n);
  // Records that pass validation are written densely; srcIndex maps back to task order.
  const srcIndex = new Uint32Array(n);
  let m = 0;
  const ts = cols.f64.get('event_time')!;
  const fast = fastPath;

  // Per record: the fast path (scan.ts) fills t, x… and `ok`; otherwise the general path
  // reads the record, or rejects it and goes on to the next. One write per accepted record.
  if (task.kind === Kind.sensor) {
    const val = cols.f64.get('value')!;
    const grp = cols.i32.get('group')!;
    const sc = sensorScan;
    for (let i = 0; i < n; i++) {
      const len = length[i];
      let ok = false;
      let t = NaN;
      let x = NaN;
      let g = 0;
      if (fast && len > 0) {
        const b = buffers[buffer === null ? 0 : buffer[i]];
        const s = start[i];
        if (
          sc.scan(b, s, s + len) &&
          scannedText(sc, 0, b, SENSOR.sensor_id.max) &&
          scannedText(sc, 1, b, SENSOR.sensor_type.max) &&
          sc.state[3] !== ABSENT
        ) {
          x = scannedDecimal(sc, 2, SENSOR.value.digits);
          t = x === x ? scannedTime(sc, 3, b) : NaN;
          ok = timeUsable(t, task);
          if (ok) g = groups.idBytes(b, sc.start[1], sc.end[1], sc.start[0], sc.end[0]);
        }
      }
      if (!ok) {
        const o = parseRecord(text, i, rej);
        if (o === null) continue;
        const id = readText(o, 'sensor_id', SENSOR.sensor_id.max, i, rej);
        if (id === null) continue;
        const type = readText(o, 'sensor_type', SENSOR.sensor_type.max, i, rej);
        if (type === null) continue;
        x = readDecimal(o, 'value', SENSOR.value.digits, i, rej);
        if (Number.isNaN(x)) continue;
        t = readTimestamp(o, i, rej, task);
        if (Number.isNaN(t)) continue;
        g = groups.id2(type, id);
      }
      ts[m] = t;
      val[m] = x;
      grp[m] = g;
      srcIndex[m++] = i;
    }
  } else if (task.kind === Kind.meter) {
    const val = cols.f64.get('reading')!;
    const grp = cols.i32.get('group')!;
    const sc = meterScan;
    for (let i = 0; i < n; i++) {
      const len = length[i];
      let ok = false;
      let t = NaN;
      let x = NaN;
      let g = 0;
      if (fast && len > 0) {
        const b = buffers[buffer === null ? 0 : buffer[i]];
        const s = start[i];
        if (sc.scan(b, s, s + len) && scannedText(sc, 0, b, METER.customer_id.max) && sc.state[2] !== ABSENT) {
          x = scannedDecimal(sc, 1, METER.reading.digits);
          t = x === x ? scannedTime(sc, 2, b) : NaN;
          ok = timeUsable(t, task);
          if (ok) g = groups.idBytes(b, sc.start[0], sc.end[0]);
        }
      }
      if (!ok) {
        const o = parseRecord(text, i, rej);
        if (o === null) continue;
        const cust = readText(o, 'customer_id', METER.customer_id.max, i, rej);
        if (cust === null) continue;
        x = readDecimal(o, 'reading', METER.reading.digits, i, rej);
        if (Number.isNaN(x)) continue;
        t = readTimestamp(o, i, rej, task);
        if (Number.isNaN(t)) continue;
        g = groups.id(cust);
      }
      ts[m] = t;
      val[m] = x;
      grp[m] = g;
      srcIndex[m++] = i;
    }
  } else {
    groups.id('');
    const temp = cols.f64.get('temperature')!;
    const hum = cols.f64.get('humidity')!;
    const pres = cols.f64.get('pressure')!;
    const wind = cols.f64.get('wind_speed')!;
    const cond = cols.i32.get('condition')!;
    const sc = weatherScan;
    for (let i = 0; i < n; i++) {
      const len = length[i];
      let ok = false;
      let t = NaN;
      let a = NaN;
      let h = NaN;
      let p = NaN;
      let w = NaN;
      let c = 0;
      if (fast && len > 0) {
        const b = buffers[buffer === null ? 0 : buffer[i]];
        const s = start[i];
        if (sc.scan(b, s, s + len) && sc.state[0] !== ABSENT && scannedText(sc, 5, b, WEATHER.weather_condition.max)) {
          t = scannedTime(sc, 0, b);
          a = timeUsable(t, task) ? scannedDecimal(sc, 1, WEATHER.temperature.digits) : NaN;
          h = a === a ? scannedDecimal(sc, 2, WEATHER.humidity.digits) : NaN;
          p = h === h ? scannedDecimal(sc, 3, WEATHER.pressure.digits) : NaN;
          w = p === p ? scannedDecimal(sc, 4, WEATHER.wind_speed.digits) : NaN;
          ok = w === w;
          if (ok) c = conds.idBytes(b, sc.start[5], sc.end[5]);
        }
      }
      if (!ok) {
        const o = parseRecord(text, i, rej);
        if (o === null) continue;
        t = readTimestamp(o, i, rej, task);
        if (Number.isNaN(t)) continue;
        a = readDecimal(o, 'temperature', WEATHER.temperature.digits, i, rej);
        if (Number.isNaN(a)) continue;
        h = readDecimal(o, 'humidity', WEATHER.humidity.digits, i, rej);
        if (Number.isNaN(h)) continue;
        p = readDecimal(o, 'pressure', WEATHER.pressure.digits, i, rej);
        if (Number.isNaN(p)) continue;
        w = readDecimal(o, 'wind_speed', WEATHER.wind_speed.digits, i, rej);
        if (Number.isNaN(w)) continue;
        const name = readText(o, 'weather_condition', WEATHER.weather_condition.max, i, rej);
        if (name === null) continue;
        c = conds.id(name);
      }
      ts[m] = t;
      temp[m] = a;
      hum[m] = h;
      pres[m] = p;
      wind[m] = w;
      cond[m] = c;
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
