import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FeatureBits, GuestMemory, isVirtioError, VirtioError } from "../src/index.ts";

function expectCode(fn: () => unknown, code: string, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isVirtioError(e)).toBe(true);
    expect((e as VirtioError).code).toBe(code);
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error("expected a VirtioError");
}

describe("GuestMemory", () => {
  const ram = new Uint8Array(0x2000);
  const high = new Uint8Array(new SharedArrayBuffer(0x1000));
  const mem = new GuestMemory([
    { guestAddress: 0x1_0000_0000n, bytes: high },
    { guestAddress: 0n, bytes: ram.subarray(0, 0x1000) },
    { guestAddress: 0x1000, bytes: ram.subarray(0x1000).buffer.slice(0x1000) },
  ]);

  it("sorts regions and reports them with bigint addresses", () => {
    expect(mem.regions.map((r) => [r.guestAddress, r.size])).toEqual([
      [0n, 0x1000],
      [0x1000n, 0x1000],
      [0x1_0000_0000n, 0x1000],
    ]);
  });

  it("reads and writes little-endian u8..u64, bigint and number addresses", () => {
    mem.write32(0x10n, 0x11223344);
    expect(ram[0x10]).toBe(0x44);
    expect(ram[0x13]).toBe(0x11);
    expect(mem.read16(0x11)).toBe(0x2233);
    expect(mem.read8(0x13n)).toBe(0x11);
    mem.write64(0x1_0000_0ff8n, 0x8877665544332211n);
    expect(high[0xff8]).toBe(0x11);
    expect(high[0xfff]).toBe(0x88);
    expect(mem.read64(0x1_0000_0ff8n)).toBe(0x8877665544332211n);
    mem.write16(0x20, 0xbeef);
    expect(mem.read32(0x20)).toBe(0xbeef);
    mem.write8(0x30, 255);
    expect(mem.read8(0x30)).toBe(255);
  });

  it("crosses adjacent regions for scalars and copies, but not for views", () => {
    mem.write32(0xffe, 0xa1b2c3d4); // 2 bytes in each region
    expect(mem.read32(0xffe)).toBe(0xa1b2c3d4);
    mem.write64(0xffc, 0x0102030405060708n);
    expect(mem.read64(0xffc)).toBe(0x0102030405060708n);
    const data = new Uint8Array(64).map((_, i) => i);
    mem.write(0xfe0, data);
    const back = new Uint8Array(64);
    mem.read(0xfe0, back);
    expect(back).toEqual(data);
    expect(mem.contains(0xfe0, 0x1020)).toBe(true);
    expectCode(() => mem.view(0xfe0, 64), "not-contiguous", /0xfe0\+64/);
    expect(mem.tryView(0xfe0, 64)).toBeUndefined();
    const v = mem.view(0xfe0, 32);
    v[0] = 0x99;
    expect(mem.read8(0xfe0)).toBe(0x99);
    mem.fill(0xff0, 32, 7);
    expect(mem.read32(0xffe)).toBe(0x07070707);
  });

  it("bounds: last byte in, one past out, everywhere", () => {
    expect(mem.contains(0x1fff, 1)).toBe(true);
    expect(mem.contains(0x1fff, 2)).toBe(false);
    expect(mem.contains(0x2000, 0)).toBe(true); // an empty range at a region's end
    expect(mem.contains(0x2001, 0)).toBe(false);
    expect(mem.read8(0x1fff)).toBeTypeOf("number");
    expectCode(() => mem.read8(0x2000), "out-of-bounds", /0x2000\+1 is outside every guest memory region/);
    expectCode(() => mem.read16(0x1fff), "out-of-bounds");
    expectCode(() => mem.read64(0x1_0000_0ff9n), "out-of-bounds");
    expectCode(() => mem.write(0x1ff0, new Uint8Array(17)), "out-of-bounds");
    expectCode(() => mem.read8(2n ** 64n - 1n), "out-of-bounds", /beyond 2\^53/);
    expectCode(() => mem.view(0x0fff_ffffn, 2), "out-of-bounds");
  });

  it("nothing is written when an access is out of bounds", () => {
    mem.fill(0x1ff0, 16, 0xaa);
    expectCode(() => mem.write(0x1ff0, new Uint8Array(32)), "out-of-bounds");
    expectCode(() => mem.fill(0x1ff0, 32), "out-of-bounds");
    expect(mem.read8(0x1ff0)).toBe(0xaa);
  });

  it("validates arguments", () => {
    expectCode(() => mem.read8(-1), "invalid-argument");
    expectCode(() => mem.read8(-1n), "out-of-range");
    expectCode(() => mem.read8(1.5), "invalid-argument");
    expectCode(() => mem.write8(0, 256), "out-of-range", /value: expected an integer in 0\.\.255, got 256/);
    expectCode(() => mem.write16(0, -1), "out-of-range");
    expectCode(() => mem.write32(0, 2 ** 32), "out-of-range");
    expectCode(() => mem.write64(0, 2n ** 64n), "out-of-range");
    expectCode(() => mem.view(0, -1), "invalid-argument");
    expectCode(
      () => new GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(16) }, { guestAddress: 8n, bytes: new Uint8Array(16) }]),
      "out-of-range",
      /overlaps/,
    );
    expectCode(() => new GuestMemory([{ guestAddress: 2n ** 53n, bytes: new Uint8Array(16) }]), "out-of-range");
    expectCode(() => new GuestMemory([{ guestAddress: 0n, bytes: "nope" as never }]), "invalid-argument");
    expect(isVirtioError(new Error("x"))).toBe(false);
    expect(isVirtioError({ name: "VirtioError", code: "made-up" })).toBe(false);
    expect(isVirtioError({ name: "VirtioError", code: "out-of-bounds" })).toBe(true);
  });

  it("calls the access hook before every access, including failing ones", () => {
    const log: [number, number, string, boolean][] = [];
    const m = new GuestMemory([{ guestAddress: 0x100n, bytes: new Uint8Array(0x100) }], {
      onAccess: (a, n, k, inside) => log.push([a, n, k, inside]),
    });
    m.read32(0x100);
    m.write(0x180, new Uint8Array(4));
    m.contains(0x1ff, 2);
    m.view(0x110, 8);
    expectCode(() => m.read8(0x200), "out-of-bounds");
    expect(log).toEqual([
      [0x100, 4, "read", true],
      [0x180, 4, "write", true],
      [0x1ff, 2, "check", false],
      [0x110, 8, "view", true],
      [0x200, 1, "read", false],
    ]);
  });

  it("checks a list of ranges at once", () => {
    const addrs = new Float64Array([0x10, 0xff0, 0x1_0000_0000, 0x2000, Number.NaN]);
    const lens = new Uint32Array([16, 0x20, 0x1000, 1, 1]);
    expect(mem.firstOutside(addrs, lens, 3)).toBe(-1); // the second crosses into the adjacent region
    expect(mem.firstOutside(addrs, lens, 5)).toBe(3);
    expect(mem.firstOutside([0x2000, 5], [0, 1], 2)).toBe(-1); // empty ranges touch nothing
    expect(mem.firstOutside([-1], [1], 1)).toBe(0);
    expect(mem.firstOutside([2 ** 60], [1], 1)).toBe(0);
  });

  it("checks a list of ranges against the region used last up to its last byte, and not one past it", () => {
    // One region: every range is first tested against the region that served the previous access
    // (the fast path taken by descriptor chains), here always this one.
    const one = new GuestMemory([{ guestAddress: 0x1000n, bytes: new Uint8Array(0x1000) }]);
    one.read8(0x1000);
    expect(one.firstOutside([0x1ffc], [4], 1)).toBe(-1);
    expect(one.firstOutside([0x1ffc], [5], 1)).toBe(0);
    expect(one.firstOutside([0xfff], [4], 1)).toBe(0);
    expect(one.firstOutside([0x1000 + 0.5], [4], 1)).toBe(0);
  });

  it("can be subclassed", () => {
    class Counting extends GuestMemory {
      reads = 0;
      override read32(a: bigint | number): number {
        this.reads++;
        return super.read32(a);
      }
    }
    const m = new Counting([{ guestAddress: 0n, bytes: new Uint8Array(8) }]);
    m.read32(4);
    expect(m.reads).toBe(1);
  });
});

