// A model of the boot ROM for the tests, written from the instruction encodings (Intel SDM vol. 2)
// and the layout rom.ts documents, not from rom.ts's code: where each byte of the code region
// is, whether it is an opcode byte (fixed) or an operand, and what the operands must hold for a
// given entry state. The tests use it three ways: to predict the exact code bytes of a ROM, to
// predict what decodePvhRom says about a ROM with one byte flipped, and to generate states.
import fc from "fast-check";
import { pvhEntryState, type PvhEntryState, type PvhRomState } from "@microvm/pvh";

export const KIB = 1024;
export const ROM_UNIT = 64 * KIB;
/** The code region is the last 0x200 bytes; the CPU starts 16 bytes below 4 GiB. */
export const CODE = 0x200;
/** Linear address of the code region, whatever the ROM size (the image ends at 4 GiB). */
export const CODE_LINEAR = 0x1_0000_0000 - CODE;
/** IP of the code region in the reset code segment (CS.base 0xffff0000). */
export const CODE_IP = 0x10000 - CODE;
/** Flags SAHF loads: SF ZF AF PF CF (bits 7, 6, 4, 2, 0). */
export const SAHF_MASK = 0xd5;
export const FLAG_BITS = [0x01, 0x04, 0x10, 0x40, 0x80] as const;

export type SegName = "ds" | "es" | "fs" | "gs" | "ss";
export type Gpr = "rax" | "rcx" | "rdx" | "rbx" | "rsp" | "rbp" | "rsi" | "rdi";
/** In `mov r32, imm32` (b8+r) order: eax ecx edx ebx esp ebp esi edi. */
export const GPRS: readonly Gpr[] = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"];
/** `mov Sreg, r/m16` (8e /r) with r/m = ax: ModRM = 0xc0 | sreg << 3 (es 0, ss 2, ds 3, fs 4, gs 5). */
export const SEG_MODRM: readonly (readonly [SegName, number])[] = [
  ["ds", 0xd8],
  ["es", 0xc0],
  ["fs", 0xe0],
  ["gs", 0xe8],
  ["ss", 0xd0],
];

/** Operand fields of the template. */
export type Field =
  | "gdtrPtr" // lgdt's disp16 (an IP in the reset code segment)
  | "cr0"
  | "pm32" // the first far jump's offset (linear: CS base 0)
  | "cs1" // its selector
  | SegName
  | "trByte" // the address the `and` clears the TSS busy bit at
  | "tr"
  | "ldt"
  | "idtrPtr" // lidt's disp32 (linear)
  | "cr4"
  | "cr3"
  | "cr2"
  | "eferLo"
  | "eferHi"
  | "ah"
  | Gpr
  | "rip"
  | "cs2" // the final far jump's selector
  | "gdtLimit"
  | "gdtBase"
  | "idtLimit"
  | "idtBase"
  | "resetRel"; // the reset vector's rel16

export interface Slot {
  readonly field: Field;
  /** Offset from the start of the code region. */
  readonly at: number;
  readonly len: 1 | 2 | 4;
}

export interface Template {
  /** Opcode (fixed) bytes by code-region offset. */
  readonly ops: ReadonlyMap<number, number>;
  readonly slots: readonly Slot[];
  /** Slot by field. */
  readonly slot: Readonly<Record<Field, Slot>>;
  /** Code-region offsets that are neither opcode nor operand (0xff filler). */
  readonly unused: readonly number[];
}

type Item = { op: number[] } | { field: Field; len: 1 | 2 | 4 };
const op = (...b: number[]): Item => ({ op: b });
const imm = (field: Field, len: 1 | 2 | 4): Item => ({ field, len });

