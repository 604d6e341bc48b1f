import { AcpiError } from "./errors.js";
import { checkBool, checkBytes, checkInt, checkKey, checkU64, describe } from "./bytes.js";
import type {
  AmlData,
  AmlExpression,
  AmlFieldAccess,
  AmlFieldEntry,
  AmlFieldLockRule,
  AmlFieldUpdateRule,
  AmlRegionSpace,
  AmlStatement,
  AmlTarget,
  AmlTerm,
  ResourceDescriptor,
} from "./aml-types.js";

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
  if (length <= PKG_LENGTH_LIMITS[0]) return Uint8Array.of(length);
  const follow = length <= PKG_LENGTH_LIMITS[1] ? 1 : length <= PKG_LENGTH_LIMITS[2] ? 2 : 3;
  const out = new Uint8Array(1 + follow);
  out[0] = (follow << 6) | (length & 0x0f);
  for (let i = 1; i <= follow; i++) out[i] = (length >>> (4 + 8 * (i - 1))) & 0xff;
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
  const lead = bytes[offset];
  if (lead === undefined) throw new AcpiError("truncated", `AML[${offset}]`, "expected a PkgLength, but the bytes end");
  const follow = lead >> 6;
  if (follow === 0) return { length: lead & 0x3f, size: 1 };
  if (lead & 0x30) throw new AcpiError("bad-aml", `AML[${offset}]`, `expected bits 4-5 of a ${follow + 1}-byte PkgLength lead byte clear, got 0x${lead.toString(16)}`);
  if (offset + follow >= bytes.length) throw new AcpiError("truncated", `AML[${offset}]`, `expected a ${follow + 1}-byte PkgLength, but the bytes end`);
  let length = lead & 0x0f;
  for (let i = 1; i <= follow; i++) length |= (bytes[offset + i] ?? 0) << (4 + 8 * (i - 1));
  return { length: length >>> 0, size: 1 + follow };
}

const LEAD = /^[A-Z_]$/;
const SEG = /^[A-Z_][A-Z0-9_]{0,3}$/;

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
  const out: number[] = [];
  let i = 0;
  if (path[0] === "\\") {
    out.push(AML_OPCODE.RootChar);
    i = 1;
  } else {
    while (path[i] === "^") {
      out.push(AML_OPCODE.ParentPrefixChar);
      i++;
    }
  }
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
  if (segs.length === 0) out.push(0x00);
  else if (segs.length === 2) out.push(AML_OPCODE.DualNamePrefix);
  else if (segs.length > 2) out.push(AML_OPCODE.MultiNamePrefix, segs.length);
  for (const s of segs) for (let c = 0; c < 4; c++) out.push(c < s.length ? s.charCodeAt(c) : 0x5f);
  return Uint8Array.from(out);
}

