/**
 * A guest-side virtio-mmio driver for the tests, written from the spec (virtio 1.2 §3.1
 * "Device Initialization", §4.2.3 MMIO-specific initialization, §2.7 split rings). It only talks
 * to the device through register accesses and guest memory, as Linux's virtio_mmio does.
 */
import { GuestMemory, MmioReg, MmioTransport, Status, Feature, VringFlag, type VirtioDevice, type GuestMemoryOptions } from "../src/index.ts";

export const MIB = 1 << 20;

/** Guest RAM: two adjacent 1 MiB regions (so buffers can cross a region boundary). */
export function makeMemory(options: GuestMemoryOptions = {}, size = 2 * MIB): { mem: GuestMemory; ram: Uint8Array } {
  const ram = new Uint8Array(new SharedArrayBuffer(size));
  const half = size / 2;
  const mem = new GuestMemory(
    [
      { guestAddress: 0n, bytes: ram.subarray(0, half) },
      { guestAddress: BigInt(half), bytes: ram.subarray(half) },
    ],
    options,
  );
  return { mem, ram };
}

export class Allocator {
  constructor(
    private next: number,
    private readonly end: number,
  ) {}
  alloc(len: number, align = 16): number {
    const a = Math.ceil(this.next / align) * align;
    if (a + len > this.end) throw new Error("test allocator exhausted");
    this.next = a + len;
    return a;
  }
}

export interface Buf {
  readonly addr: number;
  readonly len: number;
  readonly write?: boolean;
}

export class DriverQueue {
  availIdx = 0;
  lastUsed = 0;
  private free: number[] = [];
  constructor(
    readonly index: number,
    readonly size: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
    private readonly drv: Driver,
  ) {
    for (let i = 0; i < size; i++) this.free.push(i);
  }

  get mem(): GuestMemory {
    return this.drv.mem;
  }

  private writeDesc(table: number, i: number, b: Buf, flags: number, next: number): void {
    const m = this.mem;
    const o = table + 16 * i;
    m.write64(o, BigInt(b.addr));
    m.write32(o + 8, b.len);
    m.write16(o + 12, flags | (b.write ? VringFlag.DescWrite : 0));
    m.write16(o + 14, next);
  }

  /** Puts a chain in the descriptor table and the avail ring (not notifying). */
  add(bufs: readonly Buf[], opts: { indirect?: boolean } = {}): number {
    if (opts.indirect) {
      const table = this.drv.alloc.alloc(16 * bufs.length, 16);
      bufs.forEach((b, i) => this.writeDesc(table, i, b, i + 1 < bufs.length ? VringFlag.DescNext : 0, i + 1 < bufs.length ? i + 1 : 0));
      const head = this.free.shift();
      if (head === undefined) throw new Error("no free descriptors");
      this.writeDesc(this.desc, head, { addr: table, len: 16 * bufs.length }, VringFlag.DescIndirect, 0);
      this.publish(head);
      return head;
    }
    if (this.free.length < bufs.length) throw new Error("no free descriptors");
    const ids = this.free.splice(0, bufs.length);
    bufs.forEach((b, i) => this.writeDesc(this.desc, ids[i]!, b, i + 1 < bufs.length ? VringFlag.DescNext : 0, ids[i + 1] ?? 0));
    this.publish(ids[0]!);
    return ids[0]!;
  }

  private publish(head: number): void {
    const m = this.mem;
    m.write16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    m.write16(this.avail + 2, this.availIdx);
  }

  private kicked = 0;

  notify(): void {
    this.kicked = this.availIdx;
    this.drv.t.write(MmioReg.QueueNotify, 4, this.index);
  }

  /**
   * Notifies only if the device asked for it, as Linux's virtqueue_kick_prepare does: with
   * EVENT_IDX by vring_need_event(avail_event, new, old), else unless used.flags has NO_NOTIFY.
   * Returns whether it notified.
   */
  kick(eventIdx: boolean): boolean {
    const old = this.kicked;
    const now = this.availIdx;
    const need = eventIdx
      ? ((now - this.availEvent() - 1) & 0xffff) < ((now - old) & 0xffff)
      : (this.usedFlags() & VringFlag.UsedNoNotify) === 0;
    this.kicked = now;
    if (need) this.drv.t.write(MmioReg.QueueNotify, 4, this.index);
    return need;
  }

