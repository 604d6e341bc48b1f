// AML encoder and decoder: bytes written out by hand from the grammar of ACPI 6.4 §20.2 and the
// resource descriptor layouts of §6.4, never computed by the code under test.
import { describe, expect, it } from "vitest";
import {
  AML_FIELD_ACCESS,
  AML_FIELD_LOCK,
  AML_FIELD_UPDATE,
  AML_OPCODE,
  AML_REGION_SPACE,
  PKG_LENGTH_LIMITS,
  amlAnd,
  amlArg,
  amlField,
  amlIf,
  amlLAnd,
  amlLEqual,
  amlLGreater,
  amlLLess,
  amlLNot,
  amlLOr,
  amlLocal,
  amlNamedField,
  amlNotify,
  amlOperationRegion,
  amlOr,
  amlRef,
  amlReservedField,
  amlReturn,
  amlShiftLeft,
  amlShiftRight,
  amlStore,
  amlCca,
  amlCrs,
  amlDevice,
  amlHid,
  amlInteger,
  amlMethod,
  amlName,
  amlPackage,
  amlScope,
  amlSta,
  amlString,
  amlUid,
  decodeAml,
  decodeAmlData,
  decodePkgLength,
  decodeResourceTemplate,
  eisaId,
  eisaIdToString,
  encodeAml,
  encodeAmlData,
  encodeNameString,
  encodePkgLength,
  encodeResourceTemplate,
  extendedInterrupt,
  ioPort,
  memory32Fixed,
  type AmlStatement,
  type AmlTerm,
} from "../src/index.js";
import { codeOf, hexBytes } from "./helpers.js";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

describe("PkgLength (ACPI 6.4 §20.2.4)", () => {
  it.each([
    [0, "00"],
    [63, "3f"],
    [64, "40 04"],
    [0x123, "43 12"],
    [4095, "4f ff"],
    [4096, "80 00 01"],
    [1048575, "8f ff ff"],
    [1048576, "c0 00 00 01"],
    [268435455, "cf ff ff ff"],
  ])("%i is %s", (n, bytes) => {
    expect(hex(encodePkgLength(n))).toBe(bytes);
    expect(decodePkgLength(hexBytes(bytes), 0)).toEqual({ length: n, size: hexBytes(bytes).length });
  });
  it("stops at 2^28 - 1", () => {
    expect(PKG_LENGTH_LIMITS).toEqual([63, 4095, 1048575, 268435455]);
    expect(codeOf(() => encodePkgLength(268435456))).toBe("too-long");
    expect(codeOf(() => encodePkgLength(-1))).toBe("invalid-argument");
  });
  it("rejects bits 4-5 set in a multi-byte lead byte", () => {
    expect(codeOf(() => decodePkgLength(hexBytes("70 01"), 0))).toBe("bad-aml");
    expect(codeOf(() => decodePkgLength(hexBytes("80 01"), 0))).toBe("truncated");
  });
  it("packages at each boundary use the size that holds body + the PkgLength itself", () => {
    // A Buffer: 11 PkgLength BufferSize bytes. BufferSize of n <= 255 bytes is "0a n" (2 bytes).
    for (const [n, size] of [
      [59, 1], // 1 + 2 + 59 = 62... body 61 + 1 = 62 <= 63
      [60, 1], // body 62 + 1 = 63: the last 1-byte length
      [61, 2], // body 63 + 1 = 64 > 63: 2 bytes, 65
    ] as const) {
      const b = encodeAmlData({ kind: "buffer", bytes: new Uint8Array(n).fill(0xaa) });
      const { length, size: got } = decodePkgLength(b, 1);
      expect(got, `buffer of ${n}`).toBe(size);
      expect(length).toBe(b.length - 1);
    }
    // Body 4093: 4093 + 2 = 4095 fits 2 bytes; body 4094 needs 3 bytes.
    for (const [n, size] of [
      [4090, 2], // body 4090 + 3 (BufferSize "0b lo hi") = 4093 + 2 = 4095
      [4091, 3],
    ] as const) {
      const b = encodeAmlData({ kind: "buffer", bytes: new Uint8Array(n) });
      expect(decodePkgLength(b, 1).size, `buffer of ${n}`).toBe(size);
      expect(decodeAmlData(b)).toEqual({ kind: "buffer", bytes: new Uint8Array(n) });
    }
  });
});