describe("GuestMemory.regionAt", () => {
  const low = new Uint8Array(0x1000);
  const next = new Uint8Array(0x1000); // adjacent to low
  const far = new Uint8Array(0x1000);
  const regions = [
    { guestAddress: 0x1000n, bytes: low },
    { guestAddress: 0x2000n, bytes: next },
    { guestAddress: 0x10_0000n, bytes: far },
  ];

  it("hands out the region holding a whole range, whichever region served the access before", () => {
    const mem = new GuestMemory(regions);
    for (const [addr, len, bytes, start] of [
      [0x1000, 0x1000, low, 0x1000],
      [0x10_0ff0, 16, far, 0x10_0000],
      [0x2ffc, 4, next, 0x2000],
      [0x1ffc, 4, low, 0x1000],
      [0x10_0000, 0, far, 0x10_0000],
    ] as const) {
      const r = mem.regionAt(addr, len);
      expect(r?.bytes, `${addr.toString(16)}+${len}`).toBe(bytes);
      expect(r?.start).toBe(start);
      expect(r?.end).toBe(start + 0x1000);
      // The view is the same memory: a write through it is a guest write.
      r?.view.setUint8(addr - start, 0x5a);
      if (len > 0) expect(mem.read8(addr)).toBe(0x5a);
    }
  });

  it("has no region for a range that crosses regions, leaves them, or is not a plain address, and none while a hook watches", () => {
    const mem = new GuestMemory(regions);
    expect(mem.regionAt(0x1ffc, 8)).toBeUndefined(); // crosses into the adjacent region
    expect(mem.regionAt(0x2ffc, 8)).toBeUndefined(); // runs past the end
    expect(mem.regionAt(0x800, 4)).toBeUndefined(); // below every region
    expect(mem.regionAt(0x10_1000, 1)).toBeUndefined(); // one past the far region
    for (const bad of [-4, 4096.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 2]) expect(mem.regionAt(bad, 4)).toBeUndefined();
    expect(mem.regionAt(0x1000, -1)).toBeUndefined();
    expect(mem.regionAt(0x1000, 1.5)).toBeUndefined();
    const seen: number[] = [];
    const hooked = new GuestMemory(regions, { onAccess: (a) => void seen.push(a) });
    expect(hooked.regionAt(0x1000, 4)).toBeUndefined();
    expect(seen).toEqual([]); // nothing was accessed
  });
});

