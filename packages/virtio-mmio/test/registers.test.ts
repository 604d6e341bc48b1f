/**
 * The MmioTransport register file register by register, on both versions, with a recording
 * device: what each register reads, which writes it takes and when (the status windows), the
 * hostile-driver reports with their details, the layout the queue registers give the queues, and
 * what a reset clears.
 */
import { describe, expect, it } from "vitest";
import {
  Feature,
  GuestMemory,
  MmioInt,
  MmioReg,
  MmioTransport,
  Status,
  VirtioError,
  VringFlag,
  isVirtioError,
  type DeviceHost,
  type VirtioDevice,
} from "../src/index.ts";

const bit = (b: number): bigint => 1n << BigInt(b);
const ACK_DRV = Status.Acknowledge | Status.Driver;
const FEAT_OK = ACK_DRV | Status.FeaturesOk;

class Recorder implements VirtioDevice {
  readonly deviceId = 42;
  readonly queueMaxSizes: readonly number[] = [8, 4];
  readonly config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  readonly log: string[] = [];
  host: DeviceHost | undefined;
  offer: bigint = bit(0) | bit(3) | bit(Feature.EventIdx) | bit(Feature.IndirectDesc);
  failNotify: unknown = undefined;
  features(legacy: boolean): bigint {
    this.log.push(`features ${legacy}`);
    return this.offer;
  }
  writeConfig(offset: number, width: number, value: number): void {
    this.log.push(`config ${offset} ${width} 0x${value.toString(16)}`);
  }
  activate(host: DeviceHost): void {
    this.host = host;
    this.log.push("activate");
  }
  reset(): void {
    this.log.push("reset");
  }
  queueNotify(index: number): void {
    this.log.push(`notify ${index}`);
    if (this.failNotify !== undefined) throw this.failNotify;
  }
}

function make(version: 1 | 2 = 2, dev: VirtioDevice = new Recorder()) {
  const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x10000) }]);
  const irqs: number[] = [];
  const acks: number[] = [];
  const hostile: [string, string][] = [];
  const t = new MmioTransport({
    memory: mem,
    device: dev,
    version,
    interrupt: (s) => irqs.push(s),
    interruptAcked: (s) => acks.push(s),
    onHostile: (c, d) => void hostile.push([c, d]),
  });
  const r = (o: number): number => t.read(o, 4);
  const w = (o: number, v: number): void => t.write(o, 4, v);
  return { t, mem, irqs, acks, hostile, r, w, dev: dev as Recorder };
}

/** Through FEATURES_OK (v2) or DRIVER (v1), accepting `features`. */
function negotiate(x: ReturnType<typeof make>, features: bigint = bit(Feature.Version1)): void {
  const v2 = x.t.version === 2;
  x.w(MmioReg.Status, Status.Acknowledge);
  x.w(MmioReg.Status, ACK_DRV);
  x.w(MmioReg.DriverFeaturesSel, 1);
  x.w(MmioReg.DriverFeatures, Number(features >> 32n));
  x.w(MmioReg.DriverFeaturesSel, 0);
  x.w(MmioReg.DriverFeatures, Number(features & 0xffffffffn));
  if (v2) x.w(MmioReg.Status, FEAT_OK);
}

/** Queue 0 of size 4 at desc 0x1000, avail 0x2000, used 0x3000 (v2). */
function queue0(x: ReturnType<typeof make>, num = 4): void {
  x.w(MmioReg.QueueSel, 0);
  x.w(MmioReg.QueueNum, num);
  x.w(MmioReg.QueueDescLow, 0x1000);
  x.w(MmioReg.QueueAvailLow, 0x2000);
  x.w(MmioReg.QueueUsedLow, 0x3000);
  x.w(MmioReg.QueueReady, 1);
}

describe("MmioTransport options", () => {
  const mem = new GuestMemory([]);
  const error = (o: object): string[] => {
    try {
      new MmioTransport({ memory: mem, device: new Recorder(), interrupt: () => {}, ...o });
    } catch (e) {
      expect(isVirtioError(e)).toBe(true);
      expect(e).toBeInstanceOf(VirtioError);
      return [(e as VirtioError).code, (e as VirtioError).message];
    }
    return ["ok"];
  };

  it.each([
    [{ version: 3 }, ["out-of-range", "version: expected 1 or 2, got 3"]],
    [{ version: 0 }, ["out-of-range", "version: expected 1 or 2, got 0"]],
    [{ interrupt: undefined }, ["invalid-argument", "interrupt: expected a function"]],
    [{ interrupt: 5 }, ["invalid-argument", "interrupt: expected a function"]],
    [{ vendorId: -1 }, ["out-of-range", "vendorId: expected 0..0xffffffff, got -1"]],
    [{ vendorId: 2 ** 32 }, ["out-of-range", "vendorId: expected 0..0xffffffff, got 4294967296"]],
    [{ vendorId: 1.5 }, ["out-of-range", "vendorId: expected 0..0xffffffff, got 1.5"]],
    [{ interruptStatus: new Uint32Array(1) }, ["invalid-argument", "interruptStatus: expected an Int32Array of at least 1 element"]],
    [{ interruptStatus: new Int32Array(0) }, ["invalid-argument", "interruptStatus: expected an Int32Array of at least 1 element"]],
    [{ vendorId: 0xffffffff }, ["ok"]],
    [{ vendorId: 0, version: 1 }, ["ok"]],
    [{ interruptStatus: new Int32Array(1) }, ["ok"]],
  ])("%j", (o, expected) => {
    expect(error(o)).toEqual(expected);
  });

  it("defaults to version 2 and vendor 0", () => {
    const t = new MmioTransport({ memory: mem, device: new Recorder(), interrupt: () => {} });
    expect([t.version, t.vendorId, t.read(MmioReg.Version, 4), t.read(MmioReg.VendorId, 4)]).toEqual([2, 0, 2, 0]);
  });

  it("offers VERSION_1 on v2, masks NOTIFICATION_DATA, and only 32 bits on v1", () => {
    const dev = new Recorder();
    dev.offer = bit(0) | bit(Feature.NotificationData) | bit(Feature.RingReset) | bit(31);
    const v2 = make(2, dev);
    expect(v2.t.deviceFeatures).toBe(bit(0) | bit(Feature.RingReset) | bit(31) | bit(Feature.Version1));
    expect(dev.log).toEqual(["features false"]);
    const dev1 = new Recorder();
    dev1.offer = dev.offer | bit(Feature.Version1);
    const v1 = make(1, dev1);
    expect(v1.t.deviceFeatures).toBe(bit(0) | bit(31));
    expect(dev1.log).toEqual(["features true"]);
    expect(v1.t.state()).toEqual({ status: 0, interruptStatus: 0, configGeneration: 0, driverFeatures: 0n, deviceFeatures: bit(0) | bit(31) });
  });

  it("names the queue index and range in queue()", () => {
    const { t } = make();
    expect(t.queue(1).maxSize).toBe(4);
    expect(() => t.queue(2)).toThrow("index: expected 0..1, got 2");
    expect(() => t.queue(-1)).toThrow(expect.objectContaining({ code: "out-of-range", message: "index: expected 0..1, got -1" }));
  });
});

