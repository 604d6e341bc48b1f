/**
 * Guest-physical memory: the one abstraction through which the SDK reads and writes guest RAM.
 * @module
 */
import { VirtioError } from "./errors.js";

/** Largest guest-physical address handled as a number internally (2^53 - 1; x86-64 has 52 bits). */
const MAX_ADDR = Number.MAX_SAFE_INTEGER;

/**
 * One guest-physical region given to {@link GuestMemory}: where it starts in guest-physical space
 * and the host bytes that back it. The bytes may be a `Uint8Array` (a view into a larger buffer is
 * fine), an `ArrayBuffer` or a `SharedArrayBuffer`; they are used in place, never copied.
 *
 * @example
 * ```ts
 * const low: GuestMemoryRegionInit = { guestAddress: 0n, bytes: new Uint8Array(new SharedArrayBuffer(1 << 20)) };
 * ```
 */
export interface GuestMemoryRegionInit {
  /** Guest-physical start address (number or bigint, at most 2^53 - 1). */
  readonly guestAddress: bigint | number;
  /** The host bytes backing the region. */
  readonly bytes: Uint8Array | ArrayBufferLike;
}

/**
 * A region as {@link GuestMemory} holds it after validation.
 *
 * @example
 * ```ts
 * for (const r of mem.regions) console.log(r.guestAddress.toString(16), r.size);
 * ```
 */
export interface GuestMemoryRegion {
  /** Guest-physical start address. */
  readonly guestAddress: bigint;
  /** Size in bytes. */
  readonly size: number;
  /** The backing bytes (the caller's memory, not a copy). */
  readonly bytes: Uint8Array;
}

/**
 * What an access hook is told: `read` / `write` for scalar and copy accesses, `view` for a byte
 * range handed out as a view, `check` for a {@link GuestMemory.contains} test.
 *
 * @example
 * ```ts
 * const kind: GuestAccessKind = "write";
 * ```
 */
export type GuestAccessKind = "read" | "write" | "view" | "check";

/**
 * A function called on every access to a {@link GuestMemory} created with it, before the access
 * happens. `inside` says whether `[address, address + length)` lies inside guest memory; when it
 * is false (other than for `check`), the access is about to throw `out-of-bounds`. Tests use it to
 * prove that a device never even attempts an access outside guest memory.
 *
 * @example
 * ```ts
 * const hook: GuestAccessHook = (addr, len, kind, inside) => { if (!inside && kind !== "check") bad++; };
 * ```
 */
export type GuestAccessHook = (address: number, length: number, kind: GuestAccessKind, inside: boolean) => void;

/**
 * Options of {@link GuestMemory}.
 *
 * @example
 * ```ts
 * const opts: GuestMemoryOptions = { onAccess: (a, n, kind) => log.push([a, n, kind]) };
 * ```
 */
export interface GuestMemoryOptions {
  /** Called before every access; leave unset in production (the hot path then skips it). */
  readonly onAccess?: GuestAccessHook;
}

/**
 * One region of a {@link GuestMemory} as {@link GuestMemory.regionAt} hands it out: its
 * guest-physical bounds as numbers and its bytes as a `Uint8Array` and a `DataView` (both over
 * the region's own memory: writes reach the guest).
 *
 * @example
 * ```ts
 * const r = mem.regionAt(0x1000, 12);
 * if (r) r.view.setUint32(0x1000 - r.start, 0, true);
 * ```
 */
export interface GuestRegionAccess {
  /** Guest-physical address of the region's first byte. */
  readonly start: number;
  /** Guest-physical address one past the region's last byte. */
  readonly end: number;
  /** The region's bytes; `bytes[a - start]` is the guest byte at `a`. */
  readonly bytes: Uint8Array;
  /** A `DataView` over the same bytes (offset `a - start`); virtio is little-endian. */
  readonly view: DataView;
}

interface Slot extends GuestRegionAccess {
  readonly buffer: ArrayBufferLike;
  readonly base: number; // bytes.byteOffset
}

/** `new Uint8Array(buffer, offset, length)` is about twice as fast as `subarray` on V8 (no species lookup). */
function sub(s: Slot, off: number, len: number): Uint8Array {
  return new Uint8Array(s.buffer, s.base + off, len);
}

