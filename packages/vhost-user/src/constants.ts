// Facts from the vhost-user specification, QEMU docs/interop/vhost-user.rst ("Message
// Specification", "Front-end message types", "Protocol features"), from Linux
// include/uapi/linux/vhost_types.h, and the limits QEMU hw/virtio/vhost-user.c and the rust-vmm
// vhost crate (vhost/src/vhost_user/message.rs) apply. Numbers only; no text or code is copied.

/**
 * The size of the message header: `request` (u32), `flags` (u32), `size` (u32), little-endian
 * (vhost-user.rst "Header"; the spec says native byte order, and every vhost-user host is
 * little-endian x86-64 or aarch64 here).
 *
 * @example
 * ```ts
 * const payload = frame.subarray(VHOST_USER_HEADER_SIZE);
 * ```
 */
export const VHOST_USER_HEADER_SIZE = 12;

/**
 * The bits of the header's `flags` word (vhost-user.rst "Header").
 *
 * @example
 * ```ts
 * const isReply = (flags & VHOST_USER_FLAGS.REPLY) !== 0;
 * ```
 */
export const VHOST_USER_FLAGS = {
  /** Bits 0-1: the protocol version, currently 1. */
  VERSION_MASK: 0x3,
  /** The version every message carries in bits 0-1. */
  VERSION: 0x1,
  /** Bit 2: set on every reply from the back-end. */
  REPLY: 0x4,
  /** Bit 3: the sender asks for a reply (REPLY_ACK, vhost-user.rst "VHOST_USER_PROTOCOL_F_REPLY_ACK"). */
  NEED_REPLY: 0x8,
  /** Bits 4-31: reserved; a message with one set is refused (the rust-vmm vhost crate refuses them too). */
  RESERVED_MASK: 0xfffffff0,
} as const;

/**
 * The default largest payload the decoder and the framer accept: 4096 bytes, the limit the
 * rust-vmm vhost crate applies (`MAX_MSG_SIZE`); every typed payload is far smaller (the largest,
 * a config message, is 12 + 256 bytes).
 *
 * @example
 * ```ts
 * const framer = new VhostUserFramer({ maxPayload: VHOST_USER_MAX_PAYLOAD });
 * ```
 */
export const VHOST_USER_MAX_PAYLOAD = 4096;

/**
 * The most regions a SET_MEM_TABLE message carries (QEMU's `VHOST_MEMORY_BASELINE_NREGIONS`; the
 * spec's memory table has `region0 … region7`).
 *
 * @example
 * ```ts
 * if (regions.length > VHOST_MEMORY_BASELINE_NREGIONS) useAddMemReg();
 * ```
 */
export const VHOST_MEMORY_BASELINE_NREGIONS = 8;

/**
 * The size of one memory region description: guest address, size, user address and mmap offset,
 * each a u64 (vhost-user.rst "Memory region description"; Linux `struct vhost_memory_region`).
 *
 * @example
 * ```ts
 * const tableSize = 8 + n * VHOST_USER_MEMORY_REGION_SIZE;
 * ```
 */
export const VHOST_USER_MEMORY_REGION_SIZE = 32;

/**
 * The largest device config space a GET_CONFIG/SET_CONFIG message carries (QEMU
 * hw/virtio/vhost-user.c `VHOST_USER_MAX_CONFIG_SIZE`).
 *
 * @example
 * ```ts
 * const data = new Uint8Array(Math.min(len, VHOST_USER_MAX_CONFIG_SIZE));
 * ```
 */
export const VHOST_USER_MAX_CONFIG_SIZE = 256;

/**
 * The size of a config payload before its data: offset, size and flags, each a u32
 * (vhost-user.rst "Virtio device config space").
 *
 * @example
 * ```ts
 * const messageSize = VHOST_USER_CONFIG_HEADER_SIZE + data.length;
 * ```
 */
export const VHOST_USER_CONFIG_HEADER_SIZE = 12;

/**
 * The u64 of SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR: the vring index in bits 0-7 and the
 * "no file descriptor" flag in bit 8 (vhost-user.rst, those three messages).
 *
 * @example
 * ```ts
 * const index = Number(value & BigInt(VHOST_USER_VRING_FD.INDEX_MASK));
 * ```
 */
export const VHOST_USER_VRING_FD = {
  /** Bits 0-7: the vring index. */
  INDEX_MASK: 0xff,
  /** Bit 8: no file descriptor comes with the message (poll instead). */
  NOFD: 0x100,
} as const;

