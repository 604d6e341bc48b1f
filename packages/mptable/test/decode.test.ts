import { describe, expect, it } from "vitest";
import { decodeMpTable, encodeMpTable, findMpTable, inspectMpTable, locateMpTable } from "../src/index.js";
import { codeOf, fixChecksums } from "./helpers.js";

const base = (): Uint8Array => encodeMpTable({ address: 0x9fc00, cpus: 2 });
const mutate = (f: (b: Uint8Array, v: DataView) => void, fix = true): Uint8Array => {
  const b = base();
  f(b, new DataView(b.buffer));
  return fix ? fixChecksums(b) : b;
};
const decodeCode = (b: Uint8Array, address = 0x9fc00): string => codeOf(() => decodeMpTable(b, address));

describe("decodeMpTable applies Linux's checks (arch/x86/kernel/mpparse.c)", () => {
  it.each<[string, Uint8Array, string]>([
    ["a valid table", base(), "no error"],
    ["_MP_ signature", mutate((b) => (b[0] = 0x41)), "bad-signature"],
    ["floating pointer length 2", mutate((b) => (b[8] = 2)), "bad-length"],
    ["floating pointer checksum", mutate((b) => (b[10]! ^= 1), false), "bad-checksum"],
    ["spec revision 2 in the pointer", mutate((b) => (b[9] = 2)), "bad-spec-revision"],
    ["PCMP signature", mutate((b) => (b[16] = 0x41)), "bad-signature"],
    ["table checksum", mutate((b) => (b[16 + 7]! ^= 0x10), false), "bad-checksum"],
    ["a flipped entry byte without checksum fix", mutate((b) => (b[100]! ^= 1), false), "bad-checksum"],
    ["spec revision 3 in the header", mutate((b) => (b[16 + 6] = 3)), "bad-spec-revision"],
    ["header revision differs from the pointer's", mutate((b) => (b[16 + 6] = 1)), "bad-spec-revision"],
    ["LAPIC address 0", mutate((_b, v) => v.setUint32(16 + 36, 0, true)), "null-lapic"],
    ["header length below 44", mutate((_b, v) => v.setUint16(16 + 4, 40, true)), "bad-length"],
    ["an unknown entry type (192, NUMA-Q translation)", mutate((b) => (b[16 + 44] = 192)), "unknown-entry"],
    ["an entry cut by the table length", mutate((_b, v) => v.setUint16(16 + 4, 44 + 10, true)), "bad-length"],
    ["MP default configuration 5 (feature1)", mutate((b) => (b[11] = 5)), "default-configuration"],
    ["reserved feature bits", mutate((b) => (b[13] = 1)), "reserved-bits"],
    ["reserved CPU flag bits", mutate((b) => (b[16 + 44 + 3] = 0x07)), "reserved-bits"],
    ["reserved IRQ flag bits", mutate((_b, v) => v.setUint16(16 + 44 + 40 + 16 + 2, 0x10, true)), "reserved-bits"],
    ["IRQ type 4", mutate((b) => (b[16 + 44 + 40 + 16 + 1] = 4)), "out-of-range"],
    ["a non-ASCII OEM id", mutate((b) => (b[16 + 8] = 0xc3)), "bad-string"],
    ["physptr outside the bytes", mutate((_b, v) => v.setUint32(4, 0x9fb00, true)), "truncated"],
    ["physptr above 1 MiB", mutate((_b, v) => v.setUint32(4, 0x100000, true)), "above-1mib"],
  ])("%s", (_name, bytes, code) => {
    expect(decodeCode(bytes)).toBe(code);
  });

  it("rejects truncated bytes at every length", () => {
    const b = base();
    for (let n = 0; n < b.length; n++) expect(decodeCode(b.subarray(0, n))).toBe("truncated");
  });

  it("rejects a table with no processor entries", () => {
    const b = encodeMpTable({ address: 0x9fc00, cpus: 1 });
    // Turn the processor entry (20 bytes) into the header's length minus 20 by shifting the rest.
    const out = new Uint8Array(b.length - 20);
    out.set(b.subarray(0, 60));
    out.set(b.subarray(80), 60);
    new DataView(out.buffer).setUint16(16 + 4, b.length - 16 - 20, true);
    expect(decodeCode(fixChecksums(out))).toBe("no-processors");
  });

  it("walks by length and ignores the stored entry count, as Linux does", () => {
    const b = mutate((_b, v) => v.setUint16(16 + 34, 3, true));
    const info = inspectMpTable(b, 0x9fc00);
    expect(info.storedEntryCount).toBe(3);
    expect(info.entryCount).toBe(22);
    expect(info.table.processors.length).toBe(2);
    expect(info.warnings.length).toBe(1);
  });

  it("reports no warnings for our own tables", () => {
    const info = inspectMpTable(base(), 0x9fc00);
    expect(info.warnings).toEqual([]);
    expect(info.configTableAddress).toBe(0x9fc10);
    expect(info.storedEntryCount).toBe(info.entryCount);
  });

  it("decodes a table whose floating pointer follows it (kvmtool's layout) in a memory image", () => {
    const t = encodeMpTable({ address: 0xf0000, cpus: 3 });
    const ram = new Uint8Array(0x100000);
    // Table at 0xf0000, floating pointer after it at a 16-aligned address.
    const table = t.subarray(16);
    ram.set(table, 0xf0000);
    const fpAt = (0xf0000 + table.length + 15) & ~15;
    const fp = t.slice(0, 16);
    new DataView(fp.buffer).setUint32(4, 0xf0000, true);
    fp[10] = 0;
    let s = 0;
    for (const x of fp) s += x;
    fp[10] = (256 - (s & 0xff)) & 0xff;
    ram.set(fp, fpAt);
    expect(locateMpTable(ram)).toBe(fpAt);
    const info = inspectMpTable(ram, fpAt, { memoryBase: 0 });
    expect(info.table.processors.length).toBe(3);
    expect(info.configTableAddress).toBe(0xf0000);
    expect(info.warnings.join()).toMatch(/does not follow/);
  });
});

