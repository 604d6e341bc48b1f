import { AcpiError, type AcpiErrorCode } from "./errors.js";
import { byteSum, checkBool, checkBytes, checkInt, checkKey, checkU64, describe, isIntIn, isKeyOf } from "./bytes.js";
import type { AmlData, AmlExpression, AmlField, AmlFieldEntry, AmlOperationRegion, AmlStatement, AmlTarget, AmlTerm, ResourceDescriptor } from "./aml-types.js";

/**
 * AML opcodes and prefixes this package writes and reads (ACPI 6.4 §20.2, AML grammar;
 * drivers/acpi/acpica/amlcode.h `AML_*`).
 *
 * @example
 * ```ts
 * AML_OPCODE.NameOp; // 0x08
 * ```
 */
export const AML_OPCODE = {
  /** ZeroOp. */
  ZeroOp: 0x00,
  /** OneOp. */
  OneOp: 0x01,
  /** NameOp. */
  NameOp: 0x08,
  /** BytePrefix. */
  BytePrefix: 0x0a,
  /** WordPrefix. */
  WordPrefix: 0x0b,
  /** DWordPrefix. */
  DWordPrefix: 0x0c,
  /** StringPrefix. */
  StringPrefix: 0x0d,
  /** QWordPrefix. */
  QWordPrefix: 0x0e,
  /** ScopeOp. */
  ScopeOp: 0x10,
  /** BufferOp. */
  BufferOp: 0x11,
  /** PackageOp. */
  PackageOp: 0x12,
  /** MethodOp. */
  MethodOp: 0x14,
  /** DualNamePrefix. */
  DualNamePrefix: 0x2e,
  /** MultiNamePrefix. */
  MultiNamePrefix: 0x2f,
  /** ExtOpPrefix. */
  ExtOpPrefix: 0x5b,
  /** OpRegionOp, after ExtOpPrefix. */
  OpRegionOp: 0x80,
  /** FieldOp, after ExtOpPrefix. */
  FieldOp: 0x81,
  /** DeviceOp, after ExtOpPrefix. */
  DeviceOp: 0x82,
  /** RootChar, a backslash. */
  RootChar: 0x5c,
  /** ParentPrefixChar `^`. */
  ParentPrefixChar: 0x5e,
  /** Local0Op; Local1Op..Local7Op follow it (0x61..0x67). */
  Local0Op: 0x60,
  /** Arg0Op; Arg1Op..Arg6Op follow it (0x69..0x6e). */
  Arg0Op: 0x68,
  /** StoreOp. */
  StoreOp: 0x70,
  /** ShiftLeftOp. */
  ShiftLeftOp: 0x79,
  /** ShiftRightOp. */
  ShiftRightOp: 0x7a,
  /** AndOp. */
  AndOp: 0x7b,
  /** OrOp. */
  OrOp: 0x7d,
  /** NotifyOp. */
  NotifyOp: 0x86,
  /** LandOp. */
  LandOp: 0x90,
  /** LorOp. */
  LorOp: 0x91,
  /** LnotOp. */
  LnotOp: 0x92,
  /** LEqualOp. */
  LEqualOp: 0x93,
  /** LGreaterOp. */
  LGreaterOp: 0x94,
  /** LLessOp. */
  LLessOp: 0x95,
  /** IfOp. */
  IfOp: 0xa0,
  /** ElseOp. */
  ElseOp: 0xa1,
  /** ReturnOp. */
  ReturnOp: 0xa4,
  /** OnesOp. */
  OnesOp: 0xff,
} as const;

/**
 * The RegionSpace byte of each operation region address space (ACPI 6.4 §20.2.5.2 `RegionSpace`).
 *
 * @example
 * ```ts
 * AML_REGION_SPACE.SystemMemory; // 0
 * ```
 */
export const AML_REGION_SPACE = {
  /** System memory (MMIO). */
  SystemMemory: 0x00,
  /** System I/O ports. */
  SystemIO: 0x01,
  /** PCI configuration space. */
  PCI_Config: 0x02,
  /** Embedded controller. */
  EmbeddedControl: 0x03,
  /** SMBus. */
  SMBus: 0x04,
  /** System CMOS. */
  SystemCMOS: 0x05,
  /** PCI BAR target. */
  PciBarTarget: 0x06,
  /** IPMI. */
  IPMI: 0x07,
  /** General-purpose I/O. */
  GeneralPurposeIO: 0x08,
  /** Generic serial bus. */
  GenericSerialBus: 0x09,
  /** Platform communications channel. */
  PCC: 0x0a,
} as const;

/**
 * The AccessType values of a Field's FieldFlags, bits 0–3 (ACPI 6.4 §20.2.5.2 `FieldFlags`; 6..15 are reserved).
 *
 * @example
 * ```ts
 * AML_FIELD_ACCESS.DWordAcc; // 3
 * ```
 */
export const AML_FIELD_ACCESS = {
  /** Any access width. */
  AnyAcc: 0,
  /** Byte accesses. */
  ByteAcc: 1,
  /** 16-bit accesses. */
  WordAcc: 2,
  /** 32-bit accesses. */
  DWordAcc: 3,
  /** 64-bit accesses. */
  QWordAcc: 4,
  /** Whole-field accesses as a byte string (SMBus, IPMI, GenericSerialBus). */
  BufferAcc: 5,
} as const;

/**
 * The LockRule values of a Field's FieldFlags, bit 4 (ACPI 6.4 §20.2.5.2 `FieldFlags`).
 *
 * @example
 * ```ts
 * AML_FIELD_LOCK.Lock; // 1
 * ```
 */
export const AML_FIELD_LOCK = {
  /** No global lock. */
  NoLock: 0,
  /** Take the global lock around each access. */
  Lock: 1,
} as const;

/**
 * The UpdateRule values of a Field's FieldFlags, bits 5–6 (ACPI 6.4 §20.2.5.2 `FieldFlags`; 3 is reserved).
 *
 * @example
 * ```ts
 * AML_FIELD_UPDATE.WriteAsZeros; // 2
 * ```
 */
export const AML_FIELD_UPDATE = {
  /** Keep the other bits of the access unit (read-modify-write). */
  Preserve: 0,
  /** Write the other bits as ones. */
  WriteAsOnes: 1,
  /** Write the other bits as zeros. */
  WriteAsZeros: 2,
} as const;

/**
 * The largest value a PkgLength of 1, 2, 3 and 4 bytes can hold (ACPI 6.4 §20.2.4: 6 bits, then 4
 * bits plus 8 per following byte).
 *
 * @example
 * ```ts
 * PKG_LENGTH_LIMITS; // [63, 4095, 1048575, 268435455]
 * ```
 */
export const PKG_LENGTH_LIMITS: readonly [63, 4095, 1048575, 268435455] = [63, 4095, 1048575, 268435455];

const ONES = (1n << 64n) - 1n;

/** The number of bytes the PkgLength of a valid `length` takes (ACPI 6.4 §20.2.4). */
function pkgLengthSize(length: number): number {
  return length <= PKG_LENGTH_LIMITS[0] ? 1 : length <= PKG_LENGTH_LIMITS[1] ? 2 : length <= PKG_LENGTH_LIMITS[2] ? 3 : 4;
}

