/**
 * State snapshots on disk. Each snapshot is one file holding the open window state, the
 * per-partition offsets it covers and the event-time progress, with a format version and
 * a SHA-256 of its contents. It is written atomically: temporary file, fsync, rename,
 * fsync of the directory; a write that fails removes its temporary file. The newest few
 * are kept; a snapshot that cannot be read or whose checksum does not match is reported
 * and the previous one is used instead, never silently wrong state.
 *
 * Format 4 (`snapshot-<seq>.bin`), built for large states (millions of open windows ×
 * groups) without blocking the event loop for long:
 *
 *     "SGSNAP4\n" | u32 LE header length | header JSON | window sections… | SHA-256 (32 bytes)
 *
 * The header is the snapshot without its keys and statistics (per window: start, key
 * count, statistics bytes, condition counts). Each window's section is its keys in pieces of at most
 * KEYS_PER_PIECE — u32 count, u32 byte length, u32 × count key lengths (UTF-16 code units),
 * the keys' UTF-8 bytes — then zero padding to a multiple of 8 bytes and its statistics
 * as little-endian float64 bytes (so a reader can view them in place). The
 * checksum covers everything before it. The writer encodes one piece at a time and
 * awaits each write, so the main thread is never busy for more than a few milliseconds
 * at a stretch. Format 3 (`snapshot-<seq>.json`, one JSON document) is still read, so an
 * engine upgraded in place resumes from its last snapshot.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { WindowSnapshot } from './window-store.js';
import type { PartitionClockState } from './watermark.js';

export const SNAPSHOT_FORMAT = 4;
const MAGIC = Buffer.from('SGSNAP4\n', 'latin1');
const KEYS_PER_PIECE = 32768;
const STATS_PIECE_BYTES = 4 << 20;

export interface TopicSnapshot {
  topic: string;
  windowMs: number;
  watermark: number | null;
  partitions: PartitionClockState[];
  /** Next offset to read per partition: everything below it is in this state or in PostgreSQL. */
  offsets: { partition: number; offset: number }[];
  windows: WindowSnapshot[];
}

export interface Snapshot {
  format: number;
  seq: number;
  createdAt: string;
  groupId: string;
  /** sensor, meter, weather (Kind order). */
  topics: TopicSnapshot[];
}

const NAME_RE = /^snapshot-(\d{12})\.(bin|json)$/;
const name = (seq: number): string => `snapshot-${String(seq).padStart(12, '0')}.bin`;

