/**
 * virtio constants. Every value cites its source; `test/vectors/` checks them against Linux's
 * `include/uapi/linux/virtio_*.h` with a C program.
 * @module
 */

/**
 * virtio-mmio register offsets (virtio 1.2 §4.2.2 "MMIO Device Register Layout", §4.2.4 "Legacy
 * interface"; Linux `include/uapi/linux/virtio_mmio.h`).
 *
 * @example
 * ```ts
 * transport.read(MmioReg.MagicValue, 4); // 0x74726976
 * ```
 */
export const MmioReg: {
  readonly MagicValue: 0x000;
  readonly Version: 0x004;
  readonly DeviceId: 0x008;
  readonly VendorId: 0x00c;
  readonly DeviceFeatures: 0x010;
  readonly DeviceFeaturesSel: 0x014;
  readonly DriverFeatures: 0x020;
  readonly DriverFeaturesSel: 0x024;
  readonly GuestPageSize: 0x028;
  readonly QueueSel: 0x030;
  readonly QueueNumMax: 0x034;
  readonly QueueNum: 0x038;
  readonly QueueAlign: 0x03c;
  readonly QueuePfn: 0x040;
  readonly QueueReady: 0x044;
  readonly QueueNotify: 0x050;
  readonly InterruptStatus: 0x060;
  readonly InterruptAck: 0x064;
  readonly Status: 0x070;
  readonly QueueDescLow: 0x080;
  readonly QueueDescHigh: 0x084;
  readonly QueueAvailLow: 0x090;
  readonly QueueAvailHigh: 0x094;
  readonly QueueUsedLow: 0x0a0;
  readonly QueueUsedHigh: 0x0a4;
  readonly ShmSel: 0x0ac;
  readonly ShmLenLow: 0x0b0;
  readonly ShmLenHigh: 0x0b4;
  readonly ShmBaseLow: 0x0b8;
  readonly ShmBaseHigh: 0x0bc;
  readonly ConfigGeneration: 0x0fc;
  readonly Config: 0x100;
} = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceId: 0x008,
  VendorId: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  GuestPageSize: 0x028,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueAlign: 0x03c,
  QueuePfn: 0x040,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptAck: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueAvailLow: 0x090,
  QueueAvailHigh: 0x094,
  QueueUsedLow: 0x0a0,
  QueueUsedHigh: 0x0a4,
  ShmSel: 0x0ac,
  ShmLenLow: 0x0b0,
  ShmLenHigh: 0x0b4,
  ShmBaseLow: 0x0b8,
  ShmBaseHigh: 0x0bc,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

/**
 * The MagicValue register's content, "virt" read little-endian (virtio 1.2 §4.2.2; Linux
 * `drivers/virtio/virtio_mmio.c` `virtio_mmio_probe`).
 *
 * @example
 * ```ts
 * transport.read(MmioReg.MagicValue, 4) === MMIO_MAGIC; // true
 * ```
 */
export const MMIO_MAGIC: number = 0x74726976;

/**
 * InterruptStatus / InterruptACK bits (virtio 1.2 §4.2.2; Linux `virtio_mmio.h`
 * `VIRTIO_MMIO_INT_VRING`, `VIRTIO_MMIO_INT_CONFIG`).
 *
 * @example
 * ```ts
 * if (transport.read(MmioReg.InterruptStatus, 4) & MmioInt.Config) rereadConfig();
 * ```
 */
export const MmioInt: { readonly Vring: 1; readonly Config: 2 } = { Vring: 1, Config: 2 } as const;

/**
 * Device status bits (virtio 1.2 §2.1 "Device Status Field"; Linux `virtio_config.h`
 * `VIRTIO_CONFIG_S_*`).
 *
 * @example
 * ```ts
 * transport.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver);
 * ```
 */
export const Status: {
  readonly Acknowledge: 1;
  readonly Driver: 2;
  readonly DriverOk: 4;
  readonly FeaturesOk: 8;
  readonly NeedsReset: 0x40;
  readonly Failed: 0x80;
} = { Acknowledge: 1, Driver: 2, DriverOk: 4, FeaturesOk: 8, NeedsReset: 0x40, Failed: 0x80 } as const;

