#!/usr/bin/env node
/**
 * `npm run prune -- --older-than 90d`: deletes aggregate windows that have aged out.
 *
 * Never a window the engine may still write. The engine writes a window once the
 * watermark passes its end and may write it again (same values) when it replays from its
 * last checkpoint after a crash; both happen only near the newest windows. So the cutoff
 * is measured back from the newest window end in the tables, the data's own clock (not
 * now(): after a back-fill or a replayed demo the data is not at the wall clock), and
 * --older-than must be at least the safety margin (--min-age, default 1 day, far above
 * the default 10-minute allowed lateness plus a checkpoint interval). A window goes only
 * when its end is at or before the cutoff. Rows go in batches, each its own transaction,
 * so the engine's writes never wait long behind a lock.
 *
 * Exit status: 0 done (or --dry-run); 1 failure (PostgreSQL unreachable, no tables);
 * 2 bad option, or --older-than below the safety margin.
 */
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { infoRequest, int, option, optional, readConfig, toggle, type Reader } from '../common/options.js';
import { STREAM_LIST } from '../common/streams.js';
import { describeTarget, pgFlags, PG_USAGE, type PgFlags } from './connection.js';
import { ConfigError, ReportError } from './errors.js';
import { age } from './options.js';
import { runTool, type Io } from './start.js';

/** The aggregate tables (the streams'), whose windows age out. */
export const PRUNE_TABLES: readonly string[] = STREAM_LIST.map((s) => s.table);

export const PRUNE_USAGE = `Usage: npm run prune -- --older-than DURATION [options]

Deletes aggregate windows whose end is at least DURATION before the newest window end in
the tables (the data's own clock, not now()), from ${PRUNE_TABLES.join(', ')}.

Options:
  --older-than D   e.g. 90d, 12h (required); at least --min-age
  --min-age D      safety margin: windows this close to the newest are never touched
                   (default 1d; the engine rewrites recent windows only, within its
                   allowed lateness and one checkpoint interval)
  --dry-run        count what would go, delete nothing
  --batch N        rows per delete transaction (default 10000)
  --version, --help

${PG_USAGE}`;

export interface PruneOptions {
  olderThanMs: number;
  minAgeMs: number;
  dryRun: boolean;
  batch: number;
}

export interface PruneResult {
  /** Newest window end in the tables; null when they are empty. */
  newestEnd: Date | null;
  /** Windows ending at or before this went; null when nothing could. */
  cutoff: Date | null;
  /** Rows deleted (or, with dryRun, that would be) per table of PRUNE_TABLES. */
  deleted: Record<string, number>;
  dryRun: boolean;
}

/** The safety margin: windows this close to the newest are never touched. */
const MIN_AGE = option({ flag: '--min-age', def: '1d', parse: age });

/** Prune's options (PRUNE_USAGE documents them) and the connection flags, as given. */
const pruneOptions = (read: Reader) => ({
  olderThan: read.sourced(optional({ flag: '--older-than', parse: age })),
  minAge: read.sourced(MIN_AGE),
  dryRun: read(toggle('--dry-run')),
  batch: read(option({ flag: '--batch', def: '10000', parse: int(1) })),
  pg: pgFlags(read),
});

export function parsePruneArgs(argv: string[]): { opts: PruneOptions; pg: PgFlags; help: boolean; version: boolean } {
  const info = infoRequest(argv);
  const { olderThan, minAge, dryRun, batch, pg } = readConfig(pruneOptions, argv, {}, { emptyEnv: 'unset' });
  let olderThanMs = NaN;
  if (info === null) {
    if (olderThan.value === undefined) throw new ConfigError('--older-than', 'required, e.g. --older-than 90d');
    olderThanMs = olderThan.value;
    if (olderThanMs < minAge.value) {
      throw new ConfigError(
        '--older-than',
        `${olderThan.raw} is inside the safety margin (--min-age ${minAge.raw ?? MIN_AGE.def}): ` +
          'the engine may still write windows that recent',
      );
    }
  }
  return { opts: { olderThanMs, minAgeMs: minAge.value, dryRun, batch }, pg, help: info === 'help', version: info === 'version' };
}

/** Deletes (or counts, with dryRun) the windows past the cutoff; see the file comment. */
export async function prune(client: pg.Client, o: PruneOptions): Promise<PruneResult> {
  if (!(o.olderThanMs >= o.minAgeMs)) {
    throw new ReportError('PRUNE_UNSAFE', `refusing to prune windows younger than the safety margin (${o.minAgeMs} ms)`);
  }
  const present = await client.query<{ name: string; ok: boolean }>(
    'SELECT name, to_regclass(name) IS NOT NULL AS ok FROM unnest($1::text[]) AS name',
    [[...PRUNE_TABLES]],
  );
  const missing = present.rows.filter((r) => !r.ok).map((r) => r.name);
  if (missing.length > 0) throw new ReportError('SCHEMA_MISSING', `no table ${missing.join(', ')}: nothing to prune`);
  const newest = await client.query<{ e: Date | null }>(
    `SELECT greatest(${PRUNE_TABLES.map((t) => `(SELECT max(window_end) FROM ${t})`).join(', ')}) AT TIME ZONE 'UTC' AS e`,
  );
  const newestEnd = newest.rows[0].e;
  const deleted: Record<string, number> = Object.fromEntries(PRUNE_TABLES.map((t) => [t, 0]));
  if (newestEnd === null) return { newestEnd, cutoff: null, deleted, dryRun: o.dryRun };
  const cutoff = new Date(newestEnd.getTime() - o.olderThanMs);
  const cut = cutoff.toISOString().replace('T', ' ').replace('Z', '');
  for (const table of PRUNE_TABLES) {
    // window_start < cutoff lets the unique key (window_start first) find the rows
    const where = `window_start < $1::timestamp AND window_end <= $1::timestamp`;
    if (o.dryRun) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, [cut]);
      deleted[table] = Number(rows[0].n);
      continue;
    }
    for (;;) {
      const r = await client.query(
        `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} LIMIT $2)`,
        [cut, o.batch],
      );
      deleted[table] += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < o.batch) break;
    }
  }
  return { newestEnd, cutoff, deleted, dryRun: o.dryRun };
}

export function main(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return runTool('prune', PRUNE_USAGE, parsePruneArgs, argv, env, io, async (client, parsed, settings) => {
    const r = await prune(client, parsed.opts);
    const where = describeTarget(settings);
    if (r.cutoff === null) {
      io.out(`prune: the tables are empty (${where}); nothing to do\n`);
      return 0;
    }
    const verb = r.dryRun ? 'would delete' : 'deleted';
    io.out(
      `prune: newest window ends ${r.newestEnd!.toISOString()}; windows ending at or before ${r.cutoff.toISOString()} (${where}):\n` +
        PRUNE_TABLES.map((t) => `  ${t}: ${verb} ${r.deleted[t]}\n`).join(''),
    );
    return 0;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2), process.env, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
