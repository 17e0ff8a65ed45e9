import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import {
  frameStream,
  header,
  headers,
  parseSipMessage,
  SipParseError,
} from '../src/gateways/sip/SipMessage.js';
import { buildAnswer, negotiate, parseSdp } from '../src/gateways/sip/sipSdp.js';
import { eventually } from './helpers/server.js';
import { startSipServer } from './helpers/sipp.js';

const SDP_BODY =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const INVITE = [
  'INVITE sip:lobby@127.0.0.1 SIP/2.0',
  'v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport',
  'Max-Forwards: 70',
  'f: "Ada, the caller" <sip:ada@127.0.0.1:5070>;tag=abc',
  't: <sip:lobby@127.0.0.1>',
  'i: call-1@127.0.0.1',
  'CSeq: 1 INVITE',
  'm: <sip:ada@127.0.0.1:5070>',
  'Subject: folded',
  '  across lines',
  'c: application/sdp',
  `l: ${SDP_BODY.length}`,
  '',
  SDP_BODY,
].join('\r\n');

const OPTIONS = (branch: string) =>
  [
    'OPTIONS sip:127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${branch};rport`,
    'From: <sip:probe@127.0.0.1>;tag=1',
    'To: <sip:127.0.0.1>',
    `Call-ID: ${branch}@127.0.0.1`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

describe('SIP message parser', () => {
  it('reads compact and folded headers, quoted commas and the body by Content-Length', () => {
    const m = parseSipMessage(Buffer.from(INVITE));
    assert.equal(m.kind, 'request');
    assert.equal(m.kind === 'request' && m.method, 'INVITE');
    assert.equal(header(m, 'call-id'), 'call-1@127.0.0.1');
    assert.equal(header(m, 'subject'), 'folded across lines');
    assert.equal(headers(m, 'from').length, 1, 'a comma inside quotes does not split From');
    assert.equal(m.body.toString(), SDP_BODY);
    const n = negotiate(parseSdp(m.body.toString()));
    assert.equal(n.codec.name, 'PCMU');
    assert.equal(n.remotePort, 4000);
  });

  it('refuses what RFC 3261 does not allow, saying why', () => {
    const bad: [string, RegExp][] = [
      ['HELLO WORLD\r\n\r\n', /request line/],
      [INVITE.replace('i: call-1@127.0.0.1\r\n', ''), /missing Call-ID/],
      [INVITE.replace(`l: ${SDP_BODY.length}`, 'l: 900'), /larger than the body/],
      [INVITE.replace(`l: ${SDP_BODY.length}`, 'l: -1'), /bad Content-Length/],
      [INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'), /does not match/],
      [INVITE.replace('Max-Forwards: 70', `X-Big: ${'a'.repeat(5000)}`), /longer than/],
      [INVITE.replace('INVITE sip:', 'INVITE http:'), /Request-URI/],
      [`${INVITE.split('\r\n\r\n')[0]}`, /empty line/],
    ];
    for (const [text, why] of bad) {
      assert.throws(
        () => parseSipMessage(Buffer.from(text)),
        (e: Error) => e instanceof SipParseError && why.test(e.message),
        String(why),
      );
    }
    // Over TCP Content-Length is mandatory.
    assert.throws(
      () => parseSipMessage(Buffer.from(INVITE.replace(`l: ${SDP_BODY.length}\r\n`, '')), { stream: true }),
      /required over TCP/,
    );
  });

  it('cuts a TCP stream into messages, across chunk boundaries', () => {
    const two = Buffer.from(OPTIONS('a') + INVITE);
    const first = frameStream(two.subarray(0, 300));
    assert.equal(first.frames.length, 1);
    const rest = frameStream(Buffer.concat([first.rest, two.subarray(300)]));
    assert.equal(rest.frames.length, 1);
    assert.equal(rest.rest.length, 0);
  });

  it('fuzz: 20,000 mutated messages never throw anything but a SipParseError', () => {
    const seeds = [
      Buffer.from(INVITE),
      Buffer.from(OPTIONS('f')),
      Buffer.from(
        'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
      ),
    ];
    const alphabet = Buffer.from(':;,<>"\\\r\n \t=@0123456789abcdefSIP/2.');
    let parsed = 0;
    for (let i = 0; i < 20_000; i++) {
      const data = Buffer.from(seeds[i % seeds.length]!);
      const mutations = randomInt(1, 12);
      let out: Buffer = data;
      for (let k = 0; k < mutations; k++) {
        const at = randomInt(0, out.length + 1);
        switch (randomInt(0, 5)) {
          case 0: // flip a byte
            if (out.length) out[Math.min(at, out.length - 1)] = randomInt(0, 256);
            break;
          case 1: // insert a grammar character
            out = Buffer.concat([
              out.subarray(0, at),
              alphabet.subarray(randomInt(0, alphabet.length)).subarray(0, 1),
              out.subarray(at),
            ]);
            break;
          case 2: // delete a run
            out = Buffer.concat([out.subarray(0, at), out.subarray(at + randomInt(1, 20))]);
            break;
          case 3: // duplicate a run (huge or repeated headers)
            out = Buffer.concat([
              out.subarray(0, at),
              out
                .subarray(at, at + randomInt(1, 200))
                .toString()
                .repeat(randomInt(1, 50)) === ''
                ? Buffer.alloc(0)
                : Buffer.from(
                    out
                      .subarray(at, at + randomInt(1, 200))
                      .toString()
                      .repeat(randomInt(1, 50)),
                  ),
              out.subarray(at),
            ]);
            break;
          default: // truncate
            out = out.subarray(0, at);
        }
      }
      try {
        parseSipMessage(out, { stream: i % 2 === 0 });
        parsed++;
      } catch (error) {
        assert.ok(
          error instanceof SipParseError,
          `threw ${(error as Error).name}: ${(error as Error).message}`,
        );
      }
      try {
        frameStream(out);
      } catch (error) {
        assert.ok(error instanceof SipParseError);
      }
    }
    assert.ok(parsed > 0, 'some mutations are still valid messages');
  });
});

describe('SIP offer/answer: DTMF next to Opus', () => {
  /** An Opus offer with telephone-event at each `pt:rate` given. */
  const offer = (...events: [number, number][]) =>
    parseSdp(
      [
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        `m=audio 4000 RTP/AVP 111 ${events.map(([pt]) => pt).join(' ')}`,
        'a=rtpmap:111 opus/48000/2',
        ...events.map(([pt, rate]) => `a=rtpmap:${pt} telephone-event/${rate}`),
        '',
      ].join('\r\n'),
    );
  const answer = (sdp: ReturnType<typeof parseSdp>) =>
    buildAnswer(sdp, negotiate(sdp), { address: '127.0.0.1', port: 5004, sessionId: 1, version: 1 });

  it('keeps telephone-event at 8000 Hz that a caller offers with Opus (baresip, Asterisk)', () => {
    const sdp = offer([101, 8000]);
    assert.equal(negotiate(sdp).dtmfPayloadType, 101);
    assert.match(answer(sdp), /m=audio 5004 RTP\/AVP 111 101\r\n/);
    assert.match(answer(sdp), /a=rtpmap:101 telephone-event\/8000\r\n/);
  });

  it("prefers telephone-event at the codec's rate when both are offered", () => {
    const sdp = offer([101, 8000], [102, 48000]);
    assert.equal(negotiate(sdp).dtmfPayloadType, 102);
    assert.match(answer(sdp), /a=rtpmap:102 telephone-event\/48000\r\n/);
    assert.doesNotMatch(answer(sdp), /telephone-event\/8000/);
  });
});

describe('SIP gateway under malformed input', () => {
  it('answers malformed requests with 400 (or drops them) and keeps serving, over UDP and TCP', async () => {
    const t = await startSipServer();
    const port = t.server.sip!.port;
    const udp = createSocket('udp4');
    const replies: string[] = [];
    udp.on('message', (m) => replies.push(m.toString('latin1')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
    const send = async (text: string | Buffer) => {
      const before = replies.length;
      udp.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, port, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 150));
      return replies.slice(before);
    };
    try {
      const withVia = (s: string) => s.replace('5070', String(udp.address().port));
      const cases: [string, string][] = [
        [
          'bad start line',
          withVia(OPTIONS('s').replace('OPTIONS sip:127.0.0.1 SIP/2.0', 'OPTIONS sip:127.0.0.1 HTTP/1.1')),
        ],
        ['missing Call-ID', withVia(OPTIONS('c').replace(/Call-ID: .*\r\n/, ''))],
        [
          'huge header',
          withVia(
            OPTIONS('h').replace('Content-Length: 0', `X-Huge: ${'x'.repeat(10_000)}\r\nContent-Length: 0`),
          ),
        ],
        [
          'too many headers',
          withVia(OPTIONS('n').replace('Content-Length: 0', `${'X-A: 1\r\n'.repeat(200)}Content-Length: 0`)),
        ],
        ['wrong Content-Length', withVia(OPTIONS('l').replace('Content-Length: 0', 'Content-Length: 500'))],
        ['binary garbage', String.fromCharCode(...Array.from({ length: 300 }, () => randomInt(0, 256)))],
      ];
      for (const [what, text] of cases) {
        const got = await send(text);
        assert.ok(
          got.length === 0 || /^SIP\/2\.0 400 /.test(got[0]!),
          `${what}: answered ${got[0]?.split('\r\n')[0]}`,
        );
        console.log(`  ${what}: ${got.length ? got[0]!.split('\r\n')[0] : 'dropped'}`);
      }
      assert.match(
        (await send(withVia(OPTIONS('c').replace(/Call-ID: .*\r\n/, ''))))[0] ?? '',
        /400 Bad Request[\s\S]*Warning: 399 port545 "missing Call-ID header"/,
      );
      for (let i = 0; i < 300; i++) {
        const base = Buffer.from(withVia(i % 2 ? OPTIONS(`z${i}`) : INVITE));
        for (let k = 0; k < 5; k++) base[randomInt(0, base.length)] = randomInt(0, 256);
        udp.send(base, port, '127.0.0.1');
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const ok = (await send(withVia(OPTIONS('after')))).find((r) => r.includes('Call-ID: after@127.0.0.1'));
      assert.match(ok ?? '', /^SIP\/2\.0 200 OK/, 'the gateway still answers after 300 mutated datagrams');

      // TCP: a message without Content-Length cannot be framed: 400, then the connection is closed.
      const tcpReply = await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(OPTIONS('t').replace('Content-Length: 0\r\n', '').replace('UDP', 'TCP')),
        );
        let data = '';
        socket.on('data', (c) => {
          data += c.toString('latin1');
        });
        const timer = setTimeout(() => socket.destroy(), 20_000);
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(data);
        });
      });
      assert.match(tcpReply, /^SIP\/2\.0 400 /);
    } finally {
      udp.close();
      await t.close();
    }
  });
});

