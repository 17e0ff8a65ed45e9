import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Bot } from '../../src/bot/Bot.js';
import { launchChromium } from '../helpers/browser.js';
import { eventually, LOOPBACK, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * RFC 9725 WHIP and WHEP clients as a page would write them: one RTCPeerConnection, the offer POSTed as
 * application/sdp after ICE gathering (no trickle), the answer applied, DELETE on the Location to end.
 * `colour` publishes a canvas of that colour and an oscillator whose gain the test turns up ("speaks").
 */
const CLIENT = `
window.gathered = (pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  setTimeout(resolve, 2000);
});
window.post = async (pc, url) => {
  await pc.setLocalDescription(await pc.createOffer());
  await window.gathered(pc);
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  if (r.status !== 201) throw new Error('POST ' + url + ': ' + r.status + ' ' + (await r.text()));
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  return r.headers.get('Location');
};
window.whipCamera = async (url) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  const pc = new RTCPeerConnection();
  for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
  window.pc = pc;
  window.location545 = await window.post(pc, url);
  return window.location545;
};
window.whipColour = async (url, colour) => {
  // getUserMedia first, so that Chromium offers real loopback candidates rather than mDNS names.
  (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((t) => t.stop());
  const canvas = document.createElement('canvas');
  canvas.width = 320; canvas.height = 240;
  const g = canvas.getContext('2d');
  let n = 0;
  setInterval(() => { g.fillStyle = colour; g.fillRect(0, 0, 320, 240); g.fillStyle = '#808080'; g.fillRect(n++ % 300, 0, 20, 10); }, 33);
  const ctx = new AudioContext();
  const osc = ctx.createOscillator(); osc.frequency.value = 330;
  const gain = ctx.createGain(); gain.gain.value = 0;
  const out = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(out); osc.start();
  window.speak = (on) => { gain.gain.value = on ? 0.5 : 0; };
  const pc = new RTCPeerConnection();
  pc.addTransceiver(canvas.captureStream(30).getVideoTracks()[0], { direction: 'sendonly' });
  pc.addTransceiver(out.stream.getAudioTracks()[0], { direction: 'sendonly' });
  window.pc = pc;
  return window.post(pc, url);
};
window.whep = async (url) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.append(video);
  const audio = document.createElement('audio');
  audio.autoplay = true;
  document.body.append(audio);
  // Chromium measures received audio energy as it plays it out, so the audio is played.
  pc.ontrack = (e) => {
    if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
    else audio.srcObject = new MediaStream([e.track]);
  };
  window.pc = pc;
  window.video = video;
  return window.post(pc, url);
};
window.frames = (ms) => new Promise((resolve) => {
  let n = 0; let done = false;
  const step = () => { if (done) return; n++; window.video.requestVideoFrameCallback(step); };
  window.video.requestVideoFrameCallback(step);
  setTimeout(() => { done = true; resolve(n); }, ms);
});
window.colour = () => {
  const v = window.video;
  if (!v.videoWidth) return 'none';
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const [r, gr, b] = g.getImageData(v.videoWidth / 2, v.videoHeight / 2, 1, 1).data;
  return r > 150 && gr < 90 && b < 90 ? 'red' : b > 150 && r < 90 && gr < 120 ? 'blue' : 'other';
};
window.audioEnergy = async () => {
  let e = 0; let n = 0;
  (await window.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') { e = s.totalAudioEnergy ?? 0; n = s.packetsReceived; } });
  return { energy: e, packets: n };
};
`;

/** What CLIENT defines on the page's window. */
interface Client {
  whipCamera(url: string): Promise<string>;
  whipColour(url: string, colour: string): Promise<string>;
  whep(url: string): Promise<string>;
  speak(on: boolean): void;
  frames(ms: number): Promise<number>;
  colour(): 'red' | 'blue' | 'other' | 'none';
  audioEnergy(): Promise<{ energy: number; packets: number }>;
  video: HTMLVideoElement;
}

describe('WHIP and WHEP with Chromium', () => {
  let t: TestServer;
  let browser: Browser;
  const pages: Page[] = [];

  async function page(): Promise<Page> {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${t.url}/healthz`);
    // Through DevTools, not a script tag: the server's Content-Security-Policy rightly forbids inline scripts.
    await p.evaluate(CLIENT);
    pages.push(p);
    return p;
  }

  before(async () => {
    t = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    for (const p of pages) await p.context().close();
    await browser.close();
    await t.close();
  });

  it('a WHIP page publishes its camera; a WHEP page and a bot in the room see its frames advance; DELETE ends it', async () => {
    const bot = await Bot.start({
      url: t.url,
      room: 'studio',
      name: 'Bot',
      video: false,
      audio: false,
      hostAddresses: LOOPBACK,
    });
    try {
      const publisher = await page();
      const location = await publisher.evaluate(
        (url) => (window as unknown as Client).whipCamera(url),
        `${t.url}/whip/studio?name=Camera`,
      );
      assert.match(location, /^\/whip\/studio\/sessions\//);
      const room = t.server.registry.rooms.get('studio')!;
      const camera = [...room.participants.values()].find((p) => p.name === 'Camera');
      assert.ok(camera, 'the WHIP publisher is a participant named from ?name=');
      await eventually(
        'the bot receives the WHIP video',
        () => bot.receivedFrom(camera.id).some((r) => r.frames > 30),
        15_000,
      );

      const player = await page();
      await player.evaluate((url) => (window as unknown as Client).whep(url), `${t.url}/whep/studio/Camera`);
      await player.waitForFunction(() => (window as unknown as Client).video.videoWidth > 0, undefined, {
        timeout: 15_000,
      });
      const first = await player.evaluate(() => (window as unknown as Client).frames(1000));
      const second = await player.evaluate(() => (window as unknown as Client).frames(1000));
      console.log(`  WHEP page: ${first} then ${second} frames per second of the WHIP camera`);
      assert.ok(first > 10 && second > 10, `frames advance: ${first}, ${second}`);

      const status = await publisher.evaluate(
        async (loc) => (await fetch(loc, { method: 'DELETE' })).status,
        location,
      );
      assert.equal(status, 200);
      await eventually('the publisher left the room', () => !room.participants.has(camera.id));
      await eventually(
        'the WHEP session of the publisher ended with it',
        () => t.server.gateways.whep.size === 0,
      );
    } finally {
      await bot.stop();
    }
  });

  it("a WHEP page plays the room: the active speaker's video, switching when another speaks, and the room's audio", async () => {
    const red = await page();
    const blue = await page();
    await red.evaluate(
      (url) => (window as unknown as Client).whipColour(url, '#e00000'),
      `${t.url}/whip/panel?name=Red`,
    );
    await blue.evaluate(
      (url) => (window as unknown as Client).whipColour(url, '#0000e0'),
      `${t.url}/whip/panel?name=Blue`,
    );
    const player = await page();
    await red.evaluate(() => (window as unknown as Client).speak(true));
    await player.evaluate((url) => (window as unknown as Client).whep(url), `${t.url}/whep/panel`);
    const colourIs = async (want: string, timeoutMs: number) => {
      const start = Date.now();
      while (Date.now() - start < timeoutMs) {
        if ((await player.evaluate(() => (window as unknown as Client).colour())) === want)
          return Date.now() - start;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(
        `the WHEP page did not show ${want} within ${timeoutMs} ms (shows ${await player.evaluate(() => (window as unknown as Client).colour())})`,
      );
    };
    await colourIs('red', 15_000);
    const energyBefore = await player.evaluate(() => (window as unknown as Client).audioEnergy());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const energyAfter = await player.evaluate(() => (window as unknown as Client).audioEnergy());
    assert.ok(
      energyAfter.packets > energyBefore.packets + 20 && energyAfter.energy > energyBefore.energy,
      `the room's audio reaches the WHEP page: ${JSON.stringify(energyBefore)} → ${JSON.stringify(energyAfter)}`,
    );

    await red.evaluate(() => (window as unknown as Client).speak(false));
    await blue.evaluate(() => (window as unknown as Client).speak(true));
    const toBlue = await colourIs('blue', 10_000);
    console.log(`  WHEP switched to the new speaker's video ${toBlue} ms after they started talking`);
    await blue.evaluate(() => (window as unknown as Client).speak(false));
    await red.evaluate(() => (window as unknown as Client).speak(true));
    const toRed = await colourIs('red', 10_000);
    console.log(`  …and back in ${toRed} ms`);
    assert.ok(toBlue < 3000 && toRed < 3000, `switches took ${toBlue} and ${toRed} ms`);
  });
});
