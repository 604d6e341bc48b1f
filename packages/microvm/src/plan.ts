import { encodeMpTable, identityIrqRouting, mpTableSize, resolveMpTableConfig, type MpTable, type MpIoInterrupt } from "@microvm/mptable";
import {
  buildE820,
  layoutPvhBoot,
  readPvhKernel,
  isPvhError,
  type MemmapEntry,
  type PvhBootLayout,
  type PvhKernel,
} from "@microvm/pvh";
import { AddressSpace } from "./address-space.js";
import { MicrovmError } from "./errors.js";
import { boardAcpiTables } from "./acpi-tables.js";
import { int, planSurface } from "./surface.js";
import { RESERVED_LOW, type MachineLayout } from "./layout.js";
import { KVM_PLATFORM, type Platform } from "./platform.js";
import type { VirtioKind } from "./devices/index.js";

export type { VirtioKind } from "./devices/index.js";
export { planSurface } from "./surface.js";

/**
 * A virtio device as the plan sees it: its kind and a name for messages and the listing.
 *
 * @example
 * ```ts
 * planMachine({ kernel, devices: [{ kind: "rng", slot: 7 } satisfies VirtioDevicePlanInit] });
 * ```
 */
export interface VirtioDevicePlanInit {
  /** The device kind. */
  readonly kind: VirtioKind;
  /** An id (as QEMU's `-device …,id=`); default `<kind><n>`. */
  readonly id?: string;
  /** Put it on this transport (0..transports-1); default: the next free one, from 0. */
  readonly slot?: number;
}

/**
 * A userspace region a custom board adds: a device model on a free MMIO range or port range.
 *
 * @example
 * ```ts
 * planMachine({ kernel, customRegions: [{ name: "my-dev", space: "io", base: 0x510, size: 2 } satisfies CustomRegionInit] });
 * ```
 */
export interface CustomRegionInit {
  /** Name in the listing. */
  readonly name: string;
  /** `memory` (MMIO) or `io` (ports). */
  readonly space: "memory" | "io";
  /** First address or port. */
  readonly base: number | bigint;
  /** Length in bytes. */
  readonly size: number | bigint;
  /**
   * The device model, for {@link createMachine}: an absolute path or `file:` URL of a module whose
   * named export `createRegionHandler(init)` returns `{ read(offset, size), write(offset, size,
   * value) }` (see {@link RegionHandlerFactory}). It is loaded on every vCPU thread and serves the
   * region's exits there; state shared between vCPUs goes in SharedArrayBuffers in `options`.
   * Without it, the region is listed and reads as all ones.
   */
  readonly module?: string;
  /** Passed to `createRegionHandler` (structured-cloned; SharedArrayBuffers are shared). */
  readonly options?: unknown;
}

/**
 * What a custom region's `createRegionHandler` gets.
 *
 * @example
 * ```ts
 * export const createRegionHandler = (init: RegionHandlerInit) => ({ read: () => init.vcpu });
 * ```
 */
export interface RegionHandlerInit {
  /** The region's name. */
  readonly name: string;
  /** `memory` or `io`. */
  readonly space: "memory" | "io";
  /** First address or port. */
  readonly base: bigint;
  /** Length in bytes. */
  readonly size: number;
  /** The index of the vCPU thread it runs on. */
  readonly vcpu: number;
  /** The region's `options`. */
  readonly options: unknown;
}

/**
 * A custom region's device model, as its module's `createRegionHandler` returns it.
 *
 * @example
 * ```ts
 * const scratch: RegionHandler = { read: () => 0x5a, write: () => {} };
 * ```
 */
export interface RegionHandler {
  /** A guest read of `size` bytes at `offset` in the region; the return value is the answer. */
  read?(offset: number, size: number): number;
  /** A guest write. */
  write?(offset: number, size: number, value: number): void;
}

/**
 * The named export `createRegionHandler` of a custom region's module.
 *
 * @example
 * ```ts
 * // my-device.mjs: a port that answers the last value written, plus one
 * export const createRegionHandler = () => {
 *   let last = 0;
 *   return { read: () => (last + 1) & 0xff, write: (_o, _s, v) => (last = v) };
 * };
 * ```
 */
