import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as Y from 'yjs';
import type { CallSession } from '../call/CallSession.ts';
import { messageOf } from '../call/failures.ts';
import { ServerError } from '../sdk.ts';
import { PathIcon } from '../ui/icons.tsx';
import { saveBlob } from '../util/saveBlob.ts';
import { fitImage } from './image.ts';
import {
  addImage,
  addNote,
  addPage,
  addShape,
  addText,
  BACKGROUND,
  beginStroke,
  COLORS,
  describe,
  extendStroke,
  ITEMS,
  type Item,
  kindOf,
  MAX_PAGES,
  NOTE_SIZE,
  numberOf,
  offsetOf,
  type Page,
  type Point,
  pageNames,
  pageOf,
  removeItem,
  SHAPES,
  type ShapeKind,
  SIZES,
  setOffset,
  setShapeEnd,
  TEXT_FONT,
  TEXT_SIZE,
  textOf,
} from './model.ts';
import {
  boundsOf,
  contentBounds,
  exportArea,
  exportPng,
  exportSvg,
  itemAt,
  pageCanvas,
  paint,
  paintSelection,
  type View,
} from './render.ts';
import { useBoardDoc } from './useBoardDoc.ts';

export type Tool = 'pen' | ShapeKind | 'text' | 'note' | 'eraser' | 'select' | 'hand';

const TOOLS: readonly { tool: Tool; label: string; icon: string }[] = [
  { tool: 'pen', label: 'Pen', icon: 'M4 20l4-1 11-11-3-3L5 16z M14 6l3 3' },
  { tool: 'line', label: 'Line', icon: 'M5 19L19 5' },
  { tool: 'arrow', label: 'Arrow', icon: 'M5 19L19 5 M10 5h9v9' },
  { tool: 'rect', label: 'Rectangle', icon: 'M4 6h16v12H4z' },
  { tool: 'ellipse', label: 'Ellipse', icon: 'M12 19c4.4 0 8-3.1 8-7s-3.6-7-8-7-8 3.1-8 7 3.6 7 8 7z' },
  { tool: 'text', label: 'Text', icon: 'M5 6V4h14v2 M12 4v16 M9 20h6' },
  { tool: 'note', label: 'Sticky note', icon: 'M4 4h16v11l-5 5H4z M15 20v-5h5' },
  {
    tool: 'eraser',
    label: 'Eraser',
    icon: 'M8 20h12 M4.5 15.5l9-9a2 2 0 0 1 2.8 0l2.2 2.2a2 2 0 0 1 0 2.8L11 19H8z',
  },
  { tool: 'select', label: 'Select and move', icon: 'M5 3l13 8-6 1.5L9 19z' },
  {
    tool: 'hand',
    label: 'Hand (move the view)',
    icon: 'M8 12V6a1.5 1.5 0 0 1 3 0v5 M11 10V4.5a1.5 1.5 0 0 1 3 0V10 M14 10V6a1.5 1.5 0 0 1 3 0v7a7 7 0 0 1-7 7h-.5a6 6 0 0 1-4.7-2.3L3 14.5a1.5 1.5 0 0 1 2.4-1.8L8 15',
  },
];

const MIN_ZOOM = 0.25;
const MAX_ZOOM = 4;

interface Cursor {
  id: number;
  name: string;
  color: string;
  x: number;
  y: number;
}

/** The board toolbar's icons: its own paths, drawn as the app's icons are. */
const BoardIcon = ({ d }: { d: string }) => <PathIcon d={d} size={20} />;

