import { fdatasyncSync, readSync, writeSync } from "node:fs";
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
