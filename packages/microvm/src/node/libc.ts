/**
 * The few libc calls the CLI's Node backends need that Node itself lacks: `ioctl` (tap and pty
 * set-up), `fcntl` with a `struct flock` (OFD image locks), the termios pair (raw mode on a
 * terminal), `socketpair` (a stream to a helper such as passt, as raw fds), the unix-socket calls
 * with `recvmsg` (file descriptors passed with SCM_RIGHTS, as vhost-user does) and `mmap` with a
 * zero-copy view (memory another process shares by fd). Bound through koffi, lazily, on first
 * use, so that the CLI's `--help` and `--version` never load the native module. Numbers are the
 * x86_64 Linux ABI; each cites its header.
 *
 * @internal
 */
import { createRequire } from "node:module";
import { MicrovmError } from "../errors.js";

type Koffi = typeof import("koffi");

/** The bound calls. Results below 0 are `-errno`. */
export interface Libc {
  /** `ioctl(fd, req, void *arg)`. */
  ioctlPtr(fd: number, req: number, arg: Uint8Array): number;
  /** `ioctl(fd, req, unsigned long arg)`. */
  ioctlVal(fd: number, req: number, arg: number): number;
  /** `fcntl(fd, cmd, void *arg)` (F_OFD_* with a `struct flock`). */
  fcntlPtr(fd: number, cmd: number, arg: Uint8Array): number;
  /** `fcntl(fd, cmd, long arg)` (F_GETFL / F_SETFL). */
  fcntlVal(fd: number, cmd: number, arg: number): number;
  /** `tcgetattr(fd, struct termios *)`. */
  tcgetattr(fd: number, termios: Uint8Array): number;
  /** `tcsetattr(fd, when, const struct termios *)`. */
  tcsetattr(fd: number, when: number, termios: Uint8Array): number;
  /** `socketpair(domain, type, protocol, int sv[2])`. */
  socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number;
  /** `socket(domain, type, protocol)`. */
  socket(domain: number, type: number, protocol: number): number;
  /** `bind(fd, const struct sockaddr *, len)`. */
  bind(fd: number, addr: Uint8Array, len: number): number;
  /** `listen(fd, backlog)`. */
  listen(fd: number, backlog: number): number;
  /** `accept4(fd, NULL, NULL, flags)`. */
  accept4(fd: number, flags: number): number;
  /** `recvmsg(fd, struct msghdr *, flags)`, the msghdr at a native address (see {@link Libc.mmap}). */
  recvmsg(fd: number, msg: bigint, flags: number): number;
  /** `sendmsg(fd, const struct msghdr *, flags)`, the msghdr at a native address. */
  sendmsg(fd: number, msg: bigint, flags: number): number;
  /** `connect(fd, const struct sockaddr *, len)`. */
  connect(fd: number, addr: Uint8Array, len: number): number;
  /** `mmap(NULL, len, prot, flags, fd, off)`: the address, or `-errno` as a negative bigint. */
  mmap(len: number, prot: number, flags: number, fd: number, off: number): bigint;
  /** `munmap(addr, len)`. */
  munmap(addr: bigint, len: number): number;
  /** `mprotect(addr, len, prot)`. */
  mprotect(addr: bigint, len: number, prot: number): number;
  /** A zero-copy ArrayBuffer over `len` bytes at a native address (valid until it is unmapped). */
  view(addr: bigint, len: number): ArrayBuffer;
}

let bound: Libc | undefined;

/**
 * The koffi module (native), loaded on first use.
 *
 * @returns koffi
 * @throws MicrovmError `invalid-argument` when koffi cannot be loaded on this platform
 * @example
 * ```ts
 * const proto = loadKoffi().proto("uint64_t f()");
 * ```
 */
