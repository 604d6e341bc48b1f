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

// One slot of the shared block, 40 bytes (a multiple of 8, so the 64-bit fields stay aligned):
// Int32 words, then BigUint64 words, as indices into a view starting at the slot.
const LOCK = 0; // 0 free, 1 held by a caller
const STATE = 1; // 0 idle, 1 request posted, 2 answer ready, 3 closed
const OP = 2;
const SIZE = 3;
const ADDR = 2; // BigUint64 (bytes 16..23)
const VALUE = 3; // BigUint64 (bytes 24..31)
const RESULT = 4; // BigUint64 (bytes 32..39)
const SLOT_BYTES = 40;
const SLOT_INTS = SLOT_BYTES / 4;
const SLOT_U64 = SLOT_BYTES / 8;
const MAX_SLOTS = 4096;

/**
 * Mailboxes served on this thread, by their shared block: a call made on the thread that also
 * serves the mailbox (vCPU exits and devices both on the owner's thread: native vCPU threads, an
 * inline I/O module) is answered directly, where waiting for the answer would wait forever. Kept
 * on `globalThis` so that every copy of this module on the thread (a bundled handler has its own)
 * sees the same servers.
 */
type LocalServer = (request: MailboxRequest) => bigint;
const LOCAL_KEY = Symbol.for("@microvm/kvm:local-mailboxes");
function localServers(): WeakMap<SharedArrayBuffer, LocalServer> {
  const g = globalThis as { [LOCAL_KEY]?: WeakMap<SharedArrayBuffer, LocalServer> };
  return (g[LOCAL_KEY] ??= new WeakMap());
}

