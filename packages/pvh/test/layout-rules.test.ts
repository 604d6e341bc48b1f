// layoutPvhBoot, buildE820 and pvhEntryState at their edges: the message (field, range, limit)
// of each rejection, placement order, RAM runs built from unsorted or nested entries, zero-size
// regions, and where the default initrd goes when the top of RAM is taken or too small.
import { describe, expect, it } from "vitest";
import {
  buildE820,
  layoutPvhBoot,
  MemmapType,
  pvhEntryState,
  type MemmapEntryInit,
  type PvhBootOptions,
  type PvhSegment,
} from "@microvm/pvh";

import { err, thrown } from "./helpers/codes.ts";

const RAM = MemmapType.RAM;
const RES = MemmapType.RESERVED;
const bigRam: MemmapEntryInit[] = [{ addr: 0, size: 0x2_0000_0000n, type: RAM }];
const base: PvhBootOptions = { kernel: { entry: 0x100000n, segments: [] }, memmap: bigRam };
const seg = (over: Record<string, unknown>): PvhSegment =>
  ({ index: 0, paddr: 0x100000n, vaddr: 0n, offset: 0, bytes: new Uint8Array(4), memsz: 0x1000n, flags: 5, ...over }) as PvhSegment;
const withSegs = (...s: PvhSegment[]): PvhBootOptions => ({ ...base, kernel: { entry: 0x100000n, segments: s } });
const at = (opts: PvhBootOptions, name: string): bigint | undefined => layoutPvhBoot(opts).placements.find((p) => p.name === name)?.address;

