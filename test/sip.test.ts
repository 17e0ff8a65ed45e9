import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Bot } from '../src/bot/Bot.js';
import { loadConfig } from '../src/config/loadConfig.js';
import { SipMedia } from '../src/gateways/sip/SipMedia.js';
import { writeOggOpus } from '../src/media/ogg.js';
import { opusRms } from './helpers/ffmpeg.js';
import { eventually, type InThreadTestServer, LOOPBACK } from './helpers/server.js';
import {
  alawRms,
  RtpListener,
  runSipp,
  SIPP_PCAP_DIR,
  startSipServer,
  startSpeakingBot,
} from './helpers/sipp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

const ADMIN = { authorization: `Bearer ${'k'.repeat(16)}` };

/** The `sip` counters the admin API shows for a phone caller. */
async function adminCallStats(t: InThreadTestServer, room: string, id: string) {
  const res = await t.server.app.inject({
    method: 'GET',
    url: `/api/v1/rooms/${room}/participants`,
    headers: ADMIN,
  });
  assert.equal(res.statusCode, 200, res.body);
  const participant = res.json().participants.find((p: { id: string }) => p.id === id);
  return participant?.sip as { packetsSent: number; sendErrors: number; codec: string } | undefined;
}

describe('SIP gateway with sipp as the caller (default binding: SIP and RTP on ::, the phone on IPv4)', () => {
  let t: InThreadTestServer;

  before(async () => {
    t = await startSipServer({ auth: { apiKey: 'k'.repeat(16), apiSecret: 's'.repeat(32) } });
  });
  after(async () => {
    await t.close();
  });

  for (const [transport, family] of [
    ['udp', 4],
    ['tcp', 4],
    ['udp', 6],
  ] as const) {
    it(`over ${transport.toUpperCase()} and IPv${family}: the caller hears the room, the room hears the caller, BYE frees everything`, async () => {
      const room = `phone-${transport}${family}`;
      const bot = await startSpeakingBot(t, room);
      const phone = new RtpListener(family);
      await phone.open();
      const socketsBefore = udpSockets();
      // The server is shared: an earlier call's BYE transaction may still be waiting out Timer J.
      const transactionsBefore = t.rooms.gateways.sip!.transactionCount;
      try {
        const sipp = runSipp({
          scenario: 'call.xml',
          port: t.server.sip!.port,
          transport,
          ipv6: family === 6,
          service: room,
          keys: { rtp_port: phone.port, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
          pauseMs: 6000,
        });
        const r = t.rooms.host.registry.rooms.get(room)!;
        await eventually(
          'the caller joins the room',
          () => [...r.participants.values()].some((p) => p.name === 'Sipp Caller'),
          10_000,
        );
        const caller = [...r.participants.values()].find((p) => p.name === 'Sipp Caller')!;
        // The admin API counts what the call's RTP socket sent to the phone, and what it could not send.
        let last = t.rooms.gateways.sip!.callStats(caller.id);
        await eventually(
          '10 RTP packets sent or refused, or the call over',
          () => {
            const now = t.rooms.gateways.sip!.callStats(caller.id);
            if (now) last = now;
            return !now || now.packetsSent + now.sendErrors > 10;
          },
          20_000,
        );
        const stats = (await adminCallStats(t, room, caller.id)) ?? last;
        console.log(`  ${transport}${family}: admin API: ${JSON.stringify(stats)}`);
        assert.equal(stats?.codec, 'PCMA');
        assert.equal(
          stats?.sendErrors,
          0,
          `the server could send RTP to the phone: ${JSON.stringify(stats)}`,
        );
        assert.ok(stats.packetsSent > 10, `RTP packets sent to the phone: ${JSON.stringify(stats)}`);
        const result = await sipp;
        assert.equal(result.code, 0, `sipp failed:\n${result.stdout}\n${result.errors}\n${result.messages}`);

        const heard = alawRms(phone.packets);
        console.log(
          `  ${transport}${family}: the phone got ${heard.count} PCMA packets, RMS ${heard.rms.toFixed(3)}`,
        );
        // 6 s of call; fewer packets when a busy machine makes the mixer skip frames.
        assert.ok(heard.count > 100, `the phone received ${heard.count} RTP packets of the room's audio`);
        assert.ok(
          heard.rms > 0.02,
          `the room's audio at the phone has RMS ${heard.rms.toFixed(3)}, not silence`,
        );

        const fromCaller = bot.receivedFrom(caller.id).find((x) => x.kind === 'audio');
        assert.ok(fromCaller && fromCaller.packets > 100, 'the bot received the caller as an audio track');
        const rms = await opusRms(writeOggOpus(fromCaller.media, { channels: 1 }));
        console.log(
          `  ${transport}${family}: the bot got ${fromCaller.packets} Opus packets from the caller, RMS ${rms.toFixed(3)}`,
        );
        assert.ok(rms > 0.01, `the caller's voice in the room has RMS ${rms.toFixed(3)}, not silence`);

        await eventually('the caller has left the room', () => !r.participants.has(caller.id));
        const gateway = t.rooms.gateways.sip!;
        assert.equal(gateway.calls.size, 0, 'no call left');
        assert.equal(caller.session.closed, true);
        await eventually('the RTP socket is closed', () => udpSockets() <= socketsBefore, 3000);
        // Over UDP the BYE's transaction stays 64·T1 to answer a retransmitted BYE (RFC 3261 Timer J).
        await eventually(
          'no transaction left but the BYE',
          () => gateway.transactionCount <= transactionsBefore + (transport === 'udp' ? 1 : 0),
        );
      } finally {
        await phone.close();
        await bot.stop();
      }
    });
  }

  it('the server hangs up (a host removes the caller): BYE reaches the phone and the call is freed', async () => {
    const room = 'phone-kick';
    const bot = await Bot.start({ url: t.url, room, name: 'Host', video: false, hostAddresses: LOOPBACK });
    const phone = new RtpListener();
    await phone.open();
    try {
      const sipp = runSipp({
        scenario: 'call-server-hangs-up.xml',
        port: t.server.sip!.port,
        service: room,
        keys: { rtp_port: phone.port, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
      });
      const r = t.rooms.host.registry.rooms.get(room)!;
      await eventually(
        'the caller joins',
        () => [...r.participants.values()].some((p) => p.name === 'Sipp Caller'),
        10_000,
      );
      await sleep(1000);
      const caller = [...r.participants.values()].find((p) => p.name === 'Sipp Caller')!;
      await r.leave(caller, 'left');
      const result = await sipp;
      assert.equal(result.code, 0, `sipp did not get a proper BYE:\n${result.errors}\n${result.messages}`);
      assert.match(result.messages, /BYE sip:caller@127\.0\.0\.1/, "the BYE went to the caller's Contact");
      assert.equal(t.rooms.gateways.sip!.calls.size, 0);
    } finally {
      await phone.close();
      await bot.stop();
    }
  });

  it('answers OPTIONS with 200 and what it allows', async () => {
    const result = await runSipp({
      scenario: 'options.xml',
      port: t.server.sip!.port,
      service: 'x',
    });
    assert.equal(result.code, 0, `${result.errors}\n${result.messages}`);
  });
});

describe('SIP: PIN for rooms with a password, CANCEL while ringing', () => {
  let t: InThreadTestServer;
  const pcap = (key: string) => join(SIPP_PCAP_DIR, `dtmf_2833_${key}.pcap`);

  before(async () => {
    t = await startSipServer({ sip: { pinAttempts: 1 } });
  });
  after(async () => {
    await t.close();
  });

  async function roomWithPassword(name: string): Promise<Bot> {
    const bot = await Bot.start({
      url: t.url,
      room: name,
      name: 'Host',
      video: false,
      hostAddresses: LOOPBACK,
    });
    await t.rooms.host.registry.rooms.get(name)!.access.setPassword('1234');
    return bot;
  }

  it('admits a caller who types the right PIN', async () => {
    const bot = await roomWithPassword('pin-ok');
    const phone = new RtpListener();
    await phone.open();
    try {
      const r = t.rooms.host.registry.rooms.get('pin-ok')!;
      const sipp = runSipp({
        scenario: 'pin-then-bye.xml',
        port: t.server.sip!.port,
        service: 'pin-ok',
        keys: {
          rtp_port: phone.port,
          d1: pcap('1'),
          d2: pcap('2'),
          d3: pcap('3'),
          d4: pcap('4'),
          d5: pcap('pound'),
        },
        pauseMs: 3000,
      });
      await eventually(
        'the caller is let in',
        () => [...r.participants.values()].some((p) => p.name === 'Sipp Caller'),
        10_000,
      );
      const result = await sipp;
      assert.equal(result.code, 0, `${result.errors}\n${result.messages}`);
      assert.ok(phone.packets.length > 50, 'the caller heard the prompt and then the room');
    } finally {
      await phone.close();
      await bot.stop();
    }
  });

  it('hangs up on a caller who types a wrong PIN, who never enters the room', async () => {
    const bot = await roomWithPassword('pin-bad');
    const phone = new RtpListener();
    await phone.open();
    try {
      const r = t.rooms.host.registry.rooms.get('pin-bad')!;
      let entered = false;
      r.on('participantJoined', (p) => {
        if (p.name === 'Sipp Caller') entered = true;
      });
      const result = await runSipp({
        scenario: 'pin-refused.xml',
        port: t.server.sip!.port,
        service: 'pin-bad',
        keys: {
          rtp_port: phone.port,
          d1: pcap('4'),
          d2: pcap('3'),
          d3: pcap('2'),
          d4: pcap('1'),
          d5: pcap('pound'),
        },
      });
      assert.equal(result.code, 0, `sipp expected a BYE:\n${result.errors}\n${result.messages}`);
      assert.equal(entered, false, 'the caller never joined');
      assert.equal(t.rooms.gateways.sip!.calls.size, 0);
      // The prompt tone was played before the refusal: the phone heard something, not only silence.
      assert.ok(alawRms(phone.packets).rms > 0.01, 'the caller heard the PIN prompt');
    } finally {
      await phone.close();
      await bot.stop();
    }
  });

  it('a call to a room that does not exist in secured mode is refused with 404 and the reason', async () => {
    const secured = await startSipServer({
      auth: { mode: 'secured', apiKey: 'k'.repeat(16), apiSecret: 's'.repeat(32) },
    });
    try {
      const result = await runSipp({
        scenario: 'call.xml',
        port: secured.server.sip!.port,
        service: 'nowhere',
        keys: { rtp_port: 9, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
        pauseMs: 10,
      });
      assert.notEqual(result.code, 0);
      assert.match(
        result.messages,
        /SIP\/2\.0 404 Not Found[\s\S]*Warning: 399 port545 "room 'nowhere' does not exist"/,
      );
    } finally {
      await secured.close();
    }
  });
});

describe('SIP: CANCEL while ringing', () => {
  it('answers CANCEL with 200 and the INVITE with 487, and keeps nothing', async () => {
    const t = await startSipServer({ sip: { ringMs: 3000 } });
    try {
      const result = await runSipp({
        scenario: 'cancel.xml',
        port: t.server.sip!.port,
        service: 'ringing',
      });
      assert.equal(result.code, 0, `${result.errors}\n${result.messages}`);
      assert.equal(t.rooms.gateways.sip!.calls.size, 0);
      assert.equal(
        t.rooms.host.registry.rooms.get('ringing')?.participants.size ?? 0,
        0,
        'the caller never joined',
      );
    } finally {
      await t.close();
    }
  });
});

describe('SIP: a full room', () => {
  it('answers 486 Busy Here', async () => {
    const t = await startSipServer({
      rooms: { maxParticipants: 1 },
    });
    const bot = await Bot.start({
      url: t.url,
      room: 'full',
      name: 'Only',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    try {
      const result = await runSipp({
        scenario: 'call.xml',
        port: t.server.sip!.port,
        service: 'full',
        keys: { rtp_port: 9, pcap: join(SIPP_PCAP_DIR, 'g711a.pcap') },
        pauseMs: 10,
      });
      assert.notEqual(result.code, 0);
      assert.match(result.messages, /SIP\/2\.0 486 Busy Here[\s\S]*Warning: 399 port545 "the room is full"/);
      assert.equal(t.rooms.gateways.sip!.calls.size, 0);
    } finally {
      await bot.stop();
      await t.close();
    }
  });
});

describe('SIP media: RTP the socket refuses to send', () => {
  it('is counted and logged once per call, never dropped silently', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    // An IPv6 loopback socket cannot send to an IPv4 phone (EINVAL): nothing leaves the machine.
    const media = await SipMedia.open('::1', 40_000, 40_998, log);
    const phone = new RtpListener();
    await phone.open();
    try {
      media.configure(
        { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
        undefined,
        { address: '127.0.0.1', port: phone.port, direction: 'sendrecv' },
        '127.0.0.1',
      );
      await eventually('10 refused RTP packets', () => media.sendErrors >= 10, 20_000);
      assert.equal(media.packetsSent, 0);
      const warnings = lines.filter((l) => l.includes('cannot send RTP to the caller'));
      assert.equal(warnings.length, 1, 'the first refusal of the call is logged, not each one');
      assert.match(warnings[0]!, /"remote":"127\.0\.0\.1"/);
    } finally {
      media.close();
      await phone.close();
    }
  });
});

describe('SIP settings', () => {
  it('--sip turns the gateway on, --sip-port and PORT545_SIP_PORT move it; it is off by default', () => {
    assert.equal(loadConfig([], {}).sip.enabled, false);
    const on = loadConfig(['--sip', '--sip-port', '5070'], {});
    assert.equal(on.sip.enabled, true);
    assert.equal(on.sip.port, 5070);
    assert.equal(loadConfig([], { PORT545_SIP: '1', PORT545_SIP_PORT: '5080' }).sip.port, 5080);
    assert.throws(() => loadConfig([], { PORT545_SIP: 'maybe' }), /not true or false/);
  });
});
