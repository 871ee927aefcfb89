/**
 * GroupMember against the real broker: two members split two topics 3 + 3 and Kafka's own
 * Admin (what kafka-consumer-groups.sh --describe uses) and kafkajs show both; a member
 * that leaves or dies has its partitions moved; a restarted static member gets its
 * partitions back without a rebalance (timed); stale generations, zombies and a replaced
 * instance id are fenced; offsets committed as a member (also from onRevoke, slower than
 * the session timeout) are what the next owner reads.
 *
 * Every member has its own KafkaWireClient, as separate engine instances would. Session
 * timeout 6 s: the broker's default group.min.session.timeout.ms.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AssignerProtocol } from 'kafkajs';
import { GroupMember, KafkaCode, KafkaWireClient, KafkaWireError, type GroupMemberOptions, type RevokeInfo, type TopicPartition } from '../../src/kafka/index.js';
import { KAFKA_BROKER, createTopics, kafka, uniqueName } from '../helpers.js';
import { kafkaLibs } from './java.js';

const SESSION_MS = 6_000;
const HEARTBEAT_MS = 500;

interface Probe {
  member: GroupMember;
  client: KafkaWireClient;
  assigns: { partitions: TopicPartition[]; generationId: number; at: number }[];
  revokes: { partitions: TopicPartition[]; info: RevokeInfo; at: number }[];
  errors: KafkaWireError[];
}

const names = (tps: readonly TopicPartition[]): string[] => tps.map((x) => `${x.topic}:${x.partition}`).sort();

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

/** A member on a client of its own; `more` overrides options (and wraps the callbacks, which still record). */
function probe(t: TestContext, groupId: string, topics: string[], groupInstanceId: string | null, more: Partial<GroupMemberOptions> = {}): Probe {
  const client = new KafkaWireClient({ brokers: [KAFKA_BROKER], retryBackoffMs: 50, retryTimeoutMs: 20_000 });
  const p: Probe = { member: undefined as unknown as GroupMember, client, assigns: [], revokes: [], errors: [] };
  p.member = new GroupMember(client, {
    groupId,
    topics,
    groupInstanceId,
    sessionTimeoutMs: SESSION_MS,
    heartbeatIntervalMs: HEARTBEAT_MS,
    rebalanceTimeoutMs: 15_000,
    ...more,
    onAssign: async (partitions, generationId) => {
      p.assigns.push({ partitions, generationId, at: Date.now() });
      await more.onAssign?.(partitions, generationId);
    },
    onRevoke: async (partitions, info) => {
      p.revokes.push({ partitions, info, at: Date.now() });
      await more.onRevoke?.(partitions, info);
    },
    onError: (e) => p.errors.push(e),
  });
  t.after(async () => {
    await p.member.leave({ leaveGroup: true }).catch(() => {});
    await client.close();
  });
  return p;
}

/** Kills a member as a crash would: no more heartbeats, its sockets closed, no LeaveGroup. */
async function kill(p: Probe): Promise<void> {
  (p.member as unknown as { paused: boolean }).paused = true;
  await p.client.close();
}

/** Both members hold disjoint partitions of the same generation that together are `all`. */
function split(a: Probe, b: Probe, all: string[]): boolean {
  if (a.member.state !== 'stable' || b.member.state !== 'stable' || a.member.generationId !== b.member.generationId) return false;
  const x = names(a.member.assignment);
  const y = names(b.member.assignment);
  return x.length + y.length === all.length && [...x, ...y].sort().join() === [...all].sort().join();
}

async function twoTopics(t: TestContext, prefix: string): Promise<{ topics: string[]; all: string[] }> {
  const topics = [uniqueName(`${prefix}_a`), uniqueName(`${prefix}_b`)];
  const { cleanup } = await createTopics(topics, 3);
  t.after(cleanup);
  return { topics, all: topics.flatMap((tp) => [0, 1, 2].map((p) => `${tp}:${p}`)) };
}

/** Admin.describeConsumerGroups of the Java client, as kafka-consumer-groups.sh --describe --members shows it. */
async function javaDescribe(group: string): Promise<{ state: string; type: string; assignor: string; members: { id: string; instance: string; partitions: string[] }[] }> {
  const source = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'test', 'kafka', 'fixtures', 'DescribeGroup.java');
  const { stdout } = await promisify(execFile)('java', ['-cp', path.join(kafkaLibs(), '*'), source, KAFKA_BROKER, group], { timeout: 120_000 });
  const lines = stdout.trim().split('\n');
  const [, state, type, assignor] = lines[0].split(' ');
  const members = lines.slice(1).map((l) => {
    const [, id, instance, , parts] = l.split(' ');
    return { id, instance, partitions: parts === '-' ? [] : parts.split(',') };
  });
  return { state, type, assignor, members };
}

