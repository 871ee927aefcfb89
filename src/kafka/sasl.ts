/**
 * SASL authentication of a new connection, in the order the Java client uses: ApiVersions
 * (done by the caller), SaslHandshake v1 naming the mechanism, then the mechanism's
 * messages in SaslAuthenticate v2 requests (KIP-152). Until it succeeds, the broker answers
 * nothing else on the connection.
 *
 * Mechanisms: PLAIN (RFC 4616: one message with user and password, so only over TLS
 * outside tests) and SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677: the password never
 * crosses the wire, and the broker proves with its server signature that it knows the
 * user's credentials; a wrong signature fails the login). Passwords are used as their
 * UTF-8 bytes without SASLprep, as Kafka's own ScramFormatter does, so that the keys match
 * the credentials the broker stores.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { KafkaWireError, kafkaCodeName } from './errors.js';
import type { ApiVersionsResponse, RequestSpec } from './protocol.js';

const pbkdf2Async = promisify(pbkdf2);

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface SaslOptions {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

/** Mechanism names as the broker spells them (sasl.enabled.mechanisms). */
const WIRE_NAMES: Record<SaslMechanism, string> = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' };

export const SaslApiKey = { SaslHandshake: 17, SaslAuthenticate: 36 } as const;
/** The versions this client sends: SaslHandshake v1 (authentication in Kafka requests, KIP-152), SaslAuthenticate v2 (flexible). */
export const SASL_API_VERSIONS: Readonly<Record<keyof typeof SaslApiKey, number>> = { SaslHandshake: 1, SaslAuthenticate: 2 };

// ------------------------------------------------------------------ SaslHandshake v1

export interface SaslHandshakeResponse {
  errorCode: number;
  /** The mechanisms the listener has enabled. */
  mechanisms: string[];
}

/** Not flexible in any version: request header v1, response header v0, int16-length strings. */
export function saslHandshakeRequest(mechanism: string): RequestSpec<SaslHandshakeResponse> {
  return {
    apiKey: SaslApiKey.SaslHandshake,
    apiVersion: 1,
    flexible: false,
    body: (w) => w.string(mechanism),
    decode: (r) => {
      const errorCode = r.int16();
      const n = r.int32();
      const mechanisms: string[] = [];
      for (let i = 0; i < n; i++) mechanisms.push(r.string() ?? '');
      return { errorCode, mechanisms };
    },
  };
}

// ------------------------------------------------------------------ SaslAuthenticate v2

export interface SaslAuthenticateResponse {
  errorCode: number;
  errorMessage: string | null;
  authBytes: Buffer;
  /** How long the broker keeps the session (connections.max.reauth.ms); 0 when it does not expire. */
  sessionLifetimeMs: bigint;
}

export function saslAuthenticateRequest(authBytes: Uint8Array): RequestSpec<SaslAuthenticateResponse> {
  return {
    apiKey: SaslApiKey.SaslAuthenticate,
    apiVersion: 2,
    // auth_bytes: COMPACT_BYTES (uvarint length + 1)
    body: (w) => w.uvarint(authBytes.length + 1).bytes(authBytes).tags(),
    decode: (r) => {
      const errorCode = r.int16();
      const errorMessage = r.compactString();
      const authBytes = Buffer.from(r.compactBytes() ?? Buffer.alloc(0));
      const sessionLifetimeMs = r.int64();
      r.tags();
      return { errorCode, errorMessage, authBytes, sessionLifetimeMs };
    },
  };
}

// ------------------------------------------------------------------ PLAIN (RFC 4616)

/** authzid NUL authcid NUL passwd, with an empty authorization id (act as the user itself). */
export function plainMessage(username: string, password: string): Buffer {
  return Buffer.from(`\u0000${username}\u0000${password}`, 'utf8');
}

// ------------------------------------------------------------------ SCRAM (RFC 5802, RFC 7677)

export type ScramHash = 'sha1' | 'sha256' | 'sha512';

/** Kafka refuses fewer iterations (ScramMechanism.minIterations); so does this client, against a broker that asks for a weak hash. */
export const SCRAM_MIN_ITERATIONS = 4096;

