import type { RegionInit } from "./address-space.js";
import { MICROVM_ACPI_LAYOUT, MICROVM_LAYOUT, type MachineLayout } from "./layout.js";

/**
 * What a platform's surface is built from: the board's final layout, its RAM and its mode.
 *
 * @example
 * ```ts
 * const ctx: SurfaceContext = { layout: MICROVM_LAYOUT, ram: [{ start: 0n, size: 128n << 20n }], legacy: false };
 * ```
 */
export interface SurfaceContext {
  /** The layout in force (the seed's, the platform's and the board's overrides merged). */
  readonly layout: MachineLayout;
  /** The RAM regions of the plan. */
  readonly ram: readonly {
    /** Guest-physical start. */
    readonly start: bigint;
    /** Length in bytes. */
    readonly size: bigint;
  }[];
  /** Legacy mode. */
  readonly legacy: boolean;
}

/**
 * The fixed regions of a platform's address spaces, besides the board's (the virtio transports,
 * the legacy UART, custom regions): interrupt controllers, firmware, RAM where the platform
 * lists it.
 *
 * @example
 * ```ts
 * const s: PlatformSurface = KVM_PLATFORM.surface({ layout: MICROVM_LAYOUT, ram: [], legacy: false });
 * ```
 */
export interface PlatformSurface {
  /** MMIO regions. */
  readonly memory: readonly RegionInit[];
  /** Port regions. */
  readonly io: readonly RegionInit[];
}

/**
 * Where a plan is meant to run, as far as the guest can tell: the layout the platform imposes,
 * how it wires interrupts, which legacy ports it has and the regions it adds. The plan describes
 * exactly what that platform builds, so that its listing and its tables are true there.
 *
 * - {@link KVM_PLATFORM}: the in-process KVM engine, the seed's machine (the default).
 * - {@link qemuPlatform}: QEMU's own `-M microvm` (7.2's layout), for the QEMU engine.
 *
 * @example
 * ```ts
 * const plan = planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }) });
 * plan.transports[0]?.base; // 0xfeb00000n
 * ```
 */
export interface Platform {
  /** A name for messages and the printed plan, e.g. `kvm`, `qemu-7.2/tcg`. */
  readonly name: string;
  /** Layout fields the platform fixes (a board's own `layout` still applies on top). */
  readonly layout: Partial<MachineLayout>;
  /** Layout fields the platform fixes differently on a board with ACPI (merged over `layout`). */
  readonly acpiLayout?: Partial<MachineLayout>;
  /** The platform wires ISA IRQ0 to IOAPIC pin 2 (so the MPTable must say so). */
  readonly irq0Override: boolean;
  /** Legacy mode has the i8042 reset port (0xfe to port 0x64 resets the machine). */
  readonly resetPort: boolean;
  /** The memory space's root container in the listing (`system` for QEMU), if it prints one. */
  readonly memoryRoot?: string;
  /** The platform's fixed regions. */
  surface(ctx: SurfaceContext): PlatformSurface;
}

/**
 * The PC interrupt controller and timer ports both platforms have: the 8259 pair, the 8254, the
 * ELCRs, and QEMU's kvmvapic port (no use without the vapic option ROM; claimed so that the
 * surface equals the seed's). KVM's in-kernel models are listed with a `kvm-` prefix.
 */
function pcPorts(prefix: "kvm-" | ""): RegionInit[] {
  return [
    { name: `${prefix}pic`, base: 0x20, size: 2, kind: "kernel" },
    { name: `${prefix}pit`, base: 0x40, size: 4, kind: "kernel" },
    { name: "kvmvapic", base: 0x7e, size: 2, kind: "null" },
    { name: `${prefix}pic`, base: 0xa0, size: 2, kind: "kernel" },
    { name: `${prefix}elcr`, base: 0x4d0, size: 1, kind: "kernel" },
    { name: `${prefix}elcr`, base: 0x4d1, size: 1, kind: "kernel" },
  ];
}

/**
 * The in-process KVM engine's platform, the seed's machine: transports at 0xd0000000 on GSIs
 * 5.., the in-kernel PIC, PIT and IOAPIC (the IOAPIC present but not listed, as in the seed's
 * listing), KVM's default GSI routing (no IRQ0 override unless the board asks) and, in legacy
 * mode, the i8042 reset port.
 *
 * @example
 * ```ts
 * const plan = planMachine({ kernel, platform: KVM_PLATFORM }); // the same as leaving it out
 * ```
 */
export const KVM_PLATFORM: Platform = {
  name: "kvm",
  layout: {},
  irq0Override: false,
  resetPort: true,
  surface: ({ layout }) => ({
    memory: [
      { name: "kvm-ioapic", base: layout.ioapicBase, size: 0x1000n, kind: "kernel", listed: false },
      { name: "kvm-apic-msi", base: layout.lapicBase, size: 0x100000n, kind: "kernel", priority: 4096 },
    ],
    io: pcPorts("kvm-"),
  }),
};

