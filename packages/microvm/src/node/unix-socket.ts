/**
 * Unix stream sockets with file descriptors attached (SCM_RIGHTS), which Node's `net` cannot
 * receive: a listener, a connection, and messages read or written together with the fds that
 * travel with them, as vhost-user passes guest memory, kick and call eventfds (QEMU
 * docs/interop/vhost-user.rst, "Communication"). The message headers (`struct msghdr`,
 * `struct iovec`, `struct cmsghdr`) are built in one page of native memory per socket, at the
 * x86_64 Linux offsets (include/linux/socket.h, include/uapi/linux/uio.h).
 *
 * @internal
 */
import { closeSync, lstatSync, readSync, unlinkSync, writeSync } from "node:fs";
import { MicrovmError } from "../errors.js";
import { ERRNO, describeErrno, libc } from "./libc.js";

/** AF_UNIX, SOCK_STREAM, SOCK_NONBLOCK, SOCK_CLOEXEC (include/linux/socket.h, net.h). */
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** SOL_SOCKET, SCM_RIGHTS; MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC. */
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** The most fds one received message may carry (vhost-user's largest: 8 memory regions; Linux's SCM_MAX_FD is 253). */
export const MAX_FDS = 16;
/** The most fds {@link FdSocket.send} attaches (what fits the page's control area). */
const SEND_MAX_FDS = 200;

/** One page: msghdr at 0, iovec at 64, cmsg at 128 (16-byte header + fds), data from 1024. */
const PAGE = 4096;
const IOV_AT = 64;
const CMSG_AT = 128;
const CMSG_SPACE = 16 + ((MAX_FDS * 4 + 7) & ~7);
const DATA_AT = 1024;
/** The most bytes one call moves through the native page. */
export const MAX_CHUNK: number = PAGE - DATA_AT;

function fail(what: string, errno: number): MicrovmError {
  return new MicrovmError("backend", `${what}: ${describeErrno(errno)}`);
}

/** `struct sockaddr_un` for a path (108 bytes of path, NUL-terminated). */
function sockaddr(path: string): Uint8Array {
  const p = new TextEncoder().encode(path);
  if (p.length >= 108) throw new MicrovmError("invalid-argument", `socket path: expected at most 107 bytes, got ${p.length} (${path})`);
  const b = new Uint8Array(110);
  new DataView(b.buffer).setUint16(0, AF_UNIX, true);
  b.set(p, 2);
  return b;
}

/**
 * A listening unix socket at a path (created, and removed again by {@link UnixListener.close}).
 *
 * @example
 * ```ts
 * const l = UnixListener.listen("/run/user/1000/vhost.sock");
 * const fd = l.accept(); // undefined until a peer connects
 * ```
 */
export class UnixListener {
  private closed = false;

  private constructor(
    /** The listening fd (non-blocking). */
    readonly fd: number,
    /** Its path. */
    readonly path: string,
  ) {}

  /**
   * Listens at `path`, which must not exist, or be a socket nobody listens on any more (what a
   * killed back-end leaves behind), which is replaced.
   *
   * @param path - the socket's path
   * @returns the listener
   * @throws MicrovmError `backend` naming the call and errno (e.g. the path exists)
   */
  static listen(path: string): UnixListener {
    const c = libc();
    const addr = sockaddr(path);
    const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw fail("socket(AF_UNIX)", -fd);
    let r = c.bind(fd, addr, addr.length);
    let why = "";
    if (r === -ERRNO.EADDRINUSE) {
      const state = socketState(path);
      if (state === "stale") {
        // Left by a back-end that died (SIGKILL, a crash): nobody listens there any more, so it is
        // replaced, and a front-end that reconnects (QEMU's reconnect=) finds the new one.
        unlinkSync(path);
        r = c.bind(fd, addr, addr.length);
      } else why = state === "live" ? " (another process is listening there)" : " (the path exists and is not a socket)";
    }
    if (r < 0) {
      closeSync(fd);
      throw fail(`bind ${path}${why}`, -r);
    }
    r = c.listen(fd, 1);
    if (r < 0) {
      closeSync(fd);
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
      throw fail(`listen ${path}`, -r);
    }
    return new UnixListener(fd, path);
  }

