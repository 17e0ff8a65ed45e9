/**
 * Cameras and microphones: opening them, and saying in plain words why one could not be opened.
 * Each device is opened on its own terms, so a blocked camera never costs the microphone (and back).
 */
import { loadPreferences } from '../util/storage.ts';
export type DeviceKind = 'camera' | 'microphone';
export type DeviceProblem = 'denied' | 'notFound' | 'inUse' | 'unsupported' | 'other';

export interface DeviceRequest {
  camera?: { deviceId?: string };
  microphone?: { deviceId?: string };
}

export interface Acquired {
  camera?: MediaStreamTrack;
  microphone?: MediaStreamTrack;
  problems: Partial<Record<DeviceKind, DeviceProblem>>;
}

export interface DeviceLists {
  cameras: MediaDeviceInfo[];
  microphones: MediaDeviceInfo[];
  /** Where sound can play (only where the browser can choose: `HTMLMediaElement.setSinkId`). */
  speakers?: MediaDeviceInfo[];
}

/** The browser lets a page choose where its sound plays. */
export const canChooseSpeaker = (): boolean =>
  typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

export function videoConstraints(deviceId?: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30, max: 30 },
  };
}

export function audioConstraints(deviceId?: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    echoCancellation: true,
    noiseSuppression: loadPreferences().noiseSuppression === 'browser',
    autoGainControl: true,
  };
}

export function classify(error: unknown): DeviceProblem {
  const name = (error as { name?: string } | undefined)?.name;
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'notFound';
    case 'NotReadableError':
    case 'AbortError':
      return 'inUse';
    case 'TypeError':
      return 'unsupported';
    default:
      return 'other';
  }
}

function mediaDevices(): MediaDevices | undefined {
  return typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
}

/** Opens one device; a remembered device that has gone away falls back to the default one. */
async function openOne(kind: DeviceKind, deviceId: string | undefined): Promise<MediaStreamTrack> {
  const devices = mediaDevices();
  if (!devices?.getUserMedia)
    throw Object.assign(new Error('getUserMedia unavailable'), { name: 'TypeError' });
  const constraints = (id?: string): MediaStreamConstraints =>
    kind === 'camera' ? { video: videoConstraints(id) } : { audio: audioConstraints(id) };
  let stream: MediaStream;
  try {
    stream = await devices.getUserMedia(constraints(deviceId));
  } catch (error) {
    const problem = classify(error);
    if (!deviceId || (problem !== 'notFound' && problem !== 'inUse')) throw error;
    stream = await devices.getUserMedia(constraints());
  }
  const track = kind === 'camera' ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
  if (!track) throw Object.assign(new Error(`no ${kind} track`), { name: 'NotFoundError' });
  return track;
}

/**
 * Opens the requested devices. Both at once first (one permission prompt in most browsers); if that
 * fails, each alone, so that whichever works is used and the other's problem is reported.
 */
export async function acquire(request: DeviceRequest): Promise<Acquired> {
  const result: Acquired = { problems: {} };
  const devices = mediaDevices();
  if (!devices?.getUserMedia) {
    if (request.camera) result.problems.camera = 'unsupported';
    if (request.microphone) result.problems.microphone = 'unsupported';
    return result;
  }
  if (request.camera && request.microphone) {
    try {
      const stream = await devices.getUserMedia({
        video: videoConstraints(request.camera.deviceId),
        audio: audioConstraints(request.microphone.deviceId),
      });
      result.camera = stream.getVideoTracks()[0];
      result.microphone = stream.getAudioTracks()[0];
      if (result.camera && result.microphone) return result;
      result.camera?.stop();
      result.microphone?.stop();
      result.camera = undefined;
      result.microphone = undefined;
    } catch {
      // Fall through: try each device alone to learn which one is the problem.
    }
  }
  if (request.microphone) {
    try {
      result.microphone = await openOne('microphone', request.microphone.deviceId);
    } catch (error) {
      result.problems.microphone = classify(error);
    }
  }
  if (request.camera) {
    try {
      result.camera = await openOne('camera', request.camera.deviceId);
    } catch (error) {
      result.problems.camera = classify(error);
    }
  }
  return result;
}

/** Opens one device; rejects with the problem. */
export async function acquireOne(kind: DeviceKind, deviceId?: string): Promise<MediaStreamTrack> {
  try {
    return await openOne(kind, deviceId);
  } catch (error) {
    throw new DeviceError(kind, classify(error));
  }
}

export class DeviceError extends Error {
  override name = 'DeviceError';
  readonly kind: DeviceKind;
  readonly problem: DeviceProblem;
  constructor(kind: DeviceKind, problem: DeviceProblem) {
    super(problemMessage(kind, problem));
    this.kind = kind;
    this.problem = problem;
  }
}

/** Lists cameras and microphones (with names once the page has been allowed to use a device). */
export async function listDevices(): Promise<DeviceLists> {
  const devices = mediaDevices();
  if (!devices?.enumerateDevices) return { cameras: [], microphones: [] };
  const all = await devices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    microphones: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
    speakers: canChooseSpeaker() ? all.filter((d) => d.kind === 'audiooutput' && d.deviceId) : [],
  };
}

export function deviceLabel(device: MediaDeviceInfo, index: number): string {
  if (device.label) return device.label;
  if (device.kind === 'audiooutput') return `Speaker ${index + 1}`;
  return device.kind === 'videoinput' ? `Camera ${index + 1}` : `Microphone ${index + 1}`;
}

/** What to tell a person whose camera or microphone could not be used, and what they can do. */
export function problemMessage(kind: DeviceKind, problem: DeviceProblem): string {
  const device = kind === 'camera' ? 'camera' : 'microphone';
  const Device = kind === 'camera' ? 'Camera' : 'Microphone';
  switch (problem) {
    case 'denied':
      return `${Device} access is blocked. Allow it from the icon in the address bar, or join without it.`;
    case 'notFound':
      return `No ${device} was found. You can join without one.`;
    case 'inUse':
      return `The ${device} could not start; another app may be using it.`;
    case 'unsupported':
      return `This page cannot use a ${device} here: browsers allow it only over HTTPS or on localhost.`;
    default:
      return `The ${device} could not be opened.`;
  }
}
