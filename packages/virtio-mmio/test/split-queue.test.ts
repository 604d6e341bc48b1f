/**
 * SplitQueue and DescriptorChain on their own, without a transport: every structural check with
 * the check it reports and the detail naming the field and the limit, the limits themselves
 * (limit passes, limit + 1 fails), and the ring bookkeeping (used elements, suppression, epochs).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GuestMemory, SplitQueue, VirtioError, VringFlag, isVirtioError, type DescriptorChain } from "../src/index.ts";

// Region A [0, 64K) and B [64K, 80K) are adjacent; C [128K, 132K) is alone.
const A_END = 0x10000;
const C_START = 0x20000;
const C_END = 0x21000;
const DESC = 0x1000;
const AVAIL = 0x2000;
const USED = 0x3000;
const N = VringFlag.DescNext;
const W = VringFlag.DescWrite;
const I = VringFlag.DescIndirect;

function memory(): GuestMemory {
  return new GuestMemory([
    { guestAddress: 0n, bytes: new Uint8Array(A_END) },
    { guestAddress: BigInt(A_END), bytes: new Uint8Array(0x4000) },
    { guestAddress: BigInt(C_START), bytes: new Uint8Array(C_END - C_START) },
  ]);
}

interface Rig {
  mem: GuestMemory;
  q: SplitQueue;
  violations: [string, string][];
  /** Writes descriptor `i` of the table at `table` (default: the queue's). */
  desc(i: number, addr: number, len: number, flags?: number, next?: number, table?: number): void;
  /** Makes `head` available (avail.ring[idx % size] = head, idx + 1). */
  post(head: number): void;
  availIdx: number;
}

function rig(o: { size?: number; maxSize?: number; eventIdx?: boolean; indirect?: boolean } = {}): Rig {
  const mem = memory();
  const violations: [string, string][] = [];
  const size = o.size ?? 8;
  const q = new SplitQueue({ memory: mem, maxSize: o.maxSize ?? 8, onViolation: (c, d) => violations.push([c, d]) });
  expect(q.activate({ size, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: o.eventIdx ?? false, indirect: o.indirect ?? false })).toBe(true);
  const r: Rig = {
    mem,
    q,
    violations,
    availIdx: 0,
    desc(i, addr, len, flags = 0, next = 0, table = DESC) {
      const a = table + 16 * i;
      mem.write32(a, addr % 2 ** 32);
      mem.write32(a + 4, Math.floor(addr / 2 ** 32));
      mem.write32(a + 8, len);
      mem.write16(a + 12, flags);
      mem.write16(a + 14, next);
    },
    post(head) {
      mem.write16(AVAIL + 4 + 2 * (r.availIdx % size), head);
      r.availIdx = (r.availIdx + 1) & 0xffff;
      mem.write16(AVAIL + 2, r.availIdx);
    },
  };
  return r;
}

/** The buffers of a chain as [address, length] pairs. */
const bufs = (c: DescriptorChain): [number, number][] => Array.from({ length: c.count }, (_, i) => [c.addresses[i]!, c.lengths[i]!]);

describe("SplitQueue construction", () => {
  it.each([1, 2, 256, 32768])("accepts maxSize %d", (m) => {
    expect(new SplitQueue({ memory: memory(), maxSize: m, onViolation: () => {} }).maxSize).toBe(m);
  });

  it.each([0, 3, 6, 1.5, 65536, -2, Number.NaN])("rejects maxSize %d with out-of-range naming maxSize", (m) => {
    let err: unknown;
    try {
      new SplitQueue({ memory: memory(), maxSize: m, onViolation: () => {} });
    } catch (e) {
      err = e;
    }
    expect(isVirtioError(err)).toBe(true);
    expect(err).toBeInstanceOf(VirtioError);
    expect((err as VirtioError).code).toBe("out-of-range");
    expect((err as VirtioError).message).toContain(`maxSize: expected a power of two in 1..32768, got ${String(m)}`);
  });

  it("starts inactive", () => {
    const q = new SplitQueue({ memory: memory(), maxSize: 8, onViolation: () => {} });
    expect([q.ready, q.broken, q.size, q.pendingCount, q.epoch]).toEqual([false, false, 0, 0, 0]);
    expect(q.pop()).toBeUndefined();
    expect(q.hasAvailable()).toBe(false);
    expect(q.needsNotification()).toBe(false);
    expect(q.enableNotifications()).toBe(false);
    q.disableNotifications();
  });
});

