import type { Logger } from 'pino';
import { OPEN_GUEST } from '../../auth/authorizeJoin.js';
import { CodedError } from '../../common/errors.js';
import type { Member, MemberSink, RoomHost } from '../../host/RoomHost.js';
import { displayName, roomName as roomNameSchema } from '../../protocol/messages.js';
import { parseDtmfRelay } from './dtmf.js';
import { SipMedia } from './SipMedia.js';
import {
  header,
  headers,
  parseCSeq,
  parseNameAddr,
  parseSipUri,
  type SipRequest,
  type SipResponse,
} from './SipMessage.js';
import type { SipPeer, SipWire } from './SipTransport.js';
import { makeRequest, makeResponse, newBranch, newTag } from './sipBuild.js';
import {
  buildAnswer,
  buildOffer,
  type Negotiated,
  negotiate,
  parseSdp,
  SdpNegotiationError,
} from './sipSdp.js';
import { PIN_OK, PIN_PROMPT, PIN_WRONG } from './tones.js';
import { type ServerTransaction, T1, T2 } from './transactions.js';

export interface SipCallSettings {
  /** Secured server: callers only join rooms that exist. */
  secured: boolean;
  /** Ring (180) this long before answering. */
  ringMs: number;
  rtpHost: string;
  rtpMinPort: number;
  rtpMaxPort: number;
  pinAttempts: number;
  pinTimeoutMs: number;
  /** Hang up when no RTP came for this long (0: never). */
  rtpTimeoutMs: number;
  maxParticipants: number;
}

/** What a call needs from its gateway. */
export interface CallContext {
  transport: SipWire;
  rooms: RoomHost;
  settings: SipCallSettings;
  log: Logger;
  localAddress(peer: SipPeer): Promise<string>;
  /** Sends a request in a client transaction; resolves with the final response, or undefined on timeout. */
  request(request: SipRequest, branch: string, peer: SipPeer): Promise<SipResponse | undefined>;
  ended(call: SipCall): void;
}

/** A SIP refusal: status and the reason given in a Warning header (RFC 3261 §20.43). */
export class SipRefusal extends Error {
  override name = 'SipRefusal';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type CallState = 'starting' | 'answered' | 'confirmed' | 'ended';

const hostPort = (address: string, port: number) =>
  `${address.includes(':') ? `[${address}]` : address}:${port}`;

/**
 * One phone call into a room (RFC 3261 UAS dialog). The caller joins the room as an ordinary
 * participant: it hears the room's mix and the room hears it as an Opus track. Rooms with a password
 * first ask for it as a PIN typed on the keypad (RFC 4733 events or SIP INFO), ended with #.
 */
export class SipCall {
  readonly callId: string;
  readonly localTag = newTag();
  readonly remoteTag: string;
  readonly peer: SipPeer;
  readonly roomName: string;
  state: CallState = 'starting';
  /** The caller in the room, once joined. */
  participant: Member | undefined;
  media: SipMedia | undefined;
  /** Why the call ended: 'caller' (BYE/CANCEL), 'server', 'pin', 'timeout', 'refused'. */
  endReason: string | undefined;
  readonly #ctx: CallContext;
  readonly #invite: ServerTransaction;
  readonly #remoteUri: string;
  readonly #remoteTarget: string;
  readonly #routeSet: string[];
  readonly #callerName: string;
  #localCseq = Math.floor(Math.random() * 10_000) + 1;
  #remoteCseq: number;
  #sdpVersion = 1;
  readonly #sdpSessionId = Math.floor(Math.random() * 1e9);
  #localSdp = '';
  #negotiated: Negotiated | undefined;
  #awaitingAnswer = false;
  #final: SipResponse | undefined;
  #retransmitTimer: NodeJS.Timeout | undefined;
  #timers = new Set<NodeJS.Timeout>();
  #pin = '';
  #pinAttempts = 0;
  /** A join is under way (a PIN was right): more digits are not another try. */
  #joining = false;
  #offs: (() => void)[] = [];
  /** Resolves once the call has joined its room or ended. */
  readonly settled: Promise<void>;
  #settle!: () => void;

