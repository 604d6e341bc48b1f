// A model of the boot ROM for the tests, written from the instruction encodings (Intel SDM vol. 2)
// and the layout rom.ts documents, not from rom.ts's code: where each byte of the code region
// is, whether it is an opcode byte (fixed) or an operand, and what the operands must hold for a
// given entry state. The tests use it four ways: to predict the exact code bytes of a ROM, to
// predict what decodePvhRom says about a ROM with one byte flipped, to generate states, and to
// predict what buildPvhRom says about a state (predictBuild: GDT descriptors decoded from the
// SDM's layout, then the rules rom.ts documents).
import fc from "fast-check";
import { pvhEntryState, type PvhEntryState, type PvhErrorCode, type PvhRomState, type SegmentState } from "@microvm/pvh";

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

export type FlipPrediction = { readonly kind: "error"; readonly code: "not-pvh-rom" } | { readonly kind: "ok"; readonly state: PvhRomState };

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
      // A pseudo-descriptor that would run past the image's end is not the template's.
      const g = table(nv + (size - 0x10000));
      if (!g) return notRom;
      return g.base + BigInt(d.selectors.tr) + 5n === BigInt(vals.trByte) ? ok({ gdt: g }) : notRom;
    }
    case "idtrPtr": {
      const off = nv - (0x1_0000_0000 - size);
      if (off < codeAt || off >= size) return notRom;
      const t = table(off);
      return t ? ok({ idt: t }) : notRom;
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

// ---- GDT descriptors and what loading one gives -------------------------------------------------

/** The segment registers the ROM loads, in the order PvhSregs declares them. */
export const SEG_REGS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
export type SegReg = (typeof SEG_REGS)[number];
/** SegmentState's fields, in the order the interface declares them. */
export const SEG_FIELDS = ["base", "limit", "selector", "type", "present", "dpl", "db", "s", "l", "g", "avl", "unusable"] as const;

/** A segment descriptor's fields (Intel SDM vol. 3A §3.4.5, figure 3-8). */
export interface Descriptor {
  /** 32 bits. */
  readonly base: number;
  /** The raw 20-bit limit (in 4 KiB units when g is 1). */
  readonly limit20: number;
  /** 4 bits. */
  readonly type: number;
  readonly s: 0 | 1;
  readonly dpl: number;
  readonly present: 0 | 1;
  readonly avl: 0 | 1;
  readonly l: 0 | 1;
  readonly db: 0 | 1;
  readonly g: 0 | 1;
}

/** Descriptors of the kinds the tests use. */
export const DESC = {
  /** Flat 32-bit execute/read code, accessed (0xb). */
  code: { base: 0, limit20: 0xfffff, type: 0xb, s: 1, dpl: 0, present: 1, avl: 0, l: 0, db: 1, g: 1 },
  /** Flat read/write data, accessed (3). */
  data: { base: 0, limit20: 0xfffff, type: 0x3, s: 1, dpl: 0, present: 1, avl: 0, l: 0, db: 1, g: 1 },
  /** An LDT (system descriptor, type 2) of 32 entries at 0x2000. */
  ldt: { base: 0x2000, limit20: 0xff, type: 0x2, s: 0, dpl: 0, present: 1, avl: 0, l: 0, db: 0, g: 0 },
  /** An available 32-bit TSS (type 9), 0x68 bytes at 0x3000. */
  tss: { base: 0x3000, limit20: 0x67, type: 0x9, s: 0, dpl: 0, present: 1, avl: 0, l: 0, db: 0, g: 0 },
} as const satisfies Record<string, Descriptor>;

/** The 8 bytes of `d`: limit 15:0, base 23:0, type | S | DPL | P, limit 19:16 | AVL | L | D/B | G, base 31:24. */
export function encodeDescriptor(d: Descriptor): Uint8Array {
  return Uint8Array.of(
    d.limit20 & 0xff,
    (d.limit20 >>> 8) & 0xff,
    d.base & 0xff,
    (d.base >>> 8) & 0xff,
    (d.base >>> 16) & 0xff,
    (d.type & 0xf) | (d.s << 4) | ((d.dpl & 3) << 5) | (d.present << 7),
    ((d.limit20 >>> 16) & 0xf) | (d.avl << 4) | (d.l << 5) | (d.db << 6) | (d.g << 7),
    (d.base >>> 24) & 0xff,
  );
}

/** The descriptor at byte `at` of `gdt` (which must hold 8 bytes there). */
export function decodeDescriptor(gdt: Uint8Array, at: number): Descriptor {
  const b = (i: number): number => gdt[at + i] as number;
  const bit = (v: number, i: number): 0 | 1 => ((v >> i) & 1) as 0 | 1;
  return {
    base: (b(2) + b(3) * 0x100 + b(4) * 0x1_0000 + b(7) * 0x100_0000) >>> 0,
    limit20: b(0) | (b(1) << 8) | ((b(6) & 0xf) << 16),
    type: b(5) & 0xf,
    s: bit(b(5), 4),
    dpl: (b(5) >> 5) & 3,
    present: bit(b(5), 7),
    avl: bit(b(6), 4),
    l: bit(b(6), 5),
    db: bit(b(6), 6),
    g: bit(b(6), 7),
  };
}

/** A null selector's segment state: unusable, everything else 0 (pvhEntryState's LDTR). */
export const NULL_SEGMENT: SegmentState = { base: 0n, limit: 0, selector: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };

/**
 * The segment register state loading `selector` from `gdt` gives, as KVM describes it: the limit
 * in bytes (scaled by G), unusable when not present; the null selector gives NULL_SEGMENT.
 */
export function segmentState(gdt: Uint8Array, selector: number): SegmentState {
  if (selector === 0) return NULL_SEGMENT;
  const d = decodeDescriptor(gdt, selector & ~7);
  return {
    base: BigInt(d.base),
    limit: d.g ? d.limit20 * 0x1000 + 0xfff : d.limit20,
    selector,
    type: d.type,
    present: d.present,
    dpl: d.dpl,
    db: d.db,
    s: d.s,
    l: d.l,
    g: d.g,
    avl: d.avl,
    unusable: d.present ? 0 : 1,
  };
}

/** `gdt` as LTR leaves it: the descriptor at `trSelector` marked busy (type bit 1), when it exists. */
export function afterLtr(gdt: Uint8Array, trSelector: number): Uint8Array {
  const out = gdt.slice();
  const at = (trSelector & ~7) + 5;
  if (at < out.length) out[at] = (out[at] as number) | 2;
  return out;
}

/**
 * `state` with GDT entry `index` set to `d` (the GDT grown to hold it) and the registers `regs`
 * pointed at it, each with the state loading it gives (TR's as LTR leaves it: busy). The GDTR
 * limit becomes `gdtLimit`, by default just large enough for the GDT. A grown GDT that would
 * cross 4 GiB (which the ROM refuses: 32-bit protected mode cannot address it) is moved down to
 * end there.
 */
export function withDescriptor(state: PvhEntryState, index: number, d: Descriptor, regs: readonly SegReg[], gdtLimit?: number): PvhEntryState {
  const at = index * 8;
  const bytes = new Uint8Array(Math.max(state.gdt.bytes.length, at + 8));
  bytes.set(state.gdt.bytes);
  bytes.set(encodeDescriptor(d), at);
  const end = 0x1_0000_0000n;
  const address = state.gdt.address + BigInt(bytes.length) > end ? end - BigInt(bytes.length) : state.gdt.address;
  const after = afterLtr(bytes, regs.includes("tr") ? at : state.sregs.tr.selector);
  const sregs: Record<string, unknown> = { ...state.sregs, gdt: { base: address, limit: gdtLimit ?? Math.max(state.sregs.gdt.limit, bytes.length - 1) } };
  for (const r of regs) sregs[r] = segmentState(after, at);
  return { ...state, gdt: { address, bytes }, sregs: sregs as unknown as PvhEntryState["sregs"] };
}

// ---- what buildPvhRom must say about a state ----------------------------------------------------

/** Why a state is refused (for the tests' outcome counters; the message does not say). */
export type Rule =
  | "type" // invalid-argument: a wrong type, or a non-integer where an integer is needed
  | "range" // out-of-range
  | "not-object"
  | "not-bytes"
  | "above-4g" // a 32-bit register given 33 bits or more
  | "gdt-4g" // the GDT's bytes end above 4 GiB
  | "gdt-base" // sregs.gdt.base is not the GDT's address
  | "tr-null"
  | "tr-s"
  | "tr-type"
  | "rpl-ti" // a selector with RPL or TI bits
  | "past-gdt-bytes" // a selector whose descriptor is not in the GDT's bytes
  | "gdtr-limit" // a selector whose descriptor is in the bytes but past the GDTR limit
  | "mismatch" // a field the descriptor does not give
  | "cs-not-present" // CS otherwise anything
  | "cs-dpl" // CS present with DPL 1..3
  | "cs-kind" // CS present, DPL 0, but not flat 32-bit code
  | "ds-not-flat" // DS an expand-up writable data segment, but not flat
  | "ds-expand-down" // DS present writable data, but expand-down
  | "ds-kind"
  | "ss-null"
  | "ss-expand-down" // SS present writable data, but expand-down
  | "ss-dpl" // SS present writable expand-up data, DPL 1..3
  | "ss-kind"
  | "esfsgs-not-present" // ES/FS/GS a data or readable code descriptor, not present
  | "esfsgs-kind"
  | "tr-not-present" // a TSS descriptor that is not present
  | "ldt-kind"
  | "cr0" // PE or ET clear, or PG set
  | "cr0-reserved" // a bit outside PE MP EM TS ET NE WP AM NW CD
  | "cr0-nw" // NW without CD
  | "cr4" // a bit above 10 (OSXMMEXCPT)
  | "efer" // LME or LMA
  | "efer-reserved" // a bit other than SCE, NXE (and LME, LMA)
  | "rflags"
  | "r8-r15";

export type BuildPrediction =
  | { readonly kind: "ok" }
  | {
      readonly kind: "error";
      readonly code: PvhErrorCode;
      /** The field the message starts with (`${field}: …`). */
      readonly field: string;
      readonly rule: Rule;
    };

class Refused {
  constructor(readonly p: Extract<BuildPrediction, { kind: "error" }>) {}
}
const refuse = (code: PvhErrorCode, field: string, rule: Rule): never => {
  throw new Refused({ kind: "error", code, field, rule });
};
const ESU = "entry-state-unsupported";

function object(field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null) refuse("invalid-argument", field, "not-object");
  return v as Record<string, unknown>;
}
/** The package's u64 contract (checks.ts toU64): a bigint 0..2^64-1 or a safe non-negative integer. */
function u64(field: string, v: unknown): bigint {
  if (typeof v === "bigint") return v >= 0n && v <= 0xffff_ffff_ffff_ffffn ? v : refuse("out-of-range", field, "range");
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : refuse("out-of-range", field, "range");
  return refuse("invalid-argument", field, "type");
}
/** A register the ROM sets with 32 bits. */
function reg32(field: string, v: unknown): bigint {
  const n = u64(field, v);
  return n < 0x1_0000_0000n ? n : refuse(ESU, field, "above-4g");
}
/** An integer-typed field (selector, TR type): a wrong type or a non-integer is invalid-argument. */
function int(field: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) refuse("invalid-argument", field, "type");
  return (v as number) >= 0 && (v as number) <= max ? (v as number) : refuse("out-of-range", field, "range");
}
/** A descriptor-table limit: an integer field like the others (a wrong type or a non-integer is invalid-argument). */
function limit16(field: string, v: unknown): number {
  return int(field, v, 0xffff);
}