describe("MmioTransport reads", () => {
  it("serves every readable register on version 2", () => {
    const x = make(2);
    const { r, w, t } = x;
    expect([r(MmioReg.MagicValue), r(MmioReg.Version), r(MmioReg.DeviceId), r(MmioReg.VendorId)]).toEqual([0x74726976, 2, 42, 0]);
    expect(r(MmioReg.DeviceFeatures)).toBe(Number(x.dev.offer & 0xffffffffn));
    w(MmioReg.DeviceFeaturesSel, 1);
    expect(r(MmioReg.DeviceFeatures)).toBe(1);
    w(MmioReg.DeviceFeaturesSel, 2);
    expect(r(MmioReg.DeviceFeatures)).toBe(0);
    expect([r(MmioReg.QueueNumMax), r(MmioReg.QueueReady)]).toEqual([8, 0]);
    w(MmioReg.QueueSel, 1);
    expect(r(MmioReg.QueueNumMax)).toBe(4);
    w(MmioReg.QueueSel, 2);
    expect([r(MmioReg.QueueNumMax), r(MmioReg.QueueReady)]).toEqual([0, 0]);
    for (const reg of [MmioReg.ShmLenLow, MmioReg.ShmLenHigh, MmioReg.ShmBaseLow, MmioReg.ShmBaseHigh]) expect(r(reg)).toBe(0xffffffff);
    expect(r(0x0c0)).toBe(0);
    expect([r(MmioReg.InterruptStatus), r(MmioReg.Status), r(MmioReg.ConfigGeneration)]).toEqual([0, 0, 0]);
    t.configChanged();
    expect(r(MmioReg.ConfigGeneration)).toBe(1);
    expect(x.hostile).toEqual([]);
  });

  it("reports registers that do not exist or are write-only, naming them and the version", () => {
    const x = make(2);
    for (const reg of [MmioReg.QueuePfn, MmioReg.QueueNotify, MmioReg.GuestPageSize, MmioReg.QueueDescLow, 0x0f8, 0x0c4]) expect(x.r(reg)).toBe(0);
    expect(x.hostile).toEqual([
      ["register-unknown", "register 0x40: not readable on version 2"],
      ["register-unknown", "register 0x50: not readable on version 2"],
      ["register-unknown", "register 0x28: not readable on version 2"],
      ["register-unknown", "register 0x80: not readable on version 2"],
      ["register-unknown", "register 0xf8: not readable on version 2"],
      ["register-unknown", "register 0xc4: not readable on version 2"],
    ]);
    expect(x.t.hostileCounts["register-unknown"]).toBe(6);
    expect(x.r(MmioReg.Status) & Status.NeedsReset).toBe(0); // ignored checks do not ask for a reset
  });

  it("serves the legacy registers on version 1 and reports the modern ones", () => {
    const x = make(1);
    x.t.configChanged();
    expect([x.r(MmioReg.Version), x.r(MmioReg.QueuePfn), x.r(MmioReg.ConfigGeneration)]).toEqual([1, 0, 0]);
    x.w(MmioReg.QueueSel, 5);
    expect(x.r(MmioReg.QueuePfn)).toBe(0);
    expect(x.hostile).toEqual([]);
    for (const reg of [MmioReg.QueueReady, MmioReg.ShmLenLow, MmioReg.ShmBaseHigh, 0x0c0]) expect(x.r(reg)).toBe(0);
    expect(x.hostile).toEqual([
      ["register-unknown", "register 0x44: not readable on version 1"],
      ["register-unknown", "register 0xb0: not readable on version 1"],
      ["register-unknown", "register 0xbc: not readable on version 1"],
      ["register-unknown", "register 0xc0: not readable on version 1"],
    ]);
  });

  it("accepts only aligned 4-byte accesses below 0x100, and 1, 2 or 4 bytes in config space", () => {
    const x = make();
    expect(x.t.read(MmioReg.Version, 2)).toBe(0);
    expect(x.t.read(MmioReg.Version + 1, 4)).toBe(0);
    expect(x.t.read(MmioReg.Version + 4 - 4, 4)).toBe(2);
    expect(x.t.read(MmioReg.Config + 1, 3)).toBe(0);
    expect(x.t.read(MmioReg.Config, 0)).toBe(0);
    expect(x.hostile).toEqual([
      ["register-width", "register 0x4: expected an aligned 4-byte access, got 2 bytes"],
      ["register-width", "register 0x5: expected an aligned 4-byte access, got 4 bytes"],
      ["register-width", "config+1: expected a 1-, 2- or 4-byte access, got 3"],
      ["register-width", "config+0: expected a 1-, 2- or 4-byte access, got 0"],
    ]);
  });

  it("reads config space little-endian up to its last byte, and 0 past it", () => {
    const { t } = make();
    expect([t.read(0x100, 1), t.read(0x107, 1), t.read(0x108, 1)]).toEqual([1, 8, 0]);
    expect([t.read(0x106, 2), t.read(0x107, 2)]).toEqual([0x0807, 0]);
    expect([t.read(0x104, 4), t.read(0x105, 4)]).toEqual([0x08070605, 0]);
    expect(t.read(0x1ff, 4)).toBe(0);
    expect(t.hostileCounts["device-error"]).toBe(0);
  });
});