describe("findMpTable scans where and in the order Linux scans", () => {
  const place = (ram: Uint8Array, at: number, cpus: number): void => ram.set(encodeMpTable({ address: at, cpus }), at);

  it.each([0x0, 0x3f0 - 0x100, 0x9fc00, 0x9fff0 - 0x100, 0xf0000, 0xffe00])("finds a table at 0x%s", (at) => {
    const ram = new Uint8Array(0x100000);
    // Keep within the window: place a 1-CPU table (240 bytes) whose floating pointer is at `at`.
    place(ram, at, 1);
    expect(locateMpTable(ram)).toBe(at);
  });

  it("does not look outside the windows (e.g. at 0x80000)", () => {
    const ram = new Uint8Array(0x100000);
    place(ram, 0x80000, 1);
    expect(findMpTable(ram)).toBeUndefined();
  });

  it("prefers [0, 0x400) over 0x9fc00 over the F-segment", () => {
    const ram = new Uint8Array(0x100000);
    place(ram, 0xf0000, 3);
    place(ram, 0x9fc00, 2);
    expect(findMpTable(ram)?.processors.length).toBe(2);
    place(ram, 0x100, 1);
    expect(findMpTable(ram)?.processors.length).toBe(1);
  });

  it("scans the first KiB of the EBDA named at 0x40e last", () => {
    const ram = new Uint8Array(0x100000);
    new DataView(ram.buffer).setUint16(0x40e, 0x8000, true); // EBDA segment 0x8000 -> 0x80000
    place(ram, 0x80000 + 0x3f0 - 0x100, 1);
    expect(locateMpTable(ram)).toBe(0x80000 + 0x2f0);
    place(ram, 0xf0000, 4);
    expect(locateMpTable(ram)).toBe(0xf0000);
  });

  it("skips a candidate whose checksum is wrong and keeps scanning", () => {
    const ram = new Uint8Array(0x100000);
    place(ram, 0x9fc00, 2);
    ram[0x9fc00 + 10]! ^= 1;
    place(ram, 0xf0000, 3);
    expect(findMpTable(ram)?.processors.length).toBe(3);
  });

  it("stops at the first valid pointer even if its table is bad, as Linux does", () => {
    const ram = new Uint8Array(0x100000);
    place(ram, 0x9fc00, 2);
    ram[0x9fc10] = 0; // break "PCMP"
    place(ram, 0xf0000, 3);
    expect(codeOf(() => findMpTable(ram))).toBe("bad-signature");
  });

  it("scans only what a short image holds", () => {
    const ram = new Uint8Array(0xa0000);
    place(ram, 0x9fc00, 2);
    expect(findMpTable(ram)?.processors.length).toBe(2);
    expect(findMpTable(new Uint8Array(0x200))).toBeUndefined();
  });
});
