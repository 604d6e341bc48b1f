/**
 * virtio-blk request by request, through the registers, over recording backends: which backend
 * calls a request makes (offset and length), the status byte, used.len, the hostile reports with
 * their details, for every descriptor layout the device has a separate path for.
 */
import { describe, expect, it } from "vitest";
import {
  BlkDevice,
  BlkFeature,
  BlkStatus,
  BlkType,
  Feature,
  MmioReg,
  VirtioError,
  isVirtioError,
  type BlockBackend,
  type BlockResult,
} from "../src/index.ts";
import { Driver, MIB, settle, type Buf } from "./driver.ts";

const bit = (b: number): bigint => 1n << BigInt(b);
const RING = bit(Feature.EventIdx) | bit(Feature.IndirectDesc);

function pattern(n: number, seed = 0): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 7 + seed) & 0xff;
  return a;
}

interface Recorder extends BlockBackend {
  readonly log: string[];
  readonly disk: Uint8Array;
}

/**
 * A backend that records its calls. `result(op, n)` decides what the n-th call of `op` answers
 * (default: nothing, i.e. OK, synchronously).
 */
function recorder(
  o: {
    size?: number;
    view?: boolean;
    readOnly?: boolean;
    volatileCache?: boolean;
    flush?: boolean;
    discard?: boolean;
    writeZeroes?: boolean;
    id?: string;
    result?: (op: string, n: number) => BlockResult | Promise<BlockResult> | "throw";
  } = {},
): Recorder {
  const disk = pattern(Math.min(o.size ?? 8192, 1 << 16), 3);
  const log: string[] = [];
  const counts: Record<string, number> = {};
  const answer = (op: string): BlockResult | Promise<BlockResult> => {
    const n = (counts[op] = (counts[op] ?? 0) + 1);
    const r = o.result?.(op, n);
    if (r === "throw") throw new Error(`${op} failed`);
    return r;
  };
  const b: Recorder = {
    log,
    disk,
    size: o.size ?? 8192,
    ...(o.readOnly !== undefined ? { readOnly: o.readOnly } : {}),
    ...(o.volatileCache !== undefined ? { volatileCache: o.volatileCache } : {}),
    ...(o.id !== undefined ? { id: o.id } : {}),
    read(off, out) {
      log.push(`read ${off} ${out.length}`);
      out.set(disk.subarray(off, off + out.length));
      return answer("read");
    },
    write(off, data) {
      log.push(`write ${off} ${data.length}`);
      disk.set(data, off);
      return answer("write");
    },
    ...(o.view
      ? {
          view(off: number, len: number) {
            log.push(`view ${off} ${len}`);
            if (o.result?.("view", 1) === "throw") throw new Error("view failed");
            return disk.subarray(off, off + len);
          },
        }
      : {}),
    ...(o.flush !== false
      ? {
          flush() {
            log.push("flush");
            return answer("flush");
          },
        }
      : {}),
    ...(o.discard
      ? {
          discard(off: number, len: number) {
            log.push(`discard ${off} ${len}`);
            return answer("discard");
          },
        }
      : {}),
    ...(o.writeZeroes
      ? {
          writeZeroes(off: number, len: number, unmap: boolean) {
            log.push(`write-zeroes ${off} ${len} ${unmap}`);
            return answer("write-zeroes");
          },
        }
      : {}),
  };
  return b;
}

/** A driver over a BlkDevice on `backend`, initialized (accepting `accept` of the offer). */
function drive(backend: BlockBackend, opts: { version?: 1 | 2; accept?: (o: bigint) => bigint } = {}) {
  const dev = new BlkDevice(backend, { queueSize: 16 });
  const d = new Driver(dev, { version: opts.version ?? 2 });
  expect(d.init(opts.accept ? { accept: opts.accept } : {})).toBe(true);
  return { d, dev, q: d.queues[0]! };
}

/**
 * A request header (type, sector as low and high word) preceded by 16 bytes of 0xff, so that a
 * read at the wrong offset shows.
 */
function header(d: Driver, type: number, sectorLo: number, sectorHi = 0): number {
  const a = d.alloc.alloc(48) + 16;
  d.mem.fill(a - 16, 48, 0xff);
  d.mem.write32(a, type);
  d.mem.write32(a + 4, 0);
  d.mem.write32(a + 8, sectorLo);
  d.mem.write32(a + 12, sectorHi);
  return a;
}

/** A writable status byte preset to 0xee. */
function statusByte(d: Driver): Buf {
  const a = d.alloc.alloc(1);
  d.mem.write8(a, 0xee);
  return { addr: a, len: 1, write: true };
}

function bytesAt(d: Driver, a: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  d.mem.read(a, b);
  return b;
}

