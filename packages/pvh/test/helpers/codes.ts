// The PvhError code `f` throws, for boundary tables: "no error", or "other error" for anything
// that is not a PvhError (which a test then reports as a failure).
import { isPvhError, type PvhErrorCode } from "../../src/index.ts";

export function codeOf(f: () => unknown): PvhErrorCode | "no error" | "other error" {
  try {
    f();
    return "no error";
  } catch (e) {
    return isPvhError(e) ? e.code : "other error";
  }
}