describe("integers take their smallest encoding (ACPI 6.4 §20.2.3)", () => {
  it.each([
    [0n, "00"],
    [1n, "01"],
    [2n, "0a 02"],
    [0xffn, "0a ff"],
    [0x100n, "0b 00 01"],
    [0xffffn, "0b ff ff"],
    [0x10000n, "0c 00 00 01 00"],
    [0xffffffffn, "0c ff ff ff ff"],
    [0x100000000n, "0e 00 00 00 00 01 00 00 00"],
    [0xfffffffffffffffen, "0e fe ff ff ff ff ff ff ff"],
    [0xffffffffffffffffn, "ff"],
  ])("%i is %s", (v, bytes) => {
    expect(hex(encodeAmlData(amlInteger(v)))).toBe(bytes);
    expect(decodeAmlData(hexBytes(bytes))).toEqual({ kind: "integer", value: v });
  });
  it("reads longer encodings too", () => {
    expect(decodeAmlData(hexBytes("0c 01 00 00 00"))).toEqual({ kind: "integer", value: 1n });
  });
});

describe("names (ACPI 6.4 §20.2.2)", () => {
  it.each([
    ["_HID", "5f 48 49 44"],
    ["VR0", "56 52 30 5f"],
    ["_", "5f 5f 5f 5f"],
    ["\\_SB", "5c 5f 53 42 5f"],
    ["\\_SB.COM1", "5c 2e 5f 53 42 5f 43 4f 4d 31"],
    ["^^A.B.C", "5e 5e 2f 03 41 5f 5f 5f 42 5f 5f 5f 43 5f 5f 5f"],
    ["\\", "5c 00"],
    ["^", "5e 00"],
  ])("%s is %s", (path, bytes) => {
    expect(hex(encodeNameString(path))).toBe(bytes);
  });
  it.each(["", "hid", "1ABC", "ABCDE", "A..B", "\\_SB.", "A-B", "\\^A"])("rejects %j", (path) => {
    expect(codeOf(() => encodeNameString(path))).toBe("bad-name");
  });
  it("decodes padded, full segments", () => {
    const [t] = decodeAml(encodeAml([amlScope("^^A.B.C", [])]));
    expect(t).toEqual({ kind: "scope", path: "^^A___.B___.C___", body: [] });
  });
});

describe("EISAID (ACPI 6.4 §6.1.5)", () => {
  it.each([
    ["PNP0501", 0x0105d041],
    ["PNP0C0C", 0x0c0cd041],
    ["PNP0B00", 0x000bd041],
    ["QEM0002", 0x0200ad44],
  ])("%s is 0x%s", (id, n) => {
    expect(eisaId(id)).toBe(n);
    expect(eisaIdToString(n)).toBe(id);
  });
  it("is only for 3 letters and 4 hex digits", () => {
    expect(codeOf(() => eisaId("LNRO0005"))).toBe("bad-string");
    expect(codeOf(() => eisaId("pnp0501"))).toBe("bad-string");
    expect(eisaIdToString(0)).toBeUndefined();
    expect(eisaIdToString(0x80)).toBeUndefined();
  });
  it("amlHid compresses EISA ids and keeps others as strings", () => {
    expect(hex(encodeAml([amlHid("PNP0501")]))).toBe("08 5f 48 49 44 0c 41 d0 05 01");
    expect(hex(encodeAml([amlHid("LNRO0005")]))).toBe("08 5f 48 49 44 0d 4c 4e 52 4f 30 30 30 35 00");
  });
});

describe("resource templates (ACPI 6.4 §6.4)", () => {
  it("Memory32Fixed, Interrupt and End Tag with its checksum", () => {
    const t = encodeResourceTemplate([memory32Fixed(0xfeb00200, 0x200), extendedInterrupt([0x19])]);
    // Memory32Fixed: 86, length 9, RW, base, length. Interrupt: 89, length 6, flags 01 (consumer,
    // level, active high, exclusive), 1 interrupt, 0x19. End tag 79 and the byte that makes the sum 0.
    expect(hex(t)).toBe("86 09 00 01 00 02 b0 fe 00 02 00 00 89 06 00 01 01 19 00 00 00 79 9b");
    expect(decodeResourceTemplate(t)).toEqual([memory32Fixed(0xfeb00200, 0x200), extendedInterrupt([0x19])]);
  });
  it("IO and an edge, active-low, shared, wake-capable interrupt", () => {
    const irq = extendedInterrupt([4, 5], { trigger: "edge", polarity: "active-low", shared: true, wakeCapable: true });
    const t = encodeResourceTemplate([ioPort(0x3f8, 8), irq]);
    expect(hex(t.subarray(0, 8))).toBe("47 01 f8 03 f8 03 01 08");
    expect(hex(t.subarray(8, 8 + 13))).toBe("89 0a 00 1f 02 04 00 00 00 05 00 00 00");
    expect(decodeResourceTemplate(t)).toEqual([ioPort(0x3f8, 8), irq]);
  });
  it("accepts a zero checksum, rejects a wrong one and unknown descriptors", () => {
    expect(decodeResourceTemplate(hexBytes("79 00"))).toEqual([]);
    expect(codeOf(() => decodeResourceTemplate(hexBytes("79 01")))).toBe("bad-checksum");
    expect(codeOf(() => decodeResourceTemplate(hexBytes("22 10 00 79 00")))).toBe("bad-entry");
    expect(codeOf(() => decodeResourceTemplate(hexBytes("89 06 00 01")))).toBe("truncated");
    expect(codeOf(() => extendedInterruptBad())).toBe("out-of-range");
  });
});