describe("BlkDevice construction", () => {
  const bare = (extra: Partial<BlockBackend>): BlockBackend => ({ size: 4096, read: () => {}, write: () => {}, ...extra });
  const fails = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(isVirtioError(e)).toBe(true);
      expect((e as VirtioError).code).toBe("out-of-range");
      return (e as VirtioError).message;
    }
    return "no error";
  };

  it.each([
    [{ size: -1 }, "backend.size: expected a byte count in 0..2^53-1, got -1"],
    [{ size: 1.5 }, "backend.size: expected a byte count in 0..2^53-1, got 1.5"],
    [{ size: 2 ** 53 }, "backend.size: expected a byte count in 0..2^53-1, got 9007199254740992"],
    [{ blockSize: 256 }, "backend.blockSize: expected a power of two >= 512, got 256"],
    [{ blockSize: 511 }, "backend.blockSize: expected a power of two >= 512, got 511"],
    [{ blockSize: 768 }, "backend.blockSize: expected a power of two >= 512, got 768"],
    [{ blockSize: 1024.5 }, "backend.blockSize: expected a power of two >= 512, got 1024.5"],
    [{ id: "x".repeat(21) }, "backend.id: expected at most 20 bytes, got 21"],
    [{ id: "é".repeat(11) }, "backend.id: expected at most 20 bytes, got 22"],
  ] as [Partial<BlockBackend>, string][])("rejects %j", (extra, message) => {
    expect(fails(() => new BlkDevice(bare(extra)))).toContain(message);
  });

  it.each([
    [0, "segMax: expected 1..2^32-1, got 0"],
    [2 ** 32, "segMax: expected 1..2^32-1, got 4294967296"],
    [2.5, "segMax: expected 1..2^32-1, got 2.5"],
  ])("rejects segMax %d", (segMax, message) => {
    expect(fails(() => new BlkDevice(bare({}), { segMax }))).toContain(message);
  });

  it("accepts the limits: size 0 and 2^53 - 1, block sizes 512 and 4096, a 20-byte id, segMax 1 and 2^32 - 1", () => {
    expect(fails(() => new BlkDevice(bare({ size: 0 })))).toBe("no error");
    expect(fails(() => new BlkDevice(bare({ size: 2 ** 53 - 1 })))).toBe("no error");
    expect(fails(() => new BlkDevice(bare({ id: "é".repeat(10) })))).toBe("no error");
    const cfg = (dev: BlkDevice) => new DataView(dev.config.buffer, dev.config.byteOffset, dev.config.byteLength);
    expect(cfg(new BlkDevice(bare({ blockSize: 512 }), { segMax: 1 })).getUint32(12, true)).toBe(1);
    expect(cfg(new BlkDevice(bare({ blockSize: 4096 }), { segMax: 0xffffffff })).getUint32(12, true)).toBe(0xffffffff);
    expect(cfg(new BlkDevice(bare({ blockSize: 4096 }))).getUint32(20, true)).toBe(4096);
  });

  it("defaults seg_max to queueSize - 2, at least 1, and the queue size to 256", () => {
    const segMax = (o: { queueSize?: number }) => new DataView(new BlkDevice(bare({}), o).config.buffer).getUint32(12, true);
    expect(segMax({})).toBe(254);
    expect(segMax({ queueSize: 2 })).toBe(1);
    expect(segMax({ queueSize: 8 })).toBe(6);
    expect(new BlkDevice(bare({})).queueMaxSizes).toEqual([256]);
  });

  it("fills struct virtio_blk_config: capacity in whole sectors and the discard / write-zeroes limits", () => {
    const dev = new BlkDevice(bare({ size: 64 * 1024 + 100 }), { segMax: 9 });
    expect(dev.config.length).toBe(60);
    const v = new DataView(dev.config.buffer);
    expect(v.getBigUint64(0, true)).toBe(128n);
    expect([12, 20, 36, 40, 44, 48, 52].map((o) => v.getUint32(o, true))).toEqual([9, 512, 0x3fffff, 1, 1, 0x3fffff, 1]);
    expect(v.getUint8(56)).toBe(1);
    expect(dev.deviceId).toBe(2);
  });

  it("offers exactly the features its backend supports", () => {
    const base = RING | bit(BlkFeature.SegMax) | bit(BlkFeature.BlkSize);
    expect(new BlkDevice(bare({})).features()).toBe(base);
    expect(new BlkDevice(bare({ readOnly: false, volatileCache: false })).features()).toBe(base);
    expect(new BlkDevice(bare({ readOnly: true })).features()).toBe(base | bit(BlkFeature.Ro));
    expect(new BlkDevice(bare({ volatileCache: true })).features()).toBe(base | bit(BlkFeature.Flush));
    expect(new BlkDevice(bare({ discard: () => {} })).features()).toBe(base | bit(BlkFeature.Discard));
    expect(new BlkDevice(bare({ writeZeroes: () => {} })).features()).toBe(base | bit(BlkFeature.WriteZeroes));
  });
});

