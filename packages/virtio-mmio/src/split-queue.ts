/**
 * Split virtqueues (virtio 1.2 §2.7): the device side, hardened against a hostile driver.
 * @module
 */
import { Vring as VringExport, VringFlag as VringFlagExport } from "./constants.js";
import type { GuestMemory, GuestRegionAccess } from "./guest-memory.js";
import { VirtioError } from "./errors.js";
import type { HostileCheck } from "./hostile.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const Vring: typeof VringExport = { ...VringExport };
const VringFlag: typeof VringFlagExport = { ...VringFlagExport };

const TWO32 = 4294967296;
/** High words at or above this make an address beyond 2^53, i.e. outside any region. */
const HI_LIMIT = 0x200000;
/** The most descriptors a chain popped without the general walk has (SplitQueue's `short`). */
const SHORT_CHAIN = 4;

/**
 * One descriptor chain popped from a queue: its head index and its buffers, device-readable
 * ones first (`addresses[0 .. readableCount)`), then device-writable ones. Lengths and addresses
 * are plain numbers: every buffer has been checked to lie inside guest memory, so addresses are
 * below 2^53.
 *
 * @example
 * ```ts
 * const chain = queue.pop();
 * if (chain) {
 *   const hdr = new Uint8Array(16);
 *   chain.read(mem, 0, hdr);
 *   queue.addUsed(chain, chain.write(mem, 0, reply));
 * }
 * ```
 */
export class DescriptorChain {
  /** The head descriptor index, reported back in the used ring. */
  readonly head: number;
  /** Number of buffers; `addresses` and `lengths` are valid up to it. */
  count = 0;
  /** Guest-physical address of each buffer (first `count` entries). */
  addresses: Float64Array = new Float64Array(SHORT_CHAIN);
  /** Length of each buffer (first `count` entries). */
  lengths: Uint32Array = new Uint32Array(SHORT_CHAIN);
  /** How many leading buffers are device-readable. */
  readableCount = 0;
  /** Total bytes of the device-readable buffers. */
  readableBytes = 0;
  /** Total bytes of the device-writable buffers. */
  writableBytes = 0;
  /** The queue epoch the chain was popped in; completions from an older epoch are dropped. */
  readonly epoch: number;
  /**
   * The one guest-memory region every non-empty buffer of the chain lies in, when the queue
   * knows it without another look-up (most chains, once one has been popped); undefined
   * otherwise, and always while the memory has an access hook. A request path may address the
   * buffers through it (`region.bytes[addr - region.start]`) with no further bounds check.
   */
  region: GuestRegionAccess | undefined = undefined;

  /**
   * Creates an empty chain; {@link SplitQueue.pop} makes and fills them.
   * @param head - head descriptor index
   * @param epoch - queue epoch at pop time
   */
  constructor(head: number, epoch: number) {
    this.head = head;
    this.epoch = epoch;
  }

  /**
   * Appends a buffer (used by {@link SplitQueue} while walking a chain).
   * @param addr - guest-physical address
   * @param len - length
   * @example
   * ```ts
   * chain.push(0x1000, 512);
   * ```
   */
  push(addr: number, len: number): void {
    const i = this.count;
    if (i === this.addresses.length) {
      const a = new Float64Array(i * 2);
      a.set(this.addresses);
      this.addresses = a;
      const l = new Uint32Array(i * 2);
      l.set(this.lengths);
      this.lengths = l;
    }
    this.addresses[i] = addr;
    this.lengths[i] = len;
    this.count = i + 1;
  }

  /**
   * Gathers device-readable bytes, starting `offset` bytes into the readable part, into `out`.
   *
   * @param mem - the guest memory the chain came from
   * @param offset - byte offset into the readable part
   * @param out - destination; filled up to the end of the readable part
   * @returns the number of bytes copied
   * @example
   * ```ts
   * const n = chain.read(mem, 0, new Uint8Array(16));
   * ```
   */
  read(mem: GuestMemory, offset: number, out: Uint8Array): number {
    let skip = offset;
    let done = 0;
    for (let i = 0; i < this.readableCount && done < out.length; i++) {
      const len = this.lengths[i] as number;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const k = Math.min(len - skip, out.length - done);
      mem.read((this.addresses[i] as number) + skip, part(out, done, k));
      done += k;
      skip = 0;
    }
    return done;
  }

