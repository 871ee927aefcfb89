/**
 * Runs test/kafka/fixtures/WireProducer.java, a real Kafka Java producer, on the broker's
 * own classpath (kafka-clients and its codecs: zstd-jni, lz4-java, snappy-java).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KAFKA_BROKER } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCE = path.join(ROOT, 'test', 'kafka', 'fixtures', 'WireProducer.java');

/**
 * The broker's libs: $KAFKA_LIBS, else this checkout's .local/kafka/libs (made by
 * `npm run services:up`), else that of the main checkout when this is a git worktree.
 */
export function kafkaLibs(): string {
  const candidates: string[] = [];
  if (process.env.KAFKA_LIBS) candidates.push(process.env.KAFKA_LIBS);
  candidates.push(path.join(ROOT, '.local', 'kafka', 'libs'));
  const dotGit = path.join(ROOT, '.git');
  try {
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
    // .git/worktrees/<name> → the main checkout is the parent of .git
    if (m !== null) candidates.push(path.join(path.resolve(ROOT, m[1].trim()), '..', '..', '..', '.local', 'kafka', 'libs'));
  } catch {
    // .git is a directory: not a worktree
  }
  const found = candidates.find((c) => existsSync(path.join(c, 'kafka-clients-4.1.1.jar')) || existsSync(c));
  if (found === undefined) throw new Error(`Kafka's libs not found (looked in ${candidates.join(', ')}); set KAFKA_LIBS or run npm run services:up`);
  return found;
}

export async function javaProducer(topic: string, ...args: string[]): Promise<void> {
  const run = promisify(execFile);
  await run('java', ['-cp', path.join(kafkaLibs(), '*'), SOURCE, KAFKA_BROKER, topic, ...args], { timeout: 120_000 });
}
