/**
 * The workers' fast path for record payloads: reads the few fields a stream needs straight
 * from the UTF-8 bytes, with no string per payload, no JSON object and no garbage.
 *
 * It is a strict subset of JSON, checked in full: a payload it accepts is valid JSON (an
 * object whose nested values are skipped and validated too), and the values it returns are
 * exactly what `JSON.parse` would give. Anything outside the subset — a byte above 0x7F,
 * a backslash in a key or in a wanted string, a wanted field of another type or given
 * twice, nesting deeper than 64 — makes `scan` return false, and the caller reads that
 * payload the general way (`JSON.parse`, fields.ts), which also words every rejection. So
 * the fast path decides nothing on its own: it either produces what the general path
 * would, or defers to it.
 *
 * Numbers: a JSON number with at most 15 significant digits and a decimal exponent within
 * ±22 is mantissa × or ÷ an exact power of ten, one correctly rounded IEEE operation —
 * the same double as `JSON.parse` (Clinger's fast path); longer numbers go through
 * `Number()` of their text, which rounds correctly as well.
 */

import { latin1 } from './parse.js';

/** Field states after a scan. */
export const ABSENT = 0;
export const STRING = 1;
export const NUMBER = 2;

const MAX_DEPTH = 64;
const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * Bytes that stand for themselves inside a string on the fast path: printable ASCII and
 * DEL, but not the quote or the backslash. (Control characters are not allowed in JSON
 * strings; bytes above 0x7F defer to the general path.)
 */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN[c] = c === 0x22 || c === 0x5c ? 0 : 1;

/**
 * The payload's bytes as a DataView (set by `FieldScanner.scan` when the buffer changes),
 * for reading four bytes at a time in `plainRun`.
 */
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
let viewOf: Uint8Array | null = null;

/** A DataView of b's bytes (the last one made is kept: payloads come many per buffer). */
export function bytesView(b: Uint8Array): DataView<ArrayBufferLike> {
  if (b !== viewOf) {
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    viewOf = b;
  }
  return view;
}

/** Whether a[k, k + e - s) equals b[s, e) (av, v: views of a and b), four bytes at a time. */
export function sameBytes(av: DataView, a: Uint8Array, k: number, v: DataView, b: Uint8Array, s: number, e: number): boolean {
  let i = 0;
  const n = e - s;
  for (; i + 4 <= n; i += 4) if (av.getInt32(k + i, true) !== v.getInt32(s + i, true)) return false;
  for (; i < n; i++) if (a[k + i] !== b[s + i]) return false;
  return true;
}

/**
 * The position of the first byte at or after p that is not PLAIN (a quote, a backslash, a
 * control character or a byte above 0x7F), or e. Four bytes at a time while all four are
 * plain (the bit tests below are exact for "some byte is not plain": a byte below 0x20, a
 * byte with the high bit set, a byte equal to 0x22 or to 0x5C), then byte by byte to the
 * exact stop.
 */
function plainRun(b: Uint8Array, p: number, e: number): number {
  const v = view;
  while (p + 4 <= e) {
    const x = v.getInt32(p, true);
    const q = x ^ 0x22222222;
    const s = x ^ 0x5c5c5c5c;
    if ((((x - 0x20202020) & ~x) | x | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) break;
    p += 4;
  }
  while (p < e && PLAIN[b[p]] === 1) p++;
  return p;
}

/** JSON white space: space, tab, line feed, carriage return. */
const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);

function skipWs(b: Uint8Array, p: number, e: number): number {
  while (p < e && isWs(b[p])) p++;
  return p;
}


/** The value of the last number read with `compute` (one module slot, no allocation). */
let numValue = 0;

/**
 * Reads a JSON number at b[p]; returns the position after it, or -1 if it is not one.
 * With `compute`, its value goes to `numValue`.
 */
function readNumber(b: Uint8Array, p: number, e: number, compute: boolean): number {
  const s = p;
  const neg = b[p] === 0x2d;
  if (neg) p++;
  if (p >= e) return -1;
  let mant = 0;
  let digits = 0; // significant digits, leading zeros not counted
  let c = b[p];
  if (c === 0x30) {
    p++;
    if (p < e && isDigit(b[p])) return -1; // no leading zeros
  } else if (c >= 0x31 && c <= 0x39) {
    while (p < e && isDigit((c = b[p]))) {
      if (digits < 16) mant = mant * 10 + (c - 0x30);
      digits++;
      p++;
    }
  } else {
    return -1;
  }
  let frac = 0;
  if (p < e && b[p] === 0x2e) {
    p++;
    if (p >= e || !isDigit(b[p])) return -1;
    while (p < e && isDigit((c = b[p]))) {
      if (digits > 0 || c !== 0x30) {
        if (digits < 16) mant = mant * 10 + (c - 0x30);
        digits++;
      }
      frac++;
      p++;
    }
  }
  let exp = 0;
  if (p < e && (b[p] | 0x20) === 0x65) {
    p++;
    let expNeg = false;
    if (p < e && (b[p] === 0x2b || b[p] === 0x2d)) expNeg = b[p++] === 0x2d;
    if (p >= e || !isDigit(b[p])) return -1;
    while (p < e && isDigit((c = b[p]))) {
      if (exp < 100000) exp = exp * 10 + (c - 0x30);
      p++;
    }
    if (expNeg) exp = -exp;
  }
  if (!compute) return p;
  const e10 = exp - frac;
  let v: number;
  if (digits <= 15 && e10 >= -22 && e10 <= 22) {
    v = e10 === 0 ? mant : e10 < 0 ? mant / POW10[-e10] : mant * POW10[e10];
    if (neg) v = -v;
  } else {
    v = Number(latin1(b, s, p));
  }
  numValue = v;
  return p;
}

