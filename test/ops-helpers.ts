/**
 * Helpers for the operator-kit tests: promtool and the Prometheus server from Debian's
 * `prometheus` package (skipped with a message when absent), and the metric names that
 * the alert rules and the dashboard use.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY = path.join(ROOT, 'deploy');

/** Why a binary cannot run here, or null when it can. */
export function missing(bin: 'promtool' | 'prometheus'): string | null {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return null;
  return `${bin} is not installed (Debian: apt-get install prometheus; .ci/run installs it); skipped`;
}

export function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: ROOT, input: '' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
export function alertRules(): Rule[] {
  const doc = parse(readFileSync(path.join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string }[];
  panels?: Panel[];
}
export function dashboards(): { file: string; panels: Panel[]; uid: string }[] {
  const dir = path.join(DEPLOY, 'grafana', 'dashboards');
  return ['smartgrid-stream.json'].map((f) => {
    const d = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { uid: string; panels: Panel[] };
    return { file: f, uid: d.uid, panels: d.panels.flatMap((p) => [p, ...(p.panels ?? [])]) };
  });
}

/** Every PromQL expression the rules and dashboards evaluate. */
export function kitExpressions(): { where: string; expr: string }[] {
  const out = alertRules().map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: r.expr }));
  for (const d of dashboards()) {
    for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `${d.file}: ${p.title}`, expr: t.expr });
  }
  return out;
}

const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless',
  'rate', 'irate', 'increase', 'deriv', 'changes', 'delta', 'histogram_quantile', 'time', 'offset', 'bool', 'le', 'topk', 'bottomk',
  'abs', 'clamp_min', 'clamp_max', 'max_over_time', 'min_over_time', 'avg_over_time', 'absent', 'vector', 'scalar', 'label_replace',
]);

/**
 * Metric names in a PromQL expression: identifiers that are not functions, keywords,
 * label names (inside braces or by/on lists) or durations.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping labels
    .replace(/\[[^\]]*\]/g, ' ') // range durations
    .replace(/"[^"]*"/g, ' '); // strings
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index! + word.length).trimStart();
    if (PROMQL_WORDS.has(word) || after.startsWith('(')) continue;
    names.add(word);
  }
  return [...names];
}

/**
 * Names on a /metrics page: sample names, and the series names of every declared family
 * (a labelled histogram such as nodejs_gc_duration_seconds has no samples before its first
 * observation, but is exported).
 */
export function exportedNames(page: string): Set<string> {
  const names = new Set<string>();
  for (const line of page.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m !== null) names.add(m[1]);
    const t = /^# TYPE (\S+) (\w+)/.exec(line);
    if (t !== null) {
      names.add(t[1]);
      if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(t[1] + s);
      if (t[2] === 'summary') for (const s of ['_sum', '_count']) names.add(t[1] + s);
    }
  }
  return names;
}

/** Names Prometheus makes itself, not the engine. */
export const SCRAPE_GENERATED = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
