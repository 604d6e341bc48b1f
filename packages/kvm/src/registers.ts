/**
 * Register and state structures of a vCPU, with their binary layouts.
 *
 * Layouts: arch/x86/include/uapi/asm/kvm.h (`struct kvm_regs` 144 bytes, `kvm_segment` 24,
 * `kvm_dtable` 16, `kvm_sregs` 312, `kvm_fpu` 416, `kvm_msr_entry` 16, `kvm_cpuid_entry2` 40,
 * `kvm_lapic_state` 1024). Offsets were checked with `offsetof` against the Linux 6.1 headers
 * (see the package README). All fields are little-endian.
 */
import { KvmError } from "./errors.js";

/**
 * The general-purpose registers (`struct kvm_regs`), each a u64.
 *
 * @example
 * ```ts
 * const r: Regs = vcpu.getRegs();
 * console.log(r.rip, r.rflags);
 * ```
 */
export interface Regs {
  /** rax. */ readonly rax: bigint;
  /** rbx. */ readonly rbx: bigint;
  /** rcx. */ readonly rcx: bigint;
  /** rdx. */ readonly rdx: bigint;
  /** rsi. */ readonly rsi: bigint;
  /** rdi. */ readonly rdi: bigint;
  /** rsp. */ readonly rsp: bigint;
  /** rbp. */ readonly rbp: bigint;
  /** r8. */ readonly r8: bigint;
  /** r9. */ readonly r9: bigint;
  /** r10. */ readonly r10: bigint;
  /** r11. */ readonly r11: bigint;
  /** r12. */ readonly r12: bigint;
  /** r13. */ readonly r13: bigint;
  /** r14. */ readonly r14: bigint;
  /** r15. */ readonly r15: bigint;
  /** rip. */ readonly rip: bigint;
  /** rflags; bit 1 is reserved and must be set (0x2). */ readonly rflags: bigint;
}

/**
 * Input for {@link Vcpu.setRegs}: any subset of {@link Regs}, as bigint or number; the rest is kept.
 *
 * @example
 * ```ts
 * const input: RegsInput = { rip: 0x100000, rbx: 0x6000, rflags: 2 };
 * vcpu.setRegs(input);
 * ```
 */
export type RegsInput = { readonly [K in keyof Regs]?: bigint | number };

/** The order of the fields in `struct kvm_regs`. */
const REG_NAMES: readonly (keyof Regs)[] = [
  "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
];

/**
 * A segment register with its hidden part (`struct kvm_segment`).
 *
 * @example
 * ```ts
 * const cs: Segment = vcpu.getSregs().cs;
 * ```
 */
export interface Segment {
  /** Base address. */ readonly base: bigint;
  /** Limit in bytes (already scaled by granularity, as KVM reports it). */ readonly limit: number;
  /** Selector. */ readonly selector: number;
  /** Type field (e.g. 0xb execute/read accessed code, 0x3 read/write accessed data). */ readonly type: number;
  /** Present bit. */ readonly present: number;
  /** Descriptor privilege level. */ readonly dpl: number;
  /** Default operand size (1 = 32-bit). */ readonly db: number;
  /** 1 for code/data, 0 for system segments. */ readonly s: number;
  /** 64-bit code segment. */ readonly l: number;
  /** Granularity. */ readonly g: number;
  /** Available bit. */ readonly avl: number;
  /** Unusable (a null selector was loaded). */ readonly unusable: number;
}

/**
 * Input for a segment: any subset of {@link Segment}; the rest is kept.
 *
 * @example
 * ```ts
 * const cs: SegmentInput = { base: 0, selector: 0 };
 * vcpu.setSregs({ cs });
 * ```
 */
export type SegmentInput = { readonly [K in keyof Segment]?: K extends "base" ? bigint | number : number };

/**
 * A descriptor-table register (`struct kvm_dtable`): GDTR or IDTR.
 *
 * @example
 * ```ts
 * const gdt: DescriptorTable = vcpu.getSregs().gdt;
 * ```
 */
export interface DescriptorTable {
  /** Linear base address. */ readonly base: bigint;
  /** Limit (size - 1). */ readonly limit: number;
}

/**
 * Input for a descriptor table: any subset of {@link DescriptorTable}.
 *
 * @example
 * ```ts
 * vcpu.setSregs({ gdt: { base: 0x500, limit: 31 } });
 * ```
 */
