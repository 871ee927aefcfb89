#!/usr/bin/env node
// Runs the compiled test files with node's test runner.
//   node scripts/run-tests.mjs            unit and integration tests (npm test)
//   node scripts/run-tests.mjs integrity  the slow exactly-once suites (npm run test:integrity)
//   node scripts/run-tests.mjs unit       the tests that need no Kafka and no PostgreSQL (npm run test:unit)
// Node 20's runner has no glob and treats every .js under a test/ folder as a test file,
// so the files are listed here: *.test.js, with test/integrity/ kept apart.
// The local services are brought up first (idempotent; a no-op when they run).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const suite = process.argv[2] ?? 'default';
const base = join(root, 'dist', 'test');

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const all = walk(base).sort();
const isIntegrity = (f) => relative(base, f).split('/')[0] === 'integrity';
// Test files that use no service: the engine driver, workers, parsing, config, snapshots,
// the wire decoder, the wire client's SASL/SCRAM and TLS settings, the deploy and compose
// checks. Checked by running them with Kafka and PostgreSQL pointed at closed ports.
const UNIT = [
  /^main\//, /^common\//, /^workers\//, /^kafka\/(decode|sasl|group-protocol)\.test\.js$/, /^compose\.test\.js$/, /^deploy\.test\.js$/, /^readme\.test\.js$/,
  /^loadgen\/generate\.test\.js$/, /^producer\/(guard|weather)\.test\.js$/,
  /^report\/(chart|connection|format|demo)\.test\.js$/,
];
const isUnit = (f) => UNIT.some((re) => re.test(relative(base, f)));
const files = all.filter((f) => (suite === 'integrity' ? isIntegrity(f) : suite === 'unit' ? isUnit(f) : !isIntegrity(f)));
if (files.length === 0) {
  console.error(`no test files for suite '${suite}' under ${relative(root, base)} (did the build run?)`);
  process.exit(1);
}
if (process.env.SMARTGRID_SKIP_SERVICES !== '1' && suite !== 'unit') {
  const up = spawnSync(process.execPath, [join(root, 'scripts', 'services.mjs'), 'up'], { stdio: 'inherit' });
  if (up.status !== 0) process.exit(up.status ?? 1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files.map((f) => relative(root, f))], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