export type RegionHandlerFactory = (init: RegionHandlerInit) => RegionHandler | Promise<RegionHandler>;

/**
 * A board description: what {@link planMachine} takes. Only `kernel` is required; the rest
 * defaults to the seed's machine (`-M microvm -m 128m -smp 1`, normal mode, 8 transports).
 *
 * @example
 * ```ts
 * const board: MachineConfig = { kernel, memory: 256 << 20, cpus: 4, legacy: true, cmdline: "console=ttyS0" };
 * const plan = planMachine(board);
 * ```
 */
export interface MachineConfig {
  /** The PVH kernel: an ELF image with the Xen PHYS32_ENTRY note (a `vmlinux` or a test guest). */
  readonly kernel: Uint8Array;
  /** Guest RAM in bytes (number or bigint), at least 2 MiB; default 128 MiB. */
  readonly memory?: number | bigint;
  /** vCPUs, 1..254; default 1. */
  readonly cpus?: number;
  /** An initrd, passed as PVH module 0. */
  readonly initrd?: Uint8Array;
  /** The kernel command line; the `virtio_mmio.device=` entries are appended to it. */
  readonly cmdline?: string;
  /** Legacy mode: an ISA 16550A UART at 0x3f8 on IRQ 4 and the 0x64 reset port. */
  readonly legacy?: boolean;
  /** Virtio devices, at most `transports` of them. */
  readonly devices?: readonly VirtioDevicePlanInit[];
  /** Number of virtio-mmio transports (all listed, whether a device is on them or not); default 8. */
  readonly transports?: number;
  /** Extra userspace regions of a custom board. */
  readonly customRegions?: readonly CustomRegionInit[];
  /** Append `virtio_mmio.device=` entries to the command line; default true. */
  readonly autoCmdline?: boolean;
  /**
   * Hardware-reduced ACPI (QEMU's `-M microvm,acpi=on`): RSDP, XSDT, FADT, MADT and a DSDT that
   * describes every virtio-mmio transport holding a device (`LNRO0005`), the legacy UART
   * (`PNP0501`), a Generic Event Device (`ACPI0013`) with a power button, and `_S5`. The tables go
   * at {@link MachineLayout.acpiBase} and start_info's `rsdp_paddr` points at them, so a kernel
   * without `virtio_mmio.device=` support (a distribution's) finds the devices. The transport that
   * shares the GED's GSI ({@link MachineLayout.gedGsi}) then holds no device. The command-line
   * entries stay unless `autoCmdline` is false. Default false: the seed's machine, MPTable only.
   */
  readonly acpi?: boolean;
  /**
   * The guest's TSC rate in kHz, told to Linux with `tsc_early_khz=` on the command line. A board
   * needs it where the guest cannot calibrate its TSC: hardware-reduced ACPI takes the PIT clock
   * event away, and under QEMU's TCG (no kvmclock) Linux may then wait forever for its first tick.
   * {@link createMachine} sets it for ACPI boards on TCG from the host's rate.
   */
  readonly tscKhz?: number;
  /**
   * Route ISA IRQ0 to IOAPIC pin 2 as PC firmware does. The MPTable then says so, and the board
   * installs the matching GSI route so that both agree. Default: what the platform does (false on
   * KVM, whose default routing is the identity; true on QEMU, which wires IRQ0 to pin 2).
   */
  readonly irq0Override?: boolean;
  /**
   * Where the plan is meant to run: {@link KVM_PLATFORM} (the default, the in-process engine) or
   * {@link qemuPlatform} (QEMU's microvm, for the QEMU engine). The plan then describes what that
   * platform builds: its layout, interrupt wiring and listing.
   */
  readonly platform?: Platform;
  /**
   * Layout overrides on top of the platform's (see {@link MachineLayout}): e.g. move the
   * transports. Fields the platform fixes (QEMU's transport base, GSIs and count) cannot be moved.
   */
  readonly layout?: Partial<MachineLayout>;
}

