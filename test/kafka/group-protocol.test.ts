/**
 * The classic group protocol without a broker: the ConsumerProtocol payloads against bytes
 * written out by hand from the message definitions (and against kafkajs' independent
 * codec), the JoinGroup/SyncGroup/Heartbeat/LeaveGroup encoders and decoders, and the
 * sticky round-robin assignor (exact results, determinism, stickiness, invariants over
 * random groups).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssignerProtocol } from 'kafkajs';
import {
  KafkaWireError,
  assignStickyRoundRobin,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type AssignorMember,
  type TopicPartition,
} from '../../src/kafka/index.js';
import { heartbeatRequest, joinGroupRequest, leaveGroupRequest, syncGroupRequest } from '../../src/kafka/group-protocol.js';
import { Reader, Writer } from '../../src/kafka/codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ------------------------------------------------------------------ ConsumerProtocol payloads

test('subscription v1: the exact bytes of the message definition, and back', () => {
  const bytes = encodeSubscription({ topics: ['a', 'bc'], ownedPartitions: [{ topic: 'a', partitions: [1, 2] }] });
  assert.deepEqual(
    bytes,
    hex(`0001
         00000002 0001 61 0002 6263
         ffffffff
         00000001 0001 61 00000002 00000001 00000002`),
  );
  assert.deepEqual(decodeSubscription(bytes), {
    version: 1,
    topics: ['a', 'bc'],
    userData: null,
    ownedPartitions: [{ topic: 'a', partitions: [1, 2] }],
    generationId: -1,
    rackId: null,
  });
  const withData = decodeSubscription(encodeSubscription({ topics: ['t'], userData: Buffer.from('hi') }));
  assert.deepEqual(withData.userData, Buffer.from('hi'));
  assert.deepEqual(withData.ownedPartitions, []);
});

test('subscription: v0 (kafkajs), v3 (the Java consumer today) and a future v4 are read', () => {
  const v0 = AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['x', 'y'], userData: Buffer.from([7]) });
  assert.deepEqual(decodeSubscription(v0), { version: 0, topics: ['x', 'y'], userData: Buffer.from([7]), ownedPartitions: [], generationId: -1, rackId: null });
  // v3: topics, user data, owned partitions, generation id, rack id
  const v3 = hex(`0003 00000001 0001 74 ffffffff 00000001 0001 74 00000001 00000005 00000009 0004 72616b31`);
  assert.deepEqual(decodeSubscription(v3), { version: 3, topics: ['t'], userData: null, ownedPartitions: [{ topic: 't', partitions: [5] }], generationId: 9, rackId: 'rak1' });
  // A newer version only appends fields: read as v3, the rest ignored.
  const v4 = Buffer.concat([hex('0004'), v3.subarray(2), hex('deadbeef')]);
  assert.equal(decodeSubscription(v4).rackId, 'rak1');
  // What we write, kafkajs (which reads v0 and ignores the rest) reads too.
  const ours = AssignerProtocol.MemberMetadata.decode(encodeSubscription({ topics: ['p', 'q'], userData: Buffer.from('u') }));
  assert.ok(ours !== null);
  assert.deepEqual({ ...ours, userData: Buffer.from(ours.userData) }, { version: 1, topics: ['p', 'q'], userData: Buffer.from('u') });
});

test('assignment v1: the exact bytes, kafkajs reads them, and kafkajs bytes read back', () => {
  const bytes = encodeAssignment({ assignedPartitions: [{ topic: 'a', partitions: [0, 2] }] });
  assert.deepEqual(bytes, hex(`0001 00000001 0001 61 00000002 00000000 00000002 ffffffff`));
  assert.deepEqual(decodeAssignment(bytes), { version: 1, assignedPartitions: [{ topic: 'a', partitions: [0, 2] }], userData: null });
  const seen = AssignerProtocol.MemberAssignment.decode(bytes);
  assert.deepEqual(seen?.assignment, { a: [0, 2] });
  const theirs = AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { t1: [3, 1], t2: [0] }, userData: Buffer.from('z') });
  assert.deepEqual(decodeAssignment(theirs), {
    version: 0,
    assignedPartitions: [
      { topic: 't1', partitions: [3, 1] },
      { topic: 't2', partitions: [0] },
    ],
    userData: Buffer.from('z'),
  });
  // A member the leader gave nothing may get zero bytes.
  assert.deepEqual(decodeAssignment(Buffer.alloc(0)).assignedPartitions, []);
});

test('malformed payloads are CORRUPT_MESSAGE errors, not garbage', () => {
  const good = encodeAssignment({ assignedPartitions: [{ topic: 'topic', partitions: [0, 1, 2] }] });
  for (let cut = 1; cut < good.length - 4; cut++) {
    assert.throws(
      () => decodeAssignment(good.subarray(0, cut)),
      (e: unknown) => e instanceof KafkaWireError && e.code === 'CORRUPT_MESSAGE',
      `cut at ${cut}`,
    );
  }
  const huge = hex('0001 7fffffff');
  assert.throws(() => decodeSubscription(huge), (e: unknown) => e instanceof KafkaWireError && e.code === 'CORRUPT_MESSAGE');
  assert.throws(() => decodeSubscription(hex('ffff')), (e: unknown) => e instanceof KafkaWireError && e.code === 'CORRUPT_MESSAGE');
  // A null topic name where a string is required.
  assert.throws(() => decodeSubscription(hex('0000 00000001 ffff ffffffff')), (e: unknown) => e instanceof KafkaWireError && e.code === 'CORRUPT_MESSAGE');
});

// ------------------------------------------------------------------ requests and responses

function body(spec: { body: (w: Writer) => void }): Buffer {
  const w = new Writer(16);
  spec.body(w);
  return Buffer.from(w.view());
}

test('JoinGroup v9: request bytes and a leader response', () => {
  const spec = joinGroupRequest({
    groupId: 'g',
    sessionTimeoutMs: 6000,
    rebalanceTimeoutMs: 10000,
    memberId: '',
    groupInstanceId: 'i1',
    protocolType: 'consumer',
    protocols: [{ name: 'rr', metadata: hex('0a0b') }],
    reason: null,
  });
  assert.equal(spec.apiKey, 11);
  assert.equal(spec.apiVersion, 9);
  assert.deepEqual(
    body(spec),
    hex(`02 67 00001770 00002710 01 03 6931 09 636f6e73756d6572
         02 03 7272 03 0a0b 00
         00 00`),
  );
  const res = hex(`00000000 0000 00000007 09 636f6e73756d6572 03 7272 03 6d31 00 03 6d31
                   03 03 6d31 03 6931 02 01 00 03 6d32 00 01 00
                   00`);
  assert.deepEqual(spec.decode(new Reader(res)), {
    errorCode: 0,
    generationId: 7,
    protocolType: 'consumer',
    protocolName: 'rr',
    leader: 'm1',
    skipAssignment: false,
    memberId: 'm1',
    members: [
      { memberId: 'm1', groupInstanceId: 'i1', metadata: hex('01') },
      { memberId: 'm2', groupInstanceId: null, metadata: Buffer.alloc(0) },
    ],
  });
});

test('SyncGroup v5, Heartbeat v4, LeaveGroup v5: request bytes and responses', () => {
  const sync = syncGroupRequest({ groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: null, protocolType: 'consumer', protocolName: 'rr', assignments: [{ memberId: 'm', assignment: hex('ff') }] });
  assert.deepEqual([sync.apiKey, sync.apiVersion], [14, 5]);
  assert.deepEqual(body(sync), hex(`02 67 00000003 02 6d 00 09 636f6e73756d6572 03 7272 02 02 6d 02 ff 00 00`));
  assert.deepEqual(sync.decode(new Reader(hex(`00000000 001b 09 636f6e73756d6572 03 7272 03 0102 00`))), {
    errorCode: 27,
    protocolType: 'consumer',
    protocolName: 'rr',
    assignment: hex('0102'),
  });

  const hb = heartbeatRequest({ groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: 'i' });
  assert.deepEqual([hb.apiKey, hb.apiVersion], [12, 4]);
  assert.deepEqual(body(hb), hex(`02 67 00000003 02 6d 02 69 00`));
  assert.deepEqual(hb.decode(new Reader(hex('00000000 0016 00'))), { errorCode: 22 });

  const leave = leaveGroupRequest('g', [{ memberId: 'm', groupInstanceId: 'i', reason: 'bye' }]);
  assert.deepEqual([leave.apiKey, leave.apiVersion], [13, 5]);
  assert.deepEqual(body(leave), hex(`02 67 02 02 6d 02 69 04 627965 00 00`));
  assert.deepEqual(leave.decode(new Reader(hex(`00000000 0000 02 02 6d 02 69 0052 00 00`))), {
    errorCode: 0,
    members: [{ memberId: 'm', groupInstanceId: 'i', errorCode: 82 }],
  });
});

// ------------------------------------------------------------------ the assignor

const tp = (s: string): TopicPartition => {
  const [topic, p] = s.split('-');
  return { topic, partition: Number(p) };
};
const member = (memberId: string, topics: string[], owned: string[] = [], groupInstanceId: string | null = null): AssignorMember => {
  const byTopic = new Map<string, number[]>();
  for (const x of owned.map(tp)) byTopic.set(x.topic, [...(byTopic.get(x.topic) ?? []), x.partition]);
  return { memberId, groupInstanceId, topics, ownedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
};
const names = (m: Map<string, TopicPartition[]>): Record<string, string[]> =>
  Object.fromEntries([...m].map(([id, tps]) => [id, tps.map((x) => `${x.topic}-${x.partition}`)]));
const counts = (entries: [string, number][]): Map<string, number> => new Map(entries);

test('assignor: two members split 2 topics × 3 partitions 3 + 3 (round-robin over both topics)', () => {
  const r = assignStickyRoundRobin([member('b', ['s', 't']), member('a', ['t', 's'])], counts([['s', 3], ['t', 3]]));
  assert.deepEqual(names(r), { a: ['s-0', 's-2', 't-1'], b: ['s-1', 't-0', 't-2'] });
});

test('assignor: deterministic whatever the order the coordinator lists members in', () => {
  const ms = ['m3', 'm1', 'm4', 'm2'].map((id) => member(id, ['x', 'y'], [], null));
  const c = counts([['x', 5], ['y', 4]]);
  const first = names(assignStickyRoundRobin(ms, c));
  for (let i = 0; i < 10; i++) {
    const shuffled = [...ms].sort(() => Math.random() - 0.5);
    assert.deepEqual(names(assignStickyRoundRobin(shuffled, c)), first);
  }
});

test('assignor: static members are placed by instance id, so a restart (new member id) changes nothing', () => {
  const c = counts([['t', 6]]);
  const before = assignStickyRoundRobin([member('id-9', ['t'], [], 'host-a'), member('id-1', ['t'], [], 'host-b')], c);
  const after = assignStickyRoundRobin([member('id-5', ['t'], [], 'host-a'), member('id-1', ['t'], [], 'host-b')], c);
  assert.deepEqual(before.get('id-9'), after.get('id-5'));
  assert.deepEqual(before.get('id-1'), after.get('id-1'));
});

test('assignor: a joining member takes only what balance needs; a leaving member\'s partitions go to the others', () => {
  const c = counts([['t', 6]]);
  const joined = assignStickyRoundRobin([member('a', ['t'], ['t-0', 't-2', 't-4']), member('b', ['t'], ['t-1', 't-3', 't-5']), member('c', ['t'])], c);
  assert.deepEqual(names(joined), { a: ['t-0', 't-2'], b: ['t-1', 't-3'], c: ['t-4', 't-5'] });
  const left = assignStickyRoundRobin([member('a', ['t'], ['t-0', 't-2']), member('c', ['t'], ['t-4', 't-5'])], c);
  assert.deepEqual(names(left), { a: ['t-0', 't-1', 't-2'], c: ['t-3', 't-4', 't-5'] });
  // Uneven: 7 partitions, 2 members: whoever owned 4 keeps 4.
  const uneven = assignStickyRoundRobin([member('a', ['t'], ['t-0', 't-1', 't-2']), member('b', ['t'], ['t-3', 't-4', 't-5', 't-6'])], counts([['t', 7]]));
  assert.deepEqual(names(uneven), { a: ['t-0', 't-1', 't-2'], b: ['t-3', 't-4', 't-5', 't-6'] });
});

test('assignor: a partition two members claim goes to one; gone partitions and topics are dropped', () => {
  const r = assignStickyRoundRobin([member('a', ['t'], ['t-0', 't-1', 't-9']), member('b', ['t', 'gone'], ['t-1', 'gone-0'])], counts([['t', 4]]));
  assert.deepEqual(names(r), { a: ['t-0', 't-1'], b: ['t-2', 't-3'] });
});

test('assignor: different subscriptions, more members than partitions, no members', () => {
  const r = assignStickyRoundRobin([member('a', ['s']), member('b', ['s', 't']), member('c', ['t'])], counts([['s', 2], ['t', 2]]));
  for (const x of r.get('a')!) assert.equal(x.topic, 's');
  for (const x of r.get('c')!) assert.equal(x.topic, 't');
  assert.equal([...r.values()].flat().length, 4);
  const many = assignStickyRoundRobin(['a', 'b', 'c', 'd'].map((id) => member(id, ['t'])), counts([['t', 2]]));
  assert.deepEqual(names(many), { a: ['t-0'], b: ['t-1'], c: [], d: [] });
  assert.equal(assignStickyRoundRobin([], counts([['t', 2]])).size, 0);
});

test('assignor invariants over random groups: each partition once, to a subscriber; balanced; sticky within quota', () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const topics = ['a', 'b', 'c'].slice(0, 1 + rnd(3));
    const c = counts(topics.map((t) => [t, rnd(9)]));
    const same = rnd(2) === 0;
    const all = topics.flatMap((t) => Array.from({ length: c.get(t)! }, (_, p) => `${t}-${p}`));
    const ms = Array.from({ length: 1 + rnd(5) }, (_, i) => {
      const subs = same ? topics : topics.filter(() => rnd(2) === 0);
      const owned = all.filter((x) => subs.includes(x.split('-')[0]) && rnd(3) === 0);
      return member(`m${i}`, subs.length > 0 ? subs : [topics[0]], owned, rnd(2) === 0 ? `i${i}` : null);
    });
    const r = assignStickyRoundRobin(ms, c);
    const seen = new Map<string, string>();
    for (const [id, tps] of r) {
      const m = ms.find((x) => x.memberId === id)!;
      for (const x of tps) {
        const k = `${x.topic}-${x.partition}`;
        assert.equal(seen.has(k), false, `${k} assigned twice`);
        seen.set(k, id);
        assert.ok(m.topics.includes(x.topic), `${k} went to ${id}, not subscribed`);
      }
    }
    const subscribed = all.filter((x) => ms.some((m) => m.topics.includes(x.split('-')[0])));
    assert.equal(seen.size, subscribed.length, 'every subscribed partition assigned');
    if (same) {
      const sizes = [...r.values()].map((x) => x.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes.join(',')}`);
      // Sticky: in member order, each keeps at least min(k, floor) of the k partitions it
      // owned that no member before it owned and kept.
      const floor = Math.floor(all.length / ms.length);
      const keptBefore = new Set<string>();
      for (const m of [...ms].sort((x, y) => ((x.groupInstanceId ?? x.memberId) < (y.groupInstanceId ?? y.memberId) ? -1 : 1))) {
        const mine = m.ownedPartitions.flatMap((o) => o.partitions.map((p) => `${o.topic}-${p}`)).filter((k) => !keptBefore.has(k));
        const kept = mine.filter((k) => seen.get(k) === m.memberId);
        kept.forEach((k) => keptBefore.add(k));
        assert.ok(kept.length >= Math.min(mine.length, floor), `${m.memberId} kept ${kept.length} of ${mine.length} (floor ${floor})`);
      }
    }
  }
});
