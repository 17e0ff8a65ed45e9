/**
 * The one catalog of error codes, shared by HTTP replies and WebSocket `error` messages.
 * `status` is the HTTP status an HTTP endpoint answers with; WebSocket replies carry the code and message.
 */
export const errorCatalog = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  INVALID_JSON: { status: 400, message: 'The message is not valid JSON' },
  INVALID_MESSAGE: { status: 400, message: 'The message does not match the protocol schema' },
  UNKNOWN_MESSAGE_TYPE: { status: 400, message: 'Unknown message type' },
  UNSUPPORTED_PROTOCOL_VERSION: { status: 400, message: 'Unsupported protocol version' },
  INVALID_SDP: { status: 400, message: 'The SDP could not be applied' },
  INVALID_CANDIDATE: { status: 400, message: 'The ICE candidate could not be applied' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Unsupported content type: send the SDP offer as Content-Type: application/sdp',
  },
  SESSION_NOT_FOUND: { status: 404, message: 'No such WHIP or WHEP session (it ended, or never existed)' },
  NO_MEDIA: { status: 400, message: 'The offer has no audio or video to send or receive' },
  NO_COMMON_CODEC: { status: 400, message: 'The offer has none of the codecs the room sends' },
  NOT_JOINED: { status: 409, message: 'Join a room before sending this message' },
  ALREADY_JOINED: { status: 409, message: 'This connection has already joined a room' },
  TRACK_NOT_FOUND: { status: 404, message: 'No such track' },
  ROOM_NOT_FOUND: { status: 404, message: 'Room not found' },
  PARTICIPANT_NOT_FOUND: { status: 404, message: 'Participant not found' },
  RESUME_FAILED: { status: 410, message: 'The session cannot be resumed; join again' },
  SDP_TOO_LARGE: { status: 413, message: 'The SDP is too large' },
  CHAT_TOO_LONG: { status: 413, message: 'The chat message is too long' },
  INVALID_CARD: { status: 400, message: 'The calling card is not valid' },
  TOO_MANY_REACTIONS: { status: 429, message: 'At most 5 reactions in 10 seconds' },
  CARD_RATE_LIMITED: { status: 429, message: 'The calling card changes too often; try again in a minute' },
  TOO_MANY_ROOMS: { status: 503, message: 'This server has no room for another room' },
  RATE_LIMITED: { status: 429, message: 'Too many messages; slow down' },
  ROOM_FULL: { status: 403, message: 'The room is full' },
  TOO_MANY_TRACKS: { status: 403, message: 'Too many published tracks' },
  JOIN_TIMEOUT: { status: 408, message: 'No join message arrived in time' },
  CONNECT_TIMEOUT: {
    status: 408,
    message:
      'The media connection (ICE and DTLS) did not come up in time; check UDP reachability and join again',
  },
  TOO_MANY_SESSIONS: {
    status: 429,
    message: 'Too many open WHIP/WHEP sessions from your address or token; end one first',
  },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'Pages of this origin may not open signaling here' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  // Who may join (src/auth): each refusal has its own code so a client can say what to do about it.
  TOKEN_REQUIRED: { status: 401, message: 'This server requires an access token to join' },
  TOKEN_MALFORMED: { status: 401, message: 'The access token is not a valid JWT' },
  TOKEN_ALG_NOT_ALLOWED: { status: 401, message: 'The access token must be signed with HS256' },
  TOKEN_BAD_SIGNATURE: { status: 401, message: 'The access token signature does not verify' },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; ask for a new one' },
  TOKEN_LIFETIME_TOO_LONG: {
    status: 401,
    message: 'The access token lives longer than the 30 days allowed; ask for a shorter one',
  },
  TOKEN_WRONG_ROOM: { status: 403, message: 'The access token is for another room' },
  PASSWORD_REQUIRED: { status: 401, message: 'This room needs a password' },
  PASSWORD_WRONG: { status: 401, message: 'Wrong room password' },
  TOO_MANY_ATTEMPTS: { status: 429, message: 'Too many wrong passwords; wait and try again' },
  ROOM_LOCKED: { status: 403, message: 'The room is locked; ask a host to unlock it' },
  REMOVED_FROM_ROOM: { status: 403, message: 'A host removed you from this room' },
  NOT_HOST: { status: 403, message: 'Only a host of the room can do this' },
  PUBLISH_NOT_ALLOWED: { status: 403, message: 'Your access token does not allow publishing' },
  TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many connections from your address' },
  API_KEY_REQUIRED: { status: 401, message: 'The admin API needs "Authorization: Bearer <API key>"' },
  API_KEY_INVALID: { status: 401, message: 'Wrong API key' },
  ADMIN_API_DISABLED: {
    status: 403,
    message: 'The admin API is off; set PORT545_API_KEY and PORT545_API_SECRET to turn it on',
  },
  SERVER_SHUTTING_DOWN: { status: 503, message: 'The server is shutting down' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;