  /**
   * Takes a pending connection.
   *
   * @returns the connection's fd (blocking, close-on-exec), or undefined when none is pending
   * @throws MicrovmError `backend` for another failure
   */
  accept(): number | undefined {
    const fd = libc().accept4(this.fd, SOCK_CLOEXEC);
    if (fd === -ERRNO.EAGAIN) return undefined;
    if (fd < 0) throw fail(`accept ${this.path}`, -fd);
    return fd;
  }

  /** Closes the socket and removes its path. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // removed by someone else
    }
  }
}

/**
 * Connects to a unix socket at `path`.
 *
 * @param path - the socket's path
 * @returns the connection's fd (blocking, close-on-exec)
 * @throws MicrovmError `backend` naming the path and errno
 */
export function connectUnix(path: string): number {
  const c = libc();
  const addr = sockaddr(path);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail("socket(AF_UNIX)", -fd);
  const r = c.connect(fd, addr, addr.length);
  if (r < 0) {
    closeSync(fd);
    throw fail(`connect ${path}`, -r);
  }
  return fd;
}

/**
 * What is at `path`: a unix socket someone listens on (`live`), one nobody listens on any more
 * (`stale`: a connection is refused), or something else.
 *
 * @param path - the path
 * @returns the state
 */
function socketState(path: string): "live" | "stale" | "other" {
  try {
    if (!lstatSync(path).isSocket()) return "other"; // a file of something else is never removed
  } catch {
    return "other";
  }
  const c = libc();
  const addr = sockaddr(path);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "other";
  try {
    const r = c.connect(fd, addr, addr.length);
    return r === 0 ? "live" : r === -ERRNO.ECONNREFUSED ? "stale" : "other";
  } finally {
    closeSync(fd);
  }
}

/**
 * A connected unix socket that reads and writes bytes with the fds that travel with them.
 *
 * @example
 * ```ts
 * const s = new FdSocket(fd);
 * const m = s.receive(12); // { bytes, fds } | "again" | "eof"
 * ```
 */
export class FdSocket {
  private readonly page: bigint;
  private readonly mem: Uint8Array;
  private readonly dv: DataView;
  private closed = false;

  /**
   * @param fd - a connected unix stream socket; the FdSocket owns it from now on
   */
  constructor(readonly fd: number) {
    const c = libc();
    // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS (asm-generic/mman-common.h)
    const page = c.mmap(PAGE, 3, 0x22, -1, 0);
    if (page < 0n) throw fail("mmap", Number(-page));
    this.page = page;
    this.mem = new Uint8Array(c.view(page, PAGE));
    this.dv = new DataView(this.mem.buffer, this.mem.byteOffset, PAGE);
  }

  /** Fills in the msghdr for `len` data bytes and `fds` control space. */
  private header(len: number, controlLen: number): void {
    const v = this.dv;
    this.mem.fill(0, 0, DATA_AT);
    // struct msghdr: name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48
    v.setBigUint64(16, this.page + BigInt(IOV_AT), true);
    v.setBigUint64(24, 1n, true);
    if (controlLen > 0) {
      v.setBigUint64(32, this.page + BigInt(CMSG_AT), true);
      v.setBigUint64(40, BigInt(controlLen), true);
    }
    // struct iovec: base 0, len 8
    v.setBigUint64(IOV_AT, this.page + BigInt(DATA_AT), true);
    v.setBigUint64(IOV_AT + 8, BigInt(len), true);
  }