const isData = (sg: SegmentState): boolean => sg.present === 1 && sg.s === 1 && (sg.type & 8) === 0;
/** Type bit 1 of a data segment: writable; bit 2: expand-down (SDM vol. 3A §3.4.5.1, table 3-1). */
const isWritable = (sg: SegmentState): boolean => isData(sg) && (sg.type & 2) !== 0;
const isExpandDown = (sg: SegmentState): boolean => (sg.type & 4) !== 0;
const isFlat = (sg: SegmentState): boolean => sg.base === 0n && sg.limit === 0xffff_ffff;

/** CR0 bits (Intel SDM vol. 3A §2.5, figure 2-7). */
export const CR0 = { PE: 1 << 0, MP: 1 << 1, EM: 1 << 2, TS: 1 << 3, ET: 1 << 4, NE: 1 << 5, WP: 1 << 16, AM: 1 << 18, NW: 1 << 29, CD: 1 << 30, PG: 2 ** 31 } as const;
/**
 * The CR0 bits the ROM may set: every defined bit but PG. The rest are reserved: the SDM asks for
 * them to be written as read (0), so a state with one set is not what the CPU would hold.
 */
export const CR0_ALLOWED = (CR0.PE | CR0.MP | CR0.EM | CR0.TS | CR0.ET | CR0.NE | CR0.WP | CR0.AM | CR0.NW | CR0.CD) >>> 0;
/** CR4 bits 0..10 (VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT), which every x86-64 CPU has. */
export const CR4_ALLOWED = 0x7ff;
/** EFER bits (AMD APM vol. 2 §3.1.7, SDM vol. 3A §2.2.1). */
export const EFER = { SCE: 1n, LME: 1n << 8n, LMA: 1n << 10n, NXE: 1n << 11n } as const;
/** The EFER bits the ROM may set without paging: SCE and NXE. */
export const EFER_ALLOWED = EFER.SCE | EFER.NXE;

