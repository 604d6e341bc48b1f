// Internal helpers: argument validation and little-endian access. Not exported from the package.
import { PvhError } from "./errors.js";

/** 2^32 as a bigint. */
export const TWO_32: bigint = 0x1_0000_0000n;
/** 2^64 - 1. */
export const U64_MAX: bigint = 0xffff_ffff_ffff_ffffn;

export function hex(v: bigint | number): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${BigInt(v).toString(16)}`;
}

/** Accepts number | bigint in [0, 2^64) and returns a bigint. */
export function toU64(field: string, v: unknown): bigint {
  if (typeof v === "bigint") {
    if (v < 0n || v > U64_MAX) throw new PvhError("out-of-range", `${field}: expected 0..0xffffffffffffffff, got ${hex(v)}`);
    return v;
  }
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || !Number.isSafeInteger(v))
      throw new PvhError("out-of-range", `${field}: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got ${v}`);
    return BigInt(v);
  }
  throw new PvhError("invalid-argument", `${field}: expected a number or a bigint, got ${typeof v}`);
}

/**
 * Validates a u64 given as number | bigint and returns it unchanged (no BigInt allocation for
 * numbers); write it with putU64.
 */
export function checkU64(field: string, v: unknown): number | bigint {
  if (typeof v === "number") {
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) return v;
  } else if (typeof v === "bigint") {
    if (v >= 0n && v <= U64_MAX) return v;
  }
  return toU64(field, v); // throws with the right code and message
}

/** True for a number or bigint that is a valid u64 (the fast path of checkU64, no allocation). */
export function isU64(v: unknown): v is number | bigint {
  return typeof v === "number" ? v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v) : typeof v === "bigint" && v >= 0n && v <= U64_MAX;
}

// The start_info encoder writes bytes with explicit little-endian shifts instead of a DataView: on
// Node 20 a DataView costs about 200 ns to create (and materialises the ArrayBuffer of a small
// on-heap Uint8Array), more than encoding a whole start_info. The table encoders (module list,
// memory map) create one DataView per call, which pays off over many entries.

/** Writes a u32 little-endian. */
export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Writes a validated u64 little-endian. */
export function putU64(b: Uint8Array, off: number, v: number | bigint): void {
  if (typeof v === "bigint") {
    put32(b, off, Number(v & 0xffff_ffffn));
    put32(b, off + 4, Number(v >> 32n));
  } else {
    // v is a safe integer: `>>> 0` is exactly v mod 2^32, and the subtraction is exact.
    const lo = v >>> 0;
    put32(b, off, lo);
    put32(b, off + 4, v === lo ? 0 : (v - lo) / 0x1_0000_0000);
  }
}

/** Writes a validated u64 little-endian through a DataView (for tables of many entries). */
export function putU64Dv(dv: DataView, off: number, v: number | bigint): void {
  if (typeof v === "bigint") {
    dv.setBigUint64(off, v, true);
  } else {
    const lo = v >>> 0;
    dv.setUint32(off, lo, true);
    dv.setUint32(off + 4, v === lo ? 0 : (v - lo) / 0x1_0000_0000, true);
  }
}

/** Accepts a number (or bigint) in [0, max] and returns a number. */
export function toUint(field: string, v: unknown, max: number): number {
  if (typeof v === "number" && v >= 0 && v <= max && Number.isInteger(v)) return v;
  if (typeof v === "bigint") {
    if (v < 0n || v > BigInt(max)) throw new PvhError("out-of-range", `${field}: expected 0..${hex(max)}, got ${hex(v)}`);
    return Number(v);
  }
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new PvhError("out-of-range", `${field}: expected 0..${hex(max)}, got ${v}`);
    return v;
  }
  throw new PvhError("invalid-argument", `${field}: expected a number, got ${typeof v}`);
}

export function checkBytes(field: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new PvhError("invalid-argument", `${field}: expected a Uint8Array, got ${describe(v)}`);
  return v;
}

export function checkOffset(field: string, v: unknown): number {
  // Every caller's `offset` parameter defaults to 0, so `undefined` never reaches here.
  return toUint(field, v, Number.MAX_SAFE_INTEGER);
}

export function checkArray(field: string, v: unknown): readonly unknown[] {
  if (!Array.isArray(v)) throw new PvhError("invalid-argument", `${field}: expected an array, got ${describe(v)}`);
  return v;
}

export function checkObject(field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null) throw new PvhError("invalid-argument", `${field}: expected an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return typeof v;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function needRoom(field: string, out: Uint8Array, offset: number, size: number): void {
  if (offset + size > out.length)
    throw new PvhError("out-of-range", `${field}: needs ${size} bytes at offset ${offset}, but the buffer holds ${out.length}`);
}

export function needBytes(field: string, bytes: Uint8Array, offset: number, size: number): void {
  if (offset + size > bytes.length)
    throw new PvhError("truncated", `${field}: needs ${size} bytes at offset ${offset}, got ${Math.max(0, bytes.length - offset)}`);
}
