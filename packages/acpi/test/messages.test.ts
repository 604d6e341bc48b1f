// The errors of the root and definition-block codecs and of validateAcpiTable, whole: code, field
// and message, for each way an input can be wrong (the other tests check codes). The expected
// texts are written out here from what each check promises, not copied from the code's output.
import { describe, expect, it } from "vitest";
import {
  amlAnd,
  amlArg,
  amlBuffer,
  amlHid,
  amlIf,
  amlInteger,
  amlLocal,
  amlMethod,
  amlNamedField,
  amlOperationRegion,
  amlPackage,
  amlReservedField,
  amlReturn,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  decodeRsdp,
  decodeXsdt,
  encodeAcpiTables,
  encodeDefinitionBlock,
  encodeDsdt,
  encodeFadt,
  encodeMadt,
  encodeRsdp,
  encodeXsdt,
  madtForCpus,
  validateAcpiTable,
} from "../src/index.js";
import { acpiErrorOf, fixChecksum, mmio8, sum8 } from "./helpers.js";

/** The AcpiError `f` throws, as [code, message]; its message starts with its field. */
function errorOf(f: () => unknown): [string, string] {
  const e = acpiErrorOf(f);
  expect(e.message.startsWith(`${e.field}: `), e.message).toBe(true);
  return [e.code, e.message];
}

/** A Uint8Array that says it holds `length` bytes (no such buffer is made): for the 4 GiB limits. */
function hugeAml(length: number): Uint8Array {
  class Huge extends Uint8Array {
    override get length(): number {
      return length;
    }
  }
  return new Huge(0);
}

/** Sets byte `at` of a copy of `b`, then re-balances the checksum byte `sum` over `b[0..end)`. */
function patched(b: Uint8Array, at: number, value: number, sum: number, end: number): Uint8Array {
  const c = b.slice();
  c[at] = value;
  c[sum] = 0;
  c[sum] = (256 - sum8(c, 0, end)) & 0xff;
  return c;
}

describe("RSDP errors", () => {
  const good = encodeRsdp({ xsdtAddress: 0x1000n, oemId: "ACME" });

  it("encoding: not an object, a bad OEM id, an address out of range", () => {
    expect(errorOf(() => encodeRsdp(null as never))).toEqual(["invalid-argument", "RSDP: expected an object"]);
    expect(errorOf(() => encodeRsdp("x" as never))).toEqual(["invalid-argument", "RSDP: expected an object"]);
    expect(errorOf(() => encodeRsdp({ xsdtAddress: 1n, oemId: "A " }))).toEqual([
      "bad-string",
      'RSDP.oemId: expected 0..6 printable ASCII characters without trailing blanks, got "A "',
    ]);
    expect(errorOf(() => encodeRsdp({ xsdtAddress: -1n }))).toEqual(["out-of-range", "RSDP.xsdtAddress: expected 0..0xffffffffffffffff, got -1"]);
    expect(errorOf(() => encodeRsdp({ xsdtAddress: "1" as never }))).toEqual([
      "invalid-argument",
      'RSDP.xsdtAddress: expected an integer 0..0xffffffffffffffff (number or bigint), got "1"',
    ]);
    // a default OEM id is written when none is given
    const d = encodeRsdp({ xsdtAddress: 1n });
    expect(String.fromCharCode(...d.subarray(0, 8))).toBe("RSD PTR ");
    expect(decodeRsdp(d).oemId).toBe("MICROV");
  });

  it("decoding: each check names its field", () => {
    expect(errorOf(() => decodeRsdp([1, 2] as never))).toEqual(["invalid-argument", "bytes: expected a Uint8Array, got an array"]);
    expect(errorOf(() => decodeRsdp(good.subarray(0, 19)))).toEqual(["truncated", "RSDP: expected 20 bytes at offset 0, but the bytes end at 19"]);
    const sig = patched(good, 3, 0x78, 8, 20);
    expect(errorOf(() => decodeRsdp(sig))).toEqual(["bad-signature", 'RSDP.signature: expected "RSD PTR ", got "RSDxPTR "']);
    const sum = good.slice();
    sum[8] = ((sum[8] as number) + 1) & 0xff;
    expect(errorOf(() => decodeRsdp(sum))).toEqual(["bad-checksum", "RSDP.checksum: expected the first 20 bytes to sum to 0 mod 256, got 1"]);
    expect(errorOf(() => decodeRsdp(patched(good, 15, 0, 8, 20)))).toEqual([
      "bad-revision",
      "RSDP.revision: expected 2 or more (ACPI 2.0+, with an XSDT address), got 0",
    ]);
    // revision 2 but only the ACPI 1.0 part: the 36 bytes are needed
    expect(errorOf(() => decodeRsdp(good.subarray(0, 30)))).toEqual(["truncated", "RSDP: expected 36 bytes at offset 0, but the bytes end at 30"]);
    // the length field: below 36, or past the bytes given
    const short = good.slice();
    short[20] = 35;
    short[32] = 0;
    short[32] = (256 - sum8(short, 0, 36)) & 0xff;
    expect(errorOf(() => decodeRsdp(short))).toEqual(["bad-length", "RSDP.length: expected 36..36 bytes, got 35"]);
    const long = new Uint8Array(40);
    long.set(good);
    long[20] = 41;
    expect(errorOf(() => decodeRsdp(long))).toEqual(["bad-length", "RSDP.length: expected 36..40 bytes, got 41"]);
    const xsum = good.slice();
    xsum[32] = ((xsum[32] as number) + 3) & 0xff;
    expect(errorOf(() => decodeRsdp(xsum))).toEqual(["bad-checksum", "RSDP.extendedChecksum: expected the 36 bytes to sum to 0 mod 256, got 3"]);
    const oem = patched(patched(good, 10, 0x01, 8, 20), 32, 0, 32, 36);
    oem[32] = 0;
    oem[32] = (256 - sum8(oem, 0, 36)) & 0xff;
    expect(errorOf(() => decodeRsdp(oem))).toEqual(["bad-string", "RSDP.oemId: expected printable ASCII, got byte 0x01 at offset 1"]);
  });

  it("decoding a longer RSDP (a later revision's) checks the extended checksum over its length", () => {
    const b = new Uint8Array(40);
    b.set(good);
    b[20] = 40;
    b[15] = 3;
    b[8] = 0;
    b[8] = (256 - sum8(b, 0, 20)) & 0xff;
    b[32] = 0;
    b[32] = (256 - sum8(b, 0, 40)) & 0xff;
    expect(decodeRsdp(b)).toEqual({ xsdtAddress: 0x1000n, oemId: "ACME", revision: 3, rsdtAddress: 0 });
    // an ACPI 1.0 RSDT address beside the XSDT's is reported, little-endian
    const withRsdt = b.slice();
    withRsdt.set([0x78, 0x56, 0x34, 0x12], 16);
    withRsdt[8] = 0;
    withRsdt[8] = (256 - sum8(withRsdt, 0, 20)) & 0xff;
    withRsdt[32] = 0;
    withRsdt[32] = (256 - sum8(withRsdt, 0, 40)) & 0xff;
    expect(decodeRsdp(withRsdt).rsdtAddress).toBe(0x12345678);
    b[39] = 1; // inside the length: the extended checksum sees it
    expect(errorOf(() => decodeRsdp(b))[1]).toBe("RSDP.extendedChecksum: expected the 40 bytes to sum to 0 mod 256, got 1");
  });
});

