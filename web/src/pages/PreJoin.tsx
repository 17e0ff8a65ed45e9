import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { LevelMeter, meterPosition, resumeAudio } from '../media/audioLevel.ts';
import {
  type Acquired,
  acquire,
  acquireOne,
  DeviceError,
  type DeviceKind,
  type DeviceLists,
  type DeviceProblem,
  deviceLabel,
  listDevices,
  problemMessage,
} from '../media/devices.ts';
import { navigate } from '../router.ts';
import type { ParticipantCard } from '../sdk.ts';
import { About } from '../ui/About.tsx';
import { CardEditor } from '../ui/CallingCard.tsx';
import { Icon } from '../ui/icons.tsx';
import { Logo } from '../ui/Logo.tsx';
import { VideoView } from '../ui/VideoView.tsx';
import { MAX_DISPLAY_NAME } from '../util/names.ts';
import { loadCard, type Preferences, saveCard } from '../util/storage.ts';

export interface JoinChoice {
  name: string;
  micOn: boolean;
  cameraOn: boolean;
  micId: string;
  cameraId: string;
  /** The preview's open devices, handed over to the call so nothing is opened twice. */
  media: Acquired;
  /** The calling card to show the others (kept in this browser). */
  card: ParticipantCard | undefined;
}

export interface PreJoinProps {
  room: string;
  initial: Preferences;
  /** The room is being recorded: said before anyone joins it. */
  recording?: boolean;
  onJoin(choice: JoinChoice): void;
}

type Problems = Partial<Record<DeviceKind, DeviceProblem>>;

