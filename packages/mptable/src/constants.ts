/**
 * Layout constants of the Intel MultiProcessor Specification 1.4 structures, as Linux declares
 * them in arch/x86/include/asm/mpspec_def.h (`struct mpf_intel`, `mpc_table`, `mpc_cpu`, `mpc_bus`,
 * `mpc_ioapic`, `mpc_intsrc`, `mpc_lintsrc`). test/layout.test.ts checks every value here against
 * the output of a C program compiled against that header (test/vectors/mpspec-layout.json).
 */

/**
 * Sizes in bytes of the MP structures (MP spec 1.4, chapter 4).
 *
 * @example
 * ```ts
 * const entries = (table.length - MP_SIZES.floatingPointer - MP_SIZES.header) / MP_SIZES.ioInterrupt;
 * ```
 */
export const MP_SIZES = {
  /** `struct mpf_intel`, the floating pointer. */
  floatingPointer: 16,
  /** `struct mpc_table`, the configuration table header. */
  header: 44,
  /** `struct mpc_cpu`, a processor entry. */
  processor: 20,
  /** `struct mpc_bus`, a bus entry. */
  bus: 8,
  /** `struct mpc_ioapic`, an I/O APIC entry. */
  ioApic: 8,
  /** `struct mpc_intsrc`, an I/O interrupt assignment entry. */
  ioInterrupt: 8,
  /** `struct mpc_lintsrc`, a local interrupt assignment entry. */
  localInterrupt: 8,
} as const;

/**
 * Base-table entry type codes (`MP_PROCESSOR` … `MP_LINTSRC`, mpspec_def.h).
 *
 * @example
 * ```ts
 * if (bytes[offset] === MP_ENTRY_TYPE.processor) offset += MP_SIZES.processor;
 * ```
 */
export const MP_ENTRY_TYPE = {
  /** `MP_PROCESSOR`. */
  processor: 0,
  /** `MP_BUS`. */
  bus: 1,
  /** `MP_IOAPIC`. */
  ioApic: 2,
  /** `MP_INTSRC`. */
  ioInterrupt: 3,
  /** `MP_LINTSRC`. */
  localInterrupt: 4,
} as const;

/**
 * Interrupt types of I/O and local interrupt entries (`enum mp_irq_source_types`).
 *
 * @example
 * ```ts
 * MP_IRQ_TYPE.ExtINT; // 3, the value stored in an entry for "ExtINT"
 * ```
 */
export const MP_IRQ_TYPE = {
  /** `mp_INT`: a vectored interrupt, the vector taken from the APIC redirection entry. */
  INT: 0,
  /** `mp_NMI`: a non-maskable interrupt. */
  NMI: 1,
  /** `mp_SMI`: a system management interrupt. */
  SMI: 2,
  /** `mp_ExtINT`: a vectored interrupt whose vector comes from the external 8259 PIC. */
  ExtINT: 3,
} as const;

/**
 * Polarity values, bits 1:0 of `irqflag` (`MP_IRQPOL_*`).
 *
 * @example
 * ```ts
 * const flags = MP_IRQ_POLARITY["active-low"] | MP_IRQ_TRIGGER.level; // 0xf
 * ```
 */
export const MP_IRQ_POLARITY = {
  /** `MP_IRQPOL_DEFAULT`: conforms to the bus (active high for ISA). */
  conforming: 0,
  /** `MP_IRQPOL_ACTIVE_HIGH`. */
  "active-high": 1,
  /** `MP_IRQPOL_RESERVED`. */
  reserved: 2,
  /** `MP_IRQPOL_ACTIVE_LOW`. */
  "active-low": 3,
} as const;

/**
 * Trigger-mode values, bits 3:2 of `irqflag` (`MP_IRQTRIG_*`).
 *
 * @example
 * ```ts
 * const level = (flags & 0xc) === MP_IRQ_TRIGGER.level;
 * ```
 */
export const MP_IRQ_TRIGGER = {
  /** `MP_IRQTRIG_DEFAULT`: conforms to the bus (edge for ISA). */
  conforming: 0,
  /** `MP_IRQTRIG_EDGE`. */
  edge: 4,
  /** `MP_IRQTRIG_RESERVED`. */
  reserved: 8,
  /** `MP_IRQTRIG_LEVEL`. */
  level: 12,
} as const;

/**
 * `CPU_ENABLED` and `CPU_BOOTPROCESSOR`, bits of a processor entry's `cpuflag`.
 *
 * @example
 * ```ts
 * const isBsp = (cpuflag & MP_CPU_FLAG.bootProcessor) !== 0;
 * ```
 */
export const MP_CPU_FLAG = {
  /** `CPU_ENABLED`: the processor is usable. */
  enabled: 1,
  /** `CPU_BOOTPROCESSOR`: the bootstrap processor. */
  bootProcessor: 2,
} as const;