function toAddr(field: string, a: bigint | number): number {
  if (typeof a === "bigint") {
    if (a < 0n) throw new VirtioError("out-of-range", `${field}: expected a guest-physical address >= 0, got ${a}`);
    // Anything above 2^53 cannot be inside a region (regions are validated below 2^53).
    return a > BigInt(MAX_ADDR) ? Number.POSITIVE_INFINITY : Number(a);
  }
  if (typeof a !== "number" || !Number.isInteger(a) || a < 0) {
    throw new VirtioError("invalid-argument", `${field}: expected a non-negative integer or bigint, got ${String(a)}`);
  }
  return a;
}

function hex(a: number): string {
  return Number.isFinite(a) ? `0x${a.toString(16)}` : "beyond 2^53";
}

/**
 * Guest-physical memory over host buffers: bounds-checked little-endian accessors for 8 to 64
 * bits (64-bit values as bigint), byte ranges as views where they are contiguous inside one
 * region, and copies in and out that may cross adjacent regions.
 *
 * Addresses are accepted as `bigint` (the SDK's type for guest-physical addresses) or as a
 * non-negative integer `number`. Regions are fixed at construction, sorted and may not overlap;
 * they may be backed by `SharedArrayBuffer`s so several threads see the same RAM. Every access outside every region throws a {@link VirtioError} with code `out-of-bounds`;
 * nothing is read or written in that case.
 *
 * The class may be subclassed; for instrumentation, pass {@link GuestMemoryOptions.onAccess}.
 *
 * @throws {@link VirtioError} `invalid-argument` for a malformed region list, `out-of-range` for
 * regions that overlap or extend beyond 2^53.
 * @example
 * ```ts
 * const ram = new Uint8Array(1 << 20);
 * const mem = new GuestMemory([{ guestAddress: 0n, bytes: ram }]);
 * mem.write32(0x1000n, 0xdeadbeef);
 * mem.read16(0x1002n); // 0xdead
 * mem.view(0x1000n, 4); // Uint8Array over ram[0x1000..0x1004)
 * ```
 */
export class GuestMemory {
  /** The regions, sorted by guest address. */
  readonly regions: readonly GuestMemoryRegion[];
  private readonly slots: readonly Slot[];
  private readonly hook: GuestAccessHook | undefined;
  private last = 0;

  /**
   * Builds guest memory over the given regions.
   * @param regions - the guest-physical regions; they must not overlap
   * @param options - optional access hook
   * @throws {@link VirtioError} `invalid-argument` / `out-of-range` for bad regions
   */
  constructor(regions: readonly GuestMemoryRegionInit[], options: GuestMemoryOptions = {}) {
    if (!Array.isArray(regions)) throw new VirtioError("invalid-argument", "regions: expected an array");
    const slots: Slot[] = [];
    regions.forEach((r, i) => {
      const bytes = r.bytes instanceof Uint8Array ? r.bytes : toBytes(r.bytes, i);
      const start = toAddr(`regions[${i}].guestAddress`, r.guestAddress);
      const end = start + bytes.byteLength;
      if (!(end <= MAX_ADDR)) {
        throw new VirtioError("out-of-range", `regions[${i}]: expected to end at or below 2^53, ends at ${hex(end)}`);
      }
      if (bytes.byteLength === 0) return;
      slots.push({
        start,
        end,
        bytes,
        view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        buffer: bytes.buffer,
        base: bytes.byteOffset,
      });
    });
    slots.sort((a, b) => a.start - b.start);
    for (let i = 1; i < slots.length; i++) {
      const a = slots[i - 1] as Slot;
      const b = slots[i] as Slot;
      if (b.start < a.end) {
        throw new VirtioError("out-of-range", `regions: region at ${hex(b.start)} overlaps the region ending at ${hex(a.end)}`);
      }
    }
    this.slots = slots;
    this.regions = slots.map((s) => ({ guestAddress: BigInt(s.start), size: s.end - s.start, bytes: s.bytes }));
    this.hook = options.onAccess;
  }

  /**
   * Whether `[address, address + length)` lies entirely inside guest memory (possibly across
   * adjacent regions). A zero-length range is inside when its address is inside a region or at a
   * region's end.
   *
   * @param address - guest-physical address
   * @param length - byte count
   * @returns true when every byte is backed
   * @throws {@link VirtioError} `invalid-argument` for a malformed address or length
   * @example
   * ```ts
   * mem.contains(0xff0n, 16); // true on a 1 MiB memory at 0
   * ```
   */
  contains(address: bigint | number, length: number): boolean {
    const c = this.fastSlot(address, length);
    if (c !== undefined) return true;
    const a = toAddr("address", address);
    checkLength(length);
    const ok = this.span(a, length);
    if (this.hook !== undefined) this.hook(a, length, "check", ok);
    return ok;
  }