/**
 * What buildPvhRom must do with `state` (the size and blobs being valid): build, or refuse with
 * this code naming this field. The rules are the ones rom.ts documents, checked in its order
 * (which only decides the outcome when a state breaks more than one):
 *  1. shape: state, state.sregs, state.regs, state.gdt objects; state.gdt.bytes a Uint8Array;
 *     state.gdt.address a u32; sregs.gdt an object whose base is that address; sregs.gdt.limit;
 *  2. TR: an integer selector, an integer type, not the null selector, S 0, type 0xb (busy: the
 *     state is what LTR leaves, so an available TSS (9) in the state is refused);
 *  3. every segment register, in declaration order, against the GDT as LTR leaves it: an integer
 *     selector 0..0xffff, RPL and TI 0, within the GDT's bytes and the GDTR limit, and every field
 *     what the descriptor gives (bigint base, number fields, strictly);
 *  4. the kinds: CS present flat 32-bit code with DPL 0 (the far jump runs at CPL 0); DS
 *     present flat writable expand-up data (the ROM addresses memory through it); SS present
 *     writable expand-up data with DPL 0 (MOV SS at CPL 0); ES/FS/GS null, or present data or
 *     present readable code; TR present (LTR); LDTR null or an LDT (S 0, type 2, present);
 *  5. cr0 (PE set, PG clear; then no reserved bit; then not NW without CD), cr4 (32 bits, then
 *     only bits 0..10), efer (no LME/LMA, then only SCE and NXE), rflags (only SAHF's flags, bit 1
 *     set), r8-r15 zero, the eight 32-bit registers, the IDTR, cr2, cr3, rip: 32 bits each.
 * Before all that (in 1), the GDT's bytes must end at or below 4 GiB, and TR's S must be a number
 * (invalid-argument) before it is compared with 0.
 */
