/**
 * There is no Docker engine here, so docker-compose.yml and the Dockerfile are checked
 * against the code instead: services, pinned images, ports, healthchecks, and that every
 * environment variable a service sets is one its entry point reads (ENGINE_ENV_VARS,
 * WEATHER_PRODUCER_ENV_VARS, LOADGEN_ENV_VARS) with a value that entry point accepts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { ENGINE_ENV_VARS, loadConfig } from '../src/main/config.js';
import { WEATHER_PRODUCER_ENV_VARS, weatherProducerConfig } from '../src/producer/config.js';
import { LOADGEN_ENV_VARS, parseLoadgenArgs } from '../loadgen/config.js';
import { DEFAULT_TOPICS } from '../loadgen/generate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  volumes?: string[];
  secrets?: string[];
}
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
};
const S = compose.services;
const env = (s: Service): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
/** `${VAR:-default}` as compose would expand it with VAR unset. */
const expandText = (v: string): string => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const expand = (e: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, expandText(v)]));
/** Paths under /run/secrets/ as the service's own files on this machine (compose's `secrets: file:`). */
const secretsLocal = (e: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(e).map(([k, v]) => {
      const m = /^\/run\/secrets\/(.+)$/.exec(v);
      return [k, m === null ? v : path.resolve(ROOT, expandText(compose.secrets[m[1]].file))];
    }),
  );
const CORE = ['kafka', 'postgres', 'stream-engine', 'weather-producer'];
const MONITORING = ['prometheus', 'grafana'];
/** The engines: members of one consumer group; the second one under the `scale` profile. */
const ENGINES = ['stream-engine', 'stream-engine-2'];

const SEED_ENGINE_VARS = ['KAFKA_BROKER', 'KAFKA_TOPIC_SENSOR_DATA', 'KAFKA_TOPIC_METER_READINGS', 'KAFKA_TOPIC_WEATHER', 'POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD'];
const SEED_WEATHER_VARS = ['KAFKA_BROKER', 'KAFKA_TOPIC_WEATHER', 'WEATHER_UPDATE_INTERVAL'];

const APPS = {
  'stream-engine': { vars: ENGINE_ENV_VARS, entry: 'dist/src/main/cli.js' },
  'stream-engine-2': { vars: ENGINE_ENV_VARS, entry: 'dist/src/main/cli.js' },
  'weather-producer': { vars: WEATHER_PRODUCER_ENV_VARS as readonly string[], entry: 'dist/src/producer/weather-producer.js' },
  loadgen: { vars: LOADGEN_ENV_VARS as readonly string[], entry: 'dist/loadgen/cli.js' },
};

test('compose: the services, pinned images, one project image built from the Dockerfile', () => {
  assert.deepEqual(Object.keys(S).sort(), ['grafana', 'kafka', 'loadgen', 'postgres', 'prometheus', 'stream-engine', 'stream-engine-2', 'weather-producer']);
  assert.match(S.kafka.image!, /^apache\/kafka:4\.1\.\d+$/);
  assert.match(S.postgres.image!, /^postgres:15\.\d+(-[a-z0-9]+)?$/);
  assert.match(S.prometheus.image!, /^prom\/prometheus:v3\.\d+\.\d+$/);
  assert.match(S.grafana.image!, /^grafana\/grafana:\d+\.\d+\.\d+$/);
  for (const [name, s] of Object.entries(S)) {
    if (s.build !== undefined) continue;
    assert.match(s.image ?? '', /:v?\d+\.\d+(\.\d+)?(-[a-z0-9]+)?$/, `${name}: image pinned to a version (no latest, no bare major)`);
  }
  const images = new Set(Object.keys(APPS).map((n) => S[n].image));
  assert.equal(images.size, 1, 'engine, weather producer and loadgen share the project image');
  for (const n of Object.keys(APPS)) assert.equal(S[n].build, '.', `${n} builds from the Dockerfile`);
  assert.deepEqual(S.loadgen.profiles, ['loadgen']);
  assert.deepEqual(S['stream-engine-2'].profiles, ['scale']);
  for (const n of CORE) assert.equal(S[n].profiles, undefined, `${n} starts by default`);
  for (const n of MONITORING) assert.deepEqual(S[n].profiles, ['monitoring']);
});