export interface DescriptorTableInput {
  /** Linear base address. */ readonly base?: bigint | number;
  /** Limit (size - 1). */ readonly limit?: number;
}

/**
 * The special registers (`struct kvm_sregs`).
 *
 * @example
 * ```ts
 * const s: Sregs = vcpu.getSregs();
 * const longMode = (s.efer & 0x400n) !== 0n;
 * ```
 */
export interface Sregs {
  /** CS. */ readonly cs: Segment;
  /** DS. */ readonly ds: Segment;
  /** ES. */ readonly es: Segment;
  /** FS. */ readonly fs: Segment;
  /** GS. */ readonly gs: Segment;
  /** SS. */ readonly ss: Segment;
  /** Task register. */ readonly tr: Segment;
  /** LDT register. */ readonly ldt: Segment;
  /** GDTR. */ readonly gdt: DescriptorTable;
  /** IDTR. */ readonly idt: DescriptorTable;
  /** CR0. */ readonly cr0: bigint;
  /** CR2. */ readonly cr2: bigint;
  /** CR3. */ readonly cr3: bigint;
  /** CR4. */ readonly cr4: bigint;
  /** CR8 (task priority). */ readonly cr8: bigint;
  /** The EFER MSR (LME 0x100, LMA 0x400). */ readonly efer: bigint;
  /** The APIC base MSR. */ readonly apicBase: bigint;
  /** Pending external interrupts, a 256-bit bitmap as four u64s. */ readonly interruptBitmap: readonly bigint[];
}

/**
 * Input for {@link Vcpu.setSregs}: any subset of {@link Sregs}; segments may be partial too.
 *
 * @example
 * ```ts
 * const pvh: SregsInput = { cr0: 0x11, cr4: 0, gdt: { base: 0x500, limit: 31 } };
 * vcpu.setSregs(pvh);
 * ```
 */
export interface SregsInput {
  /** CS. */ readonly cs?: SegmentInput;
  /** DS. */ readonly ds?: SegmentInput;
  /** ES. */ readonly es?: SegmentInput;
  /** FS. */ readonly fs?: SegmentInput;
  /** GS. */ readonly gs?: SegmentInput;
  /** SS. */ readonly ss?: SegmentInput;
  /** TR. */ readonly tr?: SegmentInput;
  /** LDT. */ readonly ldt?: SegmentInput;
  /** GDTR. */ readonly gdt?: DescriptorTableInput;
  /** IDTR. */ readonly idt?: DescriptorTableInput;
  /** CR0. */ readonly cr0?: bigint | number;
  /** CR2. */ readonly cr2?: bigint | number;
  /** CR3. */ readonly cr3?: bigint | number;
  /** CR4. */ readonly cr4?: bigint | number;
  /** CR8. */ readonly cr8?: bigint | number;
  /** EFER. */ readonly efer?: bigint | number;
  /** APIC base. */ readonly apicBase?: bigint | number;
  /** Interrupt bitmap (four u64s). */ readonly interruptBitmap?: readonly bigint[];
}

/**
 * The x87/SSE state (`struct kvm_fpu`).
 *
 * @example
 * ```ts
 * const f: Fpu = vcpu.getFpu();
 * console.log(f.fcw.toString(16));
 * ```
 */
export interface Fpu {
  /** The eight 80-bit x87 registers, 16 bytes each (128 bytes). */ readonly fpr: Uint8Array;
  /** Control word (0x37f after FNINIT). */ readonly fcw: number;
  /** Status word. */ readonly fsw: number;
  /** Abridged tag word. */ readonly ftwx: number;
  /** Last opcode. */ readonly lastOpcode: number;
  /** Last instruction pointer. */ readonly lastIp: bigint;
  /** Last data pointer. */ readonly lastDp: bigint;
  /** The sixteen XMM registers, 16 bytes each (256 bytes). */ readonly xmm: Uint8Array;
  /**
   * MXCSR. On x86, KVM_GET_FPU reports 0 and KVM_SET_FPU ignores it: arch/x86/kvm/x86.c
   * (`kvm_arch_vcpu_ioctl_get_fpu`/`_set_fpu`) copies fcw through xmm only; MXCSR lives in the
   * XSAVE state.
   */
  readonly mxcsr: number;
}

