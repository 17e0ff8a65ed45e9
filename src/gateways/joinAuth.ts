/**
 * How the gateways ask whether a join may happen: from the `Authorization` header of a WHIP/WHEP
 * request (a bearer access token in secured mode). Rejection throws a CodedError (401/403).
 */
export type JoinAction = 'publish' | 'subscribe';

export interface JoinGrant {
  /** Display name carried by the token, if any. */
  name?: string;
}

export type JoinAuthorizer = (
  authorization: string | undefined,
  room: string,
  action: JoinAction,
) => Promise<JoinGrant>;

/** Open server: anyone may join any room. */
export const allowEveryone: JoinAuthorizer = async () => ({});
