import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { navigate, roomPath } from '../router.ts';
import { About } from '../ui/About.tsx';
import { Logo } from '../ui/Logo.tsx';
import { parseRoomInput, randomRoomName } from '../util/names.ts';

export function HomePage(): JSX.Element {
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
      </main>
      <footer class="footer">
        <About />
      </footer>
    </div>
  );
}
