import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RtpHeader, SrtpSession } from 'werift';
import { SrtpDecryptor } from '../src/sfu/SrtpDecryptor.js';
import { type RolloverState, updateRolloverCount } from '../src/werift/srtpRollover.js';

/** The rollover counters `updateRolloverCount` gives a stream of sequence numbers, from a new state. */
function counters(seqs: number[], state: RolloverState = { rolloverCounter: 0, lastSequenceNumber: 0 }) {
  return seqs.map((seq) => {
    updateRolloverCount(seq, state);
    return state.rolloverCounter;
  });
}

interface Pair {
  sender: SrtpSession;
  receiver: SrtpSession;
}

/** Two werift SRTP sessions with each other's keys, of the given protection profile. */
function pair(profile: 1 | 7): Pair {
  const a = { key: randomBytes(16), salt: randomBytes(profile === 7 ? 12 : 14) };
  const b = { key: randomBytes(16), salt: randomBytes(profile === 7 ? 12 : 14) };
  const keys = (l: typeof a, r: typeof a) => ({
    localMasterKey: l.key,
    localMasterSalt: l.salt,
    remoteMasterKey: r.key,
    remoteMasterSalt: r.salt,
  });
  return {
    sender: new SrtpSession({ keys: keys(a, b), profile }),
    receiver: new SrtpSession({ keys: keys(b, a), profile }),
  };
}

const SSRC = 0x1234abcd;

function encrypt(session: SrtpSession, seq: number): Buffer {
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: SSRC });
  return session.encrypt(Buffer.from(`payload ${seq}`), header);
}

/** Whether the receiver's cipher opens `packet` with exactly this rollover counter. */
function opensWith(receiver: SrtpSession, packet: Buffer, roc: number): boolean {
  const cipher = (
    receiver.remoteContext as unknown as { cipher: { decryptRtp(b: Buffer, roc: number): unknown } }
  ).cipher;
  try {
    cipher.decryptRtp(packet, roc);
    return true;
  } catch {
    return false;
  }
}

describe('SRTP rollover counter (RFC 3711 §3.3.1)', () => {
  it('steps the counter over a wrap whatever the gap, up to half the sequence space', () => {
    assert.deepEqual(counters([65500, 65535, 0, 1]), [0, 0, 1, 1]);
    // 300 packets lost across the wrap: werift's guess (within 100 of the wrap on both sides) kept 0.
    assert.deepEqual(counters([65400, 164]), [0, 1]);
    assert.deepEqual(counters([40000, 7000]), [0, 1]);
    assert.deepEqual(counters([100, 30000, 60000, 20000]), [0, 0, 0, 1]);
  });

  it('gives a late packet from before the wrap the old counter, and keeps the newest as reference', () => {
    const state: RolloverState = { rolloverCounter: 0, lastSequenceNumber: 0 };
    assert.deepEqual(counters([65530, 5, 65533, 6, 65534, 300, 65000], state), [0, 1, 0, 1, 0, 1, 0]);
    assert.equal(state.highestSequence, 300);
    assert.equal(state.highestRollover, 1);
  });

  it('never goes below 0, and carries on from a state werift kept', () => {
    assert.deepEqual(counters([10, 65000, 11]), [0, 0, 0]);
    const weriftKept: RolloverState = {
      rolloverCounter: 3,
      lastSequenceNumber: 65300,
      rolloverHasProcessed: true,
    };
    assert.deepEqual(counters([65301, 200, 65310], weriftKept), [3, 4, 3]);
  });

  for (const profile of [1, 7] as const) {
    const name = profile === 1 ? 'AES-CM' : 'AES-GCM';
    it(`${name}: werift's contexts encrypt and decrypt across a wrap with 300 packets lost`, () => {
      const { sender, receiver } = pair(profile);
      const sent = [65400, 65401, 165, 166].map((seq) => encrypt(sender, seq));
      // The sender used counter 1 after the wrap, as a browser (libsrtp) receiving it would guess.
      assert.ok(opensWith(receiver, sent[2]!, 1), 'packet 165 is encrypted with rollover counter 1');
      assert.ok(!opensWith(receiver, sent[2]!, 0));
      for (const packet of sent) assert.ok(receiver.decrypt(packet).length > 0);
    });

    it(`${name}: SrtpDecryptor opens a stream after 300 packets lost across a wrap`, () => {
      const { sender, receiver } = pair(profile);
      const decryptor = new SrtpDecryptor(
        receiver.remoteContext as unknown as ConstructorParameters<typeof SrtpDecryptor>[0],
      );
      // Encrypted with the counters a sender has (as libsrtp in a browser does), not with a guess.
      const cipher = (
        sender.localContext as unknown as {
          cipher: { encryptRtp(h: RtpHeader, p: Buffer, roc: number): Buffer };
        }
      ).cipher;
      for (const [seq, roc] of [
        [65400, 0],
        [65401, 0],
        [165, 1],
        [166, 1],
        [65402, 0],
        [167, 1],
      ]) {
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq!, timestamp: 0, ssrc: SSRC });
        const plain = decryptor.decrypt(cipher.encryptRtp(header, Buffer.from(`payload ${seq}`), roc!));
        assert.equal(plain.subarray(12).toString(), `payload ${seq}`);
      }
    });
  }

  it('a packet that fails authentication does not move the receiver on', () => {
    const { sender, receiver } = pair(1);
    const decryptor = new SrtpDecryptor(
      receiver.remoteContext as unknown as ConstructorParameters<typeof SrtpDecryptor>[0],
    );
    decryptor.decrypt(encrypt(sender, 100));
    // Sequence 40000 from someone without the keys: kept as s_l, it would make 7000 look like the next
    // cycle (counter 1) and the sender's real 7000 (counter 0) would fail.
    const forged = encrypt(pair(1).sender, 40000);
    assert.throws(() => decryptor.decrypt(forged), /authenticat/i);
    assert.equal(decryptor.decrypt(encrypt(sender, 7000)).subarray(12).toString(), 'payload 7000');
  });

  it('a Node client alone (bots, without the server in the process) opens a stream after 300 packets lost across a wrap', async () => {
    // In this process the server's modules are loaded and have installed the guess; a bot in a process of
    // its own (in a network namespace, as the soak runs one) has only what the client SDK loads.
    const child = `
      import { randomBytes } from 'node:crypto';
      await import(process.argv[1]);
      const { RtpHeader, SrtpSession } = await import('werift');
      const k = () => ({ key: randomBytes(16), salt: randomBytes(14) });
      const [a, b] = [k(), k()];
      const keys = (l, r) => ({
        localMasterKey: l.key, localMasterSalt: l.salt, remoteMasterKey: r.key, remoteMasterSalt: r.salt,
      });
      const sender = new SrtpSession({ keys: keys(a, b), profile: 1 });
      const receiver = new SrtpSession({ keys: keys(b, a), profile: 1 });
      const opened = [];
      // Encrypted with the counters the sender has (the server, or a browser), not with a guess.
      for (const [seq, roc] of [[65400, 0], [65401, 0], [165, 1], [166, 1], [167, 1]]) {
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: 0, ssrc: 1234 });
        const packet = sender.localContext.cipher.encryptRtp(header, Buffer.from('payload'), roc);
        try {
          receiver.decrypt(packet);
          opened.push(seq);
        } catch {}
      }
      console.log(JSON.stringify(opened));
    `;
    const sdk = fileURLToPath(new URL('../src/client/node.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', child, sdk],
      { timeout: 120_000 },
    );
    assert.deepEqual(JSON.parse(stdout), [65400, 65401, 165, 166, 167]);
  });
});
