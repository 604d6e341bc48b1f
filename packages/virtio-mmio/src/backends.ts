/**
 * Backend interfaces (block, frames, byte stream, entropy) and in-memory implementations. Node
 * backends (files, tap, stdio) live in `@microvm/microvm`.
 * @module
 */
import { BlkStatus } from "./constants.js";
import { VirtioError } from "./errors.js";

/**
 * What a block backend operation returns: nothing (success) or a virtio-blk status byte
 * (`BlkStatus`), directly or through a Promise. A thrown error or a rejected Promise becomes
 * `VIRTIO_BLK_S_IOERR`.
 *
 * @example
 * ```ts
 * const r: BlockResult = BlkStatus.Unsupp;
 * ```
 */
export type BlockResult = void | number;

/**
 * A block device backend. Offsets and lengths are in bytes (numbers: capacities are limited to
 * 2^53 bytes, which keeps the request path free of bigint arithmetic). Every method may be
 * synchronous or return a Promise.
 *
 * The buffers passed to `read` and `write` are views of guest memory, valid until the returned
 * Promise settles: copy out of a `write` buffer before resolving if the bytes are kept.
 *
 * @example
 * ```ts
 * const backend: BlockBackend = {
 *   size: 1 << 20,
 *   read: (offset, out) => out.set(disk.subarray(offset, offset + out.length)),
 *   write: (offset, data) => disk.set(data, offset),
 * };
 * ```
 */
export interface BlockBackend {
  /** Size in bytes; the capacity offered is `floor(size / 512)` sectors. */
  readonly size: number;
  /** Offer VIRTIO_BLK_F_RO and fail writes. */
  readonly readOnly?: boolean;
  /**
   * The backend has a volatile write cache: VIRTIO_BLK_F_FLUSH is offered and writes complete
   * before they are durable. Without one (or when the driver does not accept FLUSH) every write
   * completes only after `flush` resolves (virtio 1.2 §5.2.6.2, write-through).
   */
  readonly volatileCache?: boolean;
  /** Logical block size offered in `blk_size` (default 512). */
  readonly blockSize?: number;
  /** The GET_ID string (at most 20 ASCII bytes; default empty). */
  readonly id?: string;
  /**
   * Optional zero-copy read path for backends whose storage is addressable memory (a RAM disk,
   * an mmap'd image): a view of `length` bytes at `offset`, copied by the device straight into
   * guest memory. When present it is used instead of `read` for IN requests; it must not throw
   * for a range inside `size`.
   * @param offset - byte offset
   * @param length - byte count
   */
  readonly view?: ((offset: number, length: number) => Uint8Array) | undefined;
  /**
   * Fills `out` from byte `offset`.
   * @param offset - byte offset
   * @param out - destination (a guest-memory view)
   */
  read(offset: number, out: Uint8Array): BlockResult | Promise<BlockResult>;
  /**
   * Writes `data` at byte `offset`.
   * @param offset - byte offset
   * @param data - source (a guest-memory view)
   */
  write(offset: number, data: Uint8Array): BlockResult | Promise<BlockResult>;
  /**
   * Optional vectored read: fills `buffers`, in order, from byte `offset` on, as one operation
   * (a file backend's `preadv`). When present it is used for a request whose data spans several
   * guest buffers (Linux splits a 1 MiB read into one buffer per page or run of pages), instead of
   * one `read` per buffer.
   * @param offset - byte offset
   * @param buffers - destinations (guest-memory views), back to back on the disk
   */
  readv?(offset: number, buffers: readonly Uint8Array[]): BlockResult | Promise<BlockResult>;
  /**
   * Optional vectored write: writes `buffers`, in order, from byte `offset` on, as one operation
   * (`pwritev`); used as {@link BlockBackend.readv} is.
   * @param offset - byte offset
   * @param buffers - sources (guest-memory views), back to back on the disk
   */
  writev?(offset: number, buffers: readonly Uint8Array[]): BlockResult | Promise<BlockResult>;
  /** Makes completed writes durable. */
  flush?(): BlockResult | Promise<BlockResult>;
  /**
   * Discards a range (VIRTIO_BLK_T_DISCARD offered only when present).
   * @param offset - byte offset
   * @param length - byte count
   */
  readonly discard?: ((offset: number, length: number) => BlockResult | Promise<BlockResult>) | undefined;
  /**
   * Zeroes a range (VIRTIO_BLK_T_WRITE_ZEROES offered only when present).
   * @param offset - byte offset
   * @param length - byte count
   * @param unmap - the driver allows deallocation
   */
  readonly writeZeroes?: ((offset: number, length: number, unmap: boolean) => BlockResult | Promise<BlockResult>) | undefined;
}

