/**
 * The development services are real: a Kafka broker and PostgreSQL (npm run services:up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { copyText } from '../../src/main/copy-text.js';
import { createSchema, createTopics, kafka, uniqueName } from '../helpers.js';

test('kafkajs produces to and consumes from the real broker across partitions', async (t) => {
  const topic = uniqueName('found');
  const { cleanup } = await createTopics([topic], 3);
  t.after(cleanup);
  const producer = kafka().producer();
  await producer.connect();
  t.after(() => producer.disconnect());
  const sent = Array.from({ length: 300 }, (_, i) => ({ key: `k${i % 17}`, value: JSON.stringify({ i }) }));
  await producer.send({ topic, messages: sent });

  const consumer = kafka().consumer({ groupId: uniqueName('g'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const got: number[] = [];
  const partitions = new Set<number>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of 300 consumed`)), 30000);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        partitions.add(partition);
        got.push(JSON.parse(message.value!.toString()).i);
        if (got.length === sent.length) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  assert.deepEqual(got.sort((a, b) => a - b), sent.map((_, i) => i));
  assert.equal(partitions.size, 3);
});

test('rows written with COPY through pg-copy-streams read back unchanged', async (t) => {
  const db = await createSchema('found');
  t.after(db.cleanup);
  await db.client.query('CREATE TABLE k (id INT, key TEXT, v NUMERIC(10,4))');
  const keys = ['plain', 'tab\there', 'new\nline', 'back\\slash', 'cr\rx', '"quoted"', "it's", 'ë ж 日本 😀', '\\N', ''];
  const text = keys.map((k, i) => `${i}\t${copyText(k)}\t${i === 3 ? '\\N' : (i * 1.23456).toString()}\n`).join('');
  const stream = db.client.query(copyFrom('COPY k FROM STDIN'));
  await pipeline(Readable.from([text]), stream);
  assert.equal(stream.rowCount, keys.length);
  const { rows } = await db.client.query('SELECT id, key, v FROM k ORDER BY id');
  assert.deepEqual(rows.map((r) => r.key), keys);
  assert.equal(rows[3].v, null);
  assert.equal(rows[2].v, '2.4691');
});