  /**
   * A view of `length` device-readable bytes from `offset` into the readable part, when they lie
   * in one buffer and one memory region; undefined otherwise ({@link DescriptorChain.read} then
   * copies them). The view is guest memory itself: the guest can change it while it is read.
   *
   * @param mem - the guest memory the chain came from
   * @param offset - byte offset into the readable part
   * @param length - byte count, with `offset + length <= readableBytes`
   * @returns the view, or undefined
   * @example
   * ```ts
   * const frame = chain.readableView(mem, 12, chain.readableBytes - 12) ?? copyOut(chain);
   * ```
   */
  readableView(mem: GuestMemory, offset: number, length: number): Uint8Array | undefined {
    let skip = offset;
    for (let i = 0; i < this.readableCount; i++) {
      const len = this.lengths[i] as number;
      if (skip < len) return skip + length <= len ? mem.tryView((this.addresses[i] as number) + skip, length) : undefined;
      skip -= len;
    }
    return undefined;
  }

  /**
   * Scatters `data` into the device-writable buffers, starting `offset` bytes into the writable
   * part. Stops at the end of the writable part.
   *
   * @param mem - the guest memory the chain came from
   * @param offset - byte offset into the writable part
   * @param data - the bytes to write
   * @returns the number of bytes written
   * @example
   * ```ts
   * queue.addUsed(chain, chain.write(mem, 0, bytes));
   * ```
   */
  write(mem: GuestMemory, offset: number, data: Uint8Array): number {
    let skip = offset;
    let done = 0;
    for (let i = this.readableCount; i < this.count && done < data.length; i++) {
      const len = this.lengths[i] as number;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const k = Math.min(len - skip, data.length - done);
      mem.write((this.addresses[i] as number) + skip, part(data, done, k));
      done += k;
      skip = 0;
    }
    return done;
  }
}

/**
 * `b[from, from + n)`: `b` itself when that is all of it (the common case of a buffer that holds a
 * whole frame or sector), else a subarray. A subarray costs an allocation, and of a small array
 * that V8 keeps on its heap, moving the bytes to a new ArrayBuffer: more than copying them.
 */
function part(b: Uint8Array, from: number, n: number): Uint8Array {
  return from === 0 && n === b.length ? b : b.subarray(from, from + n);
}

/**
 * Where a queue's three parts live, as the transport gathered them from the registers.
 *
 * @example
 * ```ts
 * const layout: QueueLayout = { size: 256, desc: 0x10000, avail: 0x11000, used: 0x12000 };
 * ```
 */
export interface QueueLayout {
  /** Queue size chosen by the driver. */
  readonly size: number;
  /** Descriptor Area address (a number; values above 2^53 are passed as Infinity). */
  readonly desc: number;
  /** Driver Area (available ring) address. */
  readonly avail: number;
  /** Device Area (used ring) address. */
  readonly used: number;
}

/**
 * Options of {@link SplitQueue}.
 *
 * @example
 * ```ts
 * const q = new SplitQueue({ memory: mem, maxSize: 256, onViolation: (c, d) => console.warn(c, d) });
 * ```
 */
export interface SplitQueueOptions {
  /** The guest memory the rings and buffers live in. */
  readonly memory: GuestMemory;
  /** QueueNumMax: a power of two in 1..32768. */
  readonly maxSize: number;
  /** Called once when a check fires that stops the queue; the transport sets DEVICE_NEEDS_RESET. */
  readonly onViolation: (check: HostileCheck, detail: string) => void;
}

function dvOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The device side of one split virtqueue (virtio 1.2 §2.7): pops descriptor chains (direct and
 * indirect) from the available ring, writes used elements, and decides whether to interrupt
 * (flags or `VIRTIO_F_EVENT_IDX`, both ways). Indices are free-running u16s.
 *
 * Every structural check of the reference's hardening table is made before memory is touched;
 * a violation calls `onViolation`, marks the queue broken (it is never used again until the
 * driver resets it) and never throws. Ring parts must each lie inside one guest-memory region
 * (they are mapped once, as QEMU maps its vring caches); buffers may cross adjacent regions.
 *
 * @throws {@link VirtioError} only from the constructor, for a bad `maxSize`.
 * @example
 * ```ts
 * const q = new SplitQueue({ memory: mem, maxSize: 256, onViolation: () => {} });
 * q.activate({ size: 256, desc: 0x10000, avail: 0x11000, used: 0x12000 }, { eventIdx: true, indirect: true });
 * for (let c = q.pop(); c; c = q.pop()) q.addUsed(c, 0);
 * if (q.needsNotification()) raiseInterrupt();
 * ```
 */
export class SplitQueue {
  /** QueueNumMax. */
  readonly maxSize: number;
  private readonly mem: GuestMemory;
  private readonly onViolation: (check: HostileCheck, detail: string) => void;
  private sizeV = 0;
  private mask = 0;
  private desc: DataView | undefined;
  private avail: DataView | undefined;
  private used: DataView | undefined;
  private lastAvail = 0;
  private usedIdx = 0;
  private signalled = 0;
  private eventIdx = false;
  private indirect = false;
  private brokenV = false;
  private epochV = 0;
  private inFlight: Uint8Array = new Uint8Array(0);
  /**
   * The guest-memory region the buffers of a recent chain lay in (`[bufStart, bufEnd)`; empty at
   * first). Regions never change, so a buffer inside it needs no other check.
   */
  private bufStart = 1;
  private bufEnd = 0;
  private bufRegion: GuestRegionAccess | undefined = undefined;
  private inFlightCount = 0;
  /**
   * One chain object per head, reused: a head is never in flight twice (`head-in-flight`), and
   * a chain is dead once its used element is written. A new pool is made on every activation,
   * so a stale chain from before a reset is never recycled under a device that still holds it.
   */
  private pool: (DescriptorChain | undefined)[] = [];

  /**
   * Creates an inactive queue.
   * @param options - memory, maximum size and violation callback
   * @throws {@link VirtioError} `out-of-range` when `maxSize` is not a power of two in 1..32768
   */
  constructor(options: SplitQueueOptions) {
    const m = options.maxSize;
    if (!Number.isInteger(m) || m < 1 || m > Vring.MaxQueueSize || (m & (m - 1)) !== 0) {
      throw new VirtioError("out-of-range", `maxSize: expected a power of two in 1..${Vring.MaxQueueSize}, got ${String(m)}`);
    }
    this.maxSize = m;
    this.mem = options.memory;
    this.onViolation = options.onViolation;
  }

  /**
   * Whether the queue is active (set up by the driver and not broken).
   * @example
   * ```ts
   * if (q.ready) q.pop();
   * ```
   */
  get ready(): boolean {
    return this.desc !== undefined && !this.brokenV;
  }

  /**
   * Whether a hostile-driver check stopped this queue.
   * @example
   * ```ts
   * if (q.broken) console.warn("queue stopped; waiting for a device reset");
   * ```
   */
  get broken(): boolean {
    return this.brokenV;
  }

  /**
   * The active size (0 when inactive).
   * @example
   * ```ts
   * q.size; // 256
   * ```
   */
  get size(): number {
    return this.desc === undefined ? 0 : this.sizeV;
  }

  /**
   * Incremented on every activation, deactivation and reset; completions of chains from an older
   * epoch are dropped, so a request finishing after a reset never writes to the rings.
   * @example
   * ```ts
   * const e = q.epoch;
   * ```
   */
  get epoch(): number {
    return this.epochV;
  }

  /**
   * Chains popped and not yet completed.
   * @example
   * ```ts
   * q.pendingCount; // 0 when idle
   * ```
   */
  get pendingCount(): number {
    return this.inFlightCount;
  }

  /**
   * The index in the available ring of the next buffer the device will take (vhost-user's
   * "vring base", GET_VRING_BASE; 0 when inactive).
   *
   * @example
   * ```ts
   * const base = q.nextAvail; // saved when a ring stops, given back with resume() when it restarts
   * ```
   */
  get nextAvail(): number {
    return this.desc === undefined ? 0 : this.lastAvail;
  }

