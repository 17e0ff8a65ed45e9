import type { Browser, Page } from 'playwright-core';

/**
 * RFC 9725 WHIP and WHEP clients as a page would write them: one RTCPeerConnection, the offer POSTed as
 * application/sdp after ICE gathering (no trickle), the answer applied, DELETE on the Location to end.
 * `colour` publishes a canvas of that colour and an oscillator whose gain the test turns up ("speaks").
 */
export const CLIENT = `
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
export interface WhipWhepClient {
  whipCamera(url: string): Promise<string>;
  whipColour(url: string, colour: string): Promise<string>;
  whep(url: string): Promise<string>;
  speak(on: boolean): void;
  frames(ms: number): Promise<number>;
  colour(): 'red' | 'blue' | 'other' | 'none';
  audioEnergy(): Promise<{ energy: number; packets: number }>;
  video: HTMLVideoElement;
}

/** A new browser profile on `baseUrl` (for its origin) with CLIENT defined on the page. */
export async function openWhipWhepPage(browser: Browser, baseUrl: string): Promise<Page> {
  const context = await browser.newContext();
  // The page runs functions compiled by tsx, which wraps named ones in a Node-only `__name` helper.
  await context.addInitScript('globalThis.__name = (fn) => fn;');
  const page = await context.newPage();
  await page.goto(`${baseUrl}/healthz`);
  // Through DevTools, not a script tag: the server's Content-Security-Policy rightly forbids inline scripts.
  await page.evaluate(CLIENT);
  return page;
}
