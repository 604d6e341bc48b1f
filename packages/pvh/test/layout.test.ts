import { beforeAll, describe, expect, it } from "vitest";
import {
  buildE820,
  decodeMemmap,
  decodeModlist,
  decodeStartInfo,
  layoutPvhBoot,
  MemmapType,
  pvhEntryState,
  readPvhKernel,
  type MemmapEntryInit,
  type PvhBootOptions,
  type PvhErrorCode,
  type PvhKernel,
} from "@microvm/pvh";
import { buildFixtures, readelfProgramHeaders, readelfSymbol, type Fixtures } from "./helpers/toolchain.ts";
import { codeOf } from "./helpers/codes.ts";


const RAM = MemmapType.RAM;
const RES = MemmapType.RESERVED;
const e = (addr: bigint, size: bigint, type: number): { addr: bigint; size: bigint; type: number } => ({ addr, size, type });

describe("buildE820", () => {
  it("microvm's machine: 5 GiB of RAM, the two legacy reserved ranges, the gap left out", () => {
    // Expected map written out by hand from docs/architecture.md §2.
    expect(
      buildE820({
        ram: [{ start: 0, size: 0x1_4000_0000 }],
        reserved: [{ start: 0x9fc00, size: 0x400 }, { start: 0xf0000, size: 0x10000 }],
      }),
    ).toEqual([
      e(0n, 0x9fc00n, RAM),
      e(0x9fc00n, 0x400n, RES),
      e(0xa0000n, 0x50000n, RAM),
      e(0xf0000n, 0x10000n, RES),
      e(0x100000n, 0xc0000000n - 0x100000n, RAM),
      e(0x1_0000_0000n, 0x4000_0000n, RAM),
    ]);
  });

  it("sorts, merges overlapping and adjacent RAM, drops empty ranges", () => {
    expect(
      buildE820({
        ram: [{ start: 0x3000, size: 0x1000 }, { start: 0, size: 0x2000 }, { start: 0x1000, size: 0x2000 }, { start: 0x9000, size: 0 }],
        mmioGap: null,
      }),
    ).toEqual([e(0n, 0x4000n, RAM)]);
  });

  it("reserved wins over RAM, stays inside the gap, and adjacent reserved ranges merge", () => {
    expect(
      buildE820({
        ram: [{ start: 0, size: 0x1_0000_0000n }],
        reserved: [{ start: 0xbfff0000, size: 0x20000 }, { start: 0xc0010000, size: 0x1000 }, { start: 0xeec00000, size: 0x10000000 }],
      }),
    ).toEqual([e(0n, 0xbfff0000n, RAM), e(0xbfff0000n, 0x21000n, RES), e(0xeec00000n, 0x10000000n, RES)]);
  });

  it("a range ending exactly at 2^64 is fine, one byte more is out-of-range", () => {
    expect(buildE820({ ram: [{ start: (1n << 64n) - 4096n, size: 4096 }] })).toEqual([e((1n << 64n) - 4096n, 4096n, RAM)]);
    expect(codeOf(() => buildE820({ ram: [{ start: (1n << 64n) - 4096n, size: 4097 }] }))).toBe("out-of-range");
  });

  it("boundary: 127 entries ok, 128 too many", () => {
    const ram = (n: number): { start: number; size: number }[] => Array.from({ length: n }, (_, i) => ({ start: i * 0x2000, size: 0x1000 }));
    expect(buildE820({ ram: ram(127) }).length).toBe(127);
    expect(codeOf(() => buildE820({ ram: ram(128) }))).toBe("too-many-entries");
    expect(buildE820({ ram: [] })).toEqual([]);
    expect(codeOf(() => buildE820({} as unknown as { ram: [] }))).toBe("invalid-argument");
  });
});

