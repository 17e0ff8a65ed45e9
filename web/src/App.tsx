import type { JSX } from 'preact';
import { CheckPage } from './pages/CheckPage.tsx';
import { HomePage } from './pages/HomePage.tsx';
import { RoomPage } from './pages/RoomPage.tsx';
import { navigate, useRoute } from './router.ts';
import { Logo } from './ui/Logo.tsx';

export function App(): JSX.Element {
  const route = useRoute();
  switch (route.page) {
    case 'home':
      return <HomePage />;
    case 'check':
      return <CheckPage />;
    case 'room':
      // Keyed by room: moving to another room starts from its pre-join screen.
      return <RoomPage key={route.room} room={route.room} />;
    default:
      return (
        <div class="page page-light">
          <header class="topbar">
            <Logo />
          </header>
          <main class="end">
            <h1>No such page</h1>
            <p class="lead">Room links look like {location.origin}/r/calm-otter-417.</p>
            <div class="end-actions">
              <button type="button" class="button primary big" onClick={() => navigate('/')}>
                Go to the home page
              </button>
            </div>
          </main>
        </div>
      );
  }
}
