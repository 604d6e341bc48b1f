import { readSync, writeSync } from "node:fs";
import type { FrameBackend, FrameSink } from "@microvm/virtio-mmio";
import { TAP_VNET_HDR_SIZE } from "./tap.js";

/** Largest frame read from a tap: a 64 KiB GSO frame can never come (no offloads), but be safe. */
const READ_SIZE = 65536 + TAP_VNET_HDR_SIZE;

/**
 * The I/O thread's side of a tap ({@link openTap}): frames from the guest are written to the tap
 * with a zero 12-byte virtio_net_hdr in front (no offloads are negotiated, so none is ever
 * needed); frames from the tap are read when epoll says the fd is readable, their header dropped,
 * and offered to the guest. When the guest has no receive buffer, the frame is kept and the tap
 * is no longer watched until the guest posts buffers (`rxReady`), so the kernel's tap queue
 * provides the back-pressure and the I/O thread never spins.
 *
 * @example
 * ```ts
 * const tap = new TapBackend(fd, (on) => (on ? ctx.watch(fd, () => tap.readable()) : ctx.unwatch(fd)));
 * const net = new NetDevice(tap);
 * ```
 */
export class TapBackend implements FrameBackend {
  /** It has written each frame to the tap when transmit returns: the device lends it one buffer. */
  readonly borrowsFrames = true;
  /** Frames dropped because the tap's queue was full when the guest sent them. */
  txDropped = 0;
  private sink: FrameSink | undefined;
  private pending: Uint8Array | undefined;
  private watching = false;
  private readonly buf = new Uint8Array(READ_SIZE);
  private readonly header = new Uint8Array(TAP_VNET_HDR_SIZE);
  /** The header and the frame being written (grown to the largest frame so far). */
  private txBuf = new Uint8Array(0);

  /**
   * Wraps a tap fd.
   *
   * @param fd - the tap (non-blocking, IFF_VNET_HDR with a 12-byte header)
   * @param setWatch - adds (true) or removes (false) the fd from the I/O thread's epoll set,
   *   with {@link TapBackend.readable} as the callback
   */
  constructor(
    private readonly fd: number,
    private readonly setWatch: (on: boolean) => void,
  ) {}

  /**
   * Sends one frame from the guest.
   *
   * @param frame - the Ethernet frame, without virtio_net_hdr
   * @example
   * ```ts
   * tap.transmit(frame);
   * ```
   */
  transmit(frame: Uint8Array): void {
    // One buffer for every frame: write(2) has taken the bytes when it returns.
    if (this.txBuf.length < TAP_VNET_HDR_SIZE + frame.length) {
      this.txBuf = new Uint8Array(TAP_VNET_HDR_SIZE + frame.length);
      this.txBuf.set(this.header, 0); // flags 0, gso_type VIRTIO_NET_HDR_GSO_NONE (include/uapi/linux/virtio_net.h)
    }
    this.txBuf.set(frame, TAP_VNET_HDR_SIZE);
    try {
      writeSync(this.fd, this.txBuf, 0, TAP_VNET_HDR_SIZE + frame.length);
    } catch {
      this.txDropped++; // EAGAIN (queue full) or the link is down: dropped, as a NIC drops
    }
  }

  /**
   * Receives the device's sink and starts watching the tap.
   *
   * @param sink - where frames for the guest go
   * @example
   * ```ts
   * tap.attach(sink);
   * ```
   */
  attach(sink: FrameSink): void {
    this.sink = sink;
    this.watch(true);
  }

  /**
   * The guest posted receive buffers: deliver the kept frame and watch the tap again.
   *
   * @example
   * ```ts
   * tap.rxReady();
   * ```
   */
  rxReady(): void {
    if (this.pending && this.sink) {
      if (!this.sink.receive(this.pending)) return;
      this.pending = undefined;
    }
    this.watch(true);
  }

  /**
   * The tap is readable: read frames until it is empty or the guest runs out of buffers.
   *
   * @example
   * ```ts
   * ctx.watch(fd, () => tap.readable());
   * ```
   */
  readable(): void {
    const sink = this.sink;
    if (!sink) return;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch {
        return; // EAGAIN: drained
      }
      if (n <= TAP_VNET_HDR_SIZE) {
        if (n <= 0) return;
        continue;
      }
      const frame = this.buf.subarray(TAP_VNET_HDR_SIZE, n);
      if (!sink.receive(frame)) {
        this.pending = frame.slice();
        this.watch(false);
        return;
      }
    }
  }

  private watch(on: boolean): void {
    if (on === this.watching) return;
    this.watching = on;
    this.setWatch(on);
  }
}
