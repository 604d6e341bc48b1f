// The generated boot ROM (buildPvhRom / decodePvhRom): layout, blobs, rejections, and GNU objdump
// as the independent judge of the emitted code. Properties are in rom.prop.test.ts.
import { mkdtempSync } from "node:fs";
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
} from "@microvm/pvh";
import { judgeRom, objdumpMissing } from "./helpers/objdump.ts";
import { busyState, CODE, expectedDecode, KIB, modelCode, stateFrom, stateInputs, TEMPLATE } from "./helpers/rom-model.ts";
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
    ["sregs.cr4", 1n << 32n, "entry-state-unsupported", /^sregs\.cr4: /],
    ["sregs.efer", 0x100n, "entry-state-unsupported", /^sregs\.efer: /], // LME
    ["sregs.efer", 0x400n, "entry-state-unsupported", /^sregs\.efer: /], // LMA
    ["sregs.efer", 1n << 64n, "out-of-range", /^sregs\.efer: /],
    ["sregs.cs.limit", 0xfffff, "entry-state-unsupported", /^sregs\.cs\.limit: /],
    ["sregs.cs.base", 0x1000n, "entry-state-unsupported", /^sregs\.cs\.base: /],
    ["sregs.cs", S.sregs.ds, "entry-state-unsupported", /^sregs\.cs: /], // a data segment as CS
    ["sregs.ds.selector", 0x08, "entry-state-unsupported", /^sregs\.ds\.type: /], // the code descriptor, data type
    ["sregs.ss.selector", 0x20, "entry-state-unsupported", /^sregs\.ss\.selector: /], // past the GDT
    ["sregs.es.selector", 0x13, "entry-state-unsupported", /^sregs\.es\.selector: /], // RPL 3
    ["sregs.fs.selector", 0x14, "entry-state-unsupported", /^sregs\.fs\.selector: /], // TI: the LDT
    ["sregs.gs.base", 0x1000n, "entry-state-unsupported", /^sregs\.gs\.base: /],
    ["sregs.ss.dpl", 3, "entry-state-unsupported", /^sregs\.ss\.dpl: /],
    ["sregs.tr.type", 9, "entry-state-unsupported", /^sregs\.tr\.type: /], // LTR leaves it busy
    ["sregs.tr.selector", 0, "entry-state-unsupported", /^sregs\.tr: /],
    ["sregs.tr", S.sregs.ds, "entry-state-unsupported", /^sregs\.tr: /],
    ["sregs.ldt.selector", 0x08, "entry-state-unsupported", /^sregs\.ldt\./],
    ["sregs.gdt.base", 0x600n, "entry-state-unsupported", /^sregs\.gdt\.base: /],
    ["sregs.gdt.limit", 0x10000, "out-of-range", /^sregs\.gdt\.limit: /],
    ["sregs.idt.limit", -1, "out-of-range", /^sregs\.idt\.limit: /],
    ["sregs.idt.base", 1n << 32n, "entry-state-unsupported", /^sregs\.idt\.base: /],
    ["gdt.address", 0x600n, "entry-state-unsupported", /^sregs\.gdt\.base: /],
    ["gdt.address", 1n << 32n, "entry-state-unsupported", /^state\.gdt\.address: /],
    ["gdt.bytes", "x", "invalid-argument", /^state\.gdt\.bytes: /],
    ["regs", null, "invalid-argument", /^state\.regs: /],
  ];
  it.each(cases)("%s = %s: %s", (path, value, code, message) => {
    const o = outcome(() => buildPvhRom({ state: mutate(S, path, value) }));
    expect(o.code).toBe(code);
    expect(o.message).toMatch(message);
  });

  it("no state: invalid-argument", () => {
    expect(outcome(() => buildPvhRom({} as never)).code).toBe("invalid-argument");
    expect(outcome(() => buildPvhRom(null as never)).code).toBe("invalid-argument");
  });
});

describe("what the ROM can express", () => {
  const accepted: [string, string, unknown][] = [
    ["the largest entry", "regs.rip", 0xffff_ffffn],
    ["all five SAHF flags", "regs.rflags", 0xd7n],
    ["cr0 with every bit but PG", "sregs.cr0", 0x7fff_ffffn],
    ["EFER with everything but LME and LMA", "sregs.efer", 0xffff_ffff_ffff_fafFn],
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
      ["EFER's high half changed", (b) => (b[at([0xba, 0x78, 0x56, 0x34, 0x12]) + 4] = 0x92), /expected "mov \$0x12345678,%edx"/],
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
