import { describe, expect, it } from "vitest";
import { RingReader, RingWriter, createRing } from "../src/index.js";

describe("byte ring", () => {
  it("passes bytes through in order, across the wrap-around", async () => {
    const sab = createRing(16);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    const got: number[] = [];
    for (let round = 0; round < 10; round++) {
      const chunk = Uint8Array.from({ length: 7 }, (_, i) => (round * 7 + i) & 0xff);
      expect(w.write(chunk)).toBe(7);
      got.push(...((await r.read()) ?? []));
    }
    expect(got).toEqual(Array.from({ length: 70 }, (_, i) => i));
    expect(r.dropped()).toBe(0);
  });

  it("drops what does not fit and counts it, never blocking the writer", () => {
    const sab = createRing(16);
    const w = new RingWriter(sab);
    expect(w.write(new Uint8Array(20).fill(1))).toBe(16);
    expect(w.write(Uint8Array.of(2))).toBe(0);
    const r = new RingReader(sab);
    expect(r.dropped()).toBe(5);
    expect(r.take().length).toBe(16);
    expect(w.write(Uint8Array.of(3))).toBe(1);
  });

  it("wakes a waiting reader, and ends it on close once drained", async () => {
    const sab = createRing(64);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    const first = r.read();
    setTimeout(() => w.write(Uint8Array.of(9, 8)), 20);
    expect([...((await first) ?? [])]).toEqual([9, 8]);
    const second = r.read();
    setTimeout(() => {
      w.write(Uint8Array.of(7));
      w.close();
    }, 20);
    expect([...((await second) ?? [])]).toEqual([7]);
    expect(await r.read()).toBeNull();
  });

  it("refuses a capacity that is not a power of two", () => {
    expect(() => createRing(100)).toThrow(RangeError);
  });
});
