import { FieldError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Every way a vhost-user message, stream or feature set can be rejected, as a stable string code.
 *
 * - `invalid-argument`: a value of the wrong type given to an encoder or helper (TypeError-like).
 * - `out-of-range`: a number outside its field's range (RangeError-like), e.g. `nregions` 0 or 9,
 *   a config `size` above 256; the message names the field and the range.
 * - `truncated`: the bytes end before the 12-byte header, or before the `size` bytes it announces.
 * - `too-long`: a header whose `size` is above the payload limit (4096 bytes by default).
 * - `bad-version`: the version bits (0-1) of `flags` are not 1.
 * - `bad-flags`: a reserved bit of `flags` (4-31) is set, or a reply also asks for a reply.
 * - `bad-size`: `size` is not what the request's payload takes, or the bytes go on past it.
 * - `unknown-request`: a request number this codec does not know (0, or above 43); the message names it.
 * - `bad-index`: a vring index at or above the `maxQueues` the caller gave.
 * - `bad-region`: a memory region of size 0, or one whose guest address, user address or mmap
 *   offset plus its size passes 2^64.
 * - `overlap`: two memory regions of one table share guest addresses.
 * - `fd-count`: the number of file descriptors that came with the message is not the number the
 *   request carries (SET_MEM_TABLE: one per region; SET_VRING_KICK/CALL/ERR: one unless NOFD; …).
 * - `bad-payload`: a payload field with a value the spec does not define (a reserved bit, an
 *   enable or endianness other than 0/1, a config flag other than 0/1, a reserved `num` not 0).
 * - `not-offered`: SET_FEATURES or SET_PROTOCOL_FEATURES with a bit the back-end did not offer.
 * - `feature-dependency`: a protocol feature set without one it depends on (INBAND_NOTIFICATIONS
 *   without BACKEND_REQ and REPLY_ACK).
 *
 * @example
 * ```ts
 * const code: VhostUserErrorCode = "fd-count";
 * ```
 */
export type VhostUserErrorCode =
  | "invalid-argument"
  | "out-of-range"
  | "truncated"
  | "too-long"
  | "bad-version"
  | "bad-flags"
  | "bad-size"
  | "unknown-request"
  | "bad-index"
  | "bad-region"
  | "overlap"
  | "fd-count"
  | "bad-payload"
  | "not-offered"
  | "feature-dependency";

// Every code, in the order of the list above, checked against the union by the compiler (one
// missing or extra does not compile).
const CODES: ErrorCodes<VhostUserErrorCode> = {
  "invalid-argument": true,
  "out-of-range": true,
  "truncated": true,
  "too-long": true,
  "bad-version": true,
  "bad-flags": true,
  "bad-size": true,
  "unknown-request": true,
  "bad-index": true,
  "bad-region": true,
  "overlap": true,
  "fd-count": true,
  "bad-payload": true,
  "not-offered": true,
  "feature-dependency": true,
};

/**
 * Every {@link VhostUserErrorCode}, in the order of the list above (the order the decoder checks in,
 * roughly: header, size, payload, descriptors).
 *
 * @example
 * ```ts
 * const counts = Object.fromEntries(VHOST_USER_ERROR_CODES.map((c) => [c, 0]));
 * ```
 */
export const VHOST_USER_ERROR_CODES: readonly VhostUserErrorCode[] = Object.keys(CODES) as VhostUserErrorCode[];

/**
 * The one error type of `@microvm/vhost-user`. Its `code` is stable across versions; its message
 * names the request, the field and the limit, e.g.
 * `SET_MEM_TABLE.nregions: expected 1..8, got 9`.
 *
 * @example
 * ```ts
 * try {
 *   decodeVhostUserMessage(bytes, fds.length);
 * } catch (e) {
 *   if (isVhostUserError(e) && e.code === "fd-count") closeAll(fds);
 * }
 * ```
 */
export class VhostUserError extends FieldError<VhostUserErrorCode> {
  /** The field the error is about, prefixed by its request or part (`header.size`, `SET_VRING_ADDR.flags`). */
  declare readonly field: string;

  /**
   * Creates an error; the message is `${field}: ${detail}`.
   *
   * @param code - the stable error code
   * @param field - the request and field the error is about
   * @param detail - what was expected and what was found
   */
  constructor(code: VhostUserErrorCode, field: string, detail: string) {
    super("VhostUserError", code, field, detail);
  }
}

const guard = codedErrorGuard<VhostUserError>("VhostUserError", CODES);

/**
 * Tells whether `e` is a {@link VhostUserError}, by name and code rather than `instanceof`, so it
 * also recognises errors thrown by another copy of this package.
 *
 * @param e - any thrown value
 * @returns true for a VhostUserError
 * @example
 * ```ts
 * try { decodeVhostUserMessage(new Uint8Array(4), 0); } catch (e) { if (!isVhostUserError(e)) throw e; }
 * ```
 */
export function isVhostUserError(e: unknown): e is VhostUserError {
  return guard(e);
}