/**
 * Options of {@link MemoryBlockBackend}.
 *
 * @example
 * ```ts
 * const opts: MemoryBlockBackendOptions = { readOnly: true, id: "disk0" };
 * ```
 */
export interface MemoryBlockBackendOptions {
  /** Read-only disk. */
  readonly readOnly?: boolean;
  /** Pretend to have a volatile cache (offer FLUSH). Default false. */
  readonly volatileCache?: boolean;
  /** GET_ID string. */
  readonly id?: string;
  /** Support DISCARD / WRITE_ZEROES. Default true. */
  readonly discard?: boolean;
}

/**
 * A block backend over a `Uint8Array`, synchronous, for tests and small RAM disks.
 *
 * @throws {@link VirtioError} `invalid-argument` when `bytes` is not a Uint8Array.
 * @example
 * ```ts
 * const disk = new MemoryBlockBackend(new Uint8Array(1 << 20), { id: "ramdisk" });
 * const blk = new BlkDevice(disk);
 * ```
 */
export class MemoryBlockBackend implements BlockBackend {
  /** The disk bytes (used in place). */
  readonly bytes: Uint8Array;
  /** Size in bytes. */
  readonly size: number;
  /** Read-only. */
  readonly readOnly: boolean;
  /** Volatile cache. */
  readonly volatileCache: boolean;
  /** GET_ID string. */
  readonly id: string;
  /** Number of flushes served. */
  flushes = 0;
  /** Discard, or undefined when not supported. */
  readonly discard: ((offset: number, length: number) => BlockResult) | undefined;
  /** Write-zeroes, or undefined when not supported. */
  readonly writeZeroes: ((offset: number, length: number, unmap: boolean) => BlockResult) | undefined;

  /** The disk's buffer and offset in it, read once (see `view`). */
  private readonly diskBuffer: ArrayBufferLike;
  private readonly diskOffset: number;

  /**
   * Wraps `bytes` as a disk.
   * @param bytes - the disk content
   * @param options - read-only, cache, id, discard support
   * @throws {@link VirtioError} `invalid-argument` for a non-Uint8Array
   */
  constructor(bytes: Uint8Array, options: MemoryBlockBackendOptions = {}) {
    if (!(bytes instanceof Uint8Array)) throw new VirtioError("invalid-argument", "bytes: expected a Uint8Array");
    this.bytes = bytes;
    this.size = bytes.length;
    this.diskBuffer = bytes.buffer;
    this.diskOffset = bytes.byteOffset;
    this.readOnly = options.readOnly ?? false;
    this.volatileCache = options.volatileCache ?? false;
    this.id = options.id ?? "";
    const zero = (offset: number, length: number): BlockResult => {
      bytes.fill(0, offset, offset + length);
    };
    this.discard = options.discard === false ? undefined : zero;
    this.writeZeroes = options.discard === false ? undefined : zero;
  }

  /**
   * A view of the disk bytes (no copy); the device copies it into guest memory.
   * @param offset - byte offset
   * @param length - byte count
   * @returns a view of `length` bytes at `offset`
   * @example
   * ```ts
   * disk.view(0, 512); // the first sector, live
   * ```
   */
  view(offset: number, length: number): Uint8Array {
    // A fresh view rather than subarray(): half the cost on V8, and this is the request path; over
    // the buffer and offset read once (V8 answers a typed array's `buffer` in C++, ~30 ns).
    return new Uint8Array(this.diskBuffer, this.diskOffset + offset, length);
  }

  /**
   * Copies disk bytes into `out`.
   * @param offset - byte offset
   * @param out - destination
   * @returns nothing (success)
   * @example
   * ```ts
   * disk.read(0, new Uint8Array(512));
   * ```
   */
  read(offset: number, out: Uint8Array): BlockResult {
    const b = this.bytes;
    // A fresh view rather than subarray(): half the cost on V8, and this is the request path.
    out.set(new Uint8Array(b.buffer, b.byteOffset + offset, Math.min(out.length, b.length - offset)));
  }

  /**
   * Copies `data` onto the disk.
   * @param offset - byte offset
   * @param data - source
   * @returns nothing, or IOERR on a read-only disk
   * @example
   * ```ts
   * disk.write(512, new Uint8Array(512).fill(1));
   * ```
   */
  write(offset: number, data: Uint8Array): BlockResult {
    if (this.readOnly) return BlkStatus.IoErr;
    this.bytes.set(data, offset);
  }

  /**
   * Counts the flush (memory is always durable here).
   * @returns nothing
   * @example
   * ```ts
   * disk.flush();
   * ```
   */
  flush(): BlockResult {
    this.flushes++;
  }
}

