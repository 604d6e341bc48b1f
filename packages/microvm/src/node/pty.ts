/**
 * Pseudo-terminals for `-chardev pty`: the guest's console on a new `/dev/pts/N`, whose path is
 * printed as QEMU prints it (chardev/char-pty.c: `char device redirected to %s (label %s)`).
 */
import { closeSync, constants, openSync } from "node:fs";
import { MicrovmError } from "../errors.js";
import { describeErrno, libc } from "./libc.js";
import { cfmakeraw, getTermios, setTermios } from "./terminal.js";

// include/uapi/asm-generic/ioctls.h: TIOCGPTN _IOR('T', 0x30, unsigned int), TIOCSPTLCK _IOW('T', 0x31, int).
const TIOCGPTN = 0x80045430;
const TIOCSPTLCK = 0x40045431;

/** An open pty pair. */
export interface Pty {
  /** The master side (non-blocking): the VMM writes the guest's output here and reads its input. */
  readonly master: number;
  /** The slave side's path, for a terminal program (`screen /dev/pts/N`). */
  readonly path: string;
  /** Closes both sides. */
  close(): void;
}

/**
 * Opens a pty: the master from `/dev/ptmx` (pty(7), Documentation/filesystems/devpts.rst),
 * unlocked, with its slave in raw mode (as QEMU's qemu_openpty_raw does).
 *
 * The master is non-blocking, so output nobody reads is dropped once the pty's buffer is full: the
 * guest never stalls on an unread console. The process keeps its own slave fd open, so the master
 * never reports a hang-up while no terminal program is attached, and reads just wait for input.
 *
 * @returns the pty
 * @throws MicrovmError `not-found` when no pty can be allocated
 * @example
 * ```ts
 * const pty = openPty();
 * console.error(`char device redirected to ${pty.path} (label con0)`);
 * ```
 */
export function openPty(): Pty {
  let master: number;
  try {
    master = openSync("/dev/ptmx", constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (e) {
    throw new MicrovmError("not-found", `chardev pty: cannot open /dev/ptmx: ${(e as Error).message}`, { cause: e });
  }
  let slave = -1;
  try {
    const c = libc();
    const zero = new Uint8Array(4);
    const u = c.ioctlPtr(master, TIOCSPTLCK, zero);
    if (u < 0) throw new MicrovmError("not-found", `chardev pty: unlocking the pty: ${describeErrno(-u)}`);
    const n = new Uint8Array(4);
    const g = c.ioctlPtr(master, TIOCGPTN, n);
    if (g < 0) throw new MicrovmError("not-found", `chardev pty: TIOCGPTN: ${describeErrno(-g)}`);
    const path = `/dev/pts/${new DataView(n.buffer).getUint32(0, true)}`;
    slave = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
    const t = getTermios(slave);
    if (t) setTermios(slave, cfmakeraw(t));
    let open = true;
    const s = slave;
    return {
      master,
      path,
      close() {
        if (!open) return;
        open = false;
        closeSync(s);
        closeSync(master);
      },
    };
  } catch (e) {
    if (slave >= 0) closeSync(slave);
    closeSync(master);
    throw e;
  }
}
