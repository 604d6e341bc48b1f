/**
 * What a board looks like from outside, without a kernel ({@link planSurface}): the layout, RAM,
 * the transports and the address spaces. Apart from plan.ts so that the CLI's `--info-mtree`
 * without a kernel loads none of the encoders (PVH, MPTable, ACPI) the full plan needs.
 */
import { AddressSpace } from "./address-space.js";
import { MicrovmError } from "./errors.js";
import { DEFAULT_MEMORY, GED, VIRTIO_DEVICE_ID, type MachineLayout } from "./layout.js";
import { KVM_PLATFORM, platformLayout, resolveLayout, type Platform } from "./platform.js";
import type { VirtioKind } from "./devices/index.js";
import type { CustomRegionInit, MachineConfig, MachinePlan, TransportPlan } from "./plan.js";

const MIB = 1024n * 1024n;

/**
 * An integer field, checked against its range.
 *
 * @internal
 */
export function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new MicrovmError("invalid-argument", `${field}: expected an integer ${min}..${max}, got ${String(v)}`);
  if (v < min || v > max) throw new MicrovmError("out-of-range", `${field}: expected ${min}..${max}, got ${v}`);
  return v;
}

/**
 * Builds the two address spaces of a machine: the platform's fixed regions (interrupt
 * controllers, firmware, listed RAM), the virtio transports, legacy mode's UART and (where the
 * platform has one) reset port, and a custom board's regions. Handlers are attached by the
 * runtime; the plan uses the spaces for the listing and the overlap checks.
 */
function buildSpaces(
  platform: Platform,
  layout: MachineLayout,
  ram: MachinePlan["ram"],
  legacy: boolean,
  acpi: boolean,
  transports: readonly TransportPlan[],
  custom: readonly CustomRegionInit[],
): {
  memory: AddressSpace;
  io: AddressSpace;
} {
  const memory = new AddressSpace("memory", 1n << 64n, platform.memoryRoot);
  const io = new AddressSpace("I/O", 0x10000n, "io");
  const fixed = platform.surface({ layout, ram, legacy });
  for (const r of fixed.memory) memory.add(r);
  for (const r of fixed.io) io.add(r);
  for (const t of transports) memory.add({ name: "virtio-mmio", base: t.base, size: t.size, kind: "device" });
  if (acpi) {
    // The GED's event register and its sleep/reset registers, named and sized as QEMU lists them.
    memory.add({ name: "acpi-ged", base: layout.gedBase, size: GED.eventSize, kind: "device" });
    memory.add({ name: "acpi-ged-regs", base: layout.gedBase + GED.regsOffset, size: GED.regsSize, kind: "device" });
  }
  if (legacy) {
    io.add({ name: "serial", base: layout.uartBase, size: 8, kind: "device" });
    if (platform.resetPort) io.add({ name: "i8042-reset", base: layout.resetPort, size: 1, kind: "device" });
  }
  for (const c of custom) (c.space === "io" ? io : memory).add({ name: c.name, base: c.base, size: c.size, kind: "device" });
  return { memory, io };
}

/** The board's layout: the platform's, with the board's overrides where the platform allows them. */
function boardLayout(platform: Platform, config: Omit<MachineConfig, "kernel">, acpi: boolean): MachineLayout {
  const overrides = config.layout ?? {};
  if (typeof overrides !== "object" || overrides === null) throw new MicrovmError("invalid-argument", "layout: expected an object of layout fields");
  const fixedLayout = platformLayout(platform, acpi);
  for (const [k, v] of Object.entries(overrides)) {
    const fixed = (fixedLayout as Record<string, unknown>)[k];
    if (fixed !== undefined && v !== undefined && v !== fixed) {
      throw new MicrovmError("invalid-argument", `layout.${k}: the ${platform.name} platform fixes it at ${String(fixed)}, got ${String(v)}`);
    }
  }
  const fixedTransports = platform.layout.virtioTransports;
  if (fixedTransports !== undefined && config.transports !== undefined && config.transports !== fixedTransports) {
    throw new MicrovmError("invalid-argument", `transports: the ${platform.name} platform has ${fixedTransports} virtio-mmio transports, got ${String(config.transports)}`);
  }
  return resolveLayout(platform, overrides, acpi);
}

/**
 * What a board looks like from outside, without a kernel: its platform and layout, RAM, the
 * transports with their devices and GSIs, the address spaces and the exposed-surface listing
 * (QEMU's `info mtree` format). {@link planMachine} starts from it; the CLI's `--info-mtree`
 * prints its listing with no `-kernel`.
 *
 * @param config - the board; `kernel`, `initrd` and `cmdline` are not looked at
 * @returns the surface
 * @throws MicrovmError as {@link planMachine} for every field but the kernel's
 * @example
 * ```ts
 * console.log(planSurface({ legacy: true }).listing.join("\n"));
 * ```
 */
