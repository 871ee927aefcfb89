/**
 * Dense ids for the group keys and categories of one batch (the workers' string
 * dictionary), keyed by UTF-8 bytes: the fast path (scan.ts) looks a key up straight from
 * the payload's bytes; the general path looks up strings, by their UTF-8 bytes, in the
 * same table. A sensor group is the pair (sensor_type, sensor_id), named `${type}\0${id}`
 * and keyed by the same bytes (neither part can hold a NUL: checkText refuses it).
 *
 * Keys are interned per worker across batches (Interner), so a key's string is built once
 * per worker, not once per batch; a batch's Dict hands out dense local ids over them.
 */
import type { Buffer } from 'node:buffer';
import { bytesView, sameBytes } from './scan.js';

const SEED = 0x811c9dc5 | 0;
const NO_RANGE = -1;

/**
 * Mixes b[s, e) into h, four bytes at a time (v: a view of b's bytes). A key is hashed
 * part by part (a pair's two parts, with a separator step between), whether it comes as
 * bytes or as strings, so both ways give one hash.
 */
function mix(h: number, v: DataView, b: Uint8Array, s: number, e: number): number {
  let i = s;
  for (; i + 4 <= e; i += 4) {
    h = Math.imul(h ^ v.getInt32(i, true), 0x9e3779b1);
    h ^= h >>> 15;
  }
  for (; i < e; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h;
}

/** The separator step between a pair's parts. */
const between = (h: number): number => Math.imul(h ^ 0x100, 0x01000193);

/** MurmurHash3's final avalanche, so that the table's low bits depend on every byte. */
function finish(h: number, len: number): number {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Keys held before an interner starts over (between batches), bounding its memory. */
const MAX_KEYS = 1 << 20;
const MAX_BYTES = 64 << 20;

/** A worker's table of the keys it has seen: UTF-8 bytes → global id and name. */
export class Interner {
  names: string[] = [];
  /** Per global id: the Dict generation that last used it, and its local id there. */
  stamp = new Int32Array(256);
  local = new Int32Array(256);
  private slots = new Int32Array(1024); // id + 1, 0 = empty
  private hashes = new Int32Array(256);
  private keyAt = new Int32Array(256);
  private keyLen = new Int32Array(256);
  private arena = new Uint8Array(8192);
  private arenaView = new DataView(this.arena.buffer);
  private used = 0;
  private generation = 0;
  private readonly encoder = new TextEncoder();

  /** A generation number for a new Dict; starts over when the table is too large. */
  begin(): number {
    if (this.names.length > MAX_KEYS || this.used > MAX_BYTES || this.generation === 0x7fffffff) this.clear();
    return ++this.generation;
  }

  /** Counts the times the table started over: an id names one key within one epoch. */
  epoch = 0;

  private clear(): void {
    this.epoch++;
    this.names = [];
    this.stamp = new Int32Array(256);
    this.local = new Int32Array(256);
    this.slots = new Int32Array(1024);
    this.hashes = new Int32Array(256);
    this.keyAt = new Int32Array(256);
    this.keyLen = new Int32Array(256);
    this.arena = new Uint8Array(8192);
    this.arenaView = new DataView(this.arena.buffer);
    this.used = 0;
    this.generation = 0;
  }

  /** Global id of b[s1, e1), or of the pair b[s1, e1) NUL b[s2, e2) when s2 is given (ASCII bytes). */
  idBytes(b: Buffer, s1: number, e1: number, s2: number, e2: number): number {
    const v = bytesView(b);
    let h = mix(SEED, v, b, s1, e1);
    const pair = s2 !== NO_RANGE;
    let len = e1 - s1;
    if (pair) {
      h = mix(between(h), v, b, s2, e2);
      len += 1 + e2 - s2;
    }
    h = finish(h, len);
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const x = this.slots[slot];
      if (x === 0) break;
      const id = x - 1;
      if (this.hashes[id] !== h || this.keyLen[id] !== len) continue;
      const a = this.arena;
      const k = this.keyAt[id];
      if (!sameBytes(this.arenaView, a, k, v, b, s1, e1)) continue;
      if (pair && (a[k + e1 - s1] !== 0 || !sameBytes(this.arenaView, a, k + e1 - s1 + 1, v, b, s2, e2))) continue;
      return id;
    }
    let name = b.toString('latin1', s1, e1);
    if (pair) name += '\u0000' + b.toString('latin1', s2, e2);
    const at = this.reserve(len);
    const a = this.arena;
    let k = at;
    for (let i = s1; i < e1; i++) a[k++] = b[i];
    if (pair) {
      a[k++] = 0;
      for (let i = s2; i < e2; i++) a[k++] = b[i];
    }
    return this.insert(h, at, len, name);
  }

  /** Global id of the string s (any Unicode; keyed by its UTF-8 bytes). */
  id(s: string): number {
    const b = this.encoder.encode(s);
    return this.find(finish(mix(SEED, new DataView(b.buffer), b, 0, b.length), b.length), s, [b]);
  }

  /** Global id of the pair (a, b), named `${a}\0${b}`: the same id as `idBytes` of its two parts. */
  id2(a: string, b: string): number {
    const x = this.encoder.encode(a);
    const y = this.encoder.encode(b);
    const h = mix(between(mix(SEED, new DataView(x.buffer), x, 0, x.length)), new DataView(y.buffer), y, 0, y.length);
    return this.find(finish(h, x.length + 1 + y.length), a + '\u0000' + b, [x, new Uint8Array(1), y]);
  }

  /** The id of `name` (hash h, UTF-8 bytes `parts` in order), added when new. */
  private find(h: number, name: string, parts: Uint8Array[]): number {
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const x = this.slots[slot];
      if (x === 0) break;
      const id = x - 1;
      if (this.hashes[id] === h && this.names[id] === name) return id;
    }
    const len = parts.reduce((n, p) => n + p.length, 0);
    const at = this.reserve(len);
    let k = at;
    for (const p of parts) {
      this.arena.set(p, k);
      k += p.length;
    }
    return this.insert(h, at, len, name);
  }

  private reserve(len: number): number {
    if (this.used + len > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.used + len));
      grown.set(this.arena.subarray(0, this.used));
      this.arena = grown;
      this.arenaView = new DataView(grown.buffer);
    }
    const at = this.used;
    this.used += len;
    return at;
  }

  private insert(h: number, at: number, len: number, name: string): number {
    const id = this.names.length;
    if (id === this.hashes.length) {
      this.hashes = grow(this.hashes);
      this.keyAt = grow(this.keyAt);
      this.keyLen = grow(this.keyLen);
      this.stamp = grow(this.stamp);
      this.local = grow(this.local);
    }
    this.names.push(name);
    this.hashes[id] = h;
    this.keyAt[id] = at;
    this.keyLen[id] = len;
    this.stamp[id] = 0;
    // Keep the table at most half full.
    if ((id + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const mask = this.slots.length - 1;
    let slot = this.hashes[id] & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = id + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let id = 0; id < this.names.length; id++) this.place(id);
  }
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const g = new Int32Array(a.length * 2);
  g.set(a);
  return g;
}

