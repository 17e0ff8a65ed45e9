/**
 * Background blur: MediaPipe's selfie segmentation (its model and WebAssembly ship in the
 * @mediapipe/selfie_segmentation package and are served by port545 under /vendor/, nothing is fetched
 * from elsewhere) tells the person from the room; the room is drawn blurred behind the sharp person on a
 * canvas, and the canvas is the track that is published.
 */
import type { Results, SelfieSegmentation } from '@mediapipe/selfie_segmentation';
import { addEffect } from './effects.ts';

export const SEGMENTATION_ASSETS = '/vendor/selfie-segmentation/';

type SegmentationClass = typeof SelfieSegmentation;

/** How often a frame is segmented at most; the person's machine sets the real pace. */
const FRAME_MS = 1000 / 30;
/** The landscape model's own input size: every frame is scaled to it before it is segmented. */
const INPUT_WIDTH = 256;
const INPUT_HEIGHT = 144;
/** The first frame must be out by then, or blur is given up (a model that cannot load, say). */
const FIRST_FRAME_MS = 20_000;

let loading: Promise<SegmentationClass> | undefined;

/** Loads the package's script once; it defines a global `SelfieSegmentation`. */
function loadSegmentation(): Promise<SegmentationClass> {
  loading ??= new Promise<SegmentationClass>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = `${SEGMENTATION_ASSETS}selfie_segmentation.js`;
    script.onload = () => {
      const found = (globalThis as { SelfieSegmentation?: SegmentationClass }).SelfieSegmentation;
      if (found) resolve(found);
      else reject(new Error('the segmentation script did not load'));
    };
    script.onerror = () => reject(new Error('the segmentation script did not load'));
    document.head.append(script);
  });
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/**
 * A clock that keeps its pace in a background tab (where a page's own timers slow to once a second):
 * a worker's timer posts the ticks.
 */
function ticker(onTick: () => void): () => void {
  try {
    const worker = new Worker(new URL('./ticker.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = onTick;
    worker.postMessage(FRAME_MS);
    return () => worker.terminate();
  } catch {
    const timer = setInterval(onTick, FRAME_MS);
    return () => clearInterval(timer);
  }
}

/** A track that shows `source` with its background blurred. Stop it with `releaseTrack` or `unwrap`. */
export async function blurBackground(source: MediaStreamTrack): Promise<MediaStreamTrack> {
  const Segmentation = await loadSegmentation();
  const segmentation = new Segmentation({ locateFile: (file) => `${SEGMENTATION_ASSETS}${file}` });
  // The landscape model: made for video calls, and faster than the square one.
  segmentation.setOptions({ modelSelection: 1 });
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([source]);
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d');
  // The frame being segmented, kept at the camera's size to draw from; and the same frame at the fixed
  // size the model is given (the segmentation graph stalls the page when its input changes size, as a
  // camera's first frames can).
  const frame = document.createElement('canvas');
  const frameContext = frame.getContext('2d');
  const input = document.createElement('canvas');
  input.width = INPUT_WIDTH;
  input.height = INPUT_HEIGHT;
  const inputContext = input.getContext('2d');
  if (!context || !frameContext || !inputContext)
    throw new Error('this browser cannot draw the blurred picture');
  let stopped = false;
  let busy = false;
  /** No frame is segmented before then: the page keeps at least half its time for the call itself. */
  let restUntil = 0;
  let firstFrame: (() => void) | undefined;
  const drawn = new Promise<void>((resolve) => {
    firstFrame = resolve;
  });
  segmentation.onResults((results: Results) => {
    if (stopped) return;
    draw(context, canvas, frame, results.segmentationMask);
    firstFrame?.();
    firstFrame = undefined;
  });
  const stopTicks = ticker(() => {
    if (stopped || busy || performance.now() < restUntil) return;
    if (video.readyState < 2 || !video.videoWidth || !video.videoHeight) return;
    if (frame.width !== video.videoWidth || frame.height !== video.videoHeight) {
      frame.width = video.videoWidth;
      frame.height = video.videoHeight;
    }
    frameContext.drawImage(video, 0, 0);
    inputContext.drawImage(frame, 0, 0, INPUT_WIDTH, INPUT_HEIGHT);
    busy = true;
    const started = performance.now();
    segmentation
      .send({ image: input })
      .catch(() => {})
      .finally(() => {
        busy = false;
        restUntil = performance.now() + (performance.now() - started);
      });
  });
  const stop = () => {
    stopped = true;
    stopTicks();
    video.srcObject = null;
    void segmentation.close().catch(() => {});
  };
  try {
    await video.play();
    await Promise.race([
      drawn,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the blur did not start on this machine')), FIRST_FRAME_MS),
      ),
    ]);
  } catch (error) {
    stop();
    throw error;
  }
  const track = canvas.captureStream().getVideoTracks()[0]!;
  addEffect(track, source, stop);
  return track;
}

/** The person, sharp, over the same picture blurred. */
function draw(
  context: CanvasRenderingContext2D,
  canvas: HTMLCanvasElement,
  image: HTMLCanvasElement,
  mask: CanvasImageSource,
): void {
  const width = image.width;
  const height = image.height;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  context.save();
  context.globalCompositeOperation = 'copy';
  context.filter = 'none';
  context.drawImage(mask, 0, 0, width, height);
  context.globalCompositeOperation = 'source-in';
  context.drawImage(image, 0, 0, width, height);
  context.globalCompositeOperation = 'destination-over';
  context.filter = `blur(${Math.max(4, Math.round(width / 30))}px)`;
  // Drawn a little larger than the frame, so the blur does not fade to black at the edges.
  const margin = Math.round(width / 25);
  context.drawImage(image, -margin, -margin, width + 2 * margin, height + 2 * margin);
  context.restore();
}
