/**
 * The report's command line, parsed and checked once. A bad value throws a ConfigError
 * naming the flag; nothing here reads the environment.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../main/errors.js';

export interface CliOptions {
  help: boolean;
  /** Inclusive start; undefined: the first hour with data. */
  from?: Date;
  /** Exclusive end; undefined: the end of the last hour with data. */
  to?: Date;
  json: boolean;
  /** SVG file to write the chart to. */
  chart?: string;
  top: number;
  bandWidth: number;
  customer?: string;
  /** PostgreSQL schema holding the tables (sets search_path). */
  schema?: string;
}

export const USAGE = `Usage: npm run report -- [options]

Weather and consumption for a period: Pearson's r of hourly consumption against each
weather variable, the hours of highest consumption with their weather, consumption by
weather condition and by temperature band. Times are UTC.

Options:
  --from TIME           start of the period, ISO 8601 (2026-11-01 or 2026-11-01T06:00;
                        no zone means UTC). Default: the first hour with data.
  --to TIME             end of the period, exclusive; a date alone means the end of that
                        day. Default: the end of the last hour with data.
  --json                print the report as JSON instead of tables
  --chart FILE.svg      also draw consumption and temperature over time, and consumption
                        against temperature with the fitted line, into an SVG file
  --top N               how many hours of highest consumption to list (default 10)
  --band-width DEGREES  width of the temperature bands in °C (default 5)
  --customer ID         one customer's consumption instead of all customers' total
  --schema NAME         PostgreSQL schema of the tables (default: the search_path)
  --help                this text

Connection: POSTGRES_HOST (127.0.0.1), POSTGRES_PORT (5432), POSTGRES_DB (postgres),
POSTGRES_USER (postgres), POSTGRES_PASSWORD (empty).

Exit status: 0 report printed, 1 no data yet or PostgreSQL unreachable, 2 bad option.
`;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * An ISO 8601 date or date-time; no zone means UTC. With `endOfDay`, a date alone means
 * the end of that day (the next midnight), so `--to 2026-11-07` includes 7 November.
 */
export function parseTime(flag: string, text: string, endOfDay = false): Date {
  const bad = (): never => {
    throw new ConfigError(flag, `expected an ISO 8601 date or date-time such as 2026-11-01 or 2026-11-01T06:00Z, got "${text}"`);
  };
  let ms: number;
  if (DATE_ONLY.test(text)) {
    ms = Date.parse(`${text}T00:00:00Z`);
    // Date.parse rolls 2026-02-30 over to March; a date that does not exist is a typo
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) bad();
    if (endOfDay) ms += 86_400_000;
  } else {
    const m = DATE_TIME.exec(text);
    if (!m) return bad();
    ms = Date.parse(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`);
    if (Number.isNaN(ms) || new Date(Date.parse(`${m[1]}T00:00:00Z`)).toISOString().slice(0, 10) !== m[1]) bad();
  }
  return new Date(ms);
}

function positiveInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new ConfigError(flag, `expected a whole number of at least 1, got "${text}"`);
  }
  return Number(text);
}

function positiveNumber(flag: string, text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(flag, `expected a number of degrees above 0, got "${text}"`);
  }
  return v;
}

export function parseCliArgs(argv: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean', default: false },
        chart: { type: 'string' },
        top: { type: 'string' },
        'band-width': { type: 'string' },
        customer: { type: 'string' },
        schema: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    // node's messages name the flag but run on with advice about positionals
    const msg = e instanceof Error ? e.message.split('. ')[0] : String(e);
    const flag = /'(-[^' ]+)/.exec(msg)?.[1] ?? 'arguments';
    throw new ConfigError(flag, `${msg.replace(/\.$/, '')} (see --help)`);
  }
  const opts: CliOptions = {
    help: values.help ?? false,
    json: values.json ?? false,
    top: values.top === undefined ? 10 : positiveInteger('--top', values.top),
    bandWidth: values['band-width'] === undefined ? 5 : positiveNumber('--band-width', values['band-width']),
  };
  if (values.from !== undefined) opts.from = parseTime('--from', values.from);
  if (values.to !== undefined) opts.to = parseTime('--to', values.to, true);
  if (opts.from && opts.to && opts.to.getTime() <= opts.from.getTime()) {
    throw new ConfigError('--to', `must be after --from (${opts.from.toISOString()}), got ${opts.to.toISOString()}`);
  }
  if (values.chart !== undefined) {
    const file = values.chart;
    if (/\.png$/i.test(file)) {
      throw new ConfigError('--chart', 'PNG needs node-canvas, which is not installed; write an .svg file instead');
    }
    if (!/\.svg$/i.test(file)) throw new ConfigError('--chart', `expected a file name ending in .svg, got "${file}"`);
    opts.chart = file;
  }
  if (values.customer !== undefined) {
    if (values.customer === '') throw new ConfigError('--customer', 'expected a customer id, got an empty string');
    opts.customer = values.customer;
  }
  if (values.schema !== undefined) {
    // it goes into the connection's options string, where spaces and quotes have meaning
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(values.schema)) {
      throw new ConfigError('--schema', `expected a plain schema name (letters, digits, _), got "${values.schema}"`);
    }
    opts.schema = values.schema;
  }
  return opts;
}
