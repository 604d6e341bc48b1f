import { closeSync, fstatSync, openSync } from "node:fs";
import { MicrovmError } from "../errors.js";
import { FdBlockBackend } from "./fd-block-backend.js";

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
 * A raw disk image file as a virtio-blk backend, for the I/O thread: it opens the file and serves
 * it as {@link FdBlockBackend} does (positional reads and writes, FLUSH as `fdatasync`, so a
 * completed FLUSH means the bytes are on the disk; a volatile write cache is advertised, so the
 * guest flushes). The serial number it reports is the file name (at most 20 bytes). It takes no
 * lock: the CLI opens and locks images itself (QEMU-compatible OFD locks) and hands the fd over.
 *
 * @example
 * ```ts
 * const disk = new FileBlockBackend("/var/lib/vm/root.img");
 * const blk = new BlkDevice(disk);
 * ```
 */
export class FileBlockBackend extends FdBlockBackend {
  private open: boolean;
  private readonly file: number;

  /**
   * Opens the image.
   *
   * @param path - the file
   * @param options - read-only or not
   * @throws MicrovmError `not-found` when it cannot be opened, with the cause
   */
  constructor(path: string, options: FileBlockBackendOptions = {}) {
    const readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = openSync(path, readOnly ? "r" : "r+");
    } catch (e) {
      throw new MicrovmError("not-found", `drive ${path}: cannot open ${readOnly ? "for reading" : "for reading and writing"}: ${(e as Error).message}`, { cause: e });
    }
    super(fd, { size: fstatSync(fd).size, readOnly, id: path.replace(/^.*\//, "") });
    this.file = fd;
    this.open = true;
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
    if (this.open) closeSync(this.file);
    this.open = false;
  }
}
