/**
 * virtio-blk (virtio 1.2 §5.2).
 * @module
 */
import { Blk as BlkExport, BlkFeature as BlkFeatureExport, BlkStatus as BlkStatusExport, BlkType as BlkTypeExport, DeviceId as DeviceIdExport } from "../constants.js";
import type { BlockBackend, BlockResult } from "../backends.js";
import { VirtioError } from "../errors.js";
import type { DescriptorChain, SplitQueue } from "../split-queue.js";
import type { GuestMemory } from "../guest-memory.js";
import type { DeviceHost } from "../transport.js";
import { DeviceBase, isThenable } from "./device-base.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const Blk: typeof BlkExport = { ...BlkExport };
const BlkFeature: typeof BlkFeatureExport = { ...BlkFeatureExport };
const BlkStatus: typeof BlkStatusExport = { ...BlkStatusExport };
const BlkType: typeof BlkTypeExport = { ...BlkTypeExport };
const DeviceId: typeof DeviceIdExport = { ...DeviceIdExport };

/**
 * Options of {@link BlkDevice}.
 *
 * @example
 * ```ts
 * const opts: BlkDeviceOptions = { queueSize: 128 };
 * ```
 */
export interface BlkDeviceOptions {
  /** QueueNumMax, a power of two in 1..32768 (default 256, as Firecracker). */
  readonly queueSize?: number;
  /** `seg_max` offered: most data segments per request (default queueSize - 2, at least 1). */
  readonly segMax?: number;
}

const BIT = (b: number): bigint => 1n << BigInt(b);
const MAX_DISCARD_SECTORS = 0x3fffff;
const MAX_DISCARD_SEG = 1;

type Status = number | Promise<number>;

function statusOf(r: BlockResult): number {
  return typeof r === "number" ? r & 0xff : BlkStatus.Ok;
}

/** Runs a backend call, mapping throws and rejections to IOERR. */
function call(fn: () => BlockResult | Promise<BlockResult>): Status {
  try {
    const r = fn();
    if (isThenable(r)) return Promise.resolve(r).then(statusOf, () => BlkStatus.IoErr);
    return statusOf(r);
  } catch {
    return BlkStatus.IoErr;
  }
}

/** Combines several statuses: the first non-OK wins. */
function all(list: Status[]): Status {
  let async = false;
  for (const s of list) {
    if (typeof s !== "number") async = true;
    else if (s !== BlkStatus.Ok) return s;
  }
  if (!async) return BlkStatus.Ok;
  return Promise.all(list).then((v) => v.find((s) => s !== BlkStatus.Ok) ?? BlkStatus.Ok);
}

/** Runs `next` after `s` if it is OK. */
function then(s: Status, next: () => Status): Status {
  if (typeof s === "number") return s === BlkStatus.Ok ? next() : s;
  return s.then((v) => (v === BlkStatus.Ok ? next() : v));
}

/** The data buffers of a request (`BlkDevice`'s dataParts), as parallel arrays. */
interface DataParts {
  readonly addrs: number[];
  readonly lens: number[];
  readonly views: (Uint8Array | undefined)[];
  readonly whole: boolean;
}

/**
 * A virtio-blk device (id 2) with one request queue over a {@link BlockBackend}.
 *
 * - Requests: IN, OUT, FLUSH, GET_ID, and DISCARD / WRITE_ZEROES when the backend has them
 *   (virtio 1.2 §5.2.6). Others complete with `VIRTIO_BLK_S_UNSUPP`.
 * - Features: SEG_MAX, BLK_SIZE, RO for read-only backends, FLUSH for backends with a volatile
 *   cache, DISCARD, WRITE_ZEROES, EVENT_IDX, INDIRECT_DESC.
 * - Config (`struct virtio_blk_config`): capacity, seg_max, blk_size and the discard /
 *   write-zeroes limits.
 * - Durability: a FLUSH completes after the backend's flush resolves; without a volatile cache
 *   (or when the driver did not accept FLUSH) a write completes only after write and flush both
 *   resolve.
 * - A chain without a 16-byte header or a status byte is completed with length 0
 *   (`malformed-request`), so the ring never leaks (reference table #19).
 *
 * @throws {@link VirtioError} from the constructor, for a bad backend size or options.
 * @example
 * ```ts
 * const blk = new BlkDevice(new MemoryBlockBackend(new Uint8Array(64 << 20)));
 * const t = new MmioTransport({ memory, device: blk, interrupt });
 * ```
 */
