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
  NOT_JOINED: { status: 409, message: 'Join a room before sending this message' },
  ALREADY_JOINED: { status: 409, message: 'This connection has already joined a room' },
  TRACK_NOT_FOUND: { status: 404, message: 'No such track' },
  ROOM_NOT_FOUND: { status: 404, message: 'Room not found' },
  PARTICIPANT_NOT_FOUND: { status: 404, message: 'Participant not found' },
  RESUME_FAILED: { status: 410, message: 'The session cannot be resumed; join again' },
  MESSAGE_TOO_LARGE: { status: 413, message: 'The message is too large' },
  SDP_TOO_LARGE: { status: 413, message: 'The SDP is too large' },
  CHAT_TOO_LONG: { status: 413, message: 'The chat message is too long' },
  TOO_MANY_ROOMS: { status: 503, message: 'This server has no room for another room' },
  RATE_LIMITED: { status: 429, message: 'Too many messages; slow down' },
  ROOM_FULL: { status: 403, message: 'The room is full' },
  TOO_MANY_TRACKS: { status: 403, message: 'Too many published tracks' },
  JOIN_TIMEOUT: { status: 408, message: 'No join message arrived in time' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  SERVER_SHUTTING_DOWN: { status: 503, message: 'The server is shutting down' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;
