// buildPvhRom and decodePvhRom rejections, message by message: the field, the value found and the
// limit each names (so that a wrong computed address or a wrong branch in the message shows), and
// what building does not do to the caller's state (its GDT bytes stay as given).
import { describe, expect, it } from "vitest";
import { buildPvhRom, decodePvhRom, pvhEntryState, PVH_ROM_CODE_SIZE, PVH_ROM_SIZE, type PvhEntryState } from "@microvm/pvh";
import { indexOf } from "./helpers/toolchain.ts";

import { err, thrown } from "./helpers/codes.ts";
const UNSUP = "entry-state-unsupported";

/** The default PVH state (GDT at 0x500: code 0x08, data 0x10, busy TSS 0x18), as a mutable copy. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends bigint | number | string | Uint8Array ? T[K] : Mutable<T[K]> };
const state = (): Mutable<PvhEntryState> => structuredClone(pvhEntryState({ entry: 0x100000, startInfo: 0x6000 })) as Mutable<PvhEntryState>;
const withState = (f: (s: Mutable<PvhEntryState>) => void): PvhEntryState => {
  const s = state();
  f(s);
  return s as PvhEntryState;
};
const build = (s: PvhEntryState): Uint8Array => buildPvhRom({ state: s });

describe("buildPvhRom: messages", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["init null", () => buildPvhRom(null as never), err("invalid-argument", "init: expected an object, got null")],
    ["state null", () => buildPvhRom({ state: null as never }), err("invalid-argument", "state: expected an object, got null")],
    ["state.gdt missing", () => build(withState((s) => delete (s as Partial<typeof s>).gdt)), err("invalid-argument", "state.gdt: expected an object, got undefined")],
    ["the GDT past 4 GiB", () => build(withState((s) => (s.gdt.address = 0xffff_ffe8n))), err(UNSUP, "state.gdt.address: the GDT [0xffffffe8, 0x100000008) must end at or below 4 GiB (32-bit protected mode)")],
    ["the GDT ending at 4 GiB, GDTR elsewhere", () => build(withState((s) => (s.gdt.address = 0xffff_ffe0n))), err(UNSUP, "sregs.gdt.base: expected the GDT's address 0xffffffe0, got 0x500")],
    ["tr.selector 1.5", () => build(withState((s) => (s.sregs.tr.selector = 1.5))), err("invalid-argument", "sregs.tr.selector: expected an integer 0..0xffff, got 1.5")],
    ["tr.type a string", () => build(withState((s) => (s.sregs.tr.type = "11" as never))), err("invalid-argument", "sregs.tr.type: expected an integer 0..0xf, got string")],
    ["tr.s a string", () => build(withState((s) => (s.sregs.tr.s = "0" as never))), err("invalid-argument", "sregs.tr.s: expected 0 or 1, got string")],
    ["tr.s 1", () => build(withState((s) => (s.sregs.tr.s = 1))), err(UNSUP, "sregs.tr.s: expected 0 (a system descriptor: a TSS), got 1")],
    ["cs.base given as 5n", () => build(withState((s) => (s.sregs.cs.base = 5n))), err(UNSUP, "sregs.cs.base: the ROM loads cs from GDT entry 0x8, which gives base 0, but the state says 5")],
    ["cs.base given as a number", () => build(withState((s) => (s.sregs.cs.base = 0 as never))), err(UNSUP, "sregs.cs.base: the ROM loads cs from GDT entry 0x8, which gives base 0, but the state says 0")],
    ["ds.limit 5", () => build(withState((s) => (s.sregs.ds.limit = 5))), err(UNSUP, "sregs.ds.limit: the ROM loads ds from GDT entry 0x10, which gives limit 4294967295, but the state says 5")],
    ["cs.type a string", () => build(withState((s) => (s.sregs.cs.type = "11" as never))), err(UNSUP, "sregs.cs.type: the ROM loads cs from GDT entry 0x8, which gives type 11, but the state says string")],
    ["cs null with a GDT limit of 6", () => build(withState((s) => { s.sregs.cs.selector = 0; s.sregs.gdt.limit = 6; })), err(UNSUP, "sregs.cs.limit: the ROM loads cs from GDT entry 0x0, which gives limit 0, but the state says 4294967295")],
    ["cr0 with PG", () => build(withState((s) => (s.sregs.cr0 = 0x8000_0011n))), err(UNSUP, "sregs.cr0: expected PE (bit 0) and ET (bit 4) set and PG (bit 31) clear, got 0x80000011")],
    ["cr0 with bit 8", () => build(withState((s) => (s.sregs.cr0 = 0x111n))), err(UNSUP, "sregs.cr0: bits 0x100 are reserved (they fault, or read back other than written), got 0x111")],
    ["cr4 bit 11", () => build(withState((s) => (s.sregs.cr4 = 0x801n))), err(UNSUP, "sregs.cr4: the ROM sets only bits 0..10 (bits 0x800 may be reserved on the CPU and fault), got 0x801")],
    ["efer LME", () => build(withState((s) => (s.sregs.efer = 0x100n))), err(UNSUP, "sregs.efer: LME and LMA (bits 8, 10) must be clear without paging, got 0x100")],
    ["efer LMA", () => build(withState((s) => (s.sregs.efer = 0x400n))), err(UNSUP, "sregs.efer: LME and LMA (bits 8, 10) must be clear without paging, got 0x400")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  const blob = (b: Record<string, unknown>): unknown => buildPvhRom({ state: state() as PvhEntryState, blobs: [b as never] });
  const blobRows: [string, Record<string, unknown>, ReturnType<typeof thrown>][] = [
    ["named", { name: "acpi", address: 0, bytes: new Uint8Array(4) }, err("rom-layout", "blobs[0] (acpi): [0x0, 0x4) is in neither of the ROM's windows [0xf0000, 0x100000) and [0xffff0000, 4 GiB)")],
    ["an empty name", { name: "", address: 0, bytes: new Uint8Array(4) }, err("rom-layout", "blobs[0]: [0x0, 0x4) is in neither of the ROM's windows [0xf0000, 0x100000) and [0xffff0000, 4 GiB)")],
    ["a number for a name", { name: 5, address: 0, bytes: new Uint8Array(4) }, err("rom-layout", "blobs[0]: [0x0, 0x4) is in neither of the ROM's windows [0xf0000, 0x100000) and [0xffff0000, 4 GiB)")],
    ["high window, two bytes into the code", { address: 0x1_0000_0000 - PVH_ROM_CODE_SIZE - 2, bytes: new Uint8Array(4) }, err("rom-layout", "blobs[0]: [0xfffffdfe, 0xfffffe02) reaches the ROM's code, which takes its last 0x200 bytes (0xfffffe00..)")],
    ["low window, ending where the code starts", { address: 0x10_0000 - PVH_ROM_CODE_SIZE - 4, bytes: new Uint8Array(4) }, "no error"],
    ["low window, one byte into the code", { address: 0x10_0000 - PVH_ROM_CODE_SIZE - 3, bytes: new Uint8Array(4) }, err("rom-layout", "blobs[0]: [0xffdfd, 0xffe01) reaches the ROM's code, which takes its last 0x200 bytes (0xffe00..)")],
  ];
  it.each(blobRows)("blob: %s", (_n, b, want) => {
    expect(thrown(() => blob(b))).toEqual(want);
  });

  it("a GDT whose TSS is available (not busy) is accepted, and left as it was", () => {
    const s = withState((x) => (x.gdt.bytes[0x18 + 5] = 0x89));
    const before = [...s.gdt.bytes];
    const rom = build(s);
    expect([...s.gdt.bytes]).toEqual(before);
    expect(decodePvhRom(rom).selectors.tr).toBe(0x18);
  });
});

describe("decodePvhRom: messages", () => {
  const size = PVH_ROM_SIZE;
  const codeAt = size - PVH_ROM_CODE_SIZE;
  const good = (): Uint8Array => build(state() as PvhEntryState);
  const edit = (f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
    const b = good();
    f(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
    return b;
  };
  /** Offset of the 4-byte operand after `opcode` in the code. */
  const operand = (b: Uint8Array, opcode: readonly number[]): number => codeAt + indexOf(b.subarray(codeAt), opcode) + opcode.length;
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["not bytes", () => decodePvhRom("rom" as never), err("invalid-argument", "rom: expected a Uint8Array, got string")],
    ["the first code byte changed", () => decodePvhRom(edit((b) => (b[codeAt] = 0))), err("not-pvh-rom", "rom: expected byte 0xfa at offset 0xfe00, got 0x0")],
    ["the reset vector one byte off", () => decodePvhRom(edit((b) => (b[size - 15] = (b[size - 15] as number) ^ 1))), err("not-pvh-rom", "rom: the reset vector jumps to 0xfdff, not to the code at 0xfe00")],
    ["the far jump to the start of the window", () => decodePvhRom(edit((_, dv) => dv.setUint32(codeAt + 20, 0xffff_0000, true))), err("not-pvh-rom", "rom: the far jump to 32-bit code points at 0xffff0000, outside the ROM's code")],
    ["the far jump to the last byte of the ROM", () => decodePvhRom(edit((_, dv) => dv.setUint32(codeAt + 20, 0xffff_ffff, true))), err("not-pvh-rom", "rom: the far jump goes to offset 0xffff, not to the next instruction at 0xfe1a")],
    ["the far jump back to the code's start", () => decodePvhRom(edit((_, dv) => dv.setUint32(codeAt + 20, 0xffff_0000 + codeAt, true))), err("not-pvh-rom", "rom: the far jump goes to offset 0xfe00, not to the next instruction at 0xfe1a")],
    ["lidt pointing below the code", () => decodePvhRom(edit((b, dv) => dv.setUint32(operand(b, [0x0f, 0x01, 0x1d]), 0xffff_0000 + codeAt - 1, true))), err("not-pvh-rom", "rom: lidt points at 0xfffffdff, outside the ROM's code")],
    ["the TSS fix-up one byte off", () => decodePvhRom(edit((b, dv) => dv.setUint32(operand(b, [0x80, 0x25]), 0x51e, true))), err("not-pvh-rom", "rom: the TSS fix-up writes 0x51e, not the TR descriptor's type byte at 0x51d")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });
  it("the operands found above are the ones the template has", () => {
    const b = good();
    expect(new DataView(b.buffer).getUint32(operand(b, [0x80, 0x25]), true)).toBe(0x51d);
    expect(new DataView(b.buffer).getUint32(codeAt + 20, true)).toBe(0xffff_0000 + codeAt + 26);
  });
});