describe("virtio-blk IN", () => {
  it("reads one data buffer with one backend call at the sector's offset", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const h = header(d, BlkType.In, 3);
    const data = d.alloc.alloc(512);
    const st = statusByte(d);
    const head = q.submit([{ addr: h, len: 16 }, { addr: data, len: 512, write: true }, st]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["read 1536 512"]);
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Ok);
    expect(bytesAt(d, data, 512)).toEqual(b.disk.slice(1536, 2048));
    expect(d.hostile).toEqual([]);
  });

  it("ignores a queue notification for another queue index", () => {
    const b = recorder();
    const { d, dev, q } = drive(b);
    q.add([{ addr: header(d, BlkType.Flush, 0), len: 16 }, statusByte(d)]);
    dev.queueNotify(1);
    expect(q.reap()).toEqual([]);
    dev.queueNotify(0);
    expect(q.reap().length).toBe(1);
  });

  it("reads into several buffers, one call per buffer, and a data + status buffer", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const a = d.alloc.alloc(511);
    const c = d.alloc.alloc(2, 64);
    const head = q.submit([{ addr: header(d, BlkType.In, 2), len: 16 }, { addr: a, len: 511, write: true }, { addr: c, len: 2, write: true }]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["read 1024 511", "read 1535 1"]);
    expect(bytesAt(d, a, 511)).toEqual(b.disk.slice(1024, 1535));
    expect(d.mem.read8(c)).toBe(b.disk[1535]);
    expect(d.mem.read8(c + 1)).toBe(BlkStatus.Ok);
    b.log.length = 0;
    const one = d.alloc.alloc(513);
    const head2 = q.submit([{ addr: header(d, BlkType.In, 15), len: 16 }, { addr: one, len: 513, write: true }]);
    expect(q.reap()).toEqual([{ id: head2, len: 513 }]);
    expect(b.log).toEqual(["read 7680 512"]);
    expect(bytesAt(d, one, 512)).toEqual(b.disk.slice(7680, 8192));
    expect(d.mem.read8(one + 512)).toBe(BlkStatus.Ok);
  });

  it("reads into the writable buffer when the readable part is as long as the data", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const big = d.alloc.alloc(512);
    d.mem.fill(big, 512, 0x33);
    d.mem.write32(big, BlkType.In);
    d.mem.write32(big + 8, 2);
    d.mem.write32(big + 12, 0);
    const out = d.alloc.alloc(513);
    const head = q.submit([{ addr: big, len: 512 }, { addr: out, len: 513, write: true }]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["read 1024 512"]);
    expect(bytesAt(d, out, 512)).toEqual(b.disk.slice(1024, 1536));
    expect(d.mem.read8(out + 512)).toBe(BlkStatus.Ok);
    expect(d.mem.read8(big + 100)).toBe(0x33);
  });

  it("puts the status in the last non-empty writable buffer", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const data = d.alloc.alloc(512);
    const st = statusByte(d);
    const empty = d.alloc.alloc(16);
    d.mem.fill(empty, 16, 0xcc);
    const head = q.submit([{ addr: header(d, BlkType.In, 0), len: 16 }, { addr: data, len: 512, write: true }, st, { addr: empty, len: 0, write: true }]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Ok);
    expect([...bytesAt(d, empty - 1, 2)]).toEqual([d.mem.read8(empty - 1), 0xcc]);
  });

  it("reads a header split over two descriptors", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const h = header(d, BlkType.In, 5);
    const second = d.alloc.alloc(8, 64);
    d.mem.write(second, bytesAt(d, h + 8, 8));
    d.mem.fill(h + 8, 8, 0xff); // only the second descriptor has the sector
    const data = d.alloc.alloc(512);
    const head = q.submit([{ addr: h, len: 8 }, { addr: second, len: 8 }, { addr: data, len: 512, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["read 2560 512"]);
    // and a split header whose sector has a high word is beyond the disk
    const h2 = header(d, BlkType.In, 0, 1);
    const second2 = d.alloc.alloc(8, 64);
    d.mem.write(second2, bytesAt(d, h2 + 8, 8));
    d.mem.fill(h2 + 8, 8, 0);
    const head2 = q.submit([{ addr: h2, len: 8 }, { addr: second2, len: 8 }, { addr: data, len: 512, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head2, len: 1 }]);
    expect(d.hostile).toEqual([["malformed-request", `blk request ${head2}: 512 bytes at sector 4294967296 expected whole sectors within 16`]]);
  });

  it("serves the last sector and refuses one past it, a sector with a high word, or a partial sector", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const data = d.alloc.alloc(1024);
    const io = (lo: number, hi: number, len: number) => {
      const st = statusByte(d);
      const head = q.submit([{ addr: header(d, BlkType.In, lo, hi), len: 16 }, { addr: data, len, write: true }, st]);
      return { head, used: q.reap(), status: d.mem.read8(st.addr) };
    };
    const last = io(15, 0, 512);
    expect([last.used, last.status]).toEqual([[{ id: last.head, len: 513 }], BlkStatus.Ok]);
    const past = io(15, 0, 1024);
    expect([past.used, past.status]).toEqual([[{ id: past.head, len: 1 }], BlkStatus.IoErr]);
    const high = io(0, 1, 512);
    expect([high.used, high.status]).toEqual([[{ id: high.head, len: 1 }], BlkStatus.IoErr]);
    const partial = io(0, 0, 100);
    expect([partial.used, partial.status]).toEqual([[{ id: partial.head, len: 1 }], BlkStatus.IoErr]);
    expect(b.log).toEqual(["read 7680 512"]);
    expect(d.hostile).toEqual([
      ["malformed-request", `blk request ${past.head}: 1024 bytes at sector 15 expected whole sectors within 16`],
      ["malformed-request", `blk request ${high.head}: 512 bytes at sector 4294967296 expected whole sectors within 16`],
      ["malformed-request", `blk request ${partial.head}: 100 bytes at sector 0 expected whole sectors within 16`],
    ]);
  });

  it("bounces a buffer that crosses two memory regions", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const data = MIB - 256;
    const head = q.submit([{ addr: header(d, BlkType.In, 1), len: 16 }, { addr: data, len: 512, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(bytesAt(d, data, 512)).toEqual(b.disk.slice(512, 1024));
    expect(b.log).toEqual(["read 512 512"]);
  });

  it("bounces a crossing buffer with an asynchronous backend, and drops it after a reset", async () => {
    let release: (() => void)[] = [];
    const b = recorder({ result: () => new Promise<void>((res) => release.push(res)) });
    const { d, q } = drive(b);
    const data = MIB - 256;
    d.mem.fill(data, 512, 0x11);
    const head = q.submit([{ addr: header(d, BlkType.In, 1), len: 16 }, { addr: data, len: 512, write: true }, statusByte(d)]);
    await settle();
    expect(q.reap()).toEqual([]);
    expect(bytesAt(d, data, 4)).toEqual(new Uint8Array(4).fill(0x11));
    release.shift()!();
    await settle();
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(bytesAt(d, data, 512)).toEqual(b.disk.slice(512, 1024));
    // the same after a reset: nothing reaches guest memory
    const st = statusByte(d);
    d.mem.fill(data, 512, 0x22);
    q.submit([{ addr: header(d, BlkType.In, 2), len: 16 }, { addr: data, len: 512, write: true }, st]);
    d.w(MmioReg.Status, 0);
    release.shift()!();
    await settle();
    expect(bytesAt(d, data, 4)).toEqual(new Uint8Array(4).fill(0x22));
    expect(d.mem.read8(st.addr)).toBe(0xee);
  });

  it("reports a failed or rejected read as IOERR with used.len 1", async () => {
    for (const result of ["throw", "reject", 7] as const) {
      const b = recorder({ result: () => (result === "reject" ? Promise.reject(new Error("x")) : result) });
      const { d, q } = drive(b);
      const st = statusByte(d);
      const head = q.submit([{ addr: header(d, BlkType.In, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512, write: true }, st]);
      await settle();
      expect(q.reap()).toEqual([{ id: head, len: 1 }]);
      expect(d.mem.read8(st.addr)).toBe(result === 7 ? 7 : BlkStatus.IoErr);
    }
  });

  it("completes an asynchronous read only when every segment is done; the first failing segment's status wins", async () => {
    for (const [answers, status] of [
      [[0, 0, 0], BlkStatus.Ok],
      [[0, 5, 6], 5],
      [[0, 0, 6], 6],
    ] as const) {
      const pending: (() => void)[] = [];
      const b = recorder({ result: (_op, n) => new Promise<number>((res) => pending.push(() => res(answers[n - 1]!))) });
      const { d, q } = drive(b);
      const a = d.alloc.alloc(1536);
      const st = statusByte(d);
      const head = q.submit([
        { addr: header(d, BlkType.In, 0), len: 16 },
        { addr: a, len: 512, write: true },
        { addr: a + 512, len: 512, write: true },
        { addr: a + 1024, len: 512, write: true },
        st,
      ]);
      expect(b.log).toEqual(["read 0 512", "read 512 512", "read 1024 512"]);
      await settle();
      pending.shift()!();
      pending.shift()!();
      await settle();
      expect(q.reap()).toEqual([]);
      pending.shift()!();
      await settle();
      expect(q.reap()).toEqual([{ id: head, len: status === BlkStatus.Ok ? 1537 : 1 }]);
      expect(d.mem.read8(st.addr)).toBe(status);
    }
  });

  it("the first failing segment's status wins synchronously too", () => {
    for (const [answers, status] of [
      [[undefined, 5, 6], 5],
      [[0, 0, 6], 6],
      [[0, "throw", 0], BlkStatus.IoErr],
    ] as const) {
      const b = recorder({ result: (_op, n) => answers[n - 1] });
      const { d, q } = drive(b);
      const a = d.alloc.alloc(1536);
      const st = statusByte(d);
      const head = q.submit([
        { addr: header(d, BlkType.In, 0), len: 16 },
        { addr: a, len: 512, write: true },
        { addr: a + 512, len: 512, write: true },
        { addr: a + 1024, len: 512, write: true },
        st,
      ]);
      expect(q.reap()).toEqual([{ id: head, len: 1 }]);
      expect(d.mem.read8(st.addr)).toBe(status);
    }
  });

  it("serves a single-buffer read of a memory disk from view(), without read()", () => {
    const b = recorder({ view: true });
    const { d, q } = drive(b);
    const data = d.alloc.alloc(512);
    const head = q.submit([{ addr: header(d, BlkType.In, 3), len: 16 }, { addr: data, len: 512, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["view 1536 512"]);
    expect(bytesAt(d, data, 512)).toEqual(b.disk.slice(1536, 2048));
    // two data buffers, or data and status in one buffer: read() per segment
    b.log.length = 0;
    const c = d.alloc.alloc(513);
    const big = d.alloc.alloc(512);
    d.mem.write(big, new Uint8Array(512).fill(0x33)); // header + 496 more readable bytes
    d.mem.write32(big, BlkType.In);
    d.mem.write32(big + 8, 1);
    d.mem.write32(big + 12, 0);
    const head2 = q.submit([{ addr: big, len: 512 }, { addr: c, len: 513, write: true }]);
    expect(q.reap()).toEqual([{ id: head2, len: 513 }]);
    expect(b.log).toEqual(["read 512 512"]);
    expect(bytesAt(d, c, 512)).toEqual(b.disk.slice(512, 1024));
    expect(d.mem.read8(big + 100)).toBe(0x33);
  });

  it("with view(), still reads two data buffers one by one", () => {
    const b = recorder({ view: true });
    const { d, q } = drive(b);
    const a = d.alloc.alloc(511);
    const c = d.alloc.alloc(2, 64);
    d.mem.fill(a + 511, 1, 0xcc);
    const head = q.submit([{ addr: header(d, BlkType.In, 2), len: 16 }, { addr: a, len: 511, write: true }, { addr: c, len: 2, write: true }]);
    expect(q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(b.log).toEqual(["read 1024 511", "read 1535 1"]);
    expect(d.mem.read8(c)).toBe(b.disk[1535]);
    expect(d.mem.read8(a + 511)).toBe(0xcc);
  });

  it("reports a view() failure as IOERR with used.len 1", () => {
    const b = recorder({ view: true, result: (op) => (op === "view" ? "throw" : undefined) });
    const { d, q } = drive(b);
    const st = statusByte(d);
    const head = q.submit([{ addr: header(d, BlkType.In, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512, write: true }, st]);
    expect(q.reap()).toEqual([{ id: head, len: 1 }]);
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.IoErr);
  });
});

describe("virtio-blk IN from a memory disk through the chain's region", () => {
  // From the second request on, the queue knows the region a chain's buffers lie in
  // (DescriptorChain.region) and a single-buffer read of a memory disk is copied through it: the
  // same outcome as the general path of the first request, checked alike.
  function rig(view: (disk: Uint8Array, off: number, len: number) => Uint8Array) {
    const disk = pattern(8192, 5);
    const log: string[] = [];
    const b: BlockBackend = {
      size: 8192,
      read(off, out) {
        log.push(`read ${off} ${out.length}`);
        out.set(disk.subarray(off, off + out.length));
      },
      write() {},
      view(off, len) {
        log.push(`view ${off} ${len}`);
        return view(disk, off, len);
      },
    };
    return { disk, log, ...drive(b) };
  }
  const read = (r: ReturnType<typeof rig>, sector: number) => {
    const data = r.d.alloc.alloc(512 + 16);
    r.d.mem.fill(data, 512 + 16, 0xcc);
    const st = statusByte(r.d);
    const head = r.q.submit([{ addr: header(r.d, BlkType.In, sector), len: 16 }, { addr: data, len: 512, write: true }, st]);
    return { used: r.q.reap(), head, status: r.d.mem.read8(st.addr), data: bytesAt(r.d, data, 512), after: bytesAt(r.d, data + 512, 16) };
  };

  it("copies the sector, writes the status and used.len, on both paths", () => {
    const r = rig((disk, off, len) => disk.subarray(off, off + len));
    for (const sector of [3, 5, 15]) {
      const got = read(r, sector);
      expect(got.used).toEqual([{ id: got.head, len: 513 }]);
      expect(got.status).toBe(BlkStatus.Ok);
      expect(got.data).toEqual(r.disk.slice(sector * 512, sector * 512 + 512));
      expect(got.after).toEqual(new Uint8Array(16).fill(0xcc));
    }
    expect(r.log).toEqual(["view 1536 512", "view 2560 512", "view 7680 512"]);
    expect(r.d.hostile).toEqual([]);
  });

  it("serves the same in the second memory region (its own offsets), and takes shapes it does not serve the general way", () => {
    const r = rig((disk, off, len) => disk.subarray(off, off + len));
    // Buffers in the region at 1 MiB, which the queue learns from the first request.
    let at = MIB + 0x1000;
    const buf = (len: number, fill = 0xcc): number => {
      const a = at;
      at += ((len + 0xff) & ~0xff) + 0x100; // a gap after each buffer, which must stay as filled
      r.d.mem.fill(a, len + 16, fill);
      return a;
    };
    const hdr = (sector: number): number => {
      const a = buf(16);
      r.d.mem.write32(a, BlkType.In);
      r.d.mem.write32(a + 4, 0);
      r.d.mem.write32(a + 8, sector);
      r.d.mem.write32(a + 12, 0);
      return a;
    };
    for (const sector of [1, 6]) {
      const data = buf(512);
      const st = buf(1, 0xee);
      const head = r.q.submit([{ addr: hdr(sector), len: 16 }, { addr: data, len: 512, write: true }, { addr: st, len: 1, write: true }]);
      expect(r.q.reap()).toEqual([{ id: head, len: 513 }]);
      expect(bytesAt(r.d, data, 512)).toEqual(r.disk.slice(sector * 512, sector * 512 + 512));
      expect(r.d.mem.read8(data + 512)).toBe(0xcc);
      expect(r.d.mem.read8(st)).toBe(BlkStatus.Ok);
    }
    // The data ends in the status byte's buffer (511 + 1 bytes): two data parts, not one copy.
    const a = buf(511);
    const tail = buf(2, 0xee);
    const head = r.q.submit([{ addr: hdr(2), len: 16 }, { addr: a, len: 511, write: true }, { addr: tail, len: 2, write: true }]);
    expect(r.q.reap()).toEqual([{ id: head, len: 513 }]);
    expect(bytesAt(r.d, a, 511)).toEqual(r.disk.slice(1024, 1535));
    expect(r.d.mem.read8(a + 511)).toBe(0xcc);
    expect([r.d.mem.read8(tail), r.d.mem.read8(tail + 1)]).toEqual([r.disk[1535], BlkStatus.Ok]);
    // Not whole sectors: refused as the general path refuses it, with its report.
    const odd = buf(500);
    const st = buf(1, 0xee);
    const head2 = r.q.submit([{ addr: hdr(3), len: 16 }, { addr: odd, len: 500, write: true }, { addr: st, len: 1, write: true }]);
    expect(r.q.reap()).toEqual([{ id: head2, len: 1 }]);
    expect(r.d.mem.read8(st)).toBe(BlkStatus.IoErr);
    expect(r.d.mem.read8(odd)).toBe(0xcc);
    expect(r.d.hostile).toEqual([["malformed-request", `blk request ${head2}: 500 bytes at sector 3 expected whole sectors within 16`]]);
  });

  it("refuses a sector past the end with one report, and never calls view()", () => {
    const r = rig((disk, off, len) => disk.subarray(off, off + len));
    read(r, 1); // the queue now knows the region
    const got = read(r, 16);
    expect(got.used).toEqual([{ id: got.head, len: 1 }]);
    expect(got.status).toBe(BlkStatus.IoErr);
    expect(r.d.hostile).toEqual([["malformed-request", `blk request ${got.head}: 512 bytes at sector 16 expected whole sectors within 16`]]);
    expect(r.log).toEqual(["view 512 512"]);
  });

  it("a view() of another length than asked is IOERR on both paths, and nothing is written past the buffer", () => {
    const r = rig((disk, off, len) => disk.subarray(off, off + len + 16));
    for (let i = 0; i < 2; i++) {
      const got = read(r, 2);
      expect(got.used).toEqual([{ id: got.head, len: 1 }]);
      expect(got.status).toBe(BlkStatus.IoErr);
      expect(got.data).toEqual(new Uint8Array(512).fill(0xcc));
      expect(got.after).toEqual(new Uint8Array(16).fill(0xcc));
    }
  });
});

describe("virtio-blk OUT and FLUSH", () => {
  it("writes the data after a header that shares its buffer, then further buffers", () => {
    const b = recorder({ volatileCache: true });
    const { d, q } = drive(b);
    const first = d.alloc.alloc(16 + 256);
    d.mem.write32(first, BlkType.Out);
    d.mem.write32(first + 8, 2);
    d.mem.write32(first + 12, 0);
    d.mem.write(first + 16, pattern(256, 50));
    const second = d.alloc.alloc(256 + 64) + 64;
    d.mem.write(second, pattern(256, 51));
    const st = statusByte(d);
    const head = q.submit([{ addr: first, len: 272 }, { addr: second, len: 256 }, st]);
    expect(q.reap()).toEqual([{ id: head, len: 1 }]);
    expect(b.log).toEqual(["write 1024 256", "write 1280 256"]);
    expect(b.disk.slice(1024, 1280)).toEqual(pattern(256, 50));
    expect(b.disk.slice(1280, 1536)).toEqual(pattern(256, 51));
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Ok);
  });

  it("bounces a readable buffer that crosses two memory regions", () => {
    const b = recorder({ volatileCache: true });
    const { d, q } = drive(b);
    d.mem.write(MIB - 100, pattern(512, 9));
    const head = q.submit([{ addr: header(d, BlkType.Out, 4), len: 16 }, { addr: MIB - 100, len: 512 }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head, len: 1 }]);
    expect(b.log).toEqual(["write 2048 512"]);
    expect(b.disk.slice(2048, 2560)).toEqual(pattern(512, 9));
  });

  it("refuses writes to a read-only disk, and past its end, without calling the backend", () => {
    const ro = recorder({ readOnly: true, volatileCache: true });
    const a = drive(ro);
    const st = statusByte(a.d);
    const head = a.q.submit([{ addr: header(a.d, BlkType.Out, 0), len: 16 }, { addr: a.d.alloc.alloc(512), len: 512 }, st]);
    expect(a.q.reap()).toEqual([{ id: head, len: 1 }]);
    expect(a.d.mem.read8(st.addr)).toBe(BlkStatus.IoErr);
    expect(a.d.hostile).toEqual([]);
    const rw = recorder({ volatileCache: true });
    const c = drive(rw);
    const st2 = statusByte(c.d);
    const head2 = c.q.submit([{ addr: header(c.d, BlkType.Out, 16), len: 16 }, { addr: c.d.alloc.alloc(512), len: 512 }, st2]);
    expect(c.q.reap()).toEqual([{ id: head2, len: 1 }]);
    expect(c.d.mem.read8(st2.addr)).toBe(BlkStatus.IoErr);
    expect(c.d.hostile).toEqual([["malformed-request", `blk request ${head2}: 512 bytes at sector 16 expected whole sectors within 16`]]);
    expect([...ro.log, ...rw.log]).toEqual([]);
  });

  it("maps a throwing or failing write to its status, and flushes a write-through write only when it succeeded", async () => {
    for (const [answer, status, log] of [
      ["throw", BlkStatus.IoErr, ["write 0 512"]],
      [7, 7, ["write 0 512"]],
      ["resolve 7", 7, ["write 0 512"]],
      ["reject", BlkStatus.IoErr, ["write 0 512"]],
      ["resolve 0", BlkStatus.Ok, ["write 0 512", "flush"]],
      [undefined, BlkStatus.Ok, ["write 0 512", "flush"]],
    ] as const) {
      const result = (): BlockResult | Promise<BlockResult> | "throw" =>
        answer === "reject" ? Promise.reject(new Error("x")) : answer === "resolve 7" ? Promise.resolve(7) : answer === "resolve 0" ? Promise.resolve(0) : answer;
      const b = recorder({ volatileCache: false, result: (op) => (op === "write" ? result() : undefined) });
      const { d, q } = drive(b);
      const st = statusByte(d);
      const head = q.submit([{ addr: header(d, BlkType.Out, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512 }, st]);
      await settle();
      expect(q.reap()).toEqual([{ id: head, len: 1 }]);
      expect(d.mem.read8(st.addr)).toBe(status);
      expect(b.log).toEqual(log);
    }
  });

  it("writes through when the driver declined FLUSH, and not when it accepted it", () => {
    for (const accept of [true, false]) {
      const b = recorder({ volatileCache: true });
      const { d, q } = drive(b, { accept: (o) => (accept ? o : o & ~bit(BlkFeature.Flush)) });
      q.submit([{ addr: header(d, BlkType.Out, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512 }, statusByte(d)]);
      expect(q.reap().length).toBe(1);
      expect(b.log).toEqual(accept ? ["write 0 512"] : ["write 0 512", "flush"]);
    }
  });

  it("FLUSH calls the backend's flush and reports its status; without one it is OK at once", () => {
    for (const [answer, status] of [
      [undefined, BlkStatus.Ok],
      [6, 6],
      ["throw", BlkStatus.IoErr],
    ] as const) {
      const b = recorder({ volatileCache: true, result: () => answer });
      const { d, q } = drive(b);
      const st = statusByte(d);
      const head = q.submit([{ addr: header(d, BlkType.Flush, 0), len: 16 }, st]);
      expect(q.reap()).toEqual([{ id: head, len: 1 }]);
      expect(d.mem.read8(st.addr)).toBe(status);
      expect(b.log).toEqual(["flush"]);
    }
    const none = recorder({ flush: false });
    const { d, q } = drive(none);
    const st = statusByte(d);
    q.submit([{ addr: header(d, BlkType.Flush, 0), len: 16 }, st]);
    expect(q.reap().length).toBe(1);
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Ok);
    q.submit([{ addr: header(d, BlkType.Out, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512 }, statusByte(d)]);
    expect(q.reap().length).toBe(1);
    expect(none.log).toEqual(["write 0 512"]);
  });
});

describe("virtio-blk GET_ID and malformed requests", () => {
  it("writes at most 20 id bytes, and no more than the buffer holds", () => {
    const b = recorder({ id: "serial-0123456789abc" });
    const { d, q } = drive(b);
    const small = d.alloc.alloc(8);
    const st = statusByte(d);
    const head = q.submit([{ addr: header(d, BlkType.GetId, 0), len: 16 }, { addr: small, len: 8, write: true }, st]);
    expect(q.reap()).toEqual([{ id: head, len: 9 }]);
    expect(new TextDecoder().decode(bytesAt(d, small, 8))).toBe("serial-0");
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Ok);
    const big = d.alloc.alloc(40);
    d.mem.fill(big, 40, 0x77);
    const head2 = q.submit([{ addr: header(d, BlkType.GetId, 0), len: 16 }, { addr: big, len: 40, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head2, len: 21 }]);
    expect(new TextDecoder().decode(bytesAt(d, big, 20))).toBe("serial-0123456789abc");
    expect(d.mem.read8(big + 20)).toBe(0x77);
  });

  it("reads the type of a header split over two descriptors", () => {
    const b = recorder({ id: "split" });
    const { d, q } = drive(b);
    const h = header(d, BlkType.GetId, 0);
    const second = d.alloc.alloc(8, 64);
    d.mem.write(second, bytesAt(d, h + 8, 8));
    const buf = d.alloc.alloc(20);
    const head = q.submit([{ addr: h, len: 8 }, { addr: second, len: 8 }, { addr: buf, len: 20, write: true }, statusByte(d)]);
    expect(q.reap()).toEqual([{ id: head, len: 21 }]);
    expect(new TextDecoder().decode(bytesAt(d, buf, 5))).toBe("split");
  });

  it("answers an empty id when the backend has none", () => {
    const { d, q } = drive(recorder());
    const buf = d.alloc.alloc(20);
    d.mem.fill(buf, 20, 0x77);
    q.submit([{ addr: header(d, BlkType.GetId, 0), len: 16 }, { addr: buf, len: 20, write: true }, statusByte(d)]);
    expect(q.reap()[0]!.len).toBe(21);
    expect(bytesAt(d, buf, 20)).toEqual(new Uint8Array(20));
  });

  it("completes a chain without a whole header or without a status byte with length 0, touching nothing", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const short = header(d, BlkType.In, 0);
    const st = statusByte(d);
    const h1 = q.submit([{ addr: short, len: 15 }, st]);
    expect(q.reap()).toEqual([{ id: h1, len: 0 }]);
    expect(d.mem.read8(st.addr)).toBe(0xee);
    const h = header(d, BlkType.In, 0);
    const before = bytesAt(d, h, 16);
    const h2 = q.submit([{ addr: h, len: 16 }]);
    expect(q.reap()).toEqual([{ id: h2, len: 0 }]);
    expect(bytesAt(d, h, 16)).toEqual(before);
    expect(b.log).toEqual([]);
    expect(d.hostile).toEqual([
      ["malformed-request", `blk request ${h1}: expected a 16-byte header and a status byte`],
      ["malformed-request", `blk request ${h2}: expected a 16-byte header and a status byte`],
    ]);
  });

  it("answers UNSUPP to an unknown type", () => {
    const b = recorder();
    const { d, q } = drive(b);
    const st = statusByte(d);
    q.submit([{ addr: header(d, 99, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512, write: true }, st]);
    expect(q.reap()[0]!.len).toBe(1);
    expect(d.mem.read8(st.addr)).toBe(BlkStatus.Unsupp);
    expect(b.log).toEqual([]);
  });
});

describe("virtio-blk DISCARD and WRITE_ZEROES", () => {
  const FOUR_GIB = 2 ** 32; // 2^23 sectors, so that the 0x3fffff-sector limit is below the capacity
  const segment = (d: Driver, lo: number, hi: number, count: number, flags: number): number => {
    const a = d.alloc.alloc(16);
    d.mem.write32(a, lo);
    d.mem.write32(a + 4, hi);
    d.mem.write32(a + 8, count);
    d.mem.write32(a + 12, flags);
    return a;
  };
  const run = (d: Driver, type: number, segs: number[], segLen = 16) => {
    const q = d.queues[0]!;
    const st = statusByte(d);
    const bufs: Buf[] = [{ addr: header(d, type, 0), len: 16 }, ...segs.map((a) => ({ addr: a, len: segLen })), st];
    const head = q.submit(bufs);
    return { head, used: q.reap(), status: d.mem.read8(st.addr) };
  };

  it("passes each segment to the backend: offset, length, and unmap for WRITE_ZEROES", () => {
    const b = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true });
    const { d } = drive(b);
    expect(run(d, BlkType.Discard, [segment(d, 8, 0, 2, 0)]).status).toBe(BlkStatus.Ok);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 8, 0, 2, 1)]).status).toBe(BlkStatus.Ok);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 9, 0, 1, 0)]).status).toBe(BlkStatus.Ok);
    const max = run(d, BlkType.Discard, [segment(d, 0, 0, 0x3fffff, 0)]);
    expect([max.status, max.used[0]!.len]).toEqual([BlkStatus.Ok, 1]);
    expect(b.log).toEqual(["discard 4096 1024", "write-zeroes 4096 1024 true", "write-zeroes 4608 512 false", `discard 0 ${0x3fffff * 512}`]);
    expect(d.hostile).toEqual([]);
  });

  it("reports the backend's status", () => {
    const b = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true, result: (op) => (op === "discard" ? 9 : "throw") });
    const { d } = drive(b);
    expect(run(d, BlkType.Discard, [segment(d, 8, 0, 2, 0)]).status).toBe(9);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 8, 0, 2, 0)]).status).toBe(BlkStatus.IoErr);
  });

  it("refuses flags it does not know, too many sectors, sectors past the end, and sectors with a high word", () => {
    const b = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true });
    const { d } = drive(b);
    expect(run(d, BlkType.Discard, [segment(d, 8, 0, 2, 1)]).status).toBe(BlkStatus.Unsupp);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 8, 0, 2, 2)]).status).toBe(BlkStatus.Unsupp);
    expect(run(d, BlkType.Discard, [segment(d, 0, 0, 0x400000, 0)]).status).toBe(BlkStatus.IoErr);
    const past = run(d, BlkType.Discard, [segment(d, 2 ** 23 - 1, 0, 2, 0)]);
    expect(past.status).toBe(BlkStatus.IoErr);
    const high = run(d, BlkType.WriteZeroes, [segment(d, 0, 1, 1, 0)]);
    expect(high.status).toBe(BlkStatus.IoErr);
    expect(b.log).toEqual([]);
    expect(d.hostile).toEqual([
      ["malformed-request", `blk request ${past.head}: 1024 bytes at sector 8388607 expected whole sectors within 8388608`],
      ["malformed-request", `blk request ${high.head}: 512 bytes at sector 4294967296 expected whole sectors within 8388608`],
    ]);
  });

  it("takes exactly one 16-byte segment", () => {
    const b = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true });
    const { d } = drive(b);
    const none = run(d, BlkType.Discard, []);
    const two = run(d, BlkType.WriteZeroes, [segment(d, 0, 0, 1, 0), segment(d, 1, 0, 1, 0)]);
    const half = run(d, BlkType.Discard, [segment(d, 0, 0, 1, 0)], 8);
    expect([none.status, two.status, half.status]).toEqual([BlkStatus.IoErr, BlkStatus.IoErr, BlkStatus.IoErr]);
    expect(b.log).toEqual([]);
    expect(d.hostile).toEqual([
      ["malformed-request", `blk discard ${none.head}: expected 1..1 16-byte segments, got 0 bytes`],
      ["malformed-request", `blk write-zeroes ${two.head}: expected 1..1 16-byte segments, got 32 bytes`],
      ["malformed-request", `blk discard ${half.head}: expected 1..1 16-byte segments, got 8 bytes`],
    ]);
  });

  it("is UNSUPP when the driver declined the feature, IOERR on a read-only disk", () => {
    const b = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true });
    const { d } = drive(b, { accept: (o) => o & ~bit(BlkFeature.Discard) });
    expect(run(d, BlkType.Discard, [segment(d, 0, 0, 1, 0)]).status).toBe(BlkStatus.Unsupp);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 0, 0, 1, 0)]).status).toBe(BlkStatus.Ok);
    const ro = recorder({ size: FOUR_GIB, discard: true, writeZeroes: true, readOnly: true });
    const r = drive(ro);
    expect(run(r.d, BlkType.Discard, [segment(r.d, 0, 0, 1, 0)]).status).toBe(BlkStatus.IoErr);
    expect(run(r.d, BlkType.WriteZeroes, [segment(r.d, 0, 0, 1, 0)]).status).toBe(BlkStatus.IoErr);
    expect(b.log).toEqual(["write-zeroes 0 512 false"]);
    expect(ro.log).toEqual([]);
  });

  it("is UNSUPP when the backend cannot discard", () => {
    const b = recorder({ size: FOUR_GIB, discard: true });
    const { d } = drive(b);
    expect(run(d, BlkType.WriteZeroes, [segment(d, 0, 0, 1, 0)]).status).toBe(BlkStatus.Unsupp);
    expect(b.log).toEqual([]);
  });
});

describe("virtio-blk after a reset", () => {
  it("drops a late completion even once the driver has set the device up again", async () => {
    let late: (() => void) | undefined;
    const b = recorder({ result: () => new Promise<void>((res) => (late = res)) });
    const { d, q } = drive(b);
    const st = statusByte(d);
    q.submit([{ addr: header(d, BlkType.In, 0), len: 16 }, { addr: d.alloc.alloc(512), len: 512, write: true }, st]);
    d.w(MmioReg.Status, 0);
    expect(d.init()).toBe(true);
    late!();
    await settle();
    expect(d.mem.read8(st.addr)).toBe(0xee);
  });
});