/** A toolbar button that is an icon: its label is also its tooltip. */
function ToolButton(props: {
  label: string;
  icon: string;
  disabled?: boolean;
  onClick(): void;
}): JSX.Element {
  return (
    <button
      type="button"
      class="board-tool"
      aria-label={props.label}
      title={props.label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      <BoardIcon d={props.icon} />
    </button>
  );
}

/**
 * The room's whiteboard, large on the stage: a canvas drawn from the shared document, a toolbar of tools
 * and colours, everyone else's cursors with their names. What this person draws goes into the document
 * at once (the SDK sends it, batched); Undo takes back only their own changes.
 */
export function Whiteboard({ session, onClose }: { session: CallSession; onClose(): void }): JSX.Element {
  const room = session.room;
  const board = room?.board;
  const doc = useBoardDoc(session);
  const isHost = session.isHost;
  const boardLocked = room?.roomState.boardLocked === true;
  const readOnly = boardLocked && !isHost;

  const [tool, setTool] = useState<Tool>('pen');
  const [color, setColor] = useState(COLORS[0]!.value);
  const [size, setSize] = useState(SIZES[1]!.value);
  const [label, setLabel] = useState('Whiteboard: empty');
  const [cursors, setCursors] = useState<Cursor[]>([]);
  const [confirmClear, setConfirmClear] = useState(false);
  /** Where a text box is open: for a new text or note, or to change one (`edit`). */
  const [textAt, setTextAt] = useState<{ x: number; y: number; note: boolean; edit?: Item } | null>(null);
  const [selected, setSelected] = useState<Item | null>(null);
  const [canUndo, setCanUndo] = useState(false);
  const [canRedo, setCanRedo] = useState(false);
  const [view, setView] = useState<View>({ zoom: 1, panX: 0, panY: 0 });
  const [viewSize, setViewSize] = useState({ width: 0, height: 0 });
  /** The page this person looks at (each person turns pages for themselves). */
  const [pageName, setPageName] = useState(ITEMS);
  const [names, setNames] = useState<string[]>([ITEMS]);
  useEffect(() => {
    if (!doc) return;
    const pages = doc.getArray('pages');
    const read = () => setNames(pageNames(doc));
    read();
    pages.observe(read);
    return () => pages.unobserve(read);
  }, [doc]);
  const pageIndex = Math.max(0, names.indexOf(pageName));
  const page: Page | undefined = doc ? pageOf(doc, names[pageIndex] ?? ITEMS) : undefined;

  const canvasRef = useRef<HTMLCanvasElement>(null);
  const wrapRef = useRef<HTMLDivElement>(null);
  const frame = useRef(0);
  const state = useRef({ view, page, viewSize, selected, pageLabel: '', pageName: ITEMS });
  const pageLabel = names.length > 1 ? `, page ${pageIndex + 1} of ${names.length}` : '';
  state.current = { view, page, viewSize, selected, pageLabel, pageName: names[pageIndex] ?? ITEMS };

  const me = { id: room?.participantId ?? '', name: room?.displayName ?? session.options.name };

  // One undo history per document (every page), of this person's changes only.
  const undo = useMemo(() => {
    if (!doc) return undefined;
    return new Y.UndoManager([pageOf(doc, ITEMS)], {
      trackedOrigins: new Set([doc.clientID]),
      // One drawing is one step however long it takes: each action starts a step of its own.
      captureTimeout: 24 * 3600_000,
    });
  }, [doc]);
  useEffect(() => {
    if (doc && undo) undo.addToScope(names.map((name) => pageOf(doc, name)));
  }, [doc, undo, names]);
  useEffect(() => {
    if (!undo) return;
    const update = () => {
      setCanUndo(undo.undoStack.length > 0);
      setCanRedo(undo.redoStack.length > 0);
    };
    update();
    undo.on('stack-item-added', update);
    undo.on('stack-item-popped', update);
    undo.on('stack-cleared', update);
    return () => undo.destroy();
  }, [undo]);

  const draw = () => {
    frame.current = 0;
    const canvas = canvasRef.current;
    const { page, view, viewSize, selected, pageLabel } = state.current;
    if (!canvas || !page) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(viewSize.width * dpr));
    const height = Math.max(1, Math.round(viewSize.height * dpr));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, width, height);
    ctx.setTransform(dpr * view.zoom, 0, 0, dpr * view.zoom, dpr * view.panX, dpr * view.panY);
    paint(ctx, page, schedule);
    if (selected && selected.parent === page && !selected._item?.deleted)
      paintSelection(ctx, boundsOf(selected), view.zoom);
    setLabel(describe(page).replace(/^Whiteboard/, `Whiteboard${pageLabel}`));
  };
  const schedule = () => {
    if (!frame.current) frame.current = requestAnimationFrame(draw);
  };
  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  // Redrawn when the document changes (anyone's edit), the view moves or the canvas is resized.
  useEffect(() => {
    if (!doc) return;
    doc.on('update', schedule);
    schedule();
    return () => doc.off('update', schedule);
  }, [doc]);
  useEffect(schedule, [view, viewSize, selected, page]);

  useLayoutEffect(() => {
    const element = wrapRef.current;
    if (!element) return;
    const measure = () => setViewSize({ width: element.clientWidth, height: element.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    // A move to a screen of another pixel density (or a browser zoom) redraws at the new density.
    let dprQuery: MediaQueryList | undefined;
    const onDpr = () => {
      dprQuery?.removeEventListener('change', onDpr);
      dprQuery = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      dprQuery.addEventListener('change', onDpr);
      schedule();
    };
    onDpr();
    return () => {
      observer.disconnect();
      dprQuery?.removeEventListener('change', onDpr);
    };
  }, []);

  // Everyone else's cursors, from their presence.
  useEffect(() => {
    if (!board) return;
    let pending = 0;
    const read = () => {
      pending = 0;
      const own = board.doc.clientID;
      const list: Cursor[] = [];
      for (const [id, s] of board.awareness.getStates()) {
        if (id === own) continue;
        const cursor = (s as { cursor?: { x?: unknown; y?: unknown } | null }).cursor;
        // A cursor is shown to those on the same page.
        if ((typeof s.page === 'string' ? s.page : ITEMS) !== state.current.pageName) continue;
        const x = Number(cursor?.x);
        const y = Number(cursor?.y);
        if (!cursor || !Number.isFinite(x) || !Number.isFinite(y)) continue;
        const name = typeof s.name === 'string' ? s.name.slice(0, 64) : 'Someone';
        const c = typeof s.color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(s.color) ? s.color : '#1f5fd1';
        list.push({ id, name, color: c, x, y });
      }
      setCursors(list);
    };
    const onPresence = () => {
      if (!pending) pending = requestAnimationFrame(read);
    };
    read();
    const offs = [board.on('presence', onPresence), board.on('cleared', onPresence)];
    return () => {
      cancelAnimationFrame(pending);
      for (const off of offs) off();
    };
  }, [board, pageIndex, names]);

  // This person's cursor goes away from everyone's screen when they close the board.
  const presence = (cursor: { x: number; y: number } | null) =>
    board?.setPresence({ name: me.name, color, cursor, page: names[pageIndex] ?? ITEMS });
  useEffect(() => () => presence(null), [board]);

  const toBoard = (event: { clientX: number; clientY: number }): { x: number; y: number } => {
    const rect = canvasRef.current!.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left - view.panX) / view.zoom,
      y: (event.clientY - rect.top - view.panY) / view.zoom,
    };
  };

  const textInput = useRef<HTMLInputElement>(null);
  const gesture = useRef<
    | { kind: 'pen'; id: number; points: Y.Array<Point> }
    | { kind: 'eraser'; id: number }
    | { kind: 'shape'; id: number; item: Item }
    | { kind: 'move'; id: number; item: Item; x: number; y: number; dx: number; dy: number }
    | { kind: 'hand'; id: number; x: number; y: number; panX: number; panY: number }
    | null
  >(null);

  const erase = (x: number, y: number) => {
    if (!page) return;
    const hit = itemAt(page, x, y, 6 / view.zoom);
    if (hit) removeItem(page, hit);
  };

  const onPointerDown = (event: PointerEvent) => {
    if (!doc || !page || event.button !== 0) return;
    const active = event.button === 0 && (tool === 'hand' || !readOnly);
    if (!active) return;
    corrected.current = false;
    const p = toBoard(event);
    if (tool === 'text' || tool === 'note') {
      event.preventDefault();
      // A click beside an open text box places that text; the next click opens another.
      if (textInput.current) commitText(textInput.current.value);
      else setTextAt({ ...p, note: tool === 'note' });
      return;
    }
    (event.currentTarget as HTMLElement).setPointerCapture?.(event.pointerId);
    event.preventDefault();
    if (tool === 'pen') {
      undo?.stopCapturing();
      const points = beginStroke(page, me, color, size, [p.x, p.y, pressureOf(event)]);
      gesture.current = { kind: 'pen', id: event.pointerId, points };
    } else if ((SHAPES as readonly string[]).includes(tool)) {
      undo?.stopCapturing();
      const item = addShape(page, me, tool as ShapeKind, p.x, p.y, color, size);
      gesture.current = { kind: 'shape', id: event.pointerId, item };
    } else if (tool === 'select') {
      const hit = itemAt(page, p.x, p.y, 6 / view.zoom);
      setSelected(hit ?? null);
      if (hit) {
        undo?.stopCapturing();
        const { dx, dy } = offsetOf(hit);
        gesture.current = { kind: 'move', id: event.pointerId, item: hit, x: p.x, y: p.y, dx, dy };
      }
    } else if (tool === 'eraser') {
      undo?.stopCapturing();
      gesture.current = { kind: 'eraser', id: event.pointerId };
      erase(p.x, p.y);
    } else if (tool === 'hand') {
      gesture.current = {
        kind: 'hand',
        id: event.pointerId,
        x: event.clientX,
        y: event.clientY,
        panX: view.panX,
        panY: view.panY,
      };
    }
  };

  const onPointerMove = (event: PointerEvent) => {
    const p = toBoard(event);
    presence(p);
    const g = gesture.current;
    if (!g || g.id !== event.pointerId || !doc) return;
    if (g.kind === 'pen') {
      const events = event.getCoalescedEvents?.() ?? [];
      const list = events.length > 0 ? events : [event];
      extendStroke(
        doc,
        g.points,
        list.map((e) => {
          const q = toBoard(e);
          return [q.x, q.y, pressureOf(e)] as Point;
        }),
      );
    } else if (g.kind === 'eraser') {
      erase(p.x, p.y);
    } else if (g.kind === 'shape') {
      setShapeEnd(doc, g.item, p.x, p.y);
    } else if (g.kind === 'move') {
      setOffset(doc, g.item, g.dx + p.x - g.x, g.dy + p.y - g.y);
    } else {
      setView({ ...view, panX: g.panX + event.clientX - g.x, panY: g.panY + event.clientY - g.y });
    }
  };

  const onPointerUp = (event: PointerEvent) => {
    const g = gesture.current;
    if (!g || g.id !== event.pointerId) return;
    gesture.current = null;
    undo?.stopCapturing();
    // A shape made by a click alone (no drag) is no shape.
    if (g.kind === 'shape' && page) {
      const b = g.item;
      if (b.get('x1') === b.get('x2') && b.get('y1') === b.get('y2')) {
        removeItem(page, b);
        undo?.stopCapturing();
      }
    }
  };

  const onWheel = (event: WheelEvent) => {
    event.preventDefault();
    const rect = canvasRef.current!.getBoundingClientRect();
    if (event.ctrlKey || event.metaKey) {
      const zoom = clamp(view.zoom * Math.exp(-event.deltaY / 300), MIN_ZOOM, MAX_ZOOM);
      const sx = event.clientX - rect.left;
      const sy = event.clientY - rect.top;
      const bx = (sx - view.panX) / view.zoom;
      const by = (sy - view.panY) / view.zoom;
      setView({ zoom, panX: sx - bx * zoom, panY: sy - by * zoom });
    } else {
      setView({ ...view, panX: view.panX - event.deltaX, panY: view.panY - event.deltaY });
    }
  };
  // Wheel listeners that may prevent scrolling must not be passive.
  const wheel = useRef(onWheel);
  wheel.current = onWheel;
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const listener = (e: WheelEvent) => wheel.current(e);
    canvas.addEventListener('wheel', listener, { passive: false });
    return () => canvas.removeEventListener('wheel', listener);
  }, []);

  const zoomBy = (factor: number) => {
    const zoom = clamp(view.zoom * factor, MIN_ZOOM, MAX_ZOOM);
    const cx = viewSize.width / 2;
    const cy = viewSize.height / 2;
    const bx = (cx - view.panX) / view.zoom;
    const by = (cy - view.panY) / view.zoom;
    setView({ zoom, panX: cx - bx * zoom, panY: cy - by * zoom });
  };

  /** Shows everything on the board (no larger than it is), for a screen smaller than the drawer's. */
  const fitAll = () => {
    const content = page ? contentBounds(page) : undefined;
    if (!content || viewSize.width === 0 || viewSize.height === 0) {
      setView({ zoom: 1, panX: 0, panY: 0 });
      return;
    }
    const margin = 24;
    const zoom = clamp(
      Math.min(
        1,
        (viewSize.width - 2 * margin) / content.width,
        (viewSize.height - 2 * margin) / content.height,
      ),
      MIN_ZOOM,
      MAX_ZOOM,
    );
    setView({
      zoom,
      panX: viewSize.width / 2 - (content.x + content.width / 2) * zoom,
      panY: viewSize.height / 2 - (content.y + content.height / 2) * zoom,
    });
  };

  const doUndo = () => {
    if (readOnly) return;
    undo?.undo();
  };
  const doRedo = () => {
    if (readOnly) return;
    undo?.redo();
  };

  // Ctrl+Z / Ctrl+Shift+Z (and Ctrl+Y), not while typing.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target?.closest?.('input, textarea, select, [contenteditable="true"], dialog')) return;
      if ((event.key === 'Delete' || event.key === 'Backspace') && selected && page && !readOnly) {
        event.preventDefault();
        undo?.stopCapturing();
        removeItem(page, selected);
        setSelected(null);
        return;
      }
      if (event.key === 'Escape' && selected) {
        setSelected(null);
        return;
      }
      // The arrow keys move what is selected (Shift: a pixel at a time).
      const step = event.shiftKey ? 1 : 10;
      const arrows: Record<string, [number, number]> = {
        ArrowLeft: [-step, 0],
        ArrowRight: [step, 0],
        ArrowUp: [0, -step],
        ArrowDown: [0, step],
      };
      const arrow = arrows[event.key];
      if (arrow && selected && doc && !readOnly && !event.ctrlKey && !event.metaKey && !event.altKey) {
        if (target?.closest?.('.tile, [role="menu"]')) return;
        event.preventDefault();
        const { dx, dy } = offsetOf(selected);
        setOffset(doc, selected, dx + arrow[0], dy + arrow[1]);
        return;
      }
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      if (key === 'z' && !event.shiftKey) {
        event.preventDefault();
        doUndo();
      } else if ((key === 'z' && event.shiftKey) || key === 'y') {
        event.preventDefault();
        doRedo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  // A change the server refused (the board is full, or became view-only as it was sent) reached nobody:
  // it is taken back here too, so this screen shows what everyone's does.
  // Once per action: the taking back is refused in turn, and that refusal takes nothing more back.
  const corrected = useRef(false);
  useEffect(() => {
    if (!room) return;
    return room.on('error', (error) => {
      if (!(error instanceof ServerError)) return;
      if (error.code !== 'BOARD_FULL' && error.code !== 'BOARD_READ_ONLY') return;
      if (corrected.current) return;
      corrected.current = true;
      gesture.current = null;
      undo?.stopCapturing();
      undo?.undo();
      undo?.clear(false, true);
    });
  }, [room, undo]);

  // A lock that arrives mid-stroke ends the stroke.
  useEffect(() => {
    if (readOnly) {
      gesture.current = null;
      setTextAt(null);
      setSelected(null);
    }
  }, [readOnly]);

  // A text box opened takes the focus (whether a click or the keyboard opened it).
  useEffect(() => {
    if (textAt) textInput.current?.focus();
  }, [textAt]);

  // The spot a text box is open at; cleared by its first commit (Enter, then the blur that follows).
  const textSpot = useRef(textAt);
  textSpot.current = textAt;
  const commitText = (text: string) => {
    const at = textSpot.current;
    textSpot.current = null;
    setTextAt(null);
    if (!at || !doc || !page || readOnly) return;
    const edit = at.edit;
    if (edit) {
      if (edit._item?.deleted || text.trim() === textOf(edit)) return;
      undo?.stopCapturing();
      if (text.trim()) doc.transact(() => edit.set('text', text.trim().slice(0, 500)), doc.clientID);
      else removeItem(page, edit);
      undo?.stopCapturing();
      return;
    }
    if (!text.trim()) return;
    corrected.current = false;
    undo?.stopCapturing();
    if (at.note) addNote(page, me, at.x, at.y, text.trim().slice(0, 500), color);
    else addText(page, me, at.x, at.y, text.trim().slice(0, 500), color);
    undo?.stopCapturing();
  };

  /** Puts a picture on the board (at `at`, or amid the view), made small enough to send. */
  const addPicture = async (file: Blob, at?: { x: number; y: number }) => {
    if (readOnly || !file.type.startsWith('image/')) return;
    try {
      const fitted = await fitImage(file);
      const target = state.current.page;
      if (!target) return;
      corrected.current = false;
      const k = Math.min(1, 480 / Math.max(fitted.width, fitted.height));
      const w = fitted.width * k;
      const h = fitted.height * k;
      const v = visible();
      const centre = at ?? { x: v.x + v.width / 2, y: v.y + v.height / 2 };
      undo?.stopCapturing();
      addImage(target, me, centre.x - w / 2, centre.y - h / 2, w, h, fitted.src);
      undo?.stopCapturing();
    } catch (error) {
      session.notify(`The picture was not added: ${messageOf(error)}.`);
    }
  };
  const pictureInput = useRef<HTMLInputElement>(null);

  // A picture pasted while the board is open goes on it.
  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target?.closest?.('input, textarea, [contenteditable="true"], #call-panel')) return;
      const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
      if (!file) return;
      event.preventDefault();
      void addPicture(file);
    };
    document.addEventListener('paste', onPaste);
    return () => document.removeEventListener('paste', onPaste);
  });

  const visible = () => ({
    x: -view.panX / view.zoom,
    y: -view.panY / view.zoom,
    width: viewSize.width / view.zoom,
    height: viewSize.height / view.zoom,
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is taken out
  const fileBase = `${session.options.room.replace(/[\u0000-\u001f\\/:*?"<>|]+/g, '_') || 'port545'}-whiteboard`;
  const pageBase = names.length > 1 ? `${fileBase}-page-${pageIndex + 1}` : fileBase;
  /** Saves an export here, and into the room's recording while it is recorded. */
  const save = async (make: () => Promise<Blob>, name: string) => {
    try {
      const blob = await make();
      saveBlob(blob, name);
      if (room?.roomState.recording) {
        await room.saveBoardExport(blob);
        session.notify(`The whiteboard was saved in the recording too (${name}).`);
      }
    } catch (error) {
      session.notify(`The whiteboard was not saved: ${messageOf(error)}.`);
    }
  };
  const savePng = () => {
    if (page) void save(() => exportPng(page, exportArea(page, visible())), `${pageBase}.png`);
  };
  const saveSvg = () => {
    if (!page) return;
    const svg = exportSvg(page, exportArea(page, visible()));
    void save(async () => new Blob([svg], { type: 'image/svg+xml' }), `${pageBase}.svg`);
  };
  /** Every page, one after another, in a PDF (each as a picture of what is on it). */
  const savePdf = () => {
    if (!doc) return;
    void save(async () => {
      const { jsPDF } = await import('jspdf');
      let pdf: InstanceType<typeof jsPDF> | undefined;
      for (const name of names) {
        const each = pageOf(doc, name);
        const canvas = await pageCanvas(each, exportArea(each, visible()));
        // One board unit is one CSS pixel: 0.75 of a point.
        const size: [number, number] = [canvas.width * 0.75, canvas.height * 0.75];
        const orientation = size[0] > size[1] ? 'landscape' : 'portrait';
        if (!pdf) pdf = new jsPDF({ unit: 'pt', format: size, orientation, compress: true });
        else pdf.addPage(size, orientation);
        pdf.addImage(canvas, 'PNG', 0, 0, size[0], size[1]);
      }
      if (!pdf) throw new Error('the board has no page');
      return pdf.output('blob');
    }, `${fileBase}.pdf`);
  };
  const newPage = () => {
    if (!doc || readOnly || names.length >= MAX_PAGES) return;
    setPageName(addPage(doc));
    setSelected(null);
    setView({ zoom: 1, panX: 0, panY: 0 });
  };
  const turnTo = (index: number) => {
    const name = names[index];
    if (!name) return;
    setPageName(name);
    setSelected(null);
    setTextAt(null);
  };

  const clear = async () => {
    setConfirmClear(false);
    try {
      await room?.clearBoard();
    } catch (error) {
      session.notify(messageOf(error));
    }
  };
  const lock = async (locked: boolean) => {
    try {
      await room?.lockBoard(locked);
    } catch (error) {
      session.notify(messageOf(error));
    }
  };

  const cursorClass = readOnly && tool !== 'hand' ? 'read-only' : `tool-${tool}`;

  return (
    <section class="whiteboard" aria-label="Whiteboard">
      <div class="board-toolbar" role="toolbar" aria-label="Whiteboard tools">
        <div class="board-group">
          {TOOLS.map((t) => (
            <button
              key={t.tool}
              type="button"
              class="board-tool"
              aria-label={t.label}
              title={t.label}
              aria-pressed={tool === t.tool}
              disabled={readOnly && t.tool !== 'hand'}
              onClick={(e) => {
                setTool(t.tool);
                if (t.tool !== 'select') setSelected(null);
                // From the keyboard (no pointer to say where), a text box opens amid the view.
                if (e.detail === 0 && (t.tool === 'text' || t.tool === 'note') && !readOnly) {
                  const v = visible();
                  const note = t.tool === 'note';
                  setTextAt({
                    x: v.x + v.width / 2 - (note ? NOTE_SIZE / 2 : 80),
                    y: v.y + v.height / 2 - (note ? NOTE_SIZE / 2 : 0),
                    note,
                  });
                }
              }}
            >
              <BoardIcon d={t.icon} />
            </button>
          ))}
        </div>
        <div class="board-group">
          {COLORS.map((c) => (
            <button
              key={c.value}
              type="button"
              class="board-swatch"
              aria-label={`Colour: ${c.name}`}
              title={c.name}
              aria-pressed={color === c.value}
              disabled={readOnly}
              style={{ '--swatch': c.value }}
              onClick={() => setColor(c.value)}
            />
          ))}
        </div>
        <div class="board-group">
          {SIZES.map((s) => (
            <button
              key={s.value}
              type="button"
              class="board-tool board-size"
              aria-label={`Size: ${s.name}`}
              title={s.name}
              aria-pressed={size === s.value}
              disabled={readOnly}
              onClick={() => setSize(s.value)}
            >
              <span aria-hidden="true" style={{ width: `${s.value}px`, height: `${s.value}px` }} />
            </button>
          ))}
        </div>
        <div class="board-group">
          {selected && !readOnly && (
            <button
              type="button"
              class="board-tool"
              aria-label="Delete the selected item (Delete)"
              title="Delete the selected item (Delete)"
              onClick={() => {
                if (!page) return;
                undo?.stopCapturing();
                removeItem(page, selected);
                setSelected(null);
              }}
            >
              <BoardIcon d="M4 7h16 M9 7V4h6v3 M6 7l1 13h10l1-13 M10 11v6 M14 11v6" />
            </button>
          )}
          <ToolButton
            label="Undo (Ctrl+Z)"
            icon="M9 14L4 9l5-5 M4 9h10a6 6 0 0 1 0 12h-3"
            disabled={readOnly || !canUndo}
            onClick={doUndo}
          />
          <ToolButton
            label="Redo (Ctrl+Shift+Z)"
            icon="M15 14l5-5-5-5 M20 9H10a6 6 0 0 0 0 12h3"
            disabled={readOnly || !canRedo}
            onClick={doRedo}
          />
        </div>
        <div class="board-group">
          <ToolButton
            label="Zoom out"
            icon="M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z M21 21l-5-5 M8 11h6"
            onClick={() => zoomBy(1 / 1.25)}
          />
          <button
            type="button"
            class="board-tool board-zoom"
            aria-label={`${Math.round(view.zoom * 100)}% zoom: reset the zoom and position`}
            title="Reset zoom and position"
            onClick={() => setView({ zoom: 1, panX: 0, panY: 0 })}
          >
            {Math.round(view.zoom * 100)}%
          </button>
          <ToolButton
            label="Show everything on the board"
            icon="M4 9V4h5 M20 9V4h-5 M4 15v5h5 M20 15v5h-5"
            onClick={fitAll}
          />
          <ToolButton
            label="Zoom in"
            icon="M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z M21 21l-5-5 M8 11h6 M11 8v6"
            onClick={() => zoomBy(1.25)}
          />
        </div>
        <div class="board-group">
          <ToolButton
            label="Previous page"
            icon="M15 5l-7 7 7 7"
            disabled={pageIndex === 0}
            onClick={() => turnTo(pageIndex - 1)}
          />
          <output class="board-page" aria-live="polite">
            Page {pageIndex + 1} of {names.length}
          </output>
          <ToolButton
            label="Next page"
            icon="M9 5l7 7-7 7"
            disabled={pageIndex >= names.length - 1}
            onClick={() => turnTo(pageIndex + 1)}
          />
          <ToolButton
            label="Add a page"
            icon="M6 3h8l4 4v14H6z M12 10v7 M8.5 13.5h7"
            disabled={readOnly || names.length >= MAX_PAGES}
            onClick={newPage}
          />
        </div>
        <div class="board-group">
          <button type="button" class="button small" onClick={savePng}>
            Export PNG
          </button>
          <button type="button" class="button small" onClick={saveSvg}>
            Export SVG
          </button>
          <button type="button" class="button small" title="Every page, in one PDF" onClick={savePdf}>
            Export PDF
          </button>
          <button
            type="button"
            class="button small"
            disabled={readOnly}
            onClick={() => pictureInput.current?.click()}
          >
            Add picture
          </button>
          <input
            ref={pictureInput}
            type="file"
            accept="image/*"
            hidden
            aria-label="Picture to add to the whiteboard"
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              e.currentTarget.value = '';
              if (file) void addPicture(file);
            }}
          />
          {isHost && (
            <button
              type="button"
              class="button small"
              aria-pressed={boardLocked}
              title="Guests can only look while this is on"
              onClick={() => void lock(!boardLocked)}
            >
              View-only for guests
            </button>
          )}
          {isHost && (
            <button type="button" class="button small danger" onClick={() => setConfirmClear(true)}>
              Clear
            </button>
          )}
          <ToolButton label="Close the whiteboard (W)" icon="M6 6l12 12 M18 6L6 18" onClick={onClose} />
        </div>
      </div>
      {confirmClear && (
        <div class="board-banner" role="alertdialog" aria-label="Clear the whiteboard?">
          Clear the whiteboard for everyone? This cannot be undone.
          <button type="button" class="button small danger" onClick={() => void clear()}>
            Clear for everyone
          </button>
          <button type="button" class="button small" onClick={() => setConfirmClear(false)}>
            Cancel
          </button>
        </div>
      )}
      {readOnly && (
        <output class="board-banner">A host made the whiteboard view-only. You can look, not draw.</output>
      )}
      <div class="board-surface" ref={wrapRef}>
        <canvas
          ref={canvasRef}
          class={`board-canvas ${cursorClass}`}
          role="img"
          aria-label={label}
          style={{ width: `${viewSize.width}px`, height: `${viewSize.height}px` }}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerCancel={onPointerUp}
          onPointerLeave={() => presence(null)}
          onDblClick={(e) => {
            // A double click on a text or a note (with Select) changes its words.
            if (!page || readOnly || tool !== 'select') return;
            const p = toBoard(e);
            const hit = itemAt(page, p.x, p.y, 6 / view.zoom);
            const kind = hit ? kindOf(hit) : '';
            if (!hit || (kind !== 'text' && kind !== 'note')) return;
            const { dx, dy } = offsetOf(hit);
            setTextAt({
              x: numberOf(hit, 'x') + dx,
              y: numberOf(hit, 'y') + dy,
              note: kind === 'note',
              edit: hit,
            });
          }}
          onDragOver={(e) => {
            if (!readOnly && e.dataTransfer?.types.includes('Files')) e.preventDefault();
          }}
          onDrop={(e) => {
            const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith('image/'));
            if (!file || readOnly) return;
            e.preventDefault();
            void addPicture(file, toBoard(e));
          }}
        />
        <div class="board-cursors" aria-hidden="true">
          {cursors.map((c) => (
            <div
              key={c.id}
              class="board-cursor"
              style={{
                transform: `translate(${c.x * view.zoom + view.panX}px, ${c.y * view.zoom + view.panY}px)`,
                '--cursor': c.color,
                '--cursor-ink': inkOn(c.color),
              }}
            >
              <svg width="16" height="20" viewBox="0 0 16 20" aria-hidden="true" focusable="false">
                <path d="M1 1l13 8.5-6 1.2-3 7.3z" fill={c.color} stroke="#fff" stroke-width="1.5" />
              </svg>
              <span class="board-cursor-name">{c.name}</span>
            </div>
          ))}
        </div>
        {textAt && (
          <input
            ref={textInput}
            class="board-text-input"
            type="text"
            aria-label={
              textAt.note
                ? 'Text of the sticky note (Enter to place, Escape to cancel)'
                : 'Text to place on the whiteboard (Enter to place, Escape to cancel)'
            }
            maxLength={500}
            style={{
              left: `${textAt.x * view.zoom + view.panX}px`,
              top: `${(textAt.note ? textAt.y : textAt.y - TEXT_SIZE) * view.zoom + view.panY}px`,
              font: TEXT_FONT((textAt.note ? 18 : TEXT_SIZE) * view.zoom),
              ...(textAt.note ? { width: `${NOTE_SIZE * view.zoom}px`, background: '#fff1a6' } : {}),
              color,
            }}
            onKeyDown={(e) => {
              e.stopPropagation();
              if (e.key === 'Enter') commitText(e.currentTarget.value);
              else if (e.key === 'Escape') setTextAt(null);
            }}
            onBlur={(e) => commitText(e.currentTarget.value)}
            defaultValue={textAt.edit ? textOf(textAt.edit) : ''}
          />
        )}
      </div>
    </section>
  );
}

function pressureOf(event: PointerEvent): number {
  // A mouse says 0.5 while a button is down; a pen says how hard it presses (0 when it cannot tell).
  const p = event.pressure;
  return p > 0 && p <= 1 ? p : 0.5;
}

/** Black or white, whichever reads better on `color` (a #rgb or #rrggbb colour). */
function inkOn(color: string): string {
  let hex = color.slice(1);
  if (hex.length === 3 || hex.length === 4) hex = [...hex.slice(0, 3)].map((c) => c + c).join('');
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#fff' : '#000';
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
