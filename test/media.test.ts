import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RtpPacket } from 'werift';
import { ClipSource, DEFAULT_AUDIO_CLIP_PATH, DEFAULT_VIDEO_CLIP_PATH } from '../src/media/ClipSource.js';
import { h264PictureSize, isH264KeyframeStart } from '../src/media/h264.js';
import { type IvfFile, readIvf, writeIvf } from '../src/media/ivf.js';
import { type OggOpus, readOggOpus, writeOggOpus } from '../src/media/ogg.js';
import { opusPacketDurationSamples } from '../src/media/opus.js';
import { type Vp8Frame, Vp8FrameAssembler } from '../src/media/Vp8FrameAssembler.js';
import { isVp8Keyframe, isVp8KeyframeStart, packetizeVp8, vp8PayloadOffset } from '../src/media/vp8.js';
import { countDecodedVp8Frames, opusRms, runMediaTool } from './helpers/ffmpeg.js';

let clip: IvfFile;
let opus: OggOpus;

before(async () => {
  clip = readIvf(await readFile(DEFAULT_VIDEO_CLIP_PATH));
  opus = readOggOpus(await readFile(DEFAULT_AUDIO_CLIP_PATH));
});

interface Packet {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

/** Packetizes frames into RTP-like packets, starting near the 16-bit sequence wrap. */
function packetize(frames: Buffer[], firstSeq = 65_500, maxPayloadSize = 1200): Packet[][] {
  let seq = firstSeq;
  return frames.map((frame, i) => {
    const payloads = packetizeVp8(frame, (0x7ff0 + i) & 0x7fff, maxPayloadSize);
    return payloads.map((payload, j) => ({
      sequenceNumber: seq++ & 0xffff,
      timestamp: (4_294_960_000 + i * 3000) % 2 ** 32,
      marker: j === payloads.length - 1,
      payload,
    }));
  });
}

function assemble(packets: Packet[], assembler = new Vp8FrameAssembler()): Vp8Frame[] {
  const out: Vp8Frame[] = [];
  for (const p of packets) {
    const frame = assembler.push(p);
    if (frame) out.push(frame);
  }
  return out;
}

describe('ivf', () => {
  test('round trip keeps header fields, pts and data', () => {
    const frames = [randomBytes(10), randomBytes(0), randomBytes(5000)].map((data, i) => ({
      pts: i * 2,
      data,
    }));
    const parsed = readIvf(writeIvf(frames, { width: 320, height: 240, fps: 15 }));
    assert.equal(parsed.fourcc, 'VP80');
    assert.equal(parsed.width, 320);
    assert.equal(parsed.height, 240);
    assert.equal(parsed.timebaseDen, 15);
    assert.equal(parsed.timebaseNum, 1);
    assert.deepEqual(
      parsed.frames.map((f) => [f.pts, f.data.toString('hex')]),
      frames.map((f) => [f.pts, f.data.toString('hex')]),
    );
    const plain = readIvf(writeIvf([Buffer.from([1]), Buffer.from([2])], { width: 2, height: 2, fps: 30 }));
    assert.deepEqual(
      plain.frames.map((f) => f.pts),
      [0, 1],
    );
  });

  test('rejects bad input with clear errors', () => {
    const good = writeIvf([randomBytes(100)], { width: 2, height: 2, fps: 30 });
    assert.throws(() => readIvf(good.subarray(0, 20)), /shorter than the 32-byte header/);
    const badMagic = Buffer.from(good);
    badMagic.write('XXXX', 0, 'latin1');
    assert.throws(() => readIvf(badMagic), /DKIF/);
    assert.throws(() => readIvf(good.subarray(0, good.length - 1)), /frame 0 .* claims 100 bytes/);
    assert.throws(() => readIvf(good.subarray(0, 40)), /truncated frame header/);
  });

  test('the fixture is 120 frames of 640x360 VP8 at 30 fps with a keyframe every 30 frames', () => {
    assert.equal(clip.fourcc, 'VP80');
    assert.equal(clip.width, 640);
    assert.equal(clip.height, 360);
    assert.equal(clip.timebaseDen / clip.timebaseNum, 30);
    assert.equal(clip.frames.length, 120);
    const keyframes = clip.frames.flatMap((f, i) => (isVp8Keyframe(f.data) ? [i] : []));
    assert.deepEqual(keyframes, [0, 30, 60, 90]);
  });
});

describe('vp8', () => {
  test('packetize then assemble gives identical frames across sequence and PictureID wrap', () => {
    const frames = clip.frames.map((f) => f.data);
    const packets = packetize(frames);
    for (const frame of packets) {
      for (const [j, p] of frame.entries()) {
        assert.ok(p.payload.length <= 1200);
        assert.equal(vp8PayloadOffset(p.payload), 4);
        assert.equal((p.payload[0]! & 0x10) !== 0, j === 0, 'S=1 only on the first packet');
        assert.equal(p.payload[0]! & 0x0f, 0, 'PID=0');
        assert.equal(p.payload[1], 0x80, 'I=1');
        assert.ok(p.payload[2]! & 0x80, 'M=1');
      }
    }
    assert.equal(packets[20]![0]!.payload.readUInt16BE(2) & 0x7fff, 0x0004, 'PictureID wraps at 15 bits');
    const assembler = new Vp8FrameAssembler();
    const out = assemble(packets.flat(), assembler);
    assert.equal(out.length, frames.length);
    for (let i = 0; i < frames.length; i++) {
      assert.ok(out[i]!.data.equals(frames[i]!), `frame ${i} differs`);
      assert.equal(out[i]!.keyframe, i % 30 === 0);
      assert.equal(out[i]!.timestamp, packets[i]![0]!.timestamp);
    }
    assert.equal(assembler.droppedFrames, 0);
    assert.equal(assembler.skippedFrames, 0);
  });

  test('a lost packet drops its frame and the assembler waits for the next keyframe', () => {
    const frames = clip.frames.slice(0, 61).map((f) => f.data);
    const packets = packetize(frames);
    assert.ok(packets[5]!.length >= 2);
    packets[5]!.splice(1, 1);
    const assembler = new Vp8FrameAssembler();
    const out = assemble(packets.flat(), assembler);
    assert.deepEqual(
      out.map((f) => frames.findIndex((d) => d.equals(f.data))),
      [...[0, 1, 2, 3, 4], ...Array.from({ length: 31 }, (_, i) => 30 + i)],
    );
    assert.equal(assembler.droppedFrames, 1);
    assert.equal(assembler.skippedFrames, 24);
    assert.equal(assembler.emittedFrames, 36);
  });

  test('a whole lost frame or a lost marker packet counts one dropped frame', () => {
    const frames = clip.frames.slice(0, 31).map((f) => f.data);
    const lostFrame = packetize(frames);
    lostFrame.splice(10, 1);
    const a = new Vp8FrameAssembler();
    assert.equal(assemble(lostFrame.flat(), a).length, 10 + 1);
    assert.equal(a.droppedFrames, 1);
    assert.equal(a.skippedFrames, 19);

    const lostMarker = packetize(frames);
    lostMarker[10]!.pop();
    const b = new Vp8FrameAssembler();
    assert.equal(assemble(lostMarker.flat(), b).length, 10 + 1);
    assert.equal(b.droppedFrames, 1);
    assert.equal(b.skippedFrames, 19);
  });

  test('a stream whose sequence numbers start over, or jump more than half their space, resumes at a keyframe', () => {
    const frames = clip.frames.slice(0, 91).map((f) => f.data);
    for (const jump of [-5000, 40_000]) {
      // Frames 0..40 in order, then (a new stream, or one back after a long outage) 41..90 from seq + jump.
      const before = packetize(frames.slice(0, 41), 1000);
      const after = packetize(frames.slice(41), (1000 + before.flat().length + jump) & 0xffff);
      const assembler = new Vp8FrameAssembler();
      const out = assemble([...before.flat(), ...after.flat()], assembler);
      const indexes = out.map((f) => frames.findIndex((d) => d.equals(f.data)));
      // The picture comes back at the next keyframe (60), as a decoder's would, not minutes later.
      assert.deepEqual(indexes, [
        ...Array.from({ length: 41 }, (_, i) => i),
        ...Array.from({ length: 31 }, (_, i) => 60 + i),
      ]);
      assert.equal(assembler.droppedFrames, 1, `jump ${jump}`);
    }
  });

  test('reordering inside a frame and duplicates are tolerated; it starts on a keyframe', () => {
    const frames = clip.frames.slice(25, 35).map((f) => f.data);
    const packets = packetize(frames);
    const f = packets[6]!;
    assert.ok(f.length >= 3);
    [f[0], f[1]] = [f[1]!, f[0]!];
    packets[7]!.push({ ...packets[7]![0]! });
    packets[8]!.unshift({ ...packets[7]![0]! });
    const assembler = new Vp8FrameAssembler();
    const out = assemble(packets.flat(), assembler);
    // Frames 25..29 are deltas before the first keyframe (30): skipped, not dropped.
    assert.equal(out.length, 5);
    assert.ok(out[0]!.keyframe);
    assert.ok(out[1]!.data.equals(frames[6]!));
    assert.equal(assembler.skippedFrames, 5);
    assert.equal(assembler.droppedFrames, 0);
  });

  test('isVp8KeyframeStart and vp8PayloadOffset parse every descriptor extension', () => {
    const key = packetizeVp8(clip.frames[0]!.data, 1);
    const delta = packetizeVp8(clip.frames[1]!.data, 2, 200);
    assert.equal(isVp8KeyframeStart(key[0]!), true);
    assert.equal(isVp8KeyframeStart(key[1]!), false);
    assert.equal(isVp8KeyframeStart(delta[0]!), false);
    // X=1 with I (7-bit PictureID), L, T and K: 5-byte descriptor, then P=0.
    const ext = Buffer.from([0x90, 0xf0, 0x12, 0x05, 0x20, 0x10, 0x02, 0x00]);
    assert.equal(vp8PayloadOffset(ext), 5);
    assert.equal(isVp8KeyframeStart(ext), true);
    // The byte at offset 2 would read as P=1 if the extension bytes were not skipped.
    const extDelta = Buffer.from([0x90, 0xf0, 0x13, 0x05, 0x20, 0x11, 0x02, 0x00]);
    assert.equal(isVp8KeyframeStart(extDelta), false);
    // X=1, I with a 15-bit PictureID and K only.
    const m = Buffer.from([0x90, 0x90, 0x81, 0x23, 0x1f, 0x9c]);
    assert.equal(vp8PayloadOffset(m), 5);
    assert.equal(isVp8KeyframeStart(m), true);
    // No extension: one-byte descriptor.
    assert.equal(vp8PayloadOffset(Buffer.from([0x10, 0x9c])), 1);
    assert.equal(isVp8KeyframeStart(Buffer.from([0x10, 0x9c])), true);
    assert.equal(isVp8KeyframeStart(Buffer.from([0x10, 0x9d])), false);
    assert.equal(isVp8KeyframeStart(Buffer.from([0x00, 0x9c])), false, 'S=0');
    assert.equal(isVp8KeyframeStart(Buffer.from([0x11, 0x9c])), false, 'PID=1');
    assert.equal(isVp8KeyframeStart(Buffer.from([0x90, 0x80, 0x81])), false, 'truncated');
    assert.equal(isVp8KeyframeStart(Buffer.alloc(0)), false);
    assert.throws(() => vp8PayloadOffset(Buffer.from([0x90, 0x80, 0x81, 0x00])), /too short/);
    assert.throws(() => packetizeVp8(Buffer.alloc(0), 0), /empty frame/);
  });
});

describe('h264', () => {
  test('h264PictureSize reads the size from the SPS of keyframes libx264 made', async () => {
    for (const [size, profile] of [
      ['640x360', 'baseline'],
      ['1280x720', 'high'],
      ['320x240', 'main'],
      ['176x144', 'high444'],
    ] as const) {
      const { stdout } = await runMediaTool('ffmpeg', [
        ...['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=${size}:d=0.1`, '-frames:v', '1'],
        ...[
          '-c:v',
          'libx264',
          '-profile:v',
          profile,
          '-pix_fmt',
          profile === 'high444' ? 'yuv444p' : 'yuv420p',
        ],
        ...['-f', 'h264', '-'],
      ]);
      const [width, height] = size.split('x').map(Number);
      assert.deepEqual(h264PictureSize(stdout), { width, height }, `${size} ${profile}`);
    }
    assert.equal(h264PictureSize(Buffer.from([0, 0, 0, 1, 0x65, 0x88])), undefined, 'no SPS');
    assert.equal(h264PictureSize(Buffer.from([0, 0, 1, 0x67, 0x42])), undefined, 'a truncated SPS');
  });

  test('isH264KeyframeStart', () => {
    assert.equal(isH264KeyframeStart(Buffer.from([0x65, 0x88])), true, 'IDR');
    assert.equal(isH264KeyframeStart(Buffer.from([0x67, 0x42])), true, 'SPS');
    assert.equal(isH264KeyframeStart(Buffer.from([0x41, 0x9a])), false, 'non-IDR slice');
    assert.equal(isH264KeyframeStart(Buffer.from([0x68, 0xce])), false, 'PPS');
    // STAP-A: [SEI (6)] [SPS (7)]
    assert.equal(isH264KeyframeStart(Buffer.from([0x78, 0, 2, 0x06, 0x05, 0, 2, 0x67, 0x42])), true);
    assert.equal(isH264KeyframeStart(Buffer.from([0x78, 0, 2, 0x06, 0x05, 0, 2, 0x68, 0xce])), false);
    assert.equal(isH264KeyframeStart(Buffer.from([0x78, 0, 9, 0x06, 0x05])), false, 'truncated STAP-A');
    assert.equal(isH264KeyframeStart(Buffer.from([0x7c, 0x85, 0x88])), true, 'FU-A start of IDR');
    assert.equal(isH264KeyframeStart(Buffer.from([0x7c, 0x05, 0x88])), false, 'FU-A middle of IDR');
    assert.equal(isH264KeyframeStart(Buffer.from([0x7c, 0x81, 0x88])), false, 'FU-A start of non-IDR');
    assert.equal(isH264KeyframeStart(Buffer.alloc(0)), false);
  });
});

describe('opus and ogg', () => {
  test('opusPacketDurationSamples reads the TOC byte', () => {
    assert.equal(opusPacketDurationSamples(Buffer.from([0x08])), 960, 'SILK 20 ms, one frame');
    assert.equal(opusPacketDurationSamples(Buffer.from([0x18])), 2880, 'SILK 60 ms');
    assert.equal(opusPacketDurationSamples(Buffer.from([0x78])), 960, 'Hybrid FB 20 ms');
    assert.equal(opusPacketDurationSamples(Buffer.from([0xf9])), 1920, 'CELT 20 ms, two frames');
    assert.equal(opusPacketDurationSamples(Buffer.from([0x82])), 240, 'CELT 2.5 ms, two frames');
    assert.equal(opusPacketDurationSamples(Buffer.from([0x83, 0x03])), 360, 'CELT 2.5 ms, code 3 x3');
    assert.throws(() => opusPacketDurationSamples(Buffer.from([0xfb, 0x07])), /120 ms/);
    assert.throws(() => opusPacketDurationSamples(Buffer.from([0xfb])), /frame count/);
    assert.throws(() => opusPacketDurationSamples(Buffer.alloc(0)), /empty/);
  });

  test('the fixture holds ~200 packets of 20 ms', () => {
    assert.equal(opus.channels, 1);
    assert.equal(opus.inputSampleRate, 48000);
    assert.ok(opus.packets.length >= 199 && opus.packets.length <= 202, `${opus.packets.length} packets`);
    for (const p of opus.packets) assert.equal(opusPacketDurationSamples(p), 960);
  });

  test('write then read round trip, with packets spanning pages and 255-byte lacing edges', () => {
    const sizes = [
      1,
      254,
      255,
      256,
      510,
      511,
      70_000,
      ...Array.from({ length: 300 }, (_, i) => 1 + (i % 40)),
    ];
    const packets = sizes.map((n) => {
      const p = randomBytes(n);
      p[0] = 0xf8;
      return p;
    });
    const ogg = writeOggOpus(packets, { channels: 2, preSkip: 312 });
    const back = readOggOpus(ogg);
    assert.equal(back.channels, 2);
    assert.equal(back.preSkip, 312);
    assert.equal(back.packets.length, packets.length);
    for (let i = 0; i < packets.length; i++) assert.ok(back.packets[i]!.equals(packets[i]!), `packet ${i}`);

    const corrupt = Buffer.from(ogg);
    corrupt[corrupt.length - 3]! ^= 0xff;
    assert.throws(() => readOggOpus(corrupt), /CRC mismatch/);
    assert.throws(() => readOggOpus(ogg.subarray(0, ogg.length - 10)), /truncated/);
    assert.throws(() => readOggOpus(Buffer.from('not an ogg file at all, no sir')), /OggS/);
    assert.equal(readOggOpus(writeOggOpus([], { channels: 1 })).packets.length, 0);
  });

  test('the written fixture packets decode with ffmpeg to audible audio', async () => {
    const ogg = writeOggOpus(opus.packets, { channels: 1, preSkip: opus.preSkip });
    assert.deepEqual(
      readOggOpus(ogg).packets.map((p) => p.toString('hex')),
      opus.packets.map((p) => p.toString('hex')),
    );
    const rms = await opusRms(ogg);
    assert.ok(rms > 0.1, `RMS ${rms}`);
  });
});

describe('ffmpeg decoding', () => {
  test('assembled frames written to IVF decode to 120 frames', async () => {
    const frames = assemble(packetize(clip.frames.map((f) => f.data)).flat()).map((f) => f.data);
    assert.equal(await countDecodedVp8Frames(writeIvf(frames, { width: 640, height: 360, fps: 30 })), 120);
  });

  test('a corrupt IVF fails to decode with a clear error', async () => {
    const frames = clip.frames.map((f) => Buffer.from(f.data));
    frames[0]!.fill(0, 3, 10);
    await assert.rejects(
      countDecodedVp8Frames(writeIvf(frames, { width: 640, height: 360, fps: 30 })),
      /ffmpeg/,
    );
  });
});

describe('ClipSource', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'port545-media-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  function checkSequence(packets: RtpPacket[], step: (a: RtpPacket, b: RtpPacket) => void): void {
    for (let i = 1; i < packets.length; i++) {
      const a = packets[i - 1]!;
      const b = packets[i]!;
      assert.equal(b.header.sequenceNumber, (a.header.sequenceNumber + 1) & 0xffff, `seq at ${i}`);
      step(a, b);
    }
  }

  test('plays ~30 video frames/s and ~50 audio packets/s in real time, and stop() clears its timers', async () => {
    const before = timeouts();
    const source = new ClipSource();
    const video: RtpPacket[] = [];
    const audio: RtpPacket[] = [];
    source.onVideoRtp((p) => video.push(p));
    source.onAudioRtp((p) => audio.push(p));
    source.start();
    source.start();
    await sleep(1000);
    source.stop();
    source.stop();
    const sentVideo = video.length;
    const sentAudio = audio.length;
    assert.equal(timeouts(), before, 'no timer left running');
    await sleep(100);
    assert.equal(video.length, sentVideo, 'nothing sent after stop()');
    assert.equal(audio.length, sentAudio);

    const frames = video.filter((p) => p.header.marker).length;
    assert.ok(frames >= 28 && frames <= 32, `${frames} video frames`);
    assert.ok(audio.length >= 48 && audio.length <= 52, `${audio.length} audio packets`);
    assert.ok(video.every((p) => p.header.payloadType === 96 && p.header.ssrc === source.videoSsrc));
    assert.ok(audio.every((p) => p.header.payloadType === 111 && p.header.ssrc === source.audioSsrc));
    assert.ok(video.every((p) => p.payload.length <= 1200));
    assert.ok(video.at(-1)!.header.marker);
    checkSequence(video, (a, b) => {
      const d = (b.header.timestamp - a.header.timestamp) >>> 0;
      assert.equal(d, a.header.marker ? 3000 : 0);
    });
    checkSequence(audio, (a, b) => assert.equal((b.header.timestamp - a.header.timestamp) >>> 0, 960));
    assert.ok(audio[0]!.header.marker && !audio[1]!.header.marker);

    const assembler = new Vp8FrameAssembler();
    const out = assemble(
      video.map((p) => ({ ...p.header, payload: p.payload })),
      assembler,
    );
    assert.equal(out.length, frames);
    for (const [i, f] of out.entries()) assert.ok(f.data.equals(clip.frames[i]!.data), `frame ${i}`);
    const pictureIds = video
      .filter((p) => p.payload[0]! & 0x10)
      .map((p) => p.payload.readUInt16BE(2) & 0x7fff);
    checkIncreasing(pictureIds, 0x8000);
  });

  test('loops keep sequence numbers, timestamps and PictureIDs increasing', async () => {
    const videoPath = join(dir, 'short.ivf');
    const audioPath = join(dir, 'short.opus');
    const frames = clip.frames.slice(0, 3).map((f) => f.data);
    await writeFile(videoPath, writeIvf(frames, { width: 640, height: 360, fps: 30 }));
    await writeFile(audioPath, writeOggOpus(opus.packets.slice(0, 5), { channels: 1 }));
    const source = new ClipSource({ videoPath, audioPath });
    const video: RtpPacket[] = [];
    const audio: RtpPacket[] = [];
    source.onVideoRtp((p) => video.push(p));
    const off = source.onAudioRtp((p) => audio.push(p));
    const startedAt = performance.now();
    source.start();
    await sleep(350);
    source.stop();
    // A busy machine may wake the test late; the source keeps to the clock, one packet per 20 ms.
    const due = Math.floor((performance.now() - startedAt) / 20) + 1;
    off();
    source.start();
    await sleep(100);
    source.stop();
    assert.ok(Math.abs(audio.length - due) <= 2, `${audio.length} audio packets, ${due} were due`);
    const markers = video.filter((p) => p.header.marker);
    assert.ok(markers.length >= 12, `${markers.length} video frames over 3 loops and a restart`);
    checkSequence(video, (a, b) =>
      assert.equal((b.header.timestamp - a.header.timestamp) >>> 0, a.header.marker ? 3000 : 0),
    );
    checkSequence(audio, (a, b) => assert.equal((b.header.timestamp - a.header.timestamp) >>> 0, 960));
    const out = assemble(video.map((p) => ({ ...p.header, payload: p.payload })));
    assert.equal(out.length, markers.length);
    for (const [i, f] of out.entries()) assert.ok(f.data.equals(frames[i % 3]!), `frame ${i}`);
  });

  test('video-only and audio-only sources, and clear errors for missing files', async () => {
    const audioOnly = new ClipSource({ video: false });
    let videoPackets = 0;
    audioOnly.onVideoRtp(() => videoPackets++);
    audioOnly.start();
    audioOnly.stop();
    assert.equal(videoPackets, 0);
    assert.equal(audioOnly.audioPacketsSent, 1);
    assert.throws(() => new ClipSource({ videoPath: join(dir, 'missing.ivf') }), /cannot load video clip/);
    assert.throws(() => new ClipSource({ video: false, audioPath: join(dir, 'missing.opus') }), /audio clip/);
  });
});

function checkIncreasing(values: number[], modulo: number): void {
  for (let i = 1; i < values.length; i++) {
    assert.equal(values[i], (values[i - 1]! + 1) % modulo, `value ${i}`);
  }
}
