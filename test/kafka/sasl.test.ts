/**
 * SASL and TLS settings without a broker: SCRAM against the RFC test vectors (RFC 5802's
 * SHA-1 example, RFC 7677's SHA-256 example), the client's checks of the broker's SCRAM
 * messages, the whole SaslHandshake/SaslAuthenticate exchange against an in-process SCRAM
 * server (and one that does not know the password), the messages' bytes, the TLS error
 * classification and securityFromFiles. The real broker is in security.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, Writer } from '../../src/kafka/codec.js';
import { KafkaWireError } from '../../src/kafka/errors.js';
import { KafkaWireClient } from '../../src/kafka/client.js';
import type { ApiVersionsResponse, RequestSpec } from '../../src/kafka/protocol.js';
import {
  ScramClient,
  authenticate,
  plainMessage,
  saslAuthenticateRequest,
  saslHandshakeRequest,
  type SaslAuthenticateResponse,
  type SaslHandshakeResponse,
  type SaslOptions,
  type ScramHash,
} from '../../src/kafka/sasl.js';
import { securityFromFiles, tlsHandshakeError } from '../../src/kafka/security.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'kafka', 'fixtures');

// ------------------------------------------------------------------ RFC test vectors

const VECTORS: { rfc: string; hash: ScramHash; nonce: string; clientFirst: string; serverFirst: string; clientFinal: string; serverFinal: string }[] = [
  {
    rfc: 'RFC 5802 section 5 (SCRAM-SHA-1)',
    hash: 'sha1',
    nonce: 'fyko+d2lbbFgONRv9qkxdawL',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    rfc: 'RFC 7677 section 3 (SCRAM-SHA-256)',
    hash: 'sha256',
    nonce: 'rOprNGfwEbeRWgbNEkqO',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
];

for (const v of VECTORS) {
  test(`SCRAM: the ${v.rfc} example, message by message`, async () => {
    const c = new ScramClient(v.hash, 'user', 'pencil', v.nonce);
    assert.equal(c.firstMessage().toString(), v.clientFirst);
    assert.equal((await c.finalMessage(Buffer.from(v.serverFirst))).toString(), v.clientFinal);
    c.verifyServerFinal(Buffer.from(v.serverFinal)); // does not throw
  });

  test(`SCRAM: a server signature one bit off the ${v.rfc} one is refused`, async () => {
    const c = new ScramClient(v.hash, 'user', 'pencil', v.nonce);
    await c.finalMessage(Buffer.from(v.serverFirst));
    const sig = Buffer.from(v.serverFinal.slice(2), 'base64');
    sig[sig.length - 1] ^= 1;
    assert.throws(() => c.verifyServerFinal(Buffer.from(`v=${sig.toString('base64')}`)), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError);
      assert.equal(e.code, 'KAFKA_AUTH_FAILED');
      assert.equal(e.canRetry, false);
      assert.match(e.message, /server signature is wrong/);
      return true;
    });
  });
}

test('SCRAM: the same exchange with another password gives another proof (the RFC vectors are not passed by accident)', async () => {
  const v = VECTORS[1];
  const c = new ScramClient(v.hash, 'user', 'pencil!', v.nonce);
  assert.notEqual((await c.finalMessage(Buffer.from(v.serverFirst))).toString(), v.clientFinal);
  assert.throws(() => c.verifyServerFinal(Buffer.from(v.serverFinal)), /server signature is wrong/);
});

test("SCRAM: the client refuses broker messages it must not accept", async () => {
  const nonce = 'abcdefghijklmnop';
  const cases: [string, RegExp][] = [
    ['r=zzzzzzzzzzzzzzzzq,s=QSXCR+Q6sek8bf92,i=4096', /nonce does not extend/],
    [`r=${nonce},s=QSXCR+Q6sek8bf92,i=4096`, /nonce does not extend/], // no server part
    [`r=${nonce}xyz,s=QSXCR+Q6sek8bf92,i=1024`, /1024 SCRAM iterations; at least 4096/],
    [`r=${nonce}xyz,s=QSXCR+Q6sek8bf92,i=lots`, /iterations/],
    [`r=${nonce}xyz,i=4096`, /r, s or i missing/],
    [`m=ext,r=${nonce}xyz,s=QSXCR+Q6sek8bf92,i=4096`, /extension/],
    ['e=other-error', /refused the SCRAM exchange: other-error/],
    ['garbage', /malformed/],
  ];
  for (const [serverFirst, why] of cases) {
    const c = new ScramClient('sha256', 'user', 'pencil', nonce);
    await assert.rejects(c.finalMessage(Buffer.from(serverFirst)), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError, serverFirst);
      assert.equal(e.code, 'KAFKA_AUTH_FAILED', serverFirst);
      assert.match(e.message, why, serverFirst);
      return true;
    });
  }
  const c = new ScramClient('sha256', 'user', 'pencil', nonce);
  await c.finalMessage(Buffer.from(`r=${nonce}xyz,s=QSXCR+Q6sek8bf92,i=4096`));
  assert.throws(() => c.verifyServerFinal(Buffer.from('e=invalid-proof')), /refused the SCRAM proof: invalid-proof/);
  assert.throws(() => c.verifyServerFinal(Buffer.from('x=1')), /no v=/);
});

test('SCRAM: user names escape "," and "=" (RFC 5802 saslname); default nonces are random', () => {
  const c = new ScramClient('sha512', 'a=b,c', 'pw', 'NONCE');
  assert.equal(c.firstMessage().toString(), 'n,,n=a=3Db=2Cc,r=NONCE');
  const a = new ScramClient('sha512', 'u', 'pw').firstMessage().toString();
  const b = new ScramClient('sha512', 'u', 'pw').firstMessage().toString();
  assert.match(a, /^n,,n=u,r=[A-Za-z0-9+/=]{32}$/);
  assert.notEqual(a, b);
  assert.throws(() => new ScramClient('sha256', 'u', 'pw', 'a,b'), /nonce/);
});

// ------------------------------------------------------------------ the exchange against an in-process server

/** A SCRAM server as RFC 5802 describes it, holding the user's stored key and server key (what Kafka keeps). */
function scramServer(hash: ScramHash, user: string, password: string, opts: { wrongServerKey?: boolean } = {}) {
  const salt = randomBytes(16);
  const iterations = 4096;
  const salted = pbkdf2Sync(Buffer.from(password), salt, iterations, createHash(hash).digest().length, hash);
  const hmac = (k: Buffer, s: string): Buffer => createHmac(hash, k).update(s).digest();
  const storedKey = createHash(hash).update(hmac(salted, 'Client Key')).digest();
  const serverKey = opts.wrongServerKey ? randomBytes(storedKey.length) : hmac(salted, 'Server Key');
  let firstBare = '';
  let serverFirst = '';
  return {
    first(msg: string): string | null {
      const m = /^n,,(n=([^,]*),r=(.*))$/.exec(msg);
      if (m === null || m[2] !== user) return null;
      firstBare = m[1];
      serverFirst = `r=${m[3]}${randomBytes(12).toString('base64')},s=${salt.toString('base64')},i=${iterations}`;
      return serverFirst;
    },
    final(msg: string): string | null {
      const m = /^(c=biws,r=[^,]*),p=(.*)$/.exec(msg);
      if (m === null) return null;
      const authMessage = `${firstBare},${serverFirst},${m[1]}`;
      const proof = Buffer.from(m[2], 'base64');
      const sig = hmac(storedKey, authMessage);
      const clientKey = Buffer.from(proof.map((b, i) => b ^ sig[i]));
      if (!createHash(hash).update(clientKey).digest().equals(storedKey)) return null;
      return `v=${hmac(serverKey, authMessage).toString('base64')}`;
    },
  };
}

