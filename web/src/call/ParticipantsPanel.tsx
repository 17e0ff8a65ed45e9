import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ParticipantCard } from '../sdk.ts';
import { Avatar, CardEditor, CardLines } from '../ui/CallingCard.tsx';
import { closeWhenFocusLeaves } from '../ui/focus.ts';
import { Icon } from '../ui/icons.tsx';
import type { TileModel } from './layout.ts';

/** What a host can do from the list (the server checks the role; a guest never sees these). */
export interface HostActions {
  locked: boolean;
  passwordProtected: boolean;
  /** Shown in the server's directory (the home page's list of rooms), with this topic. */
  listed: boolean;
  topic: string | undefined;
  /** The call is being recorded. */
  recording: boolean;
  /** A Record or Stop recording is on its way. */
  recordingBusy: boolean;
  /** Starts recording the call, or stops the recording. */
  record(): void;
  list(listed: boolean, topic?: string): void;
  mute(participantId: string): void;
  lowerHand(participantId: string): void;
  /** Brings a viewer on stage, or sends a participant back to the audience. */
  stage(participantId: string, onStage: boolean): void;
  remove(participantId: string): void;
  lock(locked: boolean): void;
  setPassword(password: string | null): void;
  end(): void;
}

export interface ParticipantsPanelProps {
  people: TileModel[];
  /** Hands raised in the audience (viewers), in the order raised. */
  audienceHands?: { participantId: string; name: string }[];
  onInvite(): void;
  /** Saves this person's calling card (in the browser and for the room); false when the room refused it. */
  onCard(card: ParticipantCard | undefined): Promise<boolean>;
  /** Present when this person is a host. */
  host?: HostActions;
}

export function ParticipantsPanel({
  people,
  audienceHands = [],
  onInvite,
  onCard,
  host,
}: ParticipantsPanelProps): JSX.Element {
  const sorted = [...people].sort((a, b) => Number(b.self) - Number(a.self));
  const [editing, setEditing] = useState(false);
  const self = sorted.find((p) => p.self);
  const hands = people.filter((p) => p.handPlace !== undefined).sort((a, b) => a.handPlace! - b.handPlace!);
  return (
    <div class="people">
      <button type="button" class="button wide" onClick={onInvite}>
        <Icon name="link" size={18} /> Copy invite link
      </button>
      {hands.length > 0 && (
        <section class="hands" aria-labelledby="hands-title">
          <h3 id="hands-title">Raised hands</h3>
          <ol class="hand-list">
            {hands.map((p) => (
              <li key={p.key} data-participant={p.participantId}>
                <span class="hand-place" aria-hidden="true">
                  {p.handPlace}.
                </span>
                <span class="hand-name">{p.self ? `${p.name} (you)` : p.name}</span>
                {host && !p.self && (
                  <LowerHand name={p.name} onLower={() => host.lowerHand(p.participantId)} />
                )}
              </li>
            ))}
          </ol>
        </section>
      )}
      {audienceHands.length > 0 && (
        <section class="hands" aria-labelledby="audience-hands-title">
          <h3 id="audience-hands-title">Hands in the audience</h3>
          <ol class="hand-list">
            {audienceHands.map((v, i) => (
              <li key={v.participantId} data-viewer={v.participantId}>
                <span class="hand-place" aria-hidden="true">
                  {i + 1}.
                </span>
                <span class="hand-name">{v.name}</span>
                {host && (
                  <>
                    <button
                      type="button"
                      class="button small primary"
                      aria-label={`Bring ${v.name} on stage`}
                      onClick={() => host.stage(v.participantId, true)}
                    >
                      On stage
                    </button>
                    <LowerHand name={v.name} onLower={() => host.lowerHand(v.participantId)} />
                  </>
                )}
              </li>
            ))}
          </ol>
        </section>
      )}
      <ul class="people-list" aria-label="In this call">
        {sorted.map((p) => (
          <li key={p.key} class="person" data-participant={p.participantId}>
            <Avatar name={p.name} hueKey={p.participantId || p.name} card={p.card} class="person-avatar" />
            <span class="person-name">
              <span class="person-name-line">
                {p.self ? `${p.name} (you)` : p.name}
                {p.card?.pronouns && <span class="person-pronouns"> ({p.card.pronouns})</span>}
                {p.host && <span class="tag host">host</span>}
                {p.reconnecting && <span class="tag">reconnecting</span>}
              </span>
              <CardLines card={p.card && { ...p.card, pronouns: undefined }} />
            </span>
            <span class="person-state">
              <span role="img" aria-label={p.micMuted ? 'Microphone off' : 'Microphone on'}>
                <Icon name={p.micMuted ? 'micOff' : 'mic'} size={18} />
              </span>
              <span role="img" aria-label={p.video ? 'Camera on' : 'Camera off'}>
                <Icon name={p.video ? 'camera' : 'cameraOff'} size={18} />
              </span>
            </span>
            {host && !p.self && (
              <span class="person-actions">
                <button
                  type="button"
                  class="button small"
                  disabled={p.micMuted}
                  aria-label={`Mute ${p.name}`}
                  onClick={() => host.mute(p.participantId)}
                >
                  Mute
                </button>
                <PersonMore
                  name={p.name}
                  onRemove={() => host.remove(p.participantId)}
                  {...(p.host ? {} : { onAudience: () => host.stage(p.participantId, false) })}
                />
              </span>
            )}
          </li>
        ))}
      </ul>
      {self && (
        <button
          type="button"
          class="button wide"
          aria-expanded={editing}
          aria-controls="own-card"
          onClick={() => setEditing(!editing)}
        >
          {editing ? 'Close your card' : self.card ? 'Edit your card' : 'Add your calling card'}
        </button>
      )}
      {self && editing && (
        <OwnCard
          card={self.card}
          onSave={async (card) => {
            if (await onCard(card)) setEditing(false);
          }}
        />
      )}
      {host && <HostControls host={host} />}
    </div>
  );
}

