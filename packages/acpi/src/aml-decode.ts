import { AcpiError, isAcpiError } from "./errors.js";
import { checkBytes, keysByValue } from "./bytes.js";
import { AML_FIELD_ACCESS, AML_FIELD_UPDATE, AML_OPCODE, AML_REGION_SPACE, isNameChar, isNameStart, pkgLengthAt, readResourceTemplate } from "./aml.js";
import type {
  AmlBinaryOp,
  AmlData,
  AmlExpression,
  AmlField,
  AmlFieldAccess,
  AmlFieldEntry,
  AmlFieldUpdateRule,
  AmlLogicalOp,
  AmlMethod,
  AmlOperationRegion,
  AmlRegionSpace,
  AmlStatement,
  AmlTarget,
  AmlTerm,
} from "./aml-types.js";

/** The largest BufferSize the decoder accepts beyond the initializer (it allocates that many bytes). */
const MAX_BUFFER_SIZE = 1 << 20;
/** Nesting limit, so that hostile input cannot exhaust the stack. */
const MAX_DEPTH = 64;

const ONES = (1n << 64n) - 1n;

const BINARY_OPS: Readonly<Record<number, AmlBinaryOp["kind"]>> = {
  [AML_OPCODE.AndOp]: "and",
  [AML_OPCODE.OrOp]: "or",
  [AML_OPCODE.ShiftLeftOp]: "shift-left",
  [AML_OPCODE.ShiftRightOp]: "shift-right",
};
const LOGICAL_OPS: Readonly<Record<number, AmlLogicalOp["kind"]>> = {
  [AML_OPCODE.LEqualOp]: "lequal",
  [AML_OPCODE.LGreaterOp]: "lgreater",
  [AML_OPCODE.LLessOp]: "lless",
  [AML_OPCODE.LandOp]: "land",
  [AML_OPCODE.LorOp]: "lor",
};
/** The first bytes of the data objects readData knows (ACPI 6.4 §20.2.3). */
const DATA_OPS: ReadonlySet<number> = new Set<number>([
  AML_OPCODE.ZeroOp,
  AML_OPCODE.OneOp,
  AML_OPCODE.OnesOp,
  AML_OPCODE.BytePrefix,
  AML_OPCODE.WordPrefix,
  AML_OPCODE.DWordPrefix,
  AML_OPCODE.QWordPrefix,
  AML_OPCODE.StringPrefix,
  AML_OPCODE.BufferOp,
  AML_OPCODE.PackageOp,
]);
const DATA_KINDS: ReadonlySet<string> = new Set(["integer", "string", "buffer", "resources", "package"]);

const REGION_SPACES = keysByValue<AmlRegionSpace>(AML_REGION_SPACE);
const FIELD_ACCESS = keysByValue<AmlFieldAccess>(AML_FIELD_ACCESS);
const FIELD_UPDATE = keysByValue<AmlFieldUpdateRule>(AML_FIELD_UPDATE);

/**
 * The one cursor over the AML: the offset, and the end of the innermost package being read, which
 * {@link Reader.enter} and {@link Reader.leave} move in and out (nothing is sliced or copied).
 */
class Reader {
  constructor(
    readonly b: Uint8Array,
    public o: number,
    public end: number,
  ) {}

  fail(code: "bad-aml" | "truncated" | "bad-name" | "bad-string", detail: string, at = this.o): never {
    throw new AcpiError(code, `AML[${at}]`, detail);
  }

  byte(): number {
    if (this.o >= this.end) this.fail("truncated", `expected a byte, but the ${this.o === this.b.length ? "bytes" : "enclosing package"} end at ${this.end}`);
    return this.b[this.o++] as number;
  }

  /** Reads a PkgLength and returns the end offset of the package it measures. */
  pkgEnd(): number {
    const start = this.o;
    if (start >= this.end) this.fail("truncated", "expected a PkgLength");
    const length = pkgLengthAt(this.b, start, this.end);
    const size = 1 + ((this.b[start] as number) >> 6);
    const end = start + length;
    if (length < size) this.fail("bad-aml", `a PkgLength of ${length} cannot hold its own ${size} bytes`, start);
    if (end > this.end) this.fail("truncated", `the package of ${length} bytes ends at ${end}, past the enclosing end at ${this.end}`, start);
    this.o = start + size;
    return end;
  }

  /** Reads on up to `end`, a package's end; returns the enclosing end for {@link leave}. */
  enter(end: number): number {
    const outer = this.end;
    this.end = end;
    return outer;
  }

