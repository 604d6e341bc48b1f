import { AcpiError } from "./errors.js";

/** A little-endian DataView over exactly the bytes of `b`, safe on subarrays. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The little-endian u32 at `b[o..o+4)` (which must be in `b`), without a DataView. */
export function u32le(b: Uint8Array, o: number): number {
  return ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16) | ((b[o + 3] as number) << 24)) >>> 0;
}

/** The 8-bit wrapping sum of `b[start..end)` (ACPI 6.4 §5.2.5.3, §5.2.6: the whole table sums to 0). */
export function byteSum(b: Uint8Array, start: number, end: number): number {
  // Bytes past the end of `b` add nothing: the range stops there (also before the word loop,
  // whose alignment steps would otherwise run past the buffer).
  const stop = Math.min(end, b.length);
  let s = 0;
  let i = start;
  if (stop - start >= 64) {
    // Four bytes per step: whole 32-bit words, each split into its even and odd bytes, which add up
    // in the two 16-bit halves of `lanes` (bytes 0 and 2 of a word, then 1 and 3). 128 words add
    // at most 128 × 2 × 255 = 65280 to a half, so flushing every 128 keeps the halves apart.
    while ((b.byteOffset + i) & 3) s += b[i++] ?? 0;
    const words = new Uint32Array(b.buffer, b.byteOffset + i, (stop - i) >>> 2);
    for (let k = 0; k < words.length; ) {
      const stop = Math.min(words.length, k + 128);
      let lanes = 0;
      for (; k < stop; k++) {
        const w = words[k] as number;
        lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
      }
      s += (lanes & 0xffff) + (lanes >>> 16);
    }
    i += words.length * 4;
  }
  for (; i < stop; i++) s += b[i] ?? 0;
  return s & 0xff;
}

/** Sets `b[at]` so that `b[start..end)` sums to zero. */
export function setChecksum(b: Uint8Array, at: number, start: number, end: number): void {
  b[at] = 0;
  b[at] = (0x100 - byteSum(b, start, end)) & 0xff;
}

/**
 * Tells whether `value` is an integer in [min, max], i.e. whether {@link checkInt} accepts it. Hot
 * paths test with this and call the `check*` function, which builds the field name and throws,
 * only when it fails.
 */
export function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
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

/** Tells whether `value` is what {@link checkU64} accepts at 64 bits: a bigint or safe integer in 0..2^64-1. */
export function isU64(value: unknown): value is bigint | number {
  return typeof value === "bigint" ? value >= 0n && value <= U64_MAX : typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Throws unless `value` is a boolean. */
export function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new AcpiError("invalid-argument", field, `expected a boolean, got ${describe(value)}`);
  return value;
}

/** Tells whether `value` is one of the keys of `options`, i.e. whether {@link checkKey} accepts it. */
export function isKeyOf<K extends string>(value: unknown, options: Readonly<Record<K, number>>): value is K {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(options, value);
}

/** Throws unless `value` is one of the keys of `options`; returns its number. */
export function checkKey<K extends string>(field: string, value: unknown, options: Readonly<Record<K, number>>): number {
  if (!isKeyOf(value, options)) {
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
 * {@link keyOf} as a table made once: `keysByValue(options)[n]` is the first key whose value is
 * `n` (values 0..255), or undefined. Decoders index it instead of scanning the keys each time.
 */
export function keysByValue<K extends string>(options: Readonly<Record<K, number>>): readonly (K | undefined)[] {
  const table: (K | undefined)[] = new Array<K | undefined>(256).fill(undefined);
  // One pass over the keys, the first key of each value kept (as keyOf finds it): these tables
  // are made when the module loads, and 256 scans of the keys each cost the CLI ~1.5 ms.
  for (const k of Object.keys(options) as K[]) {
    const n = options[k];
    if (Number.isInteger(n) && n >= 0 && n < 256 && table[n] === undefined) table[n] = k;
  }
  return table;
}

/**
 * Writes a fixed-width ASCII id (OEM id, table id, creator id) padded with blanks: printable ASCII,
 * no trailing blanks (they are the padding), at most `width` characters, at least `min`. Errors
 * name the field `${table}${key}`, e.g. `FADT` + `.header.oemId`.
 */
export function writeAscii(table: string, key: string, value: unknown, b: Uint8Array, at: number, width: number, min = 0): void {
  if (typeof value !== "string") throw new AcpiError("invalid-argument", table + key, `expected a string, got ${describe(value)}`);
  // Printable ASCII only, so the one trailing blank that trimEnd() would remove is a space.
  const n = value.length;
  let ok = n <= width && n >= min && value.charCodeAt(n - 1) !== 0x20;
  for (let i = 0; ok && i < n; i++) {
    const c = value.charCodeAt(i);
    ok = c >= 0x20 && c <= 0x7e;
  }
  if (!ok) {
    throw new AcpiError(
      "bad-string",
      table + key,
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
