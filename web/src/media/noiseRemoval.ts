/**
 * Noise removal with RNNoise (the Xiph recurrent network, built to WebAssembly by @shiguredo/rnnoise-wasm
 * and served by port545 itself with the web client, loaded only when chosen). It keeps voices and removes
 * steady and typing noise that the browser's own suppression lets through.
 *
 * The network takes 10 ms frames (480 samples at 48 kHz). The audio runs through a ScriptProcessorNode:
 * an AudioWorklet would keep it off the page's main thread, but not every browser runs one (some headless
 * builds close the page), and the work is small (well under a millisecond a frame).
 */
import { addEffect } from './effects.ts';

type Rnnoise = Awaited<ReturnType<typeof import('@shiguredo/rnnoise-wasm').Rnnoise.load>>;

const SAMPLE_RATE = 48_000;
/** Samples per ScriptProcessor callback: 21 ms at 48 kHz, the delay this adds. */
const BLOCK = 1024;
/** RNNoise works on 16-bit sample values. */
const SCALE = 32_768;

let loading: Promise<Rnnoise> | undefined;

function loadRnnoise(): Promise<Rnnoise> {
  loading ??= import('@shiguredo/rnnoise-wasm').then(({ Rnnoise }) => Rnnoise.load());
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** A first-in first-out queue of samples with room for `capacity`. */
class SampleQueue {
  readonly #data: Float32Array;
  #start = 0;
  length = 0;
  constructor(capacity: number) {
    this.#data = new Float32Array(capacity);
  }
  push(samples: Float32Array, scale: number): void {
    for (let i = 0; i < samples.length; i++) {
      this.#data[(this.#start + this.length + i) % this.#data.length] = samples[i]! * scale;
    }
    this.length = Math.min(this.#data.length, this.length + samples.length);
  }
  take(into: Float32Array, scale: number): void {
    for (let i = 0; i < into.length; i++)
      into[i] = this.#data[(this.#start + i) % this.#data.length]! * scale;
    this.#start = (this.#start + into.length) % this.#data.length;
    this.length -= into.length;
  }
}

/** A track that plays `source` with its noise removed. Stop it with `releaseTrack` or `unwrap`. */
export async function removeNoise(source: MediaStreamTrack): Promise<MediaStreamTrack> {
  const rnnoise = await loadRnnoise();
  const state = rnnoise.createDenoiseState();
  const frame = new Float32Array(rnnoise.frameSize);
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  const input = context.createMediaStreamSource(new MediaStream([source]));
  const processor = context.createScriptProcessor(BLOCK, 1, 1);
  const output = context.createMediaStreamDestination();
  const heard = new SampleQueue(BLOCK + frame.length * 2);
  const cleaned = new SampleQueue(BLOCK * 2 + frame.length * 2);
  processor.onaudioprocess = (event) => {
    heard.push(event.inputBuffer.getChannelData(0), SCALE);
    while (heard.length >= frame.length) {
      heard.take(frame, 1);
      state.processFrame(frame);
      cleaned.push(frame, 1 / SCALE);
    }
    const out = event.outputBuffer.getChannelData(0);
    // Until a whole block is cleaned (the first callback only), silence.
    if (cleaned.length >= out.length) cleaned.take(out, 1);
    else out.fill(0);
  };
  input.connect(processor);
  processor.connect(output);
  await context.resume().catch(() => {});
  const track = output.stream.getAudioTracks()[0]!;
  addEffect(track, source, () => {
    processor.onaudioprocess = null;
    input.disconnect();
    processor.disconnect();
    void context.close().catch(() => {});
    state.destroy();
  });
  return track;
}
