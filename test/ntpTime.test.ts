/**
 * Sender reports carry the real time (RFC 3550 §6.4.1, RFC 5905 §6). werift's own `ntpTime` put the
 * fraction's decimal digits in the low word, so every report it sent was truncated to the second: a
 * receiver lining up a person's audio and video from them (a browser's lip sync, the recorder) was off
 * by up to a second.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bot } from '../src/bot/Bot.js';
import { eventually, LOOPBACK, startInThreadServer } from './helpers/server.js';

describe('NTP time in sender reports', () => {
  it('is what a werift publisher’s reports say: the time its last packet left, not the second before', async () => {
    const t = await startInThreadServer();
    const bot = await Bot.start({ url: t.url, room: 'ntp', name: 'Clock', hostAddresses: LOOPBACK });
    try {
      const participant = t.rooms.host.registry.rooms.get('ntp')!.participants.get(bot.room.participantId)!;
      const gaps: number[] = [];
      const offs = [...participant.tracks.values()].map(({ track }) =>
        track.onSenderReport((report) => gaps.push(Date.now() - report.wallMs)),
      );
      // Reports come every 0.5–1.5 s per track; the clip sends a packet every 20 ms (audio) or 33 ms.
      await eventually('ten sender reports', () => gaps.length >= 10, 30_000);
      for (const off of offs) off();
      // Truncated to the second, a report would be up to 1000 ms behind the clock (1 in 10 under 100 ms).
      const late = gaps.filter((gap) => gap < -50 || gap > 250);
      assert.deepEqual(late, [], `report time behind the clock on arrival, ms: ${gaps.join(' ')}`);
    } finally {
      await bot.stop();
      await t.close();
    }
  });
});
