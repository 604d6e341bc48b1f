// hvm_start_info, module list and memory map: layout and bytes against the C program compiled
// with Xen's start_info.h (test/vectors/start-info-layout.json), plus boundary tables.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  decodeMemmap,
  decodeModlist,
  decodeStartInfo,
  encodeMemmap,
  encodeMemmapInto,
  encodeModlist,
  encodeModlistInto,
  encodeStartInfo,
  encodeStartInfoInto,
  isPvhError,
  MAX_MEMMAP_ENTRIES,
  MEMMAP_ENTRY_SIZE,
  MemmapType,
  MODLIST_ENTRY_SIZE,
  PvhError,
  START_INFO_OFFSETS,
  START_INFO_SIZE,
  XEN_HVM_START_MAGIC_VALUE,
  type PvhErrorCode,
} from "@microvm/pvh";
import { codeOf } from "./helpers/codes.ts";

interface Field {
  offset: number;
  size: number;
}
interface Layout {
  XEN_HVM_START_MAGIC_VALUE: number;
  memmapTypes: Record<string, number>;
  hvm_start_info: { size: number; fields: Record<string, Field> };
  hvm_modlist_entry: { size: number; fields: Record<string, Field> };
  hvm_memmap_table_entry: { size: number; fields: Record<string, Field> };
  golden: {
    startInfo: Record<string, number | string>;
    module: Record<string, string>;
    memmap: { addr: string; size: string; type: number }[];
    startInfoBytes: string;
    moduleBytes: string;
    memmapBytes: string;
  };
}
const C: Layout = JSON.parse(readFileSync(new URL("./vectors/start-info-layout.json", import.meta.url), "utf8")) as Layout;
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));


describe("layout from the C compiler and Xen's start_info.h", () => {
  it("hvm_start_info size and offsets", () => {
    expect(START_INFO_SIZE).toBe(C.hvm_start_info.size);
    const f = C.hvm_start_info.fields;
    expect(START_INFO_OFFSETS).toEqual({
      magic: f["magic"]?.offset,
      version: f["version"]?.offset,
      flags: f["flags"]?.offset,
      nrModules: f["nr_modules"]?.offset,
      modlistPaddr: f["modlist_paddr"]?.offset,
      cmdlinePaddr: f["cmdline_paddr"]?.offset,
      rsdpPaddr: f["rsdp_paddr"]?.offset,
      memmapPaddr: f["memmap_paddr"]?.offset,
      memmapEntries: f["memmap_entries"]?.offset,
      reserved: f["reserved"]?.offset,
    });
  });

  it("entry sizes, magic and memory types", () => {
    expect(MODLIST_ENTRY_SIZE).toBe(C.hvm_modlist_entry.size);
    expect(MEMMAP_ENTRY_SIZE).toBe(C.hvm_memmap_table_entry.size);
    expect(XEN_HVM_START_MAGIC_VALUE).toBe(C.XEN_HVM_START_MAGIC_VALUE);
    expect({ ...MemmapType }).toEqual(C.memmapTypes);
  });

  it("encodeStartInfo gives the bytes the C compiler laid out", () => {
    const g = C.golden.startInfo;
    const bytes = encodeStartInfo({
      version: g["version"] as number,
      flags: g["flags"] as number,
      nrModules: g["nrModules"] as number,
      modlistPaddr: BigInt(g["modlistPaddr"] as string),
      cmdlinePaddr: BigInt(g["cmdlinePaddr"] as string),
      rsdpPaddr: BigInt(g["rsdpPaddr"] as string),
      memmapPaddr: BigInt(g["memmapPaddr"] as string),
      memmapEntries: g["memmapEntries"] as number,
    });
    expect(hex(bytes)).toBe(C.golden.startInfoBytes);
  });

  it("decodeStartInfo reads the C bytes", () => {
    const g = C.golden.startInfo;
    expect(decodeStartInfo(unhex(C.golden.startInfoBytes))).toEqual({
      version: g["version"],
      flags: g["flags"],
      nrModules: g["nrModules"],
      modlistPaddr: BigInt(g["modlistPaddr"] as string),
      cmdlinePaddr: BigInt(g["cmdlinePaddr"] as string),
      rsdpPaddr: BigInt(g["rsdpPaddr"] as string),
      memmapPaddr: BigInt(g["memmapPaddr"] as string),
      memmapEntries: g["memmapEntries"],
    });
  });

  it("module list and memory map bytes match the C bytes, both ways", () => {
    const m = C.golden.module;
    const mod = { paddr: BigInt(m["paddr"] as string), size: BigInt(m["size"] as string), cmdlinePaddr: BigInt(m["cmdlinePaddr"] as string) };
    expect(hex(encodeModlist([mod]))).toBe(C.golden.moduleBytes);
    expect(decodeModlist(unhex(C.golden.moduleBytes), 1)).toEqual([mod]);
    const mm = C.golden.memmap.map((e) => ({ addr: BigInt(e.addr), size: BigInt(e.size), type: e.type }));
    expect(hex(encodeMemmap(mm))).toBe(C.golden.memmapBytes);
    expect(decodeMemmap(unhex(C.golden.memmapBytes), 2)).toEqual(mm);
  });

  it("a worked example (128 MiB, no initrd)", () => {
    // The reference's hex dump, typed in line by line (its offsets 0x6000..0x6037: 56 bytes).
    const want = [
      "78 c5 6e 33 01 00 00 00 00 00 00 00 00 00 00 00", // magic, version=1, flags=0, nr_modules=0
      "00 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00", // modlist=0, cmdline=0x20000
      "00 00 00 00 00 00 00 00 00 70 00 00 00 00 00 00", // rsdp=0, memmap=0x7000
      "04 00 00 00 00 00 00 00", // memmap_entries=4, reserved=0
    ].join(" ").replaceAll(" ", "");
    expect(want.length).toBe(2 * 56);
    expect(hex(encodeStartInfo({ cmdlinePaddr: 0x20000, memmapPaddr: 0x7000, memmapEntries: 4 }))).toBe(want);
  });
});

