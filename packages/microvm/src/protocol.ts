/**
 * What the board passes to its handler modules (vcpu-handler.ts on each vCPU thread,
 * io-handler.ts on the I/O thread). Everything here is structured-clonable; SharedArrayBuffers are
 * shared between the threads, fds are process-wide numbers.
 */
import type { HostForward } from "./host-forward.js";

/**
 * A blk backend, described so that the I/O thread can build it.
 *
 * @example
 * ```ts
 * const disk: BlkBackendSpec = { type: "memory", buffer: new SharedArrayBuffer(1 << 20) };
 * ```
 */
export type BlkBackendSpec =
  | {
      /** In memory, over a SharedArrayBuffer the caller keeps (and can read after the run). */
      readonly type: "memory";
      /** The disk's bytes; its length is the capacity (a multiple of 512). */
      readonly buffer: SharedArrayBuffer;
      /** Refuse writes. */
      readonly readOnly?: boolean;
    }
  | {
      /** A raw image file, read and written with pread/pwrite, flushed with fdatasync. */
      readonly type: "file";
      /** Its path. */
      readonly path: string;
      /** Open it read-only and refuse writes. */
      readonly readOnly?: boolean;
    }
  | {
      /**
       * An image already open (and locked, see node/image.ts) on the main thread: the I/O thread
       * reads and writes this fd with pread/pwrite and flushes it with fdatasync; its owner
       * closes it. Added for the CLI's `-drive`, whose OFD locks belong to that one open file.
       */
      readonly type: "fd";
      /** The fd (process-wide). */
      readonly fd: number;
      /** Its size in bytes. */
      readonly size: number;
      /** Refuse writes. */
      readonly readOnly?: boolean;
      /** The GET_ID serial. */
      readonly id?: string;
    }
  | ModuleBackendSpec;

/**
 * A net backend.
 *
 * @example
 * ```ts
 * const peer: NetBackendSpec = { type: "arp-responder" };
 * ```
 */
export type NetBackendSpec =
  | {
      /** The in-process {@link ArpResponder}: answers ARP for `ips` (default 10.0.2.2). */
      readonly type: "arp-responder";
      /** Addresses it answers for. */
      readonly ips?: readonly string[];
      /** Its MAC. */
      readonly mac?: string;
    }
  | {
      /**
       * A tap device opened on the main thread (node/tap.ts: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
       * 12-byte header, no offloads), read on the I/O thread when epoll says it is readable.
       * Added for the CLI's `-netdev tap`.
       */
      readonly type: "tap";
      /** The tap's fd (non-blocking). */
      readonly fd: number;
    }
  | {
      /**
       * User-mode networking without root: the machine starts passt (Debian package `passt`) for
       * the device and stops it when the machine ends. The guest gets an address, a gateway and DNS
       * by DHCP; connections to the gateway reach the host's loopback; `hostfwd` forwards host
       * ports into the guest. On the QEMU engine without passt, QEMU's own `-netdev user` (slirp:
       * guest 10.0.2.15, gateway 10.0.2.2) takes its place, said in one line; the KVM engine needs
       * passt. See docs/networking.md.
       */
      readonly type: "user";
      /**
       * Who serves it: `passt` (default; on the QEMU engine QEMU's slirp where passt is missing) or
       * `slirp` (QEMU's own user network, QEMU engine only: guest 10.0.2.15, gateway 10.0.2.2 with
       * MAC 52:55:0a:00:02:02).
       */
      readonly provider?: "passt" | "slirp";
      /** Host ports forwarded into the guest. */
      readonly hostfwd?: readonly HostForward[];
      /** The passt program (default `passt` on PATH). */
      readonly passt?: string;
    }
  | {
      /**
       * A connected stream socket (non-blocking) to a peer that speaks the length-prefixed frame
       * stream of QEMU's `-netdev stream` and passt (each frame after its 4-byte big-endian
       * length), e.g. a passt started by the caller with `--fd`. The machine uses it and does not
       * close it.
       */
      readonly type: "stream";
      /** The socket's fd. */
      readonly fd: number;
    }
  | ModuleBackendSpec;


/**
 * A console backend.
 *
 * @example
 * ```ts
 * const out: ConsoleBackendSpec = { type: "stream" };
 * ```
 */
export type ConsoleBackendSpec =
  | {
      /** Output to the machine's console stream (a shared ring), input from {@link Machine.consoleInput}. */
      readonly type: "stream";
    }
  | {
      /** Output written straight to a file descriptor (e.g. 1 for stdout). */
      readonly type: "fd";
      /** The fd. */
      readonly fd: number;
      /**
       * Optional input: an fd the I/O thread watches (a pty master, stdin); bytes read go to the
       * guest's receive queue. Added for the CLI's `-chardev pty|stdio`. An fd that epoll cannot
       * watch (a regular file, /dev/null) gives no input; end of file stops the watch.
       */
      readonly inputFd?: number;
    }
  | ModuleBackendSpec;

/**
 * An rng backend.
 *
 * @example
 * ```ts
 * const rng: RngBackendSpec = { type: "crypto" };
 * ```
 */
export type RngBackendSpec =
  | {
      /** `crypto.getRandomValues`. */
      readonly type: "crypto";
    }
  | {
      /** The host's entropy, read from /dev/urandom (node/entropy.ts). Added for the CLI. */
      readonly type: "system";
    }
  | ModuleBackendSpec;

