import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage } from '../sdk.ts';
import { Icon } from '../ui/icons.tsx';

/** The server keeps the last 100 messages for late joiners; the panel shows the same window. */
export const CHAT_HISTORY = 100;
/** The server's default limit (config `limits.chatMaxChars`), counted in characters. */
export const CHAT_MAX_CHARS = 2000;

export interface ChatPanelProps {
  messages: readonly ChatMessage[];
  selfId: string;
  onSend(text: string): void;
}

function timeOf(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Room chat. Every message is rendered as text: names and messages never become markup. */
export function ChatPanel({ messages, selfId, onSend }: ChatPanelProps): JSX.Element {
  const [draft, setDraft] = useState('');
  const logRef = useRef<HTMLOListElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const shown = messages.slice(-CHAT_HISTORY);
  const length = [...draft].length;
  const tooLong = length > CHAT_MAX_CHARS;

  useEffect(() => inputRef.current?.focus(), []);

  // Keep the newest message in view, unless the person scrolled up to read.
  const last = shown[shown.length - 1]?.id;
  useEffect(() => {
    const log = logRef.current;
    if (!log) return;
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    const mine = shown[shown.length - 1]?.participantId === selfId;
    if (nearBottom || mine) log.scrollTop = log.scrollHeight;
  }, [last]);

  const send = () => {
    const text = draft.trim();
    if (!text || tooLong) return;
    onSend(text);
    setDraft('');
  };

  return (
    <div class="chat">
      {shown.length === 0 ? (
        <p class="panel-empty">
          No messages yet. Messages are seen by everyone in the call, including those who join later.
        </p>
      ) : null}
      <ol
        class="chat-log"
        ref={logRef}
        aria-label="Chat messages"
        aria-live="polite"
        aria-relevant="additions"
      >
        {shown.map((m) => (
          <li
            key={m.id}
            class={`chat-message${m.participantId === selfId ? ' mine' : ''}`}
            data-message={m.id}
          >
            <div class="chat-meta">
              <span class="chat-name">{m.participantId === selfId ? 'You' : m.name}</span>
              <time dateTime={new Date(m.ts).toISOString()}>{timeOf(m.ts)}</time>
            </div>
            <p class="chat-text">{m.text}</p>
          </li>
        ))}
      </ol>
      <form
        class="chat-form"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea
          ref={inputRef}
          class="chat-input"
          rows={2}
          aria-label="Message to everyone"
          placeholder="Message everyone"
          value={draft}
          aria-invalid={tooLong ? 'true' : undefined}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          }}
        />
        <button
          type="submit"
          class="round small"
          aria-label="Send message"
          disabled={!draft.trim() || tooLong}
        >
          <Icon name="send" size={18} />
        </button>
        {length > CHAT_MAX_CHARS - 200 && (
          <p class={`chat-count${tooLong ? ' over' : ''}`} aria-live="polite">
            {length} / {CHAT_MAX_CHARS}
          </p>
        )}
      </form>
    </div>
  );
}