/**
 * Input for {@link Vcpu.setFpu}: any subset of {@link Fpu}; the rest is kept.
 *
 * @example
 * ```ts
 * const f: FpuInput = { fcw: 0x37f, mxcsr: 0x1f80 };
 * vcpu.setFpu(f);
 * ```
 */
export type FpuInput = { readonly [K in keyof Fpu]?: Fpu[K] extends bigint ? bigint | number : Fpu[K] };

/**
 * One CPUID leaf/subleaf (`struct kvm_cpuid_entry2`).
 *
 * @example
 * ```ts
 * const leaf1: CpuidEntry | undefined = vcpu.getCpuid().find((e) => e.function === 1);
 * ```
 */
export interface CpuidEntry {
  /** The leaf (EAX input). */ readonly function: number;
  /** The subleaf (ECX input), meaningful when `flags` has KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1). */ readonly index: number;
  /** `KVM_CPUID_FLAG_*` bits. */ readonly flags: number;
  /** EAX output. */ readonly eax: number;
  /** EBX output. */ readonly ebx: number;
  /** ECX output. */ readonly ecx: number;
  /** EDX output. */ readonly edx: number;
}

/**
 * One MSR and its value (`struct kvm_msr_entry`).
 *
 * @example
 * ```ts
 * const [misc]: MsrEntry[] = vcpu.getMsrs([0x1a0]);
 * ```
 */
export interface MsrEntry {
  /** The MSR index, e.g. 0x10 for IA32_TSC. */ readonly index: number;
  /** Its value. */ readonly value: bigint;
}

// ---- encoding helpers (internal) ----

function u64(v: bigint | number, field: string): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new KvmError("out-of-range", `${field}: expected 0..2^53-1 as a number (or a bigint), got ${v}`);
    return BigInt(v);
  }
  if (typeof v !== "bigint") throw new KvmError("invalid-argument", `${field}: expected a bigint or number, got ${typeof v}`);
  if (v < 0n || v > 0xffffffffffffffffn) throw new KvmError("out-of-range", `${field}: expected 0..2^64-1, got ${v}`);
  return v;
}

