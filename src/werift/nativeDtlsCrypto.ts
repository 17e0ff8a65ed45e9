import {
  createPrivateKey,
  createPublicKey,
  createSign,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * The public-key work of werift's DTLS handshake done by Node's crypto (OpenSSL) instead of JavaScript,
 * for every werift connection in the process. Per handshake werift 0.25.2 spends:
 *
 * - X25519 (the ECDHE curve Chromium and werift pick first) in tweetnacl, pure JavaScript: a key pair
 *   (0.54 ms) and the shared secret (0.87 ms). Here they take 37 µs and 42 µs.
 * - its ECDSA signature (the server's key exchange, or the client's certificate verify) through
 *   @fidm/x509's `PrivateKey.sign`, which hands OpenSSL the key as PEM text to parse on every signature:
 *   335 µs, against 23 µs with the key parsed once.
 * - its own certificate, parsed from PEM by @fidm/x509 (in JavaScript, 72 µs) for every handshake and
 *   every fingerprint it puts in an SDP; it is now parsed once.
 *
 * That work runs on the thread that also forwards everyone else's media: with 400 people joining a room
 * at once it was 15 % of the room worker's time (X25519 8.8 %, the signature 4.3 %, the certificate
 * 2.3 %; docs/BENCHMARKS.md, "Joins in a burst").
 *
 * Composition, not an edit of node_modules: werift's bundle imports tweetnacl's and @fidm/x509's module
 * objects, so the functions are replaced on those objects (resolved from werift's own location, so they are
 * the instances werift loaded). Results are the same bytes as tweetnacl's (test/nativeDtlsCrypto.test.ts
 * compares them); where OpenSSL refuses an input tweetnacl accepts (a low-order public point, whose shared
 * secret is all zeros, RFC 7748 §6.1), tweetnacl's own function answers, so nothing a peer sends can
 * make the handshake code throw where it did not before.
 */

interface Nacl {
  box: { keyPair: NaclKeyPairFn };
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & { base: unknown };
}
type NaclKeyPairFn = (() => { publicKey: Uint8Array; secretKey: Uint8Array }) & {
  fromSecretKey?: unknown;
};
interface PrivateKeyInternals {
  oid: string;
  toPEM(): string;
  sign(data: Buffer, hashAlgorithm: string): Buffer;
}
interface PrivateKeyClass {
  prototype: PrivateKeyInternals;
  _signers?: Record<string, unknown>;
}
interface CertificateClass {
  fromPEM(data: Buffer): unknown;
}

/** DER prefix of an X25519 private key (RFC 8410, PKCS #8). */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const KEY_BYTES = 32;

/** What werift's `require` would load: the instances its bundle imported. */
function fromWerift(id: string): unknown {
  const local = createRequire(import.meta.url);
  return createRequire(local.resolve('werift'))(id);
}

function x25519PrivateKey(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' });
}

/** A fresh array of its own: werift reads `.buffer` of what tweetnacl returns. */
function own(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_BYTES);
  out.set(bytes);
  return out;
}

/**
 * The OpenSSL key of each secret `keyPair` made, by the secret's buffer (werift wraps that buffer in a
 * Buffer of its own and passes it back to `scalarMult`): importing an X25519 private key costs 30–300 µs,
 * the shared secret itself 30 µs. The bytes are kept to check that the buffer still holds that secret.
 */
const madeKeys = new WeakMap<ArrayBufferLike, { secret: Buffer; key: KeyObject }>();

/** tweetnacl's `box.keyPair`: a random secret and its X25519 public key (RFC 7748 §6.1). */
function keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const secret = Buffer.from(jwk.d ?? '', 'base64url');
  const point = Buffer.from(jwk.x ?? '', 'base64url');
  if (secret.length !== KEY_BYTES || point.length !== KEY_BYTES) throw new Error('X25519 key export failed');
  const secretKey = own(secret);
  madeKeys.set(secretKey.buffer, { secret, key: privateKey });
  return { publicKey: own(point), secretKey };
}

function privateKeyOf(n: Uint8Array): KeyObject {
  const made = n.byteOffset === 0 && n.byteLength === KEY_BYTES ? madeKeys.get(n.buffer) : undefined;
  if (made?.secret.equals(n)) return made.key;
  return x25519PrivateKey(n);
}