  /**
   * Checks a list of ranges at once (the buffers of a descriptor chain): the index of the first
   * range not inside guest memory, or -1 when all are. Zero-length ranges are skipped (they
   * touch nothing); addresses that are not finite non-negative integers are outside.
   *
   * @param addresses - guest-physical addresses
   * @param lengths - byte counts, same order
   * @param count - how many leading entries to check
   * @returns the first failing index, or -1
   * @example
   * ```ts
   * mem.firstOutside(new Float64Array([0x1000, 0xffff_0000]), new Uint32Array([512, 16]), 2); // 1
   * ```
   */
  firstOutside(addresses: ArrayLike<number>, lengths: ArrayLike<number>, count: number): number {
    for (let i = 0; i < count; i++) {
      const n = lengths[i] as number;
      if (n === 0) continue;
      const a = addresses[i] as number;
      const c = this.slots[this.last];
      // Common case first: inside the last-used region (NaN and Infinity fail the comparisons).
      // Number.isInteger rather than `a % 1 === 0`: a float modulo is a call to fmod, a third of
      // the cost of checking a 3-buffer chain.
      if (this.hook === undefined && c !== undefined && a >= c.start && a + n <= c.end && Number.isInteger(a)) continue;
      if (!(a >= 0 && a <= MAX_ADDR) || !Number.isInteger(a)) {
        if (this.hook !== undefined) this.hook(a, n, "check", false);
        return i;
      }
      const ok = this.span(a, n);
      if (this.hook !== undefined) this.hook(a, n, "check", ok);
      if (!ok) return i;
    }
    return -1;
  }

  /**
   * Reads a byte.
   * @param address - guest-physical address
   * @returns the byte
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory
   * @example
   * ```ts
   * mem.read8(0x1000n);
   * ```
   */
  read8(address: bigint | number): number {
    const c = this.fastSlot(address, 1);
    if (c !== undefined) return c.bytes[(address as number) - c.start] as number;
    return this.readChecked(address, 1);
  }

  /**
   * Reads a little-endian u16.
   * @param address - guest-physical address (any alignment)
   * @returns the value
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory
   * @example
   * ```ts
   * mem.read16(0x1000n);
   * ```
   */
  read16(address: bigint | number): number {
    const c = this.fastSlot(address, 2);
    if (c !== undefined) return c.view.getUint16((address as number) - c.start, true);
    return this.readChecked(address, 2);
  }

  /**
   * Reads a little-endian u32.
   * @param address - guest-physical address (any alignment)
   * @returns the value
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory
   * @example
   * ```ts
   * mem.read32(0x1000n);
   * ```
   */
  read32(address: bigint | number): number {
    const c = this.fastSlot(address, 4);
    if (c !== undefined) return c.view.getUint32((address as number) - c.start, true);
    return this.readChecked(address, 4);
  }

  /**
   * Reads a little-endian u64.
   * @param address - guest-physical address (any alignment)
   * @returns the value as bigint
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory
   * @example
   * ```ts
   * mem.read64(0x1000n); // e.g. 0x1122334455667788n
   * ```
   */
  read64(address: bigint | number): bigint {
    const a = toAddr("address", address);
    const s = this.locateOrSpan(a, 8, "read");
    if (s !== undefined) return s.view.getBigUint64(a - s.start, true);
    return BigInt(this.readSpan(a, 4)) | (BigInt(this.readSpan(a + 4, 4)) << 32n);
  }

  /**
   * Writes a byte.
   * @param address - guest-physical address
   * @param value - 0..255
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory, `out-of-range` for a bad value
   * @example
   * ```ts
   * mem.write8(0x1000n, 0x7f);
   * ```
   */
  write8(address: bigint | number, value: number): void {
    const c = this.fastSlot(address, 1);
    if (c !== undefined) if ((value & 0xff) === value) {
      c.bytes[(address as number) - c.start] = value;
      return;
    }
    this.writeChecked(address, value, 1);
  }

  /**
   * Writes a little-endian u16.
   * @param address - guest-physical address (any alignment)
   * @param value - 0..0xffff
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory, `out-of-range` for a bad value
   * @example
   * ```ts
   * mem.write16(0x1000n, 0xbeef);
   * ```
   */
  write16(address: bigint | number, value: number): void {
    const c = this.fastSlot(address, 2);
    if (c !== undefined) if ((value & 0xffff) === value) {
      c.view.setUint16((address as number) - c.start, value, true);
      return;
    }
    this.writeChecked(address, value, 2);
  }

