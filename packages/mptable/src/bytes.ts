import { MptableError } from "./errors.js";

/** A little-endian DataView over exactly the bytes of `b`, safe on subarrays. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The 8-bit wrapping sum of `b[start..end)`, as the MP spec's checksums use it; bytes outside `b`
 * count as 0. The sum is taken whole and wrapped once: 2^53 / 255 bytes are far beyond any table.
 */
export function byteSum(b: Uint8Array, start: number, end: number): number {
  const stop = Math.min(end, b.length);
  let s = 0;
  for (let i = Math.max(start, 0); i < stop; i++) s += b[i] as number;
  return s & 0xff;
}

/**
 * Little-endian stores into a zeroed table that keep the 8-bit sum of the bytes stored, so that
 * the encoder's checksums need no second pass over the bytes: at 254 CPUs that pass alone cost
 * about three plain copies of the table. Each byte is stored once (`overwrite` replaces one and
 * `repeat` copies stored ones, both keeping the sum); bytes never stored are 0.
 */
export class SummingWriter {
  private readonly b: Uint8Array;
  private sum = 0;

  /** @param b - the destination, zeroed */
  constructor(b: Uint8Array) {
    this.b = b;
  }

  /** Stores byte `x` at `o`. */
  u8(o: number, x: number): void {
    const v = x & 0xff;
    this.b[o] = v;
    this.sum += v;
  }

  /** Stores the little-endian u16 `x` at `o`. */
  u16(o: number, x: number): void {
    const lo = x & 0xff;
    const hi = (x >>> 8) & 0xff;
    const b = this.b;
    b[o] = lo;
    b[o + 1] = hi;
    this.sum += lo + hi;
  }

  /**
   * Stores the little-endian u32 `x` at `o`. Plain byte stores: a DataView's `setUint32` plus the
   * byte sum cost twice as much here.
   */
  u32(o: number, x: number): void {
    const b0 = x & 0xff;
    const b1 = (x >>> 8) & 0xff;
    const b2 = (x >>> 16) & 0xff;
    const b3 = x >>> 24;
    const b = this.b;
    b[o] = b0;
    b[o + 1] = b1;
    b[o + 2] = b2;
    b[o + 3] = b3;
    this.sum += b0 + b1 + b2 + b3;
  }

  /** Stores the bytes `x` from `o`. */
  bytes(o: number, x: Uint8Array): void {
    this.b.set(x, o);
    for (let i = 0; i < x.length; i++) this.sum += x[i] as number;
  }

  /**
   * Replaces the byte at `o`, already stored (or still 0), with `x`, keeping the sum right.
   */
  overwrite(o: number, x: number): void {
    const v = x & 0xff;
    this.sum += v - (this.b[o] as number);
    this.b[o] = v;
  }

  /**
   * Repeats the `size` bytes stored at `o` so that they appear `count` times in a row from `o`,
   * copying in doubling runs (a handful of copies for hundreds of entries).
   */
  repeat(o: number, size: number, count: number): void {
    let entrySum = 0;
    for (let i = o; i < o + size; i++) entrySum += this.b[i] as number;
    let have = 1;
    while (have < count) {
      const n = Math.min(have, count - have);
      this.b.copyWithin(o + have * size, o, o + n * size);
      have += n;
    }
    this.sum += entrySum * (count - 1);
  }

  /** The checksum byte of everything stored since the last call: it makes their sum 0. */
  takeChecksum(): number {
    const c = (0x100 - (this.sum & 0xff)) & 0xff;
    this.sum = 0;
    return c;
  }
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

/**
 * {@link checkInt} for field `key` of entry `i` of `list` (`processors[3].apicId`), for loops over
 * many entries: the field's name is only built when the check fails and a message needs it.
 */
export function checkEntryInt(list: string, i: number, key: string, value: unknown, min: number, max: number): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
  return checkInt(`${list}[${i}].${key}`, value, min, max);
}

/** {@link checkBool} for field `key` of entry `i` of `list`, naming the field only on failure. */
export function checkEntryBool(list: string, i: number, key: string, value: unknown): boolean {
  if (typeof value === "boolean") return value;
  return checkBool(`${list}[${i}].${key}`, value);
}

/** Throws unless `value` is one of the keys of `options`. */
export function checkKey<K extends string>(field: string, value: unknown, options: Readonly<Record<K, number>>): K {
  if (typeof value !== "string" || !Object.prototype.hasOwnProperty.call(options, value)) {
    const names = Object.keys(options).map((k) => JSON.stringify(k)).join(", ");
    throw new MptableError("invalid-argument", field, `expected one of ${names}, got ${describe(value)}`);
  }
  return value as K;
}

/** {@link checkKey} for field `key` of entry `i` of `list`, naming the field only on failure. */
export function checkEntryKey<K extends string>(list: string, i: number, key: string, value: unknown, options: Readonly<Record<K, number>>): K {
  if (typeof value === "string" && Object.prototype.hasOwnProperty.call(options, value)) return value as K;
  return checkKey(`${list}[${i}].${key}`, value, options);
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