export function predictBuild(state: unknown): BuildPrediction {
  try {
    checkAll(state);
    return { kind: "ok" };
  } catch (e) {
    if (e instanceof Refused) return e.p;
    throw e;
  }
}

function checkAll(state: unknown): void {
  const s = object("state", state);
  const sregs = object("state.sregs", s["sregs"]);
  const regs = object("state.regs", s["regs"]);
  const g = object("state.gdt", s["gdt"]);
  const bytes = g["bytes"];
  if (!(bytes instanceof Uint8Array)) return refuse("invalid-argument", "state.gdt.bytes", "not-bytes");
  const gdtBase = reg32("state.gdt.address", g["address"]);
  if (gdtBase + BigInt(bytes.length) > 0x1_0000_0000n) refuse(ESU, "state.gdt.address", "gdt-4g");
  const gdtr = object("sregs.gdt", sregs["gdt"]);
  if (u64("sregs.gdt.base", gdtr["base"]) !== gdtBase) refuse(ESU, "sregs.gdt.base", "gdt-base");
  const gdtLimit = limit16("sregs.gdt.limit", gdtr["limit"]);

  const tr = object("sregs.tr", sregs["tr"]);
  const trSel = int("sregs.tr.selector", tr["selector"], 0xffff);
  const trType = int("sregs.tr.type", tr["type"], 0xf);
  if (trSel === 0) refuse(ESU, "sregs.tr.selector", "tr-null");
  if (typeof tr["s"] !== "number") refuse("invalid-argument", "sregs.tr.s", "type");
  if (tr["s"] !== 0) refuse(ESU, "sregs.tr.s", "tr-s");
  if (trType !== 0xb) refuse(ESU, "sregs.tr.type", "tr-type");

  const after = afterLtr(bytes, trSel);
  const loaded = {} as Record<SegReg, SegmentState>;
  for (const name of SEG_REGS) {
    const want = object(`sregs.${name}`, sregs[name]);
    const field = `sregs.${name}.selector`;
    const sel = int(field, want["selector"], 0xffff);
    if ((sel & 7) !== 0) refuse(ESU, field, "rpl-ti");
    if (sel !== 0 && sel + 8 > after.length) refuse(ESU, field, "past-gdt-bytes");
    if (sel !== 0 && sel + 7 > gdtLimit) refuse(ESU, field, "gdtr-limit");
    const got = segmentState(after, sel);
    for (const f of SEG_FIELDS) if (want[f] !== got[f]) refuse(ESU, `sregs.${name}.${f}`, "mismatch");
    loaded[name] = got;
  }
  const { cs, ds, ss, tr: trSeg, ldt } = loaded;
  // CS: the far jump into 32-bit code runs at CPL 0 (SDM vol. 3A §5.8.1): present, DPL 0.
  if (cs.present !== 1) refuse(ESU, "sregs.cs", "cs-not-present");
  if (cs.dpl !== 0) refuse(ESU, "sregs.cs", "cs-dpl");
  if (!(cs.s === 1 && (cs.type & 8) !== 0 && cs.db === 1 && cs.l === 0 && isFlat(cs))) refuse(ESU, "sregs.cs", "cs-kind");
  // DS: flat writable data the ROM addresses memory through; an expand-down one has no valid offset.
  if (!isWritable(ds)) refuse(ESU, "sregs.ds", "ds-kind");
  if (isExpandDown(ds)) refuse(ESU, "sregs.ds", "ds-expand-down");
  if (!isFlat(ds)) refuse(ESU, "sregs.ds", "ds-not-flat");
  // SS: MOV SS takes present writable data with DPL = CPL = 0 (SDM vol. 3A §5.7); no null SS in
  // 32-bit protected mode. The ROM also refuses an expand-down one.
  if (!isWritable(ss)) refuse(ESU, "sregs.ss", ss.selector === 0 ? "ss-null" : "ss-kind");
  if (isExpandDown(ss)) refuse(ESU, "sregs.ss", "ss-expand-down");
  if (ss.dpl !== 0) refuse(ESU, "sregs.ss", "ss-dpl");
  for (const name of ["es", "fs", "gs"] as const) {
    const sg = loaded[name];
    if (sg.selector === 0) continue;
    // A data segment or a readable code segment (type bits 3 and 1), and present (else #NP).
    const kindOk = sg.s === 1 && ((sg.type & 8) === 0 || (sg.type & 0xa) === 0xa);
    if (!kindOk) refuse(ESU, `sregs.${name}`, "esfsgs-kind");
    if (sg.present !== 1) refuse(ESU, `sregs.${name}`, "esfsgs-not-present");
  }
  // LTR raises #NP on a TSS descriptor that is not present.
  if (trSeg.present !== 1) refuse(ESU, "sregs.tr.present", "tr-not-present");
  if (ldt.selector !== 0 && !(ldt.s === 0 && ldt.type === 2 && ldt.present === 1)) refuse(ESU, "sregs.ldt", "ldt-kind");

  const cr0 = reg32("sregs.cr0", sregs["cr0"]);
  if ((cr0 & BigInt(CR0.PE)) === 0n || (cr0 & BigInt(CR0.ET)) === 0n || (cr0 & BigInt(CR0.PG)) !== 0n) refuse(ESU, "sregs.cr0", "cr0");
  if ((cr0 & ~BigInt(CR0_ALLOWED)) !== 0n) refuse(ESU, "sregs.cr0", "cr0-reserved");
  if ((cr0 & BigInt(CR0.NW)) !== 0n && (cr0 & BigInt(CR0.CD)) === 0n) refuse(ESU, "sregs.cr0", "cr0-nw");
  const cr4 = reg32("sregs.cr4", sregs["cr4"]);
  if ((cr4 & ~BigInt(CR4_ALLOWED)) !== 0n) refuse(ESU, "sregs.cr4", "cr4");
  const efer = u64("sregs.efer", sregs["efer"]);
  if ((efer & (EFER.LME | EFER.LMA)) !== 0n) refuse(ESU, "sregs.efer", "efer");
  if ((efer & ~EFER_ALLOWED) !== 0n) refuse(ESU, "sregs.efer", "efer-reserved");
  if ((u64("regs.rflags", regs["rflags"]) & ~BigInt(SAHF_MASK)) !== 2n) refuse(ESU, "regs.rflags", "rflags");
  for (const r of ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]) if (u64(`regs.${r}`, regs[r]) !== 0n) refuse(ESU, `regs.${r}`, "r8-r15");
  for (const r of GPRS) reg32(`regs.${r}`, regs[r]);
  const idt = object("sregs.idt", sregs["idt"]);
  reg32("sregs.idt.base", idt["base"]);
  limit16("sregs.idt.limit", idt["limit"]);
  for (const cr of ["cr2", "cr3"]) reg32(`sregs.${cr}`, sregs[cr]);
  reg32("regs.rip", regs["rip"]);
}

