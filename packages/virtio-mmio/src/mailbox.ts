/**
 * A SharedArrayBuffer mailbox for forwarding register accesses to the thread that owns a device.
 * @module
 */
import { VirtioError } from "./errors.js";

const STATE = 0;
const OP = 1;
const OFFSET = 2;
const WIDTH = 3;
const VALUE = 4;
const RESULT = 5;
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const TAKEN = 3;

/**
 * What a mailbox forwards to: a {@link MmioTransport} fits.
 *
 * @example
 * ```ts
 * const target: RegisterTarget = transport;
 * ```
 */
export interface RegisterTarget {
  /**
   * A register read.
   * @param offset - offset in the device window
   * @param width - access size
   */
  read(offset: number, width: number): number;
  /**
   * A register write.
   * @param offset - offset in the device window
   * @param width - access size
   * @param value - value written
   */
  write(offset: number, width: number, value: number): void;
}

/**
 * A one-slot mailbox in a SharedArrayBuffer that carries one MMIO register access at a time
 * from a vCPU thread to the thread owning the device, and the result back.
 *
 * - The vCPU side calls {@link RegisterMailbox.call}, which blocks in `Atomics.wait` until the
 *   owner answers (register accesses are rare: setup, config, interrupt status, so the round
 *   trip stays off the hot path; queue notifications go through ioeventfds instead).
 * - The owner calls {@link RegisterMailbox.serve} when woken (by `Atomics.waitAsync`, or an
 *   eventfd the board signals after `call` posts), which never blocks.
 * - One mailbox per vCPU thread: a mailbox has a single producer.
 *
 * Layout: six Int32 words (state, op, offset, width, value, result) in host order: both sides are
 * threads of one process, and nothing here is guest data.
 *
 * @throws {@link VirtioError} `invalid-argument` for a buffer smaller than
 * {@link RegisterMailbox.BYTES}.
 * @example
 * ```ts
 * // owner thread
 * const box = new RegisterMailbox();
 * worker.postMessage(box.buffer);
 * setInterval(() => box.serve(transport), 1); // or wake on an eventfd / Atomics.waitAsync
 * // vCPU thread, on an MMIO exit inside the device window
 * const box = new RegisterMailbox(buffer);
 * const v = box.call("read", 0x070, 4);
 * ```
 */
export class RegisterMailbox {
  /** Bytes a mailbox needs. */
  static readonly BYTES: number = 32;
  /** The shared memory of the mailbox; send it to the other thread. */
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;

  /**
   * Creates a mailbox over `buffer`, or over a new SharedArrayBuffer.
   * @param buffer - an existing mailbox's buffer (the other thread's side)
   * @throws {@link VirtioError} `invalid-argument` when `buffer` is too small
   */
  constructor(buffer?: SharedArrayBuffer) {
    const b = buffer ?? new SharedArrayBuffer(RegisterMailbox.BYTES);
    if (!(b instanceof SharedArrayBuffer) || b.byteLength < RegisterMailbox.BYTES) {
      throw new VirtioError("invalid-argument", `buffer: expected a SharedArrayBuffer of at least ${RegisterMailbox.BYTES} bytes`);
    }
    this.buffer = b;
    this.words = new Int32Array(b, 0, 8);
  }

  /**
   * vCPU side: posts an access and waits for the owner's answer.
   * @param op - "read" or "write"
   * @param offset - offset in the device window
   * @param width - access size in bytes
   * @param value - the value for a write
   * @param timeoutMs - give up after this long (default: wait forever)
   * @returns the value read (0 for a write)
   * @throws {@link VirtioError} `out-of-range` when the owner did not answer in time
   * @example
   * ```ts
   * box.call("write", 0x070, 4, 0); // reset the device
   * ```
   */
  call(op: "read" | "write", offset: number, width: number, value = 0, timeoutMs: number = Number.POSITIVE_INFINITY): number {
    const w = this.words;
    w[OP] = op === "read" ? 0 : 1;
    w[OFFSET] = offset | 0;
    w[WIDTH] = width | 0;
    w[VALUE] = value | 0;
    Atomics.store(w, STATE, REQUEST); // publishes the fields above
    Atomics.notify(w, STATE);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(w, STATE) === REQUEST) {
      const left = deadline - Date.now();
      if (left <= 0) {
        // Withdraw the request if the owner has not taken it; otherwise wait for its answer.
        if (Atomics.compareExchange(w, STATE, REQUEST, IDLE) === REQUEST) {
          throw new VirtioError("out-of-range", `timeoutMs: no answer within ${timeoutMs} ms`);
        }
        break;
      }
      Atomics.wait(w, STATE, REQUEST, Number.isFinite(left) ? left : undefined);
    }
    while (Atomics.load(w, STATE) !== DONE) Atomics.wait(w, STATE, Atomics.load(w, STATE));
    const r = w[RESULT] as number;
    Atomics.store(w, STATE, IDLE);
    return r >>> 0;
  }

  /**
   * Whether a request is waiting.
   * @returns true when {@link RegisterMailbox.serve} has work
   * @example
   * ```ts
   * if (box.pending()) box.serve(transport);
   * ```
   */
  pending(): boolean {
    return Atomics.load(this.words, STATE) === REQUEST;
  }

  /**
   * Owner side: performs a waiting access on `target` and wakes the caller. Never blocks.
   * @param target - the register file (a {@link MmioTransport})
   * @returns true when a request was served
   * @example
   * ```ts
   * while (box.serve(transport));
   * ```
   */
  serve(target: RegisterTarget): boolean {
    const w = this.words;
    // Take the request (a caller that timed out may withdraw it concurrently).
    if (Atomics.compareExchange(w, STATE, REQUEST, TAKEN) !== REQUEST) return false;
    const offset = w[OFFSET] as number;
    const width = w[WIDTH] as number;
    let result = 0;
    try {
      if (w[OP] === 0) result = target.read(offset, width);
      else target.write(offset, width, (w[VALUE] as number) >>> 0);
    } catch {
      result = 0; // a transport never throws on guest input; keep the caller alive regardless
    }
    w[RESULT] = result | 0;
    Atomics.store(w, STATE, DONE);
    Atomics.notify(w, STATE);
    return true;
  }
}
