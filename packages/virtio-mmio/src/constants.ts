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
export const MmioReg = {
  /** R: 0x74726976, "virt". */
  MagicValue: 0x000,
  /** R: 2 modern, 1 legacy. */
  Version: 0x004,
  /** R: virtio device type. */
  DeviceId: 0x008,
  /** R: vendor id. */
  VendorId: 0x00c,
  /** R: 32 offered feature bits, word chosen by DeviceFeaturesSel. */
  DeviceFeatures: 0x010,
  /** W: selects the DeviceFeatures word. */
  DeviceFeaturesSel: 0x014,
  /** W: 32 accepted feature bits, word chosen by DriverFeaturesSel. */
  DriverFeatures: 0x020,
  /** W: selects the DriverFeatures word. */
  DriverFeaturesSel: 0x024,
  /** W, legacy only: guest page size for QueuePFN. */
  GuestPageSize: 0x028,
  /** W: selects the queue for the queue registers. */
  QueueSel: 0x030,
  /** R: maximum size of the selected queue (0: absent). */
  QueueNumMax: 0x034,
  /** W: size of the selected queue. */
  QueueNum: 0x038,
  /** W, legacy only: used-ring alignment. */
  QueueAlign: 0x03c,
  /** RW, legacy only: queue page number (0: not in use). */
  QueuePfn: 0x040,
  /** RW, modern only: the selected queue is ready. */
  QueueReady: 0x044,
  /** W: available-buffer notification (queue index). */
  QueueNotify: 0x050,
  /** R: bit 0 used buffer, bit 1 configuration change. */
  InterruptStatus: 0x060,
  /** W: acknowledges InterruptStatus bits. */
  InterruptAck: 0x064,
  /** RW: device status; 0 resets. */
  Status: 0x070,
  /** W: descriptor area, low 32 bits. */
  QueueDescLow: 0x080,
  /** W: descriptor area, high 32 bits. */
  QueueDescHigh: 0x084,
  /** W: driver area (available ring), low 32 bits. */
  QueueAvailLow: 0x090,
  /** W: driver area, high 32 bits. */
  QueueAvailHigh: 0x094,
  /** W: device area (used ring), low 32 bits. */
  QueueUsedLow: 0x0a0,
  /** W: device area, high 32 bits. */
  QueueUsedHigh: 0x0a4,
  /** W: selects a shared-memory region. */
  ShmSel: 0x0ac,
  /** R: region length, low (all ones: none). */
  ShmLenLow: 0x0b0,
  /** R: region length, high. */
  ShmLenHigh: 0x0b4,
  /** R: region base, low (all ones: none). */
  ShmBaseLow: 0x0b8,
  /** R: region base, high. */
  ShmBaseHigh: 0x0bc,
  /** R, modern only: changes when config changes. */
  ConfigGeneration: 0x0fc,
  /** Start of the device-specific configuration space. */
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
export const MmioInt = {
  /** A used buffer was added to a queue. */
  Vring: 1,
  /** The configuration changed (also DEVICE_NEEDS_RESET). */
  Config: 2,
} as const;

/**
 * Device status bits (virtio 1.2 §2.1 "Device Status Field"; Linux `virtio_config.h`
 * `VIRTIO_CONFIG_S_*`).
 *
 * @example
 * ```ts
 * transport.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver);
 * ```
 */
export const Status = {
  /** The guest found the device. */
  Acknowledge: 1,
  /** The guest knows how to drive it. */
  Driver: 2,
  /** The driver is ready: the device is live. */
  DriverOk: 4,
  /** Feature negotiation is complete. */
  FeaturesOk: 8,
  /** The device hit an error it cannot recover from (set by the device). */
  NeedsReset: 0x40,
  /** The driver gave up. */
  Failed: 0x80,
} as const;

/**
 * Reserved (transport) feature bit numbers (virtio 1.2 §6 "Reserved Feature Bits"; Linux
 * `virtio_config.h`, `virtio_ring.h`).
 *
 * @example
 * ```ts
 * const offered = 1n << BigInt(Feature.Version1);
 * ```
 */
export const Feature = {
  /** Legacy: notify when the available ring empties. */
  NotifyOnEmpty: 24,
  /** Legacy: any descriptor layout. */
  AnyLayout: 27,
  /** Indirect descriptor tables. */
  IndirectDesc: 28,
  /** used_event / avail_event suppression. */
  EventIdx: 29,
  /** Compliance with virtio 1.0+ (always offered on version 2). */
  Version1: 32,
  /** Buffers go through a platform IOMMU. */
  AccessPlatform: 33,
  /** Packed virtqueues (not implemented here). */
  RingPacked: 34,
  /** Buffers used in order. */
  InOrder: 35,
  /** Extra data in notifications (never offered: breaks ioeventfd datamatch). */
  NotificationData: 38,
  /** Per-queue reset. */
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
export const DeviceId = {
  /** virtio-net. */
  Net: 1,
  /** virtio-blk. */
  Block: 2,
  /** virtio-console. */
  Console: 3,
  /** virtio-rng (entropy). */
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
export const VringFlag = {
  /** The descriptor continues via `next`. */
  DescNext: 1,
  /** Device-writable buffer. */
  DescWrite: 2,
  /** The buffer is an indirect descriptor table. */
  DescIndirect: 4,
  /** avail.flags: the driver asks for no interrupts. */
  AvailNoInterrupt: 1,
  /** used.flags: the device asks for no notifications. */
  UsedNoNotify: 1,
} as const;

/**
 * Split-ring sizes and alignments (virtio 1.2 §2.7 "Split Virtqueues": queue size at most 32768,
 * descriptor 16 bytes, alignments 16/2/4; Linux `virtio_ring.h` `VRING_*_ALIGN_SIZE`).
 *
 * @example
 * ```ts
 * const descBytes = size * Vring.DescSize;
 * ```
 */
export const Vring = {
  /** Largest split-queue size. */
  MaxQueueSize: 32768,
  /** Bytes per descriptor (`struct vring_desc`). */
  DescSize: 16,
  /** Bytes per used element (`struct vring_used_elem`). */
  UsedElemSize: 8,
  /** Descriptor table alignment. */
  DescAlign: 16,
  /** Available ring alignment. */
  AvailAlign: 2,
  /** Used ring alignment. */
  UsedAlign: 4,
} as const;

/**
 * virtio-blk feature bits (virtio 1.2 §5.2.3; Linux `virtio_blk.h` `VIRTIO_BLK_F_*`).
 *
 * @example
 * ```ts
 * const readOnly = (features >> BigInt(BlkFeature.Ro)) & 1n;
 * ```
 */
export const BlkFeature = {
  /** size_max is valid. */
  SizeMax: 1,
  /** seg_max is valid. */
  SegMax: 2,
  /** geometry is valid. */
  Geometry: 4,
  /** Read-only device. */
  Ro: 5,
  /** blk_size is valid. */
  BlkSize: 6,
  /** FLUSH supported (volatile write cache). */
  Flush: 9,
  /** topology is valid. */
  Topology: 10,
  /** Writeback mode in config. */
  ConfigWce: 11,
  /** Several request queues. */
  Mq: 12,
  /** DISCARD supported. */
  Discard: 13,
  /** WRITE_ZEROES supported. */
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
export const BlkType = {
  /** Read. */
  In: 0,
  /** Write. */
  Out: 1,
  /** Flush the write cache. */
  Flush: 4,
  /** Get the 20-byte id string. */
  GetId: 8,
  /** Discard sectors. */
  Discard: 11,
  /** Zero sectors. */
  WriteZeroes: 13,
} as const;

/**
 * virtio-blk request status bytes (virtio 1.2 §5.2.6; Linux `virtio_blk.h` `VIRTIO_BLK_S_*`).
 *
 * @example
 * ```ts
 * if (statusByte !== BlkStatus.Ok) throw new Error("I/O error");
 * ```
 */
export const BlkStatus = {
  /** Success. */
  Ok: 0,
  /** I/O error. */
  IoErr: 1,
  /** Unsupported request. */
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
export const Blk = {
  /** `struct virtio_blk_outhdr`. */
  HeaderSize: 16,
  /** `struct virtio_blk_discard_write_zeroes`. */
  DiscardSegmentSize: 16,
  /** `VIRTIO_BLK_ID_BYTES`. */
  IdBytes: 20,
  /** The sector unit of `sector` and `capacity`. */
  SectorSize: 512,
  /** Bytes of `struct virtio_blk_config` served here (up to the secure-erase fields). */
  ConfigSize: 60,
} as const;

/**
 * virtio-net feature bits used here (virtio 1.2 §5.1.3; Linux `virtio_net.h` `VIRTIO_NET_F_*`).
 *
 * @example
 * ```ts
 * const mrg = (features >> BigInt(NetFeature.MrgRxbuf)) & 1n;
 * ```
 */
export const NetFeature = {
  /** Device handles partial checksums. */
  Csum: 0,
  /** Driver handles partial checksums. */
  GuestCsum: 1,
  /** mtu is valid. */
  Mtu: 3,
  /** mac is valid. */
  Mac: 5,
  /** Mergeable receive buffers. */
  MrgRxbuf: 15,
  /** status is valid. */
  Status: 16,
} as const;

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
export const Net = {
  /** `virtio_net_hdr_v1` / `virtio_net_hdr_mrg_rxbuf`. */
  HeaderSize: 12,
  /** `virtio_net_hdr` without num_buffers. */
  LegacyHeaderSize: 10,
  /** Bytes of `struct virtio_net_config` served (mac, status, max_virtqueue_pairs, mtu). */
  ConfigSize: 12,
  /** `VIRTIO_NET_S_LINK_UP`. */
  StatusLinkUp: 1,
  /** Largest frame transmitted (Firecracker MAX_BUFFER_SIZE). */
  MaxFrameSize: 65562,
} as const;

/**
 * virtio-console feature bits and config size (virtio 1.2 §5.3.3, §5.3.4; Linux
 * `virtio_console.h`).
 *
 * @example
 * ```ts
 * const sizeOffered = (features >> BigInt(Console.FeatureSize)) & 1n;
 * ```
 */
export const Console = {
  /** cols/rows are valid. */
  FeatureSize: 0,
  /** Several ports (not offered). */
  FeatureMultiport: 1,
  /** emerg_wr is supported. */
  FeatureEmergWrite: 2,
  /** `struct virtio_console_config`. */
  ConfigSize: 12,
} as const;