describe("SplitQueue.activate", () => {
  const activate = (layout: { size?: number; desc?: number; avail?: number; used?: number }, maxSize = 8) => {
    const mem = memory();
    const violations: [string, string][] = [];
    const q = new SplitQueue({ memory: mem, maxSize, onViolation: (c, d) => violations.push([c, d]) });
    const ok = q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED, ...layout }, { eventIdx: false, indirect: false });
    return { ok, q, violations };
  };

  it("activates a valid layout: size 1 and size maxSize", () => {
    for (const size of [1, 2, 8]) {
      const { ok, q, violations } = activate({ size });
      expect(ok).toBe(true);
      expect([q.ready, q.size, q.broken, q.epoch]).toEqual([true, size, false, 1]);
      expect(violations).toEqual([]);
    }
  });

  it.each([
    [0, "QueueNum: expected a power of two in 1..8, got 0"],
    [3, "QueueNum: expected a power of two in 1..8, got 3"],
    [16, "QueueNum: expected a power of two in 1..8, got 16"],
    [1.5, "QueueNum: expected a power of two in 1..8, got 1.5"],
    [-1, "QueueNum: expected a power of two in 1..8, got -1"],
  ])("rejects size %d as queue-size", (size, detail) => {
    const { ok, q, violations } = activate({ size });
    expect(ok).toBe(false);
    expect(violations).toEqual([["queue-size", detail]]);
    expect([q.ready, q.size, q.broken]).toEqual([false, 0, true]);
  });

  it("checks each ring part's alignment (16 / 2 / 4)", () => {
    expect(activate({ desc: DESC + 8 }).violations).toEqual([["ring-alignment", "QueueDesc: expected 16-byte alignment, got 0x1008"]]);
    expect(activate({ avail: AVAIL + 1 }).violations).toEqual([["ring-alignment", "QueueDriver: expected 2-byte alignment, got 0x2001"]]);
    expect(activate({ used: USED + 2 }).violations).toEqual([["ring-alignment", "QueueDevice: expected 4-byte alignment, got 0x3002"]]);
    expect(activate({ desc: DESC + 16, avail: AVAIL + 2, used: USED + 4 }).ok).toBe(true);
  });

  // Each part's length at the end of region C: 16n, 6 + 2n, 6 + 8n bytes (n = 8).
  it.each([
    ["QueueDesc", "desc", C_END - 128, true],
    ["QueueDesc", "desc", C_END - 112, false],
    ["QueueDriver", "avail", C_END - 22, true],
    ["QueueDriver", "avail", C_END - 20, false],
    ["QueueDevice", "used", C_END - 72, true],
    ["QueueDevice", "used", C_END - 68, false],
  ] as const)("%s (%s) ending at the end of memory: at 0x%s ok = %s", (name, key, addr, fits) => {
    const { ok, violations } = activate({ [key]: addr });
    expect(ok).toBe(fits);
    const len = key === "desc" ? 128 : key === "avail" ? 22 : 70;
    expect(violations).toEqual(fits ? [] : [["ring-outside-memory", `${name}: ${len} bytes at 0x${addr.toString(16)} are outside guest memory`]]);
  });

  it("rejects ring parts beyond 2^53, and those crossing two adjacent regions", () => {
    expect(activate({ desc: Number.POSITIVE_INFINITY }).violations).toEqual([["ring-outside-memory", "QueueDesc: 128 bytes at beyond 2^53 are outside guest memory"]]);
    expect(activate({ used: 2 ** 60 }).violations).toEqual([["ring-outside-memory", "QueueDevice: 70 bytes at 0x1000000000000000 are outside guest memory"]]);
    expect(activate({ avail: A_END - 8 }).violations).toEqual([["ring-outside-memory", "QueueDriver: 22 bytes at 0xfff8 cross a memory-region boundary"]]);
    expect(activate({ desc: A_END - 64 }).violations).toEqual([["ring-outside-memory", "QueueDesc: 128 bytes at 0xffc0 cross a memory-region boundary"]]);
  });

  it("a failed activation leaves the queue inactive and broken until the next one; deactivate clears both", () => {
    const mem = memory();
    const q = new SplitQueue({ memory: mem, maxSize: 8, onViolation: () => {} });
    expect(q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    expect(q.activate({ size: 3, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(false);
    expect([q.ready, q.broken, q.size]).toEqual([false, true, 0]);
    q.deactivate();
    expect([q.ready, q.broken, q.size]).toEqual([false, false, 0]);
    expect(q.activate({ size: 4, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    expect([q.ready, q.broken, q.size, q.epoch]).toEqual([true, false, 4, 4]);
  });
});

describe("SplitQueue.pop: direct chains", () => {
  it("walks a chain of readable then writable buffers, growing past 4 buffers", () => {
    const r = rig();
    r.desc(0, 0x4000, 16, N, 3);
    r.desc(3, 0x4100, 100, N, 1);
    r.desc(1, 0x4200, 0, N, 5);
    r.desc(5, 0x4300, 7, N | W, 2);
    r.desc(2, 0x4400, 9, N | W, 4);
    r.desc(4, 0x4500, 11, W);
    r.post(0);
    expect(r.q.hasAvailable()).toBe(true);
    const c = r.q.pop()!;
    expect(c.head).toBe(0);
    expect(bufs(c)).toEqual([[0x4000, 16], [0x4100, 100], [0x4200, 0], [0x4300, 7], [0x4400, 9], [0x4500, 11]]);
    expect([c.readableCount, c.readableBytes, c.writableBytes, c.epoch]).toEqual([3, 116, 27, r.q.epoch]);
    expect(r.q.pendingCount).toBe(1);
    expect(r.q.hasAvailable()).toBe(false);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([]);
  });

  it("accepts addresses above 4 GiB in guest memory and rejects the high word at the 2^53 limit", () => {
    const mem = new GuestMemory([
      { guestAddress: 0n, bytes: new Uint8Array(0x4000) },
      { guestAddress: 0x1_0000_0000n, bytes: new Uint8Array(0x1000) },
    ]);
    const v: [string, string][] = [];
    const q = new SplitQueue({ memory: mem, maxSize: 4, onViolation: (c, d) => v.push([c, d]) });
    q.activate({ size: 4, desc: 0x1000, avail: 0x2000, used: 0x3000 }, { eventIdx: false, indirect: false });
    mem.write32(0x1000, 0x10);
    mem.write32(0x1004, 1); // 0x1_0000_0010
    mem.write32(0x1008, 0x20);
    mem.write16(0x2004, 0);
    mem.write16(0x2002, 1);
    const c = q.pop()!;
    expect(bufs(c)).toEqual([[0x1_0000_0010, 0x20]]);
    q.addUsed(c, 0);
    mem.write32(0x1004, 0x200000); // high word 2^21: the address is 2^53 + 0x10
    mem.write16(0x2006, 0);
    mem.write16(0x2002, 2);
    expect(q.pop()).toBeUndefined();
    expect(v).toEqual([["buffer-outside-memory", "chain 0: buffer 0 (32 bytes at beyond 2^53) is outside guest memory"]]);
  });

  it("with the high word just below the limit, the address is a finite number outside memory", () => {
    const r = rig();
    r.desc(0, 0x1fffff * 2 ** 32, 4);
    r.post(0);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([["buffer-outside-memory", `chain 0: buffer 0 (4 bytes at 0x${(0x1fffff * 2 ** 32).toString(16)}) is outside guest memory`]]);
  });

  it("checks buffers against memory: ending at the end of memory is fine, one byte more is not", () => {
    const r = rig();
    r.desc(0, C_END - 4, 4, N, 1);
    r.desc(1, C_END - 4, 4, W);
    r.post(0);
    expect(r.q.pop()).toBeDefined();
    r.desc(2, 0x4000, 4, N, 3);
    r.desc(3, C_END - 4, 5, W);
    r.post(2);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([["buffer-outside-memory", "chain 2: buffer 1 (5 bytes at 0x20ffc) is outside guest memory"]]);
    expect([r.q.broken, r.q.ready]).toEqual([true, false]);
  });

  it("pops one-descriptor chains (the short path once a region is remembered) with the same buffers, counts and checks as longer ones", () => {
    // One 16 MiB region, so that a mis-read field (a byte-swapped address or length) would still
    // land inside it and be caught by what the chain holds, not by a bounds check.
    const big = 16 << 20;
    const HIGH = 2 ** 32; // and a region above 4 GiB: a descriptor's high word matters there
    const mem = new GuestMemory([
      { guestAddress: 0n, bytes: new Uint8Array(big) },
      { guestAddress: BigInt(HIGH), bytes: new Uint8Array(0x10000) },
    ]);
    const violations: [string, string][] = [];
    const q = new SplitQueue({ memory: mem, maxSize: 8, onViolation: (c, d) => void violations.push([c, d]) });
    expect(q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    let idx = 0;
    const one = (addr: number, len: number, flags: number): DescriptorChain | undefined => {
      const head = idx % 8;
      mem.write32(DESC + 16 * head, addr % 2 ** 32);
      mem.write32(DESC + 16 * head + 4, Math.floor(addr / 2 ** 32));
      mem.write32(DESC + 16 * head + 8, len);
      mem.write16(DESC + 16 * head + 12, flags);
      mem.write16(AVAIL + 4 + 2 * head, head);
      mem.write16(AVAIL + 2, ++idx);
      const c = q.pop();
      if (c) q.addUsed(c, 0);
      return c;
    };
    // The first chain remembers the region; then each shape again.
    expect(one(0x20000, 64, W)).toBeDefined();
    for (const [addr, len, flags] of [
      [0x100, 0x100, 0],
      [0x3000, 0x200, W],
      [0x4000, 0, W],
      [0x1_0000, 1, 0],
      [big - 16, 16, W],
    ] as const) {
      const c = one(addr, len, flags);
      expect(c && bufs(c), `${addr.toString(16)}+${len}`).toEqual([[addr, len]]);
      expect([c?.readableCount, c?.readableBytes, c?.writableBytes]).toEqual(flags === W ? [0, 0, len] : [1, len, 0]);
    }
    // Above 4 GiB, while the low region is remembered (its low word alone would be inside it).
    const up = one(HIGH + 0x100, 0x80, W);
    expect(up && bufs(up)).toEqual([[HIGH + 0x100, 0x80]]);
    expect(one(0x200, 8, 0) && true).toBe(true);
    expect(violations).toEqual([]);
    expect(one(big - 16, 17, W)).toBeUndefined();
    expect(violations).toEqual([["buffer-outside-memory", `chain 0: buffer 0 (17 bytes at 0x${(big - 16).toString(16)}) is outside guest memory`]]);
  });

  it("checks every buffer against the region the last chain's buffers lay in up to its last byte, and not one past it", () => {
    // The queue remembers that region so that most chains need no other check: a chain whose
    // buffers all start inside it must still end inside it.
    for (const [start, end] of [[C_START, C_END], [0, A_END + 0x4000]] as const) {
      const r = rig();
      r.desc(0, start + 16, 4, N, 1);
      r.desc(1, end - 4, 4, W);
      r.post(0);
      r.q.addUsed(r.q.pop()!, 0);
      r.desc(2, end - 8, 4, N, 3);
      r.desc(3, end - 4, 4, W);
      r.post(2);
      r.q.addUsed(r.q.pop()!, 0);
      r.desc(4, end - 8, 4, N, 5);
      r.desc(5, end - 4, 5, W);
      r.post(4);
      expect(r.q.pop()).toBeUndefined();
      expect(r.violations).toEqual([["buffer-outside-memory", `chain 4: buffer 1 (5 bytes at 0x${(end - 4).toString(16)}) is outside guest memory`]]);
    }
    // …and must start inside it: one byte before region C is a gap.
    const r = rig();
    r.desc(0, C_START, 4, W);
    r.post(0);
    r.q.addUsed(r.q.pop()!, 0);
    r.desc(1, C_START - 1, 4, W);
    r.post(1);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([["buffer-outside-memory", `chain 1: buffer 0 (4 bytes at 0x${(C_START - 1).toString(16)}) is outside guest memory`]]);
  });

  it("lets a buffer cross two adjacent regions and skips zero-length buffers anywhere", () => {
    const r = rig();
    r.desc(0, A_END - 8, 16, N, 1);
    r.desc(1, 0x90000, 0);
    r.post(0);
    const c = r.q.pop()!;
    expect(bufs(c)).toEqual([[A_END - 8, 16], [0x90000, 0]]);
    expect(r.violations).toEqual([]);
  });

  it.each([
    ["avail.idx more than the queue size ahead", (r: Rig) => r.mem.write16(AVAIL + 2, 9), ["avail-idx-jump", "avail.idx: expected at most 8 ahead of 0, got 9"]],
    ["a head equal to the queue size", (r: Rig) => r.post(8), ["head-out-of-range", "avail.ring: expected a head below 8, got 8"]],
    ["next equal to the queue size", (r: Rig) => (r.desc(0, 0x4000, 4, N, 8), r.post(0)), ["next-out-of-range", "descriptor 0: next expected below 8, got 8"]],
    [
      "a loop through two descriptors",
      (r: Rig) => (r.desc(0, 0x4000, 4, N, 1), r.desc(1, 0x4000, 4, N, 0), r.post(0)),
      ["chain-loop", "chain 0: descriptor loop (more than 8 hops)"],
    ],
    ["a self-loop", (r: Rig) => (r.desc(2, 0x4000, 4, N, 2), r.post(2)), ["chain-loop", "chain 2: descriptor loop (more than 8 hops)"]],
    [
      "a readable buffer after a writable one",
      (r: Rig) => (r.desc(0, 0x4000, 4, W | N, 1), r.desc(1, 0x4000, 4, 0), r.post(0)),
      ["write-before-read", "chain 0: descriptor 1 is device-readable after a device-writable one"],
    ],
    [
      "lengths adding up to 2^32",
      (r: Rig) => (r.desc(0, 0x4000, 0xffffffff, N, 1), r.desc(1, 0x4000, 1, 0), r.post(0)),
      ["length-overflow", "chain 0: total length expected below 2^32, got 4294967296"],
    ],
    [
      // 2^32 - 1 is not an overflow: the buffer check is what fails then
      "lengths adding up to 2^32 - 1",
      (r: Rig) => (r.desc(0, 0x4000, 0xfffffffe, N, 1), r.desc(1, 0x4000, 1, 0), r.post(0)),
      ["buffer-outside-memory", "chain 0: buffer 0 (4294967294 bytes at 0x4000) is outside guest memory"],
    ],
    ["INDIRECT without the feature", (r: Rig) => (r.desc(0, 0x5000, 16, I), r.post(0)), ["indirect-unnegotiated", "descriptor 0: INDIRECT without VIRTIO_F_INDIRECT_DESC"]],
  ] as const)("stops the queue on %s", (_name, corrupt, expected) => {
    const r = rig();
    corrupt(r);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([expected]);
    expect([r.q.broken, r.q.ready, r.q.pendingCount]).toEqual([true, false, 0]);
    // A broken queue is never used again until reactivated.
    expect(r.q.pop()).toBeUndefined();
    expect(r.q.hasAvailable()).toBe(false);
    expect(r.violations.length).toBe(1);
  });

  it("accepts the limits: avail.idx exactly size ahead, head size - 1, next size - 1", () => {
    const r = rig();
    for (let i = 0; i < 8; i++) r.desc(i, 0x4000, 1);
    r.desc(5, 0x4000, 1, N, 7);
    for (const h of [7, 6, 0, 1, 2, 3, 4, 5]) r.post(h);
    const heads: number[] = [];
    for (let c = r.q.pop(); c; c = r.q.pop()) heads.push(c.head);
    expect(heads).toEqual([7, 6, 0, 1, 2, 3, 4, 5]);
    expect(r.violations).toEqual([]);
    expect(r.q.pendingCount).toBe(8);
  });

  it("a chain through every descriptor of the table is not a loop", () => {
    const r = rig();
    for (let i = 0; i < 7; i++) r.desc(i, 0x4000 + i, 1, N, i + 1);
    r.desc(7, 0x4000, 1);
    r.post(0);
    expect(r.q.pop()!.count).toBe(8);
    expect(r.violations).toEqual([]);
  });

  it("refuses a head the device still holds, and takes it again once completed", () => {
    const r = rig();
    r.desc(3, 0x4000, 4, W);
    r.post(3);
    const c = r.q.pop()!;
    r.q.addUsed(c, 4);
    r.post(3);
    expect(r.q.pop()!.head).toBe(3);
    r.post(3);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([["head-in-flight", "avail.ring: head 3 is still in use by the device"]]);
  });

  it("reuses a head's chain object with fresh counts", () => {
    const r = rig();
    r.desc(0, 0x4000, 16, N, 1);
    r.desc(1, 0x4100, 8, N | W, 2);
    r.desc(2, 0x4200, 8, W);
    r.post(0);
    const a = r.q.pop()!;
    expect([a.count, a.readableCount, a.readableBytes, a.writableBytes]).toEqual([3, 1, 16, 16]);
    r.q.addUsed(a, 0);
    r.desc(0, 0x4300, 5, W);
    r.post(0);
    const b = r.q.pop()!;
    expect(bufs(b)).toEqual([[0x4300, 5]]);
    expect([b.count, b.readableCount, b.readableBytes, b.writableBytes]).toEqual([1, 0, 0, 5]);
  });
});

describe("SplitQueue.pop: the short path against the general walk", () => {
  // A queue pops a short direct chain whose buffers lie in the region it remembers without the
  // general walk (SplitQueue's `short`). Differential property: the same random descriptor table
  // popped from a cold queue (no region remembered: every chain with a non-empty buffer takes
  // the walk) and from a warm one (region A remembered, so short chains there take the short
  // path) gives the same chain or the same violation. The outcomes are counted, so that the run
  // shows it reached the short path's every exit (limits: 4 descriptors, the region's edges, a
  // readable buffer after a writable one; 2^32 bytes in all needs a larger region: below).
  const RUNS = Number(process.env["VIRTIO_PROP_RUNS"] ?? 4000);
  const SEED = Number(process.env["VIRTIO_PROP_SEED"] ?? Date.now() % 2 ** 31);
  const addrArb = fc.oneof(
    fc.integer({ min: 0x4000, max: 0x8000 }), // inside A, clear of the rings
    fc.constantFrom(A_END - 16, A_END - 1, A_END, C_START, C_END - 4, 0x18000, 2 ** 32 + 0x4000, 2 ** 53 + 2 ** 40),
  );
  const lenArb = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 0x1000, A_END, 2 ** 31, 2 ** 32 - 1));
  const flagsArb = fc.constantFrom(0, N, W, N | W, N | W, N, I, N | I, W | I);
  type Desc = { addr: number; len: number; flags: number; next: number };
  // Random tables: mostly broken chains.
  const randomArb = fc.integer({ min: 0, max: 3 }).chain((k) => {
    const size = 1 << k;
    const desc = fc.record({ addr: addrArb, len: lenArb, flags: flagsArb, next: fc.integer({ min: 0, max: size }) });
    return fc.record({ size: fc.constant(size), descs: fc.array(desc, { minLength: size, maxLength: size }), head: fc.integer({ min: 0, max: size - 1 }), indirect: fc.boolean() });
  });
  // Well-formed chains of 1..8 descriptors in region A (readable ones first), each with at most
  // one thing changed: what a driver sends, and one step off it.
  const CHANGES = ["none", "none", "addr", "len", "write-order", "next", "loop", "indirect"] as const;
  const chainArb = fc
    .record({
      k: fc.integer({ min: 0, max: 3 }),
      length: fc.integer({ min: 1, max: 8 }),
      readable: fc.integer({ min: 0, max: 8 }),
      head: fc.nat(),
      lens: fc.array(fc.integer({ min: 0, max: 0x200 }), { minLength: 8, maxLength: 8 }),
      change: fc.constantFrom(...CHANGES),
      at: fc.nat(),
      addr: addrArb,
      len: lenArb,
      indirect: fc.boolean(),
    })
    .map(({ k, length, readable, head, lens, change, at, addr, len, indirect }) => {
      const size = 1 << k;
      const n = Math.min(length, size);
      const h = head % size;
      const descs: Desc[] = Array.from({ length: size }, () => ({ addr: 0x4000, len: 0, flags: 0, next: 0 }));
      for (let j = 0; j < n; j++) {
        const i = (h + j) % size;
        descs[i] = { addr: 0x4000 + 0x200 * i, len: lens[j] as number, flags: (j < n - 1 ? N : 0) | (j >= Math.min(readable, n) ? W : 0), next: (i + 1) % size };
      }
      const i = (h + (at % n)) % size;
      const d = descs[i] as Desc;
      if (change === "addr") d.addr = addr;
      else if (change === "len") d.len = len;
      else if (change === "write-order") d.flags ^= W;
      else if (change === "next") d.next = size;
      else if (change === "loop") (d.flags |= N), (d.next = h);
      else if (change === "indirect") d.flags |= I;
      return { size, descs, head: h, indirect };
    });
  const tableArb = fc.oneof(randomArb, chainArb);

  function popWith(t: { size: number; descs: Desc[]; head: number; indirect: boolean }, warm: boolean): unknown {
    const r = rig({ size: t.size, maxSize: 8, indirect: t.indirect });
    if (warm) {
      // One chain in region A first, completed: the queue now remembers A.
      r.desc(0, 0x9000, 4, W);
      r.post(0);
      r.q.addUsed(r.q.pop()!, 0);
      expect(r.violations).toEqual([]);
    }
    t.descs.forEach((d, i) => r.desc(i, d.addr, d.len, d.flags, d.next));
    r.post(t.head);
    const c = r.q.pop();
    const got = c === undefined ? { violations: r.violations } : { bufs: bufs(c), readable: [c.readableCount, c.readableBytes], writable: c.writableBytes };
    return got;
  }

  it("pops the same chain, or reports the same violation, warm or cold", () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(tableArb, (t) => {
        const cold = popWith(t, false) as { bufs?: [number, number][]; violations?: [string, string][] };
        const warm = popWith(t, true);
        expect(warm).toEqual(cold);
        const k = cold.bufs ? `chain of ${cold.bufs.length}` : (cold.violations?.[0]?.[0] ?? "nothing");
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(`short path vs walk (seed ${SEED}): ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
    for (const k of ["chain of 1", "chain of 2", "chain of 3", "chain of 4", "buffer-outside-memory", "write-before-read", "next-out-of-range", "chain-loop", "length-overflow", "indirect-unnegotiated"]) {
      expect(outcomes.get(k) ?? 0, `${k} reached`).toBeGreaterThan(0);
    }
  });

  // fillNext against the general way on the same tables: where it takes the chain, the guest's
  // memory and used ring end up as pop, a copy and addUsed leave them; where it does not, it
  // changed nothing, and the general way then gives what it gives on a queue never offered the
  // fast path (the same chain, or the same violation).
  it("fillNext fills a lone writable buffer as pop, a copy and addUsed do, and leaves any other chain to pop untouched", () => {
    const outcomes = new Map<string, number>();
    const HL = 12;
    const header = (v: DataView, o: number): void => {
      v.setUint32(o, 0x11223344, true);
      v.setUint32(o + 4, 0x55667788, true);
      v.setUint32(o + 8, 0x99aabbcc, true);
    };
    const headerBytes = new Uint8Array(HL);
    header(new DataView(headerBytes.buffer), 0);
    const snapshot = (r: Rig): Uint8Array[] => r.mem.regions.map((g) => g.bytes.slice());
    // Where two snapshots first differ ("same" when they do not): a plain loop, not a deep equal.
    const diff = (a: Uint8Array[], b: Uint8Array[]): string => {
      for (let g = 0; g < a.length; g++) {
        const x = a[g]!;
        const y = b[g]!;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `region ${g} byte ${i}: ${x[i]} vs ${y[i]}`;
      }
      return "same";
    };
    // The general way: pop, and a lone writable buffer big enough gets header and data.
    const general = (r: Rig, data: Uint8Array): string => {
      const c = r.q.pop();
      if (c === undefined) return r.violations[0]?.[0] ?? "nothing";
      const total = HL + data.length;
      if (c.count === 1 && c.readableCount === 0 && c.writableBytes >= total) {
        c.write(r.mem, 0, headerBytes);
        c.write(r.mem, HL, data);
        r.q.addUsed(c, total);
        return "lone buffer";
      }
      r.q.addUsed(c, 0);
      return `chain of ${c.count}`;
    };
    const warm = (t: { size: number; indirect: boolean; descs: Desc[]; head: number }): Rig => {
      const r = rig({ size: t.size, maxSize: 8, indirect: t.indirect });
      r.desc(0, 0x9000, 4, W);
      r.post(0);
      r.q.addUsed(r.q.pop()!, 0);
      t.descs.forEach((d, i) => r.desc(i, d.addr, d.len, d.flags, d.next));
      r.post(t.head);
      return r;
    };
    fc.assert(
      fc.property(tableArb, fc.uint8Array({ maxLength: 64 }), (t, data) => {
        const ref = warm(t);
        const want = general(ref, data);
        const fast = warm(t);
        const before = snapshot(fast);
        const took = fast.q.fillNext(data, HL, header);
        let got = "filled";
        if (!took) {
          expect(diff(snapshot(fast), before)).toBe("same"); // nothing written
          expect(fast.violations).toEqual([]); // nothing reported: pop does that
          got = general(fast, data);
          expect(got).toBe(want);
        } else expect(want).toBe("lone buffer");
        expect(diff(snapshot(fast), snapshot(ref))).toBe("same");
        expect(fast.violations).toEqual(ref.violations);
        const k = took ? "filled" : `left to pop: ${got}`;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    console.log(`fillNext vs pop (seed ${SEED}): ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
    for (const k of ["filled", "left to pop: lone buffer", "left to pop: chain of 1", "left to pop: chain of 2", "left to pop: buffer-outside-memory", "left to pop: chain-loop"]) {
      expect(outcomes.get(k) ?? 0, `${k} reached`).toBeGreaterThan(0);
    }
  });

  it("fillNext takes the buffers at its limits itself: a full ring, any head, an exact fit, a buffer at either edge of the region, one above 4 GiB; and nothing from a stopped or broken queue", () => {
    const data = new Uint8Array([7, 8]);
    const header = (v: DataView, o: number): void => v.setUint8(o, 0xee);
    const warm = (r: Rig, addr: number): void => {
      r.desc(0, addr, 4, W);
      r.post(0);
      r.q.addUsed(r.q.pop()!, 0);
    };
    // A full ring (avail.idx a whole queue ahead), heads 7 down to 0, each taken in turn.
    const r = rig();
    warm(r, 0x9000);
    for (let h = 0; h < 8; h++) r.desc(h, 0x9000 + 0x10 * h, 3, W);
    for (let h = 7; h >= 0; h--) r.post(h);
    for (let h = 7; h >= 0; h--) {
      expect(r.q.fillNext(data, 1, header), `head ${h}`).toBe(true);
      expect([...r.mem.view(0x9000 + 0x10 * h, 3)]).toEqual([0xee, 7, 8]);
    }
    // An exact fit, and buffers at the region's first and last bytes.
    for (const [addr, len] of [[0x9100, 3], [0, 16], [A_END - 3, 3]] as const) {
      r.desc(1, addr, len, W);
      r.post(1);
      expect(r.q.fillNext(data, 1, header), `${len} bytes at ${addr}`).toBe(true);
      expect([...r.mem.view(addr, 3)]).toEqual([0xee, 7, 8]);
    }
    expect(r.violations).toEqual([]);
    // Stopped: the queue deactivated with a buffer posted: false, no throw.
    r.desc(2, 0x9200, 16, W);
    r.post(2);
    r.q.deactivate();
    expect(r.q.fillNext(data, 1, header)).toBe(false);
    // Broken, with a good buffer still posted behind the bad head: nothing taken.
    const b = rig();
    warm(b, 0x9000);
    b.desc(1, 0x9100, 16, W);
    b.post(8);
    b.post(1);
    expect(b.q.pop()).toBeUndefined();
    expect(b.violations[0]?.[0]).toBe("head-out-of-range");
    expect(b.q.fillNext(data, 1, header)).toBe(false);
    expect(b.mem.read8(0x9100)).toBe(0);
    // A region above 4 GiB: the high word of the address counts.
    const mem = new GuestMemory([
      { guestAddress: 0n, bytes: new Uint8Array(A_END) },
      { guestAddress: 1n << 32n, bytes: new Uint8Array(0x1000) },
    ]);
    const q = new SplitQueue({ memory: mem, maxSize: 8, onViolation: () => {} });
    expect(q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    const put = (i: number, addr: number, len: number): void => {
      mem.write32(DESC + 16 * i, addr % 2 ** 32);
      mem.write32(DESC + 16 * i + 4, Math.floor(addr / 2 ** 32));
      mem.write32(DESC + 16 * i + 8, len);
      mem.write16(DESC + 16 * i + 12, W);
      mem.write16(AVAIL + 4 + 2 * i, i);
      mem.write16(AVAIL + 2, i + 1);
    };
    put(0, 2 ** 32, 8); // the walk learns the high region
    q.addUsed(q.pop()!, 0);
    put(1, 2 ** 32 + 0x100, 8);
    expect(q.fillNext(data, 1, header)).toBe(true);
    expect([...mem.view(2 ** 32 + 0x100, 3)]).toEqual([0xee, 7, 8]);
  });

  it("fillNext takes nothing from a cold, empty, broken or jumped queue, nor a head in flight or out of range, and counts the header in used.len", () => {
    const header = (v: DataView, o: number): void => v.setUint16(o, 0xabcd, true);
    const r = rig();
    const data = new Uint8Array([1, 2, 3]);
    r.desc(0, 0x9000, 8, W);
    r.post(0);
    expect(r.q.fillNext(data, 2, header)).toBe(false); // cold: no region known yet
    const first = r.q.pop()!;
    expect(r.q.fillNext(data, 2, header)).toBe(false); // empty
    r.post(0); // head 0 again, still in flight
    expect(r.q.fillNext(data, 2, header)).toBe(false);
    r.q.addUsed(first, 0);
    expect(r.q.fillNext(data, 2, header)).toBe(true); // now it is not in flight
    expect([...r.mem.view(0x9000, 5)]).toEqual([0xcd, 0xab, 1, 2, 3]);
    expect([r.mem.read32(USED + 4 + 8), r.mem.read32(USED + 8 + 8), r.mem.read16(USED + 2)]).toEqual([0, 5, 2]);
    r.desc(1, 0x9100, 4, W); // too small for 2 + 3 bytes
    r.post(1);
    expect(r.q.fillNext(data, 2, header)).toBe(false);
    expect(r.q.pop()?.head).toBe(1);
    r.post(8); // head 8: out of range for a queue of 8
    expect(r.q.fillNext(data, 2, header)).toBe(false);
    expect(r.violations).toEqual([]);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations[0]?.[0]).toBe("head-out-of-range");
    expect(r.q.fillNext(data, 2, header)).toBe(false); // broken
    const j = rig();
    j.desc(0, 0x9000, 8, W);
    j.post(0);
    j.q.addUsed(j.q.pop()!, 0);
    j.mem.write16(AVAIL + 2, 10); // avail.idx 9 ahead of the next to pop (1): more than the queue's 8
    expect(j.q.fillNext(data, 2, header)).toBe(false);
    expect(j.violations).toEqual([]);
    expect(j.q.pop()).toBeUndefined();
    expect(j.violations[0]?.[0]).toBe("avail-idx-jump");
  });

  it("gives a chain the region its buffers lie in when the queue knows it, and none otherwise (a buffer elsewhere, an access hook)", () => {
    const r = rig();
    const pop = (head: number, addr: number): DescriptorChain => {
      r.desc(head, addr, 16, N, head + 1);
      r.desc(head + 1, addr + 0x100, 8, W);
      r.post(head);
      const c = r.q.pop()!;
      r.q.addUsed(c, 0);
      return c;
    };
    expect(pop(0, 0x4000).region).toBeUndefined(); // the first chain: the queue learns region A
    const a = pop(2, 0x5000).region!;
    expect([a.start, a.end, a.bytes.length]).toEqual([0, A_END, A_END]);
    a.bytes[0x5000] = 0x5a; // the guest's own bytes
    expect(r.mem.read8(0x5000)).toBe(0x5a);
    expect(pop(4, C_START).region).toBeUndefined(); // a buffer outside A: the walk, which learns C
    expect(pop(6, C_START + 0x200).region?.start).toBe(C_START);
    // Chains the short path leaves to the walk (more than 4 descriptors, an indirect table)
    // get the region too when every buffer lies in the one remembered.
    for (let i = 0; i < 5; i++) r.desc(i, C_START + 0x300 + 0x10 * i, 8, (i < 4 ? N : 0) | (i > 2 ? W : 0), i + 1);
    r.post(0);
    const long = r.q.pop()!;
    expect([long.count, long.region?.start]).toEqual([5, C_START]);
    r.q.addUsed(long, 0);
    expect(r.violations).toEqual([]);
    const ind = rig({ indirect: true });
    ind.desc(0, 0x4000, 8, W);
    ind.post(0);
    ind.q.addUsed(ind.q.pop()!, 0);
    ind.desc(0, 0x6000, 8, N, 1, 0x5000);
    ind.desc(1, 0x6100, 8, W, 0, 0x5000);
    ind.desc(1, 0x5000, 32, I);
    ind.post(1);
    const viaTable = ind.q.pop()!;
    expect([viaTable.count, viaTable.region?.end]).toEqual([2, A_END]);
    expect(ind.violations).toEqual([]);
    // With an access hook every access must go through the hook: no chain gets a region.
    const seen: string[] = [];
    const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(A_END) }], { onAccess: (_a, _n, kind) => void seen.push(kind) });
    const q = new SplitQueue({ memory: mem, maxSize: 8, onViolation: () => {} });
    expect(q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    for (let i = 0; i < 3; i++) {
      mem.write32(DESC + 16 * i, 0x4000 + 0x100 * i);
      mem.write32(DESC + 16 * i + 8, 8);
      mem.write16(AVAIL + 4 + 2 * i, i);
      mem.write16(AVAIL + 2, i + 1);
      const c = q.pop()!;
      expect(c.region).toBeUndefined();
      q.addUsed(c, 0);
    }
    expect(seen.length).toBeGreaterThan(0);
  });

  it("a short chain of 2^32 bytes or more in all is length-overflow, one byte less is taken (a region of 1.25 GiB, never touched)", () => {
    const big = 0x50000000;
    const mem = new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(big) }]);
    const violations: [string, string][] = [];
    const q = new SplitQueue({ memory: mem, maxSize: 8, onViolation: (c, d) => void violations.push([c, d]) });
    expect(q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    let idx = 0;
    const chain = (lens: readonly number[]): DescriptorChain | undefined => {
      lens.forEach((len, i) => {
        const a = DESC + 16 * i;
        mem.write32(a, 0x10_0000);
        mem.write32(a + 4, 0);
        mem.write32(a + 8, len);
        mem.write16(a + 12, (i < lens.length - 1 ? N : 0) | W);
        mem.write16(a + 14, i + 1);
      });
      mem.write16(AVAIL + 4 + 2 * (idx % 8), 0);
      mem.write16(AVAIL + 2, ++idx);
      return q.pop();
    };
    const first = chain([16]); // remembers the region
    q.addUsed(first!, 0);
    const q30 = 0x4000_0000;
    const ok = chain([q30, q30, q30, q30 - 1]);
    expect(ok && [ok.count, ok.writableBytes]).toEqual([4, 2 ** 32 - 1]);
    q.addUsed(ok!, 0);
    expect(chain([q30, q30, q30, q30])).toBeUndefined();
    expect(violations).toEqual([["length-overflow", "chain 0: total length expected below 2^32, got 4294967296"]]);
  });

  it("takes chains of up to 4 descriptors and the queue size on the short path and longer ones through the walk, the same either way", () => {
    // Chains of 1..8 descriptors in region A on a warm queue of size 8: each pops with its
    // buffers in order, whichever path took it.
    for (let n = 1; n <= 8; n++) {
      const r = rig();
      r.desc(0, 0x9000, 4, W);
      r.post(0);
      r.q.addUsed(r.q.pop()!, 0);
      for (let i = 0; i < n; i++) r.desc(i, 0x4000 + 0x100 * i, 16 + i, (i < n - 1 ? N : 0) | (i >= n / 2 ? W : 0), i + 1);
      r.post(0);
      const c = r.q.pop()!;
      expect(bufs(c)).toEqual(Array.from({ length: n }, (_, i) => [0x4000 + 0x100 * i, 16 + i]));
      const readable = Math.ceil(n / 2);
      expect([c.readableCount, c.readableBytes, c.writableBytes]).toEqual([
        readable,
        Array.from({ length: readable }, (_, i) => 16 + i).reduce((a, b) => a + b, 0),
        Array.from({ length: n - readable }, (_, i) => 16 + readable + i).reduce((a, b) => a + b, 0),
      ]);
      expect(r.violations).toEqual([]);
    }
  });
});

describe("SplitQueue.pop: indirect tables", () => {
  const T = 0x5000;

  it("walks an indirect table of up to the queue size entries, following next inside it", () => {
    const r = rig({ indirect: true });
    r.desc(0, 0x4000, 16, N, 2, T);
    r.desc(2, 0x4100, 4, N | W, 1, T);
    r.desc(1, 0x4200, 4, W, 0, T);
    r.desc(5, T, 48, I);
    r.post(5);
    const c = r.q.pop()!;
    expect(c.head).toBe(5);
    expect(bufs(c)).toEqual([[0x4000, 16], [0x4100, 4], [0x4200, 4]]);
    expect([c.readableCount, c.readableBytes, c.writableBytes]).toEqual([1, 16, 8]);
    // 8 entries (the queue size) chained through the table
    for (let i = 0; i < 8; i++) r.desc(i, 0x4000 + i, 1, i < 7 ? N : 0, i + 1, 0x6000);
    r.desc(6, 0x6000, 128, I);
    r.post(6);
    expect(r.q.pop()!.count).toBe(8);
    expect(r.violations).toEqual([]);
  });

  it("an indirect table may follow direct descriptors of the chain? No: INDIRECT ends the walk at its table", () => {
    // virtio 1.2 §2.7.5.3.1: a descriptor with INDIRECT has no NEXT; its table's chain ends the request.
    const r = rig({ indirect: true });
    r.desc(0, 0x4000, 4, W, 0, T);
    r.desc(1, T, 16, I);
    r.post(1);
    expect(bufs(r.q.pop()!)).toEqual([[0x4000, 4]]);
  });

  it.each([
    ["a table length of 0", (r: Rig) => r.desc(0, T, 0, I), ["indirect-size", "descriptor 0: indirect table length expected a non-zero multiple of 16, got 0"]],
    ["a table length of 17", (r: Rig) => r.desc(0, T, 17, I), ["indirect-size", "descriptor 0: indirect table length expected a non-zero multiple of 16, got 17"]],
    ["a table length of 8", (r: Rig) => r.desc(0, T, 8, I), ["indirect-size", "descriptor 0: indirect table length expected a non-zero multiple of 16, got 8"]],
    ["INDIRECT with NEXT", (r: Rig) => r.desc(0, T, 16, I | N, 1), ["indirect-with-next", "descriptor 0: INDIRECT and NEXT together"]],
    [
      "INDIRECT inside a table",
      (r: Rig) => (r.desc(0, 0x4000, 4, N, 1, T), r.desc(1, 0x6000, 16, I, 0, T), r.desc(0, T, 32, I)),
      ["nested-indirect", "descriptor 1 of an indirect table has INDIRECT set"],
    ],
    ["a table outside memory", (r: Rig) => r.desc(0, C_END - 16, 32, I), ["buffer-outside-memory", "descriptor 0: indirect table 32 bytes at 0x20ff0 outside guest memory"]],
    ["a table beyond 2^53", (r: Rig) => r.desc(0, 2 ** 53, 16, I), ["buffer-outside-memory", "descriptor 0: indirect table 16 bytes at beyond 2^53 outside guest memory"]],
    ["a table crossing two regions", (r: Rig) => r.desc(0, A_END - 16, 32, I), ["indirect-size", "descriptor 0: indirect table at 0xfff0 crosses a memory-region boundary"]],
    [
      "a table chain longer than the queue size",
      (r: Rig) => {
        for (let i = 0; i < 9; i++) r.desc(i, 0x4000, 1, i < 8 ? N : 0, i + 1, T);
        r.desc(0, T, 144, I);
      },
      ["chain-too-long", "chain 0: expected at most 8 descriptors (the queue size)"],
    ],
    ["next past the table's end", (r: Rig) => (r.desc(0, 0x4000, 1, N, 2, T), r.desc(0, T, 32, I)), ["next-out-of-range", "descriptor 0: next expected below 2, got 2"]],
    [
      "a loop inside the table",
      (r: Rig) => (r.desc(0, 0x4000, 1, N, 1, T), r.desc(1, 0x4000, 1, N, 0, T), r.desc(0, T, 32, I)),
      ["chain-loop", "chain 0: descriptor loop (more than 2 hops)"],
    ],
  ] as const)("stops the queue on %s", (_name, corrupt, expected) => {
    const r = rig({ indirect: true });
    corrupt(r);
    r.post(0);
    expect(r.q.pop()).toBeUndefined();
    expect(r.violations).toEqual([expected]);
    expect(r.q.broken).toBe(true);
  });

  it("a table ending exactly at the end of memory is fine", () => {
    const r = rig({ indirect: true });
    r.desc(0, 0x4000, 4, W, 0, C_END - 16);
    r.desc(0, C_END - 16, 16, I);
    r.post(0);
    expect(bufs(r.q.pop()!)).toEqual([[0x4000, 4]]);
  });
});

describe("DescriptorChain.read / write", () => {
  function chain(): { r: Rig; c: DescriptorChain } {
    const r = rig();
    r.mem.write(0x4000, new Uint8Array([1, 2, 3]));
    r.mem.write(0x4100, new Uint8Array([4, 5]));
    r.mem.write(0x4200, new Uint8Array([6, 7, 8, 9]));
    r.desc(0, 0x4000, 3, N, 1);
    r.desc(1, 0x4100, 0, N, 2);
    r.desc(2, 0x4100, 2, N, 3);
    r.desc(3, 0x4200, 4, N, 4);
    r.desc(4, 0x5000, 2, W | N, 5);
    r.desc(5, 0x5100, 0, W | N, 6);
    r.desc(6, 0x5200, 3, W);
    r.post(0);
    return { r, c: r.q.pop()! };
  }

  it("gathers the readable part from any offset, stopping at its end or the output's", () => {
    const { r, c } = chain();
    const all = new Uint8Array(12).fill(0xff);
    expect(c.read(r.mem, 0, all)).toBe(9);
    expect([...all]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xff, 0xff]);
    const mid = new Uint8Array(4);
    expect(c.read(r.mem, 2, mid)).toBe(4);
    expect([...mid]).toEqual([3, 4, 5, 6]);
    const tail = new Uint8Array(4);
    expect(c.read(r.mem, 5, tail)).toBe(4);
    expect([...tail]).toEqual([6, 7, 8, 9]);
    expect(c.read(r.mem, 3, new Uint8Array(0))).toBe(0);
    expect(c.read(r.mem, 9, new Uint8Array(4))).toBe(0);
    expect(c.read(r.mem, 20, new Uint8Array(4))).toBe(0);
  });

  it("a reused chain object never reaches the buffers of the head's previous chain", () => {
    const r = rig();
    r.desc(0, 0x5000, 4, W | N, 1);
    r.desc(1, 0x5100, 4, W);
    r.post(0);
    r.q.addUsed(r.q.pop()!, 0);
    r.desc(0, 0x5200, 4, W);
    r.post(0);
    const c = r.q.pop()!;
    expect(c.write(r.mem, 0, new Uint8Array(8).fill(9))).toBe(4);
    expect(r.mem.read32(0x5100)).toBe(0);
    r.desc(0, 0x5300, 4);
    r.q.addUsed(c, 0);
    r.post(0);
    const d = r.q.pop()!;
    expect(d.read(r.mem, 0, new Uint8Array(8))).toBe(4);
  });

  it("scatters into the writable part from any offset, stopping at its end", () => {
    const { r, c } = chain();
    expect(c.write(r.mem, 0, new Uint8Array([10, 11, 12, 13, 14, 15, 16]))).toBe(5);
    const got = (a: number, n: number) => {
      const b = new Uint8Array(n);
      r.mem.read(a, b);
      return [...b];
    };
    expect(got(0x5000, 2)).toEqual([10, 11]);
    expect(got(0x5200, 4)).toEqual([12, 13, 14, 0]);
    expect(c.write(r.mem, 1, new Uint8Array([20, 21]))).toBe(2);
    expect(got(0x5000, 2)).toEqual([10, 20]);
    expect(got(0x5200, 3)).toEqual([21, 13, 14]);
    expect(c.write(r.mem, 4, new Uint8Array([30, 31]))).toBe(1);
    expect(got(0x5200, 3)).toEqual([21, 13, 30]);
    expect(c.write(r.mem, 5, new Uint8Array([1]))).toBe(0);
    // the readable part is never written
    expect(got(0x4000, 3)).toEqual([1, 2, 3]);
  });
});

describe("SplitQueue used ring", () => {
  it("writes id and min(written, writable bytes), publishing used.idx now or later", () => {
    const r = rig();
    r.desc(0, 0x4000, 4, N, 1);
    r.desc(1, 0x4100, 10, W);
    r.desc(2, 0x4200, 6, W);
    r.desc(3, 0x4300, 6, W);
    r.post(0);
    r.post(2);
    r.post(3);
    const a = r.q.pop()!;
    const b = r.q.pop()!;
    const c = r.q.pop()!;
    expect(r.q.addUsed(a, 99)).toBe(true);
    expect([r.mem.read32(USED + 4), r.mem.read32(USED + 8), r.mem.read16(USED + 2)]).toEqual([0, 10, 1]);
    expect(r.q.addUsed(b, 5, false)).toBe(true);
    expect(r.q.addUsed(c, 6, false)).toBe(true);
    expect([r.mem.read32(USED + 12), r.mem.read32(USED + 16), r.mem.read32(USED + 20), r.mem.read32(USED + 24)]).toEqual([2, 5, 3, 6]);
    expect(r.mem.read16(USED + 2)).toBe(1);
    r.q.publishUsed();
    expect(r.mem.read16(USED + 2)).toBe(3);
    expect(r.q.pendingCount).toBe(0);
    // completing twice is refused
    expect(r.q.addUsed(a, 1)).toBe(false);
    expect(r.mem.read16(USED + 2)).toBe(3);
  });

  it("drops completions from an older epoch and of a broken queue", () => {
    const r = rig();
    r.desc(0, 0x4000, 4, W);
    r.post(0);
    const a = r.q.pop()!;
    r.q.deactivate();
    expect([r.q.ready, r.q.size, r.q.pendingCount]).toEqual([false, 0, 0]);
    expect(r.q.addUsed(a, 4)).toBe(false);
    r.q.publishUsed();
    expect(r.mem.read16(USED + 2)).toBe(0);
    expect(r.q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    expect(r.q.addUsed(a, 4)).toBe(false); // still an older epoch
    expect(r.mem.read16(USED + 2)).toBe(0);
    // the new activation starts from index 0 again
    r.mem.write16(AVAIL + 2, 1);
    const b = r.q.pop()!;
    expect(b.epoch).toBe(r.q.epoch);
    expect(b).not.toBe(a);
    // the old chain has the same head as the new one, which is in flight: still refused
    expect(b.head).toBe(a.head);
    expect(r.q.addUsed(a, 4)).toBe(false);
    expect([r.mem.read16(USED + 2), r.q.pendingCount]).toEqual([0, 1]);
    r.mem.write16(AVAIL + 2, 10); // jump: the queue breaks
    expect(r.q.pop()).toBeUndefined();
    expect(r.q.addUsed(b, 4)).toBe(false);
    r.q.publishUsed();
    expect(r.mem.read16(USED + 2)).toBe(0);
  });

  it("unpop gives chains back to be popped again, ignoring stale and completed ones", () => {
    const r = rig();
    for (let i = 0; i < 3; i++) r.desc(i, 0x4000, 4, W);
    r.post(0);
    r.post(1);
    r.post(2);
    const a = r.q.pop()!;
    const b = r.q.pop()!;
    const c = r.q.pop()!;
    r.q.addUsed(a, 0);
    expect(r.q.pendingCount).toBe(2);
    r.q.unpop([a, b, c]); // a is completed: only b and c go back
    expect(r.q.pendingCount).toBe(0);
    expect(r.q.hasAvailable()).toBe(true);
    expect([r.q.pop()!.head, r.q.pop()!.head]).toEqual([1, 2]);
    expect(r.q.pop()).toBeUndefined();
    r.q.deactivate();
    r.q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false });
    r.mem.write16(AVAIL + 2, 1);
    r.mem.write16(AVAIL + 4, 1);
    const d = r.q.pop()!;
    r.q.unpop([b]); // stale: from the previous epoch, even though head 1 is in flight again
    expect(r.q.pendingCount).toBe(1);
    expect(r.q.pop()).toBeUndefined();
    r.q.unpop([d]);
    expect(r.q.pop()!.head).toBe(1);
  });

  it("keeps its 16-bit indices across wrap-around", () => {
    const r = rig({ size: 2, maxSize: 2 });
    r.desc(0, 0x4000, 4, W);
    // Run the indices up to just below 2^16 without a memory write per step, then across it.
    r.mem.write16(AVAIL + 4, 0);
    r.mem.write16(AVAIL + 6, 0);
    let stillAvailable = 0;
    for (let i = 1; i <= 65540; i++) {
      r.mem.write16(AVAIL + 2, i & 0xffff);
      const c = r.q.pop()!;
      if (r.q.hasAvailable()) stillAvailable++;
      r.q.addUsed(c, 1);
    }
    expect(stillAvailable).toBe(0);
    expect(r.mem.read16(USED + 2)).toBe(65540 & 0xffff);
    expect(r.q.enableNotifications()).toBe(false);
    expect(r.violations).toEqual([]);
  });
});

