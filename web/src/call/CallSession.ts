import { blurBackground } from '../media/backgroundBlur.ts';
import {
  type Acquired,
  acquireOne,
  DeviceError,
  type DeviceKind,
  type DeviceProblem,
  problemMessage,
} from '../media/devices.ts';
import { releaseTrack, sourceOf, unwrap } from '../media/effects.ts';
import { removeNoise } from '../media/noiseRemoval.ts';
import {
  connect,
  type LocalTrack,
  type ParticipantCard,
  type Reaction,
  type RemoteParticipant,
  type Room,
  type RoomAccessState,
  ServerError,
  type SharedFile,
} from '../sdk.ts';
import { Store } from '../util/Store.ts';
import { saveBlob } from '../util/saveBlob.ts';
import { type Background, loadPreferences, type NoiseSuppression, savePreferences } from '../util/storage.ts';
import {
  endedFailure,
  type Failure,
  failureOf,
  messageOf,
  recordingProblem,
  recordingStopped,
} from './failures.ts';
import { fileProblem, isAbort, receiveBytes, type Sending, sendBytes } from './files.ts';
import { MutedSpeech } from './MutedSpeech.ts';
import { type LinkQuality, NetworkQuality, type OwnQuality } from './NetworkQuality.ts';
import { RemoteAudio } from './RemoteAudio.ts';
import { Speakers } from './Speakers.ts';
import { Transfers } from './Transfers.ts';

export type CallStatus = 'connecting' | 'connected' | 'reconnecting' | 'left' | 'failed';
export interface Notice {
  id: number;
  text: string;
  tone: 'info' | 'warn';
}

export interface CallSessionOptions {
  /** The server's origin; the SDK finds the WebSocket at `/ws`. */
  serverUrl: string;
  room: string;
  name: string;
  micOn: boolean;
  cameraOn: boolean;
  micId?: string;
  cameraId?: string;
  /** The devices opened for the pre-join preview, or being opened while the call connects. */
  media: Acquired | Promise<Acquired>;
  /** Access token from `?token=` (a server in secured mode needs one). */
  token?: string;
  /** The room password, when the room has one. */
  password?: string;
  /** This person's calling card, kept in the browser and sent with every join. */
  card?: ParticipantCard;
  /** Watch only (`/r/<room>?watch=1`): one of the room's audience, no camera or microphone. */
  viewer?: boolean;
}

/** The key of this client's own tiles and speaking state. */
export const SELF = 'self';

const NOTICE_MS = 5000;
/** How long a reaction floats over a tile. */
const REACTION_MS = 4000;
/** The most reactions floating at once (a burst from many people is trimmed, oldest first). */
const MAX_FLOATING = 24;

export interface FloatingReaction {
  id: number;
  participantId: string;
  emoji: Reaction;
}
/** The most bytes of pictures kept for previews in one call (a tab's memory, not the server's). */
const PREVIEW_BUDGET = 64 * 1024 ** 2;
/** Under which id the speaking detector watches this client's own microphone. */
const OWN_MIC = `${SELF}:mic`;

/**
 * One person's call: the SDK room, the camera, microphone and screen they publish, the remote audio they
 * hear, and who is speaking. The UI renders from its fields and calls its methods; it never touches the
 * SDK directly.
 */
export class CallSession extends Store {
  readonly options: CallSessionOptions;
  status: CallStatus = 'connecting';
  failure: Failure | undefined;
  room: Room<MediaStreamTrack> | undefined;
  micOn: boolean;
  cameraOn: boolean;
  screenOn = false;
  micId: string | undefined;
  cameraId: string | undefined;
  mic: LocalTrack<MediaStreamTrack> | undefined;
  camera: LocalTrack<MediaStreamTrack> | undefined;
  screen: LocalTrack<MediaStreamTrack> | undefined;
  screenAudio: LocalTrack<MediaStreamTrack> | undefined;
  /** Why a device is not in use, to explain next to its button. */
  readonly problems: Partial<Record<DeviceKind, DeviceProblem>> = {};
  /** Set once the initial tracks are published: the device buttons work from then on. */
  ready = false;
  notices: Notice[] = [];

  readonly #speakers = new Speakers(() => this.changed(), SELF);
  readonly #audio = new RemoteAudio(() => this.changed());
  readonly #mutedSpeech = new MutedSpeech(() => this.changed());
  readonly #quality = new NetworkQuality(() => this.changed());
  readonly #disposers: (() => void)[] = [];
  #nextNoticeId = 1;
  #busy = new Set<string>();
  #leaving = false;
  /** Names of the people dropped from view while this client rejoined: expected back, not announced. */
  readonly #returning = new Set<string>();
  /** Why the server ended this client's presence (`bye`), if it did. */
  #endedBy: string | undefined;
  #pendingCamera: MediaStreamTrack | undefined;