/**
 * The front-end's request numbers (vhost-user.rst "Front-end message types"). SET_BACKEND_REQ_FD
 * was SET_SLAVE_REQ_FD before QEMU 8.1 renamed it; the number is the same.
 *
 * @example
 * ```ts
 * const bytes = encodeVhostUserMessage({ request: "GET_FEATURES" });
 * bytes[0] === VHOST_USER_REQUEST.GET_FEATURES; // 1
 * ```
 */
export const VHOST_USER_REQUEST = {
  /** 1: the back-end's virtio feature bits (reply: u64). */
  GET_FEATURES: 1,
  /** 2: the feature bits the front-end enables (u64). */
  SET_FEATURES: 2,
  /** 3: the sender owns the session, sent first. */
  SET_OWNER: 3,
  /** 4: deprecated; back-ends ignore it or disable all rings. */
  RESET_OWNER: 4,
  /** 5: the guest memory regions (memory table, one fd per region). */
  SET_MEM_TABLE: 5,
  /** 6: the dirty log area (log description, with its fd when LOG_SHMFD). */
  SET_LOG_BASE: 6,
  /** 7: an eventfd to signal log changes (one fd). */
  SET_LOG_FD: 7,
  /** 8: a vring's size (vring state). */
  SET_VRING_NUM: 8,
  /** 9: a vring's addresses (vring address description). */
  SET_VRING_ADDR: 9,
  /** 10: a vring's next available index (vring state). */
  SET_VRING_BASE: 10,
  /** 11: stops a vring and asks for its index (vring state both ways). */
  GET_VRING_BASE: 11,
  /** 12: a vring's kick eventfd (u64 index + NOFD, one fd unless NOFD). */
  SET_VRING_KICK: 12,
  /** 13: a vring's call eventfd (u64 index + NOFD, one fd unless NOFD). */
  SET_VRING_CALL: 13,
  /** 14: a vring's error eventfd (u64 index + NOFD, one fd unless NOFD). */
  SET_VRING_ERR: 14,
  /** 15: the back-end's protocol feature bits (reply: u64). */
  GET_PROTOCOL_FEATURES: 15,
  /** 16: the protocol feature bits the front-end enables (u64). */
  SET_PROTOCOL_FEATURES: 16,
  /** 17: how many queues the back-end supports (reply: u64; with MQ). */
  GET_QUEUE_NUM: 17,
  /** 18: enables (1) or disables (0) a vring (vring state). */
  SET_VRING_ENABLE: 18,
  /** 19: broadcast a RARP for a MAC in the u64's first 6 bytes. */
  SEND_RARP: 19,
  /** 20: the host MTU (u64). */
  NET_SET_MTU: 20,
  /** 21: the socket for back-end initiated requests (one fd). Formerly SET_SLAVE_REQ_FD. */
  SET_BACKEND_REQ_FD: 21,
  /** 22: an IOTLB update or invalidation (`struct vhost_iotlb_msg`; kept as raw bytes here). */
  IOTLB_MSG: 22,
  /** 23: a legacy vring's endianness, 0 little, 1 big (vring state). */
  SET_VRING_ENDIAN: 23,
  /** 24: reads the device config space (config both ways). */
  GET_CONFIG: 24,
  /** 25: writes the device config space (config). */
  SET_CONFIG: 25,
  /** 26: a crypto session (raw bytes here). */
  CREATE_CRYPTO_SESSION: 26,
  /** 27: closes a crypto session (u64). */
  CLOSE_CRYPTO_SESSION: 27,
  /** 28: postcopy migration is coming (reply: a userfault fd). */
  POSTCOPY_ADVISE: 28,
  /** 29: postcopy migration has started. */
  POSTCOPY_LISTEN: 29,
  /** 30: postcopy migration has ended (reply: u64). */
  POSTCOPY_END: 30,
  /** 31: asks for the inflight I/O area (inflight description; raw bytes here; reply with one fd). */
  GET_INFLIGHT_FD: 31,
  /** 32: hands back the inflight I/O area (raw bytes here, one fd). */
  SET_INFLIGHT_FD: 32,
  /** 33: the vhost-user-gpu protocol socket (one fd). */
  GPU_SET_SOCKET: 33,
  /** 34: reset the device, keeping ownership. */
  RESET_DEVICE: 34,
  /** 35: in-band kick of a vring (vring state, num 0). */
  VRING_KICK: 35,
  /** 36: how many memory slots the back-end supports (reply: u64). */
  GET_MAX_MEM_SLOTS: 36,
  /** 37: adds one memory region (single region, one fd). */
  ADD_MEM_REG: 37,
  /** 38: removes one memory region (single region; no fd, though one is tolerated). */
  REM_MEM_REG: 38,
  /** 39: the virtio device status (u64). */
  SET_STATUS: 39,
  /** 40: asks for the virtio device status (reply: u64). */
  GET_STATUS: 40,
  /** 41: asks for a shared object by UUID (16 raw bytes; reply: u64, maybe with an fd). */
  GET_SHARED_OBJECT: 41,
  /** 42: the back-end state transfer channel (8 raw bytes, one fd; reply: u64, fd unless bit 8). */
  SET_DEVICE_STATE_FD: 42,
  /** 43: did the state transfer succeed (reply: u64). */
  CHECK_DEVICE_STATE: 43,
} as const;