describe("SplitQueue notification suppression", () => {
  function used(r: Rig, n: number): void {
    for (let i = 0; i < n; i++) {
      r.desc(i % 8, 0x4000, 4, W);
      r.post(i % 8);
      r.q.addUsed(r.q.pop()!, 0);
    }
  }

  it("without EVENT_IDX: interrupts unless avail.flags has NO_INTERRUPT, once per batch", () => {
    const r = rig();
    expect(r.q.needsNotification()).toBe(false); // nothing used yet
    used(r, 1);
    expect(r.q.needsNotification()).toBe(true);
    expect(r.q.needsNotification()).toBe(false);
    r.mem.write16(AVAIL, VringFlag.AvailNoInterrupt);
    used(r, 2);
    expect(r.q.needsNotification()).toBe(false);
    r.mem.write16(AVAIL, 2); // another bit: still interrupts
    used(r, 1);
    expect(r.q.needsNotification()).toBe(true);
  });

  it("without EVENT_IDX: disable sets used.flags NO_NOTIFY, enable clears it and re-checks avail.idx", () => {
    const r = rig();
    r.q.disableNotifications();
    expect(r.mem.read16(USED)).toBe(VringFlag.UsedNoNotify);
    expect(r.mem.read16(USED + 4 + 8 * 8)).toBe(0);
    expect(r.q.enableNotifications()).toBe(false);
    expect(r.mem.read16(USED)).toBe(0);
    r.q.disableNotifications();
    r.desc(0, 0x4000, 4, W);
    r.post(0);
    expect(r.q.enableNotifications()).toBe(true);
    expect(r.mem.read16(USED)).toBe(0);
  });

  it("with EVENT_IDX: disable writes nothing, enable writes avail_event = the next index to pop", () => {
    const r = rig({ eventIdx: true });
    r.mem.write16(USED, 0x77);
    r.q.disableNotifications();
    expect(r.mem.read16(USED)).toBe(0x77);
    used(r, 3);
    expect(r.q.enableNotifications()).toBe(false);
    expect(r.mem.read16(USED + 4 + 8 * 8)).toBe(3);
    expect(r.mem.read16(USED)).toBe(0x77);
    r.desc(0, 0x4000, 4, W);
    r.post(0);
    expect(r.q.enableNotifications()).toBe(true);
  });

  it("with EVENT_IDX: reads used_event after the avail ring and ignores avail.flags", () => {
    const r = rig({ eventIdx: true });
    r.mem.write16(AVAIL, VringFlag.AvailNoInterrupt);
    r.mem.write16(AVAIL + 4 + 2 * 8, 0); // used_event 0: interrupt when used.idx passes 0
    used(r, 1);
    expect(r.q.needsNotification()).toBe(true);
    r.mem.write16(AVAIL + 4 + 2 * 8, 5);
    used(r, 1); // used.idx 2: not past 5
    expect(r.q.needsNotification()).toBe(false);
    used(r, 4); // 2 -> 6 passes 5
    expect(r.q.needsNotification()).toBe(true);
  });

  it("does not signal for used elements of a queue that was deactivated since", () => {
    const r = rig();
    used(r, 2);
    r.q.deactivate();
    expect(r.q.needsNotification()).toBe(false);
  });

  it("does nothing on a broken queue", () => {
    const r = rig();
    used(r, 1);
    r.mem.write16(AVAIL + 2, 0x100);
    expect(r.q.pop()).toBeUndefined();
    expect(r.q.needsNotification()).toBe(false);
    r.mem.write16(USED, 0);
    r.q.disableNotifications();
    expect(r.mem.read16(USED)).toBe(0);
    r.mem.write16(USED, 5);
    expect(r.q.enableNotifications()).toBe(false);
    expect(r.mem.read16(USED)).toBe(5);
  });
});