function uint(v: number, bits: 8 | 16 | 32, field: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new KvmError("invalid-argument", `${field}: expected an integer, got ${String(v)}`);
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (v < 0 || v > max) throw new KvmError("out-of-range", `${field}: expected 0..${max}, got ${v}`);
  return v;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** @internal sizeof(struct kvm_regs). */
export const REGS_SIZE = 144;
/** @internal sizeof(struct kvm_sregs). */
export const SREGS_SIZE = 312;
/** @internal sizeof(struct kvm_fpu). */
export const FPU_SIZE = 416;
/** @internal sizeof(struct kvm_lapic_state). */
export const LAPIC_SIZE = 1024;
/** @internal sizeof(struct kvm_cpuid_entry2). */
export const CPUID_ENTRY_SIZE = 40;
/** @internal sizeof(struct kvm_msr_entry). */
export const MSR_ENTRY_SIZE = 16;

/** @internal */
export function decodeRegs(b: Uint8Array): Regs {
  const v = dv(b);
  const out: Record<string, bigint> = {};
  REG_NAMES.forEach((n, i) => (out[n] = v.getBigUint64(i * 8, true)));
  return out as unknown as Regs;
}

/** @internal Writes `input` over the bytes of a `kvm_regs` (fields not given are left as they are). */
export function encodeRegsInto(input: RegsInput, b: Uint8Array): void {
  const v = dv(b);
  for (const [k, val] of Object.entries(input)) {
    const i = REG_NAMES.indexOf(k as keyof Regs);
    if (i < 0) throw new KvmError("invalid-argument", `regs: unknown register ${k}`);
    if (val === undefined) continue;
    v.setBigUint64(i * 8, u64(val as bigint | number, `regs.${k}`), true);
  }
}

/** @internal Whether every register is given (so no KVM_GET_REGS is needed first). */
export function isFullRegs(input: RegsInput): boolean {
  return REG_NAMES.every((n) => input[n] !== undefined);
}

const SEG_NAMES = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;

function decodeSegment(v: DataView, o: number): Segment {
  return {
    base: v.getBigUint64(o, true),
    limit: v.getUint32(o + 8, true),
    selector: v.getUint16(o + 12, true),
    type: v.getUint8(o + 14),
    present: v.getUint8(o + 15),
    dpl: v.getUint8(o + 16),
    db: v.getUint8(o + 17),
    s: v.getUint8(o + 18),
    l: v.getUint8(o + 19),
    g: v.getUint8(o + 20),
    avl: v.getUint8(o + 21),
    unusable: v.getUint8(o + 22),
  };
}

const SEG_U8: readonly [keyof Segment, number][] = [
  ["type", 14], ["present", 15], ["dpl", 16], ["db", 17], ["s", 18], ["l", 19], ["g", 20], ["avl", 21], ["unusable", 22],
];

function encodeSegment(s: SegmentInput, v: DataView, o: number, name: string): void {
  if (s.base !== undefined) v.setBigUint64(o, u64(s.base, `${name}.base`), true);
  if (s.limit !== undefined) v.setUint32(o + 8, uint(s.limit, 32, `${name}.limit`), true);
  if (s.selector !== undefined) v.setUint16(o + 12, uint(s.selector, 16, `${name}.selector`), true);
  for (const [k, off] of SEG_U8) {
    const x = s[k];
    if (x !== undefined) v.setUint8(o + off, uint(x as number, 8, `${name}.${k}`));
  }
}

/** @internal */
export function decodeSregs(b: Uint8Array): Sregs {
  const v = dv(b);
  const seg = (i: number): Segment => decodeSegment(v, i * 24);
  return {
    cs: seg(0), ds: seg(1), es: seg(2), fs: seg(3), gs: seg(4), ss: seg(5), tr: seg(6), ldt: seg(7),
    gdt: { base: v.getBigUint64(192, true), limit: v.getUint16(200, true) },
    idt: { base: v.getBigUint64(208, true), limit: v.getUint16(216, true) },
    cr0: v.getBigUint64(224, true),
    cr2: v.getBigUint64(232, true),
    cr3: v.getBigUint64(240, true),
    cr4: v.getBigUint64(248, true),
    cr8: v.getBigUint64(256, true),
    efer: v.getBigUint64(264, true),
    apicBase: v.getBigUint64(272, true),
    interruptBitmap: [0, 1, 2, 3].map((i) => v.getBigUint64(280 + i * 8, true)),
  };
}

/** @internal */
export function encodeSregsInto(s: SregsInput, b: Uint8Array): void {
  const v = dv(b);
  SEG_NAMES.forEach((n, i) => {
    const seg = s[n];
    if (seg) encodeSegment(seg, v, i * 24, `sregs.${n}`);
  });
  for (const [name, off] of [["gdt", 192], ["idt", 208]] as const) {
    const t = s[name];
    if (!t) continue;
    if (t.base !== undefined) v.setBigUint64(off, u64(t.base, `sregs.${name}.base`), true);
    if (t.limit !== undefined) v.setUint16(off + 8, uint(t.limit, 16, `sregs.${name}.limit`), true);
  }
  const crs = [["cr0", 224], ["cr2", 232], ["cr3", 240], ["cr4", 248], ["cr8", 256], ["efer", 264], ["apicBase", 272]] as const;
  for (const [name, off] of crs) {
    const x = s[name];
    if (x !== undefined) v.setBigUint64(off, u64(x, `sregs.${name}`), true);
  }
  if (s.interruptBitmap) {
    if (s.interruptBitmap.length !== 4) throw new KvmError("out-of-range", `sregs.interruptBitmap: expected 4 u64s, got ${s.interruptBitmap.length}`);
    s.interruptBitmap.forEach((x, i) => v.setBigUint64(280 + i * 8, u64(x, `sregs.interruptBitmap[${i}]`), true));
  }
}

/** @internal */
export function decodeFpu(b: Uint8Array): Fpu {
  const v = dv(b);
  return {
    fpr: b.slice(0, 128),
    fcw: v.getUint16(128, true),
    fsw: v.getUint16(130, true),
    ftwx: v.getUint8(132),
    lastOpcode: v.getUint16(134, true),
    lastIp: v.getBigUint64(136, true),
    lastDp: v.getBigUint64(144, true),
    xmm: b.slice(152, 408),
    mxcsr: v.getUint32(408, true),
  };
}

/** @internal */
export function encodeFpuInto(f: FpuInput, b: Uint8Array): void {
  const v = dv(b);
  if (f.fpr !== undefined) {
    if (f.fpr.length !== 128) throw new KvmError("out-of-range", `fpu.fpr: expected 128 bytes, got ${f.fpr.length}`);
    b.set(f.fpr, 0);
  }
  if (f.fcw !== undefined) v.setUint16(128, uint(f.fcw, 16, "fpu.fcw"), true);
  if (f.fsw !== undefined) v.setUint16(130, uint(f.fsw, 16, "fpu.fsw"), true);
  if (f.ftwx !== undefined) v.setUint8(132, uint(f.ftwx, 8, "fpu.ftwx"));
  if (f.lastOpcode !== undefined) v.setUint16(134, uint(f.lastOpcode, 16, "fpu.lastOpcode"), true);
  if (f.lastIp !== undefined) v.setBigUint64(136, u64(f.lastIp, "fpu.lastIp"), true);
  if (f.lastDp !== undefined) v.setBigUint64(144, u64(f.lastDp, "fpu.lastDp"), true);
  if (f.xmm !== undefined) {
    if (f.xmm.length !== 256) throw new KvmError("out-of-range", `fpu.xmm: expected 256 bytes, got ${f.xmm.length}`);
    b.set(f.xmm, 152);
  }
  if (f.mxcsr !== undefined) v.setUint32(408, uint(f.mxcsr, 32, "fpu.mxcsr"), true);
}

/** @internal Decodes `nent` entries of a `kvm_cpuid2` (8-byte header, entries at 8). */
export function decodeCpuid2(b: Uint8Array): CpuidEntry[] {
  const v = dv(b);
  const n = v.getUint32(0, true);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + i * CPUID_ENTRY_SIZE;
    out.push({
      function: v.getUint32(o, true),
      index: v.getUint32(o + 4, true),
      flags: v.getUint32(o + 8, true),
      eax: v.getUint32(o + 12, true),
      ebx: v.getUint32(o + 16, true),
      ecx: v.getUint32(o + 20, true),
      edx: v.getUint32(o + 24, true),
    });
  }
  return out;
}