const VERSIONS: ApiVersionsResponse = {
  errorCode: 0,
  apis: new Map([
    [17, { min: 0, max: 1 }],
    [36, { min: 0, max: 2 }],
  ]),
};

/**
 * A fake broker connection: encodes each request as the client would send it, decodes it
 * as the broker would, answers, and lets the client decode the encoded answer.
 */
function fakeBroker(mechanisms: string[], onAuth: (bytes: Buffer, step: number) => { errorCode: number; errorMessage?: string; bytes?: string }) {
  const seen: string[] = [];
  let step = 0;
  const send = async <T>(spec: RequestSpec<T>): Promise<T> => {
    const w = new Writer();
    spec.body(w);
    const req = new Reader(Buffer.from(w.view()));
    const res = new Writer();
    if (spec.apiKey === 17) {
      assert.equal(spec.flexible, false);
      const mechanism = req.string()!;
      seen.push(`handshake ${mechanism}`);
      res.int16(mechanisms.includes(mechanism) ? 0 : 33).int32(mechanisms.length);
      for (const m of mechanisms) res.string(m);
    } else if (spec.apiKey === 36) {
      const bytes = req.compactBytes()!;
      req.tags();
      seen.push(`authenticate ${step}`);
      const a = onAuth(Buffer.from(bytes), step++);
      const out = Buffer.from(a.bytes ?? '');
      res.int16(a.errorCode).compactString(a.errorMessage ?? null).uvarint(out.length + 1).bytes(out).int64(0n).tags();
    } else throw new Error(`unexpected api ${spec.apiKey}`);
    assert.equal(req.pos, req.buf.length, 'the broker read the whole request');
    return spec.decode(new Reader(Buffer.from(res.view())));
  };
  return { send, seen };
}

