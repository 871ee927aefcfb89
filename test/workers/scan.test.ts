/**
 * The workers' fast path (scan.ts, the byte-keyed dictionary, parseTimestampBytes) against
 * the general path it stands in for: whatever the fast path accepts must be valid JSON with
 * the same values, and a whole batch must aggregate to exactly the same result either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ABSENT, FieldScanner, NUMBER, STRING } from '../../src/workers/scan.js';
import { parseTimestamp, parseTimestampBytes } from '../../src/workers/parse.js';
import { Dict, Interner } from '../../src/workers/dict.js';
import { aggregateBatch, setFastPath } from '../../src/workers/aggregate.js';
import { Kind, type AggregateResult, type AggregateTask } from '../../src/workers/protocol.js';
import { EventGenerator } from '../../loadgen/index.js';
import { crc32c, crc32cJs, CRC32C_IMPLEMENTATION } from '../../src/kafka/crc32c.js';

const FIELDS = ['sensor_id', 'value', 'timestamp'];

/** What JSON.parse makes of the text, as the scanner reports it; null when not an object. */
function viaJson(text: string): { state: number; value: unknown }[] | null {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  return FIELDS.map((f) => {
    const v = (o as Record<string, unknown>)[f];
    return { state: typeof v === 'string' ? STRING : typeof v === 'number' ? NUMBER : ABSENT, value: v };
  });
}

function viaScan(sc: FieldScanner, text: string): { state: number; value: unknown }[] | null {
  const b = Buffer.from(text, 'utf8');
  if (!sc.scan(b, 0, b.length)) return null;
  return FIELDS.map((_, f) => ({
    state: sc.state[f],
    value: sc.state[f] === STRING ? b.toString('latin1', sc.start[f], sc.end[f]) : sc.state[f] === NUMBER ? sc.num[f] : undefined,
  }));
}

/** A scan that succeeds must agree with JSON.parse on every wanted field. */
function agree(sc: FieldScanner, text: string): boolean {
  const s = viaScan(sc, text);
  if (s === null) return false;
  const j = viaJson(text);
  assert.ok(j !== null, `the fast path accepted text JSON.parse refuses: ${JSON.stringify(text)}`);
  for (let f = 0; f < FIELDS.length; f++) {
    assert.equal(s[f].state, j[f].state, `${FIELDS[f]} of ${JSON.stringify(text)}`);
    if (s[f].state !== ABSENT) assert.ok(Object.is(s[f].value, j[f].value), `${FIELDS[f]} of ${JSON.stringify(text)}: ${String(s[f].value)} vs ${String(j[f].value)}`);
  }
  return true;
}

test('scan: reads the wanted fields of ordinary payloads, skipping the rest', () => {
  const sc = new FieldScanner(FIELDS);
  for (const text of [
    '{"sensor_id":"s1","value":21.61,"timestamp":"2026-11-28T00:07:12.000000"}',
    ' {\t"event_id" : "e\\"1\\u00e9" ,\r\n"sensor_id":"s 1","value":-0.5e2,"location":{"lat":41.67,"lon":[1,2,{"a":null}]},"ok":true,"no":false,"timestamp":1764288000000,"metadata":{}} \n',
    '{"value":0,"other":[],"x":{}}',
    '{}',
    '{"sensor_id":"","value":-0}',
  ]) {
    assert.ok(agree(sc, text), `the fast path should take ${text}`);
  }
});

test('scan: defers whatever it does not take whole to the general path', () => {
  const sc = new FieldScanner(FIELDS);
  for (const text of [
    '', ' ', '[]', '"x"', '1', 'null', '{', '{"a":1', '{"a":1,}', '{"a" 1}', '{a:1}', "{'a':1}", '{"a":01}', '{"a":1.}', '{"a":.5}',
    '{"a":-}', '{"a":1e}', '{"a":+1}', '{"a":tru}', '{"a":nulll}', '{"a":1}x', '{"a":1}{}', '{"a":"\\x"}', '{"a":"\\u12g4"}',
    '{"a":"tab\there"}', '{"a":[1,]}', '{"a":{"b"}}', '{"a":[}', '\ufeff{"a":1}', '{"sensor_id":"caf\u00e9"}', '{"a":"\u00e9"}',
    '{"sensor_id":"a\\"b"}', '{"sens\\u006fr_id":"x"}', '{"sensor_id":"a","sensor_id":"b"}', '{"value":null}', '{"value":true}',
    '{"value":{"v":1}}', '{"value":[1]}', `{"a":${'['.repeat(70)}${']'.repeat(70)}}`, '{"value":1,"value":2}',
  ]) {
    assert.equal(viaScan(sc, text), null, `the fast path should defer ${JSON.stringify(text)}`);
  }
});

