import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage, SharedFile } from '../sdk.ts';
import { Icon } from '../ui/icons.tsx';
import { useStore } from '../util/useStore.ts';
import { humanSize, previewable } from './files.ts';
import type { Transfer, TransferProblem, Transfers } from './Transfers.ts';

/** The server keeps the last 100 messages for late joiners; the panel shows the same window. */
export const CHAT_HISTORY = 100;
/** The server's default limit (config `limits.chatMaxChars`), counted in characters. */
export const CHAT_MAX_CHARS = 2000;

/** The files of the room as the chat shows them, and what the person can do with them. */
export interface ChatFiles {
  files: readonly SharedFile[];
  transfers: Transfers;
  /** Whom a file may be sent to besides everyone: the others in the call. */
  people: readonly { id: string; name: string }[];
  nameOf(participantId: string): string | undefined;
  send(file: File, to: string | undefined): void;
  save(file: SharedFile): void;
  /** The bytes of a picture to show in the chat. */
  preview(file: SharedFile): Promise<Blob>;
}

export interface ChatPanelProps {
  messages: readonly ChatMessage[];
  selfId: string;
  onSend(text: string): void;
  files: ChatFiles;
}

/** One line of the chat: a message, a file, a file being sent, or why one was not. */
type Entry =
  | { kind: 'message'; key: string; ts: number; mine: boolean; message: ChatMessage }
  | { kind: 'file'; key: string; ts: number; mine: boolean; file: SharedFile }
  | { kind: 'upload'; key: string; ts: number; mine: true; transfer: Transfer }
  | { kind: 'problem'; key: string; ts: number; mine: true; problem: TransferProblem };

/** Messages and files in the order they were sent (a sort keeps equal times in the order given). */
function timeline(
  messages: readonly ChatMessage[],
  files: readonly SharedFile[],
  transfers: Transfers,
  selfId: string,
): Entry[] {
  const entries: Entry[] = [
    ...messages.map((message): Entry => {
      const mine = message.participantId === selfId;
      return { kind: 'message', key: `m-${message.id}`, ts: message.ts, mine, message };
    }),
    ...files.map((file): Entry => {
      const mine = file.from === selfId;
      return { kind: 'file', key: `f-${file.id}`, ts: file.ts, mine, file };
    }),
    ...transfers.list
      .filter((t) => t.kind === 'upload')
      .map(
        (transfer): Entry => ({ kind: 'upload', key: transfer.id, ts: transfer.ts, mine: true, transfer }),
      ),
    ...transfers.problems.map(
      (problem): Entry => ({ kind: 'problem', key: problem.id, ts: problem.ts, mine: true, problem }),
    ),
  ];
  return entries.sort((a, b) => a.ts - b.ts);
}