function extendedInterruptBad(): Uint8Array {
  return encodeResourceTemplate([extendedInterrupt([])]);
}

describe("terms", () => {
  it("a virtio-mmio device, byte for byte", () => {
    const bytes = encodeAml([
      amlScope("\\_SB", [
        amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0), amlCca(), amlSta(), amlCrs([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])])]),
      ]),
    ]);
    const expected = hexBytes(`
      10 44 05 5c 5f 53 42 5f
      5b 82 4b 04 56 52 30 30
      08 5f 48 49 44 0d 4c 4e 52 4f 30 30 30 35 00
      08 5f 55 49 44 00
      08 5f 43 43 41 01
      14 09 5f 53 54 41 00 a4 0a 0f
      08 5f 43 52 53 11 1a 0a 17
        86 09 00 01 00 00 b0 fe 00 02 00 00
        89 06 00 01 01 18 00 00 00
        79 9e`);
    expect(hex(bytes)).toBe(hex(expected));
  });
  it("Method flags: argCount, serialized, syncLevel", () => {
    expect(hex(encodeAml([amlMethod("M", undefined, { argCount: 7, serialized: true, syncLevel: 15 })]))).toBe("14 06 4d 5f 5f 5f ff");
    expect(decodeAml(hexBytes("14 06 4d 5f 5f 5f ff"))).toEqual([{ kind: "method", path: "M___", argCount: 7, serialized: true, syncLevel: 15 }]);
  });
  it("strings and packages", () => {
    expect(hex(encodeAml([amlName("_S5", amlPackage([5, 0]))]))).toBe("08 5f 53 35 5f 12 05 02 0a 05 00");
    expect(hex(encodeAmlData(amlString("GED")))).toBe("0d 47 45 44 00");
    expect(codeOf(() => encodeAmlData(amlString("é")))).toBe("bad-string");
    expect(codeOf(() => encodeAmlData(amlPackage(new Array(256).fill(0))))).toBe("too-long");
  });
  it("a buffer is a resource template only when it parses as one", () => {
    // An End Tag with a zero checksum ("not used", what iasl writes) or the right one: a template.
    expect(decodeAmlData(hexBytes("11 05 0a 02 79 00"))).toEqual({ kind: "resources", descriptors: [] });
    expect(decodeAmlData(hexBytes("11 05 0a 02 79 87"))).toEqual({ kind: "resources", descriptors: [] });
    // A wrong checksum, or bytes after the End Tag: a plain buffer.
    expect(decodeAmlData(hexBytes("11 05 0a 02 79 01"))).toEqual({ kind: "buffer", bytes: hexBytes("79 01") });
    expect(decodeAmlData(hexBytes("11 06 0a 03 79 87 00"))).toEqual({ kind: "buffer", bytes: hexBytes("79 87 00") });
  });
  it("reports errors with the byte offset", () => {
    expect(() => decodeAml(hexBytes("10 05 5c 5f 53 42"))).toThrow(/^AML\[1\]: the package of 5 bytes ends at 6, past the enclosing end at 6|^AML\[\d+\]/);
    expect(codeOf(() => decodeAml(hexBytes("a0 00")))).toBe("bad-aml");
    expect(codeOf(() => decodeAml(hexBytes("08 5f 48 49")))).toBe("truncated");
    expect(codeOf(() => decodeAml(hexBytes("08 5f 68 49 44 00")))).toBe("bad-name");
    expect(codeOf(() => decodeAml(hexBytes("14 07 5f 53 54 41 00 a3 00")))).toBe("bad-aml");
    expect(codeOf(() => decodeAmlData(hexBytes("12 03 02 00")))).toBe("bad-aml");
    expect(codeOf(() => decodeAmlData(hexBytes("11 04 0a 05 01")))).toBe("no error");
    expect(codeOf(() => decodeAmlData(hexBytes("11 04 0a 01 01 02")))).toBe("bad-aml");
  });
  it("names the node in encoder errors", () => {
    expect(() => encodeAml([amlScope("\\_SB", [amlDevice("VR00", [amlName("bad", 1)])])])).toThrow(/^AML\[0\]\.body\[0\]\.body\[0\]\.path: segment 0 of "bad"/);
    expect(() => encodeAml([amlMethod("_STA", 1, { argCount: 8 })])).toThrow(/^AML\[0\]\.argCount: expected 0\.\.7, got 8$/);
  });
});