  /**
   * Writes a little-endian u32.
   * @param address - guest-physical address (any alignment)
   * @param value - 0..0xffffffff
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory, `out-of-range` for a bad value
   * @example
   * ```ts
   * mem.write32(0x1000n, 0xdeadbeef);
   * ```
   */
  write32(address: bigint | number, value: number): void {
    const c = this.fastSlot(address, 4);
    if (c !== undefined) if (value >>> 0 === value) {
      c.view.setUint32((address as number) - c.start, value, true);
      return;
    }
    this.writeChecked(address, value, 4);
  }

  /**
   * Writes a little-endian u64.
   * @param address - guest-physical address (any alignment)
   * @param value - 0..2^64-1, as bigint
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory, `out-of-range` for a bad value
   * @example
   * ```ts
   * mem.write64(0x1000n, 0x1122334455667788n);
   * ```
   */
  write64(address: bigint | number, value: bigint): void {
    if (typeof value !== "bigint" || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
      throw new VirtioError("out-of-range", `value: expected a bigint in 0..2^64-1, got ${String(value)}`);
    }
    const a = toAddr("address", address);
    const s = this.locateOrSpan(a, 8, "write");
    if (s !== undefined) s.view.setBigUint64(a - s.start, value, true);
    else {
      this.writeSpan(a, Number(value & 0xffff_ffffn), 4);
      this.writeSpan(a + 4, Number(value >> 32n), 4);
    }
  }

  /**
   * A view of `[address, address + length)` when that range lies inside one region: writes
   * through the view reach guest memory. Use {@link GuestMemory.read} / {@link GuestMemory.write}
   * for ranges that may cross regions.
   *
   * @param address - guest-physical address
   * @param length - byte count
   * @returns a `Uint8Array` over the backing bytes (no copy)
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory, `not-contiguous` when the
   * range is backed but crosses into another region
   * @example
   * ```ts
   * mem.view(0x2000n, 512).fill(0);
   * ```
   */
  view(address: bigint | number, length: number): Uint8Array {
    const a = toAddr("address", address);
    checkLength(length);
    const s = this.locateOrSpan(a, length, "view");
    if (s === undefined) {
      throw new VirtioError(
        "not-contiguous",
        `address: range ${hex(a)}+${length} is backed by more than one region; use read() or write()`,
      );
    }
    return sub(s, a - s.start, length);
  }

  /**
   * Like {@link GuestMemory.view} but returns `undefined` instead of throwing `not-contiguous`.
   *
   * @param address - guest-physical address
   * @param length - byte count
   * @returns a view, or undefined when the range crosses regions
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory
   * @example
   * ```ts
   * const v = mem.tryView(addr, len) ?? copyOut(addr, len);
   * ```
   */
  tryView(address: bigint | number, length: number): Uint8Array | undefined {
    const c = this.fastSlot(address, length);
    if (c !== undefined) return sub(c, (address as number) - c.start, length);
    return this.tryViewChecked(address, length);
  }

  private tryViewChecked(address: bigint | number, length: number): Uint8Array | undefined {
    const a = toAddr("address", address);
    checkLength(length);
    const s = this.locateOrSpan(a, length, "view");
    if (s === undefined) return undefined;
    return sub(s, a - s.start, length);
  }

  /**
   * Copies `out.length` bytes from guest memory at `address` into `out` (crossing adjacent regions
   * if needed).
   *
   * @param address - guest-physical address
   * @param out - destination
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory (nothing is copied)
   * @example
   * ```ts
   * const hdr = new Uint8Array(16);
   * mem.read(0x3000n, hdr);
   * ```
   */
  read(address: bigint | number, out: Uint8Array): void {
    const c = this.fastSlot(address, out.length);
    if (c !== undefined) {
      const o = (address as number) - c.start;
      const n = out.length;
      if (n <= 16) for (let i = 0; i < n; i++) out[i] = c.bytes[o + i] as number;
      else out.set(sub(c, o, n));
      return;
    }
    this.readBytesChecked(address, out);
  }