/** @internal */
export function encodeCpuid2(entries: readonly CpuidEntry[]): Uint8Array {
  const b = new Uint8Array(8 + entries.length * CPUID_ENTRY_SIZE);
  const v = dv(b);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = 8 + i * CPUID_ENTRY_SIZE;
    const f = `cpuid[${i}]`;
    v.setUint32(o, uint(e.function, 32, `${f}.function`), true);
    v.setUint32(o + 4, uint(e.index, 32, `${f}.index`), true);
    v.setUint32(o + 8, uint(e.flags, 32, `${f}.flags`), true);
    v.setUint32(o + 12, uint(e.eax, 32, `${f}.eax`), true);
    v.setUint32(o + 16, uint(e.ebx, 32, `${f}.ebx`), true);
    v.setUint32(o + 20, uint(e.ecx, 32, `${f}.ecx`), true);
    v.setUint32(o + 24, uint(e.edx, 32, `${f}.edx`), true);
  });
  return b;
}

/** @internal Builds a `kvm_msrs` (8-byte header + 16-byte entries). */
export function encodeMsrs(entries: readonly { readonly index: number; readonly value?: bigint | number }[]): Uint8Array {
  const b = new Uint8Array(8 + entries.length * MSR_ENTRY_SIZE);
  const v = dv(b);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = 8 + i * MSR_ENTRY_SIZE;
    v.setUint32(o, uint(e.index, 32, `msrs[${i}].index`), true);
    if (e.value !== undefined) v.setBigUint64(o + 8, u64(e.value, `msrs[${i}].value`), true);
  });
  return b;
}

/** @internal */
export function decodeMsrs(b: Uint8Array, count: number): MsrEntry[] {
  const v = dv(b);
  const out: MsrEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = 8 + i * MSR_ENTRY_SIZE;
    out.push({ index: v.getUint32(o, true), value: v.getBigUint64(o + 8, true) });
  }
  return out;
}

/** @internal Validates a u64 given as number or bigint. */
export const toU64: (v: bigint | number, field: string) => bigint = u64;
/** @internal Validates an unsigned integer of `bits` bits. */
export const toUint: (v: number, bits: 8 | 16 | 32, field: string) => number = uint;
