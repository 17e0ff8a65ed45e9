import {
  type PeerConfig,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useSdesMid,
  useSdesRTPStreamId,
  useTransportWideCC,
  useTWCC,
} from 'werift';
import { isLoopback, parseAddressPort } from '../common/address.js';
import { AUDIO_LEVEL_URI } from './RtpSource.js';
// port545's changes to werift, for every peer connection in the process.
import '../werift/install.js';
import { udpMuxInterfaceAddresses } from '../werift/udpMux.js';

/** Network settings of the media plane, taken from the server config. */
export interface RtcSettings {
  /** Inclusive UDP port range for ICE sockets. */
  minPort: number;
  maxPort: number;
  /**
   * All media of this thread on this one UDP port (src/werift/udpMux.ts); 'range' (or unset): a socket
   * per connection from the range. (The server resolves the config's default, `mediaUdpPort`.)
   */
  udpPort?: number | 'range';
  /** With `udpPort`: passive ICE-TCP candidates on this TCP port (the HTTP port; src/werift/iceTcp.ts). */
  iceTcpPort?: number;
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

/**
 * Codecs the SFU forwards. Forwarding never transcodes, so a subscriber gets the publisher's codec. With
 * `transportCc` video asks for transport-wide congestion control feedback (on the connections that send).
 */
export function supportedCodecs(transportCc = false): {
  audio: RTCRtpCodecParameters[];
  video: RTCRtpCodecParameters[];
} {
  const rtcpFeedback = transportCc ? [...videoFeedback, useTWCC()] : videoFeedback;
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
        rtcpFeedback,
      }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        payloadType: 102,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        rtcpFeedback,
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
  /**
   * Negotiate what simulcast needs (RFC 8853): the MID and RID header extensions (RFC 8843, RFC 8852),
   * which name the stream of each packet of a publisher that sends several of one video. On connections
   * that receive.
   */
  receiveSimulcast?: boolean;
  /**
   * Ask for transport-wide congestion control feedback on video (draft-holmer-rmcat-transport-wide-cc-
   * extensions-01): the extension that numbers every packet sent, and the `transport-cc` feedback that
   * reports their arrival (BandwidthEstimator). On connections that send.
   */
  sendTransportCc?: boolean;
}

/** Where the next connection's search for a free ICE port starts, per port range (per thread). */
const searchFrom = new Map<string, number>();
/** A search that starts this close to the top of the range starts at the bottom again. */
const MIN_SEARCH_SPAN = 16;

/**
 * The port range werift searches for a connection's ICE socket. werift tries the ports one by one from
 * the bottom of the range, and each try waits a turn of the event loop: with hundreds of connections open
 * and media flowing, a new connection spent seconds passing the taken ports. Starting each search where
 * the last one ended makes it find a free port (one closed long ago) at once.
 */
export function icePortSearch(minPort: number, maxPort: number): [number, number] {
  const key = `${minPort}-${maxPort}`;
  let from = searchFrom.get(key) ?? minPort;
  if (maxPort - from < MIN_SEARCH_SPAN) from = minPort;
  searchFrom.set(key, from + 1);
  return [from, maxPort];
}

export function peerConfig(settings: RtcSettings, options: PeerOptions = {}): Partial<PeerConfig> {
  const config: Partial<PeerConfig> = {
    codecs: supportedCodecs(options.sendTransportCc),
    bundlePolicy: 'max-bundle',
    // werift's default lists Google's STUN server; port545 asks none (see noDefaultStun.ts).
    iceServers: [],
  };
  // One shared socket on the mux port, or a socket per connection from the range.
  if (typeof settings.udpPort === 'number') {
    config.iceInterfaceAddresses = udpMuxInterfaceAddresses(settings.udpPort, settings.iceTcpPort);
    if (settings.iceTcpPort !== undefined) {
      config.iceUseTcp = true;
      config.iceTcpPassive = true;
    }
  } else config.icePortRange = icePortSearch(settings.minPort, settings.maxPort);
  if (options.receiveAudioLevel || options.receiveSimulcast || options.sendTransportCc) {
    config.headerExtensions = {
      audio: options.receiveAudioLevel ? [new RTCRtpHeaderExtensionParameters({ uri: AUDIO_LEVEL_URI })] : [],
      video: [
        ...(options.receiveSimulcast ? [useSdesMid(), useSdesRTPStreamId()] : []),
        ...(options.sendTransportCc ? [useTransportWideCC()] : []),
      ],
    };
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
  if (config.iceUseTcp) {
    // werift also makes an active TCP candidate; the server never dials out to an address a client names.
    const filter = config.iceFilterCandidatePair;
    config.iceFilterCandidatePair = (pair) =>
      !(pair.localCandidate.transport === 'tcp' && pair.localCandidate.tcptype === 'active') &&
      (filter ? filter(pair) : true);
  }
  return config;
}

/**
 * Rewrites the address of host candidates in an SDP to `announcedIp`, for a server behind 1:1 NAT, and
 * their port to its port when it has one (a port forward to the one media port: every host candidate is
 * on that port, but an active TCP candidate, whose port 9 means it takes no connection).
 * RFC 8839 §5.1: candidate-attribute = foundation component transport priority address port "typ" type.
 */
export function announceAddress(sdp: string, announcedIp: string | undefined): string {
  const announced = announcedIp ? parseAddressPort(announcedIp) : undefined;
  if (!announced) return sdp;
  return sdp.replace(
    /^(a=candidate:\S+ \d+ \S+ \d+ )(\S+) (\d+)( typ host)(.*)$/gm,
    (_line, head: string, _address: string, port: string, typ: string, rest: string) => {
      const keep = announced.port === undefined || /\btcptype active\b/.test(rest);
      return `${head}${announced.address} ${keep ? port : announced.port}${typ}${rest}`;
    },
  );
}
