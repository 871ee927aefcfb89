/**
 * The /metrics page without a broker: cumulative histograms, process metrics, build info,
 * dead-letter reasons at 0 from the start, worker utilisation. The same page scraped from
 * a live engine and checked by promtool: test/integration/operations.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKETS, DEAD_LETTER_REASONS, EngineMetrics, registerEngineMetrics, scrape, type MetricsView } from '../../src/main/metrics.js';
import { REASONS } from '../../src/workers/protocol.js';

const view = (over: Partial<ReturnType<MetricsView['status']>> = {}): MetricsView => ({
  status: () => ({
    topics: ['s', 'm', 'w'],
    watermarks: [Date.now() - 60_000, -Infinity, Date.now() + 3_600_000],
    partitions: [{ topic: 's', partition: 0, lag: 7 }],
    openWindows: [1, 0, 0],
    openStates: [10, 0, 0],
    pendingRows: 0,
    workerThreads: 2,
    recentRate: 5,
    ...over,
  }),
  kafkaUnreachableSeconds: () => 0.1,
  ready: () => true,
  healthy: () => false,
  kafkaClient: 'wire',
});

/** Samples of one metric: labels text → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

test('metrics: every dead-letter reason is exported at 0 before the first bad record', async () => {
  const m = new EngineMetrics();
  registerEngineMetrics(m, view());
  const dl = samples(await scrape(m), 'smartgrid_dead_letters_total');
  for (const r of REASONS.filter((x) => x !== '')) assert.equal(dl.get(`{reason="${r}"}`), 0, r);
  assert.equal(dl.get('{reason="future"}'), 0, 'the future guard’s reason too');
  assert.equal(dl.size, DEAD_LETTER_REASONS.length);
  m.deadLettersByReason.set('late', 4);
  assert.equal(samples(await scrape(m), 'smartgrid_dead_letters_total').get('{reason="late"}'), 4);
});

test('metrics: latencies are cumulative histograms with the documented buckets', async () => {
  const m = new EngineMetrics();
  registerEngineMetrics(m, view());
  for (const ms of [0.5, 3, 3, 40, 2000]) m.batchLatency.recordMs(ms);
  m.finalToCommit.recordMs(120);
  m.batchLatency.reset(); // the benchmarks reset percentiles; Prometheus series stay cumulative
  const text = await scrape(m);
  assert.match(text, /# TYPE smartgrid_batch_seconds histogram/);
  assert.match(text, /# TYPE smartgrid_flush_seconds histogram/);
  assert.match(text, /# TYPE smartgrid_final_to_commit_seconds histogram/);
  const b = samples(text, 'smartgrid_batch_seconds_bucket');
  assert.equal(b.size, BUCKETS.batch.length + 1);
  assert.equal(b.get('{le="0.001"}'), 1);
  assert.equal(b.get('{le="0.005"}'), 3);
  assert.equal(b.get('{le="0.05"}'), 4);
  assert.equal(b.get('{le="2.5"}'), 5);
  assert.equal(b.get('{le="+Inf"}'), 5);
  let prev = 0;
  for (const v of b.values()) {
    assert.ok(v >= prev, 'cumulative buckets never decrease');
    prev = v;
  }
  assert.equal(samples(text, 'smartgrid_batch_seconds_count').get(''), 5);
  assert.ok(Math.abs(samples(text, 'smartgrid_batch_seconds_sum').get('')! - 2.0465) < 1e-9);
  assert.equal(samples(text, 'smartgrid_final_to_commit_seconds_bucket').get('{le="0.25"}'), 1);
  assert.equal(samples(text, 'smartgrid_final_to_commit_seconds_bucket').get('{le="0.1"}'), 0);
});

test('metrics: process metrics, build info, no non-finite watermark samples', async () => {
  const m = new EngineMetrics();
  registerEngineMetrics(m, view());
  const text = await scrape(m);
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'process_start_time_seconds']) {
    assert.ok(samples(text, name).size > 0, name);
  }
  assert.match(text, /# TYPE nodejs_gc_duration_seconds histogram/);
  const info = [...samples(text, 'smartgrid_build_info')];
  assert.equal(info.length, 1);
  assert.match(info[0][0], new RegExp(`nodejs="${process.versions.node}"`));
  assert.match(info[0][0], /version="\d+\.\d+\.\d+"/);
  assert.match(info[0][0], /kafka_client="wire"/, 'the read path in use, not a constant');
  assert.equal(info[0][1], 1);
  const wm = samples(text, 'smartgrid_watermark_delay_seconds');
  assert.deepEqual([...wm.keys()], ['{topic="s"}', '{topic="w"}'], 'a topic without a watermark has no sample');
  assert.ok(Math.abs(wm.get('{topic="s"}')! - 60) < 5);
  assert.ok(wm.get('{topic="w"}')! < -3500, 'a watermark in the future shows as a negative delay');
  assert.equal(samples(text, 'smartgrid_healthy').get(''), 0);
  assert.equal(samples(text, 'smartgrid_ready').get(''), 1);
  assert.equal(samples(text, 'smartgrid_consumer_lag').get('{topic="s",partition="0"}'), 7);
  assert.doesNotMatch(text, /\b(NaN|Inf)\b(?<!le="\+Inf)/);
});

test('worker utilisation: busy time over threads × wall time, over the last ~10 s', () => {
  const m = new EngineMetrics();
  let t = 0;
  assert.equal(m.workerUtilization(2, t), 0);
  // 2 threads, 1 s: 1.5 s of worker time is 75 %.
  m.decodeNs += 1.0e9;
  m.aggregateNs += 0.5e9;
  t += 1000;
  assert.equal(m.workerUtilization(2, t), 0.75);
  // Idle for 20 s: the average covers the last ~10 s only and falls to 0.
  for (let i = 0; i < 20; i++) {
    t += 1000;
    m.workerUtilization(2, t);
  }
  assert.equal(m.workerUtilization(2, t), 0);
  // Busy again: 4 s of work on 2 threads within 2 s of the window's 10 s.
  m.decodeNs += 4e9;
  t += 1000;
  const u = m.workerUtilization(2, t);
  assert.ok(u > 0.18 && u < 0.21, String(u));
  // Never above 1, whatever the clocks say.
  m.decodeNs += 100e9;
  assert.equal(m.workerUtilization(2, t + 1000), 1);
});