function publicKeyOf(p: Uint8Array): KeyObject {
  return createPublicKey({
    key: {
      kty: 'OKP',
      crv: 'X25519',
      x: Buffer.from(p.buffer, p.byteOffset, KEY_BYTES).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** Private keys parsed once, by PEM: werift makes a new @fidm/x509 PrivateKey for every handshake. */
const signingKeys = new Map<string, KeyObject>();
/** Certificates parsed once, by PEM: werift parses its own certificate for every handshake and SDP. */
const certificates = new Map<string, unknown>();
/** Bounds of both maps: a process has one DTLS certificate (werift's, or one per configured key). */
const MAX_PARSED = 16;

let installed = false;
/** What was installed, to tell whether werift's modules still hold it. */
let ours:
  | {
      nacl: Partial<Nacl>;
      scalarMult: unknown;
      keyPair: unknown;
      x509: { PrivateKey: PrivateKeyClass; Certificate: CertificateClass };
      sign: unknown;
      fromPEM: unknown;
    }
  | undefined;

/** Whether werift's tweetnacl and @fidm/x509 run the functions of this module. */
export function nativeDtlsCryptoInstalled(): boolean {
  return (
    ours !== undefined &&
    ours.nacl.scalarMult === ours.scalarMult &&
    ours.nacl.box?.keyPair === ours.keyPair &&
    ours.x509.PrivateKey.prototype.sign === ours.sign &&
    ours.x509.Certificate.fromPEM === ours.fromPEM
  );
}

/** Idempotent; throws if the modules' shape changed, so an upgrade cannot silently drop the patch. */
export function installNativeDtlsCrypto(): void {
  if (installed) return;
  const nacl = fromWerift('tweetnacl') as Partial<Nacl>;
  const x509 = fromWerift('@fidm/x509') as { PrivateKey?: PrivateKeyClass; Certificate?: CertificateClass };
  const naclScalarMult = nacl.scalarMult;
  const naclKeyPair = nacl.box?.keyPair;
  const PrivateKey = x509.PrivateKey;
  const fidmSign = PrivateKey?.prototype.sign;
  const Certificate = x509.Certificate;
  const fidmFromPEM = Certificate?.fromPEM;
  if (
    typeof naclScalarMult !== 'function' ||
    typeof naclKeyPair !== 'function' ||
    typeof fidmSign !== 'function' ||
    typeof fidmFromPEM !== 'function'
  )
    throw new Error("werift's tweetnacl or @fidm/x509 changed shape: check src/werift/nativeDtlsCrypto.ts");

  const scalarMult = Object.assign((n: Uint8Array, p: Uint8Array): Uint8Array => {
    // tweetnacl's own checks and messages for a wrong size.
    if (n?.length !== KEY_BYTES || p?.length !== KEY_BYTES) return naclScalarMult(n, p);
    try {
      return new Uint8Array(diffieHellman({ privateKey: privateKeyOf(n), publicKey: publicKeyOf(p) }));
    } catch (error) {
      // OpenSSL refused the point (a low-order point: an all-zero secret); anything else is a bug here.
      if (!/^ERR_(OSSL|CRYPTO)_/.test((error as { code?: string }).code ?? '')) throw error;
      return naclScalarMult(n, p);
    }
  }, naclScalarMult);
  nacl.scalarMult = scalarMult;
  nacl.box!.keyPair = Object.assign(keyPair, naclKeyPair);

  PrivateKey!.prototype.sign = function (this: PrivateKeyInternals, data: Buffer, hashAlgorithm: string) {
    // Ed25519/Ed448 keys go through @fidm/x509's own signers, as before.
    if (PrivateKey!._signers?.[this.oid]) return fidmSign.call(this, data, hashAlgorithm);
    const pem = this.toPEM();
    let key = signingKeys.get(pem);
    if (!key) {
      key = createPrivateKey(pem);
      if (signingKeys.size >= MAX_PARSED) signingKeys.clear();
      signingKeys.set(pem, key);
    }
    return createSign(hashAlgorithm).update(data).sign(key);
  };
  // werift reads what it parses (`raw`, `publicKey`) and never changes it, so one parse serves all.
  Certificate!.fromPEM = function (this: CertificateClass, data: Buffer) {
    const pem = Buffer.isBuffer(data) ? data.toString('latin1') : String(data);
    let certificate = certificates.get(pem);
    if (certificate === undefined) {
      certificate = fidmFromPEM.call(this, data);
      if (certificates.size >= MAX_PARSED) certificates.clear();
      certificates.set(pem, certificate);
    }
    return certificate;
  };
  ours = {
    nacl,
    scalarMult,
    keyPair: nacl.box!.keyPair,
    x509: { PrivateKey: PrivateKey!, Certificate: Certificate! },
    sign: PrivateKey!.prototype.sign,
    fromPEM: Certificate!.fromPEM,
  };
  installed = true;
}

installNativeDtlsCrypto();