describe("layoutPvhBoot: messages", () => {
  const rows: [string, PvhBootOptions, ReturnType<typeof thrown>][] = [
    ["options null", null as never, err("invalid-argument", "options: expected an object, got null")],
    ["kernel missing", { memmap: bigRam } as never, err("invalid-argument", "options.kernel: expected an object, got undefined")],
    ["segments not an array", { ...base, kernel: { entry: 0x100000n } } as never, err("invalid-argument", "options.kernel.segments: expected an array, got undefined")],
    ["memmap not an array", { ...base, memmap: 5 } as never, err("invalid-argument", "options.memmap: expected an array, got number")],
    ["memmap empty", { ...base, memmap: [] }, err("out-of-range", "memmap: expected 1..127 entries, got 0 (Linux needs a memory map outside Xen)")],
    ["addresses a number", { ...base, addresses: 5 } as never, err("invalid-argument", "options.addresses: expected an object, got number")],
    ["addresses.cmdline -1", { ...base, cmdline: "x", addresses: { cmdline: -1 } }, err("out-of-range", "addresses.cmdline: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["segment null", withSegs(null as never), err("invalid-argument", "kernel.segments[0]: expected an object, got null")],
    ["segment 1 without bytes", withSegs(seg({}), seg({ paddr: 0x200000n, bytes: undefined })), err("invalid-argument", "kernel.segments[1].bytes: expected a Uint8Array, got undefined")],
    ["segment index -1", withSegs(seg({ index: -1 })), err("out-of-range", "kernel.segments[0].index: expected 0..0xffff, got -1")],
    ["segment memsz a string", withSegs(seg({ memsz: "1" })), err("invalid-argument", "kernel.segments[0].memsz: expected a number or a bigint, got string")],
    ["segment memsz below its bytes", withSegs(seg({ memsz: 3n })), err("out-of-range", "kernel.segments[0].memsz: expected at least its 4 file bytes, got 3")],
    ["segment memsz equal to its bytes", withSegs(seg({ memsz: 4n })), "no error"],
    ["segment paddr -1n", withSegs(seg({ paddr: -1n })), err("out-of-range", "kernel.segments[0].paddr: expected 0..0xffffffffffffffff, got -0x1")],
    ["initrd a string", { ...base, initrd: "x" } as never, err("invalid-argument", "initrd: expected a Uint8Array, got string")],
    ["initrdAddress -1", { ...base, initrd: new Uint8Array(1), initrdAddress: -1 }, err("out-of-range", "initrdAddress: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["rsdpAddress a string", { ...base, rsdpAddress: "1" } as never, err("invalid-argument", "rsdpAddress: expected a number or a bigint, got string")],
    ["cmdline a number", { ...base, cmdline: 5 } as never, err("invalid-argument", "cmdline: expected a string or a Uint8Array, got number")],
    ["cmdline an array", { ...base, cmdline: [0x61] } as never, err("invalid-argument", "cmdline: expected a string or a Uint8Array, got object")],
    ["cmdline non-ASCII at 1", { ...base, cmdline: "aé" }, err("invalid-argument", "cmdline: expected ASCII without NUL, got code 0xe9 at index 1")],
    ["cmdline NUL at 0", { ...base, cmdline: "\0" }, err("invalid-argument", "cmdline: expected ASCII without NUL, got code 0x0 at index 0")],
    ["cmdline DEL (0x7f) is ASCII", { ...base, cmdline: "a\x7f" }, "no error"],
    ["cmdline bytes NUL at 0", { ...base, cmdline: new Uint8Array([0, 0x61]) }, err("invalid-argument", "cmdline: expected no NUL before the end, got NUL at index 0")],
    ["cmdline bytes NUL at 0 and at the end", { ...base, cmdline: new Uint8Array([0, 0]) }, err("invalid-argument", "cmdline: expected no NUL before the end, got NUL at index 0")],
    ["cmdline bytes empty", { ...base, cmdline: new Uint8Array(0) }, "no error"],
    ["cmdline 2048 + NUL", { ...base, cmdline: "a".repeat(2048) }, err("cmdline-too-long", "cmdline: expected at most 2048 bytes with its NUL, got 2049")],
    ["start_info over 1 GiB", { ...base, addresses: { startInfo: 0x4000_0000 - 55 } }, err("address-limit", "start_info: expected [0x3fffffc9, 0x40000001) to end at or below 1 GiB")],
    ["modlist over 1 GiB", { ...base, initrd: new Uint8Array(1), initrdAddress: 0x5000_0000, addresses: { modlist: 0x4000_0000 - 31 } }, err("address-limit", "modlist: expected [0x3fffffe1, 0x40000001) to end at or below 1 GiB")],
    ["cmdline over 4 GiB", { ...base, cmdline: "abc", addresses: { cmdline: 0x1_0000_0000 - 3 } }, err("address-limit", "cmdline: expected [0xfffffffd, 0x100000001) to end at or below 4 GiB")],
    ["start_info at 0, RAM from 0x1000", { ...base, memmap: [{ addr: 0x1000, size: 0x1_0000_0000, type: RAM }], addresses: { startInfo: 0, gdt: 0x2000 } }, err("outside-ram", "start_info: [0x0, 0x38) is not inside one RAM entry of the memory map")],
    ["memmap on the GDT", { ...base, addresses: { memmap: 0x510 } }, err("placements-overlap", "gdt [0x500, 0x520) overlaps memmap [0x510, 0x528)")],
    ["an occupied region starting with start_info", { ...base, occupied: [{ name: "fw", start: 0x6000, size: 8 }] }, err("placements-overlap", "start_info [0x6000, 0x6038) overlaps fw [0x6000, 0x6008)")],
    ["an unnamed occupied region", { ...base, occupied: [{ start: 0x6030, size: 16 } as never] }, err("placements-overlap", "start_info [0x6000, 0x6038) overlaps occupied[0] [0x6030, 0x6040)")],
    ["an occupied region named by a number", { ...base, occupied: [{ name: "empty", start: 0, size: 0 }, { name: 7, start: 0x6030, size: 16 } as never] }, err("placements-overlap", "start_info [0x6000, 0x6038) overlaps occupied[1] [0x6030, 0x6040)")],
    ["occupied not an array", { ...base, occupied: {} } as never, err("invalid-argument", "occupied: expected an array, got Object")],
    ["occupied[0] a number", { ...base, occupied: [5] } as never, err("invalid-argument", "occupied[0]: expected an object, got number")],
    ["occupied[0].start -1", { ...base, occupied: [{ name: "x", start: -1, size: 1 }] }, err("out-of-range", "occupied[0].start: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["occupied[0].size missing", { ...base, occupied: [{ name: "x", start: 1 }] } as never, err("invalid-argument", "occupied[0].size: expected a number or a bigint, got undefined")],
    ["a zero-size occupied region inside start_info", { ...base, occupied: [{ name: "marker", start: 0x6010, size: 0 }] }, "no error"],
    ["a zero-size segment outside RAM", withSegs(seg({ paddr: 0x10_0000_0000n, bytes: new Uint8Array(0), memsz: 0n })), "no error"],
    ["an empty initrd outside RAM", { ...base, memmap: [{ addr: 0, size: 0x4000_0000, type: RAM }], initrd: new Uint8Array(0), initrdAddress: 0x8000_0000 }, "no error"],
    ["a placement starting where RAM starts", { ...base, memmap: [{ addr: 0x500, size: 0x1_0000_0000, type: RAM }] }, "no error"],
    ["RAM entries out of order, adjacent", { ...base, memmap: [{ addr: 0x10000, size: 0x1_0000_0000, type: RAM }, { addr: 0, size: 0x10000, type: RAM }] }, "no error"],
    ["a RAM entry inside another does not shorten it", { ...base, memmap: [{ addr: 0, size: 0x1_0000_0000, type: RAM }, { addr: 0x1000, size: 0x1000, type: RAM }] }, "no error"],
    ["RAM given with a bigint type", { ...base, memmap: [{ addr: 0, size: 0x1_0000_0000, type: 1n as never }] }, "no error"],
    ["a reserved entry is not RAM", { ...base, memmap: [{ addr: 0, size: 0x1_0000_0000, type: RES }] }, err("outside-ram", "gdt: [0x500, 0x520) is not inside one RAM entry of the memory map")],
  ];
  it.each(rows)("%s", (_n, opts, want) => {
    expect(thrown(() => layoutPvhBoot(opts))).toEqual(want);
  });

  it("a segment is named by its index, or by its position without one", () => {
    const l = layoutPvhBoot(withSegs(seg({ index: 5 }), seg({ index: undefined, paddr: 0x200000n })));
    expect(l.placements.filter((p) => p.kind === "segment").map((p) => p.name)).toEqual(["segment 5", "segment 1"]);
    expect(thrown(() => layoutPvhBoot({ ...withSegs(seg({ index: 3 })), addresses: { memmap: 0x100ff0 } }))).toEqual(
      err("placements-overlap", "segment 3 [0x100000, 0x101000) overlaps memmap [0x100ff0, 0x101008)"),
    );
  });

  it("placements: segments in their order, then the structures by address", () => {
    const l = layoutPvhBoot({
      ...withSegs(seg({ index: 1, paddr: 0x300000n }), seg({ index: 0, paddr: 0x200000n })),
      cmdline: "x",
      initrd: new Uint8Array(16),
    });
    expect(l.placements.map((p) => [p.kind, p.name, p.address])).toEqual([
      ["segment", "segment 1", 0x300000n],
      ["segment", "segment 0", 0x200000n],
      ["gdt", "gdt", 0x500n],
      ["start_info", "start_info", 0x6000n],
      ["modlist", "modlist", 0x6040n],
      ["memmap", "memmap", 0x7000n],
      ["cmdline", "cmdline", 0x20000n],
      ["initrd", "initrd", 0xfffff000n],
    ]);
  });
  it("an empty initrd at start_info's address: both kept, in the order they were placed", () => {
    const l = layoutPvhBoot({ ...base, initrd: new Uint8Array(0), initrdAddress: 0x6000 });
    expect(l.placements.map((p) => [p.name, p.address])).toEqual([
      ["gdt", 0x500n],
      ["initrd", 0x6000n],
      ["start_info", 0x6000n],
      ["modlist", 0x6040n],
      ["memmap", 0x7000n],
    ]);
  });
});

describe("layoutPvhBoot: where the default initrd goes", () => {
  const MAP3G: MemmapEntryInit[] = [{ addr: 0, size: 0xc000_0000, type: RAM }];
  it("a zero-size occupied region at the top does not move it", () => {
    expect(at({ ...base, memmap: MAP3G, initrd: new Uint8Array(0x1000), occupied: [{ name: "mark", start: 0xbfffff00, size: 0 }] }, "initrd")).toBe(0xbffff000n);
  });
  it("a region ending exactly where it would start does not move it", () => {
    expect(at({ ...base, memmap: MAP3G, initrd: new Uint8Array(0x1000), occupied: [{ name: "fw", start: 0xbfff0000, size: 0xf000 }] }, "initrd")).toBe(0xbffff000n);
  });
  it("a region one byte into it moves it below that region", () => {
    expect(at({ ...base, memmap: MAP3G, initrd: new Uint8Array(0x1000), occupied: [{ name: "fw", start: 0xbfff0000, size: 0xf001 }] }, "initrd")).toBe(0xbffef000n);
  });

  it("it stays off start_info and the module list, placed after it", () => {
    const low: MemmapEntryInit[] = [{ addr: 0, size: 0x1000_0000, type: RAM }];
    const initrd = new Uint8Array(0x1000);
    expect(at({ ...base, memmap: low, initrd }, "initrd")).toBe(0x0ffff000n);
    expect(at({ ...base, memmap: low, initrd, addresses: { modlist: 0x0fff_ffe0 } }, "initrd")).toBe(0x0fffe000n);
    expect(at({ ...base, memmap: low, initrd, addresses: { startInfo: 0x0fff_ffc8 } }, "initrd")).toBe(0x0fffe000n);
  });

  // Two RAM runs: a small one at 0 and one just big enough for the boot structures.
  const twoRuns = (low: number, initrd: number): PvhBootOptions => ({
    ...base,
    memmap: [{ addr: 0, size: low, type: RAM }, { addr: 0x100000, size: 0x3000, type: RAM }],
    addresses: { gdt: 0x100000, startInfo: 0x101000, modlist: 0x101100, memmap: 0x102000 },
    initrd: new Uint8Array(initrd),
  });
  it("it fills a RAM run exactly, from the run's start", () => {
    expect(at(twoRuns(0x8000, 0x8000), "initrd")).toBe(0n);
  });
  it("it does not go into a hole below a run", () => {
    expect(thrown(() => layoutPvhBoot(twoRuns(0x8000, 0x8001)))).toEqual(err("outside-ram", "initrd: no RAM below 4 GiB has 32769 free bytes"));
  });
  it("a run smaller than it, by less than a page, is not used", () => {
    expect(thrown(() => layoutPvhBoot(twoRuns(0x800, 0x900)))).toEqual(err("outside-ram", "initrd: no RAM below 4 GiB has 2304 free bytes"));
  });
});

describe("buildE820: messages and edges", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["options null", () => buildE820(null as never), err("invalid-argument", "options: expected an object, got null")],
    ["ram missing", () => buildE820({} as never), err("invalid-argument", "ram: expected an array, got undefined")],
    ["ram[1] null", () => buildE820({ ram: [{ start: 0, size: 1 }, null as never] }), err("invalid-argument", "ram[1]: expected an object, got null")],
    ["ram[0].start -1", () => buildE820({ ram: [{ start: -1, size: 1 }] }), err("out-of-range", "ram[0].start: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["ram[0].size a string", () => buildE820({ ram: [{ start: 0, size: "1" as never }] }), err("invalid-argument", "ram[0].size: expected a number or a bigint, got string")],
    ["ram[0] past 2^64", () => buildE820({ ram: [{ start: (1n << 64n) - 1n, size: 2 }] }), err("out-of-range", "ram[0]: start + size must be at most 2^64, got 0x10000000000000001")],
    ["reserved not an array", () => buildE820({ ram: [], reserved: 1 as never }), err("invalid-argument", "reserved: expected an array, got number")],
    ["reserved[0].start missing", () => buildE820({ ram: [], reserved: [{ size: 1 } as never] }), err("invalid-argument", "reserved[0].start: expected a number or a bigint, got undefined")],
    ["mmioGap.size -1", () => buildE820({ ram: [], mmioGap: { start: 0, size: -1 } }), err("out-of-range", "mmioGap.size: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["mmioGap a number", () => buildE820({ ram: [], mmioGap: 5 as never }), err("invalid-argument", "mmioGap: expected an object, got number")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  it("no ranges at all, or only empty ones, give an empty map", () => {
    expect(buildE820({ ram: [], mmioGap: null })).toEqual([]);
    expect(buildE820({ ram: [{ start: 0x1000, size: 0 }], reserved: [{ start: 0, size: 0 }], mmioGap: null })).toEqual([]);
  });

  it("mmioGap null keeps RAM across 3-4 GiB; a chosen gap is left out instead of the default", () => {
    const ram = [{ start: 0, size: 0x1_0000_0000 }];
    expect(buildE820({ ram, mmioGap: null })).toEqual([{ addr: 0n, size: 0x1_0000_0000n, type: RAM }]);
    expect(buildE820({ ram, mmioGap: { start: 0xe000_0000, size: 0x1000_0000 } })).toEqual([
      { addr: 0n, size: 0xe000_0000n, type: RAM },
      { addr: 0xf000_0000n, size: 0x1000_0000n, type: RAM },
    ]);
    expect(buildE820({ ram })).toEqual([{ addr: 0n, size: 0xc000_0000n, type: RAM }]);
  });

  it("128 entries after merging is too many, and the message says so", () => {
    const reserved = Array.from({ length: 64 }, (_, i) => ({ start: i * 0x2000, size: 0x1000 }));
    expect(thrown(() => buildE820({ ram: [{ start: 0, size: 0x80000 }], reserved }))).toEqual(err("too-many-entries", "memmap: expected at most 127 entries, got 128"));
    expect(buildE820({ ram: [{ start: 0, size: 0x7f000 }], reserved }).length).toBe(127);
  });
});

describe("pvhEntryState: messages", () => {
  const rows: [string, unknown, ReturnType<typeof thrown>][] = [
    ["init null", null, err("invalid-argument", "init: expected an object, got null")],
    ["entry at 4 GiB", { entry: 0x1_0000_0000n, startInfo: 0 }, err("address-limit", "entry: expected [0x100000000, 0x100000001) to end at or below 4 GiB (32-bit protected mode)")],
    ["entry a string", { entry: "1", startInfo: 0 }, err("invalid-argument", "entry: expected a number or a bigint, got string")],
    ["startInfo -1", { entry: 0, startInfo: -1 }, err("out-of-range", "startInfo: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["startInfo at 4 GiB", { entry: 0, startInfo: 0x1_0000_0000 }, err("address-limit", "startInfo: expected [0x100000000, 0x100000001) to end at or below 4 GiB (32-bit protected mode)")],
    ["gdtAddress one byte over", { entry: 0, startInfo: 0, gdtAddress: 0x1_0000_0000 - 31 }, err("address-limit", "gdtAddress: expected [0xffffffe1, 0x100000001) to end at or below 4 GiB (32-bit protected mode)")],
  ];
  it.each(rows)("%s", (_n, init, want) => {
    expect(thrown(() => pvhEntryState(init as never))).toEqual(want);
  });
});
