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
export const HOSTILE_CHECKS: {
  readonly "queue-size": "needs-reset";
  readonly "ring-alignment": "needs-reset";
  readonly "ring-outside-memory": "needs-reset";
  readonly "avail-idx-jump": "needs-reset";
  readonly "head-out-of-range": "needs-reset";
  readonly "head-in-flight": "needs-reset";
  readonly "next-out-of-range": "needs-reset";
  readonly "chain-loop": "needs-reset";
  readonly "chain-too-long": "needs-reset";
  readonly "length-overflow": "needs-reset";
  readonly "buffer-outside-memory": "needs-reset";
  readonly "nested-indirect": "needs-reset";
  readonly "indirect-size": "needs-reset";
  readonly "indirect-with-next": "needs-reset";
  readonly "indirect-unnegotiated": "needs-reset";
  readonly "write-before-read": "needs-reset";
  readonly "register-width": "ignored";
  readonly "register-unknown": "ignored";
  readonly "register-window": "ignored";
  readonly "queue-not-ready": "ignored";
  readonly "status-clear": "ignored";
  readonly "status-order": "ignored";
  readonly "feature-negotiation": "ignored";
  readonly "malformed-request": "ignored";
  readonly "request-too-large": "ignored";
  readonly "device-error": "needs-reset";
} = {
  "queue-size": "needs-reset",
  "ring-alignment": "needs-reset",
  "ring-outside-memory": "needs-reset",
  "avail-idx-jump": "needs-reset",
  "head-out-of-range": "needs-reset",
  "head-in-flight": "needs-reset",
  "next-out-of-range": "needs-reset",
  "chain-loop": "needs-reset",
  "chain-too-long": "needs-reset",
  "length-overflow": "needs-reset",
  "buffer-outside-memory": "needs-reset",
  "nested-indirect": "needs-reset",
  "indirect-size": "needs-reset",
  "indirect-with-next": "needs-reset",
  "indirect-unnegotiated": "needs-reset",
  "write-before-read": "needs-reset",
  "register-width": "ignored",
  "register-unknown": "ignored",
  "register-window": "ignored",
  "queue-not-ready": "ignored",
  "status-clear": "ignored",
  "status-order": "ignored",
  "feature-negotiation": "ignored",
  "malformed-request": "ignored",
  "request-too-large": "ignored",
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
