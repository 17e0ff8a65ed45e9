/**
 * The load process of `npm run bench` (started by bench/run.ts on its own core, driven over Node IPC).
 * It plays publishers (the fixture clip, every payload stamped with its send time) and light
 * subscribers (counting at the socket, decrypting a sample), either through the SFU or through the bare
 * UDP relay, and measures what arrives.
 */
import { createSocket, type Socket } from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpSender, RtpPacket } from 'werift';
import WebSocket from 'ws';
import { Bot, type ReceivedTrack } from '../src/bot/Bot.js';
import { nodePeerConfig } from '../src/client/node.js';
import { Room } from '../src/client/Room.js';
import type { PeerConnectionLike, WebSocketLike } from '../src/client/rtc.js';
import { ClipSource } from '../src/media/ClipSource.js';
import { RtpFastSender } from '../src/sfu/RtpFastSender.js';
import { candidatesOn, JanusApi } from './lib/janus.js';
import { nowMs, withMarker } from './lib/marker.js';
import type {
  FlowState,
  JoinTimeResult,
  LoadCommand,
  LoadReply,
  Mode,
  VideoClip,
  WindowResult,
} from './lib/protocol.js';
import { LatencySink, ReceiverTap, tapPeerConnection } from './lib/ReceiverTap.js';
import { readSinkCounters, SINK_PORTS } from './lib/sinkFilter.js';
import { percentile } from './lib/stats.js';

const LOOPBACK = ['127.0.0.1'];
/** The publishers' video per `add` option; ClipSource's default (fixtures/clip.ivf) is the 360p one. */
const VIDEO_CLIPS: Record<VideoClip, string | undefined> = {
  '360p': undefined,
  '720p': fileURLToPath(new URL('../fixtures/clip-720.ivf', import.meta.url)),
};
/** Pause between two measured joins, longer than the SFU's keyframe request interval (300 ms). */
const JOIN_SPACING_MS = 500;

interface LoadParticipant {
  room: string;
  tap: ReceiverTap;
  /** A sink's UDP port: its RTP is counted by the kernel (bench/lib/sinkFilter.ts), not by `tap`. */
  sinkPort?: number;
  /** Streams this participant publishes (0, 1 or 2). */
  streams: number;
  /** RTP packets handed to the transport so far (all streams). */
  sent: number;
  /** Keyframe requests (PLI) the SFU sent this publisher. */
  plis: number;
  /** What a participant that receives nothing looks like (printed when a join does not flow). */
  describe(): string;
  stop(): Promise<void>;
}

const sink = new LatencySink();
/** The load process's own event-loop delay: when it is high, the generator adds the latency it measures. */
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const participants: LoadParticipant[] = [];
let mode: Mode = 'sfu';
let url = '';
let relayPort = 0;
let relayAddress = '127.0.0.1';
/** Where the load's relay members send from: loopback, or the host's end of a namespace's link. */
let relayLocal = '127.0.0.1';
let janus: JanusApi | undefined;
/** With Janus: the load's end of the link to Janus's namespace, where its candidates are gathered. */
let janusLink = '';
/** With Janus: Janus's end of the link, the only candidate address the load process accepts. */
let janusAddress = '';
/** Janus publisher ids (feeds) per bench room, for its subscribers to ask for. */
const janusFeeds = new Map<string, number[]>();
let joinFailures = 0;
let nextName = 0;

/** What one `add` makes: a publisher (video, audio) or a subscriber (neither), and how it joins. */
interface JoinOptions {
  video: boolean;
  audio: boolean;
  /** A sink's UDP port (bench/lib/sinkFilter.ts): the kernel counts its RTP. */
  sinkPort?: number;
  /** port545: join the room's audience (`join.viewer`). Janus's subscribers are receive-only anyway. */
  viewer?: boolean;
  clip?: VideoClip;
  /** One received packet in this many per stream is decrypted and sampled (ReceiverTap). */
  sampleEvery?: number;
}

