import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { navigate, roomPath } from '../router.ts';
import { About } from '../ui/About.tsx';
import { Logo } from '../ui/Logo.tsx';
import { parseRoomInput, randomRoomName } from '../util/names.ts';

/** A room its host listed in the server's directory (`GET /directory`). */
interface ListedRoom {
  name: string;
  topic?: string;
  people: number;
  locked: boolean;
  passwordProtected: boolean;
}

/** How often the list of rooms is asked for again while the page is open. */
const DIRECTORY_REFRESH_MS = 5000;

/** The rooms of the directory, kept up to date while the page is visible. */
function useDirectory(): ListedRoom[] {
  const [rooms, setRooms] = useState<ListedRoom[]>([]);
  useEffect(() => {
    // In secured mode the directory shows what the visitor's token allows: the token of this page's link.
    const token = new URLSearchParams(location.search).get('token');
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        if (document.visibilityState === 'visible') {
          const response = await fetch('/directory', {
            headers: token ? { authorization: `Bearer ${token}` } : {},
          });
          if (response.ok && !stopped) setRooms(((await response.json()) as { rooms: ListedRoom[] }).rooms);
        }
      } catch {
        // The next try may reach the server.
      }
      if (!stopped) timer = setTimeout(load, DIRECTORY_REFRESH_MS);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  return rooms;
}

export function HomePage(): JSX.Element {
  const rooms = useDirectory();
  const [input, setInput] = useState('');
  const [error, setError] = useState('');

  const join = (event: Event) => {
    event.preventDefault();
    const room = parseRoomInput(input);
    if (!room) {
      setError(
        input.trim()
          ? 'Room names use letters, digits, ".", "_" and "-" (up to 64), or paste an invite link.'
          : 'Enter a room name or paste an invite link.',
      );
      return;
    }
    navigate(roomPath(room));
  };

  return (
    <div class="page page-light">
      <header class="topbar">
        <Logo />
      </header>
      <main class="home">
        <h1>Video calls on your own server</h1>
        <p class="lead">Start a room, share its link, talk. No accounts and nothing to install.</p>
        <button type="button" class="button primary big" onClick={() => navigate(roomPath(randomRoomName()))}>
          Start a new call
        </button>
        <form class="join-form" onSubmit={join} noValidate>
          <label for="room-input">Or join a room by name or link</label>
          <div class="join-row">
            <input
              id="room-input"
              type="text"
              autocomplete="off"
              autocapitalize="off"
              spellcheck={false}
              placeholder="calm-otter-417"
              value={input}
              aria-invalid={error ? 'true' : undefined}
              aria-describedby={error ? 'room-error' : undefined}
              onInput={(e) => {
                setInput(e.currentTarget.value);
                setError('');
              }}
            />
            <button type="submit" class="button">
              Join
            </button>
          </div>
          {error && (
            <p id="room-error" class="field-error" role="alert">
              {error}
            </p>
          )}
        </form>
        <p class="check-home-link">
          Connection problems? <a href="/check">Check your connection</a>
        </p>
        {rooms.length > 0 && (
          <section class="directory" aria-labelledby="directory-title">
            <h2 id="directory-title">Rooms on this server</h2>
            <ul>
              {rooms.map((room) => (
                <li key={room.name}>
                  <a class="directory-room" href={roomPath(room.name)}>
                    <span class="directory-name">{room.name}</span>
                    {room.topic && <span class="directory-topic">{room.topic}</span>}
                    <span class="directory-meta">
                      {room.people === 1 ? '1 person' : `${room.people} people`}
                      {room.locked && <span class="tag">locked</span>}
                      {room.passwordProtected && <span class="tag">password</span>}
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          </section>
        )}
      </main>
      <footer class="footer">
        <About />
      </footer>
    </div>
  );
}
