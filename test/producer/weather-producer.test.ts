/** The entry point as a process: configuration errors, start, and graceful stop on SIGTERM. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KAFKA_BROKER, createTopics, uniqueName } from '../helpers.js';

const ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/producer/weather-producer.js');

test('a wrong setting is reported in one line naming it, exit code 2', async () => {
  for (const [k, v] of [
    ['WEATHER_UPDATE_INTERVAL', 'often'],
    ['WEATHER_HOST', 'not a host'],
    ['WEATHER_API_TOKEN_FILE', '/nonexistent/weather-token'],
    ['WEATHER_API_TOKEN', 'short'],
    ['WEATHER_GENERATE_RATE', 'fast'],
    ['WEATHER_GENERATE_BURST', '0'],
  ]) {
    const p = spawn(process.execPath, [ENTRY], { env: { ...process.env, [k]: v }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = await once(p, 'exit');
    assert.equal(code, 2, `${k}=${v}: ${err}`);
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, new RegExp(`^weather-producer: ${k}: `), err);
    if (k === 'WEATHER_API_TOKEN') assert.ok(!err.includes(v), 'the token is not echoed');
  }
});

test('--help lists every variable with its default; an argument it does not take exits 2 in one line', async () => {
  const { spawnSync } = await import('node:child_process');
  const { WEATHER_PRODUCER_DEFAULTS, WEATHER_PRODUCER_ENV_VARS } = await import('../../src/producer/config.js');
  const help = spawnSync(process.execPath, [ENTRY, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  for (const k of WEATHER_PRODUCER_ENV_VARS) {
    const def = WEATHER_PRODUCER_DEFAULTS[k];
    assert.match(help.stdout, new RegExp(`^  ${k} .*\\n +default ${def === '' ? '\\(empty\\)' : def.replace(/\./g, '\\.')}$`, 'm'), k);
  }
  const bad = spawnSync(process.execPath, [ENTRY, '--port', '80'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'weather-producer: --port: unknown option (see --help)\n');
});

test('starts, serves /health, and stops with exit code 0 on SIGTERM', async (t) => {
  const topic = uniqueName('weather_proc');
  const { cleanup } = await createTopics([topic], 1);
  t.after(cleanup);
  const p = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, KAFKA_BROKER, KAFKA_TOPIC_WEATHER: topic, WEATHER_PRODUCER_PORT: '0', WEATHER_UPDATE_INTERVAL: '0.2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (p.exitCode === null) p.kill('SIGKILL');
  });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    p.stderr.on('data', (d: Buffer) => {
      log += d.toString();
      const m = /"msg":"weather producer listening","port":(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', () => reject(new Error(`exited early: ${log}`)));
  });
  const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Record<string, unknown>;
  assert.equal(h.service, 'weather-producer');
  await new Promise((r) => setTimeout(r, 700));
  p.kill('SIGTERM');
  const [code] = await once(p, 'exit');
  assert.equal(code, 0, log);
  assert.match(log, /weather message produced/);
  assert.match(log, /weather producer stopped/);
});