for (const [mechanism, hash] of [['scram-sha-256', 'sha256'], ['scram-sha-512', 'sha512']] as const) {
  const wire = mechanism.toUpperCase();
  test(`authenticate ${wire}: handshake, two SaslAuthenticate steps, server signature checked`, async () => {
    const server = scramServer(hash, 'alice', 's3cret');
    const broker = fakeBroker(['PLAIN', wire], (bytes, step) => {
      const answer = step === 0 ? server.first(bytes.toString()) : server.final(bytes.toString());
      return answer === null ? { errorCode: 58, errorMessage: 'Authentication failed: invalid credentials' } : { errorCode: 0, bytes: answer };
    });
    const session = await authenticate(broker.send, { mechanism, username: 'alice', password: 's3cret' }, VERSIONS, 'broker:9094');
    assert.equal(session.sessionLifetimeMs, 0);
    assert.deepEqual(broker.seen, [`handshake ${wire}`, 'authenticate 0', 'authenticate 1']);
  });

  test(`authenticate ${wire}: a wrong password is KAFKA_AUTH_FAILED naming mechanism and user, never the password`, async () => {
    const server = scramServer(hash, 'alice', 's3cret');
    const broker = fakeBroker([wire], (bytes, step) => {
      const answer = step === 0 ? server.first(bytes.toString()) : server.final(bytes.toString());
      return answer === null ? { errorCode: 58, errorMessage: 'Authentication failed: invalid credentials' } : { errorCode: 0, bytes: answer };
    });
    await assert.rejects(authenticate(broker.send, { mechanism, username: 'alice', password: 'hunter2' }, VERSIONS, 'broker:9094'), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError);
      assert.equal(e.code, 'KAFKA_AUTH_FAILED');
      assert.equal(e.canRetry, false);
      assert.equal(e.kafkaCode, 58);
      assert.match(e.message, new RegExp(`^SASL ${wire} authentication of user "alice" at broker:9094 failed: Authentication failed`));
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    });
  });

  test(`authenticate ${wire}: a broker that accepts the proof but cannot prove it knows the credentials is refused`, async () => {
    const server = scramServer(hash, 'alice', 's3cret', { wrongServerKey: true });
    const broker = fakeBroker([wire], (bytes, step) => ({ errorCode: 0, bytes: (step === 0 ? server.first(bytes.toString()) : server.final(bytes.toString())) ?? '' }));
    await assert.rejects(authenticate(broker.send, { mechanism, username: 'alice', password: 's3cret' }, VERSIONS, 'broker:9094'), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError);
      assert.equal(e.code, 'KAFKA_AUTH_FAILED');
      assert.match(e.message, new RegExp(`^SASL ${wire} authentication of user "alice" at broker:9094 failed: the broker's SCRAM server signature is wrong`));
      return true;
    });
  });
}

test('authenticate PLAIN: one SaslAuthenticate with NUL user NUL password', async () => {
  let got: Buffer | undefined;
  const broker = fakeBroker(['PLAIN'], (bytes) => {
    got = bytes;
    return { errorCode: 0 };
  });
  await authenticate(broker.send, { mechanism: 'plain', username: 'bob', password: 'pw' }, VERSIONS, 'b:1');
  assert.deepEqual(got, Buffer.from('\u0000bob\u0000pw'));
  assert.deepEqual(plainMessage('ü', 'x'), Buffer.from([0, 0xc3, 0xbc, 0, 0x78]));
  assert.deepEqual(broker.seen, ['handshake PLAIN', 'authenticate 0']);
});