describe("XSDT errors", () => {
  it("encoding: not an object with an array, an entry out of range (named by its index)", () => {
    for (const bad of [null, 5, {}, { entries: "x" }]) {
      expect(errorOf(() => encodeXsdt(bad as never))).toEqual(["invalid-argument", "XSDT.entries: expected an object with an array of addresses"]);
    }
    expect(errorOf(() => encodeXsdt({ entries: [1n, 2n, -3n] }))).toEqual(["out-of-range", "XSDT.entries[2]: expected 0..0xffffffffffffffff, got -3"]);
    expect(errorOf(() => encodeXsdt({ entries: [0.5] }))[1]).toBe("XSDT.entries[0]: expected an integer 0..0xffffffffffffffff (number or bigint), got 0.5");
    // as many entries as the u32 length field allows is the limit; one more is refused by count
    // (a sparse array: its length is all the check reads)
    const tooMany = new Array<bigint>(Math.floor((0xffffffff - 36) / 8) + 1);
    expect(errorOf(() => encodeXsdt({ entries: tooMany }))).toEqual(["too-long", `XSDT.entries: too many entries: ${tooMany.length}`]);
  });

  it("decoding: a length that is not 36 + 8 per entry", () => {
    const b = encodeXsdt({ entries: [1n, 2n] });
    const odd = new Uint8Array(b.length + 4);
    odd.set(b);
    odd[4] = b.length + 4;
    expect(errorOf(() => decodeXsdt(fixChecksum(odd)))).toEqual(["bad-length", `XSDT.header.length: expected 36 + 8 per entry, got ${b.length + 4}`]);
    // a whole number of entries past the header decodes, and only up to the length
    const extra = new Uint8Array(b.length + 8);
    extra.set(b);
    extra[b.length] = 0xaa; // past the length: not an entry
    expect(decodeXsdt(extra).entries).toEqual([1n, 2n]);
  });
});

describe("validateAcpiTable errors", () => {
  const xsdt = encodeXsdt({ entries: [0x1000n] });

  it("names the table it was asked for, or `table`, and each header field", () => {
    expect(errorOf(() => validateAcpiTable("x" as never))).toEqual(["invalid-argument", "bytes: expected a Uint8Array"]);
    expect(errorOf(() => validateAcpiTable(xsdt.subarray(0, 35)))).toEqual(["truncated", "table.header: expected 36 bytes at offset 0, but the bytes end at 35"]);
    expect(errorOf(() => validateAcpiTable(xsdt.subarray(0, 35), "APIC"))[1]).toBe("MADT.header: expected 36 bytes at offset 0, but the bytes end at 35");
    const lower = fixChecksum(xsdt.slice());
    lower[0] = 0x78; // "xSDT"
    expect(errorOf(() => validateAcpiTable(fixChecksum(lower)))).toEqual(["bad-signature", 'table.header.signature: expected 4 characters A-Z, 0-9 or _, got "xSDT"']);
    expect(errorOf(() => validateAcpiTable(xsdt, "FACP"))).toEqual(["bad-signature", 'FADT.header.signature: expected "FACP", got "XSDT"']);
    const short = xsdt.slice();
    short[4] = 35;
    expect(errorOf(() => validateAcpiTable(fixChecksum(short)))).toEqual(["bad-length", "XSDT.header.length: expected at least 36 bytes, got 35"]);
    const long = xsdt.slice();
    long[4] = 0;
    long[5] = 0;
    long[6] = 1; // 0x10000 bytes
    expect(errorOf(() => validateAcpiTable(long))).toEqual(["truncated", "XSDT.header.length: the table says 0x10000 bytes, but only 44 are given"]);
    const sum = xsdt.slice();
    sum[20] = ((sum[20] as number) + 2) & 0xff;
    expect(errorOf(() => validateAcpiTable(sum))).toEqual(["bad-checksum", "XSDT.header.checksum: expected the 44 bytes to sum to 0 mod 256, got 2"]);
    const rev = xsdt.slice();
    rev[8] = 2;
    expect(errorOf(() => validateAcpiTable(fixChecksum(rev)))).toEqual([
      "bad-revision",
      "XSDT.header.revision: expected 1..1 (ACPI 6.4 §5.2.8: the XSDT's revision is 1), got 2",
    ]);
    const oem = xsdt.slice();
    oem[17] = 0x7f;
    expect(errorOf(() => validateAcpiTable(fixChecksum(oem)))).toEqual(["bad-string", "XSDT.header.oemTableId: expected printable ASCII, got byte 0x7f at offset 1"]);
    // a table of a signature with no rule: any revision, the header's minimum length
    const other = xsdt.slice();
    other.set([0x4f, 0x45, 0x4d, 0x31], 0); // "OEM1"
    other[8] = 0xff;
    expect(validateAcpiTable(fixChecksum(other))).toMatchObject({ signature: "OEM1", length: 44, header: { revision: 0xff } });
  });
});

