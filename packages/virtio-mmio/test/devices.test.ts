/**
 * Real I/O through the registers and guest memory with the test driver, on both transport
 * versions, for every device.
 */
import { describe, expect, it } from "vitest";
import {
  BlkDevice,
  BlkFeature,
  BlkStatus,
  BlkType,
  ConsoleDevice,
  Feature,
  MemoryBlockBackend,
  MemoryByteStream,
  MemoryFrameBackend,
  MmioInt,
  MmioReg,
  NetDevice,
  NetFeature,
  RngDevice,
  Status,
  type BlockBackend,
  type FrameBackend,
  type FrameSink,
} from "../src/index.ts";
import { Driver, MIB, settle, type DriverQueue } from "./driver.ts";

const bit = (b: number): bigint => 1n << BigInt(b);

function pattern(n: number, seed = 0): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 7 + seed) & 0xff;
  return a;
}

/** Builds one blk request in guest memory and submits it. */
function blk(d: Driver, type: number, sector: number, data: { len: number; write: boolean; bytes?: Uint8Array; split?: number } | undefined, opts: { indirect?: boolean } = {}) {
  const q = d.queues[0]!;
  const hdr = d.alloc.alloc(16);
  d.mem.write32(hdr, type);
  d.mem.write32(hdr + 4, 0);
  d.mem.write64(hdr + 8, BigInt(sector));
  const bufs = [{ addr: hdr, len: 16 }];
  let dataAddr = 0;
  if (data) {
    dataAddr = d.alloc.alloc(data.len);
    if (data.bytes) d.mem.write(dataAddr, data.bytes);
    const parts = data.split ?? 1;
    const step = Math.ceil(data.len / parts);
    for (let o = 0; o < data.len; o += step) bufs.push({ addr: dataAddr + o, len: Math.min(step, data.len - o), write: data.write } as never);
  }
  const st = d.alloc.alloc(1);
  d.mem.write8(st, 0xee);
  bufs.push({ addr: st, len: 1, write: true } as never);
  const head = q.submit(bufs, opts);
  return { head, st, dataAddr };
}

