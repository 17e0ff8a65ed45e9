import type { LoadProcess } from './lib/processes.js';

/** One benchmark scenario: a room that grows step by step. A step is the number the scenario varies. */
export interface Scenario {
  name: string;
  description: string;
  steps: number[];
  quickSteps: number[];
  /** The step `--profile` runs. */
  profileStep: number;
  stepLabel(step: number): string;
  /** People in the room at a step (for RSS per participant). */
  participants(step: number): number;
  /** Adds what makes the room go from step `from` (0: empty) to step `to`. */
  grow(load: LoadProcess, from: number, to: number): Promise<void>;
}

/** Joins run this many at a time (signaling, ICE and DTLS of the newcomers overlap). */
const CONCURRENCY = 8;
const AUDIO_SPEAKERS = 4;

const add = (load: LoadProcess, room: string, count: number, video: boolean, audio: boolean) =>
  count > 0
    ? load.request({ cmd: 'add', room, count, video, audio, concurrency: CONCURRENCY })
    : Promise.resolve();

export const scenarios: Scenario[] = [
  {
    name: 'livestream',
    description: '1 publisher (640x360 VP8 ~0.8 Mbps + Opus) → S subscribers',
    steps: [10, 25, 50, 100, 200, 300, 400],
    quickSteps: [20],
    profileStep: 50,
    stepLabel: (s) => `S=${s}`,
    participants: (s) => s + 1,
    async grow(load, from, to) {
      if (from === 0) await add(load, 'livestream', 1, true, true);
      await add(load, 'livestream', to - from, false, false);
    },
  },
  {
    name: 'meeting',
    description: 'P participants, each publishing VP8 + Opus and subscribed to all others',
    steps: [4, 6, 8, 10, 12, 14],
    quickSteps: [4],
    profileStep: 8,
    stepLabel: (p) => `P=${p}`,
    participants: (p) => p,
    async grow(load, from, to) {
      await add(load, 'meeting', to - from, true, true);
    },
  },
  {
    name: 'audio-room',
    description: `${AUDIO_SPEAKERS} Opus speakers (each hearing the others) → S audio-only listeners`,
    steps: [25, 50, 100, 200],
    quickSteps: [25],
    profileStep: 100,
    stepLabel: (s) => `S=${s}`,
    participants: (s) => s + AUDIO_SPEAKERS,
    async grow(load, from, to) {
      if (from === 0) await add(load, 'audio-room', AUDIO_SPEAKERS, false, true);
      await add(load, 'audio-room', to - from, false, false);
    },
  },
];