describe("FeatureBits", () => {
  it("answers every bit of a mask as the bigint does, across both words and above them", () => {
    const f = new FeatureBits();
    const reached = { low: 0, high: 0, above: 0, set: 0 };
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }), fc.integer({ min: 0, max: 90 }), (mask, bit) => {
        f.value = mask;
        expect(f.value).toBe(mask);
        const want = ((mask >> BigInt(bit)) & 1n) === 1n;
        expect(f.has(bit)).toBe(want);
        reached[bit < 32 ? "low" : bit < 64 ? "high" : "above"]++;
        if (want) reached.set++;
      }),
      { numRuns: 2000 },
    );
    expect(reached.low).toBeGreaterThan(400);
    expect(reached.high).toBeGreaterThan(400);
    expect(reached.above).toBeGreaterThan(200);
    expect(reached.set).toBeGreaterThan(600);
    f.value = (1n << 31n) | (1n << 63n);
    expect([f.has(31), f.has(63), f.has(32), f.has(0)]).toEqual([true, true, false, false]);
    // Not bit numbers: never set, whatever the mask (a fraction is not its integer part).
    f.value = (1n << 80n) - 1n;
    for (const bad of [-1, 1.5, 33.5, 70.5, -33, Number.NaN, Number.POSITIVE_INFINITY]) expect(f.has(bad), String(bad)).toBe(false);
  });
});
