import assert from 'node:assert/strict';
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpSender } from 'werift';
import { nodePeerConfig } from '../../src/client/node.js';
import { ClipSource } from '../../src/media/ClipSource.js';
import { LOOPBACK } from './server.js';

export const SDP = { 'content-type': 'application/sdp' };

/** A WHIP publisher made of werift and the fixture clip, speaking RFC 9725 with fetch. */
export async function whipPublish(url: string, room: string, name: string, token?: string) {
  const pc = new RTCPeerConnection(nodePeerConfig(LOOPBACK));
  const source = new ClipSource();
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  source.onVideoRtp((rtp) => video.writeRtp(rtp));
  source.onAudioRtp((rtp) => audio.writeRtp(rtp));
  const vt = pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  (vt.sender as RTCRtpSender).onPictureLossIndication.subscribe(() => source.requestKeyframe());
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(`${url}/whip/${room}?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: token ? { ...SDP, authorization: `Bearer ${token}` } : SDP,
    body: pc.localDescription!.sdp,
  });
  assert.equal(response.status, 201, await response.clone().text());
  const location = response.headers.get('location')!;
  await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  source.start();
  return {
    pc,
    location,
    async stop() {
      source.stop();
      await pc.close();
    },
  };
}
