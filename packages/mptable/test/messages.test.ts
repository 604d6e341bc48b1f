// Every rejection with its code, the field it names and the message giving the limit and the
// value found: the decoder's checks (one corruption of a valid table at a time) and the encoder's.
import { describe, expect, it } from "vitest";
import {
  decodeMpTable,
  encodeMpTable,
  encodeMpTableInto,
  inspectMpTable,
  isMptableError,
  locateMpTable,
  mpTableSize,
  resolveMpTableConfig,
  validateMpTable,
  type MpTable,
  type MpTableConfig,
} from "../src/index.js";
import { fixChecksums, sum8 } from "./helpers.js";

/** [code, field, message] of the MptableError thrown by `f`, or ["no error"]. */
function rejection(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (!isMptableError(e)) throw e;
    return [e.code, e.field, e.message];
  }
  return ["no error"];
}

// A 2-CPU table at 0x9fc00: pointer 0..16, header 16..60, CPUs at 60 and 80, the bus at 100, the
// IOAPIC at 108, 16 IRQs from 116, LINT0 at 244 and LINT1 at 252; 260 bytes.
const base = (): Uint8Array => encodeMpTable({ address: 0x9fc00, cpus: 2 });
const edit = (f: (b: Uint8Array, v: DataView) => void, fix = true): Uint8Array => {
  const b = base();
  f(b, new DataView(b.buffer));
  return fix ? fixChecksums(b) : b;
};
const decodeRejection = (b: Uint8Array, address = 0x9fc00, memoryBase?: number): string[] =>
  rejection(() => inspectMpTable(b, address, memoryBase === undefined ? {} : { memoryBase }));
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

