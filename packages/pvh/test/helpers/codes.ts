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

/** The code and message `f` throws as a PvhError, or "no error". Anything else fails the test. */
export function thrown(f: () => unknown): { code: PvhErrorCode; message: string } | "no error" {
  try {
    f();
    return "no error";
  } catch (e) {
    if (isPvhError(e)) return { code: e.code, message: e.message };
    throw e;
  }
}

/** What {@link thrown} gives for a PvhError with this code and message. */
export const err = (code: PvhErrorCode, message: string): { code: PvhErrorCode; message: string } => ({ code, message });
