import { describe, expect, it } from "vitest";
import {
  Feature,
  GuestMemory,
  MMIO_MAGIC,
  MmioInt,
  MmioReg,
  MmioTransport,
  RngDevice,
  Status,
  VirtioError,
  isVirtioError,
  SplitQueue,
} from "../src/index.ts";

function make(version: 1 | 2 = 2) {
  const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x10000) }]);
  const irqs: number[] = [];
  const acks: number[] = [];
  const t = new MmioTransport({
    memory: mem,
    device: new RngDevice({ source: (o) => void o.fill(1) }),
    version,
    vendorId: 0x554d4551,
    interrupt: (s) => irqs.push(s),
    interruptAcked: (s) => acks.push(s),
  });
  const r = (o: number) => t.read(o, 4);
  const w = (o: number, v: number) => t.write(o, 4, v);
  return { t, mem, irqs, acks, r, w };
}

function features(r: (o: number) => number, w: (o: number, v: number) => void): bigint {
  w(MmioReg.DeviceFeaturesSel, 1);
  const hi = BigInt(r(MmioReg.DeviceFeatures));
  w(MmioReg.DeviceFeaturesSel, 0);
  return (hi << 32n) | BigInt(r(MmioReg.DeviceFeatures));
}

describe("MmioTransport registers", () => {
  it("identifies itself", () => {
    const { r } = make();
    expect(r(MmioReg.MagicValue)).toBe(MMIO_MAGIC);
    expect(r(MmioReg.MagicValue)).toBe(0x74726976);
    expect(r(MmioReg.Version)).toBe(2);
    expect(r(MmioReg.DeviceId)).toBe(4);
    expect(r(MmioReg.VendorId)).toBe(0x554d4551);
    expect(r(MmioReg.ShmLenLow)).toBe(0xffffffff);
    expect(make(1).r(MmioReg.Version)).toBe(1);
  });

  it("always offers VERSION_1 on v2, never on v1, and never NOTIFICATION_DATA", () => {
    const a = make(2);
    const f2 = features(a.r, a.w);
    expect((f2 >> 32n) & 1n).toBe(1n);
    expect((f2 >> BigInt(Feature.NotificationData)) & 1n).toBe(0n);
    expect((f2 >> BigInt(Feature.EventIdx)) & 1n).toBe(1n);
    const b = make(1);
    expect(features(b.r, b.w) >> 32n).toBe(0n);
    a.w(MmioReg.DeviceFeaturesSel, 2);
    expect(a.r(MmioReg.DeviceFeatures)).toBe(0);
  });

  it("ignores and counts wrong-width and misaligned accesses below 0x100", () => {
    const { t, r } = make();
    expect(t.read(MmioReg.MagicValue, 2)).toBe(0);
    expect(t.read(MmioReg.MagicValue, 1)).toBe(0);
    expect(t.read(MmioReg.MagicValue, 8)).toBe(0);
    expect(t.read(MmioReg.MagicValue + 2, 4)).toBe(0);
    t.write(MmioReg.Status, 1, Status.Acknowledge);
    t.write(MmioReg.Status, 2, Status.Acknowledge);
    expect(r(MmioReg.Status)).toBe(0);
    expect(t.hostileCounts["register-width"]).toBe(6);
    t.read(MmioReg.Config, 8);
    expect(t.hostileCounts["register-width"]).toBe(7);
    expect(r(MmioReg.QueueNotify)).toBe(0); // write-only
    expect(t.hostileCounts["register-unknown"]).toBe(1);
  });

  it("runs the status state machine", () => {
    const { t, r, w } = make();
    w(MmioReg.Status, Status.Driver); // DRIVER before ACKNOWLEDGE
    expect(r(MmioReg.Status)).toBe(0);
    expect(t.hostileCounts["status-order"]).toBe(1);
    w(MmioReg.Status, Status.Acknowledge);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver);
    w(MmioReg.Status, Status.Acknowledge); // clearing DRIVER
    expect(t.hostileCounts["status-clear"]).toBe(1);
    expect(r(MmioReg.Status)).toBe(Status.Acknowledge | Status.Driver);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.DriverOk); // DRIVER_OK before FEATURES_OK
    expect(r(MmioReg.Status) & Status.DriverOk).toBe(0);
    // accept a feature that was not offered: FEATURES_OK refused
    w(MmioReg.DriverFeaturesSel, 1);
    w(MmioReg.DriverFeatures, 1 | (1 << 10));
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    expect(r(MmioReg.Status) & Status.FeaturesOk).toBe(0);
    // without VERSION_1: refused too
    w(MmioReg.DriverFeatures, 0);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    expect(r(MmioReg.Status) & Status.FeaturesOk).toBe(0);
    expect(t.hostileCounts["feature-negotiation"]).toBe(2);
    // a subset with VERSION_1: accepted; features then locked
    w(MmioReg.DriverFeatures, 1);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    expect(r(MmioReg.Status) & Status.FeaturesOk).toBe(Status.FeaturesOk);
    w(MmioReg.DriverFeatures, 3);
    expect(t.state().driverFeatures).toBe(1n << 32n);
    // FAILED can always be set
    w(MmioReg.Status, Status.Failed);
    expect(r(MmioReg.Status) & Status.Failed).toBe(Status.Failed);
    // reset clears everything
    w(MmioReg.Status, 0);
    expect(r(MmioReg.Status)).toBe(0);
    expect(t.state().driverFeatures).toBe(0n);
  });

  it("rejects a bad queue size at QueueReady with NEEDS_RESET, and a config interrupt only after DRIVER_OK", () => {
    for (const size of [0, 3, 128]) {
      const { t, r, w, irqs } = make();
      w(MmioReg.Status, Status.Acknowledge);
      w(MmioReg.Status, Status.Acknowledge | Status.Driver);
      w(MmioReg.DriverFeaturesSel, 1);
      w(MmioReg.DriverFeatures, 1);
      w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
      w(MmioReg.QueueSel, 0);
      expect(r(MmioReg.QueueNumMax)).toBe(64);
      w(MmioReg.QueueNum, size);
      w(MmioReg.QueueDescLow, 0x1000);
      w(MmioReg.QueueAvailLow, 0x2000);
      w(MmioReg.QueueUsedLow, 0x3000);
      w(MmioReg.QueueReady, 1);
      expect(r(MmioReg.QueueReady)).toBe(0);
      expect(r(MmioReg.Status) & Status.NeedsReset).toBe(Status.NeedsReset);
      expect(t.hostileCounts["queue-size"]).toBe(1);
      expect(irqs).toEqual([]);
    }
    // after DRIVER_OK: a broken chain raises a config interrupt
    const { t, r, w, irqs, mem, acks } = make();
    w(MmioReg.Status, Status.Acknowledge | Status.Driver);
    w(MmioReg.DriverFeaturesSel, 1);
    w(MmioReg.DriverFeatures, 1);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    w(MmioReg.QueueNum, 4);
    w(MmioReg.QueueDescLow, 0x1000);
    w(MmioReg.QueueAvailLow, 0x2000);
    w(MmioReg.QueueUsedLow, 0x3000);
    w(MmioReg.QueueReady, 1);
    w(MmioReg.QueueNum, 8); // while ready: ignored
    expect(t.hostileCounts["register-window"]).toBe(1);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk | Status.DriverOk);
    w(MmioReg.QueueNum, 8); // after DRIVER_OK: ignored
    expect(t.hostileCounts["register-window"]).toBe(2);
    mem.write16(0x2002, 9); // avail.idx jumps by 9 > 4
    w(MmioReg.QueueNotify, 0);
    expect(t.hostileCounts["avail-idx-jump"]).toBe(1);
    expect(r(MmioReg.Status) & Status.NeedsReset).toBe(Status.NeedsReset);
    expect(irqs).toEqual([MmioInt.Config]);
    expect(r(MmioReg.InterruptStatus)).toBe(MmioInt.Config);
    w(MmioReg.InterruptAck, MmioInt.Config);
    expect(r(MmioReg.InterruptStatus)).toBe(0);
    expect(acks).toEqual([0]);
    // the queue is stopped: nothing more happens, even if the driver "fixes" the index
    mem.write16(0x2002, 1);
    w(MmioReg.QueueNotify, 0);
    expect(mem.read16(0x3002)).toBe(0);
    expect(t.hostileCounts["queue-not-ready"]).toBe(1);
    w(MmioReg.Status, 0);
    expect(r(MmioReg.Status)).toBe(0);
    expect(r(MmioReg.QueueReady)).toBe(0);
  });

  it("serves config space with 1-, 2- and 4-byte accesses at any offset and keeps ConfigGeneration monotonic", () => {
    const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x1000) }]);
    const dev = new RngDevice();
    const cfg = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    Object.defineProperty(dev, "config", { value: cfg });
    const t = new MmioTransport({ memory: mem, device: dev, interrupt: () => {} });
    expect(t.read(0x100, 1)).toBe(1);
    expect(t.read(0x101, 2)).toBe(0x0302);
    expect(t.read(0x103, 4)).toBe(0x07060504);
    expect(t.read(0x106, 4)).toBe(0); // past the end
    const g = t.read(MmioReg.ConfigGeneration, 4);
    t.configChanged();
    expect(t.read(MmioReg.ConfigGeneration, 4)).toBe(g + 1);
    t.write(MmioReg.Status, 4, 0);
    expect(t.read(MmioReg.ConfigGeneration, 4)).toBe(g + 1);
  });

  it("legacy: GuestPageSize, QueueAlign and QueuePFN place the ring; PFN 0 stops it", () => {
    const { t, r, w, mem } = make(1);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver);
    w(MmioReg.GuestPageSize, 4096);
    w(MmioReg.QueueSel, 0);
    w(MmioReg.QueueNum, 4);
    w(MmioReg.QueueAlign, 4096);
    w(MmioReg.QueuePfn, 2);
    expect(r(MmioReg.QueuePfn)).toBe(2);
    expect(t.queue(0).ready).toBe(true);
    expect(r(MmioReg.QueueReady)).toBe(0); // not a v1 register
    expect(t.hostileCounts["register-unknown"]).toBe(1);
    w(MmioReg.Status, Status.Acknowledge | Status.Driver | Status.DriverOk);
    // desc at 0x2000; avail at 0x2040; used at 0x3000
    mem.write64(0x2000, 0x5000n);
    mem.write32(0x2008, 16);
    mem.write16(0x200c, 2);
    mem.write16(0x2044, 0);
    mem.write16(0x2042, 1);
    w(MmioReg.QueueNotify, 0);
    expect(mem.read16(0x3002)).toBe(1);
    expect(mem.read32(0x3008)).toBe(16);
    w(MmioReg.QueuePfn, 0);
    expect(t.queue(0).ready).toBe(false);
    w(MmioReg.QueueAlign, 3000);
    w(MmioReg.QueuePfn, 2);
    expect(t.hostileCounts["ring-alignment"]).toBe(1);
  });

  it("keeps InterruptStatus in a shared cell that another thread can read and acknowledge", () => {
    const cell = new Int32Array(new SharedArrayBuffer(8), 4, 1);
    cell[0] = 0x55; // reset clears whatever was there
    const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x10000) }]);
    const irqs: number[] = [];
    const t = new MmioTransport({ memory: mem, device: new RngDevice(), interrupt: (s) => irqs.push(s), interruptStatus: cell });
    expect(Atomics.load(cell, 0)).toBe(0);
    t.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver);
    t.write(MmioReg.DriverFeaturesSel, 4, 1);
    t.write(MmioReg.DriverFeatures, 4, 1);
    t.write(MmioReg.Status, 4, Status.Acknowledge | Status.Driver | Status.FeaturesOk | Status.DriverOk);
    t.configChanged();
    expect(irqs).toEqual([MmioInt.Config]);
    expect(Atomics.load(cell, 0)).toBe(MmioInt.Config); // visible to another thread
    Atomics.and(cell, 0, ~MmioInt.Config); // a vCPU thread acknowledges
    expect(t.read(MmioReg.InterruptStatus, 4)).toBe(0);
    t.configChanged();
    expect(t.read(MmioReg.InterruptStatus, 4)).toBe(MmioInt.Config);
    t.write(MmioReg.InterruptAck, 4, MmioInt.Config);
    expect(Atomics.load(cell, 0)).toBe(0);
    expect(() => new MmioTransport({ memory: mem, device: new RngDevice(), interrupt: () => {}, interruptStatus: new Int32Array(0) })).toThrow(
      expect.objectContaining({ code: "invalid-argument" }),
    );
  });

  it("validates its options", () => {
    const mem = new GuestMemory([]);
    const dev = new RngDevice();
    const bad = (o: object): string => {
      try {
        new MmioTransport({ memory: mem, device: dev, interrupt: () => {}, ...o });
      } catch (e) {
        expect(isVirtioError(e)).toBe(true);
        return (e as VirtioError).code;
      }
      return "ok";
    };
    expect(bad({ version: 3 })).toBe("out-of-range");
    expect(bad({ vendorId: -1 })).toBe("out-of-range");
    expect(bad({ interrupt: 5 })).toBe("invalid-argument");
    expect(() => new SplitQueue({ memory: mem, maxSize: 3, onViolation: () => {} })).toThrow(/maxSize: expected a power of two in 1\.\.32768, got 3/);
    expect(() => new SplitQueue({ memory: mem, maxSize: 65536, onViolation: () => {} })).toThrow(VirtioError);
  });
});