// ---- OperationRegion, Field and method bodies. Expected bytes are written from the grammar of
// ACPI 6.4 §20.2.5.2 (DefOpRegion, DefField, FieldFlags, NamedField, ReservedField), §20.2.5.3
// (DefIfElse, DefNotify, DefReturn), §20.2.5.4 (DefStore, DefAnd, DefLEqual…), §20.2.6 (ArgObj,
// LocalObj) and §20.2.2 (SuperName, Target, NullName). Names: EREG 45 52 45 47, ESEL 45 53 45 4c,
// PWRB 50 57 52 42, _EVT 5f 45 56 54.

/** One method's AML: MethodOp, a 1-byte PkgLength, the name, the flags, the body bytes. */
const methodBytes = (name: string, flags: number, body: string): string => {
  const b = hexBytes(body);
  return hex(Uint8Array.of(0x14, 1 + 4 + 1 + b.length, ...[...name].map((c) => c.charCodeAt(0)), flags, ...b));
};
/** The statements of a method body, encoded on their own. */
const statementBytes = (...body: AmlStatement[]): string => {
  const b = encodeAml([amlMethod("M", body)]);
  expect(b[1]).toBeLessThan(0x40); // a 1-byte PkgLength: the body starts at 7
  return hex(b.subarray(7));
};
const evt = amlMethod("_EVT", [amlStore(amlRef("ESEL"), amlLocal(0)), amlIf(amlLEqual(amlAnd(amlLocal(0), 2), 2), [amlNotify("PWRB", 0x80)])], {
  argCount: 1,
  serialized: true,
});

describe("OperationRegion (ACPI 6.4 §20.2.5.2)", () => {
  it("OperationRegion (EREG, SystemMemory, 0xFEA00000, 4)", () => {
    // 5b 80, NameString, RegionSpace 00, RegionOffset DWordConst, RegionLen ByteConst.
    const bytes = "5b 80 45 52 45 47 00 0c 00 00 a0 fe 0a 04";
    expect(hex(encodeAml([amlOperationRegion("EREG", "SystemMemory", 0xfea00000, 4)]))).toBe(bytes);
    expect(decodeAml(hexBytes(bytes))).toEqual([{ kind: "operation-region", path: "EREG", space: "SystemMemory", offset: 0xfea00000n, length: 4n }]);
  });
  it.each([
    ["SystemMemory", 0x00],
    ["SystemIO", 0x01],
    ["PCI_Config", 0x02],
    ["EmbeddedControl", 0x03],
    ["SMBus", 0x04],
    ["SystemCMOS", 0x05],
    ["PciBarTarget", 0x06],
    ["IPMI", 0x07],
    ["GeneralPurposeIO", 0x08],
    ["GenericSerialBus", 0x09],
    ["PCC", 0x0a],
  ] as const)("RegionSpace %s is %i", (space, byte) => {
    expect(AML_REGION_SPACE[space]).toBe(byte);
    // Offset 0 is ZeroOp, length 0x100 a WordConst.
    const bytes = `5b 80 52 5f 5f 5f ${byte.toString(16).padStart(2, "0")} 00 0b 00 01`;
    expect(hex(encodeAml([amlOperationRegion("R", space, 0, 0x100)]))).toBe(bytes);
    expect(decodeAml(hexBytes(bytes))).toEqual([amlOperationRegion("R___", space, 0, 0x100)]);
  });
  it("rejects lengths outside 1..0xffffffff, regions past their space, unknown spaces", () => {
    const enc = (space: string, offset: number | bigint, length: number | bigint) => () =>
      encodeAml([{ kind: "operation-region", path: "R", space: space as "SystemIO", offset: BigInt(offset), length: BigInt(length) }]);
    expect(codeOf(enc("SystemMemory", 0, 0))).toBe("out-of-range");
    expect(codeOf(enc("SystemMemory", 0, 0xffffffff))).toBe("no error");
    expect(codeOf(enc("SystemMemory", 0, 0x100000000))).toBe("out-of-range");
    expect(codeOf(enc("SystemMemory", (1n << 64n) - 4n, 4))).toBe("no error");
    expect(codeOf(enc("SystemMemory", (1n << 64n) - 4n, 5))).toBe("out-of-range");
    // I/O ports end at 0xffff (ACPICA hwvalid.c: AE_LIMIT above 64K).
    expect(codeOf(enc("SystemIO", 0xfff0, 0x10))).toBe("no error");
    expect(codeOf(enc("SystemIO", 0xfff0, 0x11))).toBe("out-of-range");
    expect(codeOf(enc("SystemIO", 0x10000, 1))).toBe("out-of-range");
    expect(codeOf(enc("Memory", 0, 1))).toBe("invalid-argument");
    expect(() => encodeAml([amlScope("\\_SB", [amlOperationRegion("R", "SystemMemory", 0, 0)])])).toThrow(/^AML\[0\]\.body\[0\]\.length: expected 1\.\.0xffffffff bytes, got 0$/);
    expect(codeOf(() => amlOperationRegion("R", "SystemMemory", -1, 1))).toBe("out-of-range");
    expect(codeOf(() => amlOperationRegion("R", "SystemMemory", 0, 2 ** 64))).toBe("invalid-argument");
  });
  it("the decoder rejects what the encoder would not write", () => {
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 0b 00 01")))).toBe("bad-aml"); // RegionSpace 0x0b
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 80 00 01")))).toBe("bad-aml"); // OEM space
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 00 60 01")))).toBe("bad-aml"); // offset Local0
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 00 00 00")))).toBe("bad-aml"); // length 0
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 01 0b ff ff 0a 02")))).toBe("bad-aml"); // SystemIO past 0xffff
    expect(codeOf(() => decodeAml(hexBytes("5b 80 52 5f 5f 5f 00 00")))).toBe("truncated");
    expect(codeOf(() => decodeAml(hexBytes("5b 83 00")))).toBe("bad-aml"); // an ExtOp this decoder does not know
  });
});