/** One batch's dictionary: dense local ids, in first-seen order, over an interner's keys. */
export class Dict {
  readonly names: string[] = [];
  /** Per local id: the interner's id of the key (stable across batches within `epoch`). */
  readonly globalIds: number[] = [];
  /** The interner's epoch for this batch. */
  readonly epoch: number;
  private readonly generation: number;

  constructor(private readonly table: Interner = new Interner()) {
    this.generation = table.begin();
    this.epoch = table.epoch;
  }

  private local(gid: number): number {
    const t = this.table;
    if (t.stamp[gid] !== this.generation) {
      t.stamp[gid] = this.generation;
      t.local[gid] = this.names.length;
      this.names.push(t.names[gid]);
      this.globalIds.push(gid);
    }
    return t.local[gid];
  }

  /**
   * Id of the key b[s1, e1), or of the pair (b[s1, e1), b[s2, e2)) when s2 is given; the
   * bytes are ASCII (the fast path checked them), so they are also the name's characters.
   */
  idBytes(b: Buffer, s1: number, e1: number, s2 = NO_RANGE, e2 = NO_RANGE): number {
    return this.local(this.table.idBytes(b, s1, e1, s2, e2));
  }

  /** Id of the string s. */
  id(s: string): number {
    return this.local(this.table.id(s));
  }

  /** Id of the pair (a, b), named `${a}\0${b}`. */
  id2(a: string, b: string): number {
    return this.local(this.table.id2(a, b));
  }
}