describe("decoder messages", () => {
  it.each<[string, () => string[], string[]]>([
    ["bytes that are not a Uint8Array", () => rejection(() => decodeMpTable([1, 2] as unknown as Uint8Array, 0)), ["invalid-argument", "bytes", "bytes: expected a Uint8Array"]],
    ["a negative address", () => decodeRejection(base(), -16), ["out-of-range", "address", "address: expected 0..0xffffffff, got -16"]],
    ["a memory base of 2^32", () => decodeRejection(base(), 0x9fc00, 2 ** 32), ["out-of-range", "memoryBase", "memoryBase: expected 0..0xffffffff, got 0x100000000"]],
    ["15 bytes", () => decodeRejection(base().subarray(0, 15)), ["truncated", "floatingPointer", "floatingPointer: expected 16 bytes at offset 0, but the bytes end at 15"]],
    ["a memory base after the address", () => decodeRejection(base(), 0x9fc00, 0x9fc10), ["truncated", "floatingPointer", "floatingPointer: expected 16 bytes at offset -16, but the bytes end at 260"]],
    ["_MP_", () => decodeRejection(edit((b) => (b[0] = 0x41))), ["bad-signature", "floatingPointer.signature", 'floatingPointer.signature: expected "_MP_", got 0x5f504d41']],
    ["the pointer's length", () => decodeRejection(edit((b) => (b[8] = 2))), ["bad-length", "floatingPointer.length", "floatingPointer.length: expected 1 paragraph, got 2"]],
    ["the pointer's revision", () => decodeRejection(edit((b) => (b[9] = 2))), ["bad-spec-revision", "floatingPointer.specification", "floatingPointer.specification: expected 1 or 4, got 2"]],
    ["a misaligned address", () => decodeRejection(base(), 0x9fc08, 0x9fc08), ["misaligned", "address", "address: expected a multiple of 16, got 0x9fc08"]],
    ["a pointer at 1 MiB", () => decodeRejection(base(), 0x100000, 0x100000), ["above-1mib", "address", "address: expected the floating pointer below 0x100000, got 0x100000"]],
    [
      "a pointer ending at 1 MiB (its table is elsewhere)",
      () => decodeRejection(base(), 0xffff0, 0xffff0),
      ["truncated", "floatingPointer.physptr", "floatingPointer.physptr: the configuration table at 0x9fc10 is outside the given bytes [0xffff0, 0x1000f4)"],
    ],
    [
      "feature byte 1",
      () => decodeRejection(edit((b) => (b[11] = 5))),
      ["default-configuration", "floatingPointer.feature1", "floatingPointer.feature1: expected 0 (a configuration table), got MP default configuration 5"],
    ],
    ...[12, 13, 14, 15].map((i): [string, () => string[], string[]] => [
      `feature byte ${i - 10}`,
      () => decodeRejection(edit((b) => (b[i] = i === 12 ? 0x81 : 0x80))),
      ["reserved-bits", "floatingPointer.feature2", "floatingPointer.feature2: expected feature2 bits 0..6 and feature bytes 3..5 clear (MP spec 1.4 §4.1)"],
    ]),
    [
      "a table whose header would end past 1 MiB",
      () => decodeRejection(edit((_b, v) => v.setUint32(4, 0xfffd5, true))),
      ["above-1mib", "floatingPointer.physptr", "floatingPointer.physptr: expected the configuration table below 0x100000, got 0xfffd5"],
    ],
    [
      "a table whose header ends at 1 MiB, outside the bytes",
      () => decodeRejection(edit((_b, v) => v.setUint32(4, 0xfffd4, true))),
      ["truncated", "floatingPointer.physptr", "floatingPointer.physptr: the configuration table at 0xfffd4 is outside the given bytes [0x9fc00, 0x9fd04)"],
    ],
    [
      "a table before the bytes",
      () => decodeRejection(edit((_b, v) => v.setUint32(4, 0x9fb00, true))),
      ["truncated", "floatingPointer.physptr", "floatingPointer.physptr: the configuration table at 0x9fb00 is outside the given bytes [0x9fc00, 0x9fd04)"],
    ],
    [
      "a header cut short",
      () => decodeRejection(base().subarray(0, 59)),
      ["truncated", "floatingPointer.physptr", "floatingPointer.physptr: the configuration table at 0x9fc10 is outside the given bytes [0x9fc00, 0x9fc3b)"],
    ],
    ["entries cut short", () => decodeRejection(base().subarray(0, 60)), ["truncated", "header.length", "header.length: expected 244 bytes at offset 16, but the bytes end at 60"]],
    ["PCMP", () => decodeRejection(edit((b) => (b[16] = 0x41))), ["bad-signature", "header.signature", 'header.signature: expected "PCMP", got 0x504d4341']],
    ["a header length of 43", () => decodeRejection(edit((_b, v) => v.setUint16(20, 43, true))), ["bad-length", "header.length", "header.length: expected at least 44, got 43"]],
    [
      "a header length of 44: no entries",
      () => decodeRejection(edit((_b, v) => v.setUint16(20, 44, true))),
      ["no-processors", "processors", "processors: expected at least 1 processor entry, got 0 (Linux disables SMP)"],
    ],
    ["the header's revision", () => decodeRejection(edit((b) => (b[22] = 3))), ["bad-spec-revision", "header.spec", "header.spec: expected 1 or 4, got 3"]],
    [
      "the header's revision differing from the pointer's",
      () => decodeRejection(edit((b) => (b[22] = 1))),
      ["bad-spec-revision", "header.spec", "header.spec: expected the floating pointer's revision 4, got 1"],
    ],
    ["a control character in the OEM id", () => decodeRejection(edit((b) => (b[26] = 0x01))), ["bad-string", "header.oem", "header.oem: expected printable ASCII, got byte 0x01 at offset 2"]],
    ["0x1f in the OEM id", () => decodeRejection(edit((b) => (b[24] = 0x1f))), ["bad-string", "header.oem", "header.oem: expected printable ASCII, got byte 0x1f at offset 0"]],
    ["DEL in the product id", () => decodeRejection(edit((b) => (b[35] = 0x7f))), ["bad-string", "header.productid", "header.productid: expected printable ASCII, got byte 0x7f at offset 3"]],
    ["a LAPIC address of 0", () => decodeRejection(edit((_b, v) => v.setUint32(52, 0, true))), ["null-lapic", "header.lapic", "header.lapic: expected a non-zero local APIC address, got 0"]],
    ["the reserved header byte", () => decodeRejection(edit((b) => (b[59] = 2))), ["reserved-bits", "header.reserved", "header.reserved: expected 0, got 2"]],
    ["an unknown entry type", () => decodeRejection(edit((b) => (b[100] = 5))), ["unknown-entry", "entries[2].type", "entries[2].type: expected 0..4, got 5 at table offset 84"]],
    [
      "an entry running past the length",
      () => decodeRejection(edit((_b, v) => v.setUint16(20, 54, true))),
      ["bad-length", "header.length", "header.length: entries[0] (20 bytes at offset 44) runs past the table length 54"],
    ],
    [
      "an 8-byte entry running past the length",
      () => decodeRejection(edit((_b, v) => v.setUint16(20, 44 + 40 + 4, true))),
      ["bad-length", "header.length", "header.length: entries[2] (8 bytes at offset 84) runs past the table length 88"],
    ],
    ["CPU flag bits 2..7", () => decodeRejection(edit((b) => (b[83] = 0x04))), ["reserved-bits", "entries[1].cpuflag", "entries[1].cpuflag: expected bits 2..7 clear, got 0x4"]],
    ["reserved CPU bytes 12..15", () => decodeRejection(edit((b) => (b[72] = 1))), ["reserved-bits", "entries[0].reserved", "entries[0].reserved: expected the 8 reserved bytes to be 0"]],
    ["reserved CPU bytes 16..19", () => decodeRejection(edit((b) => (b[79] = 0x80))), ["reserved-bits", "entries[0].reserved", "entries[0].reserved: expected the 8 reserved bytes to be 0"]],
    ["a control character in a bus type", () => decodeRejection(edit((b) => (b[103] = 0x01))), ["bad-string", "entries[2].bustype", "entries[2].bustype: expected printable ASCII, got byte 0x01 at offset 1"]],
    ["IOAPIC flag bits 1..7", () => decodeRejection(edit((b) => (b[111] = 0x03))), ["reserved-bits", "entries[3].flags", "entries[3].flags: expected bits 1..7 clear, got 0x3"]],
    ["an IRQ type of 4", () => decodeRejection(edit((b) => (b[117] = 4))), ["out-of-range", "entries[4].type", "entries[4].type: expected 0..3 (INT, NMI, SMI, ExtINT), got 4"]],
    ["IRQ flag bit 4", () => decodeRejection(edit((_b, v) => v.setUint16(118, 0x10, true))), ["reserved-bits", "entries[4].flags", "entries[4].flags: expected bits 4..15 clear (MP spec 1.4 table 4-9), got 0x10"]],
    ["IRQ flag bit 15", () => decodeRejection(edit((_b, v) => v.setUint16(126, 0x8000, true))), ["reserved-bits", "entries[5].flags", "entries[5].flags: expected bits 4..15 clear (MP spec 1.4 table 4-9), got 0x8000"]],
    ["a LINT type of 4", () => decodeRejection(edit((b) => (b[253] = 4))), ["out-of-range", "entries[21].type", "entries[21].type: expected 0..3 (INT, NMI, SMI, ExtINT), got 4"]],
    ["LINT flag bit 5", () => decodeRejection(edit((_b, v) => v.setUint16(246, 0x20, true))), ["reserved-bits", "entries[20].flags", "entries[20].flags: expected bits 4..15 clear (MP spec 1.4 table 4-9), got 0x20"]],
  ])("%s", (_name, run, expected) => {
    expect(run()).toEqual(expected);
  });

  it("names the sums of bad checksums", () => {
    const fp = edit((b) => (b[10]! ^= 1), false);
    expect(decodeRejection(fp)).toEqual(["bad-checksum", "floatingPointer.checksum", `floatingPointer.checksum: expected the 16 bytes to sum to 0 mod 256, got ${sum8(fp, 0, 16)}`]);
    expect(sum8(fp, 0, 16)).not.toBe(0);
    const t = edit((b) => (b[23]! ^= 0x10), false);
    expect(decodeRejection(t)).toEqual(["bad-checksum", "header.checksum", `header.checksum: expected the 244 bytes of the base table to sum to 0 mod 256, got ${sum8(t, 16, 260)}`]);
  });

  it("a table may end exactly at 1 MiB, not past it", () => {
    const ram = new Uint8Array(0x100000);
    const place = (physptr: number, length: number): string[] => {
      ram.fill(0);
      const fp = encodeMpTable({ address: 0x9fc00, cpus: 1 }).slice(0, 16);
      new DataView(fp.buffer).setUint32(4, physptr, true);
      fp[10] = 0;
      fp[10] = (256 - sum8(fp, 0, 16)) & 0xff;
      ram.set(fp, 0x9fc00);
      ram.set(ascii("PCMP"), physptr);
      new DataView(ram.buffer).setUint16(physptr + 4, length, true);
      return rejection(() => inspectMpTable(ram, 0x9fc00, { memoryBase: 0 }));
    };
    expect(place(0xf0011, 0xffff)).toEqual(["above-1mib", "header.length", "header.length: the table [0xf0011, 0x100010) must end at or below 0x100000"]);
    expect(place(0xf0010, 0xfff0)[0]).toBe("bad-checksum");
  });

  it("decodes bytes that start with the configuration table (kvmtool's layout, memoryBase = the table)", () => {
    const t = base();
    const fp = t.slice(0, 16);
    new DataView(fp.buffer).setUint32(4, 0x9fc00, true);
    fp[10] = 0;
    fp[10] = (256 - sum8(fp, 0, 16)) & 0xff;
    // the table at 0x9fc00 (offset 0 of the bytes), the pointer at the next 16-aligned address after it
    const aligned = new Uint8Array(0x100 + 16);
    aligned.set(t.subarray(16), 0);
    aligned.set(fp, 0x100);
    const info = inspectMpTable(aligned, 0x9fd00, { memoryBase: 0x9fc00 });
    expect(info.configTableAddress).toBe(0x9fc00);
    expect(info.table.processors.length).toBe(2);
  });

  it("reads NUL- or blank-padded strings without their padding, keeping inner blanks", () => {
    const b = edit((b) => {
      b.set([...ascii("AB"), 0, 0, 0, 0, 0, 0], 24);
      b.set(ascii("A B         "), 32);
      b.set([...ascii("PCI"), 0x20, 0, 0x20], 102);
    });
    const t = decodeMpTable(b, 0x9fc00);
    expect([t.oemId, t.productId, t.buses[0]!.type]).toEqual(["AB", "A B", "PCI"]);
    const blank = decodeMpTable(edit((b) => b.fill(0x20, 32, 44)), 0x9fc00);
    expect(blank.productId).toBe("");
  });

  it("decodes every field of the entries", () => {
    const b = edit((b, v) => {
      b[83] = 0; // CPU 1: neither enabled nor BSP
      b[62] = 0x15;
      v.setUint32(64, 0x12345678, true);
      v.setUint32(68, 0x9abcdef0, true);
      b[111] = 0; // IOAPIC unusable
      v.setUint16(118, 0xf, true); // IRQ 0: active-low, level
      b[117] = 2; // SMI
      v.setUint16(126, 0x6, true); // IRQ 1: reserved polarity, edge
    });
    const t = decodeMpTable(b, 0x9fc00);
    expect(t.processors).toEqual([
      { apicId: 0, apicVersion: 0x15, enabled: true, bootstrap: true, signature: 0x12345678, featureFlags: 0x9abcdef0 },
      { apicId: 1, apicVersion: 0x14, enabled: false, bootstrap: false, signature: 0x600, featureFlags: 0x201 },
    ]);
    expect(t.ioApics).toEqual([{ id: 2, version: 0x11, usable: false, address: 0xfec00000 }]);
    expect(t.ioInterrupts[0]).toEqual({ type: "SMI", polarity: "active-low", trigger: "level", sourceBus: 0, sourceIrq: 0, destApic: 2, destPin: 0 });
    expect(t.ioInterrupts[1]).toEqual({ type: "INT", polarity: "reserved", trigger: "edge", sourceBus: 0, sourceIrq: 1, destApic: 2, destPin: 1 });
    expect(t.localInterrupts[1]).toEqual({ type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0xff, destLint: 1 });
  });

  it("reports what it does not decode, and the entry count it ignores, as warnings", () => {
    const info = inspectMpTable(
      edit((b, v) => {
        v.setUint32(44, 0x1234, true); // OEM table pointer
        v.setUint16(48, 16, true); // OEM table size
        v.setUint16(56, 8, true); // extended table length
      }),
      0x9fc00,
    );
    expect(info.oemTable).toEqual({ address: 0x1234, size: 16 });
    expect(info.extendedTableLength).toBe(8);
    expect(info.baseTableLength).toBe(244);
    expect(info.warnings).toEqual(["an OEM table at 0x1234 (16 bytes) is not decoded", "an extended table of 8 bytes is not decoded (Linux ignores it)"]);
    const one = inspectMpTable(edit((_b, v) => v.setUint16(20, 64, true)), 0x9fc00);
    expect(one.table.processors.length).toBe(1);
    expect(one.warnings).toEqual([
      "header.oemcount is 22, but the table has 1 entries (Linux ignores the count; FreeBSD reads it)",
      "no I/O interrupt entries: Linux falls back to its default ISA routing",
    ]);
    const moved = edit((_b, v) => v.setUint32(4, 0x9fc20, true));
    const ram = new Uint8Array(0x200);
    ram.set(moved.subarray(0, 16), 0);
    ram.set(moved.subarray(16), 0x20);
    expect(inspectMpTable(ram, 0x9fc00).warnings).toEqual(["the configuration table (0x9fc20) does not follow the floating pointer (0x9fc00)"]);
  });
});

