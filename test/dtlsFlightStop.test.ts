import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtlsClient, RTCDtlsTransport } from 'werift';
import '../src/werift/dtlsFlightStop.js';
import { eventually } from './helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A real werift DTLS client whose peer never answers, and a transport that owns it. */
function unansweredClient() {
  const sent: number[] = [];
  const socket = {
    type: 'ice',
    closed: false,
    address: {},
    onData: () => {},
    send: async () => {
      sent.push(Date.now());
    },
    close: async () => {},
  };
  const client = new DtlsClient({ transport: socket, srtpProfiles: [], extendedMasterSecret: true } as never);
  // The transport of a closing peer connection stops (RTCPeerConnection.close does this for each one).
  const transport = Object.assign(Object.create(RTCDtlsTransport.prototype), {
    dtls: client,
    iceTransport: { stop: async () => {} },
    setState: () => {},
  }) as RTCDtlsTransport;
  let ended = false;
  const connect = () =>
    client.connect().then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
  return { sent, transport, connect, ended: () => ended };
}

/**
 * werift's DTLS client sends its ClientHello again after 0.5, 1, 1.5 … 5.5 s until the server answers.
 * A transport stopped meanwhile (its peer connection closed during the handshake) must stop sending:
 * werift went on for 33 s into the closed ICE agent, its timer holding the process open.
 */
describe('a DTLS handshake whose transport stops', () => {
  it('sends no more flights and ends', async () => {
    const { sent, transport, connect, ended } = unansweredClient();
    const handshake = connect();
    await eventually('the ClientHello is sent again once', () => sent.length >= 2);
    await transport.stop();
    const atStop = sent.length;
    await eventually('the handshake loop ends', ended);
    await handshake;
    // werift would have sent again at 1.5, 3 and 5 s after the start.
    await sleep(6000);
    assert.equal(sent.length, atStop, `${sent.length - atStop} flights sent after the transport stopped`);
  });

  it('does not go on when it stopped before its first flight', async () => {
    // werift starts a client's first flight 100 ms after the transport starts; a close often comes first.
    const { sent, transport, connect, ended } = unansweredClient();
    await transport.stop();
    const handshake = connect();
    await eventually('the handshake loop ends', ended);
    await handshake;
    await sleep(3000);
    assert.ok(sent.length <= 1, `${sent.length} flights sent by a transport stopped before it began`);
  });
});
