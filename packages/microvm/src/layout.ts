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
};

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

/**
 * Device ids of the virtio devices the machine offers (virtio 1.2 §5).
 *
 * @example
 * ```ts
 * VIRTIO_DEVICE_ID.blk; // 2
 * ```
 */
export const VIRTIO_DEVICE_ID = {
  /** Network device. */
  net: 1,
  /** Block device. */
  blk: 2,
  /** Console. */
  console: 3,
  /** Entropy source. */
  rng: 4,
} as const;
