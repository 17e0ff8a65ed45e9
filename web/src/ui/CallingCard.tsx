import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ParticipantCard } from '../sdk.ts';
import { hueOf, initials } from '../util/names.ts';

/** The side of the square avatar the client makes. */
export const AVATAR_SIZE = 96;
/** The server's limit on an avatar's bytes (MAX_CARD_AVATAR_BYTES in the protocol). */
const MAX_AVATAR_BYTES = 12 * 1024;
const LINK_PROTOCOLS = ['http:', 'https:', 'mailto:', 'tel:'];

/** The link as given when it is a web, mail or phone link; anything else is never made clickable. */
export function safeHref(link: string | undefined): string | undefined {
  if (!link) return undefined;
  try {
    return LINK_PROTOCOLS.includes(new URL(link).protocol) ? link : undefined;
  } catch {
    return undefined;
  }
}

/** What a person typed as their link: "ada.example" means https://ada.example; undefined when it is no link. */
export function normaliseLink(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  if (safeHref(trimmed)) return trimmed;
  if (/^[\w-]+(\.[\w-]+)+(\/\S*)?$/.test(trimmed)) return safeHref(`https://${trimmed}`);
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed)) return `mailto:${trimmed}`;
  return undefined;
}

/** The text to show for a link: without its scheme. */
function linkText(href: string): string {
  return href.replace(/^(https?:\/\/|mailto:|tel:)/, '').replace(/\/$/, '');
}

const base64Bytes = (dataUrl: string) => {
  const data = dataUrl.slice(dataUrl.indexOf(',') + 1);
  return Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
};

/**
 * A picture file as an avatar: centre-cropped to a 96×96 square and encoded as WebP (JPEG where the
 * browser cannot make WebP), as small as needed to fit the server's limit.
 */
export async function avatarFromFile(file: Blob): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement('canvas');
  canvas.width = AVATAR_SIZE;
  canvas.height = AVATAR_SIZE;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This browser cannot draw the picture.');
  context.drawImage(
    bitmap,
    (bitmap.width - side) / 2,
    (bitmap.height - side) / 2,
    side,
    side,
    0,
    0,
    AVATAR_SIZE,
    AVATAR_SIZE,
  );
  bitmap.close();
  for (const quality of [0.85, 0.7, 0.5, 0.3])
    for (const type of ['image/webp', 'image/jpeg']) {
      const url = canvas.toDataURL(type, quality);
      if (url.startsWith(`data:${type};base64,`) && base64Bytes(url) <= MAX_AVATAR_BYTES) return url;
    }
  throw new Error('This picture cannot be made small enough; try another.');
}

/** A round picture of a person: their avatar, else their initials on their colour. */
export function Avatar(props: { name: string; hueKey: string; card?: ParticipantCard; class: string }) {
  if (props.card?.avatar)
    return <img class={`${props.class} avatar-image`} src={props.card.avatar} alt="" aria-hidden="true" />;
  return (
    <span class={props.class} style={{ '--hue': String(hueOf(props.hueKey)) }} aria-hidden="true">
      {initials(props.name)}
    </span>
  );
}

/** Pronouns, organisation and link under a name, as text (never HTML) and a safe link. */
export function CardLines({ card }: { card: ParticipantCard | undefined }): JSX.Element | null {
  if (!card) return null;
  const href = safeHref(card.link);
  const about = [card.pronouns, card.organisation].filter(Boolean).join(' · ');
  if (!about && !href) return null;
  return (
    <span class="card-lines">
      {about && <span class="card-about">{about}</span>}
      {href && (
        <a class="card-link" href={href} target="_blank" rel="noopener noreferrer nofollow">
          {linkText(href)}
        </a>
      )}
    </span>
  );
}

/** The card itself, as shown over a tile's name. */
export function CallingCard(props: { name: string; hueKey: string; card: ParticipantCard }) {
  return (
    <span class="calling-card">
      <Avatar name={props.name} hueKey={props.hueKey} card={props.card} class="card-avatar" />
      <span class="card-body">
        <strong class="card-name">{props.name}</strong>
        <CardLines card={props.card} />
      </span>
    </span>
  );
}