  constructor(options: CallSessionOptions) {
    super();
    this.options = options;
    this.micOn = options.micOn;
    this.cameraOn = options.cameraOn;
    this.micId = options.micId;
    this.cameraId = options.cameraId;
  }

  #lastRoomState: RoomAccessState = { locked: false, passwordProtected: false, listed: false };

  /** The participant a host put in the spotlight (this client's SELF key when it is this client). */
  get spotlight(): string | undefined {
    const id = this.room?.roomState.spotlight;
    return id && id === this.room?.participantId ? SELF : id;
  }

  /** Host control: shows `participantId` large to everyone, or with undefined ends the spotlight. */
  setSpotlight(participantId: string | undefined): Promise<void> {
    return this.#host(() => this.room?.spotlight(participantId ?? null));
  }

  /** Since when (ms since the epoch, server clock) the room is being recorded; undefined when it is not. */
  get recordingSince(): number | undefined {
    return this.room?.roomState.recording?.since;
  }

  /** A host's Record or Stop recording is on its way to the server. */
  recordingBusy = false;

  /** Host control: starts recording the room (everyone sees that it is), or stops the recording. */
  async toggleRecording(): Promise<void> {
    const room = this.room;
    if (!room || this.recordingBusy) return;
    const starting = room.roomState.recording === undefined;
    this.recordingBusy = true;
    this.changed();
    try {
      await (starting ? room.startRecording() : room.stopRecording());
    } catch (error) {
      this.notify(recordingProblem(error, starting));
    } finally {
      this.recordingBusy = false;
      this.changed();
    }
  }

  /** Reactions floating over tiles now. */
  reactions: FloatingReaction[] = [];
  #nextReaction = 1;
  readonly #reactionTimers = new Set<ReturnType<typeof setTimeout>>();

  /** This person's place in the queue of raised hands, while their hand is up. */
  get hand(): number | undefined {
    return this.room?.hand;
  }

  /** This person only watches: one of the room's audience, sending nothing (until a host brings them on stage). */
  get watching(): boolean {
    return this.room ? this.room.role === 'viewer' : this.options.viewer === true;
  }

  /** Hands raised in the audience, first raised first: who may be brought on stage. */
  get audienceHands(): { participantId: string; name: string }[] {
    const hands = [...(this.room?.audienceHands ?? new Map()).entries()];
    return hands
      .sort((a, b) => a[1].hand - b[1].hand)
      .map(([participantId, { name }]) => ({ participantId, name }));
  }

