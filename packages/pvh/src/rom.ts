// A tiny generated firmware that takes an x86 CPU from its reset state to a PVH entry state, so
// that a VMM which always starts at the reset vector (QEMU with `-bios`) can boot a PVH kernel on
// tables and an entry state it did not build itself. No assembler: the instructions are emitted
// from a fixed template, byte by byte, and decodePvhRom() reads the template back.
//
// Facts used (Intel SDM vol. 3A §9.1.4 "First Instruction Executed": CS.base 0xffff0000, IP 0xfff0,
// so the first instruction is 16 bytes below 4 GiB; §9.9.1 "Switching to Protected Mode": LGDT,
// set CR0.PE, far JMP to reload CS; §7.2.2 / LTR: a TSS descriptor must be "available" (type 9),
// LTR marks it busy (type 0xb); §3.4.5: descriptor layout). Where PC firmware appears in the
// guest's address space (the whole image just below 4 GiB, and its last 128 KiB at most also below
// 1 MiB) is QEMU's x86 BIOS mapping (hw/i386/x86.c x86_bios_rom_init), which also requires the
// image size to be a multiple of 64 KiB.
import { PvhError } from "./errors.js";
import type { GeneralRegisters, PvhEntryState, PvhSregs, SegmentState, TableRegister } from "./entry-state.js";
import { checkArray, checkBytes, checkObject, hex, toU64 } from "./checks.js";

/**
 * The default (and smallest) ROM size: 64 KiB, the size QEMU requires a BIOS image to be a
 * multiple of.
 *
 * @example
 * ```ts
 * import { PVH_ROM_SIZE } from "@microvm/pvh";
 * console.log(PVH_ROM_SIZE); // 65536
 * ```
 */
export const PVH_ROM_SIZE: 65536 = 0x10000;

/**
 * Bytes at the top of the ROM that hold its code and data (the reset vector is the last 16);
 * blobs placed in the ROM must stay below them.
 *
 * @example
 * ```ts
 * import { PVH_ROM_CODE_SIZE, PVH_ROM_SIZE } from "@microvm/pvh";
 * const freeBelow = 0x100000 - PVH_ROM_CODE_SIZE; // in the low alias of a 64 KiB ROM
 * console.log(freeBelow.toString(16), PVH_ROM_SIZE); // "ffe00" 65536
 * ```
 */
export const PVH_ROM_CODE_SIZE: 0x200 = 0x200;

/** Largest ROM accepted: 16 MiB (the image is mapped just below 4 GiB). */
const MAX_ROM_SIZE = 16 << 20;
/** QEMU aliases at most the last 128 KiB of the image below 1 MiB. */
const MAX_LOW_ALIAS = 0x20000;
const FOUR_G = 0x1_0000_0000n;
const ONE_M = 0x100000n;

/**
 * Where a ROM of `size` bytes appears in guest-physical memory: the whole image ends at 4 GiB,
 * and its last `min(size, 128 KiB)` bytes also end at 1 MiB (the legacy BIOS window).
 *
 * @param size - the ROM size (a multiple of 64 KiB)
 * @returns both windows as `[start, end)` guest-physical ranges
 * @throws {@link PvhError} `out-of-range` for a size that is not a multiple of 64 KiB up to 16 MiB
 * @example
 * ```ts
 * import { pvhRomWindows } from "@microvm/pvh";
 * const { high, low } = pvhRomWindows(0x10000);
 * console.log(high.start.toString(16), low.start.toString(16)); // "ffff0000" "f0000"
 * ```
 */
export function pvhRomWindows(size: number): {
  /** The whole image, just below 4 GiB. */
  readonly high: {
    /** First byte. */
    readonly start: bigint;
    /** One past the last byte. */
    readonly end: bigint;
  };
  /** Its last bytes, just below 1 MiB. */
  readonly low: {
    /** First byte. */
    readonly start: bigint;
    /** One past the last byte. */
    readonly end: bigint;
  };
} {
  if (!Number.isInteger(size) || size < PVH_ROM_SIZE || size > MAX_ROM_SIZE || size % PVH_ROM_SIZE !== 0) {
    throw new PvhError("out-of-range", `size: expected a multiple of 64 KiB from 64 KiB to 16 MiB, got ${String(size)}`);
  }
  const lowSize = BigInt(Math.min(size, MAX_LOW_ALIAS));
  return { high: { start: FOUR_G - BigInt(size), end: FOUR_G }, low: { start: ONE_M - lowSize, end: ONE_M } };
}

/**
 * A blob the ROM image carries at a guest-physical address inside one of its windows (e.g. an
 * MPTable placed in the BIOS F-segment, which a ROM mapped there would otherwise hide).
 *
 * @example
 * ```ts
 * import type { PvhRomBlob } from "@microvm/pvh";
 * const blob: PvhRomBlob = { name: "MPTable", address: 0xf0000, bytes: new Uint8Array(16) };
 * ```
 */
