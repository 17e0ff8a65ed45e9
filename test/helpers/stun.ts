import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import type { RTCPeerConnection } from 'werift';

/** STUN messages as a peer (or an attacker who read the SDP) sends them to the server's media port. */

/** The server's ICE ufrag and password, as a client was told them (the answer or offer it applied). */
export function serverCredentials(pc: RTCPeerConnection): {
  ufrag: string;
  pwd: string;
  clientUfrag: string;
} {
  const remote = pc.remoteDescription?.sdp ?? '';
  const local = pc.localDescription?.sdp ?? '';
  const ufrag = /a=ice-ufrag:(\S+)/.exec(remote)?.[1];
  const pwd = /a=ice-pwd:(\S+)/.exec(remote)?.[1];
  const clientUfrag = /a=ice-ufrag:(\S+)/.exec(local)?.[1];
  assert.ok(ufrag && pwd && clientUfrag, 'the client has both descriptions');
  return { ufrag, pwd, clientUfrag };
}

/** A STUN binding request (RFC 5389) with USERNAME and a MESSAGE-INTEGRITY made with `key`. */
export function bindingRequest(username: string, key: string): Buffer {
  const user = Buffer.from(username, 'utf8');
  const userPadded = Buffer.alloc(4 + Math.ceil(user.length / 4) * 4);
  userPadded.writeUInt16BE(0x0006, 0);
  userPadded.writeUInt16BE(user.length, 2);
  user.copy(userPadded, 4);
  // PRIORITY, as a check has it (no ICE-CONTROLLING/CONTROLLED: no role conflict to resolve).
  const priority = Buffer.alloc(8);
  priority.writeUInt16BE(0x0024, 0);
  priority.writeUInt16BE(4, 2);
  priority.writeUInt32BE(0x6e7f1eff, 4);
  const attributes = Buffer.concat([userPadded, priority]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt16BE(attributes.length + 24, 2);
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  const covered = Buffer.concat([header, attributes]);
  const integrity = Buffer.alloc(24);
  integrity.writeUInt16BE(0x0008, 0);
  integrity.writeUInt16BE(20, 2);
  createHmac('sha1', key).update(covered).digest().copy(integrity, 4);
  return Buffer.concat([covered, integrity]);
}
