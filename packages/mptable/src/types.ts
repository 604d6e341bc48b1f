import type { MP_IRQ_POLARITY, MP_IRQ_TRIGGER, MP_IRQ_TYPE } from "./constants.js";

/**
 * Interrupt type of an I/O or local interrupt entry (MP spec 1.4 table 4-8).
 *
 * @example
 * ```ts
 * const type: MpIrqType = "ExtINT";
 * ```
 */
export type MpIrqType = keyof typeof MP_IRQ_TYPE;

/**
 * Interrupt polarity (MP spec 1.4 table 4-9, `irqflag` bits 1:0).
 *
 * @example
 * ```ts
 * const polarity: MpIrqPolarity = "active-low";
 * ```
 */
export type MpIrqPolarity = keyof typeof MP_IRQ_POLARITY;

/**
 * Interrupt trigger mode (MP spec 1.4 table 4-9, `irqflag` bits 3:2).
 *
 * @example
 * ```ts
 * const trigger: MpIrqTrigger = "level";
 * ```
 */
export type MpIrqTrigger = keyof typeof MP_IRQ_TRIGGER;

/**
 * A processor entry (`mpc_cpu`, 20 bytes).
 *
 * @example
 * ```ts
 * const bsp: MpProcessor = { apicId: 0, apicVersion: 0x14, enabled: true, bootstrap: true, signature: 0x600, featureFlags: 0x201 };
 * ```
 */
export interface MpProcessor {
  /** The processor's local APIC id, 0..254; it must equal the vCPU's real LAPIC id. */
  readonly apicId: number;
  /** Local APIC version register value (u8); KVM reports 0x14. */
  readonly apicVersion: number;
  /** `CPU_ENABLED`: the processor may be used. */
  readonly enabled: boolean;
  /** `CPU_BOOTPROCESSOR`: this is the bootstrap processor (exactly one). */
  readonly bootstrap: boolean;
  /** CPU signature (u32): stepping, model and family as in CPUID.1:EAX bits 11:0. */
  readonly signature: number;
  /** Feature flags (u32), CPUID.1:EDX. */
  readonly featureFlags: number;
}

/**
 * A bus entry (`mpc_bus`, 8 bytes).
 *
 * @example
 * ```ts
 * const isa: MpBus = { id: 0, type: "ISA" };
 * ```
 */
export interface MpBus {
  /** Bus id (u8), referenced by interrupt entries. */
  readonly id: number;
  /** Bus type, up to 6 printable ASCII characters without trailing blanks: `ISA`, `PCI`, `EISA`. */
  readonly type: string;
}

/**
 * An I/O APIC entry (`mpc_ioapic`, 8 bytes).
 *
 * @example
 * ```ts
 * const ioapic: MpIoApic = { id: 2, version: 0x11, usable: true, address: 0xfec00000 };
 * ```
 */
export interface MpIoApic {
  /** I/O APIC id (u8); must differ from every processor's APIC id. */
  readonly id: number;
  /** Version register value (u8); KVM's in-kernel IOAPIC reports 0x11. */
  readonly version: number;
  /** `MPC_APIC_USABLE`: Linux registers the IOAPIC only when set. */
  readonly usable: boolean;
  /** Physical base address (u32). */
  readonly address: number;
}

/**
 * An I/O interrupt assignment entry (`mpc_intsrc`, 8 bytes): a bus IRQ wired to an IOAPIC pin.
 *
 * @example
 * ```ts
 * // ISA IRQ 4 (the COM1 UART) wired to INTIN 4 of IOAPIC 2
 * const com1: MpIoInterrupt = { type: "INT", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 4, destApic: 2, destPin: 4 };
 * ```
 */
export interface MpIoInterrupt {
  /** Interrupt type; `INT` for a vectored interrupt. */
  readonly type: MpIrqType;
  /** Polarity; `conforming` means the bus default (active high for ISA). */
  readonly polarity: MpIrqPolarity;
  /** Trigger mode; `conforming` means the bus default (edge for ISA). */
  readonly trigger: MpIrqTrigger;
  /** Source bus id (u8). */
  readonly sourceBus: number;
  /** Source bus IRQ (u8). For ISA, the IRQ number. */
  readonly sourceIrq: number;
  /** Destination IOAPIC id (u8), or 0xff for all IOAPICs. */
  readonly destApic: number;
  /** Destination IOAPIC input pin, INTIN (u8). */
  readonly destPin: number;
}

/**
 * A local interrupt assignment entry (`mpc_lintsrc`, 8 bytes): what drives a LAPIC's LINT pin.
 *
 * @example
 * ```ts
 * const nmi: MpLocalInterrupt = { type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0xff, destLint: 1 };
 * ```
 */
export interface MpLocalInterrupt {
  /** Interrupt type; usually `ExtINT` on LINT0 and `NMI` on LINT1. */
  readonly type: MpIrqType;
  /** Polarity. */
  readonly polarity: MpIrqPolarity;
  /** Trigger mode. */
  readonly trigger: MpIrqTrigger;
  /** Source bus id (u8). */
  readonly sourceBus: number;
  /** Source bus IRQ (u8). */
  readonly sourceIrq: number;
  /** Destination local APIC id (u8), or 0xff (`MP_APIC_ALL`) for every local APIC. */
  readonly destApic: number;
  /** Destination LINT pin: 0 (LINT0) or 1 (LINT1). */
  readonly destLint: number;
}