for (const version of [2, 1] as const) {
  describe(`virtio-blk over transport version ${version}`, () => {
    it("a vectored backend gets a request spread over several buffers in one readv/writev, with the buffers in order; a plain one gets a read per buffer", () => {
      for (const vectored of [true, false]) {
        const disk = pattern(64 * 1024, 5);
        const inner = new MemoryBlockBackend(disk);
        const calls: string[] = [];
        const backend: BlockBackend = {
          size: inner.size,
          read: (o, out) => (calls.push(`read ${o} ${out.length}`), inner.read(o, out)),
          write: (o, data) => (calls.push(`write ${o} ${data.length}`), inner.write(o, data)),
          ...(vectored
            ? {
                readv: (o: number, bufs: readonly Uint8Array[]) => {
                  calls.push(`readv ${o} ${bufs.map((b) => b.length).join("+")}`);
                  let at = o;
                  for (const b of bufs) (inner.read(at, b), (at += b.length));
                },
                writev: (o: number, bufs: readonly Uint8Array[]) => {
                  calls.push(`writev ${o} ${bufs.map((b) => b.length).join("+")}`);
                  let at = o;
                  for (const b of bufs) (inner.write(at, b), (at += b.length));
                },
              }
            : {}),
        };
        const d = new Driver(new BlkDevice(backend), { version });
        d.init();
        const q = d.queues[0]!;
        const r = blk(d, BlkType.In, 3, { len: 1536, write: true, split: 3 });
        expect(q.reap()).toEqual([{ id: r.head, len: 1537 }]);
        const got = new Uint8Array(1536);
        d.mem.read(r.dataAddr, got);
        expect(got).toEqual(disk.slice(1536, 3072));
        const w = blk(d, BlkType.Out, 20, { len: 1024, write: false, bytes: pattern(1024, 77), split: 2 });
        expect(q.reap()).toEqual([{ id: w.head, len: 1 }]);
        expect(disk.slice(20 * 512, 20 * 512 + 1024)).toEqual(pattern(1024, 77));
        expect(calls).toEqual(vectored ? ["readv 1536 512+512+512", "writev 10240 512+512"] : ["read 1536 512", "read 2048 512", "read 2560 512", "write 10240 512", "write 10752 512"]);
        // The header and the first data sector in one buffer, the second sector in another: the
        // first view starts after the header.
        calls.length = 0;
        const q2 = d.queues[0]!;
        const first = d.alloc.alloc(16 + 512);
        d.mem.write32(first, BlkType.Out);
        d.mem.write64(first + 8, 40n);
        d.mem.write(first + 16, pattern(512, 31));
        const second = d.alloc.alloc(512);
        d.mem.write(second, pattern(512, 32));
        const st = d.alloc.alloc(1);
        const head = q2.submit([{ addr: first, len: 16 + 512 }, { addr: second, len: 512 }, { addr: st, len: 1, write: true } as never]);
        expect(q2.reap()).toEqual([{ id: head, len: 1 }]);
        expect(d.mem.read8(st)).toBe(BlkStatus.Ok);
        expect(disk.slice(40 * 512, 42 * 512)).toEqual(Uint8Array.from([...pattern(512, 31), ...pattern(512, 32)]));
        expect(calls).toEqual(vectored ? ["writev 20480 512+512"] : ["write 20480 512", "write 20992 512"]);
        // A data buffer that crosses the two memory regions has no view: the request goes a
        // buffer at a time, the crossing one bounced, even to a vectored backend.
        calls.length = 0;
        const plain = d.alloc.alloc(512);
        const crossing = MIB - 256;
        const st2 = d.alloc.alloc(1);
        const hdr = d.alloc.alloc(16);
        d.mem.write32(hdr, BlkType.In);
        d.mem.write64(hdr + 8, 6n);
        const h2 = q2.submit([{ addr: hdr, len: 16 }, { addr: plain, len: 512, write: true } as never, { addr: crossing, len: 512, write: true } as never, { addr: st2, len: 1, write: true } as never]);
        expect(q2.reap()).toEqual([{ id: h2, len: 1025 }]);
        const back = new Uint8Array(1024);
        d.mem.read(plain, back.subarray(0, 512));
        d.mem.read(crossing, back.subarray(512));
        expect(back).toEqual(disk.slice(6 * 512, 8 * 512));
        expect(calls).toEqual(["read 3072 512", "read 3584 512"]);
      }
    });

    it("negotiates, reads capacity/seg_max/blk_size from config, and does IN/OUT/FLUSH/GET_ID", () => {
      const disk = pattern(64 * 1024, 3);
      const backend = new MemoryBlockBackend(disk, { id: "microvm-disk", volatileCache: true });
      const d = new Driver(new BlkDevice(backend, { queueSize: 128 }), { version });
      expect(d.init()).toBe(true);
      expect(d.r(MmioReg.DeviceId)).toBe(2);
      expect(d.r(MmioReg.Version)).toBe(version);
      // capacity: byte-wise on v1 (as Linux legacy), 64-bit as two 32-bit reads on v2
      let cap = 0n;
      if (version === 1) for (let i = 7; i >= 0; i--) cap = (cap << 8n) | BigInt(d.config8(i));
      else cap = d.config64(0);
      expect(cap).toBe(128n);
      expect(d.config32(12)).toBe(126); // seg_max
      expect(d.config32(20)).toBe(512); // blk_size
      expect(d.config16(20)).toBe(512);
      expect((d.features & bit(BlkFeature.Flush)) !== 0n).toBe(true);

      const q = d.queues[0]!;
      // IN: 2 sectors from sector 3, data split across 3 descriptors
      const r = blk(d, BlkType.In, 3, { len: 1024, write: true, split: 3 });
      expect(q.reap()).toEqual([{ id: r.head, len: 1025 }]);
      expect(d.mem.read8(r.st)).toBe(BlkStatus.Ok);
      const got = new Uint8Array(1024);
      d.mem.read(r.dataAddr, got);
      expect(got).toEqual(disk.slice(1536, 2560));
      // OUT through an indirect table
      const w = blk(d, BlkType.Out, 10, { len: 512, write: false, bytes: pattern(512, 99) }, { indirect: true });
      expect(q.reap()).toEqual([{ id: w.head, len: 1 }]);
      expect(d.mem.read8(w.st)).toBe(BlkStatus.Ok);
      expect(disk.slice(5120, 5632)).toEqual(pattern(512, 99));
      // FLUSH
      const f = blk(d, BlkType.Flush, 0, undefined);
      expect(q.reap()).toEqual([{ id: f.head, len: 1 }]);
      expect(backend.flushes).toBe(1);
      // GET_ID
      const g = blk(d, BlkType.GetId, 0, { len: 20, write: true });
      expect(q.reap()).toEqual([{ id: g.head, len: 21 }]);
      const id = new Uint8Array(20);
      d.mem.read(g.dataAddr, id);
      expect(new TextDecoder().decode(id.subarray(0, 12))).toBe("microvm-disk");
      expect(id[12]).toBe(0);
      // beyond capacity -> IOERR, unknown type -> UNSUPP
      const e = blk(d, BlkType.In, 127, { len: 1024, write: true });
      expect(q.reap()).toEqual([{ id: e.head, len: 1 }]);
      expect(d.mem.read8(e.st)).toBe(BlkStatus.IoErr);
      const u = blk(d, 99, 0, { len: 512, write: true });
      expect(q.reap()).toEqual([{ id: u.head, len: 1 }]);
      expect(d.mem.read8(u.st)).toBe(BlkStatus.Unsupp);
      expect(d.status() & Status.NeedsReset).toBe(0);
      expect(d.interrupts).toBeGreaterThan(0);
      expect(d.ack() & MmioInt.Vring).toBe(MmioInt.Vring);
    });

    it("accepts any descriptor layout: header and data in one buffer, data and status in one buffer", () => {
      const disk = pattern(8192, 7);
      const d = new Driver(new BlkDevice(new MemoryBlockBackend(disk)), { version });
      d.init();
      const q = d.queues[0]!;
      // OUT: [header + 512 data] (readable), [status] (writable)
      const a = d.alloc.alloc(16 + 512);
      d.mem.write32(a, BlkType.Out);
      d.mem.write64(a + 8, 3n);
      d.mem.write(a + 16, pattern(512, 42));
      const st = d.alloc.alloc(1);
      const h = q.submit([{ addr: a, len: 528 }, { addr: st, len: 1, write: true }]);
      expect(q.reap()).toEqual([{ id: h, len: 1 }]);
      expect(d.mem.read8(st)).toBe(BlkStatus.Ok);
      expect(disk.slice(1536, 2048)).toEqual(pattern(512, 42));
      // IN: [header] (readable), [512 data + status] (writable, one buffer)
      const hdr = d.alloc.alloc(16);
      d.mem.write32(hdr, BlkType.In);
      d.mem.write64(hdr + 8, 3n);
      const buf = d.alloc.alloc(513);
      const h2 = q.submit([{ addr: hdr, len: 16 }, { addr: buf, len: 513, write: true }]);
      expect(q.reap()).toEqual([{ id: h2, len: 513 }]);
      expect(d.mem.read8(buf + 512)).toBe(BlkStatus.Ok);
      const got = new Uint8Array(512);
      d.mem.read(buf, got);
      expect(got).toEqual(pattern(512, 42));
      // a chain without a status byte is completed with length 0 and counted
      const h3 = q.submit([{ addr: hdr, len: 16 }]);
      expect(q.reap()).toEqual([{ id: h3, len: 0 }]);
      expect(d.t.hostileCounts["malformed-request"]).toBe(1);
    });

    it("serves DISCARD and WRITE_ZEROES, and refuses writes on a read-only disk", () => {
      const disk = pattern(8192, 1);
      const d = new Driver(new BlkDevice(new MemoryBlockBackend(disk)), { version });
      d.init();
      expect((d.features & bit(BlkFeature.Discard)) !== 0n).toBe(true);
      const seg = new Uint8Array(16);
      const v = new DataView(seg.buffer);
      v.setUint32(0, 2, true);
      v.setUint32(8, 3, true);
      v.setUint32(12, 1, true); // unmap
      const z = blk(d, BlkType.WriteZeroes, 0, { len: 16, write: false, bytes: seg });
      expect(d.queues[0]!.reap()).toEqual([{ id: z.head, len: 1 }]);
      expect(d.mem.read8(z.st)).toBe(BlkStatus.Ok);
      expect(disk.slice(1024, 2560).every((x) => x === 0)).toBe(true);
      expect(disk[1023]).not.toBe(0);
      // discard with the unmap flag is UNSUPP (only write-zeroes knows it)
      const x = blk(d, BlkType.Discard, 0, { len: 16, write: false, bytes: seg });
      d.queues[0]!.reap();
      expect(d.mem.read8(x.st)).toBe(BlkStatus.Unsupp);

      const ro = new Driver(new BlkDevice(new MemoryBlockBackend(new Uint8Array(4096), { readOnly: true, discard: false })), { version });
      ro.init();
      expect((ro.features & bit(BlkFeature.Ro)) !== 0n).toBe(true);
      expect((ro.features & bit(BlkFeature.Discard)) !== 0n).toBe(false);
      const w = blk(ro, BlkType.Out, 0, { len: 512, write: false, bytes: pattern(512) });
      expect(ro.queues[0]!.reap()).toEqual([{ id: w.head, len: 1 }]);
      expect(ro.mem.read8(w.st)).toBe(BlkStatus.IoErr);
      const dz = blk(ro, BlkType.Discard, 0, { len: 16, write: false, bytes: new Uint8Array(16) });
      ro.queues[0]!.reap();
      expect(ro.mem.read8(dz.st)).toBe(BlkStatus.Unsupp);
    });

    it("completes a FLUSH, and a write-through write, only after the backend's flush resolves", async () => {
      const store = new Uint8Array(8192);
      let release: (() => void)[] = [];
      const events: string[] = [];
      const instrumented = (volatileCache: boolean): BlockBackend => ({
        size: store.length,
        volatileCache,
        read: (o, out) => out.set(store.subarray(o, o + out.length)),
        write: async (o, data) => {
          store.set(data, o);
          events.push("write");
        },
        flush: () =>
          new Promise<void>((res) => {
            events.push("flush-start");
            release.push(() => {
              events.push("flush-done");
              res();
            });
          }),
      });
      // volatile cache: FLUSH waits for flush
      const d = new Driver(new BlkDevice(instrumented(true)), { version });
      d.init();
      const q = d.queues[0]!;
      const w = blk(d, BlkType.Out, 0, { len: 512, write: false, bytes: pattern(512) });
      await settle();
      expect(q.reap()).toEqual([{ id: w.head, len: 1 }]); // write-back: no flush needed
      const f = blk(d, BlkType.Flush, 0, undefined);
      await settle();
      expect(events).toEqual(["write", "flush-start"]);
      expect(q.reap()).toEqual([]);
      expect(d.mem.read8(f.st)).toBe(0xee);
      release.shift()!();
      await settle();
      expect(q.reap()).toEqual([{ id: f.head, len: 1 }]);
      expect(d.mem.read8(f.st)).toBe(BlkStatus.Ok);

      // no volatile cache: each write waits for a flush
      events.length = 0;
      release = [];
      const d2 = new Driver(new BlkDevice(instrumented(false)), { version });
      d2.init();
      const w2 = blk(d2, BlkType.Out, 1, { len: 512, write: false, bytes: pattern(512, 5) });
      await settle();
      expect(events).toEqual(["write", "flush-start"]);
      expect(d2.queues[0]!.reap()).toEqual([]);
      release.shift()!();
      await settle();
      expect(d2.queues[0]!.reap()).toEqual([{ id: w2.head, len: 1 }]);
      expect(d2.mem.read8(w2.st)).toBe(BlkStatus.Ok);
    });

    it("reports a backend failure as IOERR and drops completions after a reset", async () => {
      let fail = true;
      let late: (() => void) | undefined;
      const backend: BlockBackend = {
        size: 4096,
        read: (_o, out) => {
          if (fail) throw new Error("disk on fire");
          return new Promise<void>((res) => {
            late = () => {
              out.fill(0x55);
              res();
            };
          });
        },
        write: () => 7, // a status byte straight from the backend
      };
      const d = new Driver(new BlkDevice(backend), { version });
      d.init();
      const q = d.queues[0]!;
      const a = blk(d, BlkType.In, 0, { len: 512, write: true });
      expect(q.reap()).toEqual([{ id: a.head, len: 1 }]);
      expect(d.mem.read8(a.st)).toBe(BlkStatus.IoErr);
      const b = blk(d, BlkType.Out, 0, { len: 512, write: false });
      q.reap();
      expect(d.mem.read8(b.st)).toBe(7);
      fail = false;
      const c = blk(d, BlkType.In, 0, { len: 512, write: true });
      d.w(MmioReg.Status, 0); // reset while the read is in flight
      late!();
      await settle();
      expect(d.mem.read8(c.st)).toBe(0xee);
      expect(d.mem.read16(q.used + 2)).toBe(2);
    });
  });

  describe(`virtio-net over transport version ${version}`, () => {
    for (const mrg of [true, false]) {
      it(`lends a borrowing backend the guest's bytes or one reused buffer, and gives a keeping one its own array (MRG_RXBUF ${mrg ? "on" : "off"})`, () => {
        for (const borrows of [true, false]) {
          const seen: { bytes: number[]; buffer: ArrayBufferLike; array: Uint8Array }[] = [];
          const wire: FrameBackend = { ...(borrows ? { borrowsFrames: true } : {}), transmit: (f) => void seen.push({ bytes: [...f], buffer: f.buffer, array: f }) };
          const d = new Driver(new NetDevice(wire), { version });
          d.init({ accept: (o) => (mrg ? o : o & ~bit(NetFeature.MrgRxbuf)) });
          const hl = version === 2 || mrg ? 12 : 10;
          const tx = d.queues[1] as NonNullable<(typeof d.queues)[1]>;
          // Two frames in one buffer each after the header, two split across two buffers, and one
          // in the same buffer as its header (as Linux sends them with VERSION_1).
          const frames = [pattern(1514, 3), pattern(60, 5), pattern(300, 7), pattern(200, 9), pattern(90, 11)];
          const whole: number[] = [];
          frames.forEach((frame, i) => {
            if (i === 4) {
              const b = d.alloc.alloc(hl + frame.length);
              d.mem.fill(b, hl);
              d.mem.write(b + hl, frame);
              tx.submit([{ addr: b, len: hl + frame.length }]);
              return;
            }
            const h = d.alloc.alloc(hl);
            if (i < 2) {
              const f = d.alloc.alloc(frame.length);
              d.mem.write(f, frame);
              whole.push(f);
              tx.submit([{ addr: h, len: hl }, { addr: f, len: frame.length }]);
            } else {
              const a = d.alloc.alloc(100);
              const b = d.alloc.alloc(frame.length - 100);
              d.mem.write(a, frame.subarray(0, 100));
              d.mem.write(b, frame.subarray(100));
              tx.submit([{ addr: h, len: hl }, { addr: a, len: 100 }, { addr: b, len: frame.length - 100 }]);
            }
          });
          tx.reap();
          // Each frame's bytes were right while transmit ran…
          expect(seen.map((x) => x.bytes)).toEqual(frames.map((f) => [...f]));
          const guest = d.mem.view(whole[0]!, 1).buffer;
          if (borrows) {
            // …a frame in one buffer was the guest's own bytes (no copy: a guest write shows)…
            expect(seen[0]?.buffer).toBe(guest);
            expect(seen[1]?.buffer).toBe(guest);
            d.mem.write8(whole[1]!, 0xab);
            expect(seen[1]?.array[0]).toBe(0xab);
            // …and split frames were copied into one reused buffer that is not guest memory.
            expect(seen[2]?.buffer).not.toBe(guest);
            expect(seen[3]?.buffer).toBe(seen[2]?.buffer);
            expect(seen[4]?.buffer).toBe(guest); // the bytes after the header, in place
          } else {
            // …and a keeping backend got arrays of its own, which still hold their frames.
            expect(new Set(seen.map((x) => x.buffer)).size).toBe(frames.length);
            expect(seen.some((x) => x.buffer === guest)).toBe(false);
            d.mem.write8(whole[1]!, 0xab);
            expect(seen.map((x) => [...x.array])).toEqual(frames.map((f) => [...f]));
          }
        }
      });

      it(`transmits and receives frames (MRG_RXBUF ${mrg ? "on" : "off"}), with receive back-pressure`, () => {
        const wire = new MemoryFrameBackend();
        const mac = new Uint8Array([2, 0, 0, 0, 0, 7]);
        const d = new Driver(new NetDevice(wire, { mac }), { version });
        d.init({ accept: (o) => (mrg ? o : o & ~bit(NetFeature.MrgRxbuf)) });
        const hl = version === 2 || mrg ? 12 : 10;
        expect([0, 1, 2, 3, 4, 5].map((i) => d.config8(i))).toEqual([...mac]);
        expect(d.config16(6) & 1).toBe(1);
        const [rx, tx] = d.queues as [typeof d.queues[0] & object, typeof d.queues[0] & object];
        // TX: header + frame in two descriptors
        const frame = pattern(64, 9);
        const h = d.alloc.alloc(hl);
        d.mem.fill(h, hl);
        const f = d.alloc.alloc(64);
        d.mem.write(f, frame);
        const head = tx.submit([{ addr: h, len: hl }, { addr: f, len: 64 }]);
        expect(tx.reap()).toEqual([{ id: head, len: 0 }]);
        expect(wire.transmitted).toEqual([frame]);
        // RX: nothing posted -> the frame waits (not dropped)
        const inbound = pattern(100, 1);
        wire.inject(inbound);
        expect(wire.pending.length).toBe(1);
        expect(rx.reap()).toEqual([]);
        // post buffers: with MRG_RXBUF small ones (frame spans two), otherwise one big one
        const bufs: number[] = [];
        const size = mrg ? 64 : 1526;
        for (let i = 0; i < 2; i++) {
          const b = d.alloc.alloc(size);
          bufs.push(b);
          rx.add([{ addr: b, len: size, write: true }]);
        }
        rx.notify();
        expect(wire.pending.length).toBe(0);
        const used = rx.reap();
        const total = hl + 100;
        if (mrg) {
          expect(used.map((u) => u.len)).toEqual([64, total - 64]);
          expect(d.mem.read16(bufs[0]! + 10)).toBe(2); // num_buffers
          const got = new Uint8Array(total);
          d.mem.read(bufs[0]!, got.subarray(0, 64));
          d.mem.read(bufs[1]!, got.subarray(64));
          expect(got.subarray(hl)).toEqual(inbound);
        } else {
          expect(used).toEqual([{ id: used[0]!.id, len: total }]);
          if (hl === 12) expect(d.mem.read16(bufs[0]! + 10)).toBe(1);
          const got = new Uint8Array(100);
          d.mem.read(bufs[0]! + hl, got);
          expect(got).toEqual(inbound);
        }
        expect(d.status() & Status.NeedsReset).toBe(0);
      });
    }

    for (const eventIdx of [true, false]) {
      it(`re-arms receive notifications so a driver that kicks only when asked keeps receiving (EVENT_IDX ${eventIdx ? "on" : "off"})`, () => {
        const wire = new MemoryFrameBackend();
        const con = new MemoryByteStream();
        const d = new Driver(new NetDevice(wire), { version });
        d.init({ accept: (o) => (eventIdx ? o : o & ~bit(Feature.EventIdx)) });
        const c = new Driver(new ConsoleDevice(con), { version });
        c.init({ accept: (o) => (eventIdx ? o : o & ~bit(Feature.EventIdx)) });
        const rx = d.queues[0]!;
        const crx = c.queues[0]!;
        for (let round = 0; round < 5; round++) {
          rx.add([{ addr: d.alloc.alloc(1526), len: 1526, write: true }]);
          crx.add([{ addr: c.alloc.alloc(4), len: 4, write: true }]);
          // the first round always kicks; later ones only if the device asked
          expect(rx.kick(eventIdx)).toBe(true);
          expect(crx.kick(eventIdx)).toBe(true);
          wire.inject(new Uint8Array(60).fill(round));
          wire.inject(new Uint8Array(60).fill(round + 100)); // waits for the next buffer
          con.type("abcdefgh");
          expect(rx.reap().length).toBe(1);
          expect(crx.reap().length).toBe(1);
        }
        expect(wire.pending.length).toBe(5);
      });
    }

    it("drops frames only when the backend says so (its maxPending)", () => {
      const wire = new MemoryFrameBackend(2);
      const d = new Driver(new NetDevice(wire), { version });
      d.init();
      for (let i = 0; i < 5; i++) wire.inject(new Uint8Array(60).fill(i));
      expect(wire.pending.length).toBe(2);
      expect(wire.dropped).toBe(3);
      const rx = d.queues[0]!;
      for (let i = 0; i < 2; i++) rx.add([{ addr: d.alloc.alloc(1526), len: 1526, write: true }]);
      rx.notify();
      expect(wire.pending.length).toBe(0);
      expect(rx.reap().length).toBe(2);
    });

    it("announces link changes with a config interrupt and a new ConfigGeneration", () => {
      const net = new NetDevice(new MemoryFrameBackend());
      const d = new Driver(net, { version });
      d.init();
      d.ack();
      const gen = d.r(MmioReg.ConfigGeneration);
      net.setLinkUp(false);
      expect(d.config16(6) & 1).toBe(0);
      expect(d.ack() & MmioInt.Config).toBe(MmioInt.Config);
      if (version === 2) expect(d.r(MmioReg.ConfigGeneration)).not.toBe(gen);
      expect(net.linkUp).toBe(false);
    });
  });

  describe(`virtio-console over transport version ${version}`, () => {
    it("prints guest output and feeds input with back-pressure", () => {
      const tty = new MemoryByteStream();
      const d = new Driver(new ConsoleDevice(tty, { cols: 80, rows: 24 }), { version });
      d.init();
      expect(d.config16(0)).toBe(80);
      expect(d.config32(4)).toBe(1); // max_nr_ports
      const [rx, tx] = [d.queues[0]!, d.queues[1]!];
      const msg = new TextEncoder().encode("hello from the guest\n");
      const a = d.alloc.alloc(msg.length);
      d.mem.write(a, msg);
      const head = tx.submit([{ addr: a, len: msg.length }]);
      expect(tx.reap()).toEqual([{ id: head, len: 0 }]);
      expect(tty.text()).toBe("hello from the guest\n");
      // emergency write
      d.t.write(MmioReg.Config + 8, 4, 0x21);
      expect(tty.text()).toBe("hello from the guest\n!");
      // input waits for buffers; an 8-byte buffer takes 8 bytes, the rest waits
      tty.type("0123456789ab");
      expect(tty.pendingInput).toBe(12);
      const b = d.alloc.alloc(8);
      rx.submit([{ addr: b, len: 8, write: true }]);
      expect(tty.pendingInput).toBe(4);
      expect(rx.reap()[0]!.len).toBe(8);
      const b2 = d.alloc.alloc(64);
      rx.submit([{ addr: b2, len: 64, write: true }]);
      expect(tty.pendingInput).toBe(0);
      expect(rx.reap()[0]!.len).toBe(4);
      const got = new Uint8Array(4);
      d.mem.read(b2, got);
      expect(new TextDecoder().decode(got)).toBe("89ab");
    });
  });

  describe(`virtio-rng over transport version ${version}`, () => {
    it("fills requests from crypto.getRandomValues by default and caps large requests", () => {
      const d = new Driver(new RngDevice({ maxRequest: 4096 }), { version });
      d.init();
      const q = d.queues[0]!;
      const a = d.alloc.alloc(256);
      const h = q.submit([{ addr: a, len: 256, write: true }]);
      expect(q.reap()).toEqual([{ id: h, len: 256 }]);
      const got = new Uint8Array(256);
      d.mem.read(a, got);
      expect(new Set(got).size).toBeGreaterThan(100);
      const big = d.alloc.alloc(8192);
      const h2 = q.submit([{ addr: big, len: 8192, write: true }]);
      expect(q.reap()).toEqual([{ id: h2, len: 4096 }]);
      expect(d.t.hostileCounts["request-too-large"]).toBe(1);
    });

    it("uses the caller's (async) entropy source", async () => {
      const d = new Driver(new RngDevice({ source: async (out) => void out.fill(0xab) }), { version });
      d.init();
      const q = d.queues[0]!;
      const a = d.alloc.alloc(32);
      const h = q.submit([{ addr: a, len: 16, write: true }, { addr: a + 16, len: 16, write: true }]);
      expect(q.reap()).toEqual([]);
      await settle();
      expect(q.reap()).toEqual([{ id: h, len: 32 }]);
      expect(d.mem.read32(a + 28)).toBe(0xabababab);
    });
  });
}

