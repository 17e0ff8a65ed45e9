import type { ErrorCode } from '../protocol/errors.js';
import { errorCatalog } from '../protocol/errors.js';

/** Thrown when a closed object (room, participant, track) is used again. */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/**
 * An error meant for a client: carries a catalog code, the HTTP status that goes with it and a message a
 * person can act on. Anything else that reaches the edge is reported as INTERNAL_ERROR without details.
 */
export class CodedError extends Error {
  override name = 'CodedError';
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? errorCatalog[code].message);
    this.code = code;
    this.status = errorCatalog[code].status;
  }
}
