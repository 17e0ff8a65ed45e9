import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ScreenAnnotation } from '../board/ScreenAnnotation.tsx';
import { Whiteboard } from '../board/Whiteboard.tsx';
import { saveSnapshot, snapshotFileName } from '../media/snapshot.ts';
import { inviteLink } from '../router.ts';
import { REACTIONS, type RoomAccessState } from '../sdk.ts';
import { closeWhenFocusLeaves } from '../ui/focus.ts';
import { Icon, type IconName } from '../ui/icons.tsx';
import { saveCard } from '../util/storage.ts';
import { useStore } from '../util/useStore.ts';
import type { CallSession } from './CallSession.ts';
import { ChatPanel } from './ChatPanel.tsx';
import { messageOf } from './failures.ts';
import { fillGrid, fitGrid } from './fitGrid.ts';
import { cameraTiles, screenTiles, type TileModel } from './layout.ts';
import { ParticipantsPanel } from './ParticipantsPanel.tsx';
import { SettingsPanel } from './SettingsPanel.tsx';
import { SHORTCUTS, type ShortcutAction, shortcutFor } from './shortcuts.ts';
import { Tile, type TileActions } from './Tile.tsx';

type Panel = 'chat' | 'people' | 'settings';
/** `auto`: a grid up to nine tiles, then the active speaker large with a strip (as Meet's auto). */
type Layout = 'auto' | 'grid' | 'speaker';
const GRID_MAX = 9;

const PANEL_TITLES: Record<Panel, string> = { chat: 'Chat', people: 'People', settings: 'Settings' };

export interface CallViewProps {
  session: CallSession;
  onLeave(): void;
}

