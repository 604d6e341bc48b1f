/**
 * Layout constants of the Intel MultiProcessor Specification 1.4 structures, as Linux declares
 * them in arch/x86/include/asm/mpspec_def.h (`struct mpf_intel`, `mpc_table`, `mpc_cpu`, `mpc_bus`,
 * `mpc_ioapic`, `mpc_intsrc`, `mpc_lintsrc`). test/layout.test.ts checks every value here against
 * the output of a C program compiled against that header (test/vectors/mpspec-layout.json).
 */

/** Sizes in bytes of the MP structures (MP spec 1.4, chapter 4). */
export const MP_SIZES: {
  readonly floatingPointer: 16;
  readonly header: 44;
  readonly processor: 20;
  readonly bus: 8;
  readonly ioApic: 8;
  readonly ioInterrupt: 8;
  readonly localInterrupt: 8;
} = {
  floatingPointer: 16,
  header: 44,
  processor: 20,
  bus: 8,
  ioApic: 8,
  ioInterrupt: 8,
  localInterrupt: 8,
} as const;

/** Base-table entry type codes (`MP_PROCESSOR` … `MP_LINTSRC`, mpspec_def.h). */
export const MP_ENTRY_TYPE: {
  readonly processor: 0;
  readonly bus: 1;
  readonly ioApic: 2;
  readonly ioInterrupt: 3;
  readonly localInterrupt: 4;
} = { processor: 0, bus: 1, ioApic: 2, ioInterrupt: 3, localInterrupt: 4 } as const;

/** Interrupt types of I/O and local interrupt entries (`enum mp_irq_source_types`). */
export const MP_IRQ_TYPE: { readonly INT: 0; readonly NMI: 1; readonly SMI: 2; readonly ExtINT: 3 } = {
  INT: 0,
  NMI: 1,
  SMI: 2,
  ExtINT: 3,
} as const;

/** Polarity values, bits 1:0 of `irqflag` (`MP_IRQPOL_*`). */
export const MP_IRQ_POLARITY: {
  readonly conforming: 0;
  readonly "active-high": 1;
  readonly reserved: 2;
  readonly "active-low": 3;
} = { conforming: 0, "active-high": 1, reserved: 2, "active-low": 3 } as const;

/** Trigger-mode values, bits 3:2 of `irqflag` (`MP_IRQTRIG_*`). */
export const MP_IRQ_TRIGGER: {
  readonly conforming: 0;
  readonly edge: 4;
  readonly reserved: 8;
  readonly level: 12;
} = { conforming: 0, edge: 4, reserved: 8, level: 12 } as const;

/** `CPU_ENABLED` and `CPU_BOOTPROCESSOR`, bits of a processor entry's `cpuflag`. */
export const MP_CPU_FLAG: { readonly enabled: 1; readonly bootProcessor: 2 } = {
  enabled: 1,
  bootProcessor: 2,
} as const;

/** `MPC_APIC_USABLE`, bit 0 of an I/O APIC entry's flags. */
export const MP_IOAPIC_USABLE: 1 = 1;

/** `MP_APIC_ALL`: a destination APIC id meaning every local APIC. */
export const MP_APIC_ALL: 0xff = 0xff;

/**
 * The most CPUs an MPTable can describe: APIC ids are 8 bits, 0xff is the broadcast id and the
 * IOAPIC needs one id too (Firecracker: src/vmm/src/arch/x86_64/mptable.rs `MAX_SUPPORTED_CPUS`).
 */
export const MP_MAX_CPUS: 254 = 254;

/** Everything an MPTable points at must lie below this address (Linux scans only the first MiB). */
export const MP_LIMIT_1MIB: 0x100000 = 0x100000;

/** `_MP_` read as a little-endian u32 (`SMP_MAGIC_IDENT` in mpspec_def.h). */
export const MP_FLOATING_SIGNATURE: 0x5f504d5f = 0x5f504d5f;

/** `PCMP` read as a little-endian u32 (`MPC_SIGNATURE` in mpspec_def.h). */
export const MP_TABLE_SIGNATURE: 0x504d4350 = 0x504d4350;

/** The default local APIC base (Intel SDM vol. 3A §10.4.1; `APIC_DEFAULT_PHYS_BASE` in Linux). */
export const DEFAULT_LAPIC_ADDRESS: 0xfee00000 = 0xfee00000;

/** The default I/O APIC base (`IO_APIC_DEFAULT_PHYS_BASE` in Linux, arch/x86/include/asm/apicdef.h). */
export const DEFAULT_IOAPIC_ADDRESS: 0xfec00000 = 0xfec00000;

/**
 * Version register value of KVM's local APIC (`APIC_VERSION 0x14` in Linux arch/x86/kvm/lapic.c);
 * Firecracker and kvmtool write the same in processor entries.
 */
export const DEFAULT_LAPIC_VERSION: 0x14 = 0x14;

/**
 * Version register value of KVM's in-kernel I/O APIC (`IOAPIC_VERSION_ID 0x11` in Linux
 * arch/x86/kvm/ioapic.h). qboot and Firecracker write 0x14 instead; Linux reads the version from
 * the IOAPIC itself, so the field is informational.
 */
export const DEFAULT_IOAPIC_VERSION: 0x11 = 0x11;

/**
 * CPU signature written in processor entries by default: family 6 (`0x600`), as Firecracker's
 * src/vmm/src/arch/x86_64/mptable.rs writes.
 */
export const DEFAULT_CPU_SIGNATURE: 0x600 = 0x600;

/** Default processor feature flags (CPUID.1:EDX): FPU (bit 0) and APIC (bit 9), as Firecracker writes. */
export const DEFAULT_CPU_FEATURES: 0x201 = 0x201;

/**
 * The Linux scan windows for the floating pointer, in order (`default_find_smp_config` in
 * arch/x86/kernel/mpparse.c), before the EBDA.
 */
export const MP_SCAN_WINDOWS: readonly (readonly [start: number, end: number])[] = [
  [0x0, 0x400],
  [0x9fc00, 0xa0000],
  [0xf0000, 0x100000],
];