// ---- generators -------------------------------------------------------------------------------------

/** A u32 that hits both ends often. */
export const u32: fc.Arbitrary<number> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** A CR0 the ROM takes: allowed bits only, PE set, NW only with CD. */
export const cr0Allowed: fc.Arbitrary<number> = u32.map((v) => {
  const c = (v & CR0_ALLOWED) | CR0.PE | CR0.ET;
  return (c & CR0.NW && !(c & CR0.CD) ? c & ~CR0.NW : c) >>> 0;
});
/** A CR4 the ROM takes: bits 0..10 only. */
export const cr4Allowed: fc.Arbitrary<number> = fc.oneof(fc.constantFrom(0, CR4_ALLOWED), fc.integer({ min: 0, max: CR4_ALLOWED }));
/** An EFER the ROM takes: SCE and NXE only. */
export const eferAllowed: fc.Arbitrary<bigint> = fc.constantFrom(0n, EFER.SCE, EFER.NXE, EFER.SCE | EFER.NXE);

/** One bit of a 32- or 64-bit register. */
const bitOf = (max: number): fc.Arbitrary<bigint> => fc.integer({ min: 0, max }).map((i) => 1n << BigInt(i));
/**
 * CR0 values for the mutation tests: taken ones a third of the time; otherwise one with another
 * bit of 64 set (a reserved one, PG, a taken one, or one above bit 31), NW without CD, or PE clear.
 */
