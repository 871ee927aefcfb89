#!/usr/bin/env node
// Local backing services for development and CI, without Docker:
//   - a real single-node Apache Kafka broker (KRaft mode), run from the broker jars that
//     Maven copies out of Maven Central (kafka/pom.xml) into .local/kafka/libs/;
//   - PostgreSQL, which is normally already running; started with pg_ctlcluster if not.
//
// The broker has two client listeners: PLAINTEXT on --kafka-port (9092), which the
// project uses, and SASL_SSL on --sasl-ssl-port (9094) for the wire client's TLS/SASL
// tests: a self-signed CA and broker certificate made with the JDK's keytool, SASL
// PLAIN (users in the listener's JAAS config) and SCRAM-SHA-256/512 (credentials added
// when the storage is formatted, or with kafka-configs against a data dir formatted
// without them). The CA path and the test user's credentials are written to
// .local/kafka/security.json (see `status`).
//
// Usage:
//   node scripts/services.mjs up     [--fresh] [--timeout SECONDS] [--kafka-port N]
//                                    [--controller-port N] [--sasl-ssl-port N] [--no-postgres]
//   node scripts/services.mjs down   [--kafka-port N]
//   node scripts/services.mjs status [--kafka-port N]
//
// Environment: JAVA_HOME (java to use, else `java` from PATH), KAFKA_HEAP_OPTS and
// KAFKA_JVM_OPTS (override the JVM flags), KAFKA_PORT / KAFKA_SASL_SSL_PORT (the
// listener ports), POSTGRES_HOST / POSTGRES_PORT (an existing
// PostgreSQL server to check instead of the local one).
//
// Plain ESM, Node.js built-ins only.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const POM = path.join(ROOT, 'kafka', 'pom.xml');
const LOG4J_CONFIG = path.join(ROOT, 'kafka', 'log4j2.properties');
const LOCAL = path.join(ROOT, '.local');
const KAFKA_HOME = path.join(LOCAL, 'kafka');
const LIBS = path.join(KAFKA_HOME, 'libs');
const LIBS_STAMP = path.join(KAFKA_HOME, 'libs.stamp');
const DATA = path.join(KAFKA_HOME, 'data');
const PID_FILE = path.join(KAFKA_HOME, 'broker.pid');
const LOG_FILE = path.join(KAFKA_HOME, 'broker.log');
const SERVER_PROPS = path.join(KAFKA_HOME, 'server.properties');
const CLUSTER_ID_FILE = path.join(KAFKA_HOME, 'cluster-id');
const STATE_FILE = path.join(LOCAL, 'services.json');
// TLS material and secrets of the SASL_SSL listener (keystores, their password), and what
// clients need to use it (CA certificate, test user), kept with the broker they belong to.
const SECURITY_DIR = path.join(KAFKA_HOME, 'security');
const SECURITY_SECRETS = path.join(SECURITY_DIR, 'secrets.json');
const SCRAM_STAMP = path.join(SECURITY_DIR, 'scram.stamp');
const SECURITY_FILE = path.join(KAFKA_HOME, 'security.json');
const SASL_PASSWORD_FILE = path.join(KAFKA_HOME, 'security', 'sasl-password');
const CA_PEM = path.join(SECURITY_DIR, 'ca.pem');
const CA_KEYSTORE = path.join(SECURITY_DIR, 'ca.p12');
const BROKER_KEYSTORE = path.join(SECURITY_DIR, 'broker.p12');
const SASL_USER = 'smartgrid';
const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];
const LOCK_FILE = path.join(LOCAL, 'services.lock');

const HOST = '127.0.0.1';
const READY_LINE = 'Kafka Server started';
const DEFAULT_HEAP_OPTS = '-Xms256m -Xmx512m';
const DEFAULT_JVM_OPTS = '-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true';

// ---------------------------------------------------------------- small helpers

