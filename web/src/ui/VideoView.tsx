import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VideoViewProps {
  track: MediaStreamTrack;
  /** Mirror the picture, as people expect of their own camera. */
  mirrored?: boolean;
  /** `cover` fills the tile (cameras); `contain` shows all of it (screens). */
  fit?: 'cover' | 'contain';
  label?: string;
  /**
   * Told the size the video is shown at, in device pixels, whenever it changes: 0×0 while it is not seen
   * (scrolled out of view, or the page hidden), so the server can send a smaller copy, or nothing.
   */
  onSize?(width: number, height: number): void;
}

/** Plays one video track. Sound never plays here: remote audio has its own elements. */
export function VideoView({ track, mirrored, fit = 'cover', label, onSize }: VideoViewProps): JSX.Element {
  const ref = useRef<HTMLVideoElement>(null);
  const [ready, setReady] = useState(false);
  const sizeTo = useRef(onSize);
  sizeTo.current = onSize;
  const sized = onSize !== undefined;

  useEffect(() => {
    const video = ref.current;
    if (!video || !sized) return;
    let inView = true;
    const tell = () => {
      const seen = inView && document.visibilityState === 'visible';
      const scale = window.devicePixelRatio || 1;
      sizeTo.current?.(
        seen ? Math.round(video.clientWidth * scale) : 0,
        seen ? Math.round(video.clientHeight * scale) : 0,
      );
    };
    const resized = new ResizeObserver(tell);
    resized.observe(video);
    const seen = new IntersectionObserver((entries) => {
      inView = entries.some((entry) => entry.isIntersecting);
      tell();
    });
    seen.observe(video);
    document.addEventListener('visibilitychange', tell);
    return () => {
      resized.disconnect();
      seen.disconnect();
      document.removeEventListener('visibilitychange', tell);
    };
  }, [sized, track]);

  useEffect(() => {
    const video = ref.current;
    if (!video) return;
    setReady(false);
    video.srcObject = new MediaStream([track]);
    video.play().catch(() => {
      // Muted video may always autoplay; a refusal here only happens while the page is hidden.
    });
    return () => {
      video.srcObject = null;
    };
  }, [track]);

  return (
    <video
      ref={ref}
      class={`video fit-${fit}${mirrored ? ' mirrored' : ''}${ready ? ' ready' : ''}`}
      autoplay
      playsInline
      muted
      aria-label={label}
      data-track={track.id}
      onLoadedData={() => setReady(true)}
    />
  );
}
