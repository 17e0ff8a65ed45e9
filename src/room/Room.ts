import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CodedError, InvalidStateError } from '../common/errors.js';
import { TypedEmitter } from '../common/TypedEmitter.js';
import type { ChatMessage, ServerMessage, TrackInfo, TrackSource } from '../protocol/messages.js';
import {
  MediaSession,
  type MediaSessionOptions,
  type PublishedTrack,
  type RtcSettings,
  SdpError,
} from '../sfu/index.js';
import { type LeaveReason, Participant, type SignalSink } from './Participant.js';

export interface RoomOptions {
  name: string;
  rtc: RtcSettings;
  maxParticipants: number;
  tracksPerParticipant: number;
  chatHistory: number;
  /** How long a participant whose signaling dropped is kept for a resume. */
  resumeWindowMs: number;
  log: Logger;
}

export interface RoomEvents {
  participantJoined: [Participant];
  participantLeft: [Participant, LeaveReason];
  /** The last participant left. */
  empty: [];
  closed: [];
}

/** How a participant joins: the defaults are those of a port545 client. */
export interface JoinOptions {
  /** Media session options: gateways that play into an offer of their own use routed subscriptions. */
  media?: MediaSessionOptions;
}

export interface PublishRequest {
  mid: string;
  source: TrackSource;
  muted: boolean;
}

const newParticipantId = () => `PA_${randomBytes(6).toString('base64url')}`;

/**
 * A named call. Every participant receives every other participant's tracks: when one publishes,
 * the room subscribes everyone else; when one joins, it is subscribed to all that is published.
 */
export class Room extends TypedEmitter<RoomEvents> {
  readonly name: string;
  readonly participants = new Map<string, Participant>();
  readonly chat: ChatMessage[] = [];
  closed = false;
  readonly #options: RoomOptions;
  readonly #log: Logger;
  /** Participant id that owns each published track id. */
  readonly #trackOwner = new Map<string, string>();
  readonly #resumeTimers = new Map<string, NodeJS.Timeout>();

  constructor(options: RoomOptions) {
    super();
    this.name = options.name;
    this.#options = options;
    this.#log = options.log;
  }

