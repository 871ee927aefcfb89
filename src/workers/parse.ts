/**
 * Field parsing shared by the workers (and by anything else that must read records the
 * way the engine does). Pure functions, no allocation beyond the result.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/**
 * The event times the engine accepts: years 0001 to 9999, the four-digit years of ISO 8601
 * that a PostgreSQL TIMESTAMP prints and reads back plainly. (Date.UTC(1, …) would mean
 * 1901: years 0–99 are mapped to 1900–1999, so the bounds are spelled out in milliseconds.)
 * A window must also end by MAX_WINDOW_END: see windowInRange.
 */
export const MIN_MS = -62135596800000; // 0001-01-01T00:00:00.000Z
export const MAX_MS = 253402300799999; // 9999-12-31T23:59:59.999Z
/**
 * The latest window_end written: it must still print with a four-digit year, so a window
 * ending at 10000-01-01T00:00 (the last window of 9999) cannot be written.
 */
export const MAX_WINDOW_END = MAX_MS;

// ISO 8601: date, 'T' or ' ', time with optional seconds and any fraction, optional zone.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * Reads an event timestamp: an ISO 8601 string (zone optional, no zone = UTC; 'T' or a
 * space; any fraction of a second, truncated to milliseconds) or a number of epoch
 * milliseconds. Returns epoch milliseconds (an integer), or NaN if it cannot be read.
 */
export function parseTimestamp(v: unknown): number {
  if (typeof v === 'string') {
    const t = fastTimestamp(v);
    if (t === t) return t; // not NaN
  }
  return parseTimestampSlow(v);
}

/** Whether the window of event time t lies within the years the TIMESTAMP columns are written in. */
export function windowInRange(t: number, windowMs: number): boolean {
  const ws = Math.floor(t / windowMs) * windowMs;
  return ws >= MIN_MS && ws + windowMs <= MAX_WINDOW_END;
}

/** The bytes b[s, e) as a string, one character per byte (callers pass ASCII). */
export function latin1(b: Uint8Array, s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) out += String.fromCharCode(b[i]);
  return out;
}

let cachedMinute = '';
let cachedMinuteMs = NaN;
const digit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * Fast path for the common forms `YYYY-MM-DDTHH:MM:SS[.fff…][Z]`: the minute is
 * parsed by the general code once and cached (consecutive records share it), seconds and
 * milliseconds are read by hand. Anything else returns NaN and takes the general path.
 */
function fastTimestamp(v: string): number {
  // A trailing 'Z' is UTC, the same as no zone.
  const n = v.charCodeAt(v.length - 1) === 90 ? v.length - 1 : v.length;
  if (n < 19 || v.charCodeAt(16) !== 58 || !digit(v.charCodeAt(17)) || !digit(v.charCodeAt(18))) return NaN;
  const sec = (v.charCodeAt(17) - 48) * 10 + (v.charCodeAt(18) - 48);
  if (sec > 59) return NaN;
  let ms = 0;
  if (n > 19) {
    if (v.charCodeAt(19) !== 46 || n === 20) return NaN;
    for (let i = 20; i < n; i++) {
      const c = v.charCodeAt(i);
      if (!digit(c)) return NaN;
      if (i < 23) ms = ms * 10 + (c - 48);
    }
    if (n === 21) ms *= 100;
    else if (n === 22) ms *= 10;
  }
  if (!(cachedMinute.length === 16 && v.startsWith(cachedMinute))) {
    const head = v.slice(0, 16);
    if (head.charCodeAt(10) !== 84 && head.charCodeAt(10) !== 32 && head.charCodeAt(10) !== 116) return NaN;
    const base = parseTimestampSlow(head);
    if (base !== base) return NaN;
    cachedMinute = head;
    cachedMinuteMs = base;
  }
  const t = cachedMinuteMs + sec * 1000 + ms;
  return t <= MAX_MS ? t : NaN;
}

let cachedMinuteBytes = new Uint8Array(0);
let cachedMinuteBytesMs = NaN;

/**
 * parseTimestamp of the ASCII string held in b[s, e) (no escapes), read from the bytes:
 * the same fast path as fastTimestamp, with its own cached minute; anything else goes
 * through parseTimestamp of the text, so the result is always parseTimestamp's.
 */
export function parseTimestampBytes(b: Uint8Array, s: number, e: number): number {
  const n = (b[e - 1] === 90 ? e - 1 : e) - s;
  fast: if (n >= 19 && b[s + 16] === 58 && digit(b[s + 17]) && digit(b[s + 18])) {
    const sec = (b[s + 17] - 48) * 10 + (b[s + 18] - 48);
    if (sec > 59) break fast;
    let ms = 0;
    if (n > 19) {
      if (b[s + 19] !== 46 || n === 20) break fast;
      for (let i = 20; i < n; i++) {
        const c = b[s + i];
        if (!digit(c)) break fast;
        if (i < 23) ms = ms * 10 + (c - 48);
      }
      if (n === 21) ms *= 100;
      else if (n === 22) ms *= 10;
    }
    const m = cachedMinuteBytes;
    let same = m.length === 16;
    for (let i = 0; same && i < 16; i++) same = m[i] === b[s + i];
    if (!same) {
      const sep = b[s + 10];
      if (sep !== 84 && sep !== 32 && sep !== 116) break fast;
      const base = parseTimestampSlow(latin1(b, s, s + 16));
      if (base !== base) break fast;
      cachedMinuteBytes = b.slice(s, s + 16);
      cachedMinuteBytesMs = base;
    }
    const t = cachedMinuteBytesMs + sec * 1000 + ms;
    if (t <= MAX_MS) return t;
  }
  return parseTimestamp(latin1(b, s, e));
}