function template(): Template {
  const items: Item[] = [
    // real mode (16-bit): cli; cld; o32 lgdt cs:[disp16]; mov eax, imm32; mov cr0, eax; o32 jmp far ptr16:32
    op(0xfa, 0xfc, 0x2e, 0x66, 0x0f, 0x01, 0x16), imm("gdtrPtr", 2),
    op(0x66, 0xb8), imm("cr0", 4),
    op(0x0f, 0x22, 0xc0),
    op(0x66, 0xea), imm("pm32", 4), imm("cs1", 2),
    // 32-bit: o16 mov ax, imm16; mov sreg, ax
    ...SEG_MODRM.flatMap(([seg, modrm]) => [op(0x66, 0xb8), imm(seg, 2), op(0x8e, modrm)]),
    // and byte [disp32], imm8 (80 /4, ModRM 0x25 = disp32 only)
    op(0x80, 0x25), imm("trByte", 4), op(0xfd),
    // ltr ax (0f 00 /3), lldt ax (0f 00 /2)
    op(0x66, 0xb8), imm("tr", 2), op(0x0f, 0x00, 0xd8),
    op(0x66, 0xb8), imm("ldt", 2), op(0x0f, 0x00, 0xd0),
    // lidt [disp32] (0f 01 /3, ModRM 0x1d)
    op(0x0f, 0x01, 0x1d), imm("idtrPtr", 4),
    // mov eax, imm32; mov crN, eax (0f 22 /r: cr4 e0, cr3 d8, cr2 d0)
    op(0xb8), imm("cr4", 4), op(0x0f, 0x22, 0xe0),
    op(0xb8), imm("cr3", 4), op(0x0f, 0x22, 0xd8),
    op(0xb8), imm("cr2", 4), op(0x0f, 0x22, 0xd0),
    // mov ecx, 0xc0000080 (IA32_EFER); mov eax, lo; mov edx, hi; wrmsr
    op(0xb9, 0x80, 0x00, 0x00, 0xc0), op(0xb8), imm("eferLo", 4), op(0xba), imm("eferHi", 4), op(0x0f, 0x30),
    // xor eax, eax (clears OF); mov ah, imm8; sahf
    op(0x31, 0xc0, 0xb4), imm("ah", 1), op(0x9e),
    ...GPRS.flatMap((r, i) => [op(0xb8 + i), imm(r, 4)]),
    // jmp far ptr16:32
    op(0xea), imm("rip", 4), imm("cs2", 2),
    // data: the GDTR and IDTR pseudo-descriptors
    imm("gdtLimit", 2), imm("gdtBase", 4), imm("idtLimit", 2), imm("idtBase", 4),
  ];
  const ops = new Map<number, number>();
  const slots: Slot[] = [];
  let at = 0;
  const place = (it: Item): void => {
    if ("op" in it) for (const b of it.op) ops.set(at++, b);
    else {
      slots.push({ field: it.field, at, len: it.len });
      at += it.len;
    }
  };
  items.forEach(place);
  if (at > CODE - 16) throw new Error("model: template overlaps the reset vector");
  at = CODE - 16;
  [op(0xe9), imm("resetRel", 2)].forEach(place);
  const slot = Object.fromEntries(slots.map((s) => [s.field, s])) as Record<Field, Slot>;
  const used = new Set<number>(ops.keys());
  for (const s of slots) for (let i = 0; i < s.len; i++) used.add(s.at + i);
  const unused = Array.from({ length: CODE }, (_, i) => i).filter((i) => !used.has(i));
  return { ops, slots, slot, unused };
}

export const TEMPLATE: Template = template();

/** What decodePvhRom should return for a ROM built from `state` (with `size` bytes). */
export function expectedDecode(state: PvhEntryState, size: number): PvhRomState {
  const s = state.sregs;
  const big = (v: unknown): bigint => BigInt(v as bigint | number);
  return {
    gdt: { base: big(s.gdt.base), limit: s.gdt.limit },
    idt: { base: big(s.idt.base), limit: s.idt.limit },
    selectors: { cs: s.cs.selector, ds: s.ds.selector, es: s.es.selector, fs: s.fs.selector, gs: s.gs.selector, ss: s.ss.selector, tr: s.tr.selector, ldt: s.ldt.selector },
    cr0: big(s.cr0),
    cr2: big(s.cr2),
    cr3: big(s.cr3),
    cr4: big(s.cr4),
    efer: big(s.efer),
    regs: Object.fromEntries(GPRS.map((r) => [r, big(state.regs[r])])) as PvhRomState["regs"],
    rflags: big(state.regs.rflags),
    rip: big(state.regs.rip),
    size,
  };
}

