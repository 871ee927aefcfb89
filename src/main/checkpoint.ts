/**
 * State snapshots on disk. Each snapshot is one JSON file holding the open window state,
 * the per-partition offsets it covers and the event-time progress, with a format version
 * and a SHA-256 of its body. It is written atomically: temporary file, fsync, rename,
 * fsync of the directory. The newest few are kept; a snapshot that cannot be read or
 * whose checksum does not match is reported and the previous one is used instead, never
 * silently wrong state.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SmartGridError } from './errors.js';
import type { Logger } from './log.js';
import type { WindowSnapshot } from './window-store.js';
import type { PartitionClockState } from './watermark.js';

export const SNAPSHOT_FORMAT = 3; // 2: exact sums in the statistics; 3: statistics as base64 Float64Array bytes

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

const NAME_RE = /^snapshot-(\d{12})\.json$/;
const name = (seq: number): string => `snapshot-${String(seq).padStart(12, '0')}.json`;

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

  /**
   * The newest readable snapshot, or null if there is none. Unreadable ones are reported
   * (and left on disk for inspection, renamed `.corrupt`).
   */
  async loadLatest(): Promise<Snapshot | null> {
    const files = await this.list();
    if (files.length > 0) this.seq = files[0].seq;
    for (const f of files) {
      try {
        const snap = parseSnapshot(await readFile(f.file, 'utf8'), f.file);
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

  /** Writes a snapshot durably and prunes old ones. */
  async save(s: Omit<Snapshot, 'seq' | 'format' | 'createdAt'>): Promise<Snapshot> {
    const snap: Snapshot = { format: SNAPSHOT_FORMAT, seq: ++this.seq, createdAt: new Date().toISOString(), ...s };
    const body = JSON.stringify(snap);
    const sum = createHash('sha256').update(body).digest('hex');
    const text = `{"sha256":"${sum}","snapshot":${body}}\n`;
    const file = join(this.dir, name(snap.seq));
    const tmp = file + '.tmp';
    try {
      await mkdir(this.dir, { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(text);
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
      throw new SmartGridError('CHECKPOINT_IO', `cannot write checkpoint ${file}`, { cause: e, canRetry: true });
    }
    const files = await this.list();
    for (const f of files.slice(this.kept)) await rm(f.file, { force: true });
    return snap;
  }
}

export function parseSnapshot(text: string, file: string): Snapshot {
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
  const snap = outer.snapshot as Snapshot;
  if (snap.format !== SNAPSHOT_FORMAT) {
    throw new SmartGridError('CHECKPOINT_CORRUPT', `${file} has format ${String(snap.format)}; this engine reads ${SNAPSHOT_FORMAT}`);
  }
  return snap;
}
