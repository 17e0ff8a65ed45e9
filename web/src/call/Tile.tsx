import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { CallingCard } from '../ui/CallingCard.tsx';
import { closeWhenFocusLeaves } from '../ui/focus.ts';
import { Icon } from '../ui/icons.tsx';
import { VideoView } from '../ui/VideoView.tsx';
import { hueOf, initials } from '../util/names.ts';
import type { TileModel } from './layout.ts';

/** What a person can do to a tile, for themselves only. */
export interface TileActions {
  /** Shows the tile large whoever speaks (undefined: unpin). */
  pin(key: string | undefined): void;
  /** How loud they hear this participant (0 mutes them for this person only). */
  setVolume(participantId: string, volume: number): void;
  /** Hosts only: shows a participant large to everyone (undefined ends the spotlight). */
  spotlight?(participantId: string | undefined): void;
  /** Saves the frame the tile's video shows now as a picture (a PNG download). */
  snapshot?(video: HTMLVideoElement, tile: TileModel): void;
  /** What is drawn over a shared screen, and the tools to draw (`large`: the tile is on the stage). */
  screenOverlay?(tile: TileModel, large: boolean): JSX.Element | null;
  /** The size a remote video is shown at (device pixels; 0×0: not seen), for the server to fit it. */
  videoSize?(track: MediaStreamTrack, width: number, height: number): void;
}

export interface TileProps {
  tile: TileModel;
  /** On the stage, large: where one can draw over a shared screen. */
  large?: boolean;
  style?: Record<string, string>;
  actions?: TileActions;
}

/** Moves focus to the next (or previous) tile's options button: arrow keys go from tile to tile. */
function focusNeighbour(from: HTMLElement, step: 1 | -1): void {
  const all = [...document.querySelectorAll<HTMLElement>('[data-tile-menu]')];
  const next = all[all.indexOf(from) + step];
  next?.focus();
}

/**
 * One person's camera or picture (else initials), or a shared screen, with name, muted mic and speaking
 * highlight. A person with a calling card has it shown over their name on hover, focus or a tap.
 */
