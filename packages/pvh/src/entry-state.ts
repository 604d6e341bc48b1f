// The vCPU state at the PVH entry point, as plain data. The ABI is xen-project/xen
// docs/misc/pvh.pandoc ("Initial state", repeated in torvalds/linux arch/x86/platform/pvh/head.S):
// ebx = start_info, cr0.PE set with the other writable bits clear, cr4 = 0, flat 32-bit CS, flat
// DS/ES, a 32-bit TSS in TR, eflags with VM, IF and TF clear. SS is flat and writable too, because
// newer Linux uses start_info as its first stack (Linux arch/x86/platform/pvh/head.S). The values match
// Firecracker's (firecracker-microvm/firecracker src/vmm/src/arch/x86_64/regs.rs and gdt.rs).
import { PvhError } from "./errors.js";
import { checkObject, hex, toU64 } from "./checks.js";

/**
 * Where the GDT goes by default: 0x500, Firecracker's `BOOT_GDT_OFFSET`
 * (src/vmm/src/arch/x86_64/layout.rs), free low RAM above the real-mode IVT and BDA.
 *
 * @example
 * ```ts
 * import { DEFAULT_GDT_ADDRESS, pvhEntryState } from "@microvm/pvh";
 * const s = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
 * console.log(s.gdt.address === BigInt(DEFAULT_GDT_ADDRESS)); // true
 * ```
 */
export const DEFAULT_GDT_ADDRESS: 0x500 = 0x500;

/**
 * Selectors of the boot GDT: null, code, data, TSS (8 bytes each).
 *
 * @example
 * ```ts
 * import { GdtSelector } from "@microvm/pvh";
 * console.log(GdtSelector.CODE); // 8
 * ```
 */
export const GdtSelector: {
  /** Entry 0, the null descriptor. */
  readonly NULL: 0x00;
  /** Entry 1, flat 32-bit code (CS). */
  readonly CODE: 0x08;
  /** Entry 2, flat 32-bit read/write data (DS, ES, FS, GS, SS). */
  readonly DATA: 0x10;
  /** Entry 3, the 32-bit TSS (TR). */
  readonly TSS: 0x18;
} = {
  NULL: 0x00,
  CODE: 0x08,
  DATA: 0x10,
  TSS: 0x18,
} as const;

/**
 * `cr0` at entry: PE (bit 0) | ET (bit 4) = 0x11, paging off (Intel SDM vol. 3 §2.5; Firecracker
 * writes the same).
 *
 * @example
 * ```ts
 * import { PVH_CR0 } from "@microvm/pvh";
 * console.log(PVH_CR0 & 1); // 1: protected mode
 * ```
 */
export const PVH_CR0: 0x11 = 0x11;

/**
 * A segment register's full state (selector and hidden part), with the same field names as
 * the usual VMM segment structures (KVM's `kvm_segment`), but no dependency on them. Flag fields are
 * 0 or 1. `limit` is the byte-granular 32-bit limit (0xffffffff for a flat segment with G = 1),
 * not the raw 20-bit descriptor field.
 *
 * @example
 * ```ts
 * import { pvhEntryState } from "@microvm/pvh";
 * const { cs } = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 }).sregs;
 * console.log(cs.selector, cs.limit.toString(16), cs.db); // 8 "ffffffff" 1
 * ```
 */
export interface SegmentState {
  /** Base address. */
  readonly base: bigint;
  /** Limit in bytes (already scaled by G). */
  readonly limit: number;
  /** Selector (GDT index * 8). */
  readonly selector: number;
  /** Descriptor type (4 bits): 0xb execute/read accessed code, 0x3 read/write accessed data, 0xb busy 32-bit TSS. */
  readonly type: number;
  /** Present. */
  readonly present: 0 | 1;
  /** Descriptor privilege level. */
  readonly dpl: number;
  /** Default operation size: 1 = 32-bit. */
  readonly db: 0 | 1;
  /** 1 for code/data, 0 for a system segment (TSS, LDT). */
  readonly s: 0 | 1;
  /** 64-bit code segment. */
  readonly l: 0 | 1;
  /** Granularity: 1 = 4 KiB units in the descriptor. */
  readonly g: 0 | 1;
  /** Available-for-software bit. */
  readonly avl: 0 | 1;
  /** 1 when the segment is not usable (a null selector). */
  readonly unusable: 0 | 1;
}

/**
 * A descriptor-table register (GDTR or IDTR).
 *
 * @example
 * ```ts
 * import { pvhEntryState } from "@microvm/pvh";
 * const { sregs } = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
 * console.log(sregs.gdt.limit); // 31
 * ```
 */
export interface TableRegister {
  /** Linear base address. */
  readonly base: bigint;
  /** Limit: size in bytes minus one. */
  readonly limit: number;
}

/**
 * The general-purpose registers, `rip` and `rflags` (all u64).
 *
 * @example
 * ```ts
 * import { pvhEntryState } from "@microvm/pvh";
 * const { regs } = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
 * console.log(regs.rip, regs.rbx); // 16777216n 24576n
 * ```
 */
