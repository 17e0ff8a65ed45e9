import { useEffect, useState } from 'preact/hooks';
import { isRoomName } from './util/names.ts';

/** The app's pages: `/` (home), `/r/<room>` and `/check`. The server answers each with the same index.html. */
export type Route =
  | { page: 'home' }
  | { page: 'room'; room: string }
  | { page: 'check' }
  | { page: 'notFound'; path: string };

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { page: 'home' };
  if (pathname === '/check' || pathname === '/check/') return { page: 'check' };
  const match = /^\/r\/([^/]+)\/?$/.exec(pathname);
  if (match) {
    let room = '';
    try {
      room = decodeURIComponent(match[1]!);
    } catch {
      // Falls through to notFound.
    }
    if (isRoomName(room)) return { page: 'room', room };
  }
  return { page: 'notFound', path: pathname };
}

export function roomPath(room: string): string {
  return `/r/${encodeURIComponent(room)}`;
}

export function inviteLink(room: string): string {
  return `${location.origin}${roomPath(room)}`;
}

export function navigate(path: string): void {
  history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return route;
}