test('two members split two topics 3 + 3; Kafka\'s Admin and kafkajs describe both with their assignments', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_split');
  const group = uniqueName('grp_split');
  const a = probe(t, group, topics, 'inst-a');
  const b = probe(t, group, topics, 'inst-b');
  const first = await a.member.join();
  assert.deepEqual(names(first), all, 'alone, the first member holds everything');
  assert.ok(a.member.isLeader);
  await b.member.join();
  await waitFor('a 3 + 3 split in one generation', () => split(a, b, all), 10_000);
  assert.equal(a.member.assignment.length, 3);
  assert.equal(b.member.assignment.length, 3);
  assert.deepEqual(a.revokes.map((r) => r.info.lost), [false], 'a gave everything up once, before rejoining');
  assert.ok(a.revokes[0].at <= a.assigns[1].at);

  const java = await javaDescribe(group);
  assert.equal(java.state, 'Stable');
  assert.equal(java.type, 'Classic');
  assert.equal(java.assignor, 'smartgrid-sticky-roundrobin');
  assert.deepEqual(
    java.members.map((m) => [m.instance, m.id, m.partitions]).sort(),
    [
      ['inst-a', a.member.memberId, names(a.member.assignment)],
      ['inst-b', b.member.memberId, names(b.member.assignment)],
    ],
  );

  const admin = kafka('grp-describe').admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const [desc] = (await admin.describeGroups([group])).groups;
  assert.equal(desc.protocolType, 'consumer');
  assert.equal(desc.state, 'Stable');
  const seen = desc.members.map((m) => {
    const as = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    const md = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
    assert.ok(as !== null && md !== null);
    assert.deepEqual([...md.topics].sort(), [...topics].sort());
    return [m.memberId, Object.entries(as.assignment).flatMap(([tp, ps]) => ps.map((p) => `${tp}:${p}`)).sort()];
  });
  assert.deepEqual(seen.sort(), [
    [a.member.memberId, names(a.member.assignment)],
    [b.member.memberId, names(b.member.assignment)],
  ].sort());

  // The wire client's own DescribeGroups (the single-instance check uses it) sees the same.
  const own = await a.client.describeGroup(group);
  assert.equal(own.state, 'Stable');
  assert.deepEqual(
    own.members.map((m) => [m.memberId, m.groupInstanceId, m.clientId]).sort(),
    [
      [a.member.memberId, 'inst-a', a.client.clientId],
      [b.member.memberId, 'inst-b', b.client.clientId],
    ].sort(),
  );
  assert.ok(own.members.every((m) => m.clientHost.length > 0));
  const unknown = await a.client.describeGroup(uniqueName('grp_never'));
  assert.ok(unknown.state === 'Dead' && unknown.members.length === 0, `a group nobody joined is ${unknown.state}`);
  // Metadata lists existing topics' partitions and never creates a missing one.
  const missing = uniqueName('grp_missing');
  const parts = await a.client.topicPartitions([...topics, missing]);
  assert.deepEqual([...parts.entries()].sort(), topics.map((tp) => [tp, [0, 1, 2]]).sort());
  assert.equal((await a.client.topicPartitions([missing])).size, 0, 'asking did not create the topic');
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test('a member that leaves has its partitions moved at once; one that dies, after the session timeout', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_move');

  // Dynamic members: leave() sends LeaveGroup.
  const g1 = uniqueName('grp_leave');
  const a = probe(t, g1, topics, null);
  const b = probe(t, g1, topics, null);
  await a.member.join();
  await b.member.join();
  await waitFor('a 3 + 3 split', () => split(a, b, all), 10_000);
  const leftAt = Date.now();
  await a.member.leave();
  assert.equal(a.member.state, 'closed');
  assert.deepEqual(a.revokes.at(-1)?.info.lost, false);
  await waitFor('b holds everything', () => b.member.state === 'stable' && b.member.assignment.length === 6, SESSION_MS);
  const leaveMs = Date.now() - leftAt;
  t.diagnostic(`after LeaveGroup the other member held all partitions in ${leaveMs} ms`);
  assert.ok(leaveMs < 3_000, `moved in ${leaveMs} ms`);

  // Static members: a crash (no LeaveGroup) — the coordinator waits for the session timeout.
  const g2 = uniqueName('grp_die');
  const c = probe(t, g2, topics, 'inst-c');
  const d = probe(t, g2, topics, 'inst-d');
  await c.member.join();
  await d.member.join();
  await waitFor('a 3 + 3 split', () => split(c, d, all), 10_000);
  const diedAt = Date.now();
  await kill(d);
  await waitFor('c holds everything', () => c.member.state === 'stable' && c.member.assignment.length === 6, SESSION_MS + 5_000);
  const dieMs = Date.now() - diedAt;
  t.diagnostic(`after a crash the other member held all partitions in ${dieMs} ms (session timeout ${SESSION_MS} ms)`);
  assert.ok(dieMs >= SESSION_MS - HEARTBEAT_MS - 1_000, `a static member's partitions wait for its session timeout (moved after ${dieMs} ms)`);
  assert.deepEqual(names(c.member.assignment), all);
});

