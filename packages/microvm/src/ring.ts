/**
 * A single-producer, single-consumer byte ring in a SharedArrayBuffer: how device output crosses
 * from the thread that produces it (a vCPU thread for the UART, the I/O thread for a virtio
 * console) to the thread that consumes it, with no copy through postMessage and no polling (the
 * consumer sleeps in `Atomics.waitAsync` on the write counter).
 *
 * The producer never blocks: when the ring is full, the bytes that do not fit are dropped and
 * counted (a console nobody reads must never stall the guest).
 */

// Header (Int32 slots): write counter, read counter, dropped bytes, closed flag, and whether the
// reader is parked in Atomics.waitAsync (the writer only notifies then).
const H_WRITE = 0;
const H_READ = 1;
const H_DROPPED = 2;
const H_CLOSED = 3;
const H_WAITING = 4;
const HEADER_BYTES = 32;

const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

/**
 * Allocates a ring of `capacity` bytes (a power of two).
 *
 * @param capacity - bytes the ring holds; default 64 KiB
 * @returns the shared buffer to pass to {@link RingWriter} and {@link RingReader}
 * @example
 * ```ts
 * const sab = createRing();
 * new RingWriter(sab).write(new TextEncoder().encode("hi"));
 * ```
 */
export function createRing(capacity = 65536): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 16 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`capacity: expected a power of two >= 16, got ${capacity}`);
  }
  return new SharedArrayBuffer(HEADER_BYTES + capacity);
}

/**
 * The header and data views both sides of a ring share.
 *
 * @example
 * ```ts
 * class Peek extends RingView { used(): number { return (Atomics.load(this.h, 0) - Atomics.load(this.h, 1)) | 0; } }
 * ```
 */
export class RingView {
  /** Header counters (write, read, dropped, closed). */
  protected readonly h: Int32Array;
  /** The byte ring. */
  protected readonly data: Uint8Array;
  /** `capacity - 1`, the capacity being a power of two. */
  protected readonly mask: number;

  /**
   * A view of a ring.
   *
   * @param sab - from {@link createRing}
   */
  constructor(sab: SharedArrayBuffer) {
    this.h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, HEADER_BYTES);
    this.mask = this.data.length - 1;
  }
}

/**
 * The producing side of a ring.
 *
 * @example
 * ```ts
 * const w = new RingWriter(sab);
 * w.write(bytes); // never blocks
 * ```
 */
export class RingWriter extends RingView {

  /**
   * Appends bytes; those that do not fit are dropped and counted.
   *
   * @param bytes - the bytes
   * @returns how many were written
   * @example
   * ```ts
   * writer.write(Uint8Array.of(0x41));
   * ```
   */
  write(bytes: Uint8Array): number {
    const w = Atomics.load(this.h, H_WRITE);
    const r = Atomics.load(this.h, H_READ);
    const room = this.data.length - ((w - r) | 0);
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.data[(w + i) & this.mask] = bytes[i] ?? 0;
    if (n < bytes.length) Atomics.add(this.h, H_DROPPED, bytes.length - n);
    if (n > 0) {
      Atomics.store(this.h, H_WRITE, (w + n) | 0);
      // Sequentially consistent with the reader's store of H_WAITING before it waits on H_WRITE:
      // either this sees the flag and wakes it, or its wait sees the new counter and returns.
      if (Atomics.load(this.h, H_WAITING) !== 0) {
        Atomics.store(this.h, H_WAITING, 0);
        Atomics.notify(this.h, H_WRITE);
      }
    }
    return n;
  }

  /**
   * Marks the ring closed: the reader's {@link RingReader.read} then returns null once drained.
   *
   * @example
   * ```ts
   * writer.close();
   * ```
   */
  close(): void {
    Atomics.store(this.h, H_CLOSED, 1);
    Atomics.notify(this.h, H_WRITE);
  }
}

/**
 * The consuming side of a ring.
 *
 * @example
 * ```ts
 * const r = new RingReader(sab);
 * for (let chunk = await r.read(); chunk; chunk = await r.read()) process.stdout.write(chunk);
 * ```
 */
export class RingReader extends RingView {

  /**
   * Takes whatever is in the ring now, without waiting.
   *
   * @returns the bytes (possibly empty)
   * @example
   * ```ts
   * const now = reader.take();
   * ```
   */
  take(): Uint8Array {
    const w = Atomics.load(this.h, H_WRITE);
    const r = Atomics.load(this.h, H_READ);
    const n = (w - r) | 0;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.data[(r + i) & this.mask] ?? 0;
    Atomics.store(this.h, H_READ, w);
    return out;
  }

  /**
   * Waits for bytes (or the close) and takes them.
   *
   * @returns the bytes, or null once the ring is closed and drained
   * @example
   * ```ts
   * const chunk = await reader.read();
   * ```
   */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const w = Atomics.load(this.h, H_WRITE);
      if (w !== Atomics.load(this.h, H_READ)) return this.take();
      if (Atomics.load(this.h, H_CLOSED)) return null;
      Atomics.store(this.h, H_WAITING, 1);
      // The timeout only bounds a close() that lands between the checks above and this wait.
      const res = waitAsync(this.h, H_WRITE, w, 250);
      if (!res.async) continue;
      await res.value;
      // Woken by the first byte of a burst: give the producer a moment to add the rest, so that
      // a guest writing one byte per exit does not wake this thread once per byte (each wake
      // costs the producer's CPU on a small host). Output is at most ~1 ms later.
      if (!Atomics.load(this.h, H_CLOSED)) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /**
   * Bytes dropped because the ring was full.
   *
   * @returns the count
   * @example
   * ```ts
   * if (reader.dropped() > 0) console.warn("console output was lost");
   * ```
   */
  dropped(): number {
    return Atomics.load(this.h, H_DROPPED);
  }
}