describe("MmioTransport writes", () => {
  it("passes config writes to the device, masked to their width, within config space only", () => {
    const x = make();
    x.t.write(0x100, 1, 0x1234);
    x.t.write(0x102, 2, 0x123456);
    x.t.write(0x104, 4, 0xfedcba98);
    x.t.write(0x107, 1, 0xff);
    x.t.write(0x107, 2, 0xffff);
    x.t.write(0x105, 4, 1);
    x.t.write(0x101, 3, 1);
    expect(x.dev.log.filter((l) => l.startsWith("config"))).toEqual(["config 0 1 0x34", "config 2 2 0x3456", "config 4 4 0xfedcba98", "config 7 1 0xff"]);
    expect(x.hostile).toEqual([["register-width", "config+1: expected a 1-, 2- or 4-byte access, got 3"]]);
    // a device without writeConfig: ignored
    const plain: VirtioDevice = { deviceId: 1, queueMaxSizes: [], config: new Uint8Array(4), features: () => 0n, activate: () => {}, reset: () => {}, queueNotify: () => {} };
    const y = make(2, plain);
    y.t.write(0x100, 4, 5);
    expect(y.hostile).toEqual([]);
  });

  it("reports writes to read-only or unknown registers, and wrong widths", () => {
    const x = make(2);
    x.w(MmioReg.MagicValue, 1);
    x.w(MmioReg.QueueNumMax, 1);
    x.w(MmioReg.GuestPageSize, 4096);
    x.w(MmioReg.QueueAlign, 4096);
    x.w(MmioReg.QueuePfn, 1);
    x.w(0x0c4, 1);
    x.t.write(MmioReg.Status, 2, 1);
    x.t.write(MmioReg.Status + 2, 4, 1);
    x.w(MmioReg.ShmSel, 1);
    x.w(0x0c0, 1);
    expect(x.hostile).toEqual([
      ["register-unknown", "register 0x0: not writable on version 2"],
      ["register-unknown", "register 0x34: not writable on version 2"],
      ["register-unknown", "register 0x28: not writable on version 2"],
      ["register-unknown", "register 0x3c: not writable on version 2"],
      ["register-unknown", "register 0x40: not writable on version 2"],
      ["register-unknown", "register 0xc4: not writable on version 2"],
      ["register-width", "register 0x70: expected an aligned 4-byte access, got 2 bytes"],
      ["register-width", "register 0x72: expected an aligned 4-byte access, got 4 bytes"],
    ]);
    expect(x.r(MmioReg.Status)).toBe(0);
    const y = make(1);
    for (const reg of [MmioReg.QueueReady, MmioReg.QueueDescLow, MmioReg.QueueUsedHigh, MmioReg.ShmSel, 0x0c0]) y.w(reg, 1);
    expect(y.hostile).toEqual([
      ["register-unknown", "register 0x44: not writable on version 1"],
      ["register-unknown", "register 0x80: not writable on version 1"],
      ["register-unknown", "register 0xa4: not writable on version 1"],
      ["register-unknown", "register 0xac: not writable on version 1"],
      ["register-unknown", "register 0xc0: not writable on version 1"],
    ]);
  });

  it("takes DriverFeatures only with DRIVER set and FEATURES_OK clear, word by word", () => {
    const x = make(2);
    x.w(MmioReg.DriverFeatures, 1);
    x.w(MmioReg.Status, Status.Acknowledge);
    x.w(MmioReg.DriverFeatures, 1);
    expect(x.hostile).toEqual([
      ["register-window", "DriverFeatures: writable only with DRIVER set and FEATURES_OK clear, status is 0x0"],
      ["register-window", "DriverFeatures: writable only with DRIVER set and FEATURES_OK clear, status is 0x1"],
    ]);
    x.hostile.length = 0;
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.DriverFeatures, 0x8);
    x.w(MmioReg.DriverFeaturesSel, 1);
    x.w(MmioReg.DriverFeatures, 1);
    expect(x.t.state().driverFeatures).toBe(bit(32) | bit(3));
    x.w(MmioReg.DriverFeatures, 0x3); // replaces the high word only
    expect(x.t.state().driverFeatures).toBe(bit(33) | bit(32) | bit(3));
    x.w(MmioReg.DriverFeatures, 1);
    x.w(MmioReg.DriverFeaturesSel, 2);
    x.w(MmioReg.DriverFeatures, 0);
    expect(x.hostile).toEqual([]);
    x.w(MmioReg.DriverFeatures, 0x10);
    expect(x.hostile).toEqual([["feature-negotiation", "DriverFeatures[2]: no features offered there, got 0x10"]]);
    expect(x.t.state().driverFeatures).toBe(bit(32) | bit(3));
    x.w(MmioReg.Status, FEAT_OK);
    expect(x.r(MmioReg.Status)).toBe(FEAT_OK);
    x.w(MmioReg.DriverFeaturesSel, 0);
    x.w(MmioReg.DriverFeatures, 0);
    expect(x.t.state().driverFeatures).toBe(bit(32) | bit(3));
    expect(x.hostile[1]).toEqual(["register-window", "DriverFeatures: writable only with DRIVER set and FEATURES_OK clear, status is 0xb"]);
    x.w(MmioReg.Status, FEAT_OK | Status.Failed);
    x.w(MmioReg.DriverFeatures, 0);
    expect(x.hostile[2]).toEqual(["register-window", "DriverFeatures: writable only with DRIVER set and FEATURES_OK clear, status is 0x8b"]);
  });

  it("masks unoffered features on version 1 (no FEATURES_OK step)", () => {
    const x = make(1);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.DriverFeatures, 0x9 | 0x10 | 0x80000000);
    expect(x.t.state().driverFeatures).toBe(0x9n);
    expect(x.hostile).toEqual([["feature-negotiation", "DriverFeatures: bits 0x80000010 were not offered"]]);
    x.w(MmioReg.DriverFeatures, 0x1);
    expect(x.t.state().driverFeatures).toBe(1n);
    expect(x.hostile.length).toBe(1);
    x.w(MmioReg.Status, ACK_DRV | Status.DriverOk);
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV | Status.DriverOk);
    expect(x.dev.host!.features).toBe(1n);
    expect(x.dev.host!.legacy).toBe(true);
  });

  it("runs the status machine: prerequisites, no clearing, FAILED at any time, no-op rewrites", () => {
    const x = make(2);
    x.w(MmioReg.Status, Status.Driver);
    x.w(MmioReg.Status, Status.Acknowledge | Status.FeaturesOk);
    x.w(MmioReg.Status, Status.Acknowledge | Status.DriverOk);
    expect(x.r(MmioReg.Status)).toBe(0);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.Status, ACK_DRV); // nothing new: silent
    x.w(MmioReg.Status, ACK_DRV | Status.DriverOk); // DRIVER_OK before FEATURES_OK on v2
    x.w(MmioReg.Status, Status.Driver); // clearing ACKNOWLEDGE
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV);
    x.w(MmioReg.Status, ACK_DRV | Status.NeedsReset); // the driver cannot set NEEDS_RESET
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV);
    x.w(MmioReg.Status, 0x100 | ACK_DRV); // bits above 7 are not status
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV);
    expect(x.hostile).toEqual([
      ["status-order", "Status: 0x2 sets a bit before its prerequisite (current 0x0)"],
      ["status-order", "Status: 0x9 sets a bit before its prerequisite (current 0x0)"],
      ["status-order", "Status: 0x5 sets a bit before its prerequisite (current 0x0)"],
      ["status-order", "Status: 0x7 sets a bit before its prerequisite (current 0x3)"],
      ["status-clear", "Status: the driver may not clear bits 0x1"],
    ]);
    x.w(MmioReg.Status, Status.Failed);
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV | Status.Failed);
    // legacy: DRIVER_OK needs only DRIVER
    const y = make(1);
    y.w(MmioReg.Status, Status.Acknowledge);
    y.w(MmioReg.Status, Status.Acknowledge | Status.DriverOk);
    y.w(MmioReg.Status, ACK_DRV | Status.DriverOk);
    expect(y.r(MmioReg.Status)).toBe(ACK_DRV | Status.DriverOk);
    expect(y.hostile).toEqual([["status-order", "Status: 0x5 sets a bit before its prerequisite (current 0x1)"]]);
    expect(y.dev.log).toEqual(["features true", "activate"]);
  });

  it("refuses FEATURES_OK, and a DRIVER_OK written with it, for unoffered features or without VERSION_1", () => {
    const x = make(2);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.DriverFeaturesSel, 1);
    x.w(MmioReg.DriverFeatures, 1 | 4);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV);
    x.w(MmioReg.DriverFeatures, 0);
    x.w(MmioReg.DriverFeaturesSel, 0);
    x.w(MmioReg.DriverFeatures, 1);
    x.w(MmioReg.Status, FEAT_OK);
    expect(x.r(MmioReg.Status)).toBe(ACK_DRV);
    expect(x.hostile).toEqual([
      ["feature-negotiation", "DriverFeatures: bits 0x400000000 were not offered; FEATURES_OK refused"],
      ["feature-negotiation", "DriverFeatures: VERSION_1 (bit 32) must be accepted on a version-2 device; FEATURES_OK refused"],
    ]);
    x.w(MmioReg.DriverFeaturesSel, 1);
    x.w(MmioReg.DriverFeatures, 1);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    expect(x.r(MmioReg.Status)).toBe(FEAT_OK | Status.DriverOk);
    expect(x.dev.log).toEqual(["features false", "activate"]);
    expect(x.dev.host!.features).toBe(bit(32) | 1n);
    expect(x.dev.host!.legacy).toBe(false);
    expect(x.dev.host!.memory).toBe(x.mem);
  });

  it("does not start a device that needs a reset, and serves buffers made available before DRIVER_OK", () => {
    const x = make(2);
    negotiate(x);
    queue0(x);
    x.mem.write64(0x1000, 0x4000n);
    x.mem.write32(0x1008, 4);
    x.mem.write16(0x2004, 0);
    x.mem.write16(0x2002, 1);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    expect(x.dev.log).toEqual(["features false", "activate", "notify 0"]);
    const y = make(2);
    negotiate(y);
    queue0(y);
    y.mem.write16(0x2002, 9); // more than the queue size ahead
    y.w(MmioReg.QueueNotify, 0); // not active yet: queue-not-ready
    y.t.queue(0).pop(); // the device would break the queue: NEEDS_RESET
    expect(y.r(MmioReg.Status) & Status.NeedsReset).toBe(Status.NeedsReset);
    y.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    expect(y.r(MmioReg.Status)).toBe(FEAT_OK | Status.DriverOk | Status.NeedsReset);
    expect(y.dev.log).toEqual(["features false"]);
    expect(y.irqs).toEqual([]);
    y.w(MmioReg.QueueNotify, 0);
    expect(y.dev.log).toEqual(["features false"]);
  });

  it("allows the queue registers only between FEATURES_OK and DRIVER_OK (v2)", () => {
    const x = make(2);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.QueueNum, 2);
    x.w(MmioReg.QueueDescLow, 0x1000);
    x.w(MmioReg.QueueReady, 1);
    expect(x.hostile).toEqual([
      ["register-window", "QueueNum: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x3"],
      ["register-window", "queue address: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x3"],
      ["register-window", "QueueReady: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x3"],
    ]);
    expect(x.r(MmioReg.QueueReady)).toBe(0);
    x.hostile.length = 0;
    x.w(MmioReg.DriverFeaturesSel, 1);
    x.w(MmioReg.DriverFeatures, 1);
    x.w(MmioReg.Status, FEAT_OK);
    x.w(MmioReg.Status, FEAT_OK | Status.Failed);
    x.w(MmioReg.QueueNum, 2);
    expect(x.hostile).toEqual([["register-window", "QueueNum: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x8b"]]);
  });

  it("names the queue when the selected one does not exist or is active", () => {
    const x = make(2);
    negotiate(x);
    x.w(MmioReg.QueueSel, 7);
    x.w(MmioReg.QueueNum, 2);
    x.w(MmioReg.QueueReady, 1);
    x.w(MmioReg.QueueReady, 0);
    x.w(MmioReg.QueueAvailHigh, 0);
    queue0(x);
    x.w(MmioReg.QueueNum, 2);
    x.w(MmioReg.QueueUsedLow, 0x3100);
    expect(x.hostile).toEqual([
      ["register-window", "QueueNum: queue 7 does not exist"],
      ["register-window", "QueueReady: queue 7 does not exist"],
      ["register-window", "QueueReady: queue 7 does not exist"],
      ["register-window", "queue address: queue 7 does not exist"],
      ["register-window", "QueueNum: queue 0 is active"],
      ["register-window", "queue address: queue 0 is ready"],
    ]);
    expect(x.t.queue(0).size).toBe(4);
    const y = make(1);
    y.w(MmioReg.Status, ACK_DRV);
    y.w(MmioReg.QueueSel, 7);
    y.w(MmioReg.QueuePfn, 2);
    y.w(MmioReg.QueueAlign, 64);
    expect(y.hostile).toEqual([["register-window", "QueuePFN: queue 7 does not exist"]]);
  });

  it("builds each ring address from its low and high register", () => {
    for (const [reg, name, len, addr] of [
      [MmioReg.QueueDescHigh, "QueueDesc", 64, "0x100001000"],
      [MmioReg.QueueAvailHigh, "QueueDriver", 14, "0x200002000"],
      [MmioReg.QueueUsedHigh, "QueueDevice", 38, "0x300003000"],
    ] as const) {
      const x = make(2);
      negotiate(x);
      x.w(MmioReg.QueueSel, 0);
      x.w(reg, reg === MmioReg.QueueDescHigh ? 1 : reg === MmioReg.QueueAvailHigh ? 2 : 3);
      queue0(x);
      expect(x.hostile).toEqual([["ring-outside-memory", `${name}: ${len} bytes at ${addr} are outside guest memory`]]);
      expect(x.r(MmioReg.QueueReady)).toBe(0);
    }
    const x = make(2);
    negotiate(x);
    x.w(MmioReg.QueueUsedHigh, 0x200000);
    queue0(x);
    expect(x.hostile).toEqual([["ring-outside-memory", "QueueDevice: 38 bytes at beyond 2^53 are outside guest memory"]]);
    const y = make(2);
    negotiate(y);
    y.w(MmioReg.QueueUsedHigh, 0x1fffff);
    y.w(MmioReg.QueueUsedLow, 0);
    queue0(y);
    expect(y.hostile[0]![1]).toBe(`QueueDevice: 38 bytes at 0x${(0x1fffff * 2 ** 32 + 0x3000).toString(16)} are outside guest memory`);
  });

  it("uses QueueNum, defaulting to QueueNumMax, and does not restart a ready queue", () => {
    const x = make(2);
    negotiate(x);
    x.w(MmioReg.QueueSel, 0);
    x.w(MmioReg.QueueDescLow, 0x1000);
    x.w(MmioReg.QueueAvailLow, 0x2000);
    x.w(MmioReg.QueueUsedLow, 0x3000);
    x.w(MmioReg.QueueReady, 1);
    expect([x.r(MmioReg.QueueReady), x.t.queue(0).size]).toEqual([1, 8]);
    const epoch = x.t.queue(0).epoch;
    x.w(MmioReg.QueueReady, 1);
    expect(x.t.queue(0).epoch).toBe(epoch);
    x.w(MmioReg.QueueReady, 2); // bit 0 clear: stop
    expect([x.r(MmioReg.QueueReady), x.t.queue(0).ready]).toEqual([0, false]);
    x.w(MmioReg.QueueReady, 3);
    expect([x.r(MmioReg.QueueReady), x.t.queue(0).ready]).toEqual([1, true]);
  });

  it("negotiated EVENT_IDX and INDIRECT_DESC reach the queues", () => {
    for (const features of [bit(Feature.Version1), bit(Feature.Version1) | bit(Feature.EventIdx) | bit(Feature.IndirectDesc)]) {
      const x = make(2);
      negotiate(x, features);
      queue0(x);
      x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
      const q = x.t.queue(0);
      q.enableNotifications();
      expect(x.mem.read16(0x3000 + 4 + 8 * 4)).toBe(0); // avail_event stays 0 either way at start
      x.mem.write16(0x3000 + 4 + 8 * 4, 0x55);
      q.enableNotifications();
      const eventIdx = (features & bit(Feature.EventIdx)) !== 0n;
      expect(x.mem.read16(0x3000 + 4 + 8 * 4)).toBe(eventIdx ? 0 : 0x55);
      x.mem.write32(0x1008, 16);
      x.mem.write64(0x1000, 0x5000n);
      x.mem.write16(0x100c, VringFlag.DescIndirect);
      x.mem.write64(0x5000, 0x6000n);
      x.mem.write32(0x5008, 4);
      x.mem.write16(0x2002, 1);
      const c = q.pop();
      expect(c === undefined).toBe(!eventIdx);
      expect(x.hostile.map((h) => h[0])).toEqual(eventIdx ? [] : ["indirect-unnegotiated"]);
    }
  });

  it("reaches the device through QueueNotify (the low 16 bits) and notify(), only while active and ready", () => {
    const x = make(2);
    negotiate(x);
    queue0(x);
    x.t.notify(0);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.w(MmioReg.QueueNotify, 0x10000);
    x.t.notify(1);
    x.t.notify(2);
    x.t.notify(-1);
    expect(x.dev.log).toEqual(["features false", "activate", "notify 0"]);
    expect(x.hostile).toEqual([
      ["queue-not-ready", "QueueNotify: queue 0 is absent or not ready"],
      ["queue-not-ready", "QueueNotify: queue 1 is absent or not ready"],
      ["queue-not-ready", "QueueNotify: queue 2 is absent or not ready"],
      ["queue-not-ready", "QueueNotify: queue -1 is absent or not ready"],
    ]);
  });

  it("turns a device exception into device-error, NEEDS_RESET and one configuration interrupt", () => {
    const x = make(2);
    negotiate(x);
    queue0(x);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.dev.failNotify = new Error("disk on fire");
    x.t.notify(0);
    x.dev.failNotify = "a string";
    x.w(MmioReg.QueueNotify, 0);
    expect(x.hostile).toEqual([
      ["device-error", "internal: disk on fire"],
      ["device-error", "internal: a string"],
    ]);
    expect(x.r(MmioReg.Status)).toBe(FEAT_OK | Status.DriverOk | Status.NeedsReset);
    expect(x.irqs).toEqual([MmioInt.Config]);
    expect(x.t.hostileCounts["device-error"]).toBe(2);
  });

  it("activates the device once: a later status write with another bit does not restart it", () => {
    const x = make(2);
    negotiate(x);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk | 0x10);
    expect(x.dev.log.filter((l) => l === "activate")).toEqual(["activate"]);
  });

  it("after a reset, a ready queue reaches the device only once DRIVER_OK is set again", () => {
    const x = make(2);
    negotiate(x);
    queue0(x);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.w(MmioReg.Status, 0);
    negotiate(x);
    queue0(x);
    x.t.notify(0);
    expect(x.dev.log.filter((l) => l.startsWith("notify"))).toEqual([]);
    expect(x.hostile).toEqual([["queue-not-ready", "QueueNotify: queue 0 is absent or not ready"]]);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.t.notify(0);
    expect(x.dev.log.filter((l) => l.startsWith("notify"))).toEqual(["notify 0"]);
  });

  it("turns an exception in a register write into device-error", () => {
    const dev = new Recorder();
    dev.writeConfig = () => {
      throw new Error("read-only config");
    };
    const x = make(2, dev);
    x.t.write(0x100, 4, 1);
    expect(x.hostile).toEqual([["device-error", "internal: read-only config"]]);
  });

  it("turns an exception while reading a register into device-error and reads 0", () => {
    const dev = new Recorder();
    Object.defineProperty(dev, "deviceId", {
      get() {
        throw new Error("no id");
      },
    });
    const x = make(2, dev);
    expect(x.r(MmioReg.DeviceId)).toBe(0);
    expect(x.hostile).toEqual([["device-error", "internal: no id"]]);
  });
});