/**
 * Where the net device delivers received frames; given to {@link FrameBackend.attach}.
 *
 * @example
 * ```ts
 * if (!sink.receive(frame)) pending.push(frame); // the guest has no buffer: keep it
 * ```
 */
export interface FrameSink {
  /**
   * Offers one Ethernet frame (without virtio_net_hdr) to the guest.
   * @param frame - the frame; copied before returning
   * @returns true when consumed, false when the guest has posted no buffer (keep it and retry
   * after {@link FrameBackend.rxReady})
   */
  receive(frame: Uint8Array): boolean;
}

/**
 * A network backend: frames leave the guest through `transmit`; frames reach the guest through
 * the {@link FrameSink} given to `attach`. Receive back-pressure: the sink refuses frames while
 * the guest has posted no buffers, and `rxReady` announces new buffers; a backend drops frames only
 * by its own choice.
 *
 * @example
 * ```ts
 * const backend: FrameBackend = { transmit: (f) => tap.write(f), attach: (s) => (sink = s), rxReady: () => drain() };
 * ```
 */
export interface FrameBackend {
  /**
   * A frame from the guest (without virtio_net_hdr); the array is the backend's to keep, unless
   * {@link FrameBackend.borrowsFrames} says otherwise. The transmit buffer is returned to the guest
   * when the result settles.
   * @param frame - the frame
   */
  transmit(frame: Uint8Array): void | Promise<void>;
  /**
   * True for a backend that is done with each frame when `transmit` returns (it writes or copies
   * the frame at once, as a tap or a socket does). It is then lent the frame without a copy: a
   * view of guest memory when the frame lies in one guest buffer, else a view of a buffer the
   * device reuses for the next frame. Guest memory can change while it is read (a driver on
   * another vCPU): such a backend reads each byte once, or copies first, and never trusts a
   * second read of a field it has checked. Default false: each frame is a new array, a copy the
   * backend may keep.
   */
  readonly borrowsFrames?: boolean;
  /**
   * Receives the device's sink once, at construction.
   * @param sink - where to deliver frames
   */
  attach?(sink: FrameSink): void;
  /** The guest posted receive buffers. */
  rxReady?(): void;
}

/**
 * An in-memory frame backend: transmitted frames are collected, injected frames wait until the
 * guest has buffers.
 *
 * @example
 * ```ts
 * const wire = new MemoryFrameBackend();
 * const net = new NetDevice(wire);
 * wire.inject(frame);        // delivered as soon as the guest posts a buffer
 * wire.transmitted;          // frames the guest sent
 * ```
 */
export class MemoryFrameBackend implements FrameBackend {
  /** Frames the guest transmitted. */
  readonly transmitted: Uint8Array[] = [];
  /** Frames waiting for guest buffers. */
  readonly pending: Uint8Array[] = [];
  /** Frames dropped because `maxPending` was exceeded. */
  dropped = 0;
  /** Most frames kept waiting; beyond it the oldest is dropped (the backend's choice). */
  readonly maxPending: number;
  private sink: FrameSink | undefined;

  /**
   * Creates an empty wire.
   * @param maxPending - frames kept while the guest has no buffers (default unlimited)
   */
  constructor(maxPending: number = Number.POSITIVE_INFINITY) {
    this.maxPending = maxPending;
  }

  /**
   * Collects a frame.
   * @param frame - the frame
   * @example
   * ```ts
   * wire.transmit(new Uint8Array(60));
   * ```
   */
  transmit(frame: Uint8Array): void {
    this.transmitted.push(frame);
  }

  /**
   * Remembers the device's sink.
   * @param sink - the device
   * @example
   * ```ts
   * wire.attach(net);
   * ```
   */
  attach(sink: FrameSink): void {
    this.sink = sink;
  }

  /**
   * Delivers waiting frames.
   * @example
   * ```ts
   * wire.rxReady();
   * ```
   */
  rxReady(): void {
    this.flush();
  }

  /**
   * Queues a frame for the guest and delivers what the guest has room for.
   * @param frame - the frame
   * @example
   * ```ts
   * wire.inject(new Uint8Array(64));
   * ```
   */
  inject(frame: Uint8Array): void {
    this.pending.push(frame);
    while (this.pending.length > this.maxPending) {
      this.pending.shift();
      this.dropped++;
    }
    this.flush();
  }

  private flush(): void {
    const sink = this.sink;
    if (sink === undefined) return;
    while (this.pending.length > 0 && sink.receive(this.pending[0] as Uint8Array)) this.pending.shift();
  }
}

/**
 * Where the console delivers input; given to {@link ByteStreamBackend.attach}.
 *
 * @example
 * ```ts
 * const n = sink.receive(bytes); // bytes.subarray(n) must be offered again later
 * ```
 */