export class BlkDevice extends DeviceBase {
  /** virtio device id 2. */
  readonly deviceId: number = DeviceId.Block;
  /** One request queue. */
  readonly queueMaxSizes: readonly number[];
  /** `struct virtio_blk_config` (60 bytes). */
  readonly config: Uint8Array;
  /** The backend. */
  readonly backend: BlockBackend;
  private readonly capacityBytes: number;
  private readonly idBytes: Uint8Array;
  private readonly hdr = new Uint8Array(Blk.HeaderSize);
  private readonly hdrView = new DataView(this.hdr.buffer);
  /** The drain's handler, made once. */
  private readonly onRequest = (c: DescriptorChain, q: SplitQueue): void => this.request(c, q);

  /**
   * Creates the device over a backend.
   * @param backend - the block backend
   * @param options - queue size, seg_max
   * @throws {@link VirtioError} `out-of-range` for a bad size, queue size or id
   */
  constructor(backend: BlockBackend, options: BlkDeviceOptions = {}) {
    super();
    const size = backend.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new VirtioError("out-of-range", `backend.size: expected a byte count in 0..2^53-1, got ${String(size)}`);
    }
    const qs = options.queueSize ?? 256;
    const segMax = options.segMax ?? Math.max(1, qs - 2);
    if (!Number.isInteger(segMax) || segMax < 1 || segMax > 0xffffffff) {
      throw new VirtioError("out-of-range", `segMax: expected 1..2^32-1, got ${String(segMax)}`);
    }
    const bs = backend.blockSize ?? Blk.SectorSize;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
      throw new VirtioError("out-of-range", `backend.blockSize: expected a power of two >= 512, got ${String(bs)}`);
    }
    const id = new TextEncoder().encode(backend.id ?? "");
    if (id.length > Blk.IdBytes) {
      throw new VirtioError("out-of-range", `backend.id: expected at most ${Blk.IdBytes} bytes, got ${id.length}`);
    }
    this.idBytes = new Uint8Array(Blk.IdBytes);
    this.idBytes.set(id);
    this.backend = backend;
    this.queueMaxSizes = [qs];
    const sectors = Math.floor(size / Blk.SectorSize);
    this.capacityBytes = sectors * Blk.SectorSize;
    this.config = new Uint8Array(Blk.ConfigSize);
    const v = new DataView(this.config.buffer);
    // struct virtio_blk_config offsets (Linux include/uapi/linux/virtio_blk.h; checked in test/vectors).
    v.setBigUint64(0, BigInt(sectors), true); // capacity
    v.setUint32(12, segMax, true); // seg_max
    v.setUint32(20, bs, true); // blk_size
    v.setUint32(36, MAX_DISCARD_SECTORS, true); // max_discard_sectors
    v.setUint32(40, MAX_DISCARD_SEG, true); // max_discard_seg
    v.setUint32(44, 1, true); // discard_sector_alignment
    v.setUint32(48, MAX_DISCARD_SECTORS, true); // max_write_zeroes_sectors
    v.setUint32(52, MAX_DISCARD_SEG, true); // max_write_zeroes_seg
    v.setUint8(56, 1); // write_zeroes_may_unmap
  }

  /**
   * Offered features (see the class summary).
   * @returns the feature mask
   * @example
   * ```ts
   * blk.features(false) & (1n << 5n); // RO bit
   * ```
   */
  features(): bigint {
    const b = this.backend;
    let f = this.ringFeatures() | BIT(BlkFeature.SegMax) | BIT(BlkFeature.BlkSize);
    if (b.readOnly === true) f |= BIT(BlkFeature.Ro);
    if (b.volatileCache === true) f |= BIT(BlkFeature.Flush);
    if (typeof b.discard === "function") f |= BIT(BlkFeature.Discard);
    if (typeof b.writeZeroes === "function") f |= BIT(BlkFeature.WriteZeroes);
    return f;
  }

  /**
   * Serves the request queue.
   * @param index - queue index (0)
   * @example
   * ```ts
   * blk.queueNotify(0);
   * ```
   */
  queueNotify(index: number): void {
    if (index !== 0) return;
    this.drain(0, this.onRequest);
  }

  private finish(chain: DescriptorChain, statusAddr: number, status: Status, written: number): void {
    if (typeof status === "number") {
      this.done(chain, statusAddr, status, written);
      return;
    }
    status.then(
      (s) => this.done(chain, statusAddr, s, written),
      () => this.done(chain, statusAddr, BlkStatus.IoErr, written),
    );
  }

  private done(chain: DescriptorChain, statusAddr: number, status: number, written: number): void {
    const host = this.host;
    if (host === undefined || !this.live(0, chain)) return;
    host.memory.write8(statusAddr, status);
    // used.len counts the status byte; on error only the status byte is reported.
    this.complete(0, chain, status === BlkStatus.Ok ? written + 1 : 1);
  }

  private request(chain: DescriptorChain, queue: SplitQueue): void {
    const host = this.host as DeviceHost;
    const n = chain.count;
    if (chain.readableBytes < Blk.HeaderSize || chain.writableBytes < 1) {
      host.hostile("malformed-request", `blk request ${chain.head}: expected a 16-byte header and a status byte`);
      this.complete(0, chain, 0);
      return;
    }
    // Status byte: the last byte of the last non-empty writable buffer (virtio 1.2 §5.2.6).
    let last = n - 1;
    while ((chain.lengths[last] as number) === 0) last--;
    const statusAddr = (chain.addresses[last] as number) + (chain.lengths[last] as number) - 1;
    // struct virtio_blk_outhdr: le32 type @0, le32 ioprio @4, le64 sector @8.
    let type: number;
    let sector: number;
    const a = chain.addresses[0] as number;
    const region = chain.region;
    const r = (chain.lengths[0] as number) >= Blk.HeaderSize ? (region ?? host.memory.regionAt(a, Blk.HeaderSize)) : undefined;
    if (r !== undefined) {
      const v = r.view;
      const o = a - r.start;
      type = v.getUint32(o, true);
      sector = v.getUint32(o + 8, true) + v.getUint32(o + 12, true) * 4294967296;
    } else {
      chain.read(host.memory, 0, this.hdr);
      const hv = this.hdrView;
      type = hv.getUint32(0, true);
      sector = hv.getUint32(8, true) + hv.getUint32(12, true) * 4294967296;
    }
    const inLen = chain.writableBytes - 1;
    const b = this.backend;
    // The hottest request: a read of a memory-backed disk into the one data buffer of a chain
    // whose region the queue knows: one copy, no bounds checks left to make. Anything else
    // (a range that does not fit included: readIn reports it) goes the general way.
    if (
      type === BlkType.In &&
      region !== undefined &&
      b.view !== undefined &&
      n === chain.readableCount + 2 &&
      (chain.lengths[n - 2] as number) === inLen &&
      inLen % Blk.SectorSize === 0 &&
      sector * Blk.SectorSize + inLen <= this.capacityBytes
    ) {
      let st: number = BlkStatus.Ok;
      try {
        const data = b.view(sector * Blk.SectorSize, inLen);
        // A view of another length breaks the backend's contract: never written past the buffer.
        if (data.length !== inLen) st = BlkStatus.IoErr;
        else region.bytes.set(data, (chain.addresses[n - 2] as number) - region.start);
      } catch {
        st = BlkStatus.IoErr;
      }
      region.bytes[statusAddr - region.start] = st;
      queue.addUsed(chain, st === BlkStatus.Ok ? inLen + 1 : 1); // (inside the drain: its interrupt covers it)
      return;
    }
    const mem = host.memory;
    const outLen = chain.readableBytes - Blk.HeaderSize;
    switch (type) {
      case BlkType.In:
        return this.readIn(chain, mem, statusAddr, sector, inLen);
      case BlkType.Out: {
        if (b.readOnly === true || !this.rangeOk(chain, sector, outLen)) return this.finish(chain, statusAddr, BlkStatus.IoErr, 0);
        let st = this.segments(chain, true, sector * Blk.SectorSize, outLen, (off, view) => b.write(off, view), b.writev?.bind(b));
        if (!this.negotiated(BlkFeature.Flush) && typeof b.flush === "function") {
          // Write-through: the write is complete only once it is durable (virtio 1.2 §5.2.6.2).
          st = then(st, () => call(() => b.flush?.()));
        }
        return this.finish(chain, statusAddr, st, 0);
      }
      case BlkType.Flush: {
        const st = typeof b.flush === "function" ? call(() => b.flush?.()) : BlkStatus.Ok;
        return this.finish(chain, statusAddr, st, 0);
      }
      case BlkType.GetId: {
        const k = Math.min(inLen, Blk.IdBytes);
        const w = chain.write(mem, 0, this.idBytes.subarray(0, k));
        return this.finish(chain, statusAddr, BlkStatus.Ok, w);
      }
      case BlkType.Discard:
      case BlkType.WriteZeroes:
        return this.finish(chain, statusAddr, this.discard(chain, type, outLen), 0);
      default:
        return this.finish(chain, statusAddr, BlkStatus.Unsupp, 0);
    }
  }

  /**
   * An IN request: the data part of the chain filled from the disk. A method of its own rather
   * than a case of `request`: V8 then optimizes the hot path with an inlining budget of its own,
   * and inlines the guest-memory accesses and the completion into it.
   */
  private readIn(chain: DescriptorChain, mem: GuestMemory, statusAddr: number, sector: number, inLen: number): void {
    const n = chain.count;
    const b = this.backend;
    if (!this.rangeOk(chain, sector, inLen)) return this.finish(chain, statusAddr, BlkStatus.IoErr, 0);
    // Fastest path: a memory-backed disk and one data buffer: one copy, no guest view.
    if (b.view !== undefined && n === chain.readableCount + 2 && (chain.lengths[n - 2] as number) === inLen) {
      let st: number = BlkStatus.Ok;
      try {
        const data = b.view(sector * 512, inLen);
        // A view of another length breaks the backend's contract: never written past the buffer.
        if (data.length !== inLen) st = BlkStatus.IoErr;
        else mem.write(chain.addresses[n - 2] as number, data);
      } catch {
        st = BlkStatus.IoErr;
      }
      mem.write8(statusAddr, st);
      this.complete(0, chain, st === BlkStatus.Ok ? inLen + 1 : 1);
      return;
    }
    // Fast path: one data buffer (the common 4 KiB page), a synchronous backend.
    if (n === chain.readableCount + 2 && (chain.lengths[n - 2] as number) === inLen) {
      const view = mem.tryView(chain.addresses[n - 2] as number, inLen);
      if (view !== undefined) {
        let r: BlockResult | Promise<BlockResult>;
        try {
          r = b.read(sector * 512, view);
        } catch {
          r = BlkStatus.IoErr;
        }
        if (!isThenable(r)) {
          // Still inside the drain: no reset can have happened since the pop.
          const st = statusOf(r);
          mem.write8(statusAddr, st);
          this.complete(0, chain, st === BlkStatus.Ok ? inLen + 1 : 1);
          return;
        }
        return this.finish(chain, statusAddr, Promise.resolve(r).then(statusOf, () => BlkStatus.IoErr), inLen);
      }
    }
    const st = this.segments(chain, false, sector * Blk.SectorSize, inLen, (off, view) => b.read(off, view), b.readv?.bind(b));
    return this.finish(chain, statusAddr, st, inLen);
  }

  private rangeOk(chain: DescriptorChain, sector: number, len: number): boolean {
    if (len % Blk.SectorSize !== 0 || sector * Blk.SectorSize + len > this.capacityBytes) {
      this.host?.hostile(
        "malformed-request",
        `blk request ${chain.head}: ${len} bytes at sector ${sector} expected whole sectors within ${this.capacityBytes / Blk.SectorSize}`,
      );
      return false;
    }
    return true;
  }

  /**
   * Runs `op` over the data part of the chain (readable after the header, or writable before the
   * status byte); or, when the backend is vectored (`vector`) and the data is in several buffers
   * that are all plain views of guest memory, `vector` once over all of them.
   */
  private segments(
    chain: DescriptorChain,
    readable: boolean,
    offset: number,
    total: number,
    op: (offset: number, view: Uint8Array) => BlockResult | Promise<BlockResult>,
    vector?: (offset: number, views: readonly Uint8Array[]) => BlockResult | Promise<BlockResult>,
  ): Status {
    const mem = (this.host as DeviceHost).memory;
    const { addrs, lens, views, whole } = this.dataParts(chain, readable, total);
    if (vector !== undefined && whole && views.length > 1) return call(() => vector(offset, views as Uint8Array[]));
    const out: Status[] = [];
    let off = offset;
    for (let i = 0; i < views.length; i++) {
      const o = off;
      const k = lens[i] as number;
      const view = views[i];
      if (view !== undefined) out.push(call(() => op(o, view)));
      else {
        // A buffer crossing two adjacent regions: bounce through a copy.
        const addr = addrs[i] as number;
        const tmp = new Uint8Array(k);
        if (readable) {
          mem.read(addr, tmp);
          out.push(call(() => op(o, tmp)));
        } else {
          const st = call(() => op(o, tmp));
          out.push(then(st, () => (this.live(0, chain) ? (mem.write(addr, tmp), BlkStatus.Ok) : BlkStatus.IoErr)));
        }
      }
      off += k;
    }
    return out.length === 1 ? (out[0] as Status) : all(out);
  }

  /**
   * The data part of the chain, in order: each buffer's address and length (the header skipped on
   * the readable side, the status byte left out on the writable one) and its guest-memory view,
   * undefined for a buffer that crosses two memory regions; `whole` when every buffer has a view.
   * Parallel arrays rather than an object per buffer: a 1 MiB request has up to 254 buffers.
   */
  private dataParts(chain: DescriptorChain, readable: boolean, total: number): DataParts {
    const mem = (this.host as DeviceHost).memory;
    const addrs: number[] = [];
    const lens: number[] = [];
    const views: (Uint8Array | undefined)[] = [];
    let whole = true;
    let skip = readable ? Blk.HeaderSize : 0;
    let left = total;
    const to = readable ? chain.readableCount : chain.count;
    for (let i = readable ? 0 : chain.readableCount; i < to && left > 0; i++) {
      const len = chain.lengths[i] as number;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const addr = (chain.addresses[i] as number) + skip;
      const k = Math.min(len - skip, left);
      const view = mem.tryView(addr, k);
      if (view === undefined) whole = false;
      addrs.push(addr);
      lens.push(k);
      views.push(view);
      skip = 0;
      left -= k;
    }
    return { addrs, lens, views, whole };
  }

  private discard(chain: DescriptorChain, type: number, len: number): Status {
    const b = this.backend;
    const zeroes = type === BlkType.WriteZeroes;
    const bit = zeroes ? BlkFeature.WriteZeroes : BlkFeature.Discard;
    const fn = zeroes ? b.writeZeroes : b.discard;
    if (!this.negotiated(bit) || typeof fn !== "function") return BlkStatus.Unsupp;
    if (b.readOnly === true) return BlkStatus.IoErr;
    if (len === 0 || len % Blk.DiscardSegmentSize !== 0 || len / Blk.DiscardSegmentSize > MAX_DISCARD_SEG) {
      this.host?.hostile("malformed-request", `blk ${zeroes ? "write-zeroes" : "discard"} ${chain.head}: expected 1..${MAX_DISCARD_SEG} 16-byte segments, got ${len} bytes`);
      return BlkStatus.IoErr;
    }
    const mem = (this.host as DeviceHost).memory;
    const seg = new Uint8Array(len);
    chain.read(mem, Blk.HeaderSize, seg);
    const v = new DataView(seg.buffer);
    const list: Status[] = [];
    for (let o = 0; o < len; o += Blk.DiscardSegmentSize) {
      const sector = v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
      const count = v.getUint32(o + 8, true);
      const flags = v.getUint32(o + 12, true);
      // Only WRITE_ZEROES knows a flag (bit 0, unmap); anything else is UNSUPP (virtio 1.2 §5.2.6.2).
      if ((flags & ~(zeroes ? 1 : 0)) !== 0) return BlkStatus.Unsupp;
      if (count > MAX_DISCARD_SECTORS || !this.rangeOk(chain, sector, count * Blk.SectorSize)) return BlkStatus.IoErr;
      const off = sector * Blk.SectorSize;
      const bytes = count * Blk.SectorSize;
      list.push(zeroes ? call(() => (fn as NonNullable<BlockBackend["writeZeroes"]>).call(b, off, bytes, (flags & 1) === 1)) : call(() => (fn as NonNullable<BlockBackend["discard"]>).call(b, off, bytes)));
    }
    return all(list);
  }
}
