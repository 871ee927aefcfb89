import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore } from '../../src/main/checkpoint.js';
import { silentLogger } from '../../src/main/log.js';

const topics = (offset: number) => [
  { topic: 't', windowMs: 1000, watermark: 5, partitions: [{ partition: 0, maxTs: 9 }], offsets: [{ partition: 0, offset }], windows: [{ start: 0, keys: ['a'], stats: Buffer.from(new Float64Array([1, 2, 0, 2, 2, 0, 2]).buffer).toString('base64') }] },
];

test('snapshots are written atomically, pruned, and read back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new CheckpointStore(dir, 2, silentLogger);
  assert.equal(await store.loadLatest(), null);
  for (let i = 1; i <= 4; i++) await store.save({ groupId: 'g', topics: topics(i) });
  const files = (await readdir(dir)).sort();
  assert.deepEqual(files, ['snapshot-000000000003.json', 'snapshot-000000000004.json']);
  const again = new CheckpointStore(dir, 2, silentLogger);
  const snap = await again.loadLatest();
  assert.equal(snap!.seq, 4);
  assert.deepEqual(snap!.topics, topics(4));
  await again.save({ groupId: 'g', topics: topics(5) });
  assert.ok((await readdir(dir)).includes('snapshot-000000000005.json'), 'numbering continues after a restart');
});

test('a truncated or altered newest snapshot falls back to the previous one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new CheckpointStore(dir, 3, silentLogger);
  await store.save({ groupId: 'g', topics: topics(1) });
  await store.save({ groupId: 'g', topics: topics(2) });
  await store.save({ groupId: 'g', topics: topics(3) });
  const newest = join(dir, 'snapshot-000000000003.json');
  await truncate(newest, 40);
  const middle = join(dir, 'snapshot-000000000002.json');
  const text = await readFile(middle, 'utf8');
  await writeFile(middle, text.replace('"offset":2', '"offset":7'));
  const snap = await new CheckpointStore(dir, 3, silentLogger).loadLatest();
  assert.equal(snap!.seq, 1, 'both damaged snapshots are skipped, the checksum catches the edit');
  assert.equal(snap!.topics[0].offsets[0].offset, 1);
  const names = await readdir(dir);
  assert.ok(names.includes('snapshot-000000000003.json.corrupt'));
});

test('no readable snapshot at all is an error, not a silent fresh start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'snapshot-000000000001.json'), '{"sha256":"x","snapshot":{}}');
  await assert.rejects(new CheckpointStore(dir, 3, silentLogger).loadLatest(), /CHECKPOINT|no readable checkpoint/);
});
