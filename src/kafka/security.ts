/**
 * TLS options of the wire client, the errors of a failed TLS handshake (which ones retrying
 * cannot fix, and what to set then), and `securityFromFiles`, which turns file names and
 * flags as an operator gives them into the client's `tls` and `sasl` options.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type tls from 'node:tls';
import { KafkaWireError } from './errors.js';
import { SASL_MECHANISMS, type SaslMechanism, type SaslOptions } from './sasl.js';

/**
 * TLS settings: the subset of Node's tls.ConnectionOptions a Kafka client needs. An empty
 * object means TLS trusting the system's CAs. `servername` is the name the broker's
 * certificate must carry (default: the broker's host, when it is not an IP address; an IP
 * address must be in the certificate's subjectAltName then).
 */
export type TlsOptions = Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'rejectUnauthorized' | 'servername'>;

/** OpenSSL's verification errors for a certificate chain that does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CRL_HAS_EXPIRED', 'CERT_REVOKED']);
/** TLS alerts a broker sends when it wants, or does not accept, the client's certificate. */
const CLIENT_CERT_REFUSED = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE|ACCESS_DENIED)/;

/**
 * The error for a socket error during a TLS handshake with `address`: KAFKA_TLS_FAILED (not
 * retriable) when the configuration must change, KAFKA_DISCONNECTED (retriable) when the
 * network may be at fault. The message says what to set; the original error is the cause.
 */
