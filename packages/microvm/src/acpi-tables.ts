/**
 * The board's ACPI tables: what `acpi: true` adds to a plan. The MADT says what the MPTable says
 * (the same CPUs, the same IOAPIC id and address, the same IRQ0 override); the DSDT names what the
 * MPTable cannot: each virtio-mmio transport holding a device, the legacy UART, the Generic Event
 * Device with its power button, and `_S5`; the FADT is hardware-reduced and points at the GED's
 * sleep and reset registers ({@link GED}). Pure: bytes out, nothing written.
 */
import {
  IAPC_BOOT_ARCH,
  amlCca,
  amlCrs,
  amlAnd,
  amlDevice,
  amlField,
  amlHid,
  amlIf,
  amlLEqual,
  amlLocal,
  amlMethod,
  amlNamedField,
  amlNotify,
  amlOperationRegion,
  amlRef,
  amlStore,
  amlName,
  amlPackage,
  amlScope,
  amlUid,
  encodeAcpiTables,
  extendedInterrupt,
  ioPort,
  madtForCpus,
  memory32Fixed,
  type AmlTerm,
  type Fadt,
  type GenericAddress,
} from "@microvm/acpi";
import { MicrovmError } from "./errors.js";
import { GED, type MachineLayout } from "./layout.js";
import type { AcpiPlan, TransportPlan } from "./plan.js";

/**
 * What {@link boardAcpiTables} describes.
 *
 * @example
 * ```ts
 * const input: BoardAcpiInput = { layout: MICROVM_LAYOUT, cpus: 1, ioApicId: 1, legacy: false, irq0Override: false, transports: [], range: { start: 0xe0000n, size: 0x10000n } };
 * ```
 */
export interface BoardAcpiInput {
  /** The layout in force. */
  readonly layout: MachineLayout;
  /** vCPU count (APIC ids 0..cpus-1, as in the MPTable). */
  readonly cpus: number;
  /** The IOAPIC's id, as in the MPTable. */
  readonly ioApicId: number;
  /** Legacy mode: the UART is described. */
  readonly legacy: boolean;
  /** ISA IRQ0 arrives at IOAPIC pin 2 (an interrupt source override says so). */
  readonly irq0Override: boolean;
  /** The transports; those holding a device are described. */
  readonly transports: readonly TransportPlan[];
  /** The reserved range the RSDP and the tables go in. */
  readonly range: {
    /** First byte. */
    readonly start: bigint;
    /** Length in bytes. */
    readonly size: bigint;
  };
}

/** A register of the GED as a FADT generic address: one byte in system memory. */
function gedRegister(layout: MachineLayout, offset: number): GenericAddress {
  return { space: "memory", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: layout.gedBase + GED.regsOffset + BigInt(offset) };
}

/**
 * The Generic Event Device (ACPI0013, ACPI 6.4 §5.6.9) and the power button it signals: the GED
 * has the GSI as its interrupt; Linux's driver for it (drivers/acpi/evged.c) runs `_EVT` with the
 * GSI number on each interrupt. `_EVT` reads the event register (which clears it) and, when the
 * power-down bit is set, notifies the power button (PNP0C0C) with 0x80, "button pressed"
 * (ACPI 6.4 §4.8.3.1.1), which Linux's button driver turns into a KEY_POWER input event.
 */
function gedTerms(layout: MachineLayout): AmlTerm[] {
  return [
    amlDevice("GED", [
      amlHid("ACPI0013"),
      amlUid("GED"),
      amlCrs([extendedInterrupt([layout.gedGsi], { trigger: "edge" })]),
      amlOperationRegion("EREG", "SystemMemory", layout.gedBase, GED.eventSize),
      amlField("EREG", "DWordAcc", "NoLock", "WriteAsZeros", [amlNamedField("ESEL", 32)]),
      // Method (_EVT, 1, Serialized) { Local0 = ESEL; If ((Local0 & 2) == 2) { Notify (PWRB, 0x80) } }
      amlMethod(
        "_EVT",
        [
          amlStore(amlRef("ESEL"), amlLocal(0)),
          amlIf(amlLEqual(amlAnd(amlLocal(0), GED.powerDownEvent), GED.powerDownEvent), [amlNotify(amlRef("PWRB"), 0x80)]),
        ],
        { argCount: 1, serialized: true },
      ),
    ]),
    amlDevice("PWRB", [amlHid("PNP0C0C"), amlUid(0)]),
  ];
}

/** Two hex digits, as the DSDT's device names use them (`VR00`..`VR1F`). */
const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, "0");