/** A subscriber's tap on the shared latency sink. */
const newTap = (options: JoinOptions) =>
  new ReceiverTap(sink, options.sampleEvery ? { sampleEvery: options.sampleEvery } : {});

/** Feeds a ClipSource's packets, each payload stamped with its send time, to `send`. */
function startClip(
  options: JoinOptions,
  counter: { sent: number },
  sendVideo: (p: RtpPacket) => void,
  sendAudio: (p: RtpPacket) => void,
): ClipSource {
  const { video, audio } = options;
  const videoPath = VIDEO_CLIPS[options.clip ?? '360p'];
  const source = new ClipSource({ video, audio, ...(videoPath ? { videoPath } : {}) });
  if (video)
    source.onVideoRtp((rtp) => {
      counter.sent++;
      sendVideo(new RtpPacket(rtp.header, withMarker(rtp.payload, nowMs())));
    });
  if (audio)
    source.onAudioRtp((rtp) => {
      counter.sent++;
      sendAudio(new RtpPacket(rtp.header, withMarker(rtp.payload, nowMs())));
    });
  return source;
}

/** A load participant's common part: what it publishes, and counters at zero. */
function newParticipant(
  room: string,
  tap: ReceiverTap,
  video: boolean,
  audio: boolean,
  describe: () => string,
  stop: () => Promise<void>,
): LoadParticipant {
  return { room, tap, streams: (video ? 1 : 0) + (audio ? 1 : 0), sent: 0, plis: 0, describe, stop };
}

async function joinSfu(room: string, options: JoinOptions): Promise<LoadParticipant> {
  const { video, audio, sinkPort } = options;
  const tap = newTap(options);
  const pcs: RTCPeerConnection[] = [];
  const client = await Room.connect<MediaStreamTrack>({
    url,
    room,
    name: `load-${nextName++}`,
    ...(options.viewer ? { viewer: true } : {}),
    // One message per tick: the SDK attaches its message listener after the `joined` reply resolves, and
    // `ws` may otherwise emit an `offer` that arrived in the same TCP read before that (then lost).
    createWebSocket: (u) =>
      new WebSocket(u, {
        maxPayload: 16 * 1024 * 1024,
        allowSynchronousEvents: false,
      }) as unknown as WebSocketLike,
    createPeerConnection: () => {
      const pc = new RTCPeerConnection({
        ...nodePeerConfig(LOOPBACK),
        // werift wants a range of two at least; it binds the first free port, the sink's own.
        ...(sinkPort ? { icePortRange: [sinkPort, sinkPort + 1] as [number, number] } : {}),
      });
      pcs.push(pc);
      tapPeerConnection(pc, tap);
      return pc as unknown as PeerConnectionLike;
    },
  });
  client.on('error', (error) => console.error(`load: ${client.participantId}: ${error.message}`));
  const p = newParticipant(
    room,
    tap,
    video,
    audio,
    () =>
      `${client.participantId}: peer connections ${pcs.map((pc) => `${pc.connectionState}/${pc.signalingState}`).join(' ') || 'none'}, ` +
      `${[...client.participants.values()].reduce((n, q) => n + q.tracks.size, 0)} remote tracks announced`,
    async () => {
      source?.stop();
      await client.leave();
    },
  );
  if (sinkPort) p.sinkPort = sinkPort;
  let source: ClipSource | undefined;
  if (video || audio) {
    const videoTrack = new MediaStreamTrack({ kind: 'video' });
    const audioTrack = new MediaStreamTrack({ kind: 'audio' });
    // The server's send path (src/sfu/RtpFastSender.ts) also sends the publishers' packets: werift's own
    // sender (a cipher object, promises and bandwidth bookkeeping per packet) cost the load process about
    // 5 % of a core more in the workers scenario, which on 2 cores comes out of what the server gets.
    let videoFast: RtpFastSender | undefined;
    let audioFast: RtpFastSender | undefined;
    source = startClip(
      options,
      p,
      (rtp) => {
        if (!videoFast?.send(rtp)) videoTrack.writeRtp(rtp);
      },
      (rtp) => {
        if (!audioFast?.send(rtp)) audioTrack.writeRtp(rtp);
      },
    );
    const clip = source;
    if (video) {
      const local = await client.publishTrack(videoTrack, 'camera');
      // The SFU asks for a keyframe when a subscriber starts (RFC 4585 §6.3.1); answer like an encoder.
      const sender = local.transceiver.sender as unknown as RTCRtpSender;
      videoFast = new RtpFastSender(sender);
      sender.onPictureLossIndication.subscribe(() => {
        p.plis++;
        clip.requestKeyframe();
      });
    }
    if (audio) {
      const local = await client.publishTrack(audioTrack, 'microphone');
      audioFast = new RtpFastSender(local.transceiver.sender as unknown as RTCRtpSender);
    }
    source.start();
  }
  return p;
}

