/**
 * Calling cards: a person's pronouns, organisation, link and avatar, sent with the join and changed with
 * `setCard`, shown to everyone in the room; validated at the edge (coded INVALID_CARD naming the field),
 * size-limited, and rate-limited because each change goes to the whole room.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectNode, ServerError } from '../src/client/node.js';
import { MAX_CARD_AVATAR_BYTES, type ParticipantCard } from '../src/protocol/messages.js';
import { eventually, LOOPBACK, startTestServer } from './helpers/server.js';
import { RawClient } from './helpers/ws.js';

/** A real 1×1 PNG. */
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const JPEG_BYTES = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1]);

describe('calling cards', () => {
  it('are shown to the room, changed and removed by their owner', async () => {
    const t = await startTestServer();
    const annCard: ParticipantCard = {
      pronouns: 'she/her',
      organisation: 'Acme Film Club',
      link: 'https://ann.example/',
      avatar: PNG,
    };
    const ann = await connectNode({
      url: t.url,
      room: 'cards',
      name: 'Ann',
      card: annCard,
      hostAddresses: LOOPBACK,
    });
    const bob = await connectNode({ url: t.url, room: 'cards', name: 'Bob', hostAddresses: LOOPBACK });
    try {
      const annSeenByBob = () => bob.participants.get(ann.participantId);
      const bobSeenByAnn = () => ann.participants.get(bob.participantId);
      assert.deepEqual(annSeenByBob()?.card, annCard, 'a newcomer sees the card of who is there');
      await eventually('Ann sees Bob', () => bobSeenByAnn() !== undefined);
      assert.equal(bobSeenByAnn()?.card, undefined, 'no card, none shown');

      // Text is trimmed; what is sent is what everyone sees.
      await bob.setCard({ pronouns: '  he/him ', organisation: 'Acme' });
      await eventually('Ann sees Bob’s new card', () => bobSeenByAnn()?.card?.pronouns === 'he/him');
      assert.deepEqual(bobSeenByAnn()?.card, { pronouns: 'he/him', organisation: 'Acme' });
      await eventually('Bob hears his own change back', () => bob.card?.pronouns === 'he/him');

      await bob.setCard(null);
      await eventually('a removed card is gone for the others', () => bobSeenByAnn()?.card === undefined);
      // An empty card is no card.
      await bob.setCard({ pronouns: '' });
      await eventually('an empty card shows nothing', () => bobSeenByAnn()?.card === undefined);

      // A joiner after the change sees the room's cards as they are now.
      const cy = await connectNode({ url: t.url, room: 'cards', name: 'Cy', hostAddresses: LOOPBACK });
      assert.deepEqual(cy.participants.get(ann.participantId)?.card, annCard);
      assert.equal(cy.participants.get(bob.participantId)?.card, undefined);
      await cy.leave();
    } finally {
      await ann.leave();
      await bob.leave();
      await t.close();
    }
  });

  it('refuses an invalid card at the join and at a change with INVALID_CARD naming the field', async () => {
    const t = await startTestServer();
    const join = (card: unknown) => ({ type: 'join', v: 1, room: 'bad-cards', name: 'Eve', card });
    const bigPng = `data:image/png;base64,${Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(MAX_CARD_AVATAR_BYTES + 100),
    ]).toString('base64')}`;
    const cases: [unknown, RegExp][] = [
      [{ link: 'javascript:alert(1)' }, /card\.link: must be an http, https, mailto or tel link/],
      [{ link: 'not a url' }, /card\.link/],
      [
        { avatar: `data:image/png;base64,${JPEG_BYTES.toString('base64')}` },
        /card\.avatar: does not hold a PNG/,
      ],
      [{ avatar: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=' }, /card\.avatar: must be a data:image\/png/],
      [{ avatar: 'data:image/png;base64,@@@@' }, /card\.avatar: is not valid base64/],
      [{ avatar: bigPng }, /card\.avatar: is larger than 12 KiB/],
      [{ pronouns: 'x'.repeat(41) }, /card\.pronouns/],
      [{ organisation: 'Acme\u202eevil' }, /card\.organisation: must not hold control characters/],
      [{ colour: 'red' }, /card: Unrecognized key/],
      ['a string', /card: Expected object/],
    ];
    const c = await RawClient.open(t.url);
    try {
      for (const [card, why] of cases) {
        const error = await c.expectError(join(card));
        assert.equal(error.code, 'INVALID_CARD', JSON.stringify(card).slice(0, 80));
        assert.match(error.message, why);
      }
      // The connection is still good: a valid join goes through.
      c.send(join({ pronouns: 'they/them' }));
      await c.next((m) => m.type === 'joined');
      // A change is checked the same way, and a refused change leaves the card as it was.
      const bad = await c.expectError({ type: 'setCard', card: { link: 'javascript:void(0)' }, rid: 1 });
      assert.equal(bad.code, 'INVALID_CARD');
      const watcher = await connectNode({
        url: t.url,
        room: 'bad-cards',
        name: 'Wes',
        hostAddresses: LOOPBACK,
      });
      const eve = [...watcher.participants.values()].find((p) => p.name === 'Eve');
      assert.deepEqual(eve?.card, { pronouns: 'they/them' });
      await watcher.leave();
    } finally {
      c.ws.close();
      await t.close();
    }
  });

  it('lets a card change six times a minute, then CARD_RATE_LIMITED, and the room goes on', async () => {
    const t = await startTestServer();
    const ann = await connectNode({ url: t.url, room: 'card-flood', name: 'Ann', hostAddresses: LOOPBACK });
    const bob = await connectNode({ url: t.url, room: 'card-flood', name: 'Bob', hostAddresses: LOOPBACK });
    try {
      let heard = 0;
      ann.on('participantCard', (id) => {
        if (id === bob.participantId) heard++;
      });
      for (let i = 1; i <= 6; i++) await bob.setCard({ pronouns: `take ${i}` });
      await assert.rejects(
        bob.setCard({ pronouns: 'take 7' }),
        (e: unknown) => e instanceof ServerError && e.code === 'CARD_RATE_LIMITED',
      );
      await eventually('Ann heard the six changes', () => heard === 6);
      assert.equal(ann.participants.get(bob.participantId)?.card?.pronouns, 'take 6');
      // The room still works for Bob.
      const got = new Promise<string>((resolve) => ann.once('chat', (m) => resolve(m.text)));
      bob.sendChat('still here');
      assert.equal(await got, 'still here');
      assert.equal(heard, 6, 'the refused change reached nobody');
    } finally {
      await ann.leave();
      await bob.leave();
      await t.close();
    }
  });
});