describe("SDT headers: defaults, field names, the rules per signature", () => {
  const xsdt = encodeXsdt({ entries: [0x1000n] });

  it("a table without a header gets the defaults; a header that is not an object is refused", () => {
    expect(decodeXsdt(xsdt).header).toEqual({ revision: 1, oemId: "MICROV", oemTableId: "MICROVM", oemRevision: 1, creatorId: "MCVM", creatorRevision: 1 });
    for (const header of [null, 5, "ACME"]) {
      expect(errorOf(() => encodeXsdt({ entries: [], header: header as never }))).toEqual(["invalid-argument", "header: expected an object or nothing"]);
    }
  });

  it("each header field names its table", () => {
    expect(errorOf(() => encodeXsdt({ entries: [], header: { oemRevision: -1 } }))).toEqual(["out-of-range", "XSDT.header.oemRevision: expected 0..0xffffffff, got -1"]);
    expect(errorOf(() => encodeXsdt({ entries: [], header: { creatorRevision: 2 ** 32 } }))).toEqual([
      "out-of-range",
      "XSDT.header.creatorRevision: expected 0..0xffffffff, got 0x100000000",
    ]);
    expect(errorOf(() => encodeXsdt({ entries: [], header: { oemId: "1234567" } }))[1]).toBe('XSDT.header.oemId: expected 0..6 printable ASCII characters without trailing blanks, got "1234567"');
    expect(errorOf(() => encodeXsdt({ entries: [], header: { creatorId: "12345" } }))[1]).toBe('XSDT.header.creatorId: expected 0..4 printable ASCII characters without trailing blanks, got "12345"');
    const oem = xsdt.slice();
    oem[12] = 0x0a;
    expect(errorOf(() => decodeXsdt(fixChecksum(oem)))).toEqual(["bad-string", "XSDT.header.oemId: expected printable ASCII, got byte 0x0a at offset 2"]);
    const creator = xsdt.slice();
    creator[29] = 0xff;
    expect(errorOf(() => decodeXsdt(fixChecksum(creator)))).toEqual(["bad-string", "XSDT.header.creatorId: expected printable ASCII, got byte 0xff at offset 1"]);
  });

  it("signatures are four of A-Z, 0-9 and _, all of them and nothing next to them", () => {
    const withSignature = (sig: string): Uint8Array => {
      const b = xsdt.slice();
      for (let i = 0; i < 4; i++) b[i] = sig.charCodeAt(i);
      return fixChecksum(b);
    };
    for (const sig of ["AZ09", "Z9_A", "_0_9"]) expect(validateAcpiTable(withSignature(sig)).signature, sig).toBe(sig);
    for (const sig of ["@ABC", "AB[C", "AB/C", "AB:C", "AB`C", "abcd", "AB C"]) {
      expect(errorOf(() => validateAcpiTable(withSignature(sig)))).toEqual(["bad-signature", `table.header.signature: expected 4 characters A-Z, 0-9 or _, got ${JSON.stringify(sig)}`]);
    }
  });

  it("the rules of FADT, MADT, DSDT and SSDT: their shortest length and their revisions, with the reason", () => {
    // a table of the given signature, revision and length, otherwise an XSDT's header
    const table = (sig: string, revision: number, length: number): Uint8Array => {
      const b = new Uint8Array(length);
      b.set(xsdt.subarray(0, 36));
      for (let i = 0; i < 4; i++) b[i] = sig.charCodeAt(i);
      new DataView(b.buffer).setUint32(4, length, true);
      b[8] = revision;
      return fixChecksum(b);
    };
    expect(errorOf(() => validateAcpiTable(table("FACP", 6, 267)))).toEqual(["bad-length", "FADT.header.length: expected at least 268 bytes, got 267"]);
    expect(validateAcpiTable(table("FACP", 5, 268)).length).toBe(268);
    expect(errorOf(() => validateAcpiTable(table("FACP", 4, 268)))).toEqual([
      "bad-revision",
      "FADT.header.revision: expected 5..6 (a hardware-reduced FADT needs the ACPI 5.0+ layout (revision 5 or 6)), got 4",
    ]);
    expect(errorOf(() => validateAcpiTable(table("FACP", 7, 276)))[0]).toBe("bad-revision");
    expect(errorOf(() => validateAcpiTable(table("APIC", 1, 43)))).toEqual(["bad-length", "MADT.header.length: expected at least 44 bytes, got 43"]);
    expect(errorOf(() => validateAcpiTable(table("APIC", 0, 44)))).toEqual(["bad-revision", "MADT.header.revision: expected 1..6 (ACPI 6.4 §5.2.12: MADT revisions 1..6), got 0"]);
    expect(validateAcpiTable(table("APIC", 6, 44)).signature).toBe("APIC");
    expect(errorOf(() => validateAcpiTable(table("DSDT", 1, 36)))).toEqual([
      "bad-revision",
      "DSDT.header.revision: expected 2..255 (revision 2 or more gives 64-bit AML integers (ACPI 6.4 §5.2.11.1)), got 1",
    ]);
    expect(errorOf(() => validateAcpiTable(table("SSDT", 1, 36)))).toEqual([
      "bad-revision",
      "SSDT.header.revision: expected 2..255 (revision 2 or more gives 64-bit AML integers (ACPI 6.4 §5.2.11.2)), got 1",
    ]);
    expect(validateAcpiTable(table("SSDT", 255, 36)).header.revision).toBe(255);
  });
});