export interface GeneralRegisters {
  /** rax. */ readonly rax: bigint;
  /** rbx: the start_info address (the ABI's `ebx`). */ readonly rbx: bigint;
  /** rcx. */ readonly rcx: bigint;
  /** rdx. */ readonly rdx: bigint;
  /** rsi. */ readonly rsi: bigint;
  /** rdi. */ readonly rdi: bigint;
  /** rsp: 0; the kernel sets up its own stack. */ readonly rsp: bigint;
  /** rbp. */ readonly rbp: bigint;
  /** r8. */ readonly r8: bigint;
  /** r9. */ readonly r9: bigint;
  /** r10. */ readonly r10: bigint;
  /** r11. */ readonly r11: bigint;
  /** r12. */ readonly r12: bigint;
  /** r13. */ readonly r13: bigint;
  /** r14. */ readonly r14: bigint;
  /** r15. */ readonly r15: bigint;
  /** rip: the PVH entry point. */ readonly rip: bigint;
  /** rflags: 0x2 (bit 1 is always set; IF, TF and VM clear). */ readonly rflags: bigint;
}

/**
 * The special registers at the PVH entry, named as in the usual VMM structures (KVM's
 * `kvm_sregs`: `gdt` and `idt` are the GDTR and IDTR), so a board can pass it to its hypervisor
 * binding with little or no translation.
 *
 * @example
 * ```ts
 * import { pvhEntryState } from "@microvm/pvh";
 * const { sregs } = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
 * console.log(sregs.cr0, sregs.gdt.limit, sregs.ss.selector); // 17n 31 16
 * ```
 */
export interface PvhSregs {
  /** CS: flat 32-bit execute/read code, selector 0x08. */
  readonly cs: SegmentState;
  /** DS: flat 32-bit read/write data, selector 0x10. */
  readonly ds: SegmentState;
  /** ES: as DS. */
  readonly es: SegmentState;
  /** FS: as DS. */
  readonly fs: SegmentState;
  /** GS: as DS. */
  readonly gs: SegmentState;
  /** SS: as DS (Linux uses start_info as its first stack). */
  readonly ss: SegmentState;
  /** TR: busy 32-bit TSS, base 0, limit 0x67, selector 0x18. */
  readonly tr: SegmentState;
  /** LDTR: unusable. */
  readonly ldt: SegmentState;
  /** GDTR: points at the GDT placement, limit 31. */
  readonly gdt: TableRegister;
  /** IDTR: base 0, limit 0; interrupts are off and the kernel installs its own IDT. */
  readonly idt: TableRegister;
  /** cr0 = 0x11 (PE | ET): protected mode, paging off. */
  readonly cr0: bigint;
  /** cr2 = 0. */
  readonly cr2: bigint;
  /** cr3 = 0 (no page tables). */
  readonly cr3: bigint;
  /** cr4 = 0. */
  readonly cr4: bigint;
  /** EFER = 0: long mode off. */
  readonly efer: bigint;
}

/**
 * The complete vCPU 0 state at the PVH entry: the GDT bytes the board must write at
 * `gdt.address` (the descriptors the segment registers were loaded from), the special registers
 * and the general registers.
 *
 * @example
 * ```ts
 * import { pvhEntryState } from "@microvm/pvh";
 * const s = pvhEntryState({ entry: 0x1000000, startInfo: 0x6000 });
 * // memory.write(s.gdt.address, s.gdt.bytes); vcpu.setSregs(s.sregs); vcpu.setRegs(s.regs)
 * ```
 */
export interface PvhEntryState {
  /** The GDT to place in guest memory: null, flat code, flat data, TSS (32 bytes). */
  readonly gdt: {
    /** Guest-physical address of the GDT (also `sregs.gdt.base`). */
    readonly address: bigint;
    /** The 32 bytes of the GDT. */
    readonly bytes: Uint8Array;
  };
  /** Segment, descriptor-table and control registers. */
  readonly sregs: PvhSregs;
  /** General-purpose registers, `rip` and `rflags`. */
  readonly regs: GeneralRegisters;
}

/**
 * Inputs of {@link pvhEntryState}.
 *
 * @example
 * ```ts
 * import type { PvhEntryInit } from "@microvm/pvh";
 * const init: PvhEntryInit = { entry: 0x1000000, startInfo: 0x6000, gdtAddress: 0x500 };
 * ```
 */
export interface PvhEntryInit {
  /** The PVH entry point (below 4 GiB), e.g. `readPvhKernel(...).entry`. */
  readonly entry: number | bigint;
  /** Guest-physical address of `hvm_start_info`, loaded into `rbx` (below 4 GiB). */
  readonly startInfo: number | bigint;
  /** Where the GDT goes; default {@link DEFAULT_GDT_ADDRESS}. Its 32 bytes must end below 4 GiB. */
  readonly gdtAddress?: number | bigint;
}

