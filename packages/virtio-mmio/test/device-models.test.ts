/**
 * virtio-net, virtio-console, virtio-rng and the DeviceBase plumbing, case by case: option
 * checks with the field and limit they name, offered features and config bytes, the buffer-size
 * limits (limit passes, limit + 1 fails), backends without their optional hooks, backends that
 * throw or answer late, and what happens to a request after a reset or a stopped queue.
 */
import { describe, expect, it } from "vitest";
import {
  ConsoleDevice,
  DeviceBase,
  Feature,
  MemoryByteStream,
  MemoryFrameBackend,
  MmioReg,
  NetDevice,
  NetFeature,
  RngDevice,
  Status,
  VirtioError,
  isVirtioError,
  type ByteStreamBackend,
  type DescriptorChain,
  type DeviceHost,
  type FrameBackend,
  type VirtioDevice,
} from "../src/index.ts";
import { isThenable } from "../src/devices/device-base.ts";
import { Driver, makeMemory, settle } from "./driver.ts";

const bit = (b: number): bigint => 1n << BigInt(b);
const RING = bit(Feature.EventIdx) | bit(Feature.IndirectDesc);

/** The VirtioError message thrown by `f`, or "no error". */
function rangeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isVirtioError(e)).toBe(true);
    expect(e).toBeInstanceOf(VirtioError);
    expect((e as VirtioError).code).toBe("out-of-range");
    return (e as VirtioError).message;
  }
  return "no error";
}

/** A driver whose guest memory throws on a write to `trap` while `armed` is set. */
function trapped(device: VirtioDevice, trap: number) {
  const state = { armed: false };
  const { mem } = makemem(trap, state);
  return { d: new Driver(device, { mem }), state };
}
function makemem(trap: number, state: { armed: boolean }) {
  return makeMemory({
    onAccess: (a, n, kind) => {
      if (state.armed && kind === "write" && a <= trap && trap < a + Math.max(n, 1)) throw new Error("memory on fire");
    },
  });
}

describe("isThenable", () => {
  it.each([
    ["a promise", Promise.resolve(1), true],
    ["an object with a then method", { then: () => {} }, true],
    ["an object whose then is not a function", { then: 1 }, false],
    ["an object without then", {}, false],
    ["a function with a then method", Object.assign(() => {}, { then: () => {} }), false],
    ["null", null, false],
    ["undefined", undefined, false],
    ["a number", 0, false],
  ])("%s: %s", (_name, value, expected) => {
    expect(isThenable(value)).toBe(expected);
  });
});