export function Tile({ tile, large, style, actions }: TileProps): JSX.Element {
  const [cardOpen, setCardOpen] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const screen = tile.source === 'screen';
  const [fit, setFit] = useState<'contain' | 'cover'>(screen ? 'contain' : 'cover');
  const figure = useRef<HTMLElement>(null);
  const menuButton = useRef<HTMLButtonElement>(null);
  const presentingSelf = tile.self && screen;
  const closeMenu = (refocus: boolean) => {
    setMenuOpen(false);
    if (refocus) menuButton.current?.focus();
  };
  const menuId = `tile-menu-${tile.key.replace(/[^\w-]/g, '_')}`;
  const who = tile.self ? `${tile.name} (you)` : tile.name;
  const title = screen ? (tile.self ? 'Your screen' : `${tile.name}'s screen`) : who;
  const states = [
    !screen && tile.micMuted ? 'microphone off' : '',
    !screen && !tile.video ? 'camera off' : '',
    tile.speaking ? 'speaking' : '',
    tile.reconnecting ? 'reconnecting' : '',
    tile.pinned ? 'pinned' : '',
    tile.spotlight ? 'in the spotlight' : '',
    tile.frozen ? 'video frozen' : '',
    tile.handPlace !== undefined ? `hand raised, ${ordinal(tile.handPlace)} in line` : '',
  ].filter(Boolean);
  return (
    <figure
      ref={figure}
      class={`tile${screen ? ' tile-screen' : ''}${tile.speaking ? ' speaking' : ''}${tile.pinned ? ' pinned' : ''}`}
      style={style}
      aria-label={states.length ? `${title}, ${states.join(', ')}` : title}
      data-participant={tile.participantId}
      data-name={tile.name}
      data-self={String(tile.self)}
      data-source={tile.source}
      data-muted={String(tile.micMuted)}
      data-speaking={String(tile.speaking)}
      data-video={tile.video ? 'on' : 'off'}
      data-pinned={String(tile.pinned)}
      data-spotlight={String(!!tile.spotlight)}
      data-quality={tile.quality ?? 'unknown'}
      data-frozen={String(tile.frozen)}
      data-hand={tile.handPlace ?? ''}
    >
      {tile.video ? (
        <VideoView
          track={tile.video}
          mirrored={tile.self && !screen}
          fit={screen ? fit : 'cover'}
          {...(!tile.self && actions?.videoSize
            ? { onSize: (width: number, height: number) => actions.videoSize!(tile.video!, width, height) }
            : {})}
        />
      ) : presentingSelf ? (
        <p class="tile-wait presenting-self">
          <Icon name="screen" size={28} />
          You are presenting your screen to everyone.
        </p>
      ) : screen ? (
        <p class="tile-wait">Loading {tile.name}'s screen…</p>
      ) : (
        <div class="avatar" style={{ '--hue': String(hueOf(tile.participantId || tile.name)) }}>
          {tile.card?.avatar ? (
            <img class="initials avatar-image" src={tile.card.avatar} alt="" aria-hidden="true" />
          ) : (
            <span class="initials" aria-hidden="true">
              {initials(tile.name)}
            </span>
          )}
          {tile.connecting && <span class="tile-connecting">Connecting…</span>}
        </div>
      )}
      {screen && actions?.screenOverlay?.(tile, large === true)}
      <figcaption class="tile-label">
        {!screen && tile.micMuted && (
          <span class="muted-badge" role="img" aria-label="Microphone off" title="Microphone off">
            <Icon name="micOff" size={16} />
          </span>
        )}
        {tile.handPlace !== undefined && (
          <span
            class="hand-badge"
            role="img"
            aria-label={`Hand raised, ${ordinal(tile.handPlace)} in line`}
            title={`Hand raised, ${ordinal(tile.handPlace)} in line`}
          >
            <Icon name="hand" size={14} />
            {tile.handPlace}
          </span>
        )}
        {tile.pinned && (
          <span class="pinned-badge" role="img" aria-label="Pinned" title="Pinned for you">
            <Icon name="pin" size={14} />
          </span>
        )}
        {screen && <Icon name="screen" size={16} />}
        {tile.quality && !screen && <QualityBars quality={tile.quality} self={tile.self} />}
        {tile.card && !screen ? (
          <button
            type="button"
            class="tile-name card-trigger"
            aria-expanded={cardOpen}
            aria-label={`${title}: show calling card`}
            // A tap focuses and clicks at once: both open it; a tap elsewhere (blur) or Escape closes it.
            onClick={() => setCardOpen(true)}
            onMouseEnter={() => setCardOpen(true)}
            onMouseLeave={() => setCardOpen(false)}
            onFocus={() => setCardOpen(true)}
            onBlur={() => setCardOpen(false)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') setCardOpen(false);
            }}
          >
            {title}
            {tile.card.pronouns && <span class="tile-pronouns"> ({tile.card.pronouns})</span>}
          </button>
        ) : (
          <span class="tile-name">{title}</span>
        )}
      </figcaption>
      {tile.card && !screen && cardOpen && (
        <div class="tile-card" role="tooltip">
          <CallingCard name={tile.name} hueKey={tile.participantId || tile.name} card={tile.card} />
        </div>
      )}
      {tile.reconnecting && <p class="tile-overlay">Reconnecting…</p>}
      {tile.frozen && !tile.reconnecting && <p class="tile-frozen">Video frozen: a weak connection</p>}
      {tile.reactions.length > 0 && (
        <div class="reactions" aria-live="polite">
          {tile.reactions.map((r, i) => (
            <span
              key={r.id}
              class="reaction"
              style={{ '--lane': String(i % 4) }}
              role="img"
              aria-label={`reacts ${r.emoji}`}
            >
              {r.emoji}
            </span>
          ))}
        </div>
      )}
      {actions && !presentingSelf && (
        <div class="tile-options" onFocusOut={closeWhenFocusLeaves(() => setMenuOpen(false))}>
          <button
            ref={menuButton}
            type="button"
            class="tile-menu-button"
            data-tile-menu
            aria-label={`Options for ${title}`}
            title={`Options for ${title}`}
            aria-expanded={menuOpen}
            aria-controls={menuOpen ? menuId : undefined}
            onClick={() => setMenuOpen(!menuOpen)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowRight' || e.key === 'ArrowDown') focusNeighbour(e.currentTarget, 1);
              else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') focusNeighbour(e.currentTarget, -1);
              else if (e.key === 'Escape' && menuOpen) closeMenu(true);
              else return;
              e.preventDefault();
              e.stopPropagation();
            }}
          >
            <Icon name="more" size={18} />
          </button>
          {menuOpen && (
            <fieldset
              id={menuId}
              class="tile-menu"
              onKeyDown={(e) => {
                if (e.key !== 'Escape') return;
                e.stopPropagation();
                closeMenu(true);
              }}
            >
              <legend class="visually-hidden">Options for {title}</legend>
              <button
                type="button"
                aria-pressed={tile.pinned}
                onClick={() => {
                  actions.pin(tile.pinned ? undefined : tile.key);
                  closeMenu(true);
                }}
              >
                <Icon name="pin" size={16} /> {tile.pinned ? 'Unpin' : 'Pin for me'}
              </button>
              {actions.spotlight && !screen && (
                <button
                  type="button"
                  aria-pressed={!!tile.spotlight}
                  onClick={() => {
                    actions.spotlight!(tile.spotlight ? undefined : tile.participantId);
                    closeMenu(true);
                  }}
                >
                  <Icon name="spotlight" size={16} />{' '}
                  {tile.spotlight ? 'End the spotlight' : 'Spotlight for everyone'}
                </button>
              )}
              {!tile.self && (
                <button
                  type="button"
                  aria-pressed={tile.volume === 0}
                  onClick={() => actions.setVolume(tile.participantId, tile.volume === 0 ? 1 : 0)}
                >
                  <Icon name={tile.volume === 0 ? 'volume' : 'volumeOff'} size={16} />{' '}
                  {tile.volume === 0 ? 'Unmute for me' : 'Mute for me'}
                </button>
              )}
              {!tile.self && (
                <label class="tile-volume">
                  <span>Volume for me</span>
                  <input
                    type="range"
                    min={0}
                    max={100}
                    step={5}
                    value={Math.round(tile.volume * 100)}
                    aria-valuetext={`${Math.round(tile.volume * 100)} percent`}
                    onInput={(e) =>
                      actions.setVolume(tile.participantId, Number(e.currentTarget.value) / 100)
                    }
                  />
                </label>
              )}
              {screen && (
                <button type="button" onClick={() => setFit(fit === 'contain' ? 'cover' : 'contain')}>
                  <Icon name="fit" size={16} />{' '}
                  {fit === 'contain' ? 'Fill the tile' : 'Show the whole screen'}
                </button>
              )}
              {actions.snapshot && tile.video && (
                <button
                  type="button"
                  onClick={() => {
                    const video = figure.current?.querySelector('video');
                    closeMenu(true);
                    if (video) actions.snapshot!(video, tile);
                  }}
                >
                  <Icon name="snapshot" size={16} /> Save snapshot
                </button>
              )}
              {document.fullscreenEnabled && (
                <button
                  type="button"
                  onClick={() => {
                    closeMenu(false);
                    void figure.current?.requestFullscreen().catch(() => {});
                  }}
                >
                  <Icon name="fullscreen" size={16} /> Full screen
                </button>
              )}
            </fieldset>
          )}
        </div>
      )}
    </figure>
  );
}

/** Three bars, as phones show signal: all lit for good, two for fair, one for poor. */
function QualityBars({ quality, self }: { quality: 'good' | 'fair' | 'poor'; self: boolean }): JSX.Element {
  const lit = quality === 'good' ? 3 : quality === 'fair' ? 2 : 1;
  const label = `${self ? 'Your connection' : 'Connection'}: ${quality}`;
  return (
    <span class={`quality-bars q-${quality}`} role="img" aria-label={label} title={label}>
      {[1, 2, 3].map((n) => (
        <span key={n} class={n <= lit ? 'lit' : ''} />
      ))}
    </span>
  );
}

/** 1st, 2nd, 3rd, 4th… */
function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
