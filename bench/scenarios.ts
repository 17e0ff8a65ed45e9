import type { LoadProcess } from './lib/processes.js';
import type { LoadCommand } from './lib/protocol.js';

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

/** Publishers per room in the workers scenario, and subscribers per room counted at their socket. */
const WORKER_ROOM_PUBLISHERS = 4;
const MEASURED_SUBSCRIBERS = 2;

/**
 * Two rooms, each with 4 publishers and S subscribers; run with --workers 1 and --workers 2 (bench/run.ts
 * runWorkers). Two subscribers per room are measured at their socket (latency, integrity); the rest are
 * sinks whose RTP the kernel counts.
 */
export const workersScenario: Scenario = {
  name: 'workers',
  description: `2 rooms, each ${WORKER_ROOM_PUBLISHERS} publishers (VP8 + Opus) → S subscribers; --workers 1, then 2`,
  steps: [20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200],
  quickSteps: [20],
  profileStep: 40,
  stepLabel: (s) => `2×S=${s}`,
  participants: (s) => 2 * (s + WORKER_ROOM_PUBLISHERS),
  async grow(load, from, to) {
    for (const room of ['workers-a', 'workers-b']) {
      let sinks = to - from;
      if (from === 0) {
        await add(load, room, WORKER_ROOM_PUBLISHERS, true, true);
        await add(load, room, MEASURED_SUBSCRIBERS, false, false);
        sinks -= MEASURED_SUBSCRIBERS;
      }
      if (sinks > 0)
        await load.request({
          cmd: 'add',
          room,
          count: sinks,
          video: false,
          audio: false,
          concurrency: CONCURRENCY,
          sinks: true,
        });
    }
  },
};

/** Viewers of the broadcast measured at their socket (latency, integrity); the rest are sinks. */
export const BROADCAST_MEASURED_VIEWERS = 2;
/**
 * They decrypt and sample every packet (about 440 a second between them): one in 16 would leave some 220
 * latency samples in an 8 s window, too few for a p99 (the held criterion) that does not jump by chance.
 */
const BROADCAST_SAMPLE_EVERY = 1;
/** Joins of a broadcast step may take this long (hundreds of viewers through a saturated server). */
const BROADCAST_ADD_TIMEOUT_MS = 600_000;

/**
 * One room, one publisher of the 720p clip (VP8 + Opus), and V viewers: port545's audience (`join.viewer`,
 * not participants) or Janus's VideoRoom subscribers. Run with --workers 1, --workers 2 and Janus, viewers
 * added until a step is not held (bench/run.ts runBroadcast). Two viewers are measured at their socket;
 * the rest are sinks whose RTP the kernel counts.
 */
export const broadcastScenario: Scenario = {
  name: 'broadcast',
  description: '1 publisher (1280x720 VP8 ~1.5 Mbps + Opus) → V viewers, one room',
  steps: [50, 100, 150, 200, 300, 400, 500, 600, 800, 1000],
  quickSteps: [20, 40],
  profileStep: 200,
  stepLabel: (v) => `V=${v}`,
  participants: (v) => v + 1,
  async grow(load, from, to) {
    const room = 'broadcast';
    const join = (count: number, what: Partial<Extract<LoadCommand, { cmd: 'add' }>>) =>
      count > 0
        ? load.request(
            {
              cmd: 'add',
              room,
              count,
              video: false,
              audio: false,
              concurrency: CONCURRENCY,
              viewer: true,
              ...what,
            },
            BROADCAST_ADD_TIMEOUT_MS,
          )
        : Promise.resolve();
    let sinks = to - from;
    if (from === 0) {
      await join(1, { video: true, audio: true, viewer: false, clip: '720p' });
      const measured = Math.min(BROADCAST_MEASURED_VIEWERS, to);
      await join(measured, { sampleEvery: BROADCAST_SAMPLE_EVERY });
      sinks -= measured;
    }
    await join(sinks, { sinks: true });
  },
};