describe("definition block errors", () => {
  it("encoding: not an object, another signature, AML not bytes, AML over 4 GiB", () => {
    for (const bad of [null, 5, "DSDT"]) expect(errorOf(() => encodeDefinitionBlock(bad as never))).toEqual(["invalid-argument", "definitionBlock: expected an object"]);
    // the length field is a u32: at most 4 GiB - 1 with the header (a view that says it is larger)
    expect(errorOf(() => encodeDefinitionBlock({ signature: "SSDT", aml: hugeAml(0xffffffff - 35) }))).toEqual([
      "too-long",
      `SSDT.aml: expected at most 4 GiB, got ${0xffffffff - 35} bytes`,
    ]);
    expect(errorOf(() => encodeDefinitionBlock({ signature: "FACP", aml: new Uint8Array() } as never))).toEqual([
      "invalid-argument",
      'definitionBlock.signature: expected "DSDT" or "SSDT", got "FACP"',
    ]);
    expect(errorOf(() => encodeDefinitionBlock({ signature: "SSDT", aml: [1] } as never))).toEqual(["invalid-argument", "SSDT.aml: expected a Uint8Array, got an array"]);
    expect(errorOf(() => encodeDefinitionBlock({ signature: "DSDT", aml: new Uint8Array(), header: { oemTableId: "X".repeat(9) } }))[1]).toBe(
      'DSDT.header.oemTableId: expected 0..8 printable ASCII characters without trailing blanks, got "XXXXXXXXX"',
    );
    expect(errorOf(() => encodeDefinitionBlock({ signature: "DSDT", aml: new Uint8Array(), header: { revision: 256 } }))).toEqual([
      "out-of-range",
      "DSDT.header.revision: expected 0..255, got 256",
    ]);
    expect(errorOf(() => encodeDefinitionBlock({ signature: "DSDT", aml: new Uint8Array(), header: 5 as never }))).toEqual(["invalid-argument", "header: expected an object or nothing"]);
  });

  it("decoding: a table that is not a definition block", () => {
    expect(errorOf(() => decodeDefinitionBlock(encodeXsdt({ entries: [] })))).toEqual([
      "bad-signature",
      'definitionBlock.header.signature: expected "DSDT" or "SSDT", got "XSDT"',
    ]);
    const ssdt = encodeDefinitionBlock({ signature: "SSDT", aml: Uint8Array.from([0xa3]) });
    expect(errorOf(() => decodeDefinitionBlock(ssdt, "DSDT"))).toEqual(["bad-signature", 'DSDT.header.signature: expected "DSDT", got "SSDT"']);
    expect(decodeDefinitionBlock(ssdt).aml).toEqual(Uint8Array.from([0xa3]));
  });

  it("encodeDsdt takes a header or the defaults", () => {
    const plain = decodeDefinitionBlock(encodeDsdt([]), "DSDT");
    expect(plain.header).toMatchObject({ revision: 2, oemId: "MICROV", oemTableId: "MICROVM" });
    const named = decodeDefinitionBlock(encodeDsdt([], { oemId: "ACME", oemRevision: 7 }), "DSDT");
    expect(named.header).toMatchObject({ revision: 2, oemId: "ACME", oemTableId: "MICROVM", oemRevision: 7 });
  });
});

describe("encodeAcpiTables errors", () => {
  const madt = madtForCpus({ cpus: 1 });

  it("not an object, an address that is not one, AML over 4 GiB, tables that would end past 2^64", () => {
    for (const bad of [null, 5]) expect(errorOf(() => encodeAcpiTables(bad as never))).toEqual(["invalid-argument", "tables: expected an object"]);
    expect(errorOf(() => encodeAcpiTables({ address: 0, madt, dsdt: hugeAml(0xffffffff) }))).toEqual(["too-long", "DSDT.aml: expected at most 4 GiB, got 4294967295 bytes"]);
    // the DSDT would start exactly at 2^64: refused as the tables' end, not by the FADT's own checks
    const dsdtOff = encodeAcpiTables({ address: 0, madt, dsdt: [] }).dsdtAddress;
    expect(errorOf(() => encodeAcpiTables({ address: (1n << 64n) - dsdtOff, madt, dsdt: [] }))).toEqual(["out-of-range", "tables.address: the tables would end beyond 2^64"]);
    expect(errorOf(() => encodeAcpiTables({ address: -8n, madt, dsdt: [] }))).toEqual(["out-of-range", "tables.address: expected 0..0xffffffffffffffff, got -8"]);
    const near = (1n << 64n) - 64n;
    expect(errorOf(() => encodeAcpiTables({ address: near, madt, dsdt: [] }))).toEqual(["out-of-range", "tables.address: the tables would end beyond 2^64"]);
    // the last address the tables fit below 2^64 is accepted
    const size = encodeAcpiTables({ address: 0, madt, dsdt: [] }).tables.length;
    expect(encodeAcpiTables({ address: (1n << 64n) - BigInt(size), madt, dsdt: [] }).tables.length).toBe(size);
  });

  it("the RSDP gets the OEM id given, or the default one", () => {
    expect(decodeRsdp(encodeAcpiTables({ address: 0x1000, madt, dsdt: [], oemId: "ACME" }).rsdp).oemId).toBe("ACME");
    expect(decodeRsdp(encodeAcpiTables({ address: 0x1000, madt, dsdt: [] }).rsdp).oemId).toBe("MICROV");
    expect(errorOf(() => encodeAcpiTables({ address: 0x1000, madt, dsdt: [], oemId: "TOO LONG" }))[1]).toBe(
      'RSDP.oemId: expected 0..6 printable ASCII characters without trailing blanks, got "TOO LONG"',
    );
  });
});