function parseTimestampSlow(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return NaN;
    const ms = Math.floor(v);
    return ms >= MIN_MS && ms <= MAX_MS ? ms : NaN;
  }
  if (typeof v !== 'string') return NaN;
  const m = ISO_RE.exec(v);
  if (m === null) return NaN;
  const year = +m[1];
  const month = +m[2];
  const day = +m[3];
  const hour = +m[4];
  const minute = +m[5];
  const second = m[6] === undefined ? 0 : +m[6];
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return NaN;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (day > dim) return NaN;
  let ms = 0;
  const frac = m[7];
  if (frac !== undefined) {
    // Truncating to whole milliseconds never moves a record across a window boundary,
    // because boundaries are whole milliseconds.
    ms = +(frac + '00').slice(0, 3);
  }
  let t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (year < 100) {
    // Date.UTC maps years 0–99 to 1900–1999.
    const d = new Date(t);
    d.setUTCFullYear(year);
    t = d.getTime();
  }
  if (m[9] !== undefined) {
    const zh = +m[10];
    const zm = m[11] === undefined ? 0 : +m[11];
    if (zh > 23 || zm > 59) return NaN;
    const off = (zh * 60 + zm) * 60000;
    t = m[9] === '+' ? t - off : t + off;
  }
  return t >= MIN_MS && t <= MAX_MS ? t : NaN;
}

// No surrounding white space: " 12 " is rejected (a producer that pads numbers is
// probably sending something else); an exponent is accepted ("1e3"), as JSON numbers,
// Java's BigDecimal and Jackson's coercion accept it.
/**
 * Why a timestamp that parseTimestamp rejected cannot be used: outside the years the
 * engine accepts (with the value), or not a time at all.
 */
export function timestampProblem(raw: unknown): string {
  if (raw === undefined) return "required field 'timestamp' is missing";
  if (typeof raw === 'number' && Number.isFinite(raw)) {
    return `field 'timestamp' is epoch milliseconds ${raw}, outside the years 0001 to 9999 that the engine accepts`;
  }
  if (typeof raw === 'string' && ISO_RE.test(raw)) {
    return `field 'timestamp' is ${describe(raw)}, not a valid time in the years 0001 to 9999 (check the date, time and zone)`;
  }
  return `field 'timestamp' is ${describe(raw)}, not an ISO 8601 time or epoch milliseconds`;
}

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Reads a number: a JSON number, or a string holding a decimal number ("231.7", "-1.5",
 * "1e3"; no white space). Returns NaN when the value is absent, of another type, not a
 * decimal, or not finite.
 */
export function parseNumber(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
  if (typeof v === 'string' && DECIMAL_RE.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : NaN;
  }
  return NaN;
}

/**
 * Whether |x| rounded to `scale` decimal places fits a DECIMAL(precision, scale) column,
 * exactly as PostgreSQL judges it: the engine sends a number as its shortest decimal form
 * (String(x)), and PostgreSQL rounds that decimal half away from zero. Values clearly
 * inside the limit take a fast path; near the limit the decimal digits are inspected, so
 * 999999.99995 is out of range for DECIMAL(10, 4) and 999999.99994999 is not, whatever
 * binary rounding `x * 10^scale` would do.
 */
export function fitsDecimal(x: number, precision: number, scale: number): boolean {
  const limit = 10 ** (precision - scale);
  const a = Math.abs(x);
  if (a < limit - 1) return true;
  if (a >= limit) return false;
  // limit − 1 ≤ a < limit: does rounding to `scale` places carry into the limit?
  const text = String(a);
  if (text.includes('e')) return true; // only tiny numbers print with an exponent here
  const dot = text.indexOf('.');
  if (dot < 0) return true;
  const frac = text.slice(dot + 1);
  if (frac.length <= scale) return true;
  // Rounding carries all the way up only if every kept digit is 9 and the next is ≥ 5.
  return !(/^9*$/.test(frac.slice(0, scale)) && frac.charCodeAt(scale) >= 53);
}

/**
 * Checks a text value for a VARCHAR(max) column: length in characters (code points, as
 * PostgreSQL counts them), no NUL, no lone surrogate (which UTF-8 cannot carry). Returns
 * an error sentence or null.
 */
export function checkText(field: string, v: string, max: number): string | null {
  if (v.length === 0) return `field '${field}' is empty`;
  if (v.trim().length === 0) return `field '${field}' is blank (white space only)`;
  let chars = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0) return `field '${field}' contains a NUL character, which PostgreSQL text cannot store`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = v.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return `field '${field}' contains an unpaired UTF-16 surrogate`;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return `field '${field}' contains an unpaired UTF-16 surrogate`;
    }
    chars++;
  }
  if (chars > max) return `field '${field}' is ${chars} characters long; the column holds at most ${max}`;
  return null;
}

export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return `${typeof v} ${String(v)}`;
}
