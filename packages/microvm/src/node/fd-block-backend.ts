import { fdatasyncSync, readSync, readvSync, writeSync, writevSync } from "node:fs";
import type { BlockBackend, BlockResult } from "@microvm/virtio-mmio";

/**
 * Options of {@link FdBlockBackend}.
 *
 * @example
 * ```ts
 * const options: FdBlockBackendOptions = { size: fstatSync(fd).size, readOnly: true, id: "root" };
 * ```
 */
export interface FdBlockBackendOptions {
  /** Size in bytes (the capacity offered is `floor(size / 512)` sectors). */
  readonly size: number;
  /** Refuse writes (VIRTIO_BLK_F_RO). */
  readonly readOnly?: boolean;
  /** The GET_ID serial (at most 20 bytes). */
  readonly id?: string;
}

/**
 * A virtio-blk backend over an already open (and locked) raw image fd, for the I/O thread:
 * `pread`/`pwrite` through Node's synchronous positional fs calls, FLUSH as `fdatasync(2)`, so a
 * completed FLUSH means the bytes are on the disk (virtio 1.2 §5.2.6.2). The fd is opened, locked
 * and closed by its owner on the main thread (the CLI's `openImage`, which also takes QEMU-compatible image locks); fds are process-wide.
 *
 * @example
 * ```ts
 * const blk = new BlkDevice(new FdBlockBackend(fd, { size: 1 << 20 }));
 * ```
 */
export class FdBlockBackend implements BlockBackend {
  /** Capacity in bytes. */
  readonly size: number;
  /** Whether writes are refused. */
  readonly readOnly: boolean;
  /** Writes sit in the page cache until FLUSH: FLUSH is offered. */
  readonly volatileCache: boolean = true;
  /** The serial number. */
  readonly id: string;
  private readonly fd: number;

  /**
   * Wraps an fd.
   *
   * @param fd - the image, open for reading (and writing unless read-only)
   * @param options - size, read-only, serial
   */
  constructor(fd: number, options: FdBlockBackendOptions) {
    this.fd = fd;
    this.size = Math.floor(options.size / 512) * 512;
    this.readOnly = options.readOnly ?? false;
    this.id = (options.id ?? "").slice(0, 20);
  }

  /**
   * Reads `out.length` bytes at `offset` (zeros past the end of the file).
   *
   * @param offset - byte offset
   * @param out - destination
   * @returns nothing on success
   * @example
   * ```ts
   * disk.read(0, sector);
   * ```
   */
  read(offset: number, out: Uint8Array): BlockResult {
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, offset + done);
      if (n === 0) {
        out.fill(0, done);
        break;
      }
      done += n;
    }
  }

  /**
   * Writes `data` at `offset`.
   *
   * @param offset - byte offset
   * @param data - the bytes
   * @returns nothing on success
   * @example
   * ```ts
   * disk.write(512, sector);
   * ```
   */
  write(offset: number, data: Uint8Array): BlockResult {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  /**
   * Reads consecutive bytes from `offset` into `buffers`, in order, with one `preadv(2)` (the
   * request whose data is in many guest buffers); zeros past the end of the file.
   *
   * @param offset - byte offset
   * @param buffers - destinations
   * @returns nothing on success
   * @example
   * ```ts
   * disk.readv(0, [page0, page1]);
   * ```
   */
  readv(offset: number, buffers: readonly Uint8Array[]): BlockResult {
    vectored(this.fd, offset, buffers, readvSync, (o, b) => this.read(o, b));
  }

  /**
   * Writes `buffers`, in order, at `offset` with one `pwritev(2)`.
   *
   * @param offset - byte offset
   * @param buffers - the bytes
   * @returns nothing on success
   * @example
   * ```ts
   * disk.writev(4096, [page0, page1]);
   * ```
   */
  writev(offset: number, buffers: readonly Uint8Array[]): BlockResult {
    vectored(this.fd, offset, buffers, writevSync, (o, b) => this.write(o, b));
  }

  /**
   * Makes completed writes durable (`fdatasync`).
   *
   * @returns nothing on success
   * @example
   * ```ts
   * disk.flush();
   * ```
   */
  flush(): BlockResult {
    fdatasyncSync(this.fd);
  }
}

/** The most buffers one preadv/pwritev takes (IOV_MAX, limits.h / UIO_MAXIOV). */
const IOV_MAX = 1024;

/**
 * `buffers` at `offset` through `sys` (readvSync or writevSync), at most IOV_MAX buffers a call;
 * what a short transfer (the end of the file, a signal) leaves goes through `one`, a buffer at a
 * time.
 */
function vectored(fd: number, offset: number, buffers: readonly Uint8Array[], sys: (fd: number, buffers: Uint8Array[], position: number) => number, one: (offset: number, part: Uint8Array) => void): void {
  let at = offset;
  for (let i = 0; i < buffers.length; i += IOV_MAX) {
    const part = buffers.length <= IOV_MAX ? (buffers as Uint8Array[]) : buffers.slice(i, i + IOV_MAX);
    const n = sys(fd, part, at);
    const len = totalLength(part);
    if (n < len) eachFrom(part, n, at, one);
    at += len;
  }
}

function totalLength(buffers: readonly Uint8Array[]): number {
  let t = 0;
  for (const b of buffers) t += b.length;
  return t;
}

/** Calls `f` for what of `buffers` lies past their first `done` bytes, with its disk offset. */
function eachFrom(buffers: readonly Uint8Array[], done: number, offset: number, f: (offset: number, part: Uint8Array) => void): void {
  let pos = 0;
  for (const b of buffers) {
    const end = pos + b.length;
    if (end > done) f(offset + Math.max(pos, done), b.subarray(Math.max(0, done - pos)));
    pos = end;
  }
}