test('a restarted static member gets its partitions back at once, without a rebalance (timed)', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_static');
  const group = uniqueName('grp_static');
  const a = probe(t, group, topics, 'host-a');
  const b = probe(t, group, topics, 'host-b');
  await a.member.join();
  await b.member.join();
  await waitFor('a 3 + 3 split', () => split(a, b, all), 10_000);
  const generation = a.member.generationId;
  const bRevokes = b.revokes.length;
  assert.ok(a.member.isLeader, 'the first member leads: its restart takes the skip-assignment path');

  // 1. The leader stops gracefully (a static member sends no LeaveGroup by default) and restarts.
  const aParts = names(a.member.assignment);
  await a.member.leave();
  await a.client.close();
  const a2 = probe(t, group, topics, 'host-a');
  let start = Date.now();
  const back = await a2.member.join();
  const restartMs = Date.now() - start;
  t.diagnostic(`restarted static leader (graceful stop) had its ${back.length} partitions back in ${restartMs} ms`);
  assert.deepEqual(names(back), aParts);
  assert.equal(a2.member.generationId, generation, 'no new generation');
  assert.ok(a2.member.isLeader);
  assert.ok(restartMs < 2_000, `${restartMs} ms`);
  // Nobody else noticed: after a few heartbeats, b is still in the same generation, revoked nothing.
  await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));
  assert.equal(b.member.generationId, generation);
  assert.equal(b.revokes.length, bRevokes);
  assert.ok(split(a2, b, all));

  // 2. The follower crashes and restarts.
  const bParts = names(b.member.assignment);
  await kill(b);
  const b2 = probe(t, group, topics, 'host-b');
  start = Date.now();
  const backB = await b2.member.join();
  const crashMs = Date.now() - start;
  t.diagnostic(`restarted static follower (crash) had its ${backB.length} partitions back in ${crashMs} ms`);
  assert.deepEqual(names(backB), bParts);
  assert.equal(b2.member.generationId, generation);
  assert.ok(crashMs < 2_000, `${crashMs} ms`);

  await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));
  assert.equal(a2.member.generationId, generation);
  assert.equal(b2.member.generationId, generation);
  assert.deepEqual(a2.revokes, []);
  assert.ok(split(a2, b2, all));
  assert.deepEqual([...a2.errors, ...b2.errors], []);
});

