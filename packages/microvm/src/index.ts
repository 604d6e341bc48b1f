/**
 * @packageDocumentation
 * `@microvm/microvm`: QEMU's `-M microvm` machine, composed from the SDK's blocks and run in
 * this process on KVM, or in QEMU (TCG or KVM) from the same plan.
 * Describe a board in code ({@link MachineConfig}), inspect its plan ({@link planMachine}: memory
 * map, MPTable, PVH placements, GSIs, command line, exposed surface), then run it
 * ({@link createMachine}).
 *
 * ```ts
 * import { createMachine } from "@microvm/microvm";
 * const m = await createMachine({ kernel, cpus: 2, legacy: true, devices: [{ kind: "rng" }] });
 * for await (const chunk of m.serial()) process.stdout.write(chunk);
 * ```
 */
export { MicrovmError, isMicrovmError, type MicrovmErrorCode } from "./errors.js";
export { DEFAULT_MEMORY, GED, MICROVM_ACPI_LAYOUT, MICROVM_LAYOUT, RESERVED_LOW, VIRTIO_DEVICE_ID, type MachineLayout } from "./layout.js";
export { boardAcpiTables, boardDsdt, type BoardAcpiInput } from "./acpi-tables.js";
export {
  AddressSpace,
  type Region,
  type RegionInit,
  type RegionKind,
  type UnclaimedCounters,
} from "./address-space.js";
export {
  planMachine,
  planSurface,
  type MachineConfig,
  type MachinePlan,
  type AcpiPlan,
  type PlanBlob,
  type TransportPlan,
  type GsiRoute,
  type VirtioDevicePlanInit,
  type CustomRegionInit,
  type RegionHandler,
  type RegionHandlerInit,
  type RegionHandlerFactory,
} from "./plan.js";
export { Uart16550, UART_REG, UART_STATE_BYTES, type UartSinks } from "./uart16550.js";
export { createRing, RingReader, RingView, RingWriter } from "./ring.js";
export { ArpResponder, parseMac, type ArpResponderOptions } from "./arp-responder.js";
export { FileBlockBackend, type FileBlockBackendOptions } from "./node/file-block-backend.js";
export { FdBlockBackend, type FdBlockBackendOptions } from "./node/fd-block-backend.js";
export { VhostUserBackend, type VhostUserBackendOptions, type VhostUserBackendStats } from "./node/vhost-user-backend.js";
export { DEVICE_KINDS, deviceKind, type DeviceConfig, type VirtioKind } from "./devices/index.js";
export { blkKind, type BlkBackendSpec, type BlkDeviceConfig } from "./devices/blk.js";
export { netKind, type NetBackendSpec, type NetDeviceConfig } from "./devices/net.js";
export { consoleKind, type ConsoleBackendSpec, type ConsoleDeviceConfig } from "./devices/console.js";
export { rngKind, type RngBackendSpec, type RngDeviceConfig } from "./devices/rng.js";
export type {
  DeviceKind,
  KindedConfig,
  DeviceConfigBase,
  ModuleBackendSpec,
  ConfigOf,
  CliDevice,
  CliBackendFlag,
  CliDeviceParser,
  CliDeviceHost,
  DeviceCliHooks,
  KvmDeviceHost,
  IoDeviceSetup,
  IoDeviceContext,
  QemuDeviceArgs,
} from "./devices/kind.js";
export { checkHostForwards, parseHostfwd, type HostForward } from "./host-forward.js";
export { SMALL_FOOTPRINT_V8_FLAGS, useSmallFootprint } from "./node/footprint.js";
export { passtUnavailableReason, passtArguments, parsePasstReport, type PasstReport } from "./node/passt.js";
export { createMachine, planFor, resolveEngine, kvmUnavailableReason } from "./machine.js";
export type {
  Machine,
  EngineChoice,
  SerialOutput,
  MachineOptions,
  MachineEnd,
  MachineEndReason,
  MachineStats,
} from "./machine-types.js";
export { KvmMachine, createKvmMachine } from "./kvm-machine.js";
export { QemuMachine, createQemuMachine, compareMtree, compareQtree, mtreeSections, qemuUnavailableReason } from "./qemu/machine.js";
export { formatPlan } from "./format-plan.js";
export { qemuInvocation, type QemuInvocation, type QemuInvocationOptions, type QemuFile, type QemuSocket, type QemuChannel, type QemuStream } from "./qemu/command.js";
export { QmpClient, splitQmp, type QmpEvent } from "./qemu/qmp.js";
export {
  KVM_PLATFORM,
  qemuPlatform,
  resolveLayout,
  platformLayout,
  QEMU_BIOS_SIZE,
  type Platform,
  type PlatformSurface,
  type SurfaceContext,
} from "./platform.js";
