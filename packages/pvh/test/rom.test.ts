// The generated boot ROM (buildPvhRom / decodePvhRom): layout, blobs, rejections, GNU objdump as
// the independent judge of the emitted code, and QEMU running it as firmware. Properties are in
// rom.prop.test.ts.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildPvhRom,
  decodePvhRom,
  isPvhError,
  pvhEntryState,
  pvhRomWindows,
  PVH_ROM_CODE_SIZE,
  PVH_ROM_SIZE,
  type PvhEntryState,
  type PvhErrorCode,
  type PvhRomBlob,
  type SegmentState,
} from "@microvm/pvh";
import { judgeRom, objdumpMissing } from "./helpers/objdump.ts";
import {
  afterLtr,
  busyState,
  CODE,
  DESC,
  type Descriptor,
  expectedDecode,
  KIB,
  modelCode,
  NULL_SEGMENT,
  OWN_SS,
  predictBuild,
  type SegReg,
  stateFrom,
  stateInputs,
  TEMPLATE,
  withDescriptor,
} from "./helpers/rom-model.ts";
import { indexOf } from "./helpers/toolchain.ts";

const S = pvhEntryState({ entry: 0x100_0000, startInfo: 0x6000 });
const M = 1024 * KIB;
const FOUR_G = 0x1_0000_0000;

/** A copy of `state` with the value at `path` ("sregs.cs.limit") replaced. */
function mutate(state: PvhEntryState, path: string, value: unknown): PvhEntryState {
  const set = (o: unknown, keys: readonly string[]): unknown => {
    const [k, ...rest] = keys;
    if (k === undefined) return value;
    const obj = o as Record<string, unknown>;
    return { ...obj, [k]: set(obj[k], rest) };
  };
  return set(state, path.split(".")) as PvhEntryState;
}

type Outcome = { code: PvhErrorCode | "no error"; message: string } | { code: "other error"; message: string };
function outcome(f: () => unknown): Outcome {
  try {
    f();
    return { code: "no error", message: "" };
  } catch (e) {
    return isPvhError(e) ? { code: e.code, message: e.message } : { code: "other error", message: String(e) };
  }
}

describe("the image", () => {
  it("64 KiB by default: the code is the model's bytes, everything else 0xff, and it decodes to the state", () => {
    const rom = buildPvhRom({ state: S });
    expect(rom.length).toBe(PVH_ROM_SIZE);
    expect(PVH_ROM_CODE_SIZE).toBe(CODE);
    const d = expectedDecode(S, PVH_ROM_SIZE);
    expect([...rom.subarray(rom.length - CODE)]).toEqual([...modelCode(d)]);
    expect(rom.subarray(0, rom.length - CODE).every((b) => b === 0xff)).toBe(true);
    expect(decodePvhRom(rom)).toEqual(d);
    // The first instruction the CPU runs (at 0xfffffff0) is a jmp back to the code.
    expect([...rom.subarray(rom.length - 16, rom.length - 13)]).toEqual([0xe9, 0x0d, 0xfe]);
  });

  it("the test model: operands and opcodes never share a byte, and the code stays above the reset vector", () => {
    const owner = new Map<number, string>();
    for (const s of TEMPLATE.slots) {
      for (let i = 0; i < s.len; i++) {
        expect(TEMPLATE.ops.has(s.at + i)).toBe(false);
        expect(owner.get(s.at + i)).toBeUndefined();
        owner.set(s.at + i, s.field);
      }
    }
    const last = Math.max(...TEMPLATE.slots.filter((s) => s.field !== "resetRel").map((s) => s.at + s.len));
    expect(last).toBeLessThanOrEqual(CODE - 16);
    expect(TEMPLATE.slots).toHaveLength(34);
  });

  it.each([
    [0x10000, [0xffff0000, FOUR_G], [0xf0000, M]],
    [0x20000, [0xfffe0000, FOUR_G], [0xe0000, M]],
    [0x30000, [0xfffd0000, FOUR_G], [0xe0000, M]], // only the last 128 KiB is aliased below 1 MiB
    [0x1000000, [0xff000000, FOUR_G], [0xe0000, M]],
  ])("pvhRomWindows(%s): the whole image ends at 4 GiB, its last min(size, 128 KiB) at 1 MiB", (size, high, low) => {
    const w = pvhRomWindows(size);
    expect([w.high.start, w.high.end]).toEqual(high.map(BigInt));
    expect([w.low.start, w.low.end]).toEqual(low.map(BigInt));
  });

  it.each([0, 0x8000, 0xffff, 0x10001, 0x18000, 0x1010000, 0x2000000, -0x10000, 1.5, Number.NaN, "65536", 0x10000n])(
    "size %s: out-of-range naming the size",
    (size) => {
      const o = outcome(() => buildPvhRom({ state: S, size: size as number }));
      expect(o.code).toBe("out-of-range");
      expect(o.message).toMatch(/^size: /);
    },
  );

  it("16 MiB, the largest size, builds and decodes", () => {
    const rom = buildPvhRom({ state: S, size: 16 * M });
    expect(rom.length).toBe(16 * M);
    expect(decodePvhRom(rom)).toEqual(expectedDecode(S, 16 * M));
  });
});

