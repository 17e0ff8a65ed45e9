import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { RtpHeader, SrtpSession } from 'werift';
import { AesCmPackets, SEAL_OFFSET, SrtpEncryptor } from '../src/sfu/SrtpEncryptor.js';
import { sendDatagram, udpSendStats } from '../src/sfu/udpSend.js';
import type { SrtpContextInternals } from '../src/werift/internals.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('AES-CM SRTP sealing (AesCmPackets)', () => {
  it('RFC 3711 B.2: the keystream of the test vector (SSRC 0, index 0)', () => {
    const key = hex('2B7E151628AED2A6ABF7158809CF4F3C');
    const salt = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
    const cm = new AesCmPackets(key, salt, randomBytes(20));
    const buffer = cm.reserve(12 + 48);
    buffer.fill(0, SEAL_OFFSET, SEAL_OFFSET + 12);
    const size = cm.seal(cm.keystream(0), 12, Buffer.alloc(48), 0, 0);
    assert.equal(size, 12 + 48 + 10);
    // A zero payload encrypts to the keystream itself.
    assert.deepEqual(
      buffer.subarray(SEAL_OFFSET + 12, SEAL_OFFSET + 60),
      hex(`E03EAD0935C95E80E166B16DD92B4EB4
           D23513162B02D0F72A43A2FE4A5F97AB
           41E95B3BB0A2E8DD477901E4FCA894C0`),
    );
  });

  it('the tag is HMAC-SHA1(auth key, header ‖ encrypted payload ‖ ROC), first 80 bits (RFC 3711 §4.2)', () => {
    const authKey = randomBytes(20);
    const cm = new AesCmPackets(randomBytes(16), randomBytes(14), authKey);
    const header = randomBytes(12);
    const buffer = cm.reserve(12 + 333);
    header.copy(buffer, SEAL_OFFSET);
    const size = cm.seal(cm.keystream(77), 12, randomBytes(333), 4321, 0x01020304);
    const packet = Buffer.from(buffer.subarray(SEAL_OFFSET, SEAL_OFFSET + size));
    const expected = createHmac('sha1', authKey)
      .update(packet.subarray(0, 12 + 333))
      .update(hex('01020304'))
      .digest()
      .subarray(0, 10);
    assert.deepEqual(packet.subarray(12 + 333), expected);
  });

  it("a stream's packets are werift's bytes across batches, sequence wrap, growing sizes and SSRCs", () => {
    const keys = {
      localMasterKey: randomBytes(16),
      localMasterSalt: randomBytes(14),
      remoteMasterKey: randomBytes(16),
      remoteMasterSalt: randomBytes(14),
    };
    const session = new SrtpSession({ keys, profile: 1 });
    const context = session.localContext as unknown as SrtpContextInternals & {
      cipher: { encryptRtp(h: RtpHeader, p: Buffer, roc: number): Buffer };
    };
    const ours = new SrtpEncryptor(context);
    assert.ok(ours.aesCm, 'AES-CM packets are sealed in place');
    // The receiving side: werift's own session with the keys mirrored.
    const receiver = new SrtpSession({
      keys: {
        localMasterKey: keys.remoteMasterKey,
        localMasterSalt: keys.remoteMasterSalt,
        remoteMasterKey: keys.localMasterKey,
        remoteMasterSalt: keys.localMasterSalt,
      },
      profile: 1,
    });
    const ssrcs = [0x11111111, 0xfedcba98, 3];
    // The receiver joins the streams at ROC 4 (werift's receiver otherwise guesses 0 for a new SSRC).
    const states = (receiver.remoteContext as unknown as { srtpSSRCStates: Record<number, object> })
      .srtpSSRCStates;
    for (const ssrc of ssrcs) states[ssrc] = { ssrc, rolloverCounter: 4, lastSequenceNumber: 65_449 };
    let checked = 0;
    for (let i = 0; i < 400; i++) {
      const ssrc = ssrcs[i % 3]!;
      // Consecutive within each SSRC, across the 16-bit wrap (ROC 4 → 5); now and then a jump or a step back.
      let n = 65_450 + Math.floor(i / 3);
      if (i % 97 === 50) n += 40;
      if (i % 89 === 60) n -= 3;
      const seq = n & 0xffff;
      const roc = 4 + Math.floor(n / 0x10000);
      // Sizes: small, odd, large, larger than any before (the batch must grow), empty.
      const size = i === 200 ? 0 : i % 50 === 49 ? 1400 + i : (i * 37) % 1250;
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: seq,
        timestamp: i * 3000,
        ssrc,
        marker: i % 5 === 0,
      });
      // Every fourth payload starts at an odd offset of its memory (the unaligned path).
      const payload = i % 4 === 3 ? randomBytes(size + 1).subarray(1) : randomBytes(size);
      const expected = context.cipher.encryptRtp(header, payload, roc);
      const actual = ours.encrypt(header.serialize(header.serializeSize), payload, ssrc, seq, roc);
      assert.deepEqual(actual, expected, `packet ${i}: SSRC ${ssrc}, seq ${seq}, ROC ${roc}, ${size} bytes`);
      if (roc === 4 && i < 150) {
        // werift's receiver authenticates and decrypts it (its ROC guess is right before the wrap).
        const plain = receiver.decrypt(actual);
        assert.deepEqual(plain.subarray(12), payload, `packet ${i} decrypts to its payload`);
        checked++;
      }
    }
    assert.ok(checked > 100);
  });
});

describe('datagram send without Socket.send (sendDatagram)', () => {
  it('sends synchronously on a bound socket, the buffer free again at once', async () => {
    const receiver = createSocket('udp4');
    const sender = createSocket('udp4');
    try {
      receiver.bind(0, '127.0.0.1');
      sender.bind(0, '127.0.0.1');
      await Promise.all([once(receiver, 'listening'), once(sender, 'listening')]);
      const port = receiver.address().port;
      const got: Buffer[] = [];
      receiver.on('message', (m) => got.push(m));
      const before = { ...udpSendStats };
      const buffer = Buffer.alloc(200);
      for (let i = 0; i < 20; i++) {
        buffer.fill(i);
        assert.equal(sendDatagram(sender, buffer.subarray(0, 100 + i), port, '127.0.0.1'), true);
      }
      assert.equal(udpSendStats.direct - before.direct, 20, 'the direct path was taken');
      const deadline = Date.now() + 5000;
      while (got.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got.length, 20);
      for (const [i, m] of got.entries()) assert.deepEqual(m, Buffer.alloc(100 + i, i), `datagram ${i}`);
    } finally {
      receiver.close();
      sender.close();
    }
  });

  it('leaves a socket it cannot use directly (a connected one) to Socket.send, which keeps the buffer', async () => {
    const receiver = createSocket('udp4');
    const sender: Socket = createSocket('udp4');
    try {
      receiver.bind(0, '127.0.0.1');
      await once(receiver, 'listening');
      const port = receiver.address().port;
      sender.connect(port, '127.0.0.1');
      await once(sender, 'connect');
      const got = once(receiver, 'message');
      const before = udpSendStats.fallback;
      assert.equal(sendDatagram(sender, Buffer.from('ok'), port, '127.0.0.1'), false, 'the buffer is kept');
      assert.equal(udpSendStats.fallback, before + 1, 'Socket.send took it');
      assert.deepEqual((await got)[0], Buffer.from('ok'));
    } finally {
      receiver.close();
      sender.close();
    }
  });
});
