import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RoomHost } from '../host/RoomHost.js';
import type { GatewayResource } from './httpGateway.js';
import { type JoinAuthorizer, tokenAuthorizer } from './joinAuth.js';
import { SessionCaps } from './sessionCaps.js';
import { SipGateway } from './sip/SipGateway.js';
import type { SipWire } from './sip/SipTransport.js';
import { registerWhep } from './whep/registerWhep.js';
import { registerWhip } from './whip/registerWhip.js';

export interface GatewayContext {
  config: Config;
  host: RoomHost;
  log: Logger;
  authorize?: JoinAuthorizer;
  /** SIP through another thread's sockets (a room worker's gateway): it then binds nothing. */
  sip?: SipWorkerOptions;
}

export interface SipWorkerOptions {
  wire: SipWire;
  onCallEnded: (callId: string) => void;
}

/** The standards gateways of one server: each joins rooms as an ordinary participant. */
export interface Gateways {
  /** Open WHIP sessions by resource id. */
  readonly whip: ReadonlyMap<string, GatewayResource>;
  /** Open WHEP sessions by resource id. */
  readonly whep: ReadonlyMap<string, GatewayResource>;
  /** The SIP gateway when `sip.enabled`; it binds when the server listens and closes with it. */
  readonly sip: SipGateway | undefined;
}

/** Registers WHIP and WHEP on the HTTP app, and the SIP gateway on the app's lifecycle. */
export function registerGateways(app: FastifyInstance, context: GatewayContext): Gateways {
  const { config, host, log } = context;
  const authorize = context.authorize ?? tokenAuthorizer(config);
  const sdpMaxBytes = config.limits.sdpMaxBytes;
  // One count for both: a WHIP and a WHEP session hold the same things (a participant, a UDP socket).
  const caps = new SessionCaps({
    perIp: config.limits.gatewaySessionsPerIp,
    perToken: config.limits.gatewaySessionsPerToken,
  });
  const shared = { host, sdpMaxBytes, limits: config.limits, caps, authorize, log };
  const whip = registerWhip(app, shared);
  const whep = registerWhep(app, shared);
  let sip: SipGateway | undefined;
  if (config.sip.enabled) {
    const gateway = new SipGateway({
      ...config.sip,
      secured: config.auth.mode === 'secured',
      rtpHost: config.sip.host,
      rtpMinPort: config.rtc.minPort,
      rtpMaxPort: config.rtc.maxPort,
      maxParticipants: config.rooms.maxParticipants,
      rooms: host,
      log,
      ...(context.sip ? { wire: context.sip.wire, onCallEnded: context.sip.onCallEnded } : {}),
    });
    if (!context.sip)
      app.addHook('onReady', async () => {
        await gateway.listen();
      });
    app.addHook('onClose', async () => {
      await gateway.close();
    });
    sip = gateway;
  }
  return { whip, whep, sip };
}
