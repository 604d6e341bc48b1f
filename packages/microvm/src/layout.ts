/**
 * Where a microvm board puts things: RAM, the virtio-mmio transports and their GSIs, the MPTable,
 * the interrupt controllers, the legacy UART. {@link MICROVM_LAYOUT} is the seed's; a board
 * overrides any field with {@link MachineConfig.layout}, and a platform (see
 * {@link MachineConfig.platform}) may bring its own (QEMU 7.2 puts its transports elsewhere).
 *
 * @example
 * ```ts
 * const layout: MachineLayout = { ...MICROVM_LAYOUT, virtioBase: 0xfeb0_0000n };
 * ```
 */
export interface MachineLayout {
  /** Low RAM ends here; [lowRamEnd, 4 GiB) is the 32-bit MMIO gap. */
  readonly lowRamEnd: bigint;
  /** RAM above the gap starts here. */
  readonly highRamStart: bigint;
  /** First virtio-mmio transport. */
  readonly virtioBase: bigint;
  /** Bytes per transport. */
  readonly virtioSize: bigint;
  /** GSI of transport 0; transport i uses virtioGsiBase + i. */
  readonly virtioGsiBase: number;
  /** How many transports the machine has. */
  readonly virtioTransports: number;
  /** Where the MPTable goes when it fits in 1 KiB. */
  readonly mptableLow: number;
  /** Where it goes otherwise. */
  readonly mptableHigh: number;
  /** The IOAPIC's registers. */
  readonly ioapicBase: bigint;
  /** The IOAPIC's version register, as the MPTable states it. */
  readonly ioapicVersion: number;
  /** The LAPIC / MSI window. */
  readonly lapicBase: bigint;
  /** KVM's TSS (3 pages), for the in-process engine. */
  readonly tssAddress: bigint;
  /** KVM's identity-map page, for the in-process engine. */
  readonly identityMapAddress: bigint;
  /** The legacy-mode UART's first port. */
  readonly uartBase: number;
  /** The legacy-mode UART's ISA IRQ. */
  readonly uartIrq: number;
  /** The i8042 command port (a write of 0xfe resets the machine) in legacy mode. */
  readonly resetPort: number;
  /** With ACPI: the RSDP goes here and the other tables right after it; the range is reserved in the E820 map. */
  readonly acpiBase: number;
  /** With ACPI: bytes reserved for the RSDP and the tables at {@link MachineLayout.acpiBase}. */
  readonly acpiSize: number;
  /**
   * With ACPI: the Generic Event Device's event register (4 bytes: which events are pending, cleared
   * by the read) at this address, and its sleep control, sleep status and reset registers at
   * +0x200, +0x201 and +0x202.
   */
  readonly gedBase: bigint;
  /** With ACPI: the GSI (edge-triggered, active high) on which the GED signals an event. */
  readonly gedGsi: number;
}

/**
 * The fixed layout of the microvm machine (QEMU hw/i386/microvm.c of 2019, the seed).
 * Every value can be overridden per board through
 * {@link MachineConfig.layout}.
 *
 * @example
 * ```ts
 * const base = MICROVM_LAYOUT.virtioBase + 3n * MICROVM_LAYOUT.virtioSize; // transport 3
 * ```
 */
export const MICROVM_LAYOUT: MachineLayout = {
  /** Low RAM ends here; [lowRamEnd, 4 GiB) is the 32-bit MMIO gap. */
  lowRamEnd: 0xc000_0000n,
  /** RAM above the gap starts at 4 GiB. */
  highRamStart: 0x1_0000_0000n,
  /** First virtio-mmio transport (the seed's VIRTIO_MMIO_BASE). */
  virtioBase: 0xd000_0000n,
  /** Bytes per transport: the register file (virtio-mmio v1/v2 use 0x000..0x1ff). */
  virtioSize: 0x200n,
  /** GSI of transport 0; transport i uses virtioGsiBase + i (the seed's VIRTIO_IRQ_BASE). */
  virtioGsiBase: 5,
  /** How many transports the machine has (the seed: 8). */
  virtioTransports: 8,
  /** Where the MPTable goes when it fits in 1 KiB: the last KiB of 640 KiB base memory. */
  mptableLow: 0x9fc00,
  /** Where it goes otherwise: the BIOS F-segment. */
  mptableHigh: 0xf0000,
  /** The in-kernel IOAPIC. */
  ioapicBase: 0xfec0_0000n,
  /** KVM's in-kernel IOAPIC reports version 0x11 (virt/kvm/ioapic.h IOAPIC_VERSION_ID). */
  ioapicVersion: 0x11,
  /** The LAPIC / MSI window (QEMU lists it as kvm-apic-msi, 1 MiB, priority 4096). */
  lapicBase: 0xfee0_0000n,
  /** KVM's TSS (3 pages) and identity map page, inside the MMIO gap below the IOAPIC (Firecracker's choice). */
  tssAddress: 0xfffb_d000n,
  /** KVM's identity-map page (one page before the TSS). */
  identityMapAddress: 0xfffb_c000n,
  /** The legacy-mode UART: COM1. */
  uartBase: 0x3f8,
  /** COM1's ISA IRQ. */
  uartIrq: 4,
  /** The i8042 command port: writing 0xfe resets the machine (legacy mode). */
  resetPort: 0x64,
  /**
   * ACPI tables (with `acpi`): the 64 KiB below the BIOS F-segment, in the range QEMU's microvm
   * also keeps for its tables (it marks 0xd0000-0xeffff in its E820 map).
   */
  acpiBase: 0xe0000,
  /** 64 KiB: 254 CPUs' MADT and eight transports' DSDT take under 4 KiB. */
  acpiSize: 0x10000,
  /** The GED at QEMU's address for its microvm (hw/i386/microvm.h GED_MMIO_BASE), so both engines agree. */
  gedBase: 0xfea0_0000n,
  /** QEMU's GED interrupt (hw/i386/microvm.h GED_MMIO_IRQ): ISA IRQ 9, as ACPI's SCI traditionally is. */
  gedGsi: 9,
};