test('compose: published ports listen on 127.0.0.1 unless SMARTGRID_BIND_ADDRESS says otherwise', () => {
  let published = 0;
  for (const [name, s] of Object.entries(S)) {
    for (const p of s.ports ?? []) {
      published++;
      assert.match(p, /^\$\{SMARTGRID_BIND_ADDRESS:-127\.0\.0\.1\}:\d+:\d+$/, `${name} publishes ${p}`);
      assert.match(expandText(p), /^127\.0\.0\.1:/);
    }
  }
  assert.ok(published >= 6);
});

test('compose: Kafka keeps its log in a volume, with a fixed cluster id', () => {
  const k = env(S.kafka);
  assert.ok(S.kafka.volumes?.includes(`kafka-data:${k.KAFKA_LOG_DIRS}`), 'the log directory is the kafka-data volume');
  assert.ok('kafka-data' in compose.volumes);
  assert.match(k.CLUSTER_ID, /^[A-Za-z0-9_-]{22}$/, 'a base64 UUID, as kafka-storage format needs');
});

test('compose: passwords come from secret files, never from plain variables', () => {
  for (const [name, s] of Object.entries(S)) {
    for (const [k, v] of Object.entries(env(s))) {
      assert.ok(!/PASSWORD$/.test(k) || k.endsWith('_FILE'), `${name} sets ${k} in plain text`);
      const m = /^\/run\/secrets\/(.+)$/.exec(v);
      if (m !== null) assert.ok(s.secrets?.includes(m[1]), `${name} mounts the secret ${m[1]} it reads`);
    }
  }
  for (const n of ENGINES) assert.equal(env(S.postgres).POSTGRES_PASSWORD_FILE, env(S[n]).POSTGRES_PASSWORD_FILE, `${n} reads the password the database was given`);
  assert.equal(env(S.grafana).GF_SECURITY_ADMIN_PASSWORD__FILE, '/run/secrets/grafana-admin-password');
  for (const [name, secret] of Object.entries(compose.secrets)) {
    assert.match(secret.file, new RegExp(`^\\$\\{[A-Z_]+_FILE:-\\./deploy/secrets/${name}\\}$`), `${name} can be pointed at another file`);
    assert.ok(existsSync(path.resolve(ROOT, expandText(secret.file))), `the development default for ${name} exists`);
  }
  // The engine really reads it (the ENGINE_ENV_VARS check below covers the variable name).
  for (const n of ENGINES) {
    const cfg = loadConfig([], secretsLocal(expand(env(S[n])))).config;
    assert.equal(cfg.postgres.password, readFileSync(path.join(ROOT, 'deploy/secrets/postgres-password'), 'utf8').trim());
  }
});