test('authenticate: a mechanism the listener has not enabled, and a listener without SASL, say so', async () => {
  const opts: SaslOptions = { mechanism: 'scram-sha-512', username: 'bob', password: 'pw' };
  await assert.rejects(authenticate(fakeBroker(['PLAIN'], () => ({ errorCode: 0 })).send, opts, VERSIONS, 'b:1'), (e: unknown) => {
    assert.ok(e instanceof KafkaWireError && e.code === 'KAFKA_AUTH_FAILED' && e.kafkaCode === 33);
    assert.match(e.message, /user "bob" at b:1 failed: the listener does not accept SCRAM-SHA-512 \(UNSUPPORTED_SASL_MECHANISM \(33\); it has PLAIN enabled\)/);
    return true;
  });
  await assert.rejects(authenticate(fakeBroker([], () => ({ errorCode: 0 })).send, opts, VERSIONS, 'b:1'), /no SASL mechanism enabled: is this a SASL listener\?/);
});

test('authenticate: a broker without SaslAuthenticate v2 is UNSUPPORTED_VERSION', async () => {
  const old: ApiVersionsResponse = { errorCode: 0, apis: new Map([[17, { min: 0, max: 1 }], [36, { min: 0, max: 1 }]]) };
  await assert.rejects(authenticate(fakeBroker(['PLAIN'], () => ({ errorCode: 0 })).send, { mechanism: 'plain', username: 'u', password: 'p' }, old, 'b:1'), (e: unknown) => {
    assert.ok(e instanceof KafkaWireError && e.code === 'UNSUPPORTED_VERSION');
    assert.match(e.message, /SaslAuthenticate v0-v1; this client needs v2/);
    return true;
  });
});

test('SaslHandshake v1 and SaslAuthenticate v2 request bytes', () => {
  const w = new Writer();
  saslHandshakeRequest('PLAIN').body(w);
  assert.deepEqual(w.view(), Buffer.from([0, 5, ...Buffer.from('PLAIN')]));
  const a = new Writer();
  saslAuthenticateRequest(Buffer.from([1, 2, 3])).body(a);
  assert.deepEqual(a.view(), Buffer.from([4, 1, 2, 3, 0])); // compact bytes (length + 1), empty tags
  // Responses: handshake (error, [mechanisms]) and authenticate (error, message, bytes, lifetime, tags)
  const hs = saslHandshakeRequest('X').decode(new Reader(Buffer.from([0, 33, 0, 0, 0, 1, 0, 1, 0x41])));
  assert.deepEqual(hs, { errorCode: 33, mechanisms: ['A'] } satisfies SaslHandshakeResponse);
  const au = saslAuthenticateRequest(Buffer.alloc(0)).decode(new Reader(Buffer.from([0, 0, 0, 3, 0x68, 0x69, 0, 0, 0, 0, 0, 0, 0x27, 0x10, 0])));
  assert.deepEqual(au, { errorCode: 0, errorMessage: null, authBytes: Buffer.from('hi'), sessionLifetimeMs: 10000n } satisfies SaslAuthenticateResponse);
});

test('the client refuses incomplete SASL settings when it is made, before connecting', () => {
  const make = (sasl: unknown) => () => new KafkaWireClient({ brokers: ['b:1'], sasl: sasl as SaslOptions });
  assert.throws(make({ mechanism: 'gssapi', username: 'u', password: 'p' }), /options\.sasl\.mechanism must be one of plain, scram-sha-256, scram-sha-512, got "gssapi"/);
  assert.throws(make({ mechanism: 'plain', username: '', password: 'p' }), /needs a username and a password/);
  assert.throws(make({ mechanism: 'plain', username: 'u' }), /needs a username and a password/);
  assert.doesNotThrow(make({ mechanism: 'scram-sha-256', username: 'u', password: '' }));
});

// ------------------------------------------------------------------ TLS errors

