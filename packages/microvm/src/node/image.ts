/**
 * Raw disk images for `-drive`: opened and locked on the main thread with the same open file
 * description locks QEMU takes, so that a microvm and a QEMU (or two microvms) never both write
 * one image. The fd then goes to the I/O thread, which reads and writes it with pread/pwrite.
 *
 * QEMU's scheme (block/file-posix.c, raw_apply_lock_bytes / raw_check_lock_bytes, with
 * RAW_LOCK_PERM_BASE 100 and RAW_LOCK_SHARED_BASE 200; the permission bits are include/block/
 * block-common.h BLK_PERM_CONSISTENT_READ = bit 0, BLK_PERM_WRITE = bit 1, …):
 * - for each permission a user *holds*, it takes a shared (F_RDLCK) OFD lock on byte 100 + bit;
 * - for each permission it does *not share* with others, a shared lock on byte 200 + bit;
 * - it then tests (F_OFD_GETLK with F_WRLCK, i.e. "is any other open file description holding a
 *   lock here?") byte 200 + bit for each permission it wants, and byte 100 + bit for each one it
 *   does not share. A lock found means a conflict.
 *
 * A QEMU virtio-blk drive holds CONSISTENT_READ (and WRITE unless read-only) and does not share
 * WRITE (hw/block/block.c blkconf_apply_backend_options: shared = CONSISTENT_READ |
 * WRITE_UNCHANGED | RESIZE). We do the same: a writer locks 100, 101, 201 and tests 200, 201,
 * 101; a reader locks 100, 201 and tests 200, 101. So a writer excludes every other writer and
 * reader, readers coexist, exactly as between two QEMUs.
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { MicrovmError } from "../errors.js";
import { describeErrno, libc } from "./libc.js";

// include/uapi/asm-generic/fcntl.h: F_OFD_GETLK 36, F_OFD_SETLK 37; F_RDLCK 0, F_WRLCK 1, F_UNLCK 2.
const F_OFD_GETLK = 36;
const F_OFD_SETLK = 37;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const SEEK_SET = 0;
// struct flock on x86_64: l_type i16 @0, l_whence i16 @2, l_start i64 @8, l_len i64 @16, l_pid i32 @24; 32 bytes.
const FLOCK_SIZE = 32;

const PERM_BASE = 100;
const SHARED_BASE = 200;
const PERM_CONSISTENT_READ = 0;
const PERM_WRITE = 1;
const PERM_NAMES = ["consistent read", "write"] as const;

function flock(type: number, start: number): Uint8Array {
  const b = new Uint8Array(FLOCK_SIZE);
  const v = new DataView(b.buffer);
  v.setInt16(0, type, true);
  v.setInt16(2, SEEK_SET, true);
  v.setBigInt64(8, BigInt(start), true);
  v.setBigInt64(16, 1n, true); // one byte
  v.setInt32(24, 0, true); // l_pid must be 0 for OFD locks (fcntl(2))
  return b;
}

/** Takes a shared OFD lock on one byte; returns -errno on failure. */
function lockByte(fd: number, byte: number): number {
  return libc().fcntlPtr(fd, F_OFD_SETLK, flock(F_RDLCK, byte));
}

/** Whether another open file description holds any lock on `byte`. */
function byteLockedByOthers(fd: number, byte: number): boolean {
  const b = flock(F_WRLCK, byte);
  const r = libc().fcntlPtr(fd, F_OFD_GETLK, b);
  if (r < 0) return false; // a filesystem without OFD locks: QEMU then proceeds unlocked too
  return new DataView(b.buffer).getInt16(0, true) !== F_UNLCK;
}

/**
 * Applies QEMU's image locks to an open image.
 *
 * @param fd - the image, opened read-only or read-write
 * @param path - its path, for messages
 * @param readOnly - whether this user only reads
 * @throws MicrovmError `state` when another process (a QEMU or a microvm) holds a conflicting lock
 * @example
 * ```ts
 * lockImage(fd, "disk.img", false);
 * ```
 */
export function lockImage(fd: number, path: string, readOnly: boolean): void {
  const perms = readOnly ? [PERM_CONSISTENT_READ] : [PERM_CONSISTENT_READ, PERM_WRITE];
  const unshared = [PERM_WRITE];
  for (const p of perms) {
    const r = lockByte(fd, PERM_BASE + p);
    if (r < 0 && -r !== 22 /* EINVAL: no OFD lock support */) throw new MicrovmError("state", `drive ${path}: cannot lock byte ${PERM_BASE + p}: ${describeErrno(-r)}`);
  }
  for (const p of unshared) lockByte(fd, SHARED_BASE + p);
  for (const p of perms) {
    if (byteLockedByOthers(fd, SHARED_BASE + p)) {
      throw new MicrovmError("state", `drive ${path}: failed to get ${readOnly ? "shared " : ""}"${PERM_NAMES[p]}" lock: another process (a QEMU or a microvm) is using the image`);
    }
  }
  for (const p of unshared) {
    if (byteLockedByOthers(fd, PERM_BASE + p)) {
      throw new MicrovmError("state", `drive ${path}: failed to get ${readOnly ? "shared " : ""}"${PERM_NAMES[p]}" lock: another process (a QEMU or a microvm) is writing the image`);
    }
  }
}

/** An open, locked raw image. */
export interface OpenImage {
  /** The fd (locks live as long as it, or a copy of it, is open). */
  readonly fd: number;
  /** Its size in bytes. */
  readonly size: number;
  /** Opened read-only. */
  readonly readOnly: boolean;
  /** Closes it, which drops the locks. */
  close(): void;
}

/**
 * Opens a raw image for a virtio-blk drive and locks it as QEMU does ({@link lockImage}).
 *
 * @param path - the image file
 * @param readOnly - open read-only (`readonly=on`)
 * @returns the open image
 * @throws MicrovmError `not-found` when it is missing or unreadable, `invalid-argument` when it is
 *   not a regular file or block device of at least 512 bytes, `state` when it is locked
 * @example
 * ```ts
 * const img = openImage("test.img", false);
 * ```
 */
export function openImage(path: string, readOnly: boolean): OpenImage {
  let fd: number;
  try {
    fd = openSync(path, readOnly ? constants.O_RDONLY : constants.O_RDWR);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new MicrovmError("not-found", `drive ${path}: cannot open ${readOnly ? "for reading" : "for reading and writing"}: ${err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "is a directory (expected a raw image file)" : err.message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new MicrovmError("invalid-argument", `drive ${path}: is a directory`);
    lockImage(fd, path, readOnly);
    const size = st.size;
    if (size < 512) throw new MicrovmError("invalid-argument", `drive ${path}: ${size} bytes; a raw image holds at least one 512-byte sector`);
    let open = true;
    return {
      fd,
      size,
      readOnly,
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
