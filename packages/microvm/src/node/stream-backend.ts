import { readSync, writeSync } from "node:fs";
import { encodeStreamFrame, StreamFrameDecoder, type FrameBackend, type FrameSink } from "@microvm/virtio-mmio";

/** Bytes read from the socket at a time. */
const READ_SIZE = 65536 * 2;
/** Output queued for a slow peer, in bytes, before further guest frames are dropped (a NIC's full transmit queue). */
const MAX_TX_QUEUE = 4 * 1024 * 1024;
/** `EPOLLOUT` (include/uapi/linux/eventpoll.h). */
const EPOLLOUT = 0x004;

/** What the backend asks its I/O thread to wait for on the socket. */
export interface StreamWatch {
  /** Readable: the guest can take frames. */
  readonly readable: boolean;
  /** Writable: output is queued. */
  readonly writable: boolean;
}

/**
 * The I/O thread's side of a net backend that speaks the length-prefixed frame stream of QEMU's
 * `-netdev stream` and passt on a connected stream socket (non-blocking). Frames from the guest are
 * written with their 4-byte length in front; a partial write queues the rest and waits for output
 * room (`EPOLLOUT`), and beyond {@link MAX_TX_QUEUE} queued bytes further frames are dropped and
 * counted. Frames from the peer are decoded ({@link StreamFrameDecoder}) and offered to the guest;
 * when it has no buffer, the rest is kept and the socket is no longer read until the guest posts
 * buffers, so the peer's socket buffer provides the back-pressure.
 *
 * The peer closing the stream, an error on it, or a frame above the decoder's limit ends the link:
 * the socket is no longer watched, guest frames are dropped from then on, and `onClose` says why.
 * Nothing of it reaches the guest as an exception.
 *
 * @example
 * ```ts
 * const net = new StreamBackend(fd, (w) => {
 *   ctx.unwatch(fd);
 *   if (w.readable || w.writable) ctx.watch(fd, (ev) => net.ready(ev), w);
 * });
 * const device = new NetDevice(net);
 * ```
 */
export class StreamBackend implements FrameBackend {
  /** It has copied each frame into its output queue when transmit returns: the device lends it one buffer. */
  readonly borrowsFrames = true;
  /** Frames dropped because the output queue was full or the link had ended. */
  txDropped = 0;
  /** Why the link ended, once it has. */
  closed: string | undefined;
  private sink: FrameSink | undefined;
  private readonly decoder = new StreamFrameDecoder();
  private readonly buf = new Uint8Array(READ_SIZE);
  /** Frames decoded but not yet taken by the guest (copies). */
  private pending: Uint8Array[] = [];
  private tx: Uint8Array[] = [];
  private txBytes = 0;
  private watching: StreamWatch = { readable: false, writable: false };

  /**
   * Wraps a connected stream socket.
   *
   * @param fd - the socket (non-blocking)
   * @param setWatch - makes the I/O thread wait for what is asked (nothing: stop watching), calling
   *   {@link StreamBackend.ready} with the epoll events
   * @param onClose - told once when the link ends, with the reason
   */
  constructor(
    private readonly fd: number,
    private readonly setWatch: (w: StreamWatch) => void,
    private readonly onClose?: (why: string) => void,
  ) {}

  /**
   * Sends one frame from the guest (dropped when the link has ended or the queue is full).
   *
   * @param frame - the Ethernet frame, without virtio_net_hdr
   * @example
   * ```ts
   * net.transmit(frame);
   * ```
   */
  transmit(frame: Uint8Array): void {
    if (this.closed !== undefined || this.txBytes + frame.length + 4 > MAX_TX_QUEUE) {
      this.txDropped++;
      return;
    }
    this.tx.push(encodeStreamFrame(frame));
    this.txBytes += frame.length + 4;
    if (this.tx.length === 1) this.flush();
    this.update();
  }

  /**
   * Receives the device's sink and starts reading the socket.
   *
   * @param sink - where frames for the guest go
   * @example
   * ```ts
   * net.attach(sink);
   * ```
   */
  attach(sink: FrameSink): void {
    this.sink = sink;
    this.update();
  }

  /**
   * The guest posted receive buffers: deliver the kept frames and read the socket again.
   *
   * @example
   * ```ts
   * net.rxReady();
   * ```
   */
  rxReady(): void {
    this.deliver();
    this.update();
  }

  /**
   * The socket is ready (epoll events): write queued output, read what came.
   *
   * @param events - the epoll events (`EPOLLIN` 0x1, `EPOLLOUT` 0x4, `EPOLLERR` 0x8, `EPOLLHUP` 0x10)
   * @example
   * ```ts
   * ctx.watch(fd, (ev) => net.ready(ev), { writable: true });
   * ```
   */
  ready(events: number): void {
    if (events & EPOLLOUT) this.flush();
    if (events & ~EPOLLOUT) this.read();
    this.update();
  }

  private flush(): void {
    while (this.closed === undefined && this.tx.length > 0) {
      const head = this.tx[0] as Uint8Array;
      let n: number;
      try {
        n = writeSync(this.fd, head);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return;
        this.close(`write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        return;
      }
      this.txBytes -= n;
      if (n === head.length) this.tx.shift();
      else this.tx[0] = head.subarray(n);
    }
  }

  private read(): void {
    // Read while the guest takes everything: stop at the first frame it has no room for.
    while (this.closed === undefined && this.pending.length === 0 && this.sink) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return;
        this.close(`read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        return;
      }
      if (n === 0) {
        let why = "the peer closed the stream";
        try {
          this.decoder.end();
        } catch (e) {
          why += ` (${(e as Error).message})`;
        }
        this.close(why);
        return;
      }
      let frames: Uint8Array[];
      try {
        frames = this.decoder.push(this.buf.subarray(0, n));
      } catch (e) {
        this.close((e as Error).message);
        return;
      }
      // Views into the read buffer: anything the guest does not take now is copied.
      let i = 0;
      for (; i < frames.length; i++) if (!this.sink.receive(frames[i] as Uint8Array)) break;
      for (; i < frames.length; i++) this.pending.push((frames[i] as Uint8Array).slice());
    }
  }

  private deliver(): void {
    const sink = this.sink;
    if (!sink) return;
    while (this.pending.length > 0 && sink.receive(this.pending[0] as Uint8Array)) this.pending.shift();
  }

  private close(why: string): void {
    if (this.closed !== undefined) return;
    this.closed = why;
    this.pending = [];
    this.txDropped += this.tx.length;
    this.tx = [];
    this.txBytes = 0;
    this.onClose?.(why);
  }

  private update(): void {
    const want: StreamWatch =
      this.closed !== undefined
        ? { readable: false, writable: false }
        : { readable: this.sink !== undefined && this.pending.length === 0, writable: this.tx.length > 0 };
    if (want.readable === this.watching.readable && want.writable === this.watching.writable) return;
    this.watching = want;
    this.setWatch(want);
  }
}
