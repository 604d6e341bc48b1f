// Unit and boundary tests of the table codecs. Expected bytes are written out by hand from the
// ACPI 6.4 tables cited next to them, never computed by the code under test.
import { describe, expect, it } from "vitest";
import {
  AcpiError,
  FADT_FLAGS,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  decodeRsdp,
  decodeXsdt,
  encodeAcpiTables,
  encodeDefinitionBlock,
  encodeFadt,
  encodeMadt,
  encodeRsdp,
  encodeXsdt,
  isAcpiError,
  madtForCpus,
  madtSize,
  validateAcpiTable,
} from "../src/index.js";
import { codeOf, fixChecksum, hexBytes, mmio8, sum8 } from "./helpers.js";

const ascii = (b: Uint8Array, from: number, n: number) => String.fromCharCode(...b.subarray(from, from + n));
const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);
const u64 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(o, true);

describe("RSDP (ACPI 6.4 §5.2.5.3)", () => {
  const b = encodeRsdp({ xsdtAddress: 0x1_2345_6780n, oemId: "ACME" });
  it("has the revision-2 layout and both checksums", () => {
    expect(b.length).toBe(36);
    expect(ascii(b, 0, 8)).toBe("RSD PTR ");
    expect(ascii(b, 9, 6)).toBe("ACME  ");
    expect(b[15]).toBe(2);
    expect(u32(b, 16)).toBe(0); // RSDT address
    expect(u32(b, 20)).toBe(36);
    expect(u64(b, 24)).toBe(0x1_2345_6780n);
    expect(sum8(b, 0, 20)).toBe(0);
    expect(sum8(b, 0, 36)).toBe(0);
    expect([...b.subarray(33)]).toEqual([0, 0, 0]);
  });
  it("decodes back", () => {
    expect(decodeRsdp(b)).toEqual({ xsdtAddress: 0x1_2345_6780n, oemId: "ACME", revision: 2, rsdtAddress: 0 });
  });
  it("checks signature, first checksum, revision, length, extended checksum in that order", () => {
    const bad = (f: (c: Uint8Array) => void) => {
      const c = b.slice();
      f(c);
      return codeOf(() => decodeRsdp(c));
    };
    expect(bad((c) => (c[0] = 0x72))).toBe("bad-signature");
    // Wrong signature and wrong checksum: the signature is reported (Linux checks it first).
    expect(bad((c) => ((c[0] = 0x72), (c[8]! ^= 1)))).toBe("bad-signature");
    expect(bad((c) => (c[8]! ^= 1))).toBe("bad-checksum");
    // Revision 0 with a right 20-byte checksum: bad-revision, not the extended checksum.
    expect(bad((c) => ((c[15] = 0), (c[8] = (c[8]! + 2) & 0xff)))).toBe("bad-revision");
    expect(bad((c) => ((c[20] = 20), (c[32] = (c[32]! + 16) & 0xff)))).toBe("bad-length");
    expect(bad((c) => (c[32]! ^= 1))).toBe("bad-checksum");
    expect(codeOf(() => decodeRsdp(b.subarray(0, 19)))).toBe("truncated");
  });
  it("rejects a bad OEM id and address with messages naming the field", () => {
    expect(() => encodeRsdp({ xsdtAddress: 1n, oemId: "TOOLONG" })).toThrow(/RSDP\.oemId: expected 0\.\.6 printable/);
    expect(() => encodeRsdp({ xsdtAddress: -1n })).toThrow(/RSDP\.xsdtAddress: expected 0\.\.0xffffffffffffffff/);
    expect(codeOf(() => encodeRsdp({ xsdtAddress: 1n << 64n }))).toBe("out-of-range");
  });
});