/** Writes the PkgLength of a valid `length` at `b[o]` (see {@link encodePkgLength}); returns the offset after it. */
function writePkgLength(b: Uint8Array, o: number, length: number): number {
  if (length <= PKG_LENGTH_LIMITS[0]) {
    b[o] = length;
    return o + 1;
  }
  const follow = pkgLengthSize(length) - 1;
  b[o] = (follow << 6) | (length & 0x0f);
  for (let i = 1; i <= follow; i++) b[o + i] = (length >>> (4 + 8 * (i - 1))) & 0xff;
  return o + 1 + follow;
}

/**
 * Encodes a PkgLength (ACPI 6.4 §20.2.4) in the fewest bytes: one byte for 0..63 (bits 0–5), else a
 * lead byte whose bits 6–7 count the 1..3 following bytes and whose bits 0–3 are the low nibble.
 * `length` includes the PkgLength's own bytes.
 *
 * @param length - the package length, 0..268435455
 * @returns 1..4 bytes
 * @throws AcpiError `too-long` above 268435455
 * @example
 * ```ts
 * encodePkgLength(64); // Uint8Array [0x40, 0x04]
 * ```
 */
export function encodePkgLength(length: number): Uint8Array {
  if (typeof length !== "number" || !Number.isInteger(length) || length < 0) {
    throw new AcpiError("invalid-argument", "AML.pkgLength", `expected an integer 0..268435455, got ${describe(length)}`);
  }
  if (length > PKG_LENGTH_LIMITS[3]) throw new AcpiError("too-long", "AML.pkgLength", `expected at most 268435455 (2^28 - 1, ACPI 6.4 §20.2.4), got ${length}`);
  const out = new Uint8Array(pkgLengthSize(length));
  writePkgLength(out, 0, length);
  return out;
}

/**
 * Decodes a PkgLength at `offset`.
 *
 * @param bytes - the AML
 * @param offset - where the PkgLength starts
 * @returns its value (which counts its own bytes) and its size in bytes
 * @throws AcpiError `truncated`, or `bad-aml` when bits 4–5 of a multi-byte lead byte are set
 * @example
 * ```ts
 * decodePkgLength(new Uint8Array([0x40, 0x04]), 0); // { length: 64, size: 2 }
 * ```
 */
export function decodePkgLength(
  bytes: Uint8Array,
  offset: number,
): {
  /** The package length, counting the PkgLength's own bytes. */
  length: number;
  /** The PkgLength's size, 1..4 bytes. */
  size: number;
} {
  const length = pkgLengthAt(bytes, offset, bytes.length);
  return { length, size: 1 + ((bytes[offset] as number) >> 6) };
}

/**
 * The value of the PkgLength at `offset` of `bytes[0..end)`: {@link decodePkgLength} without the
 * result object, for the AML decoder, which passes the end of the enclosing package. The
 * PkgLength's size is `1 + (bytes[offset] >> 6)`.
 */
export function pkgLengthAt(bytes: Uint8Array, offset: number, end: number): number {
  const lead = offset < end ? bytes[offset] : undefined;
  if (lead === undefined) throw new AcpiError("truncated", `AML[${offset}]`, "expected a PkgLength, but the bytes end");
  const follow = lead >> 6;
  if (follow === 0) return lead & 0x3f;
  if (lead & 0x30) throw new AcpiError("bad-aml", `AML[${offset}]`, `expected bits 4-5 of a ${follow + 1}-byte PkgLength lead byte clear, got 0x${lead.toString(16)}`);
  if (offset + follow >= end) throw new AcpiError("truncated", `AML[${offset}]`, `expected a ${follow + 1}-byte PkgLength, but the bytes end`);
  let length = lead & 0x0f;
  for (let i = 1; i <= follow; i++) length |= (bytes[offset + i] ?? 0) << (4 + 8 * (i - 1));
  return length >>> 0;
}

const SEG = /^[A-Z_][A-Z0-9_]{0,3}$/;

/** Whether `c` may start a NameSeg (`A-Z`, `_`) and, with `rest`, whether it may follow (`0-9` too). */
export function isNameChar(c: number, rest: boolean): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x5f || (rest && c >= 0x30 && c <= 0x39);
}

/** Whether `s` is one NameSeg of 1..4 characters, the first `A-Z` or `_`, the rest `A-Z`, `0-9` or `_` (ACPI 6.4 §20.2.2). */
function isNameSeg(s: unknown): s is string {
  if (typeof s !== "string" || s.length < 1 || s.length > 4) return false;
  for (let i = 0; i < s.length; i++) if (!isNameChar(s.charCodeAt(i), i > 0)) return false;
  return true;
}

/** Whether `path` is one NameSeg of 4 characters, such as `_HID` (most names): it encodes to itself. */
function isFullNameSeg(path: string): boolean {
  return path.length === 4 && isNameChar(path.charCodeAt(0), false) && isNameChar(path.charCodeAt(1), true) && isNameChar(path.charCodeAt(2), true) && isNameChar(path.charCodeAt(3), true);
}

/**
 * The size of the NameString that `path` encodes to, or -1 when it is not a name path; the rules
 * of {@link encodeNameString} in one pass over the characters (which then says what is wrong).
 */
function nameStringSize(path: string): number {
  if (isFullNameSeg(path)) return 4;
  let i = 0;
  if (path.charCodeAt(0) === AML_OPCODE.RootChar) i = 1;
  else while (path.charCodeAt(i) === AML_OPCODE.ParentPrefixChar) i++;
  const prefix = i;
  // NullName after a prefix; an empty string is no name.
  if (i === path.length) return i === 0 ? -1 : prefix + 1;
  let segs = 0;
  let chars = 0;
  for (; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (chars === 0) return -1;
      segs++;
      chars = 0;
    } else if (!isNameChar(c, chars > 0) || ++chars > 4) return -1;
  }
  if (segs > 255) return -1;
  return prefix + (segs === 1 ? 0 : segs === 2 ? 1 : 2) + 4 * segs;
}

/** Writes the NameString of a valid `path` (see {@link nameStringSize}) at `b[o]`; returns the offset after it. */
function writeNameString(b: Uint8Array, o: number, path: string): number {
  if (isFullNameSeg(path)) {
    b[o] = path.charCodeAt(0);
    b[o + 1] = path.charCodeAt(1);
    b[o + 2] = path.charCodeAt(2);
    b[o + 3] = path.charCodeAt(3);
    return o + 4;
  }
  let i = 0;
  if (path.charCodeAt(0) === AML_OPCODE.RootChar) {
    b[o++] = AML_OPCODE.RootChar;
    i = 1;
  } else {
    while (path.charCodeAt(i) === AML_OPCODE.ParentPrefixChar) {
      b[o++] = AML_OPCODE.ParentPrefixChar;
      i++;
    }
  }
  if (i === path.length) {
    b[o] = 0x00;
    return o + 1;
  }
  let segs = 1;
  for (let k = i; k < path.length; k++) if (path.charCodeAt(k) === 0x2e) segs++;
  if (segs === 2) b[o++] = AML_OPCODE.DualNamePrefix;
  else if (segs > 2) {
    b[o++] = AML_OPCODE.MultiNamePrefix;
    b[o++] = segs;
  }
  let chars = 0;
  for (; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2e;
    if (c !== 0x2e) {
      b[o++] = c;
      chars++;
    } else {
      // Pad each segment to 4 bytes with `_`.
      for (; chars < 4; chars++) b[o++] = 0x5f;
      chars = 0;
    }
  }
  return o;
}

