/**
 * The base classes of the packages' errors.
 * @module
 */

/**
 * The base of every `@microvm` package's error class: an `Error` with a stable string `code`.
 *
 * A package derives one class from it (`MptableError`, `PvhError`, …) that fixes the error's
 * `name` and the union of its codes, and recognises its errors with a guard made by
 * {@link codedErrorGuard}, by `name` and `code`. Not by `instanceof`: two copies of a package (its
 * ES module and its CommonJS build, or two versions in one dependency tree) have two classes,
 * while their errors carry the same name and codes. For the same reason a package's class
 * passes its name as a string rather than reading the constructor's, which a minifier may rename.
 *
 * @typeParam C - the package's union of codes
 * @example
 * ```ts
 * import { CodedError } from "@microvm/errors";
 *
 * type ParseErrorCode = "truncated" | "bad-magic";
 * class ParseError extends CodedError<ParseErrorCode> {
 *   constructor(code: ParseErrorCode, message: string) {
 *     super("ParseError", code, message);
 *   }
 * }
 * const e = new ParseError("truncated", "header: expected 16 bytes, got 3");
 * console.log(e.name, e.code, e.message); // ParseError truncated header: expected 16 bytes, got 3
 * ```
 */
export class CodedError<C extends string = string> extends Error {
  /** What went wrong, as a stable code: it does not change across versions, unlike the message. */
  readonly code: C;

  /**
   * Creates an error named `name` with the given code and message.
   *
   * @param name - the error's `name`, the derived class's name (`"PvhError"`)
   * @param code - the stable code
   * @param message - the message, naming the field, the limit and the value found
   * @param options - passed to `Error` as they are (`{ cause }`); when absent the error has no
   *   `cause` property
   * @example
   * ```ts
   * import { CodedError } from "@microvm/errors";
   * const e = new CodedError("DemoError", "closed", "vm: already closed", { cause: new Error("EBADF") });
   * console.log(e.name, e.code, e.cause instanceof Error); // DemoError closed true
   * ```
   */
  constructor(name: string, code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = name;
    this.code = code;
  }
}

/**
 * A {@link CodedError} about one field of an input, whose message is always
 * `${field}: ${detail}` (`cpus: expected 1..254, got 300`), with the field kept apart for
 * programs.
 *
 * @typeParam C - the package's union of codes
 * @example
 * ```ts
 * import { FieldError } from "@microvm/errors";
 *
 * type TableErrorCode = "out-of-range" | "bad-checksum";
 * class TableError extends FieldError<TableErrorCode> {
 *   constructor(code: TableErrorCode, field: string, detail: string) {
 *     super("TableError", code, field, detail);
 *   }
 * }
 * const e = new TableError("out-of-range", "cpus", "expected 1..254, got 300");
 * console.log(e.field, "|", e.message); // cpus | cpus: expected 1..254, got 300
 * ```
 */
export class FieldError<C extends string = string> extends CodedError<C> {
  /** The field the error is about (`cpus`, `processors[3].apicId`, `header.checksum`). */
  readonly field: string;

  /**
   * Creates an error whose message is `${field}: ${detail}`.
   *
   * @param name - the error's `name`, the derived class's name (`"MptableError"`)
   * @param code - the stable code
   * @param field - the field the error is about
   * @param detail - what was expected and what was found
   * @param options - passed to `Error` as they are (`{ cause }`)
   * @example
   * ```ts
   * import { FieldError } from "@microvm/errors";
   * const e = new FieldError("DemoError", "bad-checksum", "header.checksum", "expected 0x00, got 0x5a");
   * console.log(e.message); // header.checksum: expected 0x00, got 0x5a
   * ```
   */
  constructor(name: string, code: C, field: string, detail: string, options?: ErrorOptions) {
    super(name, code, `${field}: ${detail}`, options);
    this.field = field;
  }
}