/**
 * A synchronous mailbox from vCPU threads to the thread that owns a device (the board's
 * threading: rare accesses such as virtio register reads and writes are forwarded, the caller waits for the
 * answer). The caller writes the request into a SharedArrayBuffer, rings an eventfd that the I/O
 * thread's `epoll_wait` watches, and sleeps in `Atomics.wait` until the answer is there.
 *
 * The block has one slot per caller (`create({ slots })`, one per vCPU thread), so that vCPUs
 * never wait for each other; callers that share a slot take turns through its lock. A request
 * posted before the serving thread has started waits for it (the doorbell stays rung). When the
 * serving side stops ({@link DeviceMailbox.serve}'s stop, or {@link DeviceMailbox.shutdown} from any
 * thread, e.g. after the I/O thread died), pending and later calls fail with `closed` at once.
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
  /** The caller's slot (Int32 view). */
  readonly #i32: Int32Array;
  /** The caller's slot (BigUint64 view). */
  readonly #u64: BigUint64Array;
  readonly #bell: EventFd;

  private constructor(desc: MailboxDescriptor, bell: EventFd, slot: number) {
    this.descriptor = desc;
    this.#i32 = new Int32Array(desc.buffer, slot * SLOT_BYTES, SLOT_INTS);
    this.#u64 = new BigUint64Array(desc.buffer, slot * SLOT_BYTES, SLOT_U64);
    this.#bell = bell;
  }

  /**
   * Creates a mailbox: a SharedArrayBuffer of `slots` 40-byte slots and a doorbell eventfd owned
   * by the caller.
   *
   * @param options - `slots`: how many callers have a slot of their own (default 1, at most 4096).
   * @returns The mailbox; close it after the threads that use it have stopped.
   * @throws {@link KvmError} `invalid-argument` for a slot count out of range; `syscall-failed` if
   *   the eventfd cannot be created.
   * @example
   * ```ts
   * const mailbox = DeviceMailbox.create({ slots: vcpus }); // vCPU i attaches to slot i
   * ```
   */
  static create(options: { readonly slots?: number } = {}): DeviceMailbox {
    const slots = options.slots ?? 1;
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) throw new KvmError("invalid-argument", `slots: expected 1..${MAX_SLOTS}, got ${String(slots)}`);
    const bell = EventFd.create();
    return new DeviceMailbox({ buffer: new SharedArrayBuffer(slots * SLOT_BYTES), fd: bell.fd }, bell, 0);
  }

  /**
   * Attaches to a mailbox on another thread (the caller's side, usually a vCPU handler).
   *
   * @param desc - {@link DeviceMailbox.descriptor}.
   * @param slot - The caller's slot (default 0), e.g. its vCPU index.
   * @returns A mailbox object for this thread.
   * @throws {@link KvmError} `invalid-argument` for a malformed descriptor or a slot it does not have.
   * @example
   * ```ts
   * const mb = DeviceMailbox.attach(ctx.data.mailbox, ctx.index);
   * ```
   */
  static attach(desc: MailboxDescriptor, slot = 0): DeviceMailbox {
    const slots = DeviceMailbox.#slotsOf(desc);
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new KvmError("invalid-argument", `slot: expected 0..${slots - 1}, got ${String(slot)}`);
    return new DeviceMailbox(desc, EventFd.fromFd(desc.fd), slot);
  }

  static #slotsOf(desc: MailboxDescriptor): number {
    if (!(desc?.buffer instanceof SharedArrayBuffer) || desc.buffer.byteLength < SLOT_BYTES || desc.buffer.byteLength % SLOT_BYTES !== 0 || !Number.isInteger(desc.fd)) {
      throw new KvmError("invalid-argument", `mailbox: expected { buffer: SharedArrayBuffer(n × ${SLOT_BYTES}), fd }`);
    }
    return desc.buffer.byteLength / SLOT_BYTES;
  }

  /**
   * Closes the mailbox for its callers, from any thread: pending and later calls fail with
   * `closed` (use it when the serving thread has died and cannot stop serving itself).
   *
   * @param desc - {@link DeviceMailbox.descriptor}.
   * @throws {@link KvmError} `invalid-argument` for a malformed descriptor.
   * @example
   * ```ts
   * DeviceMailbox.shutdown(mailbox.descriptor); // the I/O thread ended: release the vCPUs
   * ```
   */
  static shutdown(desc: MailboxDescriptor): void {
    const all = new Int32Array(desc.buffer, 0, DeviceMailbox.#slotsOf(desc) * SLOT_INTS);
    for (let b = 0; b < all.length; b += SLOT_INTS) {
      Atomics.store(all, b + STATE, 3);
      Atomics.notify(all, b + STATE);
    }
  }

  /**
   * Forwards one access and waits for the answer. Call it from a vCPU handler; it blocks that
   * thread until the serving thread answers (on the thread that serves the mailbox itself, the
   * server answers at once).
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
    const local = localServers().get(this.descriptor.buffer);
    if (local !== undefined) {
      if (Atomics.load(i, STATE) === 3) throw new KvmError("closed", "mailbox: the serving thread has stopped");
      return local(request);
    }
    while (Atomics.compareExchange(i, LOCK, 0, 1) !== 0) Atomics.wait(i, LOCK, 1, 50);
    try {
      if (Atomics.load(i, STATE) === 3) throw new KvmError("closed", "mailbox: the serving thread has stopped");
      Atomics.store(i, OP, request.op);
      Atomics.store(i, SIZE, request.size);
      this.#u64[ADDR] = request.address;
      this.#u64[VALUE] = request.value;
      // Posted only if the mailbox is still open (a shutdown may have come since the check above).
      if (Atomics.compareExchange(i, STATE, 0, 1) !== 0) throw new KvmError("closed", "mailbox: the serving thread has stopped");
      this.#bell.signal();
      for (;;) {
        const st = Atomics.load(i, STATE);
        if (st === 2) break;
        if (st === 3) throw new KvmError("closed", "mailbox: the serving thread stopped before answering");
        Atomics.wait(i, STATE, st, 1000);
      }
      const result = this.#u64[RESULT] ?? 0n;
      Atomics.compareExchange(i, STATE, 2, 0); // back to idle, unless shut down meanwhile
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
   * @param desc - {@link DeviceMailbox.descriptor}; every slot is served.
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
    const slots = DeviceMailbox.#slotsOf(desc);
    const i = new Int32Array(desc.buffer);
    const u = new BigUint64Array(desc.buffer);
    const answer = (req: MailboxRequest): bigint => {
      const a = handler(req);
      return a === undefined ? 0n : BigInt.asUintN(64, BigInt(a));
    };
    ctx.watch(
      desc.fd,
      () => {
        for (let s = 0; s < slots; s++) {
          const b = s * SLOT_INTS;
          if (Atomics.load(i, b + STATE) !== 1) continue;
          const q = s * SLOT_U64;
          const req: MailboxRequest = { op: Atomics.load(i, b + OP), size: Atomics.load(i, b + SIZE), address: u[q + ADDR] ?? 0n, value: u[q + VALUE] ?? 0n };
          let result = 0n;
          try {
            result = answer(req);
          } finally {
            u[q + RESULT] = result;
            Atomics.store(i, b + STATE, 2);
            Atomics.notify(i, b + STATE);
          }
        }
      },
      { eventfd: true },
    );
    const servers = localServers();
    servers.set(desc.buffer, answer);
    return () => {
      ctx.unwatch(desc.fd);
      servers.delete(desc.buffer);
      DeviceMailbox.shutdown(desc);
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