/**
 * A virtio-mmio transport of the plan.
 *
 * @example
 * ```ts
 * for (const t of plan.transports) console.log(t.index, t.base.toString(16), t.gsi, t.device?.kind);
 * ```
 */
export interface TransportPlan {
  /** Transport index, 0..transports-1. */
  readonly index: number;
  /** Guest-physical base of its registers. */
  readonly base: bigint;
  /** Size of its register window (0x200). */
  readonly size: bigint;
  /** The GSI its interrupt uses (IOAPIC pin of the same number, edge-triggered). */
  readonly gsi: number;
  /** The device on it, if any. */
  readonly device?: {
    /** Device kind. */
    readonly kind: VirtioKind;
    /** Its id. */
    readonly id: string;
    /** The virtio device id the transport reports. */
    readonly deviceId: number;
    /** Its position in the board's `devices` list. */
    readonly configIndex: number;
  };
}

/**
 * The GSI routing the machine installs; the MPTable's I/O interrupt entries describe the same.
 *
 * @example
 * ```ts
 * const route: GsiRoute | undefined = plan.gsiRoutes.find((r) => r.gsi === 4);
 * ```
 */
export interface GsiRoute {
  /** The GSI a device raises. */
  readonly gsi: number;
  /** The IOAPIC pin it arrives at. */
  readonly ioapicPin: number;
  /** Whether it also reaches the 8259 PIC pair (the ISA IRQs, 0..15). */
  readonly pic: boolean;
}

/**
 * Everything the board decided, as data: inspect it, test it, then run it.
 *
 * @example
 * ```ts
 * const plan: MachinePlan = planMachine({ kernel });
 * console.log(plan.listing.join("\n"));
 * ```
 */
export interface MachinePlan {
  /** The platform it describes. */
  readonly platform: Platform;
  /** The layout in force. */
  readonly layout: MachineLayout;
  /** vCPU count. */
  readonly cpus: number;
  /** Guest RAM in bytes. */
  readonly memory: bigint;
  /** Legacy mode. */
  readonly legacy: boolean;
  /** The RAM regions: [0, min(memory, 3 GiB)) and, for larger guests, the rest from 4 GiB. */
  readonly ram: readonly {
    /** Guest-physical start. */
    readonly start: bigint;
    /** Length in bytes. */
    readonly size: bigint;
  }[];
  /** The memory map handed to the guest (sorted, disjoint; the MMIO gap left out). */
  readonly e820: readonly MemmapEntry[];
  /** The MPTable: where it goes, its bytes and what it says. */
  readonly mptable: {
    /** Guest-physical address of its floating pointer. */
    readonly address: number;
    /** The bytes placed there. */
    readonly bytes: Uint8Array;
    /** What it describes. */
    readonly table: MpTable;
  };
  /** The virtio-mmio transports. */
  readonly transports: readonly TransportPlan[];
  /** The ACPI tables, when the board has them. */
  readonly acpi?: AcpiPlan;
  /**
   * Every byte the board puts in guest RAM before the first instruction, in one list: the kernel
   * segments and PVH structures of {@link MachinePlan.boot}, the MPTable and, with ACPI, the RSDP
   * and the tables. An engine copies these and nothing else: a plan edited by hand (a test that
   * corrupts the MPTable, say) changes the blob too. The blobs share their bytes with
   * `mptable.bytes`, `acpi` and `boot.placements`.
   */
  readonly blobs: readonly PlanBlob[];
  /** The final kernel command line. */
  readonly cmdline: string;
  /** The kernel as read from its ELF. */
  readonly kernel: PvhKernel;
  /** PVH placements (kernel segments, GDT, start_info, module list, memory map, command line, initrd) and the entry state. */
  readonly boot: PvhBootLayout;
  /** The GSI routes (KVM's defaults, or with the IRQ0 override). */
  readonly gsiRoutes: readonly GsiRoute[];
  /** The machine's MMIO space: its regions, and the listing. */
  readonly memorySpace: AddressSpace;
  /** The machine's port space. */
  readonly ioSpace: AddressSpace;
  /** The exposed-surface listing (QEMU `info mtree` format): memory, a blank line, I/O. */
  readonly listing: readonly string[];
}