export const cr0Values: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 2, arbitrary: cr0Allowed.map(BigInt) },
  { weight: 2, arbitrary: fc.tuple(cr0Allowed, bitOf(63)).map(([v, b]) => BigInt(v) | b) },
  { weight: 1, arbitrary: cr0Allowed.map((v) => BigInt(((v | CR0.NW) & ~CR0.CD) >>> 0)) },
  { weight: 1, arbitrary: cr0Allowed.map((v) => BigInt(v & ~CR0.PE)) },
  { weight: 1, arbitrary: cr0Allowed.map((v) => BigInt(v & ~CR0.ET)) },
);
/** CR4 values for the mutation tests: mostly taken ones; otherwise one with a bit of 0..63 set (bit 31 often). */
export const cr4Values: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 3, arbitrary: cr4Allowed.map(BigInt) },
  { weight: 2, arbitrary: fc.tuple(cr4Allowed, fc.oneof(bitOf(63), fc.constant(1n << 31n))).map(([v, b]) => BigInt(v) | b) },
);
/** EFER values for the mutation tests: mostly taken ones; otherwise one with a bit of 0..63 set (LME, LMA, reserved ones). */
export const eferValues: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 3, arbitrary: eferAllowed },
  { weight: 2, arbitrary: fc.tuple(eferAllowed, fc.oneof(bitOf(63), fc.constantFrom(EFER.LME, EFER.LMA, 1n << 63n))).map(([v, b]) => v | b) },
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
  /** Other segment choices the ROM accepts (default: the flat data segment everywhere, no LDT). */
  readonly segs?: SegChoices | undefined;
}

