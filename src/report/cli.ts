#!/usr/bin/env node
/**
 * `npm run report -- --from … --to …`: the weather/consumption report for a grid analyst.
 * The entry point: the only file of src/report that reads the environment or exits.
 *
 * Exit status: 0 report printed; 1 no data yet, schema missing, PostgreSQL unreachable or
 * any other failure (one line on stderr, no stack trace); 2 bad option or setting.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigError, SmartGridError, describeError } from '../main/errors.js';
import { chartSpec, renderSvg } from './chart.js';
import { formatReport } from './format.js';
import { parseCliArgs, USAGE, type CliOptions } from './options.js';
import { assertSchema, buildReport, dataRange, series } from './queries.js';
import type { Period } from './types.js';

export interface PgSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** The engine's PostgreSQL settings and defaults (POSTGRES_* as in the seed). */
export function pgSettings(env: NodeJS.ProcessEnv): PgSettings {
  const portText = env.POSTGRES_PORT ?? '5432';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError('POSTGRES_PORT', `expected a port number from 1 to 65535, got "${portText}"`);
  }
  return {
    host: env.POSTGRES_HOST || '127.0.0.1',
    port,
    database: env.POSTGRES_DB || 'postgres',
    user: env.POSTGRES_USER || 'postgres',
    password: env.POSTGRES_PASSWORD ?? '',
  };
}

/**
 * An error as one line for an analyst: our own errors without their code (the words say
 * it), a cause's text after a colon.
 */
function oneLine(e: unknown): string {
  if (e instanceof SmartGridError) {
    return e.cause === undefined ? e.message : `${e.message}: ${describeError(e.cause)}`;
  }
  return describeError(e);
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * The period to report on: the flags where given, else the range of the data. Null when
 * there is no data at all.
 */
async function resolvePeriod(client: pg.Client, opts: CliOptions): Promise<Period | null> {
  const range = await dataRange(client, opts.customer);
  if (range === null) return null;
  const period = { from: opts.from ?? range.from, to: opts.to ?? range.to };
  if (period.to.getTime() <= period.from.getTime()) {
    const flag = opts.from ? '--from' : '--to';
    throw new ConfigError(
      flag,
      `the period is empty: the data runs from ${range.from.toISOString()} to ${range.to.toISOString()}`,
    );
  }
  return period;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let opts: CliOptions;
  let settings: PgSettings;
  try {
    opts = parseCliArgs(argv);
    if (opts.help) {
      io.out(USAGE);
      return 0;
    }
    settings = pgSettings(env);
  } catch (e) {
    io.err(`report: ${oneLine(e)}\n`);
    return 2;
  }

  const where =
    `database "${settings.database}" on ${settings.host}:${settings.port}` +
    (opts.schema ? `, schema "${opts.schema}"` : '');
  const client = new pg.Client({
    ...settings,
    connectionTimeoutMillis: 10_000,
    // Without --schema, node-postgres still honours PGOPTIONS (e.g. -c search_path=…).
    ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  // An idle connection dropped by the server emits 'error'; the query in flight reports it.
  client.on('error', () => {});
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new SmartGridError('POSTGRES_UNAVAILABLE', `cannot connect to PostgreSQL (${where})`, { cause: e });
    }
    await assertSchema(client, where);
    const period = await resolvePeriod(client, opts);
    if (period === null) {
      throw new SmartGridError(
        'NO_DATA',
        `No data yet: consumption_aggregates_realtime and weather_aggregates_realtime are empty` +
          `${opts.customer ? ` for customer ${opts.customer}` : ''} (${where}). ` +
          'The engine writes an hour once its window is final.',
      );
    }
    const scope = { period, customer: opts.customer ?? null };
    const report = await buildReport(client, { ...scope, top: opts.top, bandWidth: opts.bandWidth });
    if (opts.chart) {
      const spec = chartSpec({
        ...scope,
        series: await series(client, scope),
        temperature: report.correlations.find((c) => c.variable === 'temperature'),
      });
      await writeFile(opts.chart, await renderSvg(spec));
      io.err(`report: chart written to ${opts.chart}\n`);
    }
    io.out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    return 0;
  } catch (e) {
    io.err(`report: ${oneLine(e)}\n`);
    return e instanceof ConfigError ? 2 : 1;
  } finally {
    await client.end().catch(() => {});
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = await main(process.argv.slice(2), process.env, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
  process.exitCode = code;
}
