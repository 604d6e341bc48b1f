// The payload shapes of vhost-user messages (QEMU docs/interop/vhost-user.rst "Payload"; Linux
// include/uapi/linux/vhost_types.h for `struct vhost_vring_state`, `struct vhost_vring_addr` and
// `struct vhost_memory_region`).

/**
 * One guest memory region (vhost-user.rst "Memory region description"): where it is in guest
 * physical memory, its size, where the front-end has it mapped, and where it starts in the file
 * descriptor that comes with the message. Decoded values are bigints; encoders also take numbers.
 *
 * @example
 * ```ts
 * const ram: VhostUserMemoryRegion = { guestAddress: 0n, size: 0x8000000n, userAddress: 0x7f0000000000n, mmapOffset: 0n };
 * ```
 */
export interface VhostUserMemoryRegion<N extends bigint | number = bigint> {
  /** The guest physical address of the region's first byte. */
  readonly guestAddress: N;
  /** The region's size in bytes; never 0. */
  readonly size: N;
  /** The address of the region in the front-end's address space (ring addresses are in this space). */
  readonly userAddress: N;
  /** The offset of the region's first byte in its file descriptor's mapping. */
  readonly mmapOffset: N;
}

/**
 * No payload (`size` 0): GET_FEATURES, SET_OWNER, SET_LOG_FD, SET_BACKEND_REQ_FD, RESET_DEVICE, …
 *
 * @example
 * ```ts
 * const p: VhostUserNonePayload = { type: "none" };
 * ```
 */
export interface VhostUserNonePayload {
  /** The payload kind. */
  readonly type: "none";
}

/**
 * A single u64 (vhost-user.rst "A single 64-bit integer"): feature masks, SET_STATUS, NET_SET_MTU,
 * and every reply that is a number or a REPLY_ACK acknowledgement (0 success, non-zero failure).
 *
 * @example
 * ```ts
 * const p: VhostUserU64Payload = { type: "u64", value: 1n << 32n };
 * ```
 */
export interface VhostUserU64Payload<N extends bigint | number = bigint> {
  /** The payload kind. */
  readonly type: "u64";
  /** The 64-bit value. */
  readonly value: N;
}

/**
 * A vring state (vhost-user.rst "A vring state description"): a vring index and a number whose
 * meaning depends on the request (the size for SET_VRING_NUM, the next index for SET/GET_VRING_BASE,
 * 0/1 for SET_VRING_ENABLE and SET_VRING_ENDIAN, 0 for GET_VRING_BASE's request and VRING_KICK).
 *
 * @example
 * ```ts
 * const p: VhostUserVringStatePayload = { type: "vring-state", index: 0, num: 256 };
 * ```
 */
export interface VhostUserVringStatePayload {
  /** The payload kind. */
  readonly type: "vring-state";
  /** The vring index (u32). */
  readonly index: number;
  /** The number (u32). */
  readonly num: number;
}

/**
 * A vring address description, SET_VRING_ADDR's payload (vhost-user.rst "A vring address
 * description"; Linux `struct vhost_vring_addr`, 40 bytes). Ring addresses are front-end user
 * addresses (or IOVAs with VIRTIO_F_IOMMU_PLATFORM); `logGuest` is a guest physical address.
 *
 * @example
 * ```ts
 * const p: VhostUserVringAddrPayload = { type: "vring-addr", index: 0, flags: 0, descUser: 0x7f0000001000n, usedUser: 0x7f0000003000n, availUser: 0x7f0000002000n, logGuest: 0n };
 * ```
 */
export interface VhostUserVringAddrPayload<N extends bigint | number = bigint> {
  /** The payload kind. */
  readonly type: "vring-addr";
  /** The vring index (u32). */
  readonly index: number;
  /** The flags (u32); only bit 0, `VHOST_VRING_F_LOG`, is defined. */
  readonly flags: number;
  /** The descriptor table's user address. */
  readonly descUser: N;
  /** The used ring's user address. */
  readonly usedUser: N;
  /** The available ring's user address. */
  readonly availUser: N;
  /** The guest address used-ring writes are logged at (with VHOST_VRING_F_LOG). */
  readonly logGuest: N;
}

/**
 * The u64 of SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR, split: the vring index (bits 0-7)
 * and the NOFD flag (bit 8); bits 9-63 are reserved and must be 0. Without NOFD the message
 * carries exactly one file descriptor (an eventfd), with it none.
 *
 * @example
 * ```ts
 * const p: VhostUserVringFdPayload = { type: "vring-fd", index: 1, noFd: false };
 * ```
 */
export interface VhostUserVringFdPayload {
  /** The payload kind. */
  readonly type: "vring-fd";
  /** The vring index, 0..255. */
  readonly index: number;
  /** True when no file descriptor comes with the message (polling). */
  readonly noFd: boolean;
}