/**
 * Size of the firmware image the QEMU engine passes with `-bios` (the generated PVH ROM).
 *
 * @example
 * ```ts
 * QEMU_BIOS_SIZE; // 65536
 * ```
 */
export const QEMU_BIOS_SIZE = 0x10000;

const hex16 = (n: bigint): string => n.toString(16).padStart(16, "0");

/**
 * QEMU's `-M microvm` as the QEMU engine starts it (`acpi=off,ioapic2=off,pic=on,pit=on,rtc=off`, no option
 * ROMs, our ROM as `-bios`), measured on QEMU 7.2 with `info mtree` and `info qtree`: eight
 * virtio-mmio transports at 0xfeb00000 (transport i on bus `virtio-mmio-bus.i`, GSI 5 + i),
 * IRQ0 wired to IOAPIC pin 2, no i8042 (so no reset port: Linux needs `reboot=t`), fw_cfg at
 * ports 0x510 and 0x514, the firmware at the top of 4 GiB and aliased at 0xf0000, RAM listed as
 * aliases of `microvm.ram` (3 GiB below 4 GiB, the rest above). The emulated IOAPIC is told to
 * report the plan's version (`-global ioapic.version=`). The engine checks the listing against
 * QEMU's own `info mtree` at start-up, so a QEMU that builds something else is caught.
 *
 * @param options - the accelerator (only the LAPIC/MSI window's name differs)
 * @returns the platform
 * @example
 * ```ts
 * const plan = planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }) });
 * console.log(plan.listing.join("\n"));
 * ```
 */
export function qemuPlatform(options: {
  /** `tcg` or `kvm`. */
  readonly accel: "tcg" | "kvm";
}): Platform {
  return {
    name: `qemu-7.2/${options.accel}`,
    layout: { virtioBase: 0xfeb0_0000n, virtioGsiBase: 5, virtioTransports: 8, gedBase: 0xfea0_0000n, gedGsi: 9 },
    // With acpi=on (and ioapic2=off) QEMU 7.2 wires transport i to GSI 16 + i (hw/i386/microvm.c;
    // measured in /proc/interrupts of a guest), leaving the ISA IRQs to the GED and the UART.
    acpiLayout: { virtioGsiBase: 16 },
    irq0Override: true,
    resetPort: false,
    memoryRoot: "system",
    surface: ({ layout, ram }) => {
      const bios = BigInt(QEMU_BIOS_SIZE);
      const lowBios = bios < 0x20000n ? bios : 0x20000n;
      const memory: RegionInit[] = [];
      let offset = 0n;
      for (const r of ram) {
        const name = r.start < 0x1_0000_0000n ? "ram-below-4g" : "ram-above-4g";
        memory.push({ name: `alias ${name} @microvm.ram ${hex16(offset)}-${hex16(offset + r.size - 1n)}`, base: r.start, size: r.size, kind: "ram" });
        offset += r.size;
      }
      memory.push(
        { name: `alias isa-bios @pc.bios ${hex16(bios - lowBios)}-${hex16(bios - 1n)}`, base: 0x10_0000n - lowBios, size: lowBios, kind: "ram", priority: 1 },
        { name: "ioapic", base: layout.ioapicBase, size: 0x1000n, kind: "kernel" },
        { name: options.accel === "kvm" ? "kvm-apic-msi" : "apic-msi", base: layout.lapicBase, size: 0x100000n, kind: "kernel", priority: 4096 },
        { name: "pc.bios", base: 0x1_0000_0000n - bios, size: bios, kind: "ram" },
      );
      return {
        memory,
        io: [...pcPorts(""), { name: "fwcfg", base: 0x510, size: 2, kind: "kernel" }, { name: "fwcfg.dma", base: 0x514, size: 8, kind: "kernel" }],
      };
    },
  };
}

/**
 * The layout a platform and a board's overrides give.
 *
 * @param platform - the platform
 * @param overrides - the board's `layout`
 * @param acpi - whether the board has ACPI ({@link MICROVM_ACPI_LAYOUT} then applies)
 * @returns the merged layout
 * @example
 * ```ts
 * resolveLayout(qemuPlatform({ accel: "tcg" }), {}).virtioBase; // 0xfeb00000n
 * ```
 */
export function resolveLayout(platform: Platform, overrides: Partial<MachineLayout> = {}, acpi = false): MachineLayout {
  return { ...MICROVM_LAYOUT, ...(acpi ? MICROVM_ACPI_LAYOUT : {}), ...platformLayout(platform, acpi), ...overrides };
}

/**
 * The layout fields a platform fixes, for a board with or without ACPI.
 *
 * @param platform - the platform
 * @param acpi - whether the board has ACPI
 * @returns the fixed fields
 * @example
 * ```ts
 * platformLayout(qemuPlatform({ accel: "tcg" }), true).virtioGsiBase; // 16
 * ```
 */
export function platformLayout(platform: Platform, acpi: boolean): Partial<MachineLayout> {
  return acpi ? { ...platform.layout, ...platform.acpiLayout } : platform.layout;
}