describe("AML builders: what they wrap, and their errors", () => {
  it("numbers and bigints become integers, strings strings, data objects stay as they are", () => {
    expect(amlPackage([1, 2n, "x", amlBuffer(Uint8Array.from([7]))]).elements).toEqual([
      { kind: "integer", value: 1n },
      { kind: "integer", value: 2n },
      { kind: "string", value: "x" },
      { kind: "buffer", bytes: Uint8Array.from([7]) },
    ]);
    expect(amlReturn(3n)).toEqual({ kind: "return", value: { kind: "integer", value: 3n } });
    expect(amlReturn("PWRB")).toEqual({ kind: "return", value: { kind: "string", value: "PWRB" } });
  });

  it("amlMethod: no body and no return value, a return value, or a body", () => {
    const bare = amlMethod("M");
    expect(bare).toEqual({ kind: "method", path: "M", argCount: 0, serialized: false, syncLevel: 0 });
    expect("returns" in bare || "body" in bare).toBe(false);
    expect(amlMethod("_STA", 0x0f).returns).toEqual({ kind: "integer", value: 15n });
    expect(amlMethod("M", []).body).toEqual([]);
  });

  it("optional parts are left out when not given: If's else, an operation's target", () => {
    expect(Object.keys(amlIf(1, []))).toEqual(["kind", "predicate", "body"]);
    expect(amlIf(1, [], []).else).toEqual([]);
    expect(Object.keys(amlAnd(1, 2))).toEqual(["kind", "left", "right"]);
    expect(amlAnd(1, 2, amlLocal(0)).target).toEqual({ kind: "local", index: 0 });
  });

  it("each builder's check names its field", () => {
    expect(errorOf(() => amlOperationRegion("R", "SystemMemory", -1, 4))).toEqual(["out-of-range", "AML.operationRegion.offset: expected 0..0xffffffffffffffff, got -1"]);
    expect(errorOf(() => amlOperationRegion("R", "SystemMemory", 0, -4))).toEqual(["out-of-range", "AML.operationRegion.length: expected 0..0xffffffffffffffff, got -4"]);
    expect(errorOf(() => amlNamedField("F", 0))).toEqual(["out-of-range", "AML.field.bits: expected 1..0xfffffff, got 0"]);
    expect(errorOf(() => amlReservedField(0))).toEqual(["out-of-range", "AML.field.bits: expected 1..0xfffffff, got 0"]);
    expect(errorOf(() => amlLocal(8))).toEqual(["out-of-range", "AML.local: expected 0..7, got 8"]);
    expect(errorOf(() => amlArg(7))).toEqual(["out-of-range", "AML.arg: expected 0..6, got 7"]);
  });

  it("amlInteger and amlHid name what is wrong", () => {
    expect(errorOf(() => amlInteger(-1))).toEqual(["out-of-range", "AML.integer: expected 0..0xffffffffffffffff, got -1"]);
    expect(errorOf(() => amlHid(5 as never))).toEqual(["invalid-argument", "AML._HID: expected a string, got 5"]);
    // only exactly three letters and four hex digits are an EISA id; anything longer stays a string
    expect(amlHid("PNP0501").value).toEqual({ kind: "integer", value: 0x0105d041n });
    expect(amlHid("PNP0501X").value).toEqual({ kind: "string", value: "PNP0501X" });
    expect(amlHid("XPNP0501").value).toEqual({ kind: "string", value: "XPNP0501" });
  });
});

