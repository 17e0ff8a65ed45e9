import { z } from 'zod';

/**
 * `timeline.json`, written beside a recording's per-track files: where each file sits on the recording's
 * clock and what happened in the room while it was recorded. Every time is in seconds from the moment
 * the recording started (`startedAt`). A track's `startSeconds` is when its file's first sample (pts 0)
 * was captured by its publisher: from the publisher's RTCP sender reports (NTP ↔ RTP, RFC 3550 §6.4.1)
 * where it sent any, so that one person's audio and video line up; otherwise from when it arrived.
 */
export const TIMELINE_VERSION = 1;

export const timelineTrackSchema = z.object({
  /** The room's id of the track (a person who rejoins publishes new tracks: new files). */
  id: z.string(),
  /** The file, relative to the recording's folder, e.g. `tracks/03-video.webm`. */
  file: z.string(),
  kind: z.enum(['audio', 'video']),
  source: z.enum(['camera', 'microphone', 'screen', 'screenAudio']),
  codec: z.enum(['vp8', 'vp9', 'h264', 'opus']),
  participantId: z.string(),
  participantName: z.string(),
  /** Seconds from the recording's start to the file's first sample. */
  startSeconds: z.number(),
  /** Seconds from the recording's start to the file's last sample (set when the track's file is closed). */
  endSeconds: z.number().optional(),
  /** How the start was found: the publisher's sender reports, or the arrival of the first packet. */
  clock: z.enum(['senderReport', 'arrival']),
  /** The first picture's size (video). */
  width: z.number().int().optional(),
  height: z.number().int().optional(),
});

export const timelineEventSchema = z.object({
  /** Seconds from the recording's start. */
  at: z.number(),
  type: z.enum([
    'join',
    'leave',
    'trackStart',
    'trackEnd',
    'mute',
    'unmute',
    'resolution',
    'screenStart',
    'screenStop',
  ]),
  participantId: z.string(),
  participantName: z.string().optional(),
  trackId: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
});

export const timelineSchema = z.object({
  version: z.literal(TIMELINE_VERSION),
  /** The recording's id (its folder's name). */
  id: z.string(),
  room: z.string(),
  /** ISO 8601, the recording's time zero. */
  startedAt: z.string(),
  /** ISO 8601; absent while recording (or when the server stopped without finishing it). */
  stoppedAt: z.string().optional(),
  /** Seconds from start to stop. */
  durationSeconds: z.number().optional(),
  tracks: z.array(timelineTrackSchema),
  events: z.array(timelineEventSchema),
});

export type Timeline = z.infer<typeof timelineSchema>;
export type TimelineTrack = z.infer<typeof timelineTrackSchema>;
export type TimelineEvent = z.infer<typeof timelineEventSchema>;
