// The byte and argument helpers every table and AML encoder goes through (src/bytes.ts): their
// boundaries, the exact errors they give (code, field, message), and the word-at-a-time checksum
// against a plain byte loop. Expected values are written out here, not computed by the code under
// test.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  byteSum,
  checkBool,
  checkBytes,
  checkInt,
  checkKey,
  checkU64,
  describe as describeValue,
  hex,
  isIntIn,
  isKeyOf,
  isU64,
  keyOf,
  keysByValue,
  need,
  readAscii,
  setChecksum,
  u32le,
  viewOf,
  writeAscii,
} from "../src/bytes.js";
import { acpiErrorOf as errorOf, sum8 } from "./helpers.js";

describe("byteSum and setChecksum (ACPI 6.4 §5.2.5.3, §5.2.6)", () => {
  it("equals a plain byte loop for any range of any buffer, aligned or not, short or long", () => {
    const reached = { short: 0, words: 0, flushed: 0, unaligned: 0, pastEnd: 0 };
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1400, size: "max" }),
        fc.nat(7),
        fc.nat(),
        fc.nat(),
        (bytes, shift, a, b) => {
          // A subarray at an odd offset of a larger buffer: the word loop must align itself.
          const host = new Uint8Array(bytes.length + 8);
          host.set(bytes, shift);
          const view = host.subarray(shift, shift + bytes.length);
          const start = bytes.length === 0 ? 0 : a % bytes.length;
          // Sometimes past the end of the buffer: the bytes that do not exist add nothing.
          const end = start + (b % (bytes.length - start + 100));
          let naive = 0;
          for (let i = start; i < Math.min(end, view.length); i++) naive += view[i] as number;
          expect(byteSum(view, start, end)).toBe(naive & 0xff);
          const n = end - start;
          if (n < 64) reached.short++;
          else reached.words++;
          if (n >= 4 * 128 + 64) reached.flushed++;
          if ((view.byteOffset + start) % 4 !== 0 && n >= 64) reached.unaligned++;
          if (end > view.length && n >= 64) reached.pastEnd++;
        },
      ),
      { numRuns: 400 },
    );
    // Every path of the word loop was taken: short ranges, words, a flush of the 16-bit lanes
    // after 128 words, an unaligned start, a range past the end of the buffer.
    for (const [path, count] of Object.entries(reached)) expect(count, path).toBeGreaterThan(10);
  });

  it("sums all-0xff runs exactly across the lane flush (the case where 16-bit lanes would carry)", () => {
    for (const n of [64, 511, 512, 513, 515, 516, 517, 1024, 4096, 4099]) {
      const b = new Uint8Array(n).fill(0xff);
      expect(byteSum(b, 0, n), String(n)).toBe((n * 0xff) & 0xff);
      expect(byteSum(b, 1, n), `${n} from 1`).toBe(((n - 1) * 0xff) & 0xff);
    }
  });

  it("setChecksum makes the range sum to zero, whatever the checksum byte held", () => {
    const b = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
    b[9] = 0xaa;
    setChecksum(b, 9, 0, 200);
    expect(sum8(b, 0, 200)).toBe(0);
    // only the checksum byte changed, and the bytes after the range were left alone
    expect(b[10]).toBe((10 * 37 + 11) & 0xff);
    expect(b[250]).toBe((250 * 37 + 11) & 0xff);
    // a range whose sum is already zero with a zero checksum byte keeps it zero
    const z = new Uint8Array(16);
    z[3] = 0x77;
    setChecksum(z, 3, 0, 16);
    expect(z[3]).toBe(0);
  });

  it("u32le and viewOf read little-endian words of a subarray", () => {
    const host = Uint8Array.from([9, 9, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff]);
    const b = host.subarray(2);
    expect(u32le(b, 0)).toBe(0x12345678);
    expect(u32le(b, 4)).toBe(0xffffffff);
    const v = viewOf(b);
    expect(v.byteLength).toBe(8);
    expect(v.getUint32(0, true)).toBe(0x12345678);
  });
});