export function loadKoffi(): Koffi {
  try {
    return createRequire(import.meta.url)("koffi") as Koffi;
  } catch (e) {
    throw new MicrovmError("invalid-argument", `koffi could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * The libc bindings of this thread (bound once).
 *
 * @returns the calls
 * @throws MicrovmError `invalid-argument` when koffi cannot be loaded on this platform
 * @example
 * ```ts
 * const r = libc().ioctlVal(fd, TUNSETVNETHDRSZ, 12);
 * ```
 */
export function libc(): Libc {
  if (bound) return bound;
  const koffi = loadKoffi();
  const lib = koffi.load("libc.so.6");
  // Two prototypes per call rather than variadic ones: on x86_64 the integer and pointer argument
  // go in the same register, and koffi's non-variadic calls are the cheaper path.
  const ioctlP = lib.func("int ioctl(int fd, unsigned long req, void *arg)");
  const ioctlV = lib.func("int ioctl(int fd, unsigned long req, unsigned long arg)");
  const fcntlP = lib.func("int fcntl(int fd, int cmd, void *arg)");
  const fcntlV = lib.func("int fcntl(int fd, int cmd, long arg)");
  const tcget = lib.func("int tcgetattr(int fd, void *t)");
  const tcset = lib.func("int tcsetattr(int fd, int when, void *t)");
  const spair = lib.func("int socketpair(int domain, int type, int protocol, void *sv)");
  const sock = lib.func("int socket(int domain, int type, int protocol)");
  const bindF = lib.func("int bind(int fd, void *addr, unsigned int len)");
  const listenF = lib.func("int listen(int fd, int backlog)");
  const accept4F = lib.func("int accept4(int fd, void *addr, void *len, int flags)");
  const recvmsgF = lib.func("long recvmsg(int fd, uintptr_t msg, int flags)");
  const sendmsgF = lib.func("long sendmsg(int fd, uintptr_t msg, int flags)");
  const connectF = lib.func("int connect(int fd, void *addr, unsigned int len)");
  const mmapF = lib.func("intptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, long off)");
  const munmapF = lib.func("int munmap(uintptr_t addr, size_t len)");
  const mprotectF = lib.func("int mprotect(uintptr_t addr, size_t len, int prot)");
  const r = (v: unknown): number => {
    const n = v as number;
    return n < 0 ? -koffi.errno() : n;
  };
  bound = {
    ioctlPtr: (fd, req, arg) => r(ioctlP(fd, req, arg)),
    ioctlVal: (fd, req, arg) => r(ioctlV(fd, req, arg)),
    fcntlPtr: (fd, cmd, arg) => r(fcntlP(fd, cmd, arg)),
    fcntlVal: (fd, cmd, arg) => r(fcntlV(fd, cmd, arg)),
    tcgetattr: (fd, t) => r(tcget(fd, t)),
    tcsetattr: (fd, when, t) => r(tcset(fd, when, t)),
    socketpair: (d, t, p, sv) => r(spair(d, t, p, sv)),
    socket: (d, t, p) => r(sock(d, t, p)),
    bind: (fd, addr, len) => r(bindF(fd, addr, len)),
    listen: (fd, backlog) => r(listenF(fd, backlog)),
    accept4: (fd, flags) => r(accept4F(fd, null, null, flags)),
    recvmsg: (fd, msg, flags) => r(Number(recvmsgF(fd, msg, flags))),
    sendmsg: (fd, msg, flags) => r(Number(sendmsgF(fd, msg, flags))),
    connect: (fd, addr, len) => r(connectF(fd, addr, len)),
    mmap: (len, prot, flags, fd, off) => {
      const a = BigInt(mmapF(0, len, prot, flags, fd, off) as number | bigint);
      return a === -1n ? -BigInt(koffi.errno()) : a;
    },
    munmap: (addr, len) => r(munmapF(addr, len)),
    mprotect: (addr, len, prot) => r(mprotectF(addr, len, prot)),
    view: (addr, len) => koffi.view(addr, len) as ArrayBuffer,
  };
  return bound;
}

/** errno values (include/uapi/asm-generic/errno-base.h, errno.h; x86-64). */
export const ERRNO: {
  readonly EPERM: 1;
  readonly ENOENT: 2;
  readonly EIO: 5;
  readonly EBADF: 9;
  readonly EAGAIN: 11;
  readonly EACCES: 13;
  readonly EBUSY: 16;
  readonly ENODEV: 19;
  readonly EINVAL: 22;
  readonly ENOTTY: 25;
  readonly EADDRINUSE: 98;
  readonly ECONNREFUSED: 111;
} = { EPERM: 1, ENOENT: 2, EIO: 5, EBADF: 9, EAGAIN: 11, EACCES: 13, EBUSY: 16, ENODEV: 19, EINVAL: 22, ENOTTY: 25, EADDRINUSE: 98, ECONNREFUSED: 111 };

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(ERRNO).map(([k, v]) => [v, k]));

/**
 * A short description of an errno, as `strerror` words plus the symbol.
 *
 * @param errno - a positive errno
 * @returns e.g. `Device or resource busy (EBUSY)`
 * @example
 * ```ts
 * describeErrno(16); // "Device or resource busy (EBUSY)"
 * ```
 */
export function describeErrno(errno: number): string {
  const words: Record<number, string> = {
    1: "Operation not permitted",
    2: "No such file or directory",
    5: "Input/output error",
    9: "Bad file descriptor",
    11: "Resource temporarily unavailable",
    13: "Permission denied",
    16: "Device or resource busy",
    19: "No such device",
    22: "Invalid argument",
    25: "Inappropriate ioctl for device",
  };
  return `${words[errno] ?? "error"} (${NAMES[errno] ?? `errno ${errno}`})`;
}