  join(name: string, sink: SignalSink, rid?: string | number, options: JoinOptions = {}): Participant {
    this.#assertOpen();
    if (this.participants.size >= this.#options.maxParticipants) throw new CodedError('ROOM_FULL');
    const id = newParticipantId();
    const session = new MediaSession(id, this.#options.rtc, options.media);
    const participant = new Participant(id, name, session);
    session.on('subscriberOffer', (offer) => {
      participant.send({
        type: 'offer',
        sdp: offer.sdp,
        tracks: offer.tracks.map((t) => ({ ...t, participantId: this.#trackOwner.get(t.trackId) ?? '' })),
      });
    });
    session.on('connectionState', (role, state) =>
      this.#log.debug({ participant: id, role, state }, 'peer state'),
    );
    participant.on('detached', () => this.#onDetached(participant));
    participant.on('attached', () => this.#onAttached(participant));
    participant.on('closed', (reason) => this.#onClosed(participant, reason));
    participant.attach(sink);

    const others = [...this.participants.values()];
    this.participants.set(id, participant);
    participant.send({
      type: 'joined',
      v: 1,
      room: this.name,
      self: { id, name },
      resumeToken: participant.resumeToken,
      resumed: false,
      participants: others.map((p) => p.info),
      chat: this.chat,
      ...(rid !== undefined ? { rid } : {}),
    });
    this.broadcast({ type: 'participantJoined', participant: participant.info }, participant);
    for (const other of others) for (const { track } of other.tracks.values()) session.subscribe(track);
    this.#log.info({ room: this.name, participant: id, name }, 'participant joined');
    this.emit('participantJoined', participant);
    return participant;
  }

  /** Takes back a participant whose signaling dropped, on a new connection. */
  resume(participant: Participant, sink: SignalSink, rid?: string | number): void {
    this.#assertOpen();
    participant.attach(sink);
    participant.send({
      type: 'joined',
      v: 1,
      room: this.name,
      self: { id: participant.id, name: participant.name },
      resumeToken: participant.resumeToken,
      resumed: true,
      participants: [...this.participants.values()].filter((p) => p !== participant).map((p) => p.info),
      chat: this.chat,
      ...(rid !== undefined ? { rid } : {}),
    });
    const pending = participant.session.pendingSubscriberOffer;
    if (pending) {
      participant.send({
        type: 'offer',
        sdp: pending.sdp,
        tracks: pending.tracks.map((t) => ({ ...t, participantId: this.#trackOwner.get(t.trackId) ?? '' })),
      });
    }
  }

  /** Applies a publisher offer; returns the answer and which track id each mid now carries. */
  async publish(
    participant: Participant,
    sdp: string,
    requests: PublishRequest[],
  ): Promise<Extract<ServerMessage, { type: 'answer' }>> {
    this.#assertOpen();
    if (requests.length > this.#options.tracksPerParticipant) throw new CodedError('TOO_MANY_TRACKS');
    let result: Awaited<ReturnType<MediaSession['publish']>>;
    try {
      result = await participant.session.publish(
        sdp,
        requests.map((r) => r.mid),
      );
    } catch (error) {
      if (error instanceof SdpError) throw new CodedError('INVALID_SDP', error.message);
      throw error;
    }
    if (participant.closed) throw new InvalidStateError(`participant ${participant.id} has left`);
    const byMid = new Map(requests.map((r) => [r.mid, r]));
    for (const track of result.removed) {
      participant.tracks.delete(track.id);
      this.#trackOwner.delete(track.id);
      this.broadcast(
        { type: 'trackUnpublished', participantId: participant.id, trackId: track.id },
        participant,
      );
    }
    for (const track of result.added) {
      const request = result.tracks.find((t) => t.track === track)!;
      const { source, muted } = byMid.get(request.mid)!;
      this.#addTrack(participant, track, source, muted);
    }
    return {
      type: 'answer',
      sdp: result.sdp,
      tracks: result.tracks.map(({ mid, track }) => ({ mid, trackId: track.id })),
    };
  }

  /**
   * Publishes a track whose media the server produces for this participant (a SIP caller's voice, as
   * Opus). Everyone else is subscribed to it as to any other track.
   */
  publishLocal(participant: Participant, track: PublishedTrack, source: TrackSource, muted = false): void {
    this.#assertOpen();
    if (participant.closed) throw new InvalidStateError(`participant ${participant.id} has left`);
    if (participant.tracks.size >= this.#options.tracksPerParticipant)
      throw new CodedError('TOO_MANY_TRACKS');
    this.#addTrack(participant, track, source, muted);
    track.on('closed', () => {
      if (participant.closed || !participant.tracks.delete(track.id)) return;
      this.#trackOwner.delete(track.id);
      this.broadcast(
        { type: 'trackUnpublished', participantId: participant.id, trackId: track.id },
        participant,
      );
    });
  }

  #addTrack(participant: Participant, track: PublishedTrack, source: TrackSource, muted: boolean): void {
    const info: TrackInfo = { id: track.id, kind: track.kind, source, muted, codec: track.mimeType };
    participant.tracks.set(track.id, { info, track });
    this.#trackOwner.set(track.id, participant.id);
    this.broadcast({ type: 'trackPublished', participantId: participant.id, track: info }, participant);
    for (const other of this.participants.values()) if (other !== participant) other.session.subscribe(track);
  }

  setMuted(participant: Participant, trackId: string, muted: boolean): void {
    const entry = participant.tracks.get(trackId);
    if (!entry) throw new CodedError('TRACK_NOT_FOUND', `You have no track ${trackId}`);
    if (entry.info.muted === muted) return;
    entry.info.muted = muted;
    this.broadcast({ type: 'trackMuted', participantId: participant.id, trackId, muted }, participant);
  }

  postChat(participant: Participant, text: string): ChatMessage {
    const message: ChatMessage = {
      id: randomBytes(6).toString('base64url'),
      participantId: participant.id,
      name: participant.name,
      text,
      ts: Date.now(),
    };
    this.chat.push(message);
    if (this.chat.length > this.#options.chatHistory)
      this.chat.splice(0, this.chat.length - this.#options.chatHistory);
    this.broadcast({ type: 'chat', message });
    return message;
  }

  /** Sends a message to every connected participant except `except`. */
  broadcast(message: ServerMessage, except?: Participant): void {
    for (const p of this.participants.values()) if (p !== except) p.send(message);
  }

  leave(participant: Participant, reason: LeaveReason): Promise<void> {
    return participant.close(reason);
  }

  #onDetached(participant: Participant): void {
    this.broadcast(
      { type: 'participantState', participantId: participant.id, state: 'reconnecting' },
      participant,
    );
    const timer = setTimeout(() => {
      this.#resumeTimers.delete(participant.id);
      void participant.close('timeout');
    }, this.#options.resumeWindowMs);
    this.#resumeTimers.set(participant.id, timer);
  }

  #onAttached(participant: Participant): void {
    const timer = this.#resumeTimers.get(participant.id);
    if (!timer) return;
    clearTimeout(timer);
    this.#resumeTimers.delete(participant.id);
    this.broadcast(
      { type: 'participantState', participantId: participant.id, state: 'connected' },
      participant,
    );
  }

  #onClosed(participant: Participant, reason: LeaveReason): void {
    clearTimeout(this.#resumeTimers.get(participant.id));
    this.#resumeTimers.delete(participant.id);
    this.participants.delete(participant.id);
    for (const trackId of participant.tracks.keys()) this.#trackOwner.delete(trackId);
    // Closing its published tracks closed every DownTrack of them; the subscribers renegotiate.
    this.broadcast({ type: 'participantLeft', participantId: participant.id, reason });
    this.#log.info({ room: this.name, participant: participant.id, reason }, 'participant left');
    this.emit('participantLeft', participant, reason);
    if (this.participants.size === 0 && !this.closed) this.emit('empty');
  }

  #assertOpen(): void {
    if (this.closed) throw new InvalidStateError(`room ${this.name} is closed`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const participants = [...this.participants.values()];
    for (const p of participants) p.send({ type: 'bye', reason: 'room closed' });
    await Promise.all(participants.map((p) => p.close('closed')));
    this.emit('closed');
    this.removeAllListeners();
  }
}