/**
 * Skips a JSON string at b[p] (the opening quote); returns the position after the closing
 * quote, or -1. Escapes are validated; a byte above 0x7F defers to the general path, which
 * checks the UTF-8.
 */
function skipString(b: Uint8Array, p: number, e: number): number {
  p++;
  while (p < e) {
    p = plainRun(b, p, e);
    if (p >= e) return -1;
    const c = b[p];
    if (c === 0x22) return p + 1;
    if (c === 0x5c) {
      if (p + 1 >= e) return -1;
      const x = b[p + 1];
      if (x === 0x75) {
        if (p + 6 > e || !isHex(b[p + 2]) || !isHex(b[p + 3]) || !isHex(b[p + 4]) || !isHex(b[p + 5])) return -1;
        p += 6;
        continue;
      }
      // " \ / b f n r t
      if (x !== 0x22 && x !== 0x5c && x !== 0x2f && x !== 0x62 && x !== 0x66 && x !== 0x6e && x !== 0x72 && x !== 0x74) return -1;
      p += 2;
      continue;
    }
    return -1; // a control character, or a byte above 0x7F
  }
  return -1;
}

function skipLiteral(b: Uint8Array, p: number, e: number, word: readonly number[]): number {
  if (p + word.length > e) return -1;
  for (let k = 0; k < word.length; k++) if (b[p + k] !== word[k]) return -1;
  return p + word.length;
}
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** Skips any JSON value at b[p] (p is not white space); returns the position after it, or -1. */
function skipValue(b: Uint8Array, p: number, e: number, depth: number): number {
  const c = b[p];
  if (c === 0x22) return skipString(b, p, e);
  if (c === 0x2d || isDigit(c)) return readNumber(b, p, e, false);
  if (c === 0x74) return skipLiteral(b, p, e, TRUE);
  if (c === 0x66) return skipLiteral(b, p, e, FALSE);
  if (c === 0x6e) return skipLiteral(b, p, e, NULL);
  if (c !== 0x7b && c !== 0x5b) return -1;
  if (depth >= MAX_DEPTH) return -1;
  const object = c === 0x7b;
  const close = object ? 0x7d : 0x5d;
  p = skipWs(b, p + 1, e);
  if (p < e && b[p] === close) return p + 1;
  for (;;) {
    if (p >= e) return -1;
    if (object) {
      if (b[p] !== 0x22) return -1;
      p = skipString(b, p, e);
      if (p < 0) return -1;
      p = skipWs(b, p, e);
      if (p >= e || b[p] !== 0x3a) return -1;
      p = skipWs(b, p + 1, e);
      if (p >= e) return -1;
    }
    p = skipValue(b, p, e, depth + 1);
    if (p < 0) return -1;
    p = skipWs(b, p, e);
    if (p >= e) return -1;
    if (b[p] === close) return p + 1;
    if (b[p] !== 0x2c) return -1;
    p = skipWs(b, p + 1, e);
  }
}

/** Keys remembered per position (the first KEY_SLOTS of an object), of at most KEY_SLOT - 1 bytes. */
const KEY_SLOTS = 16;
const KEY_SLOT = 64;

/**
 * Reads the wanted top-level fields of a flat-enough JSON object. After `scan` returned
 * true, field f (in the order given to the constructor) is `state[f]`: ABSENT, STRING
 * (its bytes, without quotes and with no escape, are b[start[f], end[f])) or NUMBER
 * (`num[f]`). One scanner per stream, reused for every record.
 */
export class FieldScanner {
  readonly state: Uint8Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly num: Float64Array;
  private readonly names: Uint8Array[];
  /**
   * The keys of the payloads scanned so far, by position in the object: key k's bytes and
   * its closing quote are known[k * KEY_SLOT, + knownLen[k]), its field knownField[k]
   * (knownLen 0: none yet, or too long to keep). Payloads of one producer repeat their keys
   * in the same order; a key equal to the one seen at its position is a key already
   * checked (plain bytes, no escape) and looked up, so only the comparison is left.
   */
  private readonly known = new Uint8Array(KEY_SLOTS * KEY_SLOT);
  private readonly knownView = new DataView(this.known.buffer);
  private readonly knownLen = new Int32Array(KEY_SLOTS);
  private readonly knownField = new Int32Array(KEY_SLOTS);

