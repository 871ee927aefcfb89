/**
 * One sensor's and one customer's history are index lookups (sql/views.sql), not scans of
 * every window. 300k sensor windows and 50k consumption windows, ANALYZEd, so the planner
 * chooses on real statistics (no enable_seqscan tricks); without the index the same
 * query scans the table, which shows the test can fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSchema } from '../helpers.js';
import { applySchemaAndViews } from './fixtures.js';

describe('lookup indexes', () => {
  let db: Awaited<ReturnType<typeof createSchema>>;
  before(async () => {
    db = await createSchema('lookups');
    await applySchemaAndViews(db.client);
    await db.client.query(`
      INSERT INTO sensor_aggregates_realtime (window_start, window_end, sensor_type, sensor_id, avg_value, min_value, max_value, count, stddev_value)
      SELECT timestamp '2026-01-01' + w * interval '5 minutes', timestamp '2026-01-01' + (w + 1) * interval '5 minutes',
             'voltage', 'sensor_' || lpad(s::text, 4, '0'), 230, 229, 231, 3, 1
      FROM generate_series(0, 299) w, generate_series(0, 999) s;
      INSERT INTO consumption_aggregates_realtime (window_start, window_end, customer_id, total_consumption, avg_consumption, reading_count)
      SELECT timestamp '2026-01-01' + h * interval '1 hour', timestamp '2026-01-01' + (h + 1) * interval '1 hour',
             'customer_' || c, 1, 1, 1
      FROM generate_series(0, 99) h, generate_series(0, 499) c;
      ANALYZE sensor_aggregates_realtime;
      ANALYZE consumption_aggregates_realtime;`);
  });
  after(() => db.cleanup());

  const plan = async (sql: string): Promise<string> =>
    (await db.client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');

  const SENSOR = `SELECT * FROM sensor_aggregates_realtime WHERE sensor_id = 'sensor_0042' AND window_start >= '2026-01-01 10:00' ORDER BY window_start`;
  const CUSTOMER = `SELECT * FROM consumption_aggregates_realtime WHERE customer_id = 'customer_7' ORDER BY window_start`;

  test('one sensor\'s history: an index (or bitmap index) scan on (sensor_id, window_start)', async () => {
    assert.match(await plan(SENSOR), /(Index Scan using|Bitmap Index Scan on) sensor_aggregates_realtime_sensor_time/);
    const { rows } = await db.client.query(SENSOR);
    assert.equal(rows.length, 180);
  });

  test('one customer\'s history: an index (or bitmap index) scan on (customer_id, window_start)', async () => {
    assert.match(await plan(CUSTOMER), /(Index Scan using|Bitmap Index Scan on) consumption_aggregates_realtime_customer_time/);
  });

  test('without the indexes the same lookups read every row', async () => {
    await db.client.query('BEGIN');
    try {
      await db.client.query('DROP INDEX sensor_aggregates_realtime_sensor_time; DROP INDEX consumption_aggregates_realtime_customer_time');
      assert.doesNotMatch(await plan(SENSOR), /sensor_aggregates_realtime_sensor_time/);
      assert.match(await plan(CUSTOMER), /Seq Scan on consumption_aggregates_realtime/);
    } finally {
      await db.client.query('ROLLBACK');
    }
  });
});
