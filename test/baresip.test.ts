import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { writeOggOpus } from '../src/media/ogg.js';
import { Baresip, type BaresipCodec } from './helpers/baresip.js';
import { opusRms } from './helpers/ffmpeg.js';
import { eventually, type InThreadTestServer, LOOPBACK } from './helpers/server.js';
import { startSipServer, startSpeakingBot } from './helpers/sipp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * baresip, a softphone port545 did not write, calls the server as it is bound by default (SIP and RTP on
 * `::`, the phone on IPv4). Calls are short: these tests share a busy machine.
 */
describe('SIP gateway with baresip as the caller', () => {
  let t: InThreadTestServer;
  const uri = (room: string, transport: 'udp' | 'tcp') =>
    `sip:${room}@127.0.0.1:${t.server.sip!.port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
  const inRoom = (room: string, name: string) =>
    [...(t.rooms.host.registry.rooms.get(room)?.participants.values() ?? [])].find((p) => p.name === name);

  before(async () => {
    t = await startSipServer({ sip: { pinAttempts: 1 } });
  });
  after(async () => {
    await t.close();
  });

  it('calls over UDP and TCP with PCMU, PCMA and Opus: the phone hears the room, the room hears the phone', async () => {
    const room = 'baresip';
    const bot = await startSpeakingBot(t, room);
    const results: string[] = [];
    try {
      for (const transport of ['udp', 'tcp'] as const) {
        for (const codec of ['PCMU', 'PCMA', 'opus'] as BaresipCodec[]) {
          const name = `Baresip ${codec} ${transport}`;
          const phone = await Baresip.start({ codec, name });
          try {
            await phone.call(uri(room, transport));
            await eventually(`${name} joins the room`, () => inRoom(room, name) !== undefined, 15_000);
            const caller = inRoom(room, name)!;
            // Two seconds of the phone's voice at the bot, and as long for the phone to hear the room.
            await eventually(
              `the bot receives ${name}`,
              () => (bot.receivedFrom(caller.id).find((r) => r.kind === 'audio')?.packets ?? 0) > 100,
              20_000,
            );
            const stats = t.rooms.gateways.sip!.callStats(caller.id);
            assert.equal(stats?.codec, codec, `${name}: the call uses ${codec}`);
            assert.equal(stats?.transport, transport.toUpperCase());
            await phone.hangUp();
            await eventually(`${name} leaves the room`, () => inRoom(room, name) === undefined);

            const heard = await phone.heard();
            const fromPhone = bot.receivedFrom(caller.id).find((r) => r.kind === 'audio')!;
            const roomHeard = await opusRms(writeOggOpus(fromPhone.media, { channels: 1 }));
            results.push(
              `${name}: the phone heard ${heard.seconds.toFixed(1)} s at RMS ${heard.rms.toFixed(3)}; ` +
                `the room heard ${fromPhone.packets} packets at RMS ${roomHeard.toFixed(3)}; ` +
                `RTP sent ${stats?.packetsSent}, refused ${stats?.sendErrors}`,
            );
            assert.equal(stats?.sendErrors, 0, `${name}: no RTP refused by the socket`);
            assert.ok(heard.rms > 0.02, `${name}: the phone heard the room (RMS ${heard.rms.toFixed(3)})`);
            assert.ok(roomHeard > 0.02, `${name}: the room heard the phone (RMS ${roomHeard.toFixed(3)})`);
          } catch (error) {
            console.log(phone.log);
            throw error;
          } finally {
            await phone.stop();
          }
        }
      }
    } finally {
      for (const line of results) console.log(`  ${line}`);
      await bot.stop();
    }
  });

  it('an Opus caller types the room PIN (RFC 4733 at 8000 Hz) and is let in; a wrong PIN is hung up on', async () => {
    const room = 'baresip-pin';
    const host = await Bot.start({ url: t.url, room, name: 'Host', video: false, hostAddresses: LOOPBACK });
    try {
      await t.rooms.host.registry.rooms.get(room)!.access.setPassword('1234');
      const right = await Baresip.start({ codec: 'opus', name: 'Right PIN' });
      try {
        await right.call(uri(room, 'udp'));
        await sleep(500);
        await right.typeDigits('1234#');
        await eventually(
          'the caller with the right PIN is let in',
          () => !!inRoom(room, 'Right PIN'),
          15_000,
        );
        await right.hangUp();
      } catch (error) {
        console.log(right.log);
        throw error;
      } finally {
        await right.stop();
      }

      let entered = false;
      t.rooms.host.registry.rooms.get(room)!.on('participantJoined', (p) => {
        if (p.name === 'Wrong PIN') entered = true;
      });
      const wrong = await Baresip.start({ codec: 'opus', name: 'Wrong PIN' });
      try {
        await wrong.call(uri(room, 'udp'));
        await sleep(500);
        await wrong.typeDigits('4321#');
        // sip.pinAttempts is 1: the server hangs up (BYE) a second after the wrong PIN.
        await wrong.waitFor('CALL_CLOSED', 20_000);
        assert.equal(entered, false, 'the caller with a wrong PIN never joined');
        assert.equal(t.rooms.gateways.sip!.calls.size, 0);
      } catch (error) {
        console.log(wrong.log);
        throw error;
      } finally {
        await wrong.stop();
      }
    } finally {
      await host.stop();
    }
  });
});