const log = (msg) => console.log(`[services] ${msg}`);
const warn = (msg) => console.error(`[services] WARNING: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Fatal extends Error {}
const fail = (msg) => {
  throw new Fatal(msg);
};

function parseArgs(argv) {
  const opts = {
    command: argv[0],
    fresh: false,
    timeout: 60,
    kafkaPort: Number(process.env.KAFKA_PORT) || 9092,
    controllerPort: undefined,
    saslSslPort: Number(process.env.KAFKA_SASL_SSL_PORT) || undefined,
    postgres: true,
  };
  for (let i = 1; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const num = (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) fail(`${flag}: not a positive number: ${v}`);
      return n;
    };
    switch (flag) {
      case '--fresh': opts.fresh = true; break;
      case '--timeout': opts.timeout = num(value()); break;
      case '--kafka-port': opts.kafkaPort = num(value()); break;
      case '--controller-port': opts.controllerPort = num(value()); break;
      case '--sasl-ssl-port': opts.saslSslPort = num(value()); break;
      case '--no-postgres': opts.postgres = false; break;
      case '-h': case '--help': opts.command = 'help'; break;
      default: fail(`unknown option: ${argv[i]}`);
    }
  }
  opts.controllerPort ??= opts.kafkaPort + 1;
  opts.saslSslPort ??= opts.kafkaPort + 2;
  if (new Set([opts.kafkaPort, opts.controllerPort, opts.saslSslPort]).size !== 3) {
    fail(`the Kafka, controller and SASL_SSL ports must differ (${opts.kafkaPort}, ${opts.controllerPort}, ${opts.saslSslPort})`);
  }
  return opts;
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readState() {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
  } catch {
    return {};
  }
}

function writeState(patch) {
  const state = { ...readState(), ...patch };
  fs.mkdirSync(LOCAL, { recursive: true });
  fs.writeFileSync(STATE_FILE, JSON.stringify(state, null, 2) + '\n');
  return state;
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function tail(file, lines) {
  const text = readText(file);
  if (text === undefined) return `(no ${file})`;
  return text.split('\n').slice(-lines - 1).join('\n');
}

function dirSize(dir) {
  let total = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirSize(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------- processes

function isAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) still answers signal 0.
  const stat = readText(`/proc/${pid}/stat`);
  if (stat && /^\d+ \(.*\) Z /s.test(stat)) return false;
  return true;
}

/** argv of a process (approximate, split on blanks, where /proc is missing). */
function argvOf(pid) {
  const raw = readText(`/proc/${pid}/cmdline`);
  if (raw !== undefined) return raw.split('\0');
  const r = spawnSync('ps', ['-p', String(pid), '-o', 'args='], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(/\s+/) : [];
}

/** Is `pid` a broker that this script started from this work tree? */
function isOurBroker(pid) {
  if (!isAlive(pid)) return false;
  const argv = argvOf(pid);
  return argv.includes('kafka.Kafka') && argv.includes(SERVER_PROPS);
}

function readPid() {
  const n = Number.parseInt(readText(PID_FILE) ?? '', 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Brokers of this work tree still running, whether or not the pid file knows them. */
function findOurBrokers() {
  const pids = new Set();
  const fromFile = readPid();
  if (fromFile && isOurBroker(fromFile)) pids.add(fromFile);
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    const r = spawnSync('ps', ['-ax', '-o', 'pid=,args='], { encoding: 'utf8' });
    for (const line of (r.stdout || '').split('\n')) {
      const m = line.trim().match(/^(\d+)\s+(.*)$/);
      const argv = m ? m[2].split(/\s+/) : [];
      if (argv.includes('kafka.Kafka') && argv.includes(SERVER_PROPS)) pids.add(Number(m[1]));
    }
    return [...pids];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== process.pid && isOurBroker(pid)) pids.add(pid);
  }
  return [...pids];
}

async function stopProcess(pid, graceMs) {
  if (!isAlive(pid)) return true;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return !isAlive(pid);
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(200);
  }
  warn(`pid ${pid} still running after ${secs(graceMs)}; sending SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return !isAlive(pid);
}

/**
 * Runs fn while holding .local/services.lock, so that two `up`/`down` started at the same
 * time from this work tree (parallel test runs, two terminals) do not both start a broker.
 */
async function withLock(timeoutMs, fn) {
  fs.mkdirSync(LOCAL, { recursive: true });
  const t0 = Date.now();
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(LOCK_FILE, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const holder = Number.parseInt(readText(LOCK_FILE) ?? '', 10);
    let age = 0;
    try {
      age = Date.now() - fs.statSync(LOCK_FILE).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if (holder ? !isAlive(holder) : age > 5000) {
      fs.rmSync(LOCK_FILE, { force: true }); // left by a process that died
      continue;
    }
    if (Date.now() - t0 > timeoutMs) fail(`another services.mjs (pid ${holder}) still holds ${LOCK_FILE}`);
    if (!told) {
      log(`waiting for another services.mjs (pid ${holder || '?'}) to finish ...`);
      told = true;
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    if (readText(LOCK_FILE)?.trim() === String(process.pid)) fs.rmSync(LOCK_FILE, { force: true });
  }
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  return r;
}

// ---------------------------------------------------------------- network probes

function tcpConnects(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Sends one Kafka request (request header v1: int16 api_key | int16 api_version |
 * int32 correlation_id | int16-length client_id) and resolves with the response body
 * (after the int32 size and int32 correlation_id), or { error } on failure.
 */
function kafkaRequest(host, port, apiKey, apiVersion, body, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const clientId = Buffer.from('services.mjs');
    const correlationId = (Date.now() ^ (Math.random() * 0x7fffffff)) & 0x7fffffff;
    const header = Buffer.alloc(4 + 2 + 2 + 4 + 2);
    header.writeInt32BE(header.length - 4 + clientId.length + body.length, 0);
    header.writeInt16BE(apiKey, 4);
    header.writeInt16BE(apiVersion, 6);
    header.writeInt32BE(correlationId, 8);
    header.writeInt16BE(clientId.length, 12);
    const req = Buffer.concat([header, clientId, body]);

    let buf = Buffer.alloc(0);
    let settled = false;
    const socket = net.connect({ host, port });
    const done = (result) => {
      if (settled) return;
      settled = true;
      socket.removeAllListeners();
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ error: 'timeout' }));
    socket.once('error', (e) => done({ error: e.code || e.message }));
    socket.once('close', () => done({ error: 'connection closed' }));
    socket.once('connect', () => socket.write(req));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const size = buf.readInt32BE(0);
      if (size < 4 || size > 1 << 20) return done({ error: `not a Kafka response (size ${size})` });
      if (buf.length < 4 + size) return;
      if (buf.readInt32BE(4) !== correlationId) return done({ error: 'correlation id mismatch' });
      done({ body: buf.subarray(8, 4 + size) });
    });
  });
}

/**
 * Kafka ApiVersions v0 (api key 18, empty request body). Response body:
 * int16 error_code | int32 count | count x (int16 api_key, int16 min, int16 max).
 * Resolves { ok: true, errorCode, apiCount } when the peer answers like a Kafka broker,
 * { ok: false, reason } otherwise.
 */
async function kafkaApiVersions(host, port, timeoutMs = 2000) {
  const r = await kafkaRequest(host, port, 18, 0, Buffer.alloc(0), timeoutMs);
  if (r.error) return { ok: false, reason: r.error };
  if (r.body.length < 6) return { ok: false, reason: 'short ApiVersions response' };
  return { ok: true, errorCode: r.body.readInt16BE(0), apiCount: r.body.readInt32BE(2) };
}

