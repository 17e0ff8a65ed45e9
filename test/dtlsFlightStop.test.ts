import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtlsClient, RTCDtlsTransport } from 'werift';
import '../src/werift/dtlsFlightStop.js';
import { eventually } from './helpers/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * werift's DTLS client sends its ClientHello again after 0.5, 1, 1.5 … 5.5 s until the server answers.
 * A transport stopped meanwhile (its peer connection closed during the handshake) must stop sending:
 * werift went on for 33 s into the closed ICE agent, its timer holding the process open.
 */
describe('a DTLS handshake whose transport stops', () => {
  it('sends no more flights and ends', async () => {
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
    // A real werift DTLS client whose peer never answers.
    const client = new DtlsClient({
      transport: socket,
      srtpProfiles: [],
      extendedMasterSecret: true,
    } as never);
    let ended = false;
    const end = () => {
      ended = true;
    };
    const handshake = client.connect().then(end, end);
    await eventually('the ClientHello is sent again once', () => sent.length >= 2);
    // The transport of a closing peer connection stops (RTCPeerConnection.close does this for each one).
    const transport = Object.assign(Object.create(RTCDtlsTransport.prototype), {
      dtls: client,
      iceTransport: { stop: async () => {} },
      setState: () => {},
    }) as RTCDtlsTransport;
    await transport.stop();
    const atStop = sent.length;
    await eventually('the handshake loop ends', () => ended);
    await handshake;
    // werift would have sent again at 1.5, 3 and 5 s after the start.
    await sleep(6000);
    assert.equal(sent.length, atStop, `${sent.length - atStop} flights sent after the transport stopped`);
  });
});
