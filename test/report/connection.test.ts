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
  ] as const) {
    assert.throws(() => pgSettings(values, env), (e: unknown) => e instanceof ConfigError && e.setting === source, source);
  }
});
