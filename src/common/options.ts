/**
 * The options kit of every command-line tool (engine, weather producer, load generator,
 * report, prune): parsers for the kinds of values they take, options carrying a flag, an
 * environment variable, a default and a help line, one command-line reader, generated help
 * text, --help and --version, and ConfigError naming the setting that is wrong.
 *
 * A tool's options are a function from a Reader to its configuration:
 *
 *     const spec = (read: Reader) => ({ port: read(opt('--port', 'PORT', '80', int(0, 65535), 'port')) });
 *     type Config = ReturnType<typeof spec>;          // { port: number }
 *
 * so each option lands where it is read, the configuration's type is derived from the
 * table with no casts, and adding an option is one line. Running the function with a
 * reader that only takes note (optionsOf) lists the options for --help and the README.
 * Values: a flag wins over the environment variable, which wins over the default; a flag
 * takes `--name value` or `--name=value`; a switch (a boolean option) takes no value, and
 * `--no-name` turns it off.
 */
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';

export { ConfigError };

/** A value a parser refuses; the reader turns it into a ConfigError naming the setting. */
export class InvalidValue extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Reads a raw setting; throws InvalidValue (via `invalid`) with a sentence about the value. */
export type Parser<T> = (raw: string) => T;

export const invalid = (message: string): never => {
  throw new InvalidValue(message);
};

// ---------------------------------------------------------------- parsers

const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const YEAR_MS = 365 * 86_400_000;

export interface DurationForm {
  /** The unit of a number without one; null: a unit is required. Default 'ms'. */
  bare?: 'ms' | 's' | null;
  /** Refuse fractions of a millisecond (default true). */
  whole?: boolean;
}

/** Reads "250ms", "10s", "5m", "1.5h", "1d" (or a bare number, see DurationForm) as milliseconds. */
export function parseDuration(raw: string, form: DurationForm = {}): number {
  const bare = form.bare === undefined ? 'ms' : form.bare;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/.exec(raw);
  const unit = m?.[2] ?? bare;
  if (m === null || unit === null) return invalid(`'${raw}' is not a duration (examples: 500ms, 10s, 5m, 1h)`);
  const ms = Number(m[1]) * MS[unit];
  if (!Number.isFinite(ms) || (form.whole !== false && !Number.isInteger(ms))) return invalid(`'${raw}' is not a whole number of milliseconds`);
  return ms;
}

/** A duration in milliseconds from `min` to `max` (Infinity: no upper bound). */
export const duration =
  (min = 0, max = YEAR_MS, form: DurationForm = {}): Parser<number> =>
  (raw) => {
    const v = parseDuration(raw, form);
    if (v < min || v > max) invalid(max === Infinity ? `'${raw}' must be at least ${min} ms` : `'${raw}' must be between ${min} ms and ${max} ms`);
    return v;
  };

/** A whole number from `min` to `max`; `_` may separate digits (1_000_000). */
export const int =
  (min = 0, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw) => {
    if (!/^\s*-?\d+(?:_\d+)*\s*$/.test(raw)) invalid(`'${raw}' is not a whole number`);
    const v = Number(raw.replace(/_/g, '')) + 0;
    if (!(v >= min && v <= max)) invalid(max === Number.MAX_SAFE_INTEGER ? `'${raw}' must be at least ${min}` : `'${raw}' must be between ${min} and ${max}`);
    return v;
  };

const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** A decimal number from `min` to `max`; with `above`, strictly more than `min`. */
export const number =
  (min = -Infinity, max = Infinity, above = false): Parser<number> =>
  (raw) => {
    if (!DECIMAL.test(raw)) invalid(`'${raw}' is not a number`);
    const v = Number(raw);
    if ((above ? v > min : v >= min) && v <= max) return v;
    const low = `${above ? 'more than' : 'at least'} ${min}`;
    return invalid(`'${raw}' must be ${max === Infinity ? low : min === -Infinity ? `at most ${max}` : `${low} and at most ${max}`}`);
  };

/** A size in bytes: 1048576, 512kb, 10mb, 1gb. */
export const bytes =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const m = /^\s*(\d+)\s*(b|kb|k|mb|m|gb|g)?\s*$/i.exec(raw);
    if (m === null) return invalid(`'${raw}' is not a size (examples: 1048576, 512kb, 10mb)`);
    const unit = (m[2] ?? 'b').toLowerCase()[0];
    const v = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1048576 : unit === 'g' ? 1073741824 : 1);
    if (v < min || v > max) invalid(`'${raw}' must be between ${min} and ${max} bytes`);
    return v;
  };

