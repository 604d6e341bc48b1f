import { KvmError } from "./errors.js";
import { EventFd } from "./eventfd.js";
import type { IoContext } from "./handlers.js";

/**
 * What crosses threads: the shared block and the doorbell eventfd's number.
 *
 * @example
 * ```ts
 * const desc: MailboxDescriptor = DeviceMailbox.create().descriptor; // put it in a thread's data
 * ```
 */
export interface MailboxDescriptor {
  /** The shared request/response block. */ readonly buffer: SharedArrayBuffer;
  /** The doorbell eventfd, watched by the serving I/O thread. */ readonly fd: number;
}

/**
 * One forwarded access.
 *
 * @example
 * ```ts
 * const req: MailboxRequest = { op: 1, address: 0xd0000070n, value: 0xfn, size: 4 }; // a Status write
 * ```
 */
export interface MailboxRequest {
  /** What the caller wants, e.g. 0 = read, 1 = write (the two sides agree). */ readonly op: number;
  /** Guest-physical address or port. */ readonly address: bigint;
  /** The value written (0n for reads). */ readonly value: bigint;
  /** Access size in bytes. */ readonly size: number;
}

// Int32 slots of the shared block.
const LOCK = 0; // 0 free, 1 held by a caller
const STATE = 1; // 0 idle, 1 request posted, 2 answer ready, 3 closed
const OP = 2;
const SIZE = 3;
const ADDR = 4; // BigUint64 slot 2 (bytes 16..23)
const VALUE = 3; // BigUint64 slot 3 (bytes 24..31)
const RESULT = 4; // BigUint64 slot 4 (bytes 32..39)
const BYTES = 40;

/**
 * A synchronous mailbox from vCPU threads to the thread that owns a device (the board's
 * threading: rare accesses such as virtio register reads and writes are forwarded, the caller waits for the
 * answer). The caller writes the request into a SharedArrayBuffer, rings an eventfd that the I/O
 * thread's `epoll_wait` watches, and sleeps in `Atomics.wait` until the answer is there. Callers
 * on several vCPU threads take turns through a lock in the same block.
 *
 * Costs a cross-thread round trip per access (tens of microseconds), so keep hot paths (queue
 * notifications) on ioeventfd.
 *
 * @example
 * ```ts
 * // main thread
 * const mailbox = DeviceMailbox.create();
 * await vm.startIoThread({ handler: devicesUrl, data: { mailbox: mailbox.descriptor } });
 * await vm.startVcpu(vcpu, { handler: vcpuUrl, data: { mailbox: mailbox.descriptor } });
 * // vCPU handler module
 * const mb = DeviceMailbox.attach(data.mailbox);
 * const handler = { mmio: (e) => mb.call({ op: e.isWrite ? 1 : 0, address: e.address, value: e.value, size: e.length }) };
 * // I/O handler module
 * DeviceMailbox.serve(ctx, data.mailbox, (req) => (req.op === 0 ? 0x74726976n : undefined));
 * ```
 */
export class DeviceMailbox {
  /** The shared block and doorbell to hand to both threads. */
  readonly descriptor: MailboxDescriptor;
  readonly #i32: Int32Array;
  readonly #u64: BigUint64Array;
  readonly #bell: EventFd;

  private constructor(desc: MailboxDescriptor, bell: EventFd) {
    this.descriptor = desc;
    this.#i32 = new Int32Array(desc.buffer);
    this.#u64 = new BigUint64Array(desc.buffer);
    this.#bell = bell;
  }

  /**
   * Creates a mailbox (a 40-byte SharedArrayBuffer and a doorbell eventfd owned by the caller).
   *
   * @returns The mailbox; close it after the threads that use it have stopped.
   * @throws {@link KvmError} `syscall-failed` if the eventfd cannot be created.
   * @example
   * ```ts
   * const mailbox = DeviceMailbox.create();
   * ```
   */
  static create(): DeviceMailbox {
    const bell = EventFd.create();
    return new DeviceMailbox({ buffer: new SharedArrayBuffer(BYTES), fd: bell.fd }, bell);
  }