describe("locateMpTable", () => {
  const withPointer = (f: (b: Uint8Array) => void): Uint8Array => {
    const ram = new Uint8Array(0x100000);
    const t = encodeMpTable({ address: 0xf0000, cpus: 1 });
    ram.set(t, 0xf0000);
    f(ram.subarray(0xf0000, 0xf0010));
    return ram;
  };

  it("needs the signature, length 1, a zero sum and revision 1 or 4", () => {
    expect(locateMpTable(withPointer(() => {}))).toBe(0xf0000);
    const fixed = (f: (p: Uint8Array) => void) =>
      withPointer((p) => {
        f(p);
        p[10] = 0;
        p[10] = (256 - sum8(p, 0, 16)) & 0xff;
      });
    expect(locateMpTable(fixed((p) => (p[9] = 1)))).toBe(0xf0000);
    expect(locateMpTable(fixed((p) => (p[9] = 2)))).toBeUndefined();
    expect(locateMpTable(fixed((p) => (p[8] = 2)))).toBeUndefined();
    expect(locateMpTable(fixed((p) => (p[3] = 0x41)))).toBeUndefined();
    expect(locateMpTable(withPointer((p) => (p[10]! ^= 1)))).toBeUndefined();
    expect(rejection(() => locateMpTable("ram" as unknown as Uint8Array))).toEqual(["invalid-argument", "memory", "memory: expected a Uint8Array"]);
  });

  it("finds a pointer in the last paragraph of the F segment and of a short image", () => {
    const ram = new Uint8Array(0x100000);
    const fp = encodeMpTable({ address: 0xf0000, cpus: 1 }).subarray(0, 16);
    ram.set(fp, 0xffff0);
    expect(locateMpTable(ram)).toBe(0xffff0);
    const short = new Uint8Array(0x9fc20);
    short.set(fp, 0x9fc10);
    expect(locateMpTable(short)).toBe(0x9fc10);
    expect(locateMpTable(short.subarray(0, 0x9fc1f))).toBeUndefined();
  });

  it("scans the EBDA of an image that ends right after the EBDA pointer", () => {
    // 0x410 bytes: the pointer at 0x400, whose reserved bytes 14..15 are the EBDA segment word 0x40.
    const ram = new Uint8Array(0x410);
    ram.set(encodeMpTable({ address: 0xf0000, cpus: 1 }).subarray(0, 16), 0x400);
    new DataView(ram.buffer).setUint16(0x40e, 0x40, true);
    ram[0x40a] = 0;
    ram[0x40a] = (256 - sum8(ram, 0x400, 0x410)) & 0xff;
    expect(locateMpTable(ram)).toBe(0x400);
  });

  it("reads the EBDA segment only from an image that holds it, and skips an EBDA of 0", () => {
    const fp = encodeMpTable({ address: 0xf0000, cpus: 1 }).subarray(0, 16);
    const ram = new Uint8Array(0x1000);
    new DataView(ram.buffer).setUint16(0x40e, 0x80, true); // EBDA at 0x800
    ram.set(fp, 0x800);
    expect(locateMpTable(ram)).toBe(0x800);
    expect(locateMpTable(ram.subarray(0, 0x40f))).toBeUndefined();
    const exact = ram.slice(0, 0x410);
    expect(locateMpTable(exact)).toBeUndefined();
    const low = new Uint8Array(0x1000);
    low.set(fp, 0x400); // just past the first KiB: found only as the EBDA at 0x400? no, EBDA 0 is not scanned
    expect(locateMpTable(low)).toBeUndefined();
  });
});