describe("MmioTransport interrupts", () => {
  it("passes the whole InterruptStatus to the interrupt callback, and the rest after an ACK", () => {
    const x = make(2);
    negotiate(x, bit(Feature.Version1));
    queue0(x);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.mem.write64(0x1000, 0x4000n);
    x.mem.write32(0x1008, 4);
    x.mem.write16(0x100c, VringFlag.DescWrite);
    x.mem.write16(0x2002, 1);
    const q = x.t.queue(0);
    const c = q.pop()!;
    q.addUsed(c, 4);
    x.dev.host!.signalUsed(0);
    x.dev.host!.configChanged();
    expect(x.irqs).toEqual([MmioInt.Vring, MmioInt.Vring | MmioInt.Config]);
    expect(x.r(MmioReg.InterruptStatus)).toBe(3);
    x.w(MmioReg.InterruptAck, MmioInt.Vring);
    expect([x.r(MmioReg.InterruptStatus), x.acks]).toEqual([2, [2]]);
    x.w(MmioReg.InterruptAck, 0xff);
    expect([x.r(MmioReg.InterruptStatus), x.acks]).toEqual([0, [2, 0]]);
    x.dev.host!.signalUsed(0); // nothing new used
    x.dev.host!.signalUsed(5); // no such queue
    expect(x.irqs.length).toBe(2);
    expect(x.dev.host!.queue(0)).toBe(q);
  });

  it("raises a configuration interrupt only with DRIVER_OK, and NEEDS_RESET only once", () => {
    const x = make(2);
    x.t.configChanged();
    expect([x.irqs, x.r(MmioReg.ConfigGeneration)]).toEqual([[], 1]);
    negotiate(x);
    queue0(x);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.mem.write16(0x2002, 9);
    expect(x.t.queue(0).pop()).toBeUndefined();
    x.dev.host!.hostile("device-error", "again");
    x.dev.host!.hostile("malformed-request", "a bad request");
    expect(x.irqs).toEqual([MmioInt.Config]);
    expect(x.hostile.map((h) => h[0])).toEqual(["avail-idx-jump", "device-error", "malformed-request"]);
    expect(x.t.hostileCounts["malformed-request"]).toBe(1);
    // an ignored check alone never sets NEEDS_RESET
    const y = make(2);
    negotiate(y);
    y.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    y.dev.host!.hostile("malformed-request", "x");
    expect([y.r(MmioReg.Status) & Status.NeedsReset, y.irqs]).toEqual([0, []]);
  });

  it("works without interruptAcked and onHostile", () => {
    const t = new MmioTransport({ memory: new GuestMemory([]), device: new Recorder(), interrupt: () => {} });
    t.write(0x0f0, 4, 1);
    expect(t.hostileCounts["register-unknown"]).toBe(1);
    t.write(MmioReg.Status, 4, ACK_DRV);
    t.write(MmioReg.DriverFeaturesSel, 4, 1);
    t.write(MmioReg.DriverFeatures, 4, 1);
    t.write(MmioReg.Status, 4, FEAT_OK | Status.DriverOk);
    t.configChanged();
    t.write(MmioReg.InterruptAck, 4, 2);
    expect(t.read(MmioReg.InterruptStatus, 4)).toBe(0);
    expect(t.hostileCounts["device-error"]).toBe(0);
  });
});

