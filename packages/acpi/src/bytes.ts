import { AcpiError } from "./errors.js";

/** A little-endian DataView over exactly the bytes of `b`, safe on subarrays. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The 8-bit wrapping sum of `b[start..end)` (ACPI 6.4 §5.2.5.3, §5.2.6: the whole table sums to 0). */
export function byteSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += b[i] ?? 0;
  return s & 0xff;
}

/** Sets `b[at]` so that `b[start..end)` sums to zero. */
export function setChecksum(b: Uint8Array, at: number, start: number, end: number): void {
  b[at] = 0;
  b[at] = (0x100 - byteSum(b, start, end)) & 0xff;
}

/** Throws unless `value` is an integer in [min, max]. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new AcpiError("invalid-argument", field, `expected an integer ${rangeText(min, max)}, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new AcpiError("out-of-range", field, `expected ${rangeText(min, max)}, got ${hex(value)}`);
  }
  return value;
}

const U64_MAX = (1n << 64n) - 1n;

/** Throws unless `value` is a non-negative integer (number or bigint) of at most `bits` bits; returns it as a bigint. */
export function checkU64(field: string, value: unknown, bits = 64): bigint {
  const max = bits === 64 ? U64_MAX : (1n << BigInt(bits)) - 1n;
  let v: bigint;
  if (typeof value === "bigint") v = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) v = BigInt(value);
  else throw new AcpiError("invalid-argument", field, `expected an integer 0..0x${max.toString(16)} (number or bigint), got ${describe(value)}`);
  if (v < 0n || v > max) throw new AcpiError("out-of-range", field, `expected 0..0x${max.toString(16)}, got ${v < 0n ? v : "0x" + v.toString(16)}`);
  return v;
}

/** Throws unless `value` is a boolean. */
export function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new AcpiError("invalid-argument", field, `expected a boolean, got ${describe(value)}`);
  return value;
}

/** Throws unless `value` is one of the keys of `options`; returns its number. */
export function checkKey<K extends string>(field: string, value: unknown, options: Readonly<Record<K, number>>): number {
  if (typeof value !== "string" || !Object.prototype.hasOwnProperty.call(options, value)) {
    const names = Object.keys(options).map((k) => JSON.stringify(k)).join(", ");
    throw new AcpiError("invalid-argument", field, `expected one of ${names}, got ${describe(value)}`);
  }
  return options[value as K];
}

/** The key of `options` whose value is `n`, or undefined. */
export function keyOf<K extends string>(options: Readonly<Record<K, number>>, n: number): K | undefined {
  for (const k of Object.keys(options) as K[]) if (options[k] === n) return k;
  return undefined;
}

/**
 * Writes a fixed-width ASCII id (OEM id, table id, creator id) padded with blanks: printable ASCII,
 * no trailing blanks (they are the padding), at most `width` characters, at least `min`.
 */
export function writeAscii(field: string, value: unknown, b: Uint8Array, at: number, width: number, min = 0): void {
  if (typeof value !== "string") throw new AcpiError("invalid-argument", field, `expected a string, got ${describe(value)}`);
  if (!/^[\x20-\x7e]*$/.test(value) || value !== value.trimEnd() || value.length > width || value.length < min) {
    throw new AcpiError(
      "bad-string",
      field,
      `expected ${min}..${width} printable ASCII characters without trailing blanks, got ${JSON.stringify(value)}`,
    );
  }
  for (let i = 0; i < width; i++) b[at + i] = i < value.length ? value.charCodeAt(i) : 0x20;
}

/** Reads a blank- or NUL-padded ASCII id without its padding; other bytes are an error. */
export function readAscii(field: string, b: Uint8Array, at: number, width: number): string {
  let end = at + width;
  while (end > at && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let s = "";
  for (let i = at; i < end; i++) {
    const c = b[i] ?? 0;
    if (c < 0x20 || c > 0x7e) {
      throw new AcpiError("bad-string", field, `expected printable ASCII, got byte 0x${c.toString(16).padStart(2, "0")} at offset ${i - at}`);
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** Throws `truncated` unless `b` holds `size` bytes at `at`. */
export function need(b: Uint8Array, at: number, size: number, field: string): void {
  if (at < 0 || at + size > b.length) {
    throw new AcpiError("truncated", field, `expected ${size} bytes at offset ${at}, but the bytes end at ${b.length}`);
  }
}

/** Throws unless `b` is a Uint8Array. */
export function checkBytes(field: string, b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new AcpiError("invalid-argument", field, `expected a Uint8Array, got ${describe(b)}`);
  return b;
}

/** `0x…` for numbers above 0xffff, decimal below. */
export function hex(n: number | bigint): string {
  return n > 0xffff ? `0x${n.toString(16)}` : String(n);
}

function rangeText(min: number, max: number): string {
  return `${hex(min)}..${hex(max)}`;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v;
}