describe("pvhEntryState", () => {
  it("GDT descriptors equal Firecracker's pinned values", () => {
    // src/vmm/src/arch/x86_64/regs.rs tests : code 0xcf_9b00_0000_ffff,
    // data 0xcf_9300_0000_ffff, TSS 0x00_8b00_0000_0067. (The same section also spells the TSS value
    // "0x0000008b00000067", with the access byte in the base field: a typo; the access byte is byte 5,
    // Intel SDM vol. 3 §3.4.5, as in the pinned test value.)
    const s = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
    const dv = new DataView(s.gdt.bytes.buffer, s.gdt.bytes.byteOffset, s.gdt.bytes.byteLength);
    expect(s.gdt.bytes.length).toBe(32);
    expect(dv.getBigUint64(0, true)).toBe(0n);
    expect(dv.getBigUint64(8, true)).toBe(0x00cf9b000000ffffn);
    expect(dv.getBigUint64(16, true)).toBe(0x00cf93000000ffffn);
    expect(dv.getBigUint64(24, true)).toBe(0x00_8b00_0000_0067n);
    expect(s.gdt.bytes[5 + 24]).toBe(0x8b);
    expect(s.gdt.address).toBe(0x500n);
    expect(s.sregs.gdt).toEqual({ base: 0x500n, limit: 31 });
    expect(s.sregs.idt).toEqual({ base: 0n, limit: 0 });
  });

  it("registers: the PVH ABI (xen docs/misc/pvh.pandoc) and Firecracker's values", () => {
    const s = pvhEntryState({ entry: 0x1234567n, startInfo: 0x6000, gdtAddress: 0x800 });
    expect(s.regs.rip).toBe(0x1234567n);
    expect(s.regs.rbx).toBe(0x6000n);
    expect(s.regs.rflags).toBe(2n);
    expect(s.sregs.cr0).toBe(0x11n);
    expect(s.sregs.cr4).toBe(0n);
    expect(s.sregs.cr3).toBe(0n);
    expect(s.sregs.efer).toBe(0n);
    expect(s.sregs.gdt.base).toBe(0x800n);
    expect(s.gdt.address).toBe(0x800n);
    const others = Object.entries(s.regs).filter(([k]) => !["rip", "rbx", "rflags"].includes(k));
    expect(others.length).toBe(15);
    for (const [, v] of others) expect(v).toBe(0n);
  });

  it("segments: flat 32-bit code, flat writable data in DS/ES/SS, a busy 32-bit TSS", () => {
    const s = pvhEntryState({ entry: 0x100000, startInfo: 0x6000 }).sregs;
    expect(s.cs).toEqual({ base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 });
    for (const seg of [s.ds, s.es, s.ss, s.fs, s.gs])
      expect(seg).toEqual({ base: 0n, limit: 0xffffffff, selector: 0x10, type: 3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 });
    expect(s.tr).toEqual({ base: 0n, limit: 0x67, selector: 0x18, type: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 });
    expect(s.ldt.unusable).toBe(1);
  });

  it("boundary: entry, start_info and GDT below 4 GiB", () => {
    expect(codeOf(() => pvhEntryState({ entry: 0xffffffff, startInfo: 0xffffffff, gdtAddress: 0x1_0000_0000 - 32 }))).toBe("no error");
    expect(codeOf(() => pvhEntryState({ entry: 0x1_0000_0000, startInfo: 0 }))).toBe("address-limit");
    expect(codeOf(() => pvhEntryState({ entry: 0, startInfo: 0x1_0000_0000 }))).toBe("address-limit");
    expect(codeOf(() => pvhEntryState({ entry: 0, startInfo: 0, gdtAddress: 0x1_0000_0000 - 31 }))).toBe("address-limit");
    expect(codeOf(() => pvhEntryState({ entry: "1" as unknown as number, startInfo: 0 }))).toBe("invalid-argument");
  });
});

let fx: Fixtures;
let k64: PvhKernel;
beforeAll(() => {
  fx = buildFixtures();
  k64 = readPvhKernel(fx.k64.bytes);
});

// RAM [0, 3 GiB) with microvm's two reserved ranges, written out by hand.
const MAP: MemmapEntryInit[] = [
  { addr: 0, size: 0x9fc00, type: RAM },
  { addr: 0x9fc00, size: 0x400, type: RES },
  { addr: 0xa0000, size: 0x50000, type: RAM },
  { addr: 0xf0000, size: 0x10000, type: RES },
  { addr: 0x100000, size: 0xc0000000 - 0x100000, type: RAM },
];

