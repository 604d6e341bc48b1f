/**
 * The one module that performs system calls. Everything else in the package talks to the kernel
 * through the {@link Sys} interface returned by {@link sys}, so this file can be swapped for an
 * N-API addon without touching the rest.
 *
 * The implementation uses koffi (FFI into glibc), loaded lazily and once per thread (each worker
 * has its own isolate, so each gets its own bindings). Calls are always synchronous: `KVM_RUN`
 * must stay on the vCPU's own thread (Documentation/virt/kvm/api.rst, "General description"), so
 * koffi's asynchronous calls, which run on a thread pool, are never used.
 *
 * @internal
 */
import { createRequire } from "node:module";
import { KvmError, syscallError } from "./errors.js";

type Koffi = typeof import("koffi");

/** Byte buffers passed to the kernel: their bytes are handed over as a pointer, with no copy. */
export type Bytes = Uint8Array;

/**
 * @internal An fd watched by the event loop ({@link Sys.poll}). A watch stopped can be started
 * again (libuv allows one watch per fd, and closing one takes until the next turn of the loop).
 */
export interface PollWatch {
  /** Watches again, for what is asked now, with a new callback. */
  restart(readable: boolean, writable: boolean, callback: (events: number) => void): void;
  stop(): void;
  close(): void;
}

/** @internal The system calls the package uses. Negative results are reported as exceptions. */
export interface Sys {
  /** `open(2)`; returns the fd, or `-errno` (the caller decides the error). */
  open(path: string, flags: number): number;
  close(fd: number): void;
  /** `ioctl(2)` with a pointer argument; returns the result or `-errno`. */
  ioctlPtr(fd: number, req: number, arg: Bytes | null): number;
  /** `ioctl(2)` with an integer argument; returns the result or `-errno`. */
  ioctlVal(fd: number, req: number, arg: number): number;
  /** The `KVM_RUN` call alone, as lean as possible: returns 0 or `-errno`. */
  run(fd: number): number;
  /** `mmap(2)`; throws on failure. */
  mmap(len: number, prot: number, flags: number, fd: number, offset: number): bigint;
  munmap(addr: bigint, len: number): void;
  /** A zero-copy ArrayBuffer over `len` bytes at `addr` (koffi.view). */
  view(addr: bigint, len: number): ArrayBuffer;
  eventfd(initval: number, flags: number): number;
  /** `read(2)` into `buf`; returns the count or `-errno`. */
  read(fd: number, buf: Bytes, len: number): number;
  /** `write(2)` from `buf`; returns the count or `-errno`. */
  write(fd: number, buf: Bytes, len: number): number;
  epollCreate(): number;
  /** `epoll_ctl(2)`; `event` is a 12-byte packed `struct epoll_event`. */
  epollCtl(epfd: number, op: number, fd: number, event: Bytes | null): void;
  /** `epoll_wait(2)`; returns the count or `-errno`. */
  epollWait(epfd: number, events: Bytes, max: number, timeoutMs: number): number;
  gettid(): number;
  getpid(): number;
  /** `tgkill(2)`; returns 0 or `-errno`. */
  tgkill(pid: number, tid: number, sig: number): number;
  /** The first real-time signal number glibc leaves to applications. */
  sigrtmin(): number;
  /**
   * Installs a native no-op handler for `sig` (once per process), so that the signal interrupts a
   * blocking `KVM_RUN` with `EINTR` instead of killing the process. Throws if another handler is
   * installed.
   */
  installKickHandler(sig: number): void;
  /** `mprotect(2)`; throws on failure. */
  mprotect(addr: bigint, len: number, prot: number): void;
  /**
   * `pthread_create(3)` of a native thread running the machine code at `start` with `arg` (its
   * only argument); returns the `pthread_t`. Throws on failure.
   */
  pthreadCreate(start: bigint, arg: bigint): bigint;
  /** `pthread_join(3)`; throws on failure. */
  pthreadJoin(thread: bigint): void;
  /**
   * Calls `callback` on this thread's event loop whenever `fd` is readable (or writable, as
   * asked), until closed, with epoll's flags for what it is (`EPOLLIN`, `EPOLLOUT`, `EPOLLHUP`).
   */
  poll(fd: number, readable: boolean, writable: boolean, callback: (events: number) => void): PollWatch;
}