test('scan: a byte that is not plain is found at any position of a string (four-byte steps and the bytes after them)', () => {
  // Every byte that ends or breaks a plain run — control characters, the quote, the
  // backslash, bytes above 0x7F — at offsets 0..9 of a key, of a wanted string and of a
  // skipped string: the scanner takes the payload only where JSON.parse does, with the
  // same values, and otherwise defers.
  const sc = new FieldScanner(FIELDS);
  const special = [...Array.from({ length: 0x20 }, (_, c) => c), 0x22, 0x5c, 0x7f, 0x80, 0xc3, 0xff];
  const where = [
    (t: string) => `{"${t}":1,"sensor_id":"s1"}`,
    (t: string) => `{"sensor_id":"${t}","value":2}`,
    (t: string) => `{"event_id":"${t}","value":3}`,
  ];
  let taken = 0;
  let deferred = 0;
  for (const c of special) {
    for (let at = 0; at < 10; at++) {
      for (const make of where) {
        for (const tail of ['', 'abc', 'abcdefgh']) {
          const head = 'x'.repeat(at);
          // Latin-1 text, so that one character is one byte (0x80 and above are invalid UTF-8 alone).
          const bytes = Buffer.from(make(head + String.fromCharCode(c) + tail), 'latin1');
          const text = bytes.toString('latin1');
          const scanned = sc.scan(bytes, 0, bytes.length);
          const parsed = (() => {
            try {
              JSON.parse(bytes.toString('utf8'));
              return true;
            } catch {
              return false;
            }
          })();
          if (scanned) {
            taken++;
            assert.ok(parsed && c >= 0x20 && c < 0x80, `taken, but JSON.parse refuses or the byte is outside the subset: ${JSON.stringify(text)}`);
            assert.ok(agree(sc, text), JSON.stringify(text));
          } else {
            deferred++;
          }
        }
      }
    }
  }
  // 0x7F (DEL) is plain; a backslash or a quote can still make valid JSON (an escape or an early end).
  assert.ok(taken > 0 && deferred > 0, `taken ${taken}, deferred ${deferred}`);
  // Plain runs of any length up to 4 × 5 + 3, read to the exact end.
  for (let n = 0; n < 24; n++) {
    const id = 'abcdefghijklmnopqrstuvwxyz'.slice(0, n);
    assert.ok(agree(sc, `{"sensor_id":"${id}","event_id":"${id}","${id}x":"${id}"}`), `run of ${n}`);
  }
});

test('scan: keys remembered by position never stand in for different bytes', () => {
  // One scanner over payloads whose keys change place, length, escapes and neighbours
  // between calls, in a fixed shuffled order: every payload is taken only where JSON.parse
  // agrees, and deferred otherwise, exactly as a fresh scanner decides it.
  const shapes = [
    '{"sensor_id":"s1","value":1,"timestamp":"t"}',
    '{"value":2,"sensor_id":"s2","timestamp":"t"}',
    '{"sensor_id2":"x","sensor_id":"s3"}',
    '{"sensor_i":"x","sensor_id":"s4","value":4}',
    '{"sensor_id":"s5","value":5,"value":6}',
    '{"sensor\u005fid":"s6","value":7}',
    '{"sensor_id":"s7","value":8,"timestamp"',
    '{"sensor_id":"s8","value":9,"timestamp":"t","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"sensor_id":"dup"}',
    `{"${'k'.repeat(70)}":1,"sensor_id":"s9"}`,
    `{"${'k'.repeat(70)}x":1,"value":10}`,
    '{"sensor_id":"s10","value":11,"timestamp":"t","metadata":{"sensor_id":"inner"}}',
    '{"value" :12, "sensor_id" : "s11"}',
  ];
  const sc = new FieldScanner(FIELDS);
  let seed = 3;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const text = shapes[seed % shapes.length];
    const fresh = viaScan(new FieldScanner(FIELDS), text);
    const reused = viaScan(sc, text);
    assert.deepEqual(reused, fresh, `payload ${i}: ${text}`);
    if (reused !== null) assert.ok(agree(sc, text));
  }
});

