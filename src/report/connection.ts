/**
 * The PostgreSQL connection of the analyst tools: the engine's flags, environment
 * variables, defaults and checks (src/common/pg-options.ts), so one set of settings serves
 * both. Flags win over the environment.
 */
import pg from 'pg';
import { optionsOf, reader, type Env, type Option, type Reader } from '../common/options.js';
import { pgOptions, PG_SCHEMA_WITH_ALIAS, type PgConnection } from '../common/pg-options.js';
import { packageVersion as commonPackageVersion } from '../common/version.js';
import { ReportError } from './errors.js';

/** Where the analyst tools connect: the engine's connection settings. */
export type PgSettings = PgConnection;

/** The connection options as the report and prune read them: the engine's, and --schema. */
const readPg = (read: Reader): PgConnection & { schema: string } => pgOptions(read, PG_SCHEMA_WITH_ALIAS);

/** The connection options, in the engine's order (test/report/connection.test.ts holds them to the engine's). */
export const PG_OPTIONS: readonly Option<unknown>[] = optionsOf(readPg);

export const PG_USAGE = `Connection (the engine's flags and variables; a flag wins):
  --postgres-host H      env POSTGRES_HOST (127.0.0.1)
  --postgres-port N      env POSTGRES_PORT (5432)
  --postgres-db NAME     env POSTGRES_DB (postgres)
  --postgres-user NAME   env POSTGRES_USER (postgres)
  --postgres-password P  env POSTGRES_PASSWORD (empty)
  --postgres-password-file F  env POSTGRES_PASSWORD_FILE (empty): the password from a file (Docker secrets)
  --postgres-schema S    env POSTGRES_SCHEMA (empty: the search_path); --schema S is the same
`;

/** The connection flags as given, by flag name without `--` (`schema` for --schema). */
export type PgFlags = Readonly<Record<string, string | undefined>>;

/**
 * The connection flags of a command line, each value checked, kept as given: the
 * environment is read later, by pgSettings in the tool's main, so that --help and bad
 * options never depend on it.
 */
export function pgFlags(read: Reader): PgFlags {
  const out: Record<string, string | undefined> = {};
  for (const o of PG_OPTIONS) {
    const { raw, source } = read.sourced(o);
    for (const name of [o.flag, ...o.aliases]) if (name !== undefined) out[name.slice(2)] = source === name ? raw : undefined;
  }
  return out;
}

/**
 * Settings from the connection flags as given (pgFlags) and the environment, where an
 * empty variable counts as unset. Throws a ConfigError naming the flag or variable.
 */
export function pgSettings(flags: PgFlags, env: Env): PgSettings {
  const args = new Map<string, { value: string; source: string }>();
  for (const o of PG_OPTIONS) {
    for (const name of [o.flag, ...o.aliases]) {
      const value = name === undefined ? undefined : flags[name.slice(2)];
      if (o.flag !== undefined && name !== undefined && value !== undefined && !args.has(o.flag)) args.set(o.flag, { value, source: name });
    }
  }
  const { schema, ...conn } = readPg(reader(args, env, { emptyEnv: 'unset' }));
  return schema === '' ? conn : { ...conn, schema };
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