// Flags and numbers from glibc / the Linux UAPI (x86_64).
/** `O_RDWR | O_CLOEXEC` (include/uapi/asm-generic/fcntl.h). */
export const O_RDWR_CLOEXEC: number = 0o2 | 0o2000000;
/** `PROT_READ | PROT_WRITE` (include/uapi/asm-generic/mman-common.h). */
export const PROT_RW: number = 0x3;
/** `MAP_SHARED` (include/uapi/linux/mman.h). */
export const MAP_SHARED: number = 0x01;
/** `MAP_PRIVATE`. */
export const MAP_PRIVATE: number = 0x02;
/** `MAP_ANONYMOUS` (include/uapi/asm-generic/mman-common.h). */
export const MAP_ANONYMOUS: number = 0x20;
/** `MAP_NORESERVE` (arch/x86/include/uapi/asm/mman.h via asm-generic/mman.h). */
export const MAP_NORESERVE: number = 0x4000;
/** `EFD_CLOEXEC | EFD_NONBLOCK` are `O_CLOEXEC | O_NONBLOCK` (include/linux/eventfd.h). */
export const EFD_CLOEXEC: number = 0o2000000;
/** `EFD_NONBLOCK`. */
export const EFD_NONBLOCK: number = 0o4000;
/** `EPOLL_CTL_ADD`, `EPOLL_CTL_DEL` (include/uapi/linux/eventpoll.h). */
export const EPOLL_CTL_ADD: number = 1;
/** `EPOLL_CTL_DEL`. */
export const EPOLL_CTL_DEL: number = 2;
/** `EPOLLIN`. */
export const EPOLLIN: number = 0x001;
/** `EPOLLOUT`. */
export const EPOLLOUT: number = 0x004;
/** `EPOLLERR`. */
export const EPOLLERR: number = 0x008;
/** `EPOLLHUP`. */
export const EPOLLHUP: number = 0x010;
/** `EPOLL_CLOEXEC` equals `O_CLOEXEC`. */
export const EPOLL_CLOEXEC: number = 0o2000000;
/** errno values used for control flow (include/uapi/asm-generic/errno-base.h). */
export const EINTR: number = 4;
/** `EAGAIN`. */
export const EAGAIN: number = 11;
/** `E2BIG`. */
export const E2BIG: number = 7;
/** `ENOENT`. */
export const ENOENT: number = 2;
/** `EACCES`. */
export const EACCES: number = 13;
/** `EPERM`. */
export const EPERM: number = 1;

let instance: Sys | undefined;
let kickInstalled = -1;

/**
 * This thread's system-call bindings (created on first use).
 *
 * @internal
 */
export function sys(): Sys {
  instance ??= bind();
  return instance;
}