  /**
   * Continues an active queue from where an earlier user of the same rings stopped: the next
   * available index is `nextAvail` (vhost-user's SET_VRING_BASE) and the used index is the one
   * the ring holds in guest memory (every earlier buffer is taken as completed), as a backend
   * that takes over a running ring must (QEMU docs/interop/vhost-user.rst, "Starting and
   * stopping rings").
   *
   * @param nextAvail - the available-ring index to continue from, 0..65535
   * @returns false (and the violation reported) when the queue is inactive or the index is bad
   * @example
   * ```ts
   * q.activate(layout, features);
   * q.resume(savedBase);
   * ```
   */
  resume(nextAvail: number): boolean {
    const used = this.used;
    if (used === undefined || this.brokenV) return false;
    if (!Number.isInteger(nextAvail) || nextAvail < 0 || nextAvail > 0xffff) {
      return this.fail("avail-idx-jump", `vring base: expected 0..65535, got ${String(nextAvail)}`);
    }
    this.lastAvail = nextAvail;
    this.usedIdx = used.getUint16(2, true);
    this.signalled = this.usedIdx;
    return true;
  }

  /**
   * Validates a layout and starts using it: size a power of two in 1..maxSize, ring alignment
   * (16/2/4), every ring part inside one guest-memory region. On failure the violation callback
   * fires, the queue stays inactive, and false is returned.
   *
   * @param layout - size and ring addresses
   * @param features - whether EVENT_IDX and INDIRECT_DESC were negotiated
   * @returns true when the queue is now active
   * @example
   * ```ts
   * q.activate({ size: 8, desc: 0x1000, avail: 0x1080, used: 0x1100 }, { eventIdx: false, indirect: false });
   * ```
   */
  activate(layout: QueueLayout, features: { readonly eventIdx: boolean; readonly indirect: boolean }): boolean {
    this.deactivate();
    const n = layout.size;
    if (!Number.isInteger(n) || n < 1 || n > this.maxSize || (n & (n - 1)) !== 0) {
      return this.fail("queue-size", `QueueNum: expected a power of two in 1..${this.maxSize}, got ${n}`);
    }
    const parts: [string, number, number, number][] = [
      ["QueueDesc", layout.desc, Vring.DescSize * n, Vring.DescAlign],
      ["QueueDriver", layout.avail, 6 + 2 * n, Vring.AvailAlign],
      ["QueueDevice", layout.used, 6 + Vring.UsedElemSize * n, Vring.UsedAlign],
    ];
    const views: DataView[] = [];
    for (const [name, addr, len, align] of parts) {
      if (!(addr <= Number.MAX_SAFE_INTEGER) || !this.mem.contains(addr, len)) {
        return this.fail("ring-outside-memory", `${name}: ${len} bytes at ${hexn(addr)} are outside guest memory`);
      }
      if (addr % align !== 0) {
        return this.fail("ring-alignment", `${name}: expected ${align}-byte alignment, got ${hexn(addr)}`);
      }
      const v = this.mem.tryView(addr, len);
      if (v === undefined) {
        return this.fail("ring-outside-memory", `${name}: ${len} bytes at ${hexn(addr)} cross a memory-region boundary`);
      }
      views.push(dvOf(v));
    }
    this.sizeV = n;
    this.mask = n - 1;
    this.desc = views[0];
    this.avail = views[1];
    this.used = views[2];
    this.eventIdx = features.eventIdx;
    this.indirect = features.indirect;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.signalled = 0;
    this.inFlight = new Uint8Array(n);
    this.pool = new Array<DescriptorChain | undefined>(n).fill(undefined);
    this.inFlightCount = 0;
    this.brokenV = false;
    return true;
  }

  /**
   * Stops using the rings (QueueReady = 0, QueuePFN = 0 or a device reset) and clears the broken
   * mark. In-flight chains are forgotten; their late completions are dropped.
   * @example
   * ```ts
   * q.deactivate();
   * ```
   */
  deactivate(): void {
    this.desc = this.avail = this.used = undefined;
    this.brokenV = false;
    this.sizeV = 0;
    this.inFlightCount = 0;
    this.epochV++;
  }