/**
 * The DSDT's terms for a board.
 *
 * @param input - the board
 * @returns the terms: `\_SB` with the devices, and `\_S5`
 * @example
 * ```ts
 * const terms = boardDsdt(input); // encodeDsdt(terms) gives the table
 * ```
 */
export function boardDsdt(input: BoardAcpiInput): AmlTerm[] {
  const { layout } = input;
  const devices: AmlTerm[] = [];
  if (input.legacy) {
    // The 16550A at COM1 (PNP0501: "16550A-compatible COM port", the PnP ids Linux's 8250_pnp takes).
    devices.push(
      amlDevice("COM1", [amlHid("PNP0501"), amlUid(0), amlCrs([ioPort(layout.uartBase, 8), extendedInterrupt([layout.uartIrq], { trigger: "edge" })])]),
    );
  }
  devices.push(...gedTerms(layout));
  for (const t of input.transports) {
    if (!t.device) continue;
    // LNRO0005: the virtio-mmio id Linux's virtio_mmio driver matches in ACPI
    // (drivers/virtio/virtio_mmio.c, virtio_mmio_acpi_match). The interrupt is edge-triggered, as
    // the MPTable's bus-conforming entries say, so both tables program the IOAPIC pin alike (QEMU's
    // own DSDT says level; its line stays high until the driver's InterruptACK, a rising edge is
    // what an edge-triggered pin takes, and the driver reads the queues after that write).
    devices.push(
      amlDevice(`VR${hex2(t.index)}`, [
        amlHid("LNRO0005"),
        amlUid(t.index),
        amlCca(true),
        amlCrs([memory32Fixed(Number(t.base), Number(t.size)), extendedInterrupt([t.gsi], { trigger: "edge" })]),
      ]),
    );
  }
  return [
    amlScope("\\_SB", devices),
    // \_S5: SLP_TYP 5, what the GED's sleep control register takes as soft off.
    amlName("\\_S5", amlPackage([GED.s5SleepType, 0, 0, 0])),
  ];
}

/**
 * Encodes the board's ACPI tables: the RSDP at the start of `range`, then XSDT, FADT, MADT, DSDT.
 *
 * @param input - the board
 * @returns the ACPI part of the plan
 * @throws MicrovmError `out-of-range` when the tables do not fit `range`
 * @example
 * ```ts
 * const acpi = boardAcpiTables(input);
 * memory.write(acpi.rsdpAddress, acpi.rsdp);
 * memory.write(acpi.tablesAddress, acpi.tables);
 * ```
 */
export function boardAcpiTables(input: BoardAcpiInput): AcpiPlan {
  const { layout, range } = input;
  const rsdpAddress = range.start;
  // The tables after the 36-byte RSDP, 64-byte aligned.
  const tablesAddress = range.start + 0x40n;
  const fadt: Omit<Fadt, "dsdtAddress"> = {
    // No 8042, no VGA, no CMOS RTC on either engine; no MSI (there is no PCI).
    iapcBootArch: IAPC_BOOT_ARCH.VGA_NOT_PRESENT | IAPC_BOOT_ARCH.MSI_NOT_SUPPORTED | IAPC_BOOT_ARCH.CMOS_RTC_NOT_PRESENT,
    sleepControlRegister: gedRegister(layout, GED.sleepControl),
    sleepStatusRegister: gedRegister(layout, GED.sleepStatus),
    resetRegister: gedRegister(layout, GED.reset),
    resetValue: GED.resetValue,
  };
  const madt = madtForCpus({
    cpus: input.cpus,
    ioApics: [{ id: input.ioApicId, address: Number(layout.ioapicBase), gsiBase: 0 }],
    overrides: input.irq0Override ? [{ source: 0, gsi: 2 }] : [],
    // The 8259 pair is there on both engines (ACPI 6.4 §5.2.12: PCAT_COMPAT, "dual 8259 set-up").
    pcatCompat: true,
  });
  const set = encodeAcpiTables({ address: tablesAddress, fadt, madt, dsdt: boardDsdt(input) });
  const end = tablesAddress + BigInt(set.tables.length);
  if (end > range.start + range.size) {
    throw new MicrovmError("out-of-range", `acpi: the tables take ${end - range.start} bytes; the layout reserves ${range.size} at 0x${range.start.toString(16)} (layout.acpiSize)`);
  }
  return {
    rsdpAddress,
    rsdp: set.rsdp,
    tablesAddress,
    tables: set.tables,
    addresses: { XSDT: set.xsdtAddress, FACP: set.fadtAddress, APIC: set.madtAddress, DSDT: set.dsdtAddress },
    reserved: range,
  };
}
