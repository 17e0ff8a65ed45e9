/** Messages between the benchmark runner and its load process (Node IPC). */

/** What forwards: port545, the bare UDP relay, or Janus's VideoRoom (`--janus`). */
export type Mode = 'sfu' | 'relay' | 'janus';

/** The video a publisher sends: fixtures/clip.ivf (640x360, ~0.8 Mbps) or fixtures/clip-720.ivf (1280x720, ~1.5 Mbps). */
export type VideoClip = '360p' | '720p';

export type LoadCommand =
  | {
      cmd: 'init';
      mode: Mode;
      url?: string;
      relayPort?: number;
      relayAddress?: string;
      /** Across a namespace's link (Janus, the relay beside it): the load process's address on it. */
      localAddress?: string;
    }
  | {
      cmd: 'add';
      room: string;
      count: number;
      video: boolean;
      audio: boolean;
      concurrency: number;
      /** Subscribers whose RTP the kernel counts and drops (bench/lib/sinkFilter.ts). */
      sinks?: boolean;
      /** Receive-only members of the room's audience (port545's `join.viewer`), not participants. */
      viewer?: boolean;
      /** The publishers' video (default 360p). */
      clip?: VideoClip;
      /** Subscribers measured at their socket decrypt and sample one packet in this many (default 16). */
      sampleEvery?: number;
    }
  | { cmd: 'waitFlowing'; timeoutMs: number }
  | { cmd: 'windowStart' }
  | { cmd: 'windowEnd' }
  | {
      cmd: 'joinTime';
      count: number;
      timeoutMs: number;
      /**
       * The joins' servers, taken in turn (join i through `through[i % length]`); the publisher joins
       * through the first. Default: the server of `init`.
       */
      through?: string[];
      /** The room (default `join-time`). */
      room?: string;
    }
  | { cmd: 'shutdown' };

export interface FlowState {
  participants: number;
  /** Participants that receive every stream they should (one packet at least from each). */
  flowing: number;
  joinFailures: number;
}

export interface WindowResult {
  seconds: number;
  packets: number;
  bytes: number;
  expected: number;
  /** Loss of the receiver that lost most, 0..1. */
  worstLoss: number;
  latency: { count: number; p50: number; p90: number; p99: number; max: number };
  verified: number;
  corrupt: number;
  /** Packets the publishers sent per second, all streams. */
  sentPps: number;
  /** PLIs the SFU sent the publishers in the window (each makes the clip jump to a keyframe). */
  keyframeRequests: number;
  /** p99 event-loop delay of the load process in the window, ms. */
  loadEventLoopP99Ms: number;
}

export interface JoinTimeResult {
  /** Milliseconds from opening the WebSocket to the first whole video frame, per join. */
  joins: number[];
  failures: number;
  /** With `through`: the index of the server each successful join went through, and failures per server. */
  via?: number[];
  failuresVia?: number[];
  /** When each successful join passed the earlier steps, ms after opening the WebSocket. */
  phases: {
    /** The server answered `join` (WebSocket open, join request, reply). */
    joined: number[];
    /** The subscriber offer was answered and the video track announced to the SDK. */
    subscribed: number[];
    /** ICE and DTLS done: the first video RTP packet arrived. */
    firstPacket: number[];
  };
}

export type LoadReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
