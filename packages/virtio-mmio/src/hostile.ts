/**
 * The catalogue of hostile-driver checks (reference table "Hardening against a malicious driver").
 * @module
 */

/**
 * Every check the transport and the devices make against a misbehaving or hostile driver, with
 * what happens when it fires: `needs-reset` stops using the queue and sets `DEVICE_NEEDS_RESET`
 * (with a configuration-change interrupt once `DRIVER_OK` is set; virtio 1.2 §2.1.2); `ignored`
 * drops the access or request, counts it and carries on.
 *
 * | check | what | virtio 1.2 |
 * |---|---|---|
 * | queue-size | QueueNum zero, not a power of two, or above QueueNumMax | §2.7, §4.2.2.2 |
 * | ring-alignment | descriptor table not 16-, avail not 2-, used not 4-aligned; legacy page size / QueueAlign not a power of two | §2.7, §4.2.4 |
 * | ring-outside-memory | a ring part (16N / 6+2N / 6+8N bytes) not inside one guest-memory region | §2.7 |
 * | avail-idx-jump | avail.idx moved by more than the queue size | §2.7.13 |
 * | head-out-of-range | a head index from avail.ring at or above the queue size | §2.7.6 |
 * | head-in-flight | a head made available again while the device still owns it | §2.7.13.3 |
 * | next-out-of-range | a `next` at or above the table length | §2.7.5 |
 * | chain-loop | following `next` revisits a descriptor (more hops than table entries) | §2.7.5.2 |
 * | chain-too-long | more descriptors in one chain (indirect entries included) than the queue size | §2.7.5.3.1 |
 * | length-overflow | the byte lengths of a chain sum to 2^32 or more | §2.7.5.2 |
 * | buffer-outside-memory | a buffer or indirect table not inside guest memory (or wrapping) | §2.7.5 |
 * | nested-indirect | INDIRECT inside an indirect table | §2.7.5.3.1 |
 * | indirect-size | an indirect table length of 0 or not a multiple of 16, or a table crossing regions | §2.7.5.3.1 |
 * | indirect-with-next | INDIRECT and NEXT set together | §2.7.5.3.1 |
 * | indirect-unnegotiated | INDIRECT used without VIRTIO_F_INDIRECT_DESC | §2.7.5.3.1 |
 * | write-before-read | a device-readable descriptor after a device-writable one | §2.7.4.2 |
 * | register-width | a register access below 0x100 that is not an aligned 32-bit access, or a config access not 1, 2 or 4 bytes | §4.2.2.2 |
 * | register-unknown | a read of a write-only or absent register, a write to a read-only or absent one | §4.2.2.2 |
 * | register-window | queue or feature registers written outside their window (e.g. queue registers while the queue is ready) | §3.1.1, §4.2.3.2 |
 * | queue-not-ready | a notification for an absent or not-ready queue | §4.2.2.2 |
 * | status-clear | a Status write clearing a bit the driver set | §2.1.1 |
 * | status-order | a Status bit set before its prerequisite (DRIVER before ACKNOWLEDGE, DRIVER_OK before FEATURES_OK, ...) | §3.1.1 |
 * | feature-negotiation | FEATURES_OK refused: a feature accepted that was not offered, or VERSION_1 not accepted on a version-2 device | §2.2.1, §6.1 |
 * | malformed-request | a chain that passes the ring checks but not the device's request format; completed with length 0 or an error status | §5.x |
 * | request-too-large | a request above a device limit (net frame, rng request): dropped or capped | §5.1.6, §5.4.6 |
 * | device-error | a backend or internal failure the device cannot recover from | §2.1.2 |
 *
 * @example
 * ```ts
 * HOSTILE_CHECKS["chain-loop"]; // "needs-reset"
 * ```
 */
export const HOSTILE_CHECKS = {
  /** QueueNum zero, not a power of two, or above QueueNumMax. */
  "queue-size": "needs-reset",
  /** Descriptor table not 16-, avail not 2-, used not 4-aligned; legacy page size / QueueAlign not a power of two. */
  "ring-alignment": "needs-reset",
  /** A ring part (16N / 6+2N / 6+8N bytes) not inside one guest-memory region. */
  "ring-outside-memory": "needs-reset",
  /** Avail.idx moved by more than the queue size. */
  "avail-idx-jump": "needs-reset",
  /** A head index from avail.ring at or above the queue size. */
  "head-out-of-range": "needs-reset",
  /** A head made available again while the device still owns it. */
  "head-in-flight": "needs-reset",
  /** A `next` at or above the table length. */
  "next-out-of-range": "needs-reset",
  /** Following `next` revisits a descriptor (more hops than table entries). */
  "chain-loop": "needs-reset",
  /** More descriptors in one chain (indirect entries included) than the queue size. */
  "chain-too-long": "needs-reset",
  /** The byte lengths of a chain sum to 2^32 or more. */
  "length-overflow": "needs-reset",
  /** A buffer or indirect table not inside guest memory (or wrapping). */
  "buffer-outside-memory": "needs-reset",
  /** INDIRECT inside an indirect table. */
  "nested-indirect": "needs-reset",
  /** An indirect table length of 0 or not a multiple of 16, or a table crossing regions. */
  "indirect-size": "needs-reset",
  /** INDIRECT and NEXT set together. */
  "indirect-with-next": "needs-reset",
  /** INDIRECT used without VIRTIO_F_INDIRECT_DESC. */
  "indirect-unnegotiated": "needs-reset",
  /** A device-readable descriptor after a device-writable one. */
  "write-before-read": "needs-reset",
  /** A register access below 0x100 that is not an aligned 32-bit access, or a config access not 1, 2 or 4 bytes. */
  "register-width": "ignored",
  /** A read of a write-only or absent register, a write to a read-only or absent one. */
  "register-unknown": "ignored",
  /** Queue or feature registers written outside their window (e.g. queue registers while the queue is ready). */
  "register-window": "ignored",
  /** A notification for an absent or not-ready queue. */
  "queue-not-ready": "ignored",
  /** A Status write clearing a bit the driver set. */
  "status-clear": "ignored",
  /** A Status bit set before its prerequisite (DRIVER before ACKNOWLEDGE, DRIVER_OK before FEATURES_OK, ...). */
  "status-order": "ignored",
  /** FEATURES_OK refused: a feature accepted that was not offered, or VERSION_1 not accepted on a version-2 device. */
  "feature-negotiation": "ignored",
  /** A chain that passes the ring checks but not the device's request format; completed with length 0 or an error status. */
  "malformed-request": "ignored",
  /** A request above a device limit (net frame, rng request): dropped or capped. */
  "request-too-large": "ignored",
  /** A backend or internal failure the device cannot recover from. */
  "device-error": "needs-reset",
} as const;

/**
 * The name of one hostile-driver check; see {@link HOSTILE_CHECKS}.
 *
 * @example
 * ```ts
 * const c: HostileCheck = "avail-idx-jump";
 * ```
 */
export type HostileCheck = keyof typeof HOSTILE_CHECKS;

/**
 * Receives each hostile-driver check as it fires, with a message naming the field and the limit.
 *
 * @example
 * ```ts
 * const report: HostileReporter = (check, detail) => console.warn(`virtio: ${check}: ${detail}`);
 * ```
 */
export type HostileReporter = (check: HostileCheck, detail: string) => void;