/** Size of the boot GDT: four 8-byte descriptors. */
const GDT_SIZE = 32;

interface Descriptor {
  readonly base: number;
  readonly limit20: number;
  readonly type: number;
  readonly s: 0 | 1;
  readonly dpl: number;
  readonly present: 0 | 1;
  readonly avl: 0 | 1;
  readonly l: 0 | 1;
  readonly db: 0 | 1;
  readonly g: 0 | 1;
}

// Intel SDM vol. 3 §3.4.5 "Segment Descriptors": limit 15:0 | base 23:0 | type, S, DPL, P |
// limit 19:16 | AVL, L, D/B, G | base 31:24.
function writeDescriptor(dv: DataView, at: number, d: Descriptor): void {
  dv.setUint16(at, d.limit20 & 0xffff, true);
  dv.setUint16(at + 2, d.base & 0xffff, true);
  dv.setUint8(at + 4, (d.base >>> 16) & 0xff);
  dv.setUint8(at + 5, d.type | (d.s << 4) | (d.dpl << 5) | (d.present << 7));
  dv.setUint8(at + 6, ((d.limit20 >>> 16) & 0xf) | (d.avl << 4) | (d.l << 5) | (d.db << 6) | (d.g << 7));
  dv.setUint8(at + 7, (d.base >>> 24) & 0xff);
}

function segment(selector: number, d: Descriptor): SegmentState {
  return {
    base: BigInt(d.base),
    // A KVM-style segment cache holds the limit in bytes: scale by 4 KiB when G = 1.
    limit: d.g ? ((d.limit20 << 12) | 0xfff) >>> 0 : d.limit20,
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

const CODE: Descriptor = { base: 0, limit20: 0xfffff, type: 0xb, s: 1, dpl: 0, present: 1, avl: 0, l: 0, db: 1, g: 1 };
const DATA: Descriptor = { ...CODE, type: 0x3 };
const TSS: Descriptor = { base: 0, limit20: 0x67, type: 0xb, s: 0, dpl: 0, present: 1, avl: 0, l: 0, db: 0, g: 0 };

function below4g(field: string, v: unknown, size: bigint): bigint {
  const a = toU64(field, v);
  if (a + size > 0x1_0000_0000n)
    throw new PvhError("address-limit", `${field}: expected [${hex(a)}, ${hex(a + size)}) to end at or below 4 GiB (32-bit protected mode)`);
  return a;
}

/**
 * The vCPU state for the PVH entry (protected mode, paging off, `rbx` = start_info), and the GDT
 * it refers to. Pure data: nothing is written anywhere.
 *
 * @param init - entry point, start_info address and optional GDT address.
 * @returns the state; see {@link PvhEntryState}.
 * @throws {@link PvhError} `address-limit` when the entry, start_info or GDT is not below 4 GiB,
 * `invalid-argument` / `out-of-range` for bad arguments.
 * @example
 * ```ts
 * import { pvhEntryState, readPvhKernel } from "@microvm/pvh";
 * declare const vmlinux: Uint8Array;
 * const state = pvhEntryState({ entry: readPvhKernel(vmlinux).entry, startInfo: 0x6000 });
 * console.log(state.sregs.cr0, state.regs.rflags); // 17n 2n
 * ```
 */
export function pvhEntryState(init: PvhEntryInit): PvhEntryState {
  const o = checkObject("init", init);
  const entry = below4g("entry", o["entry"], 1n);
  const startInfo = below4g("startInfo", o["startInfo"], 1n);
  const gdtAddress = below4g("gdtAddress", o["gdtAddress"] ?? DEFAULT_GDT_ADDRESS, BigInt(GDT_SIZE));

  const bytes = new Uint8Array(GDT_SIZE);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  writeDescriptor(dv, GdtSelector.CODE, CODE);
  writeDescriptor(dv, GdtSelector.DATA, DATA);
  writeDescriptor(dv, GdtSelector.TSS, TSS);

  const data = segment(GdtSelector.DATA, DATA);
  const z = 0n;
  return {
    gdt: { address: gdtAddress, bytes },
    sregs: {
      cs: segment(GdtSelector.CODE, CODE),
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      tr: segment(GdtSelector.TSS, TSS),
      ldt: { base: 0n, limit: 0, selector: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 },
      gdt: { base: gdtAddress, limit: GDT_SIZE - 1 },
      idt: { base: 0n, limit: 0 },
      cr0: BigInt(PVH_CR0),
      cr2: z,
      cr3: z,
      cr4: z,
      efer: z,
    },
    regs: {
      rax: z, rbx: startInfo, rcx: z, rdx: z, rsi: z, rdi: z, rsp: z, rbp: z,
      r8: z, r9: z, r10: z, r11: z, r12: z, r13: z, r14: z, r15: z,
      rip: entry,
      rflags: 2n,
    },
  };
}