/** Throws the `bad-name` error that says why `path` is not a name path. */
function badNameString(path: string, field: string): never {
  let i = 0;
  if (path[0] === "\\") i = 1;
  else while (path[i] === "^") i++;
  const rest = path.slice(i);
  const segs = rest === "" ? [] : rest.split(".");
  if (segs.length === 0 && i === 0) throw new AcpiError("bad-name", field, "expected a name, got an empty string");
  if (segs.length > 255) throw new AcpiError("bad-name", field, `expected at most 255 segments, got ${segs.length}`);
  segs.forEach((s, k) => {
    if (!SEG.test(s)) {
      throw new AcpiError(
        "bad-name",
        field,
        `segment ${k} of ${JSON.stringify(path)} is ${JSON.stringify(s)}: expected 1..4 characters, the first A-Z or _, the rest A-Z, 0-9 or _ (ACPI 6.4 §20.2.2)`,
      );
    }
  });
  // Not reached: nameStringSize rejects exactly the paths that fail one of the rules above.
  throw new AcpiError("bad-name", field, `expected a name path, got ${JSON.stringify(path)}`);
}

/**
 * Encodes a name path (ACPI 6.4 §20.2.2): an optional root `\` or parent `^` prefixes, then
 * `.`-separated NameSegs of 1..4 characters (`A-Z`, `_`, then `A-Z0-9_`), each padded with `_` to
 * 4 bytes; two segments take `DualNamePrefix`, three or more `MultiNamePrefix` and a count, none
 * (after a prefix) `NullName`.
 *
 * @param path - e.g. `\_SB.VR00`, `^^PCI0`, `_HID`
 * @param field - the field named in errors; default `AML.name`
 * @returns the NameString bytes
 * @throws AcpiError `bad-name` naming the segment and the rule
 * @example
 * ```ts
 * encodeNameString("\\_SB.COM1"); // 5c 2e 5f 53 42 5f 43 4f 4d 31
 * ```
 */
export function encodeNameString(path: string, field = "AML.name"): Uint8Array {
  if (typeof path !== "string") throw new AcpiError("invalid-argument", field, `expected a name path string, got ${describe(path)}`);
  const size = nameStringSize(path);
  if (size < 0) badNameString(path, field);
  const out = new Uint8Array(size);
  writeNameString(out, 0, path);
  return out;
}

/** Tells whether a byte may start a NameString (a lead name char, root, parent, dual or multi prefix). */
export function isNameStart(b: number): boolean {
  return isNameChar(b, false) || b === 0x5c || b === 0x5e || b === 0x2e || b === 0x2f;
}

/**
 * Compresses a 7-character EISA id such as `PNP0501` into the 32-bit integer `_HID` takes
 * (ACPI 6.4 §6.1.5; ASL's `EISAID()`): three letters of 5 bits (A=1) and four hex digits, stored
 * big-endian, i.e. as the bytes the integer has in memory.
 *
 * @param id - three letters A-Z and four hex digits
 * @returns the integer, e.g. 0x0105d041 for `PNP0501`
 * @throws AcpiError `bad-string` for anything else
 * @example
 * ```ts
 * eisaId("PNP0501"); // 0x0105d041
 * ```
 */
export function eisaId(id: string): number {
  if (typeof id !== "string" || !/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) {
    throw new AcpiError("bad-string", "AML.eisaId", `expected 3 letters A-Z and 4 upper-case hex digits, e.g. "PNP0501", got ${describe(id)}`);
  }
  const c = (k: number): number => id.charCodeAt(k) - 0x40;
  const vendor = (c(0) << 10) | (c(1) << 5) | c(2);
  const product = parseInt(id.slice(3), 16);
  // Big-endian bytes: vendor high, vendor low, product high, product low.
  return ((vendor >> 8) | ((vendor & 0xff) << 8) | ((product >> 8) << 16) | ((product & 0xff) << 24)) >>> 0;
}

/**
 * The inverse of {@link eisaId}: the 7-character id of a compressed EISA id, or undefined when the
 * integer is not one (a letter out of A..Z, or bit 31 of the first byte set).
 *
 * @param value - a 32-bit integer, e.g. a decoded `_HID`
 * @returns the id, e.g. `PNP0501`, or undefined
 * @example
 * ```ts
 * eisaIdToString(0x0105d041); // "PNP0501"
 * ```
 */
export function eisaIdToString(value: number | bigint): string | undefined {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return undefined;
  const vendor = ((n & 0xff) << 8) | ((n >>> 8) & 0xff);
  if (vendor & 0x8000) return undefined;
  const letters = [(vendor >> 10) & 0x1f, (vendor >> 5) & 0x1f, vendor & 0x1f];
  if (letters.some((l) => l < 1 || l > 26)) return undefined;
  const product = (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff);
  return letters.map((l) => String.fromCharCode(0x40 + l)).join("") + product.toString(16).toUpperCase().padStart(4, "0");
}

// ---- The encoder ----
//
// encodeAml makes two passes over the tree. The measuring pass (`measure*`) checks every node in
// document order, which is the order errors are reported in, and works out every size; the sizes
// the writer cannot know in advance (each package's PkgLength, each resource template's length) it
// records in the order the writer needs them. The writing pass (`write*`) then writes the bytes
// into one array of exactly that size, checking nothing. Both follow the grammar function by
// function. Field names for errors (`AML[0].body[2].path`) are built only when a check fails, from
// the path the measuring pass keeps.

const SEG_ONLY_RULE = "expected one NameSeg of 1..4 characters, the first A-Z or _, the rest A-Z, 0-9 or _ (ACPI 6.4 §20.2.2)";
const U64_MAX = (1n << 64n) - 1n;
/** The largest field width and reserved gap: the largest PkgLength value (ACPI 6.4 §20.2.4). */
const MAX_FIELD_BITS = PKG_LENGTH_LIMITS[3];

const BINARY_OPS = { and: AML_OPCODE.AndOp, or: AML_OPCODE.OrOp, "shift-left": AML_OPCODE.ShiftLeftOp, "shift-right": AML_OPCODE.ShiftRightOp } as const;
const LOGICAL_OPS = { lequal: AML_OPCODE.LEqualOp, lgreater: AML_OPCODE.LGreaterOp, lless: AML_OPCODE.LLessOp, land: AML_OPCODE.LandOp, lor: AML_OPCODE.LorOp } as const;
const DATA_KINDS: ReadonlySet<string> = new Set(["integer", "string", "buffer", "resources", "package"]);

/** The measuring pass: the sizes recorded so far, and the path of the node being checked. */
class Measure {
  /** The sizes the writer needs, in the order it needs them: PkgLengths (counting their own bytes) and resource template lengths. */
  readonly sizes: number[] = [];
  /** The path of the node being checked: a root field, then `.key` steps and array indices. */
  private readonly path: (string | number)[];

  constructor(root: string) {
    this.path = [root];
  }

  /** Steps into a key (`.body`) or an index of the current node. */
  enter(step: string | number): void {
    this.path.push(step);
  }

  /** Steps back out of {@link enter}. */
  leave(): void {
    this.path.pop();
  }

  /** The field named in errors: the current node's path, then `key` (`AML[0].body[2]` + `.path`). */
  field(key = ""): string {
    let s = "";
    for (const step of this.path) s += typeof step === "number" ? `[${step}]` : step;
    return s + key;
  }

  fail(code: AcpiErrorCode, key: string, detail: string): never {
    throw new AcpiError(code, this.field(key), detail);
  }

  // The checks of bytes.ts on the node's `key`: the same test inline, and the check itself (which
  // names the field and throws) only when it fails.

