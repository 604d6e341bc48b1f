import { MptableError } from "./errors.js";

/** A little-endian DataView over exactly the bytes of `b`, safe on subarrays. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The 8-bit wrapping sum of `b[start..end)`, as the MP spec's checksums use it. */
export function byteSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s = (s + (b[i] ?? 0)) & 0xff;
  return s;
}

/** The byte that makes `b[start..end)` sum to zero, assuming the checksum byte itself is 0. */
export function checksumByte(b: Uint8Array, start: number, end: number): number {
  return (0x100 - byteSum(b, start, end)) & 0xff;
}

const PRINTABLE = /^[\x20-\x7e]*$/;

/** Checks a blank-padded ASCII field and returns its bytes, blank-padded to `width`. */
export function asciiField(field: string, value: unknown, width: number): Uint8Array {
  if (typeof value !== "string") {
    throw new MptableError("invalid-argument", field, `expected a string, got ${typeof value}`);
  }
  if (!PRINTABLE.test(value)) {
    throw new MptableError("bad-string", field, `expected printable ASCII (0x20..0x7e), got ${JSON.stringify(value)}`);
  }
  if (value.length > width) {
    throw new MptableError("bad-string", field, `expected at most ${width} characters, got ${value.length} (${JSON.stringify(value)})`);
  }
  const out = new Uint8Array(width).fill(0x20);
  for (let i = 0; i < value.length; i++) out[i] = value.charCodeAt(i);
  return out;
}

/** Reads a blank- or NUL-padded ASCII field, without its padding; non-printable bytes are an error. */
export function readAscii(field: string, b: Uint8Array, start: number, width: number): string {
  let end = start + width;
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    if (c < 0x20 || c > 0x7e) {
      throw new MptableError("bad-string", field, `expected printable ASCII, got byte 0x${c.toString(16).padStart(2, "0")} at offset ${i - start}`);
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** Throws unless `value` is an integer in [min, max]. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new MptableError("invalid-argument", field, `expected an integer ${rangeText(min, max)}, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new MptableError("out-of-range", field, `expected ${rangeText(min, max)}, got ${hexIfLarge(value)}`);
  }
  return value;
}

/** Throws unless `value` is a boolean. */
export function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new MptableError("invalid-argument", field, `expected a boolean, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is one of the keys of `options`. */
export function checkKey<K extends string>(field: string, value: unknown, options: Readonly<Record<K, number>>): K {
  if (typeof value !== "string" || !Object.prototype.hasOwnProperty.call(options, value)) {
    const names = Object.keys(options).map((k) => JSON.stringify(k)).join(", ");
    throw new MptableError("invalid-argument", field, `expected one of ${names}, got ${describe(value)}`);
  }
  return value as K;
}

/** `0x…` for numbers above 0xffff, decimal below. */
export function hexIfLarge(n: number): string {
  return n > 0xffff ? `0x${n.toString(16)}` : String(n);
}

function rangeText(min: number, max: number): string {
  return `${hexIfLarge(min)}..${hexIfLarge(max)}`;
}

function describe(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  return typeof v;
}
