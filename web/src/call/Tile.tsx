import type { JSX } from 'preact';
import { Icon } from '../ui/icons.tsx';
import { VideoView } from '../ui/VideoView.tsx';
import { hueOf, initials } from '../util/names.ts';
import type { TileModel } from './layout.ts';

export interface TileProps {
  tile: TileModel;
  style?: Record<string, string>;
}

/** One person's camera or initials, or a shared screen, with name, muted mic and speaking highlight. */
export function Tile({ tile, style }: TileProps): JSX.Element {
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
          <span class="initials" aria-hidden="true">
            {initials(tile.name)}
          </span>
        </div>
      )}
      <figcaption class="tile-label">
        {!screen && tile.micMuted && (
          <span class="muted-badge" role="img" aria-label="Microphone off" title="Microphone off">
            <Icon name="micOff" size={16} />
          </span>
        )}
        {screen && <Icon name="screen" size={16} />}
        <span class="tile-name">{title}</span>
      </figcaption>
      {tile.reconnecting && <p class="tile-overlay">Reconnecting…</p>}
    </figure>
  );
}
