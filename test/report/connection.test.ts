import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPTIONS } from '../../src/main/config.js';
import { PG_OPTIONS, pgSettings } from '../../src/report/connection.js';
import { ConfigError } from '../../src/report/errors.js';

test('the report\'s connection flags, variables and defaults are the engine\'s', () => {
  const engine = OPTIONS.filter((o) => o.flag.startsWith('--postgres-')).map((o) => [o.flag, o.env, o.def]);
  assert.deepEqual(PG_OPTIONS.map((o) => [o.flag, o.env, o.def]), engine);
});

test('flags win over variables; empty variables are unset; bad values name their source', () => {
  const none = {};
  assert.deepEqual(pgSettings(none, {}), { host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres', password: '' });
  assert.deepEqual(
    pgSettings({ 'postgres-port': '6000', schema: 's1' }, { POSTGRES_PORT: '7000', POSTGRES_HOST: 'db', POSTGRES_DB: '', POSTGRES_SCHEMA: 'x' }),
    { host: 'db', port: 6000, database: 'postgres', user: 'postgres', password: '', schema: 's1' },
  );
  assert.equal(pgSettings({}, { POSTGRES_SCHEMA: 'from_env' }).schema, 'from_env');
  for (const [values, env, source] of [
    [{ 'postgres-port': '0' }, {}, '--postgres-port'],
    [{}, { POSTGRES_PORT: 'x' }, 'POSTGRES_PORT'],
    [{}, { POSTGRES_SCHEMA: 'a;b' }, 'POSTGRES_SCHEMA'],
    [{ 'postgres-host': ' ' }, {}, '--postgres-host'],
    [{}, { POSTGRES_PASSWORD_FILE: '/nonexistent/pw' }, 'POSTGRES_PASSWORD_FILE'],
    [{ 'postgres-password-file': '/nonexistent/pw' }, {}, '--postgres-password-file'],
  ] as const) {
    assert.throws(() => pgSettings(values, env), (e: unknown) => e instanceof ConfigError && e.setting === source, source);
  }
});

test('the password comes from --postgres-password-file / POSTGRES_PASSWORD_FILE without its trailing newline, as the engine reads it', async (t) => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'pgpw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pw');
  await writeFile(file, 's3cret\n');
  assert.equal(pgSettings({}, { POSTGRES_PASSWORD_FILE: file }).password, 's3cret');
  assert.equal(pgSettings({ 'postgres-password-file': file }, {}).password, 's3cret');
  assert.throws(
    () => pgSettings({}, { POSTGRES_PASSWORD_FILE: file, POSTGRES_PASSWORD: 'x' }),
    (e: unknown) => e instanceof ConfigError && e.setting === 'POSTGRES_PASSWORD_FILE',
  );
});
