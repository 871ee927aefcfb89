/**
 * The PostgreSQL connection options, shared by the engine and the analyst tools (report,
 * prune) so that one set of flags, variables and defaults serves all of them.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { anyText, int, invalid, opt, option, text, type Option, type Parser, type Reader, type Sourced } from './options.js';

/**
 * A plain lower-case PostgreSQL identifier (at most 63 bytes) that is not a system schema:
 * names starting with pg_ are reserved (SQLSTATE 42939) and information_schema is the
 * catalogue's own. It goes into the connection's options string unquoted.
 */
export const schemaName: Parser<string> = (raw) => {
  if (raw === '') return raw;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) invalid(`'${raw}' is not a plain lower-case identifier of at most 63 characters`);
  if (raw.startsWith('pg_') || raw === 'information_schema') invalid(`'${raw}' is a PostgreSQL system schema`);
  return raw;
};

export const PG_OPTIONS = {
  host: opt('--postgres-host', 'POSTGRES_HOST', '127.0.0.1', text, 'PostgreSQL host'),
  port: opt('--postgres-port', 'POSTGRES_PORT', '5432', int(1, 65535), 'PostgreSQL port'),
  database: opt('--postgres-db', 'POSTGRES_DB', 'postgres', text, 'PostgreSQL database'),
  user: opt('--postgres-user', 'POSTGRES_USER', 'postgres', text, 'PostgreSQL user'),
  password: opt('--postgres-password', 'POSTGRES_PASSWORD', '', anyText, 'PostgreSQL password'),
  passwordFile: opt(
    '--postgres-password-file',
    'POSTGRES_PASSWORD_FILE',
    '',
    anyText,
    'file holding the PostgreSQL password (Docker/Kubernetes secrets; keeps it out of ps and the environment)',
  ),
  schema: opt('--postgres-schema', 'POSTGRES_SCHEMA', '', schemaName, 'PostgreSQL schema for the tables (default: the search_path, normally public)'),
};

/** The analyst tools also take --schema, the report's older name of --postgres-schema. */
export const PG_SCHEMA_WITH_ALIAS: Option<string> = option({ ...PG_OPTIONS.schema, aliases: ['--schema'], parse: schemaName, def: '' });

export interface PgConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Schema holding the tables; empty or absent for the server's search_path. */
  schema?: string;
}

/** Reads the connection options, in the order --help lists them; `schema` may carry an alias. */
export function pgOptions(read: Reader, schema: Option<string> = PG_OPTIONS.schema): PgConnection & { schema: string } {
  const host = read(PG_OPTIONS.host);
  const port = read(PG_OPTIONS.port);
  const database = read(PG_OPTIONS.database);
  const user = read(PG_OPTIONS.user);
  const password = read.sourced(PG_OPTIONS.password);
  const file = read.sourced(PG_OPTIONS.passwordFile);
  return { host, port, database, user, password: passwordOf(password, file), schema: read(schema) };
}

/**
 * The password, or the content of the password file without a trailing line break (as the
 * postgres image reads POSTGRES_PASSWORD_FILE). Giving both is an error, as there.
 */
function passwordOf(password: Sourced<string>, file: Sourced<string>): string {
  if (file.value === '') return password.value;
  const setting = file.source ?? PG_OPTIONS.passwordFile.env ?? 'POSTGRES_PASSWORD_FILE';
  if (password.value !== '') {
    throw new ConfigError(setting, `give the password or a password file, not both (${password.source ?? 'POSTGRES_PASSWORD'} is set too)`);
  }
  try {
    return readFileSync(file.value, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(setting, `cannot read '${file.value}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
