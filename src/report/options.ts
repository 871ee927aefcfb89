/**
 * The report's command line, parsed and checked once with the options kit. A bad value
 * throws a ConfigError naming the flag; nothing here reads the environment.
 */
import {
  anyText,
  duration,
  infoRequest,
  int,
  number,
  option,
  optional,
  readConfig,
  toggle,
  type Parser,
  type Reader,
} from '../common/options.js';
import { pgFlags, PG_USAGE, type PgFlags } from './connection.js';
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
  pg: PgFlags;
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

/** Reads `--from` and `--to` (as parseTime). */
const time =
  (flag: string, endOfDay = false): Parser<Date> =>
  (raw) =>
    parseTime(flag, raw, endOfDay);

/** A duration with its unit (90s, 30m, 2h, 90d), at least a second: --silent-for, and prune's ages. */
export const age: Parser<number> = duration(1000, Infinity, { bare: null });

const flag = <T>(name: string, parse: Parser<T>) => optional({ flag: name, parse });
const withDefault = <T>(name: string, def: string, parse: Parser<T>) => option({ flag: name, def, parse });

/** The report's options (USAGE documents them) and the connection flags, as given. */
const reportOptions = (read: Reader) => ({
  from: read(flag('--from', time('--from'))),
  to: read(flag('--to', time('--to', true))),
  json: read(toggle('--json')),
  chart: read(flag('--chart', anyText)),
  top: read(withDefault('--top', '10', int(1))),
  bandWidth: read(withDefault('--band-width', '5', number(0, Infinity, true))),
  customer: read(flag('--customer', anyText)),
  png: read(flag('--png', anyText)),
  csv: read(flag('--csv', anyText)),
  baselineWindows: read(withDefault('--baseline', '24', int(1))),
  zThreshold: read(withDefault('--z', '5', number(0, Infinity, true))),
  silentForMs: read(withDefault('--silent-for', '30m', age)),
  pg: pgFlags(read),
});

export function parseCliArgs(argv: string[]): CliOptions {
  const info = infoRequest(argv);
  const { from, to, chart, png, csv, customer, ...values } = readConfig(reportOptions, argv, {}, { emptyEnv: 'unset' });
  const opts: CliOptions = { help: info === 'help', version: info === 'version', ...values };
  if (from !== undefined) opts.from = from;
  if (to !== undefined) opts.to = to;
  if (opts.from && opts.to && opts.to.getTime() <= opts.from.getTime()) {
    throw new ConfigError('--to', `must be after --from (${opts.from.toISOString()}), got ${opts.to.toISOString()}`);
  }
  if (chart !== undefined) {
    if (/\.png$/i.test(chart)) opts.png = chart;
    else if (/\.svg$/i.test(chart)) opts.chart = chart;
    else throw new ConfigError('--chart', `expected a file name ending in .svg or .png, got "${chart}"`);
  }
  if (png !== undefined) {
    if (!/\.png$/i.test(png)) throw new ConfigError('--png', `expected a file name ending in .png, got "${png}"`);
    if (opts.png !== undefined) throw new ConfigError('--png', 'given twice (--chart FILE.png is the same)');
    opts.png = png;
  }
  if (csv !== undefined) {
    if (csv === '') throw new ConfigError('--csv', 'expected a file name, or - for standard output');
    if (csv === '-' && opts.json) throw new ConfigError('--csv', '--csv - prints CSV instead of the report; it cannot go with --json');
    opts.csv = csv;
  }
  if (customer !== undefined) {
    if (customer === '') throw new ConfigError('--customer', 'expected a customer id, got an empty string');
    opts.customer = customer;
  }
  return opts;
}