export interface ByteSink {
  /**
   * Offers input bytes to the guest.
   * @param bytes - the input
   * @returns how many leading bytes were consumed (0 when the guest has no buffer)
   */
  receive(bytes: Uint8Array): number;
}

/**
 * A byte-stream backend for the console: output through `write`, input through the
 * {@link ByteSink} given to `attach`, with back-pressure (`rxReady` when the guest posts
 * buffers).
 *
 * @example
 * ```ts
 * const out = new TextDecoder();
 * const stream: ByteStreamBackend = { write: (b) => console.log(out.decode(b)) };
 * ```
 */
export interface ByteStreamBackend {
  /**
   * Output from the guest; the array is the backend's to keep. The buffer returns to the guest
   * when the result settles.
   * @param bytes - the output
   */
  write(bytes: Uint8Array): void | Promise<void>;
  /**
   * Receives the device's sink once, at construction.
   * @param sink - where to deliver input
   */
  attach?(sink: ByteSink): void;
  /** The guest posted receive buffers. */
  rxReady?(): void;
}

/**
 * An in-memory byte stream: output collected, input queued until the guest has buffers.
 *
 * @example
 * ```ts
 * const tty = new MemoryByteStream();
 * const con = new ConsoleDevice(tty);
 * tty.type("ls\n");
 * tty.text(); // what the guest printed
 * ```
 */
export class MemoryByteStream implements ByteStreamBackend {
  /** Output chunks from the guest. */
  readonly output: Uint8Array[] = [];
  private input: Uint8Array = new Uint8Array(0);
  private sink: ByteSink | undefined;

  /**
   * Collects output.
   * @param bytes - output bytes
   * @example
   * ```ts
   * tty.write(new Uint8Array([0x41]));
   * ```
   */
  write(bytes: Uint8Array): void {
    this.output.push(bytes);
  }

  /**
   * Remembers the device's sink.
   * @param sink - the device
   * @example
   * ```ts
   * tty.attach(con);
   * ```
   */
  attach(sink: ByteSink): void {
    this.sink = sink;
  }

  /**
   * Delivers pending input.
   * @example
   * ```ts
   * tty.rxReady();
   * ```
   */
  rxReady(): void {
    this.flush();
  }

  /**
   * Bytes still waiting for guest buffers.
   * @example
   * ```ts
   * tty.pendingInput; // 0 once the guest read everything
   * ```
   */
  get pendingInput(): number {
    return this.input.length;
  }

  /**
   * Queues input bytes (or UTF-8 text) for the guest.
   * @param data - bytes or a string
   * @example
   * ```ts
   * tty.type("hello\n");
   * ```
   */
  type(data: Uint8Array | string): void {
    const b = typeof data === "string" ? utf8(data) : data;
    const next = new Uint8Array(this.input.length + b.length);
    next.set(this.input);
    next.set(b, this.input.length);
    this.input = next;
    this.flush();
  }

  /**
   * All output so far, decoded as UTF-8.
   * @returns the text
   * @example
   * ```ts
   * tty.text();
   * ```
   */
  text(): string {
    let n = 0;
    for (const c of this.output) n += c.length;
    const all = new Uint8Array(n);
    let o = 0;
    for (const c of this.output) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder().decode(all);
  }

  private flush(): void {
    const sink = this.sink;
    if (sink === undefined || this.input.length === 0) return;
    const n = sink.receive(this.input);
    if (n > 0) this.input = this.input.slice(n);
  }
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * A source of entropy for the rng device: fills `out` completely, synchronously or through a
 * Promise.
 *
 * @example
 * ```ts
 * const fixed: EntropySource = (out) => out.fill(4); // chosen by fair dice roll
 * ```
 */
export type EntropySource = (out: Uint8Array) => void | Promise<void>;

interface CryptoLike {
  getRandomValues(a: Uint8Array): Uint8Array;
}

/**
 * The default entropy source: `crypto.getRandomValues` (present in browsers and Node 20), called
 * in 64 KiB pieces (its per-call limit).
 *
 * @param out - buffer to fill
 * @throws {@link VirtioError} `invalid-argument` when no `crypto.getRandomValues` exists
 * @example
 * ```ts
 * const rng = new RngDevice({ source: cryptoEntropy });
 * ```
 */
export function cryptoEntropy(out: Uint8Array): void {
  const c = (globalThis as unknown as { crypto?: CryptoLike }).crypto;
  if (c === undefined || typeof c.getRandomValues !== "function") {
    throw new VirtioError("invalid-argument", "crypto.getRandomValues: not available; pass an entropy source");
  }
  for (let o = 0; o < out.length; o += 65536) c.getRandomValues(out.subarray(o, Math.min(out.length, o + 65536)));
}