describe("Field (ACPI 6.4 §20.2.5.2)", () => {
  it("Field (EREG, DWordAcc, NoLock, WriteAsZeros) { ESEL, 32 }", () => {
    // 5b 81, PkgLength 0x0b (1 + 4 + 1 + 5), NameString, FieldFlags 0x43 (access 3, lock 0, update 2 << 5),
    // NamedField: NameSeg, PkgLength-encoded width 32 (0x20).
    const bytes = "5b 81 0b 45 52 45 47 43 45 53 45 4c 20";
    expect(hex(encodeAml([amlField("EREG", "DWordAcc", "NoLock", "WriteAsZeros", [amlNamedField("ESEL", 32)])]))).toBe(bytes);
    expect(decodeAml(hexBytes(bytes))).toEqual([
      { kind: "field", region: "EREG", accessType: "DWordAcc", lockRule: "NoLock", updateRule: "WriteAsZeros", entries: [{ kind: "named", name: "ESEL", bits: 32 }] },
    ]);
  });
  it.each([
    ["AnyAcc", "Lock", "Preserve", 0x10],
    ["ByteAcc", "NoLock", "Preserve", 0x01],
    ["WordAcc", "NoLock", "WriteAsOnes", 0x22],
    ["QWordAcc", "Lock", "WriteAsZeros", 0x54],
    ["BufferAcc", "NoLock", "WriteAsOnes", 0x25],
  ] as const)("FieldFlags %s, %s, %s is %i", (access, lock, update, flags) => {
    expect(AML_FIELD_ACCESS[access] | (AML_FIELD_LOCK[lock] << 4) | (AML_FIELD_UPDATE[update] << 5)).toBe(flags);
    const bytes = `5b 81 06 52 5f 5f 5f ${flags.toString(16).padStart(2, "0")}`;
    expect(hex(encodeAml([amlField("R", access, lock, update, [])]))).toBe(bytes);
    expect(decodeAml(hexBytes(bytes))).toEqual([amlField("R___", access, lock, update, [])]);
  });
  it("reserved bits and widths in 1..4-byte PkgLength encodings (§20.2.4 without self-counting)", () => {
    const f = amlField("R", "ByteAcc", "NoLock", "Preserve", [
      amlReservedField(64), // 00 40 04
      amlNamedField("A", 63), // 41 5f 5f 5f 3f
      amlNamedField("B", 4096), // 42 5f 5f 5f 80 00 01
      amlNamedField("C", 268435455), // 43 5f 5f 5f cf ff ff ff
    ]);
    const body = "52 5f 5f 5f 01 00 40 04 41 5f 5f 5f 3f 42 5f 5f 5f 80 00 01 43 5f 5f 5f cf ff ff ff";
    // PkgLength: 28 body bytes + itself = 29 = 0x1d.
    expect(hex(encodeAml([f]))).toBe(`5b 81 1d ${body}`);
    expect(decodeAml(encodeAml([f]))).toEqual([{ ...f, region: "R___", entries: f.entries.map((e) => (e.kind === "named" ? { ...e, name: e.name.padEnd(4, "_") } : e)) }]);
  });
  it("rejects widths 0 and above 2^28 - 1, bit offsets past 2^32 - 1, bad flags and names", () => {
    expect(codeOf(() => amlNamedField("A", 0))).toBe("out-of-range");
    expect(codeOf(() => amlReservedField(268435456))).toBe("out-of-range");
    const enc = (entries: unknown[], access = "AnyAcc") => () => encodeAml([{ kind: "field", region: "R", accessType: access, lockRule: "NoLock", updateRule: "Preserve", entries } as AmlTerm]);
    expect(codeOf(enc([{ kind: "named", name: "A", bits: 0 }]))).toBe("out-of-range");
    expect(codeOf(enc([{ kind: "reserved", bits: 268435456 }]))).toBe("out-of-range");
    // 16 × (2^28 - 1) = 0xfffffff0 bits fit; a 17th goes past ACPICA's limit (dsfield.c, AE_SUPPORT).
    const max = { kind: "reserved", bits: 268435455 };
    expect(codeOf(enc(new Array(16).fill(max)))).toBe("no error");
    expect(() => enc(new Array(17).fill(max))()).toThrow(/^AML\[0\]\.entries\[16\]\.bits: expected the field list to end by bit 0xffffffff/);
    expect(codeOf(enc([], "DwordAcc"))).toBe("invalid-argument");
    expect(codeOf(enc([{ kind: "named", name: "ES.EL", bits: 1 }]))).toBe("bad-name");
    expect(codeOf(enc([{ kind: "named", name: "\\ESE", bits: 1 }]))).toBe("bad-name");
    expect(codeOf(enc([{ kind: "access", bits: 1 }]))).toBe("invalid-argument");
  });
  it("the decoder rejects reserved flags, unsupported entries and zero widths", () => {
    expect(codeOf(() => decodeAml(hexBytes("5b 81 06 52 5f 5f 5f 06")))).toBe("bad-aml"); // AccessType 6
    expect(codeOf(() => decodeAml(hexBytes("5b 81 06 52 5f 5f 5f 60")))).toBe("bad-aml"); // UpdateRule 3
    expect(codeOf(() => decodeAml(hexBytes("5b 81 06 52 5f 5f 5f 80")))).toBe("bad-aml"); // bit 7
    expect(codeOf(() => decodeAml(hexBytes("5b 81 09 52 5f 5f 5f 00 01 03 00")))).toBe("bad-aml"); // AccessField
    expect(codeOf(() => decodeAml(hexBytes("5b 81 08 52 5f 5f 5f 00 00 00")))).toBe("bad-aml"); // ReservedField of 0 bits
    expect(codeOf(() => decodeAml(hexBytes("5b 81 0b 52 5f 5f 5f 00 41 5f 5f 5f 00")))).toBe("bad-aml"); // NamedField of 0 bits
    expect(codeOf(() => decodeAml(hexBytes("5b 81 0a 52 5f 5f 5f 00 41 5f 5f 5f")))).toBe("truncated"); // no width
  });
});