  /** A host brought this person on stage (the call's controls appear) or back to the audience. */
  #stage(onStage: boolean): void {
    if (onStage) {
      this.notify('You are on stage: turn on your microphone or camera to speak.', 'info');
    } else {
      // What was sent has ended on the server; the devices are let go here.
      this.#mutedSpeech.stop();
      this.#speakers.unwatch(OWN_MIC);
      this.#releaseOwnTracks();
      this.mic = this.camera = this.screen = this.screenAudio = undefined;
      this.micOn = this.cameraOn = this.screenOn = false;
      this.notify('A host moved you back to the audience: you watch on.', 'info');
    }
    this.changed();
  }

  /** Host control: brings a viewer on stage, or sends a participant back to the audience. */
  setOnStage(participantId: string, onStage: boolean): Promise<void> {
    return this.#host(() => this.room?.setOnStage(participantId, onStage));
  }

  /** How many watch the room besides its participants. */
  get viewers(): number {
    return this.room?.viewers ?? 0;
  }

  async toggleHand(): Promise<void> {
    const room = this.room;
    if (!room) return;
    try {
      await room.raiseHand(room.hand === undefined);
    } catch (error) {
      this.notify(messageOf(error), 'warn');
    }
  }

  async react(emoji: Reaction): Promise<void> {
    if (this.watching) return;
    try {
      await this.room?.react(emoji);
    } catch (error) {
      this.notify(
        error instanceof ServerError && error.code === 'TOO_MANY_REACTIONS'
          ? 'Easy there: five reactions in ten seconds at most.'
          : messageOf(error),
        'warn',
      );
    }
  }

  lowerHand(participantId: string): Promise<void> {
    return this.#host(() => this.room?.lowerHand(participantId));
  }

  #float(participantId: string, emoji: Reaction): void {
    const entry = { id: this.#nextReaction++, participantId, emoji };
    this.reactions = [...this.reactions, entry].slice(-MAX_FLOATING);
    const timer = setTimeout(() => {
      this.#reactionTimers.delete(timer);
      this.reactions = this.reactions.filter((r) => r !== entry);
      this.changed();
    }, REACTION_MS);
    this.#reactionTimers.add(timer);
    this.changed();
  }

  /** The tile (`TileModel.key`) this person pinned: shown large whoever speaks. For them only. */
  pinned: string | undefined;

  pin(key: string | undefined): void {
    this.pinned = key;
    this.changed();
  }

  /** How loud this person hears `participantId` (0…1); their own choice, nobody else's. */
  volumeOf(participantId: string): number {
    return this.#audio.volumeOf(participantId);
  }

  /** Tells the server the size a remote video is shown at (0×0: not seen), so it sends the layer that fits. */
  videoSize(track: MediaStreamTrack, width: number, height: number): void {
    const room = this.room;
    if (!room) return;
    for (const p of room.participants.values())
      for (const t of p.tracks.values())
        if (t.mediaTrack === track) {
          room.setVideoSize(t.id, width, height);
          return;
        }
  }

  setVolume(participantId: string, volume: number): void {
    this.#audio.setVolume(participantId, volume);
  }

  /** The output the call's sound plays on ('' is the system's default). */
  get speakerId(): string {
    return this.#audio.speakerId;
  }

  async useSpeaker(deviceId: string): Promise<void> {
    if (await this.#audio.useSpeaker(deviceId)) savePreferences({ speakerId: deviceId });
    else this.notify('The browser did not switch the sound to that output.', 'warn');
  }

  /** Noise suppression on the microphone (remembered for the next calls). */
  get noiseSuppression(): NoiseSuppression {
    return loadPreferences().noiseSuppression;
  }

  async setNoiseSuppression(mode: NoiseSuppression): Promise<void> {
    savePreferences({ noiseSuppression: mode });
    this.changed();
    // Chromium takes a change of its audio processing only when the microphone is opened afresh: an
    // applyConstraints on the open track is accepted and ignored, and a second track of the same device
    // shares the first one's processing. So the microphone is closed, opened again and swapped in.
    await this.#exclusive('mic', async () => {
      const room = this.room;
      const local = this.mic;
      const track = local?.track;
      if (!room || !local || !track || track.readyState !== 'live') return;
      this.#mutedSpeech.stop();
      this.#speakers.unwatch(OWN_MIC);
      const deviceId = sourceOf(track).getSettings().deviceId ?? this.micId;
      releaseTrack(track);
      const fresh = await this.#open('microphone', deviceId);
      if (!fresh) return;
      await room.replaceTrack(local, fresh);
      this.#speakers.watch(OWN_MIC, SELF, fresh);
      this.#followMute();
    });
  }

  /** What others see behind this person (remembered for the next calls). */
  get background(): Background {
    return loadPreferences().background;
  }

  /** Blurs the background, or shows it again, on the camera being sent: no renegotiation, the device stays open. */
  async setBackground(mode: Background): Promise<void> {
    savePreferences({ background: mode });
    this.changed();
    await this.#exclusive('camera', async () => {
      const room = this.room;
      const local = this.camera;
      const track = local?.track;
      if (!room || !local || !track || !this.cameraOn || track.readyState !== 'live') return;
      const source = sourceOf(track);
      const next = mode === 'blur' ? await this.#processed('camera', source) : source;
      if (next === track) return;
      await room.replaceTrack(local, next);
      // The old processing ends; the device goes on feeding the new one.
      if (track !== source) unwrap(track);
    });
  }

  /** How `participantId`'s media reaches this client (loss, jitter, frozen video), once measured. */
  linkQuality(participantId: string): LinkQuality | undefined {
    return this.#quality.byParticipant.get(participantId);
  }

  /** This client's own connection to the server, once measured. */
  get ownQuality(): OwnQuality | undefined {
    return this.#quality.own;
  }

  /** The microphone is muted and hears someone talking: "You are muted". */
  get talkingWhileMuted(): boolean {
    return this.#mutedSpeech.shown;
  }

  dismissMutedNudge(): void {
    this.#mutedSpeech.dismiss();
  }

  /** Listens for speech on the muted microphone, or stops listening once it is on. */
  #followMute(): void {
    const track = this.mic?.track;
    if (!this.micOn && track && track.readyState === 'live') this.#mutedSpeech.listen(track);
    else this.#mutedSpeech.stop();
  }

  /** Participant ids (or SELF) whose audio is above the speaking threshold, held briefly. */
  get speaking(): ReadonlySet<string> {
    return this.#speakers.speaking;
  }

  /** The participant shown large in speaker view. */
  get activeSpeaker(): string | undefined {
    return this.#speakers.active;
  }

  /** The browser holds remote sound back until the person interacts with the page. */
  get audioBlocked(): boolean {
    return this.#audio.blocked;
  }

  /** Starts held-back sound; call it from a click or key press. */
  enableAudio(): Promise<void> {
    return this.#audio.enable();
  }

  get selfId(): string {
    return this.room?.participantId ?? '';
  }

  get remotes(): RemoteParticipant<MediaStreamTrack>[] {
    return this.room ? [...this.room.participants.values()] : [];
  }

  /** The local camera while it is on, for the self view. */
  get selfVideo(): MediaStreamTrack | undefined {
    const track = this.camera?.track ?? this.#pendingCamera;
    return this.cameraOn && track?.readyState === 'live' ? track : undefined;
  }

  /** Connects and publishes. Opening the devices and connecting run side by side. */
  async start(): Promise<void> {
    let room: Room<MediaStreamTrack>;
    try {
      room = await connect({
        url: this.options.serverUrl,
        room: this.options.room,
        name: this.options.name,
        token: this.options.token,
        password: this.options.password,
        ...(this.options.card ? { card: this.options.card } : {}),
        ...(this.options.viewer ? { viewer: true } : {}),
      });
    } catch (error) {
      const media = await this.options.media;
      media.camera?.stop();
      media.microphone?.stop();
      this.#fail(failureOf(error));
      return;
    }
    if (this.#leaving) {
      void room.leave();
      return;
    }
    this.room = room;
    this.#lastRoomState = room.roomState;
    this.#watch(room);
    if (room.roomState.recording) this.notify('This call is being recorded.', 'info');
    this.#quality.start(room);
    // The output chosen in an earlier call, if this machine still has it.
    const speaker = loadPreferences().speakerId;
    if (speaker) void this.#audio.useSpeaker(speaker);
    this.status = room.state === 'connected' ? 'connected' : 'reconnecting';
    this.changed();
    const media = await this.options.media;
    Object.assign(this.problems, media.problems);
    for (const [kind, problem] of Object.entries(media.problems) as [DeviceKind, DeviceProblem][]) {
      this.notify(problemMessage(kind, problem), 'warn');
    }
    if (!media.microphone) this.micOn = false;
    if (!media.camera) this.cameraOn = false;
    const jobs: Promise<unknown>[] = [];
    if (media.microphone) {
      const microphone = await this.#processed('microphone', media.microphone);
      microphone.enabled = this.micOn;
      jobs.push(
        room.publishTrack(microphone, 'microphone', { muted: !this.micOn }).then((local) => {
          this.mic = local;
          this.#speakers.watch(OWN_MIC, SELF, microphone);
          this.#followMute();
        }),
      );
    }
    if (media.camera && this.cameraOn) {
      const camera = await this.#processed('camera', media.camera);
      this.#pendingCamera = camera;
      jobs.push(
        room.publishTrack(camera, 'camera', { simulcast: true }).then((local) => {
          this.camera = local;
        }),
      );
    } else {
      media.camera?.stop();
    }
    this.changed();
    const results = await Promise.allSettled(jobs);
    for (const r of results)
      if (r.status === 'rejected') this.notify(`Could not send media: ${messageOf(r.reason)}`);
    this.#speakers.start();
    this.ready = true;
    this.changed();
  }

  /** How many things others put on the whiteboard while this person had it closed. */
  boardNews = 0;
  #boardOpen = false;

  /** The whiteboard is on this person's screen (what others drew is seen), or not. */
  setBoardOpen(open: boolean): void {
    this.#boardOpen = open;
    if (open && this.boardNews > 0) {
      this.boardNews = 0;
      this.changed();
    }
  }

  /** Counts what others add to the board (its items) while it is closed; a host's clear starts anew. */
  #watchBoard(room: Room<MediaStreamTrack>): () => void {
    let unbind = () => {};
    const bind = () => {
      unbind();
      const doc = room.board.doc;
      const items = doc.getArray('items');
      const observer = (event: { changes: { added: Set<unknown> } }, tx: { origin: unknown }) => {
        if (tx.origin === doc.clientID || this.#boardOpen) return;
        this.boardNews += event.changes.added.size;
        this.changed();
      };
      items.observe(observer);
      unbind = () => items.unobserve(observer);
    };
    bind();
    const off = room.board.on('cleared', () => {
      this.boardNews = 0;
      bind();
      this.changed();
    });
    return () => {
      off();
      unbind();
    };
  }

  #watch(room: Room<MediaStreamTrack>): void {
    const changed = () => this.changed();
    const on = this.#disposers;
    on.push(this.#watchBoard(room));
    on.push(
      // While this client rejoins (after a restart), the people it had are replaced by the same people
      // under new ids, some of them a little later: that is no news to announce.
      room.on('participantJoined', (p) => {
        this.#names.set(p.id, p.name);
        if (!this.#returning.delete(p.name)) this.notify(`${p.name} joined`, 'info');
        this.#speakers.offer(p.id);
      }),
      room.on('participantLeft', (p) => {
        if (room.state === 'reconnecting') this.#returning.add(p.name);
        else this.notify(`${p.name} left`, 'info');
        this.#speakers.forget(p.id, this.remotes[0]?.id);
        this.#audio.forget(p.id);
        if (this.pinned?.startsWith(`${p.id}:`)) this.pinned = undefined;
      }),
      room.on('participantState', changed),
      room.on('participantCard', changed),
      room.on('hand', (id, hand, by) => {
        const who = id === room.participantId ? undefined : room.participants.get(id)?.name;
        if (hand !== undefined && who) this.notify(`${who} raised a hand`, 'info');
        // A hand in the audience is for the hosts, who may bring that viewer on stage.
        const viewer = room.audienceHands.get(id);
        if (hand !== undefined && viewer && this.isHost)
          this.notify(`${viewer.name} raised a hand in the audience`, 'info');
        if (hand === undefined && id === room.participantId && by && by !== room.participantId)
          this.notify('A host lowered your hand.', 'info');
        this.changed();
      }),
      room.on('reaction', (id, emoji) => this.#float(id === room.participantId ? SELF : id, emoji)),
      room.on('trackPublished', changed),
      room.on('trackUnpublished', changed),
      room.on('trackMuted', changed),
      room.on('trackSubscribed', (track, p) => {
        if (track.kind === 'audio' && track.mediaTrack) this.#hear(track.id, p.id, track.mediaTrack);
      }),
      room.on('trackUnsubscribed', (track) => {
        this.#audio.stop(track.id);
        this.#speakers.unwatch(track.id);
      }),
      room.on('chat', changed),
      room.on('file', changed),
      room.on('connectionState', (state) => {
        if (state === 'connected') this.status = 'connected';
        else if (state === 'reconnecting') this.status = 'reconnecting';
        else if (!this.#leaving) {
          this.#release();
          this.#fail(endedFailure(this.#endedBy));
        }
        this.changed();
      }),
      room.on('error', (error) => {
        // The whiteboard's refusals, in words (the change is taken back on the board).
        if (error instanceof ServerError && error.code === 'BOARD_FULL')
          return this.notify(
            'The whiteboard is full: what you added last was taken back. A host can clear it.',
          );
        if (error instanceof ServerError && error.code === 'BOARD_READ_ONLY')
          return this.notify('A host made the whiteboard view-only: your change was taken back.');
        this.notify(messageOf(error), 'warn');
      }),
      room.on('ended', (reason) => {
        this.#endedBy = reason;
      }),
      room.on('localTrackMuted', (local) => {
        if (local !== this.mic) return;
        this.micOn = false;
        this.#followMute();
        this.notify('A host muted your microphone. Unmute when you want to speak.', 'info');
      }),
      room.on('viewers', () => this.changed()),
      room.on('stage', (onStage) => this.#stage(onStage)),
      room.on('roleChanged', (id, role) => {
        if (id === room.participantId && role === 'host')
          this.notify('You are now a host of this room.', 'info');
        this.changed();
      }),
      room.on('roomState', (state) => {
        // One message says every change of the room's state: tell only what changed.
        const before = this.#lastRoomState;
        this.#lastRoomState = state;
        if (state.locked !== before.locked)
          this.notify(
            state.locked ? 'The room is locked: nobody new can join.' : 'The room is open again.',
            'info',
          );
        if (!!state.boardLocked !== !!before.boardLocked)
          this.notify(
            state.boardLocked
              ? room.role === 'host'
                ? 'The whiteboard is view-only for guests.'
                : 'A host made the whiteboard view-only.'
              : 'Everyone can draw on the whiteboard again.',
            'info',
          );
        if (state.spotlight !== before.spotlight) {
          const who =
            state.spotlight === room.participantId
              ? 'You are'
              : `${room.participants.get(state.spotlight ?? '')?.name ?? 'Someone'} is`;
          this.notify(state.spotlight ? `${who} in the spotlight.` : 'The spotlight is off.', 'info');
        }
        this.changed();
      }),
      room.on('recording', (event) => {
        const who =
          event.by && event.by !== room.participantId ? room.participants.get(event.by)?.name : undefined;
        if (event.state === 'started') {
          this.notify(who ? `Recording started by ${who}.` : 'Recording started.', 'info');
          return;
        }
        const stopped = recordingStopped(event.reason, event.error, who);
        this.notify(stopped.text, stopped.failed ? 'warn' : 'info');
      }),
    );
    for (const event of [
      'participantJoined',
      'participantLeft',
      'trackSubscribed',
      'trackUnsubscribed',
    ] as const) {
      on.push(room.on(event, changed));
    }
    for (const p of room.participants.values()) {
      this.#names.set(p.id, p.name);
      for (const t of p.tracks.values())
        if (t.kind === 'audio' && t.mediaTrack) this.#hear(t.id, p.id, t.mediaTrack);
    }
    this.#speakers.offer(room.participants.keys().next().value);
  }

  #hear(trackId: string, participantId: string, track: MediaStreamTrack): void {
    this.#audio.play(trackId, participantId, track);
    this.#speakers.watch(trackId, participantId, track);
  }

  async toggleMic(): Promise<void> {
    await this.#exclusive('mic', async () => {
      const room = this.room;
      if (!room || this.watching) return;
      if (this.mic && this.mic.track.readyState === 'live') {
        room.setMuted(this.mic, this.micOn);
        this.micOn = !this.micOn;
        this.#followMute();
        return;
      }
      const track = await this.#open('microphone', this.micId);
      if (!track) return;
      if (this.mic) {
        await room.replaceTrack(this.mic, track);
        room.setMuted(this.mic, false);
      } else {
        this.mic = await room.publishTrack(track, 'microphone');
      }
      this.#speakers.watch(OWN_MIC, SELF, track);
      this.micOn = true;
      this.#followMute();
    });
  }

  async toggleCamera(): Promise<void> {
    await this.#exclusive('camera', async () => {
      const room = this.room;
      if (!room || this.watching) return;
      if (this.cameraOn && this.camera) {
        // Tell everyone first (their tile shows initials at once), then let go of the device: light off.
        room.setMuted(this.camera, true);
        releaseTrack(this.camera.track);
        this.cameraOn = false;
        return;
      }
      const track = await this.#open('camera', this.cameraId);
      if (!track) return;
      if (this.camera) {
        await room.replaceTrack(this.camera, track);
        room.setMuted(this.camera, false);
      } else {
        this.camera = await room.publishTrack(track, 'camera', { simulcast: true });
      }
      this.cameraOn = true;
    });
  }

  /** Switches to another camera or microphone during the call, without interrupting the others. */
  async useDevice(kind: DeviceKind, deviceId: string): Promise<void> {
    await this.#exclusive(kind === 'camera' ? 'camera' : 'mic', async () => {
      if (kind === 'camera') this.cameraId = deviceId;
      else this.micId = deviceId;
      const room = this.room;
      const local = kind === 'camera' ? this.camera : this.mic;
      const on = kind === 'camera' ? this.cameraOn : this.micOn;
      if (!room || !local || (kind === 'camera' && !on)) return;
      const track = await this.#open(kind, deviceId);
      if (!track) return;
      const old = local.track;
      await room.replaceTrack(local, track);
      releaseTrack(old);
      if (kind === 'microphone') {
        this.#speakers.watch(OWN_MIC, SELF, track);
        this.#followMute();
      }
    });
  }

  get canShareScreen(): boolean {
    return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  }

  async toggleScreen(): Promise<void> {
    await this.#exclusive('screen', async () => {
      if (this.screenOn) return this.#stopScreen();
      const room = this.room;
      if (!room || this.watching) return;
      let stream: MediaStream;
      try {
        stream = await navigator.mediaDevices.getDisplayMedia({
          video: { frameRate: { ideal: 15, max: 30 } },
          audio: true,
        });
      } catch (error) {
        // NotAllowedError is the person closing the picker: nothing to say.
        if ((error as Error).name !== 'NotAllowedError')
          this.notify(`Screen sharing failed: ${messageOf(error)}`);
        return;
      }
      const video = stream.getVideoTracks()[0];
      if (!video) return;
      video.contentHint = 'detail';
      this.screenOn = true;
      this.changed();
      // The browser's own "Stop sharing" button ends the track.
      video.addEventListener('ended', () => void this.#exclusive('screen', () => this.#stopScreen()));
      this.screen = await room.publishTrack(video, 'screen');
      const audio = stream.getAudioTracks()[0];
      if (audio) this.screenAudio = await room.publishTrack(audio, 'screenAudio');
    });
  }

  async #stopScreen(): Promise<void> {
    if (!this.screenOn) return;
    this.screenOn = false;
    const locals = [this.screen, this.screenAudio];
    this.screen = undefined;
    this.screenAudio = undefined;
    this.changed();
    for (const local of locals) {
      if (!local) continue;
      local.track.stop();
      await this.room?.unpublishTrack(local);
    }
  }

  sendChat(text: string): void {
    this.room?.sendChat(text);
  }

  /** Files sent and received now, with their progress, and those that failed. */
  readonly transfers = new Transfers();
  /** Names of everyone seen in this call, by participant id: a file's recipient may have left since. */
  readonly #names = new Map<string, string>();

  /** The files in the room this person may download (the ones from before they joined too), oldest first. */
  get files(): readonly SharedFile[] {
    return this.room?.files ?? [];
  }

  /** The name of a participant who is, or was, in the call with this person. */
  nameOf(participantId: string): string | undefined {
    return this.room?.participants.get(participantId)?.name ?? this.#names.get(participantId);
  }

  /**
   * Sends `file` to everyone, or to one person (`to`: their participant id). Its progress is in
   * `transfers`; a refusal becomes a line in the chat. Everyone it is for, this person included, then
   * hears of it from the server (`file`).
   */
  sendFile(file: File, to?: string): void {
    const room = this.room;
    if (!room) return;
    const toName = to ? this.nameOf(to) : undefined;
    const query = new URLSearchParams({ name: file.name, ...(to ? { to } : {}) });
    let sending: Sending | undefined;
    const transfer = this.transfers.begin({
      kind: 'upload',
      name: file.name,
      size: file.size,
      ...(toName ? { toName } : {}),
      cancel: () => sending?.abort(),
    });
    sending = sendBytes(`${this.#filesUrl(room)}?${query}`, room.fileToken, file, (sent) =>
      this.transfers.progress(transfer, sent),
    );
    sending.done.then(
      () => this.transfers.end(transfer),
      (error) => {
        this.transfers.end(transfer);
        if (!isAbort(error)) this.transfers.fail(fileProblem(error, file.name, true, toName));
      },
    );
  }

  /**
   * The bytes of a file sent in the room, with the file token; `onProgress(received, total)` as they
   * come. Rejects with the server's refusal, or an AbortError when `signal` stops it.
   */
  downloadFile(
    file: SharedFile,
    onProgress?: (received: number, total: number) => void,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<Blob> {
    const room = this.room;
    if (!room) return Promise.reject(new Error('you are not in the call'));
    const url = `${this.#filesUrl(room)}/${encodeURIComponent(file.id)}`;
    return receiveBytes(url, room.fileToken, file.size, signal, onProgress);
  }

  /** Pictures fetched for their previews, by file id, oldest first: within PREVIEW_BUDGET bytes in all. */
  readonly #previews = new Map<string, { fetched: Promise<Blob>; blob?: Blob }>();

  /**
   * A picture's bytes for its preview in the chat: fetched once in the call, not each time the chat
   * opens (the server counts every request against a per-address limit), and kept for its Download.
   */
  previewFile(file: SharedFile): Promise<Blob> {
    const kept = this.#previews.get(file.id);
    if (kept) return kept.fetched;
    const entry: { fetched: Promise<Blob>; blob?: Blob } = { fetched: this.downloadFile(file) };
    this.#previews.set(file.id, entry);
    entry.fetched.then(
      (blob) => {
        entry.blob = blob;
      },
      () => {
        // Refused or lost: the next time the chat shows it asks again.
        if (this.#previews.get(file.id) === entry) this.#previews.delete(file.id);
      },
    );
    // The oldest go first once the pictures kept pass the budget (this one is kept in any case).
    let total = 0;
    const sizes = new Map(this.files.map((f) => [f.id, f.size]));
    for (const id of [...this.#previews.keys()].reverse()) {
      total += sizes.get(id) ?? 0;
      if (total > PREVIEW_BUDGET && id !== file.id) this.#previews.delete(id);
    }
    return entry.fetched;
  }

  /** Downloads a file (its progress in `transfers`, a Cancel stops it) and saves it under its name. */
  async saveFile(file: SharedFile): Promise<void> {
    if (this.transfers.download(file.id)) return;
    // A picture already fetched for its preview is saved as it is.
    const preview = this.#previews.get(file.id)?.blob;
    if (preview) return saveBlob(preview, file.name);
    const stop = new AbortController();
    const transfer = this.transfers.begin({
      id: file.id,
      kind: 'download',
      name: file.name,
      size: file.size,
      cancel: () => stop.abort(),
    });
    try {
      const blob = await this.downloadFile(
        file,
        (received, total) => this.transfers.progress(transfer, received, total),
        stop.signal,
      );
      saveBlob(blob, file.name);
    } catch (error) {
      if (!isAbort(error)) this.transfers.fail(fileProblem(error, file.name, false));
    } finally {
      this.transfers.end(transfer);
    }
  }

  /** `<server>/rooms/<room>/files`: where the room's files are sent and fetched. */
  #filesUrl(room: Room<MediaStreamTrack>): string {
    return `${new URL(this.options.serverUrl).origin}/rooms/${encodeURIComponent(room.name)}/files`;
  }

  get isHost(): boolean {
    return this.room?.role === 'host';
  }

  // Host controls: the server checks the role; a refusal comes back as a notice.

  muteParticipant(participantId: string): Promise<void> {
    return this.#host(() => this.room?.muteParticipant(participantId));
  }

  removeParticipant(participantId: string): Promise<void> {
    return this.#host(() => this.room?.removeParticipant(participantId));
  }

  lockRoom(locked: boolean): Promise<void> {
    return this.#host(() => this.room?.lockRoom(locked));
  }

  /** This person's calling card as the room has it (before joining: the one it will be sent). */
  get card(): ParticipantCard | undefined {
    return this.room ? this.room.card : this.options.card;
  }

  /** Replaces this person's calling card for everyone in the room; says so, or why not. */
  async setCard(card: ParticipantCard | undefined): Promise<boolean> {
    this.options.card = card;
    if (!this.room) return true;
    try {
      await this.room.setCard(card ?? null);
      this.notify(card ? 'Your card is updated.' : 'Your card is removed.', 'info');
      return true;
    } catch (error) {
      this.notify(`Your card was not updated: ${messageOf(error)}`, 'warn');
      return false;
    } finally {
      this.changed();
    }
  }

  listRoom(listed: boolean, topic?: string): Promise<void> {
    return this.#host(() => this.room?.listRoom(listed, topic));
  }

  setRoomPassword(password: string | null): Promise<void> {
    return this.#host(async () => {
      await this.room?.setRoomPassword(password);
      this.notify(
        password ? 'Room password set. Give it to the people you invite.' : 'Room password removed.',
        'info',
      );
    });
  }

  endRoom(): Promise<void> {
    return this.#host(() => this.room?.endRoom());
  }

  async #host(action: () => Promise<void> | undefined): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.notify(messageOf(error));
    } finally {
      this.changed();
    }
  }

  notify(text: string, tone: Notice['tone'] = 'warn'): void {
    const notice = { id: this.#nextNoticeId++, text, tone };
    this.notices = [...this.notices.slice(-3), notice];
    this.changed();
    setTimeout(() => this.dismiss(notice.id), NOTICE_MS);
  }

  dismiss(id: number): void {
    const before = this.notices.length;
    this.notices = this.notices.filter((n) => n.id !== id);
    if (this.notices.length !== before) this.changed();
  }

  /** Leaves the call: the others see this participant go at once, the devices are released. */
  async leave(): Promise<void> {
    if (this.#leaving) return;
    this.#leaving = true;
    // The SDK sends `leave` before its first await: the others hear of it before anything else happens.
    const left = this.room?.leave();
    this.#release();
    this.status = 'left';
    this.changed();
    await left;
  }

  async #open(kind: DeviceKind, deviceId: string | undefined): Promise<MediaStreamTrack | undefined> {
    try {
      const track = await acquireOne(kind, deviceId);
      delete this.problems[kind];
      return await this.#processed(kind, track);
    } catch (error) {
      const problem = error instanceof DeviceError ? error.problem : 'other';
      this.problems[kind] = problem;
      this.notify(problemMessage(kind, problem));
      return undefined;
    }
  }

  /**
   * The device's track with the processing chosen in Settings (background blur, noise removal), or the
   * track itself when none is chosen or the processing cannot start here (then the person is told).
   */
  async #processed(kind: DeviceKind, track: MediaStreamTrack): Promise<MediaStreamTrack> {
    const preferences = loadPreferences();
    try {
      if (kind === 'camera' && preferences.background === 'blur') return await blurBackground(track);
      if (kind === 'microphone' && preferences.noiseSuppression === 'rnnoise')
        return await removeNoise(track);
    } catch (error) {
      const what = kind === 'camera' ? 'Background blur' : 'Noise removal';
      this.notify(`${what} could not start, so it is off: ${messageOf(error)}`, 'warn');
    }
    return track;
  }

  /** Runs one device action at a time per device, so double clicks cannot interleave. */
  async #exclusive(what: string, action: () => Promise<void>): Promise<void> {
    if (this.#busy.has(what)) return;
    this.#busy.add(what);
    try {
      await action();
    } catch (error) {
      this.notify(messageOf(error));
    } finally {
      this.#busy.delete(what);
      this.changed();
    }
  }

  #fail(failure: Failure): void {
    this.failure = failure;
    this.status = 'failed';
    this.changed();
  }

  /** Stops what this person sends (and its processing), and lets the devices go. */
  #releaseOwnTracks(): void {
    for (const local of [this.mic, this.camera, this.screen, this.screenAudio])
      if (local) releaseTrack(local.track);
  }

  /** Stops local devices, remote audio and level sampling; the SDK room is left by the caller. */
  #release(): void {
    this.#speakers.stop();
    this.#mutedSpeech.stop();
    this.#quality.stop();
    for (const timer of this.#reactionTimers) clearTimeout(timer);
    this.#reactionTimers.clear();
    this.#audio.close();
    this.transfers.cancelAll();
    this.#previews.clear();
    for (const off of this.#disposers.splice(0)) off();
    this.#releaseOwnTracks();
    void Promise.resolve(this.options.media).then((m) => {
      m.camera?.stop();
      m.microphone?.stop();
    });
  }
}