  int(key: string, value: unknown, min: number, max: number): number {
    return isIntIn(value, min, max) ? value : checkInt(this.field(key), value, min, max);
  }

  bool(key: string, value: unknown): boolean {
    return typeof value === "boolean" ? value : checkBool(this.field(key), value);
  }

  u64(key: string, value: unknown): bigint {
    if (typeof value === "bigint" && value >= 0n && value <= U64_MAX) return value;
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : checkU64(this.field(key), value);
  }

  key<K extends string>(key: string, value: unknown, options: Readonly<Record<K, number>>): number {
    return isKeyOf(value, options) ? options[value] : checkKey(this.field(key), value, options);
  }

  bytes(key: string, value: unknown): Uint8Array {
    return value instanceof Uint8Array ? value : checkBytes(this.field(key), value);
  }

  /** The size of the NameString `path`, the node's `key`; `bad-name` when it is not one. */
  name(key: string, path: unknown): number {
    const size = typeof path === "string" ? nameStringSize(path) : -1;
    return size >= 0 ? size : encodeNameString(path as string, this.field(key)).length;
  }

  /** Reserves the next size: {@link close} fills it in for a package, the caller for a resource template. */
  open(): number {
    return this.sizes.push(0) - 1;
  }

  /**
   * Closes the package of `slot` around `body` bytes: records its PkgLength, the smallest that
   * holds the body and itself, and returns the package's size without its opcode. `key` names the
   * package in a `too-long` error; a Package's or a buffer's says `AML.pkgLength`.
   */
  close(slot: number, body: number, key?: string): number {
    const size = body + 1 <= PKG_LENGTH_LIMITS[0] ? 1 : body + 2 <= PKG_LENGTH_LIMITS[1] ? 2 : body + 3 <= PKG_LENGTH_LIMITS[2] ? 3 : 4;
    if (body + size > PKG_LENGTH_LIMITS[3]) {
      throw new AcpiError("too-long", key === undefined ? "AML.pkgLength" : this.field(key), `expected at most 268435455 bytes in a package (ACPI 6.4 §20.2.4), got ${body + size}`);
    }
    this.sizes[slot] = body + size;
    return body + size;
  }
}

/** The writing pass: the bytes, the offset, and the sizes the measuring pass recorded. */
class Write {
  private next = 0;

  constructor(
    readonly b: Uint8Array,
    public o: number,
    private readonly sizes: readonly number[],
  ) {}

  byte(x: number): void {
    this.b[this.o++] = x;
  }

  /** The next recorded size. */
  size(): number {
    return this.sizes[this.next++] as number;
  }

  /** Writes the next recorded PkgLength. */
  pkgLength(): void {
    this.o = writePkgLength(this.b, this.o, this.size());
  }

  /** Writes a NameString the measuring pass checked. */
  name(path: string): void {
    this.o = writeNameString(this.b, this.o, path);
  }

  /** An integer in its smallest encoding (ACPI 6.4 §20.2.3 ComputationalData, ConstObj). */
  integer(value: bigint | number): void {
    if (value === ONES) return this.byte(AML_OPCODE.OnesOp);
    // Up to 32 bits as a number; above, the low and high 32 bits as two numbers.
    const big = typeof value === "bigint" && value > 0xffffffffn;
    const n = big ? Number(value & 0xffffffffn) : Number(value);
    const b = this.b;
    if (big || n > 0xffffffff) {
      const hi = big ? Number((value as bigint) >> 32n) : Math.floor(n / 0x100000000);
      this.byte(AML_OPCODE.QWordPrefix);
      this.u32(n >>> 0);
      this.u32(hi);
    } else if (n <= 1) this.byte(n === 0 ? AML_OPCODE.ZeroOp : AML_OPCODE.OneOp);
    else if (n <= 0xff) {
      b[this.o] = AML_OPCODE.BytePrefix;
      b[this.o + 1] = n;
      this.o += 2;
    } else if (n <= 0xffff) {
      b[this.o] = AML_OPCODE.WordPrefix;
      b[this.o + 1] = n & 0xff;
      b[this.o + 2] = n >>> 8;
      this.o += 3;
    } else {
      this.byte(AML_OPCODE.DWordPrefix);
      this.u32(n);
    }
  }

  u16(n: number): void {
    this.b[this.o] = n & 0xff;
    this.b[this.o + 1] = (n >>> 8) & 0xff;
    this.o += 2;
  }

  u32(n: number): void {
    const b = this.b;
    const o = this.o;
    b[o] = n & 0xff;
    b[o + 1] = (n >>> 8) & 0xff;
    b[o + 2] = (n >>> 16) & 0xff;
    b[o + 3] = (n >>> 24) & 0xff;
    this.o = o + 4;
  }
}

/** The size of an integer in its smallest encoding: ZeroOp, OneOp, OnesOp, or a prefix and 1, 2, 4 or 8 bytes. */
function integerSize(value: bigint | number): number {
  if (typeof value === "number") return value <= 1 ? 1 : value <= 0xff ? 2 : value <= 0xffff ? 3 : value <= 0xffffffff ? 5 : 9;
  return value <= 1n || value === ONES ? 1 : value <= 0xffn ? 2 : value <= 0xffffn ? 3 : value <= 0xffffffffn ? 5 : 9;
}

/** Whether `s` is a string of ASCII characters 0x01..0x7f (ACPI 6.4 §20.2.3 AsciiChar). */
function isAmlString(s: unknown): s is string {
  if (typeof s !== "string") return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x01 || c > 0x7f) return false;
  }
  return true;
}

// ---- Data objects (ACPI 6.4 §20.2.3) ----

function measureData(m: Measure, d: AmlData): number {
  if (typeof d !== "object" || d === null) m.fail("invalid-argument", "", `expected an AML data object, got ${describe(d)}`);
  switch (d.kind) {
    case "integer":
      return integerSize(m.u64(".value", d.value));
    case "string":
      if (!isAmlString(d.value)) m.fail("bad-string", ".value", `expected ASCII characters 0x01..0x7f (ACPI 6.4 §20.2.3 AsciiChar), got ${describe(d.value)}`);
      return 1 + d.value.length + 1;
    case "buffer":
      return measureBuffer(m, m.bytes(".bytes", d.bytes).length);
    case "resources": {
      if (!Array.isArray(d.descriptors)) m.fail("invalid-argument", ".descriptors", "expected an array");
      m.enter(".descriptors");
      const slot = m.open();
      m.sizes[slot] = measureResourceTemplate(m, d.descriptors);
      m.leave();
      return measureBuffer(m, m.sizes[slot] as number);
    }
    case "package": {
      if (!Array.isArray(d.elements)) m.fail("invalid-argument", ".elements", "expected an array");
      // NumElements is a ByteData; larger packages need VarPackageOp, which this package does not write.
      const elements: readonly AmlData[] = d.elements;
      if (elements.length > 255) m.fail("too-long", ".elements", `expected at most 255 elements, got ${elements.length}`);
      const slot = m.open();
      let body = 1;
      m.enter(".elements");
      for (let i = 0; i < elements.length; i++) {
        if (!(i in elements)) continue;
        m.enter(i);
        body += measureData(m, elements[i] as AmlData);
        m.leave();
      }
      m.leave();
      return 1 + m.close(slot, body);
    }
    default:
      return m.fail("invalid-argument", ".kind", `expected "integer", "string", "buffer", "resources" or "package", got ${describe((d as { kind?: unknown }).kind)}`);
  }
}