/**
 * Kafka FindCoordinator v0 (api key 10, body: int16-length group id). Response body starts
 * with int16 error_code. The first lookup makes the broker create __consumer_offsets, which
 * answers COORDINATOR_NOT_AVAILABLE (15) until that topic has a leader.
 */
async function kafkaFindCoordinator(host, port, group) {
  const g = Buffer.from(group);
  const body = Buffer.alloc(2 + g.length);
  body.writeInt16BE(g.length, 0);
  g.copy(body, 2);
  const r = await kafkaRequest(host, port, 10, 0, body);
  if (r.error) return { ok: false, reason: r.error };
  const errorCode = r.body.readInt16BE(0);
  return { ok: errorCode === 0, reason: `error code ${errorCode}` };
}

/**
 * Best effort: create the group-coordinator topic now, so that the first consumer group of
 * a test joins at once instead of logging "The group coordinator is not available" and retrying.
 */
async function warmUpGroupCoordinator(port) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < 15000) {
    last = await kafkaFindCoordinator(HOST, port, 'services-mjs-warmup');
    if (last.ok) return;
    await sleep(200);
  }
  warn(`group coordinator not available yet (${last?.reason}); clients will retry`);
}

// ---------------------------------------------------------------- prerequisites

function javaBin() {
  const home = process.env.JAVA_HOME;
  if (home) {
    const p = path.join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java');
    if (fs.existsSync(p)) return p;
    warn(`JAVA_HOME=${home} has no bin/java; trying java from PATH`);
  }
  return 'java';
}

