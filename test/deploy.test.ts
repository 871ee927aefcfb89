/**
 * The operator kit under deploy/ (issue #13 item 4): alert rules valid and unit-tested
 * with synthetic series for every alert, the Prometheus config valid, the dashboard
 * well-formed and wired to the provisioned data source. That the rules and the dashboard
 * name only metrics the engine exports is checked against a live scrape in
 * test/integration/operations.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { alertRules, dashboards, DEPLOY, metricNames, missing, promtool } from './ops-helpers.js';

test('promtool check rules and promtool test rules: every alert fires on its synthetic series, and only then', (t) => {
  const why = missing('promtool');
  if (why !== null) return t.skip(why);
  const check = promtool('check', 'rules', path.join(DEPLOY, 'prometheus', 'alerts.yml'));
  assert.equal(check.status, 0, check.output);
  const run = promtool('test', 'rules', path.join(DEPLOY, 'prometheus', 'alerts.test.yml'));
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /SUCCESS/);
  const config = promtool('check', 'config', path.join(DEPLOY, 'prometheus', 'prometheus.yml'));
  assert.equal(config.status, 0, config.output);
});

test('alert tests: each alert has a case where it fires and a time where it must not', () => {
  const tests = parse(readFileSync(path.join(DEPLOY, 'prometheus', 'alerts.test.yml'), 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const cases = tests.tests.flatMap((c) => c.alert_rule_test);
  const alerts = alertRules().map((r) => r.alert!);
  assert.deepEqual(alerts.sort(), [
    'SmartgridCheckpointStale', 'SmartgridConsumerLagGrowing', 'SmartgridDeadLetterRatioHigh', 'SmartgridEngineDown',
    'SmartgridNotReady', 'SmartgridSinkFailing', 'SmartgridWatermarkInFuture', 'SmartgridWatermarkStalled',
  ]);
  for (const a of alerts) {
    assert.ok(cases.some((c) => c.alertname === a && c.exp_alerts.length > 0), `${a} has a case where it fires`);
    assert.ok(cases.some((c) => c.alertname === a && c.exp_alerts.length === 0), `${a} has a case where it must not fire`);
  }
  for (const r of alertRules()) {
    const labels = (r as unknown as { labels?: Record<string, string> }).labels;
    assert.ok(['critical', 'warning'].includes(labels?.severity ?? ''), `${r.alert} has a severity`);
  }
});

test('dashboard: panels query the provisioned Prometheus data source, with the panels operators need', () => {
  const ds = parse(readFileSync(path.join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
    datasources: { uid: string; url: string }[];
  };
  const uid = ds.datasources[0].uid;
  assert.equal(ds.datasources[0].url, 'http://prometheus:9090', 'the compose service name');
  const prov = parse(readFileSync(path.join(DEPLOY, 'grafana', 'provisioning', 'dashboards', 'smartgrid.yml'), 'utf8')) as {
    providers: { options: { path: string } }[];
  };
  assert.equal(prov.providers[0].options.path, '/etc/grafana/dashboards');
  for (const d of dashboards()) {
    const queries = d.panels.filter((p) => p.type !== 'row');
    assert.ok(queries.length >= 10, d.file);
    for (const p of queries) {
      assert.equal(p.datasource?.uid, uid, `${p.title} uses the provisioned data source`);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
    }
    const used = new Set(queries.flatMap((p) => (p.targets ?? []).flatMap((q) => metricNames(q.expr))));
    for (const m of [
      'smartgrid_records_in_total', 'smartgrid_consumer_lag', 'smartgrid_watermark_delay_seconds', 'smartgrid_final_to_commit_seconds_bucket',
      'smartgrid_batch_seconds_bucket', 'smartgrid_flush_seconds_bucket', 'smartgrid_dead_letters_total', 'smartgrid_checkpoint_age_seconds',
      'process_resident_memory_bytes', 'process_cpu_seconds_total',
    ]) {
      assert.ok(used.has(m), `the dashboard shows ${m}`);
    }
  }
});

test('metric names are found in PromQL (the parser the live check relies on)', () => {
  assert.deepEqual(metricNames('sum by (job, topic) (rate(smartgrid_records_in_total{outcome="late"}[5m])) / on (job) up'), ['smartgrid_records_in_total', 'up']);
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 0 and changes(b[10m]) == 0'), ['a_bucket', 'b']);
});
