/**
 * An exclusive lock on the checkpoint directory, so that one engine instance at a time
 * owns its state. Two instances on one directory would write clashing snapshots and
 * overwrite each other's rows.
 *
 * The lock is a file, `LOCK`, created with O_EXCL and holding its owner (instance id,
 * pid, host, start time, and the instance ids it took over from). The owner refreshes
 * its modification time every few seconds and checks that the file is still its own.
 * A lock is stale, and is taken over, when its owner is a process of this host that no
 * longer runs, or, for an owner on another host (a machine sharing the directory, or a
 * container recreated under another host name), when it has not been refreshed for
 * `staleMs`. A
 * take-over renames the stale file away first and checks that what it moved is what it
 * judged stale, so two instances taking over at once cannot both win.
 */
import { hostname } from 'node:os';
import { link, mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { SmartGridError } from '../common/errors.js';

export interface LockOwner {
  instanceId: string;
  pid: number;
  host: string;
  startedAt: string;
  /** Instances this one took the lock over from, newest first (their Kafka group members may linger). */
  predecessors: string[];
}

export interface DirLockOptions {
  /** A lock not refreshed for this long is stale whatever its owner (default 30 s). */
  staleMs?: number;
  /** How often the owner refreshes it (default staleMs / 6). */
  refreshMs?: number;
}

const PREDECESSORS_KEPT = 16;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DirLock {
  readonly file: string;
  private timer: NodeJS.Timeout | null = null;
  private held: LockOwner | null = null;
  private readonly staleMs: number;
  /** Called when the lock file is found replaced or removed while held. */
  onLost: ((why: string) => void) | null = null;

  constructor(
    readonly dir: string,
    readonly instanceId: string,
    private readonly opts: DirLockOptions = {},
  ) {
    this.file = join(dir, 'LOCK');
    this.staleMs = opts.staleMs ?? 30000;
  }

  /** The owner record while held. */
  get owner(): LockOwner | null {
    return this.held;
  }

  /**
   * Takes the lock, taking over a stale one. Throws INSTANCE_CONFLICT naming the owner
   * when another live instance holds it.
   */
  async acquire(): Promise<LockOwner> {
    await mkdir(this.dir, { recursive: true }).catch((e: unknown) => {
      throw new SmartGridError('CHECKPOINT_IO', `cannot create checkpoint directory ${this.dir}`, { cause: e });
    });
    let predecessors: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const me: LockOwner = {
        instanceId: this.instanceId,
        pid: process.pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
        predecessors,
      };
      if (await this.create(me)) {
        this.held = me;
        this.startRefresh();
        return me;
      }
      const current = await this.read();
      if (current === 'missing') continue; // released meanwhile: try again
      const why = this.staleReason(current);
      if (why === null) {
        const o = current === 'unreadable' ? null : current.owner;
        throw new SmartGridError(
          'INSTANCE_CONFLICT',
          o === null
            ? `the checkpoint directory ${this.dir} is locked by another engine instance (${this.file} is being written)`
            : `the checkpoint directory ${this.dir} is locked by another running engine instance (pid ${o.pid} on host ` +
                `${o.host}, started ${o.startedAt}): only one instance may own a checkpoint directory. Stop that ` +
                `instance, or give this one another --checkpoint-dir and --group-id. A lock whose owner died is taken ` +
                `over at once on the same host, or when it is ${Math.round(this.staleMs / 1000)} s old`,
        );
      }
      if (await this.takeOver(current === 'unreadable' ? null : current.owner)) {
        if (current !== 'unreadable') {
          predecessors = [current.owner.instanceId, ...current.owner.predecessors].slice(0, PREDECESSORS_KEPT);
        }
        this.lastTakeOver = why;
      }
    }
    throw new SmartGridError('INSTANCE_CONFLICT', `could not take the lock ${this.file}: other instances keep taking it`);
  }

  /** Why the last take-over judged the lock stale (for the log). */
  lastTakeOver: string | null = null;

  /** Releases the lock if this instance still holds it. */
  async release(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.held === null) return;
    const mine = this.held.instanceId;
    this.held = null;
    const cur = await this.read();
    if (cur !== 'missing' && cur !== 'unreadable' && cur.owner.instanceId === mine) await unlink(this.file).catch(() => {});
  }

  private async create(me: LockOwner): Promise<boolean> {
    // Written to a private file first and linked into place: the lock appears complete or
    // not at all (link fails with EEXIST when a lock is there).
    const tmp = join(this.dir, `LOCK.${me.instanceId}.tmp`);
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(me) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, this.file);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    } catch (e) {
      throw new SmartGridError('CHECKPOINT_IO', `cannot create the lock ${this.file}`, { cause: e });
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  private async read(): Promise<{ owner: LockOwner; mtimeMs: number } | 'missing' | 'unreadable'> {
    try {
      const [text, st] = await Promise.all([readFile(this.file, 'utf8'), stat(this.file)]);
      const owner = JSON.parse(text) as LockOwner;
      if (typeof owner.instanceId !== 'string' || typeof owner.pid !== 'number') return 'unreadable';
      owner.predecessors = Array.isArray(owner.predecessors) ? owner.predecessors.filter((p) => typeof p === 'string') : [];
      return { owner, mtimeMs: st.mtimeMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      return 'unreadable';
    }
  }

  /** Null when the lock must be respected; otherwise why it is stale. */
  private staleReason(cur: { owner: LockOwner; mtimeMs: number } | 'unreadable'): string | null {
    if (cur === 'unreadable') return 'the lock file is unreadable (its owner died while writing it?)';
    const { owner, mtimeMs } = cur;
    const age = Date.now() - mtimeMs;
    if (owner.host === hostname()) {
      // On this host the process table is the truth, whatever the file's age (an owner
      // whose event loop stalls must not lose its lock).
      if (owner.pid === process.pid) return `its owner was an earlier run of this process id (${owner.pid})`;
      return alive(owner.pid) ? null : `its owner, pid ${owner.pid}, is not running`;
    }
    if (age > this.staleMs) return `it was last refreshed ${Math.round(age / 1000)} s ago (owner pid ${owner.pid} on ${owner.host})`;
    return null;
  }

  /** Moves a stale lock away; false when someone else changed it meanwhile. */
  private async takeOver(stale: LockOwner | null): Promise<boolean> {
    const moved = join(this.dir, `LOCK.stale.${this.instanceId}`);
    try {
      await rename(this.file, moved);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new SmartGridError('CHECKPOINT_IO', `cannot take over the lock ${this.file}`, { cause: e });
    }
    let text = '';
    try {
      text = await readFile(moved, 'utf8');
    } catch {
      /* treated as unreadable below */
    }
    let movedOwner: LockOwner | null = null;
    try {
      movedOwner = JSON.parse(text) as LockOwner;
    } catch {
      movedOwner = null;
    }
    if (stale !== null && movedOwner?.instanceId !== stale.instanceId) {
      // We moved a lock that another instance had just taken: put it back.
      await link(moved, this.file).catch(() => {});
      await unlink(moved).catch(() => {});
      return false;
    }
    await unlink(moved).catch(() => {});
    return true;
  }

  private startRefresh(): void {
    const every = this.opts.refreshMs ?? Math.max(100, Math.floor(this.staleMs / 6));
    this.timer = setInterval(() => {
      void this.refresh();
    }, every);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    const held = this.held;
    if (held === null) return;
    const cur = await this.read();
    if (this.held === null) return;
    if (cur === 'missing' || cur === 'unreadable' || cur.owner.instanceId !== held.instanceId) {
      this.held = null;
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      this.onLost?.(
        cur === 'missing'
          ? `the lock ${this.file} was removed`
          : `the lock ${this.file} was taken by another instance${cur === 'unreadable' ? '' : ` (pid ${cur.owner.pid} on ${cur.owner.host})`}`,
      );
      return;
    }
    const now = new Date();
    await utimes(this.file, now, now).catch(() => {});
  }
}
