// AML encoder and decoder: bytes written out by hand from the grammar of ACPI 6.4 §20.2 and the
// resource descriptor layouts of §6.4, never computed by the code under test.
import { describe, expect, it } from "vitest";
import {
  PKG_LENGTH_LIMITS,
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