/**
 * `MPC_APIC_USABLE`, bit 0 of an I/O APIC entry's flags.
 *
 * @example
 * ```ts
 * const usable = (flags & MP_IOAPIC_USABLE) !== 0;
 * ```
 */
export const MP_IOAPIC_USABLE: 1 = 1;

/**
 * `MP_APIC_ALL`: a destination APIC id meaning every local APIC.
 *
 * @example
 * ```ts
 * const nmiToAll = { type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: MP_APIC_ALL, destLint: 1 } as const;
 * ```
 */
export const MP_APIC_ALL: 0xff = 0xff;

/**
 * The most CPUs an MPTable can describe: APIC ids are 8 bits, 0xff is the broadcast id and the
 * IOAPIC needs one id too (Firecracker: src/vmm/src/arch/x86_64/mptable.rs `MAX_SUPPORTED_CPUS`).
 *
 * @example
 * ```ts
 * const cpus = Math.min(requested, MP_MAX_CPUS);
 * ```
 */
export const MP_MAX_CPUS: 254 = 254;

/**
 * Everything an MPTable points at must lie below this address (Linux scans only the first MiB).
 *
 * @example
 * ```ts
 * const fits = address + mpTableSize({ address, cpus }) <= MP_LIMIT_1MIB;
 * ```
 */
export const MP_LIMIT_1MIB: 0x100000 = 0x100000;

/**
 * `_MP_` read as a little-endian u32 (`SMP_MAGIC_IDENT` in mpspec_def.h).
 *
 * @example
 * ```ts
 * const isPointer = view.getUint32(at, true) === MP_FLOATING_SIGNATURE;
 * ```
 */
export const MP_FLOATING_SIGNATURE: 0x5f504d5f = 0x5f504d5f;

/**
 * `PCMP` read as a little-endian u32 (`MPC_SIGNATURE` in mpspec_def.h).
 *
 * @example
 * ```ts
 * const isTable = view.getUint32(physptr, true) === MP_TABLE_SIGNATURE;
 * ```
 */
export const MP_TABLE_SIGNATURE: 0x504d4350 = 0x504d4350;

/**
 * The default local APIC base (Intel SDM vol. 3A §10.4.1; `APIC_DEFAULT_PHYS_BASE` in Linux).
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: 1, lapicAddress: DEFAULT_LAPIC_ADDRESS });
 * ```
 */
export const DEFAULT_LAPIC_ADDRESS: 0xfee00000 = 0xfee00000;

/**
 * The default I/O APIC base (`IO_APIC_DEFAULT_PHYS_BASE` in Linux, arch/x86/include/asm/apicdef.h).
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: 1, ioApic: { address: DEFAULT_IOAPIC_ADDRESS } });
 * ```
 */
export const DEFAULT_IOAPIC_ADDRESS: 0xfec00000 = 0xfec00000;

/**
 * Version register value of KVM's local APIC (`APIC_VERSION 0x14` in Linux arch/x86/kvm/lapic.c);
 * Firecracker and kvmtool write the same in processor entries.
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: [{ apicId: 0, apicVersion: DEFAULT_LAPIC_VERSION }] });
 * ```
 */
export const DEFAULT_LAPIC_VERSION: 0x14 = 0x14;

/**
 * Version register value of KVM's in-kernel I/O APIC (`IOAPIC_VERSION_ID 0x11` in Linux
 * arch/x86/kvm/ioapic.h). qboot and Firecracker write 0x14 instead; Linux reads the version from
 * the IOAPIC itself, so the field is informational.
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: 1, ioApic: { version: DEFAULT_IOAPIC_VERSION } });
 * ```
 */
export const DEFAULT_IOAPIC_VERSION: 0x11 = 0x11;

/**
 * CPU signature written in processor entries by default: family 6 (`0x600`), as Firecracker's
 * src/vmm/src/arch/x86_64/mptable.rs writes.
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: [{ apicId: 0, signature: DEFAULT_CPU_SIGNATURE }] });
 * ```
 */
export const DEFAULT_CPU_SIGNATURE: 0x600 = 0x600;

/**
 * Default processor feature flags (CPUID.1:EDX): FPU (bit 0) and APIC (bit 9), as Firecracker writes.
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: [{ apicId: 0, featureFlags: DEFAULT_CPU_FEATURES }] });
 * ```
 */
export const DEFAULT_CPU_FEATURES: 0x201 = 0x201;

/**
 * The Linux scan windows for the floating pointer, in order (`default_find_smp_config` in
 * arch/x86/kernel/mpparse.c), before the EBDA.
 *
 * @example
 * ```ts
 * const inWindow = MP_SCAN_WINDOWS.some(([start, end]) => address >= start && address + 16 <= end);
 * ```
 */
export const MP_SCAN_WINDOWS: readonly (readonly [start: number, end: number])[] = [
  [0x0, 0x400],
  [0x9fc00, 0xa0000],
  [0xf0000, 0x100000],
];
