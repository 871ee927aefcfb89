/**
 * What the analyst tools (report, prune) share around their work: --help and --version,
 * the tool's own options, the connection settings from the flags and the environment, the
 * connection, and errors as one line on stderr. Exit status 2 for a bad option or setting
 * (before anything connects), 1 for any other failure.
 */
import type pg from 'pg';
import { infoRequest } from '../common/options.js';
import { connect, packageVersion, pgSettings, type PgFlags, type PgSettings } from './connection.js';
import { ConfigError, oneLine } from './errors.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Runs `work` with a connected client; returns the tool's exit status. */
export async function runTool<O extends { pg: PgFlags }>(
  tool: string,
  usage: string,
  parse: (argv: string[]) => O,
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: Io,
  work: (client: pg.Client, opts: O, settings: PgSettings) => Promise<number>,
): Promise<number> {
  const info = infoRequest(argv);
  if (info !== null) {
    io.out(info === 'help' ? usage : `smartgrid-stream ${tool} ${await packageVersion()}\n`);
    return 0;
  }
  let opts: O;
  let settings: PgSettings;
  try {
    opts = parse(argv);
    settings = pgSettings(opts.pg, env);
  } catch (e) {
    io.err(`${tool}: ${oneLine(e)}\n`);
    return 2;
  }
  let client: pg.Client | undefined;
  try {
    client = await connect(settings);
    return await work(client, opts, settings);
  } catch (e) {
    io.err(`${tool}: ${oneLine(e)}\n`);
    return e instanceof ConfigError ? 2 : 1;
  } finally {
    await client?.end().catch(() => {});
  }
}
