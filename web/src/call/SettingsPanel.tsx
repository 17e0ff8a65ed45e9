import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type DeviceLists, deviceLabel, listDevices } from '../media/devices.ts';
import { sourceOf } from '../media/effects.ts';
import type { Background, NoiseSuppression } from '../util/storage.ts';
import type { CallSession } from './CallSession.ts';

/** Camera and microphone choice during the call; a change swaps the device without a renegotiation. */
export function SettingsPanel({ session }: { session: CallSession }): JSX.Element {
  const [devices, setDevices] = useState<DeviceLists>({ cameras: [], microphones: [] });
  useEffect(() => {
    const refresh = () => void listDevices().then(setDevices, () => {});
    refresh();
    navigator.mediaDevices?.addEventListener?.('devicechange', refresh);
    return () => navigator.mediaDevices?.removeEventListener?.('devicechange', refresh);
  }, []);
  const deviceOf = (track: MediaStreamTrack | undefined) =>
    track ? sourceOf(track).getSettings().deviceId : undefined;
  const camera = inList(devices.cameras, deviceOf(session.camera?.track) ?? session.cameraId);
  const mic = inList(devices.microphones, deviceOf(session.mic?.track) ?? session.micId);
  const own = session.ownQuality;
  return (
    <div class="settings">
      <section class="own-connection" aria-labelledby="own-connection-title">
        <h3 id="own-connection-title">Your connection</h3>
        {own ? (
          <dl data-quality={own.quality}>
            <dt>Quality</dt>
            <dd>{own.quality}</dd>
            <dt>Round trip to the server</dt>
            <dd>{own.rtt === undefined ? '—' : `${Math.round(own.rtt * 1000)} ms`}</dd>
            <dt>Packets lost (sent, received)</dt>
            <dd>
              {own.sendLoss === undefined ? '—' : percent(own.sendLoss)}, {percent(own.receiveLoss)}
            </dd>
            <dt>Jitter</dt>
            <dd>{own.jitter === undefined ? '—' : `${Math.round(own.jitter * 1000)} ms`}</dd>
            <dt>Send estimate</dt>
            <dd>{own.sendBitrate === undefined ? '—' : `${Math.round(own.sendBitrate / 1000)} kbit/s`}</dd>
          </dl>
        ) : (
          <p class="panel-empty">Measuring…</p>
        )}
      </section>
      {devices.cameras.length === 0 && devices.microphones.length === 0 && (
        <p class="panel-empty">No cameras or microphones found.</p>
      )}
      {devices.cameras.length > 0 && (
        <div class="device-select">
          <label for="call-camera">Camera</label>
          <select
            id="call-camera"
            value={camera}
            onChange={(e) => void session.useDevice('camera', e.currentTarget.value)}
          >
            {devices.cameras.map((d, i) => (
              <option key={d.deviceId} value={d.deviceId}>
                {deviceLabel(d, i)}
              </option>
            ))}
          </select>
        </div>
      )}
      {devices.microphones.length > 0 && (
        <div class="device-select">
          <label for="call-mic">Microphone</label>
          <select
            id="call-mic"
            value={mic}
            onChange={(e) => void session.useDevice('microphone', e.currentTarget.value)}
          >
            {devices.microphones.map((d, i) => (
              <option key={d.deviceId} value={d.deviceId}>
                {deviceLabel(d, i)}
              </option>
            ))}
          </select>
        </div>
      )}
      {(devices.speakers?.length ?? 0) > 0 && (
        <div class="device-select">
          <label for="call-speaker">Speaker</label>
          <select
            id="call-speaker"
            value={inList(devices.speakers!, session.speakerId)}
            onChange={(e) => void session.useSpeaker(e.currentTarget.value)}
          >
            {devices.speakers!.map((d, i) => (
              <option key={d.deviceId} value={d.deviceId}>
                {deviceLabel(d, i)}
              </option>
            ))}
          </select>
        </div>
      )}
      <div class="device-select">
        <label for="call-noise">Noise suppression</label>
        <select
          id="call-noise"
          value={session.noiseSuppression}
          onChange={(e) => void session.setNoiseSuppression(e.currentTarget.value as NoiseSuppression)}
        >
          <option value="browser">On: the browser's (keeps typing and fans out)</option>
          <option value="rnnoise">Strong: RNNoise (voices only, removes typing and fans)</option>
          <option value="off">Off (music, several voices in one room)</option>
        </select>
      </div>
      <div class="device-select">
        <label for="call-background">Background</label>
        <select
          id="call-background"
          value={session.background}
          onChange={(e) => void session.setBackground(e.currentTarget.value as Background)}
        >
          <option value="none">As it is</option>
          <option value="blur">Blurred</option>
        </select>
      </div>
    </div>
  );
}

/** The device in use if listed, else the browser's default (the first listed). */
function inList(devices: MediaDeviceInfo[], id: string | undefined): string {
  return devices.some((d) => d.deviceId === id) ? id! : (devices[0]?.deviceId ?? '');
}

const percent = (fraction: number) =>
  `${(fraction * 100).toFixed(fraction > 0 && fraction < 0.01 ? 1 : 0)} %`;
