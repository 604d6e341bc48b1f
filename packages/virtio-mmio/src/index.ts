/**
 * @packageDocumentation
 * `@microvm/virtio-mmio`: guest memory, the virtio-mmio transport (versions 1 and 2), split
 * virtqueues hardened against hostile drivers, and the blk, net, console and rng device models.
 * Isomorphic: no Node APIs.
 */

export { VirtioError, isVirtioError, type VirtioErrorCode } from "./errors.js";
export {
  GuestMemory,
  type GuestMemoryRegionInit,
  type GuestMemoryRegion,
  type GuestMemoryOptions,
  type GuestAccessHook,
  type GuestAccessKind,
  type GuestRegionAccess,
} from "./guest-memory.js";
export {
  MmioReg,
  MMIO_MAGIC,
  MmioInt,
  Status,
  Feature,
  DeviceId,
  VringFlag,
  Vring,
  BlkFeature,
  BlkType,
  BlkStatus,
  Blk,
  NetFeature,
  Net,
  Console,
} from "./constants.js";
export { FeatureBits } from "./feature-bits.js";
export { HOSTILE_CHECKS, type HostileCheck, type HostileReporter } from "./hostile.js";
export { SplitQueue, DescriptorChain, type QueueLayout, type SplitQueueOptions } from "./split-queue.js";
export {
  MmioTransport,
  type MmioTransportOptions,
  type MmioTransportState,
  type VirtioDevice,
  type DeviceHost,
} from "./transport.js";
export {
  MemoryBlockBackend,
  MemoryFrameBackend,
  MemoryByteStream,
  cryptoEntropy,
  type BlockBackend,
  type BlockResult,
  type MemoryBlockBackendOptions,
  type FrameBackend,
  type FrameSink,
  type ByteStreamBackend,
  type ByteSink,
  type EntropySource,
} from "./backends.js";
export { encodeStreamFrame, writeStreamFrame, StreamFrameDecoder, STREAM_FRAME_HEADER, STREAM_FRAME_MAX, type StreamFrameDecoderOptions } from "./stream-frames.js";
export { DeviceBase } from "./devices/device-base.js";
export { BlkDevice, type BlkDeviceOptions } from "./devices/blk.js";
export { NetDevice, type NetDeviceOptions } from "./devices/net.js";
export { ConsoleDevice, type ConsoleDeviceOptions } from "./devices/console.js";
export { RngDevice, type RngDeviceOptions } from "./devices/rng.js";

/** The package's version. @example `VERSION; // "0.1.0"` */
export const VERSION: string = "0.1.0";