/**
 * SET_MEM_TABLE's memory table (vhost-user.rst "Multiple Memory regions description"): 1..8
 * regions, one file descriptor per region in the same order. On the wire: nregions (u32), 4 bytes
 * of padding, then 32 bytes per region.
 *
 * @example
 * ```ts
 * const p: VhostUserMemoryTablePayload = { type: "memory-table", regions: [{ guestAddress: 0n, size: 1n << 27n, userAddress: 0x7f0000000000n, mmapOffset: 0n }] };
 * ```
 */
export interface VhostUserMemoryTablePayload<N extends bigint | number = bigint> {
  /** The payload kind. */
  readonly type: "memory-table";
  /** The regions, 1..8 of them, none empty, no two sharing guest addresses. */
  readonly regions: readonly VhostUserMemoryRegion<N>[];
}

/**
 * ADD_MEM_REG's and REM_MEM_REG's single region (vhost-user.rst "Single memory region
 * description"): 8 bytes of padding, then one 32-byte region.
 *
 * @example
 * ```ts
 * const p: VhostUserMemoryRegionPayload = { type: "memory-region", region: { guestAddress: 1n << 32n, size: 1n << 30n, userAddress: 0x7f8000000000n, mmapOffset: 0n } };
 * ```
 */
export interface VhostUserMemoryRegionPayload<N extends bigint | number = bigint> {
  /** The payload kind. */
  readonly type: "memory-region";
  /** The region. */
  readonly region: VhostUserMemoryRegion<N>;
}

/**
 * SET_LOG_BASE's log description (vhost-user.rst "Log description"): the size of the dirty log
 * and where it starts in the file descriptor that comes with the message (LOG_SHMFD).
 *
 * @example
 * ```ts
 * const p: VhostUserLogPayload = { type: "log", mmapSize: 0x1000n, mmapOffset: 0n };
 * ```
 */
export interface VhostUserLogPayload<N extends bigint | number = bigint> {
  /** The payload kind. */
  readonly type: "log";
  /** The size of the log area. */
  readonly mmapSize: N;
  /** Where the log starts in the file descriptor. */
  readonly mmapOffset: N;
}

/**
 * GET_CONFIG's and SET_CONFIG's device config access (vhost-user.rst "Virtio device config
 * space"): offset, size and flags (each u32), then `size` bytes of config space; `size` is
 * `data.length`, at most 256. A GET_CONFIG request carries `size` bytes too (their value is unused).
 *
 * @example
 * ```ts
 * const p: VhostUserConfigPayload = { type: "config", offset: 0, flags: 0, data: new Uint8Array(60) };
 * ```
 */
export interface VhostUserConfigPayload {
  /** The payload kind. */
  readonly type: "config";
  /** The offset in the device's config space (u32; its base differs between front-ends, so it is not range-checked). */
  readonly offset: number;
  /** 0 for a write of writable fields, 1 for a live-migration write (u32). */
  readonly flags: number;
  /** The config bytes, at most 256. */
  readonly data: Uint8Array;
}

/**
 * The bytes of a payload this package does not type (IOTLB_MSG, CREATE_CRYPTO_SESSION,
 * GET/SET_INFLIGHT_FD, GET_SHARED_OBJECT, SET_DEVICE_STATE_FD): the size and the file descriptor
 * count are still checked. A decoded one is a copy.
 *
 * @example
 * ```ts
 * const p: VhostUserRawPayload = { type: "raw", bytes: new Uint8Array(16) };
 * ```
 */
export interface VhostUserRawPayload {
  /** The payload kind. */
  readonly type: "raw";
  /** The payload bytes. */
  readonly bytes: Uint8Array;
}

/**
 * Every payload shape, told apart by `type`. Decoded payloads hold bigints for 64-bit fields
 * (`VhostUserPayload`); encoders take numbers too (`VhostUserPayload<bigint | number>`).
 *
 * @example
 * ```ts
 * function describe(p: VhostUserPayload): string {
 *   return p.type === "memory-table" ? `${p.regions.length} regions` : p.type;
 * }
 * ```
 */
export type VhostUserPayload<N extends bigint | number = bigint> =
  | VhostUserNonePayload
  | VhostUserU64Payload<N>
  | VhostUserVringStatePayload
  | VhostUserVringAddrPayload<N>
  | VhostUserVringFdPayload
  | VhostUserMemoryTablePayload<N>
  | VhostUserMemoryRegionPayload<N>
  | VhostUserLogPayload<N>
  | VhostUserConfigPayload
  | VhostUserRawPayload;

/**
 * The name of a payload shape, the `type` of {@link VhostUserPayload}.
 *
 * @example
 * ```ts
 * const kind: VhostUserPayloadType = "vring-addr";
 * ```
 */
export type VhostUserPayloadType = VhostUserPayload["type"];