test('scan: numbers are the doubles JSON.parse gives, to the last bit', () => {
  const sc = new FieldScanner(FIELDS);
  const fixed = [
    '0', '-0', '0.0', '-0.0e-0', '1', '-1', '0.1', '0.3', '21.61', '231.7', '1e22', '1e23', '9007199254740993', '123456789012345678',
    '1.7976931348623157e308', '1.8e308', '5e-324', '4.9e-324', '2e-324', '1E+2', '1e-22', '123456789012345e-22', '999999999999999e22',
    '0.000000000000000000000000001', '100000000000000000000000', '1.0000000000000002', '0.30000000000000004', '12345.678901234567',
    '3.14159265358979323846264338327950288', '1e400', '-1e400', '1e-400',
  ];
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const digits = (k: number): string => Array.from({ length: k }, () => Math.floor(rnd() * 10)).join('');
  const random: string[] = [];
  for (let i = 0; i < 20000; i++) {
    const int = rnd() < 0.2 ? '0' : String(1 + Math.floor(rnd() * 9)) + digits(Math.floor(rnd() * 12));
    const frac = rnd() < 0.7 ? '.' + digits(1 + Math.floor(rnd() * 18)) : '';
    const exp = rnd() < 0.3 ? 'e' + (rnd() < 0.5 ? '-' : '') + String(Math.floor(rnd() * 40)) : '';
    random.push((rnd() < 0.3 ? '-' : '') + int + frac + exp);
  }
  for (const n of [...fixed, ...random]) assert.ok(agree(sc, `{"value":${n}}`), n);
});

test('scan: random damage to real payloads never makes it accept what JSON.parse refuses', () => {
  const sc = new FieldScanner(FIELDS);
  const gen = new EventGenerator({ seed: 3, events: 2000, sensors: 50, mix: { sensor: 1, meter: 0, weather: 0 }, timestampStyle: 'mixed' });
  const alphabet = '{}[]":,.-+eE0123456789 \t\n\\/ubfnrtx\u00e9\u0000\u001fatrue';
  let seed = 99;
  const rnd = (k: number): number => Math.floor(((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * k);
  let accepted = 0;
  let deferred = 0;
  while (!gen.done) {
    const base = String(gen.next().value);
    for (let m = 0; m < 20; m++) {
      let t = base;
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(t.length + 1);
        const op = rnd(3);
        const ch = alphabet[rnd(alphabet.length)];
        t = op === 0 ? t.slice(0, at) + ch + t.slice(at) : op === 1 ? t.slice(0, at) + t.slice(at + 1) : t.slice(0, at) + ch + t.slice(at + 1);
      }
      if (agree(sc, t)) accepted++;
      else deferred++;
    }
  }
  // Both outcomes occur, so the property was tested in both directions.
  assert.ok(accepted > 1000 && deferred > 1000, `accepted ${accepted}, deferred ${deferred}`);
});

test('timestamps read from bytes equal parseTimestamp of the same text', () => {
  const texts = [
    '2026-11-28T02:51:52.512000', '2026-11-28T02:51:52.512Z', '2026-11-28 02:51:52.512', '2026-11-28t02:51:52', '2026-11-28T02:51:52.5',
    '2026-11-28T02:51:52.51', '2026-11-28T02:51:52.', '2026-11-28T02:51:60', '2026-11-28T02:51:59.999999999Z', '2026-11-28T04:51:52.512+02:00',
    '9999-12-31T23:59:59.999', '9999-12-31T23:59:59.999Z', '0001-01-01T00:00:00', '2026-02-29T00:00:00', '2024-02-29T00:00:00',
    '2026-11-28', '', 'Z', 'x', '2026-11-28T02:51', '2026-11-28T02:51Z', '2026-11-28X02:51:52', '2026-11-28T02:5a:52', '2026-11-28T02:51:52.51a',
  ];
  // Twice, so the cached minute is both filled and reused.
  for (let r = 0; r < 2; r++) {
    for (const t of texts) {
      const b = Buffer.from(`xx${t}yy`, 'latin1');
      const got = parseTimestampBytes(b, 2, 2 + t.length);
      assert.ok(Object.is(got, parseTimestamp(t)), `${t}: ${got} vs ${parseTimestamp(t)}`);
    }
  }
});

test('dictionary: a key found from bytes and from its string is one id, across batches too', () => {
  const table = new Interner();
  for (let batch = 0; batch < 3; batch++) {
    const d = new Dict(table);
    const b = Buffer.from('voltage|sensor_1|current|caf');
    const a = d.idBytes(b, 0, 7, 8, 16);
    assert.equal(d.id2('voltage', 'sensor_1'), a);
    assert.equal(d.names[a], 'voltage\u0000sensor_1');
    const c = d.id('café');
    assert.notEqual(d.idBytes(b, 25, 28), c);
    assert.equal(d.idBytes(b, 17, 24), d.id('current'));
    assert.deepEqual(d.names, ['voltage\u0000sensor_1', 'café', 'caf', 'current']);
  }
});

test('dictionary: pairs and single keys of every length get one id each, bytes or strings first, while the table grows', () => {
  const table = new Interner();
  const d = new Dict(table);
  const ids = new Map<string, number>();
  for (let n = 0; n < 3000; n++) {
    // Part lengths 0..12 cover whole four-byte words and every tail length.
    const a = 'abcdefghijkl'.slice(0, n % 13) + (n % 7);
    const b = `id_${'x'.repeat(n % 11)}${n}`;
    const buf = Buffer.from(`${a}|${b}`);
    const fromBytesFirst = n % 2 === 0;
    const p1 = fromBytesFirst ? d.idBytes(buf, 0, a.length, a.length + 1, buf.length) : d.id2(a, b);
    const p2 = fromBytesFirst ? d.id2(a, b) : d.idBytes(buf, 0, a.length, a.length + 1, buf.length);
    assert.equal(p1, p2, `pair ${a} / ${b}`);
    const s1 = fromBytesFirst ? d.idBytes(buf, a.length + 1, buf.length) : d.id(b);
    assert.equal(s1, fromBytesFirst ? d.id(b) : d.idBytes(buf, a.length + 1, buf.length), `key ${b}`);
    assert.equal(d.names[p1], `${a}\u0000${b}`);
    for (const [k, id] of [[`${a}\u0000${b}`, p1], [b, s1]] as const) {
      const seen = ids.get(k);
      assert.ok(seen === undefined || seen === id, `${k}: ids ${seen} and ${id}`);
      ids.set(k, id);
    }
  }
  assert.equal(new Set(ids.values()).size, ids.size, 'distinct keys, distinct ids');
});

/** The generator's records of one stream, packed as a task. */
function hostileTask(kind: Kind, seed: number, n: number, extra: { watermark?: number; futureLimit?: number } = {}): AggregateTask {
  const mix = { sensor: kind === Kind.sensor ? 1 : 0, meter: kind === Kind.meter ? 1 : 0, weather: kind === Kind.weather ? 1 : 0 };
  const gen = new EventGenerator({ seed, events: n, sensors: 300, customers: 40, mix, badShare: 0.2, lateShare: 0.05, outOfOrderShare: 0.2, timestampStyle: 'mixed' });
  const vals: Buffer[] = [];
  while (!gen.done) {
    const v = gen.next().value;
    vals.push(v === null ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));
  }
  const bytes = Buffer.concat(vals);
  const offsets = new Uint32Array(vals.length + 1);
  let at = 0;
  vals.forEach((v, i) => {
    offsets[i] = at;
    at += v.length;
  });
  offsets[vals.length] = at;
  const windowMs = kind === Kind.sensor ? 300_000 : 3_600_000;
  return { kind, windowMs, watermark: extra.watermark ?? -Infinity, futureLimit: extra.futureLimit ?? Infinity, bytes, offsets, parts: new Uint16Array(vals.length), numParts: 1 };
}