describe("encode*Into and offsets", () => {
  it("writes at an offset inside a subarray and leaves the rest alone", () => {
    const backing = new Uint8Array(200).fill(0xaa);
    const out = backing.subarray(10, 190);
    expect(encodeStartInfoInto({ memmapEntries: 1 }, out, 4)).toBe(56);
    expect(backing[13]).toBe(0xaa);
    expect(backing[14]).toBe(0x78);
    expect(backing[14 + 56]).toBe(0xaa);
    expect(decodeStartInfo(out, 4).memmapEntries).toBe(1);
    expect(encodeModlistInto([{ paddr: 1, size: 2 }], out, 64)).toBe(32);
    expect(decodeModlist(out, 1, 64)).toEqual([{ paddr: 1n, size: 2n, cmdlinePaddr: 0n }]);
    expect(encodeMemmapInto([{ addr: 3, size: 4, type: 5 }], out, 100)).toBe(24);
    expect(decodeMemmap(out, 1, 100)).toEqual([{ addr: 3n, size: 4n, type: 5 }]);
  });
  it("no room is out-of-range", () => {
    expect(codeOf(() => encodeStartInfoInto({}, new Uint8Array(60), 5))).toBe("out-of-range");
    expect(codeOf(() => encodeStartInfoInto({}, new Uint8Array(60), 4))).toBe("no error");
    expect(codeOf(() => encodeModlistInto([{ paddr: 0, size: 0 }], new Uint8Array(31)))).toBe("out-of-range");
    expect(codeOf(() => encodeMemmapInto([{ addr: 0, size: 0, type: 1 }], new Uint8Array(23)))).toBe("out-of-range");
  });
});