  constructor(names: readonly string[]) {
    this.names = names.map((n) => new TextEncoder().encode(n));
    this.state = new Uint8Array(names.length);
    this.start = new Int32Array(names.length);
    this.end = new Int32Array(names.length);
    this.num = new Float64Array(names.length);
  }

  /** Whether b[s, …) starts with the k-th known key and its closing quote. */
  private isKnown(b: Uint8Array, k: number, s: number, e: number): boolean {
    const len = this.knownLen[k];
    return len !== 0 && s + len <= e && sameBytes(this.knownView, this.known, k * KEY_SLOT, view, b, s, s + len);
  }

  /** Keeps the key b[s, q) (q: its closing quote), field f, as the k-th known key. */
  private learn(b: Uint8Array, k: number, s: number, q: number, f: number): void {
    if (k >= KEY_SLOTS) return;
    const len = q + 1 - s;
    if (len > KEY_SLOT) {
      this.knownLen[k] = 0;
      return;
    }
    const known = this.known;
    const at = k * KEY_SLOT;
    for (let i = 0; i < len; i++) known[at + i] = b[s + i];
    this.knownLen[k] = len;
    this.knownField[k] = f;
  }

  /** The wanted field named by b[s, e), or -1. */
  private field(b: Uint8Array, s: number, e: number): number {
    const len = e - s;
    const names = this.names;
    outer: for (let f = 0; f < names.length; f++) {
      const name = names[f];
      if (name.length !== len || name[0] !== b[s]) continue;
      for (let k = 1; k < len; k++) if (name[k] !== b[s + k]) continue outer;
      return f;
    }
    return -1;
  }

  /**
   * Scans the payload b[s, e). True when it is a JSON object inside the fast path's subset
   * (see the file comment); false means "read it the general way", never "it is bad".
   */
  scan(b: Uint8Array, s: number, e: number): boolean {
    bytesView(b);
    const state = this.state;
    for (let f = 0; f < state.length; f++) state[f] = ABSENT;
    let p = skipWs(b, s, e);
    if (p >= e || b[p] !== 0x7b) return false;
    p = skipWs(b, p + 1, e);
    if (p < e && b[p] === 0x7d) return skipWs(b, p + 1, e) === e;
    for (let k = 0; ; k++) {
      if (p >= e || b[p] !== 0x22) return false;
      const ks = ++p;
      let f: number;
      if (k < KEY_SLOTS && this.isKnown(b, k, ks, e)) {
        p = ks + this.knownLen[k] - 1;
        f = this.knownField[k];
      } else {
        p = plainRun(b, p, e);
        if (p >= e || b[p] !== 0x22) return false;
        f = this.field(b, ks, p);
        this.learn(b, k, ks, p, f);
      }
      p = skipWs(b, p + 1, e);
      if (p >= e || b[p] !== 0x3a) return false;
      p = skipWs(b, p + 1, e);
      if (p >= e) return false;
      if (f < 0) {
        p = skipValue(b, p, e, 1);
        if (p < 0) return false;
      } else {
        if (state[f] !== ABSENT) return false; // given twice: JSON.parse keeps the last
        const c = b[p];
        if (c === 0x22) {
          const vs = ++p;
          p = plainRun(b, p, e);
          if (p >= e || b[p] !== 0x22) return false;
          this.start[f] = vs;
          this.end[f] = p++;
          state[f] = STRING;
        } else if (c === 0x2d || isDigit(c)) {
          p = readNumber(b, p, e, true);
          if (p < 0) return false;
          this.num[f] = numValue;
          state[f] = NUMBER;
        } else {
          return false; // null, a boolean, an object: the general path says why it is wrong
        }
      }
      p = skipWs(b, p, e);
      if (p >= e) return false;
      const c = b[p];
      if (c === 0x7d) return skipWs(b, p + 1, e) === e;
      if (c !== 0x2c) return false;
      p = skipWs(b, p + 1, e);
    }
  }
}

/**
 * Whether the ASCII string b[s, e) (no escapes, no control characters) passes the text
 * checks of parse.ts's `checkText`: not empty, not blank, at most `max` characters. (Such
 * bytes hold no NUL and no surrogate, and the only white space among them is the space.)
 */
export function asciiTextOk(b: Uint8Array, s: number, e: number, max: number): boolean {
  if (e <= s || e - s > max) return false;
  for (let i = s; i < e; i++) if (b[i] !== 0x20) return true;
  return false;
}
