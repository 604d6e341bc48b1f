import { FieldError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Every way an ACPI table or AML stream can be rejected, as a stable string code.
 *
 * - `invalid-argument`: a value of the wrong type (TypeError-like).
 * - `out-of-range`: a field outside its range (RangeError-like); the message names table, field and range.
 * - `bad-string`: an OEM id, table id, creator id or AML string with a wrong length or character.
 * - `bad-name`: an AML NameSeg or name path that is not well formed (ACPI 6.4 §20.2.2).
 * - `too-long`: an AML package length beyond 2^28 - 1, a package with more than 255 elements,
 *   or a table longer than its length field can say.
 * - `truncated`: the bytes end before the structure does.
 * - `bad-signature`, `bad-length`, `bad-checksum`, `bad-revision`: the validator's checks, in
 *   Linux's order.
 * - `bad-entry`: a MADT entry or resource descriptor with an unknown type or a wrong length.
 * - `bad-aml`: an AML opcode or structure the decoder does not know.
 *
 * @example
 * ```ts
 * const code: AcpiErrorCode = "bad-checksum";
 * ```
 */
export type AcpiErrorCode =
  | "invalid-argument"
  | "out-of-range"
  | "bad-string"
  | "bad-name"
  | "too-long"
  | "truncated"
  | "bad-signature"
  | "bad-length"
  | "bad-checksum"
  | "bad-revision"
  | "bad-entry"
  | "bad-aml";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<AcpiErrorCode> = {
  "invalid-argument": true,
  "out-of-range": true,
  "bad-string": true,
  "bad-name": true,
  "too-long": true,
  "truncated": true,
  "bad-signature": true,
  "bad-length": true,
  "bad-checksum": true,
  "bad-revision": true,
  "bad-entry": true,
  "bad-aml": true,
};

/**
 * The one error type of `@microvm/acpi`. Its `code` is stable across versions; its message names
 * the table, the field and the limit, e.g. `MADT.entries[3].apicId: expected 0..254, got 300`.
 *
 * @example
 * ```ts
 * try {
 *   decodeRsdp(new Uint8Array(36));
 * } catch (e) {
 *   if (isAcpiError(e) && e.code === "bad-signature") console.error(e.message);
 * }
 * ```
 */
export class AcpiError extends FieldError<AcpiErrorCode> {
  /** The field the error is about, prefixed by its table (`FADT.resetRegister.address`, `AML[12]`). */
  declare readonly field: string;

  /**
   * Creates an error; the message is `${field}: ${detail}`.
   *
   * @param code - the stable error code
   * @param field - the table and field the error is about
   * @param detail - what was expected and what was found
   */
  constructor(code: AcpiErrorCode, field: string, detail: string) {
    super("AcpiError", code, field, detail);
  }
}

const guard = codedErrorGuard<AcpiError>("AcpiError", CODES);

/**
 * Tells whether `e` is an {@link AcpiError}, by name and code rather than `instanceof`, so it also
 * recognises errors thrown by another copy of this package.
 *
 * @param e - any thrown value
 * @returns true for an AcpiError
 * @example
 * ```ts
 * try { decodeAml(new Uint8Array([0xff, 0xff])); } catch (e) { if (!isAcpiError(e)) throw e; }
 * ```
 */
export function isAcpiError(e: unknown): e is AcpiError {
  return guard(e);
}
