import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import type { BlockBackend, BlockResult } from "@microvm/virtio-mmio";
import { MicrovmError } from "./errors.js";

/**
 * Options of {@link FileBlockBackend}.
 *
 * @example
 * ```ts
 * const disk = new FileBlockBackend("root.img", { readOnly: true } satisfies FileBlockBackendOptions);
 * ```
 */
export interface FileBlockBackendOptions {
  /** Open read-only; the device then refuses writes (VIRTIO_BLK_F_RO). */
  readonly readOnly?: boolean;
}

/**
 * A raw disk image file as a virtio-blk backend, for the I/O thread: positional reads and writes
 * (`pread`/`pwrite` through Node's synchronous fs calls, which never block the guest's vCPUs since
 * they run on the I/O thread), and FLUSH as `fdatasync`, so that a completed FLUSH means the bytes
 * are on the disk. The device advertises a volatile write cache, so the guest flushes.
 *
 * @example
 * ```ts
 * const disk = new FileBlockBackend("/var/lib/vm/root.img");
 * const blk = new BlkDevice(disk);
 * ```
 */
export class FileBlockBackend implements BlockBackend {
  /** Capacity in bytes (the file's size, rounded down to 512). */
  readonly size: number;
  /** Whether writes are refused. */
  readonly readOnly: boolean;
  /** Writes may sit in the page cache until FLUSH. */
  readonly volatileCache: boolean = true;
  /** The serial number the device reports (the file name, at most 20 bytes). */
  readonly id: string;
  private fd: number;

  /**
   * Opens the image.
   *
   * @param path - the file
   * @param options - read-only or not
   * @throws MicrovmError `not-found` when it cannot be opened, with the cause
   */
  constructor(path: string, options: FileBlockBackendOptions = {}) {
    this.readOnly = options.readOnly ?? false;
    try {
      this.fd = openSync(path, this.readOnly ? "r" : "r+");
    } catch (e) {
      throw new MicrovmError("not-found", `drive ${path}: cannot open ${this.readOnly ? "for reading" : "for reading and writing"}: ${(e as Error).message}`, { cause: e });
    }
    this.size = Math.floor(fstatSync(this.fd).size / 512) * 512;
    this.id = path.replace(/^.*\//, "").slice(0, 20);
  }

  /**
   * Reads `out.length` bytes at `offset`.
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
        out.fill(0, done); // past the end of a sparse image: zeros
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
   * Makes every completed write durable (`fdatasync`).
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

  /**
   * Closes the file.
   *
   * @example
   * ```ts
   * disk.close();
   * ```
   */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
