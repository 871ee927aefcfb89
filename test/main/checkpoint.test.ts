import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore, type TopicSnapshot } from '../../src/main/checkpoint.js';
import { silentLogger } from '../../src/common/log.js';

const topics = (offset: number): TopicSnapshot[] => [
  {
    topic: 't',
    windowMs: 1000,
    watermark: 5,
    partitions: [{ partition: 0, maxTs: 9 }],
    offsets: [{ partition: 0, offset }],
    windows: [{ start: 0, keys: ['a'], stats: new Float64Array([1, 2, 0, 2, 2, 0, 2]) }],
  },
];

test('snapshots are written atomically, pruned, and read back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new CheckpointStore(dir, 2, silentLogger);
  assert.equal(await store.loadLatest(), null);
  for (let i = 1; i <= 4; i++) await store.save({ groupId: 'g', topics: topics(i) });
  const files = (await readdir(dir)).sort();
  assert.deepEqual(files, ['snapshot-000000000003.bin', 'snapshot-000000000004.bin']);
  const again = new CheckpointStore(dir, 2, silentLogger);
  const snap = await again.loadLatest();
  assert.equal(snap!.seq, 4);
  assert.deepEqual(snap!.topics, topics(4));
  await again.save({ groupId: 'g', topics: topics(5) });
  assert.ok((await readdir(dir)).includes('snapshot-000000000005.bin'), 'numbering continues after a restart');
});

test('keys of every kind and many windows round-trip exactly, across key pieces', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const odd = ['voltage\u0000s1', 'ünïcödé', '😀 emoji', 'tab\tnew\nline\\', 'x'.repeat(300), '"quoted"', 'a\u0000b'];
  const big = Array.from({ length: 70000 }, (_, i) => `power\u0000sensor_${i}`); // > 2 pieces of 32768
  const stats = (n: number, w: number) => Float64Array.from({ length: n * w }, (_, i) => (i % 7 === 3 ? Infinity : i / 3));
  const ts: TopicSnapshot[] = [
    { topic: 's', windowMs: 300000, watermark: null, partitions: [], offsets: [{ partition: 2, offset: 1e12 }], windows: [
      { start: 0, keys: odd, stats: stats(odd.length, 7) },
      { start: 300000, keys: big, stats: stats(big.length, 7) },
      { start: 600000, keys: [], stats: new Float64Array(0) },
    ] },
    { topic: 'w', windowMs: 3600000, watermark: -7, partitions: [{ partition: 0, maxTs: null }], offsets: [], windows: [
      { start: -3600000, keys: [''], stats: stats(1, 28), conds: [['Sunny', 3], ['Rainy', 1]] },
    ] },
  ];
  await new CheckpointStore(dir, 2, silentLogger).save({ groupId: 'g/../x', topics: ts });
  const back = await new CheckpointStore(dir, 2, silentLogger).loadLatest();
  assert.equal(back!.groupId, 'g/../x');
  assert.deepEqual(back!.topics, ts);
});

test('a truncated or altered newest snapshot falls back to the previous one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new CheckpointStore(dir, 3, silentLogger);
  await store.save({ groupId: 'g', topics: topics(1) });
  await store.save({ groupId: 'g', topics: topics(2) });
  await store.save({ groupId: 'g', topics: topics(3) });
  const newest = join(dir, 'snapshot-000000000003.bin');
  await truncate(newest, 40);
  const middle = join(dir, 'snapshot-000000000002.bin');
  const bytes = await readFile(middle);
  const at = bytes.indexOf('"offset":2');
  bytes[at + 9] = '7'.charCodeAt(0);
  await writeFile(middle, bytes);
  const snap = await new CheckpointStore(dir, 3, silentLogger).loadLatest();
  assert.equal(snap!.seq, 1, 'both damaged snapshots are skipped, the checksum catches the edit');
  assert.equal(snap!.topics[0].offsets[0].offset, 1);
  const names = await readdir(dir);
  assert.ok(names.includes('snapshot-000000000003.bin.corrupt'));
});

test('a format-3 JSON snapshot of an earlier version is still read', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stats = new Float64Array([1, 2, 0, 2, 2, 0, 2]);
  const body = JSON.stringify({
    format: 3, seq: 7, createdAt: '2026-11-28T00:00:00.000Z', groupId: 'g',
    topics: [{ topic: 't', windowMs: 1000, watermark: 5, partitions: [], offsets: [{ partition: 0, offset: 3 }],
      windows: [{ start: 0, keys: ['a'], stats: Buffer.from(stats.buffer).toString('base64') }] }],
  });
  const sum = createHash('sha256').update(body).digest('hex');
  await writeFile(join(dir, 'snapshot-000000000007.json'), `{"sha256":"${sum}","snapshot":${body}}\n`);
  const store = new CheckpointStore(dir, 3, silentLogger);
  const snap = await store.loadLatest();
  assert.equal(snap!.seq, 7);
  assert.deepEqual(snap!.topics[0].windows[0].stats, stats);
  await store.save({ groupId: 'g', topics: topics(4) });
  assert.ok((await readdir(dir)).includes('snapshot-000000000008.bin'));
});

test('no readable snapshot at all is an error, not a silent fresh start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'snapshot-000000000001.json'), '{"sha256":"x","snapshot":{}}');
  await assert.rejects(new CheckpointStore(dir, 3, silentLogger).loadLatest(), /CHECKPOINT|no readable checkpoint/);
});

test('a failed write leaves no temporary file; leftovers of a crash are removed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.after(async () => {
    await chmod(dir, 0o755).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  const store = new CheckpointStore(dir, 3, silentLogger);
  // A window whose statistics are detached fails mid-write, after the temporary file exists.
  const bad = topics(1);
  const detached = new Float64Array(7);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  bad[0].windows.push({ start: 1000, keys: ['b'], stats: detached });
  bad[0].windows.push({ start: 2000, keys: ['c'], stats: null as unknown as Float64Array });
  await assert.rejects(store.save({ groupId: 'g', topics: bad }), /CHECKPOINT|cannot write checkpoint/);
  assert.deepEqual(await readdir(dir), [], 'nothing left behind');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'snapshot-000000000009.bin.tmp'), 'half');
  await store.removeLeftovers();
  assert.deepEqual(await readdir(dir), []);
});
