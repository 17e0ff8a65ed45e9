import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { CallingCard } from '../ui/CallingCard.tsx';
import { Icon } from '../ui/icons.tsx';
import { VideoView } from '../ui/VideoView.tsx';
import { hueOf, initials } from '../util/names.ts';
import type { TileModel } from './layout.ts';

export interface TileProps {
  tile: TileModel;
  style?: Record<string, string>;
}

/**
 * One person's camera or picture (else initials), or a shared screen, with name, muted mic and speaking
 * highlight. A person with a calling card has it shown over their name on hover, focus or a tap.
 */
export function Tile({ tile, style }: TileProps): JSX.Element {
  const [cardOpen, setCardOpen] = useState(false);
  const screen = tile.source === 'screen';
  const who = tile.self ? `${tile.name} (you)` : tile.name;
  const title = screen ? (tile.self ? 'Your screen' : `${tile.name}'s screen`) : who;
  const states = [
    !screen && tile.micMuted ? 'microphone off' : '',
    !screen && !tile.video ? 'camera off' : '',
    tile.speaking ? 'speaking' : '',
    tile.reconnecting ? 'reconnecting' : '',
  ].filter(Boolean);
  return (
    <figure
      class={`tile${screen ? ' tile-screen' : ''}${tile.speaking ? ' speaking' : ''}`}
      style={style}
      aria-label={states.length ? `${title}, ${states.join(', ')}` : title}
      data-participant={tile.participantId}
      data-name={tile.name}
      data-self={String(tile.self)}
      data-source={tile.source}
      data-muted={String(tile.micMuted)}
      data-speaking={String(tile.speaking)}
      data-video={tile.video ? 'on' : 'off'}
    >
      {tile.video ? (
        <VideoView track={tile.video} mirrored={tile.self && !screen} fit={screen ? 'contain' : 'cover'} />
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
        </div>
      )}
      <figcaption class="tile-label">
        {!screen && tile.micMuted && (
          <span class="muted-badge" role="img" aria-label="Microphone off" title="Microphone off">
            <Icon name="micOff" size={16} />
          </span>
        )}
        {screen && <Icon name="screen" size={16} />}
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
    </figure>
  );
}