function checkJava() {
  const java = javaBin();
  const r = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (r.error) {
    fail(`Java not found (${java}): Kafka 4.x needs Java 17 or newer. ` +
      'Install it (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME.');
  }
  const text = `${r.stderr}${r.stdout}`;
  const m = text.match(/version "(\d+)(?:\.(\d+))?/);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : NaN;
  if (!(major >= 17)) {
    fail(`Java 17 or newer is required for Kafka 4.x, found: ${text.split('\n')[0] || 'unknown'} (${java}). ` +
      'Set JAVA_HOME to a JDK 17+.');
  }
  return java;
}

function pomHash() {
  const h = createHash('sha256');
  h.update(fs.readFileSync(POM));
  return h.digest('hex');
}

function hasJars(dir) {
  try {
    return fs.readdirSync(dir).some((f) => /^kafka_2\.\d+-.*\.jar$/.test(f));
  } catch {
    return false;
  }
}

/** Makes sure .local/kafka/libs holds the broker classpath for the current kafka/pom.xml. */
function ensureJars() {
  const hash = pomHash();
  if (hasJars(LIBS) && readText(LIBS_STAMP)?.trim() === hash) return false;

  const mvn = which('mvn');
  if (!mvn) {
    fail('Maven (`mvn`) not found: it is needed once to fetch the Kafka broker jars from Maven Central. ' +
      'Install it (e.g. `apt-get install maven`).');
  }
  log(`fetching Kafka broker jars with Maven (kafka/pom.xml) into ${path.relative(ROOT, LIBS)}/ ...`);
  const t0 = Date.now();
  const tmp = `${LIBS}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(KAFKA_HOME, { recursive: true });
  const r = spawnSync(mvn, ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies',
    `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // Maven 3.8 prints stray ANSI resets even in batch mode; show only real text.
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(new RegExp(String.fromCharCode(27) + '\\[[0-9;]*m', 'g'), '').trim();
  if (output) console.error(output);
  if (r.error || r.status !== 0 || !hasJars(tmp)) {
    fs.rmSync(tmp, { recursive: true, force: true });
    fail(`Maven could not fetch the Kafka jars (exit ${r.status ?? r.error?.message}); see its output above.`);
  }
  fs.rmSync(LIBS, { recursive: true, force: true });
  fs.renameSync(tmp, LIBS);
  fs.writeFileSync(LIBS_STAMP, `${hash}\n`);
  log(`jars ready: ${fs.readdirSync(LIBS).length} files, ${mib(dirSize(LIBS))}, in ${secs(Date.now() - t0)}`);
  return true;
}

function kafkaVersion() {
  try {
    const jar = fs.readdirSync(LIBS).find((f) => /^kafka_2\.\d+-.*\.jar$/.test(f));
    return jar ? jar.replace(/^kafka_2\.\d+-(.*)\.jar$/, '$1') : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- kafka

function serverProperties({ kafkaPort, controllerPort, saslSslPort }, secrets) {
  const esc = (s) => s.replace(/\\/g, '\\\\');
  return `# Written by scripts/services.mjs on every start; edits here are overwritten.
# Single-node Kafka in KRaft mode (broker and controller in one process).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${controllerPort}
listeners=PLAINTEXT://${HOST}:${kafkaPort},CONTROLLER://${HOST}:${controllerPort},SASL_SSL://${HOST}:${saslSslPort}
advertised.listeners=PLAINTEXT://${HOST}:${kafkaPort},SASL_SSL://${HOST}:${saslSslPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=${esc(DATA)}

# SASL_SSL listener (for the wire client's TLS/SASL tests; the project uses PLAINTEXT).
# TLS with the broker certificate that security/ca.pem signed; no client certificates.
# PLAIN users are the JAAS user_NAME entries; SCRAM credentials live in the metadata log
# (added at format time or with kafka-configs). No authorizer: every user may do anything.
sasl.enabled.mechanisms=${SASL_MECHANISMS.join(',')}
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=${esc(BROKER_KEYSTORE)}
listener.name.sasl_ssl.ssl.keystore.password=${secrets.storePassword}
listener.name.sasl_ssl.ssl.key.password=${secrets.storePassword}
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER}="${secrets.password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# Topics
num.partitions=1
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1

# Internal topics: one replica, one partition (defaults are 3 replicas / 50 partitions).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Fast consumer-group joins (default waits 3 s for each new group).
group.initial.rebalance.delay.ms=0
# Engines started with --group-member --session-timeout 2s (tests) fail over quickly; the
# broker's default floor is 6 s. Production brokers keep theirs (README "Running several
# instances").
group.min.session.timeout.ms=1000

# Small footprint on a 2-core machine.
log.cleaner.dedupe.buffer.size=2097152
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
`;
}

/** The PLAINTEXT port in the server.properties the running broker was started with. */
function configuredPort() {
  const m = readText(SERVER_PROPS)?.match(/^listeners=(?:.*,)?PLAINTEXT:\/\/[^,:]+:(\d+)/m);
  return m ? Number(m[1]) : undefined;
}

/** The SASL_SSL port in that server.properties; undefined for a broker started without it (older services.mjs). */
function configuredSaslSslPort() {
  const m = readText(SERVER_PROPS)?.match(/^listeners=(?:.*,)?SASL_SSL:\/\/[^,:]+:(\d+)/m);
  return m ? Number(m[1]) : undefined;
}

function clusterId() {
  // An already formatted data dir wins: its meta.properties names the cluster.
  const meta = readText(path.join(DATA, 'meta.properties'));
  const fromMeta = meta?.match(/^cluster\.id=(.+)$/m)?.[1]?.trim();
  if (fromMeta) {
    if (readText(CLUSTER_ID_FILE)?.trim() !== fromMeta) fs.writeFileSync(CLUSTER_ID_FILE, `${fromMeta}\n`);
    return fromMeta;
  }
  const stored = readText(CLUSTER_ID_FILE)?.trim();
  if (stored) return stored;
  // Same shape as Kafka's Uuid.randomUuid(): 16 random bytes, URL-safe base64, no padding,
  // not starting with '-' (which would read as a command-line flag).
  let id;
  do id = randomBytes(16).toString('base64url');
  while (id.startsWith('-'));
  fs.writeFileSync(CLUSTER_ID_FILE, `${id}\n`);
  return id;
}

function jvmArgs() {
  const heap = (process.env.KAFKA_HEAP_OPTS || DEFAULT_HEAP_OPTS).split(/\s+/).filter(Boolean);
  const jvm = (process.env.KAFKA_JVM_OPTS || DEFAULT_JVM_OPTS).split(/\s+/).filter(Boolean);
  return [...heap, ...jvm, `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`, '-cp', path.join(LIBS, '*')];
}

function formatStorage(java, secrets) {
  if (fs.existsSync(path.join(DATA, 'meta.properties'))) return; // formatted before
  const id = clusterId();
  fs.mkdirSync(DATA, { recursive: true });
  // The test user's SCRAM credentials go into the bootstrap metadata (KRaft has no ZooKeeper
  // to hold them before the broker runs).
  const scram = ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${SASL_USER},password=${secrets.password}]`]);
  const r = run(java, [...jvmArgs(), 'kafka.tools.StorageTool', 'format', '-t', id, '-c', SERVER_PROPS, '-g', ...scram]);
  if (r.status !== 0) fail(`formatting Kafka storage failed:\n${r.stdout}${r.stderr}`.replaceAll(secrets.password, '***'));
  fs.writeFileSync(SCRAM_STAMP, `${scramStamp(secrets)}\n`, { mode: 0o600 });
  log(`formatted ${path.relative(ROOT, DATA)} (cluster id ${id}, SCRAM credentials for ${SASL_USER})`);
}

// ---------------------------------------------------------------- SASL_SSL listener

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** keytool of the JDK that runs the broker (next to its java), else from PATH. */
function keytoolBin(java) {
  const candidates = [];
  if (path.isAbsolute(java)) candidates.push(path.join(path.dirname(fs.realpathSync(java)), 'keytool'));
  const onPath = which('java');
  if (onPath) candidates.push(path.join(path.dirname(fs.realpathSync(onPath)), 'keytool'));
  const keytool = which('keytool');
  if (keytool) candidates.push(keytool);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) fail('keytool not found (it ships with every JDK, next to java): it makes the SASL_SSL listener\'s test certificates');
  return found;
}

/**
 * A self-signed CA (security/ca.p12, its certificate in security/ca.pem) and the broker's
 * key and certificate signed by it (security/broker.p12, with the CA in its chain), valid
 * for localhost and 127.0.0.1, ten years. Made in a temporary folder, moved in when complete.
 */
function generateCertificates(java, storePassword) {
  const keytool = keytoolBin(java);
  const tmp = `${SECURITY_DIR}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const ca = path.join(tmp, 'ca.p12');
  const broker = path.join(tmp, 'broker.p12');
  const pass = ['-storepass', storePassword, '-keypass', storePassword];
  const steps = [
    ['-genkeypair', '-keystore', ca, '-storetype', 'PKCS12', ...pass, '-alias', 'ca', '-dname', 'CN=smartgrid-stream local test CA',
      '-keyalg', 'RSA', '-keysize', '2048', '-validity', '3650', '-ext', 'bc:c'],
    ['-exportcert', '-keystore', ca, '-storepass', storePassword, '-alias', 'ca', '-rfc', '-file', path.join(tmp, 'ca.pem')],
    ['-genkeypair', '-keystore', broker, '-storetype', 'PKCS12', ...pass, '-alias', 'broker', '-dname', 'CN=localhost',
      '-keyalg', 'RSA', '-keysize', '2048', '-validity', '3650'],
    ['-certreq', '-keystore', broker, '-storepass', storePassword, '-alias', 'broker', '-file', path.join(tmp, 'broker.csr')],
    ['-gencert', '-keystore', ca, '-storepass', storePassword, '-alias', 'ca', '-infile', path.join(tmp, 'broker.csr'),
      '-outfile', path.join(tmp, 'broker.pem'), '-rfc', '-validity', '3650',
      '-ext', 'SAN=dns:localhost,ip:127.0.0.1', '-ext', 'KU=digitalSignature,keyEncipherment', '-ext', 'EKU=serverAuth'],
    ['-importcert', '-keystore', broker, '-storepass', storePassword, '-alias', 'ca', '-file', path.join(tmp, 'ca.pem'), '-noprompt'],
    ['-importcert', '-keystore', broker, '-storepass', storePassword, '-alias', 'broker', '-file', path.join(tmp, 'broker.pem'), '-noprompt'],
  ];
  for (const args of steps) {
    const r = run(keytool, args);
    if (r.status !== 0) {
      fs.rmSync(tmp, { recursive: true, force: true });
      fail(`keytool ${args[0]} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`.replaceAll(storePassword, '***'));
    }
  }
  for (const f of ['ca.p12', 'ca.pem', 'broker.p12']) fs.renameSync(path.join(tmp, f), path.join(SECURITY_DIR, f));
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`made a test CA and broker certificate with keytool in ${path.relative(ROOT, SECURITY_DIR)}/`);
}

/** The listener's secrets (made once per Kafka home) and certificates (made when missing). */
function ensureSecurityMaterial(java) {
  fs.mkdirSync(SECURITY_DIR, { recursive: true, mode: 0o700 });
  let secrets = readJson(SECURITY_SECRETS);
  if (typeof secrets?.storePassword !== 'string' || typeof secrets?.password !== 'string') {
    // base64url: no quote, comma, bracket or backslash to escape in JAAS, --add-scram or .properties
    secrets = { storePassword: randomBytes(18).toString('base64url'), password: randomBytes(18).toString('base64url') };
    fs.writeFileSync(SECURITY_SECRETS, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
    // Keystores made with another password would not open.
    for (const f of [CA_KEYSTORE, BROKER_KEYSTORE, CA_PEM]) fs.rmSync(f, { force: true });
  }
  if (![CA_KEYSTORE, BROKER_KEYSTORE, CA_PEM].every((f) => fs.existsSync(f))) generateCertificates(java, secrets.storePassword);
  return secrets;
}

/**
 * What the data dir's SCRAM credentials were made for: the data dir (its directory.id,
 * new on every format) and the user's password. A mismatch means they must be (re)added.
 */
function scramStamp(secrets) {
  const dirId = readText(path.join(DATA, 'meta.properties'))?.match(/^directory\.id=(.+)$/m)?.[1]?.trim() ?? '?';
  const pw = createHash('sha256').update(`${SASL_USER}:${secrets.password}`).digest('hex');
  return `${dirId} ${pw}`;
}

/**
 * A data dir formatted before the SASL_SSL listener existed (or before the password
 * changed) has no SCRAM credentials for the test user: add them through the running broker,
 * as `kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[...]'` would.
 */
function ensureScramCredentials(java, kafkaPort, secrets) {
  if (readText(SCRAM_STAMP)?.trim() === scramStamp(secrets)) return true;
  log(`adding SCRAM credentials for ${SASL_USER} (the data dir was formatted without them) ...`);
  const pw = secrets.password;
  // One mechanism per call: the broker refuses two changes to one user in one request.
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    const r = run(java, [...jvmArgs(), 'kafka.admin.ConfigCommand', '--bootstrap-server', `${HOST}:${kafkaPort}`, '--alter',
      '--entity-type', 'users', '--entity-name', SASL_USER, '--add-config', `${mechanism}=[password=${pw}]`]);
    if (r.status !== 0) {
      warn(`kafka-configs could not add the ${mechanism} credentials (exit ${r.status}); SCRAM logins on the SASL_SSL listener will fail:\n` +
        `${r.stdout}${r.stderr}`.replaceAll(pw, '***'));
      return false;
    }
  }
  fs.writeFileSync(SCRAM_STAMP, `${scramStamp(secrets)}\n`, { mode: 0o600 });
  return true;
}

/** Resolves { ok: true } when a TLS handshake with host:port succeeds trusting only `ca`, else { ok: false, reason }. */
function tlsHandshake(host, port, ca, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ca, servername: net.isIP(host) ? undefined : host });
    const done = (result) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, reason: 'timeout' }));
    socket.once('secureConnect', () => done({ ok: true }));
    socket.once('error', (e) => done({ ok: false, reason: e.code || e.message }));
  });
}

