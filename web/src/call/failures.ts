import { ServerError } from '../sdk.ts';

/** Why someone is not (or no longer) in the call, and what they can do about it. */
export type FailureKind = 'unreachable' | 'full' | 'refused' | 'password' | 'lost' | 'removed' | 'ended';

export interface Failure {
  kind: FailureKind;
  message: string;
  /** The server's error code, when the server refused. */
  code?: string;
}

/** An error as a person reads it: the server's message without its code. */
export function messageOf(error: unknown): string {
  if (error instanceof ServerError) return error.message.replace(/^[A-Z_]+: /, '');
  return error instanceof Error ? error.message : String(error);
}

/** What went wrong with joining, in words a person can act on. */
export function failureOf(error: unknown): Failure {
  if (error instanceof ServerError) {
    const code = error.code;
    switch (code) {
      case 'ROOM_FULL':
        return { kind: 'full', code, message: 'This room is full. Try again later, or start a new room.' };
      case 'VIEWERS_FULL':
        return {
          kind: 'full',
          code,
          message: 'This broadcast has as many viewers as it takes. Try again later.',
        };
      case 'TOO_MANY_ROOMS':
        return {
          kind: 'full',
          code,
          message: 'This server cannot open another room right now. Try again later.',
        };
      case 'SERVER_SHUTTING_DOWN':
        return { kind: 'unreachable', code, message: 'The server is restarting. Try again in a moment.' };
      case 'PASSWORD_REQUIRED':
        return { kind: 'password', code, message: 'This room has a password. Ask the host for it.' };
      case 'PASSWORD_WRONG':
        return { kind: 'password', code, message: 'That password is not right. Check it and try again.' };
      case 'TOO_MANY_ATTEMPTS':
        return {
          kind: 'password',
          code,
          message: 'Too many wrong passwords. Wait a minute, then try again.',
        };
      case 'ROOM_LOCKED':
        return {
          kind: 'refused',
          code,
          message: 'The room is locked. Ask a host to unlock it, then try again.',
        };
      case 'REMOVED_FROM_ROOM':
        return { kind: 'removed', code, message: 'A host removed you from this room.' };
      default:
        return { kind: 'refused', code, message: `The server did not let you join: ${messageOf(error)}.` };
    }
  }
  return {
    kind: 'unreachable',
    message:
      'The port545 server did not answer. Check your network connection and try again; if it keeps happening, the server may be down.',
  };
}

/** Why the call ended when the server ended it (the `bye` reason), or the connection was lost. */
export function endedFailure(reason: string | undefined): Failure {
  if (reason?.includes('removed')) return { kind: 'removed', message: 'A host removed you from the call.' };
  if (reason?.includes('ended by')) return { kind: 'ended', message: `The call was ${reason}.` };
  if (reason?.includes('shutting down')) {
    return { kind: 'lost', message: 'The server is restarting. Try again in a moment.' };
  }
  if (reason) return { kind: 'ended', message: `The call ended: ${reason}.` };
  return { kind: 'lost', message: 'The connection to the server was lost and could not be resumed.' };
}

/** Why a host's Record or Stop recording did not work, in words a person can act on. */
export function recordingProblem(error: unknown, starting: boolean): string {
  if (error instanceof ServerError) {
    switch (error.code) {
      case 'RECORDING_DISABLED':
        return 'Recording is turned off on this server.';
      case 'NOT_HOST':
        return 'Only a host of the room can record the call.';
      case 'ALREADY_RECORDING':
        return 'The call is already being recorded.';
      case 'NOT_RECORDING':
        return 'The call is not being recorded.';
    }
  }
  return `${starting ? 'The recording did not start' : 'The recording did not stop'}: ${messageOf(error)}`;
}

/**
 * Why a recording stopped (the `recording` message's `reason` and `error`; `who`: the host who stopped it,
 * when it was someone else), for a notice; `failed` when it stopped by itself before anyone asked.
 */
export function recordingStopped(
  reason: string | undefined,
  error: string | undefined,
  who?: string,
): { text: string; failed: boolean } {
  switch (reason) {
    case undefined:
    case 'stopped':
      return { text: who ? `Recording stopped by ${who}.` : 'Recording stopped.', failed: false };
    case 'room ended':
      return { text: 'Recording stopped: the call ended.', failed: false };
    case 'server stopping':
      return { text: 'Recording stopped: the server is restarting.', failed: false };
    case 'size limit':
      return { text: 'Recording stopped: it reached the size limit of this server.', failed: true };
    case 'write failed':
      return {
        text: `Recording stopped: the server could not save it${error ? ` (${error})` : ''}.`,
        failed: true,
      };
    default:
      return { text: `Recording stopped: ${reason}${error ? ` (${error})` : ''}.`, failed: true };
  }
}