  /**
   * Attaches to a mailbox on another thread (the caller's side, usually a vCPU handler).
   *
   * @param desc - {@link DeviceMailbox.descriptor}.
   * @returns A mailbox object for this thread.
   * @throws {@link KvmError} `invalid-argument` for a malformed descriptor.
   * @example
   * ```ts
   * const mb = DeviceMailbox.attach(ctx.data.mailbox);
   * ```
   */
  static attach(desc: MailboxDescriptor): DeviceMailbox {
    if (!(desc?.buffer instanceof SharedArrayBuffer) || desc.buffer.byteLength < BYTES) {
      throw new KvmError("invalid-argument", "mailbox: expected { buffer: SharedArrayBuffer(40), fd }");
    }
    return new DeviceMailbox(desc, EventFd.fromFd(desc.fd));
  }

  /**
   * Forwards one access and waits for the answer. Call it from a vCPU handler; it blocks that
   * thread (never the main thread's event loop: `Atomics.wait` is not allowed there).
   *
   * @param request - The access.
   * @returns The server's answer (0n when it gave none).
   * @throws {@link KvmError} `closed` once the serving side has stopped.
   * @example
   * ```ts
   * const v = mb.call({ op: 0, address: 0xd0000000n, value: 0n, size: 4 });
   * ```
   */
  call(request: MailboxRequest): bigint {
    const i = this.#i32;
    while (Atomics.compareExchange(i, LOCK, 0, 1) !== 0) Atomics.wait(i, LOCK, 1, 50);
    try {
      if (Atomics.load(i, STATE) === 3) throw new KvmError("closed", "mailbox: the serving thread has stopped");
      Atomics.store(i, OP, request.op);
      Atomics.store(i, SIZE, request.size);
      this.#u64[ADDR] = request.address;
      this.#u64[VALUE] = request.value;
      Atomics.store(i, STATE, 1);
      this.#bell.signal();
      for (;;) {
        const st = Atomics.load(i, STATE);
        if (st === 2) break;
        if (st === 3) throw new KvmError("closed", "mailbox: the serving thread stopped before answering");
        Atomics.wait(i, STATE, st, 1000);
      }
      const result = this.#u64[RESULT] ?? 0n;
      Atomics.store(i, STATE, 0);
      return result;
    } finally {
      Atomics.store(i, LOCK, 0);
      Atomics.notify(i, LOCK, 1);
    }
  }

  /**
   * Serves a mailbox on the I/O thread: watches its doorbell and answers each request with
   * `handler`'s return value (a number or bigint; nothing answers 0). When the I/O thread stops,
   * pending and later calls fail with `closed` instead of waiting forever.
   *
   * @param ctx - The I/O handler's context.
   * @param desc - {@link DeviceMailbox.descriptor}.
   * @param handler - Computes the answer, on the I/O thread.
   * @returns A function that stops serving (and closes the mailbox for callers).
   * @throws {@link KvmError} `invalid-argument` for a malformed descriptor.
   * @example
   * ```ts
   * export const createIoHandler: IoHandlerFactory = (ctx) => {
   *   const stop = DeviceMailbox.serve(ctx, (ctx.data as { mailbox: MailboxDescriptor }).mailbox, (req) => 0n);
   *   return { close: stop };
   * };
   * ```
   */
  static serve(ctx: IoContext, desc: MailboxDescriptor, handler: (request: MailboxRequest) => bigint | number | undefined | void): () => void {
    const mb = DeviceMailbox.attach(desc);
    const i = mb.#i32;
    const u = mb.#u64;
    ctx.watch(
      desc.fd,
      () => {
        if (Atomics.load(i, STATE) !== 1) return;
        const req: MailboxRequest = { op: Atomics.load(i, OP), size: Atomics.load(i, SIZE), address: u[ADDR] ?? 0n, value: u[VALUE] ?? 0n };
        let answer: bigint | number | undefined | void;
        try {
          answer = handler(req);
        } finally {
          u[RESULT] = answer === undefined ? 0n : BigInt.asUintN(64, BigInt(answer));
          Atomics.store(i, STATE, 2);
          Atomics.notify(i, STATE);
        }
      },
      { eventfd: true },
    );
    return () => {
      ctx.unwatch(desc.fd);
      Atomics.store(i, STATE, 3);
      Atomics.notify(i, STATE);
    };
  }

  /**
   * Closes the doorbell eventfd if this object created it ({@link DeviceMailbox.create}).
   *
   * @throws {@link KvmError} `syscall-failed` if close(2) fails.
   * @example
   * ```ts
   * mailbox.close();
   * ```
   */
  close(): void {
    this.#bell.close();
  }
}