/** The screen before a call: who you are, how you look and sound, and with what you join. */
export function PreJoin({ room, initial, onJoin, recording }: PreJoinProps): JSX.Element {
  const [name, setName] = useState(initial.name);
  const [nameError, setNameError] = useState('');
  const [micOn, setMicOn] = useState(initial.micOn);
  const [cameraOn, setCameraOn] = useState(initial.cameraOn);
  const [micId, setMicId] = useState(initial.micId);
  const [cameraId, setCameraId] = useState(initial.cameraId);
  const [mic, setMic] = useState<MediaStreamTrack>();
  const [camera, setCamera] = useState<MediaStreamTrack>();
  const [problems, setProblems] = useState<Problems>({});
  const [devices, setDevices] = useState<DeviceLists>({ cameras: [], microphones: [] });
  const [opening, setOpening] = useState(true);
  const [card, setCard] = useState(loadCard);
  const meterRef = useRef<HTMLDivElement>(null);
  /** The latest tracks, for cleanup; `handedOver` once the call owns them. */
  const live = useRef<{
    mic?: MediaStreamTrack;
    camera?: MediaStreamTrack;
    handedOver: boolean;
    gone: boolean;
  }>({
    handedOver: false,
    gone: false,
  });

  const keep = (kind: DeviceKind, track: MediaStreamTrack | undefined) => {
    if (live.current.gone) {
      track?.stop();
      return;
    }
    const key = kind === 'camera' ? 'camera' : 'mic';
    const old = live.current[key];
    if (old && old !== track) old.stop();
    live.current[key] = track;
    if (kind === 'camera') setCamera(track);
    else setMic(track);
  };

  const setProblem = (kind: DeviceKind, problem: DeviceProblem | undefined) =>
    setProblems((p) => {
      const next = { ...p };
      if (problem) next[kind] = problem;
      else delete next[kind];
      return next;
    });

  const refreshDevices = () =>
    listDevices()
      .then((d) => !live.current.gone && setDevices(d))
      .catch(() => {});

  // Open the remembered devices once, together (one permission prompt).
  useEffect(() => {
    const state = live.current;
    acquire({
      camera: initial.cameraOn ? { deviceId: initial.cameraId || undefined } : undefined,
      microphone: initial.micOn ? { deviceId: initial.micId || undefined } : undefined,
    }).then((result) => {
      keep('camera', result.camera);
      keep('microphone', result.microphone);
      if (state.gone) return;
      setProblems(result.problems);
      if (!result.camera) setCameraOn(false);
      if (!result.microphone) setMicOn(false);
      setOpening(false);
      void refreshDevices();
    });
    navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);
    return () => {
      state.gone = true;
      navigator.mediaDevices?.removeEventListener?.('devicechange', refreshDevices);
      if (!state.handedOver) {
        state.mic?.stop();
        state.camera?.stop();
      }
    };
  }, []);

  // The microphone meter: sampled directly into the DOM, no re-render per sample.
  useEffect(() => {
    const bar = meterRef.current;
    if (!mic || !bar) return;
    let meter: LevelMeter | undefined;
    try {
      meter = new LevelMeter(mic);
    } catch {
      return;
    }
    const timer = setInterval(() => {
      const position = meterPosition(meter!.level());
      bar.style.transform = `scaleX(${position.toFixed(3)})`;
      bar.parentElement?.setAttribute('data-level', String(Math.round(position * 100)));
    }, 60);
    return () => {
      clearInterval(timer);
      meter?.close();
      bar.style.transform = 'scaleX(0)';
    };
  }, [mic]);

  const open = async (kind: DeviceKind, deviceId: string) => {
    try {
      const track = await acquireOne(kind, deviceId || undefined);
      keep(kind, track);
      setProblem(kind, undefined);
      void refreshDevices();
      return true;
    } catch (error) {
      setProblem(kind, error instanceof DeviceError ? error.problem : 'other');
      return false;
    }
  };

  const toggle = async (kind: DeviceKind) => {
    void resumeAudio();
    const on = kind === 'camera' ? cameraOn : micOn;
    const set = kind === 'camera' ? setCameraOn : setMicOn;
    if (on) {
      keep(kind, undefined);
      set(false);
      return;
    }
    set(true);
    if (!(await open(kind, kind === 'camera' ? cameraId : micId))) set(false);
  };

  const choose = (kind: DeviceKind, deviceId: string) => {
    if (kind === 'camera') setCameraId(deviceId);
    else setMicId(deviceId);
    if (kind === 'camera' ? cameraOn : micOn) void open(kind, deviceId);
  };

  const join = (event: Event) => {
    event.preventDefault();
    void resumeAudio();
    const trimmed = name.trim();
    if (!trimmed) {
      setNameError('Enter the name others will see.');
      document.getElementById('display-name')?.focus();
      return;
    }
    live.current.handedOver = true;
    onJoin({
      name: trimmed,
      micOn: micOn && !!mic,
      cameraOn: cameraOn && !!camera,
      micId,
      cameraId,
      media: { camera: cameraOn ? camera : undefined, microphone: micOn ? mic : undefined, problems },
      card,
    });
  };

  const summary = `You will join with your camera ${cameraOn && camera ? 'on' : 'off'} and your microphone ${
    micOn && mic ? 'on' : 'off'
  }.`;

  return (
    <div class="page page-light">
      <header class="topbar">
        <a
          href="/"
          class="home-link"
          onClick={(e) => {
            e.preventDefault();
            navigate('/');
          }}
        >
          <Logo />
        </a>
      </header>
      <main class="prejoin">
        <section class="preview-pane" aria-label="Camera and microphone check">
          <div class="preview">
            {camera ? (
              <VideoView track={camera} mirrored label="Your camera preview" />
            ) : (
              <p class="preview-off">{opening ? 'Opening your camera…' : 'Your camera is off'}</p>
            )}
            <div class="preview-controls">
              <button
                type="button"
                class={`round ${micOn ? '' : 'off'}`}
                aria-label={micOn ? 'Turn off microphone' : 'Turn on microphone'}
                title={micOn ? 'Turn off microphone' : 'Turn on microphone'}
                onClick={() => void toggle('microphone')}
              >
                <Icon name={micOn ? 'mic' : 'micOff'} />
              </button>
              <button
                type="button"
                class={`round ${cameraOn ? '' : 'off'}`}
                aria-label={cameraOn ? 'Turn off camera' : 'Turn on camera'}
                title={cameraOn ? 'Turn off camera' : 'Turn on camera'}
                onClick={() => void toggle('camera')}
              >
                <Icon name={cameraOn ? 'camera' : 'cameraOff'} />
              </button>
            </div>
          </div>
          <div class="meter-row">
            <Icon name="mic" size={18} />
            {/* A level meter changes many times a second: it is for the eyes; the hint below says it in words. */}
            <div class="meter" aria-hidden="true" data-level="0">
              <div class="meter-fill" ref={meterRef} />
            </div>
          </div>
          <div aria-live="polite">
            {(Object.entries(problems) as [DeviceKind, DeviceProblem][]).map(([kind, problem]) => (
              <p key={kind} class="device-problem" data-device={kind}>
                {problemMessage(kind, problem)}
              </p>
            ))}
          </div>
          <div class="device-selects">
            <DeviceSelect
              label="Camera"
              devices={devices.cameras}
              value={camera?.getSettings().deviceId ?? cameraId}
              onChange={(id) => choose('camera', id)}
            />
            <DeviceSelect
              label="Microphone"
              devices={devices.microphones}
              value={mic?.getSettings().deviceId ?? micId}
              onChange={(id) => choose('microphone', id)}
            />
          </div>
        </section>
        <section class="join-pane">
          <h1>Ready to join?</h1>
          <p class="room-label">
            Room <strong>{room}</strong>
          </p>
          {recording && (
            <output class="prejoin-recording">
              <span class="recording-dot" aria-hidden="true" /> This call is being recorded.
            </output>
          )}
          <form class="name-form" onSubmit={join} noValidate>
            <label for="display-name">Your name</label>
            <input
              id="display-name"
              name="displayName"
              type="text"
              autocomplete="name"
              maxLength={MAX_DISPLAY_NAME}
              value={name}
              aria-invalid={nameError ? 'true' : undefined}
              aria-describedby={nameError ? 'name-error' : 'join-summary'}
              onInput={(e) => {
                setName(e.currentTarget.value);
                setNameError('');
              }}
            />
            {nameError && (
              <p id="name-error" class="field-error" role="alert">
                {nameError}
              </p>
            )}
            <button type="submit" class="button primary big">
              Join now
            </button>
          </form>
          <details class="card-details">
            <summary>{card ? 'Your calling card' : 'Add a calling card (optional)'}</summary>
            <p class="hint">
              Pronouns, organisation, a link and a picture, shown to the others when they point at your name.
              Kept in this browser.
            </p>
            <CardEditor
              id="prejoin-card"
              card={card}
              onChange={(next) => {
                setCard(next);
                saveCard(next);
              }}
            />
          </details>
          <p id="join-summary" class="hint">
            {summary}
          </p>
        </section>
      </main>
      <footer class="footer">
        <About />
      </footer>
    </div>
  );
}

function DeviceSelect(props: {
  label: string;
  devices: MediaDeviceInfo[];
  value: string;
  onChange(deviceId: string): void;
}): JSX.Element | null {
  if (props.devices.length === 0) return null;
  const id = `device-${props.label.toLowerCase()}`;
  // Until a device is chosen the browser's default (the first listed) is the one in use.
  const value = props.devices.some((d) => d.deviceId === props.value)
    ? props.value
    : props.devices[0]!.deviceId;
  return (
    <div class="device-select">
      <label for={id}>{props.label}</label>
      <select id={id} value={value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.devices.map((d, i) => (
          <option key={d.deviceId} value={d.deviceId}>
            {deviceLabel(d, i)}
          </option>
        ))}
      </select>
    </div>
  );
}
