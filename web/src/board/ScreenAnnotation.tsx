import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as Y from 'yjs';
import type { CallSession } from '../call/CallSession.ts';
import { messageOf } from '../call/failures.ts';
import { PathIcon } from '../ui/icons.tsx';
import { annotationOf, beginStroke, COLORS, extendStroke, type Point, SCREEN_UNITS } from './model.ts';
import { paint } from './render.ts';
import { useBoardDoc } from './useBoardDoc.ts';

/** Where the picture of a shared screen lies in its tile, in CSS pixels, and its units' size. */
interface Frame {
  x: number;
  y: number;
  width: number;
  height: number;
  /** CSS pixels per annotation unit (the screen is SCREEN_UNITS across). */
  unit: number;
}

/** Annotation ink: red first, as a pointer is. */
const INK = [COLORS[1]!, COLORS[2]!, COLORS[3]!, COLORS[0]!];
const PEN_SIZE = 6;

/** The picture's size: the tile's video element (a remote screen), or the presenter's own track. */
function pictureSize(tile: HTMLElement | null, own: MediaStreamTrack | undefined) {
  const video = tile?.querySelector('video');
  if (video && video.videoWidth > 0) {
    return {
      width: video.videoWidth,
      height: video.videoHeight,
      cover: video.classList.contains('fit-cover'),
    };
  }
  const settings = own?.getSettings();
  if (settings?.width && settings.height)
    return { width: settings.width, height: settings.height, cover: false };
  return undefined;
}

/**
 * Drawings over a shared screen, by anyone in the call: a transparent canvas over the presenter's video,
 * drawn from the board's layer for that screen (`screen:<presenter>`, the same Yjs document as the
 * whiteboard), in units of the shared picture, so each person's drawing lands on the same spot of it
 * whatever the size of their window. `large`: the tile is on the stage, where one can draw. The presenter
 * (and a host) can clear the drawings and turn others' drawing off.
 */
