import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { CallSession } from '../call/CallSession.ts';
import { CallView } from '../call/CallView.tsx';
import type { FailureKind } from '../call/failures.ts';
import { resumeAudio } from '../media/audioLevel.ts';
import { acquire } from '../media/devices.ts';
import { navigate } from '../router.ts';
import { About } from '../ui/About.tsx';
import { Logo } from '../ui/Logo.tsx';
import { MAX_DISPLAY_NAME } from '../util/names.ts';
import { loadCard, loadPreferences, savePreferences } from '../util/storage.ts';
import { useStore } from '../util/useStore.ts';
import { type JoinChoice, PreJoin } from './PreJoin.tsx';

declare global {
  interface Window {
    /** For a person (or a test) at the developer console: the current call and its SDK room. */
    port545?: { session: CallSession | undefined; readonly room: CallSession['room'] };
  }
}

/**
 * `/r/<room>`: the pre-join screen, the call, and what follows it. `?name=<name>&join=1` skips the
 * pre-join screen (invite links, kiosks, tests); `audio=0` / `video=0` join with that device off;
 * `watch=1` joins the room's audience: no pre-join screen, no devices, only the leave button.
 */
export function RoomPage({ room }: { room: string }): JSX.Element {
  const [session, setSession] = useState<CallSession>();
  useStore(session);
  const [prefs] = useState(() => {
    const stored = loadPreferences();
    const params = new URLSearchParams(location.search);
    const name = params.get('name')?.trim().slice(0, MAX_DISPLAY_NAME);
    return {
      ...stored,
      name: name || stored.name,
      micOn: params.get('audio') === '0' ? false : params.get('audio') === '1' ? true : stored.micOn,
      cameraOn: params.get('video') === '0' ? false : params.get('video') === '1' ? true : stored.cameraOn,
      autoJoin: params.get('join') === '1' && !!name,
      // Watch only: no pre-join screen, no camera or microphone, one of the room's audience.
      watching: params.get('watch') === '1',
      // An access token (secured mode): the server takes identity, name and role from it.
      token: params.get('token') || undefined,
    };
  });
  const recording = useRecordingStatus(room, prefs.token, !session);
  /** The room password typed on the "this room has a password" screen, kept for rejoining. */
  const password = useRef<string | undefined>(undefined);

  const begin = (
    choice: Omit<JoinChoice, 'media'> & { media: JoinChoice['media'] | Promise<JoinChoice['media']> },
  ) => {
    const next = new CallSession({
      serverUrl: location.origin,
      room,
      name: choice.name,
      micOn: choice.micOn,
      cameraOn: choice.cameraOn,
      micId: choice.micId || undefined,
      cameraId: choice.cameraId || undefined,
      media: choice.media,
      token: prefs.token,
      password: password.current,
      ...(choice.card ? { card: choice.card } : {}),
      ...(prefs.watching ? { viewer: true } : {}),
    });
    setSession(next);
    void next.start();
  };

  /** Joins to watch: nothing is opened, nothing is asked for. */
  const watch = () =>
    begin({
      name: prefs.name || 'Viewer',
      micOn: false,
      cameraOn: false,
      micId: '',
      cameraId: '',
      card: undefined,
      media: { problems: {} },
    });

  /** Joins with devices opened now (auto-join, rejoin): opening them and connecting run together. */
  const joinDirectly = (micOn: boolean, cameraOn: boolean) =>
    prefs.watching
      ? watch()
      : begin({
          name: prefs.name,
          micOn,
          cameraOn,
          micId: prefs.micId,
          cameraId: prefs.cameraId,
          card: loadCard(),
          media: acquire({
            microphone: micOn ? { deviceId: prefs.micId || undefined } : undefined,
            camera: cameraOn ? { deviceId: prefs.cameraId || undefined } : undefined,
          }),
        });

  useEffect(() => {
    document.title = `${room} · port545`;
    if (prefs.watching) watch();
    else if (prefs.autoJoin) joinDirectly(prefs.micOn, prefs.cameraOn);
  }, []);

  useEffect(() => {
    if (!session) return;
    window.port545 = {
      session,
      get room() {
        return session.room;
      },
    };
    // Closing the tab or navigating away is a leave: the others see this tile go at once.
    const onPageHide = () => void session.leave();
    // Browsers start sound only after a click or a key press; the first one starts it.
    const onGesture = () => {
      void resumeAudio();
      if (session.audioBlocked) void session.enableAudio();
    };
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pointerdown', onGesture);
    window.addEventListener('keydown', onGesture);
    return () => {
      window.removeEventListener('pagehide', onPageHide);
      window.removeEventListener('pointerdown', onGesture);
      window.removeEventListener('keydown', onGesture);
      void session.leave();
    };
  }, [session]);

  if (!session) {
    if (prefs.watching) return <div class="call" data-status="connecting" />;
    return (
      <PreJoin
        room={room}
        initial={prefs}
        recording={recording}
        onJoin={(choice) => {
          savePreferences({
            name: choice.name,
            micOn: choice.micOn,
            cameraOn: choice.cameraOn,
            micId: choice.micId,
            cameraId: choice.cameraId,
          });
          prefs.name = choice.name;
          begin(choice);
        }}
      />
    );
  }

  const micWanted = session.micOn || session.options.micOn;
  const cameraWanted = session.cameraOn || session.options.cameraOn;
  const rejoin = () => joinDirectly(micWanted, cameraWanted);
  const home = (
    <button type="button" class="button big" onClick={() => navigate('/')}>
      Back to home
    </button>
  );

  if (session.status === 'left') {
    return (
      <EndScreen title="You left the call" detail={`Room ${room}`}>
        <button type="button" class="button primary big" onClick={rejoin}>
          Rejoin
        </button>
        {home}
      </EndScreen>
    );
  }

  const failure = session.failure;
  if (session.status === 'failed' && failure?.kind === 'password') {
    return (
      <PasswordScreen
        room={room}
        message={failure.message}
        onSubmit={(typed) => {
          password.current = typed;
          rejoin();
        }}
      />
    );
  }

  if (session.status === 'failed') {
    const titles: Record<FailureKind, string> = {
      full: 'This room is full',
      unreachable: 'Cannot reach the server',
      lost: 'The call was interrupted',
      removed: 'You were removed from the call',
      ended: 'The call has ended',
      refused: 'Could not join',
      password: 'This room has a password',
    };
    const again = failure?.kind !== 'removed' && failure?.kind !== 'ended';
    return (
      <EndScreen
        title={titles[failure?.kind ?? 'refused']}
        detail={failure?.message ?? ''}
        kind={failure?.kind}
      >
        <button type="button" class={`button big${again ? ' primary' : ''}`} onClick={rejoin}>
          {again ? 'Try again' : 'Rejoin'}
        </button>
        {home}
      </EndScreen>
    );
  }

  return (
    <CallView
      session={session}
      onLeave={() => {
        void session.leave();
      }}
    />
  );
}