  /** Goes on after the package ending at `end`, within the enclosing end `outer`. */
  leave(end: number, outer: number): void {
    this.o = end;
    this.end = outer;
  }

  nameSeg(): string {
    const o = this.o;
    const b = this.b;
    if (o + 4 <= this.end) {
      const c0 = b[o] as number;
      const c1 = b[o + 1] as number;
      const c2 = b[o + 2] as number;
      const c3 = b[o + 3] as number;
      if (isNameChar(c0, false) && isNameChar(c1, true) && isNameChar(c2, true) && isNameChar(c3, true)) {
        this.o = o + 4;
        return String.fromCharCode(c0, c1, c2, c3);
      }
    }
    // A wrong character or too few bytes: find the first, byte by byte.
    for (let i = 0; i < 4; i++) {
      const at = this.o;
      const c = this.byte();
      if (!isNameChar(c, i > 0)) this.fail("bad-name", `expected a NameSeg character (${i === 0 ? "A-Z or _" : "A-Z, 0-9 or _"}), got 0x${c.toString(16)}`, at);
    }
    return String.fromCharCode(b[o] as number, b[o + 1] as number, b[o + 2] as number, b[o + 3] as number);
  }

  /** Reads a value in the PkgLength encoding that does not count its own bytes (a field width, ACPI 6.4 §20.2.5.2). */
  pkgValue(): number {
    if (this.o >= this.end) this.fail("truncated", "expected a PkgLength-encoded width");
    const length = pkgLengthAt(this.b, this.o, this.end);
    this.o += 1 + ((this.b[this.o] as number) >> 6);
    return length;
  }

  /** Reads a NameString (ACPI 6.4 §20.2.2) as a path string with full 4-character segments. */
  nameString(): string {
    let path = "";
    const first = this.b[this.o];
    if (first === AML_OPCODE.RootChar) {
      path = "\\";
      this.o++;
    } else {
      while (this.b[this.o] === AML_OPCODE.ParentPrefixChar && this.o < this.end) {
        path += "^";
        this.o++;
      }
    }
    const at = this.o;
    const c = this.byte();
    let count: number;
    if (c === 0) count = 0;
    else if (c === AML_OPCODE.DualNamePrefix) count = 2;
    else if (c === AML_OPCODE.MultiNamePrefix) {
      count = this.byte();
      // MultiNamePrefix SegCount with fewer than 3 segments is not what the encoder writes; the
      // grammar allows any ByteData but 0 would be meaningless.
      if (count < 3) this.fail("bad-name", `expected a MultiNamePrefix segment count of 3 or more, got ${count}`, at + 1);
    } else {
      this.o = at;
      count = 1;
    }
    if (count === 0 && path === "") this.fail("bad-name", "expected a name, got NullName without a prefix", at);
    for (let i = 0; i < count; i++) path += i === 0 ? this.nameSeg() : "." + this.nameSeg();
    return path;
  }
}

