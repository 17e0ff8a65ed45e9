import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RtpPacket } from 'werift';
import { decodeG711 } from '../../src/audio/g711.js';
import { pcmRms } from '../../src/audio/pcm.js';
import { Bot } from '../../src/bot/Bot.js';
import { writeOggOpus } from '../../src/media/ogg.js';
import { opusRms } from '../helpers/ffmpeg.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from '../helpers/server.js';
import { RtpListener, runSipp, SIPP_PCAP_DIR } from '../helpers/sipp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

/** RMS (0..1) of the A-law RTP packets a listener collected, and how many there were. */
function alawRms(packets: Buffer[]): { rms: number; count: number } {
  const samples: Int16Array[] = [];
  for (const p of packets) {
    const rtp = RtpPacket.deSerialize(p);
    if (rtp.header.payloadType === 8) samples.push(decodeG711(rtp.payload, 'alaw'));
  }
  const all = new Int16Array(samples.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of samples) {
    all.set(s, o);
    o += s.length;
  }
  return { rms: pcmRms(all), count: samples.length };
}

describe('SIP gateway with sipp as the caller', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ sip: { enabled: true, host: '127.0.0.1', port: 0 } });
  });
  after(async () => {
    await t.close();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`over ${transport.toUpperCase()}: the caller hears the room, the room hears the caller, BYE frees everything`, async () => {
      const room = `phone-${transport}`;
      const bot = await Bot.start({
        url: t.url,
        room,
        name: 'Ada',
        video: false,
        keepMedia: true,
        hostAddresses: LOOPBACK,
      });
      const phone = new RtpListener();
      await phone.open();
      const socketsBefore = udpSockets();
      try {
        const sipp = runSipp({
          scenario: 'call.xml',
          port: t.server.gateways.sip!.port,
          transport,
          service: room,
          keys: { rtp_port: phone.port, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
          pauseMs: 6000,
        });
        const r = t.server.registry.rooms.get(room)!;
        await eventually(
          'the caller joins the room',
          () => [...r.participants.values()].some((p) => p.name === 'Sipp Caller'),
          10_000,
        );
        const caller = [...r.participants.values()].find((p) => p.name === 'Sipp Caller')!;
        const result = await sipp;
        assert.equal(result.code, 0, `sipp failed:\n${result.stdout}\n${result.errors}\n${result.messages}`);

        const heard = alawRms(phone.packets);
        console.log(`  ${transport}: the phone got ${heard.count} PCMA packets, RMS ${heard.rms.toFixed(3)}`);
        assert.ok(heard.count > 150, `the phone received ${heard.count} RTP packets of the room's audio`);
        assert.ok(
          heard.rms > 0.02,
          `the room's audio at the phone has RMS ${heard.rms.toFixed(3)}, not silence`,
        );

        const fromCaller = bot.receivedFrom(caller.id).find((x) => x.kind === 'audio');
        assert.ok(fromCaller && fromCaller.packets > 100, 'the bot received the caller as an audio track');
        const rms = await opusRms(writeOggOpus(fromCaller.media, { channels: 1 }));
        console.log(
          `  ${transport}: the bot got ${fromCaller.packets} Opus packets from the caller, RMS ${rms.toFixed(3)}`,
        );
        assert.ok(rms > 0.01, `the caller's voice in the room has RMS ${rms.toFixed(3)}, not silence`);

        await eventually('the caller has left the room', () => !r.participants.has(caller.id));
        const gateway = t.server.gateways.sip!;
        assert.equal(gateway.calls.size, 0, 'no call left');
        assert.equal(caller.session.closed, true);
        await eventually('the RTP socket is closed', () => udpSockets() <= socketsBefore, 3000);
        // Over UDP the BYE's transaction stays 64·T1 to answer a retransmitted BYE (RFC 3261 Timer J).
        await eventually(
          'no transaction left but the BYE',
          () => gateway.transactionCount <= (transport === 'udp' ? 1 : 0),
        );
      } finally {
        await phone.close();
        await bot.stop();
      }
    });
  }
});