/** The rarer things a host does to one person (remove them), behind a "more" button. */
/** A host's button that lowers someone's raised hand. */
function LowerHand({ name, onLower }: { name: string; onLower(): void }): JSX.Element {
  return (
    <button type="button" class="button small" aria-label={`Lower ${name}'s hand`} onClick={onLower}>
      Lower
    </button>
  );
}

function PersonMore(props: { name: string; onRemove(): void; onAudience?: () => void }): JSX.Element {
  const [open, setOpen] = useState(false);
  return (
    <span class="person-more" onFocusOut={closeWhenFocusLeaves(() => setOpen(false))}>
      <button
        type="button"
        class="button small"
        aria-label={`More for ${props.name}`}
        title={`More for ${props.name}`}
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <Icon name="more" size={16} />
      </button>
      {open && props.onAudience && (
        <button
          type="button"
          class="button small"
          aria-label={`Move ${props.name} to the audience`}
          onClick={() => {
            setOpen(false);
            props.onAudience?.();
          }}
        >
          Move to the audience
        </button>
      )}
      {open && (
        <button
          type="button"
          class="button small danger"
          aria-label={`Remove ${props.name} from the call`}
          onClick={() => {
            setOpen(false);
            if (window.confirm(`Remove ${props.name} from the call?`)) props.onRemove();
          }}
        >
          Remove from the call
        </button>
      )}
    </span>
  );
}

/** Edits this person's card; nothing reaches the room until Save (each change goes to everyone). */
function OwnCard(props: {
  card: ParticipantCard | undefined;
  onSave(card: ParticipantCard | undefined): Promise<void>;
}): JSX.Element {
  const [draft, setDraft] = useState(props.card);
  const [saving, setSaving] = useState(false);
  return (
    <form
      id="own-card"
      class="own-card"
      aria-label="Your calling card"
      onSubmit={(e) => {
        e.preventDefault();
        setSaving(true);
        void props.onSave(draft).finally(() => setSaving(false));
      }}
    >
      <p class="host-hint">Shown to everyone in the call, and kept in this browser for your next calls.</p>
      <CardEditor id="call-card" card={draft} onChange={setDraft} />
      <button type="submit" class="button small" disabled={saving}>
        Save card
      </button>
    </form>
  );
}

function HostControls({ host }: { host: HostActions }): JSX.Element {
  const [password, setPassword] = useState('');
  const [topic, setTopic] = useState(host.topic ?? '');
  return (
    <section class="host-controls" aria-labelledby="host-controls-title">
      <h3 id="host-controls-title">Host controls</h3>
      <button
        type="button"
        class={`button wide record-button${host.recording ? ' recording' : ''}`}
        aria-label={host.recording ? 'Stop recording the call' : 'Record the call'}
        aria-describedby="record-hint"
        aria-disabled={host.recordingBusy}
        onClick={host.recordingBusy ? undefined : host.record}
      >
        <span class="recording-dot" aria-hidden="true" />
        {host.recording ? 'Stop recording' : 'Record'}
      </button>
      <p class="host-hint" id="record-hint">
        {host.recording
          ? 'Everyone in the call sees that it is being recorded.'
          : 'Records the call on this server; everyone in it sees that it is recorded.'}
      </p>
      <button
        type="button"
        class="button wide"
        aria-pressed={host.locked}
        onClick={() => host.lock(!host.locked)}
      >
        {host.locked ? 'Unlock the room' : 'Lock the room'}
      </button>
      <p class="host-hint">
        {host.locked ? 'Nobody new can join until you unlock it.' : 'A locked room lets nobody new in.'}
      </p>
      <details class="host-more">
        <summary>Directory listing and password</summary>
        <form
          class="password-form"
          onSubmit={(e) => {
            e.preventDefault();
            host.list(!host.listed, topic.trim() || undefined);
          }}
        >
          <label for="room-topic">Topic in the directory</label>
          <div class="join-row">
            <input
              id="room-topic"
              type="text"
              maxLength={120}
              placeholder="What the call is about"
              value={topic}
              onInput={(e) => setTopic(e.currentTarget.value)}
            />
            <button type="submit" class="button small" aria-pressed={host.listed}>
              {host.listed ? 'Unlist' : 'List'}
            </button>
          </div>
          <p class="host-hint">
            {host.listed
              ? 'Listed: everyone who opens this server sees the room and can join it.'
              : 'Unlisted: only people with the link find the room.'}
          </p>
        </form>
        <form
          class="password-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!password) return;
            host.setPassword(password);
            setPassword('');
          }}
        >
          <label for="room-password">
            {host.passwordProtected ? 'Change the room password' : 'Set a room password'}
          </label>
          <div class="join-row">
            <input
              id="room-password"
              type="password"
              autocomplete="new-password"
              maxLength={256}
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
            <button type="submit" class="button small" disabled={!password}>
              Set
            </button>
          </div>
          {host.passwordProtected && (
            <button type="button" class="linkish" onClick={() => host.setPassword(null)}>
              Remove the password
            </button>
          )}
        </form>
      </details>
      <button
        type="button"
        class="button wide danger"
        onClick={() => {
          if (window.confirm('End the call for everyone?')) host.end();
        }}
      >
        End the call for everyone
      </button>
    </section>
  );
}