test('TLS handshake errors: untrusted, wrong name, not TLS are not retriable and say what to set; a reset is retriable', () => {
  const err = (code: string, message = code): Error & { code: string } => Object.assign(new Error(message), { code });
  const untrusted = tlsHandshakeError(err('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'h:9094');
  assert.equal(untrusted.code, 'KAFKA_TLS_FAILED');
  assert.equal(untrusted.canRetry, false);
  assert.match(untrusted.message, /^TLS handshake with h:9094 failed: the broker's certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN: .*Set tls\.ca .*--kafka-tls-ca/);
  assert.equal((untrusted.cause as { code: string }).code, 'SELF_SIGNED_CERT_IN_CHAIN');
  assert.match(tlsHandshakeError(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'h:1').message, /not trusted/);
  assert.match(tlsHandshakeError(err('ERR_TLS_CERT_ALTNAME_INVALID'), 'h:1').message, /not for this name.*tls\.servername/);
  assert.match(tlsHandshakeError(err('CERT_HAS_EXPIRED'), 'h:1').message, /not valid now/);
  assert.match(tlsHandshakeError(err('ERR_SSL_WRONG_VERSION_NUMBER'), 'h:1').message, /did not answer in TLS/);
  assert.match(tlsHandshakeError(err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'h:1').message, /refused the client certificate.*tls\.cert/);
  const reset = tlsHandshakeError(err('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established'), 'h:1');
  assert.equal(reset.code, 'KAFKA_DISCONNECTED');
  assert.equal(reset.canRetry, true);
  assert.match(reset.message, /a listener without TLS closes the connection/);
});

// ------------------------------------------------------------------ securityFromFiles

test('securityFromFiles: reads and checks the files, builds tls and sasl; clear INVALID_ARGUMENT errors', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sg-security-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = path.join(FIXTURES, 'client-cert.pem');
  const key = path.join(FIXTURES, 'client-key.pem');
  const pw = path.join(dir, 'password');
  await writeFile(pw, 'sesame\n');

  assert.deepEqual(await securityFromFiles({}), {});
  const full = await securityFromFiles({ ca: cert, cert, key, mechanism: 'SCRAM-SHA-512', username: 'svc', passwordFile: pw });
  assert.ok(Buffer.isBuffer(full.tls?.ca) && full.tls.ca.toString().includes('BEGIN CERTIFICATE'));
  assert.ok(Buffer.isBuffer(full.tls?.key) && full.tls.key.toString().includes('PRIVATE KEY'));
  assert.equal(full.tls?.rejectUnauthorized, undefined);
  assert.deepEqual(full.sasl, { mechanism: 'scram-sha-512', username: 'svc', password: 'sesame' });
  assert.deepEqual(await securityFromFiles({ insecure: true }), { tls: { rejectUnauthorized: false } });
  assert.deepEqual(await securityFromFiles({ tls: true }), { tls: {} });
  assert.deepEqual((await securityFromFiles({ mechanism: 'plain', username: 'u', passwordFile: pw })).tls, undefined, 'SASL without TLS (SASL_PLAINTEXT)');

  const bad = async (f: Parameters<typeof securityFromFiles>[0], why: RegExp): Promise<void> => {
    await assert.rejects(securityFromFiles(f), (e: unknown) => {
      assert.ok(e instanceof KafkaWireError, String(e));
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, why);
      assert.doesNotMatch(e.message, /sesame/);
      return true;
    });
  };
  await bad({ ca: path.join(dir, 'missing.pem') }, /cannot read the TLS CA certificate file .*missing\.pem: ENOENT/);
  await bad({ ca: pw }, /the TLS CA file .*password holds no PEM certificate/);
  await bad({ cert }, /needs its private key/);
  await bad({ key }, /needs its certificate/);
  await bad({ cert, key: pw }, /client key file .*password holds no usable PEM private key/);
  const other = path.join(dir, 'other-key.pem');
  await writeFile(other, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await bad({ cert, key: other }, /does not belong to the certificate/);
  await bad({ mechanism: 'gssapi', username: 'u', passwordFile: pw }, /must be one of plain, scram-sha-256, scram-sha-512, got "gssapi"/);
  await bad({ mechanism: 'plain', passwordFile: pw }, /needs a user name/);
  await bad({ mechanism: 'plain', username: 'u' }, /needs a password file/);
  await bad({ username: 'u', passwordFile: pw }, /needs a SASL mechanism/);
  const empty = path.join(dir, 'empty');
  await writeFile(empty, '\n');
  await bad({ mechanism: 'plain', username: 'u', passwordFile: empty }, /password file .* is empty/);
});
