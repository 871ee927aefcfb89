/**
 * The PostgreSQL sink. Final windows and dead letters are written in one transaction per
 * flush: COPY (pg-copy-streams) into temporary staging tables, then INSERT … SELECT … ON
 * CONFLICT into the real tables, so that a replay after a crash overwrites rows with the
 * same values instead of adding a second row, and never duplicates a dead letter.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { copyInto } from './copy-into.js';
import { describeError, SmartGridError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { PgConnection } from '../common/pg-options.js';
import { byStream, STREAM_LIST } from '../common/streams.js';
import type { WindowState } from './window-store.js';
import { deadLetterRows, lines, streamRows } from './copy-rows.js';
import { STATS_WIDTH } from '../workers/stats.js';
import type { Sink, SinkBatch, SinkCounts } from './sink.js';
import { INSERT_REJECTED, SINK_TARGETS, STAGING_SQL } from './sink-sql.js';
import { writeMemberFlush, type MemberFence } from './member-sink.js';

/** The rows of one flush as COPY text lines, per target table (in SINK_TARGETS order). */
type SinkLines = string[][];

/** SQLSTATE of a PostgreSQL error, or of the first cause that has one. */
export function sqlState(e: unknown): string | null {
  let cur: unknown = e;
  for (let depth = 0; cur !== null && cur !== undefined && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * A refusal because of the data itself (class 22: data exception, class 23: integrity
 * constraint violation): writing the same rows again can never succeed, but writing the
 * others can.
 */
export function isDataError(e: unknown): boolean {
  const s = sqlState(e);
  return s !== null && (s.startsWith('22') || s.startsWith('23'));
}

export type { PgConnection };

/** SQLSTATE of a unique violation: a row of a direct COPY is in the table already (a replay). */
const UNIQUE_VIOLATION = '23505';

const SQL_DIR = new URL('../../../sql/', import.meta.url);

/** The schema (tables) and the analyst views, as shipped in sql/. */
export async function schemaSql(): Promise<string[]> {
  const files = ['schema.sql', 'views.sql', 'health.sql', 'members.sql'];
  const out: string[] = [];
  for (const f of files) {
    try {
      out.push(await readFile(new URL(f, SQL_DIR), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && f !== 'schema.sql') continue;
      throw e;
    }
  }
  return out;
}

export interface PgSinkOptions {
  /**
   * statement_timeout and lock_timeout of sink writes (ms, 0 = none): a write blocked by a
   * lock or a stuck server fails and is retried instead of hanging unnoticed.
   */
  statementTimeoutMs?: number;
  /**
   * --group-member: who this member is now. Flushes then go through member-sink.ts
   * (lease check, partials per source partition, merged rows) in one transaction.
   */
  fence?: () => MemberFence;
  /**
   * idle_in_transaction_session_timeout (ms, 0 = none). Member mode sets it: a member frozen
   * inside a transaction (a long pause, a stalled VM) would otherwise hold its partitions'
   * lease rows locked, and the member that took them over could not claim them.
   */
  idleInTransactionTimeoutMs?: number;
}

const guarded = new WeakSet<pg.PoolClient>();

/**
 * A flush of at least PARALLEL_MIN_ROWS aggregate rows (the windows that all become final
 * at once: the end of an available-now run, a watermark jump after a pause) is written as
 * up to PARALLEL_WRITES transactions on their own connections at once: PostgreSQL then
 * updates the tables' indexes on as many cores (~10-15 µs per row on one). The parts hold
 * disjoint (window, group) rows, so they never wait for each other's locks. Rows are
 * upserts and dead letters are inserted once, so a crash between the parts' commits is
 * repaired by the replay exactly as between two flushes: the checkpoint and the offset
 * commit still come after the whole flush.
 */
const PARALLEL_MIN_ROWS = 20_000;
const PARALLEL_WRITES = 2;

/** Rows [from, to) of a window (the window itself when that is all of it). */
function sliceWindow(w: WindowState, width: number, from: number, to: number): WindowState {
  if (from === 0 && to === w.keys.length) return w;
  return { ...w, keys: w.keys.slice(from, to), slots: new Map(), stats: w.stats.subarray(from * width, to * width) };
}

/**
 * Splits a flush into at most `ways` parts of equal row counts (within one row), cutting a
 * window where a part is full; dead letters go with the first part. Every (window, group)
 * row lands in exactly one part.
 */
export function splitBatch(b: SinkBatch, minRows: number, ways: number): SinkBatch[] {
  const total = STREAM_LIST.reduce((n, s) => n + b[s.name].reduce((m, w) => m + w.keys.length, 0), 0);
  const n = Math.min(ways, total);
  if (total < minRows || n < 2) return [b];
  const parts: SinkBatch[] = Array.from({ length: n }, (_, i) => ({
    ...byStream(() => [] as WindowState[]),
    windowMs: b.windowMs,
    deadLetters: i === 0 ? b.deadLetters : [],
  }));
  // Part i takes floor(total / n) rows, one more for the first total % n parts.
  const size = (i: number): number => Math.floor(total / n) + (i < total % n ? 1 : 0);
  let k = 0;
  let room = size(0);
  for (const s of STREAM_LIST) {
    const width = s.variables.length * STATS_WIDTH;
    for (const w of b[s.name]) {
      for (let from = 0; from < w.keys.length; ) {
        if (room === 0) room = size(++k);
        const to = Math.min(w.keys.length, from + room);
        parts[k][s.name].push(sliceWindow(w, width, from, to));
        room -= to - from;
        from = to;
      }
    }
  }
  return parts;
}

export class PgSink implements Sink {
  private readonly pool: pg.Pool;
  private readonly fence: (() => MemberFence) | undefined;

  constructor(
    private readonly conn: PgConnection,
    private readonly log: Logger,
    opts: PgSinkOptions = {},
  ) {
    const timeout = opts.statementTimeoutMs ?? 0;
    this.fence = opts.fence;
    this.pool = new pg.Pool({
      host: conn.host,
      port: conn.port,
      database: conn.database,
      user: conn.user,
      password: conn.password,
      options:
        [
          conn.schema ? `-c search_path=${conn.schema}` : '',
          timeout > 0 ? `-c statement_timeout=${timeout} -c lock_timeout=${timeout}` : '',
          (opts.idleInTransactionTimeoutMs ?? 0) > 0 ? `-c idle_in_transaction_session_timeout=${opts.idleInTransactionTimeoutMs}` : '',
        ]
          .filter((o) => o !== '')
          .join(' ') || undefined,
      max: PARALLEL_WRITES + 1,
      connectionTimeoutMillis: 10000,
      idleTimeoutMillis: 30000,
      application_name: 'smartgrid-stream',
    });
    // An idle client losing its connection must not crash the process; the next query
    // gets a fresh connection.
    this.pool.on('error', (e) => this.log.warn('idle PostgreSQL connection failed', { error: e.message }));
  }

  /** Creates the tables and views if missing (idempotent). */
  async init(): Promise<void> {
    const client = await this.connect();
    try {
      // Serialise concurrent starts: CREATE … IF NOT EXISTS is not race-free.
      await client.query('SELECT pg_advisory_lock(727274)');
      try {
        if (this.conn.schema) {
          // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
          // exists; a role that owns only its schema must still start.
          const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.conn.schema]);
          if (rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.conn.schema}`);
        }
        for (const sql of await schemaSql()) await client.query(sql);
      } finally {
        await client.query('SELECT pg_advisory_unlock(727274)');
      }
    } catch (e) {
      throw new SmartGridError('POSTGRES_ERROR', 'could not create the schema', { cause: e, canRetry: isTransient(e) });
    } finally {
      client.release();
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      const client = await this.pool.connect();
      if (!guarded.has(client)) {
        // The server may end a connection while it is checked out (a restart, or
        // idle_in_transaction_session_timeout after a pause): the query in progress fails
        // and is retried; the error event must not crash the process.
        guarded.add(client);
        client.on('error', (e) => this.log.warn('PostgreSQL connection lost', { error: e.message }));
      }
      return client;
    } catch (e) {
      throw new SmartGridError('POSTGRES_UNAVAILABLE', 'cannot connect to PostgreSQL', { cause: e, canRetry: true });
    }
  }

  /**
   * Writes one flush. Normally one transaction; if PostgreSQL refuses it for a data reason
   * (isDataError), the rows are bisected into smaller transactions until the refused rows
   * are found: every other row is written, each refused one goes to `rejected_rows`. A
   * replay after a crash meets the same rows and writes the same result (upserts, and
   * ON CONFLICT DO NOTHING for dead letters and rejected rows).
   */
  async write(b: SinkBatch): Promise<SinkCounts> {
    if (this.fence !== undefined) {
      const fence = this.fence();
      return this.transaction('writing aggregates to PostgreSQL failed', (client) => writeMemberFlush(client, b, fence));
    }
    const parts = splitBatch(b, PARALLEL_MIN_ROWS, PARALLEL_WRITES);
    if (parts.length === 1) return this.writeOne(b);
    // Settle every part before answering: a retry must not overlap a part still running.
    const done = await Promise.allSettled(parts.map((p) => this.writeOne(p)));
    const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const counts = (done as PromiseFulfilledResult<SinkCounts>[]).map((d) => d.value);
    return counts.reduce((a, c) => {
      for (const k of Object.keys(a) as (keyof SinkCounts)[]) a[k] += c[k];
      return a;
    });
  }

  /** One flush (or one part of a large one) in one transaction; see write. */
  private async writeOne(b: SinkBatch): Promise<SinkCounts> {
    const text = SINK_TARGETS.map((t) =>
      t.stream === null ? deadLetterRows(b.deadLetters) : streamRows(t.stream, b[t.stream.name], b.windowMs[t.stream.name]),
    );
    const counts: SinkCounts = {
      ...byStream((s) => b[s.name].reduce((n, w) => n + w.keys.length, 0)),
      deadLetters: b.deadLetters.length,
      rejected: 0,
    };
    if (text.every((t) => t === '')) return counts;
    // First try: each table's text as one piece (no splitting into lines).
    try {
      await this.writeLines(text.map((t) => (t === '' ? [] : [t.slice(0, -1)])));
      return counts;
    } catch (e) {
      if (!isDataError(e)) throw e;
      this.log.warn('PostgreSQL refused a flush for a data reason; finding the refused rows', {
        error: describeError(e),
      });
    }
    // COPY text escapes newlines inside values, so each line is one row.
    const rejected = await this.bisect(text.map(lines));
    for (const r of rejected) {
      const stream = SINK_TARGETS[r.target].stream;
      counts[stream === null ? 'deadLetters' : stream.name]--;
    }
    counts.rejected = rejected.length;
    return counts;
  }

  /** Writes `rows` in halves, recursively; returns the single rows PostgreSQL refused, recorded. */
  private async bisect(rows: SinkLines): Promise<{ target: number; line: string }[]> {
    const n = size(rows);
    if (n === 1) {
      const target = rows.findIndex((r) => r.length === 1);
      const line = rows[target][0];
      try {
        await this.writeLines(rows);
        return [];
      } catch (e) {
        if (!isDataError(e)) throw e;
        await this.recordRejected(SINK_TARGETS[target].table, line, e);
        return [{ target, line }];
      }
    }
    const [a, b] = halves(rows);
    const out: { target: number; line: string }[] = [];
    for (const part of [a, b]) {
      try {
        await this.writeLines(part);
      } catch (e) {
        if (!isDataError(e)) throw e;
        out.push(...(await this.bisect(part)));
      }
    }
    return out;
  }

  private async recordRejected(table: string, line: string, e: unknown): Promise<void> {
    const client = await this.connect();
    try {
      const err = (e instanceof SmartGridError && e.cause !== undefined ? e.cause : e) as Error;
      await client.query(INSERT_REJECTED, [
        table,
        createHash('sha256').update(line).digest(),
        line,
        sqlState(e),
        err?.message ?? String(e),
      ]);
      this.log.error('PostgreSQL refused a row; kept in rejected_rows', { table, sqlstate: sqlState(e), error: err?.message });
    } catch (e2) {
      throw new SmartGridError('SINK_WRITE_FAILED', 'recording a refused row in rejected_rows failed', {
        cause: e2,
        canRetry: isTransient(e2),
      });
    } finally {
      client.release();
    }
  }

  /**
   * Writes rows in one transaction. Each table's rows are COPYed straight into it (they are
   * new, unless this is a replay after a crash); if one of them is there already (unique
   * violation, 23505), that table's COPY is rolled back to its savepoint and its rows go
   * through a staging table and the upsert, which overwrites what the replay meets. Any
   * other refusal fails the transaction, as before (data errors are then bisected).
   */
  private writeLines(rows: SinkLines): Promise<void> {
    return this.transaction('writing aggregates to PostgreSQL failed', async (client) => {
      let staged = false;
      for (let t = 0; t < SINK_TARGETS.length; t++) {
        if (rows[t].length === 0) continue;
        const target = SINK_TARGETS[t];
        const text = rows[t].join('\n');
        await client.query('SAVEPOINT direct');
        try {
          await copyInto(client, target.direct, text);
          await client.query('RELEASE SAVEPOINT direct');
          continue;
        } catch (e) {
          if (sqlState(e) !== UNIQUE_VIOLATION) throw e;
          await client.query('ROLLBACK TO SAVEPOINT direct');
        }
        if (!staged) {
          await client.query(STAGING_SQL);
          staged = true;
        }
        await copyInto(client, target.stage, text);
        await client.query(target.upsert);
      }
    });
  }

  /**
   * Runs `fn` in one transaction on a pooled connection. A SmartGridError from `fn` passes
   * as it is; anything else becomes SINK_WRITE_FAILED (retryable when transient).
   */
  async transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (e instanceof SmartGridError) throw e;
      throw new SmartGridError('SINK_WRITE_FAILED', what, { cause: e, canRetry: isTransient(e) });
    } finally {
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function size(r: SinkLines): number {
  return r.reduce((n, lines) => n + lines.length, 0);
}

/** Splits rows into two non-empty halves (by position over the tables in order). */
function halves(r: SinkLines): [SinkLines, SinkLines] {
  const flat: [number, string][] = [];
  r.forEach((ls, t) => ls.forEach((l) => flat.push([t, l])));
  const mid = flat.length >> 1;
  const make = (part: [number, string][]): SinkLines => {
    const out: SinkLines = r.map(() => []);
    for (const [t, l] of part) out[t].push(l);
    return out;
  };
  return [make(flat.slice(0, mid)), make(flat.slice(mid))];
}

/**
 * Whether a PostgreSQL failure may pass: lost connections, shutdowns, lock and resource
 * problems, and permission changes by an operator (SQLSTATE 42501), which the outage
 * drills use. Constraint violations and bad SQL are bugs: retrying cannot help.
 */
export function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return true; // network errors (ECONNREFUSED, …) and timeouts
  if (/^E[A-Z]+$/.test(code)) return true;
  // 25P03: the server ended a session left idle in a transaction (a member paused past
  // idle_in_transaction_session_timeout); a new connection may try again.
  return /^(08|53|57|58|40|55)/.test(code) || code === '42501' || code === '3D000' || code === '28000' || code === '25P03';
}