/**
 * Reserved (transport) feature bit numbers (virtio 1.2 §6 "Reserved Feature Bits"; Linux
 * `virtio_config.h`, `virtio_ring.h`).
 *
 * @example
 * ```ts
 * const offered = 1n << BigInt(Feature.Version1);
 * ```
 */
export const Feature: {
  readonly NotifyOnEmpty: 24;
  readonly AnyLayout: 27;
  readonly IndirectDesc: 28;
  readonly EventIdx: 29;
  readonly Version1: 32;
  readonly AccessPlatform: 33;
  readonly RingPacked: 34;
  readonly InOrder: 35;
  readonly NotificationData: 38;
  readonly RingReset: 40;
} = {
  NotifyOnEmpty: 24,
  AnyLayout: 27,
  IndirectDesc: 28,
  EventIdx: 29,
  Version1: 32,
  AccessPlatform: 33,
  RingPacked: 34,
  InOrder: 35,
  NotificationData: 38,
  RingReset: 40,
} as const;

/**
 * Device type ids (virtio 1.2 §5 "Device Types"; Linux `virtio_ids.h`).
 *
 * @example
 * ```ts
 * transport.read(MmioReg.DeviceId, 4) === DeviceId.Block;
 * ```
 */
export const DeviceId: { readonly Net: 1; readonly Block: 2; readonly Console: 3; readonly Rng: 4 } = {
  Net: 1,
  Block: 2,
  Console: 3,
  Rng: 4,
} as const;

/**
 * Split-ring flags (virtio 1.2 §2.7.5 "The Virtqueue Descriptor Table", §2.7.6, §2.7.8; Linux
 * `virtio_ring.h` `VRING_DESC_F_*`, `VRING_AVAIL_F_NO_INTERRUPT`, `VRING_USED_F_NO_NOTIFY`).
 *
 * @example
 * ```ts
 * const writable = (flags & VringFlag.DescWrite) !== 0;
 * ```
 */
export const VringFlag: {
  readonly DescNext: 1;
  readonly DescWrite: 2;
  readonly DescIndirect: 4;
  readonly AvailNoInterrupt: 1;
  readonly UsedNoNotify: 1;
} = { DescNext: 1, DescWrite: 2, DescIndirect: 4, AvailNoInterrupt: 1, UsedNoNotify: 1 } as const;

/**
 * Split-ring sizes and alignments (virtio 1.2 §2.7 "Split Virtqueues": queue size at most 32768,
 * descriptor 16 bytes, alignments 16/2/4; Linux `virtio_ring.h` `VRING_*_ALIGN_SIZE`).
 *
 * @example
 * ```ts
 * const descBytes = size * Vring.DescSize;
 * ```
 */
export const Vring: {
  readonly MaxQueueSize: 32768;
  readonly DescSize: 16;
  readonly UsedElemSize: 8;
  readonly DescAlign: 16;
  readonly AvailAlign: 2;
  readonly UsedAlign: 4;
} = { MaxQueueSize: 32768, DescSize: 16, UsedElemSize: 8, DescAlign: 16, AvailAlign: 2, UsedAlign: 4 } as const;

/**
 * virtio-blk feature bits (virtio 1.2 §5.2.3; Linux `virtio_blk.h` `VIRTIO_BLK_F_*`).
 *
 * @example
 * ```ts
 * const readOnly = (features >> BigInt(BlkFeature.Ro)) & 1n;
 * ```
 */
export const BlkFeature: {
  readonly SizeMax: 1;
  readonly SegMax: 2;
  readonly Geometry: 4;
  readonly Ro: 5;
  readonly BlkSize: 6;
  readonly Flush: 9;
  readonly Topology: 10;
  readonly ConfigWce: 11;
  readonly Mq: 12;
  readonly Discard: 13;
  readonly WriteZeroes: 14;
} = {
  SizeMax: 1,
  SegMax: 2,
  Geometry: 4,
  Ro: 5,
  BlkSize: 6,
  Flush: 9,
  Topology: 10,
  ConfigWce: 11,
  Mq: 12,
  Discard: 13,
  WriteZeroes: 14,
} as const;