/** Every operand's value for a ROM that establishes `d` (a PvhRomState). */
export function operandValues(d: PvhRomState): Record<Field, number> {
  const n = (v: bigint): number => Number(v & 0xffff_ffffn);
  const slot = TEMPLATE.slot;
  return {
    gdtrPtr: CODE_IP + slot.gdtLimit.at,
    cr0: n(d.cr0),
    pm32: CODE_LINEAR + slot.ds.at - 2, // the first instruction after the far jump: 66 b8 <ds>
    cs1: d.selectors.cs,
    ds: d.selectors.ds,
    es: d.selectors.es,
    fs: d.selectors.fs,
    gs: d.selectors.gs,
    ss: d.selectors.ss,
    trByte: n(d.gdt.base + BigInt(d.selectors.tr) + 5n),
    tr: d.selectors.tr,
    ldt: d.selectors.ldt,
    idtrPtr: CODE_LINEAR + slot.idtLimit.at,
    cr4: n(d.cr4),
    cr3: n(d.cr3),
    cr2: n(d.cr2),
    eferLo: n(d.efer),
    eferHi: n(d.efer >> 32n),
    ah: Number(d.rflags) & SAHF_MASK,
    rax: n(d.regs.rax),
    rcx: n(d.regs.rcx),
    rdx: n(d.regs.rdx),
    rbx: n(d.regs.rbx),
    rsp: n(d.regs.rsp),
    rbp: n(d.regs.rbp),
    rsi: n(d.regs.rsi),
    rdi: n(d.regs.rdi),
    rip: n(d.rip),
    cs2: d.selectors.cs,
    gdtLimit: d.gdt.limit,
    gdtBase: n(d.gdt.base),
    idtLimit: d.idt.limit,
    idtBase: n(d.idt.base),
    // jmp rel16 at IP 0xfff0, 3 bytes long: target = 0xfff3 + rel (mod 2^16)
    resetRel: (CODE_IP - 0xfff3) & 0xffff,
  };
}

/** The model's code region (0x200 bytes) for a ROM that establishes `d`. */
export function modelCode(d: PvhRomState): Uint8Array {
  const b = new Uint8Array(CODE).fill(0xff);
  for (const [at, v] of TEMPLATE.ops) b[at] = v;
  const vals = operandValues(d);
  for (const s of TEMPLATE.slots) for (let i = 0; i < s.len; i++) b[s.at + i] = (vals[s.field] >>> (8 * i)) & 0xff;
  return b;
}

/** Little-endian read of `len` bytes at `at`, or undefined past the end. */
export function readLe(b: Uint8Array, at: number, len: number): number | undefined {
  if (at < 0 || at + len > b.length) return undefined;
  let v = 0;
  for (let i = len - 1; i >= 0; i--) v = v * 256 + (b[at + i] as number);
  return v;
}

export type FlipPrediction =
  | { readonly kind: "error"; readonly code: "not-pvh-rom" | "truncated" }
  | { readonly kind: "ok"; readonly state: PvhRomState };

/**
 * What decodePvhRom must say about `rom` (built for `d`) once the byte at code-region offset `at`
 * is XORed with `mask` (non-zero). `rom` is the flipped image.
 */
export function predictFlip(rom: Uint8Array, d: PvhRomState, at: number, mask: number): FlipPrediction {
  const notRom = { kind: "error", code: "not-pvh-rom" } as const;
  if (TEMPLATE.ops.has(at)) return notRom;
  const s = TEMPLATE.slots.find((x) => at >= x.at && at < x.at + x.len);
  if (!s) return { kind: "ok", state: d }; // filler: not part of the ROM
  const size = rom.length;
  const codeAt = size - CODE;
  const vals = operandValues(d);
  const nv = (vals[s.field] ^ (mask << (8 * (at - s.at)))) >>> 0;
  const ok = (patch: Partial<PvhRomState>): FlipPrediction => ({ kind: "ok", state: { ...d, ...patch } });
  const table = (off: number): { base: bigint; limit: number } | undefined => {
    const limit = readLe(rom, off, 2);
    const base = readLe(rom, off + 2, 4);
    return limit === undefined || base === undefined ? undefined : { base: BigInt(base), limit };
  };
  switch (s.field) {
    // Operands that are checked against the rest of the template.
    case "pm32": // must be the next instruction
    case "cs1": // must equal the final jump's selector
    case "cs2":
    case "trByte": // must be the TR descriptor's type byte in the GDT
    case "tr":
    case "gdtBase":
    case "resetRel": // must reach the code
      return notRom;
    case "gdtrPtr": {
      // lgdt reads its operand wherever it points in the reset segment (the last 64 KiB).
      const g = table(nv + (size - 0x10000));
      if (!g) return { kind: "error", code: "truncated" };
      return g.base + BigInt(d.selectors.tr) + 5n === BigInt(vals.trByte) ? ok({ gdt: g }) : notRom;
    }
    case "idtrPtr": {
      const off = nv - (0x1_0000_0000 - size);
      if (off < codeAt || off >= size) return notRom;
      const t = table(off);
      return t ? ok({ idt: t }) : { kind: "error", code: "truncated" };
    }
    case "ah":
      return ok({ rflags: BigInt((nv & SAHF_MASK) | 2) });
    case "cr0":
    case "cr2":
    case "cr3":
    case "cr4":
    case "rip":
      return ok({ [s.field]: BigInt(nv) });
    case "eferLo":
      return ok({ efer: (d.efer & ~0xffff_ffffn) | BigInt(nv) });
    case "eferHi":
      return ok({ efer: (BigInt(nv) << 32n) | (d.efer & 0xffff_ffffn) });
    case "ds":
    case "es":
    case "fs":
    case "gs":
    case "ss":
    case "ldt":
      return ok({ selectors: { ...d.selectors, [s.field]: nv } });
    case "gdtLimit":
      return ok({ gdt: { ...d.gdt, limit: nv } });
    case "idtLimit":
      return ok({ idt: { ...d.idt, limit: nv } });
    case "idtBase":
      return ok({ idt: { ...d.idt, base: BigInt(nv) } });
    default:
      return ok({ regs: { ...d.regs, [s.field]: BigInt(nv) } });
  }
}