test('fencing: a stale generation cannot commit, a zombie\'s commit is refused, a replaced instance id stops', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_fence');
  const group = uniqueName('grp_fence');
  const a = probe(t, group, topics, 'inst-a');
  await a.member.join();
  const old = { generationId: a.member.generationId, memberId: a.member.memberId, groupInstanceId: 'inst-a' };
  const b = probe(t, group, topics, 'inst-b');
  await b.member.join();
  await waitFor('a 3 + 3 split', () => split(a, b, all), 10_000);
  assert.ok(a.member.generationId > old.generationId);
  const mine = a.member.assignment;
  const theirs = b.member.assignment;

  // A commit with the previous generation: the coordinator refuses it.
  await assert.rejects(
    a.client.commitOffsetsAsMember(group, old, [{ ...mine[0], offset: 99n }]),
    (e: unknown) => e instanceof KafkaWireError && e.code === 'GROUP_FENCED' && e.kafkaCode === KafkaCode.ILLEGAL_GENERATION && /not current/.test(e.message),
  );
  // The current generation commits; partitions of another member are refused before asking.
  await a.member.commit(mine.map((x) => ({ ...x, offset: 10n })));
  await assert.rejects(a.member.commit([{ ...theirs[0], offset: 1n }]), (e: unknown) => e instanceof KafkaWireError && e.code === 'GROUP_FENCED' && /does not hold/.test(e.message));

  // A zombie: a stops (as in a long GC pause) and the group moves on without it.
  (a.member as unknown as { paused: boolean }).paused = true;
  const pausedAt = Date.now();
  await waitFor('b holds everything', () => b.member.state === 'stable' && b.member.assignment.length === 6, SESSION_MS + 5_000);
  t.diagnostic(`the zombie's partitions moved after ${Date.now() - pausedAt} ms`);
  assert.deepEqual(names(a.member.assignment), names(mine), 'the zombie still believes it holds its partitions');
  await assert.rejects(
    a.member.commit(mine.map((x) => ({ ...x, offset: 20n }))),
    (e: unknown) => e instanceof KafkaWireError && e.code === 'GROUP_FENCED' && (e.kafkaCode === KafkaCode.UNKNOWN_MEMBER_ID || e.kafkaCode === KafkaCode.ILLEGAL_GENERATION),
  );
  const committed = await b.client.fetchCommittedOffsets(group, mine);
  assert.deepEqual(committed.map((x) => x.offset), mine.map(() => 10n), "the zombie's commit changed nothing");
  // Woken up, the zombie gives its partitions up as lost and rejoins.
  (a.member as unknown as { paused: boolean }).paused = false;
  await waitFor('a 3 + 3 split again', () => split(a, b, all), 15_000);
  assert.equal(a.revokes.at(-1)?.info.lost, true);
  assert.deepEqual(names(a.revokes.at(-1)!.partitions), names(mine));
  await a.member.commit(a.member.assignment.map((x) => ({ ...x, offset: 30n })));

  // Another process takes over a's group.instance.id: a is fenced for good and stops.
  const aRevokes = a.revokes.length;
  const a2 = probe(t, group, topics, 'inst-a');
  await a2.member.join();
  await waitFor('a fenced', () => a.member.state === 'failed', 3 * HEARTBEAT_MS + 5_000);
  assert.equal(a.member.failure?.code, 'GROUP_FENCED');
  assert.equal(a.member.failure?.kafkaCode, KafkaCode.FENCED_INSTANCE_ID);
  assert.ok(a.errors.some((e) => e.kafkaCode === KafkaCode.FENCED_INSTANCE_ID), 'reported through onError');
  assert.equal(a.revokes.length, aRevokes + 1);
  assert.equal(a.revokes.at(-1)?.info.lost, true);
  assert.deepEqual(a.member.assignment, []);
  await assert.rejects(a.member.commit([]), (e: unknown) => e instanceof KafkaWireError && e.code === 'GROUP_FENCED');
  await waitFor('a2 and b split', () => split(a2, b, all), 10_000);
});

test('offsets committed in onRevoke (slower than the session timeout) are what the next owner reads in onAssign', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_offsets');
  const group = uniqueName('grp_offsets');
  const seenByB = new Map<string, bigint>();
  let revokeCommitted = false;
  const a: Probe = probe(t, group, topics, 'inst-a', {
    onRevoke: async (partitions, info) => {
      if (info.lost) return;
      // Flushing takes longer than the session timeout: heartbeats must keep a in the group.
      await new Promise((r) => setTimeout(r, SESSION_MS + 1_000));
      await a.member.commit(partitions.map((x) => ({ ...x, offset: BigInt(100 + x.partition), metadata: `snap-${x.partition}` })));
      revokeCommitted = true;
    },
  });
  const reader = new KafkaWireClient({ brokers: [KAFKA_BROKER] });
  t.after(() => reader.close());
  const b: Probe = probe(t, group, topics, 'inst-b', {
    onAssign: async (partitions) => {
      for (const o of await reader.fetchCommittedOffsets(group, partitions)) seenByB.set(`${o.topic}:${o.partition}`, o.offset);
    },
  });
  await a.member.join();
  await b.member.join();
  await waitFor('a 3 + 3 split', () => split(a, b, all), 30_000);
  assert.ok(revokeCommitted, "a's commit in onRevoke went through");
  assert.equal(a.revokes.length, 1);
  assert.deepEqual(a.errors, [], 'a was not dropped from the group while it flushed');
  // b's first assignment came after a's commit: b read a's offsets.
  assert.deepEqual(
    [...seenByB].sort(),
    names(b.member.assignment).map((k) => [k, BigInt(100 + Number(k.split(':').at(-1)))]),
  );

  // Offsets a member commits are readable with fetchCommittedOffsets (and by kafkajs' admin).
  const parts = b.member.assignment;
  await b.member.commit(parts.map((x, i) => ({ ...x, offset: BigInt(1000 + i), metadata: i === 0 ? 'snapshot-7' : null })));
  const back = await reader.fetchCommittedOffsets(group, parts);
  assert.deepEqual(back.map((x) => x.offset), parts.map((_, i) => BigInt(1000 + i)));
  assert.equal(back[0].metadata, 'snapshot-7');
  const admin = kafka('grp-offsets').admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const fetched = await admin.fetchOffsets({ groupId: group, topics: [parts[0].topic] });
  const p0 = fetched[0].partitions.find((x) => x.partition === parts[0].partition);
  assert.equal(p0?.offset, '1000');
});

