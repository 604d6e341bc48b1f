/**
 * The guard factory.
 * @module
 */

/**
 * Every code of a union, each as a key whose value is `true`: the run-time list of a package's
 * codes, written so that the compiler checks it against the union (an object literal of this type
 * that leaves out a code, or adds one the union does not have, does not compile).
 *
 * @typeParam C - the union of codes
 * @example
 * ```ts
 * import type { ErrorCodes } from "@microvm/errors";
 * type ParseErrorCode = "truncated" | "bad-magic";
 * const codes: ErrorCodes<ParseErrorCode> = { truncated: true, "bad-magic": true };
 * ```
 */
export type ErrorCodes<C extends string> = { readonly [K in C]: true };

/**
 * Makes the guard of an error class: a function that tells whether a value is such an error by
 * its `name` and its `code` (a string among `codes`), not by `instanceof`, so that it also
 * recognises the errors of another copy of the package (its other module format, another
 * version) and errors rebuilt from plain data. Functions and primitives are never errors here,
 * whatever properties they carry.
 *
 * A package exports its guard as a function of its own (`isPvhError`) that calls the one made
 * here, once, at module load.
 *
 * @typeParam E - the error type the guard narrows to
 * @param name - the `name` the errors carry (`"PvhError"`)
 * @param codes - every code of `E`, as an {@link ErrorCodes} object
 * @returns a guard that reads the value's `name` and `code` and nothing else
 * @example
 * ```ts
 * import { CodedError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";
 *
 * type ParseErrorCode = "truncated" | "bad-magic";
 * class ParseError extends CodedError<ParseErrorCode> {
 *   constructor(code: ParseErrorCode, message: string) {
 *     super("ParseError", code, message);
 *   }
 * }
 * const CODES: ErrorCodes<ParseErrorCode> = { truncated: true, "bad-magic": true };
 * const isParseErrorGuard = codedErrorGuard<ParseError>("ParseError", CODES);
 * export function isParseError(e: unknown): e is ParseError {
 *   return isParseErrorGuard(e);
 * }
 *
 * isParseError(new ParseError("truncated", "header: expected 16 bytes, got 3")); // true
 * isParseError({ name: "ParseError", code: "bad-magic", message: "from another copy" }); // true
 * isParseError({ name: "ParseError", code: "nope" }); // false: not one of its codes
 * isParseError(Object.assign(new Error("x"), { code: "truncated" })); // false: named "Error"
 * ```
 */
export function codedErrorGuard<
  E extends {
    /** The error's name, the one the guard checks for. */
    readonly name: string;
    /** The error's code, one of those the guard is given. */
    readonly code: string;
  },
>(
  name: string,
  codes: ErrorCodes<E["code"]>,
): (e: unknown) => e is E {
  // A Set of the own keys, so that an inherited key ("toString", "__proto__") is no code; it holds
  // strings only, so a code of another type (a number, a String object) is never in it.
  const known: ReadonlySet<unknown> = new Set(Object.keys(codes));
  return (e: unknown): e is E => {
    if (typeof e !== "object" || e === null) return false;
    const o = e as { name?: unknown; code?: unknown };
    return o.name === name && known.has(o.code);
  };
}