  constructor(ctx: CallContext, invite: ServerTransaction, roomName: string) {
    this.#ctx = ctx;
    this.#invite = invite;
    this.peer = invite.peer;
    this.roomName = roomName;
    const request = invite.request;
    this.callId = header(request, 'call-id')!;
    const from = parseNameAddr(header(request, 'from')!);
    this.remoteTag = from?.params.get('tag') ?? '';
    this.#remoteUri = header(request, 'from')!;
    this.#remoteCseq = parseCSeq(header(request, 'cseq')!)!.seq;
    const contact = parseNameAddr(header(request, 'contact') ?? '');
    this.#remoteTarget = contact?.uri ?? parseNameAddr(header(request, 'from')!)?.uri ?? request.uri;
    // §12.1.1: the UAS route set is the Record-Route list in order.
    this.#routeSet = headers(request, 'record-route');
    const fromUri = parseSipUri(from?.uri ?? '');
    const named = displayName.safeParse(from?.display?.replace(/\\(.)/g, '$1') ?? fromUri?.user ?? '');
    this.#callerName = named.success ? named.data : 'Phone';
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  get key(): string {
    return `${this.callId}|${this.remoteTag}`;
  }

  get inviteTransaction(): ServerTransaction {
    return this.#invite;
  }

  /** Answers the INVITE: checks the room and the SDP, opens media, rings if asked, then 200 OK. */
  async start(): Promise<void> {
    const { settings, rooms, log } = this.#ctx;
    const request = this.#invite.request;
    try {
      if (!roomNameSchema.safeParse(this.roomName).success)
        throw new SipRefusal(404, `no room "${this.roomName.slice(0, 64)}": call sip:<room>@<host>`);
      if (settings.secured) {
        // A phone has no access token: in secured mode its credential is the room password, as a PIN.
        if (rooms.roomSize(this.roomName) === undefined)
          throw new SipRefusal(404, `room "${this.roomName}" does not exist`);
        if (!rooms.needsPin(this.roomName))
          throw new SipRefusal(403, 'this room takes phone calls only with a PIN: give it a room password');
      }
      let offer: ReturnType<typeof parseSdp> | undefined;
      if (request.body.length > 0) {
        const type = (header(request, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/sdp')
          throw new SipRefusal(415, `cannot read a body of type ${type || '(none)'}`);
        try {
          offer = parseSdp(request.body.toString('utf8'));
          this.#negotiated = negotiate(offer);
        } catch (error) {
          if (error instanceof SdpNegotiationError) throw new SipRefusal(488, error.message);
          throw error;
        }
      }
      this.#checkCapacity();
      this.media = await SipMedia.open(
        settings.rtpHost,
        settings.rtpMinPort,
        settings.rtpMaxPort,
        log.child({ room: this.roomName, callId: this.callId }),
      );
      if (this.state === 'ended') return this.#cleanup();
      const address = await this.#ctx.localAddress(this.peer);
      const sdpOptions = {
        address,
        port: this.media.port,
        sessionId: this.#sdpSessionId,
        version: this.#sdpVersion,
      };
      if (offer && this.#negotiated) {
        this.#localSdp = buildAnswer(offer, this.#negotiated, sdpOptions);
        this.#configureMedia(this.#negotiated);
      } else {
        // §13.2.1: no offer in the INVITE, so the 200 carries ours and the ACK the answer.
        this.#localSdp = buildOffer(sdpOptions);
        this.#awaitingAnswer = true;
      }
      if (settings.ringMs > 0) {
        this.#invite.respond(
          makeResponse(request, 180, {
            toTag: this.localTag,
            headers: [['Contact', this.#contact(address)]],
          }),
        );
        await new Promise((resolve) => this.#after(settings.ringMs, () => resolve(undefined)));
        if ((this.state as CallState) === 'ended') return;
      }
      const needsPin = this.#ctx.rooms.needsPin(this.roomName);
      if (!needsPin) await this.#join(false);
      if ((this.state as CallState) === 'ended') return;
      this.#sendFinal2xx(
        makeResponse(request, 200, {
          toTag: this.localTag,
          headers: [
            ['Contact', this.#contact(address)],
            ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO'],
            ['Supported', ''],
          ].filter(([, v]) => v !== '') as [string, string][],
          body: Buffer.from(this.#localSdp),
        }),
      );
      this.state = 'answered';
      log.info(
        { room: this.roomName, callId: this.callId, codec: this.media.codec?.name, pin: needsPin },
        'SIP call answered',
      );
      if (needsPin) this.#askPin();
    } catch (error) {
      if (this.state === 'ended') return;
      const refusal =
        error instanceof SipRefusal
          ? error
          : error instanceof CodedError
            ? refusalFor(error)
            : new SipRefusal(500, 'internal error');
      if (!(error instanceof SipRefusal || error instanceof CodedError))
        log.error({ err: error }, 'SIP call failed');
      this.#invite.respond(
        makeResponse(request, refusal.status, {
          toTag: this.localTag,
          warning: refusal.message,
        }),
      );
      this.endReason = 'refused';
      this.state = 'ended';
      this.#cleanup();
    }
  }

  #checkCapacity(): void {
    if ((this.#ctx.rooms.roomSize(this.roomName) ?? 0) >= this.#ctx.settings.maxParticipants)
      throw new SipRefusal(486, 'the room is full');
  }

  #contact(address: string): string {
    const transport = this.peer.transport === 'TCP' ? ';transport=tcp' : '';
    return `<sip:${encodeURIComponent(this.roomName)}@${hostPort(address, this.#ctx.transport.port)}${transport}>`;
  }

  #configureMedia(n: Negotiated): void {
    this.media!.configure(
      n.codec,
      n.dtmfPayloadType,
      { address: n.remoteAddress, port: n.remotePort, direction: n.direction },
      this.peer.address,
    );
    if (!this.#offs.length) {
      this.#offs.push(this.media!.on('dtmf', (digit) => this.#onDigit(digit)));
    }
  }

  /** §13.3.1.4: the 2xx is retransmitted (T1, doubling to T2) until the ACK, for at most 64·T1. */
  #sendFinal2xx(response: SipResponse, tx: ServerTransaction = this.#invite): void {
    this.#final = response;
    tx.respond(response);
    const started = Date.now();
    const again = (interval: number) => {
      this.#retransmitTimer = setTimeout(() => {
        if (!this.#final || this.state === 'ended') return;
        if (Date.now() - started >= 64 * T1) {
          this.#ctx.log.info({ callId: this.callId }, 'SIP call: no ACK, hanging up');
          return void this.hangUp('timeout');
        }
        this.#ctx.transport.respond(this.#final, this.peer);
        again(Math.min(interval * 2, T2));
      }, interval);
    };
    if (this.peer.transport === 'UDP') again(T1);
    else this.#retransmitTimer = setTimeout(() => this.#final && void this.hangUp('timeout'), 64 * T1);
  }

  onAck(ack: SipRequest): void {
    if (this.state === 'ended' || !this.#final) return;
    clearTimeout(this.#retransmitTimer);
    this.#final = undefined;
    if (this.state === 'answered') this.state = 'confirmed';
    if (this.#awaitingAnswer && ack.body.length > 0) {
      this.#awaitingAnswer = false;
      try {
        this.#negotiated = negotiate(parseSdp(ack.body.toString('utf8')));
        this.#configureMedia(this.#negotiated);
      } catch {
        // §13.2.2.4 would have the UAC hang up; an unusable answer leaves us nothing else to do.
        return void this.hangUp('refused');
      }
    }
  }

  /** A retransmitted INVITE after the 2xx: send the 2xx again. */
  onInviteRetransmission(): void {
    if (this.#final) this.#ctx.transport.respond(this.#final, this.peer);
  }

  /** A re-INVITE (§14.2): hold, resume or a new media address; the codec stays. */
  onReInvite(tx: ServerTransaction): void {
    const request = tx.request;
    if (this.#final)
      return tx.respond(
        makeResponse(request, 491, {
          toTag: this.localTag,
          warning: 'the last INVITE is not acknowledged yet',
        }),
      );
    if (!this.#acceptCseq(request))
      return tx.respond(
        makeResponse(request, 500, {
          reason: 'CSeq out of order',
          warning: 'CSeq is not above the last one',
        }),
      );
    if (request.body.length > 0) {
      try {
        const n = negotiate(parseSdp(request.body.toString('utf8')));
        if (this.media?.codec && n.codec.name !== this.media.codec.name)
          throw new SdpNegotiationError(
            `the call uses ${this.media.codec.name}; changing codecs is not supported`,
          );
        this.media?.setRemote({ address: n.remoteAddress, port: n.remotePort, direction: n.direction });
        this.#negotiated = { ...n, codec: this.media?.codec ?? n.codec };
        this.#sdpVersion++;
        this.#localSdp = buildAnswer(parseSdp(request.body.toString('utf8')), this.#negotiated, {
          address: /c=IN IP[46] (\S+)/.exec(this.#localSdp)?.[1] ?? '0.0.0.0',
          port: this.media?.port ?? 0,
          sessionId: this.#sdpSessionId,
          version: this.#sdpVersion,
        });
      } catch (error) {
        const why = error instanceof Error ? error.message : 'bad SDP';
        return tx.respond(makeResponse(request, 488, { warning: why }));
      }
    }
    this.#sendFinal2xx(
      makeResponse(request, 200, { toTag: this.localTag, body: Buffer.from(this.#localSdp) }),
      tx,
    );
  }

  onInfo(tx: ServerTransaction): void {
    const request = tx.request;
    const type = (header(request, 'content-type') ?? '').toLowerCase();
    if (type.startsWith('application/dtmf-relay')) {
      const digit = parseDtmfRelay(request.body.toString('utf8'));
      if (digit) this.#onDigit(digit);
    }
    tx.respond(makeResponse(request, 200));
  }

  /** BYE from the caller. */
  onBye(tx: ServerTransaction): void {
    tx.respond(makeResponse(tx.request, 200));
    this.#end('caller');
  }

  /** CANCEL before the final response (§9.2): 487 to the INVITE. */
  onCancel(): void {
    if (this.#invite.finalSent || this.state === 'ended') return;
    this.#invite.respond(
      makeResponse(this.#invite.request, 487, { toTag: this.localTag, warning: 'cancelled by the caller' }),
    );
    this.#end('caller');
  }

  #acceptCseq(request: SipRequest): boolean {
    const seq = parseCSeq(header(request, 'cseq')!)!.seq;
    if (seq <= this.#remoteCseq) return false;
    this.#remoteCseq = seq;
    return true;
  }

  #askPin(): void {
    this.media?.play(PIN_PROMPT);
    this.#after(this.#ctx.settings.pinTimeoutMs, () => {
      if (!this.participant && this.state !== 'ended') void this.hangUp('pin');
    });
  }

  #onDigit(digit: string): void {
    if (this.participant || this.#joining || this.state === 'ended') return;
    this.media?.play(undefined);
    if (digit !== '#') {
      if (this.#pin.length < 32) this.#pin += digit;
      return;
    }
    const pin = this.#pin;
    this.#pin = '';
    void this.#checkPin(pin);
  }

  async #checkPin(pin: string): Promise<void> {
    let ok = false;
    try {
      ok = await this.#ctx.rooms.checkPin(this.roomName, pin, this.peer.address);
    } catch {
      ok = false;
    }
    if (this.state === 'ended' || this.participant || this.#joining) return;
    if (ok) {
      try {
        await this.#join(true);
        this.media?.play(PIN_OK);
      } catch (error) {
        this.#ctx.log.info({ err: error, callId: this.callId }, 'SIP call could not join after the PIN');
        void this.hangUp('refused');
      }
      return;
    }
    this.#pinAttempts++;
    this.#ctx.log.info(
      { room: this.roomName, callId: this.callId, attempts: this.#pinAttempts },
      'SIP call: wrong PIN',
    );
    this.media?.play(PIN_WRONG);
    if (this.#pinAttempts >= this.#ctx.settings.pinAttempts) {
      this.#after(1000, () => void this.hangUp('pin'));
      return;
    }
    this.#after(1000, () => {
      if (!this.participant && this.state !== 'ended') this.media?.play(PIN_PROMPT);
    });
  }

  /** Joins the room as a participant: hears the room's mix, publishes the caller's voice. */
  async #join(pinChecked: boolean): Promise<void> {
    const sink: MemberSink = {
      send: () => {},
      close: () => void this.hangUp('server'),
    };
    this.#joining = true;
    let member: Member;
    try {
      member = await this.#ctx.rooms.join(
        {
          kind: 'sip',
          room: this.roomName,
          name: this.#callerName,
          grant: OPEN_GUEST,
          address: this.peer.address,
          passwordChecked: pinChecked,
          phone: this.media!,
        },
        sink,
      );
    } finally {
      this.#joining = false;
    }
    // The call ended while it joined (CANCEL, BYE): it leaves at once.
    if (this.state === 'ended') {
      void member.leave('left');
      return;
    }
    this.participant = member;
    this.#settle();
    // The room removed the caller (host, room closed): hang up.
    member.onClosed(() => {
      if (this.state !== 'ended') void this.hangUp('server');
    });
    if (this.#ctx.settings.rtpTimeoutMs > 0) this.#watchRtp();
  }

  #watchRtp(): void {
    const limit = this.#ctx.settings.rtpTimeoutMs;
    const since = Date.now();
    const check = () => {
      const media = this.media;
      if (!media || this.state === 'ended') return;
      const last = media.lastPacketAt || since;
      if (Date.now() - last > limit) return void this.hangUp('timeout');
      this.#after(Math.min(5000, limit), check);
    };
    this.#after(Math.min(5000, limit), check);
  }

  /** Ends the call from this side: BYE once answered (§15.1.1), else a final error response. */
  async hangUp(reason: string): Promise<void> {
    if (this.state === 'ended') return;
    if (this.state === 'starting') {
      this.#invite.respond(
        makeResponse(this.#invite.request, 480, {
          toTag: this.localTag,
          reason: 'Temporarily Unavailable',
          warning: `the call ended before it was answered (${reason})`,
        }),
      );
      return this.#end(reason);
    }
    const bye = this.#bye();
    this.#end(reason);
    await this.#ctx.request(bye.request, bye.branch, bye.peer);
  }

  #bye(): { request: SipRequest; branch: string; peer: SipPeer } {
    const branch = newBranch();
    const address = /c=IN IP[46] (\S+)/.exec(this.#localSdp)?.[1] ?? '127.0.0.1';
    const transport = this.peer.transport;
    const fields: [string, string][] = [
      ['Via', `SIP/2.0/${transport} ${hostPort(address, this.#ctx.transport.port)};branch=${branch};rport`],
      ['From', `${header(this.#invite.request, 'to')!.replace(/;\s*tag=[^;]*/i, '')};tag=${this.localTag}`],
      ['To', this.#remoteUri],
      ['Call-ID', this.callId],
      ['CSeq', `${this.#localCseq++} BYE`],
    ];
    for (const route of this.#routeSet) fields.push(['Route', route]);
    const request = makeRequest('BYE', this.#remoteTarget, fields);
    // Over TCP, reuse the caller's connection; over UDP, send to the first route or the target (§8.1.2).
    let peer: SipPeer = this.peer;
    if (transport === 'UDP') {
      const first = this.#routeSet[0] ? parseNameAddr(this.#routeSet[0])?.uri : undefined;
      const target = parseSipUri(first ?? this.#remoteTarget);
      if (target && /^[0-9a-f:.]+$/i.test(target.host))
        peer = { transport: 'UDP', address: target.host, port: target.port ?? 5060 };
    }
    return { request, branch, peer };
  }

  #after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }

  #end(reason: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endReason = reason;
    this.#ctx.log.info({ room: this.roomName, callId: this.callId, reason }, 'SIP call ended');
    this.#cleanup();
  }

  #cleanup(): void {
    clearTimeout(this.#retransmitTimer);
    this.#final = undefined;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const off of this.#offs) off();
    this.#offs = [];
    this.media?.close();
    const member = this.participant;
    if (member && !member.closed) void member.leave('left');
    this.#ctx.ended(this);
    this.#settle();
  }
}

/** The SIP answer to a room error. */
function refusalFor(error: CodedError): SipRefusal {
  if (error.code === 'ROOM_FULL') return new SipRefusal(486, error.message);
  switch (error.status) {
    case 401:
    case 403:
      return new SipRefusal(403, error.message);
    case 404:
      return new SipRefusal(404, error.message);
    case 429:
      return new SipRefusal(486, error.message);
    case 503:
      return new SipRefusal(503, error.message);
    default:
      return new SipRefusal(500, error.message);
  }
}
