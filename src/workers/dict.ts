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

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const NO_RANGE = -1;

/** FNV-1a of b[s, e), continuing from h. */
function fnv(h: number, b: Uint8Array, s: number, e: number): number {
  for (let i = s; i < e; i++) h = Math.imul(h ^ b[i], FNV_PRIME);
  return h;
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
  private used = 0;
  private generation = 0;
  private readonly encoder = new TextEncoder();

  /** A generation number for a new Dict; starts over when the table is too large. */
  begin(): number {
    if (this.names.length > MAX_KEYS || this.used > MAX_BYTES || this.generation === 0x7fffffff) this.clear();
    return ++this.generation;
  }

  private clear(): void {
    this.names = [];
    this.stamp = new Int32Array(256);
    this.local = new Int32Array(256);
    this.slots = new Int32Array(1024);
    this.hashes = new Int32Array(256);
    this.keyAt = new Int32Array(256);
    this.keyLen = new Int32Array(256);
    this.arena = new Uint8Array(8192);
    this.used = 0;
    this.generation = 0;
  }

  /** Global id of b[s1, e1), or of the pair b[s1, e1) NUL b[s2, e2) when s2 is given (ASCII bytes). */
  idBytes(b: Buffer, s1: number, e1: number, s2: number, e2: number): number {
    let h = fnv(FNV_OFFSET, b, s1, e1);
    const pair = s2 !== NO_RANGE;
    let len = e1 - s1;
    if (pair) {
      h = Math.imul(h, FNV_PRIME); // the NUL between the two parts
      h = fnv(h, b, s2, e2);
      len += 1 + e2 - s2;
    }
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = this.slots[slot];
      if (v === 0) break;
      const id = v - 1;
      if (this.hashes[id] !== h || this.keyLen[id] !== len) continue;
      const a = this.arena;
      let k = this.keyAt[id];
      let same = true;
      for (let i = s1; same && i < e1; i++) same = a[k++] === b[i];
      if (pair && same) {
        same = a[k++] === 0;
        for (let i = s2; same && i < e2; i++) same = a[k++] === b[i];
      }
      if (same) return id;
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
    const h = fnv(FNV_OFFSET, b, 0, b.length);
    const mask = this.slots.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = this.slots[slot];
      if (v === 0) break;
      const id = v - 1;
      if (this.hashes[id] === h && this.names[id] === s) return id;
    }
    const at = this.reserve(b.length);
    this.arena.set(b, at);
    return this.insert(h, at, b.length, s);
  }

  private reserve(len: number): number {
    if (this.used + len > this.arena.length) {
      const grown = new Uint8Array(Math.max(this.arena.length * 2, this.used + len));
      grown.set(this.arena.subarray(0, this.used));
      this.arena = grown;
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
  private readonly generation: number;

  constructor(private readonly table: Interner = new Interner()) {
    this.generation = table.begin();
  }

  private local(gid: number): number {
    const t = this.table;
    if (t.stamp[gid] !== this.generation) {
      t.stamp[gid] = this.generation;
      t.local[gid] = this.names.length;
      this.names.push(t.names[gid]);
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
    return this.id(a + '\u0000' + b);
  }
}