/** Tells whether a byte may start a NameString (a lead name char, root, parent, dual or multi prefix). */
export function isNameStart(b: number): boolean {
  return LEAD.test(String.fromCharCode(b)) || b === 0x5c || b === 0x5e || b === 0x2e || b === 0x2f;
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

/** A growable byte buffer. */
class Out {
  buf: Uint8Array = new Uint8Array(256);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  push(b: number, b2?: number): void {
    this.reserve(2);
    this.buf[this.pos++] = b;
    if (b2 !== undefined) this.buf[this.pos++] = b2;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * Writes a PkgLength and the body `writeBody` produces. The body is written after 4 reserved bytes
 * and moved back once its length, hence the PkgLength's size, is known.
 */
function pushPkg(out: Out, writeBody: () => void, field = "AML.pkgLength"): void {
  out.reserve(4);
  const start = out.pos;
  out.pos += 4;
  const bodyStart = out.pos;
  writeBody();
  const len = out.pos - bodyStart;
  // The PkgLength counts its own bytes: use the smallest size whose limit holds body + itself.
  const size = len + 1 <= PKG_LENGTH_LIMITS[0] ? 1 : len + 2 <= PKG_LENGTH_LIMITS[1] ? 2 : len + 3 <= PKG_LENGTH_LIMITS[2] ? 3 : 4;
  if (len + size > PKG_LENGTH_LIMITS[3]) throw new AcpiError("too-long", field, `expected at most 268435455 bytes in a package (ACPI 6.4 §20.2.4), got ${len + size}`);
  const total = len + size;
  if (size === 1) out.buf[start] = total;
  else {
    out.buf[start] = ((size - 1) << 6) | (total & 0x0f);
    for (let i = 1; i < size; i++) out.buf[start + i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
  }
  if (size !== 4) out.buf.copyWithin(start + size, bodyStart, bodyStart + len);
  out.pos = start + size + len;
}

/** Encoded names by path: boards repeat the same few (`_HID`, `_UID`, `_CRS`, …). */
const NAME_CACHE = new Map<string, Uint8Array>();

function pushName(out: Out, path: string, field: string): void {
  let b = typeof path === "string" ? NAME_CACHE.get(path) : undefined;
  if (b === undefined) {
    b = encodeNameString(path, field);
    if (NAME_CACHE.size < 4096) NAME_CACHE.set(path, b);
  }
  out.bytes(b);
}

/** Pushes an integer in its smallest encoding (ACPI 6.4 §20.2.3 ComputationalData, ConstObj). */
function pushInteger(out: Out, value: bigint): void {
  if (value === 0n) out.push(AML_OPCODE.ZeroOp);
  else if (value === 1n) out.push(AML_OPCODE.OneOp);
  else if (value === ONES) out.push(AML_OPCODE.OnesOp);
  else {
    const [prefix, bytes] =
      value <= 0xffn ? [AML_OPCODE.BytePrefix, 1] : value <= 0xffffn ? [AML_OPCODE.WordPrefix, 2] : value <= 0xffffffffn ? [AML_OPCODE.DWordPrefix, 4] : [AML_OPCODE.QWordPrefix, 8];
    out.push(prefix);
    out.reserve(bytes);
    // The low 32 bits as a number, the high 32 as another: two BigInt operations, not eight.
    const lo = Number(value & 0xffffffffn);
    const hi = Number(value >> 32n);
    for (let i = 0; i < bytes; i++) out.buf[out.pos++] = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0xff;
  }
}

function pushData(out: Out, d: AmlData, field: string): void {
  if (typeof d !== "object" || d === null) throw new AcpiError("invalid-argument", field, `expected an AML data object, got ${describe(d)}`);
  switch (d.kind) {
    case "integer":
      pushInteger(out, checkU64(`${field}.value`, d.value));
      return;
    case "string": {
      if (typeof d.value !== "string" || !/^[\x01-\x7f]*$/.test(d.value)) {
        throw new AcpiError("bad-string", `${field}.value`, `expected ASCII characters 0x01..0x7f (ACPI 6.4 §20.2.3 AsciiChar), got ${describe(d.value)}`);
      }
      out.push(AML_OPCODE.StringPrefix);
      out.reserve(d.value.length + 1);
      for (let i = 0; i < d.value.length; i++) out.buf[out.pos++] = d.value.charCodeAt(i);
      out.push(0);
      return;
    }
    case "buffer":
      pushBuffer(out, checkBytes(`${field}.bytes`, d.bytes));
      return;
    case "resources":
      if (!Array.isArray(d.descriptors)) throw new AcpiError("invalid-argument", `${field}.descriptors`, "expected an array");
      pushBuffer(out, encodeResourceTemplate(d.descriptors, `${field}.descriptors`));
      return;
    case "package": {
      if (!Array.isArray(d.elements)) throw new AcpiError("invalid-argument", `${field}.elements`, "expected an array");
      // NumElements is a ByteData; larger packages need VarPackageOp, which this package does not write.
      const elements: readonly AmlData[] = d.elements;
      if (elements.length > 255) throw new AcpiError("too-long", `${field}.elements`, `expected at most 255 elements, got ${elements.length}`);
      out.push(AML_OPCODE.PackageOp);
      pushPkg(out, () => {
        out.push(elements.length);
        elements.forEach((e, i) => pushData(out, e, `${field}.elements[${i}]`));
      });
      return;
    }
    default:
      throw new AcpiError("invalid-argument", `${field}.kind`, `expected "integer", "string", "buffer", "resources" or "package", got ${describe((d as { kind?: unknown }).kind)}`);
  }
}

function pushBuffer(out: Out, bytes: Uint8Array): void {
  out.push(AML_OPCODE.BufferOp);
  pushPkg(out, () => {
    pushInteger(out, BigInt(bytes.length));
    out.bytes(bytes);
  });
}

const SEG_ONLY = /^[A-Z_][A-Z0-9_]{0,3}$/;
const U64_MAX = (1n << 64n) - 1n;
/** The largest field width and reserved gap: the largest PkgLength value (ACPI 6.4 §20.2.4). */
const MAX_FIELD_BITS = PKG_LENGTH_LIMITS[3];

const BINARY_OPS = { and: AML_OPCODE.AndOp, or: AML_OPCODE.OrOp, "shift-left": AML_OPCODE.ShiftLeftOp, "shift-right": AML_OPCODE.ShiftRightOp } as const;
const LOGICAL_OPS = { lequal: AML_OPCODE.LEqualOp, lgreater: AML_OPCODE.LGreaterOp, lless: AML_OPCODE.LLessOp, land: AML_OPCODE.LandOp, lor: AML_OPCODE.LorOp } as const;
const DATA_KINDS: ReadonlySet<string> = new Set(["integer", "string", "buffer", "resources", "package"]);

/** `OperationRegion`: NameString, RegionSpace, RegionOffset and RegionLen as integer constants (ACPI 6.4 §20.2.5.2). */
function pushOpRegion(out: Out, t: { readonly path: string; readonly space: AmlRegionSpace; readonly offset: bigint; readonly length: bigint }, field: string): void {
  const space = checkKey<AmlRegionSpace>(`${field}.space`, t.space, AML_REGION_SPACE);
  const offset = checkU64(`${field}.offset`, t.offset);
  const length = checkU64(`${field}.length`, t.length);
  // ACPICA (dsopcode.c acpi_ds_eval_region_operands) keeps the length as a u32 and warns on 0.
  if (length < 1n || length > 0xffffffffn) throw new AcpiError("out-of-range", `${field}.length`, `expected 1..0xffffffff bytes, got ${length}`);
  const limit = t.space === "SystemIO" ? 0x10000n : U64_MAX + 1n;
  // I/O ports stop at 0xffff (ACPICA hwvalid.c acpi_hw_validate_io_request: AE_LIMIT above 64K).
  if (offset + length > limit) {
    throw new AcpiError("out-of-range", `${field}.length`, `expected the region to end by 0x${limit.toString(16)} in ${t.space}, got offset 0x${offset.toString(16)} + length 0x${length.toString(16)}`);
  }
  out.push(AML_OPCODE.ExtOpPrefix, AML_OPCODE.OpRegionOp);
  pushName(out, t.path, `${field}.path`);
  out.push(space);
  pushInteger(out, offset);
  pushInteger(out, length);
}

/** `Field`: PkgLength, NameString, FieldFlags, FieldList (ACPI 6.4 §20.2.5.2). */
function pushField(
  out: Out,
  t: { readonly region: string; readonly accessType: AmlFieldAccess; readonly lockRule: AmlFieldLockRule; readonly updateRule: AmlFieldUpdateRule; readonly entries: readonly AmlFieldEntry[] },
  field: string,
): void {
  const access = checkKey<AmlFieldAccess>(`${field}.accessType`, t.accessType, AML_FIELD_ACCESS);
  const lock = checkKey<AmlFieldLockRule>(`${field}.lockRule`, t.lockRule, AML_FIELD_LOCK);
  const update = checkKey<AmlFieldUpdateRule>(`${field}.updateRule`, t.updateRule, AML_FIELD_UPDATE);
  if (!Array.isArray(t.entries)) throw new AcpiError("invalid-argument", `${field}.entries`, `expected an array of field entries, got ${describe(t.entries)}`);
  const entries: readonly AmlFieldEntry[] = t.entries;
  out.push(AML_OPCODE.ExtOpPrefix, AML_OPCODE.FieldOp);
  pushPkg(
    out,
    () => {
      pushName(out, t.region, `${field}.region`);
      out.push(access | (lock << 4) | (update << 5));
      let position = 0;
      entries.forEach((e, i) => {
        const f = `${field}.entries[${i}]`;
        if (typeof e !== "object" || e === null) throw new AcpiError("invalid-argument", f, `expected a field entry, got ${describe(e)}`);
        const bits = checkInt(`${f}.bits`, e.bits, 1, MAX_FIELD_BITS);
        position += bits;
        // ACPICA dsfield.c acpi_ds_get_field_names: a bit offset above 0xffffffff is AE_SUPPORT.
        if (position > 0xffffffff) throw new AcpiError("out-of-range", `${f}.bits`, `expected the field list to end by bit 0xffffffff, it ends at bit 0x${position.toString(16)}`);
        if (e.kind === "named") {
          if (typeof e.name !== "string" || !SEG_ONLY.test(e.name)) {
            throw new AcpiError("bad-name", `${f}.name`, `expected one NameSeg of 1..4 characters, the first A-Z or _, the rest A-Z, 0-9 or _ (ACPI 6.4 §20.2.2), got ${describe(e.name)}`);
          }
          pushName(out, e.name, `${f}.name`);
        } else if (e.kind === "reserved") out.push(0x00);
        else throw new AcpiError("invalid-argument", `${f}.kind`, `expected "named" or "reserved", got ${describe((e as { kind?: unknown }).kind)}`);
        out.bytes(encodePkgLength(bits));
      });
    },
    `${field}.entries`,
  );
}

function pushIndexed(out: Out, e: { readonly kind: "local" | "arg"; readonly index: number }, field: string): void {
  if (e.kind === "local") out.push(AML_OPCODE.Local0Op + checkInt(`${field}.index`, e.index, 0, 7));
  else out.push(AML_OPCODE.Arg0Op + checkInt(`${field}.index`, e.index, 0, 6));
}

/** A SuperName (ACPI 6.4 §20.2.2): a local, an argument or a NameString; NullName when `optional` and absent. */
function pushTarget(out: Out, t: AmlTarget | undefined, field: string, optional: boolean): void {
  if (t === undefined && optional) {
    out.push(0x00);
    return;
  }
  if (typeof t !== "object" || t === null) throw new AcpiError("invalid-argument", field, `expected a local, an argument or a ref, got ${describe(t)}`);
  switch (t.kind) {
    case "local":
    case "arg":
      pushIndexed(out, t, field);
      return;
    case "ref":
      pushName(out, t.path, `${field}.path`);
      return;
    default:
      throw new AcpiError("invalid-argument", `${field}.kind`, `expected "local", "arg" or "ref", got ${describe((t as { kind?: unknown }).kind)}`);
  }
}

/** A TermArg (ACPI 6.4 §20.2.5): a data object, a local, an argument, a name or an operation. */
function pushExpression(out: Out, e: AmlExpression, field: string): void {
  if (typeof e !== "object" || e === null) throw new AcpiError("invalid-argument", field, `expected an AML expression object, got ${describe(e)}`);
  if (DATA_KINDS.has(e.kind)) {
    pushData(out, e as AmlData, field);
    return;
  }
  switch (e.kind) {
    case "local":
    case "arg":
    case "ref":
      pushTarget(out, e, field, false);
      return;
    case "and":
    case "or":
    case "shift-left":
    case "shift-right":
      out.push(BINARY_OPS[e.kind]);
      pushExpression(out, e.left, `${field}.left`);
      pushExpression(out, e.right, `${field}.right`);
      pushTarget(out, e.target, `${field}.target`, true);
      return;
    case "lequal":
    case "lgreater":
    case "lless":
    case "land":
    case "lor":
      out.push(LOGICAL_OPS[e.kind]);
      pushExpression(out, e.left, `${field}.left`);
      pushExpression(out, e.right, `${field}.right`);
      return;
    case "lnot":
      out.push(AML_OPCODE.LnotOp);
      pushExpression(out, e.operand, `${field}.operand`);
      return;
    default:
      throw new AcpiError(
        "invalid-argument",
        `${field}.kind`,
        `expected a data object, "local", "arg", "ref", "and", "or", "shift-left", "shift-right", "lequal", "lgreater", "lless", "land", "lor" or "lnot", got ${describe((e as { kind?: unknown }).kind)}`,
      );
  }
}

function pushStatements(out: Out, statements: readonly AmlStatement[], field: string): void {
  if (!Array.isArray(statements)) throw new AcpiError("invalid-argument", field, `expected an array of statements, got ${describe(statements)}`);
  statements.forEach((s, i) => pushStatement(out, s, `${field}[${i}]`));
}

/** A statement of a method body (ACPI 6.4 §20.2.5.3 Type1Opcode, §20.2.5.4 Type2Opcode). */
function pushStatement(out: Out, s: AmlStatement, field: string): void {
  if (typeof s !== "object" || s === null) throw new AcpiError("invalid-argument", field, `expected an AML statement object, got ${describe(s)}`);
  switch (s.kind) {
    case "store":
      out.push(AML_OPCODE.StoreOp);
      pushExpression(out, s.source, `${field}.source`);
      pushTarget(out, s.target, `${field}.target`, false);
      return;
    case "return":
      out.push(AML_OPCODE.ReturnOp);
      pushExpression(out, s.value, `${field}.value`);
      return;
    case "notify":
      out.push(AML_OPCODE.NotifyOp);
      pushTarget(out, s.object, `${field}.object`, false);
      pushExpression(out, s.value, `${field}.value`);
      return;
    case "if":
      out.push(AML_OPCODE.IfOp);
      pushPkg(
        out,
        () => {
          pushExpression(out, s.predicate, `${field}.predicate`);
          pushStatements(out, s.body, `${field}.body`);
        },
        `${field}.body`,
      );
      if (s.else !== undefined) {
        const elseBody = s.else;
        out.push(AML_OPCODE.ElseOp);
        pushPkg(out, () => pushStatements(out, elseBody, `${field}.else`), `${field}.else`);
      }
      return;
    case "and":
    case "or":
    case "shift-left":
    case "shift-right":
      pushExpression(out, s, field);
      return;
    default:
      throw new AcpiError(
        "invalid-argument",
        `${field}.kind`,
        `expected "store", "return", "if", "notify", "and", "or", "shift-left" or "shift-right", got ${describe((s as { kind?: unknown }).kind)}`,
      );
  }
}

function pushTerms(out: Out, terms: readonly AmlTerm[], field: string): void {
  if (!Array.isArray(terms)) throw new AcpiError("invalid-argument", field, `expected an array of terms, got ${describe(terms)}`);
  terms.forEach((t, i) => pushTerm(out, t, `${field}[${i}]`));
}

function pushTerm(out: Out, t: AmlTerm, field: string): void {
  if (typeof t !== "object" || t === null) throw new AcpiError("invalid-argument", field, `expected an AML term object, got ${describe(t)}`);
  switch (t.kind) {
    case "scope":
    case "device": {
      if (t.kind === "scope") out.push(AML_OPCODE.ScopeOp);
      else out.push(AML_OPCODE.ExtOpPrefix, AML_OPCODE.DeviceOp);
      pushPkg(
        out,
        () => {
          pushName(out, t.path, `${field}.path`);
          pushTerms(out, t.body, `${field}.body`);
        },
        `${field}.body`,
      );
      return;
    }
    case "name":
      out.push(AML_OPCODE.NameOp);
      pushName(out, t.path, `${field}.path`);
      pushData(out, t.value, `${field}.value`);
      return;
    case "method": {
      out.push(AML_OPCODE.MethodOp);
      pushPkg(
        out,
        () => {
          pushName(out, t.path, `${field}.path`);
          const flags =
            checkInt(`${field}.argCount`, t.argCount, 0, 7) | (checkBool(`${field}.serialized`, t.serialized) ? 8 : 0) | (checkInt(`${field}.syncLevel`, t.syncLevel, 0, 15) << 4);
          out.push(flags);
          if (t.body !== undefined) pushStatements(out, t.body, `${field}.body`);
          if (t.returns !== undefined) {
            out.push(AML_OPCODE.ReturnOp);
            pushData(out, t.returns, `${field}.returns`);
          }
        },
        `${field}.body`,
      );
      return;
    }
    case "operation-region":
      pushOpRegion(out, t, field);
      return;
    case "field":
      pushField(out, t, field);
      return;
    default:
      throw new AcpiError(
        "invalid-argument",
        `${field}.kind`,
        `expected "scope", "device", "name", "method", "operation-region" or "field", got ${describe((t as { kind?: unknown }).kind)}`,
      );
  }
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
  const out = new Out();
  pushTerms(out, terms, "AML");
  return out.result();
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
  const out = new Out();
  pushData(out, data, "AML");
  return out.result();
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
  const out: number[] = [];
  const u16 = (n: number): void => void out.push(n & 0xff, n >>> 8);
  const u32 = (n: number): void => void out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  descriptors.forEach((d, i) => {
    const f = `${field}[${i}]`;
    if (typeof d !== "object" || d === null) throw new AcpiError("invalid-argument", f, `expected a resource descriptor, got ${describe(d)}`);
    switch (d.type) {
      case "memory32-fixed":
        out.push(MEM32_FIXED_TAG);
        u16(9);
        out.push(checkBool(`${f}.writable`, d.writable) ? 1 : 0);
        u32(checkInt(`${f}.base`, d.base, 0, 0xffffffff));
        u32(checkInt(`${f}.length`, d.length, 0, 0xffffffff));
        return;
      case "io":
        out.push(IO_TAG, checkBool(`${f}.decode16`, d.decode16) ? 1 : 0);
        u16(checkInt(`${f}.min`, d.min, 0, 0xffff));
        u16(checkInt(`${f}.max`, d.max, 0, 0xffff));
        out.push(checkInt(`${f}.alignment`, d.alignment, 0, 0xff), checkInt(`${f}.length`, d.length, 0, 0xff));
        return;
      case "interrupt": {
        if (!Array.isArray(d.interrupts)) throw new AcpiError("invalid-argument", `${f}.interrupts`, "expected an array");
        const n = checkInt(`${f}.interrupts.length`, d.interrupts.length, 1, 255);
        if (d.trigger !== "edge" && d.trigger !== "level") throw new AcpiError("invalid-argument", `${f}.trigger`, `expected "edge" or "level", got ${describe(d.trigger)}`);
        if (d.polarity !== "active-high" && d.polarity !== "active-low") {
          throw new AcpiError("invalid-argument", `${f}.polarity`, `expected "active-high" or "active-low", got ${describe(d.polarity)}`);
        }
        out.push(EXT_IRQ_TAG);
        u16(2 + 4 * n);
        out.push(
          (checkBool(`${f}.consumer`, d.consumer) ? 1 : 0) |
            (d.trigger === "edge" ? 2 : 0) |
            (d.polarity === "active-low" ? 4 : 0) |
            (checkBool(`${f}.shared`, d.shared) ? 8 : 0) |
            (checkBool(`${f}.wakeCapable`, d.wakeCapable) ? 16 : 0),
          n,
        );
        d.interrupts.forEach((irq, k) => u32(checkInt(`${f}.interrupts[${k}]`, irq, 0, 0xffffffff)));
        return;
      }
      default:
        throw new AcpiError("invalid-argument", `${f}.type`, `expected "memory32-fixed", "io" or "interrupt", got ${describe((d as { type?: unknown }).type)}`);
    }
  });
  out.push(END_TAG);
  let sum = 0;
  for (const b of out) sum += b;
  out.push((0x100 - (sum & 0xff)) & 0xff);
  return Uint8Array.from(out);
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
  const out: ResourceDescriptor[] = [];
  const u16 = (o: number): number => (bytes[o] ?? 0) | ((bytes[o + 1] ?? 0) << 8);
  const u32 = (o: number): number => (u16(o) | (u16(o + 2) << 16)) >>> 0;
  let o = 0;
  for (let i = 0; ; i++) {
    const f = `resources[${i}]`;
    const tag = bytes[o];
    if (tag === undefined) throw new AcpiError("truncated", f, "expected a descriptor or an End Tag, but the bytes end");
    if (tag === END_TAG) {
      if (o + 2 !== bytes.length) throw new AcpiError("bad-entry", f, `expected the End Tag to be the last 2 bytes, at ${bytes.length - 2}, found it at ${o}`);
      let sum = 0;
      for (const b of bytes) sum += b;
      if (bytes[o + 1] !== 0 && (sum & 0xff) !== 0) throw new AcpiError("bad-checksum", `${f}.checksum`, `expected the template to sum to 0 mod 256 (or a checksum of 0), got ${sum & 0xff}`);
      return out;
    }
    const need = (n: number): void => {
      if (o + n > bytes.length) throw new AcpiError("truncated", f, `expected ${n} bytes at offset ${o}, but the bytes end at ${bytes.length}`);
    };
    if (tag === IO_TAG) {
      need(8);
      const info = bytes[o + 1] ?? 0;
      if (info & ~1) throw new AcpiError("bad-entry", `${f}.information`, `expected bits 1..7 clear, got 0x${info.toString(16)}`);
      out.push({ type: "io", decode16: info === 1, min: u16(o + 2), max: u16(o + 4), alignment: bytes[o + 6] ?? 0, length: bytes[o + 7] ?? 0 });
      o += 8;
    } else if (tag === MEM32_FIXED_TAG) {
      need(12);
      if (u16(o + 1) !== 9) throw new AcpiError("bad-entry", `${f}.length`, `expected 9 for Memory32Fixed, got ${u16(o + 1)}`);
      const info = bytes[o + 3] ?? 0;
      if (info & ~1) throw new AcpiError("bad-entry", `${f}.information`, `expected bits 1..7 clear, got 0x${info.toString(16)}`);
      out.push({ type: "memory32-fixed", writable: info === 1, base: u32(o + 4), length: u32(o + 8) });
      o += 12;
    } else if (tag === EXT_IRQ_TAG) {
      need(5);
      const len = u16(o + 1);
      const flags = bytes[o + 3] ?? 0;
      const n = bytes[o + 4] ?? 0;
      if (n === 0 || len !== 2 + 4 * n) {
        throw new AcpiError("bad-entry", `${f}.length`, `expected 2 + 4 × the interrupt count (no resource source), got length ${len} for ${n} interrupts`);
      }
      if (flags & ~0x1f) throw new AcpiError("bad-entry", `${f}.flags`, `expected bits 5..7 clear, got 0x${flags.toString(16)}`);
      need(3 + len);
      const interrupts: number[] = [];
      for (let k = 0; k < n; k++) interrupts.push(u32(o + 5 + 4 * k));
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
      throw new AcpiError("bad-entry", `${f}.type`, `expected an IO (0x47), Memory32Fixed (0x86), Extended Interrupt (0x89) descriptor or an End Tag (0x79), got 0x${tag.toString(16)}`);
    }
  }
}