/** BufferOp, PkgLength, BufferSize and `length` bytes. */
function measureBuffer(m: Measure, length: number): number {
  return 1 + m.close(m.open(), integerSize(length) + length);
}

function writeData(w: Write, d: AmlData): void {
  switch (d.kind) {
    case "integer":
      return w.integer(d.value);
    case "string": {
      w.byte(AML_OPCODE.StringPrefix);
      const s = d.value;
      for (let i = 0; i < s.length; i++) w.b[w.o + i] = s.charCodeAt(i);
      w.o += s.length;
      return w.byte(0);
    }
    case "buffer":
      w.byte(AML_OPCODE.BufferOp);
      w.pkgLength();
      w.integer(d.bytes.length);
      w.b.set(d.bytes, w.o);
      w.o += d.bytes.length;
      return;
    case "resources": {
      const length = w.size();
      w.byte(AML_OPCODE.BufferOp);
      w.pkgLength();
      w.integer(length);
      return writeResourceTemplate(w, d.descriptors);
    }
    case "package":
      w.byte(AML_OPCODE.PackageOp);
      w.pkgLength();
      w.byte(d.elements.length);
      for (let i = 0; i < d.elements.length; i++) if (i in d.elements) writeData(w, d.elements[i] as AmlData);
      return;
  }
}

// ---- Terms (ACPI 6.4 §20.2.5.1-2) ----

function measureTerms(m: Measure, terms: readonly AmlTerm[]): number {
  if (!Array.isArray(terms)) m.fail("invalid-argument", "", `expected an array of terms, got ${describe(terms)}`);
  let size = 0;
  for (let i = 0; i < terms.length; i++) {
    if (!(i in terms)) continue;
    m.enter(i);
    size += measureTerm(m, terms[i] as AmlTerm);
    m.leave();
  }
  return size;
}

function measureTerm(m: Measure, t: AmlTerm): number {
  if (typeof t !== "object" || t === null) m.fail("invalid-argument", "", `expected an AML term object, got ${describe(t)}`);
  switch (t.kind) {
    case "scope":
    case "device": {
      const slot = m.open();
      let body = m.name(".path", t.path);
      m.enter(".body");
      body += measureTerms(m, t.body);
      m.leave();
      return (t.kind === "scope" ? 1 : 2) + m.close(slot, body, ".body");
    }
    case "name": {
      const size = 1 + m.name(".path", t.path);
      m.enter(".value");
      const value = measureData(m, t.value);
      m.leave();
      return size + value;
    }
    case "method": {
      const slot = m.open();
      let body = m.name(".path", t.path) + 1;
      m.int(".argCount", t.argCount, 0, 7);
      m.bool(".serialized", t.serialized);
      m.int(".syncLevel", t.syncLevel, 0, 15);
      if (t.body !== undefined) {
        m.enter(".body");
        body += measureStatements(m, t.body);
        m.leave();
      }
      if (t.returns !== undefined) {
        m.enter(".returns");
        body += 1 + measureData(m, t.returns);
        m.leave();
      }
      return 1 + m.close(slot, body, ".body");
    }
    case "operation-region":
      return measureOpRegion(m, t);
    case "field":
      return measureField(m, t);
    default:
      return m.fail(
        "invalid-argument",
        ".kind",
        `expected "scope", "device", "name", "method", "operation-region" or "field", got ${describe((t as { kind?: unknown }).kind)}`,
      );
  }
}

/** Writes the terms of a checked list; holes in a sparse array are skipped, as the measuring pass skipped them. */
function writeTerms(w: Write, terms: readonly AmlTerm[]): void {
  for (let i = 0; i < terms.length; i++) if (i in terms) writeTerm(w, terms[i] as AmlTerm);
}

function writeTerm(w: Write, t: AmlTerm): void {
  switch (t.kind) {
    case "scope":
    case "device":
      if (t.kind === "scope") w.byte(AML_OPCODE.ScopeOp);
      else {
        w.byte(AML_OPCODE.ExtOpPrefix);
        w.byte(AML_OPCODE.DeviceOp);
      }
      w.pkgLength();
      w.name(t.path);
      writeTerms(w, t.body);
      return;
    case "name":
      w.byte(AML_OPCODE.NameOp);
      w.name(t.path);
      return writeData(w, t.value);
    case "method":
      w.byte(AML_OPCODE.MethodOp);
      w.pkgLength();
      w.name(t.path);
      w.byte(t.argCount | (t.serialized ? 8 : 0) | (t.syncLevel << 4));
      if (t.body !== undefined) writeStatements(w, t.body);
      if (t.returns !== undefined) {
        w.byte(AML_OPCODE.ReturnOp);
        writeData(w, t.returns);
      }
      return;
    case "operation-region":
      w.byte(AML_OPCODE.ExtOpPrefix);
      w.byte(AML_OPCODE.OpRegionOp);
      w.name(t.path);
      w.byte(AML_REGION_SPACE[t.space]);
      w.integer(t.offset);
      return w.integer(t.length);
    case "field":
      return writeField(w, t);
  }
}

/** `OperationRegion`: NameString, RegionSpace, RegionOffset and RegionLen as integer constants (ACPI 6.4 §20.2.5.2). */
function measureOpRegion(m: Measure, t: AmlOperationRegion): number {
  m.key(".space", t.space, AML_REGION_SPACE);
  const offset = m.u64(".offset", t.offset);
  const length = m.u64(".length", t.length);
  // ACPICA (dsopcode.c acpi_ds_eval_region_operands) keeps the length as a u32 and warns on 0.
  if (length < 1n || length > 0xffffffffn) m.fail("out-of-range", ".length", `expected 1..0xffffffff bytes, got ${length}`);
  const limit = t.space === "SystemIO" ? 0x10000n : U64_MAX + 1n;
  // I/O ports stop at 0xffff (ACPICA hwvalid.c acpi_hw_validate_io_request: AE_LIMIT above 64K).
  if (offset + length > limit) {
    m.fail("out-of-range", ".length", `expected the region to end by 0x${limit.toString(16)} in ${t.space}, got offset 0x${offset.toString(16)} + length 0x${length.toString(16)}`);
  }
  return 2 + m.name(".path", t.path) + 1 + integerSize(offset) + integerSize(length);
}

/** `Field`: PkgLength, NameString, FieldFlags, FieldList (ACPI 6.4 §20.2.5.2). */
function measureField(m: Measure, t: AmlField): number {
  m.key(".accessType", t.accessType, AML_FIELD_ACCESS);
  m.key(".lockRule", t.lockRule, AML_FIELD_LOCK);
  m.key(".updateRule", t.updateRule, AML_FIELD_UPDATE);
  if (!Array.isArray(t.entries)) m.fail("invalid-argument", ".entries", `expected an array of field entries, got ${describe(t.entries)}`);
  const entries: readonly AmlFieldEntry[] = t.entries;
  const slot = m.open();
  let body = m.name(".region", t.region) + 1;
  let position = 0;
  m.enter(".entries");
  for (let i = 0; i < entries.length; i++) {
    if (!(i in entries)) continue;
    const e = entries[i] as AmlFieldEntry;
    m.enter(i);
    if (typeof e !== "object" || e === null) m.fail("invalid-argument", "", `expected a field entry, got ${describe(e)}`);
    const bits = m.int(".bits", e.bits, 1, MAX_FIELD_BITS);
    position += bits;
    // ACPICA dsfield.c acpi_ds_get_field_names: a bit offset above 0xffffffff is AE_SUPPORT.
    if (position > 0xffffffff) m.fail("out-of-range", ".bits", `expected the field list to end by bit 0xffffffff, it ends at bit 0x${position.toString(16)}`);
    if (e.kind === "named") {
      if (!isNameSeg(e.name)) m.fail("bad-name", ".name", `${SEG_ONLY_RULE}, got ${describe(e.name)}`);
      body += 4;
    } else if (e.kind === "reserved") body += 1;
    else m.fail("invalid-argument", ".kind", `expected "named" or "reserved", got ${describe((e as { kind?: unknown }).kind)}`);
    body += pkgLengthSize(bits);
    m.leave();
  }
  m.leave();
  return 2 + m.close(slot, body, ".entries");
}

