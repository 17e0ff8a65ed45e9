import { type PeerConfig, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters } from 'werift';
import { AUDIO_LEVEL_URI } from './RtpSource.js';

/** Network settings of the media plane, taken from the server config. */
export interface RtcSettings {
  /** Inclusive UDP port range for ICE sockets. */
  minPort: number;
  maxPort: number;
  /** Written into candidates instead of the local address (1:1 NAT). */
  announcedIp?: string;
  /** Gather only on these local addresses; default every non-loopback interface. */
  hostAddresses?: string[];
}

const videoFeedback = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb' },
];

/** Codecs the SFU forwards. Forwarding never transcodes, so a subscriber gets the publisher's codec. */
export function supportedCodecs(): { audio: RTCRtpCodecParameters[]; video: RTCRtpCodecParameters[] } {
  return {
    audio: [
      new RTCRtpCodecParameters({
        mimeType: 'audio/opus',
        clockRate: 48000,
        channels: 2,
        payloadType: 111,
        parameters: 'minptime=10;useinbandfec=1',
      }),
    ],
    video: [
      new RTCRtpCodecParameters({
        mimeType: 'video/VP8',
        clockRate: 90000,
        payloadType: 96,
        rtcpFeedback: videoFeedback,
      }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        payloadType: 102,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        rtcpFeedback: videoFeedback,
      }),
    ],
  };
}

export interface PeerOptions {
  /**
   * Negotiate the RFC 6464 audio level header extension, so that publishers' packets say how loud they are.
   * Only on connections that receive: forwarded packets keep their extensions and the SFU's sender does
   * not write this one, so a subscriber must not be told to expect it.
   */
  receiveAudioLevel?: boolean;
}

export function peerConfig(settings: RtcSettings, options: PeerOptions = {}): Partial<PeerConfig> {
  const config: Partial<PeerConfig> = {
    codecs: supportedCodecs(),
    icePortRange: [settings.minPort, settings.maxPort],
    bundlePolicy: 'max-bundle',
  };
  if (options.receiveAudioLevel) {
    config.headerExtensions = { audio: [new RTCRtpHeaderExtensionParameters({ uri: AUDIO_LEVEL_URI })] };
  }
  if (settings.hostAddresses?.length) {
    // Turn off interface discovery and gather only on the listed addresses (loopback included if listed).
    config.iceUseIpv4 = false;
    config.iceUseIpv6 = false;
    config.iceAdditionalHostAddresses = settings.hostAddresses;
    // A server that listens on loopback only talks to loopback peers only: never send checks elsewhere.
    if (settings.hostAddresses.every(isLoopback)) {
      config.iceFilterCandidatePair = (pair) => isLoopback(pair.remoteCandidate.host);
    }
  }
  return config;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * Rewrites the address of host candidates in an SDP to `announcedIp`, for a server behind 1:1 NAT.
 * RFC 8839 §5.1: candidate-attribute = foundation component transport priority address port "typ" type.
 */
export function announceAddress(sdp: string, announcedIp: string | undefined): string {
  if (!announcedIp) return sdp;
  return sdp.replace(/^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)/gm, `$1${announcedIp}$3`);
}
