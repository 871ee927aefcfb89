/**
 * A second, deliberately simple reading of generated messages, from their bytes only, for
 * checking the load generator: classify each message as the contract says (section 4),
 * replay the partitions the way an engine could (round-robin fetches) to find late
 * records, and aggregate the rest in plain floating point (two-pass stddev).
 */
const decoder = new TextDecoder('utf-8', { fatal: true });

export interface RawMessage {
  topic: string;
  partition: number;
  key: string;
  value: Buffer;
}

export type Reading =
  | { ok: false; reason: 'invalid_json' | 'invalid_record' | 'out_of_range' }
  | { ok: true; ts: number; fields: Record<string, string | number> };

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;

function readTimestamp(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.floor(v) : NaN;
  if (typeof v !== 'string') return NaN;
  const m = ISO.exec(v);
  if (m === null) return NaN;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const ms = m[7] === undefined ? 0 : Number((m[7] + '00').slice(0, 3));
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  if (back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || s > 59) return NaN;
  if (m[8] === undefined || m[8] === 'Z') return t;
  const sign = m[8][0] === '+' ? 1 : -1;
  return t - sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
}

function readNumber(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return NaN;
}

/** Whether v, rounded half away from zero to `scale` places as written, stays below 10^(p−s). */
function fits(v: number, precision: number, scale: number): boolean {
  const limit = 10 ** (precision - scale);
  const threshold = Number(`${limit - 1}.${'9'.repeat(scale)}5`);
  return Math.abs(v) < threshold;
}

const SPEC = {
  sensor: {
    texts: { sensor_id: 100, sensor_type: 50 } as Record<string, number>,
    numbers: { value: [10, 4] } as Record<string, [number, number]>,
  },
  meter: { texts: { customer_id: 100 } as Record<string, number>, numbers: { reading: [12, 4] } as Record<string, [number, number]> },
  weather: {
    texts: { weather_condition: 50 } as Record<string, number>,
    numbers: { temperature: [5, 2], humidity: [5, 2], pressure: [7, 2], wind_speed: [5, 2] } as Record<string, [number, number]>,
  },
};

export function readMessage(source: 'sensor' | 'meter' | 'weather', value: Buffer): Reading {
  let obj: unknown;
  try {
    obj = JSON.parse(decoder.decode(value));
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { ok: false, reason: 'invalid_json' };
  const o = obj as Record<string, unknown>;
  const spec = SPEC[source];
  const fields: Record<string, string | number> = {};
  for (const [f, max] of Object.entries(spec.texts)) {
    const t = o[f];
    if (typeof t !== 'string' || t.length === 0 || [...t].length > max) return { ok: false, reason: 'invalid_record' };
    fields[f] = t;
  }
  const ts = readTimestamp(o.timestamp);
  if (Number.isNaN(ts)) return { ok: false, reason: 'invalid_record' };
  const numbers: [string, number, number][] = [];
  for (const [f, [p, s]] of Object.entries(spec.numbers)) {
    const n = readNumber(o[f]);
    if (Number.isNaN(n)) return { ok: false, reason: 'invalid_record' };
    numbers.push([f, p, s]);
    fields[f] = n;
  }
  for (const [f, p, s] of numbers) if (!fits(fields[f] as number, p, s)) return { ok: false, reason: 'out_of_range' };
  return { ok: true, ts, fields };
}

export interface ReplayResult {
  /** `${topic}:${partition}:${position}` → verdict */
  verdicts: Map<string, string>;
  sensor: Map<string, number[]>;
  consumption: Map<string, number[]>;
  weather: Map<number, { t: number[]; h: number[]; p: number[]; w: number[]; c: string[] }>;
  dead: Record<string, number>;
}

/**
 * Replays each topic's partitions round-robin, `fetch` records at a time per partition,
 * keeping the watermark as the contract defines it (min over non-empty partitions of the
 * max event time seen, minus the lateness), and collects the values of on-time records.
 */
export function replay(
  topics: Record<'sensor' | 'meter' | 'weather', string>,
  partitions: Map<string, RawMessage[]>,
  opts: { latenessMs: number; windows: { sensorMs: number; meterMs: number; weatherMs: number }; fetch: number },
): ReplayResult {
  const res: ReplayResult = { verdicts: new Map(), sensor: new Map(), consumption: new Map(), weather: new Map(), dead: {} };
  for (const source of ['sensor', 'meter', 'weather'] as const) {
    const topic = topics[source];
    const lists = [...partitions].filter(([k, l]) => k.startsWith(`${topic}:`) && l.length > 0).map(([k, l]) => ({ k, l, pos: 0, max: -Infinity }));
    const size = source === 'sensor' ? opts.windows.sensorMs : source === 'meter' ? opts.windows.meterMs : opts.windows.weatherMs;
    while (lists.some((x) => x.pos < x.l.length)) {
      for (const x of lists) {
        for (let n = 0; n < opts.fetch && x.pos < x.l.length; n++, x.pos++) {
          const msg = x.l[x.pos];
          const r = readMessage(source, msg.value);
          const id = `${x.k}:${x.pos}`;
          if (!r.ok) {
            res.verdicts.set(id, r.reason);
            res.dead[r.reason] = (res.dead[r.reason] ?? 0) + 1;
            continue;
          }
          const watermark = Math.min(...lists.map((y) => y.max)) - opts.latenessMs;
          const start = r.ts - (r.ts % size);
          if (start + size <= watermark) {
            res.verdicts.set(id, 'late');
            res.dead.late = (res.dead.late ?? 0) + 1;
            continue;
          }
          if (r.ts > x.max) x.max = r.ts;
          res.verdicts.set(id, 'ok');
          const f = r.fields;
          if (source === 'sensor') {
            const key = `${start}|${f.sensor_type}|${f.sensor_id}`;
            (res.sensor.get(key) ?? res.sensor.set(key, []).get(key)!).push(f.value as number);
          } else if (source === 'meter') {
            const key = `${start}|${f.customer_id}`;
            (res.consumption.get(key) ?? res.consumption.set(key, []).get(key)!).push(f.reading as number);
          } else {
            let w = res.weather.get(start);
            if (w === undefined) res.weather.set(start, (w = { t: [], h: [], p: [], w: [], c: [] }));
            w.t.push(f.temperature as number);
            w.h.push(f.humidity as number);
            w.p.push(f.pressure as number);
            w.w.push(f.wind_speed as number);
            w.c.push(f.weather_condition as string);
          }
        }
      }
    }
  }
  return res;
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation, two passes. */
export function stddev(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

export function mode(cs: string[]): string {
  const counts = new Map<string, number>();
  for (const c of cs) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
}