async function waitForTls(port, timeoutMs) {
  const ca = fs.readFileSync(CA_PEM);
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    last = await tlsHandshake(HOST, port, ca);
    if (last.ok) return last;
    await sleep(250);
  }
  return last ?? { ok: false, reason: 'not tried' };
}

/** What clients need for the SASL_SSL listener, for tests and `status`. */
function writeSecurityFile({ kafkaPort, saslSslPort }, secrets, pid) {
  const info = {
    comment: 'Written by scripts/services.mjs: the local broker\'s SASL_SSL listener (test credentials).',
    host: HOST,
    plaintextPort: kafkaPort,
    saslSslPort,
    broker: `${HOST}:${saslSslPort}`,
    caFile: CA_PEM,
    username: SASL_USER,
    password: secrets.password,
    passwordFile: SASL_PASSWORD_FILE,
    mechanisms: SASL_MECHANISMS.map((m) => m.toLowerCase()),
    pid,
  };
  // The password alone too, for the engine's --kafka-sasl-password-file.
  fs.writeFileSync(SASL_PASSWORD_FILE, secrets.password + '\n', { mode: 0o600 });
  fs.writeFileSync(SECURITY_FILE, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
}

/** Waits until the broker logs READY_LINE and answers ApiVersions. */
async function waitForBroker(pid, port, timeoutMs) {
  const t0 = Date.now();
  let lineSeenAt;
  let apiOkSince;
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    if (!isAlive(pid)) return { ok: false, reason: 'the broker process exited' };
    if (lineSeenAt === undefined && readText(LOG_FILE)?.includes(READY_LINE)) lineSeenAt = Date.now();
    const probe = await kafkaApiVersions(HOST, port, 1500);
    last = probe.ok ? `ApiVersions answered (error code ${probe.errorCode})` : `ApiVersions: ${probe.reason}`;
    if (probe.ok && probe.errorCode === 0 && probe.apiCount > 0) {
      apiOkSince ??= Date.now();
      if (lineSeenAt !== undefined) return { ok: true, apiCount: probe.apiCount };
      // The broker answers but the log line never came: accept after a while (log config changed?).
      if (Date.now() - apiOkSince > 15000) {
        warn(`broker answers on port ${port} but "${READY_LINE}" is not in ${LOG_FILE}; check kafka/log4j2.properties`);
        return { ok: true, apiCount: probe.apiCount };
      }
    } else {
      apiOkSince = undefined;
    }
    await sleep(250);
  }
  return { ok: false, reason: `not ready after ${secs(timeoutMs)} (${lineSeenAt ? 'log line seen' : 'no "' + READY_LINE + '" in the log'}; ${last})` };
}