function timeOf(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * Room chat, with the files sent in the room among the messages. Every message, name and file name is
 * rendered as text: none ever becomes markup, and of a file's content only a picture is shown.
 */
export function ChatPanel({ messages, selfId, onSend, files }: ChatPanelProps): JSX.Element {
  useStore(files.transfers);
  const [draft, setDraft] = useState('');
  const [to, setTo] = useState('');
  const logRef = useRef<HTMLOListElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const pickerRef = useRef<HTMLInputElement>(null);
  // Every file stays listed while the room lasts: an older one could not be downloaded otherwise.
  const shown = timeline(messages.slice(-CHAT_HISTORY), files.files, files.transfers, selfId);
  const length = [...draft].length;
  const tooLong = length > CHAT_MAX_CHARS;
  // The chosen person left: files go to everyone again, never to whoever comes next.
  const recipient = files.people.some((p) => p.id === to) ? to : '';

  useEffect(() => inputRef.current?.focus(), []);

  // Keep the newest line in view, unless the person scrolled up to read.
  const last = shown[shown.length - 1]?.key;
  useEffect(() => {
    const log = logRef.current;
    if (!log) return;
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    if (nearBottom || shown[shown.length - 1]?.mine) log.scrollTop = log.scrollHeight;
  }, [last]);

  const sendFiles = (list: FileList | null | undefined) => {
    for (const file of list ?? []) files.send(file, recipient || undefined);
  };

  const send = () => {
    const text = draft.trim();
    if (!text || tooLong) return;
    onSend(text);
    setDraft('');
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: dropping files is a shortcut for "Send a file"
    <div
      class="chat"
      // Files dropped on the chat are sent as if chosen with "Send a file".
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
      }}
      onDrop={(e) => {
        if (!e.dataTransfer?.files.length) return;
        e.preventDefault();
        sendFiles(e.dataTransfer.files);
      }}
    >
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
        {shown.map((entry) => {
          switch (entry.kind) {
            case 'message': {
              const m = entry.message;
              return (
                <li key={entry.key} class={`chat-message${entry.mine ? ' mine' : ''}`} data-message={m.id}>
                  <div class="chat-meta">
                    <span class="chat-name">{entry.mine ? 'You' : m.name}</span>
                    <Time ts={m.ts} />
                  </div>
                  <p class="chat-text">{m.text}</p>
                </li>
              );
            }
            case 'file':
              return <FileLine key={entry.key} file={entry.file} selfId={selfId} files={files} />;
            case 'upload':
              return <UploadLine key={entry.key} transfer={entry.transfer} />;
            default:
              return (
                <li key={entry.key} class="chat-problem" data-problem="">
                  <Icon name="warning" size={16} />
                  <p>{entry.problem.text}</p>
                  <button
                    type="button"
                    class="ghost small"
                    aria-label="Dismiss"
                    title="Dismiss"
                    onClick={() => files.transfers.dismiss(entry.problem.id)}
                  >
                    <Icon name="close" size={16} />
                  </button>
                </li>
              );
          }
        })}
      </ol>
      <div class="chat-attach">
        <button
          type="button"
          class="ghost small"
          aria-label="Send a file"
          title="Send a file"
          onClick={() => pickerRef.current?.click()}
        >
          <Icon name="attach" size={18} />
        </button>
        <input
          ref={pickerRef}
          type="file"
          multiple
          hidden
          aria-label="Files to send"
          onChange={(e) => {
            sendFiles(e.currentTarget.files);
            // The same file can be chosen again (a second try after a refusal).
            e.currentTarget.value = '';
          }}
        />
        <label for="chat-to">Send to</label>
        <select
          id="chat-to"
          value={recipient}
          title="Whom the files you send go to. Messages go to everyone."
          onChange={(e) => setTo(e.currentTarget.value)}
        >
          <option value="">Everyone</option>
          {files.people.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </div>
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

function Time({ ts }: { ts: number }): JSX.Element {
  return <time dateTime={new Date(ts).toISOString()}>{timeOf(ts)}</time>;
}

/**
 * A file sent in the room: who sent it, to whom when it was for one person, a preview of a picture, and
 * Download (with its progress while it comes).
 */
function FileLine({ file, selfId, files }: { file: SharedFile; selfId: string; files: ChatFiles }) {
  const mine = file.from === selfId;
  const to = file.to ? (file.to === selfId ? ' to you' : ` to ${files.nameOf(file.to) ?? 'one person'}`) : '';
  const download = files.transfers.download(file.id);
  return (
    <li class={`chat-message chat-file${mine ? ' mine' : ''}`} data-file={file.id}>
      <div class="chat-file-line">
        <Icon name="file" size={18} />
        <p class="chat-text">
          <strong>{mine ? 'You' : file.fromName}</strong> sent <span class="chat-file-name">{file.name}</span>{' '}
          ({humanSize(file.size)}){to}
        </p>
        <Time ts={file.ts} />
      </div>
      {previewable(file) && <Preview file={file} load={files.preview} />}
      {download ? (
        <Progress
          transfer={download}
          label={`Downloading ${file.name}`}
          cancel={`Cancel downloading ${file.name}`}
        />
      ) : (
        <button
          type="button"
          class="button small chat-download"
          aria-label={`Download ${file.name}`}
          onClick={() => files.save(file)}
        >
          <Icon name="download" size={16} /> Download
        </button>
      )}
    </li>
  );
}

/** A file this person is sending: its progress, and Cancel. */
function UploadLine({ transfer }: { transfer: Transfer }) {
  return (
    <li class="chat-message chat-file mine" data-upload="">
      <div class="chat-file-line">
        <Icon name="file" size={18} />
        <p class="chat-text">
          Sending <span class="chat-file-name">{transfer.name}</span> ({humanSize(transfer.size)}) to{' '}
          {transfer.toName ?? 'everyone'}
        </p>
      </div>
      <Progress
        transfer={transfer}
        label={`Sending ${transfer.name}`}
        cancel={`Cancel sending ${transfer.name}`}
      />
    </li>
  );
}

function Progress({ transfer, label, cancel }: { transfer: Transfer; label: string; cancel: string }) {
  return (
    <div class="transfer">
      <progress max={Math.max(1, transfer.size)} value={transfer.done} aria-label={label} />
      <span class="transfer-amount" aria-hidden="true">
        {humanSize(transfer.done)} / {humanSize(transfer.size)}
      </span>
      <button type="button" class="ghost small" aria-label={cancel} title={cancel} onClick={transfer.cancel}>
        <Icon name="close" size={16} />
      </button>
    </div>
  );
}

/**
 * A picture sent in the room, shown from its bytes (the file token goes in a header, which an <img src>
 * cannot send; the call fetches them once). Its object URL is let go when the line goes; a picture that
 * does not come leaves only the Download button.
 */
function Preview({ file, load }: { file: SharedFile; load: ChatFiles['preview'] }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    let gone = false;
    let made: string | undefined;
    load(file).then(
      (blob) => {
        if (gone) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      },
      () => undefined,
    );
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [file.id]);
  return url ? <img class="chat-preview" src={url} alt={file.name} /> : null;
}