/** true, yes, on, 1 (or nothing, as a switch on the command line) / false, no, off, 0. */
export const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return invalid(`'${raw}' is not true or false`);
};

/** One of the given words. */
export const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    const v = values.find((x) => x === raw);
    return v !== undefined ? v : invalid(`'${raw}' must be one of ${values.join(', ')}`);
  };

/** Kafka bootstrap servers: host:port[,host:port…]. */
export const brokers: Parser<string[]> = (raw) => {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) invalid('must name at least one broker as host:port');
  for (const b of list) if (!/^[^\s:/]+:\d{1,5}$/.test(b)) invalid(`'${b}' is not host:port`);
  return list;
};

/** Text that is not blank, without surrounding white space. */
export const text: Parser<string> = (raw) => (raw.trim() === '' ? invalid('must not be empty') : raw.trim());

/** Any text, as given (empty included). */
export const anyText: Parser<string> = (raw) => raw;

/** Kafka's rule for topic names: 1–249 of [A-Za-z0-9._-], and not '.' or '..'. */
export const topicName: Parser<string> = (raw) =>
  /^[A-Za-z0-9._-]{1,249}$/.test(raw) && raw !== '.' && raw !== '..'
    ? raw
    : invalid(`'${raw}' is not a valid Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -, not '.' or '..')`);

/** An IP address or a DNS host name (0.0.0.0 and :: listen on every interface). */
export const hostName: Parser<string> = (raw) =>
  isIP(raw) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(raw)
    ? raw
    : invalid(`'${raw}' is not an IP address or a host name (0.0.0.0 for every interface)`);

// ---------------------------------------------------------------- options

export interface Option<T> {
  /** The command-line flag, e.g. --kafka-broker; undefined for an environment variable alone. */
  readonly flag?: string;
  /** Other names of the flag, still accepted (e.g. a name that was renamed). */
  readonly aliases: readonly string[];
  readonly env?: string;
  /** The default as text (parsed like a given value); undefined: no default, the value is undefined. */
  readonly def?: string;
  readonly help: string;
  /** A boolean option: on the command line it takes no value. */
  readonly isSwitch: boolean;
  /** The value of a raw setting, or the default's when `raw` is undefined. Throws InvalidValue. */
  readonly value: (raw: string | undefined) => T;
}

export interface OptionFacts<T> {
  flag?: string;
  aliases?: readonly string[];
  env?: string;
  parse: Parser<T>;
  /** The line in generated help (tools with hand-written usage text may leave it out). */
  help?: string;
}

/** An option with a default. */
export function option<T>(f: OptionFacts<T> & { def: string }): Option<T> {
  const { parse, def } = f;
  return { flag: f.flag, aliases: f.aliases ?? [], env: f.env, def, help: f.help ?? '', isSwitch: parse === bool, value: (raw) => parse(raw ?? def) };
}

/** An option without a default: undefined when it is not set. */
export function optional<T>(f: OptionFacts<T>): Option<T | undefined> {
  const { parse } = f;
  return { flag: f.flag, aliases: f.aliases ?? [], env: f.env, help: f.help ?? '', isSwitch: parse === bool, value: (raw) => (raw === undefined ? undefined : parse(raw)) };
}

/** A switch, off unless given. */
export const toggle = (flag: string, help = ''): Option<boolean> => option({ flag, def: 'false', parse: bool, help });

/** The engine's one-line form: flag, environment variable, default, parser, help. */
export const opt = <T>(flag: string, env: string, def: string, parse: Parser<T>, help: string): Option<T> =>
  option({ flag, env, def, parse, help });

// ---------------------------------------------------------------- reading

export type Env = Readonly<Record<string, string | undefined>>;

/** Raw values from the command line, by the option's flag: the value and the name it was given by. */
export type Args = ReadonlyMap<string, { value: string; source: string }>;

export interface Sourced<T> {
  value: T;
  /** The setting as given; undefined when the default applies. */
  raw: string | undefined;
  source: string | undefined;
}

export interface Reader {
  /** The option's value: from its flag, else its environment variable, else its default. */
  <T>(o: Option<T>): T;
  /** The value, the raw setting, and the flag as written or the variable it came from (undefined: the default). */
  sourced<T>(o: Option<T>): Sourced<T>;
}

/** A tool's options: a function from a Reader to its configuration. */
export type Spec<C> = (read: Reader) => C;