describe("FADT errors and decoding rules (ACPI 6.4 §5.2.9, §5.2.3.2)", () => {
  const base = { dsdtAddress: 0x2000n } as const;

  it("encoding: not an object, a revision other than 5 or 6, each field by name", () => {
    for (const bad of [null, 5]) expect(errorOf(() => encodeFadt(bad as never))).toEqual(["invalid-argument", "FADT: expected an object"]);
    expect(errorOf(() => encodeFadt({ ...base, header: { revision: 4 } }))).toEqual(["out-of-range", "FADT.header.revision: expected 5..6, got 4"]);
    expect(errorOf(() => encodeFadt({ ...base, header: { revision: 7 } }))).toEqual(["out-of-range", "FADT.header.revision: expected 5..6, got 7"]);
    expect(errorOf(() => encodeFadt({ ...base, header: { oemId: "1234567" } }))[1]).toMatch(/^FADT\.header\.oemId: /);
    const field = (f: Record<string, unknown>): [string, string] => errorOf(() => encodeFadt({ ...base, ...f } as never));
    expect(field({ preferredPmProfile: 9 })).toEqual(["out-of-range", "FADT.preferredPmProfile: expected 0..8, got 9"]);
    expect(field({ sciInterrupt: 0x10000 })).toEqual(["out-of-range", "FADT.sciInterrupt: expected 0..65535, got 0x10000"]);
    expect(field({ iapcBootArch: -1 })).toEqual(["out-of-range", "FADT.iapcBootArch: expected 0..65535, got -1"]);
    expect(field({ flags: 2 ** 32 })).toEqual(["out-of-range", "FADT.flags: expected 0..0xffffffff, got 0x100000000"]);
    expect(field({ resetValue: 256 })).toEqual(["out-of-range", "FADT.resetValue: expected 0..255, got 256"]);
    expect(field({ armBootArch: 1.5 })).toEqual(["invalid-argument", "FADT.armBootArch: expected an integer 0..65535, got 1.5"]);
    expect(field({ minorVersion: 256 })).toEqual(["out-of-range", "FADT.minorVersion: expected 0..255, got 256"]);
    expect(field({ facsAddress: -1n })).toEqual(["out-of-range", "FADT.facsAddress: expected 0..0xffffffffffffffff, got -1"]);
    expect(field({ dsdtAddress: undefined })).toEqual(["invalid-argument", "FADT.dsdtAddress: expected an integer 0..0xffffffffffffffff (number or bigint), got undefined"]);
    expect(field({ hypervisorVendorId: -1n })).toEqual(["out-of-range", "FADT.hypervisorVendorId: expected 0..0xffffffffffffffff, got -1"]);
    expect(field({ header: { revision: 5 }, hypervisorVendorId: 1n })).toEqual([
      "out-of-range",
      "FADT.hypervisorVendorId: expected 0 in a revision-5 FADT (the field is new in revision 6)",
    ]);
  });

  it("encoding: a Generic Address Structure's checks name the register and the field", () => {
    const gas = (register: string, g: unknown): [string, string] => errorOf(() => encodeFadt({ ...base, [register]: g } as never));
    for (const bad of [null, 5]) expect(gas("resetRegister", bad)).toEqual(["invalid-argument", "FADT.resetRegister: expected a GenericAddress object or nothing"]);
    const [code, message] = gas("resetRegister", { ...mmio8(0x1000n), space: "bogus" });
    expect(code).toBe("invalid-argument");
    expect(message).toMatch(/^FADT\.resetRegister\.space: expected one of "memory", "io", .*, got "bogus"$/);
    expect(gas("resetRegister", { ...mmio8(0x1000n), bitWidth: 256 })).toEqual(["out-of-range", "FADT.resetRegister.bitWidth: expected 0..255, got 256"]);
    expect(gas("sleepControlRegister", { ...mmio8(0x1000n), bitOffset: -1 })).toEqual(["out-of-range", "FADT.sleepControlRegister.bitOffset: expected 0..255, got -1"]);
    expect(gas("sleepStatusRegister", { ...mmio8(0x1000n), accessSize: "huge" })[1]).toMatch(/^FADT\.sleepStatusRegister\.accessSize: expected one of "undefined", "byte", "word", "dword", "qword", got "huge"$/);
    expect(gas("sleepControlRegister", mmio8(-1n))).toEqual(["out-of-range", "FADT.sleepControlRegister.address: expected 0..0xffffffffffffffff, got -1"]);
    for (const register of ["resetRegister", "sleepControlRegister", "sleepStatusRegister"]) {
      expect(gas(register, mmio8(0n))).toEqual(["out-of-range", `FADT.${register}.address: expected a non-zero address (a zero GAS means no register; leave it out instead)`]);
    }
  });

  it("decoding: the length a revision needs, the 32-bit addresses when the 64-bit ones are zero, absent registers left out", () => {
    const v6 = encodeFadt({ ...base, facsAddress: 0x3000n });
    const short = v6.slice(0, 272);
    new DataView(short.buffer).setUint32(4, 272, true);
    expect(errorOf(() => decodeFadt(fixChecksum(short)))).toEqual(["bad-length", "FADT.header.length: expected at least 276 bytes for revision 6, got 272"]);
    // X_DSDT and X_FACS zero: the 32-bit DSDT (offset 40) and FACS (offset 36) fields are used
    const old = v6.slice();
    const dv = new DataView(old.buffer);
    dv.setBigUint64(140, 0n, true);
    dv.setBigUint64(132, 0n, true);
    dv.setUint32(40, 0x1234, true);
    dv.setUint32(36, 0x5678, true);
    const decoded = decodeFadt(fixChecksum(old));
    expect(decoded.dsdtAddress).toBe(0x1234n);
    expect(decoded.facsAddress).toBe(0x5678n);
    // and the 64-bit ones win when both are set
    dv.setBigUint64(140, 0x1_0000_0000n, true);
    dv.setBigUint64(132, 0x2_0000_0000n, true);
    const both = decodeFadt(fixChecksum(old));
    expect([both.dsdtAddress, both.facsAddress]).toEqual([0x1_0000_0000n, 0x2_0000_0000n]);
    const plain = decodeFadt(v6);
    for (const register of ["resetRegister", "sleepControlRegister", "sleepStatusRegister"]) expect(register in plain, register).toBe(false);
  });

  it("decoding: a register with fields but no address, an unknown space, an unknown access size", () => {
    const fadt = encodeFadt(base);
    const withGas = (at: number, bytes: number[]): Uint8Array => {
      const b = fadt.slice();
      b.set(bytes, at);
      return fixChecksum(b);
    };
    // resetRegister at 116, sleepControlRegister at 244, sleepStatusRegister at 256: space, width, offset, access, address
    expect(errorOf(() => decodeFadt(withGas(116, [0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])))).toEqual([
      "out-of-range",
      "FADT.resetRegister.address: expected a non-zero address in a register with a space, width or access size",
    ]);
    expect(errorOf(() => decodeFadt(withGas(244, [0x20, 8, 0, 1, 0x10, 0, 0, 0, 0, 0, 0, 0])))).toEqual([
      "out-of-range",
      "FADT.sleepControlRegister.space: expected a known address space id (ACPI 6.4 Table 5.1), got 32",
    ]);
    expect(errorOf(() => decodeFadt(withGas(256, [0, 8, 0, 5, 0x10, 0, 0, 0, 0, 0, 0, 0])))).toEqual(["out-of-range", "FADT.sleepStatusRegister.accessSize: expected 0..4, got 5"]);
    expect(decodeFadt(withGas(256, [1, 8, 0, 1, 0x10, 0, 0, 0, 0, 0, 0, 0])).sleepStatusRegister).toEqual({ space: "io", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0x10n });
    // an address with every other field zero is a register (memory, width and access unspecified)
    expect(decodeFadt(withGas(116, [0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0])).resetRegister).toEqual({ space: "memory", bitWidth: 0, bitOffset: 0, accessSize: "undefined", address: 0x10n });
  });
});