describe("blobs", () => {
  const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);

  it.each([
    ["64 KiB", 0x10000],
    ["256 KiB", 0x40000],
  ])("%s ROM: blobs in the low and high windows land at their offsets, the rest is 0xff", (_, size) => {
    const lowStart = M - Math.min(size, 128 * KIB);
    const highStart = FOUR_G - size;
    const codeAt = size - CODE;
    const blobs: (PvhRomBlob & { off: number })[] = [
      { name: "low-start", address: lowStart, bytes: bytes(16, 1), off: size - Math.min(size, 128 * KIB) },
      { name: "low-touching-code", address: BigInt(M - CODE - 8), bytes: bytes(8, 2), off: codeAt - 8 },
      { name: "high-start", address: BigInt(highStart), bytes: bytes(32, 3), off: 0 },
      { name: "high-touching-code", address: FOUR_G - CODE - 5, bytes: bytes(5, 4), off: codeAt - 5 },
      { address: FOUR_G - CODE - 21, bytes: bytes(18, 5), off: codeAt - 21 }, // overlaps the previous one: the later blob wins
      { name: "empty", address: 0xf8000, bytes: new Uint8Array(0), off: size - 0x8000 },
    ];
    const rom = buildPvhRom({ state: S, size, blobs });
    const want = new Uint8Array(codeAt).fill(0xff);
    for (const b of blobs) want.set(b.bytes, b.off);
    expect(Buffer.from(rom.subarray(0, codeAt)).equals(Buffer.from(want))).toBe(true);
    // Spot checks the model above could share a mistake with.
    expect(rom[codeAt - 1]).toBe(bytes(5, 4)[4]);
    expect(rom[codeAt - 4]).toBe(bytes(18, 5)[17]);
    expect(rom[codeAt - 3]).toBe(bytes(5, 4)[2]);
    expect(rom[codeAt - 22]).toBe(0xff);
    expect(decodePvhRom(rom)).toEqual(expectedDecode(S, size));
  });

  const layoutCases: [string, number, PvhRomBlob, RegExp][] = [
    ["low, last byte on the code", 0x10000, { name: "MPTable", address: M - CODE - 3, bytes: bytes(4, 0) }, /reaches the ROM's code/],
    ["low, inside the code", 0x10000, { name: "MPTable", address: M - 16, bytes: bytes(1, 0) }, /reaches the ROM's code/],
    ["high, last byte on the code", 0x20000, { name: "acpi", address: FOUR_G - CODE - 1, bytes: bytes(2, 0) }, /reaches the ROM's code/],
    ["high, on the reset vector", 0x10000, { name: "acpi", address: 0xfffffff0n, bytes: bytes(16, 0) }, /reaches the ROM's code/],
    ["low, straddling the window's start", 0x10000, { name: "x", address: 0xeffff, bytes: bytes(2, 0) }, /neither/],
    ["just above 1 MiB", 0x10000, { name: "x", address: M, bytes: bytes(1, 0) }, /neither/],
    ["below the 128 KiB alias of a 256 KiB ROM", 0x40000, { name: "x", address: 0xdffff, bytes: bytes(1, 0) }, /neither/],
    ["high, straddling the window's start", 0x10000, { name: "x", address: 0xfffeffff, bytes: bytes(2, 0) }, /neither/],
    ["between the windows", 0x10000, { name: "x", address: 0x8000_0000, bytes: bytes(1, 0) }, /neither/],
    ["at 4 GiB", 0x10000, { name: "x", address: 0x1_0000_0000n, bytes: bytes(1, 0) }, /neither/],
    ["at the top of the 64-bit space", 0x10000, { name: "x", address: 0xffff_ffff_ffff_ffffn, bytes: bytes(1, 0) }, /neither/],
    ["at 0", 0x10000, { name: "x", address: 0, bytes: bytes(1, 0) }, /neither/],
  ];
  it.each(layoutCases)("%s: rom-layout naming the blob", (_, size, blob, why) => {
    const ok: PvhRomBlob = { address: M - 0x1000, bytes: bytes(4, 9) };
    const o = outcome(() => buildPvhRom({ state: S, size, blobs: [ok, blob] }));
    expect(o.code).toBe("rom-layout");
    expect(o.message).toContain(`blobs[1] (${blob.name ?? ""})`);
    expect(o.message).toMatch(why);
    // Unnamed: the index alone.
    const { name: _name, ...unnamed } = blob;
    const o2 = outcome(() => buildPvhRom({ state: S, size, blobs: [unnamed] }));
    expect(o2.code).toBe("rom-layout");
    expect(o2.message).toMatch(/^blobs\[0\]: /);
  });

  it("bad blob fields: invalid-argument / out-of-range naming the blob", () => {
    expect(outcome(() => buildPvhRom({ state: S, blobs: { address: 0xf0000, bytes: new Uint8Array(1) } as unknown as PvhRomBlob[] }))).toMatchObject({
      code: "invalid-argument",
      message: expect.stringMatching(/^blobs: /),
    });
    for (const entry of [null, 5, "blob"]) {
      expect(outcome(() => buildPvhRom({ state: S, blobs: [{ address: 0xf0000, bytes: new Uint8Array(1) }, entry as unknown as PvhRomBlob] }))).toMatchObject({
        code: "invalid-argument",
        message: expect.stringMatching(/^blobs\[1\]: /),
      });
    }
    expect(outcome(() => buildPvhRom({ state: S, blobs: [{ name: "b", address: 0xf0000, bytes: [1] as unknown as Uint8Array }] }))).toMatchObject({
      code: "invalid-argument",
      message: expect.stringMatching(/^blobs\[0\] \(b\)\.bytes: /),
    });
    expect(outcome(() => buildPvhRom({ state: S, blobs: [{ address: -1, bytes: new Uint8Array(1) }] }))).toMatchObject({
      code: "out-of-range",
      message: expect.stringMatching(/^blobs\[0\]\.address: /),
    });
  });
});

describe("rejections name the field", () => {
  const cases: [string, unknown, PvhErrorCode, RegExp][] = [
    ["regs.rip", 1n << 32n, "entry-state-unsupported", /^regs\.rip: /],
    ["regs.rip", 0xffff_ffff_ffff_ffffn, "entry-state-unsupported", /^regs\.rip: /],
    ["regs.r8", 1n, "entry-state-unsupported", /^regs\.r8: /],
    ["regs.r15", 1n << 63n, "entry-state-unsupported", /^regs\.r15: /],
    ["regs.rax", (1n << 32n) | 5n, "entry-state-unsupported", /^regs\.rax: /],
    ["regs.rbx", -1n, "out-of-range", /^regs\.rbx: /],
    ["regs.rcx", "1", "invalid-argument", /^regs\.rcx: /],
    ["regs.rflags", 0x202n, "entry-state-unsupported", /^regs\.rflags: /], // IF
    ["regs.rflags", 0x402n, "entry-state-unsupported", /^regs\.rflags: /], // DF
    ["regs.rflags", 0x102n, "entry-state-unsupported", /^regs\.rflags: /], // TF
    ["regs.rflags", 0x802n, "entry-state-unsupported", /^regs\.rflags: /], // OF: SAHF cannot set it
    ["regs.rflags", 0x2_0002n, "entry-state-unsupported", /^regs\.rflags: /], // VM
    ["regs.rflags", 0n, "entry-state-unsupported", /^regs\.rflags: /], // bit 1 clear
    ["sregs.cr0", 0x10n, "entry-state-unsupported", /^sregs\.cr0: /], // no PE
    ["sregs.cr0", 0x8000_0011n, "entry-state-unsupported", /^sregs\.cr0: /], // PG
    ["sregs.cr0", (1n << 32n) | 0x11n, "entry-state-unsupported", /^sregs\.cr0: /],
    ["sregs.cr2", 1n << 32n, "entry-state-unsupported", /^sregs\.cr2: /],
    ["sregs.cr3", 1n << 40n, "entry-state-unsupported", /^sregs\.cr3: /],
    ["sregs.cr0", 0x51n, "entry-state-unsupported", /^sregs\.cr0: /], // bit 6 reserved
    ["sregs.cr0", 0x2_0011n, "entry-state-unsupported", /^sregs\.cr0: /], // bit 17 reserved (between WP and AM)
    ["sregs.cr0", 0x1000_0011n, "entry-state-unsupported", /^sregs\.cr0: /], // bit 28 reserved
    ["sregs.cr0", 0x2000_0011n, "entry-state-unsupported", /^sregs\.cr0: /], // NW without CD
    ["sregs.cr0", 0x1n << 40n, "entry-state-unsupported", /^sregs\.cr0: /],
    ["sregs.cr0", "17", "invalid-argument", /^sregs\.cr0: /],
    ["sregs.cr4", 1n << 32n, "entry-state-unsupported", /^sregs\.cr4: /],
    ["sregs.cr4", 0x800n, "entry-state-unsupported", /^sregs\.cr4: /], // bit 11 (UMIP): not on every CPU
    ["sregs.cr4", 0x8000_0000n, "entry-state-unsupported", /^sregs\.cr4: /],
    ["sregs.cr4", -1n, "out-of-range", /^sregs\.cr4: /],
    ["sregs.cr4", null, "invalid-argument", /^sregs\.cr4: /],
    ["sregs.efer", 0x100n, "entry-state-unsupported", /^sregs\.efer: /], // LME
    ["sregs.efer", 0x400n, "entry-state-unsupported", /^sregs\.efer: /], // LMA
    ["sregs.efer", 0x2n, "entry-state-unsupported", /^sregs\.efer: /], // reserved
    ["sregs.efer", 0x1000n, "entry-state-unsupported", /^sregs\.efer: /], // SVME
    ["sregs.efer", 1n << 63n, "entry-state-unsupported", /^sregs\.efer: /],
    ["sregs.efer", 1n << 64n, "out-of-range", /^sregs\.efer: /],
    ["sregs.cs.limit", 0xfffff, "entry-state-unsupported", /^sregs\.cs\.limit: /],
    ["sregs.cs.base", 0x1000n, "entry-state-unsupported", /^sregs\.cs\.base: /],
    ["sregs.cs", S.sregs.ds, "entry-state-unsupported", /^sregs\.cs: /], // a data segment as CS
    ["sregs.ds.selector", 0x08, "entry-state-unsupported", /^sregs\.ds\.type: /], // the code descriptor, data type
    ["sregs.ss.selector", 0x20, "entry-state-unsupported", /^sregs\.ss\.selector: /], // past the GDT
    ["sregs.ss.selector", 0x10000, "out-of-range", /^sregs\.ss\.selector: /],
    ["sregs.ds.selector", -8, "out-of-range", /^sregs\.ds\.selector: /],
    ["sregs.cs.selector", 8n, "invalid-argument", /^sregs\.cs\.selector: /],
    ["sregs.gs.selector", 16.5, "invalid-argument", /^sregs\.gs\.selector: /],
    ["sregs.ldt.selector", undefined, "invalid-argument", /^sregs\.ldt\.selector: /],
    ["sregs.cs.base", 0, "entry-state-unsupported", /^sregs\.cs\.base: /], // a number: the base is a bigint
    ["sregs.ds.present", 1n, "entry-state-unsupported", /^sregs\.ds\.present: /], // a bigint: the flags are numbers
    ["sregs.es", null, "invalid-argument", /^sregs\.es: /],
    ["sregs.ldt", 0, "invalid-argument", /^sregs\.ldt: /],
    ["sregs.tr", "0x18", "invalid-argument", /^sregs\.tr: /],
    ["sregs.gdt", null, "invalid-argument", /^sregs\.gdt: /],
    ["sregs.idt", 5, "invalid-argument", /^sregs\.idt: /],
    ["sregs.es.selector", 0x13, "entry-state-unsupported", /^sregs\.es\.selector: /], // RPL 3
    ["sregs.fs.selector", 0x14, "entry-state-unsupported", /^sregs\.fs\.selector: /], // TI: the LDT
    ["sregs.gs.base", 0x1000n, "entry-state-unsupported", /^sregs\.gs\.base: /],
    ["sregs.ss.dpl", 3, "entry-state-unsupported", /^sregs\.ss\.dpl: /],
    ["sregs.tr.type", 9, "entry-state-unsupported", /^sregs\.tr\.type: /], // an available TSS: LTR leaves it busy
    ["sregs.tr.type", 11.5, "invalid-argument", /^sregs\.tr\.type: /],
    ["sregs.tr.type", 0xbn, "invalid-argument", /^sregs\.tr\.type: /],
    ["sregs.tr.type", 16, "out-of-range", /^sregs\.tr\.type: /],
    ["sregs.tr.selector", 0, "entry-state-unsupported", /^sregs\.tr\.selector: /],
    ["sregs.tr.selector", "24", "invalid-argument", /^sregs\.tr\.selector: /],
    ["sregs.tr.selector", 0x18n, "invalid-argument", /^sregs\.tr\.selector: /],
    ["sregs.tr.selector", 0x10, "entry-state-unsupported", /^sregs\.tr\.limit: /], // the data descriptor: limit 4 GiB, not 0x67
    ["sregs.tr.s", 1, "entry-state-unsupported", /^sregs\.tr\.s: /],
    ["sregs.tr.s", 0.5, "entry-state-unsupported", /^sregs\.tr\.s: /],
    ["sregs.tr.s", "0", "invalid-argument", /^sregs\.tr\.s: /],
    ["sregs.tr.s", 0n, "invalid-argument", /^sregs\.tr\.s: /],
    ["sregs.tr.s", undefined, "invalid-argument", /^sregs\.tr\.s: /],
    ["sregs.tr.present", 0, "entry-state-unsupported", /^sregs\.tr\.present: /], // not what the descriptor gives
    ["sregs.tr", S.sregs.ds, "entry-state-unsupported", /^sregs\.tr\.s: /],
    ["sregs.tr", NULL_SEGMENT, "entry-state-unsupported", /^sregs\.tr\.selector: /],
    ["sregs.ldt.selector", 0x08, "entry-state-unsupported", /^sregs\.ldt\.limit: /], // the null state's limit 0 is not the code descriptor's
    ["sregs.gdt.base", 0x600n, "entry-state-unsupported", /^sregs\.gdt\.base: /],
    ["sregs.gdt.base", 1.5, "out-of-range", /^sregs\.gdt\.base: /],
    ["sregs.gdt.base", -1n, "out-of-range", /^sregs\.gdt\.base: /],
    ["sregs.gdt.base", "0x500", "invalid-argument", /^sregs\.gdt\.base: /],
    ["sregs.gdt.limit", 0x10000, "out-of-range", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", -1, "out-of-range", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", 31.5, "invalid-argument", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", 31n, "invalid-argument", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", "31", "invalid-argument", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", Number.NaN, "invalid-argument", /^sregs\.gdt\.limit: /],
    ["sregs.gdt.limit", 0x16, "entry-state-unsupported", /^sregs\.ds\.selector: /], // DS's descriptor ends at 0x17
    ["sregs.gdt.limit", 0x1e, "entry-state-unsupported", /^sregs\.tr\.selector: /], // TR's ends at 0x1f
    ["sregs.idt.limit", -1, "out-of-range", /^sregs\.idt\.limit: /],
    ["sregs.idt.limit", 0x10000, "out-of-range", /^sregs\.idt\.limit: /],
    ["sregs.idt.limit", 1.5, "invalid-argument", /^sregs\.idt\.limit: /],
    ["sregs.idt.limit", 0x7ffn, "invalid-argument", /^sregs\.idt\.limit: /],
    ["sregs.idt.limit", undefined, "invalid-argument", /^sregs\.idt\.limit: /],
    ["sregs.idt.base", 1n << 32n, "entry-state-unsupported", /^sregs\.idt\.base: /],
    ["gdt.address", 0x600n, "entry-state-unsupported", /^sregs\.gdt\.base: /],
    ["gdt.address", 1n << 32n, "entry-state-unsupported", /^state\.gdt\.address: /],
    ["gdt.address", BigInt(FOUR_G - 31), "entry-state-unsupported", /^state\.gdt\.address: /], // its 32 bytes cross 4 GiB
    ["gdt.address", FOUR_G - 1, "entry-state-unsupported", /^state\.gdt\.address: /],
    ["gdt.bytes", "x", "invalid-argument", /^state\.gdt\.bytes: /],
    ["regs", null, "invalid-argument", /^state\.regs: /],
  ];
  it.each(cases)("%s = %s: %s", (path, value, code, message) => {
    const state = mutate(S, path, value);
    const o = outcome(() => buildPvhRom({ state }));
    expect(o.code).toBe(code);
    expect(o.message).toMatch(message);
    // The property tests' oracle says the same.
    expect(predictBuild(state)).toMatchObject({ kind: "error", code, field: message.source.replace(/^\^/, "").replace(/: $/, "").replace(/\\/g, "") });
  });

  it("no state: invalid-argument", () => {
    expect(outcome(() => buildPvhRom({} as never)).code).toBe("invalid-argument");
    expect(outcome(() => buildPvhRom(null as never)).code).toBe("invalid-argument");
  });
});

describe("the five states the previous round showed QEMU cannot reach are refused, naming the field", () => {
  // Each one triple-faulted (or never reached the entry) when its ROM ran under QEMU.
  const unreachable: [string, PvhEntryState, RegExp][] = [
    ["a null SS (mov ss faults in protected mode)", mutate(S, "sregs.ss", NULL_SEGMENT), /^sregs\.ss: expected a present writable expand-up data segment with DPL 0/],
    ["SS = the code segment", mutate(S, "sregs.ss", S.sregs.cs), /^sregs\.ss: expected a present writable expand-up data segment with DPL 0/],
    ["DS = the TSS descriptor", mutate(S, "sregs.ds", S.sregs.tr), /^sregs\.ds: expected a flat writable data segment/],
    ["LDTR = a data descriptor", mutate(S, "sregs.ldt", S.sregs.ds), /^sregs\.ldt: expected a null selector or an LDT descriptor/],
    ["a GDTR limit of 7 (only the null descriptor)", mutate(S, "sregs.gdt.limit", 7), /^sregs\.cs\.selector: 0x8 is past the GDT \(limit 0x7, 32 bytes\)$/],
  ];
  it.each(unreachable)("%s", (_, state, message) => {
    const o = outcome(() => buildPvhRom({ state }));
    expect(o.code).toBe("entry-state-unsupported");
    expect(o.message).toMatch(message);
  });
});

describe("the ten states helper runs found QEMU cannot reach are refused, naming the field", () => {
  // Each was accepted by the previous rules and faulted (or never reached the entry) when its ROM
  // ran under QEMU: the ROM cannot establish them, so buildPvhRom must refuse them.
  const w = (index: number, d: Descriptor, regs: readonly SegReg[]): PvhEntryState => withDescriptor(S, index, d, regs);
  /** S with its 32-byte GDT (and sregs.gdt.base) at `address`. */
  const gdtAt = (address: bigint): PvhEntryState => ({ ...S, gdt: { ...S.gdt, address }, sregs: { ...S.sregs, gdt: { ...S.sregs.gdt, base: address } } });
  const unreachable: [string, PvhEntryState, PvhErrorCode, string, RegExp][] = [
    ["SS with DPL 3 (MOV SS needs DPL = CPL = 0)", w(4, { ...DESC.data, dpl: 3 }, ["ss"]), "entry-state-unsupported", "sregs.ss", /DPL 0.*dpl 3/],
    ["CS with DPL 3 (the far jump runs at CPL 0)", w(1, { ...DESC.code, dpl: 3 }, ["cs"]), "entry-state-unsupported", "sregs.cs", /DPL 0.*dpl 3/],
    ["CS not present (#NP on the far jump)", w(1, { ...DESC.code, present: 0 }, ["cs"]), "entry-state-unsupported", "sregs.cs", /present 0/],
    ["ES a readable code segment that is not present (#NP on mov es)", w(4, { ...DESC.code, present: 0 }, ["es"]), "entry-state-unsupported", "sregs.es", /present 0/],
    ["the TSS not present (#NP on ltr)", w(3, { ...DESC.tss, present: 0 }, ["tr"]), "entry-state-unsupported", "sregs.tr.present", /present TSS/],
    ["CR4 0x80000000 (a reserved bit: #GP on mov cr4)", mutate(S, "sregs.cr4", 0x8000_0000n), "entry-state-unsupported", "sregs.cr4", /0x80000000/],
    ["DS flat expand-down writable data (type 7: no valid offset)", w(4, { ...DESC.data, type: 7 }, ["ds"]), "entry-state-unsupported", "sregs.ds", /type 0x7/],
    ["CR0 NW without CD (#GP on mov cr0)", mutate(S, "sregs.cr0", 0x2000_0011n), "entry-state-unsupported", "sregs.cr0", /NW/],
    ["EFER with a reserved bit (bit 1: #GP on wrmsr)", mutate(S, "sregs.efer", 0x2n), "entry-state-unsupported", "sregs.efer", /SCE.*NXE/],
    ["a GDT crossing 4 GiB (its last 31 bytes wrap to address 0)", gdtAt(BigInt(FOUR_G - 31)), "entry-state-unsupported", "state.gdt.address", /4 GiB/],
  ];
  it.each(unreachable)("%s", (_, state, code, field, detail) => {
    const o = outcome(() => buildPvhRom({ state }));
    expect(o.code, o.message).toBe(code);
    expect(o.message.startsWith(`${field}: `), o.message).toBe(true);
    expect(o.message).toMatch(detail);
    expect(predictBuild(state)).toMatchObject({ kind: "error", code, field });
  });

  it("their accepted neighbours build: SS and CS with DPL 0, readable code in ES present, a present TSS, CR4 0x7ff, DS expand-up, CR0 NW with CD, EFER SCE|NXE, a GDT ending at 4 GiB", () => {
    const neighbours: PvhEntryState[] = [
      w(4, OWN_SS, ["ss"]),
      w(1, DESC.code, ["cs"]),
      w(4, DESC.code, ["es"]),
      w(4, DESC.tss, ["tr"]),
      mutate(S, "sregs.cr4", 0x7ffn),
      w(4, DESC.data, ["ds"]),
      mutate(S, "sregs.cr0", 0x6000_0011n),
      mutate(S, "sregs.efer", 0x801n),
      gdtAt(BigInt(FOUR_G - 32)),
    ];
    for (const state of neighbours) {
      expect(predictBuild(state)).toEqual({ kind: "ok" });
      expect(decodePvhRom(buildPvhRom({ state }))).toEqual(expectedDecode(state, PVH_ROM_SIZE));
    }
  });
});

describe("the kind of segment each register takes", () => {
  const code = DESC.code;
  const data = DESC.data;
  /** S with GDT entry `index` holding `d` and `regs` loaded from it (consistent states). */
  const w = (index: number, d: Descriptor, regs: readonly SegReg[], limit?: number): PvhEntryState => withDescriptor(S, index, d, regs, limit);
  const refused: [string, PvhEntryState, string][] = [
    ["CS not flat (base 0x1000)", w(1, { ...code, base: 0x1000 }, ["cs"]), "sregs.cs"],
    ["CS not flat (limit 1 MiB)", w(1, { ...code, g: 0 }, ["cs"]), "sregs.cs"],
    ["CS 16-bit (D/B 0)", w(1, { ...code, db: 0 }, ["cs"]), "sregs.cs"],
    ["CS 64-bit (L 1)", w(1, { ...code, l: 1, db: 0 }, ["cs"]), "sregs.cs"],
    ["CS a data segment", w(4, data, ["cs"]), "sregs.cs"],
    ["DS not flat (base 0x1000), everywhere it is loaded", w(2, { ...data, base: 0x1000 }, ["ds", "es", "fs", "gs", "ss"]), "sregs.ds"],
    ["DS not flat (a 64 KiB limit)", w(4, { ...data, limit20: 0xf }, ["ds"]), "sregs.ds"],
    ["DS read-only (type 1)", w(4, { ...data, type: 1 }, ["ds"]), "sregs.ds"],
    ["DS a readable code segment", w(4, code, ["ds"]), "sregs.ds"],
    ["DS not present", w(4, { ...data, present: 0 }, ["ds"]), "sregs.ds"],
    ["SS read-only", w(4, { ...data, type: 1 }, ["ss"]), "sregs.ss"],
    ["SS not present", w(4, { ...data, present: 0 }, ["ss"]), "sregs.ss"],
    ["SS the TSS", mutate(S, "sregs.ss", S.sregs.tr), "sregs.ss"],
    ["SS expand-down writable data (type 7)", w(4, { ...OWN_SS, type: 7 }, ["ss"]), "sregs.ss"],
    ["SS with DPL 1", w(4, { ...OWN_SS, dpl: 1 }, ["ss"]), "sregs.ss"],
    ["CS with DPL 1", w(4, { ...code, dpl: 1 }, ["cs"]), "sregs.cs"],
    ["CS conforming (type 0xf) with DPL 3", w(4, { ...code, type: 0xf, dpl: 3 }, ["cs"]), "sregs.cs"],
    ["DS expand-down read/write (type 6) with a 64 KiB limit", w(4, { ...data, type: 6, limit20: 0xffff, g: 0 }, ["ds"]), "sregs.ds"],
    ["FS a non-present readable code segment", w(4, { ...code, present: 0 }, ["fs"]), "sregs.fs"],
    ["GS a non-present conforming readable code segment (type 0xf)", w(4, { ...code, type: 0xf, present: 0 }, ["gs"]), "sregs.gs"],
    ["TR a busy TSS that is not present", w(3, { ...DESC.tss, type: 0xb, present: 0 }, ["tr"]), "sregs.tr.present"],
    ["ES execute-only code (type 9)", w(4, { ...code, type: 9 }, ["es"]), "sregs.es"],
    ["FS an LDT descriptor", w(4, DESC.ldt, ["fs"]), "sregs.fs"],
    ["GS the TSS", mutate(S, "sregs.gs", S.sregs.tr), "sregs.gs"],
    ["GS a non-present data segment", w(4, { ...data, present: 0 }, ["gs"]), "sregs.gs"],
    ["LDTR not present", w(4, { ...DESC.ldt, present: 0 }, ["ldt"]), "sregs.ldt"],
    ["LDTR the TSS", mutate(S, "sregs.ldt", S.sregs.tr), "sregs.ldt"],
    ["LDTR the code segment", mutate(S, "sregs.ldt", S.sregs.cs), "sregs.ldt"],
    ["TR an LDT descriptor", w(4, DESC.ldt, ["tr"]), "sregs.tr.type"],
    ["TR a 16-bit TSS (type 1, busy 3)", w(3, { ...DESC.tss, type: 1 }, ["tr"]), "sregs.tr.type"],
    ["TR a data segment", w(4, data, ["tr"]), "sregs.tr.s"],
    ["a selector in the GDT's bytes but past the GDTR limit", w(4, data, ["ss"], 0x1f), "sregs.ss.selector"],
    ["a selector past the GDT's bytes, within the GDTR limit", mutate(mutate(S, "sregs.gdt.limit", 0xffff), "sregs.es.selector", 0x20), "sregs.es.selector"],
  ];
  it.each(refused)("%s: entry-state-unsupported naming %s", (_, state, field) => {
    const o = outcome(() => buildPvhRom({ state }));
    expect(o.code).toBe("entry-state-unsupported");
    expect(o.message.startsWith(`${field}: `), o.message).toBe(true);
    expect(predictBuild(state)).toMatchObject({ kind: "error", code: "entry-state-unsupported", field });
  });

  const accepted: [string, PvhEntryState][] = [
    ["ES, FS and GS the (readable) code segment", { ...S, sregs: { ...S.sregs, es: S.sregs.cs, fs: S.sregs.cs, gs: S.sregs.cs } }],
    ["ES, FS and GS null", { ...S, sregs: { ...S.sregs, es: NULL_SEGMENT, fs: NULL_SEGMENT, gs: NULL_SEGMENT } }],
    ["ES read-only data, FS execute/read conforming code (type 0xf)", withDescriptor(w(5, { ...code, type: 0xf }, ["fs"]), 4, { ...data, type: 1 }, ["es"])],
    ["SS its own writable data segment, not flat", w(4, OWN_SS, ["ss"])],
    ["DS with DPL 3 (data: only DPL >= CPL matters)", w(4, { ...data, dpl: 3 }, ["ds"])],
    ["ES, FS and GS data with DPL 3, ES expand-down (type 7)", withDescriptor(w(4, { ...data, dpl: 3 }, ["fs", "gs"]), 5, { ...data, type: 7 }, ["es"])],
    ["the GDT ending at 4 GiB", { ...S, gdt: { ...S.gdt, address: BigInt(FOUR_G - 32) }, sregs: { ...S.sregs, gdt: { ...S.sregs.gdt, base: BigInt(FOUR_G - 32) } } }],
    ["LDTR an LDT descriptor", w(4, DESC.ldt, ["ldt"])],
    ["TR a TSS the GDT gives busy (type 0xb): the ROM makes it available first", w(3, { ...DESC.tss, type: 0xb }, ["tr"])],
    ["TR a TSS in a new entry", w(4, DESC.tss, ["tr"])],
    ["a GDTR limit past the GDT's bytes", mutate(S, "sregs.gdt.limit", 0xffff)],
    ["sregs.gdt.base as a number", mutate(S, "sregs.gdt.base", 0x500)],
  ];
  it.each(accepted)("%s: a ROM that establishes it", (_, state) => {
    expect(predictBuild(state)).toEqual({ kind: "ok" });
    expect(decodePvhRom(buildPvhRom({ state }))).toEqual(expectedDecode(state, PVH_ROM_SIZE));
  });

  it("the null selector's state is pvhEntryState's LDTR", () => {
    expect(S.sregs.ldt).toEqual(NULL_SEGMENT);
  });
});

describe("what the ROM can express", () => {
  const accepted: [string, string, unknown][] = [
    ["the largest entry", "regs.rip", 0xffff_ffffn],
    ["all five SAHF flags", "regs.rflags", 0xd7n],
    ["cr0 with every defined bit but PG (PE MP EM TS ET NE WP AM NW CD)", "sregs.cr0", 0x6005_003fn],
    ["cr0 CD without NW", "sregs.cr0", 0x4000_0011n],
    ["cr4 with bits 0..10", "sregs.cr4", 0x7ffn],
    ["EFER SCE and NXE", "sregs.efer", 0x801n],
    ["EFER as a number", "sregs.efer", 0x800],
    ["a register given as a number", "regs.rax", 5],
    ["the largest IDT", "sregs.idt.limit", 0xffff],
  ];
  it.each(accepted)("%s (%s = %s)", (_, path, value) => {
    const state = mutate(S, path, value);
    expect(decodePvhRom(buildPvhRom({ state }))).toEqual(expectedDecode(state, PVH_ROM_SIZE));
  });

  it("an available TSS (type 9) in the GDT: the state's busy TR is what LTR makes of it", () => {
    const bytes = S.gdt.bytes.slice();
    bytes[0x18 + 5] = 0x89;
    const state = { ...S, gdt: { ...S.gdt, bytes } };
    expect(decodePvhRom(buildPvhRom({ state })).selectors.tr).toBe(0x18);
  });
});

describe("decodePvhRom refuses what it cannot read", () => {
  it.each([0, 1, 0xffff, 0x10001, 0x18000])("%s bytes: out-of-range", (n) => {
    expect(outcome(() => decodePvhRom(new Uint8Array(n))).code).toBe("out-of-range");
  });
  it("not bytes: invalid-argument", () => {
    expect(outcome(() => decodePvhRom([0xe9] as unknown as Uint8Array)).code).toBe("invalid-argument");
  });
  it("an erased part (all 0xff) and all zeroes: not-pvh-rom", () => {
    expect(outcome(() => decodePvhRom(new Uint8Array(0x10000).fill(0xff))).code).toBe("not-pvh-rom");
    expect(outcome(() => decodePvhRom(new Uint8Array(0x20000))).code).toBe("not-pvh-rom");
  });
  it("a GDTR or IDTR pointer into the last 5 bytes (no 6-byte pseudo-descriptor fits there): not-pvh-rom, never truncated", () => {
    const rom0 = buildPvhRom({ state: S });
    const codeAt = rom0.length - CODE;
    for (let k = 1; k <= 5; k++) {
      for (const [slot, v] of [
        [TEMPLATE.slot.gdtrPtr, 0x10000 - k], // an offset in the reset segment
        [TEMPLATE.slot.idtrPtr, FOUR_G - k], // linear
      ] as const) {
        const rom = rom0.slice();
        for (let i = 0; i < slot.len; i++) rom[codeAt + slot.at + i] = (v >>> (8 * i)) & 0xff;
        const o = outcome(() => decodePvhRom(rom));
        expect(o.code).toBe("not-pvh-rom");
        expect(o.message).toBe(`rom: the ${slot.field === "gdtrPtr" ? "GDTR" : "IDTR"} pseudo-descriptor at offset 0x${(0x10000 - k).toString(16)} runs past the end of the image`);
      }
    }
  });
  it("a ROM moved into a larger image (the reset vector no longer reaches it): not-pvh-rom", () => {
    const rom = buildPvhRom({ state: S });
    const big = new Uint8Array(0x20000).fill(0xff);
    big.set(rom, 0);
    expect(outcome(() => decodePvhRom(big)).code).toBe("not-pvh-rom");
  });
});

// ---- the external judge -------------------------------------------------------------------------

const missing = objdumpMissing();
describe.skipIf(missing !== undefined)(`objdump disassembles what the state says${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "pvh-rom-"));
  });

  it("the default PVH state", () => {
    expect(judgeRom(buildPvhRom({ state: S }), S, dir, "default")).toEqual([]);
  });

  it("a state with every operand non-zero, in a 1 MiB ROM with blobs", () => {
    const state = busyState();
    const rom = buildPvhRom({ state, size: M, blobs: [{ address: 0xe0000, bytes: new Uint8Array(0x100).fill(0x90) }] });
    expect(judgeRom(rom, state, dir, "busy")).toEqual([]);
  });

  it("random states and sizes", () => {
    const seen = { big: 0, flags: new Set<bigint>() };
    let n = 0;
    fc.assert(
      fc.property(stateInputs(16), (x) => {
        const state = stateFrom(x);
        const size = x.units * 0x10000;
        if (size > 0x10000) seen.big++;
        seen.flags.add(state.regs.rflags);
        expect(judgeRom(buildPvhRom({ state, size }), state, dir, `r${n++}`)).toEqual([]);
      }),
      { numRuns: 40 },
    );
    expect(seen.big).toBeGreaterThan(0);
    expect(seen.flags.size).toBeGreaterThan(10);
  });

  describe("negative controls: a wrong ROM is reported", () => {
    const state = busyState();
    const good = buildPvhRom({ state });
    const codeAt = good.length - CODE;
    const at = (needle: number[]): number => {
      const i = indexOf(good.subarray(codeAt), needle);
      if (i < 0) throw new Error(`negative control: ${needle.map((b) => b.toString(16)).join(" ")} not found`);
      return codeAt + i;
    };
    const controls: [string, (b: Uint8Array) => void, RegExp][] = [
      ["mov ds becomes mov es (ModRM d8 -> c0)", (b) => (b[at([0x8e, 0xd8]) + 1] = 0xc0), /expected "mov %eax,%ds", got "mov %eax,%es"/],
      ["cli becomes nop", (b) => (b[codeAt] = 0x90), /expected "cli", got "nop"/],
      ["ebx's immediate off by one", (b) => (b[at([0xbb, 0xef, 0xcd, 0xab, 0x89]) + 1] = 0xee), /expected "mov \$0x89abcdef,%ebx", got "mov \$0x89abcdee,%ebx"/],
      ["EFER's high half changed", (b) => (b[at([0xba, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x30]) + 4] = 0x92), /expected "mov \$0x0,%edx", got "mov \$0x92000000,%edx"/],
      ["the reset vector jumps one byte late", (b) => (b[b.length - 15] = 0x0e), /reset vector: jumps to 0xfe01/],
      ["lidt reads one byte later", (b) => {
        const i = at([0x0f, 0x01, 0x1d]) + 3;
        b[i] = (b[i] as number) + 1;
      }, /IDTR holds/],
      ["ltr and lldt swapped", (b) => {
        b[at([0x0f, 0x00, 0xd8]) + 2] = 0xd0;
        b[at([0x0f, 0x00, 0xd0]) + 2] = 0xd8;
      }, /expected "ltr %ax", got "lldt %ax"/],
      ["the entry point's far jump selector", (b) => (b[at([0xea, 0x67, 0x45, 0x23, 0x01]) + 5] = 0x10), /expected "ljmp \$0x8,\$0x1234567", got "ljmp \$0x10,\$0x1234567"/],
    ];
    it.each(controls)("%s", (name, edit, complaint) => {
      const bad = good.slice();
      edit(bad);
      const problems = judgeRom(bad, state, dir, `neg-${name.replace(/\W+/g, "-")}`);
      expect(problems.join("\n")).toMatch(complaint);
      // The decoder refuses the opcode edits too, or reads the changed operand back.
      const o = outcome(() => decodePvhRom(bad));
      if (o.code === "no error") expect(decodePvhRom(bad)).not.toEqual(expectedDecode(state, good.length));
      else expect(o.code).toBe("not-pvh-rom");
    });
  });
});

// ---- the ROM run by a CPU -------------------------------------------------------------------------

const qemuMissing = spawnSync("qemu-system-x86_64", ["--version"], { stdio: "ignore" }).status === 0 ? undefined : "qemu-system-x86_64 not found";

interface QemuRun {
  /** QEMU ended by itself within the wait (with -no-reboot: the guest shut down or triple-faulted). */
  readonly exited: boolean;
  readonly exitCode: number | null;
  /** The monitor's `info registers` and `xp` output, when it was still running. */
  readonly monitor: string;
  readonly stderr: string;
}

/**
 * Runs `state`'s ROM as QEMU's firmware (TCG) with the GDT loaded at its address and `entryBytes`
 * at the entry point. When QEMU is still running after `waitMs` it is asked for the CPU state
 * (`info registers`) and the GDT's bytes in guest memory, then killed.
 */
async function runUnderQemu(dir: string, name: string, state: PvhEntryState, entryBytes: readonly number[], waitMs: number): Promise<QemuRun> {
  const file = (suffix: string, bytes: Uint8Array): string => {
    const f = join(dir, `${name}-${suffix}.bin`);
    writeFileSync(f, bytes);
    return f;
  };
  const rom = file("rom", buildPvhRom({ state }));
  const gdt = file("gdt", state.gdt.bytes);
  const entry = file("entry", Uint8Array.from(entryBytes));
  const loader = (f: string, addr: bigint): string[] => ["-device", `loader,file=${f},addr=0x${addr.toString(16)},force-raw=on`];
  const args = ["-M", "pc", "-accel", "tcg", "-bios", rom, "-no-reboot", "-display", "none", "-nodefaults", "-monitor", "stdio", ...loader(gdt, state.gdt.address), ...loader(entry, state.regs.rip)];
  const child = spawn("qemu-system-x86_64", args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString("latin1")));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
  const ended = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  try {
    const exited = await Promise.race([ended.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs))]);
    if (exited) return { exited, exitCode: child.exitCode, monitor: out, stderr };
    const ask = async (command: string, done: RegExp): Promise<void> => {
      const from = out.length;
      child.stdin.write(`${command}\n`);
      for (let i = 0; i < 100 && !done.test(out.slice(from)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await ask("info registers", /EFER=[0-9a-f]+/);
    await ask(`xp /${state.gdt.bytes.length / 4}wx 0x${state.gdt.address.toString(16)}`, new RegExp(`^${(state.gdt.address + BigInt(state.gdt.bytes.length - 16)).toString(16).padStart(16, "0")}:`, "m"));
    return { exited, exitCode: null, monitor: out, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await ended;
    }
  }
}

/** The segment registers' state in `info registers`: selector, base, limit, flags (descriptor bits 8..23 of its high word). */
function segmentsShown(monitor: string): Record<string, [number, number, number, number]> {
  const seen: Record<string, [number, number, number, number]> = {};
  for (const m of monitor.matchAll(/^(ES|CS|SS|DS|FS|GS|LDT|TR) *=([0-9a-f]{4}) ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})/gm)) {
    seen[(m[1] as string).toLowerCase()] = [1, 2, 3, 4].map((i) => Number.parseInt(m[i + 1] as string, 16)) as [number, number, number, number];
  }
  return seen;
}

/** What QEMU shows for a segment state: selector, base, limit, and the descriptor's flag bits. */
function segmentExpected(sg: SegmentState): [number, number, number, number] {
  if (sg.selector === 0 && sg.unusable) return [0, 0, 0, 0];
  const limit20 = sg.g ? sg.limit >>> 12 : sg.limit;
  const flags = (sg.g << 23) | (sg.db << 22) | (sg.l << 21) | (sg.avl << 20) | (((limit20 >>> 16) & 0xf) << 16) | (sg.present << 15) | (sg.dpl << 13) | (sg.s << 12) | (sg.type << 8);
  return [sg.selector, Number(sg.base), sg.limit, flags >>> 0];
}

describe.skipIf(qemuMissing !== undefined)(`the ROM as QEMU's firmware${qemuMissing ? ` (skipped: ${qemuMissing})` : ""}`, () => {
  it("a valid state halts at the entry with every register as planned; an entry on ud2 with an empty IDT triple-faults (negative control)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvh-rom-qemu-"));
    // Every kind of segment the ROM takes, distinct register values, the five SAHF flags.
    const good = stateFrom({
      entry: 0x0012_3450,
      startInfo: 0x0000_6000,
      gdtAddress: 0x1000,
      flagSet: 0b11111,
      gprs: { rax: 0x1111_1111, rcx: 0x2222_2222, rdx: 0x3333_3333, rsp: 0x0000_8000, rbp: 0x5555_5555, rsi: 0x6666_6666, rdi: 0x7777_7777 },
      cr0: 0x33, // PE MP ET NE
      cr2: 0xdead_beef,
      cr3: 0x0000_5000,
      cr4: 0x200, // OSFXSR
      efer: 1n, // SCE
      idtBase: 0x7000,
      idtLimit: 0x7ff,
      units: 1,
      segs: { es: "code", fs: "null", gs: "data", ss: "own", ldt: "ldt" },
    });
    const UD2 = 0x0020_0000;
    const bad: PvhEntryState = { ...good, sregs: { ...good.sregs, idt: { base: 0n, limit: 0 } }, regs: { ...good.regs, rip: BigInt(UD2) } };
    const HLT = [0xf4, 0xeb, 0xfd]; // hlt; jmp back to it
    const [g, b] = await Promise.all([runUnderQemu(dir, "good", good, HLT, 1500), runUnderQemu(dir, "bad", bad, [0x0f, 0x0b], 1500)]).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );

    // Negative control: the same machine whose entry is ud2 shuts down (a triple fault with
    // -no-reboot) by itself, so "still running" below means something.
    expect(b.exited, `${b.stderr}\n${b.monitor}`).toBe(true);
    expect(b.exitCode).toBe(0);

    expect(g.exited, `QEMU exited by itself (${g.exitCode}): ${g.stderr}`).toBe(false);
    const m = g.monitor;
    const reg = (name: string): number => Number.parseInt(new RegExp(`\\b${name}=([0-9a-f]+)`).exec(m)?.[1] ?? "NaN", 16);
    expect(reg("HLT"), m).toBe(1);
    expect(reg("EIP")).toBe(Number(good.regs.rip) + 1); // after the hlt
    const r = good.regs;
    expect([reg("EAX"), reg("EBX"), reg("ECX"), reg("EDX"), reg("ESI"), reg("EDI"), reg("ESP"), reg("EBP")]).toEqual([r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp].map(Number));
    expect(reg("EFL")).toBe(Number(r.rflags));
    const s = good.sregs;
    expect([reg("CR0"), reg("CR2"), reg("CR3"), reg("CR4"), reg("EFER")]).toEqual([s.cr0, s.cr2, s.cr3, s.cr4, s.efer].map(Number));
    expect(/GDT= +([0-9a-f]+) ([0-9a-f]+)/.exec(m)?.slice(1).map((v) => Number.parseInt(v, 16))).toEqual([Number(s.gdt.base), s.gdt.limit]);
    expect(/IDT= +([0-9a-f]+) ([0-9a-f]+)/.exec(m)?.slice(1).map((v) => Number.parseInt(v, 16))).toEqual([Number(s.idt.base), s.idt.limit]);
    const shown = segmentsShown(m);
    for (const name of ["cs", "ds", "es", "fs", "gs", "ss", "ldt"] as const) expect(shown[name], name).toEqual(segmentExpected(s[name]));
    // TR: QEMU's TCG keeps the descriptor it loaded (available, 9) in TR's cache while it writes
    // the busy type to the GDT; the state describes TR as LTR leaves it (busy, as KVM reports it).
    const tr = segmentExpected(s.tr);
    expect(shown["tr"]).toEqual([tr[0], tr[1], tr[2], tr[3] & ~0x200]);
    // The GDT in guest memory ends as planned: the TSS descriptor busy again.
    const words = [...m.matchAll(/^[0-9a-f]{16}:((?: 0x[0-9a-f]{8})+)/gm)].flatMap((x) => (x[1] as string).trim().split(" ").map((v) => Number.parseInt(v, 16)));
    const want = afterLtr(good.gdt.bytes, s.tr.selector);
    const le = new DataView(want.buffer, want.byteOffset, want.byteLength);
    expect(words).toEqual(Array.from({ length: want.length / 4 }, (_, i) => le.getUint32(4 * i, true)));
    expect(want[s.tr.selector + 5]).toBe(0x8b);
  }, 30_000);
});
