import { KvmError, syscallError } from "./errors.js";
import { EAGAIN, EFD_CLOEXEC, EFD_NONBLOCK, EINTR, sys } from "./sys.js";

/**
 * Options of {@link EventFd.create}.
 *
 * @example
 * ```ts
 * const efd = EventFd.create({ nonBlocking: false });
 * ```
 */
export interface EventFdOptions {
  /** `EFD_NONBLOCK`: {@link EventFd.read} returns 0n instead of blocking when the counter is 0. Default true. */
  readonly nonBlocking?: boolean;
}

/**
 * A Linux eventfd (eventfd(2)): a 64-bit counter with an fd, the currency of irqfd (write to raise
 * a GSI) and ioeventfd (the guest's write makes it readable). The fd is a plain number, valid on
 * every thread: wrap it again with {@link EventFd.fromFd} in a worker.
 *
 * @example
 * ```ts
 * const efd = EventFd.create();
 * vm.irqfd(5, efd);
 * efd.signal(); // raises GSI 5
 * ```
 */
export class EventFd {
  /** The fd. */
  readonly fd: number;
  readonly #owned: boolean;
  readonly #buf = new Uint8Array(8);
  #closed = false;

  private constructor(fd: number, owned: boolean) {
    this.fd = fd;
    this.#owned = owned;
  }

  /**
   * Creates an eventfd (close-on-exec, non-blocking by default).
   *
   * @param options - See {@link EventFdOptions}.
   * @returns The new eventfd, owned by the caller.
   * @throws {@link KvmError} `syscall-failed` if eventfd(2) fails.
   * @example
   * ```ts
   * const efd = EventFd.create({ nonBlocking: true });
   * ```
   */
  static create(options: EventFdOptions = {}): EventFd {
    const flags = EFD_CLOEXEC | (options.nonBlocking === false ? 0 : EFD_NONBLOCK);
    return new EventFd(sys().eventfd(0, flags), true);
  }

  /**
   * Wraps an existing eventfd fd (e.g. one passed to a worker). {@link EventFd.close} on it does not
   * close the fd.
   *
   * @param fd - The fd number.
   * @returns A non-owning wrapper.
   * @throws {@link KvmError} `invalid-argument` when `fd` is not a non-negative integer.
   * @example
   * ```ts
   * const efd = EventFd.fromFd(workerData.fd);
   * ```
   */
  static fromFd(fd: number): EventFd {
    if (!Number.isInteger(fd) || fd < 0) throw new KvmError("invalid-argument", `fd: expected a non-negative integer, got ${fd}`);
    return new EventFd(fd, false);
  }

  /**
   * Adds `n` to the counter (write(2) of 8 bytes), waking whoever waits on it.
   *
   * @param n - The amount, 1 by default.
   * @throws {@link KvmError} `syscall-failed`, `closed`.
   * @example
   * ```ts
   * efd.signal();
   * ```
   */
  signal(n: number | bigint = 1): void {
    if (this.#closed) throw new KvmError("closed", `eventfd ${this.fd} is closed`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    for (;;) {
      const r = sys().write(this.fd, b, 8);
      if (r === -EINTR) continue;
      if (r < 0) throw syscallError("write", -r, `eventfd ${this.fd}`);
      return;
    }
  }

  /**
   * Reads and resets the counter (read(2) of 8 bytes). On a non-blocking eventfd with a zero
   * counter this returns 0n.
   *
   * @returns The counter's value before the reset.
   * @throws {@link KvmError} `syscall-failed`, `closed`.
   * @example
   * ```ts
   * const hits = efd.read();
   * ```
   */
  read(): bigint {
    if (this.#closed) throw new KvmError("closed", `eventfd ${this.fd} is closed`);
    for (;;) {
      const r = sys().read(this.fd, this.#buf, 8);
      if (r === -EINTR) continue;
      if (r === -EAGAIN) return 0n;
      if (r < 0) throw syscallError("read", -r, `eventfd ${this.fd}`);
      return new DataView(this.#buf.buffer).getBigUint64(0, true);
    }
  }

  /**
   * Closes the fd if this object owns it. Idempotent.
   *
   * @throws {@link KvmError} `syscall-failed` if close(2) fails.
   * @example
   * ```ts
   * efd.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) sys().close(this.fd);
  }
}