function bind(): Sys {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new KvmError("unsupported", `@microvm/kvm needs Linux on x86_64, this is ${process.platform}/${process.arch}`);
  }
  // Loaded on first use, not at import time, so that importing the package (e.g. for its types,
  // constants or isKvmError) works where koffi's native module cannot load.
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)("koffi") as Koffi;
  } catch (e) {
    throw new KvmError("unsupported", `koffi could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const libc = koffi.load("libc.so.6");
  const open = libc.func("int open(const char *path, int flags)");
  const close = libc.func("int close(int fd)");
  const ioctlP = libc.func("int ioctl(int fd, unsigned long req, void *arg)");
  const ioctlV = libc.func("int ioctl(int fd, unsigned long req, unsigned long arg)");
  const mmap = libc.func("intptr_t mmap(void *addr, size_t len, int prot, int flags, int fd, long off)");
  const munmap = libc.func("int munmap(uintptr_t addr, size_t len)");
  const eventfd = libc.func("int eventfd(unsigned int initval, int flags)");
  const read = libc.func("long read(int fd, void *buf, size_t n)");
  const write = libc.func("long write(int fd, const void *buf, size_t n)");
  const epollCreate1 = libc.func("int epoll_create1(int flags)");
  const epollCtl = libc.func("int epoll_ctl(int epfd, int op, int fd, void *event)");
  const epollWait = libc.func("int epoll_wait(int epfd, void *events, int max, int timeout)");
  const gettid = libc.func("int gettid(void)");
  const getpid = libc.func("int getpid(void)");
  const tgkill = libc.func("int tgkill(int tgid, int tid, int sig)");
  const sigrtmin = libc.func("int __libc_current_sigrtmin(void)");
  const sigaction = libc.func("int sigaction(int sig, void *act, void *old)");
  const mprotect = libc.func("int mprotect(uintptr_t addr, size_t len, int prot)");
  const pthreadCreate = libc.func("int pthread_create(_Out_ uint64_t *thread, void *attr, uintptr_t start, uintptr_t arg)");
  const pthreadJoin = libc.func("int pthread_join(uint64_t thread, void *ret)");
  const errno = (): number => koffi.errno();
  // KVM_RUN takes no argument (arg must be 0): include/uapi/linux/kvm.h `_IO(KVMIO, 0x80)`.
  const KVM_RUN = 0xae80;

  return {
    open: (path, flags) => {
      const fd = open(path, flags) as number;
      return fd < 0 ? -errno() : fd;
    },
    close: (fd) => {
      if ((close(fd) as number) < 0) throw syscallError("close", errno(), `fd ${fd}`);
    },
    ioctlPtr: (fd, req, arg) => {
      const r = ioctlP(fd, req, arg) as number;
      return r < 0 ? -errno() : r;
    },
    ioctlVal: (fd, req, arg) => {
      const r = ioctlV(fd, req, arg) as number;
      return r < 0 ? -errno() : r;
    },
    run: (fd) => {
      const r = ioctlV(fd, KVM_RUN, 0) as number;
      return r < 0 ? -errno() : r;
    },
    mmap: (len, prot, flags, fd, offset) => {
      const p = mmap(null, len, prot, flags, fd, offset) as number;
      if (p === -1) throw syscallError("mmap", errno(), `${len} bytes`);
      return BigInt(p);
    },
    munmap: (addr, len) => {
      if ((munmap(addr, len) as number) < 0) throw syscallError("munmap", errno(), `0x${addr.toString(16)}`);
    },
    view: (addr, len) => {
      // koffi aborts the process for views of 2^32 bytes or more; refuse them instead.
      if (len > 2 ** 32) throw new KvmError("out-of-range", `view: expected at most 4 GiB, got ${len} bytes`);
      return koffi.view(addr, len);
    },
    eventfd: (initval, flags) => {
      const fd = eventfd(initval, flags) as number;
      if (fd < 0) throw syscallError("eventfd", errno());
      return fd;
    },
    read: (fd, buf, len) => {
      const r = Number(read(fd, buf, len));
      return r < 0 ? -errno() : r;
    },
    write: (fd, buf, len) => {
      const r = Number(write(fd, buf, len));
      return r < 0 ? -errno() : r;
    },
    epollCreate: () => {
      const fd = epollCreate1(EPOLL_CLOEXEC) as number;
      if (fd < 0) throw syscallError("epoll_create1", errno());
      return fd;
    },
    epollCtl: (epfd, op, fd, event) => {
      if ((epollCtl(epfd, op, fd, event) as number) < 0) throw syscallError("epoll_ctl", errno(), `fd ${fd}`);
    },
    epollWait: (epfd, events, max, timeoutMs) => {
      const r = epollWait(epfd, events, max, timeoutMs) as number;
      return r < 0 ? -errno() : r;
    },
    gettid: () => gettid() as number,
    getpid: () => getpid() as number,
    tgkill: (pid, tid, sig) => {
      const r = tgkill(pid, tid, sig) as number;
      return r < 0 ? -errno() : r;
    },
    sigrtmin: () => sigrtmin() as number,
    mprotect: (addr, len, prot) => {
      if ((mprotect(addr, len, prot) as number) < 0) throw syscallError("mprotect", errno(), `0x${addr.toString(16)}`);
    },
    pthreadCreate: (start, arg) => {
      const out: [bigint | number] = [0];
      // pthread functions return the error number instead of setting errno.
      const r = pthreadCreate(out, null, start, arg) as number;
      if (r !== 0) throw syscallError("pthread_create", r);
      return BigInt(out[0]);
    },
    pthreadJoin: (thread) => {
      const r = pthreadJoin(thread, null) as number;
      if (r !== 0) throw syscallError("pthread_join", r);
    },
    poll: (fd, readable, writable, callback) => {
      // koffi 3 calls back with (status, events) (its typings say (events)): libuv's status, < 0
      // on an error (then EPOLLERR), and which of readable / writable / disconnect happened.
      type Events = { readonly readable: boolean; readonly writable: boolean; readonly disconnect: boolean };
      const flags = (args: unknown[]): number => {
        const status = typeof args[0] === "number" ? args[0] : 0;
        const ev = args.find((a): a is Events => typeof a === "object" && a !== null);
        return (ev?.readable ? EPOLLIN : 0) | (ev?.writable ? EPOLLOUT : 0) | (ev?.disconnect ? EPOLLHUP : 0) | (status < 0 ? EPOLLERR : 0);
      };
      const h = koffi.node.poll(fd, { readable, writable }, (...args: unknown[]) => callback(flags(args)));
      return {
        restart: (r, w, cb) => h.start({ readable: r, writable: w }, (...args: unknown[]) => cb(flags(args))),
        stop: () => h.stop(),
        close: () => h.close(),
      };
    },
    installKickHandler: (sig) => {
      if (kickInstalled === sig) return;
      // glibc x86_64 `struct sigaction` (sysdeps/unix/sysv/linux/bits/sigaction.h): sa_handler @0,
      // sa_mask (128-byte sigset_t) @8, sa_flags int @136, sa_restorer @144; 152 bytes.
      const handler = BigInt(libc.symbol("getpid") as bigint | number);
      const old = new Uint8Array(152);
      if ((sigaction(sig, null, old) as number) < 0) throw syscallError("sigaction", errno(), `signal ${sig}`);
      const oldHandler = new DataView(old.buffer).getBigUint64(0, true);
      // SIG_DFL is 0. Our handler is a libc function that ignores its argument and only returns:
      // what matters is that the signal is *handled* (so it interrupts KVM_RUN with EINTR) and
      // that no JavaScript runs in signal context. getpid is async-signal-safe.
      if (oldHandler !== 0n && oldHandler !== handler) {
        throw new KvmError("signal-in-use", `signal ${sig} already has a handler (0x${oldHandler.toString(16)}); the vCPU kick needs it`);
      }
      const act = new Uint8Array(152);
      new DataView(act.buffer).setBigUint64(0, handler, true);
      // No SA_RESTART: KVM_RUN returns EINTR either way, and other calls should see the interruption.
      if ((sigaction(sig, act, null) as number) < 0) throw syscallError("sigaction", errno(), `signal ${sig}`);
      kickInstalled = sig;
    },
  };
}
