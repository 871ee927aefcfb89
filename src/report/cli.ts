#!/usr/bin/env node
/**
 * `npm run report -- --from … --to …`: the weather/consumption and sensor-health report
 * for a grid analyst. The entry point: the only file of src/report that reads the
 * environment or exits.
 *
 * Exit status: 0 report printed; 1 no data yet, schema missing, unknown customer,
 * PostgreSQL unreachable or any other failure (one line on stderr, no stack trace); 2 bad
 * option or setting.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { chartSpec, renderSvg, svgToPng } from './chart.js';
import { describeTarget } from './connection.js';
import { ConfigError, ReportError } from './errors.js';
import { formatCsv, formatReport } from './format.js';
import { parseCliArgs, USAGE, type CliOptions } from './options.js';
import { assertCustomer, assertSchema, buildReport, csvHours, dataRange, series } from './queries.js';
import { runTool, type Io } from './start.js';
import type { Period } from './types.js';
import { STREAMS } from '../common/streams.js';

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

async function write(file: string, data: string | Buffer): Promise<void> {
  try {
    await writeFile(file, data);
  } catch (e) {
    throw new ReportError('OUTPUT_FAILED', `cannot write ${file}`, { cause: e });
  }
}

export function main(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return runTool('report', USAGE, parseCliArgs, argv, env, io, (client, opts, settings) => report(client, opts, describeTarget(settings), io));
}

/** Builds and prints the report (and the files asked for); `where` names the database. */
async function report(client: pg.Client, opts: CliOptions, where: string, io: Io): Promise<number> {
  await assertSchema(client, where);
  if (opts.customer !== undefined) await assertCustomer(client, opts.customer);
  const period = await resolvePeriod(client, opts);
  if (period === null) {
    throw new ReportError(
      'NO_DATA',
      `No data yet: ${STREAMS.meter.table} and ${STREAMS.weather.table} are empty` +
        `${opts.customer ? ` for customer ${opts.customer}` : ''} (${where}). ` +
        'The engine writes an hour once its window is final.',
    );
  }
  const scope = { period, customer: opts.customer ?? null };
  if (opts.csv === '-') {
    io.out(formatCsv(await csvHours(client, scope)));
    return 0;
  }
  const report = await buildReport(client, {
    ...scope,
    top: opts.top,
    bandWidth: opts.bandWidth,
    baselineWindows: opts.baselineWindows,
    zThreshold: opts.zThreshold,
    silentForMs: opts.silentForMs,
  });
  if (opts.csv !== undefined) {
    await write(opts.csv, formatCsv(await csvHours(client, scope)));
    io.err(`report: hours written to ${opts.csv}\n`);
  }
  if (opts.chart !== undefined || opts.png !== undefined) {
    const spec = chartSpec({
      ...scope,
      series: await series(client, scope),
      temperature: report.correlations.find((c) => c.variable === 'temperature'),
    });
    const svg = await renderSvg(spec);
    if (opts.chart !== undefined) {
      await write(opts.chart, svg);
      io.err(`report: chart written to ${opts.chart}\n`);
    }
    if (opts.png !== undefined) {
      let png: Buffer;
      try {
        png = svgToPng(svg);
      } catch (e) {
        throw new ReportError('OUTPUT_FAILED', 'cannot render the chart as PNG', { cause: e });
      }
      await write(opts.png, png);
      io.err(`report: chart written to ${opts.png}\n`);
    }
  }
  io.out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = await main(process.argv.slice(2), process.env, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
  process.exitCode = code;
}