  /**
   * Reads up to `max` bytes (at most {@link MAX_CHUNK}) and the fds that came with them. Without
   * `wait`, returns "again" when nothing is there.
   *
   * @param max - the most bytes to read
   * @param wait - block until something arrives
   * @returns the bytes (a copy) and fds (close-on-exec, now the caller's), "again", or "eof"
   * @throws MicrovmError `backend` when the call fails or fds were cut off (more than {@link MAX_FDS})
   */
  receive(max: number, wait = false): { readonly bytes: Uint8Array; readonly fds: readonly number[] } | "again" | "eof" {
    const len = Math.min(max, MAX_CHUNK);
    this.header(len, CMSG_SPACE);
    const n = libc().recvmsg(this.fd, this.page, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT));
    if (n === -ERRNO.EAGAIN) return "again";
    if (n < 0) throw fail("recvmsg", -n);
    const fds: number[] = [];
    const controlLen = Number(this.dv.getBigUint64(40, true));
    for (let off = 0; off + 16 <= controlLen; ) {
      const at = CMSG_AT + off;
      const cmsgLen = Number(this.dv.getBigUint64(at, true));
      if (cmsgLen < 16) break;
      if (this.dv.getInt32(at + 8, true) === SOL_SOCKET && this.dv.getInt32(at + 12, true) === SCM_RIGHTS) {
        for (let i = 0; i < (cmsgLen - 16) / 4; i++) fds.push(this.dv.getInt32(at + 16 + 4 * i, true));
      }
      off += (cmsgLen + 7) & ~7;
    }
    if ((this.dv.getInt32(48, true) & MSG_CTRUNC) !== 0) {
      for (const f of fds) closeSync(f);
      throw new MicrovmError("backend", `recvmsg: the peer sent more than ${MAX_FDS} file descriptors with one message; they were cut off`);
    }
    if (n === 0 && fds.length === 0) return "eof";
    return { bytes: this.mem.slice(DATA_AT, DATA_AT + n), fds };
  }

  /**
   * Reads exactly `n` more bytes, blocking (the rest of a message whose start has arrived).
   *
   * @param n - how many
   * @returns the bytes, or undefined at end of stream
   */
  readExactly(n: number): Uint8Array | undefined {
    const out = new Uint8Array(n);
    for (let got = 0; got < n; ) {
      let r: number;
      try {
        r = readSync(this.fd, out, got, n - got, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
        throw new MicrovmError("backend", `read: ${(e as Error).message}`, { cause: e });
      }
      if (r === 0) return undefined;
      got += r;
    }
    return out;
  }

  /**
   * Writes bytes, with fds attached to the first of them.
   *
   * @param bytes - the data (at most {@link MAX_CHUNK} when fds go with it)
   * @param fds - fds to pass, at most 200 (they stay open here)
   * @throws MicrovmError `backend` when the peer is gone or the call fails
   */
  send(bytes: Uint8Array, fds: readonly number[] = []): void {
    if (fds.length === 0) {
      try {
        for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
      } catch (e) {
        throw new MicrovmError("backend", `write: ${(e as Error).message}`, { cause: e });
      }
      return;
    }
    if (bytes.length > MAX_CHUNK || fds.length > SEND_MAX_FDS) throw new MicrovmError("invalid-argument", `send: expected at most ${MAX_CHUNK} bytes and ${SEND_MAX_FDS} fds, got ${bytes.length} and ${fds.length}`);
    const control = 16 + fds.length * 4;
    this.header(bytes.length, (control + 7) & ~7);
    this.mem.set(bytes, DATA_AT);
    this.dv.setBigUint64(CMSG_AT, BigInt(control), true);
    this.dv.setInt32(CMSG_AT + 8, SOL_SOCKET, true);
    this.dv.setInt32(CMSG_AT + 12, SCM_RIGHTS, true);
    fds.forEach((f, i) => this.dv.setInt32(CMSG_AT + 16 + 4 * i, f, true));
    const n = libc().sendmsg(this.fd, this.page, MSG_NOSIGNAL);
    if (n < 0) throw fail("sendmsg", -n);
    if (n < bytes.length) this.send(bytes.subarray(n));
  }

  /** Closes the socket and frees the native page. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    libc().munmap(this.page, PAGE);
  }
}