/**
 * A backend made by the caller's own module, loaded on the I/O thread: an absolute path or `file:`
 * URL of a module whose named export `createBackend(options)` returns the backend object
 * (`BlockBackend`, `FrameBackend`, `ByteStreamBackend` or an `EntropySource` function).
 *
 * @example
 * ```ts
 * const custom: ModuleBackendSpec = { type: "module", module: "/opt/vmm/my-disk.js", options: { size: 1 << 30 } };
 * ```
 */
export interface ModuleBackendSpec {
  /** Discriminant. */
  readonly type: "module";
  /** The module. */
  readonly module: string;
  /** Passed to `createBackend` (structured-cloned). */
  readonly options?: unknown;
}

/** One transport as the I/O thread sets it up. */
export interface TransportSetup {
  /** Transport index. */
  readonly index: number;
  /** virtio-mmio version, 1 (legacy) or 2. */
  readonly version: 1 | 2;
  /** The device. */
  readonly device:
    | { readonly kind: "blk"; readonly backend: BlkBackendSpec }
    | { readonly kind: "net"; readonly backend: NetBackendSpec; readonly mac?: string }
    | { readonly kind: "console"; readonly backend: ConsoleBackendSpec; readonly ring?: SharedArrayBuffer }
    | { readonly kind: "rng"; readonly backend: RngBackendSpec };
  /** The irqfd of its GSI. */
  readonly irqFd: number;
  /** The ioeventfd of its QueueNotify register. */
  readonly notifyFd: number;
}

/** Data of the I/O handler module. */
export interface IoHandlerData {
  /** The transports with a device. */
  readonly transports: readonly TransportSetup[];
  /** InterruptStatus of every transport, one Int32 per transport index (shared with the vCPUs). */
  readonly isr: SharedArrayBuffer;
  /** The MMIO mailbox (see {@link MAILBOX}). */
  readonly mailbox: SharedArrayBuffer;
  /** The eventfd vCPUs signal after posting a mailbox request. */
  readonly mailboxFd: number;
  /** Shared counters (see {@link COUNTER}). */
  readonly counters: SharedArrayBuffer;
}

/** Data of the vCPU handler module. */
export interface VcpuHandlerData {
  /** This vCPU's index (its mailbox slot). */
  readonly index: number;
  /** Legacy UART state, or absent in normal mode. */
  readonly uart?: {
    /** Its shared register state. */
    readonly state: SharedArrayBuffer;
    /** Output ring, when the output goes to a stream. */
    readonly ring?: SharedArrayBuffer;
    /** Output fd, when it goes straight to a file descriptor. */
    readonly fd?: number;
    /** The irqfd of its IRQ. */
    readonly irqFd: number;
    /** Its first port. */
    readonly base: number;
  };
  /** The i8042 reset port, when the board has one (legacy mode). */
  readonly resetPort?: number;
  /** The ACPI Generic Event Device's registers, when the board has ACPI (see `GED` in layout.ts). */
  readonly ged?: {
    /** Its base (the event register). */
    readonly base: bigint;
    /** The pending events, one Int32 (bits as `GED`'s); set by the host, cleared by the guest's read. */
    readonly events: SharedArrayBuffer;
  };
  /** Transport windows (index, base, size) that forward to the I/O thread. */
  readonly transports: readonly { readonly index: number; readonly base: bigint; readonly size: number }[];
  /** InterruptStatus of every transport, one Int32 per transport index (see {@link IoHandlerData.isr}). */
  readonly isr: SharedArrayBuffer;
  /** The MMIO mailbox. */
  readonly mailbox: SharedArrayBuffer;
  /** The eventfd that wakes the I/O thread for the mailbox. */
  readonly mailboxFd: number;
  /** Shared counters. */
  readonly counters: SharedArrayBuffer;
  /** Custom regions with a device model module. */
  readonly custom: readonly {
    /** Name. */
    readonly name: string;
    /** `memory` or `io`. */
    readonly space: "memory" | "io";
    /** First address or port. */
    readonly base: bigint;
    /** Length. */
    readonly size: number;
    /** The module's path or URL. */
    readonly module: string;
    /** Its options. */
    readonly options: unknown;
  }[];
}

/** Mailbox layout: one slot of 8 Int32 per vCPU. */
export const MAILBOX = {
  /** Int32s per vCPU slot. */
  slotInts: 8,
  /** Slot state: 0 idle, 1 request posted, 2 answered. */
  state: 0,
  /** Transport index. */
  transport: 1,
  /** Register offset. */
  offset: 2,
  /** Access width. */
  width: 3,
  /** 1 for a write. */
  isWrite: 4,
  /** Value written. */
  value: 5,
  /** Value read. */
  result: 6,
} as const;

/** Shared counters (Int32 slots). */
export const COUNTER = {
  /** Port reads nothing claimed. */
  unclaimedPioReads: 0,
  /** Port writes nothing claimed. */
  unclaimedPioWrites: 1,
  /** MMIO reads nothing claimed. */
  unclaimedMmioReads: 2,
  /** MMIO writes nothing claimed. */
  unclaimedMmioWrites: 3,
  /** Set to 1 when the I/O thread is serving the mailbox. */
  ioAlive: 4,
  /** Register accesses forwarded to the I/O thread. */
  forwarded: 5,
  /** Queue notifications served. */
  notifications: 6,
  /** Interrupts sent through irqfds. */
  interrupts: 7,
  /** Hostile-driver checks that fired. */
  hostile: 8,
  /** Number of counters. */
  count: 16,
} as const;
