/**
 * What the board passes to its handler modules (vcpu-handler.ts on each vCPU thread,
 * io-handler.ts on the I/O thread). Everything here is structured-clonable; SharedArrayBuffers are
 * shared between the threads, fds are process-wide numbers.
 */
import type { MailboxDescriptor } from "@microvm/kvm";
import type { IoDeviceSetup } from "./devices/kind.js";

/** One transport as the I/O thread sets it up. */
export interface TransportSetup {
  /** Transport index. */
  readonly index: number;
  /** Its window's guest-physical base (forwarded accesses carry their address). */
  readonly base: bigint;
  /** Its window's size in bytes. */
  readonly size: bigint;
  /** virtio-mmio version, 1 (legacy) or 2. */
  readonly version: 1 | 2;
  /** The device, as its kind's `ioSetup` made it. */
  readonly device: IoDeviceSetup;
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
  /** The mailbox the vCPU threads forward register accesses through (one slot per vCPU). */
  readonly mailbox: MailboxDescriptor;
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
  readonly transports: readonly { readonly index: number; readonly base: bigint; readonly size: bigint }[];
  /** InterruptStatus of every transport, one Int32 per transport index (see {@link IoHandlerData.isr}). */
  readonly isr: SharedArrayBuffer;
  /** The mailbox to the I/O thread (this vCPU's slot is its index). */
  readonly mailbox: MailboxDescriptor;
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