export function planSurface(config: Omit<MachineConfig, "kernel">): Pick<MachinePlan, "platform" | "layout" | "cpus" | "memory" | "legacy" | "ram" | "transports" | "memorySpace" | "ioSpace" | "listing"> & {
  /** Whether ISA IRQ0 is routed to IOAPIC pin 2. */
  readonly irq0Override: boolean;
  /** Whether the board has ACPI. */
  readonly acpi: boolean;
} {
  if (typeof config !== "object" || config === null) throw new MicrovmError("invalid-argument", "config: expected an object");
  const cpus = int("cpus", config.cpus ?? 1, 1, 254);
  const memRaw = config.memory ?? DEFAULT_MEMORY;
  if (typeof memRaw !== "number" && typeof memRaw !== "bigint") throw new MicrovmError("invalid-argument", `memory: expected a byte count, got ${typeof memRaw}`);
  const memory = BigInt(memRaw);
  if (memory < 2n * MIB || memory > 1n << 46n) throw new MicrovmError("out-of-range", `memory: expected 2 MiB..64 TiB, got ${memory} bytes`);
  const legacy = config.legacy ?? false;
  const acpi = config.acpi ?? false;
  if (typeof acpi !== "boolean") throw new MicrovmError("invalid-argument", `acpi: expected true or false, got ${String(acpi)}`);
  const platform = config.platform ?? KVM_PLATFORM;
  const layout = boardLayout(platform, config, acpi);
  const irq0Override = config.irq0Override ?? platform.irq0Override;
  if (platform.irq0Override && !irq0Override) {
    throw new MicrovmError("invalid-argument", `irq0Override: the ${platform.name} platform wires ISA IRQ0 to IOAPIC pin 2, so the MPTable must say so; got false`);
  }
  const nTransports = int("transports", config.transports ?? layout.virtioTransports, 0, 24 - layout.virtioGsiBase);

  // RAM: up to the 32-bit gap, the rest above 4 GiB (QEMU microvm_memory_init).
  const low = memory < layout.lowRamEnd ? memory : layout.lowRamEnd;
  const ram = [{ start: 0n, size: low }];
  if (memory > low) ram.push({ start: layout.highRamStart, size: memory - low });

  // Transports and devices.
  const devices = config.devices ?? [];
  // With ACPI, the transport on the GED's GSI stays empty: one edge-triggered line, one device.
  const gedSlot = acpi ? layout.gedGsi - layout.virtioGsiBase : -1;
  const usable = gedSlot >= 0 && gedSlot < nTransports ? nTransports - 1 : nTransports;
  if (devices.length > usable) {
    const why = usable < nTransports ? `; with ACPI, transport ${gedSlot} is on the GED's GSI ${layout.gedGsi}` : "";
    throw new MicrovmError("too-many-devices", `devices: expected at most ${usable} (one per virtio-mmio transport${why}), got ${devices.length}`);
  }
  const bySlot = new Map<number, { kind: VirtioKind; id: string; deviceId: number; configIndex: number }>();
  const counts = new Map<string, number>();
  const ids = new Set<string>();
  devices.forEach((d, i) => {
    if (typeof d !== "object" || d === null || !Object.prototype.hasOwnProperty.call(VIRTIO_DEVICE_ID, d.kind)) {
      throw new MicrovmError("invalid-argument", `devices[${i}].kind: expected one of ${Object.keys(VIRTIO_DEVICE_ID).join(", ")}, got ${String((d as { kind?: unknown })?.kind)}`);
    }
    const n = counts.get(d.kind) ?? 0;
    counts.set(d.kind, n + 1);
    const id = d.id ?? `${d.kind}${n}`;
    if (ids.has(id)) throw new MicrovmError("invalid-argument", `devices[${i}].id: ${JSON.stringify(id)} is used twice`);
    ids.add(id);
    let slot = d.slot;
    if (slot === undefined) {
      slot = 0;
      while (slot === gedSlot || bySlot.has(slot) || devices.some((o, j) => j > i && o.slot === slot)) slot++;
    }
    int(`devices[${i}].slot`, slot, 0, nTransports - 1);
    if (slot === gedSlot) throw new MicrovmError("invalid-argument", `devices[${i}].slot: transport ${slot} is on GSI ${layout.gedGsi}, which the ACPI GED uses; choose another transport`);
    if (bySlot.has(slot)) throw new MicrovmError("invalid-argument", `devices[${i}].slot: transport ${slot} already has ${bySlot.get(slot)?.id}`);
    bySlot.set(slot, { kind: d.kind, id, deviceId: VIRTIO_DEVICE_ID[d.kind], configIndex: i });
  });
  const transports: TransportPlan[] = [];
  for (let i = 0; i < nTransports; i++) {
    const device = bySlot.get(i);
    transports.push({
      index: i,
      base: layout.virtioBase + BigInt(i) * layout.virtioSize,
      size: layout.virtioSize,
      gsi: layout.virtioGsiBase + i,
      ...(device ? { device } : {}),
    });
  }

  const { memory: memorySpace, io: ioSpace } = buildSpaces(platform, layout, ram, legacy, acpi, transports, config.customRegions ?? []);
  const listing = [...memorySpace.listing(), "", ...ioSpace.listing()];
  return { platform, layout, cpus, memory, legacy, ram, transports, memorySpace, ioSpace, listing, irq0Override, acpi };
}