/**
 * The name of a front-end request, a key of {@link VHOST_USER_REQUEST}.
 *
 * @example
 * ```ts
 * const name: VhostUserRequestName = "SET_VRING_KICK";
 * ```
 */
export type VhostUserRequestName = keyof typeof VHOST_USER_REQUEST;

/**
 * The virtio feature bit through which a back-end says it speaks the protocol feature messages
 * (GET/SET_PROTOCOL_FEATURES): bit 30 (vhost-user.rst "Communication").
 *
 * @example
 * ```ts
 * const canNegotiate = hasVhostUserFeature(features, VHOST_USER_F_PROTOCOL_FEATURES);
 * ```
 */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/**
 * The vhost feature bit for dirty page logging: bit 26 (Linux include/uapi/linux/vhost_types.h
 * `VHOST_F_LOG_ALL`; vhost-user.rst "Migration").
 *
 * @example
 * ```ts
 * const logging = hasVhostUserFeature(features, VHOST_F_LOG_ALL);
 * ```
 */
export const VHOST_F_LOG_ALL = 26;

/**
 * The vring address flag bit that turns on logging of used-ring writes: bit 0 of
 * SET_VRING_ADDR's `flags` (Linux include/uapi/linux/vhost_types.h `VHOST_VRING_F_LOG`). The only
 * defined bit; others are refused.
 *
 * @example
 * ```ts
 * const flags = 1 << VHOST_VRING_F_LOG;
 * ```
 */
export const VHOST_VRING_F_LOG = 0;

/**
 * The protocol feature bit numbers (vhost-user.rst "Protocol features"). BACKEND_REQ and
 * BACKEND_SEND_FD were SLAVE_REQ and SLAVE_SEND_FD before QEMU 8.1; MTU is QEMU's `NET_MTU`.
 *
 * @example
 * ```ts
 * const offered = vhostUserFeatureMask([VHOST_USER_PROTOCOL_F.MQ, VHOST_USER_PROTOCOL_F.REPLY_ACK]);
 * ```
 */
export const VHOST_USER_PROTOCOL_F = {
  /** 0: multiple queues, GET_QUEUE_NUM. */
  MQ: 0,
  /** 1: the dirty log is shared memory passed with SET_LOG_BASE. */
  LOG_SHMFD: 1,
  /** 2: SEND_RARP. */
  RARP: 2,
  /** 3: the NEED_REPLY flag and the u64 acknowledgement. */
  REPLY_ACK: 3,
  /** 4: NET_SET_MTU. */
  MTU: 4,
  /** 5: the back-end request channel, SET_BACKEND_REQ_FD. */
  BACKEND_REQ: 5,
  /** 6: SET_VRING_ENDIAN. */
  CROSS_ENDIAN: 6,
  /** 7: CREATE/CLOSE_CRYPTO_SESSION. */
  CRYPTO_SESSION: 7,
  /** 8: postcopy migration (POSTCOPY_*). */
  PAGEFAULT: 8,
  /** 9: GET_CONFIG and SET_CONFIG. */
  CONFIG: 9,
  /** 10: the back-end may send fds on its request channel. */
  BACKEND_SEND_FD: 10,
  /** 11: host notifiers on the back-end channel. */
  HOST_NOTIFIER: 11,
  /** 12: GET/SET_INFLIGHT_FD. */
  INFLIGHT_SHMFD: 12,
  /** 13: RESET_DEVICE. */
  RESET_DEVICE: 13,
  /** 14: in-band kicks and calls (VRING_KICK); needs BACKEND_REQ and REPLY_ACK too. */
  INBAND_NOTIFICATIONS: 14,
  /** 15: GET_MAX_MEM_SLOTS, ADD_MEM_REG and REM_MEM_REG. */
  CONFIGURE_MEM_SLOTS: 15,
  /** 16: SET_STATUS and GET_STATUS. */
  STATUS: 16,
  /** 17: Xen mmap fields in region descriptions (not decoded by this package). */
  XEN_MMAP: 17,
  /** 18: GET_SHARED_OBJECT and the shared object back-end messages. */
  SHARED_OBJECT: 18,
  /** 19: SET_DEVICE_STATE_FD and CHECK_DEVICE_STATE. */
  DEVICE_STATE: 19,
} as const;
