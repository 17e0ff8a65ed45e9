/**
 * The media plane. Its whole surface is a MediaSession per participant (publish, subscribe,
 * unsubscribe, close) and the PublishedTrack it hands out, so it can be optimised or replaced without
 * touching rooms or signaling.
 */

/** What `MediaSession` throws for a description or candidate it cannot apply. */
export { SdpError } from '../media/SdpError.js';
export { ActiveSpeaker, SPEAKING_LEVEL } from './ActiveSpeaker.js';
export { ConnectDeadline } from './connectDeadline.js';
export { DownTrack } from './DownTrack.js';
export {
  MediaSession,
  type MediaSessionEvents,
  type MediaSessionOptions,
  type ParticipantMedia,
  type PeerRole,
  type PublishResult,
  type RemoteCandidate,
  type SubscriberOffer,
  type SubscriptionMode,
} from './MediaSession.js';
export { MediaSlot } from './MediaSlot.js';
export { type LayerInfo, PublishedTrack } from './PublishedTrack.js';
export { type RtcSettings, supportedCodecs } from './peerConfig.js';
export {
  AUDIO_LEVEL_URI,
  type RtpListener,
  type RtpSink,
  type RtpSource,
  type SenderReportListener,
} from './RtpSource.js';
export { type FeedInfo, type RelayBack, type RelayOut, TrackExport, TrackImport } from './TrackRelay.js';