export function ScreenAnnotation({
  session,
  presenterId,
  self,
  large,
}: {
  session: CallSession;
  presenterId: string;
  self: boolean;
  large: boolean;
}): JSX.Element | null {
  const room = session.room;
  const _board = room?.board;
  const doc = useBoardDoc(session);
  const layer = useMemo(() => (doc ? annotationOf(doc, presenterId) : undefined), [doc, presenterId]);
  const [drawing, setDrawing] = useState(false);
  const [ink, setInk] = useState(INK[0]!.value);
  const [count, setCount] = useState(0);
  const [canUndo, setCanUndo] = useState(false);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const frame = useRef<Frame | undefined>(undefined);
  const raf = useRef(0);
  const stroke = useRef<{ id: number; points: Y.Array<Point> } | null>(null);

  const closedToMe = !self && (room?.roomState.annotationOff ?? []).includes(presenterId) && !session.isHost;
  const mayDraw = (large || self) && !closedToMe && room?.roomState.boardLocked !== true;
  const me = { id: room?.participantId ?? '', name: room?.displayName ?? session.options.name };
  // A pen taken away (the presenter closed drawing, the tile left the stage) is put down.
  useEffect(() => {
    if (!mayDraw) {
      setDrawing(false);
      stroke.current = null;
    }
  }, [mayDraw]);

  const undo = useMemo(() => {
    if (!layer || !doc) return undefined;
    return new Y.UndoManager(layer, {
      trackedOrigins: new Set([doc.clientID]),
      captureTimeout: 24 * 3600_000,
    });
  }, [layer, doc]);
  useEffect(() => {
    if (!undo) return;
    const update = () => setCanUndo(undo.undoStack.length > 0);
    undo.on('stack-item-added', update);
    undo.on('stack-item-popped', update);
    return () => undo.destroy();
  }, [undo]);

  const draw = () => {
    raf.current = 0;
    const canvas = canvasRef.current;
    if (!canvas || !layer) return;
    const host = canvas.parentElement?.closest('.tile') as HTMLElement | null;
    const size = pictureSize(host, self ? session.screen?.track : undefined);
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
    if (canvas.height !== Math.round(height * dpr)) canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    setCount(layer.length);
    if (!size || width === 0 || height === 0) {
      frame.current = undefined;
      return;
    }
    const fit = size.cover ? Math.max : Math.min;
    const scale = fit(width / size.width, height / size.height);
    const w = size.width * scale;
    const h = size.height * scale;
    const f: Frame = { x: (width - w) / 2, y: (height - h) / 2, width: w, height: h, unit: w / SCREEN_UNITS };
    frame.current = f;
    ctx.setTransform(dpr * f.unit, 0, 0, dpr * f.unit, dpr * f.x, dpr * f.y);
    paint(ctx, layer);
  };
  const schedule = () => {
    if (!raf.current) raf.current = requestAnimationFrame(draw);
  };
  useEffect(() => () => cancelAnimationFrame(raf.current), []);
  useEffect(() => {
    if (!layer) return;
    layer.observeDeep(schedule);
    schedule();
    return () => layer.unobserveDeep(schedule);
  }, [layer]);
  // Redrawn when the tile or the picture changes size.
  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    const tile = canvas?.parentElement?.closest('.tile');
    if (!canvas || !tile) return;
    const observer = new ResizeObserver(schedule);
    observer.observe(tile);
    const video = tile.querySelector('video');
    video?.addEventListener('resize', schedule);
    video?.addEventListener('loadedmetadata', schedule);
    const timer = setInterval(schedule, 1000);
    return () => {
      observer.disconnect();
      video?.removeEventListener('resize', schedule);
      video?.removeEventListener('loadedmetadata', schedule);
      clearInterval(timer);
    };
  });

  const toScreen = (event: PointerEvent): Point | undefined => {
    const f = frame.current;
    const rect = canvasRef.current?.getBoundingClientRect();
    if (!f || !rect) return undefined;
    const x = (event.clientX - rect.left - f.x) / f.unit;
    const y = (event.clientY - rect.top - f.y) / f.unit;
    const pressure = event.pressure > 0 && event.pressure <= 1 ? event.pressure : 0.5;
    return [x, y, pressure];
  };

  if (!layer || (!mayDraw && count === 0 && !self)) {
    // Nothing drawn and nothing to do: a canvas kept mounted, so a drawing that arrives is seen.
    return <canvas ref={canvasRef} class="annotation-canvas" />;
  }

  const run = async (action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      session.notify(messageOf(error));
    }
  };
  const othersOff = (room?.roomState.annotationOff ?? []).includes(presenterId);
  const whose = self ? 'your screen' : 'this screen';
  return (
    <>
      <canvas
        ref={canvasRef}
        class={`annotation-canvas${drawing && mayDraw ? ' drawing' : ''}`}
        role="img"
        aria-label={
          count === 0 ? `No drawings on ${whose}` : `${count} drawing${count === 1 ? '' : 's'} on ${whose}`
        }
        data-annotations={count}
        onPointerDown={(event) => {
          if (!drawing || !mayDraw || event.button !== 0) return;
          const p = toScreen(event);
          if (!p) return;
          event.preventDefault();
          event.stopPropagation();
          (event.currentTarget as HTMLElement).setPointerCapture?.(event.pointerId);
          undo?.stopCapturing();
          stroke.current = { id: event.pointerId, points: beginStroke(layer, me, ink, PEN_SIZE, p) };
        }}
        onPointerMove={(event) => {
          const s = stroke.current;
          if (!s || s.id !== event.pointerId || !doc) return;
          const events = event.getCoalescedEvents?.() ?? [];
          const points = (events.length > 0 ? events : [event]).map(toScreen).filter((p): p is Point => !!p);
          extendStroke(doc, s.points, points);
        }}
        onPointerUp={() => {
          stroke.current = null;
          undo?.stopCapturing();
        }}
        onPointerCancel={() => {
          stroke.current = null;
        }}
      />
      <fieldset class="annotation-tools" aria-label={`Drawing on ${whose}`}>
        {mayDraw && (
          <button
            type="button"
            class="annotation-tool"
            aria-pressed={drawing}
            aria-label={drawing ? `Stop drawing on ${whose}` : `Draw on ${whose}`}
            title={drawing ? 'Stop drawing' : `Draw on ${whose}`}
            onClick={() => setDrawing(!drawing)}
          >
            <PathIcon d="M4 20l4-1 11-11-3-3L5 16z M14 6l3 3" size={18} />
          </button>
        )}
        {drawing &&
          mayDraw &&
          INK.map((c) => (
            <button
              key={c.value}
              type="button"
              class="annotation-ink"
              aria-label={`Ink: ${c.name}`}
              title={c.name}
              aria-pressed={ink === c.value}
              style={{ '--swatch': c.value }}
              onClick={() => setInk(c.value)}
            />
          ))}
        {drawing && mayDraw && (
          <button
            type="button"
            class="annotation-tool"
            aria-label="Undo my last drawing here"
            title="Undo my last drawing here"
            disabled={!canUndo}
            onClick={() => undo?.undo()}
          >
            <PathIcon d="M9 14L4 9l5-5 M4 9h10a6 6 0 0 1 0 12h-3" size={18} />
          </button>
        )}
        {(self || session.isHost) && (
          <>
            <button
              type="button"
              class="annotation-tool"
              aria-pressed={!othersOff}
              title={othersOff ? 'Only the presenter draws here now' : 'Everyone may draw here'}
              onClick={() => void run(() => room!.allowAnnotation(othersOff, self ? undefined : presenterId))}
            >
              Others may draw
            </button>
            <button
              type="button"
              class="annotation-tool"
              disabled={count === 0}
              onClick={() => void run(() => room!.clearAnnotation(self ? undefined : presenterId))}
            >
              Clear drawings
            </button>
          </>
        )}
        {closedToMe && large && <span class="annotation-note">The presenter turned drawing off</span>}
      </fieldset>
    </>
  );
}