/**
 * A complete MPTable: the floating pointer's place and every field of the configuration table.
 * {@link decodeMpTable} returns one; {@link encodeMpTable} accepts one (it is also a valid
 * {@link MpTableConfig}), and `decodeMpTable(encodeMpTable(t), t.address)` equals `t`.
 *
 * @example
 * ```ts
 * const table: MpTable = decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: 2 }), 0x9fc00);
 * const again = encodeMpTable(table); // the same bytes
 * ```
 */
export interface MpTable {
  /** Guest-physical address of the floating pointer (16-byte aligned); the table follows it. */
  readonly address: number;
  /** MP specification revision in both structures: 1 (1.1) or 4 (1.4). */
  readonly specRevision: 1 | 4;
  /** Floating pointer feature byte 2, bit 7: IMCR present (PIC mode). VMMs leave it clear. */
  readonly imcrPresent: boolean;
  /** OEM id, up to 8 printable ASCII characters, stored blank-padded (trailing blanks removed). */
  readonly oemId: string;
  /** Product id, up to 12 printable ASCII characters, stored blank-padded. */
  readonly productId: string;
  /** Physical address of the local APICs (u32, not 0). */
  readonly lapicAddress: number;
  /** Processor entries, in table order. */
  readonly processors: readonly MpProcessor[];
  /** Bus entries, in table order. */
  readonly buses: readonly MpBus[];
  /** I/O APIC entries, in table order. */
  readonly ioApics: readonly MpIoApic[];
  /** I/O interrupt assignment entries, in table order. */
  readonly ioInterrupts: readonly MpIoInterrupt[];
  /** Local interrupt assignment entries, in table order. */
  readonly localInterrupts: readonly MpLocalInterrupt[];
}

/**
 * A processor given to {@link encodeMpTable}: the APIC id, and any field to override.
 *
 * @example
 * ```ts
 * encodeMpTable({ address: 0x9fc00, cpus: [{ apicId: 0 }, { apicId: 2 }] satisfies MpProcessorConfig[] });
 * ```
 */
export type MpProcessorConfig = Pick<MpProcessor, "apicId"> & Partial<MpProcessor>;

/**
 * An I/O APIC given to {@link encodeMpTable}: every field optional.
 *
 * @example
 * ```ts
 * const ioApic: MpIoApicConfig = { id: 8 }; // the rest defaults
 * encodeMpTable({ address: 0x9fc00, cpus: 2, ioApic });
 * ```
 */
export type MpIoApicConfig = Partial<MpIoApic>;

/**
 * What {@link encodeMpTable} takes. Only `address` and `cpus` are required; the defaults describe
 * a microvm board:
 * - processors with APIC ids 0..n-1 (version 0x14, signature 0x600, features 0x201), the first
 *   one the bootstrap processor;
 * - one I/O APIC with the id after the highest processor id, version 0x11, at 0xfec00000;
 * - one ISA bus, id 0;
 * - I/O interrupts from {@link identityIrqRouting}: ISA IRQ n to INTIN n for n in 0..15, no IRQ0
 *   override, which matches KVM's default GSI routing;
 * - local interrupts ExtINT to the bootstrap processor's LINT0 and NMI to every LINT1;
 * - OEM id `MICROVM`, product id `MICROVM`, spec revision 4, LAPIC at 0xfee00000.
 *
 * @example
 * ```ts
 * const config: MpTableConfig = { address: 0x9fc00, cpus: 2, oemId: "MYVMM" };
 * const bytes = encodeMpTable(config);
 * ```
 */
export interface MpTableConfig {
  /** Guest-physical address of the floating pointer; 16-byte aligned, table ending below 1 MiB. */
  readonly address: number;
  /** A CPU count (1..254, APIC ids 0..n-1), or the processors themselves. */
  readonly cpus?: number | readonly MpProcessorConfig[];
  /** The processors, as {@link MpTable} names them; an alternative to `cpus`. */
  readonly processors?: readonly MpProcessorConfig[];
  /** The I/O APIC (one), with defaults; ignored when `ioApics` is given. */
  readonly ioApic?: MpIoApicConfig;
  /** Every I/O APIC, fully described; overrides `ioApic`. */
  readonly ioApics?: readonly MpIoApic[];
  /** Buses; default one ISA bus with id 0. */
  readonly buses?: readonly MpBus[];
  /** I/O interrupt entries; default {@link identityIrqRouting} over the first ISA bus and IOAPIC. */
  readonly ioInterrupts?: readonly MpIoInterrupt[];
  /** Local interrupt entries; default ExtINT to the BSP's LINT0 and NMI to all LINT1. */
  readonly localInterrupts?: readonly MpLocalInterrupt[];
  /** Local APIC address; default 0xfee00000. */
  readonly lapicAddress?: number;
  /** OEM id, up to 8 printable ASCII characters; default `MICROVM`. */
  readonly oemId?: string;
  /** Product id, up to 12 printable ASCII characters; default `MICROVM`. */
  readonly productId?: string;
  /** Spec revision, 1 or 4; default 4. */
  readonly specRevision?: 1 | 4;
  /** IMCR present bit of the floating pointer; default false (virtual-wire mode). */
  readonly imcrPresent?: boolean;
}