/**
 * A run of bytes the plan places in guest RAM (see {@link MachinePlan.blobs}).
 *
 * @example
 * ```ts
 * for (const b of plan.blobs) memory.write(b.address, b.bytes);
 * ```
 */
export interface PlanBlob {
  /** What it is, for messages (`MPTable`, `ACPI tables`, a PVH placement's name). */
  readonly name: string;
  /** Guest-physical address. */
  readonly address: bigint;
  /** The bytes. */
  readonly bytes: Uint8Array;
}

/**
 * The ACPI part of a plan (with {@link MachineConfig.acpi}).
 *
 * @example
 * ```ts
 * const acpi: AcpiPlan | undefined = planMachine({ kernel, acpi: true }).acpi;
 * acpi?.rsdpAddress; // 0xe0000n, what start_info's rsdp_paddr says
 * ```
 */
export interface AcpiPlan {
  /** Where the RSDP goes (start_info's `rsdp_paddr`). */
  readonly rsdpAddress: bigint;
  /** The 36-byte RSDP. */
  readonly rsdp: Uint8Array;
  /** Where the XSDT, FADT, MADT and DSDT go, in that order. */
  readonly tablesAddress: bigint;
  /** Their bytes. */
  readonly tables: Uint8Array;
  /** Each table's address, by signature (`XSDT`, `FACP`, `APIC`, `DSDT`). */
  readonly addresses: Readonly<Record<"XSDT" | "FACP" | "APIC" | "DSDT", bigint>>;
  /** The reserved range that holds them (the E820 map marks it reserved). */
  readonly reserved: {
    /** First byte. */
    readonly start: bigint;
    /** Length in bytes. */
    readonly size: bigint;
  };
}

/** A Linux bzImage: "HdrS" at offset 0x202 (Documentation/arch/x86/boot.rst, the real-mode header). */
function isBzImage(b: Uint8Array): boolean {
  return b.length > 0x206 && b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53;
}

/**
 * Plans a machine: decides the memory map, where the MPTable and the PVH structures go, which
 * transport and GSI each device gets and what the command line says, without touching KVM.
 * The result is plain data to inspect or test; {@link createMachine} runs it.
 *
 * @param config - the board
 * @returns the plan
 * @throws MicrovmError `invalid-argument` / `out-of-range` for a bad field, `kernel` for an image
 *   the PVH loader rejects, `too-many-devices`, `overlap` for a custom region or placement clash
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * const plan = planMachine({ kernel: readFileSync("guest.elf"), cpus: 2, devices: [{ kind: "blk" }] });
 * plan.cmdline; // "… virtio_mmio.device=512@0xd0000000:5"
 * ```
 */