function writeField(w: Write, t: AmlField): void {
  w.byte(AML_OPCODE.ExtOpPrefix);
  w.byte(AML_OPCODE.FieldOp);
  w.pkgLength();
  w.name(t.region);
  w.byte(AML_FIELD_ACCESS[t.accessType] | (AML_FIELD_LOCK[t.lockRule] << 4) | (AML_FIELD_UPDATE[t.updateRule] << 5));
  for (let i = 0; i < t.entries.length; i++) {
    if (!(i in t.entries)) continue;
    const e = t.entries[i] as AmlFieldEntry;
    if (e.kind === "named") w.name(e.name);
    else w.byte(0x00);
    w.o = writePkgLength(w.b, w.o, e.bits);
  }
}

// ---- Method bodies: statements and expressions (ACPI 6.4 §20.2.5.3-4) ----

function measureStatements(m: Measure, statements: readonly AmlStatement[]): number {
  if (!Array.isArray(statements)) m.fail("invalid-argument", "", `expected an array of statements, got ${describe(statements)}`);
  let size = 0;
  for (let i = 0; i < statements.length; i++) {
    if (!(i in statements)) continue;
    m.enter(i);
    size += measureStatement(m, statements[i] as AmlStatement);
    m.leave();
  }
  return size;
}

/** A statement of a method body (ACPI 6.4 §20.2.5.3 Type1Opcode, §20.2.5.4 Type2Opcode). */
function measureStatement(m: Measure, s: AmlStatement): number {
  if (typeof s !== "object" || s === null) m.fail("invalid-argument", "", `expected an AML statement object, got ${describe(s)}`);
  switch (s.kind) {
    case "store":
      return 1 + measureExpressionAt(m, ".source", s.source) + measureTargetAt(m, ".target", s.target, false);
    case "return":
      return 1 + measureExpressionAt(m, ".value", s.value);
    case "notify":
      return 1 + measureTargetAt(m, ".object", s.object, false) + measureExpressionAt(m, ".value", s.value);
    case "if": {
      const slot = m.open();
      let body = measureExpressionAt(m, ".predicate", s.predicate);
      m.enter(".body");
      body += measureStatements(m, s.body);
      m.leave();
      let size = 1 + m.close(slot, body, ".body");
      if (s.else !== undefined) {
        const elseSlot = m.open();
        m.enter(".else");
        const elseBody = measureStatements(m, s.else);
        m.leave();
        size += 1 + m.close(elseSlot, elseBody, ".else");
      }
      return size;
    }
    case "and":
    case "or":
    case "shift-left":
    case "shift-right":
      return measureExpression(m, s);
    default:
      return m.fail(
        "invalid-argument",
        ".kind",
        `expected "store", "return", "if", "notify", "and", "or", "shift-left" or "shift-right", got ${describe((s as { kind?: unknown }).kind)}`,
      );
  }
}

/** Writes the statements of a checked list; holes in a sparse array are skipped, as the measuring pass skipped them. */
function writeStatements(w: Write, statements: readonly AmlStatement[]): void {
  for (let i = 0; i < statements.length; i++) if (i in statements) writeStatement(w, statements[i] as AmlStatement);
}

function writeStatement(w: Write, s: AmlStatement): void {
  switch (s.kind) {
    case "store":
      w.byte(AML_OPCODE.StoreOp);
      writeExpression(w, s.source);
      return writeTarget(w, s.target);
    case "return":
      w.byte(AML_OPCODE.ReturnOp);
      return writeExpression(w, s.value);
    case "notify":
      w.byte(AML_OPCODE.NotifyOp);
      writeTarget(w, s.object);
      return writeExpression(w, s.value);
    case "if":
      w.byte(AML_OPCODE.IfOp);
      w.pkgLength();
      writeExpression(w, s.predicate);
      writeStatements(w, s.body);
      if (s.else !== undefined) {
        w.byte(AML_OPCODE.ElseOp);
        w.pkgLength();
        writeStatements(w, s.else);
      }
      return;
    default:
      return writeExpression(w, s);
  }
}

/** A SuperName (ACPI 6.4 §20.2.2) at `key`: a local, an argument or a NameString; NullName when `optional` and absent. */
function measureTargetAt(m: Measure, key: string, t: AmlTarget | undefined, optional: boolean): number {
  if (t === undefined && optional) return 1;
  m.enter(key);
  if (typeof t !== "object" || t === null) m.fail("invalid-argument", "", `expected a local, an argument or a ref, got ${describe(t)}`);
  const size = measureTarget(m, t);
  m.leave();
  return size;
}

function measureTarget(m: Measure, t: AmlTarget): number {
  switch (t.kind) {
    case "local":
      m.int(".index", t.index, 0, 7);
      return 1;
    case "arg":
      m.int(".index", t.index, 0, 6);
      return 1;
    case "ref":
      return m.name(".path", t.path);
    default:
      return m.fail("invalid-argument", ".kind", `expected "local", "arg" or "ref", got ${describe((t as { kind?: unknown }).kind)}`);
  }
}

function writeTarget(w: Write, t: AmlTarget | undefined): void {
  if (t === undefined) w.byte(0x00);
  else if (t.kind === "local") w.byte(AML_OPCODE.Local0Op + t.index);
  else if (t.kind === "arg") w.byte(AML_OPCODE.Arg0Op + t.index);
  else w.name(t.path);
}

function measureExpressionAt(m: Measure, key: string, e: AmlExpression): number {
  m.enter(key);
  const size = measureExpression(m, e);
  m.leave();
  return size;
}

/** A TermArg (ACPI 6.4 §20.2.5): a data object, a local, an argument, a name or an operation. */
function measureExpression(m: Measure, e: AmlExpression): number {
  if (typeof e !== "object" || e === null) m.fail("invalid-argument", "", `expected an AML expression object, got ${describe(e)}`);
  if (DATA_KINDS.has(e.kind)) return measureData(m, e as AmlData);
  switch (e.kind) {
    case "local":
    case "arg":
    case "ref":
      return measureTarget(m, e);
    case "and":
    case "or":
    case "shift-left":
    case "shift-right":
      return 1 + measureExpressionAt(m, ".left", e.left) + measureExpressionAt(m, ".right", e.right) + measureTargetAt(m, ".target", e.target, true);
    case "lequal":
    case "lgreater":
    case "lless":
    case "land":
    case "lor":
      return 1 + measureExpressionAt(m, ".left", e.left) + measureExpressionAt(m, ".right", e.right);
    case "lnot":
      return 1 + measureExpressionAt(m, ".operand", e.operand);
    default:
      return m.fail(
        "invalid-argument",
        ".kind",
        `expected a data object, "local", "arg", "ref", "and", "or", "shift-left", "shift-right", "lequal", "lgreater", "lless", "land", "lor" or "lnot", got ${describe((e as { kind?: unknown }).kind)}`,
      );
  }
}