describe("encoder messages", () => {
  const cpu = { apicId: 0 };
  const irq = { type: "INT", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 1, destPin: 0 } as const;
  const lint = { type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0xff, destLint: 1 } as const;
  const at = (extra: Partial<MpTableConfig>): MpTableConfig => ({ address: 0x9fc00, cpus: 1, ...extra });

  it.each<[string, MpTableConfig, string[]]>([
    ["no config", null as unknown as MpTableConfig, ["invalid-argument", "config", "config: expected an object, got null"]],
    ["a number for a config", 5 as unknown as MpTableConfig, ["invalid-argument", "config", "config: expected an object, got number"]],
    ["no CPUs at all", { address: 0 }, ["invalid-argument", "cpus", "cpus: expected a CPU count or a list of processors, got nothing"]],
    ["1.5 CPUs", at({ cpus: 1.5 }), ["invalid-argument", "cpus", "cpus: expected an integer 1..254, got 1.5"]],
    ["0 CPUs", at({ cpus: 0 }), ["no-cpus", "cpus", "cpus: expected 1..254, got 0"]],
    ["255 CPUs", at({ cpus: 255, address: 0xf0000 }), ["too-many-cpus", "cpus", "cpus: expected 1..254, got 255"]],
    ["a string of CPUs", at({ cpus: "2" as unknown as number }), ["invalid-argument", "cpus", "cpus: expected a number or an array, got string"]],
    ["an empty processor list", at({ cpus: [] }), ["no-cpus", "cpus", "cpus: expected 1..254, got 0"]],
    ["a negative address", at({ address: -16 }), ["out-of-range", "address", "address: expected 0..0xfffff, got -16"]],
    ["address 1 MiB", at({ address: 0x100000 }), ["out-of-range", "address", "address: expected 0..0xfffff, got 0x100000"]],
    ["a fractional address", at({ address: 16.5 }), ["invalid-argument", "address", "address: expected an integer 0..0xfffff, got 16.5"]],
    ["a misaligned address", at({ address: 0x9fc08 }), ["misaligned", "address", "address: expected a multiple of 16 (Linux scans in 16-byte steps), got 0x9fc08"]],
    ["spec revision 2", at({ specRevision: 2 as 4 }), ["out-of-range", "specRevision", "specRevision: expected 1 or 4, got 2"]],
    ["a string for the IMCR flag", at({ imcrPresent: "yes" as unknown as boolean }), ["invalid-argument", "imcrPresent", 'imcrPresent: expected a boolean, got "yes"']],
    ["a number for the OEM id", at({ oemId: 5 as unknown as string }), ["invalid-argument", "oemId", "oemId: expected a string, got number"]],
    ["a non-ASCII OEM id", at({ oemId: "MICRÖVM" }), ["bad-string", "oemId", 'oemId: expected printable ASCII (0x20..0x7e), got "MICRÖVM"']],
    ["a tab in the OEM id", at({ oemId: "A\tB" }), ["bad-string", "oemId", 'oemId: expected printable ASCII (0x20..0x7e), got "A\\tB"']],
    ["a 9-character OEM id", at({ oemId: "ABCDEFGHI" }), ["bad-string", "oemId", 'oemId: expected at most 8 characters, got 9 ("ABCDEFGHI")']],
    ["a 13-character product id", at({ productId: "ABCDEFGHIJKLM" }), ["bad-string", "productId", 'productId: expected at most 12 characters, got 13 ("ABCDEFGHIJKLM")']],
    ["LAPIC address 2^32", at({ lapicAddress: 2 ** 32 }), ["out-of-range", "lapicAddress", "lapicAddress: expected 0..0xffffffff, got 0x100000000"]],
    ["LAPIC address true", at({ lapicAddress: true as unknown as number }), ["invalid-argument", "lapicAddress", "lapicAddress: expected an integer 0..0xffffffff, got boolean"]],
    ["an OEM id of null", at({ oemId: null as unknown as string, cpus: [{ apicId: null as unknown as number }] }), ["invalid-argument", "processors[0].apicId", "processors[0].apicId: expected an integer 0..254, got null"]],
    ["LAPIC address as a string", at({ lapicAddress: "0xfee00000" as unknown as number }), ["invalid-argument", "lapicAddress", 'lapicAddress: expected an integer 0..0xffffffff, got "0xfee00000"']],
    ["LAPIC address 0", at({ lapicAddress: 0 }), ["null-lapic", "lapicAddress", "lapicAddress: expected a non-zero address (Linux rejects 0)"]],
    ["a processor that is null", at({ cpus: [cpu, null as unknown as typeof cpu] }), ["invalid-argument", "processors[1]", "processors[1]: expected an object"]],
    ["a first processor that is null", at({ cpus: [null as unknown as typeof cpu, cpu] }), ["invalid-argument", "processors[0]", "processors[0]: expected an object"]],
    ["a processor that is a number", at({ cpus: [cpu, 7 as unknown as typeof cpu] }), ["invalid-argument", "processors[1]", "processors[1]: expected an object"]],
    ["APIC id 255", at({ cpus: [{ apicId: 255 }], ioApic: { id: 0 } }), ["out-of-range", "processors[0].apicId", "processors[0].apicId: expected 0..254, got 255"]],
    ["APIC id undefined", at({ cpus: [{} as typeof cpu] }), ["invalid-argument", "processors[0].apicId", "processors[0].apicId: expected an integer 0..254, got undefined"]],
    ["a repeated APIC id", at({ cpus: [{ apicId: 3 }, { apicId: 4 }, { apicId: 3 }] }), ["duplicate-apic-id", "processors[2].apicId", "processors[2].apicId: APIC id 3 is already used by processors[0]"]],
    ["APIC version 256", at({ cpus: [{ apicId: 0, apicVersion: 256 }] }), ["out-of-range", "processors[0].apicVersion", "processors[0].apicVersion: expected 0..255, got 256"]],
    ["a string for enabled", at({ cpus: [{ apicId: 0, enabled: "y" as unknown as boolean }] }), ["invalid-argument", "processors[0].enabled", 'processors[0].enabled: expected a boolean, got "y"']],
    ["a number for bootstrap", at({ cpus: [{ apicId: 0, bootstrap: 1 as unknown as boolean }] }), ["invalid-argument", "processors[0].bootstrap", "processors[0].bootstrap: expected a boolean, got 1"]],
    ["signature 2^32", at({ cpus: [{ apicId: 0, signature: 2 ** 32 }] }), ["out-of-range", "processors[0].signature", "processors[0].signature: expected 0..0xffffffff, got 0x100000000"]],
    ["feature flags -1", at({ cpus: [{ apicId: 0, featureFlags: -1 }] }), ["out-of-range", "processors[0].featureFlags", "processors[0].featureFlags: expected 0..0xffffffff, got -1"]],
    ["a disabled BSP", at({ cpus: [{ apicId: 0 }, { apicId: 1, bootstrap: true, enabled: false }] }), ["bsp-count", "processors[1].enabled", "processors[1].enabled: expected the bootstrap processor to be enabled, got false"]],
    ["two BSPs", at({ cpus: [{ apicId: 0, bootstrap: true }, { apicId: 1, bootstrap: true }] }), ["bsp-count", "processors", "processors: expected exactly 1 bootstrap processor, got 2"]],
    ["no BSP", at({ cpus: [{ apicId: 0, bootstrap: false }, { apicId: 1, bootstrap: false }] }), ["bsp-count", "processors", "processors: expected exactly 1 bootstrap processor, got 0"]],
    ["a bus that is null", at({ buses: [{ id: 0, type: "ISA" }, null as unknown as { id: 0; type: "ISA" }] }), ["invalid-argument", "buses[1]", "buses[1]: expected an object"]],
    ["a first bus that is null", at({ buses: [null as unknown as { id: 0; type: "ISA" }, { id: 0, type: "ISA" }] }), ["invalid-argument", "buses[0]", "buses[0]: expected an object"]],
    ["bus id 256", at({ buses: [{ id: 256, type: "ISA" }], ioInterrupts: [], localInterrupts: [] }), ["out-of-range", "buses[0].id", "buses[0].id: expected 0..255, got 256"]],
    ["a repeated bus id", at({ buses: [{ id: 0, type: "ISA" }, { id: 0, type: "PCI" }] }), ["out-of-range", "buses[1].id", "buses[1].id: bus id 0 is listed twice"]],
    ["an empty bus type", at({ buses: [{ id: 0, type: "" }] }), ["bad-string", "buses[0].type", 'buses[0].type: expected 1..6 characters without trailing blanks, got ""']],
    ["a bus type with a trailing blank", at({ buses: [{ id: 0, type: "ISA " }] }), ["bad-string", "buses[0].type", 'buses[0].type: expected 1..6 characters without trailing blanks, got "ISA "']],
    ["a 7-character bus type", at({ buses: [{ id: 0, type: "ISAISAI" }] }), ["bad-string", "buses[0].type", 'buses[0].type: expected at most 6 characters, got 7 ("ISAISAI")']],
    ["an IOAPIC that is null", at({ ioApics: [null as unknown as MpTable["ioApics"][0]] }), ["invalid-argument", "ioApics[0]", "ioApics[0]: expected an object"]],
    ["IOAPIC id 256", at({ ioApic: { id: 256 } }), ["out-of-range", "ioApics[0].id", "ioApics[0].id: expected 0..255, got 256"]],
    ["IOAPIC id -1", at({ ioApic: { id: -1 } }), ["out-of-range", "ioApics[0].id", "ioApics[0].id: expected 0..255, got -1"]],
    ["an IOAPIC id equal to a CPU's", at({ cpus: 3, ioApic: { id: 1 } }), ["apic-id-conflict", "ioApics[0].id", "ioApics[0].id: IOAPIC id 1 equals the APIC id of processors[1]"]],
    // The first processor's id too (index 0 is a processor, not "none").
    ["an IOAPIC id equal to the first CPU's", at({ cpus: 3, ioApic: { id: 0 } }), ["apic-id-conflict", "ioApics[0].id", "ioApics[0].id: IOAPIC id 0 equals the APIC id of processors[0]"]],
    [
      "a repeated IOAPIC id",
      at({ ioApics: [{ id: 5, version: 0x11, usable: true, address: 0xfec00000 }, { id: 5, version: 0x11, usable: true, address: 0xfec01000 }], ioInterrupts: [] }),
      ["duplicate-apic-id", "ioApics[1].id", "ioApics[1].id: IOAPIC id 5 is listed twice"],
    ],
    ["IOAPIC version 256", at({ ioApic: { version: 256 } }), ["out-of-range", "ioApics[0].version", "ioApics[0].version: expected 0..255, got 256"]],
    ["a number for usable", at({ ioApic: { usable: 1 as unknown as boolean } }), ["invalid-argument", "ioApics[0].usable", "ioApics[0].usable: expected a boolean, got 1"]],
    ["IOAPIC address 2^32", at({ ioApic: { address: 2 ** 32 } }), ["out-of-range", "ioApics[0].address", "ioApics[0].address: expected 0..0xffffffff, got 0x100000000"]],
    ["an IRQ that is null", at({ ioInterrupts: [null as unknown as typeof irq] }), ["invalid-argument", "ioInterrupts[0]", "ioInterrupts[0]: expected an object"]],
    ["an IRQ that is a number", at({ ioInterrupts: [5 as unknown as typeof irq] }), ["invalid-argument", "ioInterrupts[0]", "ioInterrupts[0]: expected an object"]],
    ["a bus that is a number", at({ buses: [5 as unknown as { id: 0; type: "ISA" }], ioInterrupts: [], localInterrupts: [] }), ["invalid-argument", "buses[0]", "buses[0]: expected an object"]],
    ["an IOAPIC that is a number", at({ ioApics: [5 as unknown as MpTable["ioApics"][0]] }), ["invalid-argument", "ioApics[0]", "ioApics[0]: expected an object"]],
    [
      "an IRQ type given as a one-element array",
      at({ ioInterrupts: [{ ...irq, type: ["INT"] as unknown as "INT" }] }),
      ["invalid-argument", "ioInterrupts[0].type", 'ioInterrupts[0].type: expected one of "INT", "NMI", "SMI", "ExtINT", got object'],
    ],
    ["an IRQ type IPI", at({ ioInterrupts: [{ ...irq, type: "IPI" as "INT" }] }), ["invalid-argument", "ioInterrupts[0].type", 'ioInterrupts[0].type: expected one of "INT", "NMI", "SMI", "ExtINT", got "IPI"']],
    [
      "an IRQ polarity of 1",
      at({ ioInterrupts: [irq, { ...irq, polarity: 1 as unknown as "conforming" }] }),
      ["invalid-argument", "ioInterrupts[1].polarity", 'ioInterrupts[1].polarity: expected one of "conforming", "active-high", "reserved", "active-low", got 1'],
    ],
    [
      "an IRQ trigger toString",
      at({ ioInterrupts: [{ ...irq, trigger: "toString" as "edge" }] }),
      ["invalid-argument", "ioInterrupts[0].trigger", 'ioInterrupts[0].trigger: expected one of "conforming", "edge", "reserved", "level", got "toString"'],
    ],
    ["IRQ source bus 256", at({ ioInterrupts: [{ ...irq, sourceBus: 256 }] }), ["out-of-range", "ioInterrupts[0].sourceBus", "ioInterrupts[0].sourceBus: expected 0..255, got 256"]],
    ["IRQ source 256", at({ ioInterrupts: [{ ...irq, sourceIrq: 256 }] }), ["out-of-range", "ioInterrupts[0].sourceIrq", "ioInterrupts[0].sourceIrq: expected 0..255, got 256"]],
    ["IRQ destination 256", at({ ioInterrupts: [{ ...irq, destApic: 256 }] }), ["out-of-range", "ioInterrupts[0].destApic", "ioInterrupts[0].destApic: expected 0..255, got 256"]],
    ["IRQ pin 256", at({ ioInterrupts: [{ ...irq, destPin: 256 }] }), ["out-of-range", "ioInterrupts[0].destPin", "ioInterrupts[0].destPin: expected 0..255, got 256"]],
    ["an IRQ from bus 5", at({ ioInterrupts: [{ ...irq, sourceBus: 5 }] }), ["out-of-range", "ioInterrupts[0].sourceBus", "ioInterrupts[0].sourceBus: expected a listed bus id, got 5"]],
    ["an IRQ to IOAPIC 7", at({ ioInterrupts: [{ ...irq, destApic: 7 }] }), ["out-of-range", "ioInterrupts[0].destApic", "ioInterrupts[0].destApic: expected a listed IOAPIC id or 0xff, got 7"]],
    ["a LINT that is null", at({ localInterrupts: [null as unknown as typeof lint] }), ["invalid-argument", "localInterrupts[0]", "localInterrupts[0]: expected an object"]],
    ["LINT 2", at({ localInterrupts: [{ ...lint, destLint: 2 }] }), ["out-of-range", "localInterrupts[0].destLint", "localInterrupts[0].destLint: expected 0..1, got 2"]],
    ["a LINT from bus 5", at({ localInterrupts: [{ ...lint, sourceBus: 5 }] }), ["out-of-range", "localInterrupts[0].sourceBus", "localInterrupts[0].sourceBus: expected a listed bus id, got 5"]],
    ["a LINT to APIC 9", at({ localInterrupts: [{ ...lint, destApic: 9 }] }), ["out-of-range", "localInterrupts[0].destApic", "localInterrupts[0].destApic: expected a processor's APIC id or 0xff, got 9"]],
    ["a LINT type ExtINT2", at({ localInterrupts: [{ ...lint, type: "ExtINT2" as "NMI" }] }), ["invalid-argument", "localInterrupts[0].type", 'localInterrupts[0].type: expected one of "INT", "NMI", "SMI", "ExtINT", got "ExtINT2"']],
    [
      "a table crossing 1 MiB",
      at({ address: 0xfff20 }),
      ["above-1mib", "address", "address: the table [0xfff20, 0x100010) must end at or below 0x100000; the last address that fits is 0xfff10"],
    ],
  ])("%s", (_name, config, expected) => {
    expect(rejection(() => encodeMpTable(config))).toEqual(expected);
  });

  it("accepts destination 0xff for IRQs and LINTs, and a LINT to any CPU", () => {
    expect(rejection(() => encodeMpTable(at({ ioInterrupts: [{ ...irq, destApic: 0xff }] })))).toEqual(["no error"]);
    expect(rejection(() => encodeMpTable(at({ cpus: 2, localInterrupts: [{ ...lint, destApic: 1 }] })))).toEqual(["no error"]);
    expect(rejection(() => encodeMpTable(at({ address: 0xfff10 })))).toEqual(["no error"]);
  });

  it("resolveMpTableConfig and mpTableSize check the CPU count too", () => {
    for (const [cpus, code] of [
      [0, "no-cpus"],
      [255, "too-many-cpus"],
    ] as const) {
      expect(rejection(() => resolveMpTableConfig({ address: 0, cpus }))).toEqual([code, "cpus", `cpus: expected 1..254, got ${cpus}`]);
      expect(rejection(() => mpTableSize({ address: 0, cpus }))).toEqual([code, "cpus", `cpus: expected 1..254, got ${cpus}`]);
    }
    expect(mpTableSize({ address: 0, cpus: 254 })).toBe(5300);
  });

  it("checks that the lists are arrays", () => {
    const t = resolveMpTableConfig({ address: 0x9fc00, cpus: 1 });
    for (const key of ["processors", "buses", "ioApics", "ioInterrupts", "localInterrupts"] as const) {
      expect(rejection(() => validateMpTable({ ...t, [key]: 5 }))).toEqual(["invalid-argument", key, `${key}: expected an array, got number`]);
    }
    expect(rejection(() => validateMpTable({ ...t, processors: Array.from({ length: 255 }, (_, i) => ({ ...t.processors[0]!, apicId: i, bootstrap: i === 0 })) }))).toEqual([
      "too-many-cpus",
      "cpus",
      "cpus: expected 1..254, got 255",
    ]);
  });

  it("limits the base table to 65535 bytes", () => {
    const routes = (n: number) => Array.from({ length: n }, () => irq);
    expect(rejection(() => encodeMpTable({ address: 0, cpus: 1, ioInterrupts: routes(8179) }))).toEqual(["no error"]);
    expect(rejection(() => encodeMpTable({ address: 0, cpus: 1, ioInterrupts: routes(8180) }))).toEqual(["out-of-range", "header.length", "header.length: expected at most 65535 bytes, got 65536"]);
  });

  it("encodeMpTableInto checks its buffer and offset", () => {
    const config = { address: 0x9fc00, cpus: 1 };
    expect(rejection(() => encodeMpTableInto(config, [] as unknown as Uint8Array))).toEqual(["invalid-argument", "out", "out: expected a Uint8Array"]);
    expect(rejection(() => encodeMpTableInto(config, new Uint8Array(100)))).toEqual(["out-of-range", "out", "out: expected room for 240 bytes at offset 0, got 100"]);
    expect(rejection(() => encodeMpTableInto(config, new Uint8Array(300), 61))).toEqual(["out-of-range", "offset", "offset: expected 0..60, got 61"]);
    expect(rejection(() => encodeMpTableInto(config, new Uint8Array(300), 1.5))).toEqual(["invalid-argument", "offset", "offset: expected an integer 0..60, got 1.5"]);
    const out = new Uint8Array(300).fill(0xaa);
    expect(encodeMpTableInto(config, out, 60)).toBe(240);
    expect(out.subarray(60)).toEqual(encodeMpTable(config));
    expect(out[59]).toBe(0xaa);
  });
});