export interface PvhRomBlob {
  /** Name for messages. */
  readonly name?: string;
  /** Guest-physical address, in the ROM's low (below 1 MiB) or high (below 4 GiB) window. */
  readonly address: number | bigint;
  /** Its bytes. */
  readonly bytes: Uint8Array;
}

/**
 * Inputs of {@link buildPvhRom}.
 *
 * @example
 * ```ts
 * import { buildPvhRom, pvhEntryState, type PvhRomInit } from "@microvm/pvh";
 * const init: PvhRomInit = { state: pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 }) };
 * const rom = buildPvhRom(init);
 * ```
 */
export interface PvhRomInit {
  /**
   * The entry state to reach, as {@link pvhEntryState} describes it. Its GDT must already be in
   * guest RAM at `state.gdt.address` when the ROM runs (the ROM loads it, it does not carry it).
   */
  readonly state: PvhEntryState;
  /** ROM size in bytes: a multiple of 64 KiB, 64 KiB to 16 MiB; default {@link PVH_ROM_SIZE}. */
  readonly size?: number;
  /** Blobs to carry in the image, below its code. */
  readonly blobs?: readonly PvhRomBlob[];
}

/**
 * What {@link decodePvhRom} reads back from a ROM: the state it establishes before it jumps.
 *
 * @example
 * ```ts
 * import { buildPvhRom, decodePvhRom, pvhEntryState } from "@microvm/pvh";
 * const d = decodePvhRom(buildPvhRom({ state: pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 }) }));
 * console.log(d.rip.toString(16), d.regs.rbx.toString(16), d.selectors.cs); // "1000000" "6000" 8
 * ```
 */
export interface PvhRomState {
  /** The GDTR it loads. */
  readonly gdt: TableRegister;
  /** The IDTR it loads. */
  readonly idt: TableRegister;
  /** The selectors it loads (each from the GDT at `gdt.base`). */
  readonly selectors: {
    /** CS, loaded by the final far jump. */ readonly cs: number;
    /** DS. */ readonly ds: number;
    /** ES. */ readonly es: number;
    /** FS. */ readonly fs: number;
    /** GS. */ readonly gs: number;
    /** SS. */ readonly ss: number;
    /** TR (its descriptor is made available first, then LTR marks it busy again). */ readonly tr: number;
    /** LDTR. */ readonly ldt: number;
  };
  /** cr0. */ readonly cr0: bigint;
  /** cr2. */ readonly cr2: bigint;
  /** cr3. */ readonly cr3: bigint;
  /** cr4. */ readonly cr4: bigint;
  /** EFER (written with WRMSR). */ readonly efer: bigint;
  /** The 32-bit general registers it sets (r8..r15 and the upper halves stay 0, as after reset). */
  readonly regs: Pick<GeneralRegisters, "rax" | "rbx" | "rcx" | "rdx" | "rsi" | "rdi" | "rsp" | "rbp">;
  /** rflags at the jump. */
  readonly rflags: bigint;
  /** The entry point it jumps to. */
  readonly rip: bigint;
  /** Its size. */
  readonly size: number;
}

// ---- the template --------------------------------------------------------------------------------
// Real mode (the code starts at ROM offset size - 0x200, reached from the reset vector):
//   fa                      cli
//   fc                      cld
//   2e 66 0f 01 16 d16      o32 lgdt cs:[d16]        (the GDTR pseudo-descriptor in the ROM)
//   66 b8 i32               mov eax, cr0
//   0f 22 c0                mov cr0, eax             (PE set: protected mode)
//   66 ea i32 i16           jmp far CODE:pm32        (reloads CS from the GDT)
// 32-bit protected mode:
//   66 b8 i16 8e d8         mov ax, DS; mov ds, ax   (and the same for es c0, fs e0, gs e8, ss d0)
//   80 25 a32 fd            and byte [TSS descriptor + 5], ~2   (busy -> available)
//   66 b8 i16 0f 00 d8      mov ax, TR; ltr ax
//   66 b8 i16 0f 00 d0      mov ax, LDT; lldt ax
//   0f 01 1d a32            lidt [a32]               (the IDTR pseudo-descriptor in the ROM)
//   b8 i32 0f 22 e0         mov eax, cr4; mov cr4, eax
//   b8 i32 0f 22 d8         mov eax, cr3; mov cr3, eax
//   b8 i32 0f 22 d0         mov eax, cr2; mov cr2, eax
//   b9 80 00 00 c0 b8 i32 ba i32 0f 30   wrmsr EFER (ecx = 0xc0000080, edx:eax)
//   31 c0 b4 i8 9e          xor eax, eax; mov ah, flags; sahf  (after the CR writes, which leave
//                           the flags undefined: xor clears OF, SAHF sets SF ZF AF PF CF)
//   b8+r i32 (x8)           eax, ecx, edx, ebx, esp, ebp, esi, edi
//   ea i32 i16              jmp far CS:rip
// Data: GDTR (6 bytes), IDTR (6 bytes). Reset vector (size - 16): e9 rel16 (jmp to the code).

