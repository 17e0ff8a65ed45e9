import { randomBytes } from 'node:crypto';
import {
  type RTCDtlsTransport,
  RTCPeerConnection,
  type RTCRtpTransceiver,
  RtcpTransportLayerFeedback,
  TransportWideCC,
} from 'werift';
import { InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import { acceptBundleOnly } from '../media/bundleOnly.js';
import { SdpError } from '../media/SdpError.js';
import { checkSdp, isNamedCandidate, withoutNamedCandidates, withTimeout } from '../media/sdpCheck.js';
import { withStartBitrate } from '../media/startBitrate.js';
import { guardIce } from '../werift/iceGuard.js';
import { preferSrtpProfiles } from '../werift/internals.js';
import { BandwidthEstimator, setEstimatorOf, transportCcPackets } from './BandwidthEstimator.js';
import { DownTrack } from './DownTrack.js';
import { MediaSlot } from './MediaSlot.js';
import { PublishedTrack } from './PublishedTrack.js';
import { announceAddress, peerConfig, type RtcSettings } from './peerConfig.js';
import { type RtpSource, receiverSource } from './RtpSource.js';
import { accelerateSrtpReceive } from './SrtpDecryptor.js';
import { PROFILE_AEAD_AES_128_GCM, PROFILE_AES_CM_128_HMAC_SHA1_80 } from './srtpConstants.js';

/** A werift negotiation step that takes longer than this is treated as a failure of the SDP. */
const NEGOTIATION_TIMEOUT_MS = 5000;
/**
 * While the subscriber connection's transport is down (consent expired, RFC 7675 §5.1), the SFU, its
 * offerer, restarts ICE this often (RFC 8445 §2.4): checks of a restart made while the path is still
 * dead back off for tens of seconds, so a later restart finds a path that came back sooner.
 */
export const ICE_RESTART_INTERVAL_MS = 8000;
/**
 * A video track that receives no packet for this long while its publisher's connection is up is stalled:
 * a camera that stopped, or a publisher whose encoder waits for a keyframe request that was lost. Audio is
 * not watched (a publisher using DTX sends nothing in silence).
 */
export const STALL_AFTER_MS = 3000;
const STALL_CHECK_MS = 1000;
/** The estimated bandwidth is shared out again this often (layers' bitrates change, probes are due). */
const ALLOCATE_INTERVAL_MS = 1000;
/** What an audio track is counted to take of a subscriber's bandwidth (Opus with headers). */
const AUDIO_SHARE = 48_000;
/** A probe's padding goes out this often, in bursts of what the interval needs. */
const PADDING_INTERVAL_MS = 20;
/** At most this much padding a burst (a probe that lags does not catch up all at once). */
const PADDING_BURST_BYTES = 8 * 255;

export type PeerRole = 'publisher' | 'subscriber';

export interface RemoteCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface SubscriberOffer {
  sdp: string;
  /** Which published track each sending m-line of the subscriber connection carries. */
  tracks: { mid: string; trackId: string }[];
}

export interface PublishResult {
  sdp: string;
  /** Every track the publisher connection now carries, by the mid the client gave it. */
  tracks: { mid: string; track: PublishedTrack }[];
  added: PublishedTrack[];
  removed: PublishedTrack[];
}

/**
 * How a session receives the room's tracks. `negotiated`: every subscribed track gets its own m-line and
 * the SFU offers (the port545 client). `routed`: the session only learns which tracks are available
 * (`trackAvailable`) and its owner routes some of them into a fixed set of slots, the m-lines of an offer
 * the client made (a WHEP player), or consumes them itself (the SIP gateway's mixer).
 */
export type SubscriptionMode = 'negotiated' | 'routed';

export interface MediaSessionOptions {
  subscriptions?: SubscriptionMode;
}

export interface MediaSessionEvents {
  subscriberOffer: [SubscriberOffer];
  /** Routed mode: a track of another participant can now be routed or consumed. */
  trackAvailable: [PublishedTrack];
  /** Routed mode: an available track ended. */
  trackUnavailable: [PublishedTrack];
  /** A published video track stopped receiving packets (true) or receives them again (false). */
  trackStalled: [PublishedTrack, boolean];
  connectionState: [PeerRole, string];
  closed: [];
}

/**
 * What a room and its host use of a participant's media: a `MediaSession` on this thread, or a session
 * that runs on another worker thread behind a proxy (a viewer spread off its room's worker, see
 * `src/workers/WorkerLink.ts`).
 */
export interface ParticipantMedia {
  readonly id: string;
  readonly subscriptions: SubscriptionMode;
  readonly closed: boolean;
  readonly publishedTracks: PublishedTrack[];
  readonly subscriptionCount: number;
  readonly availableTracks: PublishedTrack[];
  readonly slots: MediaSlot[];
  readonly pendingSubscriberOffer: SubscriberOffer | undefined;
  connectionState(role: PeerRole): string;
  on<K extends keyof MediaSessionEvents>(
    event: K,
    listener: (...args: MediaSessionEvents[K]) => void,
  ): () => void;
  publish(offerSdp: string, mids: string[]): Promise<PublishResult>;
  publishLocal(source: RtpSource): PublishedTrack;
  subscribe(track: PublishedTrack): void;
  unsubscribe(trackId: string): void;
  setViewSize(trackId: string, width: number, height: number): void;
  answerSubscriberOffer(offerSdp: string): Promise<string>;
  applySubscriberAnswer(sdp: string): Promise<void>;
  addIceCandidate(role: PeerRole, candidate: RemoteCandidate | null): Promise<void>;
  close(): Promise<void>;
}

const newTrackId = () => `TR_${randomBytes(6).toString('base64url')}`;

/**
 * The media plane's view of one participant: a publisher connection (the client offers, the SFU
 * receives) and a subscriber connection (the SFU offers, the client receives). Two connections mean
 * neither side ever has to resolve offer glare, and media flowing on one is never held up by a
 * renegotiation of the other. `publish`, `subscribe`, `unsubscribe` and `close` are the whole interface.
 */
export class MediaSession extends TypedEmitter<MediaSessionEvents> implements ParticipantMedia {
  readonly id: string;
  readonly subscriptions: SubscriptionMode;
  closed = false;
  readonly #settings: RtcSettings;
  #publisher: RTCPeerConnection | undefined;
  #subscriber: RTCPeerConnection | undefined;
  /** Published tracks by the mid of their m-line on the publisher connection. */
  readonly #published = new Map<string, PublishedTrack>();
  /** Subscriptions by published track id. */
  readonly #subscriptions = new Map<string, DownTrack>();
  #negotiating = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  #renegotiate = false;
  #negotiateScheduled = false;
  #lastOffer: SubscriberOffer | undefined;
  /** Tracks published by this session that do not come from its publisher connection. */
  readonly #local = new Set<PublishedTrack>();
  /** Routed mode: tracks of others this session may route, with the function that stops watching each. */
  readonly #available = new Map<string, { track: PublishedTrack; off: () => void }>();
  /** Routed mode: the m-lines of the client's offer, by mid. */
  readonly #slots = new Map<string, MediaSlot>();
  readonly #states: Record<PeerRole, string> = { publisher: 'new', subscriber: 'new' };
  /** Set while the subscriber connection's transport is down: the next offer restarts ICE. */
  #iceRestart = false;
  readonly #lost = new Set<PeerRole>();
  #restartTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** Per published track: its packet count at the last check and since when it has not changed. */
  readonly #lastPackets = new WeakMap<PublishedTrack, { packets: number; since: number }>();
  /** What the subscriber connection carries, from the subscriber's transport-wide CC feedback. */
  readonly #bwe = new BandwidthEstimator();
  /** The subscriber transport whose feedback is read, the function that stops reading it, and the timer
   * that shares the estimate out again every second once feedback came. */
  #feedbackOf: RTCDtlsTransport | undefined;
  #stopFeedback: (() => void) | undefined;
  #allocateTimer: NodeJS.Timeout | undefined;
  #paddingTimer: NodeJS.Timeout | undefined;

  constructor(id: string, settings: RtcSettings, options: MediaSessionOptions = {}) {
    super();
    this.id = id;
    this.#settings = settings;
    this.subscriptions = options.subscriptions ?? 'negotiated';
  }

  get publishedTracks(): PublishedTrack[] {
    return [...this.#published.values(), ...this.#local];
  }

  get subscriptionCount(): number {
    return this.#subscriptions.size + this.#available.size;
  }

  /** Routed mode: the tracks of others that are available, in the order they became so. */
  get availableTracks(): PublishedTrack[] {
    return [...this.#available.values()].map((a) => a.track);
  }

  /** Routed mode: the slots (m-lines) of the answered subscriber offer. */
  get slots(): MediaSlot[] {
    return [...this.#slots.values()];
  }

  /** The state (RTCPeerConnectionState) of the publisher or subscriber connection; `new` before it exists. */
  connectionState(role: PeerRole): string {
    return this.#states[role];
  }

  /** The subscriber offer still waiting for an answer, to send again after the client reconnects. */
  get pendingSubscriberOffer(): SubscriberOffer | undefined {
    return this.#negotiating ? this.#lastOffer : undefined;
  }

  /**
   * Applies the client's publisher offer. `mids` are the m-lines the client says it sends; tracks on
   * m-lines no longer listed are unpublished. Media on unchanged m-lines keeps flowing.
   */
  async publish(offerSdp: string, mids: string[]): Promise<PublishResult> {
    this.#assertOpen();
    checkSdp(offerSdp, mids);
    const pc = this.#publisherPc();
    await this.#applyRemote(pc, 'offer', withoutNamedCandidates(acceptBundleOnly(offerSdp)), 'publisher');
    const sdp = withStartBitrate(await this.#answer(pc));

    const transceivers = new Map<string, RTCRtpTransceiver>();
    for (const t of pc.getTransceivers()) if (t.mid !== null && !t.stopped) transceivers.set(t.mid, t);
    const wanted = new Set(mids);
    const removed: PublishedTrack[] = [];
    for (const [mid, track] of this.#published) {
      const t = transceivers.get(mid);
      const receiving = t && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv');
      if (!wanted.has(mid) || !receiving) {
        this.#published.delete(mid);
        track.close();
        removed.push(track);
      }
    }
    const added: PublishedTrack[] = [];
    for (const mid of wanted) {
      if (this.#published.has(mid)) continue;
      const t = transceivers.get(mid);
      const remoteTrack = t?.receiver.tracks[0];
      if (!t || !remoteTrack || (t.currentDirection !== 'recvonly' && t.currentDirection !== 'sendrecv')) {
        throw new SdpError(`the offer lists mid ${mid}, but that m-line does not send media`);
      }
      const track = new PublishedTrack(newTrackId(), receiverSource(remoteTrack, t.receiver));
      this.#published.set(mid, track);
      added.push(track);
    }
    const tracks = [...this.#published].map(([mid, track]) => ({ mid, track }));
    this.#stallTimer ??= setInterval(() => this.#checkStalls(), STALL_CHECK_MS);
    return { sdp, tracks, added, removed };
  }

  /**
   * Publishes a track whose media is produced on the server (a SIP caller's voice) rather than received
   * on the publisher connection. It ends with the session.
   */
  publishLocal(source: RtpSource): PublishedTrack {
    this.#assertOpen();
    const track = new PublishedTrack(newTrackId(), source);
    this.#local.add(track);
    track.on('closed', () => this.#local.delete(track));
    return track;
  }

  /**
   * Starts sending a published track (of another participant) to this one; in routed mode, makes it
   * available to route instead.
   */
  subscribe(track: PublishedTrack): void {
    this.#assertOpen();
    if (this.subscriptions === 'routed') return this.#makeAvailable(track);
    if (this.#subscriptions.has(track.id) || track.closed) return;
    const pc = this.#subscriberPc();
    const transceiver = pc.addTransceiver(track.kind, { direction: 'sendonly' });
    // Forwarding does not transcode: offer the subscriber exactly the publisher's codec.
    const codec = transceiver.codecs.find((c) => c.mimeType.toLowerCase() === track.mimeType.toLowerCase());
    if (codec) transceiver.setCodecPreferences([codec]);
    const down = new DownTrack(track, transceiver);
    this.#subscriptions.set(track.id, down);
    down.on('closed', () => {
      this.#subscriptions.delete(track.id);
      if (this.closed) return;
      transceiver.stop();
      this.#scheduleNegotiation();
    });
    this.#scheduleNegotiation();
  }

  /**
   * The size (device pixels) the client shows a subscribed video at, 0×0 when nowhere: picks the simulcast
   * layer it is sent, or stops it. Ignored for a track this session does not receive (it may just have
   * ended).
   */
  setViewSize(trackId: string, width: number, height: number): void {
    this.#subscriptions.get(trackId)?.setViewSize(width, height);
  }

  unsubscribe(trackId: string): void {
    this.#subscriptions.get(trackId)?.close();
    const available = this.#available.get(trackId);
    if (available) {
      available.off();
      this.#available.delete(trackId);
      this.emit('trackUnavailable', available.track);
    }
  }

  #makeAvailable(track: PublishedTrack): void {
    if (this.#available.has(track.id) || track.closed) return;
    const off = track.on('closed', () => this.unsubscribe(track.id));
    this.#available.set(track.id, { track, off });
    this.emit('trackAvailable', track);
  }

  /**
   * Routed mode: answers a subscriber offer the client made (WHEP: recvonly m-lines). Each audio or video
   * m-line becomes a slot that sends whatever track is routed into it; it starts empty.
   */
  async answerSubscriberOffer(offerSdp: string): Promise<string> {
    this.#assertOpen();
    if (this.subscriptions !== 'routed') throw new InvalidStateError('only a routed session answers offers');
    if (this.#subscriber) throw new SdpError('the subscriber connection has already been negotiated');
    checkSdp(offerSdp);
    const pc = this.#subscriberPc();
    await this.#applyRemote(pc, 'offer', withoutNamedCandidates(acceptBundleOnly(offerSdp)), 'subscriber');
    for (const t of pc.getTransceivers()) {
      if (t.mid === null || (t.kind !== 'audio' && t.kind !== 'video')) continue;
      // The client receives: this side only sends (RFC 3264 §6.1).
      t.setDirection('sendonly');
      this.#slots.set(t.mid, new MediaSlot(t));
    }
    if (this.#slots.size === 0) throw new SdpError('the offer has no audio or video m-line to play into');
    return this.#answer(pc);
  }

  async applySubscriberAnswer(sdp: string): Promise<void> {
    this.#assertOpen();
    const pc = this.#subscriber;
    if (!pc || pc.signalingState !== 'have-local-offer')
      throw new SdpError('no subscriber offer is waiting for an answer');
    checkSdp(sdp);
    await this.#applyRemote(pc, 'answer', withoutNamedCandidates(sdp), 'subscriber');
    this.#negotiating = false;
    if (this.#renegotiate) {
      this.#renegotiate = false;
      this.#scheduleNegotiation();
    }
  }

  /** Applies the client's offer or answer; one werift refuses (or takes too long over) is an SdpError. */
  async #applyRemote(
    pc: RTCPeerConnection,
    type: 'offer' | 'answer',
    sdp: string,
    role: PeerRole,
  ): Promise<void> {
    try {
      await withTimeout(
        pc.setRemoteDescription({ type, sdp }),
        NEGOTIATION_TIMEOUT_MS,
        `applying the ${type}`,
      );
    } catch (error) {
      throw new SdpError(`${role} ${type} rejected: ${(error as Error).message}`);
    }
  }

  /** Answers the offer `pc` holds; the answer's SDP, with the announced address. */
  async #answer(pc: RTCPeerConnection): Promise<string> {
    const answer = await withTimeout(pc.createAnswer(), NEGOTIATION_TIMEOUT_MS, 'creating the answer');
    await withTimeout(
      this.#during(pc.setLocalDescription(answer)),
      NEGOTIATION_TIMEOUT_MS,
      'applying the answer',
    );
    this.#assertOpen();
    return announceAddress(pc.localDescription!.sdp, this.#settings.announcedIp);
  }

  async addIceCandidate(role: PeerRole, candidate: RemoteCandidate | null): Promise<void> {
    this.#assertOpen();
    const pc = role === 'publisher' ? this.#publisher : this.#subscriber;
    if (!pc) throw new SdpError(`no ${role} connection to add a candidate to`);
    if (!candidate || candidate.candidate === '') return; // end of candidates
    // A host name (mDNS or other) is not resolved: the client's checks give its address (sdpCheck.ts).
    if (isNamedCandidate(candidate.candidate)) return;
    try {
      await pc.addIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? undefined,
        sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
      });
    } catch (error) {
      throw new SdpError(`candidate rejected: ${(error as Error).message}`);
    }
  }

  #publisherPc(): RTCPeerConnection {
    this.#publisher ??= this.#createPc('publisher');
    return this.#publisher;
  }

  #subscriberPc(): RTCPeerConnection {
    this.#subscriber ??= this.#createPc('subscriber');
    return this.#subscriber;
  }

  #createPc(role: PeerRole): RTCPeerConnection {
    // Publishers' RFC 6464 audio levels feed active-speaker detection.
    const pc = new RTCPeerConnection(
      peerConfig(this.#settings, {
        receiveAudioLevel: role === 'publisher',
        receiveSimulcast: role === 'publisher',
        sendTransportCc: role === 'subscriber',
      }),
    );
    // Every forwarded packet is encrypted once per subscriber; with AES-CM + HMAC-SHA1 (which every WebRTC
    // endpoint supports, RFC 8827 §6.5) that costs about a third of what AES-GCM costs in Node (see
    // SrtpEncryptor), so the subscriber connection prefers it. Publishers keep werift's order (GCM first).
    if (role === 'subscriber')
      preferSrtpProfiles(pc, [PROFILE_AES_CM_128_HMAC_SHA1_80, PROFILE_AEAD_AES_128_GCM]);
    pc.connectionStateChange.subscribe((state) => {
      this.#states[role] = state;
      // Incoming SRTP is decrypted by SrtpDecryptor once the keys exist (same result, less work).
      if (state === 'connected') accelerateSrtpReceive(pc);
      if (this.closed) return;
      if (role === 'subscriber' && state === 'connected') this.#readFeedback(pc);
      if (role === 'subscriber' && this.subscriptions === 'negotiated') this.#watchTransport(state);
      // Back after a loss: the pictures sent across it are broken, so start them over with keyframes.
      if (state === 'failed' || state === 'disconnected') this.#lost.add(role);
      else if (state === 'connected' && this.#lost.delete(role)) this.#requestKeyframes(role);
      this.emit('connectionState', role, state);
    });
    // Datagrams from no peer of this session never reach DTLS/SRTP (see iceGuard.ts).
    pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') guardIce(pc);
    });
    return pc;
  }

  /**
   * The subscriber connection is the SFU's to restart (it offers). A client restarts the publisher
   * connection with an offer of its own (RFC 8445 §9), which `publish` applies like any other.
   */
  #watchTransport(state: string): void {
    if (state === 'connected' || state === 'closed') {
      clearInterval(this.#restartTimer);
      this.#restartTimer = undefined;
      return;
    }
    if (state !== 'failed' || this.#restartTimer) return;
    const restart = () => {
      if (this.closed || this.#states.subscriber === 'connected') return;
      this.#iceRestart = true;
      this.#scheduleNegotiation();
    };
    restart();
    this.#restartTimer = setInterval(restart, ICE_RESTART_INTERVAL_MS);
  }

  /**
   * The stall watchdog: a video track whose packets stopped while the publisher connection is up gets a
   * keyframe request every check (RFC 4585 §6.3.1; the publisher's encoder may be waiting for one).
   */
  #checkStalls(): void {
    const now = Date.now();
    const up = this.#states.publisher === 'connected';
    for (const track of this.#published.values()) {
      if (track.kind !== 'video') continue;
      if (track.simulcast) track.checkLayers();
      const last = this.#lastPackets.get(track);
      const flowing = last !== undefined && last.packets !== track.packetsReceived;
      if (!up || track.paused || !last || flowing) {
        this.#lastPackets.set(track, { packets: track.packetsReceived, since: now });
        if (!track.stalled) continue;
        track.stalled = false;
        // Without its connection the track is not stalled but cut off, which the room reports as such.
        if (flowing) this.emit('trackStalled', track, false);
        continue;
      }
      if (now - last.since < STALL_AFTER_MS) continue;
      track.requestKeyframe();
      if (track.stalled) continue;
      track.stalled = true;
      this.emit('trackStalled', track, true);
    }
  }

  /** Feeds the estimator with the transport-wide CC feedback the subscriber sends on its transport. */
  #readFeedback(pc: RTCPeerConnection): void {
    const dtls = pc.getTransceivers().find((t) => t.sender.dtlsTransport)?.sender.dtlsTransport;
    if (!dtls || dtls === this.#feedbackOf) return;
    this.#stopFeedback?.();
    this.#feedbackOf = dtls;
    setEstimatorOf(dtls, this.#bwe);
    this.#bwe.onEstimate = () => this.#allocate();
    this.#stopFeedback = dtls.onRtcp.subscribe((rtcp) => {
      if (!(rtcp instanceof RtcpTransportLayerFeedback) || !(rtcp.feedback instanceof TransportWideCC))
        return;
      this.#bwe.feedback(transportCcPackets(rtcp.feedback));
      this.#allocateTimer ??= setInterval(() => this.#allocate(), ALLOCATE_INTERVAL_MS);
    }).unSubscribe;
  }

  /**
   * Shares the estimated bandwidth among the videos this session receives: when the layers that fit their
   * views take more than it, each gets an equal share (and sends the largest layer within it), and the
   * estimator is let to probe for the next layer of one held below its view's.
   */
  #allocate(): void {
    if (this.closed || this.#feedbackOf === undefined) return;
    const videos = [...this.#subscriptions.values()].filter((down) => down.kind === 'video');
    const audio = this.#subscriptions.size - videos.length;
    // During a probe the layers stay where they are: the probe is padding (see #pad).
    const budget = Math.max(0, this.#bwe.allocatable - audio * AUDIO_SHARE);
    const wanted = videos.reduce((sum, down) => sum + down.wantedBitrate, 0);
    const share = wanted <= budget ? Number.POSITIVE_INFINITY : budget / Math.max(videos.length, 1);
    let step: number | undefined;
    for (const down of videos) {
      down.setMaxBitrate(share);
      step ??= down.stepUp;
    }
    if (step !== undefined && this.#bwe.probe(this.#bwe.estimate + step * videos.length)) {
      clearInterval(this.#paddingTimer);
      this.#paddingTimer = setInterval(() => this.#pad(), PADDING_INTERVAL_MS);
    }
  }

  /**
   * While a probe runs: padding on a video being sent, up to the probe's rate. If the path carries it the
   * estimate holds and the next allocation moves a video up a layer; if not, the estimate comes down and
   * no picture was lost to a layer the path could not carry.
   */
  #pad(): void {
    if (this.closed || !this.#bwe.probing) {
      clearInterval(this.#paddingTimer);
      this.#paddingTimer = undefined;
      return;
    }
    const bytes = Math.min(PADDING_BURST_BYTES, (this.#bwe.paddingRate() * PADDING_INTERVAL_MS) / 8000);
    if (bytes < 32) return;
    for (const down of this.#subscriptions.values()) if (down.sendPadding(bytes)) return;
  }

  #requestKeyframes(role: PeerRole): void {
    if (role === 'publisher') for (const track of this.#published.values()) track.requestKeyframes();
    else
      for (const down of this.#subscriptions.values())
        down.source.requestKeyframe(Math.max(down.wantedLayer, 0));
  }

  /** Coalesces changes made in one tick into one offer. */
  #scheduleNegotiation(): void {
    if (this.#negotiateScheduled) return;
    this.#negotiateScheduled = true;
    setImmediate(() => {
      this.#negotiateScheduled = false;
      this.#negotiate().catch((error) => {
        this.onListenerError('negotiate', error);
      });
    });
  }

  async #negotiate(): Promise<void> {
    if (this.closed) return;
    if (this.#negotiating) {
      this.#renegotiate = true;
      return;
    }
    const pc = this.#subscriberPc();
    this.#negotiating = true;
    try {
      const iceRestart = this.#iceRestart;
      this.#iceRestart = false;
      const offer = await pc.createOffer(iceRestart ? { iceRestart } : undefined);
      await this.#during(pc.setLocalDescription(offer));
    } catch (error) {
      // Leave the session able to try again on the next change rather than stuck "negotiating".
      this.#negotiating = false;
      throw error;
    }
    if (this.closed) return;
    const tracks: SubscriberOffer['tracks'] = [];
    for (const [trackId, down] of this.#subscriptions) {
      const mid = down.transceiver.mid;
      if (mid !== null) tracks.push({ mid, trackId });
    }
    this.#lastOffer = { sdp: announceAddress(pc.localDescription!.sdp, this.#settings.announcedIp), tracks };
    this.emit('subscriberOffer', this.#lastOffer);
  }

  #assertOpen(): void {
    if (this.closed) throw new InvalidStateError(`media session ${this.id} is closed`);
  }

  /** Closes both connections and every track and subscription of this participant. */
  /** Tracks a werift operation that may open sockets, so `close` can wait for it. */
  #during<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight.add(operation);
    const done = () => this.#inFlight.delete(operation);
    operation.then(done, done);
    return operation;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#restartTimer);
    this.#restartTimer = undefined;
    clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
    clearInterval(this.#allocateTimer);
    this.#allocateTimer = undefined;
    clearInterval(this.#paddingTimer);
    this.#paddingTimer = undefined;
    this.#stopFeedback?.();
    this.#stopFeedback = undefined;
    this.#bwe.onEstimate = undefined;
    for (const down of [...this.#subscriptions.values()]) down.close();
    this.#subscriptions.clear();
    for (const slot of this.#slots.values()) slot.close();
    this.#slots.clear();
    for (const { off } of this.#available.values()) off();
    this.#available.clear();
    for (const track of this.#published.values()) track.close();
    this.#published.clear();
    for (const track of [...this.#local]) track.close();
    this.#local.clear();
    // setLocalDescription opens the ICE sockets; a connection closed while one is under way would
    // get its socket after close() and keep it forever, so let it finish first.
    await withTimeout(Promise.allSettled([...this.#inFlight]), NEGOTIATION_TIMEOUT_MS, 'negotiation').catch(
      () => {},
    );
    const pcs = [this.#publisher, this.#subscriber].filter((pc): pc is RTCPeerConnection => pc !== undefined);
    this.#publisher = undefined;
    this.#subscriber = undefined;
    await Promise.allSettled(pcs.map((pc) => pc.close()));
    this.emit('closed');
    this.removeAllListeners();
  }
}