test('compose: the monitoring profile mounts the operator kit and wires Prometheus to the engine and Grafana to Prometheus', () => {
  const mounts = (s: Service) => (s.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => v.split(':'));
  for (const n of MONITORING) {
    for (const [src] of mounts(S[n])) assert.ok(existsSync(path.join(ROOT, src)) && statSync(path.join(ROOT, src)).isDirectory(), `${n} mounts ${src}`);
  }
  const promConfDir = mounts(S.prometheus).find(([, dst]) => dst === '/etc/prometheus')![0];
  const prom = parse(readFileSync(path.join(ROOT, promConfDir, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { static_configs: { targets: string[] }[]; dns_sd_configs: { names: string[]; type: string; port: number }[] }[];
  };
  assert.deepEqual(prom.scrape_configs[0].static_configs[0].targets, [`stream-engine:${env(S['stream-engine']).METRICS_PORT}`]);
  // The scale profile's engine is scraped while it runs (found by name), in the same job.
  assert.deepEqual(prom.scrape_configs[0].dns_sd_configs, [{ names: ['stream-engine-2'], type: 'A', port: Number(env(S['stream-engine-2']).METRICS_PORT) }]);
  const provisioning = mounts(S.grafana).find(([, dst]) => dst === '/etc/grafana/provisioning')![0];
  const ds = parse(readFileSync(path.join(ROOT, provisioning, 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { url: string }[] };
  assert.equal(ds.datasources[0].url, 'http://prometheus:9090');
  assert.ok(S.prometheus.ports!.some((p) => p.endsWith(':9090:9090')));
  const dashboards = mounts(S.grafana).find(([, dst]) => dst === '/etc/grafana/dashboards')![0];
  assert.ok(existsSync(path.join(ROOT, dashboards, 'smartgrid-stream.json')));
  assert.equal(env(S.grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, '/etc/grafana/dashboards/smartgrid-stream.json');
});

test('compose: each entry point exists and is given only variables it reads, including the seed\'s', () => {
  for (const [name, app] of Object.entries(APPS)) {
    const s = S[name];
    assert.equal(s.command?.[0], 'node');
    assert.equal(s.command?.[1], app.entry);
    assert.ok(existsSync(path.join(ROOT, app.entry)), `${app.entry} is built`);
    for (const k of Object.keys(env(s))) assert.ok(app.vars.includes(k), `${name} sets ${k}, which its entry point does not read`);
  }
  for (const k of SEED_ENGINE_VARS) {
    assert.ok(ENGINE_ENV_VARS.includes(k), `the engine reads ${k}`);
    // The password comes as a file (the *_FILE variant the engine also reads).
    const set = k === 'POSTGRES_PASSWORD' ? `${k}_FILE` : k;
    assert.ok(ENGINE_ENV_VARS.includes(set), `the engine reads ${set}`);
    for (const n of ENGINES) assert.ok(set in env(S[n]), `${n} sets ${set}`);
  }
  for (const k of SEED_WEATHER_VARS) {
    assert.ok(WEATHER_PRODUCER_ENV_VARS.includes(k as never), `the weather producer reads ${k}`);
    assert.ok(k in env(S['weather-producer']), `weather-producer sets ${k}`);
  }
});

test('compose: every value is accepted by the code that reads it', () => {
  const engines = ENGINES.map((n) => loadConfig([], secretsLocal(expand(env(S[n])))).config);
  for (const engine of engines) {
    assert.equal(engine.metricsPort, 9464);
    // In a container, loopback would be unreachable through the published port.
    assert.equal(engine.metricsHost, '0.0.0.0');
    // Members of one consumer group, each with a static member id of its own.
    assert.equal(engine.groupMember, true);
    assert.equal(engine.kafkaClient, 'wire');
    assert.equal(engine.groupId, engines[0].groupId);
    assert.ok(engine.sessionTimeoutMs >= 6000 && engine.sessionTimeoutMs <= 1800000, 'within the broker\'s default session timeout bounds');
  }
  assert.deepEqual(engines.map((e) => e.instanceId), ['engine-1', 'engine-2']);
  for (const n of ENGINES) assert.equal(S[n].volumes, undefined, `${n} keeps its partitions' state in PostgreSQL: no volume to share`);
  const weather = weatherProducerConfig(expand(env(S['weather-producer'])));
  assert.equal(weather.intervalMs, 60_000);
  assert.equal(weather.host, '0.0.0.0');
  assert.deepEqual(weather.generateRateLimit, { perSecond: 10, burst: 20 });
  const lg = parseLoadgenArgs(S.loadgen.command!.slice(2), expand(env(S.loadgen)));
  assert.deepEqual(lg.run.kafka?.brokers, ['kafka:19092']);
});

test('compose: brokers, database, topics and ports agree across services', () => {
  const k = env(S.kafka);
  const internal = /INTERNAL:\/\/([^,]+)/.exec(k.KAFKA_ADVERTISED_LISTENERS)![1];
  assert.match(k.KAFKA_ADVERTISED_LISTENERS, /EXTERNAL:\/\/localhost:9092/);
  assert.ok(S.kafka.ports!.map(expandText).includes('127.0.0.1:9092:9092'));
  assert.equal(k.KAFKA_PROCESS_ROLES, 'broker,controller', 'KRaft');
  for (const name of Object.keys(APPS)) {
    const e = env(S[name]);
    assert.equal(e.KAFKA_BROKER, internal, `${name} reaches Kafka on its advertised internal listener`);
    for (const [v, topic] of [
      ['KAFKA_TOPIC_SENSOR_DATA', DEFAULT_TOPICS.sensor],
      ['KAFKA_TOPIC_METER_READINGS', DEFAULT_TOPICS.meter],
      ['KAFKA_TOPIC_WEATHER', DEFAULT_TOPICS.weather],
    ]) {
      if (v in e) assert.equal(e[v], topic, `${name} ${v}`);
    }
  }
  const pg = env(S.postgres);
  const hostPorts = new Set<string>();
  for (const n of ENGINES) {
    const eng = env(S[n]);
    assert.equal(eng.POSTGRES_HOST, 'postgres');
    assert.equal(eng.POSTGRES_PORT, '5432');
    assert.equal(eng.POSTGRES_DB, pg.POSTGRES_DB);
    assert.equal(eng.POSTGRES_USER, pg.POSTGRES_USER);
    assert.equal(eng.POSTGRES_PASSWORD_FILE, pg.POSTGRES_PASSWORD_FILE);
    // Published ports and healthcheck URLs use the ports the services listen on; the
    // engine's healthcheck is its readiness probe. Each engine has a host port of its own.
    const published = S[n].ports!.map(expandText);
    assert.equal(published.length, 1);
    assert.match(published[0], new RegExp(`^127\\.0\\.0\\.1:\\d+:${eng.METRICS_PORT}$`), `${n} publishes its metrics port`);
    hostPorts.add(published[0].split(':')[1]);
    assert.match(S[n].healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${eng.METRICS_PORT}/readyz`));
  }
  assert.deepEqual([...hostPorts], ['9464', '9465'], 'the engines publish 9464 and 9465');
  const w = env(S['weather-producer']);
  assert.equal(w.WEATHER_PRODUCER_PORT, '5006');
  assert.ok(S['weather-producer'].ports!.map(expandText).includes('127.0.0.1:5006:5006'));
  assert.match(S['weather-producer'].healthcheck!.test.join(' '), /127\.0\.0\.1:5006\/health/);
});

test('compose: dependencies wait for healthy services that have healthchecks', () => {
  const need: Record<string, string[]> = { 'stream-engine': ['kafka', 'postgres'], 'stream-engine-2': ['kafka', 'postgres'], 'weather-producer': ['kafka'], loadgen: ['kafka'] };
  for (const [name, deps] of Object.entries(need)) {
    for (const d of deps) assert.equal(S[name].depends_on?.[d]?.condition, 'service_healthy', `${name} waits for ${d}`);
  }
  for (const s of Object.values(S)) {
    for (const d of Object.keys(s.depends_on ?? {})) assert.ok(S[d].healthcheck, `${d} has a healthcheck`);
  }
  for (const n of [...CORE, ...ENGINES, ...MONITORING]) assert.ok(S[n].healthcheck?.test.length, `${n} healthcheck`);
});

test('Dockerfile: multi-stage, Node.js 24 LTS pinned to the release npm scripts run on, non-root, builds what compose runs', () => {
  const df = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const froms = [...df.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  assert.ok(froms.length >= 2, 'multi-stage');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };
  const bundled = pkg.devDependencies.node;
  assert.match(bundled, /^24\.\d+\.\d+$/, 'npm scripts run on a pinned Node.js 24 LTS (the node package)');
  for (const f of froms) assert.equal(f[1], `node:${bundled}-bookworm-slim`, 'the image runs the release the npm scripts run on');
  assert.equal(new Set(froms.map((f) => f[1])).size, 1, 'build and runtime on the same Node.js');
  assert.equal(pkg.engines.node, '>=22', 'supported LTS lines only');
  // npm test runs on the bundled Node.js, whatever the machine's is.
  if (process.env.npm_lifecycle_event !== undefined) assert.equal(process.versions.node, bundled);
  const runtime = df.slice(df.lastIndexOf('\nFROM'));
  assert.match(runtime, /^USER\s+(node|\d{4,})\s*$/m);
  assert.doesNotMatch(runtime, /npm (ci|install)(?!.*--omit=dev)/, 'no dev dependencies in the runtime stage');
  assert.match(runtime, /COPY sql \.\/sql/, 'the engine reads sql/ relative to dist/');
  assert.match(df, /COPY loadgen \.\/loadgen/);
  assert.match(runtime, /CMD \["node", "dist\/src\/main\/cli\.js"\]/);
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', 'dist', '.local', '.git', 'deploy']) assert.ok(ignore.includes(p), `.dockerignore ${p} (deploy holds secret files)`);
});