const authError = (message: string, cause?: unknown): KafkaWireError => new KafkaWireError('KAFKA_AUTH_FAILED', message, { cause });

/** saslname: ',' and '=' escaped as =2C and =3D (RFC 5802 5.1). */
function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** The attributes of a SCRAM message (`a=value,b=value`), in order. */
function attributes(message: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of message.split(',')) {
    const match = /^([A-Za-z])=(.*)$/s.exec(part);
    if (match === null) throw authError(`malformed SCRAM message from the broker (attribute ${JSON.stringify(part.slice(0, 20))})`);
    if (!m.has(match[1])) m.set(match[1], match[2]);
  }
  return m;
}

/**
 * The client side of one SCRAM exchange:
 *
 *   client-first  n,,n=USER,r=CNONCE
 *   server-first  r=CNONCE+SNONCE,s=SALT,i=ITERATIONS
 *   client-final  c=biws,r=CNONCE+SNONCE,p=PROOF
 *   server-final  v=SERVER_SIGNATURE           (checked by verifyServerFinal)
 *
 * `nonce` is for tests (the RFC examples); by default it is 24 random bytes, base64.
 */
export class ScramClient {
  private readonly nonce: string;
  private readonly firstBare: string;
  private serverSignature: Buffer | undefined;
  private readonly hashBytes: number;

  constructor(
    private readonly hash: ScramHash,
    username: string,
    private readonly password: string,
    nonce?: string,
  ) {
    this.nonce = nonce ?? randomBytes(24).toString('base64');
    if (this.nonce === '' || this.nonce.includes(',')) throw new KafkaWireError('INVALID_ARGUMENT', 'a SCRAM nonce must be non-empty printable text without commas');
    this.firstBare = `n=${saslName(username)},r=${this.nonce}`;
    this.hashBytes = createHash(hash).digest().length;
  }

  /** client-first-message: GS2 header "n,," (no channel binding, no authzid) and the bare message. */
  firstMessage(): Buffer {
    return Buffer.from(`n,,${this.firstBare}`, 'utf8');
  }

  private hmac(key: Buffer, text: string): Buffer {
    return createHmac(this.hash, key).update(text, 'utf8').digest();
  }