async function kafkaUp(opts, java) {
  const { kafkaPort, controllerPort, saslSslPort } = opts;

  // Already running (ours)?
  let running = findOurBrokers();
  if (running.length && opts.fresh) {
    log(`--fresh: stopping the running broker (pid ${running.join(', ')}) first`);
    for (const pid of running) await stopProcess(pid, 20000);
    running = [];
  }
  if (running.length) {
    const pid = running[0];
    if (readPid() !== pid) fs.writeFileSync(PID_FILE, `${pid}\n`);
    const port = configuredPort();
    if (port !== undefined && port !== kafkaPort) {
      fail(`our broker (pid ${pid}) is already running on port ${port}, not ${kafkaPort}; ` +
        'run `node scripts/services.mjs down` first to change the port');
    }
    const probe = await kafkaApiVersions(HOST, kafkaPort);
    if (probe.ok) {
      log(`Kafka ${kafkaVersion() ?? ''} already running (pid ${pid}) at ${HOST}:${kafkaPort}`);
      reportRunningSaslSsl(pid);
      return;
    }
    // Maybe still starting (another `up` in progress): give it the usual time.
    log(`broker pid ${pid} is running but not answering yet; waiting ...`);
    const ready = await waitForBroker(pid, kafkaPort, opts.timeout * 1000);
    if (ready.ok) {
      log(`Kafka already running (pid ${pid}) at ${HOST}:${kafkaPort}`);
      reportRunningSaslSsl(pid);
      return;
    }
    warn(`broker pid ${pid} is not healthy (${ready.reason}); restarting it`);
    for (const p of running) await stopProcess(p, 20000);
  } else if (fs.existsSync(PID_FILE)) {
    fs.rmSync(PID_FILE, { force: true }); // stale
  }

  // Port taken by something else?
  if (await tcpConnects(HOST, kafkaPort)) {
    const probe = await kafkaApiVersions(HOST, kafkaPort);
    if (probe.ok) {
      log(`port ${HOST}:${kafkaPort} is already served by a Kafka broker not started by this script ` +
        `(ApiVersions: ${probe.apiCount} APIs); using it as is`);
      writeState({ kafka: { external: true, host: HOST, port: kafkaPort } });
      // Our SASL_SSL listener details would describe a broker that is not the one running.
      fs.rmSync(SECURITY_FILE, { force: true });
      return;
    }
    fail(`port ${HOST}:${kafkaPort} is taken by something that is not a Kafka broker (${probe.reason}); ` +
      'free it or pass --kafka-port');
  }
  if (await tcpConnects(HOST, controllerPort)) {
    fail(`the KRaft controller port ${HOST}:${controllerPort} is taken; free it or pass --controller-port`);
  }
  if (await tcpConnects(HOST, saslSslPort)) {
    fail(`the SASL_SSL port ${HOST}:${saslSslPort} is taken; free it or pass --sasl-ssl-port`);
  }

  if (opts.fresh) {
    log(`--fresh: wiping ${path.relative(ROOT, DATA)}`);
    fs.rmSync(DATA, { recursive: true, force: true });
  }

  const t0 = Date.now();
  fs.rmSync(SECURITY_FILE, { force: true }); // written again once the new broker's listener answers
  const secrets = ensureSecurityMaterial(java);
  fs.mkdirSync(DATA, { recursive: true });
  fs.writeFileSync(SERVER_PROPS, serverProperties(opts, secrets), { mode: 0o600 });
  formatStorage(java, secrets);

  // Keep the previous log for post-mortems; start a new one.
  if (fs.existsSync(LOG_FILE)) fs.renameSync(LOG_FILE, `${LOG_FILE}.1`);
  const out = fs.openSync(LOG_FILE, 'w');
  const child = spawn(java, [...jvmArgs(), 'kafka.Kafka', SERVER_PROPS], {
    cwd: KAFKA_HOME,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const spawnError = await new Promise((resolve) => {
    child.once('error', resolve);
    child.once('spawn', () => resolve(undefined));
  });
  if (spawnError) fail(`could not start ${java}: ${spawnError.message}`);
  child.unref();
  const pid = child.pid;
  fs.writeFileSync(PID_FILE, `${pid}\n`);
  log(`starting Kafka ${kafkaVersion() ?? ''} (pid ${pid}), log: ${path.relative(ROOT, LOG_FILE)}`);

  const ready = await waitForBroker(pid, kafkaPort, opts.timeout * 1000);
  if (!ready.ok) {
    console.error(`[services] Kafka failed to start: ${ready.reason}`);
    console.error(`[services] last 40 lines of ${LOG_FILE}:`);
    console.error(tail(LOG_FILE, 40));
    await stopProcess(pid, 5000);
    fs.rmSync(PID_FILE, { force: true });
    fail('Kafka did not start');
  }
  await warmUpGroupCoordinator(kafkaPort);
  const handshake = await waitForTls(saslSslPort, 15000);
  if (!handshake.ok) {
    warn(`the SASL_SSL listener ${HOST}:${saslSslPort} does not complete a TLS handshake (${handshake.reason}); see ${LOG_FILE}`);
  }
  const scram = ensureScramCredentials(java, kafkaPort, secrets);
  if (handshake.ok) writeSecurityFile(opts, secrets, pid);
  writeState({ kafka: { external: false, host: HOST, port: kafkaPort, controllerPort, saslSslPort, pid, version: kafkaVersion() } });
  log(`Kafka ready at ${HOST}:${kafkaPort} in ${secs(Date.now() - t0)} (pid ${pid}, ${ready.apiCount} APIs); ` +
    `SASL_SSL at ${HOST}:${saslSslPort} (${handshake.ok ? (scram ? SASL_MECHANISMS.join(', ') : 'PLAIN only') : 'NOT answering'}; ` +
    `see ${path.relative(ROOT, SECURITY_FILE)})`);
}

/** For a broker that was already running: says whether it has the SASL_SSL listener (one started by an older services.mjs has not). */
function reportRunningSaslSsl(pid) {
  const port = configuredSaslSslPort();
  if (port === undefined) {
    fs.rmSync(SECURITY_FILE, { force: true });
    warn(`this broker was started without the SASL_SSL listener (by an older services.mjs); it is left running. ` +
      'To add the listener, run `node scripts/services.mjs down` and `up` when nobody uses the broker; until then the TLS/SASL tests skip.');
  } else if (readJson(SECURITY_FILE)?.pid !== pid) {
    warn(`${path.relative(ROOT, SECURITY_FILE)} does not describe the running broker (pid ${pid}); restart it (down, up) to write it again`);
  } else {
    log(`SASL_SSL listener at ${HOST}:${port} (see ${path.relative(ROOT, SECURITY_FILE)})`);
  }
}

async function kafkaDown() {
  const pids = findOurBrokers();
  if (!pids.length) {
    log('Kafka: no broker of ours is running');
  }
  let ok = true;
  for (const pid of pids) {
    log(`stopping Kafka (pid ${pid}) ...`);
    const t0 = Date.now();
    if (await stopProcess(pid, 20000)) log(`Kafka stopped in ${secs(Date.now() - t0)}`);
    else {
      warn(`could not stop pid ${pid}`);
      ok = false;
    }
  }
  fs.rmSync(PID_FILE, { force: true });
  const state = readState();
  if (state.kafka) writeState({ kafka: { ...state.kafka, pid: undefined } });
  return ok;
}

// ---------------------------------------------------------------- postgres

function postgresTarget() {
  const host = process.env.POSTGRES_HOST || HOST;
  const port = Number(process.env.POSTGRES_PORT) || 5432;
  const local = ['127.0.0.1', 'localhost', '::1'].includes(host);
  return { host, port, local };
}

/** 'ready' | 'starting' | 'down' */
async function postgresStatus(host, port) {
  if (!(await tcpConnects(host, port))) return 'down';
  const isready = which('pg_isready');
  if (!isready) return 'ready';
  const r = spawnSync(isready, ['-q', '-h', host, '-p', String(port), '-t', '2'], { encoding: 'utf8' });
  return r.status === 0 ? 'ready' : 'starting';
}

async function waitForPostgres(host, port, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const s = await postgresStatus(host, port);
    if (s === 'ready' || Date.now() - t0 >= timeoutMs) return s;
    await sleep(300);
  }
}

/** The local cluster pg_ctlcluster manages: highest version under /etc/postgresql with a `main` cluster. */
function localPgCluster() {
  let versions = [];
  try {
    versions = fs.readdirSync('/etc/postgresql')
      .filter((v) => fs.existsSync(path.join('/etc/postgresql', v, 'main')))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  } catch {
    /* not installed */
  }
  return versions.length ? { version: versions[0], cluster: 'main' } : undefined;
}

async function postgresUp(opts) {
  const { host, port, local } = postgresTarget();
  let status = await waitForPostgres(host, port, 2000);
  if (status === 'ready') {
    log(`PostgreSQL ready at ${host}:${port}`);
    return;
  }
  if (status === 'starting') {
    status = await waitForPostgres(host, port, opts.timeout * 1000);
    if (status === 'ready') {
      log(`PostgreSQL ready at ${host}:${port}`);
      return;
    }
  }
  if (!local) {
    fail(`PostgreSQL at ${host}:${port} (POSTGRES_HOST) does not accept connections; start that server or unset POSTGRES_HOST`);
  }
  const ctl = which('pg_ctlcluster');
  const cluster = localPgCluster();
  if (!ctl || !cluster) {
    fail(`PostgreSQL is not running on ${host}:${port} and is not installed here (no pg_ctlcluster / /etc/postgresql). ` +
      'Install and start it (Debian/Ubuntu: `apt-get install -y postgresql && ' +
      'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`), ' +
      'or set POSTGRES_HOST/POSTGRES_PORT to an existing server.');
  }
  log(`PostgreSQL not running on ${host}:${port}; starting cluster ${cluster.version}/${cluster.cluster} ...`);
  const r = run(ctl, ['--skip-systemctl-redirect', cluster.version, cluster.cluster, 'start']);
  if (r.status !== 0) {
    fail(`pg_ctlcluster ${cluster.version} ${cluster.cluster} start failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
  writeState({ postgres: { startedByUs: true, ...cluster, host, port } });
  status = await waitForPostgres(host, port, opts.timeout * 1000);
  if (status !== 'ready') {
    fail(`PostgreSQL was started but is not accepting connections on ${host}:${port} after ${opts.timeout} s ` +
      `(is its port ${port}? see /var/log/postgresql/)`);
  }
  log(`PostgreSQL ready at ${host}:${port} (started by us; \`down\` will stop it)`);
}

async function postgresDown() {
  const pg = readState().postgres;
  if (!pg?.startedByUs) {
    log('PostgreSQL: not started by us; leaving it alone');
    return true;
  }
  const ctl = which('pg_ctlcluster');
  if (!ctl) {
    warn('pg_ctlcluster not found; cannot stop the PostgreSQL we started');
    return false;
  }
  log(`stopping PostgreSQL ${pg.version}/${pg.cluster} (started by us) ...`);
  const r = run(ctl, ['--skip-systemctl-redirect', pg.version, pg.cluster, 'stop']);
  // Exit 2 = "cluster is not running": fine.
  if (r.status !== 0 && r.status !== 2) {
    warn(`pg_ctlcluster stop failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
    return false;
  }
  writeState({ postgres: { ...pg, startedByUs: false } });
  log('PostgreSQL stopped');
  return true;
}

// ---------------------------------------------------------------- commands

async function up(opts) {
  const java = checkJava();
  ensureJars();
  await kafkaUp(opts, java);
  if (opts.postgres) await postgresUp(opts);
}

async function down() {
  const k = await kafkaDown();
  const p = await postgresDown();
  return k && p;
}

async function status(opts) {
  const pids = findOurBrokers();
  if (pids.length && configuredPort()) opts.kafkaPort = configuredPort();
  const probe = await kafkaApiVersions(HOST, opts.kafkaPort);
  const version = kafkaVersion();
  if (pids.length) {
    log(`Kafka ${version ?? ''}: running (pid ${pids.join(', ')}), ${HOST}:${opts.kafkaPort} ` +
      (probe.ok ? `answers (${probe.apiCount} APIs)` : `NOT answering (${probe.reason})`));
  } else if (probe.ok) {
    log(`Kafka: not started by us, but a Kafka broker answers at ${HOST}:${opts.kafkaPort}`);
  } else {
    log(`Kafka: not running (${HOST}:${opts.kafkaPort}: ${probe.reason})`);
  }
  const sec = readJson(SECURITY_FILE);
  if (sec && pids.includes(sec.pid)) {
    const ca = readText(sec.caFile);
    const hs = ca === undefined ? { ok: false, reason: `no ${sec.caFile}` } : await tlsHandshake(HOST, sec.saslSslPort, ca);
    log(`Kafka SASL_SSL: ${sec.broker} ${hs.ok ? 'answers (TLS handshake ok)' : `NOT answering (${hs.reason})`}; ` +
      `mechanisms ${sec.mechanisms.join(', ')}; user ${sec.username} (password in the file); CA ${sec.caFile}; details: ${SECURITY_FILE}`);
  } else if (pids.length) {
    log('Kafka SASL_SSL: not configured on the running broker (started by an older services.mjs; down + up adds it)');
  }
  log(`Kafka jars: ${hasJars(LIBS) ? `${path.relative(ROOT, LIBS)}/ (${mib(dirSize(LIBS))}, Kafka ${version})` : 'not fetched yet'}; ` +
    `data: ${fs.existsSync(DATA) ? `${path.relative(ROOT, DATA)}/ (${mib(dirSize(DATA))})` : 'none'}`);
  const { host, port } = postgresTarget();
  const pg = await postgresStatus(host, port);
  const ours = readState().postgres?.startedByUs ? ' (started by us)' : '';
  log(`PostgreSQL: ${pg === 'ready' ? 'running' : pg} at ${host}:${port}${ours}`);
}

const USAGE = `usage: node scripts/services.mjs <up|down|status> [options]
  up      fetch the Kafka jars if needed, start Kafka (KRaft, PLAINTEXT ${HOST}:9092, SASL_SSL ${HOST}:9094)
          and make sure PostgreSQL runs
            --fresh               wipe .local/kafka/data before starting
            --timeout SECONDS     how long to wait for readiness (default 60)
            --kafka-port N        broker port (default 9092; env KAFKA_PORT)
            --controller-port N   KRaft controller port (default kafka port + 1)
            --sasl-ssl-port N     SASL_SSL listener port (default kafka port + 2; env KAFKA_SASL_SSL_PORT)
            --no-postgres         do not check/start PostgreSQL
  down    stop the broker started by 'up', and PostgreSQL only if 'up' started it
  status  show what runs`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  switch (opts.command) {
    case 'up':
      await withLock(opts.timeout * 1000 + 180000, () => up(opts));
      return 0;
    case 'down':
      return (await withLock(60000, down)) ? 0 : 1;
    case 'status':
      await status(opts);
      return 0;
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof Fatal) console.error(`[services] ERROR: ${err.message}`);
    else console.error('[services] ERROR:', err);
    process.exit(1);
  },
);