describe("boundary tables", () => {
  const u32 = (field: string): [string, () => unknown, PvhErrorCode | "no error"][] => [
    [`${field} 0`, () => encodeStartInfo({ [field]: 0 }), field === "version" ? "out-of-range" : "no error"],
    [`${field} 1`, () => encodeStartInfo({ [field]: 1 }), "no error"],
    [`${field} 0xffffffff`, () => encodeStartInfo({ [field]: 0xffffffff }), "no error"],
    [`${field} 0x100000000`, () => encodeStartInfo({ [field]: 0x100000000 }), "out-of-range"],
    [`${field} -1`, () => encodeStartInfo({ [field]: -1 }), "out-of-range"],
    [`${field} 1.5`, () => encodeStartInfo({ [field]: 1.5 }), "out-of-range"],
    [`${field} "1"`, () => encodeStartInfo({ [field]: "1" as unknown as number }), "invalid-argument"],
  ];
  const u64 = (field: string): [string, () => unknown, PvhErrorCode | "no error"][] => [
    [`${field} 0`, () => encodeStartInfo({ [field]: 0 }), "no error"],
    [`${field} 1`, () => encodeStartInfo({ [field]: 1n }), "no error"],
    [`${field} 2^53-1 (number)`, () => encodeStartInfo({ [field]: Number.MAX_SAFE_INTEGER }), "no error"],
    [`${field} 2^53 (number)`, () => encodeStartInfo({ [field]: 2 ** 53 }), "out-of-range"],
    [`${field} 2^64-1`, () => encodeStartInfo({ [field]: (1n << 64n) - 1n }), "no error"],
    [`${field} 2^64`, () => encodeStartInfo({ [field]: 1n << 64n }), "out-of-range"],
    [`${field} -1n`, () => encodeStartInfo({ [field]: -1n }), "out-of-range"],
  ];
  const rows: [string, () => unknown, PvhErrorCode | "no error"][] = [
    ...u32("version"),
    ...u32("flags"),
    ...u32("nrModules"),
    ...u32("memmapEntries"),
    ...u64("modlistPaddr"),
    ...u64("cmdlinePaddr"),
    ...u64("rsdpPaddr"),
    ...u64("memmapPaddr"),
    ["decode 55 bytes", () => decodeStartInfo(new Uint8Array(encodeStartInfo({})).subarray(0, 55)), "truncated"],
    ["decode 56 bytes", () => decodeStartInfo(encodeStartInfo({})), "no error"],
    ["decode bad magic", () => { const b = encodeStartInfo({}); b[0] = 0x79; return decodeStartInfo(b); }, "bad-magic"],
    ["decode version 0", () => { const b = encodeStartInfo({}); b[4] = 0; return decodeStartInfo(b); }, "unsupported-version"],
    ["decode version 2", () => { const b = encodeStartInfo({}); b[4] = 2; return decodeStartInfo(b); }, "no error"],
    ["decode reserved 1", () => { const b = encodeStartInfo({}); b[52] = 1; return decodeStartInfo(b); }, "reserved-not-zero"],
    ["decode at offset past end", () => decodeStartInfo(encodeStartInfo({}), 1), "truncated"],
    ["decode not bytes", () => decodeStartInfo("x" as unknown as Uint8Array), "invalid-argument"],
    ["memmap 0 entries", () => encodeMemmap([]), "no error"],
    ["memmap 1 entry", () => encodeMemmap([{ addr: 0, size: 1, type: 1 }]), "no error"],
    [`memmap ${MAX_MEMMAP_ENTRIES} entries`, () => encodeMemmap(Array.from({ length: 127 }, (_, i) => ({ addr: i, size: 1, type: 1 }))), "no error"],
    ["memmap 128 entries", () => encodeMemmap(Array.from({ length: 128 }, (_, i) => ({ addr: i, size: 1, type: 1 }))), "too-many-entries"],
    ["memmap type 0xffffffff", () => encodeMemmap([{ addr: 0, size: 1, type: 0xffffffff }]), "no error"],
    ["memmap type 2^32", () => encodeMemmap([{ addr: 0, size: 1, type: 2 ** 32 }]), "out-of-range"],
    ["memmap addr 2^64", () => encodeMemmap([{ addr: 1n << 64n, size: 1, type: 1 }]), "out-of-range"],
    ["memmap decode 47 bytes for 2", () => decodeMemmap(new Uint8Array(47), 2), "truncated"],
    ["memmap decode reserved 1", () => decodeMemmap(new Uint8Array(24).fill(1, 20, 21), 1), "reserved-not-zero"],
    ["modlist decode 31 bytes", () => decodeModlist(new Uint8Array(31), 1), "truncated"],
    ["modlist decode reserved 1", () => decodeModlist(new Uint8Array(32).fill(1, 31), 1), "reserved-not-zero"],
    ["modlist size 2^64-1", () => encodeModlist([{ paddr: 0, size: (1n << 64n) - 1n }]), "no error"],
    ["modlist size 2^64", () => encodeModlist([{ paddr: 0, size: 1n << 64n }]), "out-of-range"],
    ["modlist not an array", () => encodeModlist({} as unknown as []), "invalid-argument"],
  ];
  it.each(rows)("%s", (_n, f, code) => {
    expect(codeOf(f)).toBe(code);
  });
});

describe("PvhError", () => {
  it("isPvhError checks name and code, not the class", () => {
    expect(isPvhError(new PvhError("truncated", "x"))).toBe(true);
    expect(isPvhError({ name: "PvhError", code: "truncated" })).toBe(true);
    expect(isPvhError({ name: "PvhError", code: "nope" })).toBe(false);
    expect(isPvhError(new Error("x"))).toBe(false);
    expect(isPvhError(null)).toBe(false);
  });
  it("messages name the field and the limit", () => {
    expect(() => encodeStartInfo({ flags: 2 ** 32 })).toThrow("startInfo.flags: expected 0..0xffffffff, got 4294967296");
    expect(() => encodeMemmap(new Array(128).fill({ addr: 0, size: 0, type: 1 }))).toThrow("memmap: expected at most 127 entries, got 128");
  });
});