export interface ReadPolicy {
  /**
   * 'value' (the engine): a variable that is set is a value, even empty. 'unset' (the other
   * tools): an empty variable counts as unset, as a compose file's `NAME=` leaves it.
   */
  emptyEnv: 'value' | 'unset';
}

/** Every option the spec reads, in the order it reads them (the order of --help). */
export function optionsOf<C>(spec: Spec<C>): Option<unknown>[] {
  const list: Option<unknown>[] = [];
  const note = <T>(o: Option<T>): Sourced<T> => {
    list.push(o);
    return { value: o.value(undefined), raw: undefined, source: undefined };
  };
  spec(Object.assign(<T>(o: Option<T>): T => note(o).value, { sourced: note }));
  for (const key of ['flag', 'env'] as const) {
    const names = list.flatMap((o) => [o[key], ...(key === 'flag' ? o.aliases : [])]).filter((n) => n !== undefined);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new RangeError(`option ${twice} is defined twice`);
  }
  return list;
}

/** --help (or -h) or --version anywhere on the command line: the tool prints and exits, reading nothing else. */
export function infoRequest(argv: readonly string[]): 'help' | 'version' | null {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  return argv.includes('--version') ? 'version' : null;
}

/**
 * The command line's values by flag. Throws a ConfigError for an unknown option, a flag
 * without its value, or an argument that is not an option. --help, -h and --version are
 * left to infoRequest.
 */
export function parseArgv(argv: readonly string[], options: readonly Option<unknown>[]): Args {
  const byName = new Map<string, Option<unknown>>();
  for (const o of options) for (const n of [o.flag, ...o.aliases]) if (n !== undefined) byName.set(n, o);
  const out = new Map<string, { value: string; source: string }>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h' || a === '--version') continue;
    if (!a.startsWith('-')) throw new ConfigError('arguments', `unexpected argument '${a}' (options start with --; see --help)`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(0, eq) : a;
    const negated = name.startsWith('--no-') && !byName.has(name) ? byName.get('--' + name.slice(5)) : undefined;
    const o = byName.get(name) ?? (negated?.isSwitch ? negated : undefined);
    if (o?.flag === undefined) throw new ConfigError(name, 'unknown option (see --help)');
    let value: string;
    if (o === negated) value = 'false';
    else if (eq >= 0) value = a.slice(eq + 1);
    else if (o.isSwitch) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new ConfigError(name, 'needs a value');
    out.set(o.flag, { value, source: name });
  }
  return out;
}

/** A Reader over command-line values and the environment. */
export function reader(args: Args, env: Env, policy: ReadPolicy): Reader {
  const sourced = <T>(o: Option<T>): Sourced<T> => {
    let given = o.flag === undefined ? undefined : args.get(o.flag);
    const e = o.env === undefined ? undefined : env[o.env];
    if (given === undefined && o.env !== undefined && e !== undefined) {
      if (e !== '' || policy.emptyEnv === 'value') given = { value: e, source: o.env };
    }
    try {
      return { value: o.value(given?.value), raw: given?.value, source: given?.source };
    } catch (err) {
      if (err instanceof InvalidValue) throw new ConfigError(given?.source ?? o.flag ?? o.env ?? 'option', err.message);
      throw err;
    }
  };
  return Object.assign(<T>(o: Option<T>): T => sourced(o).value, { sourced });
}

/** Reads a tool's configuration from its command line and environment; ConfigError names the first bad setting. */
export function readConfig<C>(spec: Spec<C>, argv: readonly string[], env: Env, policy: ReadPolicy): C {
  return spec(reader(parseArgv(argv, optionsOf(spec)), env, policy));
}

// ---------------------------------------------------------------- help

const HELP_COLUMN = 36;

/**
 * Two lines per option: the flag (with `<value>` unless it is a switch that is off by
 * default) or the variable, and its help; then its variable and default.
 */
export function optionsHelp(options: readonly Option<unknown>[]): string[] {
  const lines: string[] = [];
  for (const o of options) {
    const head = o.flag === undefined ? `  ${o.env}` : `  ${o.flag}${o.def === 'false' ? '' : ' <value>'}`;
    lines.push(`${head.padEnd(HELP_COLUMN)} ${o.help}`);
    const where = [o.flag !== undefined && o.env !== undefined ? `env ${o.env}` : '', o.def === undefined ? '' : `default ${o.def === '' ? '(empty)' : o.def}`];
    if (where.some((w) => w !== '')) lines.push(`${''.padEnd(HELP_COLUMN)} ${where.filter((w) => w !== '').join(', ')}`);
  }
  return lines;
}
