import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RoomRegistry } from '../room/RoomRegistry.js';
import { allowEveryone, type JoinAuthorizer } from './joinAuth.js';
import { registerWhep } from './whep/registerWhep.js';
import { registerWhip } from './whip/registerWhip.js';

export interface GatewayContext {
  config: Config;
  registry: RoomRegistry;
  log: Logger;
  authorize?: JoinAuthorizer;
}

/** The standards gateways of one server: each joins rooms as an ordinary participant. */
export interface Gateways {
  /** Open WHIP sessions by resource id. */
  readonly whip: ReadonlyMap<string, unknown>;
  /** Open WHEP sessions by resource id. */
  readonly whep: ReadonlyMap<string, unknown>;
}

/** Registers WHIP and WHEP on the HTTP app. */
export function registerGateways(app: FastifyInstance, context: GatewayContext): Gateways {
  const { config, registry, log } = context;
  const authorize = context.authorize ?? allowEveryone;
  const sdpMaxBytes = config.limits.sdpMaxBytes;
  const whip = registerWhip(app, { registry, sdpMaxBytes, authorize, log });
  const whep = registerWhep(app, { registry, sdpMaxBytes, authorize, log });
  return { whip, whep };
}