  /**
   * Pops the next available descriptor chain after checking it completely, or returns undefined
   * when nothing is available, the queue is inactive or broken, or a check fired (the queue is
   * then broken).
   *
   * @returns the chain, or undefined
   * @example
   * ```ts
   * for (let c = q.pop(); c; c = q.pop()) handle(c);
   * ```
   */
  pop(): DescriptorChain | undefined {
    const avail = this.avail;
    if (avail === undefined || this.brokenV) return undefined;
    const size = this.sizeV;
    const idx = avail.getUint16(2, true);
    const pending = (idx - this.lastAvail) & 0xffff;
    if (pending === 0) return undefined;
    if (pending > size) {
      this.fail("avail-idx-jump", `avail.idx: expected at most ${size} ahead of ${this.lastAvail}, got ${idx}`);
      return undefined;
    }
    const head = avail.getUint16(4 + 2 * (this.lastAvail & this.mask), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (head >= size) {
      this.fail("head-out-of-range", `avail.ring: expected a head below ${size}, got ${head}`);
      return undefined;
    }
    if (this.inFlight[head] === 1) {
      this.fail("head-in-flight", `avail.ring: head ${head} is still in use by the device`);
      return undefined;
    }
    const chain = this.short(head) ?? this.walk(head);
    if (chain === undefined) return undefined;
    this.inFlight[head] = 1;
    this.inFlightCount++;
    return chain;
  }

  /**
   * Gives back the last `count` popped chains (they will be popped again), used when a device
   * pops ahead and then finds it cannot use them yet (net receive with mergeable buffers).
   *
   * @param chains - the chains to give back, in pop order
   * @example
   * ```ts
   * q.unpop([c1, c2]);
   * ```
   */
  unpop(chains: readonly DescriptorChain[]): void {
    for (const c of chains) {
      if (c.epoch !== this.epochV || this.inFlight[c.head] !== 1) continue;
      this.inFlight[c.head] = 0;
      this.inFlightCount--;
      this.lastAvail = (this.lastAvail - 1) & 0xffff;
    }
  }

  /**
   * Whether the driver has made buffers available that were not popped yet (no checks).
   * @returns true when avail.idx differs from the next index to pop
   * @example
   * ```ts
   * if (q.hasAvailable()) process();
   * ```
   */
  hasAvailable(): boolean {
    const avail = this.avail;
    if (avail === undefined || this.brokenV) return false;
    return avail.getUint16(2, true) !== this.lastAvail;
  }

  /**
   * Writes a used element for `chain` and publishes it (used.idx + 1). The length is the number of
   * bytes written into the chain's writable buffers (virtio 1.2 §2.7.8). Chains from an older
   * epoch, or of a broken queue, are dropped.
   *
   * @param chain - a chain popped from this queue
   * @param written - bytes written to its device-writable part
   * @param publish - update used.idx now (default); pass false to publish several elements at
   * once with {@link SplitQueue.publishUsed} (net mergeable receive buffers)
   * @returns true when the element was written
   * @example
   * ```ts
   * q.addUsed(chain, 513);
   * ```
   */
  addUsed(chain: DescriptorChain, written: number, publish = true): boolean {
    const used = this.used;
    if (used === undefined || this.brokenV || chain.epoch !== this.epochV) return false;
    const head = chain.head;
    if (this.inFlight[head] !== 1) return false;
    this.inFlight[head] = 0;
    this.inFlightCount--;
    this.putUsed(used, head, Math.min(written, chain.writableBytes) >>> 0, publish);
    return true;
  }

  /** Writes the next used element and, when `publish`, used.idx after it (virtio 1.2 §2.7.8.2). */
  private putUsed(used: DataView, head: number, len: number, publish: boolean): void {
    const off = 4 + 8 * (this.usedIdx & this.mask);
    used.setUint32(off, head, true);
    used.setUint32(off + 4, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    if (publish) used.setUint16(2, this.usedIdx, true);
  }

  /**
   * Publishes used elements added with `publish = false` (writes used.idx).
   * @example
   * ```ts
   * q.addUsed(a, 1500, false); q.addUsed(b, 200, false); q.publishUsed();
   * ```
   */
  publishUsed(): void {
    const used = this.used;
    if (used === undefined || this.brokenV) return;
    used.setUint16(2, this.usedIdx, true);
  }

  /**
   * Pops, fills and completes the next available chain in one step, when it is the common
   * receive buffer: a lone device-writable descriptor (flags exactly WRITE, next 0) of at least
   * `headerLen + data.length` bytes, in the guest-memory region the queue knows from earlier
   * chains. `writeHeader` writes the first `headerLen` bytes, `data` is copied after them, and
   * then the used element (their total length) is published. For any other chain, and when
   * nothing is available, it does nothing and returns false: {@link SplitQueue.pop} then takes the
   * chain with every check, and reports what is wrong with it. Net receive uses it, so that a
   * backend's frame goes straight into the guest's buffer.
   *
   * @param data - the bytes after the header
   * @param headerLen - the header's length in bytes
   * @param writeHeader - writes the header at `offset` of `view` (the buffer's region); called
   * only when the chain is taken, before anything is published
   * @returns true when a chain was filled and its used element published
   * @example
   * ```ts
   * const zeroHeader = (v: DataView, o: number): void => v.setUint32(o, 0);
   * if (!q.fillNext(frame, 4, zeroHeader)) { const c = q.pop(); … } // the general way
   * ```
   */
  fillNext(data: Uint8Array, headerLen: number, writeHeader: (view: DataView, offset: number) => void): boolean {
    const avail = this.avail;
    const r = this.bufRegion;
    if (avail === undefined || r === undefined || this.brokenV) return false;
    const last = this.lastAvail;
    const pending = (avail.getUint16(2, true) - last) & 0xffff;
    if (pending === 0 || pending > this.sizeV) return false;
    const head = avail.getUint16(4 + 2 * (last & this.mask), true);
    if (head >= this.sizeV || this.inFlight[head] === 1) return false;
    const table = this.desc as DataView;
    const off = head * 16;
    // flags (le16 @12) and next (le16 @14) in one load: WRITE alone, no NEXT, no INDIRECT.
    if (table.getUint32(off + 12, true) !== VringFlag.DescWrite) return false;
    const hi = table.getUint32(off + 4, true);
    const addr = hi < HI_LIMIT ? hi * TWO32 + table.getUint32(off, true) : Number.POSITIVE_INFINITY;
    const len = table.getUint32(off + 8, true);
    const total = headerLen + data.length;
    if (len < total || !(addr >= this.bufStart && addr + len <= this.bufEnd)) return false;
    const o = addr - r.start;
    writeHeader(r.view, o);
    r.bytes.set(data, o + headerLen);
    this.lastAvail = (last + 1) & 0xffff;
    this.putUsed(this.used as DataView, head, total, true);
    return true;
  }

  /**
   * Whether the driver wants an interrupt for the used elements added since the last call:
   * with EVENT_IDX, `vring_need_event(used_event, new, old)` (virtio 1.2 §2.7.10); otherwise
   * unless avail.flags has NO_INTERRUPT (§2.7.7).
   *
   * @returns true when the device should raise a used-buffer notification
   * @example
   * ```ts
   * if (q.needsNotification()) transport.interrupt();
   * ```
   */
  needsNotification(): boolean {
    const avail = this.avail;
    if (avail === undefined || this.brokenV) return false;
    const old = this.signalled;
    const now = this.usedIdx;
    this.signalled = now;
    if (old === now) return false;
    if (this.eventIdx) {
      const ev = avail.getUint16(4 + 2 * this.sizeV, true);
      return ((now - ev - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (avail.getUint16(0, true) & VringFlag.AvailNoInterrupt) === 0;
  }

  /**
   * Asks the driver not to notify while the device is draining the queue (used.flags
   * NO_NOTIFY; with EVENT_IDX nothing needs writing: avail_event simply stays behind).
   * @example
   * ```ts
   * q.disableNotifications();
   * ```
   */
  disableNotifications(): void {
    const used = this.used;
    if (used === undefined || this.brokenV || this.eventIdx) return;
    used.setUint16(0, VringFlag.UsedNoNotify, true);
  }

  /**
   * Asks the driver to notify for the next available buffer (avail_event = next index with
   * EVENT_IDX, else clears NO_NOTIFY), then re-reads avail.idx to close the race with a driver
   * that added buffers meanwhile (virtio 1.2 §2.7.10).
   *
   * @returns true when buffers became available meanwhile (drain again)
   * @example
   * ```ts
   * do { q.disableNotifications(); drain(); } while (q.enableNotifications());
   * ```
   */
  enableNotifications(): boolean {
    const used = this.used;
    if (used === undefined || this.brokenV) return false;
    if (this.eventIdx) used.setUint16(4 + 8 * this.sizeV, this.lastAvail, true);
    else used.setUint16(0, 0, true);
    return this.hasAvailable();
  }

  private fail(check: HostileCheck, detail: string): false {
    this.brokenV = true;
    this.onViolation(check, detail);
    return false;
  }

  /**
   * The common chain: up to {@link SHORT_CHAIN} direct descriptors (no INDIRECT), readable ones
   * first, every buffer in the region the last chain's buffers lay in: what Linux's virtio-net
   * posts and sends (one descriptor) and a virtio-blk request (header, data, status). Nothing of
   * `walk`'s checks can fire on such a chain, so they are not made: it gives up (undefined) at the
   * first thing that differs (an indirect table, a buffer elsewhere, a readable buffer after a
   * writable one, a next index out of range, more descriptors than the limit, a total of 2^32
   * bytes or more), and `walk` then takes the chain from the start and reports what is
   * wrong. It makes the head's pooled chain and fills it as it goes: the chain is not in flight, and
   * `walk` resets it.
   */
  private short(head: number): DescriptorChain | undefined {
    const table = this.desc as DataView;
    const size = this.sizeV;
    const start = this.bufStart;
    const end = this.bufEnd;
    const chain = this.pool[head] ?? (this.pool[head] = new DescriptorChain(head, this.epochV));
    const addrs = chain.addresses; // room for SHORT_CHAIN buffers from the start
    const lens = chain.lengths;
    let i = head;
    let n = 0;
    let readable = 0;
    let readBytes = 0;
    let writeBytes = 0;
    for (;;) {
      const off = i * 16;
      // flags (le16 @12) and next (le16 @14) in one little-endian load.
      const fn = table.getUint32(off + 12, true);
      if ((fn & VringFlag.DescIndirect) !== 0) return undefined;
      const lo = table.getUint32(off, true);
      const hi = table.getUint32(off + 4, true);
      const len = table.getUint32(off + 8, true);
      const addr = hi < HI_LIMIT ? hi * TWO32 + lo : Number.POSITIVE_INFINITY;
      if (len !== 0 && !(addr >= start && addr + len <= end)) return undefined;
      if ((fn & VringFlag.DescWrite) !== 0) writeBytes += len;
      else {
        if (n !== readable) return undefined; // readable after writable
        readable++;
        readBytes += len;
      }
      addrs[n] = addr;
      lens[n] = len;
      n++;
      if ((fn & VringFlag.DescNext) === 0) break;
      // (A table smaller than SHORT_CHAIN needs no check of its own: a chain longer than it
      // repeats a descriptor, so it loops and never ends within SHORT_CHAIN steps.)
      if (n === SHORT_CHAIN) return undefined;
      i = fn >>> 16;
      if (i >= size) return undefined;
    }
    if (readBytes + writeBytes >= TWO32) return undefined;
    chain.count = n;
    chain.readableCount = readable;
    chain.readableBytes = readBytes;
    chain.writableBytes = writeBytes;
    chain.region = this.bufRegion;
    return chain;
  }

  /** Walks and checks one chain starting at `head` (virtio 1.2 §2.7.5, §2.7.5.3). */
  private walk(head: number): DescriptorChain | undefined {
    const size = this.sizeV;
    const mem = this.mem;
    let table = this.desc as DataView;
    let tableLen = size;
    let i = head;
    let hops = 0;
    let inIndirect = false;
    let count = 0;
    let total = 0;
    let sawWritable = false;
    let miss = -1;
    // The pooled chain `short` has made (and maybe partly filled) for this head.
    const chain = this.pool[head] as DescriptorChain;
    chain.count = 0;
    chain.readableCount = 0;
    chain.readableBytes = 0;
    chain.writableBytes = 0;
    for (;;) {
      const off = i * 16;
      const lo = table.getUint32(off, true);
      const hi = table.getUint32(off + 4, true);
      const len = table.getUint32(off + 8, true);
      // flags (le16 @12) and next (le16 @14) in one little-endian load.
      const fn = table.getUint32(off + 12, true);
      const flags = fn & 0xffff;
      const addr = hi < HI_LIMIT ? hi * TWO32 + lo : Number.POSITIVE_INFINITY;
      if ((flags & VringFlag.DescIndirect) !== 0) {
        if (inIndirect) return this.bad("nested-indirect", `descriptor ${i} of an indirect table has INDIRECT set`);
        if (!this.indirect) return this.bad("indirect-unnegotiated", `descriptor ${i}: INDIRECT without VIRTIO_F_INDIRECT_DESC`);
        if ((flags & VringFlag.DescNext) !== 0) return this.bad("indirect-with-next", `descriptor ${i}: INDIRECT and NEXT together`);
        if (len === 0 || len % 16 !== 0) {
          return this.bad("indirect-size", `descriptor ${i}: indirect table length expected a non-zero multiple of 16, got ${len}`);
        }
        if (!(addr <= Number.MAX_SAFE_INTEGER) || !mem.contains(addr, len)) {
          return this.bad("buffer-outside-memory", `descriptor ${i}: indirect table ${len} bytes at ${hexn(addr)} outside guest memory`);
        }
        const v = mem.tryView(addr, len);
        if (v === undefined) {
          return this.bad("indirect-size", `descriptor ${i}: indirect table at ${hexn(addr)} crosses a memory-region boundary`);
        }
        table = dvOf(v);
        tableLen = len / 16;
        inIndirect = true;
        i = 0;
        hops = 0;
        continue;
      }
      total += len;
      if (total >= TWO32) return this.bad("length-overflow", `chain ${head}: total length expected below 2^32, got ${total}`);
      if (++count > size) return this.bad("chain-too-long", `chain ${head}: expected at most ${size} descriptors (the queue size)`);
      if ((flags & VringFlag.DescWrite) !== 0) {
        sawWritable = true;
        chain.writableBytes += len;
      } else {
        if (sawWritable) return this.bad("write-before-read", `chain ${head}: descriptor ${i} is device-readable after a device-writable one`);
        chain.readableCount++;
        chain.readableBytes += len;
      }
      // The usual buffer lies in the region the last chain's buffers lay in: noted here, the
      // full check (below) is only made for a chain with a buffer elsewhere.
      if (miss < 0 && len !== 0 && !(addr >= this.bufStart && addr + len <= this.bufEnd)) miss = chain.count;
      chain.push(addr, len);
      if ((flags & VringFlag.DescNext) === 0) break;
      const next = fn >>> 16;
      if (next >= tableLen) {
        return this.bad("next-out-of-range", `descriptor ${i}: next expected below ${tableLen}, got ${next}`);
      }
      if (++hops >= tableLen) return this.bad("chain-loop", `chain ${head}: descriptor loop (more than ${tableLen} hops)`);
      i = next;
    }
    if (miss < 0) {
      chain.region = this.bufRegion;
      return chain;
    }
    chain.region = undefined;
    // Buffers are checked once the chain's shape is known to be sane (loops, lengths, indirect).
    const bad = mem.firstOutside(chain.addresses, chain.lengths, chain.count);
    if (bad >= 0) {
      const len = chain.lengths[bad] as number;
      const addr = chain.addresses[bad] as number;
      return this.bad("buffer-outside-memory", `chain ${head}: buffer ${bad} (${len} bytes at ${hexn(addr)}) is outside guest memory`);
    }
    // Remember the region of the buffer that was not in the one remembered (none is while an
    // access hook watches the memory: every chain then takes the full check, which it sees).
    const r = mem.regionAt(chain.addresses[miss] as number, chain.lengths[miss] as number);
    if (r !== undefined) {
      this.bufStart = r.start;
      this.bufEnd = r.end;
      this.bufRegion = r;
    }
    return chain;
  }

  private bad(check: HostileCheck, detail: string): undefined {
    this.fail(check, detail);
    return undefined;
  }
}

function hexn(a: number): string {
  return Number.isFinite(a) ? `0x${a.toString(16)}` : "beyond 2^53";
}