describe("SplitQueue.needsNotification (vring_need_event)", () => {
  // virtio 1.2 §2.7.10 examples: old = 10, new = 13
  for (const [event, expected] of [
    [11, true],
    [10, true],
    [12, true],
    [13, false],
    [9, false],
  ] as const) {
    it(`used_event ${event}, used 10 -> 13: ${expected ? "notify" : "quiet"}`, () => {
      const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x4000) }]);
      const q = new SplitQueue({ memory: mem, maxSize: 16, onViolation: () => {} });
      expect(q.activate({ size: 16, desc: 0x0, avail: 0x1000, used: 0x2000 }, { eventIdx: true, indirect: false })).toBe(true);
      // put 13 one-descriptor chains through, checking after the 10th
      for (let i = 0; i < 16; i++) {
        mem.write64(16 * i, BigInt(0x3000 + i * 16));
        mem.write32(16 * i + 8, 4);
      }
      const run = (n: number): void => {
        for (let i = 0; i < n; i++) {
          const idx = mem.read16(0x1002);
          mem.write16(0x1004 + 2 * (idx % 16), idx % 16);
          mem.write16(0x1002, (idx + 1) & 0xffff);
          const c = q.pop()!;
          q.addUsed(c, 0);
        }
      };
      run(10);
      q.needsNotification();
      mem.write16(0x1004 + 2 * 16, event);
      run(3);
      expect(q.needsNotification()).toBe(expected);
      expect(q.needsNotification()).toBe(false); // nothing new since
    });
  }
});