describe("SplitQueue: nextAvail and resume (a backend taking over running rings, vhost-user's vring base)", () => {
  it("a second queue on the same rings, resumed at the first one's nextAvail, takes the next buffer and continues the used index", () => {
    const r = rig();
    for (let h = 0; h < 3; h++) {
      r.desc(h, 0x5000 + 0x100 * h, 0x100, W);
      r.post(h);
    }
    const a = r.q.pop();
    const b = r.q.pop();
    expect(a && r.q.addUsed(a, 1)).toBe(true);
    expect(b && r.q.addUsed(b, 2)).toBe(true);
    expect(r.q.nextAvail).toBe(2);
    // the first user stops; another takes the same rings over
    const q2 = new SplitQueue({ memory: r.mem, maxSize: 8, onViolation: (c, d) => r.violations.push([c, d]) });
    expect(q2.nextAvail).toBe(0); // inactive
    expect(q2.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false })).toBe(true);
    expect(q2.resume(r.q.nextAvail)).toBe(true);
    const c = q2.pop();
    expect(c?.head).toBe(2);
    expect(c && q2.addUsed(c, 3)).toBe(true);
    expect(r.mem.read16(USED + 2)).toBe(3); // used.idx continued from 2
    expect(r.mem.read32(USED + 4 + 8 * 2)).toBe(2); // the third used element names head 2
    expect(q2.pop()).toBeUndefined();
    expect(r.violations).toEqual([]);
  });

  it("negative controls: without resume the new queue starts over at 0 (and would serve old buffers again); a bad base is a violation", () => {
    const r = rig();
    r.desc(0, 0x5000, 0x100, W);
    r.post(0);
    const a = r.q.pop();
    expect(a && r.q.addUsed(a, 1)).toBe(true);
    const q2 = new SplitQueue({ memory: r.mem, maxSize: 8, onViolation: (c, d) => r.violations.push([c, d]) });
    q2.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false });
    expect(q2.pop()?.head).toBe(0); // served twice: what resume() prevents
    const q3 = new SplitQueue({ memory: r.mem, maxSize: 8, onViolation: (c, d) => r.violations.push([c, d]) });
    expect(q3.resume(0)).toBe(false); // inactive
    q3.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false });
    expect(q3.resume(70000)).toBe(false);
    expect(r.violations).toEqual([["avail-idx-jump", "vring base: expected 0..65535, got 70000"]]);
  });

  it("resume takes a base of 0..65535 exactly; a stopped queue's nextAvail is 0 again", () => {
    const fresh = (): { q: SplitQueue; violations: string[] } => {
      const violations: string[] = [];
      const q = new SplitQueue({ memory: memory(), maxSize: 8, onViolation: (_c, d) => violations.push(d) });
      q.activate({ size: 8, desc: DESC, avail: AVAIL, used: USED }, { eventIdx: false, indirect: false });
      return { q, violations };
    };
    for (const base of [0, 1, 65535]) {
      const { q, violations } = fresh();
      expect(q.resume(base), String(base)).toBe(true);
      expect(q.nextAvail).toBe(base);
      expect(violations).toEqual([]);
    }
    for (const base of [-1, 1.5, 65536, Number.NaN]) {
      const { q, violations } = fresh();
      expect(q.resume(base), String(base)).toBe(false);
      expect(violations).toEqual([`vring base: expected 0..65535, got ${String(base)}`]);
      expect(q.broken).toBe(true);
    }
    const { q } = fresh();
    expect(q.resume(7)).toBe(true);
    expect(q.nextAvail).toBe(7);
    q.deactivate();
    expect(q.nextAvail).toBe(0); // not the stale 7: GET_VRING_BASE of a stopped ring
  });
});