const SEG_LOADS: readonly (readonly [keyof PvhRomState["selectors"], number])[] = [
  ["ds", 0xd8],
  ["es", 0xc0],
  ["fs", 0xe0],
  ["gs", 0xe8],
  ["ss", 0xd0],
];
/** The general registers in their `mov r32, imm32` (b8+r) order. */
const GPRS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] as const;
const EFER_MSR = 0xc0000080;
/** Flags SAHF can set: CF, PF, AF, ZF, SF (and bit 1, always 1). */
const SAHF_FLAGS = 0xd5n;

/** A position in an image, written by Emitter and read by Reader. */
class Cursor {
  readonly bytes: Uint8Array;
  pos: number;
  constructor(bytes: Uint8Array, pos: number) {
    this.bytes = bytes;
    this.pos = pos;
  }
}

class Emitter extends Cursor {
  u8(...vs: number[]): void {
    for (const v of vs) this.bytes[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.u8(v, v >>> 8);
  }
  u32(v: number | bigint): void {
    const n = Number(BigInt(v) & 0xffffffffn);
    this.u8(n, n >>> 8, n >>> 16, n >>> 24);
  }
}

/** Reads the template back, failing with `not-pvh-rom` at the first byte that differs. */
class Reader extends Cursor {
  expect(...vs: number[]): void {
    for (const v of vs) {
      const got = this.bytes[this.pos];
      if (got !== v) throw new PvhError("not-pvh-rom", `rom: expected byte ${hex(v)} at offset ${hex(this.pos)}, got ${got === undefined ? "the end" : hex(got)}`);
      this.pos++;
    }
  }
  u8(): number {
    const v = this.bytes[this.pos];
    if (v === undefined) throw new PvhError("truncated", `rom: ends at offset ${hex(this.pos)}`);
    this.pos++;
    return v;
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
}

// ---- what the ROM can express ------------------------------------------------------------------

function u32Field(field: string, v: unknown): bigint {
  const n = toU64(field, v);
  if (n >= FOUR_G) throw new PvhError("entry-state-unsupported", `${field}: the ROM runs in 32-bit protected mode and sets only 32 bits, got ${hex(n)}`);
  return n;
}

/** The segment state a selector's GDT descriptor gives (null selector: unusable). */
function segmentFromGdt(gdt: Uint8Array, selector: number): SegmentState {
  if (selector === 0) return { base: 0n, limit: 0, selector: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
  const at = selector & ~7;
  const b = (i: number): number => gdt[at + i] ?? 0;
  const limit20 = b(0) | (b(1) << 8) | ((b(6) & 0xf) << 16);
  const g = ((b(6) >> 7) & 1) as 0 | 1;
  return {
    base: BigInt((b(2) | (b(3) << 8) | (b(4) << 16) | (b(7) << 24)) >>> 0),
    limit: g ? ((limit20 << 12) | 0xfff) >>> 0 : limit20,
    selector,
    type: b(5) & 0xf,
    present: ((b(5) >> 7) & 1) as 0 | 1,
    dpl: (b(5) >> 5) & 3,
    db: ((b(6) >> 6) & 1) as 0 | 1,
    s: ((b(5) >> 4) & 1) as 0 | 1,
    l: ((b(6) >> 5) & 1) as 0 | 1,
    g,
    avl: ((b(6) >> 4) & 1) as 0 | 1,
    unusable: ((b(5) >> 7) & 1) === 1 ? 0 : 1,
  };
}

const SEG_FIELDS = ["base", "limit", "selector", "type", "present", "dpl", "db", "s", "l", "g", "avl", "unusable"] as const;

/** A number field of the state, checked to be an integer in [0, max]. */
function intField(field: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new PvhError("invalid-argument", `${field}: expected an integer 0..${hex(max)}, got ${typeof v === "number" ? String(v) : typeof v}`);
  if (v < 0 || v > max) throw new PvhError("out-of-range", `${field}: expected 0..${hex(max)}, got ${v}`);
  return v;
}

/**
 * Checks that loading `name`'s selector from the GDT gives exactly the planned segment state (with
 * the TSS descriptor as LTR leaves it: busy), and that the selector lies within the GDTR limit.
 */
function checkSegment(state: PvhEntryState, gdt: Uint8Array, gdtLimit: number, name: keyof PvhRomState["selectors"]): SegmentState {
  const want = checkObject(`sregs.${name}`, (state.sregs as unknown as Record<string, unknown>)[name]) as unknown as SegmentState;
  const sel = intField(`sregs.${name}.selector`, want.selector, 0xffff);
  if ((sel & 7) !== 0) throw new PvhError("entry-state-unsupported", `sregs.${name}.selector: expected a GDT selector with RPL 0 (a multiple of 8), got ${hex(sel)}`);
  if (sel !== 0 && (sel + 7 > gdtLimit || sel + 8 > gdt.length)) {
    throw new PvhError("entry-state-unsupported", `sregs.${name}.selector: ${hex(sel)} is past the GDT (limit ${hex(gdtLimit)}, ${gdt.length} bytes)`);
  }
  const got = segmentFromGdt(gdt, sel);
  for (const f of SEG_FIELDS) {
    const w = (want as unknown as Record<string, unknown>)[f];
    const g = got[f];
    if (typeof g === "bigint" ? typeof w !== "bigint" || w !== g : w !== g) {
      throw new PvhError(
        "entry-state-unsupported",
        `sregs.${name}.${f}: the ROM loads ${name} from GDT entry ${hex(sel)}, which gives ${f} ${String(g)}, but the state says ${typeof w === "bigint" || typeof w === "number" ? String(w) : typeof w}`,
      );
    }
  }
  return got;
}

const isFlat = (sg: SegmentState): boolean => sg.base === 0n && sg.limit === 0xffffffff;
const isData = (sg: SegmentState): boolean => sg.present === 1 && sg.s === 1 && (sg.type & 0x8) === 0;
/** Present, writable, expand-up data (an expand-down "flat" segment has no valid offset). */
const isWritableData = (sg: SegmentState): boolean => isData(sg) && (sg.type & 0x2) !== 0 && (sg.type & 0x4) === 0;
/** CR0 bits the ROM may set (Intel SDM vol. 3A §2.5): PE MP EM TS ET NE WP AM NW CD; PG is refused separately. */
const CR0_BITS = 0x6005_003fn;
/** CR4 bits every x86-64 CPU has (VME through OSXMMEXCPT, bits 0..10); others may be reserved and fault. */
const CR4_BITS = 0x7ffn;
/** EFER bits the ROM may set: SCE (0) and NXE (11); LME/LMA need paging, the rest is reserved. */
const EFER_BITS = 0x801n;

function checkState(state: PvhEntryState): Omit<PvhRomState, "size"> {
  const s = checkObject("state", state);
  const sregs = checkObject("state.sregs", s["sregs"]) as unknown as PvhSregs;
  const regs = checkObject("state.regs", s["regs"]) as unknown as GeneralRegisters;
  const g = checkObject("state.gdt", s["gdt"]);
  const gdtBytes = checkBytes("state.gdt.bytes", g["bytes"]);
  const gdtBase = u32Field("state.gdt.address", g["address"]);
  if (gdtBase + BigInt(gdtBytes.length) > FOUR_G) {
    throw new PvhError("entry-state-unsupported", `state.gdt.address: the GDT [${hex(gdtBase)}, ${hex(gdtBase + BigInt(gdtBytes.length))}) must end at or below 4 GiB (32-bit protected mode)`);
  }
  const gdtr = checkObject("sregs.gdt", (sregs as unknown as Record<string, unknown>)["gdt"]);
  if (toU64("sregs.gdt.base", gdtr["base"]) !== gdtBase) throw new PvhError("entry-state-unsupported", `sregs.gdt.base: expected the GDT's address ${hex(gdtBase)}, got ${hex(toU64("sregs.gdt.base", gdtr["base"]))}`);
  const gdtLimit = limit16("sregs.gdt.limit", gdtr["limit"]);
  // TR: LTR leaves the TSS busy, so the busy descriptor is what the state must describe; the ROM
  // marks it available first (LTR refuses a busy one).
  const trObj = checkObject("sregs.tr", (sregs as unknown as Record<string, unknown>)["tr"]);
  const trSel = intField("sregs.tr.selector", trObj["selector"], 0xffff);
  const trType = intField("sregs.tr.type", trObj["type"], 0xf);
  if (trSel === 0) throw new PvhError("entry-state-unsupported", "sregs.tr.selector: expected a TSS descriptor's selector, got the null selector");
  if (typeof trObj["s"] !== "number") throw new PvhError("invalid-argument", `sregs.tr.s: expected 0 or 1, got ${typeof trObj["s"]}`);
  if (trObj["s"] !== 0) throw new PvhError("entry-state-unsupported", `sregs.tr.s: expected 0 (a system descriptor: a TSS), got ${String(trObj["s"])}`);
  if (trType !== 0xb) throw new PvhError("entry-state-unsupported", `sregs.tr.type: expected 0xb (a busy 32-bit TSS, as LTR leaves it), got ${hex(trType)}`);
  const busy = busyTss(gdtBytes, trSel);
  const seg = (name: keyof PvhRomState["selectors"]): SegmentState => checkSegment(state, busy, gdtLimit, name);
  const cs = seg("cs");
  const ds = seg("ds");
  const es = seg("es");
  const fs = seg("fs");
  const gs = seg("gs");
  const ss = seg("ss");
  const tr = seg("tr");
  const ldt = seg("ldt");
  // The far jump runs at CPL 0: the code segment must be present with DPL 0 (SDM vol. 3A §5.8.1).
  if (cs.present !== 1 || cs.dpl !== 0 || cs.s !== 1 || (cs.type & 0x8) === 0 || cs.db !== 1 || cs.l !== 0 || !isFlat(cs)) {
    throw new PvhError("entry-state-unsupported", `sregs.cs: expected a present flat 32-bit code segment with DPL 0 (S 1, type with bit 3, D/B 1, L 0, base 0, limit 4 GiB), got present ${cs.present} dpl ${cs.dpl} type ${hex(cs.type)} db ${cs.db} l ${cs.l} base ${hex(cs.base)} limit ${hex(cs.limit)}`);
  }
  // The ROM addresses the GDT and its own data through DS: flat and writable.
  if (!isWritableData(ds) || !isFlat(ds)) throw new PvhError("entry-state-unsupported", `sregs.ds: expected a flat writable data segment (the ROM addresses memory through it), got type ${hex(ds.type)} s ${ds.s} base ${hex(ds.base)} limit ${hex(ds.limit)}`);
  // MOV SS needs a writable data segment whose DPL equals the CPL, 0 (SDM vol. 3A §5.7).
  if (!isWritableData(ss) || ss.dpl !== 0) throw new PvhError("entry-state-unsupported", `sregs.ss: expected a present writable expand-up data segment with DPL 0 (a null, code or other SS faults), got selector ${hex(ss.selector)} type ${hex(ss.type)} s ${ss.s} dpl ${ss.dpl} present ${ss.present}`);
  for (const [name, sg] of [["es", es], ["fs", fs], ["gs", gs]] as const) {
    if (sg.selector !== 0 && !(sg.present === 1 && (isData(sg) || (sg.s === 1 && (sg.type & 0xa) === 0xa)))) {
      throw new PvhError("entry-state-unsupported", `sregs.${name}: expected a null selector, a present data segment or a present readable code segment, got type ${hex(sg.type)} s ${sg.s} present ${sg.present}`);
    }
  }
  if (tr.present !== 1) throw new PvhError("entry-state-unsupported", "sregs.tr.present: LTR needs a present TSS descriptor");
  if (ldt.selector !== 0 && !(ldt.s === 0 && ldt.type === 0x2 && ldt.present === 1)) {
    throw new PvhError("entry-state-unsupported", `sregs.ldt: expected a null selector or an LDT descriptor (S 0, type 2), got type ${hex(ldt.type)} s ${ldt.s}`);
  }
  const selectors = { cs: cs.selector, ds: ds.selector, es: es.selector, fs: fs.selector, gs: gs.selector, ss: ss.selector, tr: trSel, ldt: ldt.selector };
  const cr0 = u32Field("sregs.cr0", sregs.cr0);
  // ET (bit 4) is hard-wired to 1 on every CPU since the P6 (SDM vol. 3A §2.5): a state without it
  // is not one the CPU can be in.
  if ((cr0 & 1n) === 0n || (cr0 & 0x10n) === 0n || (cr0 & 0x8000_0000n) !== 0n) {
    throw new PvhError("entry-state-unsupported", `sregs.cr0: expected PE (bit 0) and ET (bit 4) set and PG (bit 31) clear, got ${hex(cr0)}`);
  }
  if ((cr0 & ~CR0_BITS) !== 0n) throw new PvhError("entry-state-unsupported", `sregs.cr0: bits ${hex(cr0 & ~CR0_BITS)} are reserved (they fault, or read back other than written), got ${hex(cr0)}`);
  if ((cr0 & 0x2000_0000n) !== 0n && (cr0 & 0x4000_0000n) === 0n) throw new PvhError("entry-state-unsupported", `sregs.cr0: NW (bit 29) without CD (bit 30) faults, got ${hex(cr0)}`);
  const cr4 = u32Field("sregs.cr4", sregs.cr4);
  if ((cr4 & ~CR4_BITS) !== 0n) throw new PvhError("entry-state-unsupported", `sregs.cr4: the ROM sets only bits 0..10 (bits ${hex(cr4 & ~CR4_BITS)} may be reserved on the CPU and fault), got ${hex(cr4)}`);
  const efer = toU64("sregs.efer", sregs.efer);
  if ((efer & 0x500n) !== 0n) throw new PvhError("entry-state-unsupported", `sregs.efer: LME and LMA (bits 8, 10) must be clear without paging, got ${hex(efer)}`);
  if ((efer & ~EFER_BITS) !== 0n) throw new PvhError("entry-state-unsupported", `sregs.efer: the ROM sets only SCE (bit 0) and NXE (bit 11), got ${hex(efer)}`);
  const rflags = toU64("regs.rflags", regs.rflags);
  if ((rflags & ~SAHF_FLAGS) !== 2n) {
    throw new PvhError("entry-state-unsupported", `regs.rflags: the ROM can set only CF, PF, AF, ZF and SF (with bit 1 set, IF/DF/TF/OF clear), got ${hex(rflags)}`);
  }
  for (const r of ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const) {
    if (toU64(`regs.${r}`, regs[r]) !== 0n) throw new PvhError("entry-state-unsupported", `regs.${r}: not reachable in 32-bit mode (it stays 0 after reset), got ${hex(regs[r])}`);
  }
  const out = {} as Record<(typeof GPRS)[number], bigint>;
  for (const r of GPRS) out[r] = u32Field(`regs.${r}`, regs[r]);
  const idtr = checkObject("sregs.idt", (sregs as unknown as Record<string, unknown>)["idt"]);
  return {
    gdt: { base: gdtBase, limit: gdtLimit },
    idt: { base: u32Field("sregs.idt.base", idtr["base"]), limit: limit16("sregs.idt.limit", idtr["limit"]) },
    selectors,
    cr0,
    cr2: u32Field("sregs.cr2", sregs.cr2),
    cr3: u32Field("sregs.cr3", sregs.cr3),
    cr4,
    efer,
    regs: out,
    rflags,
    rip: u32Field("regs.rip", regs.rip),
  };
}

function limit16(field: string, v: unknown): number {
  return intField(field, v, 0xffff);
}

/** A copy of the GDT with the TSS descriptor at `sel` marked busy (what LTR leaves). */
function busyTss(gdt: Uint8Array, sel: number): Uint8Array {
  const copy = gdt.slice();
  const at = (sel & ~7) + 5;
  if (at < copy.length) copy[at] = (copy[at] as number) | 0x02;
  return copy;
}

// ---- build and decode ------------------------------------------------------------------------------

/**
 * Builds a firmware image that brings the boot CPU from the x86 reset state to `state` and jumps
 * to its entry point: real mode, LGDT of the state's GDT, protected mode, the segment, task,
 * descriptor-table and control registers, EFER, the general registers and flags, then a far jump
 * to `rip`. The GDT itself must be in guest RAM (the ROM marks its TSS descriptor available and
 * LTR marks it busy again, so the GDT ends byte for byte as planned). Other CPUs are not touched
 * (they wait for INIT/SIPI). Pure: the image is returned, nothing is written anywhere.
 *
 * @param init - the entry state, the ROM size and blobs to carry
 * @returns the ROM image (`size` bytes), unused bytes 0xff as in an erased flash part
 * @throws {@link PvhError} `entry-state-unsupported` when the state is not one the ROM can reach:
 *   segment state other than loading the GDT's descriptors gives, a CS/SS/DS/ES/FS/GS/TR/LDTR
 *   descriptor of the wrong kind, privilege or presence, a GDT ending above 4 GiB, CR0 without PE
 *   and ET or with PG, NW without CD or reserved bits, CR4 beyond bits 0..10, EFER beyond SCE and
 *   NXE, flags other than CF/PF/AF/ZF/SF, 64-bit registers; `invalid-argument` / `out-of-range`
 *   for malformed fields and sizes; `rom-layout` for a blob outside the ROM's windows or over its
 *   code
 * @example
 * ```ts
 * import { buildPvhRom, pvhEntryState } from "@microvm/pvh";
 * const rom = buildPvhRom({ state: pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 }) });
 * // qemu-system-x86_64 -bios rom.bin … (with the GDT, start_info and kernel loaded into RAM)
 * console.log(rom.length, rom[rom.length - 16]?.toString(16)); // 65536 "e9"
 * ```
 */
export function buildPvhRom(init: PvhRomInit): Uint8Array {
  const o = checkObject("init", init);
  const size = o["size"] === undefined ? PVH_ROM_SIZE : (o["size"] as number);
  const windows = pvhRomWindows(size);
  const st = checkState(init.state);
  const rom = new Uint8Array(size).fill(0xff);
  const codeAt = size - PVH_ROM_CODE_SIZE;
  const romLinear = (off: number): number => Number(windows.high.start) + off;

  // Blobs first, so that one reaching the code is reported against it.
  const blobList = o["blobs"] === undefined ? [] : checkArray("blobs", o["blobs"]);
  for (const [i, raw] of blobList.entries()) {
    const b = checkObject(`blobs[${i}]`, raw) as unknown as PvhRomBlob;
    const name = `blobs[${i}]${typeof b.name === "string" && b.name ? ` (${b.name})` : ""}`;
    const bytes = checkBytes(`${name}.bytes`, b.bytes);
    const addr = toU64(`${name}.address`, b.address);
    const end = addr + BigInt(bytes.length);
    const win = [windows.low, windows.high].find((w) => addr >= w.start && end <= w.end);
    if (!win) {
      throw new PvhError("rom-layout", `${name}: [${hex(addr)}, ${hex(end)}) is in neither of the ROM's windows [${hex(windows.low.start)}, ${hex(windows.low.end)}) and [${hex(windows.high.start)}, 4 GiB)`);
    }
    const off = Number(BigInt(size) - (win.end - addr));
    if (off + bytes.length > codeAt) {
      throw new PvhError("rom-layout", `${name}: [${hex(addr)}, ${hex(end)}) reaches the ROM's code, which takes its last ${hex(PVH_ROM_CODE_SIZE)} bytes (${hex(win.end - BigInt(PVH_ROM_CODE_SIZE))}..)`);
    }
    rom.set(bytes, off);
  }

  const e = new Emitter(rom, codeAt);
  // Real mode. Offsets within the reset code segment (base 0xffff0000) are ROM offsets of the last 64 KiB.
  const seg16 = (off: number): number => off - (size - 0x10000);
  e.u8(0xfa, 0xfc);
  const lgdtFixup = e.pos + 5;
  e.u8(0x2e, 0x66, 0x0f, 0x01, 0x16);
  e.u16(0); // patched below
  e.u8(0x66, 0xb8);
  e.u32(st.cr0);
  e.u8(0x0f, 0x22, 0xc0);
  const farFixup = e.pos + 2;
  e.u8(0x66, 0xea);
  e.u32(0); // patched below
  e.u16(st.selectors.cs);
  // 32-bit protected mode.
  const pm32 = e.pos;
  for (const [seg, modrm] of SEG_LOADS) {
    e.u8(0x66, 0xb8);
    e.u16(st.selectors[seg]);
    e.u8(0x8e, modrm);
  }
  e.u8(0x80, 0x25);
  e.u32(st.gdt.base + BigInt(st.selectors.tr) + 5n);
  e.u8(0xfd);
  e.u8(0x66, 0xb8);
  e.u16(st.selectors.tr);
  e.u8(0x0f, 0x00, 0xd8);
  e.u8(0x66, 0xb8);
  e.u16(st.selectors.ldt);
  e.u8(0x0f, 0x00, 0xd0);
  const lidtFixup = e.pos + 3;
  e.u8(0x0f, 0x01, 0x1d);
  e.u32(0); // patched below
  for (const [v, modrm] of [
    [st.cr4, 0xe0],
    [st.cr3, 0xd8],
    [st.cr2, 0xd0],
  ] as const) {
    e.u8(0xb8);
    e.u32(v);
    e.u8(0x0f, 0x22, modrm);
  }
  e.u8(0xb9);
  e.u32(EFER_MSR);
  e.u8(0xb8);
  e.u32(st.efer & 0xffffffffn);
  e.u8(0xba);
  e.u32(st.efer >> 32n);
  e.u8(0x0f, 0x30);
  e.u8(0x31, 0xc0, 0xb4, Number(st.rflags & SAHF_FLAGS), 0x9e);
  GPRS.forEach((r, i) => {
    e.u8(0xb8 + i);
    e.u32(st.regs[r]);
  });
  e.u8(0xea);
  e.u32(st.rip);
  e.u16(st.selectors.cs);
  // Data: the two pseudo-descriptors.
  const gdtr = e.pos;
  e.u16(st.gdt.limit);
  e.u32(st.gdt.base);
  const idtr = e.pos;
  e.u16(st.idt.limit);
  e.u32(st.idt.base);
  if (e.pos > size - 16) throw new Error("pvh rom: template larger than its area"); // a bug, not an input error

  // Fix-ups, now that the offsets are known.
  new Emitter(rom, lgdtFixup).u16(seg16(gdtr));
  new Emitter(rom, farFixup).u32(romLinear(pm32));
  new Emitter(rom, lidtFixup).u32(romLinear(idtr));
  // The reset vector: jmp near to the code (rel16 from the end of the 3-byte instruction).
  const reset = new Emitter(rom, size - 16);
  reset.u8(0xe9);
  reset.u16((seg16(codeAt) - seg16(size - 13)) & 0xffff);
  return rom;
}

/**
 * Reads a ROM made by {@link buildPvhRom} back into the state it establishes, checking every
 * opcode byte of the template on the way (so a ROM whose code was changed is refused, not
 * misread).
 *
 * @param rom - the image
 * @returns the state it sets and the entry it jumps to
 * @throws {@link PvhError} `out-of-range` for a size that is not a multiple of 64 KiB,
 *   `not-pvh-rom` at the first byte that is not the template's
 * @example
 * ```ts
 * import { buildPvhRom, decodePvhRom, pvhEntryState } from "@microvm/pvh";
 * const rom = buildPvhRom({ state: pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 }) });
 * console.log(decodePvhRom(rom).cr0); // 17n
 * ```
 */
export function decodePvhRom(rom: Uint8Array): PvhRomState {
  const bytes = checkBytes("rom", rom);
  const size = bytes.length;
  const windows = pvhRomWindows(size);
  const codeAt = size - PVH_ROM_CODE_SIZE;
  const seg16 = (off: number): number => off - (size - 0x10000);
  const offOf = (linear: number, what: string): number => {
    const off = linear - Number(windows.high.start);
    if (off < codeAt || off >= size) throw new PvhError("not-pvh-rom", `rom: ${what} points at ${hex(linear)}, outside the ROM's code`);
    return off;
  };
  const reset = new Reader(bytes, size - 16);
  reset.expect(0xe9);
  const rel = reset.u16();
  if (((seg16(size - 13) + rel) & 0xffff) !== seg16(codeAt)) throw new PvhError("not-pvh-rom", `rom: the reset vector jumps to ${hex((seg16(size - 13) + rel) & 0xffff)}, not to the code at ${hex(seg16(codeAt))}`);

  const r = new Reader(bytes, codeAt);
  r.expect(0xfa, 0xfc, 0x2e, 0x66, 0x0f, 0x01, 0x16);
  const gdtrOff = r.u16() + (size - 0x10000);
  r.expect(0x66, 0xb8);
  const cr0 = BigInt(r.u32());
  r.expect(0x0f, 0x22, 0xc0, 0x66, 0xea);
  const pm32 = offOf(r.u32(), "the far jump to 32-bit code");
  const cs = r.u16();
  if (pm32 !== r.pos) throw new PvhError("not-pvh-rom", `rom: the far jump goes to offset ${hex(pm32)}, not to the next instruction at ${hex(r.pos)}`);
  const sel: Record<string, number> = { cs };
  for (const [seg, modrm] of SEG_LOADS) {
    r.expect(0x66, 0xb8);
    sel[seg] = r.u16();
    r.expect(0x8e, modrm);
  }
  r.expect(0x80, 0x25);
  const trDesc = r.u32();
  r.expect(0xfd, 0x66, 0xb8);
  sel["tr"] = r.u16();
  r.expect(0x0f, 0x00, 0xd8, 0x66, 0xb8);
  sel["ldt"] = r.u16();
  r.expect(0x0f, 0x00, 0xd0, 0x0f, 0x01, 0x1d);
  const idtrOff = offOf(r.u32(), "lidt");
  const crs: bigint[] = [];
  for (const modrm of [0xe0, 0xd8, 0xd0]) {
    r.expect(0xb8);
    crs.push(BigInt(r.u32()));
    r.expect(0x0f, 0x22, modrm);
  }
  r.expect(0xb9, 0x80, 0x00, 0x00, 0xc0, 0xb8);
  const eferLo = BigInt(r.u32());
  r.expect(0xba);
  const eferHi = BigInt(r.u32());
  r.expect(0x0f, 0x30, 0x31, 0xc0, 0xb4);
  const ah = r.u8();
  r.expect(0x9e);
  const regs = {} as Record<(typeof GPRS)[number], bigint>;
  GPRS.forEach((name, i) => {
    r.expect(0xb8 + i);
    regs[name] = BigInt(r.u32());
  });
  r.expect(0xea);
  const rip = BigInt(r.u32());
  r.expect(...[cs & 0xff, cs >>> 8]);
  const table = (off: number, what: string): TableRegister => {
    if (off + 6 > size) throw new PvhError("not-pvh-rom", `rom: the ${what} pseudo-descriptor at offset ${hex(off)} runs past the end of the image`);
    const t = new Reader(bytes, off);
    const limit = t.u16();
    return { limit, base: BigInt(t.u32()) };
  };
  const gdt = table(gdtrOff, "GDTR");
  if (BigInt(trDesc) !== gdt.base + BigInt(sel["tr"] as number) + 5n) {
    throw new PvhError("not-pvh-rom", `rom: the TSS fix-up writes ${hex(trDesc)}, not the TR descriptor's type byte at ${hex(gdt.base + BigInt(sel["tr"] as number) + 5n)}`);
  }
  return {
    gdt,
    idt: table(idtrOff, "IDTR"),
    selectors: sel as unknown as PvhRomState["selectors"],
    cr0,
    cr4: crs[0] as bigint,
    cr3: crs[1] as bigint,
    cr2: crs[2] as bigint,
    efer: (eferHi << 32n) | eferLo,
    regs,
    rflags: BigInt(ah & Number(SAHF_FLAGS)) | 2n,
    rip,
    size,
  };
}