describe("layoutPvhBoot", () => {
  it("default addresses, with the real 64-bit fixture", () => {
    const initrd = new Uint8Array(0x1234).fill(7);
    const l = layoutPvhBoot({ kernel: k64, memmap: MAP, cmdline: "console=ttyS0 reboot=t", initrd, rsdpAddress: 0xe0000 });
    const by = Object.fromEntries(l.placements.map((p) => [p.name, p]));
    expect(by["start_info"]?.address).toBe(0x6000n);
    expect(by["modlist"]?.address).toBe(0x6040n);
    expect(by["memmap"]?.address).toBe(0x7000n);
    expect(by["cmdline"]?.address).toBe(0x20000n);
    expect(by["gdt"]?.address).toBe(0x500n);
    // Top of RAM below the gap, 4 KiB-aligned: 0xc0000000 - 0x2000.
    expect(by["initrd"]?.address).toBe(0xbfffe000n);
    expect(by["initrd"]?.bytes).toBe(initrd);
    expect(Buffer.from(by["cmdline"]?.bytes ?? []).toString("latin1")).toBe("console=ttyS0 reboot=t\0");

    const si = decodeStartInfo(by["start_info"]?.bytes ?? new Uint8Array());
    expect(si).toEqual({
      version: 1, flags: 0, nrModules: 1, modlistPaddr: 0x6040n, cmdlinePaddr: 0x20000n,
      rsdpPaddr: 0xe0000n, memmapPaddr: 0x7000n, memmapEntries: 5,
    });
    expect(l.startInfo).toEqual(si);
    expect(decodeModlist(by["modlist"]?.bytes ?? new Uint8Array(), 1)).toEqual([{ paddr: 0xbfffe000n, size: 0x1234n, cmdlinePaddr: 0n }]);
    expect(decodeMemmap(by["memmap"]?.bytes ?? new Uint8Array(), 5)).toEqual(MAP.map((m) => ({ addr: BigInt(m.addr), size: BigInt(m.size), type: m.type })));

    // Segments come first, at p_paddr, with their BSS in size.
    const segs = l.placements.filter((p) => p.kind === "segment");
    expect(segs.map((p) => p.address)).toEqual([0x1000000n, 0x1001000n, 0x1102000n]);
    expect(segs[1]?.size).toBe(0x100020n);
    expect(l.entry.regs.rip).toBe(readelfSymbol(fx.k64.path, "pvh_start") - 0xffffffff80000000n);
    expect(l.entry.regs.rbx).toBe(0x6000n);
    expect(l.startInfoAddress).toBe(0x6000n);
  });

  it("cmdline bytes with or without their NUL give the same placement", () => {
    const a = layoutPvhBoot({ ...base, cmdline: new Uint8Array([0x61, 0x62]) });
    const b = layoutPvhBoot({ ...base, cmdline: new Uint8Array([0x61, 0x62, 0]) });
    const c = (l: typeof a): number[] => [...(l.placements.find((p) => p.kind === "cmdline")?.bytes ?? [])];
    expect(c(a)).toEqual([0x61, 0x62, 0]);
    expect(c(b)).toEqual([0x61, 0x62, 0]);
  });

  it("without cmdline or initrd: cmdline_paddr 0, no modules, no modlist placement", () => {
    const l = layoutPvhBoot({ kernel: k64, memmap: MAP });
    expect(l.startInfo.cmdlinePaddr).toBe(0n);
    expect(l.startInfo.nrModules).toBe(0);
    expect(l.startInfo.modlistPaddr).toBe(0n);
    expect(l.placements.map((p) => p.kind).sort()).toEqual(["gdt", "memmap", "segment", "segment", "segment", "start_info"]);
  });

  it("chosen addresses are used", () => {
    const l = layoutPvhBoot({
      kernel: k64, memmap: MAP, cmdline: "x", initrd: new Uint8Array(10), initrdAddress: 0x4000000,
      addresses: { startInfo: 0x8000, modlist: 0x8100, memmap: 0x9000, cmdline: 0x30000, gdt: 0x1000 },
    });
    const at = Object.fromEntries(l.placements.map((p) => [p.name, p.address]));
    expect(at).toMatchObject({ start_info: 0x8000n, modlist: 0x8100n, memmap: 0x9000n, cmdline: 0x30000n, gdt: 0x1000n, initrd: 0x4000000n });
    expect(l.entry.sregs.gdt.base).toBe(0x1000n);
  });

  it("default initrd goes below whatever occupies the top of RAM", () => {
    const l = layoutPvhBoot({ kernel: k64, memmap: MAP, initrd: new Uint8Array(0x1000), occupied: [{ name: "fw", start: 0xbff00000, size: 0x100000 }] });
    expect(l.placements.find((p) => p.kind === "initrd")?.address).toBe(0xbff00000n - 0x1000n);
  });

  const bigRam: MemmapEntryInit[] = [{ addr: 0, size: 0x2_0000_0000n, type: RAM }];
  const base: PvhBootOptions = { kernel: { entry: 0x100000n, segments: [] }, memmap: bigRam };
  const rows: [string, PvhBootOptions, PvhErrorCode | "no error"][] = [
    ["memmap 0 entries", { ...base, memmap: [] }, "out-of-range"],
    ["memmap 1 entry", base, "no error"],
    ["memmap 127 entries", { ...base, memmap: [...bigRam, ...Array.from({ length: 126 }, (_, i) => ({ addr: 0x3_0000_0000 + i * 0x1000, size: 0x1000, type: RES }))] }, "no error"],
    ["memmap 128 entries", { ...base, memmap: [...bigRam, ...Array.from({ length: 127 }, (_, i) => ({ addr: 0x3_0000_0000 + i * 0x1000, size: 0x1000, type: RES }))] }, "too-many-entries"],
    ["cmdline empty (1 byte with NUL)", { ...base, cmdline: "" }, "no error"],
    ["cmdline 2047 bytes + NUL = 2048", { ...base, cmdline: "a".repeat(2047) }, "no error"],
    ["cmdline 2048 bytes + NUL = 2049", { ...base, cmdline: "a".repeat(2048) }, "cmdline-too-long"],
    ["cmdline 2048 bytes as Uint8Array", { ...base, cmdline: new Uint8Array(2048).fill(0x61) }, "cmdline-too-long"],
    ["cmdline with NUL", { ...base, cmdline: "a\0b" }, "invalid-argument"],
    ["cmdline bytes 2048 ending in NUL", { ...base, cmdline: new Uint8Array(2048).fill(0x61, 0, 2047) }, "no error"],
    ["cmdline bytes 2049 ending in NUL", { ...base, cmdline: new Uint8Array(2049).fill(0x61, 0, 2048) }, "cmdline-too-long"],
    ["cmdline bytes with NUL inside", { ...base, cmdline: new Uint8Array([0x61, 0, 0x62]) }, "invalid-argument"],
    ["cmdline bytes 2047 without NUL", { ...base, cmdline: new Uint8Array(2047).fill(0x61) }, "no error"],
    ["cmdline non-ASCII", { ...base, cmdline: "é" }, "invalid-argument"],
    ["start_info ends at 1 GiB", { ...base, addresses: { startInfo: 0x4000_0000 - 56 } }, "no error"],
    ["start_info ends at 1 GiB + 1", { ...base, addresses: { startInfo: 0x4000_0000 - 55 } }, "address-limit"],
    ["memmap ends at 1 GiB", { ...base, addresses: { memmap: 0x4000_0000 - 24 } }, "no error"],
    ["memmap ends at 1 GiB + 1", { ...base, addresses: { memmap: 0x4000_0000 - 23 } }, "address-limit"],
    ["modlist ends at 1 GiB", { ...base, initrd: new Uint8Array(1), initrdAddress: 0x5000_0000, addresses: { modlist: 0x4000_0000 - 32 } }, "no error"],
    ["modlist ends at 1 GiB + 1", { ...base, initrd: new Uint8Array(1), initrdAddress: 0x5000_0000, addresses: { modlist: 0x4000_0000 - 31 } }, "address-limit"],
    ["cmdline ends at 4 GiB", { ...base, cmdline: "abc", addresses: { cmdline: 0x1_0000_0000 - 4 } }, "no error"],
    ["cmdline ends at 4 GiB + 1", { ...base, cmdline: "abc", addresses: { cmdline: 0x1_0000_0000 - 3 } }, "address-limit"],
    ["initrd ends at 4 GiB", { ...base, initrd: new Uint8Array(16), initrdAddress: 0x1_0000_0000 - 16 }, "no error"],
    ["initrd ends at 4 GiB + 1", { ...base, initrd: new Uint8Array(16), initrdAddress: 0x1_0000_0000 - 15 }, "address-limit"],
    ["default initrd when RAM is only above 4 GiB", { ...base, memmap: [{ addr: 0, size: 0x10_0000, type: RAM }, { addr: 0x1_0000_0000, size: 0x1000_0000, type: RAM }], initrd: new Uint8Array(0x100000) }, "outside-ram"],
    ["cmdline on start_info", { ...base, cmdline: "abc", addresses: { cmdline: 0x6000 + 55 } }, "placements-overlap"],
    ["cmdline just after start_info", { ...base, cmdline: "abc", addresses: { cmdline: 0x6000 + 56 } }, "no error"],
    ["memmap on the GDT", { ...base, addresses: { memmap: 0x500 + 31 } }, "placements-overlap"],
    ["initrd on a kernel segment", { ...base, kernel: { entry: 0x100000n, segments: [{ index: 0, paddr: 0x100000n, vaddr: 0n, offset: 0, bytes: new Uint8Array(4), memsz: 0x1000n, flags: 5 }] }, initrd: new Uint8Array(16), initrdAddress: 0x100ff0 }, "placements-overlap"],
    ["initrd just after a kernel segment's BSS", { ...base, kernel: { entry: 0x100000n, segments: [{ index: 0, paddr: 0x100000n, vaddr: 0n, offset: 0, bytes: new Uint8Array(4), memsz: 0x1000n, flags: 5 }] }, initrd: new Uint8Array(16), initrdAddress: 0x101000 }, "no error"],
    ["start_info on an occupied region", { ...base, occupied: [{ name: "mptable", start: 0x6030, size: 16 }] }, "placements-overlap"],
    ["memmap in a reserved entry", { ...base, memmap: MAP, addresses: { memmap: 0x9fc00 } }, "outside-ram"],
    ["memmap straddling RAM and reserved", { ...base, memmap: MAP, addresses: { memmap: 0x9fc00 - 8 } }, "outside-ram"],
    ["start_info above the end of RAM", { ...base, memmap: [{ addr: 0x100000, size: 0x100000, type: RAM }] }, "outside-ram"],
    ["RAM split into adjacent entries still holds a placement across the seam", { ...base, memmap: [{ addr: 0, size: 0x6010, type: RAM }, { addr: 0x6010, size: 0x1_0000_0000n, type: RAM }] }, "no error"],
    ["entry above 4 GiB", { ...base, kernel: { entry: 0x1_0000_0000n, segments: [] } }, "address-limit"],
    ["options not an object", null as unknown as PvhBootOptions, "invalid-argument"],
  ];
  it.each(rows)("boundary/rejection: %s", (_n, opts, code) => {
    expect(codeOf(() => layoutPvhBoot(opts))).toBe(code);
  });

  it("placements returned are pairwise disjoint", () => {
    const l = layoutPvhBoot({ kernel: k64, memmap: MAP, cmdline: "a", initrd: new Uint8Array(100) });
    const spans = l.placements.map((p) => [p.address, p.address + p.size] as const);
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length; j++) {
        const [a0, a1] = spans[i] ?? [0n, 0n];
        const [b0, b1] = spans[j] ?? [0n, 0n];
        expect(a1 <= b0 || b1 <= a0).toBe(true);
      }
  });
});

