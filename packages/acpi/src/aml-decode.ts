import { AcpiError, isAcpiError } from "./errors.js";
import { checkBytes } from "./bytes.js";
import { AML_OPCODE, decodePkgLength, decodeResourceTemplate } from "./aml.js";
import type { AmlData, AmlTerm } from "./aml-types.js";

/** The largest BufferSize the decoder accepts beyond the initializer (it allocates that many bytes). */
const MAX_BUFFER_SIZE = 1 << 20;
/** Nesting limit, so that hostile input cannot exhaust the stack. */
const MAX_DEPTH = 64;

const ONES = (1n << 64n) - 1n;

class Reader {
  constructor(
    readonly b: Uint8Array,
    public o: number,
    readonly end: number,
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
    const { length, size } = decodePkgLength(this.b.subarray(0, this.end), start);
    const end = start + length;
    if (length < size) this.fail("bad-aml", `a PkgLength of ${length} cannot hold its own ${size} bytes`, start);
    if (end > this.end) this.fail("truncated", `the package of ${length} bytes ends at ${end}, past the enclosing end at ${this.end}`, start);
    this.o = start + size;
    return end;
  }

  nameSeg(): string {
    let s = "";
    for (let i = 0; i < 4; i++) {
      const at = this.o;
      const c = this.byte();
      const ok = (c >= 0x41 && c <= 0x5a) || c === 0x5f || (i > 0 && c >= 0x30 && c <= 0x39);
      if (!ok) this.fail("bad-name", `expected a NameSeg character (${i === 0 ? "A-Z or _" : "A-Z, 0-9 or _"}), got 0x${c.toString(16)}`, at);
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** Reads a NameString (ACPI 6.4 §20.2.2) as a path string with full 4-character segments. */
  nameString(): string {
    let prefix = "";
    const first = this.b[this.o];
    if (first === AML_OPCODE.RootChar) {
      prefix = "\\";
      this.o++;
    } else {
      while (this.b[this.o] === AML_OPCODE.ParentPrefixChar && this.o < this.end) {
        prefix += "^";
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
    if (count === 0 && prefix === "") this.fail("bad-name", "expected a name, got NullName without a prefix", at);
    const segs: string[] = [];
    for (let i = 0; i < count; i++) segs.push(this.nameSeg());
    return prefix + segs.join(".");
  }
}

function readInteger(r: Reader, bytes: number): bigint {
  let v = 0n;
  for (let i = 0; i < bytes; i++) v |= BigInt(r.byte()) << BigInt(8 * i);
  return v;
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
      const inner = new Reader(r.b, r.o, end);
      const sizeData = readData(inner, depth + 1);
      if (sizeData.kind !== "integer") r.fail("bad-aml", `expected an integer BufferSize, got a ${sizeData.kind}`, r.o);
      const init = r.b.subarray(inner.o, end);
      const size = sizeData.value;
      if (size < BigInt(init.length)) r.fail("bad-aml", `the BufferSize ${size} is smaller than its ${init.length}-byte initializer`, at);
      if (size > BigInt(init.length + MAX_BUFFER_SIZE)) r.fail("bad-aml", `expected a BufferSize of at most the initializer + ${MAX_BUFFER_SIZE}, got ${size}`, at);
      const bytes = new Uint8Array(Number(size));
      bytes.set(init);
      r.o = end;
      return resourcesOrBuffer(bytes);
    }
    case AML_OPCODE.PackageOp: {
      const end = r.pkgEnd();
      const inner = new Reader(r.b, r.o, end);
      const n = inner.byte();
      const elements: AmlData[] = [];
      while (inner.o < end) elements.push(readData(inner, depth + 1));
      if (elements.length !== n) r.fail("bad-aml", `the package says ${n} elements but holds ${elements.length} (this decoder reads no uninitialised elements)`, at);
      r.o = end;
      return { kind: "package", elements };
    }
    default:
      return r.fail("bad-aml", `expected a data object (ZeroOp, OneOp, OnesOp, a Byte/Word/DWord/QWord/String prefix, BufferOp or PackageOp), got opcode 0x${op.toString(16)}`, at);
  }
}

/**
 * A buffer whose bytes parse as a resource template (descriptors this package knows, then an End
 * Tag as the last two bytes with a right or zero checksum) is returned as one; anything else is a
 * plain buffer. A zero checksum (what iasl writes) is not kept: re-encoding writes the real one.
 */
function resourcesOrBuffer(bytes: Uint8Array): AmlData {
  if (bytes.length >= 2 && bytes[bytes.length - 2] === 0x79) {
    try {
      return { kind: "resources", descriptors: decodeResourceTemplate(bytes) };
    } catch (e) {
      if (!isAcpiError(e)) throw e;
    }
  }
  return { kind: "buffer", bytes };
}

function readTerms(r: Reader, end: number, depth: number): AmlTerm[] {
  if (depth > MAX_DEPTH) r.fail("bad-aml", `expected at most ${MAX_DEPTH} nested scopes`);
  const out: AmlTerm[] = [];
  while (r.o < end) {
    const at = r.o;
    const op = r.byte();
    if (op === AML_OPCODE.ScopeOp || (op === AML_OPCODE.ExtOpPrefix && r.b[r.o] === AML_OPCODE.DeviceOp && r.o < end)) {
      if (op === AML_OPCODE.ExtOpPrefix) r.o++;
      const pEnd = r.pkgEnd();
      const inner = new Reader(r.b, r.o, pEnd);
      const path = inner.nameString();
      const body = readTerms(inner, pEnd, depth + 1);
      r.o = pEnd;
      out.push({ kind: op === AML_OPCODE.ScopeOp ? "scope" : "device", path, body });
    } else if (op === AML_OPCODE.NameOp) {
      const path = r.nameString();
      out.push({ kind: "name", path, value: readData(r, depth + 1) });
    } else if (op === AML_OPCODE.MethodOp) {
      const pEnd = r.pkgEnd();
      const inner = new Reader(r.b, r.o, pEnd);
      const path = inner.nameString();
      const flags = inner.byte();
      const m = { kind: "method" as const, path, argCount: flags & 7, serialized: (flags & 8) !== 0, syncLevel: flags >> 4 };
      if (inner.o === pEnd) out.push(m);
      else {
        const retAt = inner.o;
        if (inner.byte() !== AML_OPCODE.ReturnOp) r.fail("bad-aml", "expected a method body of Return (constant) or nothing", retAt);
        const returns = readData(inner, depth + 1);
        if (inner.o !== pEnd) r.fail("bad-aml", `expected the method to end after its Return, at ${pEnd}, but it goes on at ${inner.o}`, inner.o);
        out.push({ ...m, returns });
      }
      r.o = pEnd;
    } else {
      r.fail("bad-aml", `expected Scope (0x10), Device (0x5b 0x82), Name (0x08) or Method (0x14), got opcode 0x${op.toString(16)}`, at);
    }
  }
  return out;
}

/**
 * Decodes AML bytecode made of what {@link encodeAml} writes: Scope, Device, Name, Method returning
 * a constant, and the data objects. Integers in any encoding, NameStrings with root/parent
 * prefixes and dual/multi name prefixes, PkgLengths of any size are read; a buffer is returned as
 * a resource template when its bytes parse as one ({@link decodeResourceTemplate}).
 * Names come back with full 4-character segments (`\_SB_.VR00`).
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
