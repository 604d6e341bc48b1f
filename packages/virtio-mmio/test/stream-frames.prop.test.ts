import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeStreamFrame, isVirtioError, StreamFrameDecoder, STREAM_FRAME_HEADER, STREAM_FRAME_MAX, writeStreamFrame } from "../src/index.js";

/** Cuts `bytes` at the given offsets (sorted, deduplicated, clamped). */
function cut(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => Math.min(a, bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("stream frames", () => {
  it("encodes the length big-endian in front of the frame", () => {
    expect([...encodeStreamFrame(new Uint8Array([9, 8, 7]))]).toEqual([0, 0, 0, 3, 9, 8, 7]);
    const big = encodeStreamFrame(new Uint8Array(0x1_02_03));
    expect([...big.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect(big.length).toBe(0x1_02_03 + STREAM_FRAME_HEADER);
  });

  it("writes frames back to back into one buffer, and refuses one that does not fit", () => {
    const buf = new Uint8Array(12).fill(0xee);
    expect(writeStreamFrame(new Uint8Array([1, 2]), buf, 0)).toBe(6);
    expect(writeStreamFrame(new Uint8Array([3, 4]), buf, 6)).toBe(6);
    expect([...buf]).toEqual([0, 0, 0, 2, 1, 2, 0, 0, 0, 2, 3, 4]);
    const big = new Uint8Array(0x1_02_03 + 4);
    writeStreamFrame(new Uint8Array(0x1_02_03), big, 0);
    expect([...big.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect(() => writeStreamFrame(new Uint8Array(3), buf, 6)).toThrow("offset: a 7-byte stream frame does not fit at 6 in 12 bytes");
    expect(() => writeStreamFrame(new Uint8Array(0), buf, -1)).toThrow("does not fit at -1");
    expect(writeStreamFrame(new Uint8Array(2), buf, 6)).toBe(6); // exactly to the end
  });

  it("decodes any sequence of frames whatever the chunking (property, sizes to 1600 bytes and 40 frames)", () => {
    // Outcomes the property must reach: frames returned as views (whole in one chunk), frames
    // assembled across chunks, prefixes split across chunks, empty frames skipped.
    const seen = { view: 0, assembled: 0, splitPrefix: 0, empty: 0, maxFrames: 0, maxLen: 0 };
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 1600, size: "max" }), { minLength: 0, maxLength: 40, size: "max" }),
        fc.array(fc.nat({ max: 70_000 }), { maxLength: 60, size: "max" }),
        (frames, cuts) => {
          const stream = concat(frames.map(encodeStreamFrame));
          const chunks = cut(stream, cuts);
          const dec = new StreamFrameDecoder();
          const got: Uint8Array[] = [];
          let offset = 0;
          for (const c of chunks) {
            const before = dec.buffered;
            if (before > 0 && before < STREAM_FRAME_HEADER && c.length > 0) seen.splitPrefix++;
            for (const f of dec.push(c)) {
              if (f.buffer === c.buffer) seen.view++;
              else seen.assembled++;
              got.push(f.slice());
            }
            offset += c.length;
          }
          dec.end();
          expect(offset).toBe(stream.length);
          const nonEmpty = frames.filter((f) => f.length > 0);
          expect(got.length).toBe(nonEmpty.length);
          got.forEach((f, i) => expect(Buffer.compare(f, nonEmpty[i] as Uint8Array)).toBe(0));
          expect(dec.empty).toBe(frames.length - nonEmpty.length);
          expect(dec.buffered).toBe(0);
          seen.empty += dec.empty;
          seen.maxFrames = Math.max(seen.maxFrames, frames.length);
          seen.maxLen = Math.max(seen.maxLen, ...frames.map((f) => f.length));
        },
      ),
      { numRuns: 200 },
    );
    expect(seen.view).toBeGreaterThan(0);
    expect(seen.assembled).toBeGreaterThan(0);
    expect(seen.splitPrefix).toBeGreaterThan(0);
    expect(seen.empty).toBeGreaterThan(0);
    expect(seen.maxFrames).toBeGreaterThanOrEqual(30);
    expect(seen.maxLen).toBeGreaterThanOrEqual(1200);
  });

  it("takes a frame of exactly maxFrame and refuses maxFrame + 1 with the length and the limit", () => {
    const ok = new StreamFrameDecoder({ maxFrame: 100 });
    expect(ok.push(encodeStreamFrame(new Uint8Array(100)))[0]?.length).toBe(100);
    for (const split of [false, true]) {
      const dec = new StreamFrameDecoder({ maxFrame: 100 });
      const bad = encodeStreamFrame(new Uint8Array(101));
      const run = (): void => {
        if (split) {
          dec.push(bad.subarray(0, 2));
          dec.push(bad.subarray(2));
        } else dec.push(bad);
      };
      let err: unknown;
      try {
        run();
      } catch (e) {
        err = e;
      }
      expect(isVirtioError(err) && err.code).toBe("out-of-range");
      expect((err as Error).message).toBe("stream frame: length 101 exceeds maxFrame 100");
      // The connection is unusable from there on: every later push and the end fail the same way.
      expect(() => dec.push(encodeStreamFrame(new Uint8Array(1)))).toThrow("length 101 exceeds maxFrame 100");
      expect(() => dec.end()).toThrow("length 101 exceeds maxFrame 100");
    }
    // The default limit is QEMU's NET_BUFSIZE.
    const dflt = new StreamFrameDecoder();
    expect(dflt.maxFrame).toBe(STREAM_FRAME_MAX);
    expect(() => dflt.push(new Uint8Array([0, 1, 0x10, 0x01]))).toThrow(`length ${STREAM_FRAME_MAX + 1} exceeds maxFrame ${STREAM_FRAME_MAX}`);
    // The top bit is a length, not a sign.
    expect(() => new StreamFrameDecoder().push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(`length 4294967295 exceeds maxFrame ${STREAM_FRAME_MAX}`);
  });

  it("says how far a stream that ends inside a prefix or a frame got", () => {
    const a = new StreamFrameDecoder();
    a.push(new Uint8Array([0, 0, 0]));
    expect(() => a.end()).toThrow("the stream ended inside a length prefix (3 of 4 bytes)");
    const b = new StreamFrameDecoder();
    b.push(new Uint8Array([0, 0, 0, 10, 1, 2]));
    expect(b.buffered).toBe(2);
    let err: unknown;
    try {
      b.end();
    } catch (e) {
      err = e;
    }
    expect(isVirtioError(err) && err.code).toBe("truncated");
    expect((err as Error).message).toBe("stream frame: the stream ended inside a frame (2 of 10 bytes)");
    const c = new StreamFrameDecoder();
    c.push(new Uint8Array([0, 0, 0, 1]));
    expect(() => c.end()).toThrow("(0 of 1 bytes)");
  });

  it("refuses a maxFrame outside 1..2^32-1", () => {
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => new StreamFrameDecoder({ maxFrame: bad })).toThrow(`maxFrame: expected an integer in 1..4294967295, got ${String(bad)}`);
    }
    expect(new StreamFrameDecoder({ maxFrame: 2 ** 32 - 1 }).maxFrame).toBe(2 ** 32 - 1);
  });
});
