/**
 * The room directory: a host lists a room (with a topic) and everyone who opens the server sees it in
 * `GET /directory`; an unlisted room is never there; in secured mode a visitor sees only the listed rooms
 * their access token opens.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAccessToken } from '../src/auth/accessToken.js';
import { connectNode, ServerError } from '../src/client/node.js';
import { eventually, LOOPBACK, startTestServer } from './helpers/server.js';

interface Listed {
  name: string;
  topic?: string;
  people: number;
  locked: boolean;
  passwordProtected: boolean;
}

async function directory(url: string, token?: string): Promise<Listed[]> {
  const response = await fetch(`${url}/directory`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { rooms: Listed[] }).rooms;
}

describe('the room directory', () => {
  it('shows the rooms their hosts listed, with topic and people, and never an unlisted one', async () => {
    const t = await startTestServer();
    const host = await connectNode({ url: t.url, room: 'open-house', name: 'Ann', hostAddresses: LOOPBACK });
    const guest = await connectNode({ url: t.url, room: 'open-house', name: 'Bob', hostAddresses: LOOPBACK });
    const hidden = await connectNode({
      url: t.url,
      room: 'private-talk',
      name: 'Cy',
      hostAddresses: LOOPBACK,
    });
    try {
      assert.deepEqual(await directory(t.url), [], 'nothing is listed until a host lists it');
      await assert.rejects(
        guest.listRoom(true),
        (e: unknown) => e instanceof ServerError && e.code === 'NOT_HOST',
        'a guest cannot list the room',
      );
      await host.listRoom(true, 'Questions welcome');
      await eventually('everyone in the room hears it is listed', () => guest.roomState.listed === true);
      assert.equal(guest.roomState.topic, 'Questions welcome');
      // The directory answers from what it gathered up to a second ago.
      const shows = (expected: Listed[]) => async () =>
        JSON.stringify(await directory(t.url)) === JSON.stringify(expected);
      const entry = {
        name: 'open-house',
        topic: 'Questions welcome',
        people: 2,
        locked: false,
        passwordProtected: false,
      };
      await eventually('the listed room is in the directory', shows([entry]));
      await host.lockRoom(true);
      await eventually('the directory says the room is locked', shows([{ ...entry, locked: true }]));
      await host.listRoom(false);
      await eventually('an unlisted room leaves the directory', shows([]));
      assert.equal(guest.roomState.listed, false);
    } finally {
      for (const r of [host, guest, hidden]) await r.leave();
      await t.close();
    }
  });

  it('in secured mode shows a visitor only the listed rooms their token opens', async () => {
    const secret = 's'.repeat(40);
    const t = await startTestServer({ auth: { mode: 'secured', apiKey: 'k'.repeat(24), apiSecret: secret } });
    const token = async (room: string, role: 'host' | 'guest' = 'guest') =>
      (await createAccessToken(secret, { room, identity: `id-${room}-${role}`, role, ttlSeconds: 600 }))
        .token;
    const rooms = await Promise.all(
      ['board', 'staff'].map(async (room) =>
        connectNode({
          url: t.url,
          room,
          name: 'Host',
          token: await token(room, 'host'),
          hostAddresses: LOOPBACK,
        }),
      ),
    );
    try {
      for (const r of rooms) await r.listRoom(true);
      assert.deepEqual(await directory(t.url), [], 'no token, no rooms');
      assert.deepEqual(
        (await directory(t.url, await token('board'))).map((r) => r.name),
        ['board'],
        'a token for one room shows that room',
      );
      assert.deepEqual(
        (await directory(t.url, await token('*'))).map((r) => r.name).sort(),
        ['board', 'staff'],
        'a token for every room shows them all',
      );
      assert.deepEqual(await directory(t.url, 'not-a-token'), [], 'a bad token shows nothing');
    } finally {
      for (const r of rooms) await r.leave();
      await t.close();
    }
  });
});
