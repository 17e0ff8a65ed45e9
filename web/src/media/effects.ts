/**
 * Tracks made by processing a device's track (background blur on a camera, noise removal on a
 * microphone). The processed track is what is published; the device's own track stays open behind it.
 * Stopping a track through `releaseTrack` also ends its processing and lets go of the device, so the
 * camera light goes out as it does for a plain track.
 */
interface Effect {
  /** The device's own track. */
  source: MediaStreamTrack;
  /** Ends the processing (not the source). */
  stop(): void;
}

const effects = new WeakMap<MediaStreamTrack, Effect>();

export function addEffect(track: MediaStreamTrack, source: MediaStreamTrack, stop: () => void): void {
  effects.set(track, { source, stop });
}

/** The device's track behind a processed one (the track itself when it is not processed). */
export function sourceOf(track: MediaStreamTrack): MediaStreamTrack {
  return effects.get(track)?.source ?? track;
}

export function isProcessed(track: MediaStreamTrack): boolean {
  return effects.has(track);
}

/** Ends the processing and returns the device's track, still open. */
export function unwrap(track: MediaStreamTrack): MediaStreamTrack {
  const effect = effects.get(track);
  if (!effect) return track;
  effects.delete(track);
  effect.stop();
  track.stop();
  return effect.source;
}

/** Stops a track, its processing and the device behind it. */
export function releaseTrack(track: MediaStreamTrack): void {
  unwrap(track).stop();
  track.stop();
}
