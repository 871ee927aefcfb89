/**
 * The report's command line, parsed and checked once. A bad value throws a ConfigError
 * naming the flag; nothing here reads the environment.
 */
import { parseArgs } from 'node:util';
import { PG_PARSE_OPTIONS, PG_USAGE } from './connection.js';
import { ConfigError } from './errors.js';

export interface CliOptions {
  help: boolean;
  version: boolean;
  /** Inclusive start; undefined: the first hour with data. */
  from?: Date;
  /** Exclusive end; undefined: the end of the last hour with data. */
  to?: Date;
  json: boolean;
  /** SVG file to write the chart to. */
  chart?: string;
  /** PNG file to write the chart to. */
  png?: string;
  /** CSV file of the hours ('-': stdout, instead of the report). */
  csv?: string;
  top: number;
  bandWidth: number;
  customer?: string;
  /** Sensor jumps: windows in the trailing baseline, and the |z| that counts as a jump. */
  baselineWindows: number;
  zThreshold: number;
  /** A sensor is stale when its last window ended this long before the latest (ms). */
  silentForMs: number;
  /** The connection flags as given (see connection.ts). */
  pg: Record<string, string | undefined>;
}

export const USAGE = `Usage: npm run report -- [options]

Weather and consumption for a period: Pearson's r of hourly consumption against each
weather variable and, beside it, the same within the hour of day (so the daily cycle both
follow is not taken for a weather effect), heating and cooling degree-hours, the hours of
highest consumption with their weather, consumption by weather condition and by
temperature band; and sensor health: windows out of band, jumps from a sensor's own
baseline, sensors gone silent. Times are UTC.

Options:
  --from TIME           start of the period, ISO 8601 (2026-11-01 or 2026-11-01T06:00;
                        no zone means UTC). Default: the first hour with data.
  --to TIME             end of the period, exclusive; a date alone means the end of that
                        day. Default: the end of the last hour with data.
  --json                print the report as JSON instead of tables
  --chart FILE.svg      also draw consumption and temperature over time, and consumption
                        against temperature with the fitted line, into an SVG file
                        (FILE.png: the same as --png)
  --png FILE.png        the same drawing as a PNG image
  --csv FILE.csv        every hour of the period as CSV (consumption, weather, degree-hours);
                        --csv - prints the CSV instead of the report
  --top N               how many hours of highest consumption to list (default 10)
  --band-width DEGREES  width of the temperature bands in °C (default 5)
  --customer ID         one customer's consumption instead of all customers' total
                        (an id with no consumption rows: exit 1, naming some known ids)
  --baseline N          sensor jumps: the trailing baseline is the sensor's previous N
                        windows (default 24)
  --z X                 sensor jumps: |z| at least X (default 5)
  --silent-for D        stale sensors: no window for D while others report (default 30m;
                        e.g. 90s, 30m, 2h)
  --version             the version
  --help                this text

${PG_USAGE}
Exit status: 0 report printed, 1 no data yet, unknown customer or PostgreSQL unreachable,
2 bad option.
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

function positiveNumber(flag: string, text: string, what = 'a number of degrees'): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(flag, `expected ${what} above 0, got "${text}"`);
  }
  return v;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "2h", "90d"; at least a second. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNITS[m[2]]) : NaN;
  if (!(ms >= 1000)) throw new ConfigError(flag, `expected a duration such as 90s, 30m, 2h or 90d, got "${text}"`);
  return ms;
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
        png: { type: 'string' },
        csv: { type: 'string' },
        baseline: { type: 'string' },
        z: { type: 'string' },
        'silent-for': { type: 'string' },
        version: { type: 'boolean', default: false },
        ...PG_PARSE_OPTIONS,
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    // node's messages name the flag but run on with advice about positionals
    const msg = e instanceof Error ? e.message.split('. ')[0] : String(e);
    const flag = /'(-[^' ]+)/.exec(msg)?.[1] ?? 'arguments';
    throw new ConfigError(flag, `${msg.replace(/\.$/, '')} (see --help)`);
  }
  const str = (k: string): string | undefined => {
    const v = (values as Record<string, unknown>)[k];
    return typeof v === 'string' ? v : undefined;
  };
  const opts: CliOptions = {
    help: values.help === true,
    version: values.version === true,
    json: values.json === true,
    top: str('top') === undefined ? 10 : positiveInteger('--top', str('top')!),
    bandWidth: str('band-width') === undefined ? 5 : positiveNumber('--band-width', str('band-width')!),
    baselineWindows: str('baseline') === undefined ? 24 : positiveInteger('--baseline', str('baseline')!),
    zThreshold: str('z') === undefined ? 5 : positiveNumber('--z', str('z')!, 'a number'),
    silentForMs: str('silent-for') === undefined ? 30 * 60_000 : parseDuration('--silent-for', str('silent-for')!),
    pg: Object.fromEntries(Object.keys(PG_PARSE_OPTIONS).map((k) => [k, str(k)])),
  };
  if (values.from !== undefined) opts.from = parseTime('--from', values.from);
  if (values.to !== undefined) opts.to = parseTime('--to', values.to, true);
  if (opts.from && opts.to && opts.to.getTime() <= opts.from.getTime()) {
    throw new ConfigError('--to', `must be after --from (${opts.from.toISOString()}), got ${opts.to.toISOString()}`);
  }
  const chart = str('chart');
  if (chart !== undefined) {
    if (/\.png$/i.test(chart)) opts.png = chart;
    else if (/\.svg$/i.test(chart)) opts.chart = chart;
    else throw new ConfigError('--chart', `expected a file name ending in .svg or .png, got "${chart}"`);
  }
  const png = str('png');
  if (png !== undefined) {
    if (!/\.png$/i.test(png)) throw new ConfigError('--png', `expected a file name ending in .png, got "${png}"`);
    if (opts.png !== undefined) throw new ConfigError('--png', 'given twice (--chart FILE.png is the same)');
    opts.png = png;
  }
  const csv = str('csv');
  if (csv !== undefined) {
    if (csv === '') throw new ConfigError('--csv', 'expected a file name, or - for standard output');
    if (csv === '-' && opts.json) throw new ConfigError('--csv', '--csv - prints CSV instead of the report; it cannot go with --json');
    opts.csv = csv;
  }
  const customer = str('customer');
  if (customer !== undefined) {
    if (customer === '') throw new ConfigError('--customer', 'expected a customer id, got an empty string');
    opts.customer = customer;
  }
  const schema = str('schema') ?? str('postgres-schema');
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema)) {
    // it goes into the connection's options string, where spaces and quotes have meaning
    const flag = str('schema') !== undefined ? '--schema' : '--postgres-schema';
    throw new ConfigError(flag, `expected a plain schema name (letters, digits, _), got "${schema}"`);
  }
  return opts;
}