describe('SIP gateway refusals', () => {
  it('say why in a Warning, and 420 lists every unsupported option tag', async () => {
    const t = await startSipServer();
    const port = t.server.sip!.port;
    const udp = createSocket('udp4');
    const replies: string[] = [];
    udp.on('message', (m) => replies.push(m.toString('latin1')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
    const request = (method: string, id: string, extra: string[] = [], toTag = '') =>
      [
        `${method} sip:lobby@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${udp.address().port};branch=z9hG4bK-${id};rport`,
        'Max-Forwards: 70',
        'From: <sip:probe@127.0.0.1>;tag=1',
        `To: <sip:lobby@127.0.0.1>${toTag}`,
        `Call-ID: ${id}@127.0.0.1`,
        `CSeq: 1 ${method}`,
        ...extra,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const answer = async (text: string, id: string) => {
      udp.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
      let reply: string | undefined;
      await eventually(
        `an answer to ${id}`,
        () => {
          reply = replies.find((r) => r.includes(`Call-ID: ${id}@127.0.0.1`));
          return reply !== undefined;
        },
        15_000,
      );
      return reply!;
    };
    try {
      const cases: [string, string, RegExp][] = [
        [
          'require',
          request('OPTIONS', 'require', ['Require: 100rel, timer', 'Require: precondition']),
          /^SIP\/2\.0 420 /,
        ],
        ['bye', request('BYE', 'bye', [], ';tag=nope'), /^SIP\/2\.0 481 /],
        ['info', request('INFO', 'info', [], ';tag=nope'), /^SIP\/2\.0 481 /],
        ['cancel', request('CANCEL', 'cancel'), /^SIP\/2\.0 481 /],
        ['subscribe', request('SUBSCRIBE', 'subscribe'), /^SIP\/2\.0 405 /],
        ['frobnicate', request('FROBNICATE', 'frobnicate'), /^SIP\/2\.0 501 /],
      ];
      for (const [id, text, status] of cases) {
        const reply = await answer(text, id);
        const warning = /^Warning: (.*)$/m.exec(reply)?.[1];
        console.log(`  ${reply.split('\r\n')[0]}: Warning ${warning}`);
        assert.match(reply, status);
        assert.match(warning ?? '', /^399 port545 "[^"]+"\r?$/, `${reply.split('\r\n')[0]} says why`);
        if (id === 'require')
          assert.match(
            reply,
            /^Unsupported: 100rel, timer, precondition\r?$/m,
            'every unsupported tag is listed',
          );
      }
    } finally {
      udp.close();
      await t.close();
    }
  });
});