// ---- generators -------------------------------------------------------------------------------------

/** A u32 that hits both ends often. */
export const u32: fc.Arbitrary<number> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

export interface StateInputs {
  readonly entry: number;
  readonly startInfo: number;
  readonly gdtAddress: number;
  /** 0..31: which of CF PF AF ZF SF are set. */
  readonly flagSet: number;
  readonly gprs: Readonly<Record<Exclude<Gpr, "rbx">, number>>;
  readonly cr0: number;
  readonly cr2: number;
  readonly cr3: number;
  readonly cr4: number;
  readonly efer: bigint;
  readonly idtBase: number;
  readonly idtLimit: number;
  /** ROM size in 64 KiB units. */
  readonly units: number;
}

const GDT_MAX = 0x1_0000_0000 - 32;

export const stateInputs = (maxUnits: number): fc.Arbitrary<StateInputs> =>
  fc.record({
    entry: u32,
    startInfo: u32,
    gdtAddress: fc.oneof(fc.constantFrom(0, GDT_MAX), fc.integer({ min: 0, max: GDT_MAX })),
    flagSet: fc.integer({ min: 0, max: 31 }),
    gprs: fc.record({ rax: u32, rcx: u32, rdx: u32, rsp: u32, rbp: u32, rsi: u32, rdi: u32 }),
    // PE set, PG clear, anything else
    cr0: u32.map((v) => ((v | 1) & 0x7fff_ffff) >>> 0),
    cr2: u32,
    cr3: u32,
    cr4: u32,
    efer: fc.oneof(fc.constantFrom(0n, 1n << 63n, 0xffff_ffff_ffff_ffffn), fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn })).map((v) => v & ~0x500n),
    idtBase: u32,
    idtLimit: fc.oneof(fc.constantFrom(0, 0xffff), fc.integer({ min: 0, max: 0xffff })),
    units: fc.oneof(fc.constantFrom(1, 2, 3, maxUnits), fc.integer({ min: 1, max: maxUnits })),
  });

export function flagsOf(flagSet: number): bigint {
  return BigInt(FLAG_BITS.reduce((f, bit, i) => ((flagSet >> i) & 1 ? f | bit : f), 2));
}

export function stateFrom(x: StateInputs): PvhEntryState {
  const base = pvhEntryState({ entry: x.entry, startInfo: x.startInfo, gdtAddress: x.gdtAddress });
  const g = (v: number): bigint => BigInt(v);
  return {
    ...base,
    sregs: { ...base.sregs, cr0: g(x.cr0), cr2: g(x.cr2), cr3: g(x.cr3), cr4: g(x.cr4), efer: x.efer, idt: { base: g(x.idtBase), limit: x.idtLimit } },
    regs: {
      ...base.regs,
      rax: g(x.gprs.rax),
      rcx: g(x.gprs.rcx),
      rdx: g(x.gprs.rdx),
      rsp: g(x.gprs.rsp),
      rbp: g(x.gprs.rbp),
      rsi: g(x.gprs.rsi),
      rdi: g(x.gprs.rdi),
      rflags: flagsOf(x.flagSet),
    },
  };
}

/** A state with every operand non-zero and distinct, for deterministic tests. */
export function busyState(): PvhEntryState {
  return stateFrom({
    entry: 0x0123_4567,
    startInfo: 0x89ab_cdef,
    gdtAddress: 0x0007_5310,
    flagSet: 0b10101,
    gprs: { rax: 0x1111_1111, rcx: 0x2222_2222, rdx: 0x3333_3333, rsp: 0x4444_4444, rbp: 0x5555_5555, rsi: 0x6666_6666, rdi: 0x7777_7777 },
    cr0: 0x6000_0033,
    cr2: 0xdead_beef,
    cr3: 0x00ab_c000,
    cr4: 0x0000_06a0,
    efer: 0x1234_5678_0000_0801n,
    idtBase: 0xfeed_f00d,
    idtLimit: 0x07ff,
    units: 1,
  });
}