describe("argument checks: codes, fields and messages", () => {
  it("isIntIn and checkInt accept exactly the integers in [min, max]", () => {
    for (const v of [0, 1, 254, 255]) {
      expect(isIntIn(v, 0, 255), String(v)).toBe(true);
      expect(checkInt("T.f", v, 0, 255)).toBe(v);
    }
    for (const v of [-1, 256, 1.5, Number.NaN, "1", 1n, undefined, null]) expect(isIntIn(v, 0, 255), String(v)).toBe(false);
    expect(errorOf(() => checkInt("T.f", "1", 0, 255))).toEqual({ code: "invalid-argument", field: "T.f", message: 'T.f: expected an integer 0..255, got "1"' });
    expect(errorOf(() => checkInt("T.f", 1.5, 0, 255))).toEqual({ code: "invalid-argument", field: "T.f", message: "T.f: expected an integer 0..255, got 1.5" });
    expect(errorOf(() => checkInt("T.f", undefined, 0, 255)).message).toBe("T.f: expected an integer 0..255, got undefined");
    expect(errorOf(() => checkInt("T.f", 256, 0, 255))).toEqual({ code: "out-of-range", field: "T.f", message: "T.f: expected 0..255, got 256" });
    expect(errorOf(() => checkInt("T.f", -1, 0, 255)).code).toBe("out-of-range");
    // numbers above 0xffff are written in hex, the range's too
    expect(errorOf(() => checkInt("T.g", 0x1_0000_0000, 1, 0xffffffff)).message).toBe("T.g: expected 1..0xffffffff, got 0x100000000");
    expect(errorOf(() => checkInt("T.g", 0, 1, 0xffffffff)).message).toBe("T.g: expected 1..0xffffffff, got 0");
  });

  it("hex is decimal up to 0xffff and 0x… above", () => {
    expect(hex(0)).toBe("0");
    expect(hex(0xffff)).toBe("65535");
    expect(hex(0x10000)).toBe("0x10000");
    expect(hex(0x10000n)).toBe("0x10000");
    expect(hex(0xffffn)).toBe("65535");
  });

  it("checkU64 takes bigints and safe integers up to 2^bits - 1, and says which", () => {
    expect(checkU64("X.a", 0)).toBe(0n);
    expect(checkU64("X.a", Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(checkU64("X.a", (1n << 64n) - 1n)).toBe((1n << 64n) - 1n);
    expect(checkU64("X.a", 0xffffffffn, 32)).toBe(0xffffffffn);
    expect(errorOf(() => checkU64("X.a", 2 ** 53))).toEqual({
      code: "invalid-argument",
      field: "X.a",
      message: "X.a: expected an integer 0..0xffffffffffffffff (number or bigint), got 9007199254740992",
    });
    expect(errorOf(() => checkU64("X.a", "1", 32)).message).toBe('X.a: expected an integer 0..0xffffffff (number or bigint), got "1"');
    expect(errorOf(() => checkU64("X.a", 1.5)).code).toBe("invalid-argument");
    expect(errorOf(() => checkU64("X.a", -1n))).toEqual({ code: "out-of-range", field: "X.a", message: "X.a: expected 0..0xffffffffffffffff, got -1" });
    expect(errorOf(() => checkU64("X.a", -1)).message).toBe("X.a: expected 0..0xffffffffffffffff, got -1");
    expect(errorOf(() => checkU64("X.a", 1n << 64n)).message).toBe("X.a: expected 0..0xffffffffffffffff, got 0x10000000000000000");
    expect(errorOf(() => checkU64("X.a", 0x1_0000_0000n, 32)).message).toBe("X.a: expected 0..0xffffffff, got 0x100000000");
    expect(errorOf(() => checkU64("X.a", 2n ** 48n, 48)).message).toBe("X.a: expected 0..0xffffffffffff, got 0x1000000000000");
  });

  it("isU64 agrees with checkU64 at 64 bits", () => {
    for (const v of [0, 0n, Number.MAX_SAFE_INTEGER, (1n << 64n) - 1n]) expect(isU64(v), String(v)).toBe(true);
    for (const v of [-1, -1n, 1n << 64n, 2 ** 53, 1.5, "0", null]) expect(isU64(v), String(v)).toBe(false);
  });

  it("checkBool and checkBytes name the field and what they got", () => {
    expect(checkBool("F.flag", false)).toBe(false);
    expect(checkBool("F.flag", true)).toBe(true);
    expect(errorOf(() => checkBool("F.flag", 1))).toEqual({ code: "invalid-argument", field: "F.flag", message: "F.flag: expected a boolean, got 1" });
    const bytes = new Uint8Array(2);
    expect(checkBytes("B", bytes)).toBe(bytes);
    expect(errorOf(() => checkBytes("B", [1, 2]))).toEqual({ code: "invalid-argument", field: "B", message: "B: expected a Uint8Array, got an array" });
    expect(errorOf(() => checkBytes("B", new Uint16Array(2))).message).toBe("B: expected a Uint8Array, got object");
  });

  it("isKeyOf and checkKey take own keys only, and list them", () => {
    const options = { Edge: 1, Level: 3 } as const;
    expect(isKeyOf("Edge", options)).toBe(true);
    expect(isKeyOf("toString", options)).toBe(false); // inherited, not an option
    expect(isKeyOf(1, options)).toBe(false);
    expect(checkKey("M.trigger", "Level", options)).toBe(3);
    expect(errorOf(() => checkKey("M.trigger", "level", options))).toEqual({
      code: "invalid-argument",
      field: "M.trigger",
      message: 'M.trigger: expected one of "Edge", "Level", got "level"',
    });
    expect(errorOf(() => checkKey("M.trigger", "constructor", options)).code).toBe("invalid-argument");
  });

  it("keyOf and keysByValue give the first key of a value; keysByValue only for 0..255", () => {
    const options = { A: 0, B: 7, C: 7, D: 255, E: 256, F: -1, G: 1.5 } as Record<string, number>;
    expect(keyOf(options, 7)).toBe("B");
    expect(keyOf(options, 256)).toBe("E");
    expect(keyOf(options, 8)).toBeUndefined();
    const t = keysByValue(options);
    expect(t.length).toBe(256);
    expect(t[0]).toBe("A");
    expect(t[7]).toBe("B");
    expect(t[255]).toBe("D");
    expect(t[1]).toBeUndefined();
    expect(t.filter((k) => k !== undefined)).toEqual(["A", "B", "D"]);
    // the values outside 0..255 and the non-integers are left out, not stored under other names
    expect(Object.keys(t).filter((k) => !/^\d+$/.test(k))).toEqual([]);
    // 256 entries even when no key has the value 255
    expect(keysByValue({ A: 1 }).length).toBe(256);
  });

  it("need says how many bytes were expected where, and where they end", () => {
    const b = new Uint8Array(10);
    need(b, 0, 10, "T");
    need(b, 10, 0, "T");
    expect(errorOf(() => need(b, 6, 5, "T.x"))).toEqual({ code: "truncated", field: "T.x", message: "T.x: expected 5 bytes at offset 6, but the bytes end at 10" });
    expect(errorOf(() => need(b, -1, 1, "T.x")).code).toBe("truncated");
  });

  it("describe: numbers, bigints, strings cut at 40 characters, null, arrays, other types", () => {
    expect(describeValue(12)).toBe("12");
    expect(describeValue(12n)).toBe("12");
    expect(describeValue("x".repeat(40))).toBe(JSON.stringify("x".repeat(40)));
    expect(describeValue("y".repeat(41))).toBe(JSON.stringify(`${"y".repeat(40)}…`));
    expect(describeValue(null)).toBe("null");
    expect(describeValue([])).toBe("an array");
    expect(describeValue({})).toBe("object");
    expect(describeValue(undefined)).toBe("undefined");
    expect(describeValue(true)).toBe("boolean");
  });
});

describe("fixed-width ASCII ids", () => {
  it("writeAscii pads with blanks to the width and writes nothing else", () => {
    const b = new Uint8Array(10).fill(0xee);
    writeAscii("FADT", ".header.oemId", "AB", b, 2, 6);
    expect([...b]).toEqual([0xee, 0xee, 0x41, 0x42, 0x20, 0x20, 0x20, 0x20, 0xee, 0xee]);
    writeAscii("FADT", ".header.oemId", "ABCDEF", b, 2, 6);
    expect(String.fromCharCode(...b.subarray(2, 8))).toBe("ABCDEF");
    writeAscii("FADT", ".x", "", b, 2, 6);
    expect(String.fromCharCode(...b.subarray(2, 8))).toBe("      ");
    expect(b[8]).toBe(0xee);
    // inner blanks and the printable ends of ASCII are fine
    writeAscii("T", ".x", " ~ a", b, 0, 4);
    expect(String.fromCharCode(...b.subarray(0, 4))).toBe(" ~ a");
  });

  it("writeAscii refuses, naming table and key: non-strings, too long or short, trailing blanks, non-printable characters", () => {
    const b = new Uint8Array(8);
    expect(errorOf(() => writeAscii("MADT", ".header.oemId", 5, b, 0, 6))).toEqual({
      code: "invalid-argument",
      field: "MADT.header.oemId",
      message: "MADT.header.oemId: expected a string, got 5",
    });
    const refused = (value: string, min = 0): string => {
      const e = errorOf(() => writeAscii("MADT", ".header.oemId", value, b, 0, 6, min));
      expect(e.code).toBe("bad-string");
      expect(e.field).toBe("MADT.header.oemId");
      return e.message;
    };
    expect(refused("ABCDEFG")).toBe('MADT.header.oemId: expected 0..6 printable ASCII characters without trailing blanks, got "ABCDEFG"');
    expect(refused("AB", 4)).toBe('MADT.header.oemId: expected 4..6 printable ASCII characters without trailing blanks, got "AB"');
    refused("AB ");
    refused("A\u001f");
    refused("\u007fA");
    refused("Aé");
    // the limits themselves are accepted
    writeAscii("MADT", ".header.oemId", "ABCD", b, 0, 6, 4);
    writeAscii("MADT", ".header.oemId", "\u0020A", b, 0, 6);
  });

  it("readAscii drops blank and NUL padding at the end only, and names a bad byte by its offset in the field", () => {
    const b = Uint8Array.from([0x58, 0x20, 0x41, 0x20, 0x42, 0x00, 0x20, 0x00, 0x59]);
    expect(readAscii("T", b, 1, 7)).toBe(" A B");
    expect(readAscii("T", b, 5, 3)).toBe("");
    // a NUL before the last printable byte is not padding
    expect(errorOf(() => readAscii("T", b, 0, 9)).message).toBe("T: expected printable ASCII, got byte 0x00 at offset 5");
    expect(errorOf(() => readAscii("T.oemId", Uint8Array.from([0x20, 0x41, 0x09, 0x42, 0x20]), 1, 3))).toEqual({
      code: "bad-string",
      field: "T.oemId",
      message: "T.oemId: expected printable ASCII, got byte 0x09 at offset 1",
    });
    expect(errorOf(() => readAscii("T", Uint8Array.from([0x41, 0x7f]), 0, 2)).message).toBe("T: expected printable ASCII, got byte 0x7f at offset 1");
    expect(errorOf(() => readAscii("T", Uint8Array.from([0x80, 0x41]), 0, 2)).message).toBe("T: expected printable ASCII, got byte 0x80 at offset 0");
  });
});