export function planMachine(config: MachineConfig): MachinePlan {
  if (typeof config !== "object" || config === null) throw new MicrovmError("invalid-argument", "config: expected an object");
  if (!(config.kernel instanceof Uint8Array)) throw new MicrovmError("invalid-argument", "kernel: expected the ELF image as a Uint8Array");
  const surface = planSurface(config);
  const { platform, layout, cpus, memory, legacy, ram, transports, memorySpace, ioSpace, listing, irq0Override } = surface;
  const acpiRange = { start: BigInt(layout.acpiBase), size: BigInt(layout.acpiSize) };
  const e820 = buildE820({ ram, reserved: surface.acpi ? [...RESERVED_LOW, acpiRange] : RESERVED_LOW });

  // Command line: one entry per transport with a device, in hex with 0x (a leading 0 alone would
  // be read as octal by Linux's memparse), as QEMU microvm_fix_kernel_cmdline writes them.
  const user = config.cmdline ?? "";
  if (typeof user !== "string") throw new MicrovmError("invalid-argument", `cmdline: expected a string, got ${typeof user}`);
  const entries = config.autoCmdline === false ? [] : transports.filter((t) => t.device).map((t) => `virtio_mmio.device=512@0x${t.base.toString(16)}:${t.gsi}`);
  const tsc = config.tscKhz === undefined ? [] : [`tsc_early_khz=${int("tscKhz", config.tscKhz, 1000, 100_000_000)}`];
  const cmdline = [user, ...tsc, ...entries].filter((s) => s.length > 0).join(" ");

  // MPTable: ISA IRQs 0..15 identity-routed (KVM's default GSI routing), plus any virtio GSI above 15.
  const ioApicId = cpus;
  const maxGsi = Math.max(15, ...transports.map((t) => t.gsi));
  const ioInterrupts: MpIoInterrupt[] = identityIrqRouting({ ioApicId, irqs: maxGsi + 1, irq0Override });
  const ioApic = { id: ioApicId, version: layout.ioapicVersion, address: Number(layout.ioapicBase) };
  const mpConfig = { address: layout.mptableLow, cpus, ioApic, ioInterrupts };
  const size = mpTableSize(mpConfig);
  const mpAddress = size <= 0x400 ? layout.mptableLow : layout.mptableHigh;
  const mpBytes = encodeMpTable({ ...mpConfig, address: mpAddress });
  const table = resolveMpTableConfig({ ...mpConfig, address: mpAddress });

  // GSI routes: KVM's default (GSI n -> pin n, ISA IRQs also to the PIC), or the override.
  const gsiRoutes: GsiRoute[] = ioInterrupts.map((e) => ({ gsi: e.sourceIrq, ioapicPin: e.destPin, pic: e.sourceIrq < 16 }));

  // ACPI: the same board as the MPTable says (CPUs, IOAPIC id and address, the IRQ0 override),
  // plus the devices the MPTable cannot name.
  const acpi = surface.acpi ? boardAcpiTables({ layout, cpus, ioApicId, legacy, irq0Override, transports, range: acpiRange }) : undefined;

  // The kernel and the PVH placements.
  let kernel: PvhKernel;
  let boot: PvhBootLayout;
  try {
    kernel = readPvhKernel(config.kernel, { ram });
    boot = layoutPvhBoot({
      kernel,
      memmap: e820,
      cmdline,
      ...(config.initrd ? { initrd: config.initrd } : {}),
      ...(acpi ? { rsdpAddress: acpi.rsdpAddress } : {}),
      occupied: [{ name: "MPTable", start: mpAddress, size: mpBytes.length }],
    });
  } catch (e) {
    if (!isPvhError(e)) throw e;
    // The image's own faults are the kernel's; a placement that does not fit (the command line,
    // the initrd) is named by the loader's message itself.
    if (e.code === "cmdline-too-long") throw new MicrovmError("out-of-range", `${e.message} (the board's virtio_mmio.device= entries included)`, { cause: e });
    if (e.code === "placements-overlap") throw new MicrovmError("overlap", e.message, { cause: e });
    if (e.code === "outside-ram" || e.code === "address-limit") throw new MicrovmError("out-of-range", e.message, { cause: e });
    const hint = isBzImage(config.kernel) ? " (this is a bzImage: boot the ELF vmlinux inside it, which Linux's scripts/extract-vmlinux extracts)" : "";
    throw new MicrovmError("kernel", `kernel: ${e.message}${hint}`, { cause: e });
  }

  return {
    platform,
    layout,
    cpus,
    memory,
    legacy,
    ram,
    e820,
    mptable: { address: mpAddress, bytes: mpBytes, table },
    transports,
    ...(acpi ? { acpi } : {}),
    blobs: [
      ...boot.placements.map((p) => ({ name: p.name, address: BigInt(p.address), bytes: p.bytes })),
      { name: "MPTable", address: BigInt(mpAddress), bytes: mpBytes },
      ...(acpi ? [{ name: "ACPI RSDP", address: acpi.rsdpAddress, bytes: acpi.rsdp }, { name: "ACPI tables", address: acpi.tablesAddress, bytes: acpi.tables }] : []),
    ],
    cmdline,
    kernel,
    boot,
    gsiRoutes,
    memorySpace,
    ioSpace,
    listing,
  };
}
