// The browser example of @microvm/errors: a package's error class and guard built on the base,
// recognised by name and code (also a plain object as another copy of the package would throw).
// test/browser.test.ts bundles this for the browser platform and runs it without Node globals.
import { codedErrorGuard, FieldError, type ErrorCodes } from "@microvm/errors";

type DiskCode = "out-of-range" | "truncated";
const CODES: ErrorCodes<DiskCode> = { "out-of-range": true, truncated: true };
class DiskError extends FieldError<DiskCode> {
  constructor(code: DiskCode, field: string, detail: string) {
    super("DiskError", code, field, detail);
  }
}
const isDiskError = codedErrorGuard<DiskError>("DiskError", CODES);

try {
  throw new DiskError("out-of-range", "sectors", "expected 1..2048, got 0");
} catch (e) {
  console.log(isDiskError(e) ? `error ${e.code} ${e.field}: ${e.message}` : "unexpected error");
}
console.log(`another copy ${isDiskError({ name: "DiskError", code: "truncated", message: "x" })}`);
console.log(`unknown code ${isDiskError({ name: "DiskError", code: "nope", message: "x" })}`);