describe("a guest's view of the placed boot (placements written into a RAM image)", () => {
  it("start_info at rbx leads to the memory map, command line and initrd; segments and BSS are right; the GDT matches the segment registers", () => {
    const RAM_SIZE = 0x2000000;
    const memmap: MemmapEntryInit[] = [
      { addr: 0, size: 0x9fc00, type: RAM },
      { addr: 0x9fc00, size: 0x400, type: RES },
      { addr: 0x100000, size: RAM_SIZE - 0x100000, type: RAM },
    ];
    const initrd = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    const l = layoutPvhBoot({ kernel: k64, memmap, cmdline: "console=ttyS0 quiet", initrd, initrdAddress: 0x1800000 });
    const ram = new Uint8Array(RAM_SIZE).fill(0xcc); // not zero, so a missing BSS fill shows
    for (const p of l.placements) {
      const at = Number(p.address);
      ram.set(p.bytes, at);
      ram.fill(0, at + p.bytes.length, at + Number(p.size));
    }
    const dv = new DataView(ram.buffer);
    const u64 = (a: number): number => Number(dv.getBigUint64(a, true));
    // What Linux's PVH entry and init_pvh_bootparams() read, at the offsets of start_info.h.
    const si = Number(l.entry.regs.rbx);
    expect(dv.getUint32(si, true)).toBe(0x336ec578);
    expect(dv.getUint32(si + 4, true)).toBe(1);
    const n = dv.getUint32(si + 48, true);
    const mm = u64(si + 40);
    expect(n).toBe(3);
    for (let i = 0; i < n; i++) {
      const want = memmap[i];
      expect([u64(mm + i * 24), u64(mm + i * 24 + 8), dv.getUint32(mm + i * 24 + 16, true)]).toEqual([want?.addr, want?.size, want?.type]);
    }
    const cmd = u64(si + 24);
    const end = ram.indexOf(0, cmd);
    expect(Buffer.from(ram.subarray(cmd, end)).toString("latin1")).toBe("console=ttyS0 quiet");
    expect(dv.getUint32(si + 12, true)).toBe(1);
    const mod = u64(si + 16);
    const [ip, isz] = [u64(mod), u64(mod + 8)];
    expect(Buffer.from(ram.subarray(ip, ip + isz)).equals(Buffer.from(initrd))).toBe(true);

    // Kernel segments, judged by readelf's program headers: file bytes at p_paddr, zeros after.
    for (const p of readelfProgramHeaders(fx.k64.path).filter((h) => h.type === "LOAD" && h.memsz > 0n)) {
      const [pa, off, fs, ms] = [Number(p.paddr), Number(p.offset), Number(p.filesz), Number(p.memsz)];
      expect(Buffer.from(ram.subarray(pa, pa + fs)).equals(Buffer.from(fx.k64.bytes.subarray(off, off + fs)))).toBe(true);
      expect(ram.subarray(pa + fs, pa + ms).every((b) => b === 0)).toBe(true);
    }

    // The descriptor each selector points at decodes (Intel SDM vol. 3 §3.4.5) to the cached state.
    const gdt = Number(l.entry.sregs.gdt.base);
    for (const seg of [l.entry.sregs.cs, l.entry.sregs.ds, l.entry.sregs.ss, l.entry.sregs.tr]) {
      const d = dv.getBigUint64(gdt + seg.selector, true);
      const limit20 = Number((d & 0xffffn) | ((d >> 32n) & 0xf0000n));
      const g = Number((d >> 55n) & 1n);
      expect(Number((d >> 16n) & 0xffffffn) | (Number((d >> 56n) & 0xffn) << 24)).toBe(Number(seg.base));
      expect(g ? limit20 * 4096 + 4095 : limit20).toBe(seg.limit);
      expect(Number((d >> 40n) & 0xfn)).toBe(seg.type);
      expect(Number((d >> 44n) & 1n)).toBe(seg.s);
      expect(Number((d >> 47n) & 1n)).toBe(seg.present);
      expect(Number((d >> 54n) & 1n)).toBe(seg.db);
      expect(g).toBe(seg.g);
    }
    expect(l.entry.sregs.gdt.limit + 1).toBe(32);
  });
});
