/** Keyboard shortcuts of the call view: one letter, no modifier, ignored while typing. */
export type ShortcutAction =
  | 'mic'
  | 'camera'
  | 'screen'
  | 'hand'
  | 'chat'
  | 'people'
  | 'layout'
  | 'board'
  | 'help';

export const SHORTCUTS: readonly { key: string; action: ShortcutAction | 'close'; label: string }[] = [
  { key: 'M', action: 'mic', label: 'Turn your microphone on or off' },
  { key: 'V', action: 'camera', label: 'Turn your camera on or off' },
  { key: 'S', action: 'screen', label: 'Present your screen, or stop' },
  { key: 'H', action: 'hand', label: 'Raise or lower your hand' },
  { key: 'C', action: 'chat', label: 'Open or close the chat' },
  { key: 'P', action: 'people', label: 'Open or close the participant list' },
  { key: 'L', action: 'layout', label: 'Switch between grid and speaker view' },
  { key: 'W', action: 'board', label: 'Open or close the whiteboard' },
  { key: 'Ctrl+Z', action: 'close', label: 'Undo your last change on the whiteboard (Ctrl+Shift+Z: redo)' },
  { key: '?', action: 'help', label: 'Show these shortcuts' },
  { key: 'Esc', action: 'close', label: 'Close the open panel or dialog' },
  { key: '← →', action: 'close', label: 'Move between tiles (on a tile’s options button)' },
];

const byKey: Record<string, ShortcutAction> = {
  m: 'mic',
  v: 'camera',
  s: 'screen',
  h: 'hand',
  c: 'chat',
  p: 'people',
  l: 'layout',
  w: 'board',
  '?': 'help',
};

/** The action a key press asks for, or undefined when it is typing or uses a modifier. */
export function shortcutFor(event: KeyboardEvent): ShortcutAction | undefined {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.repeat) return undefined;
  const target = event.target as HTMLElement | null;
  if (target?.closest?.('input, textarea, select, [contenteditable="true"], dialog')) return undefined;
  return byKey[event.key.toLowerCase()];
}
