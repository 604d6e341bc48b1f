// Test-only helpers, written independently of the package's code.
import { isAcpiError } from "../src/index.js";
import { typedErrorOf } from "../../../test/error-codes.ts";

/** 8-bit sum of b[from..to). */
export function sum8(b: Uint8Array, from = 0, to = b.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i]!;
  return s & 0xff;
}

/** Re-balances the SDT checksum (byte 9) of a table whose length field is right. */
export function fixChecksum(b: Uint8Array): Uint8Array {
  const len = Math.min(b.length, new DataView(b.buffer, b.byteOffset + 4, 4).getUint32(0, true));
  b[9] = 0;
  b[9] = (256 - sum8(b, 0, len)) & 0xff;
  return b;
}

/** The AcpiError `f` throws, as code, field and message; fails when `f` throws nothing, rethrows any other error. */
export function acpiErrorOf(f: () => unknown): { code: string; field: string; message: string } {
  const e = typedErrorOf(f, isAcpiError);
  if (e === undefined) throw new Error("no error thrown");
  return { code: e.code, field: e.field, message: e.message };
}

/** The AcpiError code thrown by `f`, or "no error"; anything else thrown is rethrown. */
export function codeOf(f: () => unknown): string {
  return typedErrorOf(f, isAcpiError)?.code ?? "no error";
}

/** Hex bytes from a string like "10 4c 12". */
export function hexBytes(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).filter(Boolean).map((x) => parseInt(x, 16)));
}

/** A microvm-like generic address: 8-bit MMIO register. */
export const mmio8 = (address: bigint) => ({ space: "memory" as const, bitWidth: 8, bitOffset: 0, accessSize: "byte" as const, address });