/**
 * A 100-byte receive buffer at `small` for a 300-byte frame: without MRG_RXBUF the guest's error
 * (counted, the buffer returned empty, the frame consumed); with it, the frame waits for a second
 * buffer (from `more`) and then spans both, with num_buffers 2.
 */
function tooSmall(d: Driver, rx: DriverQueue, wire: MemoryFrameBackend, mrg: boolean, small: number, more: () => number, frame: Uint8Array): void {
  rx.submit([{ addr: small, len: 100, write: true }]);
  wire.inject(frame);
  if (!mrg) {
    expect(rx.reap()).toEqual([{ id: expect.any(Number), len: 0 }]);
    expect(d.t.hostileCounts["malformed-request"]).toBe(1);
    expect(wire.pending.length).toBe(0);
    return;
  }
  expect(rx.reap()).toEqual([]);
  expect(wire.pending.length).toBe(1);
  const second = more();
  rx.submit([{ addr: second, len: 1526, write: true }]);
  expect(rx.reap().map((u) => u.len)).toEqual([100, 212]);
  expect(d.mem.read8(small + 10)).toBe(2); // num_buffers
  expect(d.mem.view(small + 12, 88)).toEqual(frame.subarray(0, 88));
  expect(d.mem.view(second, 212)).toEqual(frame.subarray(88));
}