  private readBytesChecked(address: bigint | number, out: Uint8Array): void {
    const a = toAddr("address", address);
    const n = out.length;
    const s = this.locateOrSpan(a, n, "read");
    if (s !== undefined) {
      const off = a - s.start;
      out.set(s.bytes.subarray(off, off + n));
      return;
    }
    let done = 0;
    while (done < n) {
      const t = this.slotAt(a + done) as Slot;
      const off = a + done - t.start;
      const k = Math.min(n - done, t.end - (a + done));
      out.set(t.bytes.subarray(off, off + k), done);
      done += k;
    }
  }

  /**
   * Copies `data` into guest memory at `address` (crossing adjacent regions if needed).
   *
   * @param address - guest-physical address
   * @param data - source bytes
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory (nothing is written)
   * @example
   * ```ts
   * mem.write(0x3000n, new TextEncoder().encode("hello"));
   * ```
   */
  write(address: bigint | number, data: Uint8Array): void {
    const c = this.fastSlot(address, data.length);
    if (c !== undefined) {
      const o = (address as number) - c.start;
      const n = data.length;
      if (n <= 16) for (let i = 0; i < n; i++) c.bytes[o + i] = data[i] as number;
      else c.bytes.set(data, o);
      return;
    }
    this.writeBytesChecked(address, data);
  }

  private writeBytesChecked(address: bigint | number, data: Uint8Array): void {
    const a = toAddr("address", address);
    const n = data.length;
    const s = this.locateOrSpan(a, n, "write");
    if (s !== undefined) {
      s.bytes.set(data, a - s.start);
      return;
    }
    let done = 0;
    while (done < n) {
      const t = this.slotAt(a + done) as Slot;
      const k = Math.min(n - done, t.end - (a + done));
      t.bytes.set(data.subarray(done, done + k), a + done - t.start);
      done += k;
    }
  }

  /**
   * Fills `[address, address + length)` with `value`.
   *
   * @param address - guest-physical address
   * @param length - byte count
   * @param value - the byte, default 0
   * @throws {@link VirtioError} `out-of-bounds` outside guest memory (nothing is written)
   * @example
   * ```ts
   * mem.fill(0x4000n, 4096); // zero a page
   * ```
   */
  fill(address: bigint | number, length: number, value = 0): void {
    checkUint("value", value, 0xff);
    const a = toAddr("address", address);
    checkLength(length);
    const s = this.locateOrSpan(a, length, "write");
    if (s !== undefined) {
      s.bytes.fill(value, a - s.start, a - s.start + length);
      return;
    }
    let done = 0;
    while (done < length) {
      const t = this.slotAt(a + done) as Slot;
      const k = Math.min(length - done, t.end - (a + done));
      t.bytes.fill(value, a + done - t.start, a + done - t.start + k);
      done += k;
    }
  }

  /**
   * The region holding all of `[address, address + length)`, for a request path that makes
   * several accesses to one buffer (a header and the data after it) with one bounds check
   * instead of one per access. Undefined when the range is not inside one region, when the address
   * is not a non-negative integer number, and whenever an access hook is installed (accesses
   * through the region would bypass it): use the checked accessors then.
   *
   * @param address - guest-physical address (a number)
   * @param length - byte count
   * @returns the region, or undefined
   * @example
   * ```ts
   * const r = mem.regionAt(addr, 12 + frame.length);
   * if (r !== undefined) {
   *   r.view.setUint32(addr - r.start, 0, true);
   *   r.bytes.set(frame, addr - r.start + 12);
   * } else mem.write(addr + 12, frame);
   * ```
   */
  regionAt(address: number, length: number): GuestRegionAccess | undefined {
    const c = this.fastSlot(address, length);
    if (c !== undefined || this.hook !== undefined || typeof address !== "number") return c;
    // Not in the region used last: find the one holding the address, then try again.
    if (!(address >= 0 && address <= MAX_ADDR) || !Number.isInteger(address)) return undefined;
    if (this.slotAt(address) === undefined) return undefined;
    return this.fastSlot(address, length);
  }

  /**
   * The hot path: a non-negative integer `number` address whose range lies in the region that
   * served the previous access, with no hook installed. Anything else takes the checked path.
   *
   * Each accessor's checked path is a method of its own (`readChecked`, `writeBytesChecked`, …):
   * small accessors are what V8 inlines into the request paths, where they are called several
   * times per request; with the checked paths inline they were too big for its inlining budget.
   */
  private fastSlot(address: bigint | number, n: number): Slot | undefined {
    if (typeof address !== "number" || this.hook !== undefined) return undefined;
    const c = this.slots[this.last];
    if (c === undefined || !(address >= c.start && address + n <= c.end)) return undefined;
    // n is validated here too: a fractional or negative length falls through to the checks.
    if (!Number.isInteger(address) || !Number.isInteger(n) || n < 0) return undefined;
    return c;
  }

