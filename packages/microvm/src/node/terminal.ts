/**
 * Terminal modes for `-serial stdio` and `-chardev stdio`: raw mode while the guest owns the
 * terminal, and the saved mode put back on every way out (normal end, error, signal, uncaught
 * exception). Only SIGKILL cannot be caught, as for any program.
 */
import { MicrovmError } from "../errors.js";
import { describeErrno, libc } from "./libc.js";

// struct termios (glibc, x86_64; bits/termios-struct.h): c_iflag @0, c_oflag @4, c_cflag @8,
// c_lflag @12, c_line @16, c_cc[32] @17, c_ispeed @52, c_ospeed @56: 60 bytes.
const TERMIOS_SIZE = 60;
const CC = 17;
// bits/termios-c_iflag.h, -c_oflag.h, -c_cflag.h, -c_lflag.h, -c_cc.h (octal, as the headers).
const IGNBRK = 0o1, BRKINT = 0o2, PARMRK = 0o10, ISTRIP = 0o40, INLCR = 0o100, IGNCR = 0o200, ICRNL = 0o400, IXON = 0o2000;
const OPOST = 0o1;
const CSIZE = 0o60, CS8 = 0o60, PARENB = 0o400;
const ISIG = 0o1, ICANON = 0o2, ECHO = 0o10, ECHONL = 0o100, IEXTEN = 0o100000;
const VTIME = 5, VMIN = 6;
/** tcsetattr `when`: TCSANOW 0 (bits/termios-tcflow.h). */
const TCSANOW = 0;

/**
 * Reads a terminal's mode.
 *
 * @param fd - the terminal
 * @returns the raw `struct termios` bytes, or undefined when `fd` is not a terminal
 * @example
 * ```ts
 * const saved = getTermios(0);
 * ```
 */
export function getTermios(fd: number): Uint8Array | undefined {
  const t = new Uint8Array(TERMIOS_SIZE + 4);
  return libc().tcgetattr(fd, t) < 0 ? undefined : t;
}

/**
 * Sets a terminal's mode now (`TCSANOW`).
 *
 * @param fd - the terminal
 * @param termios - bytes from {@link getTermios}
 * @returns 0, or -errno
 * @example
 * ```ts
 * setTermios(0, saved);
 * ```
 */
export function setTermios(fd: number, termios: Uint8Array): number {
  return libc().tcsetattr(fd, TCSANOW, termios);
}

/**
 * A raw copy of a mode, as QEMU's stdio chardev sets it (chardev/char-stdio.c,
 * qemu_chr_set_echo_stdio): no input translation, flow control, echo or line editing; 8-bit
 * characters; reads return as soon as one byte is there. Output post-processing (OPOST, so "\n"
 * goes out as "\r\n") stays on, and so does ISIG unless `signals` is false, so that Ctrl-C still
 * ends the VMM as it ends QEMU (`signal=on` is QEMU's default).
 *
 * @param termios - the current mode
 * @param signals - keep ISIG (Ctrl-C, Ctrl-\ send signals); default true
 * @returns the raw mode
 * @example
 * ```ts
 * setTermios(0, rawTermios(getTermios(0)!));
 * ```
 */
export function rawTermios(termios: Uint8Array, signals = true): Uint8Array {
  const t = termios.slice();
  const v = new DataView(t.buffer);
  const upd = (off: number, f: (x: number) => number): void => v.setUint32(off, f(v.getUint32(off, true)) >>> 0, true);
  upd(0, (x) => x & ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON));
  upd(4, (x) => x | OPOST);
  upd(8, (x) => (x & ~(CSIZE | PARENB)) | CS8);
  upd(12, (x) => (x & ~(ECHO | ECHONL | ICANON | IEXTEN | (signals ? 0 : ISIG))) | (signals ? ISIG : 0));
  t[CC + VMIN] = 1;
  t[CC + VTIME] = 0;
  return t;
}

/**
 * `cfmakeraw(3)` on a mode: fully raw, output included (for a pty's slave side, where a program
 * such as `screen` decides the mode).
 *
 * @param termios - the current mode
 * @returns the raw mode
 * @example
 * ```ts
 * setTermios(slave, cfmakeraw(getTermios(slave)!));
 * ```
 */
export function cfmakeraw(termios: Uint8Array): Uint8Array {
  const t = rawTermios(termios, false);
  const v = new DataView(t.buffer);
  v.setUint32(4, v.getUint32(4, true) & ~OPOST, true);
  return t;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;
const SIGNUM: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** A terminal in raw mode; {@link RawTerminal.restore} puts the saved mode back. */
export interface RawTerminal {
  /** Puts the saved mode back (idempotent). */
  restore(): void;
}

/**
 * Puts `fd` (a terminal) in raw mode ({@link rawTermios}) and arranges for its saved mode to come
 * back on every exit path of this process: `restore()`, the process `exit` event (normal ends,
 * `process.exit`, uncaught exceptions), and SIGINT/SIGTERM/SIGHUP/SIGQUIT, for which `onSignal`
 * is called after the mode is restored (it should end the process). A `fd` that is not a
 * terminal is left alone.
 *
 * @param fd - the terminal (usually 0)
 * @param onSignal - called with the signal's name and number after a restore
 * @returns the handle, or undefined when `fd` is not a terminal
 * @throws MicrovmError `invalid-argument` when the terminal refuses the mode
 * @example
 * ```ts
 * const term = enterRawMode(0, (name, n) => process.exit(128 + n));
 * // … run the guest …
 * term?.restore();
 * ```
 */
export function enterRawMode(fd: number, onSignal: (name: string, signo: number) => void): RawTerminal | undefined {
  const saved = getTermios(fd);
  if (!saved) return undefined;
  let active = true;
  const restore = (): void => {
    if (!active) return;
    active = false;
    setTermios(fd, saved);
    process.removeListener("exit", restore);
    for (const s of SIGNALS) process.removeListener(s, handlers[s]);
  };
  const handlers = Object.fromEntries(
    SIGNALS.map((s) => [
      s,
      () => {
        restore();
        onSignal(s, SIGNUM[s]);
      },
    ]),
  ) as Record<(typeof SIGNALS)[number], () => void>;
  process.on("exit", restore);
  for (const s of SIGNALS) process.on(s, handlers[s]);
  const r = setTermios(fd, rawTermios(saved));
  if (r < 0) {
    restore();
    throw new MicrovmError("invalid-argument", `stdio: cannot set raw mode on fd ${fd}: ${describeErrno(-r)}`);
  }
  return { restore };
}
