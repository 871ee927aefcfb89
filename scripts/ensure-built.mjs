#!/usr/bin/env node
// Runs before `npm start` and `npm run report`: builds dist/ when it is missing or older
// than the sources, so a fresh checkout starts without a separate build step. In an
// image without the TypeScript compiler (production), an existing dist/ is used as is.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist', 'src', 'main', 'cli.js');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const built = existsSync(entry) ? statSync(entry).mtimeMs : 0;
const stale = built === 0 || newest(join(root, 'src')) > built;
if (stale && existsSync(tsc)) {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
} else if (built === 0) {
  console.error('dist/ is missing and the TypeScript compiler is not installed: run `npm ci && npm run build` first');
  process.exit(1);
}
