import type { JSX } from 'preact';

/** Line icons on a 24-unit grid, drawn with the current text colour. Decorative: buttons carry labels. */
const paths = {
  mic: 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M5 11a7 7 0 0 0 14 0 M12 18v3',
  micOff:
    'M12 3a3 3 0 0 0-3 3v4 M15 9.5V6a3 3 0 0 0-5.2-2 M15 12a3 3 0 0 1-4.6 2.5 M5 11a7 7 0 0 0 11.5 5.4 M19 11a7 7 0 0 1-.6 2.8 M12 18v3 M3 3l18 18',
  camera: 'M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z M16 10l5-3v10l-5-3',
  cameraOff:
    'M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z M16 10l5-3v10l-5-3 M2 2l20 20',
  screen: 'M3 5h18v11H3z M8 20h8 M12 16v4 M9 10.5l3-3 3 3 M12 7.5V13',
  chat: 'M4 5h16v11H9l-5 4z',
  people:
    'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z M2 21a7 7 0 0 1 14 0 M16 3.5a4 4 0 0 1 0 7 M18 14a6 6 0 0 1 4 7',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1 M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  leave:
    'M4.6 15.4l-1.9-1.9a1.2 1.2 0 0 1 0-1.7C5.1 9.4 8.4 8.1 12 8.1s6.9 1.3 9.3 3.7a1.2 1.2 0 0 1 0 1.7l-1.9 1.9a1.2 1.2 0 0 1-1.6.1l-2.3-1.8a1.2 1.2 0 0 1-.5-1v-2.2a10.8 10.8 0 0 0-6 0v2.2a1.2 1.2 0 0 1-.5 1l-2.3 1.8a1.2 1.2 0 0 1-1.6-.1z',
  grid: 'M4 4h7v7H4z M13 4h7v7h-7z M4 13h7v7H4z M13 13h7v7h-7z',
  speaker: 'M3 4h18v12H3z M5 18h3v2H5z M10.5 18h3v2h-3z M16 18h3v2h-3z',
  keyboard: 'M2 6h20v12H2z M6 10h.01 M10 10h.01 M14 10h.01 M18 10h.01 M7 14h10',
  settings:
    'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 0 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 0 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 0 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 0 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z',
  close: 'M6 6l12 12 M18 6L6 18',
  send: 'M4 12l16-8-6 16-2-6z M12 14l8-10',
  volume: 'M4 9h4l5-4v14l-5-4H4z M17 9a4 4 0 0 1 0 6 M19.5 6.5a8 8 0 0 1 0 11',
  volumeOff: 'M4 9h4l5-4v14l-5-4H4z M17 9l5 6 M22 9l-5 6',
  more: 'M5 12h.01 M12 12h.01 M19 12h.01',
  hand: 'M8 13V5.5a1.5 1.5 0 0 1 3 0V12 M11 11V4a1.5 1.5 0 0 1 3 0v7 M14 11V5.5a1.5 1.5 0 0 1 3 0V13 M17 9.5a1.5 1.5 0 0 1 3 0V15a6 6 0 0 1-6 6h-1.5a6 6 0 0 1-4.9-2.5L4.3 14.6a1.5 1.5 0 0 1 2.4-1.8L8 14.5',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M8.5 14a4 4 0 0 0 7 0 M9 9.5h.01 M15 9.5h.01',
  pin: 'M9 4h6l-1 5 3 3v2H7v-2l3-3z M12 14v6',
  spotlight: 'M12 3v2 M5.6 5.6l1.4 1.4 M18.4 5.6L17 7 M8 14a4 4 0 1 1 8 0v3H8z M9 20h6',
  fit: 'M4 9V4h5 M20 9V4h-5 M4 15v5h5 M20 15v5h-5',
  fullscreen: 'M4 9V4h5 M15 4h5v5 M20 15v5h-5 M9 20H4v-5 M9 9l-5-5 M15 9l5-5 M15 15l5 5 M9 15l-5 5',
  snapshot: 'M3 8h4l2-3h6l2 3h4v11H3z M12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z',
  attach:
    'M20.5 11.5l-8.3 8.3a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8',
  download: 'M12 4v11 M7 10.5l5 5 5-5 M5 20h14',
  file: 'M6 3h8l4 4v14H6z M14 3v4h4',
  board: 'M3 4h18v12H3z M12 16v4 M8 20h8 M7 12.5c1.5-3 3-4 4.5-2s3 1 5-3',
  warning: 'M12 3.5l9.5 16.5h-19z M12 10v4.5 M12 17.5h.01',
} as const;

export type IconName = keyof typeof paths;

export function Icon({ name, size = 22 }: { name: IconName; size?: number }): JSX.Element {
  return <PathIcon d={paths[name]} size={size} />;
}

/** An icon of one stroked path `d` on the 24×24 grid (the set's own, or one a component draws). */
export function PathIcon({ d, size = 22 }: { d: string; size?: number }): JSX.Element {
  return (
    <svg
      class="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width="1.8"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={d} />
    </svg>
  );
}