/** The call: tiles, controls, chat and participant panels, banners. */
export function CallView({ session, onLeave }: CallViewProps): JSX.Element {
  useStore(session);
  const [panel, setPanel] = useState<Panel | null>(null);
  const [chosenLayout, setLayout] = useState<Layout>('auto');
  const [help, setHelp] = useState(false);
  const [seenChat, setSeenChat] = useState(0);
  /** The whiteboard, large on this person's stage (nobody else's). */
  const [boardOpen, setBoardOpen] = useState(false);

  const room = session.options.room;
  const chat = session.room?.chat ?? [];
  const files = session.files;
  // What was said and sent before this person joined (what the server sends with `joined`) is not unread.
  const history = useRef<Set<string> | null>(null);
  if (!history.current && session.room)
    history.current = new Set([...session.room.chat.map((m) => m.id), ...files.map((f) => f.id)]);
  const fromOthers =
    chat.filter((m) => m.participantId !== session.selfId && !history.current?.has(m.id)).length +
    files.filter((f) => f.from !== session.selfId && !history.current?.has(f.id)).length;
  const unread = panel === 'chat' ? 0 : Math.max(0, fromOthers - seenChat);
  useEffect(() => {
    if (panel === 'chat') setSeenChat(fromOthers);
  }, [panel, fromOthers]);

  const cameras = cameraTiles(session);
  const access: RoomAccessState = session.room?.roomState ?? {
    locked: false,
    passwordProtected: false,
    listed: false,
  };
  const screens = screenTiles(session);
  const layout: 'grid' | 'speaker' =
    chosenLayout === 'auto'
      ? cameras.length + screens.length > GRID_MAX
        ? 'speaker'
        : 'grid'
      : chosenLayout;

  const invite = async () => {
    const link = inviteLink(room);
    try {
      await navigator.clipboard.writeText(link);
      session.notify('Invite link copied. Send it to the people you want in this call.', 'info');
    } catch {
      window.prompt('Copy this invite link', link);
    }
  };

  // Focus goes back where it was when a panel closes, so keyboard users keep their place.
  const opener = useRef<HTMLElement | null>(null);
  const togglePanel = (p: Panel) =>
    setPanel((current) => {
      if (current === null) opener.current = document.activeElement as HTMLElement | null;
      return current === p ? null : p;
    });
  useEffect(() => {
    if (panel === null && opener.current?.isConnected) opener.current.focus();
    if (panel === null) opener.current = null;
  }, [panel]);

  /** What someone who only watches cannot do: speak, show, write or draw (a hand asks to come on stage). */
  const notWatching: ReadonlySet<ShortcutAction> = new Set(['mic', 'camera', 'screen', 'chat', 'board']);
  const run = (action: ShortcutAction) => {
    if (session.watching && notWatching.has(action)) return;
    switch (action) {
      case 'mic':
        return void session.toggleMic();
      case 'camera':
        return void session.toggleCamera();
      case 'screen':
        return session.canShareScreen ? void session.toggleScreen() : undefined;
      case 'hand':
        return void session.toggleHand();
      case 'chat':
        return togglePanel('chat');
      case 'people':
        return togglePanel('people');
      case 'layout':
        return setLayout(layout === 'grid' ? 'speaker' : 'grid');
      case 'board':
        return session.room ? setBoardOpen(!boardOpen) : undefined;
      case 'help':
        return setHelp(true);
    }
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && panel && !help) {
        setPanel(null);
        return;
      }
      const action = shortcutFor(event);
      if (!action) return;
      event.preventDefault();
      run(action);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  const actions: TileActions = {
    screenOverlay: (tile, large) =>
      session.room ? (
        <ScreenAnnotation
          key={tile.key}
          session={session}
          presenterId={tile.self ? session.selfId : tile.participantId}
          self={tile.self}
          large={large}
        />
      ) : null,
    pin: (key) => session.pin(key),
    videoSize: (track, width, height) => session.videoSize(track, width, height),
    setVolume: (id, volume) => session.setVolume(id, volume),
    ...(session.isHost ? { spotlight: (id: string | undefined) => void session.setSpotlight(id) } : {}),
    snapshot: (video, tile) => {
      const fileName = snapshotFileName(tile.name, tile.source === 'screen');
      saveSnapshot(video, fileName).then(
        () => session.notify(`Snapshot saved: ${fileName}`, 'info'),
        (error) => session.notify(`No snapshot of ${tile.name}: ${messageOf(error)}.`),
      );
    },
  };
  const remoteScreens = screens.filter((s) => !s.self);
  const ownScreen = screens.find((s) => s.self);
  let stage: TileModel | undefined;
  let strip: TileModel[] = [];
  const all = [...cameras, ...screens];
  // What this person pinned stays large, whoever speaks or presents; else whom a host spotlit.
  const large = all.find((t) => t.pinned) ?? all.find((t) => t.spotlight);
  if (large && all.length > 1) {
    stage = large;
    strip = all.filter((t) => t !== large);
  } else if (remoteScreens.length > 0) {
    // The newest shared screen goes large; everyone's camera stays visible beside it.
    stage = remoteScreens[remoteScreens.length - 1];
    strip = [...remoteScreens.slice(0, -1), ...cameras, ...(ownScreen ? [ownScreen] : [])];
  } else if (layout === 'speaker' && cameras.length > 1) {
    stage = cameras.find((t) => !t.self && t.participantId === session.activeSpeaker) ?? cameras[0];
    strip = [...cameras.filter((t) => t !== stage), ...(ownScreen ? [ownScreen] : [])];
  }
  // The whiteboard takes the stage; every tile goes to the strip beside it, as with a shared screen.
  const boardShown = boardOpen && session.room !== undefined;
  if (boardShown) strip = [...(stage ? [stage] : []), ...strip.filter((t) => t !== stage)];
  if (boardShown && strip.length === 0) strip = [...cameras, ...screens];
  useEffect(() => session.setBoardOpen(boardShown), [boardShown]);
  const gridTiles = stage || boardShown ? [] : [...cameras, ...(ownScreen ? [ownScreen] : [])];
  const alone = session.remotes.length === 0 && session.status === 'connected';

  return (
    <div class="call" data-status={session.status}>
      <header class="call-header">
        <h1 class="call-title">
          <span class="visually-hidden">Call in room </span>
          {room}
        </h1>
        {access.recording && <RecordingIndicator since={access.recording.since} />}
        <span class="call-count">
          <Icon name="people" size={16} /> {cameras.length}
          <span class="visually-hidden"> in the call</span>
          {(session.watching || session.viewers > 0) && (
            <span class="tag" data-viewers={session.viewers}>
              {session.viewers} watching
            </span>
          )}
          {session.watching && <span class="tag host">you watch</span>}
          {access.locked && <span class="tag">locked</span>}
          {access.passwordProtected && <span class="tag">password</span>}
          {session.isHost && <span class="tag host">you host</span>}
        </span>
        <button
          type="button"
          class="ghost small"
          aria-label="Keyboard shortcuts (?)"
          title="Keyboard shortcuts (?)"
          onClick={() => setHelp(true)}
        >
          <Icon name="keyboard" size={18} />
        </button>
      </header>

      <div class="banners" aria-live="polite">
        {session.talkingWhileMuted && (
          <div class="banner muted-nudge" data-nudge="muted">
            <Icon name="micOff" size={16} /> You are muted. Press M or the microphone button to speak.
            <button type="button" class="button small" onClick={() => void session.toggleMic()}>
              Unmute
            </button>
            <button
              type="button"
              class="ghost small"
              aria-label="Dismiss"
              title="Dismiss"
              onClick={() => session.dismissMutedNudge()}
            >
              <Icon name="close" size={16} />
            </button>
          </div>
        )}
        {session.status === 'reconnecting' && (
          <div class="banner warn">Connection lost. Reconnecting… Your call resumes by itself.</div>
        )}
        {session.audioBlocked && (
          <div class="banner">
            Your browser is holding back the sound of this call.
            <button type="button" class="button small" onClick={() => void session.enableAudio()}>
              <Icon name="volume" size={16} /> Turn on sound
            </button>
          </div>
        )}
        {session.screenOn && (
          <div class="banner info">
            You are presenting your screen to everyone.
            <button type="button" class="button small" onClick={() => void session.toggleScreen()}>
              Stop presenting
            </button>
          </div>
        )}
      </div>

      <div class="call-body">
        <main class="stage-area" aria-label="Participants">
          {boardShown ? (
            <div class="stage-layout presenting board-open">
              <div class="stage-main">
                <Whiteboard session={session} onClose={() => setBoardOpen(false)} />
              </div>
              <div class="filmstrip">
                {strip.map((t) => (
                  <Tile key={t.key} tile={t} actions={actions} />
                ))}
              </div>
            </div>
          ) : stage ? (
            <div class={`stage-layout${stage.source === 'screen' ? ' presenting' : ''}`}>
              <div class="stage-main">
                <Tile tile={stage} large actions={actions} />
              </div>
              <div class="filmstrip">
                {strip.map((t) => (
                  <Tile key={t.key} tile={t} actions={actions} />
                ))}
              </div>
            </div>
          ) : (
            <Grid tiles={gridTiles} actions={actions} />
          )}
          {alone && !boardShown && (
            <div class="alone">
              <p>You're the only one here.</p>
              <button type="button" class="button" onClick={() => void invite()}>
                <Icon name="link" size={18} /> Copy invite link
              </button>
            </div>
          )}
          {session.status === 'connecting' && (
            <div class="connecting" aria-live="polite">
              <span class="spinner" aria-hidden="true" />
              Joining {room}…
            </div>
          )}
        </main>
        {panel && (
          <aside class="panel" id="call-panel" aria-label={PANEL_TITLES[panel]}>
            <div class="panel-head">
              <h2>{PANEL_TITLES[panel]}</h2>
              <button
                type="button"
                class="ghost small"
                aria-label={`Close ${PANEL_TITLES[panel].toLowerCase()}`}
                onClick={() => setPanel(null)}
              >
                <Icon name="close" size={18} />
              </button>
            </div>
            {panel === 'chat' && (
              <ChatPanel
                messages={chat}
                selfId={session.selfId}
                onSend={(t) => session.sendChat(t)}
                files={{
                  files,
                  transfers: session.transfers,
                  people: session.remotes.map((p) => ({ id: p.id, name: p.name })),
                  nameOf: (id) => session.nameOf(id),
                  send: (file, to) => session.sendFile(file, to),
                  save: (file) => void session.saveFile(file),
                  preview: (file) => session.previewFile(file),
                }}
              />
            )}
            {panel === 'people' && (
              <ParticipantsPanel
                people={cameras}
                audienceHands={session.audienceHands}
                onInvite={() => void invite()}
                onCard={async (card) => {
                  const saved = await session.setCard(card);
                  if (saved) saveCard(card);
                  return saved;
                }}
                host={
                  session.isHost
                    ? {
                        locked: access.locked,
                        passwordProtected: access.passwordProtected,
                        listed: access.listed,
                        topic: access.topic,
                        recording: access.recording !== undefined,
                        recordingBusy: session.recordingBusy,
                        record: () => void session.toggleRecording(),
                        list: (listed, topic) => void session.listRoom(listed, topic),
                        mute: (id) => void session.muteParticipant(id),
                        lowerHand: (id) => void session.lowerHand(id),
                        stage: (id, onStage) => void session.setOnStage(id, onStage),
                        remove: (id) => void session.removeParticipant(id),
                        lock: (locked) => void session.lockRoom(locked),
                        setPassword: (password) => void session.setRoomPassword(password),
                        end: () => void session.endRoom(),
                      }
                    : undefined
                }
              />
            )}
            {panel === 'settings' && <SettingsPanel session={session} />}
          </aside>
        )}
      </div>

      <nav class="controls" aria-label="Call controls">
        <div class="controls-main">
          {!session.watching && (
            <>
              <ControlButton
                icon={session.micOn ? 'mic' : 'micOff'}
                label={session.micOn ? 'Turn off microphone' : 'Turn on microphone'}
                shortcut="M"
                off={!session.micOn}
                disabled={!session.ready}
                onClick={() => void session.toggleMic()}
              />
              <ControlButton
                icon={session.cameraOn ? 'camera' : 'cameraOff'}
                label={session.cameraOn ? 'Turn off camera' : 'Turn on camera'}
                shortcut="V"
                off={!session.cameraOn}
                disabled={!session.ready}
                onClick={() => void session.toggleCamera()}
              />
            </>
          )}
          <ControlButton
            icon="hand"
            label={session.hand === undefined ? 'Raise hand' : 'Lower hand'}
            shortcut="H"
            active={session.hand !== undefined}
            disabled={!session.ready && !session.watching}
            onClick={() => void session.toggleHand()}
          />
          {!session.watching && (
            <>
              <ReactionsButton disabled={!session.ready} onReact={(emoji) => void session.react(emoji)} />
              {session.canShareScreen && (
                <ControlButton
                  icon="screen"
                  label={session.screenOn ? 'Stop presenting' : 'Present your screen'}
                  shortcut="S"
                  active={session.screenOn}
                  disabled={!session.ready}
                  onClick={() => void session.toggleScreen()}
                />
              )}
            </>
          )}
          <button
            type="button"
            class="round leave"
            aria-label="Leave call"
            title="Leave call"
            onClick={onLeave}
          >
            <Icon name="leave" />
          </button>
        </div>
        <div class="controls-side">
          {!session.watching && (
            <ControlButton
              icon="chat"
              label="Chat"
              shortcut="C"
              active={panel === 'chat'}
              expanded={panel === 'chat'}
              badge={unread}
              onClick={() => togglePanel('chat')}
            />
          )}
          <ControlButton
            icon="people"
            label="People"
            shortcut="P"
            active={panel === 'people'}
            expanded={panel === 'people'}
            onClick={() => togglePanel('people')}
          />
          <ControlButton
            icon={layout === 'grid' ? 'speaker' : 'grid'}
            label={layout === 'grid' ? 'Speaker view' : 'Grid view'}
            shortcut="L"
            onClick={() => setLayout(layout === 'grid' ? 'speaker' : 'grid')}
          />
          {!session.watching && (
            <ControlButton
              icon="board"
              label="Whiteboard"
              shortcut="W"
              active={boardShown}
              pressed={boardShown}
              badge={boardShown ? 0 : session.boardNews}
              badgeLabel="new on it"
              disabled={!session.room}
              onClick={() => setBoardOpen(!boardOpen)}
            />
          )}
          <ControlButton icon="link" label="Copy invite link" onClick={() => void invite()} />
          <ControlButton
            icon="settings"
            label="Settings"
            active={panel === 'settings'}
            expanded={panel === 'settings'}
            onClick={() => togglePanel('settings')}
          />
        </div>
      </nav>

      <div class="notices" aria-live="polite">
        {session.notices.map((n) => (
          <p key={n.id} class={`notice ${n.tone}`}>
            <span>{n.text}</span>
            <button
              type="button"
              class="ghost small"
              aria-label="Dismiss"
              onClick={() => session.dismiss(n.id)}
            >
              <Icon name="close" size={16} />
            </button>
          </p>
        ))}
      </div>

      {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
    </div>
  );
}

/** mm:ss of `ms` milliseconds (h:mm:ss from an hour on); a clock behind the server's shows 00:00. */
function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

/**
 * What everyone sees while the call is recorded: a red dot, "Recording" and for how long. Only this
 * re-renders each second. The running time is not read out (a screen reader would say it every second).
 */
function RecordingIndicator({ since }: { since: number }): JSX.Element {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [since]);
  return (
    <output class="recording-indicator" aria-label="This call is being recorded">
      <span class="recording-dot" aria-hidden="true" />
      <span aria-hidden="true">Recording</span>
      <span class="recording-time" aria-hidden="true">
        {elapsed(now - since)}
      </span>
    </output>
  );
}