describe("XSDT (ACPI 6.4 §5.2.8)", () => {
  it("writes the header and 8-byte entries", () => {
    const b = encodeXsdt({ entries: [0x1000n, 0xffff_ffff_0000n] });
    expect(ascii(b, 0, 4)).toBe("XSDT");
    expect(u32(b, 4)).toBe(52);
    expect(b[8]).toBe(1);
    expect(sum8(b)).toBe(0);
    expect(ascii(b, 10, 6)).toBe("MICROV");
    expect(ascii(b, 16, 8)).toBe("MICROVM ");
    expect(u64(b, 36)).toBe(0x1000n);
    expect(u64(b, 44)).toBe(0xffff_ffff_0000n);
    expect(decodeXsdt(b).entries).toEqual([0x1000n, 0xffff_ffff_0000n]);
  });
  it("rejects entries that are not whole", () => {
    const b = new Uint8Array(48);
    b.set(encodeXsdt({ entries: [1n] }).subarray(0, 44));
    new DataView(b.buffer).setUint32(4, 48, true);
    fixChecksum(b);
    expect(codeOf(() => decodeXsdt(b))).toBe("bad-length");
  });
});

describe("validateAcpiTable: Linux's order of checks", () => {
  const good = encodeXsdt({ entries: [1n] });
  const v = (f: (c: Uint8Array) => void, sig?: string) => {
    const c = good.slice();
    f(c);
    return codeOf(() => validateAcpiTable(c, sig));
  };
  it("signature first, then length, then checksum, then revision", () => {
    expect(v(() => {}, "XSDT")).toBe("no error");
    // All four wrong: signature.
    const all = (c: Uint8Array) => ((c[0] = 0x61), (c[4] = 10), (c[9]! ^= 1), (c[8] = 7));
    expect(v(all)).toBe("bad-signature");
    expect(v((c) => ((c[4] = 10), (c[9]! ^= 1), (c[8] = 7)))).toBe("bad-length");
    expect(v((c) => ((c[9]! ^= 1), (c[8] = 7)))).toBe("bad-checksum");
    expect(v((c) => ((c[8] = 7), (c[9] = (c[9]! - 6) & 0xff)))).toBe("bad-revision");
    expect(v(() => {}, "FACP")).toBe("bad-signature");
  });
  it("reports a length past the bytes as truncated", () => {
    expect(v((c) => (c[4] = 200))).toBe("truncated");
    expect(codeOf(() => validateAcpiTable(good.subarray(0, 35)))).toBe("truncated");
  });
  it("names the table in the message", () => {
    const c = encodeFadt({ dsdtAddress: 1n });
    c[9] = (c[9]! + 1) & 0xff;
    expect(() => validateAcpiTable(c)).toThrow(/^FADT\.header\.checksum: expected the 276 bytes to sum to 0 mod 256, got 1$/);
  });
});

describe("FADT (ACPI 6.4 §5.2.9)", () => {
  const f = encodeFadt({
    dsdtAddress: 0xe0400n,
    sleepControlRegister: mmio8(0xfea00200n),
    sleepStatusRegister: mmio8(0xfea00201n),
    resetRegister: mmio8(0xfea00202n),
    resetValue: 0x42,
  });
  it("is a 276-byte revision-6 table with HW_REDUCED_ACPI and RESET_REG_SUP", () => {
    expect(ascii(f, 0, 4)).toBe("FACP");
    expect(f.length).toBe(276);
    expect(f[8]).toBe(6);
    expect(f[131]).toBe(5);
    expect(sum8(f)).toBe(0);
    expect(u32(f, 112)).toBe((1 << 20) | (1 << 10));
    expect(u64(f, 140)).toBe(0xe0400n); // X_DSDT
    expect(u32(f, 40)).toBe(0); // DSDT
  });
  it("places the GAS registers at their offsets (Table 5.9)", () => {
    // Space 0 (memory), width 8, offset 0, access 1 (byte), address.
    expect([...f.subarray(116, 128)]).toEqual([...hexBytes("00 08 00 01 02 02 a0 fe 00 00 00 00")]);
    expect(f[128]).toBe(0x42);
    expect([...f.subarray(244, 256)]).toEqual([...hexBytes("00 08 00 01 00 02 a0 fe 00 00 00 00")]);
    expect([...f.subarray(256, 268)]).toEqual([...hexBytes("00 08 00 01 01 02 a0 fe 00 00 00 00")]);
  });
  it("decodes back, absent registers left out", () => {
    const d = decodeFadt(f);
    expect(d.sleepControlRegister).toEqual(mmio8(0xfea00200n));
    expect(d.resetValue).toBe(0x42);
    const bare = decodeFadt(encodeFadt({ dsdtAddress: 5 }));
    expect(bare.resetRegister).toBeUndefined();
    expect(bare.flags).toBe(FADT_FLAGS.HW_REDUCED_ACPI);
    expect("sleepStatusRegister" in bare).toBe(false);
  });
  it("writes a 268-byte revision-5 layout on request", () => {
    const f5 = encodeFadt({ dsdtAddress: 1n, header: { revision: 5 } });
    expect(f5.length).toBe(268);
    expect(decodeFadt(f5).header.revision).toBe(5);
    expect(codeOf(() => encodeFadt({ dsdtAddress: 1n, header: { revision: 5 }, hypervisorVendorId: 1n }))).toBe("out-of-range");
    expect(codeOf(() => encodeFadt({ dsdtAddress: 1n, header: { revision: 4 } }))).toBe("out-of-range");
  });
  it("rejects a revision-6 FADT of the revision-5 length", () => {
    const c = f.slice(0, 268);
    new DataView(c.buffer).setUint32(4, 268, true);
    expect(codeOf(() => decodeFadt(fixChecksum(c)))).toBe("bad-length");
  });
  it("rejects a zero register address and an unknown space", () => {
    expect(() => encodeFadt({ dsdtAddress: 1n, resetRegister: mmio8(0n) })).toThrow(/FADT\.resetRegister\.address: expected a non-zero address/);
    const c = f.slice();
    c[244] = 0x55;
    expect(codeOf(() => decodeFadt(fixChecksum(c)))).toBe("out-of-range");
  });
});

