import { FieldError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Every way an MPTable can be rejected, as a stable string code.
 *
 * - `invalid-argument`: a value of the wrong type (TypeError-like).
 * - `out-of-range`: a field outside its range (RangeError-like); the message names field and range.
 * - `too-many-cpus` / `no-cpus`: 0 or more than 254 processors.
 * - `duplicate-apic-id`, `apic-id-conflict` (a CPU's id equals the IOAPIC's), `bsp-count`.
 * - `bad-string`: an OEM id, product id or bus type too long or not printable ASCII.
 * - `misaligned`: the floating pointer is not 16-byte aligned.
 * - `above-1mib`: the table would not end below 1 MiB.
 * - `truncated`: the bytes end before the structure does.
 * - `bad-signature`, `bad-length`, `bad-checksum`, `bad-spec-revision`, `null-lapic`,
 *   `unknown-entry`, `reserved-bits`, `default-configuration`, `no-processors`: decoding checks.
 *
 * @example
 * ```ts
 * const code: MptableErrorCode = "too-many-cpus";
 * ```
 */
export type MptableErrorCode =
  | "invalid-argument"
  | "out-of-range"
  | "too-many-cpus"
  | "no-cpus"
  | "duplicate-apic-id"
  | "apic-id-conflict"
  | "bsp-count"
  | "bad-string"
  | "misaligned"
  | "above-1mib"
  | "truncated"
  | "bad-signature"
  | "bad-length"
  | "bad-checksum"
  | "bad-spec-revision"
  | "null-lapic"
  | "unknown-entry"
  | "reserved-bits"
  | "default-configuration"
  | "no-processors";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<MptableErrorCode> = {
  "invalid-argument": true,
  "out-of-range": true,
  "too-many-cpus": true,
  "no-cpus": true,
  "duplicate-apic-id": true,
  "apic-id-conflict": true,
  "bsp-count": true,
  "bad-string": true,
  "misaligned": true,
  "above-1mib": true,
  "truncated": true,
  "bad-signature": true,
  "bad-length": true,
  "bad-checksum": true,
  "bad-spec-revision": true,
  "null-lapic": true,
  "unknown-entry": true,
  "reserved-bits": true,
  "default-configuration": true,
  "no-processors": true,
};

/**
 * The one error type of `@microvm/mptable`. Its `code` is stable across versions; its message
 * names the field and the limit, e.g. `cpus: expected 1..254, got 300`.
 *
 * @example
 * ```ts
 * try {
 *   encodeMpTable({ address: 0x9fc00, cpus: 300 });
 * } catch (e) {
 *   if (isMptableError(e) && e.code === "too-many-cpus") console.error(e.message);
 * }
 * ```
 */
export class MptableError extends FieldError<MptableErrorCode> {
  /** The field the error is about (`cpus`, `processors[3].apicId`, `header.checksum`, …). */
  declare readonly field: string;

  /**
   * Creates an error; the message is `${field}: ${detail}`.
   *
   * @param code - the stable error code
   * @param field - the field the error is about
   * @param detail - what was expected and what was found
   */
  constructor(code: MptableErrorCode, field: string, detail: string) {
    super("MptableError", code, field, detail);
  }
}

const guard = codedErrorGuard<MptableError>("MptableError", CODES);

/**
 * Tells whether `e` is an {@link MptableError}, by name and code rather than `instanceof`, so it
 * also recognises errors thrown by another copy of this package.
 *
 * @param e - any thrown value
 * @returns true for an MptableError
 * @example
 * ```ts
 * const ok = (() => { try { decodeMpTable(new Uint8Array(4), 0); return true; } catch (e) { return !isMptableError(e); } })();
 * ```
 */
export function isMptableError(e: unknown): e is MptableError {
  return guard(e);
}