export function tlsHandshakeError(e: Error & { code?: string }, address: string): KafkaWireError {
  const code = e.code ?? '';
  const what = `TLS handshake with ${address} failed`;
  const fatal = (why: string): KafkaWireError => new KafkaWireError('KAFKA_TLS_FAILED', `${what}: ${why}`, { cause: e });
  if (UNTRUSTED.has(code)) {
    return fatal(
      `the broker's certificate is not trusted (${code}: ${e.message}). Set tls.ca to the CA certificate that signed it ` +
        '(engine: --kafka-tls-ca FILE), or tls.rejectUnauthorized=false to skip the check (--kafka-tls-insecure; for tests only)',
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fatal(`the broker's certificate is not for this name (${e.message}). Connect by a name the certificate lists, or set tls.servername to one`);
  }
  if (EXPIRED.has(code)) return fatal(`the broker's certificate is not valid now (${code}: ${e.message})`);
  if (CLIENT_CERT_REFUSED.test(code)) {
    return fatal(`the broker refused the client certificate (${code}): it wants one its CA signed (tls.cert and tls.key; engine: --kafka-tls-cert, --kafka-tls-key)`);
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE/.test(code)) {
    return fatal(`the broker did not answer in TLS (${code}): is this a TLS (SSL or SASL_SSL) listener?`);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_')) return fatal(`${code}: ${e.message}`);
  // A broker that reads the TLS hello as a Kafka request on a listener without TLS takes it
  // for an oversized frame and closes the connection; so does a network failure.
  const hint = code === 'ECONNRESET' ? ' (a listener without TLS closes the connection on a TLS handshake: check the port)' : '';
  return new KafkaWireError('KAFKA_DISCONNECTED', `${what}: ${e.message}${hint}`, { cause: e, canRetry: true });
}

/** What an operator gives: file names and flags (the engine's --kafka-tls-* and --kafka-sasl-* options). */
export interface SecurityFiles {
  /** PEM file with the CA certificate(s) that signed the brokers' certificates; without it the system's CAs are trusted. */
  ca?: string;
  /** PEM file with the client's certificate (mutual TLS); needs `key`. */
  cert?: string;
  /** PEM file with the private key of `cert` (unencrypted, or give `keyPassphrase`). */
  key?: string;
  keyPassphrase?: string;
  /** Use TLS but do not check the broker's certificate (for tests only). */
  insecure?: boolean;
  /** Use TLS even when none of ca/cert/key/insecure is given (system CAs). */
  tls?: boolean;
  /** plain | scram-sha-256 | scram-sha-512 (any case). */
  mechanism?: string;
  username?: string;
  /** File whose content is the password (one trailing newline is dropped). */
  passwordFile?: string;
}

export interface SecurityOptions {
  tls?: TlsOptions;
  sasl?: SaslOptions;
}

const invalid = (message: string, cause?: unknown): KafkaWireError => new KafkaWireError('INVALID_ARGUMENT', message, { cause });

async function readSecret(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw invalid(`cannot read the ${what} file ${file}: ${(e as Error).message}`, e);
  }
}

/**
 * The client's `tls` and `sasl` options from files: reads them, checks that the
 * certificates and the key parse (and that the key belongs to the certificate), and
 * rejects incomplete settings (a certificate without a key, a mechanism without a user).
 * Every error is an INVALID_ARGUMENT KafkaWireError naming the file or setting; no
 * password ends up in a message. TLS is on when any of ca, cert, key, insecure or tls is
 * given; SASL when mechanism is. Typical use:
 *
 *   const security = await securityFromFiles({ ca: args.kafkaTlsCa, mechanism: args.kafkaSaslMechanism, ... });
 *   new KafkaWireClient({ brokers, ...security });
 */
export async function securityFromFiles(f: SecurityFiles): Promise<SecurityOptions> {
  const out: SecurityOptions = {};
  if ((f.cert === undefined) !== (f.key === undefined)) {
    throw invalid(f.cert === undefined ? 'a TLS client key needs its certificate (cert)' : 'a TLS client certificate needs its private key (key)');
  }
  if (f.ca !== undefined || f.cert !== undefined || f.insecure === true || f.tls === true) {
    const t: TlsOptions = {};
    if (f.ca !== undefined) {
      const ca = await readSecret(f.ca, 'TLS CA certificate');
      try {
        new X509Certificate(ca); // the first certificate of the bundle must parse
      } catch (e) {
        throw invalid(`the TLS CA file ${f.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----): ${(e as Error).message}`, e);
      }
      t.ca = ca;
    }
    if (f.cert !== undefined && f.key !== undefined) {
      const cert = await readSecret(f.cert, 'TLS client certificate');
      const key = await readSecret(f.key, 'TLS client key');
      let x509: X509Certificate;
      let keyObject: KeyObject;
      try {
        x509 = new X509Certificate(cert);
      } catch (e) {
        throw invalid(`the TLS client certificate file ${f.cert} holds no PEM certificate: ${(e as Error).message}`, e);
      }
      try {
        keyObject = createPrivateKey(f.keyPassphrase === undefined ? key : { key, passphrase: f.keyPassphrase });
      } catch (e) {
        throw invalid(`the TLS client key file ${f.key} holds no usable PEM private key (encrypted without a passphrase?): ${(e as Error).message}`, e);
      }
      if (!x509.checkPrivateKey(keyObject)) throw invalid(`the TLS client key ${f.key} does not belong to the certificate ${f.cert}`);
      t.cert = cert;
      t.key = key;
      if (f.keyPassphrase !== undefined) t.passphrase = f.keyPassphrase;
    }
    if (f.insecure === true) t.rejectUnauthorized = false;
    out.tls = t;
  }
  if (f.mechanism === undefined) {
    if (f.username !== undefined || f.passwordFile !== undefined) throw invalid(`a SASL user or password file needs a SASL mechanism (${SASL_MECHANISMS.join(', ')})`);
    return out;
  }
  const mechanism = f.mechanism.toLowerCase();
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw invalid(`SASL mechanism must be one of ${SASL_MECHANISMS.join(', ')}, got ${JSON.stringify(f.mechanism)}`);
  }
  if (f.username === undefined || f.username === '') throw invalid(`SASL ${mechanism} needs a user name`);
  if (f.passwordFile === undefined) throw invalid(`SASL ${mechanism} needs a password file`);
  const password = (await readSecret(f.passwordFile, 'SASL password')).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw invalid(`the SASL password file ${f.passwordFile} is empty`);
  out.sasl = { mechanism: mechanism as SaslMechanism, username: f.username, password };
  return out;
}