function writeExpression(w: Write, e: AmlExpression): void {
  switch (e.kind) {
    case "local":
    case "arg":
    case "ref":
      return writeTarget(w, e);
    case "and":
    case "or":
    case "shift-left":
    case "shift-right":
      w.byte(BINARY_OPS[e.kind]);
      writeExpression(w, e.left);
      writeExpression(w, e.right);
      return writeTarget(w, e.target);
    case "lequal":
    case "lgreater":
    case "lless":
    case "land":
    case "lor":
      w.byte(LOGICAL_OPS[e.kind]);
      writeExpression(w, e.left);
      return writeExpression(w, e.right);
    case "lnot":
      w.byte(AML_OPCODE.LnotOp);
      return writeExpression(w, e.operand);
    default:
      return writeData(w, e);
  }
}

/**
 * A term list checked and measured by {@link planAml}: its size and the sizes {@link writeAml}
 * needs. Internal: {@link encodeAcpiTables} uses it to write the DSDT's AML in place.
 */
export interface AmlPlan {
  /** The size of the AML in bytes. */
  readonly size: number;
  /** PkgLengths and resource template lengths, in the order the writer needs them. */
  readonly sizes: readonly number[];
}

/** Checks a term list, in the order and with the errors of {@link encodeAml}, and measures it. */
export function planAml(terms: readonly AmlTerm[]): AmlPlan {
  const m = new Measure("AML");
  const size = measureTerms(m, terms);
  return { size, sizes: m.sizes };
}

/** Writes the AML of `terms`, planned by {@link planAml}, at `b[at]`; returns the offset after it (`at + plan.size`). */
export function writeAml(terms: readonly AmlTerm[], plan: AmlPlan, b: Uint8Array, at: number): number {
  const w = new Write(b, at, plan.sizes);
  writeTerms(w, terms);
  return w.o;
}

/**
 * Encodes a term list to AML bytecode: the body of a DSDT or SSDT (see {@link encodeDefinitionBlock}).
 * Integers take their smallest encoding, PkgLengths their fewest bytes, name segments are padded
 * with `_`. Terms are Scope, Device, Name, Method (with a body of statements and/or a constant
 * return), OperationRegion and Field.
 *
 * @param terms - the terms, e.g. built with {@link amlScope}, {@link amlDevice}, {@link amlName}
 * @returns the AML bytes
 * @throws AcpiError naming the node (`AML[0].body[2].path`) and the rule it breaks: `out-of-range`
 *   for a local above 7, an argument above 6, a field width of 0 or above 2^28 - 1, a region length
 *   outside 1..0xffffffff or past its space; `invalid-argument` for an unknown access type or
 *   region space; `too-long` for a package (a method, If, Else or Field body…) beyond 2^28 - 1 bytes
 * @example
 * ```ts
 * const bytes = encodeAml([amlScope("\\_SB", [amlDevice("COM1", [amlHid("PNP0501"), amlUid(0)])])]);
 * ```
 */
export function encodeAml(terms: readonly AmlTerm[]): Uint8Array {
  const plan = planAml(terms);
  const b = new Uint8Array(plan.size);
  writeAml(terms, plan, b, 0);
  return b;
}

/**
 * Encodes one data object (integer, string, buffer, resource template, package) to AML.
 *
 * @param data - the object
 * @returns its AML bytes
 * @throws AcpiError naming the field and the rule
 * @example
 * ```ts
 * encodeAmlData(amlInteger(0x3f8)); // 0b f8 03
 * ```
 */
export function encodeAmlData(data: AmlData): Uint8Array {
  const m = new Measure("AML");
  const b = new Uint8Array(measureData(m, data));
  writeData(new Write(b, 0, m.sizes), data);
  return b;
}

// ---- Resource descriptors (ACPI 6.4 §6.4) ----

/** Small item End Tag: type 0x0f, length 1 (ACPI 6.4 §6.4.2.9). */
const END_TAG = 0x79;
/** Small item IO port descriptor: type 0x08, length 7 (ACPI 6.4 §6.4.2.5). */
const IO_TAG = 0x47;
/** Large item Memory32Fixed: type 0x86, length 9 (ACPI 6.4 §6.4.3.4). */
const MEM32_FIXED_TAG = 0x86;
/** Large item Extended Interrupt: type 0x89 (ACPI 6.4 §6.4.3.6). */
const EXT_IRQ_TAG = 0x89;

/** Checks resource descriptors (the current node of `m` is the list) and returns the template's size, End Tag included. */
function measureResourceTemplate(m: Measure, descriptors: readonly ResourceDescriptor[]): number {
  let size = 2;
  for (let i = 0; i < descriptors.length; i++) {
    if (!(i in descriptors)) continue;
    m.enter(i);
    size += measureDescriptor(m, descriptors[i] as ResourceDescriptor);
    m.leave();
  }
  return size;
}

function measureDescriptor(m: Measure, d: ResourceDescriptor): number {
  if (typeof d !== "object" || d === null) m.fail("invalid-argument", "", `expected a resource descriptor, got ${describe(d)}`);
  switch (d.type) {
    case "memory32-fixed":
      m.bool(".writable", d.writable);
      m.int(".base", d.base, 0, 0xffffffff);
      m.int(".length", d.length, 0, 0xffffffff);
      return 12;
    case "io":
      m.bool(".decode16", d.decode16);
      m.int(".min", d.min, 0, 0xffff);
      m.int(".max", d.max, 0, 0xffff);
      m.int(".alignment", d.alignment, 0, 0xff);
      m.int(".length", d.length, 0, 0xff);
      return 8;
    case "interrupt": {
      if (!Array.isArray(d.interrupts)) m.fail("invalid-argument", ".interrupts", "expected an array");
      m.int(".interrupts.length", d.interrupts.length, 1, 255);
      if (d.trigger !== "edge" && d.trigger !== "level") m.fail("invalid-argument", ".trigger", `expected "edge" or "level", got ${describe(d.trigger)}`);
      if (d.polarity !== "active-high" && d.polarity !== "active-low") {
        m.fail("invalid-argument", ".polarity", `expected "active-high" or "active-low", got ${describe(d.polarity)}`);
      }
      m.bool(".consumer", d.consumer);
      m.bool(".shared", d.shared);
      m.bool(".wakeCapable", d.wakeCapable);
      let size = 5;
      m.enter(".interrupts");
      for (let k = 0; k < d.interrupts.length; k++) {
        if (!(k in d.interrupts)) continue;
        m.enter(k);
        m.int("", d.interrupts[k], 0, 0xffffffff);
        m.leave();
        size += 4;
      }
      m.leave();
      return size;
    }
    default:
      return m.fail("invalid-argument", ".type", `expected "memory32-fixed", "io" or "interrupt", got ${describe((d as { type?: unknown }).type)}`);
  }
}

