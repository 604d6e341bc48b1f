import { VhostUserError } from "./errors.js";

/** A little-endian DataView over exactly the bytes of `b`, safe on subarrays. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** 2^64, the first address past the 64-bit space. */
export const TWO_64: bigint = 1n << 64n;
const U64_MAX = TWO_64 - 1n;

/** Throws unless `value` is an integer in [min, max]. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new VhostUserError("invalid-argument", field, `expected an integer ${hex(min)}..${hex(max)}, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new VhostUserError("out-of-range", field, `expected ${hex(min)}..${hex(max)}, got ${hex(value)}`);
  return value;
}

/** Throws unless `value` is a non-negative integer (number or bigint) below 2^64; returns it as a bigint. */
export function checkU64(field: string, value: unknown): bigint {
  let v: bigint;
  if (typeof value === "bigint") v = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) v = BigInt(value);
  else throw new VhostUserError("invalid-argument", field, `expected an integer 0..0x${U64_MAX.toString(16)} (number or bigint), got ${describe(value)}`);
  if (v < 0n || v > U64_MAX) {
    throw new VhostUserError("out-of-range", field, `expected 0..0x${U64_MAX.toString(16)}, got ${v < 0n ? v : "0x" + v.toString(16)}`);
  }
  return v;
}

/** Throws unless `value` is a boolean or undefined (then false). */
export function checkBool(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new VhostUserError("invalid-argument", field, `expected a boolean, got ${describe(value)}`);
  return value;
}

/** Throws unless `b` is a Uint8Array. */
export function checkBytes(field: string, b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new VhostUserError("invalid-argument", field, `expected a Uint8Array, got ${describe(b)}`);
  return b;
}

/** `0x…` for numbers above 0xffff, decimal below. */
export function hex(n: number | bigint): string {
  return n > 0xffff ? `0x${n.toString(16)}` : String(n);
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Uint8Array) return `a Uint8Array of ${v.length} bytes`;
  return typeof v;
}
