#!/usr/bin/env node
/**
 * Entry point of the load generator (`npm run loadgen -- --help`). Reads the environment
 * (LOADGEN_ENV_VARS) and the arguments, runs, and prints the achieved rate.
 */
import { versionLine } from '../src/common/version.js';
import { writeFile } from 'node:fs/promises';
import { ConfigError, describeError } from '../src/common/errors.js';
import { infoRequest } from '../src/common/options.js';
import { LOADGEN_USAGE, parseLoadgenArgs } from './config.js';
import { runLoad, type Progress } from './run.js';

function fmtDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

function progressLine(p: Progress, tty: boolean): string {
  const stats = `${fmtInt(p.events)}${p.total !== undefined ? `/${fmtInt(p.total)}` : ''} events, ${fmtInt(p.rate)} ev/s, elapsed ${fmtDuration(p.elapsedMs)}, ETA ${fmtDuration(p.etaMs)}`;
  if (!tty || p.total === undefined) return stats;
  const width = 30;
  const done = Math.min(width, Math.floor((p.events / p.total) * width));
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${((p.events / p.total) * 100).toFixed(1).padStart(5)}% ${stats}`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const info = infoRequest(argv);
  if (info !== null) {
    process.stdout.write(info === 'version' ? versionLine('loadgen') : LOADGEN_USAGE);
    return 0;
  }
  let cfg;
  try {
    cfg = parseLoadgenArgs(argv, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`loadgen: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const tty = process.stderr.isTTY === true;
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lastPlain = 0;
  const summary = await runLoad({
    ...cfg.run,
    signal: ac.signal,
    progressIntervalMs: tty ? 250 : 1000,
    onProgress: cfg.quiet
      ? undefined
      : (p) => {
          if (tty) process.stderr.write(`\r${progressLine(p, true)}\x1b[K`);
          else if (p.elapsedMs - lastPlain >= 5000 || p.events === p.total) {
            lastPlain = p.elapsedMs;
            process.stderr.write(progressLine(p, false) + '\n');
          }
        },
  });
  if (tty && !cfg.quiet) process.stderr.write('\n');
  const g = summary.generated;
  const outputs = [summary.kafka ? `Kafka (${summary.options.partitions.sensor}/${summary.options.partitions.meter}/${summary.options.partitions.weather} partitions)` : '', summary.file ? summary.file.path : '']
    .filter(Boolean)
    .join(' and ');
  const where = outputs || 'the expected-aggregates computation only';
  process.stdout.write(
    `loadgen: ${fmtInt(summary.events)} events to ${where} in ${(summary.elapsedMs / 1000).toFixed(2)} s: ${fmtInt(summary.rate)} events/s\n` +
      `  sensor ${fmtInt(g.bySource.sensor)}, meter ${fmtInt(g.bySource.meter)}, weather ${fmtInt(g.bySource.weather)}; ` +
      `on time ${fmtInt(g.byKind.on_time)}, out of order ${fmtInt(g.byKind.out_of_order)}, late ${fmtInt(g.byKind.late)}, bad ${fmtInt(g.byKind.bad)} ` +
      `(invalid_json ${g.byReason.invalid_json}, invalid_record ${g.byReason.invalid_record}, out_of_range ${g.byReason.out_of_range})\n`,
  );
  if (cfg.expectedPath !== undefined && summary.expected !== undefined) {
    await writeFile(cfg.expectedPath, JSON.stringify(summary.expected, null, 1) + '\n');
    process.stdout.write(
      `  expected: ${summary.expected.sensor.length} sensor, ${summary.expected.consumption.length} consumption, ${summary.expected.weather.length} weather rows, ${summary.expected.deadLetters.total} dead letters -> ${cfg.expectedPath}\n`,
    );
  }
  if (cfg.summaryPath !== undefined) {
    const { expected: _e, ...rest } = summary;
    await writeFile(cfg.summaryPath, JSON.stringify(rest, null, 1) + '\n');
  }
  return 0;
}

// Output piped into `head` and the like: a closed pipe is not an error of the run.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`loadgen: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);