describe("MADT errors, decoding rules and madtForCpus (ACPI 6.4 §5.2.12)", () => {
  const lapic = { type: "local-apic", processorUid: 0, apicId: 0, enabled: true, onlineCapable: false } as const;
  /** The error of an MADT whose second entry is `entry` (so the index in the name is 1). */
  const second = (entry: Record<string, unknown>): [string, string] => errorOf(() => encodeMadt({ entries: [lapic, entry as never] }));

  it("encoding: the table, its fields, and each entry's fields by index", () => {
    for (const bad of [null, 5, {}, { entries: "x" }]) expect(errorOf(() => encodeMadt(bad as never))).toEqual(["invalid-argument", "MADT.entries: expected an object with an array of entries"]);
    const [code, message] = second({ type: "nope" });
    expect(code).toBe("invalid-argument");
    expect(message).toMatch(/^MADT\.entries\[1\]\.type: expected one of "local-apic", "io-apic", "interrupt-override", "local-apic-nmi", "local-x2apic", "local-x2apic-nmi", got "nope"$/);
    expect(errorOf(() => encodeMadt({ entries: [null as never] }))[1]).toMatch(/^MADT\.entries\[0\]\.type: expected one of .*, got undefined$/);
    expect(errorOf(() => encodeMadt({ entries: [], localApicAddress: 2 ** 32 }))).toEqual(["out-of-range", "MADT.localApicAddress: expected 0..0xffffffff, got 0x100000000"]);
    expect(errorOf(() => encodeMadt({ entries: [], pcatCompat: "yes" as never }))).toEqual(["invalid-argument", 'MADT.pcatCompat: expected a boolean, got "yes"']);
    expect(errorOf(() => encodeMadt({ entries: [], header: { oemTableId: "123456789" } }))[1]).toMatch(/^MADT\.header\.oemTableId: /);
    expect(second({ ...lapic, processorUid: 256 })).toEqual(["out-of-range", "MADT.entries[1].processorUid: expected 0..255, got 256"]);
    expect(second({ ...lapic, apicId: 255 })).toEqual(["out-of-range", "MADT.entries[1].apicId: expected 0..254, got 255"]);
    expect(second({ ...lapic, enabled: "y" })).toEqual(["invalid-argument", 'MADT.entries[1].enabled: expected a boolean, got "y"']);
    expect(second({ ...lapic, onlineCapable: 1 })).toEqual(["invalid-argument", "MADT.entries[1].onlineCapable: expected a boolean, got 1"]);
    const ioapic = { type: "io-apic", id: 1, address: 0xfec00000, gsiBase: 0 };
    expect(second({ ...ioapic, id: 256 })[1]).toBe("MADT.entries[1].id: expected 0..255, got 256");
    expect(second({ ...ioapic, address: -1 })[1]).toBe("MADT.entries[1].address: expected 0..0xffffffff, got -1");
    expect(second({ ...ioapic, gsiBase: 2 ** 32 })[1]).toBe("MADT.entries[1].gsiBase: expected 0..0xffffffff, got 0x100000000");
    const iso = { type: "interrupt-override", bus: 0, source: 0, gsi: 2, polarity: "conforming", trigger: "conforming" };
    expect(second({ ...iso, bus: 256 })[1]).toBe("MADT.entries[1].bus: expected 0..255, got 256");
    expect(second({ ...iso, source: 256 })[1]).toBe("MADT.entries[1].source: expected 0..255, got 256");
    expect(second({ ...iso, gsi: -1 })[1]).toBe("MADT.entries[1].gsi: expected 0..0xffffffff, got -1");
    expect(second({ ...iso, polarity: "high" })[1]).toBe('MADT.entries[1].polarity: expected one of "conforming", "active-high", "reserved", "active-low", got "high"');
    expect(second({ ...iso, trigger: "pulse" })[1]).toBe('MADT.entries[1].trigger: expected one of "conforming", "edge", "reserved", "level", got "pulse"');
    const nmi = { type: "local-apic-nmi", processorUid: 0xff, polarity: "conforming", trigger: "conforming", lint: 1 };
    expect(second({ ...nmi, processorUid: -1 })[1]).toBe("MADT.entries[1].processorUid: expected 0..255, got -1");
    expect(second({ ...nmi, lint: 2 })[1]).toBe("MADT.entries[1].lint: expected 0..1, got 2");
    const x2 = { type: "local-x2apic", processorUid: 1, x2apicId: 300, enabled: true, onlineCapable: false };
    expect(second({ ...x2, x2apicId: 0xffffffff })[1]).toBe("MADT.entries[1].x2apicId: expected 0..0xfffffffe, got 0xffffffff");
    expect(second({ ...x2, processorUid: -1 })[1]).toBe("MADT.entries[1].processorUid: expected 0..0xffffffff, got -1");
    const x2nmi = { type: "local-x2apic-nmi", processorUid: 0xffffffff, polarity: "conforming", trigger: "conforming", lint: 1 };
    expect(second({ ...x2nmi, processorUid: 2 ** 32 })[1]).toBe("MADT.entries[1].processorUid: expected 0..0xffffffff, got 0x100000000");
    expect(second({ ...x2nmi, lint: -1 })[1]).toBe("MADT.entries[1].lint: expected 0..1, got -1");
  });

  it("encoding: PC-AT compatibility is the flags' bit 0, on unless said otherwise", () => {
    expect(decodeMadt(encodeMadt({ entries: [] })).pcatCompat).toBe(true);
    expect(decodeMadt(encodeMadt({ entries: [], pcatCompat: false })).pcatCompat).toBe(false);
    expect(new DataView(encodeMadt({ entries: [] }).buffer).getUint32(40, true)).toBe(1);
  });

  it("decoding: each check names the entry by its index and the field", () => {
    const table = encodeMadt({
      entries: [
        lapic,
        { type: "io-apic", id: 1, address: 0xfec00000, gsiBase: 0 },
        { type: "interrupt-override", bus: 0, source: 0, gsi: 2, polarity: "active-high", trigger: "edge" },
        { type: "local-apic-nmi", processorUid: 0xff, polarity: "conforming", trigger: "conforming", lint: 1 },
        { type: "local-x2apic", processorUid: 1, x2apicId: 300, enabled: true, onlineCapable: true },
        { type: "local-x2apic-nmi", processorUid: 0xffffffff, polarity: "conforming", trigger: "conforming", lint: 1 },
      ],
    });
    // entries at 44 (8 bytes), 52 (12), 64 (10), 74 (6), 80 (16), 96 (12); the table ends at 108
    expect(table.length).toBe(108);
    const patchedAt = (o: number, value: number): Uint8Array => {
      const b = table.slice();
      b[o] = value;
      return fixChecksum(b);
    };
    const decodeErr = (b: Uint8Array): [string, string] => errorOf(() => decodeMadt(b));
    expect(decodeErr(patchedAt(40, 3))).toEqual(["bad-entry", "MADT.flags: expected bits 1..31 clear, got 0x3"]);
    expect(decodeErr(patchedAt(52, 3))).toEqual(["bad-entry", "MADT.entries[1].type: expected one of 0, 1, 2, 4, 9, 10, got 3"]);
    expect(decodeErr(patchedAt(53, 11))).toEqual(["bad-entry", "MADT.entries[1].length: expected 12 for a io-apic entry, got 11"]);
    expect(decodeErr(patchedAt(47, 0xff))).toEqual(["bad-entry", "MADT.entries[0].apicId: expected 0..254, got 255 (the broadcast id)"]);
    expect(decodeErr(patchedAt(48, 5))).toEqual(["bad-entry", "MADT.entries[0].flags: expected bits 2..31 clear (ACPI 6.4 Table 5.23), got 0x5"]);
    expect(decodeErr(patchedAt(55, 7))).toEqual(["bad-entry", "MADT.entries[1].reserved: expected 0, got 7"]);
    expect(decodeErr(patchedAt(72, 0x15))).toEqual(["bad-entry", "MADT.entries[2].flags: expected bits 4..15 clear (ACPI 6.4 Table 5.26), got 0x15"]);
    expect(decodeErr(patchedAt(79, 2))).toEqual(["bad-entry", "MADT.entries[3].lint: expected 0 or 1, got 2"]);
    expect(decodeErr(patchedAt(83, 1))).toEqual(["bad-entry", "MADT.entries[4].reserved: expected 0"]);
    const allOnes = table.slice();
    new DataView(allOnes.buffer).setUint32(84, 0xffffffff, true);
    expect(decodeErr(fixChecksum(allOnes))).toEqual(["bad-entry", "MADT.entries[4].x2apicId: expected 0..0xfffffffe, got 0xffffffff"]);
    expect(decodeErr(patchedAt(88, 4))).toEqual(["bad-entry", "MADT.entries[4].flags: expected bits 2..31 clear (ACPI 6.4 Table 5.23), got 0x4"]);
    expect(decodeErr(patchedAt(104, 2))).toEqual(["bad-entry", "MADT.entries[5].lint: expected 0 or 1, got 2"]);
    expect(decodeErr(patchedAt(105, 1))).toEqual(["bad-entry", "MADT.entries[5].reserved: expected 0"]);
    expect(decodeErr(patchedAt(107, 1))).toEqual(["bad-entry", "MADT.entries[5].reserved: expected 0"]);
    // the table's end: a 1-byte remainder, an entry longer than what is left
    const odd = new Uint8Array(109);
    odd.set(table);
    odd[4] = 109;
    expect(decodeErr(fixChecksum(odd))).toEqual(["bad-entry", "MADT.entries[6]: expected a 2-byte entry header at offset 108, but the table ends at 109"]);
    // two bytes left: an entry header that fits, for an entry that does not
    const two = new Uint8Array(110);
    two.set(table);
    two.set([0, 8], 108);
    two[4] = 110;
    expect(decodeErr(fixChecksum(two))).toEqual(["bad-entry", "MADT.entries[6]: the 8-byte entry at offset 108 runs past the table's end at 110"]);
    const cut = table.slice(0, 104);
    cut[4] = 104;
    expect(decodeErr(fixChecksum(cut))).toEqual(["bad-entry", "MADT.entries[5]: the 12-byte entry at offset 96 runs past the table's end at 104"]);
    // and the good table decodes whole
    expect(decodeMadt(table).entries.map((e) => e.type)).toEqual(["local-apic", "io-apic", "interrupt-override", "local-apic-nmi", "local-x2apic", "local-x2apic-nmi"]);
    expect(decodeMadt(table).entries[4]).toEqual({ type: "local-x2apic", processorUid: 1, x2apicId: 300, enabled: true, onlineCapable: true });
  });

  it("madtForCpus: its checks, the entries it makes, and the options it passes on only when given", () => {
    for (const bad of [null, 5]) expect(errorOf(() => madtForCpus(bad as never))).toEqual(["invalid-argument", "MADT: expected an object"]);
    for (const cpus of [[], "2"]) expect(errorOf(() => madtForCpus({ cpus: cpus as never }))).toEqual(["out-of-range", "MADT.cpus: expected at least one CPU"]);
    expect(errorOf(() => madtForCpus({ cpus: 0 }))).toEqual(["out-of-range", "MADT.cpus: expected 1..65535, got 0"]);
    expect(errorOf(() => madtForCpus({ cpus: [0, -1] }))).toEqual(["out-of-range", "MADT.cpus[1]: expected 0..0xfffffffe, got -1"]);
    const many = Array.from({ length: 257 }, (_, i) => i % 200);
    expect(errorOf(() => madtForCpus({ cpus: many }))).toEqual(["out-of-range", "MADT.cpus[256] processor UID: expected 0..255, got 256"]);
    const two = madtForCpus({ cpus: [0, 0xff] });
    expect(two.entries).toEqual([
      { type: "local-apic", processorUid: 0, apicId: 0, enabled: true, onlineCapable: false },
      { type: "local-x2apic", processorUid: 1, x2apicId: 0xff, enabled: true, onlineCapable: false },
      { type: "io-apic", id: 2, address: 0xfec00000, gsiBase: 0 },
      { type: "local-apic-nmi", processorUid: 0xff, polarity: "conforming", trigger: "conforming", lint: 1 },
      { type: "local-x2apic-nmi", processorUid: 0xffffffff, polarity: "conforming", trigger: "conforming", lint: 1 },
    ]);
    // without an x2APIC id there is no x2APIC NMI entry
    expect(madtForCpus({ cpus: [0, 0xfe] }).entries.map((e) => e.type)).toEqual(["local-apic", "local-apic", "io-apic", "local-apic-nmi"]);
    const withOverrides = madtForCpus({ cpus: 1, overrides: [{ source: 0, gsi: 2 }, { source: 9, gsi: 9, polarity: "active-high", trigger: "level" }] });
    expect(withOverrides.entries.filter((e) => e.type === "interrupt-override")).toEqual([
      { type: "interrupt-override", bus: 0, source: 0, gsi: 2, polarity: "conforming", trigger: "conforming" },
      { type: "interrupt-override", bus: 0, source: 9, gsi: 9, polarity: "active-high", trigger: "level" },
    ]);
    expect(Object.keys(madtForCpus({ cpus: 1 }))).toEqual(["entries"]);
    expect(madtForCpus({ cpus: 1, pcatCompat: false }).pcatCompat).toBe(false);
    expect(madtForCpus({ cpus: 1, header: { oemId: "ACME" } }).header).toEqual({ oemId: "ACME" });
  });
});
