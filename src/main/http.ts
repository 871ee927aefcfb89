/**
 * GET /metrics (Prometheus text format) and GET /health on one small HTTP server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KIND_NAMES } from '../workers/protocol.js';
import type { Engine } from './engine.js';
import type { EngineMetrics, Latency } from './metrics.js';

export interface HealthOptions {
  /** The sink may fail for this long before /health turns unhealthy. */
  sinkFailureMs: number;
  /** Address to listen on (default 127.0.0.1: loopback only). */
  host?: string;
}

export interface Health {
  status: 'ok' | 'unhealthy';
  reasons: string[];
  uptimeSeconds: number;
  assignedPartitions: number;
  sinkFailingSeconds: number;
  lastCheckpointAgeSeconds: number | null;
}

export function health(engine: Engine, m: EngineMetrics, opts: HealthOptions, now = Date.now()): Health {
  const reasons: string[] = [];
  const failing = m.sinkFailingSince === null ? 0 : now - m.sinkFailingSince;
  if (failing > opts.sinkFailureMs) reasons.push(`PostgreSQL writes have failed for ${Math.round(failing / 1000)} s`);
  const st = engine.status();
  if (st.fatal !== null) reasons.push(`engine failed: ${st.fatal}`);
  if (st.started && st.assigned === 0 && now - st.lastAssignmentChange > 30000) reasons.push('the consumer has no partitions assigned');
  return {
    status: reasons.length === 0 ? 'ok' : 'unhealthy',
    reasons,
    uptimeSeconds: Math.round((now - m.startedAt) / 1000),
    assignedPartitions: st.assigned,
    sinkFailingSeconds: Math.round(failing / 1000),
    lastCheckpointAgeSeconds: m.lastCheckpointAt === null ? null : Math.round((now - m.lastCheckpointAt) / 1000),
  };
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderMetrics(engine: Engine, m: EngineMetrics, opts: HealthOptions, now = Date.now()): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [Record<string, string | number>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(String(x))}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN'}`);
    }
  };
  const summary = (name: string, help: string, h: Latency): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} summary`);
    for (const q of [0.5, 0.9, 0.99, 0.999]) out.push(`${name}{quantile="${q}"} ${h.percentileMs(q * 100) / 1000}`);
    out.push(`${name}_sum ${h.sumUs / 1e6}`, `${name}_count ${h.count}`);
  };
  const st = engine.status();
  const topics = st.topics;
  metric('smartgrid_records_in_total', 'counter', 'Input records by topic and outcome.',
    KIND_NAMES.flatMap((_, k) => (['aggregated', 'late', 'bad'] as const).map((o): [Record<string, string>, number] => [{ topic: topics[k], outcome: o }, m.recordsIn[k][o]])));
  metric('smartgrid_dead_letters_total', 'counter', 'Records sent to the dead-letter table, by reason.',
    [...m.deadLettersByReason].map(([reason, v]) => [{ reason }, v]));
  metric('smartgrid_rows_written_total', 'counter', 'Aggregate rows written, by table.',
    [['sensor_aggregates_realtime', 0], ['consumption_aggregates_realtime', 1], ['weather_aggregates_realtime', 2]].map(([t, k]) => [{ table: t as string }, m.rowsWritten[k as number]]));
  metric('smartgrid_dead_letters_written_total', 'counter', 'Dead letters written (conflicting replays included).', [[{}, m.deadLettersWritten]]);
  metric('smartgrid_events_per_second', 'gauge', 'Input records per second over the last progress interval.', [[{}, st.recentRate]]);
  metric('smartgrid_watermark_seconds', 'gauge', 'Event-time watermark per topic (Unix seconds).', st.watermarks.map((w, k) => [{ topic: topics[k] }, w / 1000]));
  metric('smartgrid_watermark_delay_seconds', 'gauge', 'Wall-clock time minus the watermark, per topic.', st.watermarks.map((w, k) => [{ topic: topics[k] }, (now - w) / 1000]));
  metric('smartgrid_consumer_lag', 'gauge', 'Records left to fetch per partition (log end minus next offset).',
    st.partitions.map((p) => [{ topic: p.topic, partition: p.partition }, p.lag]));
  metric('smartgrid_open_windows', 'gauge', 'Open windows per topic.', st.openWindows.map((n, k) => [{ topic: topics[k] }, n]));
  metric('smartgrid_open_states', 'gauge', 'Open (window, group) states per topic.', st.openStates.map((n, k) => [{ topic: topics[k] }, n]));
  metric('smartgrid_pending_rows', 'gauge', 'Final rows waiting for PostgreSQL.', [[{}, st.pendingRows]]);
  metric('smartgrid_sink_flushes_total', 'counter', 'Successful sink transactions.', [[{}, m.flushes]]);
  metric('smartgrid_sink_failures_total', 'counter', 'Failed sink transactions (each is retried).', [[{}, m.sinkFailures]]);
  metric('smartgrid_sink_failing', 'gauge', '1 while PostgreSQL writes are failing and being retried.', [[{}, m.sinkFailingSince === null ? 0 : 1]]);
  metric('smartgrid_checkpoints_total', 'counter', 'Checkpoints written.', [[{}, m.checkpoints]]);
  metric('smartgrid_checkpoint_age_seconds', 'gauge', 'Seconds since the last checkpoint.', [[{}, m.lastCheckpointAt === null ? -1 : (now - m.lastCheckpointAt) / 1000]]);
  metric('smartgrid_checkpoint_duration_seconds', 'gauge', 'Duration of the last checkpoint.', [[{}, m.lastCheckpointMs / 1000]]);
  metric('smartgrid_batches_total', 'counter', 'Partition batches processed.', [[{}, m.batches]]);
  metric('smartgrid_worker_threads', 'gauge', 'Worker threads in the pool.', [[{}, st.workerThreads]]);
  metric('smartgrid_worker_utilization', 'gauge', 'Share of time the pool was busy (piscina).', [[{}, st.workerUtilization]]);
  metric('smartgrid_worker_decode_seconds_total', 'counter', 'Time workers spent decoding JSON into columns.', [[{}, m.decodeNs / 1e9]]);
  metric('smartgrid_worker_aggregate_seconds_total', 'counter', 'Time workers spent aggregating columns.', [[{}, m.aggregateNs / 1e9]]);
  summary('smartgrid_batch_seconds', 'Processing time of one partition batch.', m.batchLatency);
  summary('smartgrid_flush_seconds', 'Duration of one sink transaction.', m.flushLatency);
  summary('smartgrid_final_to_commit_seconds', 'From a window becoming final to its row being committed.', m.finalToCommit);
  const mem = process.memoryUsage();
  metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', [[{}, mem.rss]]);
  metric('process_heap_used_bytes', 'gauge', 'V8 heap in use.', [[{}, mem.heapUsed]]);
  const h = health(engine, m, opts, now);
  metric('smartgrid_healthy', 'gauge', '1 when /health reports ok.', [[{}, h.status === 'ok' ? 1 : 0]]);
  return out.join('\n') + '\n';
}

export function startHttpServer(engine: Engine, m: EngineMetrics, port: number, opts: HealthOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end(JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderMetrics(engine, m, opts));
    } else if (url === '/health') {
      const h = health(engine, m, opts);
      res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found', routes: ['/metrics', '/health'] }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function serverPort(s: Server): number {
  return (s.address() as AddressInfo).port;
}
