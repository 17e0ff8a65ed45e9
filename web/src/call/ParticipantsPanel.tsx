import type { JSX } from 'preact';
import { Icon } from '../ui/icons.tsx';
import { hueOf, initials } from '../util/names.ts';
import type { TileModel } from './layout.ts';

export interface ParticipantsPanelProps {
  people: TileModel[];
  onInvite(): void;
}

export function ParticipantsPanel({ people, onInvite }: ParticipantsPanelProps): JSX.Element {
  const sorted = [...people].sort((a, b) => Number(b.self) - Number(a.self));
  return (
    <div class="people">
      <button type="button" class="button wide" onClick={onInvite}>
        <Icon name="link" size={18} /> Copy invite link
      </button>
      <ul class="people-list" aria-label="In this call">
        {sorted.map((p) => (
          <li key={p.key} class="person" data-participant={p.participantId}>
            <span
              class="person-avatar"
              style={{ '--hue': String(hueOf(p.participantId || p.name)) }}
              aria-hidden="true"
            >
              {initials(p.name)}
            </span>
            <span class="person-name">
              {p.self ? `${p.name} (you)` : p.name}
              {p.reconnecting && <span class="tag">reconnecting</span>}
            </span>
            <span class="person-state">
              <span role="img" aria-label={p.micMuted ? 'Microphone off' : 'Microphone on'}>
                <Icon name={p.micMuted ? 'micOff' : 'mic'} size={18} />
              </span>
              <span role="img" aria-label={p.video ? 'Camera on' : 'Camera off'}>
                <Icon name={p.video ? 'camera' : 'cameraOff'} size={18} />
              </span>
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}
