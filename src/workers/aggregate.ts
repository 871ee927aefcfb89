/**
 * Decode, validate, window and aggregate one packed batch of records of one kind.
 * Runs inside a worker thread; pure apart from reusing its column buffers. The field
 * readers are in fields.ts, the windowing and folding kernel in aggregate-table.ts.
 */
import { Buffer } from 'node:buffer';
import { ColumnBuffers } from '../arrow/columns.js';
import { STREAMS } from '../common/streams.js';
import { Kind, type AggregateResult, type AggregateTask } from './protocol.js';
import { aggregateTable } from './aggregate-table.js';
import { Dict } from './dict.js';
import { Payloads, Rejects, parseRecord, readDecimal, readText, readTimestamp } from './fields.js';

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
