// Test-only helpers, written independently of the package's own code.
import { isMptableError } from "../src/index.js";

/** 8-bit sum of b[from..to). */
export function sum8(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i]!;
  return s & 0xff;
}

/** Re-balances both checksums of a contiguous table (floating pointer at 0, table at 16). */
export function fixChecksums(b: Uint8Array): Uint8Array {
  const len = b[16 + 4]! | (b[16 + 5]! << 8);
  const end = Math.min(b.length, 16 + len);
  b[16 + 7] = 0;
  b[16 + 7] = (256 - sum8(b, 16, end)) & 0xff;
  b[10] = 0;
  b[10] = (256 - sum8(b, 0, 16)) & 0xff;
  return b;
}

/** The MptableError code thrown by `f`, or "no error"; anything else thrown is rethrown. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isMptableError(e)) return e.code;
    throw e;
  }
  return "no error";
}

/** Entry sizes by type, per MP spec 1.4 §4.3 (tables 4-3 to 4-8). */
export const ENTRY_SIZE: Record<number, number> = { 0: 20, 1: 8, 2: 8, 3: 8, 4: 8 };
