/**
 * Audio levels for the microphone meter and the speaking highlight, from a WebAudio AnalyserNode.
 * One AudioContext serves the whole page; browsers start it suspended until the person interacts.
 */
let context: AudioContext | undefined;

export function audioContext(): AudioContext {
  context ??= new AudioContext();
  return context;
}

/** True when the browser holds sound back until the person clicks or types (autoplay policy). */
export function audioSuspended(): boolean {
  return context?.state === 'suspended';
}

export async function resumeAudio(): Promise<void> {
  if (context?.state === 'suspended') await context.resume().catch(() => {});
}

/** RMS above this (about −40 dBFS) counts as sound worth highlighting. */
export const SPEAKING_RMS = 0.01;

/** Maps an RMS amplitude (0…1) to a meter position (0…1) over a 60 dB range. */
export function meterPosition(rms: number): number {
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

export class LevelMeter {
  readonly track: MediaStreamTrack;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #analyser: AnalyserNode;
  readonly #samples: Float32Array<ArrayBuffer>;
  #closed = false;

  constructor(track: MediaStreamTrack) {
    this.track = track;
    const ctx = audioContext();
    this.#source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = ctx.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#samples = new Float32Array(this.#analyser.fftSize);
    this.#source.connect(this.#analyser);
  }

  /** RMS amplitude of the last ~21 ms (1024 samples at 48 kHz), 0…1. */
  level(): number {
    if (this.#closed || !this.track.enabled || this.track.readyState === 'ended') return 0;
    this.#analyser.getFloatTimeDomainData(this.#samples);
    let sum = 0;
    for (const s of this.#samples) sum += s * s;
    return Math.sqrt(sum / this.#samples.length);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.disconnect();
  }
}
