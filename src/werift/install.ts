/**
 * Every process-wide change port545 makes to werift (0.25.2), installed from this one place. The server
 * (`src/sfu/peerConfig.ts`) and the Node client SDK (`src/client/node.ts`) both import it, so a bot or a
 * test peer behaves as the server does. Each module says which werift behaviour it replaces and why, checks
 * werift's shape when installed, and throws if it changed (an upgrade cannot bring the old behaviour back
 * silently). The declarations of werift's internals they use are in `internals.ts`.
 */
// No STUN server unless configured (werift would ask Google's for every connection).
import './noDefaultStun.js';
// ICE ufrags of 48 random bits, not 16 (checks on the one UDP port are routed by them).
import './iceUfrag.js';
// A peer that sends no usable candidate (mDNS names only) is found from its checks.
import './icePeerReflexive.js';
// The DTLS handshake's X25519 and ECDSA in OpenSSL, not JavaScript.
import './nativeDtlsCrypto.js';
// An ICE restart runs its checks (a connection whose consent expired comes back).
import './iceRestart.js';
// Losses across the RTP sequence number wrap are asked for again like any other.
import './nackWrap.js';
// SRTP rollover counters guessed as RFC 3711 says (a stream that lost >100 packets across a wrap recovers).
import './srtpRollover.js';
// A consent check answered late (a loaded machine, a growing queue) still counts (RFC 7675 §5.1).
import './consentWait.js';
// A DTLS handshake still retransmitting when its connection closes stops (it went on for 33 s).
import './dtlsFlightStop.js';
// Sender reports carry the time to the 2^-32 s, not truncated to the second (lip sync, recordings).
import './ntpTime.js';
// A check is paired with the remote candidate of its own transport (UDP and TCP share an address and port).
import './candidateTransport.js';
// With rtc.udpPort, every connection's media on one shared UDP socket (src/sfu/peerConfig.ts turns it on per connection).
import './udpMux.js';
