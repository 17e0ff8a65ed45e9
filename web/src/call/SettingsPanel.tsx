import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type DeviceLists, deviceLabel, listDevices } from '../media/devices.ts';
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
  const camera = inList(devices.cameras, session.camera?.track.getSettings().deviceId ?? session.cameraId);
  const mic = inList(devices.microphones, session.mic?.track.getSettings().deviceId ?? session.micId);
  return (
    <div class="settings">
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
    </div>
  );
}

/** The device in use if listed, else the browser's default (the first listed). */
function inList(devices: MediaDeviceInfo[], id: string | undefined): string {
  return devices.some((d) => d.deviceId === id) ? id! : (devices[0]?.deviceId ?? '');
}