function PasswordScreen(props: {
  room: string;
  message: string;
  onSubmit(password: string): void;
}): JSX.Element {
  const [typed, setTyped] = useState('');
  return (
    <div class="page page-light">
      <header class="topbar">
        <Logo />
      </header>
      <main class="end" data-end="password">
        <h1>This room has a password</h1>
        <p class="lead" id="password-message">
          {props.message}
        </p>
        <form
          class="join-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed) props.onSubmit(typed);
          }}
        >
          <label for="join-password">Password for {props.room}</label>
          <div class="join-row">
            <input
              id="join-password"
              type="password"
              autocomplete="current-password"
              maxLength={256}
              aria-describedby="password-message"
              value={typed}
              onInput={(e) => setTyped(e.currentTarget.value)}
            />
            <button type="submit" class="button primary">
              Join
            </button>
          </div>
        </form>
        <div class="end-actions">
          <button type="button" class="button" onClick={() => navigate('/')}>
            Back to home
          </button>
        </div>
      </main>
      <footer class="footer">
        <About />
      </footer>
    </div>
  );
}

function EndScreen(props: {
  title: string;
  detail: string;
  kind?: string;
  children: JSX.Element | JSX.Element[];
}): JSX.Element {
  return (
    <div class="page page-light">
      <header class="topbar">
        <Logo />
      </header>
      <main class="end" data-end={props.kind ?? 'left'}>
        <h1>{props.title}</h1>
        <p class="lead">{props.detail}</p>
        <div class="end-actions">{props.children}</div>
      </main>
      <footer class="footer">
        <About />
      </footer>
    </div>
  );
}

/** How often the pre-join screen asks whether the room is being recorded. */
const RECORDING_STATUS_MS = 10_000;

/**
 * Whether `room` is being recorded, asked of the server (`GET /rooms/<room>/status`) while `asking`
 * (the pre-join screen is up) and every few seconds; false when the server does not say.
 */
function useRecordingStatus(room: string, token: string | undefined, asking: boolean): boolean {
  const [recording, setRecording] = useState(false);
  useEffect(() => {
    if (!asking) return;
    let stopped = false;
    const ask = async () => {
      try {
        const response = await fetch(`/rooms/${encodeURIComponent(room)}/status`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
        const body = response.ok ? ((await response.json()) as { recording?: boolean }) : {};
        if (!stopped) setRecording(body.recording === true);
      } catch {
        // Offline for a moment: the next ask will tell.
      }
    };
    void ask();
    const timer = setInterval(() => void ask(), RECORDING_STATUS_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [room, token, asking]);
  return recording;
}