/**
 * What changes in {@link MICROVM_LAYOUT} on a board with ACPI: the transports move to GSIs
 * 16..23, as on QEMU's microvm with `acpi=on` (hw/i386/microvm.c), so that no transport shares an
 * ISA IRQ with the GED (9) and both engines run one plan. A board's own `layout` still wins.
 *
 * @example
 * ```ts
 * MICROVM_ACPI_LAYOUT.virtioGsiBase; // 16
 * ```
 */
export const MICROVM_ACPI_LAYOUT: Partial<MachineLayout> = {
  /** Transport i on GSI 16 + i (the first IOAPIC's pins above the ISA IRQs). */
  virtioGsiBase: 16,
};

/**
 * Guest RAM when a board does not say: 128 MiB, QEMU's default for `-m`.
 *
 * @example
 * ```ts
 * planMachine({ kernel }).memory === DEFAULT_MEMORY; // true
 * ```
 */
export const DEFAULT_MEMORY: bigint = 128n * 1024n * 1024n;

/**
 * E820 ranges the machine reserves below 1 MiB: the MPTable KiB and the BIOS F-segment.
 *
 * @example
 * ```ts
 * const e820 = buildE820({ ram: [{ start: 0, size: 128 << 20 }], reserved: RESERVED_LOW });
 * ```
 */
export const RESERVED_LOW: readonly {
  /** First byte. */
  readonly start: bigint;
  /** Length in bytes. */
  readonly size: bigint;
}[] = [
  { start: 0x9fc00n, size: 0x400n },
  { start: 0xf0000n, size: 0x10000n },
];

export { VIRTIO_DEVICE_ID } from "./devices/index.js";

/**
 * The register map of the board's Generic Event Device (with ACPI), relative to
 * {@link MachineLayout.gedBase}. The layout is QEMU's for its microvm, so that one DSDT and one
 * FADT are true on both engines (QEMU include/hw/acpi/generic_event_device.h: the event selector,
 * then the sleep control, sleep status and reset registers at +0x200; reset value 0x42; sleep type
 * 5 is S5). The sleep control register's fields are ACPI's (ACPI 6.4 §4.8.3.7: SLP_TYP in bits
 * 2–4, SLP_EN in bit 5).
 *
 * @example
 * ```ts
 * const resetRegister = MICROVM_LAYOUT.gedBase + GED.regsOffset + BigInt(GED.reset); // 0xfea00202n
 * ```
 */
export const GED = {
  /** Size of the event register: a 32-bit word whose set bits are the pending events; a read clears it. */
  eventSize: 4,
  /** Offset of the sleep/reset registers from the GED's base. */
  regsOffset: 0x200n,
  /** Their size: three byte registers. */
  regsSize: 3,
  /** Sleep control register (write SLP_TYP << 2 | SLP_EN). */
  sleepControl: 0,
  /** Sleep status register (reads as 0: the machine never wakes from a sleep state). */
  sleepStatus: 1,
  /** Reset register: writing {@link GED.resetValue} resets the machine. */
  reset: 2,
  /** The value the FADT tells the OS to write to the reset register. */
  resetValue: 0x42,
  /** The event bit for a power-button press (QEMU's ACPI_GED_PWR_DOWN_EVT). */
  powerDownEvent: 0x2,
  /** SLP_TYP of S5 (soft off), as the DSDT's `_S5` package says. */
  s5SleepType: 5,
  /** SLP_EN: the write that carries it enters the sleep state. */
  sleepEnable: 0x20,
} as const;
