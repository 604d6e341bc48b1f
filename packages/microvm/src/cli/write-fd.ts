/**
 * The CLI's own output: write(2) on fd 1 or 2, used by the bin for `--version` and by the command
 * line for everything else.
 *
 * @module
 */
import { writeSync } from "node:fs";

/**
 * Writes all of `text` to fd 1 or 2 with write(2), so that a short command (--version, --help,
 * --info-mtree) never creates process.stdout: that stream loads Node's net, stream and tty modules
 * (~1 MiB and a few ms of start-up). The stream takes over only if the fd would block; a reader
 * that has gone (EPIPE) ends the output quietly; any other error is thrown.
 *
 * @param fd - 1 (stdout) or 2 (stderr)
 * @param text - what to write
 * @example
 * ```ts
 * writeFd(1, "microvm 0.1.0\n");
 * ```
 */
export function writeFd(fd: 1 | 2, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPIPE") return; // the reader has gone (`microvm --help | head -1`)
    if (code !== "EAGAIN") throw e;
    (fd === 1 ? process.stdout : process.stderr).write(buf.subarray(off));
  }
}