describe("MADT (ACPI 6.4 §5.2.12)", () => {
  it("lays out each entry type as the spec's tables say", () => {
    const b = encodeMadt({
      localApicAddress: 0xfee00000,
      pcatCompat: false,
      entries: [
        { type: "local-apic", processorUid: 1, apicId: 2, enabled: true, onlineCapable: false },
        { type: "io-apic", id: 3, address: 0xfec00000, gsiBase: 24 },
        { type: "interrupt-override", bus: 0, source: 0, gsi: 2, polarity: "active-high", trigger: "edge" },
        { type: "local-apic-nmi", processorUid: 0xff, polarity: "conforming", trigger: "conforming", lint: 1 },
        { type: "local-x2apic", processorUid: 300, x2apicId: 0x1234, enabled: false, onlineCapable: true },
        { type: "local-x2apic-nmi", processorUid: 0xffffffff, polarity: "active-low", trigger: "level", lint: 0 },
      ],
    });
    expect(ascii(b, 0, 4)).toBe("APIC");
    expect(b[8]).toBe(5);
    expect(sum8(b)).toBe(0);
    expect(u32(b, 36)).toBe(0xfee00000);
    expect(u32(b, 40)).toBe(0);
    const entries = hexBytes(`
      00 08 01 02 01 00 00 00
      01 0c 03 00 00 00 c0 fe 18 00 00 00
      02 0a 00 00 02 00 00 00 05 00
      04 06 ff 00 00 01
      09 10 00 00 34 12 00 00 02 00 00 00 2c 01 00 00
      0a 0c 0f 00 ff ff ff ff 00 00 00 00`);
    expect([...b.subarray(44)]).toEqual([...entries]);
    expect(b.length).toBe(44 + entries.length);
  });
  it("madtForCpus: local APIC below 255, x2APIC above, IOAPIC, NMI on LINT1", () => {
    const m = madtForCpus({ cpus: 256 });
    const types = m.entries.map((e) => e.type);
    expect(types.filter((t) => t === "local-apic")).toHaveLength(255);
    expect(types.filter((t) => t === "local-x2apic")).toHaveLength(1);
    expect(types.slice(-3)).toEqual(["io-apic", "local-apic-nmi", "local-x2apic-nmi"]);
    expect(madtSize(m.entries)).toBe(44 + 255 * 8 + 16 + 12 + 6 + 12);
    expect(decodeMadt(encodeMadt(m)).entries).toEqual(m.entries);
  });
  it("names the entry and field in errors", () => {
    const e = (() => {
      try {
        encodeMadt({ entries: [{ type: "local-apic", processorUid: 0, apicId: 300, enabled: true, onlineCapable: false }] });
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(isAcpiError(e)).toBe(true);
    expect((e as AcpiError).message).toBe("MADT.entries[0].apicId: expected 0..254, got 300");
    expect(codeOf(() => encodeMadt({ entries: [{ type: "nope" } as never] }))).toBe("invalid-argument");
  });
  it("rejects unknown entries, wrong lengths, entries past the end", () => {
    const good = encodeMadt(madtForCpus({ cpus: 1 }));
    const bad = (f: (c: Uint8Array) => void) => {
      const c = good.slice();
      f(c);
      return codeOf(() => decodeMadt(fixChecksum(c)));
    };
    expect(bad((c) => (c[44] = 3))).toBe("bad-entry");
    expect(bad((c) => (c[45] = 9))).toBe("bad-entry");
    expect(bad((c) => (c[48] = 4))).toBe("bad-entry"); // reserved flag bit
    expect(bad((c) => new DataView(c.buffer).setUint32(4, c.length - 1, true))).toBe("bad-entry");
  });
});

describe("DSDT/SSDT definition blocks (ACPI 6.4 §5.2.11)", () => {
  it("wraps AML in a revision-2 header", () => {
    const aml = hexBytes("10 05 5c 5f 53 42 5f");
    const b = encodeDefinitionBlock({ signature: "SSDT", aml });
    expect(ascii(b, 0, 4)).toBe("SSDT");
    expect(b[8]).toBe(2);
    expect(u32(b, 4)).toBe(36 + aml.length);
    expect(sum8(b)).toBe(0);
    const d = decodeDefinitionBlock(b);
    expect(d.signature).toBe("SSDT");
    expect([...d.aml]).toEqual([...aml]);
    expect(codeOf(() => decodeDefinitionBlock(b, "DSDT"))).toBe("bad-signature");
  });
  it("rejects revision 1 (32-bit integers)", () => {
    const b = encodeDefinitionBlock({ signature: "DSDT", aml: new Uint8Array(), header: { revision: 1 } });
    expect(codeOf(() => decodeDefinitionBlock(b))).toBe("bad-revision");
  });
});

describe("encodeAcpiTables", () => {
  it("links RSDP → XSDT → FADT → DSDT and MADT, each table 8-byte aligned and valid", () => {
    const set = encodeAcpiTables({ address: 0xe0000n, madt: madtForCpus({ cpus: 8 }), dsdt: [] });
    const at = (a: bigint) => set.tables.subarray(Number(a - 0xe0000n));
    expect(decodeRsdp(set.rsdp).xsdtAddress).toBe(0xe0000n);
    expect(decodeXsdt(at(set.xsdtAddress)).entries).toEqual([set.fadtAddress, set.madtAddress]);
    expect(decodeFadt(at(set.fadtAddress)).dsdtAddress).toBe(set.dsdtAddress);
    expect(decodeMadt(at(set.madtAddress)).entries.filter((e) => e.type === "local-apic")).toHaveLength(8);
    expect(decodeDefinitionBlock(at(set.dsdtAddress)).aml.length).toBe(0);
    for (const a of [set.fadtAddress, set.madtAddress, set.dsdtAddress]) expect(Number(a % 8n)).toBe(0);
  });
});

describe("AcpiError", () => {
  it("is recognised by name and code, not instanceof", () => {
    expect(isAcpiError({ name: "AcpiError", code: "bad-checksum" })).toBe(true);
    expect(isAcpiError({ name: "AcpiError", code: "nonsense" })).toBe(false);
    expect(isAcpiError(new Error("x"))).toBe(false);
    expect(isAcpiError(null)).toBe(false);
    const e = new AcpiError("bad-length", "MADT.header.length", "expected at least 44 bytes, got 40");
    expect(e.message).toBe("MADT.header.length: expected at least 44 bytes, got 40");
    expect(e.field).toBe("MADT.header.length");
  });
});