describe("resolveMpTableConfig defaults", () => {
  it("routes the ISA bus, wherever it is listed, to the first IOAPIC, after the highest APIC id", () => {
    const t = resolveMpTableConfig({ address: 0, cpus: [{ apicId: 7 }, { apicId: 3 }], buses: [{ id: 4, type: "PCI" }, { id: 9, type: "ISA" }] });
    expect(t.ioApics).toEqual([{ id: 8, version: 0x11, usable: true, address: 0xfec00000 }]);
    expect(t.ioInterrupts.length).toBe(16);
    expect(t.ioInterrupts.every((e) => e.sourceBus === 9 && e.destApic === 8)).toBe(true);
    expect(t.localInterrupts.map((e) => [e.sourceBus, e.destApic, e.destLint])).toEqual([[9, 7, 0], [9, 0xff, 1]]);
    expect([t.specRevision, t.imcrPresent, t.oemId, t.productId, t.lapicAddress]).toEqual([4, false, "MICROVM", "MICROVM", 0xfee00000]);
  });

  it("without an ISA bus, uses the first bus; without an IOAPIC, no routes", () => {
    const t = resolveMpTableConfig({ address: 0, cpus: 1, buses: [{ id: 4, type: "PCI" }, { id: 5, type: "EISA" }] });
    expect(t.ioInterrupts.every((e) => e.sourceBus === 4)).toBe(true);
    expect(t.localInterrupts[0]!.sourceBus).toBe(4);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApics: [] }).ioInterrupts).toEqual([]);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, buses: [] }).ioInterrupts).toEqual([]);
  });

  it("makes no routes for an IOAPIC id the routing cannot take, so that the IOAPIC's own check reports it", () => {
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApic: { id: 256 } }).ioInterrupts).toEqual([]);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApic: { id: -1 } }).ioInterrupts).toEqual([]);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApic: { id: 255 } }).ioInterrupts.length).toBe(16);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApic: { id: 0 } }).ioInterrupts.length).toBe(16);
    expect(resolveMpTableConfig({ address: 0, cpus: 1, ioApic: { id: "2" as unknown as number } }).ioInterrupts).toEqual([]);
  });

  it("takes `processors` before `cpus`, makes the first CPU the BSP unless one is named, and fills every default", () => {
    const t = resolveMpTableConfig({ address: 0, cpus: 3, processors: [{ apicId: 5 }, { apicId: 6 }] });
    expect(t.processors).toEqual([
      { apicId: 5, apicVersion: 0x14, enabled: true, bootstrap: true, signature: 0x600, featureFlags: 0x201 },
      { apicId: 6, apicVersion: 0x14, enabled: true, bootstrap: false, signature: 0x600, featureFlags: 0x201 },
    ]);
    const named = resolveMpTableConfig({ address: 0, cpus: [{ apicId: 5, bootstrap: false }, { apicId: 6, bootstrap: true }, { apicId: 7 }] });
    expect(named.processors.map((p) => p.bootstrap)).toEqual([false, true, false]);
    expect(named.localInterrupts[0]!.destApic).toBe(6);
    const odd = resolveMpTableConfig({ address: 0, cpus: [{ apicId: "x" as unknown as number }, { apicId: 2 }] });
    expect(odd.ioApics[0]!.id).toBe(3);
  });
});
