import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { CipherContext, RTCPeerConnection } from 'werift';
import { nodePeerConfig } from '../src/client/node.js';
import { peerConfig } from '../src/sfu/peerConfig.js';
import { nativeDtlsCryptoInstalled } from '../src/werift/nativeDtlsCrypto.js';
import { LOOPBACK } from './helpers/server.js';

/** The instances werift loaded (patched by src/werift/nativeDtlsCrypto.ts). */
const fromWerift = createRequire(createRequire(import.meta.url).resolve('werift'));
interface Nacl {
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & { base(n: Uint8Array): Uint8Array };
  box: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } };
  lowlevel: { crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): number };
}
const nacl = fromWerift('tweetnacl') as Nacl;
const { PrivateKey, Certificate } = fromWerift('@fidm/x509') as {
  PrivateKey: { fromPEM(pem: Buffer): { sign(data: Buffer, hash: string): Buffer } };
  Certificate: { fromPEM(pem: Buffer): { raw: Buffer } };
};

/** tweetnacl's own X25519, which the patch leaves in `lowlevel`. */
function naclX25519(n: Uint8Array, p: Uint8Array): Uint8Array {
  const q = new Uint8Array(32);
  nacl.lowlevel.crypto_scalarmult(q, n, p);
  return q;
}

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe("werift's DTLS public-key work in OpenSSL", () => {
  it("is what werift's tweetnacl and @fidm/x509 run, in the server and in the Node client", () => {
    assert.ok(nativeDtlsCryptoInstalled());
  });

  it('X25519 gives the RFC 7748 §5.2 and §6.1 results', () => {
    assert.equal(
      Buffer.from(
        nacl.scalarMult(
          hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
          hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
        ),
      ).toString('hex'),
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    // §6.1: Alice's and Bob's key pairs and their shared secret.
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const alicePublic = nacl.scalarMult(alice, hex('09'.padEnd(64, '0')));
    assert.equal(
      Buffer.from(alicePublic).toString('hex'),
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const bobPublic = nacl.scalarMult(bob, hex('09'.padEnd(64, '0')));
    assert.equal(
      Buffer.from(bobPublic).toString('hex'),
      'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
    );
    const shared = nacl.scalarMult(bob, alicePublic);
    assert.deepEqual(nacl.scalarMult(alice, bobPublic), shared);
    assert.equal(
      Buffer.from(shared).toString('hex'),
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  it("gives tweetnacl's bytes for random keys and points, top bit of the point set or not", () => {
    for (let i = 0; i < 200; i++) {
      const n = new Uint8Array(randomBytes(32));
      const p = new Uint8Array(randomBytes(32));
      if (i % 2) p[31]! |= 0x80;
      assert.deepEqual(nacl.scalarMult(n, p), naclX25519(n, p), `key ${i}`);
    }
  });

  it('answers a low-order point as tweetnacl does (all zeros) rather than throwing in the handshake', () => {
    const n = new Uint8Array(randomBytes(32));
    for (const point of ['00'.repeat(32), '01'.padEnd(64, '0')]) {
      const p = hex(point);
      assert.deepEqual(nacl.scalarMult(n, p), new Uint8Array(32));
      assert.deepEqual(nacl.scalarMult(n, p), naclX25519(n, p));
    }
    assert.throws(() => nacl.scalarMult(new Uint8Array(31), new Uint8Array(32)), /bad n size/);
  });

  it('makes key pairs whose public key is X25519 of the secret, each array with its own 32-byte buffer', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { publicKey, secretKey } = nacl.box.keyPair();
      assert.equal(secretKey.buffer.byteLength, 32);
      assert.equal(publicKey.buffer.byteLength, 32);
      assert.deepEqual(publicKey, naclX25519(secretKey, hex('09'.padEnd(64, '0'))));
      seen.add(Buffer.from(secretKey).toString('hex'));
      // As werift uses them: the secret wrapped in a Buffer of its own, with the peer's public key.
      const peer = new Uint8Array(randomBytes(32));
      assert.deepEqual(nacl.scalarMult(Buffer.from(secretKey.buffer), peer), naclX25519(secretKey, peer));
      // The same buffer with other bytes in it is another secret.
      const changed = Buffer.from(secretKey.buffer);
      changed[1]! ^= 1;
      assert.deepEqual(nacl.scalarMult(changed, peer), naclX25519(changed, peer));
    }
    assert.equal(seen.size, 20);
  });

  it('signs with the DTLS key so that the signature verifies, for each of several keys', () => {
    for (let i = 0; i < 3; i++) {
      const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const data = randomBytes(100);
      for (let j = 0; j < 2; j++) {
        const signature = PrivateKey.fromPEM(Buffer.from(pem)).sign(data, 'sha256');
        assert.ok(verify('sha256', data, keys.publicKey, signature), `key ${i}`);
        assert.ok(!verify('sha256', randomBytes(100), keys.publicKey, signature));
      }
    }
  });

  it('parses each certificate once, and gives its DER bytes', async () => {
    const ecdsa = { signature: 3, hash: 4 } as const;
    const pems = await Promise.all(
      [1, 2].map(async () => (await CipherContext.createSelfSignedCertificateWithKey(ecdsa, 23)).certPem),
    );
    const der = (pem: string) =>
      Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const [a, b] = pems.map((pem) => Certificate.fromPEM(Buffer.from(pem)));
    assert.equal(Certificate.fromPEM(Buffer.from(pems[0]!)), a, 'the same PEM again: the same object');
    assert.notEqual(a, b);
    assert.deepEqual(a!.raw, der(pems[0]!));
    assert.deepEqual(b!.raw, der(pems[1]!));
    assert.throws(() => Certificate.fromPEM(Buffer.from('not a certificate')));
  });

  it('a server connection and a client connection complete their DTLS handshake and agree on SRTP keys', async () => {
    const server = new RTCPeerConnection(
      peerConfig({ minPort: 42300, maxPort: 42400, hostAddresses: LOOPBACK }),
    );
    const client = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
    try {
      server.addTransceiver('audio', { direction: 'sendonly' });
      await server.setLocalDescription(await server.createOffer());
      while (server.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 5));
      await client.setRemoteDescription(server.localDescription!);
      await client.setLocalDescription(await client.createAnswer());
      while (client.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 5));
      await server.setRemoteDescription(client.localDescription!);
      const deadline = Date.now() + 10_000;
      while (
        (server.connectionState !== 'connected' || client.connectionState !== 'connected') &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.connectionState, 'connected');
      assert.equal(client.connectionState, 'connected');
      type Srtp = { localContext: { srtpSessionKey: Buffer }; remoteContext: { srtpSessionKey: Buffer } };
      const keysOf = (pc: RTCPeerConnection) =>
        (pc.getTransceivers()[0]!.sender.dtlsTransport as unknown as { srtp: Srtp }).srtp;
      assert.deepEqual(
        keysOf(server).localContext.srtpSessionKey,
        keysOf(client).remoteContext.srtpSessionKey,
      );
      assert.deepEqual(
        keysOf(server).remoteContext.srtpSessionKey,
        keysOf(client).localContext.srtpSessionKey,
      );
    } finally {
      await Promise.all([server.close(), client.close()]);
    }
  });
});