const comparable = (r: AggregateResult): unknown => ({ ...r, decodeNs: 0, aggregateNs: 0 });

test('a hostile batch aggregates to exactly the same result on the fast and the general path', () => {
  const start = Date.UTC(2026, 10, 28, 6);
  for (const kind of [Kind.sensor, Kind.meter, Kind.weather]) {
    for (const opts of [{}, { watermark: start, futureLimit: Date.UTC(2026, 10, 28, 12) }]) {
      const task = hostileTask(kind, 11 + kind, 6000, opts);
      try {
        setFastPath(false);
        const general = aggregateBatch(task);
        setFastPath(true);
        const fast = aggregateBatch(task);
        assert.ok(general.rejected.length > 500, `the batch has bad records (${general.rejected.length})`);
        assert.deepEqual(comparable(fast), comparable(general));
      } finally {
        setFastPath(true);
      }
    }
  }
});

test('CRC-32C: the native and the JavaScript implementation agree', () => {
  assert.equal(crc32cJs(new TextEncoder().encode('123456789')), 0xe3069283);
  const buf = new Uint8Array(70_000);
  let x = 7;
  for (let i = 0; i < buf.length; i++) buf[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  for (const [s, e] of [[0, 0], [0, 1], [3, 300], [1, 4097], [5, 70_000], [0, 70_000], [255, 512]]) {
    assert.equal(crc32c(buf, s, e), crc32cJs(buf, s, e), `${s}..${e}`);
  }
  // Say which one ran, so a machine without the prebuilt binary shows up in the test log.
  assert.match(CRC32C_IMPLEMENTATION, /native|JavaScript/);
});

test('a worker whose first task of a stream holds no records (only transaction markers) answers with an empty result', async () => {
  const { ColumnBuffers } = await import('../../src/arrow/columns.js');
  const cols = new ColumnBuffers(['event_time', 'value'], ['group']);
  cols.reserve(0);
  assert.equal(cols.toTable(0).numRows, 0);
});