function ControlButton(props: {
  icon: IconName;
  label: string;
  shortcut?: string;
  off?: boolean;
  active?: boolean;
  expanded?: boolean;
  pressed?: boolean;
  disabled?: boolean;
  badge?: number;
  /** What the badge counts, for a screen reader ("unread" when not said). */
  badgeLabel?: string;
  onClick(): void;
}): JSX.Element {
  const label = props.shortcut ? `${props.label} (${props.shortcut})` : props.label;
  return (
    <button
      type="button"
      class={`round${props.off ? ' off' : ''}${props.active ? ' active' : ''}`}
      aria-label={props.badge ? `${label}, ${props.badge} ${props.badgeLabel ?? 'unread'}` : label}
      aria-expanded={props.expanded}
      aria-pressed={props.pressed}
      aria-controls={props.expanded === undefined ? undefined : 'call-panel'}
      title={label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      <Icon name={props.icon} />
      {props.badge ? (
        <span class="badge" aria-hidden="true">
          {props.badge > 99 ? '99+' : props.badge}
        </span>
      ) : null}
    </button>
  );
}

/** Tiles sized to the space they have, rows centred. */
function Grid({ tiles, actions }: { tiles: TileModel[]; actions: TileActions }): JSX.Element {
  const ref = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    const measure = () => setSize({ width: element.clientWidth, height: element.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const upright = size.width < 600 && size.height > size.width;
  const fit = upright
    ? fillGrid(tiles.length, size.width, size.height)
    : fitGrid(tiles.length, size.width, size.height);
  return (
    <div class="grid" ref={ref}>
      {size.width > 0 &&
        tiles.map((t) => (
          <Tile
            key={t.key}
            tile={t}
            actions={actions}
            style={{ width: `${fit.tileWidth}px`, height: `${fit.tileHeight}px` }}
          />
        ))}
    </div>
  );
}

function ShortcutsDialog({ onClose }: { onClose(): void }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal?.();
    const close = () => onClose();
    dialog.addEventListener('close', close);
    return () => dialog.removeEventListener('close', close);
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="shortcuts-title">
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <table class="shortcuts">
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.key}>
              <td>
                <kbd>{s.key}</kbd>
              </td>
              <td>{s.label}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="dialog">
        <button type="submit" class="button primary">
          Close
        </button>
      </form>
    </dialog>
  );
}

/** A button that opens the few reactions; each click sends one. */
function ReactionsButton(props: { disabled: boolean; onReact(emoji: (typeof REACTIONS)[number]): void }) {
  const [open, setOpen] = useState(false);
  return (
    <div class="reactions-picker" onFocusOut={closeWhenFocusLeaves(() => setOpen(false))}>
      <button
        type="button"
        class={`round${open ? ' active' : ''}`}
        aria-label="Send a reaction"
        title="Send a reaction"
        aria-expanded={open}
        aria-controls={open ? 'reaction-list' : undefined}
        disabled={props.disabled}
        onClick={() => setOpen(!open)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && open) {
            e.stopPropagation();
            setOpen(false);
          }
        }}
      >
        <Icon name="smile" />
      </button>
      {open && (
        <div id="reaction-list" class="reaction-list">
          {REACTIONS.map((emoji) => (
            <button
              key={emoji}
              type="button"
              aria-label={`React ${emoji}`}
              onClick={() => props.onReact(emoji)}
              onKeyDown={(e) => {
                if (e.key === 'Escape') {
                  e.stopPropagation();
                  setOpen(false);
                }
              }}
            >
              {emoji}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