describe("MmioTransport legacy queues", () => {
  function legacy(page: number, align: number, pfn: number, num = 4) {
    const x = make(1);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.GuestPageSize, page);
    x.w(MmioReg.QueueSel, 0);
    x.w(MmioReg.QueueNum, num);
    x.w(MmioReg.QueueAlign, align);
    x.w(MmioReg.QueuePfn, pfn);
    return x;
  }
  /** Completes one chain and returns where the used element landed. */
  function usedAt(x: ReturnType<typeof make>, desc: number, avail: number): number {
    x.w(MmioReg.Status, ACK_DRV | Status.DriverOk);
    x.mem.write64(desc, 0x8000n);
    x.mem.write32(desc + 8, 4);
    x.mem.write16(desc + 12, VringFlag.DescWrite);
    x.mem.write16(avail + 2, 1);
    const q = x.t.queue(0);
    q.addUsed(q.pop()!, 4);
    // used ring: flags 0, idx 1, then the element { id 0, len 4 }
    for (let a = 0; a < 0x10000; a += 4) if (x.mem.read32(a) === 0x00010000 && x.mem.read32(a + 4) === 0 && x.mem.read32(a + 8) === 4) return a;
    return -1;
  }

  it("places desc at PFN * GuestPageSize, avail after it, used at the next QueueAlign", () => {
    const a = legacy(4096, 64, 2);
    expect([a.r(MmioReg.QueuePfn), a.t.queue(0).ready]).toEqual([2, true]);
    expect(usedAt(a, 0x2000, 0x2040)).toBe(0x2080);
    const b = legacy(8192, 4096, 1);
    expect(usedAt(b, 0x2000, 0x2040)).toBe(0x3000);
    const c = legacy(1024, 16, 4, 2);
    expect(usedAt(c, 0x1000, 0x1020)).toBe(0x1030);
    const e = legacy(1024, 16, 4, 8); // avail ring 0x1080..0x1096: used at 0x10a0
    expect(usedAt(e, 0x1000, 0x1080)).toBe(0x10a0);
  });

  it("refuses a GuestPageSize or QueueAlign that is not a power of two, and clears QueuePFN", () => {
    for (const [page, align] of [
      [0, 4096],
      [3000, 4096],
      [4096, 0],
      [4096, 96],
    ] as const) {
      const x = legacy(page, align, 2);
      expect(x.hostile).toEqual([["ring-alignment", `GuestPageSize/QueueAlign: expected powers of two, got ${page}/${align}`]]);
      expect([x.r(MmioReg.QueuePfn), x.t.queue(0).ready]).toEqual([0, false]);
    }
    const y = legacy(4096, 4096, 0x100); // outside guest memory: the queue refuses, PFN reads 0
    expect(y.hostile.map((h) => h[0])).toEqual(["ring-outside-memory"]);
    expect(y.r(MmioReg.QueuePfn)).toBe(0);
  });

  it("stops a queue with PFN 0 at any time, and takes the queue registers only with DRIVER set", () => {
    const x = legacy(4096, 4096, 2);
    x.w(MmioReg.Status, ACK_DRV | Status.DriverOk);
    x.w(MmioReg.QueueNum, 2);
    expect(x.hostile).toEqual([["register-window", "QueueNum: queue 0 is active"]]);
    x.w(MmioReg.QueuePfn, 0);
    expect([x.r(MmioReg.QueuePfn), x.t.queue(0).ready]).toEqual([0, false]);
    const y = make(1);
    y.w(MmioReg.Status, Status.Acknowledge);
    y.w(MmioReg.QueueNum, 2);
    y.w(MmioReg.QueueAlign, 64);
    y.w(MmioReg.QueuePfn, 2);
    expect(y.hostile).toEqual([
      ["register-window", "QueueNum: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x1"],
      ["register-window", "QueueAlign: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x1"],
      ["register-window", "QueuePFN: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x1"],
    ]);
    expect(y.r(MmioReg.QueuePfn)).toBe(0);
    y.w(MmioReg.Status, ACK_DRV);
    y.w(MmioReg.Status, ACK_DRV | Status.Failed);
    expect(y.r(MmioReg.Status)).toBe(ACK_DRV | Status.Failed);
    y.hostile.length = 0;
    y.w(MmioReg.QueuePfn, 2);
    expect(y.hostile).toEqual([["register-window", "QueuePFN: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x83"]]);
    expect(y.r(MmioReg.QueuePfn)).toBe(0);
  });
});