/**
 * virtio-blk request types (virtio 1.2 §5.2.6; Linux `virtio_blk.h` `VIRTIO_BLK_T_*`).
 *
 * @example
 * ```ts
 * view.setUint32(0, BlkType.In, true);
 * ```
 */
export const BlkType: {
  readonly In: 0;
  readonly Out: 1;
  readonly Flush: 4;
  readonly GetId: 8;
  readonly Discard: 11;
  readonly WriteZeroes: 13;
} = { In: 0, Out: 1, Flush: 4, GetId: 8, Discard: 11, WriteZeroes: 13 } as const;

/**
 * virtio-blk request status bytes (virtio 1.2 §5.2.6; Linux `virtio_blk.h` `VIRTIO_BLK_S_*`).
 *
 * @example
 * ```ts
 * if (statusByte !== BlkStatus.Ok) throw new Error("I/O error");
 * ```
 */
export const BlkStatus: { readonly Ok: 0; readonly IoErr: 1; readonly Unsupp: 2 } = {
  Ok: 0,
  IoErr: 1,
  Unsupp: 2,
} as const;

/**
 * virtio-blk sizes: the 16-byte request header (`struct virtio_blk_outhdr`), the 16-byte
 * discard/write-zeroes segment, the 20-byte id string, and the 512-byte sector unit (virtio 1.2
 * §5.2.6; Linux `virtio_blk.h`).
 *
 * @example
 * ```ts
 * const sectors = bytes / Blk.SectorSize;
 * ```
 */
export const Blk: {
  readonly HeaderSize: 16;
  readonly DiscardSegmentSize: 16;
  readonly IdBytes: 20;
  readonly SectorSize: 512;
  readonly ConfigSize: 60;
} = { HeaderSize: 16, DiscardSegmentSize: 16, IdBytes: 20, SectorSize: 512, ConfigSize: 60 } as const;

/**
 * virtio-net feature bits used here (virtio 1.2 §5.1.3; Linux `virtio_net.h` `VIRTIO_NET_F_*`).
 *
 * @example
 * ```ts
 * const mrg = (features >> BigInt(NetFeature.MrgRxbuf)) & 1n;
 * ```
 */
export const NetFeature: {
  readonly Csum: 0;
  readonly GuestCsum: 1;
  readonly Mtu: 3;
  readonly Mac: 5;
  readonly MrgRxbuf: 15;
  readonly Status: 16;
} = { Csum: 0, GuestCsum: 1, Mtu: 3, Mac: 5, MrgRxbuf: 15, Status: 16 } as const;

/**
 * virtio-net sizes: the header with `num_buffers` (12 bytes, `struct virtio_net_hdr_v1` /
 * `virtio_net_hdr_mrg_rxbuf`), the legacy header without it (10 bytes, `struct virtio_net_hdr`),
 * the config size used here (mac, status, max_virtqueue_pairs, mtu), and the link-up bit (virtio
 * 1.2 §5.1.4, §5.1.6; Linux `virtio_net.h`).
 *
 * @example
 * ```ts
 * const hdrLen = modern ? Net.HeaderSize : Net.LegacyHeaderSize;
 * ```
 */
export const Net: {
  readonly HeaderSize: 12;
  readonly LegacyHeaderSize: 10;
  readonly ConfigSize: 12;
  readonly StatusLinkUp: 1;
  readonly MaxFrameSize: 65562;
} = { HeaderSize: 12, LegacyHeaderSize: 10, ConfigSize: 12, StatusLinkUp: 1, MaxFrameSize: 65562 } as const;

/**
 * virtio-console feature bits and config size (virtio 1.2 §5.3.3, §5.3.4; Linux
 * `virtio_console.h`).
 *
 * @example
 * ```ts
 * const sizeOffered = (features >> BigInt(Console.FeatureSize)) & 1n;
 * ```
 */
export const Console: {
  readonly FeatureSize: 0;
  readonly FeatureMultiport: 1;
  readonly FeatureEmergWrite: 2;
  readonly ConfigSize: 12;
} = { FeatureSize: 0, FeatureMultiport: 1, FeatureEmergWrite: 2, ConfigSize: 12 } as const;
