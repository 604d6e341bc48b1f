/**
 * The package's one error class and its guard.
 * @module
 */

import { CodedError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Stable codes carried by {@link VirtioError}. `invalid-argument` is a TypeError-like code (wrong
 * kind of value), `out-of-range` a RangeError-like code (a number outside its allowed range),
 * `out-of-bounds` an access outside every guest-memory region, `not-contiguous` a byte range that
 * is inside guest memory but spans two regions where one view was asked for, `truncated` a byte
 * stream that ended inside a unit (e.g. a stream frame).
 *
 * @example
 * ```ts
 * const code: VirtioErrorCode = "out-of-bounds";
 * ```
 */
export type VirtioErrorCode = "invalid-argument" | "out-of-range" | "out-of-bounds" | "not-contiguous" | "truncated";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<VirtioErrorCode> = {
  "invalid-argument": true,
  "out-of-range": true,
  "out-of-bounds": true,
  "not-contiguous": true,
  "truncated": true,
};

/**
 * The error thrown by `@microvm/virtio-mmio`. Messages name the field and the limit, e.g.
 * `queueMaxSize: expected a power of two in 1..32768, got 300`.
 *
 * Device models never let it (or anything else) escape a guest-driven path: register accesses and
 * queue notifications turn guest mistakes into `DEVICE_NEEDS_RESET`. It is thrown to the *host*
 * program for bad construction arguments and for direct {@link GuestMemory} accesses outside
 * guest memory.
 *
 * @example
 * ```ts
 * try {
 *   mem.read32(0xffff_0000n);
 * } catch (e) {
 *   if (isVirtioError(e) && e.code === "out-of-bounds") console.log(e.message);
 * }
 * ```
 */
export class VirtioError extends CodedError<VirtioErrorCode> {
  /**
   * Creates the error; the package throws it, callers rarely need to.
   * @param code - the stable code
   * @param message - a message naming the field and the limit
   */
  constructor(code: VirtioErrorCode, message: string) {
    super("VirtioError", code, message);
  }
}

const guard = codedErrorGuard<VirtioError>("VirtioError", CODES);

/**
 * Whether `e` is a {@link VirtioError}, checked by `name` and `code` rather than `instanceof`, so
 * that it also recognises errors from a second copy of the package.
 *
 * @param e - any caught value
 * @returns true when `e` is a VirtioError with a known code
 * @example
 * ```ts
 * try { new GuestMemory([]).read8(0n); } catch (e) { isVirtioError(e); } // true
 * ```
 */
export function isVirtioError(e: unknown): e is VirtioError {
  return guard(e);
}
