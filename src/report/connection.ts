/**
 * The PostgreSQL connection of the analyst tools: the same flags, environment variables
 * and defaults as the engine (`npm start -- --help`), so one set of settings serves both.
 * Flags win over the environment. test/report/connection.test.ts holds this table to the
 * engine's.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { packageVersion as commonPackageVersion } from '../common/version.js';
import { ConfigError, ReportError } from './errors.js';

export interface PgSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Schema of the tables (search_path); undefined: the server's search_path. */
  schema?: string;
}

export const PG_OPTIONS = [
  { key: 'host', flag: '--postgres-host', env: 'POSTGRES_HOST', def: '127.0.0.1' },
  { key: 'port', flag: '--postgres-port', env: 'POSTGRES_PORT', def: '5432' },
  { key: 'database', flag: '--postgres-db', env: 'POSTGRES_DB', def: 'postgres' },
  { key: 'user', flag: '--postgres-user', env: 'POSTGRES_USER', def: 'postgres' },
  { key: 'password', flag: '--postgres-password', env: 'POSTGRES_PASSWORD', def: '' },
  { key: 'passwordFile', flag: '--postgres-password-file', env: 'POSTGRES_PASSWORD_FILE', def: '' },
  { key: 'schema', flag: '--postgres-schema', env: 'POSTGRES_SCHEMA', def: '' },
] as const;

/** node:util parseArgs entries for the connection flags (and --schema, the report's older name). */
export const PG_PARSE_OPTIONS = {
  ...Object.fromEntries(PG_OPTIONS.map((o) => [o.flag.slice(2), { type: 'string' as const }])),
  schema: { type: 'string' as const },
} as Record<string, { type: 'string' }>;

export const PG_USAGE = `Connection (the engine's flags and variables; a flag wins):
  --postgres-host H      env POSTGRES_HOST (127.0.0.1)
  --postgres-port N      env POSTGRES_PORT (5432)
  --postgres-db NAME     env POSTGRES_DB (postgres)
  --postgres-user NAME   env POSTGRES_USER (postgres)
  --postgres-password P  env POSTGRES_PASSWORD (empty)
  --postgres-password-file F  env POSTGRES_PASSWORD_FILE (empty): the password from a file (Docker secrets)
  --postgres-schema S    env POSTGRES_SCHEMA (empty: the search_path); --schema S is the same
`;

/**
 * Settings from parsed flags (`values` of parseArgs with PG_PARSE_OPTIONS) and the
 * environment. Throws a ConfigError naming the flag or variable.
 */
export function pgSettings(values: Record<string, unknown>, env: NodeJS.ProcessEnv): PgSettings {
  const raw = (o: (typeof PG_OPTIONS)[number]): { value: string; source: string } => {
    const flag = values[o.flag.slice(2)];
    if (typeof flag === 'string') return { value: flag, source: o.flag };
    if (o.key === 'schema' && typeof values.schema === 'string') return { value: values.schema, source: '--schema' };
    const e = env[o.env];
    // an empty variable is unset, as in a compose file's `POSTGRES_HOST=`
    if (e !== undefined && e !== '') return { value: e, source: o.env };
    return { value: o.def, source: o.flag };
  };
  const [host, port, database, user, password, passwordFile, schema] = PG_OPTIONS.map(raw);
  if (!/^\d+$/.test(port.value) || Number(port.value) < 1 || Number(port.value) > 65535) {
    throw new ConfigError(port.source, `expected a port number from 1 to 65535, got "${port.value}"`);
  }
  for (const [s, what] of [[host, 'host'], [database, 'database name'], [user, 'user name']] as const) {
    if (s.value.trim() === '') throw new ConfigError(s.source, `expected a ${what}, got an empty string`);
  }
  // it goes into the connection's options string, where spaces and quotes have meaning
  if (schema.value !== '' && !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema.value)) {
    throw new ConfigError(schema.source, `expected a plain schema name (letters, digits, _), got "${schema.value}"`);
  }
  return {
    host: host.value,
    port: Number(port.value),
    database: database.value,
    user: user.value,
    password: passwordOf(password, passwordFile),
    ...(schema.value === '' ? {} : { schema: schema.value }),
  };
}

/** The password, or the content of the password file without a trailing line break (not both), as the engine reads them. */
function passwordOf(password: { value: string; source: string }, file: { value: string; source: string }): string {
  if (file.value === '') return password.value;
  if (password.value !== '') throw new ConfigError(file.source, `give the password or a password file, not both (${password.source} is set too)`);
  try {
    return readFileSync(file.value, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(file.source, `cannot read '${file.value}': ${(e as Error).message}`);
  }
}

/** `database "x" on host:port, schema "s"`: where, for messages. */
export function describeTarget(s: PgSettings): string {
  return `database "${s.database}" on ${s.host}:${s.port}` + (s.schema ? `, schema "${s.schema}"` : '');
}

/** A connected client, or POSTGRES_UNAVAILABLE naming where. */
export async function connect(s: PgSettings): Promise<pg.Client> {
  const { schema, ...conn } = s;
  const client = new pg.Client({
    ...conn,
    connectionTimeoutMillis: 10_000,
    // Without a schema, node-postgres still honours PGOPTIONS (e.g. -c search_path=…).
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle connection dropped by the server emits 'error'; the query in flight reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw new ReportError('POSTGRES_UNAVAILABLE', `cannot connect to PostgreSQL (${describeTarget(s)})`, { cause: e });
  }
  return client;
}

/** The package's version, for --version. */
export async function packageVersion(): Promise<string> {
  return commonPackageVersion();
}