/** Segment registers loaded from something other than pvhEntryState's choice, all accepted. */
export interface SegChoices {
  /** ES, FS, GS: the flat data segment, the (readable) code segment, or the null selector. */
  readonly es: "data" | "code" | "null";
  readonly fs: "data" | "code" | "null";
  readonly gs: "data" | "code" | "null";
  /** SS: the flat data segment, or its own writable data segment (not flat: SS need not be). */
  readonly ss: "data" | "own";
  /** LDTR: null, or an LDT descriptor. */
  readonly ldt: "null" | "ldt";
}

/** SS's own descriptor: writable data, 64 KiB at 0x7000. */
export const OWN_SS: Descriptor = { ...DESC.data, base: 0x7000, limit20: 0xffff, g: 0 };
/** GDT entries of the extra descriptors: the LDT at 0x20, SS's own at 0x28. */
export const LDT_ENTRY = 4;
export const SS_ENTRY = 5;

const GDT_MAX = 0x1_0000_0000 - 32;

export const stateInputs = (maxUnits: number): fc.Arbitrary<StateInputs> =>
  fc.record({
    entry: u32,
    startInfo: u32,
    gdtAddress: fc.oneof(fc.constantFrom(0, GDT_MAX), fc.integer({ min: 0, max: GDT_MAX })),
    flagSet: fc.integer({ min: 0, max: 31 }),
    gprs: fc.record({ rax: u32, rcx: u32, rdx: u32, rsp: u32, rbp: u32, rsi: u32, rdi: u32 }),
    // Values the ROM takes: drawn from the allowed bits (the mutation tests reach the others).
    cr0: cr0Allowed,
    cr2: u32,
    cr3: u32,
    cr4: cr4Allowed,
    efer: eferAllowed,
    idtBase: u32,
    idtLimit: fc.oneof(fc.constantFrom(0, 0xffff), fc.integer({ min: 0, max: 0xffff })),
    units: fc.oneof(fc.constantFrom(1, 2, 3, maxUnits), fc.integer({ min: 1, max: maxUnits })),
    segs: fc.option(
      fc.record({
        es: fc.constantFrom("data" as const, "code" as const, "null" as const),
        fs: fc.constantFrom("data" as const, "code" as const, "null" as const),
        gs: fc.constantFrom("data" as const, "code" as const, "null" as const),
        ss: fc.constantFrom("data" as const, "own" as const),
        ldt: fc.constantFrom("null" as const, "ldt" as const),
      }),
      { nil: undefined, freq: 2 },
    ),
  });

export function flagsOf(flagSet: number): bigint {
  return BigInt(FLAG_BITS.reduce((f, bit, i) => ((flagSet >> i) & 1 ? f | bit : f), 2));
}

export function stateFrom(x: StateInputs): PvhEntryState {
  const c = x.segs;
  // A GDT with the extra entries (48 bytes) must still end below 4 GiB.
  const grown = c !== undefined && (c.ldt === "ldt" || c.ss === "own");
  let base = pvhEntryState({ entry: x.entry, startInfo: x.startInfo, gdtAddress: grown ? Math.min(x.gdtAddress, 0x1_0000_0000 - 48) : x.gdtAddress });
  if (c !== undefined) {
    const pick = (v: "data" | "code" | "null"): SegmentState => (v === "data" ? base.sregs.ds : v === "code" ? base.sregs.cs : NULL_SEGMENT);
    base = { ...base, sregs: { ...base.sregs, es: pick(c.es), fs: pick(c.fs), gs: pick(c.gs) } };
    if (c.ldt === "ldt") base = withDescriptor(base, LDT_ENTRY, DESC.ldt, ["ldt"]);
    if (c.ss === "own") base = withDescriptor(base, SS_ENTRY, OWN_SS, ["ss"]);
  }
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

/**
 * A state with its operands non-zero and distinct, for deterministic tests (but EFER's high half:
 * the ROM sets only SCE and NXE).
 */
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
    efer: 0x801n,
    idtBase: 0xfeed_f00d,
    idtLimit: 0x07ff,
    units: 1,
  });
}