  /** client-final-message for the broker's server-first-message (the key derivation runs off the event loop). */
  async finalMessage(serverFirst: Uint8Array): Promise<Buffer> {
    const text = Buffer.from(serverFirst).toString('utf8');
    const a = attributes(text);
    if (a.has('e')) throw authError(`the broker refused the SCRAM exchange: ${a.get('e')}`);
    if (a.has('m')) throw authError('the broker asks for a SCRAM extension this client does not know (m=)');
    const nonce = a.get('r');
    const salt = a.get('s');
    const iterations = Number(a.get('i'));
    if (nonce === undefined || salt === undefined || a.get('i') === undefined) throw authError('malformed SCRAM server-first message (r, s or i missing)');
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw authError("the broker's SCRAM nonce does not extend the client's");
    if (!Number.isSafeInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS) {
      throw authError(`the broker asks for ${a.get('i')} SCRAM iterations; at least ${SCRAM_MIN_ITERATIONS} are required`);
    }
    const saltedPassword = await pbkdf2Async(Buffer.from(this.password, 'utf8'), Buffer.from(salt, 'base64'), iterations, this.hashBytes, this.hash);
    const clientKey = this.hmac(saltedPassword, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    // c=biws: base64 of the GS2 header "n,,"
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.firstBare},${text},${withoutProof}`;
    const clientSignature = this.hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ clientSignature[i];
    this.serverSignature = this.hmac(this.hmac(saltedPassword, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks the broker's server-final-message: it must prove that the broker knows the user's credentials. */
  verifyServerFinal(serverFinal: Uint8Array): void {
    if (this.serverSignature === undefined) throw new KafkaWireError('INVALID_ARGUMENT', 'verifyServerFinal before finalMessage');
    const a = attributes(Buffer.from(serverFinal).toString('utf8'));
    if (a.has('e')) throw authError(`the broker refused the SCRAM proof: ${a.get('e')}`);
    const v = a.get('v');
    if (v === undefined) throw authError('malformed SCRAM server-final message (no v=)');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) {
      throw authError("the broker's SCRAM server signature is wrong: it does not hold this user's credentials (or is not the broker it claims to be)");
    }
  }
}

// ------------------------------------------------------------------ the exchange

export interface SaslSession {
  /** When the broker ends the session (KIP-368), in ms from now; 0 for never. */
  sessionLifetimeMs: number;
}

/**
 * Authenticates a connection on which ApiVersions was answered with `versions`. `send`
 * sends one request on it. Failures: KAFKA_AUTH_FAILED (refused credentials or mechanism,
 * a wrong SCRAM server signature; the message names the mechanism and the user, never the
 * password), UNSUPPORTED_VERSION, or the connection's own errors.
 */
export async function authenticate(
  send: <T>(spec: RequestSpec<T>) => Promise<T>,
  options: SaslOptions,
  versions: ApiVersionsResponse,
  address: string,
): Promise<SaslSession> {
  const mechanism = WIRE_NAMES[options.mechanism];
  if (mechanism === undefined) throw new KafkaWireError('INVALID_ARGUMENT', `SASL mechanism must be one of ${SASL_MECHANISMS.join(', ')}, got ${JSON.stringify(options.mechanism)}`);
  for (const [name, version] of Object.entries(SASL_API_VERSIONS)) {
    const range = versions.apis.get(SaslApiKey[name as keyof typeof SaslApiKey]);
    if (range === undefined || version < range.min || version > range.max) {
      const has = range === undefined ? 'not at all' : `v${range.min}-v${range.max}`;
      throw new KafkaWireError('UNSUPPORTED_VERSION', `${address} supports ${name} ${has}; this client needs v${version} for SASL`);
    }
  }
  const who = `SASL ${mechanism} authentication of user ${JSON.stringify(options.username)} at ${address}`;

  const hs = await send(saslHandshakeRequest(mechanism));
  if (hs.errorCode !== 0) {
    const enabled = hs.mechanisms.length > 0 ? `it has ${hs.mechanisms.join(', ')} enabled` : 'it has no SASL mechanism enabled: is this a SASL listener?';
    throw new KafkaWireError('KAFKA_AUTH_FAILED', `${who} failed: the listener does not accept ${mechanism} (${kafkaCodeName(hs.errorCode)}; ${enabled})`, {
      kafkaCode: hs.errorCode,
    });
  }
  const step = async (bytes: Buffer): Promise<SaslAuthenticateResponse> => {
    const r = await send(saslAuthenticateRequest(bytes));
    if (r.errorCode !== 0) {
      throw new KafkaWireError('KAFKA_AUTH_FAILED', `${who} failed: ${r.errorMessage ?? kafkaCodeName(r.errorCode)} (${kafkaCodeName(r.errorCode)})`, { kafkaCode: r.errorCode });
    }
    return r;
  };
  const lifetime = (r: SaslAuthenticateResponse): SaslSession => ({ sessionLifetimeMs: Number(r.sessionLifetimeMs) });

  if (options.mechanism === 'plain') return lifetime(await step(plainMessage(options.username, options.password)));

  const scram = new ScramClient(options.mechanism === 'scram-sha-256' ? 'sha256' : 'sha512', options.username, options.password);
  try {
    const first = await step(scram.firstMessage());
    const final = await step(await scram.finalMessage(first.authBytes));
    scram.verifyServerFinal(final.authBytes);
    return lifetime(final);
  } catch (e) {
    // The SCRAM client's own checks know nothing of the broker or the user: say both.
    if (e instanceof KafkaWireError && e.code === 'KAFKA_AUTH_FAILED' && !e.message.startsWith(who)) {
      throw new KafkaWireError('KAFKA_AUTH_FAILED', `${who} failed: ${e.message}`, { cause: e });
    }
    throw e;
  }
}
