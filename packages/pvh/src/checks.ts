// Internal: checks of caller-supplied arguments and buffer bounds, each throwing a PvhError whose
// message names the field, the limit and the value found; hex() formats numbers for those
// messages. Not exported from the package (little-endian writes are in little-endian.ts).
import { PvhError } from "./errors.js";

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

export function needRoom(field: string, out: Uint8Array, offset: number, size: number): void {
  if (offset + size > out.length)
    throw new PvhError("out-of-range", `${field}: needs ${size} bytes at offset ${offset}, but the buffer holds ${out.length}`);
}

export function needBytes(field: string, bytes: Uint8Array, offset: number, size: number): void {
  if (offset + size > bytes.length)
    throw new PvhError("truncated", `${field}: needs ${size} bytes at offset ${offset}, got ${Math.max(0, bytes.length - offset)}`);
}