/** A little-endian integer of 1, 2, 4 or 8 bytes: two numbers, then one or two BigInt operations, not one per byte. */
function readInteger(r: Reader, bytes: number): bigint {
  const o = r.o;
  if (o + bytes > r.end) {
    // Truncated: fail at the first missing byte, as reading byte by byte would.
    r.o = r.end;
    r.byte();
  }
  const b = r.b;
  r.o = o + bytes;
  let lo = b[o] as number;
  if (bytes >= 2) lo |= (b[o + 1] as number) << 8;
  if (bytes >= 4) lo = (lo | ((b[o + 2] as number) << 16) | ((b[o + 3] as number) << 24)) >>> 0;
  if (bytes < 8) return BigInt(lo);
  const hi = ((b[o + 4] as number) | ((b[o + 5] as number) << 8) | ((b[o + 6] as number) << 16) | ((b[o + 7] as number) << 24)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function readData(r: Reader, depth: number): AmlData {
  if (depth > MAX_DEPTH) r.fail("bad-aml", `expected at most ${MAX_DEPTH} nested objects`);
  const at = r.o;
  const op = r.byte();
  switch (op) {
    case AML_OPCODE.ZeroOp:
      return { kind: "integer", value: 0n };
    case AML_OPCODE.OneOp:
      return { kind: "integer", value: 1n };
    case AML_OPCODE.OnesOp:
      return { kind: "integer", value: ONES };
    case AML_OPCODE.BytePrefix:
      return { kind: "integer", value: readInteger(r, 1) };
    case AML_OPCODE.WordPrefix:
      return { kind: "integer", value: readInteger(r, 2) };
    case AML_OPCODE.DWordPrefix:
      return { kind: "integer", value: readInteger(r, 4) };
    case AML_OPCODE.QWordPrefix:
      return { kind: "integer", value: readInteger(r, 8) };
    case AML_OPCODE.StringPrefix: {
      let s = "";
      for (;;) {
        const cAt = r.o;
        const c = r.byte();
        if (c === 0) return { kind: "string", value: s };
        if (c > 0x7f) r.fail("bad-string", `expected ASCII 0x01..0x7f in a string, got 0x${c.toString(16)}`, cAt);
        s += String.fromCharCode(c);
      }
    }
    case AML_OPCODE.BufferOp: {
      const end = r.pkgEnd();
      const bodyAt = r.o;
      const outer = r.enter(end);
      const sizeData = readData(r, depth + 1);
      if (sizeData.kind !== "integer") r.fail("bad-aml", `expected an integer BufferSize, got a ${sizeData.kind}`, bodyAt);
      const initAt = r.o;
      const initLength = end - initAt;
      const size = sizeData.value;
      if (size < initLength) r.fail("bad-aml", `the BufferSize ${size} is smaller than its ${initLength}-byte initializer`, at);
      if (size > initLength + MAX_BUFFER_SIZE) r.fail("bad-aml", `expected a BufferSize of at most the initializer + ${MAX_BUFFER_SIZE}, got ${size}`, at);
      r.leave(end, outer);
      // A buffer that is just its initializer is read as a template where it is, and copied only if it is none.
      if (size === BigInt(initLength)) return resourcesAt(r.b, initAt, end) ?? { kind: "buffer", bytes: r.b.slice(initAt, end) };
      const bytes = new Uint8Array(Number(size));
      bytes.set(r.b.subarray(initAt, end));
      return resourcesAt(bytes, 0, bytes.length) ?? { kind: "buffer", bytes };
    }
    case AML_OPCODE.PackageOp: {
      const end = r.pkgEnd();
      const outer = r.enter(end);
      const n = r.byte();
      const elements: AmlData[] = [];
      while (r.o < end) elements.push(readData(r, depth + 1));
      if (elements.length !== n) r.fail("bad-aml", `the package says ${n} elements but holds ${elements.length} (this decoder reads no uninitialised elements)`, at);
      r.leave(end, outer);
      return { kind: "package", elements };
    }
    default:
      return r.fail("bad-aml", `expected a data object (ZeroOp, OneOp, OnesOp, a Byte/Word/DWord/QWord/String prefix, BufferOp or PackageOp), got opcode 0x${op.toString(16)}`, at);
  }
}

/**
 * A buffer whose bytes `b[start..end)` parse as a resource template (descriptors this package
 * knows, then an End Tag as the last two bytes with a right or zero checksum) is returned as one;
 * anything else is a plain buffer (undefined here). A zero checksum (what iasl writes) is not kept:
 * re-encoding writes the real one.
 */
function resourcesAt(b: Uint8Array, start: number, end: number): AmlData | undefined {
  if (end - start >= 2 && b[end - 2] === 0x79) {
    try {
      return { kind: "resources", descriptors: readResourceTemplate(b, start, end) };
    } catch (e) {
      if (!isAcpiError(e)) throw e;
    }
  }
  return undefined;
}

function readTerms(r: Reader, end: number, depth: number): AmlTerm[] {
  if (depth > MAX_DEPTH) r.fail("bad-aml", `expected at most ${MAX_DEPTH} nested scopes`);
  const out: AmlTerm[] = [];
  while (r.o < end) {
    const at = r.o;
    const op = r.byte();
    const ext = op === AML_OPCODE.ExtOpPrefix ? r.byte() : undefined;
    if (op === AML_OPCODE.ScopeOp || ext === AML_OPCODE.DeviceOp) {
      const pEnd = r.pkgEnd();
      const outer = r.enter(pEnd);
      const path = r.nameString();
      const body = readTerms(r, pEnd, depth + 1);
      r.leave(pEnd, outer);
      out.push({ kind: op === AML_OPCODE.ScopeOp ? "scope" : "device", path, body });
    } else if (op === AML_OPCODE.NameOp) {
      const path = r.nameString();
      out.push({ kind: "name", path, value: readData(r, depth + 1) });
    } else if (op === AML_OPCODE.MethodOp) {
      out.push(readMethod(r, depth));
    } else if (ext === AML_OPCODE.OpRegionOp) {
      out.push(readOpRegion(r, depth));
    } else if (ext === AML_OPCODE.FieldOp) {
      out.push(readField(r));
    } else {
      r.fail(
        "bad-aml",
        `expected Scope (0x10), Device (0x5b 0x82), Name (0x08), Method (0x14), OperationRegion (0x5b 0x80) or Field (0x5b 0x81), got opcode 0x${op.toString(16)}${ext === undefined ? "" : ` 0x${ext.toString(16)}`}`,
        at,
      );
    }
  }
  return out;
}

/**
 * A method: its flags and statements, in the canonical form of {@link AmlMethod}: a last
 * `Return (data object)` becomes `returns`, and `body` is left out when nothing precedes it.
 */
function readMethod(r: Reader, depth: number): AmlMethod {
  const pEnd = r.pkgEnd();
  const outer = r.enter(pEnd);
  const path = r.nameString();
  const flags = r.byte();
  const body = readStatements(r, pEnd, depth + 1);
  r.leave(pEnd, outer);
  const argCount = flags & 7;
  const serialized = (flags & 8) !== 0;
  const syncLevel = flags >> 4;
  const last = body[body.length - 1];
  if (last?.kind === "return" && DATA_KINDS.has(last.value.kind)) {
    body.pop();
    const returns = last.value as AmlData;
    return body.length === 0 ? { kind: "method", path, argCount, serialized, syncLevel, returns } : { kind: "method", path, argCount, serialized, syncLevel, body, returns };
  }
  return body.length === 0 ? { kind: "method", path, argCount, serialized, syncLevel } : { kind: "method", path, argCount, serialized, syncLevel, body };
}

/** OperationRegion: NameString, RegionSpace, and offset and length as integer constants (ACPI 6.4 §20.2.5.2). */
function readOpRegion(r: Reader, depth: number): AmlOperationRegion {
  const path = r.nameString();
  const spaceAt = r.o;
  const spaceByte = r.byte();
  const space = REGION_SPACES[spaceByte];
  if (space === undefined) r.fail("bad-aml", `expected a RegionSpace 0x00..0x0a (OEM spaces 0x80..0xff are not read), got 0x${spaceByte.toString(16)}`, spaceAt);
  const offsetAt = r.o;
  const offset = regionConstant(r, depth, "offset");
  const lengthAt = r.o;
  const length = regionConstant(r, depth, "length");
  // The encoder's limits: ACPICA keeps the length as a u32 (dsopcode.c), I/O ports end at 0xffff (hwvalid.c).
  if (length < 1n || length > 0xffffffffn) r.fail("bad-aml", `expected a region length of 1..0xffffffff, got 0x${length.toString(16)}`, lengthAt);
  if (offset + length > (space === "SystemIO" ? 0x10000n : ONES + 1n)) r.fail("bad-aml", `the ${space} region at 0x${offset.toString(16)} of 0x${length.toString(16)} bytes ends past the space`, offsetAt);
  return { kind: "operation-region", path, space, offset, length };
}

/** The region offset or length (`what`): an integer constant. */
function regionConstant(r: Reader, depth: number, what: string): bigint {
  const at = r.o;
  const e = readExpression(r, depth + 1);
  if (e.kind !== "integer") return r.fail("bad-aml", `expected the region ${what} as an integer constant, got a ${e.kind}`, at);
  return e.value;
}

/** Field: PkgLength, NameString, FieldFlags, then named and reserved entries (ACPI 6.4 §20.2.5.2). */
function readField(r: Reader): AmlField {
  const pEnd = r.pkgEnd();
  const outer = r.enter(pEnd);
  const region = r.nameString();
  const flagsAt = r.o;
  const flags = r.byte();
  const accessType = FIELD_ACCESS[flags & 0x0f];
  const updateRule = FIELD_UPDATE[(flags >> 5) & 3];
  if (accessType === undefined || updateRule === undefined || flags & 0x80) {
    r.fail("bad-aml", `expected FieldFlags with an AccessType 0..5, an UpdateRule 0..2 and bit 7 clear, got 0x${flags.toString(16)}`, flagsAt);
  }
  const entries: AmlFieldEntry[] = [];
  let position = 0;
  while (r.o < pEnd) {
    const at = r.o;
    const lead = r.b[at] as number;
    let entry: AmlFieldEntry;
    if (lead === 0x00) {
      r.o++;
      entry = { kind: "reserved", bits: r.pkgValue() };
    } else if ((lead >= 0x41 && lead <= 0x5a) || lead === 0x5f) {
      const name = r.nameSeg();
      entry = { kind: "named", name, bits: r.pkgValue() };
    } else {
      return r.fail("bad-aml", `expected a NamedField or a ReservedField (0x00); AccessField (0x01), ConnectField (0x02) and ExtendedAccessField (0x03) are not read; got 0x${lead.toString(16)}`, at);
    }
    if (entry.bits === 0) r.fail("bad-aml", "expected a field width of at least 1 bit, got 0", at);
    position += entry.bits;
    // ACPICA dsfield.c acpi_ds_get_field_names: a bit offset above 0xffffffff is AE_SUPPORT.
    if (position > 0xffffffff) r.fail("bad-aml", `the field list goes past bit 0xffffffff, to 0x${position.toString(16)}`, at);
    entries.push(entry);
  }
  r.leave(pEnd, outer);
  return { kind: "field", region, accessType, lockRule: flags & 0x10 ? "Lock" : "NoLock", updateRule, entries };
}

function readStatements(r: Reader, end: number, depth: number): AmlStatement[] {
  if (depth > MAX_DEPTH) r.fail("bad-aml", `expected at most ${MAX_DEPTH} nested statements`);
  const out: AmlStatement[] = [];
  while (r.o < end) out.push(readStatement(r, end, depth));
  return out;
}

/** One statement (ACPI 6.4 §20.2.5.3–4): Store, Return, Notify, If (and its Else), And/Or/ShiftLeft/ShiftRight. */
function readStatement(r: Reader, end: number, depth: number): AmlStatement {
  const at = r.o;
  const op = r.byte();
  switch (op) {
    case AML_OPCODE.StoreOp: {
      const source = readExpression(r, depth + 1);
      return { kind: "store", source, target: readTarget(r, false) as AmlTarget };
    }
    case AML_OPCODE.ReturnOp:
      return { kind: "return", value: readExpression(r, depth + 1) };
    case AML_OPCODE.NotifyOp: {
      const object = readTarget(r, false) as AmlTarget;
      return { kind: "notify", object, value: readExpression(r, depth + 1) };
    }
    case AML_OPCODE.IfOp: {
      const pEnd = r.pkgEnd();
      const outer = r.enter(pEnd);
      const predicate = readExpression(r, depth + 1);
      const body = readStatements(r, pEnd, depth + 1);
      r.leave(pEnd, outer);
      // DefElse := Nothing | ElseOp PkgLength TermList, right after the If (ACPI 6.4 §20.2.5.3).
      if (r.o < end && r.b[r.o] === AML_OPCODE.ElseOp) {
        r.o++;
        const eEnd = r.pkgEnd();
        const elseOuter = r.enter(eEnd);
        const elseBody = readStatements(r, eEnd, depth + 1);
        r.leave(eEnd, elseOuter);
        return { kind: "if", predicate, body, else: elseBody };
      }
      return { kind: "if", predicate, body };
    }
    default:
      if (BINARY_OPS[op] !== undefined) {
        r.o = at;
        return readExpression(r, depth + 1) as AmlBinaryOp;
      }
      return r.fail(
        "bad-aml",
        `expected a statement: Store (0x70), Return (0xa4), Notify (0x86), If (0xa0), And (0x7b), Or (0x7d), ShiftLeft (0x79) or ShiftRight (0x7a), got opcode 0x${op.toString(16)}${op === AML_OPCODE.ElseOp ? " (an Else without an If)" : ""}`,
        at,
      );
  }
}

/**
 * A SuperName or Target (ACPI 6.4 §20.2.2): a local, an argument or a NameString; with `optional`,
 * NullName (0x00) gives undefined.
 */
function readTarget(r: Reader, optional: boolean): AmlTarget | undefined {
  const at = r.o;
  const b = r.byte();
  if (b === 0x00 && optional) return undefined;
  if (b >= AML_OPCODE.Local0Op && b <= AML_OPCODE.Local0Op + 7) return { kind: "local", index: b - AML_OPCODE.Local0Op };
  if (b >= AML_OPCODE.Arg0Op && b <= AML_OPCODE.Arg0Op + 6) return { kind: "arg", index: b - AML_OPCODE.Arg0Op };
  if (isNameStart(b)) {
    r.o = at;
    return { kind: "ref", path: r.nameString() };
  }
  return r.fail("bad-aml", `expected a target: a local (0x60..0x67), an argument (0x68..0x6e) or a name${optional ? ", or NullName (0x00)" : ""}, got 0x${b.toString(16)}`, at);
}

/**
 * A TermArg (ACPI 6.4 §20.2.5): a data object, a local, an argument, an operation, or a
 * NameString, read as a reference with no arguments (the decoder has no namespace to know that a
 * name is a method taking some).
 */
function readExpression(r: Reader, depth: number): AmlExpression {
  if (depth > MAX_DEPTH) r.fail("bad-aml", `expected at most ${MAX_DEPTH} nested expressions`);
  const at = r.o;
  const op = r.b[at];
  if (op === undefined || at >= r.end) return r.fail("truncated", `expected an expression, but the ${at >= r.b.length ? "bytes" : "enclosing package"} end at ${r.end}`);
  if (DATA_OPS.has(op)) return readData(r, depth);
  if ((op >= AML_OPCODE.Local0Op && op <= AML_OPCODE.Arg0Op + 6) || isNameStart(op)) return readTarget(r, false) as AmlTarget;
  r.o++;
  const binary = BINARY_OPS[op];
  if (binary !== undefined) {
    const left = readExpression(r, depth + 1);
    const right = readExpression(r, depth + 1);
    const target = readTarget(r, true);
    return target === undefined ? { kind: binary, left, right } : { kind: binary, left, right, target };
  }
  const logical = LOGICAL_OPS[op];
  if (logical !== undefined) {
    const left = readExpression(r, depth + 1);
    return { kind: logical, left, right: readExpression(r, depth + 1) };
  }
  if (op === AML_OPCODE.LnotOp) return { kind: "lnot", operand: readExpression(r, depth + 1) };
  return r.fail(
    "bad-aml",
    `expected an expression: a data object, a local, an argument, a name, And, Or, ShiftLeft, ShiftRight, LEqual, LGreater, LLess, LAnd, LOr or LNot, got opcode 0x${op.toString(16)}`,
    at,
  );
}

/**
 * Decodes AML bytecode made of what {@link encodeAml} writes: Scope, Device, Name, Method,
 * OperationRegion, Field, the statements and expressions of method bodies, and the data objects.
 * Integers in any encoding, NameStrings with root/parent prefixes and dual/multi name prefixes,
 * PkgLengths of any size are read; a buffer is returned as a resource template when its bytes
 * parse as one ({@link decodeResourceTemplate}). Names come back with full 4-character segments
 * (`\_SB_.VR00`); methods in the canonical form {@link AmlMethod} describes. A bare NameString in
 * an expression is read as a reference ({@link AmlRef}) with no arguments: without the namespace
 * a method invocation with arguments cannot be told apart, and the encoder writes none.
 *
 * @param bytes - the AML, e.g. a DSDT's body ({@link decodeDefinitionBlock})
 * @returns the term list
 * @throws AcpiError `bad-aml`, `bad-name`, `bad-string` or `truncated` with the byte offset; never anything else
 * @example
 * ```ts
 * const terms = decodeAml(encodeAml([amlName("_S5_", amlPackage([amlInteger(5), amlInteger(0)]))]));
 * terms[0]?.kind; // "name"
 * ```
 */
export function decodeAml(bytes: Uint8Array): AmlTerm[] {
  checkBytes("bytes", bytes);
  const r = new Reader(bytes, 0, bytes.length);
  return readTerms(r, bytes.length, 0);
}

/**
 * Decodes one data object at the start of `bytes` (the inverse of {@link encodeAmlData}).
 *
 * @param bytes - the AML of one data object, and nothing after it
 * @returns the object
 * @throws AcpiError `bad-aml` for trailing bytes or an unknown opcode
 * @example
 * ```ts
 * decodeAmlData(new Uint8Array([0x0b, 0xf8, 0x03])); // { kind: "integer", value: 0x3f8n }
 * ```
 */
export function decodeAmlData(bytes: Uint8Array): AmlData {
  checkBytes("bytes", bytes);
  const r = new Reader(bytes, 0, bytes.length);
  const d = readData(r, 0);
  if (r.o !== bytes.length) r.fail("bad-aml", `expected one data object, but ${bytes.length - r.o} bytes follow it`);
  return d;
}