  /** The checked path of read8 / read16 / read32 (a 1-byte range is never split, so never undefined). */
  private readChecked(address: bigint | number, n: 1 | 2 | 4): number {
    const a = toAddr("address", address);
    const s = this.locateOrSpan(a, n, "read");
    if (s === undefined) return this.readSpan(a, n);
    const o = a - s.start;
    return n === 1 ? (s.bytes[o] as number) : n === 2 ? s.view.getUint16(o, true) : s.view.getUint32(o, true);
  }

  /** The checked path of write8 / write16 / write32: the value is checked first, then the address. */
  private writeChecked(address: bigint | number, value: number, n: 1 | 2 | 4): void {
    checkUint("value", value, n === 1 ? 0xff : n === 2 ? 0xffff : 0xffffffff);
    const a = toAddr("address", address);
    const s = this.locateOrSpan(a, n, "write");
    if (s === undefined) {
      this.writeSpan(a, value, n);
      return;
    }
    const o = a - s.start;
    if (n === 1) s.bytes[o] = value;
    else if (n === 2) s.view.setUint16(o, value, true);
    else s.view.setUint32(o, value, true);
  }

  /** The slot holding `a`, or undefined. */
  private slotAt(a: number): Slot | undefined {
    const slots = this.slots;
    const c = slots[this.last];
    if (c !== undefined && a >= c.start && a < c.end) return c;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i] as Slot;
      if (a >= s.start && a < s.end) {
        this.last = i;
        return s;
      }
    }
    return undefined;
  }

  /** Whether [a, a+n) is fully backed, possibly across adjacent regions. */
  private span(a: number, n: number): boolean {
    if (!(a <= MAX_ADDR)) return false;
    if (n === 0) {
      if (this.slotAt(a) !== undefined) return true;
      return this.slots.some((s) => s.end === a);
    }
    let p = a;
    const end = a + n;
    while (p < end) {
      const s = this.slotAt(p);
      if (s === undefined) return false;
      p = s.end;
    }
    return true;
  }

  /** The one slot holding all of [a, a+n), or undefined when the range crosses regions; throws when not backed. */
  private locateOrSpan(a: number, n: number, kind: GuestAccessKind): Slot | undefined {
    const c = this.slots[this.last];
    if (this.hook === undefined && c !== undefined && a >= c.start && a + n <= c.end) return c;
    const s = this.slotAt(a);
    if (s !== undefined && a + n <= s.end) {
      if (this.hook !== undefined) this.hook(a, n, kind, true);
      return s;
    }
    const ok = n === 0 ? this.span(a, 0) : s !== undefined && this.span(a, n);
    if (this.hook !== undefined) this.hook(a, n, kind, ok);
    if (!ok) throw outside(a, n);
    if (n === 0) {
      const t = this.slots.find((x) => x.end === a) as Slot;
      return t;
    }
    return undefined;
  }

  private readSpan(a: number, n: number): number {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) {
      const s = this.slotAt(a + i) as Slot;
      v = v * 256 + (s.bytes[a + i - s.start] as number);
    }
    return v;
  }

  private writeSpan(a: number, value: number, n: number): void {
    let v = value;
    for (let i = 0; i < n; i++) {
      const s = this.slotAt(a + i) as Slot;
      s.bytes[a + i - s.start] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }
}

function toBytes(b: unknown, i: number): Uint8Array {
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (typeof SharedArrayBuffer !== "undefined" && b instanceof SharedArrayBuffer) return new Uint8Array(b);
  throw new VirtioError("invalid-argument", `regions[${i}].bytes: expected a Uint8Array, ArrayBuffer or SharedArrayBuffer`);
}

function checkLength(n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_ADDR) {
    throw new VirtioError("invalid-argument", `length: expected a non-negative integer, got ${String(n)}`);
  }
}

function checkUint(field: string, v: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new VirtioError("out-of-range", `${field}: expected an integer in 0..${max}, got ${String(v)}`);
  }
}

function outside(a: number, n: number): VirtioError {
  return new VirtioError("out-of-bounds", `address: range ${hex(a)}+${n} is outside every guest memory region`);
}
