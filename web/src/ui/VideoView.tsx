import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VideoViewProps {
  track: MediaStreamTrack;
  /** Mirror the picture, as people expect of their own camera. */
  mirrored?: boolean;
  /** `cover` fills the tile (cameras); `contain` shows all of it (screens). */
  fit?: 'cover' | 'contain';
  label?: string;
}

/** Plays one video track. Sound never plays here: remote audio has its own elements. */
export function VideoView({ track, mirrored, fit = 'cover', label }: VideoViewProps): JSX.Element {
  const ref = useRef<HTMLVideoElement>(null);
  const [ready, setReady] = useState(false);

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