async function joinRelay(room: string, options: JoinOptions): Promise<LoadParticipant> {
  const { video, audio } = options;
  const tap = newTap(options);
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, relayLocal, resolve));
  let registered: (() => void) | undefined;
  socket.on('message', (data) => {
    if (data.length >= 12 && data[0]! >= 128) tap.onRtp(data);
    else if (data.toString() === 'OK') registered?.();
  });
  // Register with the relay (a datagram may be lost: ask again until it answers).
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 5000;
    const ask = () => {
      if (Date.now() > deadline) return reject(new Error('the relay did not answer'));
      socket.send(`HELO ${room}`, relayPort, relayAddress);
      timer = setTimeout(ask, 100);
    };
    let timer: NodeJS.Timeout = setTimeout(ask, 0);
    registered = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  const send = (rtp: RtpPacket) => socket.send(rtp.serialize(), relayPort, relayAddress);
  const p = newParticipant(
    room,
    tap,
    video,
    audio,
    () => `relay member ${socket.address().port}`,
    async () => {
      source?.stop();
      socket.close();
    },
  );
  const source = video || audio ? startClip(options, p, send, send) : undefined;
  source?.start();
  return p;
}

/** Resolves once werift has gathered its candidates, so its local SDP carries them all. */
async function gathered(pc: RTCPeerConnection): Promise<string> {
  const deadline = Date.now() + 5000;
  while (pc.iceGatheringState !== 'complete' && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 5));
  return pc.localDescription!.sdp;
}

/**
 * A participant of Janus's VideoRoom: a publisher (werift offers, Janus answers) or a subscriber to every
 * feed of the room (Janus offers, werift answers), each on its own plugin handle and peer connection. A
 * sink subscriber's socket is on its sink port, where the kernel counts what Janus sends it across the
 * link (bench/lib/sinkFilter.ts, with the link's interface).
 */