  submit(bufs: readonly Buf[], opts: { indirect?: boolean } = {}): number {
    const h = this.add(bufs, opts);
    this.notify();
    return h;
  }

  /** Used elements since the last call; returns their descriptors to the free list. */
  reap(): { id: number; len: number }[] {
    const m = this.mem;
    const out: { id: number; len: number }[] = [];
    const idx = m.read16(this.used + 2);
    while (this.lastUsed !== idx) {
      const o = this.used + 4 + 8 * (this.lastUsed % this.size);
      const id = m.read32(o);
      const len = m.read32(o + 4);
      out.push({ id, len });
      // walk the chain to free its descriptors
      let i = id;
      for (;;) {
        this.free.push(i);
        const flags = m.read16(this.desc + 16 * i + 12);
        if ((flags & VringFlag.DescNext) === 0) break;
        i = m.read16(this.desc + 16 * i + 14);
      }
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  setUsedEvent(v: number): void {
    this.mem.write16(this.avail + 4 + 2 * this.size, v);
  }
  setNoInterrupt(on: boolean): void {
    this.mem.write16(this.avail, on ? VringFlag.AvailNoInterrupt : 0);
  }
  availEvent(): number {
    return this.mem.read16(this.used + 4 + 8 * this.size);
  }
  usedFlags(): number {
    return this.mem.read16(this.used);
  }
}

export interface DriverInitOptions {
  /** Features to accept out of those offered (default: everything offered). */
  readonly accept?: (offered: bigint) => bigint;
  /** Queue sizes to use (default: QueueNumMax, capped at 256). */
  readonly queueSize?: number;
}

export class Driver {
  readonly t: MmioTransport;
  readonly mem: GuestMemory;
  readonly alloc: Allocator;
  readonly queues: DriverQueue[] = [];
  interrupts = 0;
  features = 0n;
  /** Every hostile-driver report, as [check, detail]. */
  readonly hostile: [string, string][] = [];

  constructor(device: VirtioDevice, opts: { version?: 1 | 2; mem?: GuestMemory; allocFrom?: number } = {}) {
    this.mem = opts.mem ?? makeMemory().mem;
    this.alloc = new Allocator(opts.allocFrom ?? 0x1000, MIB - 0x1000);
    this.t = new MmioTransport({
      memory: this.mem,
      device,
      version: opts.version ?? 2,
      interrupt: () => {
        this.interrupts++;
      },
      onHostile: (check, detail) => void this.hostile.push([check, detail]),
    });
  }

  r(off: number): number {
    return this.t.read(off, 4);
  }
  w(off: number, v: number): void {
    this.t.write(off, 4, v);
  }
  status(): number {
    return this.r(MmioReg.Status);
  }

  /** The spec initialization sequence (virtio 1.2 §3.1.1, §4.2.3.1). Returns false when FEATURES_OK was refused. */
  init(o: DriverInitOptions = {}): boolean {
    if (this.r(MmioReg.MagicValue) !== 0x74726976) throw new Error("bad magic");
    const version = this.r(MmioReg.Version);
    if (version !== 1 && version !== 2) throw new Error("bad version");
    if (this.r(MmioReg.DeviceId) === 0) throw new Error("placeholder device");
    this.w(MmioReg.Status, 0);
    if (this.status() !== 0) throw new Error("reset did not complete");
    this.w(MmioReg.Status, Status.Acknowledge);
    this.w(MmioReg.Status, Status.Acknowledge | Status.Driver);
    if (version === 1) this.w(MmioReg.GuestPageSize, 4096);
    this.w(MmioReg.DeviceFeaturesSel, 1);
    let offered = BigInt(this.r(MmioReg.DeviceFeatures)) << 32n;
    this.w(MmioReg.DeviceFeaturesSel, 0);
    offered |= BigInt(this.r(MmioReg.DeviceFeatures));
    const accept = o.accept ? o.accept(offered) : offered;
    this.features = accept;
    this.w(MmioReg.DriverFeaturesSel, 1);
    this.w(MmioReg.DriverFeatures, Number(accept >> 32n));
    this.w(MmioReg.DriverFeaturesSel, 0);
    this.w(MmioReg.DriverFeatures, Number(accept & 0xffffffffn));
    let s = Status.Acknowledge | Status.Driver;
    if (version === 2) {
      if ((accept & (1n << BigInt(Feature.Version1))) === 0n) throw new Error("device without VERSION_1");
      this.w(MmioReg.Status, s | Status.FeaturesOk);
      if ((this.status() & Status.FeaturesOk) === 0) return false;
      s |= Status.FeaturesOk;
    }
    for (let i = 0; ; i++) {
      this.w(MmioReg.QueueSel, i);
      const max = this.r(MmioReg.QueueNumMax);
      if (max === 0) break;
      const size = Math.min(max, o.queueSize ?? 256);
      if (version === 2) {
        if (this.r(MmioReg.QueueReady) !== 0) throw new Error("queue already ready");
        const desc = this.alloc.alloc(16 * size, 16);
        const avail = this.alloc.alloc(6 + 2 * size, 2);
        const used = this.alloc.alloc(6 + 8 * size, 4);
        this.mem.fill(desc, 16 * size);
        this.mem.fill(avail, 6 + 2 * size);
        this.mem.fill(used, 6 + 8 * size);
        this.w(MmioReg.QueueNum, size);
        this.w(MmioReg.QueueDescLow, desc);
        this.w(MmioReg.QueueDescHigh, 0);
        this.w(MmioReg.QueueAvailLow, avail);
        this.w(MmioReg.QueueAvailHigh, 0);
        this.w(MmioReg.QueueUsedLow, used);
        this.w(MmioReg.QueueUsedHigh, 0);
        this.w(MmioReg.QueueReady, 1);
        if (this.r(MmioReg.QueueReady) !== 1) throw new Error(`queue ${i} not ready`);
        this.queues.push(new DriverQueue(i, size, desc, avail, used, this));
      } else {
        if (this.r(MmioReg.QueuePfn) !== 0) throw new Error("queue already in use");
        // Legacy layout (virtio 1.2 §2.7.2 legacy note) with QueueAlign = 4096.
        const availOff = 16 * size;
        const usedOff = Math.ceil((availOff + 6 + 2 * size) / 4096) * 4096;
        const total = usedOff + 6 + 8 * size;
        const base = this.alloc.alloc(total, 4096);
        this.mem.fill(base, total);
        this.w(MmioReg.QueueNum, size);
        this.w(MmioReg.QueueAlign, 4096);
        this.w(MmioReg.QueuePfn, base / 4096);
        if (this.r(MmioReg.QueuePfn) !== base / 4096) throw new Error("pfn not accepted");
        this.queues.push(new DriverQueue(i, size, base, base + availOff, base + usedOff, this));
      }
    }
    this.w(MmioReg.Status, s | Status.DriverOk);
    return (this.status() & Status.DriverOk) !== 0;
  }

  /** The guest's interrupt handler: read InterruptStatus, ACK it. */
  ack(): number {
    const isr = this.r(MmioReg.InterruptStatus);
    this.w(MmioReg.InterruptAck, isr);
    return isr;
  }

  /** Reads config space byte by byte (legacy Linux) or with 1/2/4-byte accesses (modern). */
  config8(off: number): number {
    return this.t.read(MmioReg.Config + off, 1);
  }
  config16(off: number): number {
    return this.t.read(MmioReg.Config + off, 2);
  }
  config32(off: number): number {
    return this.t.read(MmioReg.Config + off, 4);
  }
  config64(off: number): bigint {
    // Two 32-bit reads, as Linux vm_get does on version 2; re-read while ConfigGeneration changes.
    for (;;) {
      const g = this.r(MmioReg.ConfigGeneration);
      const v = BigInt(this.config32(off)) | (BigInt(this.config32(off + 4)) << 32n);
      if (this.r(MmioReg.ConfigGeneration) === g) return v;
    }
  }
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}