describe("virtio-net", () => {
  it("checks the MAC, names it and its length", () => {
    expect(rangeError(() => new NetDevice(new MemoryFrameBackend(), { mac: new Uint8Array(5) }))).toBe("mac: expected 6 bytes, got 5");
    expect(rangeError(() => new NetDevice(new MemoryFrameBackend(), { mac: new Uint8Array(7) }))).toBe("mac: expected 6 bytes, got 7");
    expect(rangeError(() => new NetDevice(new MemoryFrameBackend(), { mac: [1, 2, 3, 4, 5, 6] as unknown as Uint8Array }))).toBe("mac: expected 6 bytes, got object");
    expect(rangeError(() => new NetDevice(new MemoryFrameBackend(), { mac: new Uint8Array(6) }))).toBe("no error");
  });

  it("has id 1, the default MAC, the link state and one queue pair in its config, and the features it was built with", () => {
    const net = new NetDevice(new MemoryFrameBackend());
    expect(net.deviceId).toBe(1);
    expect(net.queueMaxSizes).toEqual([256, 256]);
    expect([...net.config]).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 1, 0, 1, 0, 0, 0]);
    expect(net.linkUp).toBe(true);
    expect(net.features()).toBe(RING | bit(NetFeature.Mac) | bit(NetFeature.Status) | bit(NetFeature.MrgRxbuf));
    const down = new NetDevice(new MemoryFrameBackend(), { linkUp: false, mergeRxBuffers: false, queueSize: 8 });
    expect([down.config[6], down.linkUp, down.queueMaxSizes]).toEqual([0, false, [8, 8]]);
    expect(down.features()).toBe(RING | bit(NetFeature.Mac) | bit(NetFeature.Status));
    expect(new NetDevice(new MemoryFrameBackend(), { linkUp: true }).linkUp).toBe(true);
  });

  it("changes the link state before activation without an interrupt", () => {
    const net = new NetDevice(new MemoryFrameBackend());
    net.setLinkUp(false);
    expect([net.linkUp, net.config[6]]).toEqual([false, 0]);
    net.setLinkUp(true);
    expect([net.linkUp, net.config[6]]).toEqual([true, 1]);
  });

  it("keeps frames with the backend while the driver has stopped the receive queue", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    d.w(MmioReg.QueueSel, 0);
    d.w(MmioReg.QueueReady, 0);
    wire.inject(new Uint8Array(60));
    expect(wire.pending.length).toBe(1);
    expect(wire.dropped).toBe(0);
  });

  it("refuses frames before activation and keeps them with the backend", () => {
    const wire = new MemoryFrameBackend();
    const net = new NetDevice(wire);
    expect(net.receive(new Uint8Array(60))).toBe(false);
    wire.inject(new Uint8Array(60));
    expect(wire.pending.length).toBe(1);
  });

  it("works with a backend that has neither attach nor rxReady, and ignores a notification for queue 2", () => {
    const sent: Uint8Array[] = [];
    const backend: FrameBackend = { transmit: (f) => void sent.push(f) };
    const net = new NetDevice(backend);
    const d = new Driver(net);
    expect(d.init()).toBe(true);
    const [rx, tx] = [d.queues[0]!, d.queues[1]!];
    rx.submit([{ addr: d.alloc.alloc(1526), len: 1526, write: true }]);
    const h = d.alloc.alloc(12 + 60);
    d.mem.fill(h, 72, 0x41);
    d.mem.fill(h, 12, 0);
    tx.add([{ addr: h, len: 72 }]);
    net.queueNotify(2);
    expect(sent).toEqual([]);
    tx.notify();
    expect(sent).toEqual([new Uint8Array(60).fill(0x41)]);
    expect(tx.reap().length).toBe(1);
    expect(d.status() & Status.NeedsReset).toBe(0);
  });

  it("transmits a header-only chain as an empty frame and refuses one byte less", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    const tx = d.queues[1]!;
    const a = d.alloc.alloc(12);
    const h1 = tx.submit([{ addr: a, len: 12 }]);
    const h2 = tx.submit([{ addr: a, len: 11 }]);
    expect(tx.reap()).toEqual([{ id: h1, len: 0 }, { id: h2, len: 0 }]);
    expect(wire.transmitted).toEqual([new Uint8Array(0)]);
    expect(d.hostile).toEqual([["malformed-request", `net tx ${h2}: 11 bytes, expected at least the 12-byte header`]]);
  });

  it("transmits frames up to 65562 bytes and refuses larger ones", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    const tx = d.queues[1]!;
    const a = d.alloc.alloc(12 + 65563);
    const h1 = tx.submit([{ addr: a, len: 12 + 65562 }]);
    const h2 = tx.submit([{ addr: a, len: 12 + 65563 }]);
    expect(tx.reap()).toEqual([{ id: h1, len: 0 }, { id: h2, len: 0 }]);
    expect(wire.transmitted.map((f) => f.length)).toEqual([65562]);
    expect(d.hostile).toEqual([["request-too-large", `net tx ${h2}: frame of 65563 bytes, expected at most 65562`]]);
  });

  it("completes a transmit chain when the backend throws, rejects, or once its promise settles", async () => {
    let mode: "throw" | "reject" | "late" = "throw";
    let release: (() => void) | undefined;
    const backend: FrameBackend = {
      transmit: () => {
        if (mode === "throw") throw new Error("wire cut");
        if (mode === "reject") return Promise.reject(new Error("wire cut"));
        return new Promise<void>((res) => (release = res));
      },
    };
    const d = new Driver(new NetDevice(backend));
    d.init();
    const tx = d.queues[1]!;
    const a = d.alloc.alloc(72);
    const h1 = tx.submit([{ addr: a, len: 72 }]);
    expect(tx.reap()).toEqual([{ id: h1, len: 0 }]);
    mode = "reject";
    const h2 = tx.submit([{ addr: a, len: 72 }]);
    await settle();
    expect(tx.reap()).toEqual([{ id: h2, len: 0 }]);
    mode = "late";
    const h3 = tx.submit([{ addr: a, len: 72 }]);
    await settle();
    expect(tx.reap()).toEqual([]);
    release!();
    await settle();
    expect(tx.reap()).toEqual([{ id: h3, len: 0 }]);
    expect(d.status() & Status.NeedsReset).toBe(0);
  });

  it("without MRG_RXBUF: a buffer of exactly header + frame takes it; a smaller one drops the frame and is counted", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init({ accept: (o) => o & ~bit(NetFeature.MrgRxbuf) });
    const rx = d.queues[0]!;
    const small = d.alloc.alloc(64);
    const next = d.alloc.alloc(112);
    const h1 = rx.submit([{ addr: small, len: 111, write: true }]);
    wire.inject(new Uint8Array(100).fill(5));
    expect(rx.reap()).toEqual([{ id: h1, len: 0 }]);
    expect(wire.pending.length).toBe(0); // dropped, not kept
    expect(d.hostile).toEqual([["malformed-request", `net rx buffer ${h1}: 111 bytes cannot hold a 112-byte frame`]]);
    const h2 = rx.submit([{ addr: next, len: 112, write: true }]);
    wire.inject(new Uint8Array(100).fill(6));
    expect(rx.reap()).toEqual([{ id: h2, len: 112 }]);
    expect(d.mem.read16(next + 10)).toBe(1);
    expect(d.mem.read8(next + 12)).toBe(6);
  });

  it("without MRG_RXBUF a frame never spans two buffers", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init({ accept: (o) => o & ~bit(NetFeature.MrgRxbuf) });
    const rx = d.queues[0]!;
    const a = d.alloc.alloc(64);
    const b = d.alloc.alloc(64);
    d.mem.fill(b, 64, 0xcc);
    rx.add([{ addr: a, len: 64, write: true }]);
    const hb = rx.add([{ addr: b, len: 64, write: true }]);
    rx.notify();
    wire.inject(new Uint8Array(100).fill(5));
    expect(rx.reap().map((u) => u.len)).toEqual([0]);
    expect(d.mem.read8(b)).toBe(0xcc);
    expect(hb).toBe(1);
  });

  it("with MRG_RXBUF: a buffer of exactly header + frame is one buffer; one more byte needs a second", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    const before = d.interrupts;
    d.init();
    const rx = d.queues[0]!;
    const a = d.alloc.alloc(112);
    const b = d.alloc.alloc(112);
    rx.add([{ addr: a, len: 112, write: true }]);
    rx.add([{ addr: b, len: 112, write: true }]);
    rx.notify();
    wire.inject(new Uint8Array(100).fill(7));
    expect(rx.reap().map((u) => u.len)).toEqual([112]);
    expect(d.mem.read16(a + 10)).toBe(1);
    expect(d.interrupts).toBe(before + 1);
    wire.inject(new Uint8Array(101).fill(8));
    expect(wire.pending.length).toBe(1); // one buffer of 112 left: not enough, the frame waits
    const c = d.alloc.alloc(8);
    rx.submit([{ addr: c, len: 8, write: true }]);
    expect(rx.reap().map((u) => u.len)).toEqual([112, 1]);
    expect(d.mem.read16(b + 10)).toBe(2);
    expect(d.mem.read8(c)).toBe(8);
  });

  it("with MRG_RXBUF: a buffer smaller than the header takes part of it", () => {
    const wire = new MemoryFrameBackend();
    const d = new Driver(new NetDevice(wire));
    d.init();
    const rx = d.queues[0]!;
    const a = d.alloc.alloc(8);
    const b = d.alloc.alloc(200);
    rx.add([{ addr: a, len: 8, write: true }]);
    rx.add([{ addr: b, len: 200, write: true }]);
    rx.notify();
    wire.inject(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(rx.reap().map((u) => u.len)).toEqual([8, 14]);
    const got = new Uint8Array(14);
    d.mem.read(b, got);
    expect([...got]).toEqual([0, 0, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("reports an exception on its receive path as device-error and keeps the frame", () => {
    const wire = new MemoryFrameBackend();
    const net = new NetDevice(wire);
    const target = 0x8000;
    const { d, state } = trapped(net, target);
    d.init();
    d.queues[0]!.submit([{ addr: target, len: 1526, write: true }]);
    state.armed = true;
    expect(net.receive(new Uint8Array(60))).toBe(false);
    state.armed = false;
    expect(d.hostile).toEqual([["device-error", "net receive: memory on fire"]]);
    expect(d.status() & Status.NeedsReset).toBe(Status.NeedsReset);
  });
});

describe("virtio-console", () => {
  it("checks cols and rows, naming the field and the range", () => {
    const tty = () => new MemoryByteStream();
    expect(rangeError(() => new ConsoleDevice(tty(), { cols: -1, rows: 1 }))).toBe("cols: expected 0..65535, got -1");
    expect(rangeError(() => new ConsoleDevice(tty(), { cols: 65536 }))).toBe("cols: expected 0..65535, got 65536");
    expect(rangeError(() => new ConsoleDevice(tty(), { rows: 1.5 }))).toBe("rows: expected 0..65535, got 1.5");
    expect(rangeError(() => new ConsoleDevice(tty(), { cols: 0, rows: 65535 }))).toBe("no error");
  });

  it("has id 3, two queues, the terminal size and one port in its config; offers SIZE only with both cols and rows", () => {
    const base = RING | bit(2); // EMERG_WRITE
    const sized = new ConsoleDevice(new MemoryByteStream(), { cols: 80, rows: 0x1234, queueSize: 16 });
    expect(sized.deviceId).toBe(3);
    expect(sized.queueMaxSizes).toEqual([16, 16]);
    expect([...sized.config]).toEqual([80, 0, 0x34, 0x12, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(sized.features()).toBe(base | bit(0)); // SIZE
    expect(new ConsoleDevice(new MemoryByteStream(), { cols: 80 }).features()).toBe(base);
    expect(new ConsoleDevice(new MemoryByteStream(), { rows: 24 }).features()).toBe(base);
    const plain = new ConsoleDevice(new MemoryByteStream());
    expect(plain.features()).toBe(base);
    expect(plain.queueMaxSizes).toEqual([64, 64]);
  });

  it("writes emergency output only for config offset 8, and survives a backend that throws or rejects there", async () => {
    const tty = new MemoryByteStream();
    const d = new Driver(new ConsoleDevice(tty));
    d.init();
    d.t.write(MmioReg.Config + 0, 4, 0x41);
    d.t.write(MmioReg.Config + 4, 4, 0x42);
    d.t.write(MmioReg.Config + 8, 4, 0x143);
    expect(tty.text()).toBe("C");
    let mode: "throw" | "reject" = "throw";
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => void rejections.push(e);
    process.on("unhandledRejection", onRejection);
    try {
      const bad: ByteStreamBackend = {
        write: () => {
          if (mode === "throw") throw new Error("tty gone");
          return Promise.reject(new Error("tty gone"));
        },
      };
      const e = new Driver(new ConsoleDevice(bad));
      e.init();
      e.t.write(MmioReg.Config + 8, 4, 0x41);
      mode = "reject";
      e.t.write(MmioReg.Config + 8, 4, 0x41);
      await settle();
      expect(e.hostile).toEqual([]);
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("works with a backend that has neither attach nor rxReady, and ignores a notification for queue 2", () => {
    const out: Uint8Array[] = [];
    const con = new ConsoleDevice({ write: (b) => void out.push(b) });
    const d = new Driver(con);
    d.init();
    const [rx, tx] = [d.queues[0]!, d.queues[1]!];
    rx.submit([{ addr: d.alloc.alloc(8), len: 8, write: true }]);
    const a = d.alloc.alloc(2);
    d.mem.write(a, new Uint8Array([0x68, 0x69]));
    tx.add([{ addr: a, len: 2 }]);
    con.queueNotify(2);
    expect(out).toEqual([]);
    tx.notify();
    expect(out).toEqual([new Uint8Array([0x68, 0x69])]);
    expect(d.status() & Status.NeedsReset).toBe(0);
  });

  it("takes no input before activation", () => {
    const tty = new MemoryByteStream();
    const con = new ConsoleDevice(tty);
    expect(con.receive(new Uint8Array([1, 2]))).toBe(0);
    tty.type("ab");
    expect(tty.pendingInput).toBe(2);
  });

  it("uses only as many receive buffers as the input needs, and interrupts once per delivery", () => {
    const tty = new MemoryByteStream();
    const d = new Driver(new ConsoleDevice(tty));
    d.init({ accept: (o) => o & ~bit(Feature.EventIdx) });
    const rx = d.queues[0]!;
    const a = d.alloc.alloc(8);
    const b = d.alloc.alloc(8);
    rx.add([{ addr: a, len: 8, write: true }]);
    rx.add([{ addr: b, len: 8, write: true }]);
    rx.notify();
    const before = d.interrupts;
    tty.type("abc");
    expect(rx.reap()).toEqual([{ id: 0, len: 3 }]);
    expect(d.interrupts).toBe(before + 1);
    tty.type("defghijklm");
    expect(rx.reap()).toEqual([{ id: 1, len: 8 }]);
    expect(tty.pendingInput).toBe(2);
    expect(d.interrupts).toBe(before + 2);
  });

  it("completes a receive buffer without writable bytes with length 0, counts it, and does not interrupt for it", () => {
    const tty = new MemoryByteStream();
    const d = new Driver(new ConsoleDevice(tty));
    d.init();
    const rx = d.queues[0]!;
    const h = rx.add([{ addr: d.alloc.alloc(8), len: 8 }]);
    rx.notify();
    const before = d.interrupts;
    tty.type("x");
    expect(rx.reap()).toEqual([{ id: h, len: 0 }]);
    expect(tty.pendingInput).toBe(1);
    expect(d.interrupts).toBe(before);
    expect(d.hostile).toEqual([["malformed-request", `console rx buffer ${h}: no device-writable bytes`]]);
  });

  it("reports an exception on its receive path as device-error", () => {
    const tty = new MemoryByteStream();
    const con = new ConsoleDevice(tty);
    const target = 0x8000;
    const { d, state } = trapped(con, target);
    d.init();
    d.queues[0]!.submit([{ addr: target, len: 16, write: true }]);
    state.armed = true;
    expect(con.receive(new Uint8Array([1, 2, 3]))).toBe(0);
    state.armed = false;
    expect(d.hostile).toEqual([["device-error", "console receive: memory on fire"]]);
  });

  it("completes output chains when the backend throws, rejects, or once its promise settles", async () => {
    let mode: "throw" | "reject" | "late" = "throw";
    let release: (() => void) | undefined;
    const bad: ByteStreamBackend = {
      write: () => {
        if (mode === "throw") throw new Error("tty gone");
        if (mode === "reject") return Promise.reject(new Error("tty gone"));
        return new Promise<void>((res) => (release = res));
      },
    };
    const d = new Driver(new ConsoleDevice(bad));
    d.init();
    const tx = d.queues[1]!;
    const a = d.alloc.alloc(4);
    const h1 = tx.submit([{ addr: a, len: 4 }]);
    expect(tx.reap()).toEqual([{ id: h1, len: 0 }]);
    mode = "reject";
    const h2 = tx.submit([{ addr: a, len: 4 }]);
    await settle();
    expect(tx.reap()).toEqual([{ id: h2, len: 0 }]);
    mode = "late";
    const h3 = tx.submit([{ addr: a, len: 4 }]);
    await settle();
    expect(tx.reap()).toEqual([]);
    release!();
    await settle();
    expect(tx.reap()).toEqual([{ id: h3, len: 0 }]);
  });
});

describe("virtio-rng", () => {
  it.each([
    [0, "maxRequest: expected 1..16777216, got 0"],
    [2 ** 24 + 1, "maxRequest: expected 1..16777216, got 16777217"],
    [1.5, "maxRequest: expected 1..16777216, got 1.5"],
  ])("rejects maxRequest %d", (maxRequest, message) => {
    expect(rangeError(() => new RngDevice({ maxRequest }))).toBe(message);
  });

  it("accepts maxRequest 1 and 2^24, has id 4, no config, one queue of 64, only the ring features", () => {
    expect(rangeError(() => new RngDevice({ maxRequest: 1 }))).toBe("no error");
    expect(rangeError(() => new RngDevice({ maxRequest: 2 ** 24 }))).toBe("no error");
    const rng = new RngDevice();
    expect([rng.deviceId, rng.config.length, rng.queueMaxSizes, rng.features()]).toEqual([4, 0, [64], RING]);
  });

  it("serves exactly maxRequest bytes without a report, and caps one more", () => {
    const d = new Driver(new RngDevice({ maxRequest: 64, source: (o) => void o.fill(0x5a) }));
    d.init();
    const q = d.queues[0]!;
    const a = d.alloc.alloc(128);
    const h1 = q.submit([{ addr: a, len: 64, write: true }]);
    const h2 = q.submit([{ addr: a, len: 65, write: true }]);
    expect(q.reap()).toEqual([{ id: h1, len: 64 }, { id: h2, len: 64 }]);
    expect(d.hostile).toEqual([["request-too-large", `rng request ${h2}: 65 bytes, served 64`]]);
  });

  it("completes a request without writable bytes with length 0 and counts it", () => {
    let calls = 0;
    const d = new Driver(new RngDevice({ source: () => void calls++ }));
    d.init();
    const q = d.queues[0]!;
    const h = q.submit([{ addr: d.alloc.alloc(8), len: 8 }]);
    expect(q.reap()).toEqual([{ id: h, len: 0 }]);
    expect(calls).toBe(0);
    expect(d.hostile).toEqual([["malformed-request", `rng request ${h}: no device-writable bytes`]]);
  });

  it("ignores a notification for another queue", () => {
    const rng = new RngDevice({ source: (o) => void o.fill(1) });
    const d = new Driver(rng);
    d.init();
    const q = d.queues[0]!;
    q.add([{ addr: d.alloc.alloc(8), len: 8, write: true }]);
    rng.queueNotify(1);
    expect(q.reap()).toEqual([]);
    rng.queueNotify(0);
    expect(q.reap().length).toBe(1);
  });

  it("interrupts once for a batch of synchronous requests, and once per late completion", async () => {
    const late: (() => void)[] = [];
    let async = false;
    const d = new Driver(
      new RngDevice({
        source: (o) => {
          o.fill(9);
          return async ? new Promise<void>((res) => late.push(res)) : undefined;
        },
      }),
    );
    d.init({ accept: (o) => o & ~bit(Feature.EventIdx) });
    const q = d.queues[0]!;
    const a = d.alloc.alloc(64);
    for (let i = 0; i < 3; i++) q.add([{ addr: a + 16 * i, len: 16, write: true }]);
    const before = d.interrupts;
    q.notify();
    expect(q.reap().length).toBe(3);
    expect(d.interrupts).toBe(before + 1);
    async = true;
    q.add([{ addr: a, len: 16, write: true }]);
    q.add([{ addr: a + 16, len: 16, write: true }]);
    q.notify();
    expect(d.interrupts).toBe(before + 1);
    late.shift()!();
    await settle();
    expect(d.interrupts).toBe(before + 2);
    late.shift()!();
    await settle();
    expect(d.interrupts).toBe(before + 3);
    expect(q.reap().length).toBe(2);
  });

  it("writes nothing for a request whose queue was reset or stopped meanwhile, and reports a failed source only while live", async () => {
    const pending: { fill: () => void; fail: () => void }[] = [];
    const rng = new RngDevice({
      source: (o) =>
        new Promise<void>((res, rej) =>
          pending.push({
            fill: () => (o.fill(0x77), res()),
            fail: () => rej(new Error("no entropy")),
          }),
        ),
    });
    const d = new Driver(rng);
    d.init();
    const q = d.queues[0]!;
    const a = d.alloc.alloc(16);
    // a live request whose source fails: reported
    q.submit([{ addr: a, len: 16, write: true }]);
    pending.shift()!.fail();
    await settle();
    expect(d.hostile).toEqual([["device-error", "rng: the entropy source failed"]]);
    // reset while in flight: neither the data nor a failure reaches the guest
    d.w(MmioReg.Status, 0);
    d.hostile.length = 0;
    d.init();
    const q2 = d.queues.at(-1)!;
    const b = d.alloc.alloc(16);
    q2.submit([{ addr: b, len: 16, write: true }]);
    q2.submit([{ addr: b, len: 16, write: true }]);
    d.w(MmioReg.Status, 0);
    d.init();
    pending.shift()!.fill();
    pending.shift()!.fail();
    await settle();
    expect(d.mem.read8(b)).toBe(0);
    expect(d.hostile).toEqual([]);
    // the queue stopped by a hostile driver while in flight: nothing written either
    const q3 = d.queues.at(-1)!;
    const c = d.alloc.alloc(16);
    q3.submit([{ addr: c, len: 16, write: true }]);
    d.mem.write16(q3.avail + 2, (q3.availIdx + 100) & 0xffff);
    q3.notify();
    expect(d.hostile.map((h) => h[0])).toEqual(["avail-idx-jump"]);
    pending.shift()!.fill();
    await settle();
    expect(d.mem.read8(c)).toBe(0);
  });

  it("reports a source that throws synchronously, and completes nothing", () => {
    const d = new Driver(
      new RngDevice({
        source: () => {
          throw new Error("no entropy");
        },
      }),
    );
    d.init();
    const q = d.queues[0]!;
    q.submit([{ addr: d.alloc.alloc(16), len: 16, write: true }]);
    expect(q.reap()).toEqual([]);
    expect(d.hostile).toEqual([["device-error", "rng: the entropy source failed"]]);
  });
});

describe("DeviceBase", () => {
  class Probe extends DeviceBase {
    readonly deviceId = 99;
    readonly queueMaxSizes = [8];
    readonly config = new Uint8Array(0);
    held: DescriptorChain[] = [];
    features(): bigint {
      return this.ringFeatures() | bit(3);
    }
    queueNotify(i: number): void {
      this.drain(i, (c) => this.held.push(c));
    }
    get hostOf(): DeviceHost | undefined {
      return this.host;
    }
    has(b: number): boolean {
      return this.negotiated(b);
    }
    isLive(c: DescriptorChain): boolean {
      return this.live(0, c);
    }
    finish(c: DescriptorChain, n: number): void {
      this.complete(0, c, n);
    }
    drainNow(): void {
      this.drain(0, (c) => this.held.push(c));
    }
  }

  it("does nothing before activation and after a reset", () => {
    const p = new Probe();
    expect(p.hostOf).toBeUndefined();
    expect(p.has(3)).toBe(false);
    p.drainNow();
    expect(p.held).toEqual([]);
    const d = new Driver(p);
    d.init();
    expect(p.hostOf).toBeDefined();
    expect([p.has(3), p.has(4), p.has(Feature.Version1)]).toEqual([true, false, true]);
    d.queues[0]!.submit([{ addr: d.alloc.alloc(8), len: 8, write: true }]);
    const c = p.held[0]!;
    expect(p.isLive(c)).toBe(true);
    d.w(MmioReg.Status, 0);
    expect(p.hostOf).toBeUndefined();
    expect(p.has(3)).toBe(false);
    expect(p.isLive(c)).toBe(false);
    p.finish(c, 8);
    p.drainNow();
    expect(d.mem.read16(d.queues[0]!.used + 2)).toBe(0);
  });

  it("a chain is live only while its queue is ready and in the same epoch", () => {
    const p = new Probe();
    const d = new Driver(p);
    d.init();
    const q = d.queues[0]!;
    q.submit([{ addr: d.alloc.alloc(8), len: 8, write: true }]);
    const c = p.held[0]!;
    // the driver stops the queue (QueueReady = 0): a new epoch
    d.w(MmioReg.QueueSel, 0);
    d.w(MmioReg.QueueReady, 0);
    expect(p.isLive(c)).toBe(false);
    // a broken queue: same epoch, not ready
    const p2 = new Probe();
    const d2 = new Driver(p2);
    d2.init();
    const q2 = d2.queues[0]!;
    q2.submit([{ addr: d2.alloc.alloc(8), len: 8, write: true }]);
    const c2 = p2.held[0]!;
    d2.mem.write16(q2.avail + 2, 100);
    q2.notify();
    expect(d2.t.queue(0).broken).toBe(true);
    expect(p2.isLive(c2)).toBe(false);
    // reset and set up again: ready, but a new epoch
    const p3 = new Probe();
    const d3 = new Driver(p3);
    d3.init();
    d3.queues[0]!.submit([{ addr: d3.alloc.alloc(8), len: 8, write: true }]);
    const c3 = p3.held[0]!;
    d3.w(MmioReg.Status, 0);
    d3.init();
    expect(d3.t.queue(0).ready).toBe(true);
    expect(p3.isLive(c3)).toBe(false);
  });

  it("completing outside a drain interrupts when the driver wants it; a stale completion does not", () => {
    const p = new Probe();
    const d = new Driver(p);
    d.init({ accept: (o) => o & ~bit(Feature.EventIdx) });
    const q = d.queues[0]!;
    const a = d.alloc.alloc(8);
    q.submit([{ addr: a, len: 8, write: true }]);
    q.submit([{ addr: a, len: 8, write: true }]);
    const [c1, c2] = p.held;
    const before = d.interrupts;
    p.finish(c1!, 3);
    expect(d.interrupts).toBe(before + 1);
    expect(q.reap()).toEqual([{ id: c1!.head, len: 3 }]);
    p.finish(c1!, 3); // already completed
    expect(d.interrupts).toBe(before + 1);
    p.finish(c2!, 4);
    expect(d.interrupts).toBe(before + 2);
  });
});