describe("MmioTransport reset", () => {
  it("clears status, interrupts, selectors, features and queue registers, keeps ConfigGeneration and GuestPageSize", () => {
    const x = make(2);
    negotiate(x, bit(Feature.Version1) | 1n);
    x.w(MmioReg.QueueSel, 0);
    x.w(MmioReg.QueueNum, 2);
    x.w(MmioReg.QueueDescLow, 0x1000);
    x.w(MmioReg.QueueDescHigh, 0x1);
    x.w(MmioReg.QueueAvailLow, 0x2000);
    x.w(MmioReg.QueueUsedLow, 0x3000);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.t.configChanged();
    x.w(MmioReg.DeviceFeaturesSel, 1);
    x.w(MmioReg.DriverFeaturesSel, 1);
    x.w(MmioReg.QueueSel, 1);
    x.w(MmioReg.Status, 0);
    expect(x.t.state()).toEqual({ status: 0, interruptStatus: 0, configGeneration: 1, driverFeatures: 0n, deviceFeatures: x.t.deviceFeatures });
    expect(x.dev.log.at(-1)).toBe("reset");
    expect(x.r(MmioReg.QueueNumMax)).toBe(8); // QueueSel back to 0
    expect(x.r(MmioReg.DeviceFeatures)).toBe(Number(x.dev.offer & 0xffffffffn)); // DeviceFeaturesSel back to 0
    negotiate(x); // DriverFeaturesSel back to 0: the low word is written last
    expect(x.t.state().driverFeatures).toBe(bit(Feature.Version1));
    x.w(MmioReg.QueueSel, 0);
    x.w(MmioReg.QueueAvailLow, 0x2000);
    x.w(MmioReg.QueueUsedLow, 0x3000);
    x.w(MmioReg.QueueReady, 1);
    // the descriptor address was cleared (0, not 0x1_0000_1000) and QueueNum is QueueNumMax again
    expect(x.hostile).toEqual([]);
    expect([x.t.queue(0).size, x.r(MmioReg.QueueReady)]).toEqual([8, 1]);
    x.w(MmioReg.Status, FEAT_OK | Status.DriverOk);
    x.t.notify(0);
    expect(x.dev.log.at(-1)).toBe("notify 0");
  });

  it("legacy: resets QueueAlign and QueuePFN, keeps GuestPageSize", () => {
    const x = make(1);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.GuestPageSize, 1024);
    x.w(MmioReg.QueueSel, 0);
    x.w(MmioReg.QueueNum, 2);
    x.w(MmioReg.QueueAlign, 16);
    x.w(MmioReg.QueuePfn, 4);
    x.w(MmioReg.Status, 0);
    expect([x.r(MmioReg.QueuePfn), x.t.queue(0).ready]).toEqual([0, false]);
    x.w(MmioReg.Status, ACK_DRV);
    x.w(MmioReg.QueuePfn, 4); // 1 KiB pages: desc at 0x1000; QueueNum 8, QueueAlign 4096 again
    x.w(MmioReg.Status, ACK_DRV | Status.DriverOk);
    const q = x.t.queue(0);
    expect(q.size).toBe(8);
    x.mem.write64(0x1000, 0x8000n);
    x.mem.write32(0x1008, 4);
    x.mem.write16(0x1000 + 128 + 2, 1);
    q.addUsed(q.pop()!, 0);
    expect(x.mem.read16(0x2002)).toBe(1); // used ring at the next 4 KiB boundary
  });
});