export interface CardEditorProps {
  /** Makes the ids of its fields unique on the page. */
  id: string;
  card: ParticipantCard | undefined;
  onChange(card: ParticipantCard | undefined): void;
}

/** The fields of a calling card: pronouns, organisation, a link and a picture. */
export function CardEditor({ id, card, onChange }: CardEditorProps): JSX.Element {
  const [linkDraft, setLinkDraft] = useState(card?.link ?? '');
  const [linkError, setLinkError] = useState('');
  const [avatarError, setAvatarError] = useState('');
  useEffect(() => setLinkDraft(card?.link ?? ''), [card?.link]);
  const set = (field: keyof ParticipantCard, value: string | undefined) => {
    const next: ParticipantCard = { ...card };
    if (value?.trim()) next[field] = value;
    else delete next[field];
    onChange(Object.keys(next).length > 0 ? next : undefined);
  };
  const commitLink = () => {
    if (!linkDraft.trim()) {
      setLinkError('');
      set('link', undefined);
      return;
    }
    const link = normaliseLink(linkDraft);
    if (!link) {
      setLinkError('Give a web address, an e-mail address or a tel: link.');
      return;
    }
    setLinkError('');
    setLinkDraft(link);
    set('link', link);
  };
  return (
    <div class="card-editor">
      <div class="card-field">
        <label for={`${id}-pronouns`}>Pronouns</label>
        <input
          id={`${id}-pronouns`}
          type="text"
          maxLength={40}
          placeholder="e.g. she/her"
          value={card?.pronouns ?? ''}
          onInput={(e) => set('pronouns', e.currentTarget.value)}
        />
      </div>
      <div class="card-field">
        <label for={`${id}-organisation`}>Organisation</label>
        <input
          id={`${id}-organisation`}
          type="text"
          maxLength={80}
          autocomplete="organization"
          value={card?.organisation ?? ''}
          onInput={(e) => set('organisation', e.currentTarget.value)}
        />
      </div>
      <div class="card-field">
        <label for={`${id}-link`}>Link</label>
        <input
          id={`${id}-link`}
          type="text"
          inputMode="url"
          maxLength={300}
          placeholder="a web page or e-mail address"
          value={linkDraft}
          aria-invalid={linkError ? 'true' : undefined}
          aria-describedby={linkError ? `${id}-link-error` : undefined}
          onInput={(e) => setLinkDraft(e.currentTarget.value)}
          onBlur={commitLink}
          onKeyDown={(e) => {
            if (e.key === 'Enter') commitLink();
          }}
        />
        {linkError && (
          <p id={`${id}-link-error`} class="field-error" role="alert">
            {linkError}
          </p>
        )}
      </div>
      <div class="card-field card-picture">
        <span class="card-picture-preview">
          {card?.avatar ? (
            <img src={card.avatar} alt="You, as others see you" width={48} height={48} />
          ) : null}
        </span>
        <input
          id={`${id}-avatar`}
          class="visually-hidden"
          type="file"
          accept="image/png,image/jpeg,image/webp,image/gif"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (!file) return;
            avatarFromFile(file).then(
              (url) => {
                setAvatarError('');
                set('avatar', url);
              },
              (error: unknown) =>
                setAvatarError(
                  error instanceof Error && error.message.startsWith('This')
                    ? error.message
                    : 'This file is not a picture the browser can read.',
                ),
            );
          }}
        />
        <label class="button small" for={`${id}-avatar`}>
          {card?.avatar ? 'Change picture' : 'Add a picture'}
        </label>
        {card?.avatar && (
          <button type="button" class="linkish" onClick={() => set('avatar', undefined)}>
            Remove picture
          </button>
        )}
        {avatarError && (
          <p class="field-error" role="alert">
            {avatarError}
          </p>
        )}
      </div>
    </div>
  );
}