export class CheckpointStore {
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly kept: number,
    private readonly log: Logger,
  ) {}

  /** Snapshot files, newest first. */
  private async list(): Promise<{ seq: number; file: string }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SmartGridError('CHECKPOINT_IO', `cannot read checkpoint directory ${this.dir}`, { cause: e });
    }
    return names
      .map((n) => NAME_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number(m[1]), file: join(this.dir, m[0]) }))
      .sort((a, b) => b.seq - a.seq);
  }

  /** Removes temporary files left by a write that a crash interrupted (call while holding the lock). */
  async removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (/^snapshot-\d{12}\.(bin|json)\.tmp$/.test(n)) {
        this.log.info('removing a snapshot left unfinished by an earlier run', { file: n });
        await rm(join(this.dir, n), { force: true });
      }
    }
  }

  /**
   * The newest readable snapshot, or null if there is none. Unreadable ones are reported
   * (and left on disk for inspection, renamed `.corrupt`).
   */
  async loadLatest(): Promise<Snapshot | null> {
    const files = await this.list();
    if (files.length > 0) this.seq = files[0].seq;
    for (const f of files) {
      try {
        const snap = parseSnapshot(await readFile(f.file), f.file);
        this.log.info('restored checkpoint', { file: f.file, seq: snap.seq, created: snap.createdAt });
        return snap;
      } catch (e) {
        this.log.error('checkpoint is unreadable; falling back to the previous one', {
          file: f.file,
          error: (e as Error).message,
        });
        await rename(f.file, f.file + '.corrupt').catch(() => {});
      }
    }
    if (files.length > 0) {
      throw new SmartGridError(
        'CHECKPOINT_CORRUPT',
        `no readable checkpoint in ${this.dir}: every snapshot failed its check; refusing to start from nothing ` +
          `(move the directory away to start over)`,
      );
    }
    return null;
  }

  /**
   * Writes a snapshot durably and prunes old ones. The windows' keys and statistics must
   * not change until the returned promise settles (the engine passes a frozen copy).
   */
  async save(s: Omit<Snapshot, 'seq' | 'format' | 'createdAt'>): Promise<Snapshot> {
    const snap: Snapshot = { format: SNAPSHOT_FORMAT, seq: ++this.seq, createdAt: new Date().toISOString(), ...s };
    const file = join(this.dir, name(snap.seq));
    const tmp = file + '.tmp';
    try {
      await mkdir(this.dir, { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await writeSnapshot(fh, snap);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      const dh = await open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (e) {
      // A half-written snapshot must not stay behind (and fill a full disk further).
      await rm(tmp, { force: true }).catch(() => {});
      throw new SmartGridError('CHECKPOINT_IO', `cannot write checkpoint ${file}`, { cause: e, canRetry: true });
    }
    const files = await this.list();
    for (const f of files.slice(this.kept)) await rm(f.file, { force: true });
    return snap;
  }
}

/** Writes format 4 to an open file, a piece at a time. */
function writeSnapshot(fh: FileHandle, snap: Snapshot): Promise<void> {
  let pos = 0;
  return encodeSnapshot(snap, async (b) => {
    let done = 0;
    while (done < b.length) {
      const { bytesWritten } = await fh.write(b, done, b.length - done, pos);
      done += bytesWritten;
      pos += bytesWritten;
    }
  });
}

/** Format 4 as one buffer (per-partition snapshots stored in PostgreSQL, see partition-state.ts). */
export async function snapshotBytes(snap: Snapshot): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  await encodeSnapshot(snap, (b) => {
    parts.push(Uint8Array.prototype.slice.call(b));
    return Promise.resolve();
  });
  return Buffer.concat(parts);
}

/** Encodes format 4 a piece at a time, hashing as it goes; `out` gets each piece in order. */
async function encodeSnapshot(snap: Snapshot, out: (b: Uint8Array) => Promise<void>): Promise<void> {
  const hash = createHash('sha256');
  let pos = 0;
  const put = async (b: Uint8Array, hashed = true): Promise<void> => {
    if (hashed) hash.update(b);
    pos += b.length;
    await out(b);
  };
  const header = {
    ...snap,
    topics: snap.topics.map((t) => ({
      ...t,
      windows: t.windows.map((w) => ({ start: w.start, n: w.n ?? w.keys.length, b: w.stats.byteLength, conds: w.conds })),
    })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(headerBytes.length);
  await put(Buffer.concat([MAGIC, len, headerBytes]));
  for (const t of snap.topics) {
    for (const w of t.windows) {
      const n = w.n ?? w.keys.length;
      for (let a = 0; a < n; a += KEYS_PER_PIECE) {
        const piece = w.keys.slice(a, Math.min(n, a + KEYS_PER_PIECE));
        const text = Buffer.from(piece.join(''), 'utf8');
        const head = new Uint32Array(2 + piece.length);
        head[0] = piece.length;
        head[1] = text.length;
        for (let i = 0; i < piece.length; i++) head[2 + i] = piece[i].length;
        await put(new Uint8Array(head.buffer));
        await put(text);
      }
      // Statistics start at a multiple of 8 bytes, so a reader can view them in place.
      if (pos % 8 !== 0) await put(new Uint8Array(8 - (pos % 8)));
      const stats = new Uint8Array(w.stats.buffer, w.stats.byteOffset, w.stats.byteLength);
      for (let a = 0; a < stats.length; a += STATS_PIECE_BYTES) await put(stats.subarray(a, a + STATS_PIECE_BYTES));
    }
  }
  await put(hash.digest(), false);
}

export function parseSnapshot(data: Buffer, file: string): Snapshot {
  if (data.length > 0 && data[0] === 0x7b /* { */) return parseJsonSnapshot(data.toString('utf8'), file);
  const corrupt = (why: string): never => {
    throw new SmartGridError('CHECKPOINT_CORRUPT', `${file} ${why}`);
  };
  if (data.length < MAGIC.length + 4 + 32 || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    corrupt('is not a snapshot (bad header; truncated?)');
  }
  const body = data.subarray(0, data.length - 32);
  const sum = createHash('sha256').update(body).digest();
  if (!sum.equals(data.subarray(data.length - 32))) corrupt('fails its SHA-256 check (truncated or altered)');
  let pos = MAGIC.length;
  const headerLen = data.readUInt32LE(pos);
  pos += 4;
  if (pos + headerLen > body.length) corrupt('has a header longer than the file');
  const header = JSON.parse(data.toString('utf8', pos, pos + headerLen)) as Omit<Snapshot, 'topics'> & {
    topics: (Omit<TopicSnapshot, 'windows'> & { windows: { start: number; n: number; b: number; conds?: [string, number][] }[] })[];
  };
  pos += headerLen;
  if (header.format !== SNAPSHOT_FORMAT) corrupt(`has format ${String(header.format)}; this engine reads 3 and ${SNAPSHOT_FORMAT}`);
  const topics: TopicSnapshot[] = header.topics.map((t) => ({
    ...t,
    windows: t.windows.map((w) => {
      const keys: string[] = new Array(w.n);
      let k = 0;
      while (k < w.n) {
        if (pos + 8 > body.length) corrupt('ends inside a window');
        const count = data.readUInt32LE(pos);
        const bytes = data.readUInt32LE(pos + 4);
        pos += 8;
        if (count === 0 || k + count > w.n || pos + count * 4 + bytes > body.length) corrupt('has a damaged key section');
        const lens = new Uint32Array(count);
        new Uint8Array(lens.buffer).set(data.subarray(pos, pos + count * 4));
        pos += count * 4;
        const text = data.toString('utf8', pos, pos + bytes);
        pos += bytes;
        let at = 0;
        for (let i = 0; i < count; i++) {
          keys[k++] = text.slice(at, at + lens[i]);
          at += lens[i];
        }
        if (at !== text.length) corrupt('has key lengths that do not match its key bytes');
      }
      const statBytes = w.b;
      pos += (8 - (pos % 8)) % 8;
      if (!Number.isInteger(statBytes) || statBytes % 8 !== 0 || pos + statBytes > body.length) corrupt('ends inside window statistics');
      // A view into the file's buffer when it is aligned (readFile gives an ArrayBuffer of
      // its own): no second copy of possibly hundreds of MiB.
      const at = data.byteOffset + pos;
      let stats: Float64Array;
      if (at % 8 === 0) stats = new Float64Array(data.buffer, at, statBytes / 8);
      else {
        stats = new Float64Array(statBytes / 8);
        new Uint8Array(stats.buffer).set(data.subarray(pos, pos + statBytes));
      }
      pos += statBytes;
      const out: WindowSnapshot = { start: w.start, keys, stats };
      if (w.conds !== undefined) out.conds = w.conds;
      return out;
    }),
  }));
  if (pos !== body.length) corrupt('has trailing bytes');
  return { format: header.format, seq: header.seq, createdAt: header.createdAt, groupId: header.groupId, topics };
}

/** Format 3: one JSON document with statistics as base64. */
function parseJsonSnapshot(text: string, file: string): Snapshot {
  let outer: { sha256?: unknown; snapshot?: unknown };
  try {
    outer = JSON.parse(text);
  } catch (e) {
    throw new SmartGridError('CHECKPOINT_CORRUPT', `${file} is not valid JSON (truncated?)`, { cause: e });
  }
  const start = text.indexOf('"snapshot":');
  const body = start < 0 ? '' : text.slice(start + 11, text.lastIndexOf('}'));
  const sum = createHash('sha256').update(body).digest('hex');
  if (outer.sha256 !== sum) throw new SmartGridError('CHECKPOINT_CORRUPT', `${file} fails its SHA-256 check`);
  const snap = outer.snapshot as Snapshot & { topics: (TopicSnapshot & { windows: { stats: unknown }[] })[] };
  if (snap.format !== 3) {
    throw new SmartGridError('CHECKPOINT_CORRUPT', `${file} has format ${String(snap.format)}; this engine reads 3 and ${SNAPSHOT_FORMAT}`);
  }
  for (const t of snap.topics) {
    for (const w of t.windows) {
      const bytes = Buffer.from(String(w.stats), 'base64');
      const stats = new Float64Array(bytes.length / 8);
      new Uint8Array(stats.buffer).set(bytes);
      w.stats = stats;
    }
  }
  return snap;
}