describe("notification suppression", () => {
  it("honours used_event with EVENT_IDX and writes avail_event", () => {
    const d = new Driver(new RngDevice({ source: (o) => void o.fill(1) }));
    d.init();
    expect((d.features & bit(Feature.EventIdx)) !== 0n).toBe(true);
    const q = d.queues[0]!;
    const a = d.alloc.alloc(16);
    q.setUsedEvent(2); // interrupt only when used idx passes 2 (i.e. after the 3rd element)
    const before = d.interrupts;
    q.submit([{ addr: a, len: 4, write: true }]);
    q.reap();
    q.submit([{ addr: a, len: 4, write: true }]);
    q.reap();
    expect(d.interrupts).toBe(before);
    expect(q.availEvent()).toBe(2);
    q.submit([{ addr: a, len: 4, write: true }]);
    expect(d.interrupts).toBe(before + 1);
  });

  it("net receive lays header and frame out in every buffer shape: apart, in the second memory region, too small, and one frame per buffer", () => {
    for (const mrg of [false, true]) {
      const wire = new MemoryFrameBackend();
      const d = new Driver(new NetDevice(wire));
      d.init({ accept: (o) => (mrg ? o : o & ~bit(NetFeature.MrgRxbuf)) });
      const rx = d.queues[0]!;
      const frame = pattern(300, 8);
      const header = (addr: number): number[] => [...d.mem.view(addr, 12)];
      // A chain of two writable buffers apart from each other (the header's and the frame's, as a
      // driver without mergeable buffers may post them): each gets its part.
      const h = d.alloc.alloc(12);
      d.alloc.alloc(64); // a gap: the two are not adjacent
      const f = d.alloc.alloc(1514);
      d.mem.fill(h + 12, 64, 0xcc);
      rx.submit([
        { addr: h, len: 12, write: true },
        { addr: f, len: 1514, write: true },
      ]);
      wire.inject(frame);
      expect(rx.reap().map((u) => u.len)).toEqual([312]);
      expect(header(h)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
      expect(d.mem.view(f, 300)).toEqual(frame);
      expect(d.mem.view(h + 12, 64).every((b) => b === 0xcc)).toBe(true); // nothing written between
      // A buffer in the second memory region (its guest address is not its offset in the region).
      const hi = MIB + 0x4000;
      rx.submit([{ addr: hi, len: 1526, write: true }]);
      wire.inject(frame);
      expect(rx.reap().map((u) => u.len)).toEqual([312]);
      expect(d.mem.view(hi + 12, 300)).toEqual(frame);
      // Two buffers posted, one frame: one used buffer; the other waits for the next frame.
      const a = d.alloc.alloc(1526);
      const b = d.alloc.alloc(1526);
      rx.add([{ addr: a, len: 1526, write: true }]);
      rx.submit([{ addr: b, len: 1526, write: true }]);
      wire.inject(frame);
      expect(rx.reap().map((u) => u.len)).toEqual([312]);
      wire.inject(pattern(60, 2));
      expect(rx.reap().map((u) => u.len)).toEqual([72]);
      tooSmall(d, rx, wire, mrg, d.alloc.alloc(100), () => d.alloc.alloc(1526), frame);
      if (mrg) {
        // …and the next frame into a two-buffer chain says num_buffers 1 again.
        const h2 = d.alloc.alloc(12);
        const f2 = d.alloc.alloc(1514);
        rx.submit([
          { addr: h2, len: 12, write: true },
          { addr: f2, len: 1514, write: true },
        ]);
        wire.inject(frame);
        expect(header(h2)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        expect(d.t.hostileCounts["malformed-request"]).toBe(0);
      }
    }
  });

  it("net receive on a warm queue (the region known: the one-buffer frame taken without a call) lays out every shape as the general path does, in both memory regions", () => {
    for (const mrg of [false, true]) {
      for (const base of [0x40000, MIB + 0x40000]) {
        const wire = new MemoryFrameBackend();
        const d = new Driver(new NetDevice(wire));
        d.init({ accept: (o) => (mrg ? o : o & ~bit(NetFeature.MrgRxbuf)) });
        const rx = d.queues[0]!;
        const frame = pattern(300, 9);
        let at = base;
        const buf = (len: number): number => {
          const a = at;
          at += len + 64;
          d.mem.fill(a, len + 64, 0xcc); // and the gap after it, which must stay so
          return a;
        };
        const gapIntact = (a: number, len: number): boolean => d.mem.view(a + len, 64).every((b) => b === 0xcc);
        // Warm-up and the usual shape: one buffer that holds header and frame.
        for (let i = 0; i < 2; i++) {
          const one = buf(1526);
          rx.submit([{ addr: one, len: 1526, write: true }]);
          wire.inject(frame);
          expect(rx.reap().map((u) => u.len)).toEqual([312]);
          expect([...d.mem.view(one, 12)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
          expect(d.mem.view(one + 12, 300)).toEqual(frame);
          expect(d.mem.read8(one + 312)).toBe(0xcc);
        }
        // Header and frame in two buffers of one chain: each gets its part, nothing spills.
        const h = buf(12);
        const f = buf(1514);
        rx.submit([
          { addr: h, len: 12, write: true },
          { addr: f, len: 1514, write: true },
        ]);
        wire.inject(frame);
        expect(rx.reap().map((u) => u.len)).toEqual([312]);
        expect([...d.mem.view(h, 12)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        expect(gapIntact(h, 12)).toBe(true);
        expect(d.mem.view(f, 300)).toEqual(frame);
        const small = buf(100);
        tooSmall(d, rx, wire, mrg, small, () => buf(1526), frame);
        expect(gapIntact(small, 100)).toBe(true);
      }
    }
  });

  it("net receive: a buffer the driver posts while the device turns notifications back on is used at once", () => {
    // The device found no buffer, asks for a kick (avail_event) and looks once more (virtio 1.2
    // §2.7.10); a driver on another CPU may post just then. Simulated by posting from inside
    // enableNotifications, which runs exactly between the empty look and the second one.
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    const rx = d.queues[0]!;
    const q = d.t.queue(0);
    const frame = pattern(200, 4);
    const late = d.alloc.alloc(1526);
    const enable = q.enableNotifications.bind(q);
    let posted = false;
    q.enableNotifications = () => {
      if (!posted) {
        posted = true;
        rx.add([{ addr: late, len: 1526, write: true }]);
      }
      return enable();
    };
    wire.inject(frame);
    expect(posted).toBe(true);
    expect(wire.pending.length).toBe(0); // taken by the second look, not left waiting
    expect(rx.reap().map((u) => u.len)).toEqual([212]);
    expect(d.mem.view(late + 12, 200)).toEqual(frame);
  });

  it("net takes the header length of each negotiation: a driver that resets and drops MRG_RXBUF on a legacy transport gets 10-byte headers", () => {
    const wire = new MemoryFrameBackend();
    const net = new NetDevice(wire);
    const frame = pattern(100, 6);
    for (const [mrg, hl] of [[true, 12], [false, 10], [true, 12]] as const) {
      const d = new Driver(net, { version: 1 });
      d.init({ accept: (o) => (mrg ? o : o & ~bit(NetFeature.MrgRxbuf)) });
      const rx = d.queues[0]!;
      const buf = d.alloc.alloc(1600);
      d.mem.fill(buf, 16, 0xee);
      rx.submit([{ addr: buf, len: 1600, write: true }]);
      wire.inject(frame);
      expect(rx.reap()).toEqual([{ id: 0, len: hl + 100 }]);
      expect(d.mem.view(buf + hl, 100)).toEqual(frame);
      expect([...d.mem.view(buf, hl)]).toEqual(mrg ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0] : new Array(10).fill(0));
      // The next frame finds the queue warm (SplitQueue.fillNext's one step): the same header,
      // written over what the buffer held, and nothing past the frame touched.
      const next = d.alloc.alloc(64);
      d.mem.fill(next, 64, 0xee);
      rx.submit([{ addr: next, len: 64, write: true }]);
      wire.inject(new Uint8Array([0x5a]));
      expect(rx.reap()).toEqual([{ id: 1, len: hl + 1 }]);
      expect([...d.mem.view(next, hl + 2)]).toEqual([...(mrg ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0] : new Array(10).fill(0)), 0x5a, 0xee]);
      d.w(MmioReg.Status, 0);
    }
  });

  it("net receive with MRG_RXBUF: a frame that exactly fills two buffers takes those two, and the next buffer is left for the next frame", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    const rx = d.queues[0]!;
    const total = 12 + 100; // header + frame
    const bufs = [64, total - 64, 200].map((len) => {
      const addr = d.alloc.alloc(len);
      rx.add([{ addr, len, write: true }]);
      return addr;
    });
    rx.notify();
    wire.inject(pattern(100, 4));
    const used = rx.reap();
    expect(used.map((u) => u.len)).toEqual([64, total - 64]);
    expect(d.mem.read16(bufs[0]! + 10)).toBe(2); // num_buffers: exactly the two
    wire.inject(pattern(50, 6));
    const next = rx.reap();
    expect(next.map((u) => u.len)).toEqual([12 + 50]);
    expect(d.mem.read16(bufs[2]! + 10)).toBe(1);
  });

  for (const eventIdx of [true, false]) {
    it(`net receive needs no notification while its buffers last, asks for one when they run out, and delivers the frame that waited (EVENT_IDX ${eventIdx ? "on" : "off"})`, () => {
      const wire = new MemoryFrameBackend();
      const d = new Driver(new NetDevice(wire));
      d.init({ accept: (o) => (eventIdx ? o : o & ~bit(Feature.EventIdx)) });
      const rx = d.queues[0]!;
      const post = (): boolean => {
        rx.add([{ addr: d.alloc.alloc(1600), len: 1600, write: true }]);
        return rx.kick(eventIdx);
      };
      post();
      post();
      wire.inject(pattern(100, 1));
      wire.inject(pattern(100, 2));
      expect(rx.reap().length).toBe(2);
      // Out of buffers: the third frame waits, and the device has asked to hear of the next one.
      wire.inject(pattern(100, 3));
      expect(wire.pending.length).toBe(1);
      expect(post(), "the driver must notify for the buffer the device waits for").toBe(true);
      expect(wire.pending.length).toBe(0);
      expect(rx.reap().length).toBe(1);
      if (eventIdx) {
        // While buffers last the device needs no notification: avail_event stays behind, also
        // while frames arrive.
        post();
        expect(post()).toBe(false);
        post();
        const event = rx.availEvent();
        wire.inject(pattern(100, 4));
        wire.inject(pattern(100, 5));
        expect(rx.reap().length).toBe(2);
        expect(rx.availEvent()).toBe(event);
      }
    });
  }

  for (const eventIdx of [true, false]) {
    it(`net interrupts for a frame a backend receives from inside transmit, when the transmit queue wants no interrupt (EVENT_IDX ${eventIdx ? "on" : "off"})`, () => {
      // A backend that answers at once (as the ARP responder does) delivers its reply while the
      // device is still draining the transmit queue; the drain's own interrupt test covers the
      // transmit queue only, which here asks for none.
      const reply = pattern(60, 4);
      const wire: FrameBackend & { sink?: FrameSink } = {
        borrowsFrames: true,
        attach(sink) {
          this.sink = sink;
        },
        transmit() {
          expect(this.sink?.receive(reply)).toBe(true);
        },
      };
      const d = new Driver(new NetDevice(wire));
      d.init({ accept: (o) => (eventIdx ? o : o & ~bit(Feature.EventIdx)) });
      const [rx, tx] = d.queues as [NonNullable<(typeof d.queues)[0]>, NonNullable<(typeof d.queues)[1]>];
      const buf = d.alloc.alloc(1600);
      rx.submit([{ addr: buf, len: 1600, write: true }]);
      if (eventIdx) tx.setUsedEvent(0x8000); // far ahead: no transmit interrupt wanted
      else tx.setNoInterrupt(true);
      const before = d.interrupts;
      const h = d.alloc.alloc(12 + 60);
      d.mem.fill(h, 12);
      d.mem.write(h + 12, pattern(60, 1));
      tx.submit([{ addr: h, len: 72 }]);
      expect(rx.reap()).toEqual([{ id: 0, len: 72 }]);
      expect(d.mem.view(buf + 12, 60)).toEqual(reply);
      expect(d.interrupts, "the receive queue's used buffer must be signalled").toBe(before + 1);
      expect(d.ack() & MmioInt.Vring).toBe(MmioInt.Vring);
    });
  }

  it("honours VRING_AVAIL_F_NO_INTERRUPT without EVENT_IDX", () => {
    const d = new Driver(new RngDevice({ source: (o) => void o.fill(1) }));
    d.init({ accept: (o) => o & ~bit(Feature.EventIdx) });
    const q = d.queues[0]!;
    const a = d.alloc.alloc(16);
    q.setNoInterrupt(true);
    const before = d.interrupts;
    q.submit([{ addr: a, len: 4, write: true }]);
    expect(d.interrupts).toBe(before);
    q.setNoInterrupt(false);
    q.submit([{ addr: a, len: 4, write: true }]);
    expect(d.interrupts).toBe(before + 1);
    expect(q.usedFlags()).toBe(0); // NO_NOTIFY cleared once drained
  });

  it("keeps working across 16-bit index wrap-around", () => {
    const d = new Driver(new RngDevice({ source: (o) => void o.fill(2) }));
    d.init({ queueSize: 4 });
    const q = d.queues[0]!;
    const a = d.alloc.alloc(8);
    let n = 0;
    for (let i = 0; i < 66000; i++) {
      q.submit([{ addr: a, len: 8, write: true }]);
      n += q.reap().length;
    }
    expect(n).toBe(66000);
    expect(q.availIdx).toBe(66000 & 0xffff);
    expect(d.status() & Status.NeedsReset).toBe(0);
  });

  it("can place a buffer across two adjacent memory regions", () => {
    const disk = pattern(4096, 4);
    const d = new Driver(new BlkDevice(new MemoryBlockBackend(disk)));
    d.init();
    const q = d.queues[0]!;
    const hdr = d.alloc.alloc(16);
    d.mem.write32(hdr, BlkType.In);
    d.mem.write64(hdr + 8, 0n);
    const data = MIB - 256; // crosses into the second region
    const st = d.alloc.alloc(1);
    q.submit([{ addr: hdr, len: 16 }, { addr: data, len: 512, write: true }, { addr: st, len: 1, write: true }]);
    expect(q.reap()[0]!.len).toBe(513);
    const got = new Uint8Array(512);
    d.mem.read(data, got);
    expect(got).toEqual(disk.slice(0, 512));
  });
});