describe("method bodies (ACPI 6.4 §20.2.5.3-4, §20.2.6)", () => {
  it("Local0..Local7 are 0x60..0x67, Arg0..Arg6 are 0x68..0x6e", () => {
    for (let n = 0; n <= 7; n++) expect(statementBytes(amlReturn(amlLocal(n)))).toBe(`a4 ${(0x60 + n).toString(16)}`);
    for (let n = 0; n <= 6; n++) expect(statementBytes(amlReturn(amlArg(n)))).toBe(`a4 ${(0x68 + n).toString(16)}`);
    expect([AML_OPCODE.Local0Op, AML_OPCODE.Arg0Op]).toEqual([0x60, 0x68]);
    expect(codeOf(() => amlLocal(8))).toBe("out-of-range");
    expect(codeOf(() => amlArg(7))).toBe("out-of-range");
    expect(codeOf(() => amlLocal(-1))).toBe("out-of-range");
    expect(() => encodeAml([amlMethod("M", [amlStore(1, { kind: "local", index: 8 })])])).toThrow(/^AML\[0\]\.body\[0\]\.target\.index: expected 0\.\.7, got 8$/);
    expect(() => encodeAml([amlMethod("M", [amlReturn({ kind: "arg", index: 7 })])])).toThrow(/^AML\[0\]\.body\[0\]\.value\.index: expected 0\.\.6, got 7$/);
  });
  it.each([
    ["Store (ESEL, Local0)", amlStore(amlRef("ESEL"), amlLocal(0)), "70 45 53 45 4c 60"],
    ["Store (0x1234, \\_SB.ESEL)", amlStore(0x1234, "\\_SB_.ESEL"), "70 0b 34 12 5c 2e 5f 53 42 5f 45 53 45 4c"],
    ["Return (Arg0)", amlReturn(amlArg(0)), "a4 68"],
    ["Notify (PWRB, 0x80)", amlNotify("PWRB", 0x80), "86 50 57 52 42 0a 80"],
    ["Notify (Arg1, Local2)", amlNotify(amlArg(1), amlLocal(2)), "86 69 62"],
    // Operand Operand Target; NullName (00) for no target.
    ["And (Local0, 2)", amlAnd(amlLocal(0), 2), "7b 60 0a 02 00"],
    ["And (Local0, 2, Local1)", amlAnd(amlLocal(0), 2, amlLocal(1)), "7b 60 0a 02 61"],
    ["Or (Local0, One, ESEL)", amlOr(amlLocal(0), 1, "ESEL"), "7d 60 01 45 53 45 4c"],
    ["ShiftLeft (One, Arg0, Local0)", amlShiftLeft(1, amlArg(0), amlLocal(0)), "79 01 68 60"],
    ["ShiftRight (Local0, 4, Local0)", amlShiftRight(amlLocal(0), 4, amlLocal(0)), "7a 60 0a 04 60"],
    ["Return (LEqual (Arg0, Zero))", amlReturn(amlLEqual(amlArg(0), 0)), "a4 93 68 00"],
    ["Return (LGreater (Arg0, Arg1))", amlReturn(amlLGreater(amlArg(0), amlArg(1))), "a4 94 68 69"],
    ["Return (LLess (Arg0, Arg1))", amlReturn(amlLLess(amlArg(0), amlArg(1))), "a4 95 68 69"],
    ["Return (LAnd (Arg0, Arg1))", amlReturn(amlLAnd(amlArg(0), amlArg(1))), "a4 90 68 69"],
    ["Return (LOr (Arg0, Arg1))", amlReturn(amlLOr(amlArg(0), amlArg(1))), "a4 91 68 69"],
    // LNotEqual is LNot (LEqual (…)): 92 93.
    ["Return (LNot (LEqual (Arg0, Arg1)))", amlReturn(amlLNot(amlLEqual(amlArg(0), amlArg(1)))), "a4 92 93 68 69"],
    ["Return (\\_SB.PWRB)", amlReturn(amlRef("\\_SB_.PWRB")), "a4 5c 2e 5f 53 42 5f 50 57 52 42"],
    ["Return (\"OK\")", amlReturn("OK"), "a4 0d 4f 4b 00"],
    // If: a0 PkgLength Predicate TermList; Else: a1 PkgLength TermList.
    ["If (Arg0) { Return (One) } Else { Return (Zero) }", amlIf(amlArg(0), [amlReturn(1)], [amlReturn(0)]), "a0 04 68 a4 01 a1 03 a4 00"],
    ["If (Arg0) {} Else {}", amlIf(amlArg(0), [], []), "a0 02 68 a1 01"],
    ["If (Arg0) {}", amlIf(amlArg(0), []), "a0 02 68"],
  ] as const)("%s", (_, statement, bytes) => {
    expect(statementBytes(statement)).toBe(bytes);
    // Followed by a Store, so that a trailing Return stays in the body.
    const tail = amlStore(1, amlLocal(7));
    expect(decodeAml(hexBytes(methodBytes("M___", 0, `${bytes} 70 01 67`)))).toEqual([amlMethod("M___", [statement, tail])]);
  });
  it("the GED's _EVT, byte for byte", () => {
    // Flags 09: one argument, serialized. Body: Store (6 bytes), If (a0, PkgLength 0x10 = 1 + 8 + 7,
    // LEqual (And (Local0, 2, NullName), 2), Notify (PWRB, 0x80)).
    const bytes = methodBytes("_EVT", 0x09, "70 45 53 45 4c 60 a0 10 93 7b 60 0a 02 00 0a 02 86 50 57 52 42 0a 80");
    expect(bytes.startsWith("14 1d 5f 45 56 54 09")).toBe(true);
    expect(hex(encodeAml([evt]))).toBe(bytes);
    expect(decodeAml(hexBytes(bytes))).toEqual([evt]);
  });
  it("nested Ifs and a body long enough for a 2-byte PkgLength", () => {
    const deep = amlIf(amlArg(0), [amlIf(amlArg(1), [amlIf(amlArg(2), [amlNotify("PWRB", 0x80)], [amlNotify("PWRB", 0x81)])])]);
    const long = amlIf(amlArg(0), new Array(10).fill(amlNotify("\\_SB_.PWRB", 0x80)) as AmlStatement[]);
    const m = amlMethod("M___", [deep, long]);
    const bytes = encodeAml([m]);
    // The long If, last: 1 predicate byte + 10 × Notify (86, a 10-byte \_SB.PWRB, 0a 80) = 131 bytes
    // of body, and a 2-byte PkgLength of 133 = 0x85: "45 08".
    const at = bytes.length - 134;
    expect(hex(bytes.subarray(at, at + 4))).toBe("a0 45 08 68");
    expect(decodePkgLength(bytes, 1).size).toBe(2);
    expect(decodeAml(bytes)).toEqual([m]);
  });
  it("a method's canonical form: a trailing Return of a constant is `returns`, an empty body is left out", () => {
    const store = amlStore(amlArg(0), amlLocal(0));
    // The same bytes either way.
    const a = encodeAml([amlMethod("M___", [store, amlReturn(5)])]);
    const b = encodeAml([{ ...amlMethod("M___", [store]), returns: amlInteger(5) }]);
    expect(hex(a)).toBe(hex(b));
    expect(hex(a)).toBe(methodBytes("M___", 0, "70 68 60 a4 0a 05"));
    expect(decodeAml(a)).toEqual([{ ...amlMethod("M___", [store]), returns: amlInteger(5) }]);
    expect(decodeAml(encodeAml([amlMethod("M___", [amlReturn(5)])]))).toEqual([amlMethod("M___", 5)]);
    expect(decodeAml(encodeAml([amlMethod("M___", [])]))).toEqual([amlMethod("M___")]);
    // A Return of a local stays in the body.
    expect(decodeAml(encodeAml([amlMethod("M___", [amlReturn(amlLocal(0))])]))).toEqual([amlMethod("M___", [amlReturn(amlLocal(0))])]);
    // The old form still encodes as before.
    expect(hex(encodeAml([amlSta()]))).toBe("14 09 5f 53 54 41 00 a4 0a 0f");
  });
  it("the decoder reads a bare name as a reference and rejects what it does not know", () => {
    expect(decodeAml(hexBytes(methodBytes("M___", 0, "70 45 53 45 4c 60")))).toEqual([amlMethod("M___", [amlStore(amlRef("ESEL"), amlLocal(0))])]);
    const bad = (body: string) => codeOf(() => decodeAml(hexBytes(methodBytes("M___", 0, body))));
    expect(bad("a1 01")).toBe("bad-aml"); // Else without If
    expect(bad("70 01 00")).toBe("bad-aml"); // Store to NullName
    expect(bad("70 01 6f")).toBe("bad-aml"); // Arg7 does not exist
    expect(bad("86 00 0a 80")).toBe("bad-aml"); // Notify NullName
    expect(bad("a3")).toBe("bad-aml"); // Noop: not modelled
    expect(bad("a4 72 01 01 00")).toBe("bad-aml"); // Add: not modelled
    expect(bad("a4")).toBe("truncated");
    expect(bad("a0 05 68")).toBe("truncated"); // If's PkgLength past the method's end
    expect(bad("a0 03 68 a4")).toBe("truncated"); // a Return cut by the If's end
    expect(bad("7b 60 0a 02")).toBe("truncated"); // no Target
    expect(bad("70 01 5c 2e 5f")).toBe("truncated");
  });
  it("names the node in encoder errors", () => {
    expect(() => encodeAml([amlMethod("M", [amlIf(1, [amlNotify("pwrb", 0x80)])])])).toThrow(/^AML\[0\]\.body\[0\]\.body\[0\]\.object\.path: segment 0 of "pwrb"/);
    expect(() => encodeAml([amlMethod("M", [{ kind: "while" } as unknown as AmlStatement])])).toThrow(/^AML\[0\]\.body\[0\]\.kind: expected "store"/);
    expect(() => encodeAml([amlMethod("M", [amlReturn({ kind: "add" } as never)])])).toThrow(/^AML\[0\]\.body\[0\]\.value\.kind: expected a data object/);
    expect(codeOf(() => encodeAml([amlMethod("M", [amlStore(1, { kind: "integer", value: 1n } as never)])]))).toBe("invalid-argument");
    expect(codeOf(() => encodeAml([{ ...amlMethod("M"), body: "x" } as never]))).toBe("invalid-argument");
  });
});