async function joinJanus(room: string, options: JoinOptions): Promise<LoadParticipant> {
  const { video, audio, sinkPort } = options;
  const api = janus!;
  const tap = newTap(options);
  const handle = await api.attach();
  const roomId = await api.room(room, handle);
  const pc = new RTCPeerConnection({
    ...nodePeerConfig([janusLink]),
    // As in joinSfu: werift binds the first free port of the range, the sink's own.
    ...(sinkPort ? { icePortRange: [sinkPort, sinkPort + 1] as [number, number] } : {}),
  });
  let source: ClipSource | undefined;
  const p = newParticipant(
    room,
    tap,
    video,
    audio,
    () => `janus handle ${handle}: ${pc.connectionState}/${pc.signalingState}`,
    async () => {
      source?.stop();
      await api.detach(handle);
      await pc.close();
    },
  );
  if (sinkPort) p.sinkPort = sinkPort;
  if (video || audio) {
    const videoSender = video ? pc.addTransceiver('video', { direction: 'sendonly' }).sender : undefined;
    const audioSender = audio ? pc.addTransceiver('audio', { direction: 'sendonly' }).sender : undefined;
    await pc.setLocalDescription(await pc.createOffer());
    const offer = await gathered(pc);
    const joined = await api.message(
      handle,
      { request: 'joinandconfigure', room: roomId, ptype: 'publisher', display: `load-${nextName++}` },
      { type: 'offer', sdp: offer },
    );
    await api.endOfCandidates(handle);
    if (!joined.jsep)
      throw new Error(`janus: no answer to the publisher's offer (${JSON.stringify(joined.data)})`);
    await pc.setRemoteDescription({ type: 'answer', sdp: candidatesOn(joined.jsep.sdp, janusAddress) });
    // Janus offers a feed to subscribers once its publisher's DTLS is up ("No such feed" before).
    const deadline = Date.now() + 10_000;
    while (pc.connectionState !== 'connected' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    if (pc.connectionState !== 'connected') throw new Error('janus: the publisher did not connect in 10 s');
    const feeds = janusFeeds.get(room) ?? [];
    feeds.push(joined.data.id as number);
    janusFeeds.set(room, feeds);
    const videoFast = videoSender && new RtpFastSender(videoSender);
    const audioFast = audioSender && new RtpFastSender(audioSender);
    source = startClip(
      options,
      p,
      (rtp) => videoFast?.send(rtp),
      (rtp) => audioFast?.send(rtp),
    );
    // Janus asks for a keyframe when a subscriber starts, as the SFU does; answer like an encoder.
    videoSender?.onPictureLossIndication.subscribe(() => {
      p.plis++;
      source?.requestKeyframe();
    });
    source.start();
    return p;
  }
  const feeds = janusFeeds.get(room) ?? [];
  if (!feeds.length) throw new Error(`janus: nobody publishes in ${room} yet`);
  tapPeerConnection(pc, tap);
  const offered = await api.message(handle, {
    request: 'join',
    room: roomId,
    ptype: 'subscriber',
    streams: feeds.map((feed) => ({ feed })),
  });
  if (!offered.jsep) throw new Error(`janus: no offer for the subscriber (${JSON.stringify(offered.data)})`);
  await pc.setRemoteDescription({ type: 'offer', sdp: candidatesOn(offered.jsep.sdp, janusAddress) });
  await pc.setLocalDescription(await pc.createAnswer());
  await api.message(handle, { request: 'start', room: roomId }, { type: 'answer', sdp: await gathered(pc) });
  await api.endOfCandidates(handle);
  return p;
}

let nextSinkPort = SINK_PORTS[0];

async function add(command: Extract<LoadCommand, { cmd: 'add' }>) {
  const { room, count, concurrency, sinks = false } = command;
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      try {
        if (sinks && nextSinkPort + 1 > SINK_PORTS[1]) throw new Error('no sink ports left');
        const options: JoinOptions = {
          video: command.video,
          audio: command.audio,
          ...(sinks ? { sinkPort: nextSinkPort } : {}),
          ...(command.viewer ? { viewer: true } : {}),
          ...(command.clip ? { clip: command.clip } : {}),
          ...(command.sampleEvery ? { sampleEvery: command.sampleEvery } : {}),
        };
        if (sinks) nextSinkPort += 2;
        const p = await (mode === 'sfu'
          ? joinSfu(room, options)
          : mode === 'janus'
            ? joinJanus(room, options)
            : joinRelay(room, options));
        participants.push(p);
      } catch (error) {
        joinFailures++;
        console.error(`load: a join failed: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}

/** Streams each participant should receive: everything published in its room by the others. */
function expectedStreams(p: LoadParticipant): number {
  let n = 0;
  for (const q of participants) if (q !== p && q.room === p.room) n += q.streams;
  return n;
}

/** Kernel counters of the sinks' ports (empty when there are no sinks). */
function sinkCounters(): Map<number, { packets: number; bytes: number }> {
  return participants.some((p) => p.sinkPort) ? readSinkCounters() : new Map();
}

/** UDP datagrams including the 20-byte IPv4 and 8-byte UDP headers, which the kernel's counter includes. */
const IP_UDP_HEADERS = 28;

/** RTP packets and payload bytes a participant received: at its tap, or the kernel's count for a sink. */
function receivedBy(p: LoadParticipant, counters: Map<number, { packets: number; bytes: number }>) {
  if (!p.sinkPort) return { packets: p.tap.packets, bytes: p.tap.bytes };
  const c = counters.get(p.sinkPort) ?? { packets: 0, bytes: 0 };
  return { packets: c.packets, bytes: c.bytes - c.packets * IP_UDP_HEADERS };
}

function flowState(): FlowState {
  let flowing = 0;
  const counters = sinkCounters();
  for (const p of participants) {
    // A sink's streams cannot be told apart in the kernel's count: a sink that receives anything flows
    // (a missing stream still shows as loss).
    if (p.sinkPort ? receivedBy(p, counters).packets > 0 : p.tap.streams.size >= expectedStreams(p))
      flowing++;
  }
  return { participants: participants.length, flowing, joinFailures };
}

async function waitFlowing(timeoutMs: number): Promise<FlowState> {
  const deadline = Date.now() + timeoutMs;
  let state = flowState();
  while (state.flowing < state.participants && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    state = flowState();
  }
  if (state.flowing < state.participants) {
    const missing = participants
      .filter((p) => !p.sinkPort && p.tap.streams.size < expectedStreams(p))
      .map((p) => `${p.tap.streams.size}/${expectedStreams(p)} ${p.describe()}`);
    console.error(
      `load: not flowing after ${timeoutMs} ms (streams seen/expected): ${missing.slice(0, 10).join('\n  ')}`,
    );
  }
  return state;
}

interface Snapshot {
  atMs: number;
  received: number[];
  bytes: number[];
  sent: number[];
  plis: number;
  verified: number;
  corrupt: number;
}
let windowStart: Snapshot | undefined;

function snapshot(): Snapshot {
  const counters = sinkCounters();
  let verified = 0;
  let corrupt = 0;
  for (const p of participants) {
    verified += p.tap.verified;
    corrupt += p.tap.corrupt;
  }
  return {
    atMs: performance.now(),
    received: participants.map((p) => receivedBy(p, counters).packets),
    bytes: participants.map((p) => receivedBy(p, counters).bytes),
    sent: participants.map((p) => p.sent),
    plis: participants.reduce((n, p) => n + p.plis, 0),
    verified,
    corrupt,
  };
}

function endWindow(): WindowResult {
  const a = windowStart;
  if (!a) throw new Error('windowEnd without windowStart');
  const b = snapshot();
  const n = a.received.length;
  let packets = 0;
  let bytes = 0;
  let expected = 0;
  let worstLoss = 0;
  for (let i = 0; i < n; i++) {
    const p = participants[i]!;
    const got = b.received[i]! - a.received[i]!;
    let want = 0;
    for (let j = 0; j < n; j++) {
      const q = participants[j]!;
      if (j !== i && q.room === p.room) want += b.sent[j]! - a.sent[j]!;
    }
    packets += got;
    bytes += b.bytes[i]! - a.bytes[i]!;
    expected += want;
    if (want > 0) worstLoss = Math.max(worstLoss, 1 - got / want);
  }
  const s = sink.samples;
  return {
    seconds: (b.atMs - a.atMs) / 1000,
    packets,
    bytes,
    expected,
    worstLoss: Math.max(0, worstLoss),
    latency: {
      count: s.length,
      p50: percentile(s, 50),
      p90: percentile(s, 90),
      p99: percentile(s, 99),
      max: s.length ? Math.max(...s) : Number.NaN,
    },
    verified: b.verified - a.verified,
    corrupt: b.corrupt - a.corrupt,
    sentPps: b.sent.reduce((n, v, i) => n + v - a.sent[i]!, 0) / ((b.atMs - a.atMs) / 1000),
    keyframeRequests: b.plis - a.plis,
    loadEventLoopP99Ms: lag.percentile(99) / 1e6,
  };
}

/**
 * Join time as a person sees it: a bot opens the WebSocket and waits for its first whole video frame.
 * With `through`, the joins go through those servers in turn (a cluster's nodes), the publisher through
 * the first.
 */
async function joinTime(
  count: number,
  timeoutMs: number,
  through: string[] = [url],
  room = 'join-time',
): Promise<JoinTimeResult> {
  const publisher = await Bot.start({
    url: through[0]!,
    room,
    name: 'join-publisher',
    hostAddresses: LOOPBACK,
  });
  const joins: number[] = [];
  const via: number[] = [];
  const failuresVia = through.map(() => 0);
  const phases: JoinTimeResult['phases'] = { joined: [], subscribed: [], firstPacket: [] };
  let failures = 0;
  try {
    for (let i = 0; i < count; i++) {
      const server = i % through.length;
      const t0 = Date.now();
      let bot: Bot | undefined;
      try {
        bot = await Bot.start({
          url: through[server]!,
          room,
          name: `joiner-${i}`,
          video: false,
          audio: false,
          hostAddresses: LOOPBACK,
        });
        const joinedAt = Date.now();
        const deadline = t0 + timeoutMs;
        let video: ReceivedTrack | undefined;
        while (!video?.firstKeyframeAt && Date.now() < deadline) {
          video = [...bot.received.values()].find((r) => r.kind === 'video');
          if (!video?.firstKeyframeAt) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        if (!video?.firstKeyframeAt) {
          failures++;
          failuresVia[server]!++;
        } else {
          joins.push(video.firstKeyframeAt - t0);
          via.push(server);
          phases.joined.push(joinedAt - t0);
          phases.subscribed.push(video.subscribedAt - t0);
          phases.firstPacket.push((video.firstPacketAt ?? Number.NaN) - t0);
        }
      } catch (error) {
        failures++;
        failuresVia[server]!++;
        console.error(`load: join ${i} failed: ${(error as Error).message}`);
      } finally {
        await bot?.stop().catch(() => {});
      }
      // One join at a time, apart: each measures one person joining a running room, not the keyframe
      // request throttle (KEYFRAME_REQUEST_INTERVAL_MS) that spaces out a burst of joins on purpose.
      await new Promise((resolve) => setTimeout(resolve, JOIN_SPACING_MS));
    }
  } finally {
    await publisher.stop().catch(() => {});
  }
  return { joins, failures, phases, ...(through.length > 1 ? { via, failuresVia } : {}) };
}

async function handle(command: LoadCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'init':
      mode = command.mode;
      url = command.url ?? '';
      relayPort = command.relayPort ?? 0;
      relayAddress = command.relayAddress ?? '127.0.0.1';
      relayLocal = command.localAddress ?? '127.0.0.1';
      if (mode === 'janus') {
        janusLink = command.localAddress ?? '';
        janusAddress = new URL(url).hostname;
        janus = new JanusApi(url);
        await janus.open();
      }
      return null;
    case 'add':
      await add(command);
      return flowState();
    case 'waitFlowing':
      return waitFlowing(command.timeoutMs);
    case 'windowStart':
      sink.reset();
      lag.reset();
      windowStart = snapshot();
      return null;
    case 'windowEnd':
      return endWindow();
    case 'joinTime':
      return joinTime(command.count, command.timeoutMs, command.through, command.room);
    case 'shutdown':
      await Promise.race([
        Promise.allSettled(participants.map((p) => p.stop())),
        new Promise((resolve) => setTimeout(resolve, 3000)),
      ]);
      janus?.close();
      setImmediate(() => process.exit(0));
      return null;
  }
}

if (!process.send) {
  console.error('bench/load.ts is started by bench/run.ts (npm run bench), not by hand.');
  process.exit(2);
}
process.on('message', (message: { id: number; command: LoadCommand }) => {
  handle(message.command).then(
    (result) => process.send!({ id: message.id, ok: true, result } satisfies LoadReply),
    (error: unknown) =>
      process.send!({
        id: message.id,
        ok: false,
        error: (error as Error).message ?? String(error),
      } satisfies LoadReply),
  );
});
process.on('disconnect', () => process.exit(0));
