import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { VERSION } from '../src/version.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('HTTP endpoints', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('/.well-known/port545 says what is listening', async () => {
    const res = await t.server.app.inject({ method: 'GET', url: '/.well-known/port545' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      service: 'port545',
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      auth: 'open',
      tls: false,
    });
  });

  it('/healthz reports rooms and participants', async () => {
    const res = await t.server.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok', rooms: 0, participants: 0 });
  });

  it('every response, errors included, carries the Server header', async () => {
    for (const url of ['/healthz', '/.well-known/port545', '/no/such/page', '/r/some-room']) {
      const res = await t.server.app.inject({ method: 'GET', url });
      assert.equal(res.headers.server, `port545/${VERSION}`, url);
    }
    const missing = await t.server.app.inject({ method: 'GET', url: '/no/such/page' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'NOT_FOUND');
  });

  it('a WebSocket upgrade anywhere but /ws is refused', async () => {
    const res = await fetch(`${t.url}/elsewhere`, {
      headers: { connection: 'upgrade', upgrade: 'websocket' },
    }).catch((error: Error) => error);
    // Either the server answers 404 or it ends the socket; it never upgrades.
    if (res instanceof Response) assert.equal(res.status, 404);
  });
});
