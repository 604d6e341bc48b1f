/**
 * @packageDocumentation
 * `@microvm/errors`: the one error style of the `@microvm` packages. Each package has one error
 * class with a stable string `code` (and, for the codecs, the `field` its message names), built on
 * {@link CodedError} or {@link FieldError}, and an `isXError(e)` guard made by
 * {@link codedErrorGuard}, which checks the error's `name` and `code` rather than `instanceof`, so
 * that errors from a second copy of a package are recognised too.
 *
 * It has no dependencies and uses no Node API: it runs in browsers.
 *
 * ```ts
 * import { FieldError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";
 *
 * type TableErrorCode = "out-of-range" | "bad-checksum";
 * const CODES: ErrorCodes<TableErrorCode> = { "out-of-range": true, "bad-checksum": true };
 * class TableError extends FieldError<TableErrorCode> {
 *   constructor(code: TableErrorCode, field: string, detail: string) {
 *     super("TableError", code, field, detail);
 *   }
 * }
 * const isTableErrorGuard = codedErrorGuard<TableError>("TableError", CODES);
 * function isTableError(e: unknown): e is TableError {
 *   return isTableErrorGuard(e);
 * }
 * ```
 */
export { CodedError, FieldError } from "./coded-error.js";
export { codedErrorGuard, type ErrorCodes } from "./guard.js";
