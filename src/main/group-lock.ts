/**
 * One engine per consumer group, wherever it runs: a PostgreSQL session-level advisory
 * lock on the group id, held on a connection of its own for as long as the engine runs.
 *
 * The checkpoint directory's lock (dir-lock.ts) stops a second engine that uses the same
 * directory, and the group membership check (single-owner.ts) one that joins the group
 * through kafkajs; but the wire source reads with manual assignment and is no member, so
 * two engines with different directories would both read everything and overwrite each
 * other's rows. Every engine already shares one thing, the database it writes to, and
 * PostgreSQL releases a session's advisory locks when the session ends: a killed engine's
 * lock is gone as soon as its connection closes, with no lease to expire.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { sleep } from '../common/signal.js';
import type { PgConnection } from './pg-sink.js';

/** First key of the two-key advisory lock: this project's namespace ('SG'). */
const NAMESPACE = 0x5347;

/** The second key: 32 bits of SHA-256 of the group id, as a signed int4. */
export function groupLockKey(groupId: string): number {
  return createHash('sha256').update(groupId).digest().readInt32BE(0);
}

export class GroupLock {
  private client: pg.Client | null = null;
  private held = false;
  private released = false;
  /** Called when the lock was lost and another session took it meanwhile. */
  onLost: (why: string) => void = () => {};

  constructor(
    private readonly conn: PgConnection,
    private readonly groupId: string,
    private readonly instanceId: string,
    private readonly log: Logger,
  ) {}

  private async connect(): Promise<pg.Client> {
    const c = new pg.Client({
      host: this.conn.host,
      port: this.conn.port,
      database: this.conn.database,
      user: this.conn.user,
      password: this.conn.password,
      application_name: `smartgrid-stream@${this.instanceId}`,
      // A host that dies without closing the connection is noticed by TCP keepalive.
      keepAlive: true,
    });
    await c.connect();
    return c;
  }

  /** Takes the lock or throws INSTANCE_CONFLICT naming the session that holds it. */
  async acquire(): Promise<void> {
    const c = await this.connect().catch((e: unknown) => {
      throw new SmartGridError('POSTGRES_UNAVAILABLE', 'cannot connect to PostgreSQL for the instance lock', { cause: e, canRetry: true });
    });
    const key = groupLockKey(this.groupId);
    const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [NAMESPACE, key]);
    if (!r.rows[0].ok) {
      const who = await c
        .query<{ application_name: string; client_addr: string | null; backend_start: Date }>(
          `SELECT a.application_name, a.client_addr::text AS client_addr, a.backend_start
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2::int::oid AND l.objsubid = 2`,
          [NAMESPACE, key],
        )
        .then((q) => q.rows[0])
        .catch(() => undefined);
      await c.end().catch(() => {});
      const holder = who === undefined ? 'another session' : `${who.application_name || 'a session'} from ${who.client_addr ?? 'a local socket'}, connected since ${who.backend_start.toISOString()}`;
      throw new SmartGridError(
        'INSTANCE_CONFLICT',
        `another engine instance already runs consumer group '${this.groupId}' (it holds the group's lock in PostgreSQL: ${holder}). ` +
          `The engine runs as a single instance per group, and two would read the same partitions and overwrite each other's rows. ` +
          `Stop the other one, or use another --group-id`,
      );
    }
    this.client = c;
    this.held = true;
    c.on('error', (e) => this.lost(c, e));
    c.on('end', () => this.lost(c, new Error('connection closed')));
  }

  /** The session ended (PostgreSQL restarted, connection killed): take the lock again. */
  private lost(c: pg.Client, e: Error): void {
    if (this.released || this.client !== c) return;
    this.client = null;
    this.held = false;
    this.log.warn('the connection holding the instance lock was lost; taking the lock again', { error: describeError(e) });
    void (async () => {
      for (let attempt = 0; !this.released; attempt++) {
        try {
          await this.acquire();
          this.log.info('instance lock taken again');
          return;
        } catch (err) {
          if (err instanceof SmartGridError && err.code === 'INSTANCE_CONFLICT') {
            this.onLost(err.message);
            return;
          }
          await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
        }
      }
    })();
  }

  get isHeld(): boolean {
    return this.held;
  }

  async release(): Promise<void> {
    this.released = true;
    const c = this.client;
    this.client = null;
    this.held = false;
    if (c === null) return;
    // Ending the session releases the lock.
    await c.end().catch(() => {});
  }
}
