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

const CODES: ReadonlySet<string> = new Set<AcpiErrorCode>([
  "invalid-argument",
  "out-of-range",
  "bad-string",
  "bad-name",
  "too-long",
  "truncated",
  "bad-signature",
  "bad-length",
  "bad-checksum",
  "bad-revision",
  "bad-entry",
  "bad-aml",
]);

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
export class AcpiError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: AcpiErrorCode;
  /** The field the error is about, prefixed by its table (`FADT.resetRegister.address`, `AML[12]`). */
  readonly field: string;

  /**
   * Creates an error; the message is `${field}: ${detail}`.
   *
   * @param code - the stable error code
   * @param field - the table and field the error is about
   * @param detail - what was expected and what was found
   */
  constructor(code: AcpiErrorCode, field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "AcpiError";
    this.code = code;
    this.field = field;
  }
}

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
  if (typeof e !== "object" || e === null) return false;
  const { name, code } = e as { name?: unknown; code?: unknown };
  return name === "AcpiError" && typeof code === "string" && CODES.has(code);
}