test('lost connections and a moved coordinator are retried without a rebalance; leave() during a join ends it at once', async (t) => {
  const { topics, all } = await twoTopics(t, 'grp_retry');
  const group = uniqueName('grp_retry');
  let slowRevokeMs = 0;
  const a = probe(t, group, topics, 'inst-a', { onRevoke: () => new Promise((r) => setTimeout(r, slowRevokeMs)) });
  await a.member.join();
  const generation = a.member.generationId;

  // Every socket of a's client dies (a broker restart, a network fault).
  const conns = (a.client as unknown as { connections: Map<string, Promise<{ socket: { destroy: () => void } }>> }).connections;
  assert.ok([...conns.keys()].some((k) => k.includes('/group-member-')), "the member talks to the coordinator on a connection of its own");
  for (const c of conns.values()) (await c).socket.destroy();
  await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
  await a.member.commit(a.member.assignment.map((x) => ({ ...x, offset: 5n })));

  // The coordinator "moved": the cached one no longer answers; the member looks it up again.
  const net = await import('node:net');
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as { port: number }).port;
  await new Promise((r) => dead.close(r));
  const coordinators = (a.client as unknown as { coordinators: Map<string, { nodeId: number; host: string; port: number }> }).coordinators;
  coordinators.set(group, { nodeId: 99, host: '127.0.0.1', port });
  await a.member.commit(a.member.assignment.map((x) => ({ ...x, offset: 6n })));
  assert.notEqual(coordinators.get(group)?.port, port);
  await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
  assert.equal(a.member.generationId, generation, 'no rebalance');
  assert.equal(a.member.state, 'stable');
  assert.deepEqual(a.revokes, []);
  assert.deepEqual((await a.client.fetchCommittedOffsets(group, a.member.assignment)).map((x) => x.offset), all.map(() => 6n));

  // b's JoinGroup waits at the coordinator while a revokes slowly; b leaves meanwhile.
  slowRevokeMs = 4_000;
  const b = probe(t, group, topics, null);
  const joining = b.member.join();
  joining.catch(() => {});
  await waitFor('a revoking', () => a.revokes.length === 1, 5_000);
  await new Promise((r) => setTimeout(r, 500));
  const leaveAt = Date.now();
  await b.member.leave();
  const leaveMs = Date.now() - leaveAt;
  assert.ok(leaveMs < 1_500, `leave() took ${leaveMs} ms`);
  await assert.rejects(joining, (e: unknown) => e instanceof KafkaWireError && e.code === 'CLIENT_CLOSED');
  assert.equal(b.member.state, 'closed');
  await waitFor('a holds everything again', () => a.member.state === 'stable' && a.member.assignment.length === all.length, 15_000);
  assert.deepEqual(a.errors, []);
});

test('misconfigurations fail join() with the reason: a session timeout the broker refuses, a group of other consumers', async (t) => {
  const { topics } = await twoTopics(t, 'grp_misconf');
  const short = probe(t, uniqueName('grp_short'), topics, null, { sessionTimeoutMs: 500, heartbeatIntervalMs: 100 });
  await assert.rejects(
    short.member.join(),
    (e: unknown) => e instanceof KafkaWireError && e.kafkaCode === KafkaCode.INVALID_SESSION_TIMEOUT && /group\.min\/max\.session\.timeout\.ms/.test(e.message),
  );
  assert.equal(short.member.state, 'failed');

  // A kafkajs consumer (another assignor) already in the group.
  const group = uniqueName('grp_other');
  const consumer = kafka('grp-other').consumer({ groupId: group, sessionTimeout: SESSION_MS });
  t.after(() => consumer.disconnect());
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topics });
  await consumer.run({ eachMessage: async () => {} });
  await joined;
  const m = probe(t, group, topics, null);
  await assert.rejects(
    m.member.join(),
    (e: unknown) => e instanceof KafkaWireError && e.kafkaCode === KafkaCode.INCONSISTENT_GROUP_PROTOCOL && /smartgrid-sticky-roundrobin/.test(e.message),
  );
  assert.ok(m.errors.some((e) => e.kafkaCode === KafkaCode.INCONSISTENT_GROUP_PROTOCOL), 'reported through onError too');
});