/** Writes checked descriptors, then an End Tag whose checksum makes the template sum to zero. */
function writeResourceTemplate(w: Write, descriptors: readonly ResourceDescriptor[]): void {
  const start = w.o;
  for (let i = 0; i < descriptors.length; i++) {
    if (!(i in descriptors)) continue;
    const d = descriptors[i] as ResourceDescriptor;
    switch (d.type) {
      case "memory32-fixed":
        w.byte(MEM32_FIXED_TAG);
        w.u16(9);
        w.byte(d.writable ? 1 : 0);
        w.u32(d.base);
        w.u32(d.length);
        continue;
      case "io":
        w.byte(IO_TAG);
        w.byte(d.decode16 ? 1 : 0);
        w.u16(d.min);
        w.u16(d.max);
        w.byte(d.alignment);
        w.byte(d.length);
        continue;
      case "interrupt":
        w.byte(EXT_IRQ_TAG);
        w.u16(2 + 4 * d.interrupts.length);
        w.byte((d.consumer ? 1 : 0) | (d.trigger === "edge" ? 2 : 0) | (d.polarity === "active-low" ? 4 : 0) | (d.shared ? 8 : 0) | (d.wakeCapable ? 16 : 0));
        w.byte(d.interrupts.length);
        for (let k = 0; k < d.interrupts.length; k++) if (k in d.interrupts) w.u32(d.interrupts[k] as number);
        continue;
    }
  }
  w.byte(END_TAG);
  let sum = 0;
  for (let i = start; i < w.o; i++) sum += w.b[i] as number;
  w.byte((0x100 - (sum & 0xff)) & 0xff);
}

/**
 * Encodes resource descriptors followed by an End Tag whose checksum makes the whole template sum
 * to zero (ACPI 6.4 §6.4.2.9): the contents of a `ResourceTemplate` buffer.
 *
 * @param descriptors - the descriptors
 * @param field - the field named in errors; default `resources`
 * @returns the template bytes
 * @throws AcpiError naming the descriptor and field
 * @example
 * ```ts
 * encodeResourceTemplate([{ type: "memory32-fixed", writable: true, base: 0xfeb00000, length: 0x200 }]).length; // 12 + 2
 * ```
 */
export function encodeResourceTemplate(descriptors: readonly ResourceDescriptor[], field = "resources"): Uint8Array {
  const list = Array.isArray(descriptors) ? descriptors : viaForEach(descriptors);
  const m = new Measure(field);
  const b = new Uint8Array(measureResourceTemplate(m, list));
  writeResourceTemplate(new Write(b, 0, m.sizes), list);
  return b;
}

/** The items a non-array gives its own forEach, which earlier versions called (a TypeError for most values). */
function viaForEach<T>(list: readonly T[]): T[] {
  const items: T[] = [];
  list.forEach((x) => items.push(x));
  return items;
}

/**
 * Decodes a resource template made of the descriptors this package writes, ending with an End Tag
 * at the last two bytes whose checksum is right (or 0, "not used", ACPI 6.4 §6.4.2.9).
 *
 * @param bytes - the template (the contents of the buffer)
 * @returns the descriptors, without the End Tag
 * @throws AcpiError `bad-entry` for an unknown or malformed descriptor, `bad-checksum`, `truncated`
 * @example
 * ```ts
 * decodeResourceTemplate(encodeResourceTemplate([{ type: "io", decode16: true, min: 0x3f8, max: 0x3f8, alignment: 1, length: 8 }]))[0]?.type; // "io"
 * ```
 */
export function decodeResourceTemplate(bytes: Uint8Array): ResourceDescriptor[] {
  checkBytes("bytes", bytes);
  return readResourceTemplate(bytes, 0, bytes.length);
}

function u16At(b: Uint8Array, o: number): number {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}

function u32At(b: Uint8Array, o: number): number {
  return (u16At(b, o) | (u16At(b, o + 2) << 16)) >>> 0;
}

/**
 * {@link decodeResourceTemplate} of the template at `b[start..end)`, in place (the AML decoder
 * reads a buffer's template where it is); offsets in errors count from `start`.
 */
export function readResourceTemplate(b: Uint8Array, start: number, end: number): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  let o = start;
  for (let i = 0; ; i++) {
    const tag = o < end ? b[o] : undefined;
    if (tag === undefined) throw new AcpiError("truncated", `resources[${i}]`, "expected a descriptor or an End Tag, but the bytes end");
    if (tag === END_TAG) {
      if (o + 2 !== end) throw new AcpiError("bad-entry", `resources[${i}]`, `expected the End Tag to be the last 2 bytes, at ${end - start - 2}, found it at ${o - start}`);
      const sum = byteSum(b, start, end);
      if (b[o + 1] !== 0 && sum !== 0) throw new AcpiError("bad-checksum", `resources[${i}].checksum`, `expected the template to sum to 0 mod 256 (or a checksum of 0), got ${sum}`);
      return out;
    }
    if (tag === IO_TAG) {
      needTemplate(i, o, 8, start, end);
      const info = b[o + 1] as number;
      if (info & ~1) throw new AcpiError("bad-entry", `resources[${i}].information`, `expected bits 1..7 clear, got 0x${info.toString(16)}`);
      out.push({ type: "io", decode16: info === 1, min: u16At(b, o + 2), max: u16At(b, o + 4), alignment: b[o + 6] as number, length: b[o + 7] as number });
      o += 8;
    } else if (tag === MEM32_FIXED_TAG) {
      needTemplate(i, o, 12, start, end);
      if (u16At(b, o + 1) !== 9) throw new AcpiError("bad-entry", `resources[${i}].length`, `expected 9 for Memory32Fixed, got ${u16At(b, o + 1)}`);
      const info = b[o + 3] as number;
      if (info & ~1) throw new AcpiError("bad-entry", `resources[${i}].information`, `expected bits 1..7 clear, got 0x${info.toString(16)}`);
      out.push({ type: "memory32-fixed", writable: info === 1, base: u32At(b, o + 4), length: u32At(b, o + 8) });
      o += 12;
    } else if (tag === EXT_IRQ_TAG) {
      needTemplate(i, o, 5, start, end);
      const len = u16At(b, o + 1);
      const flags = b[o + 3] as number;
      const n = b[o + 4] as number;
      if (n === 0 || len !== 2 + 4 * n) {
        throw new AcpiError("bad-entry", `resources[${i}].length`, `expected 2 + 4 × the interrupt count (no resource source), got length ${len} for ${n} interrupts`);
      }
      if (flags & ~0x1f) throw new AcpiError("bad-entry", `resources[${i}].flags`, `expected bits 5..7 clear, got 0x${flags.toString(16)}`);
      needTemplate(i, o, 3 + len, start, end);
      const interrupts: number[] = [];
      for (let k = 0; k < n; k++) interrupts.push(u32At(b, o + 5 + 4 * k));
      out.push({
        type: "interrupt",
        consumer: (flags & 1) !== 0,
        trigger: flags & 2 ? "edge" : "level",
        polarity: flags & 4 ? "active-low" : "active-high",
        shared: (flags & 8) !== 0,
        wakeCapable: (flags & 16) !== 0,
        interrupts,
      });
      o += 3 + len;
    } else {
      throw new AcpiError("bad-entry", `resources[${i}].type`, `expected an IO (0x47), Memory32Fixed (0x86), Extended Interrupt (0x89) descriptor or an End Tag (0x79), got 0x${tag.toString(16)}`);
    }
  }
}

/** Throws `truncated` unless descriptor `i` at `o` has `n` bytes before `end`. */
function needTemplate(i: number, o: number, n: number, start: number, end: number): void {
  if (o + n > end) throw new AcpiError("truncated", `resources[${i}]`, `expected ${n} bytes at offset ${o - start}, but the bytes end at ${end - start}`);
}
