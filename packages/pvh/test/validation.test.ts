// Argument checks of the start_info, module-list and memory-map codecs: which code and which
// message (field, limit, value found) each rejected input gives, the look-alike values the
// number/bigint checks must tell apart, and the exact bytes of u64 values given as numbers.
import { describe, expect, it } from "vitest";
import {
  decodeMemmap,
  decodeModlist,
  decodeStartInfo,
  encodeMemmap,
  encodeMemmapInto,
  encodeModlist,
  encodeModlistInto,
  encodeStartInfo,
  encodeStartInfoInto,
  isPvhError,
  PvhError,
  VERSION,
  type PvhErrorCode,
} from "@microvm/pvh";
import { readFileSync } from "node:fs";

import { err, thrown } from "./helpers/codes.ts";
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const U64_MSG = "expected 0..0xffffffffffffffff, got";
const SAFE_MSG = "expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got";

describe("start_info: every field's name and limit in its message", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["info null", () => encodeStartInfo(null as never), err("invalid-argument", "startInfo: expected an object, got null")],
    ["out a string", () => encodeStartInfoInto({}, "x" as never), err("invalid-argument", "out: expected a Uint8Array, got string")],
    ["offset -1", () => encodeStartInfoInto({}, new Uint8Array(56), -1), err("out-of-range", "offset: expected 0..0x1fffffffffffff, got -1")],
    ["offset 1 in 56 bytes", () => encodeStartInfoInto({}, new Uint8Array(56), 1), err("out-of-range", "out: needs 56 bytes at offset 1, but the buffer holds 56")],
    ["version 1.5", () => encodeStartInfo({ version: 1.5 }), err("out-of-range", "startInfo.version: expected 0..0xffffffff, got 1.5")],
    ["version 0", () => encodeStartInfo({ version: 0 }), err("out-of-range", "startInfo.version: expected 1..0xffffffff, got 0")],
    ["version 0n", () => encodeStartInfo({ version: 0n as never }), err("out-of-range", "startInfo.version: expected 1..0xffffffff, got 0")],
    ["flags a string", () => encodeStartInfo({ flags: "1" as never }), err("invalid-argument", "startInfo.flags: expected a number, got string")],
    ["nrModules -1", () => encodeStartInfo({ nrModules: -1 }), err("out-of-range", "startInfo.nrModules: expected 0..0xffffffff, got -1")],
    ["memmapEntries 2^32", () => encodeStartInfo({ memmapEntries: 2 ** 32 }), err("out-of-range", "startInfo.memmapEntries: expected 0..0xffffffff, got 4294967296")],
    ["modlistPaddr -1", () => encodeStartInfo({ modlistPaddr: -1 }), err("out-of-range", `startInfo.modlistPaddr: ${SAFE_MSG} -1`)],
    ["cmdlinePaddr 2^53", () => encodeStartInfo({ cmdlinePaddr: 2 ** 53 }), err("out-of-range", `startInfo.cmdlinePaddr: ${SAFE_MSG} 9007199254740992`)],
    ["rsdpPaddr -1n", () => encodeStartInfo({ rsdpPaddr: -1n }), err("out-of-range", `startInfo.rsdpPaddr: ${U64_MSG} -0x1`)],
    ["memmapPaddr 2^64", () => encodeStartInfo({ memmapPaddr: 1n << 64n }), err("out-of-range", `startInfo.memmapPaddr: ${U64_MSG} 0x10000000000000000`)],
    ["memmapPaddr a string", () => encodeStartInfo({ memmapPaddr: "5" as never }), err("invalid-argument", "startInfo.memmapPaddr: expected a number or a bigint, got string")],
    ["modlistPaddr null", () => encodeStartInfo({ modlistPaddr: null as never }), "no error"], // null is "absent" (?? 0)
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  // A u64 field given as a number, a bigint or a look-alike of either: only integers in range pass.
  const u64Rows: [string, unknown, PvhErrorCode | "no error"][] = [
    ["0", 0, "no error"],
    ["0n", 0n, "no error"],
    ["2^53-1", Number.MAX_SAFE_INTEGER, "no error"],
    ["2^64-1 (bigint)", (1n << 64n) - 1n, "no error"],
    ["-1", -1, "out-of-range"],
    ["-0.5", -0.5, "out-of-range"],
    ["0.5", 0.5, "out-of-range"],
    ["2^53", 2 ** 53, "out-of-range"],
    ["NaN", Number.NaN, "out-of-range"],
    ["Infinity", Number.POSITIVE_INFINITY, "out-of-range"],
    ["-1n", -1n, "out-of-range"],
    ["2^64", 1n << 64n, "out-of-range"],
    ['"5"', "5", "invalid-argument"],
    ['"0"', "0", "invalid-argument"],
    ["true", true, "invalid-argument"],
    ["{}", {}, "invalid-argument"],
    ["[1]", [1], "invalid-argument"],
  ];
  for (const field of ["modlistPaddr", "cmdlinePaddr", "rsdpPaddr", "memmapPaddr"] as const)
    it.each(u64Rows)(`${field} %s`, (_n, v, code) => {
      const r = thrown(() => encodeStartInfo({ [field]: v as never }));
      expect(r === "no error" ? r : r.code).toBe(code);
    });

  it("u32 fields take bigints in range as numbers", () => {
    const si = decodeStartInfo(encodeStartInfo({ version: 2n as never, flags: 0xffffffffn as never, nrModules: 0n as never, memmapEntries: 7n as never }));
    expect(si).toMatchObject({ version: 2, flags: 0xffffffff, nrModules: 0, memmapEntries: 7 });
    expect(thrown(() => encodeStartInfo({ flags: 0x1_0000_0000n as never }))).toEqual(err("out-of-range", "startInfo.flags: expected 0..0xffffffff, got 0x100000000"));
    expect(thrown(() => encodeStartInfo({ nrModules: -1n as never }))).toEqual(err("out-of-range", "startInfo.nrModules: expected 0..0xffffffff, got -0x1"));
  });

  it("u64 fields given as numbers above 4 GiB: low and high words, and the field before left alone", () => {
    const b = encodeStartInfo({
      nrModules: 0x11223344,
      modlistPaddr: 0x12_8765_4321, // high word 0x12, not a palindrome
      cmdlinePaddr: 0x1_0000_0000, // low word 0
      rsdpPaddr: 0xffff_ffff, // high word 0
      memmapPaddr: Number.MAX_SAFE_INTEGER,
      memmapEntries: 3,
    });
    expect(hexOf(b.subarray(12, 52))).toBe(
      "44332211" + "2143658712000000" + "0000000001000000" + "ffffffff00000000" + "ffffffffffff1f00" + "03000000",
    );
    expect(decodeStartInfo(b)).toMatchObject({ modlistPaddr: 0x12_8765_4321n, cmdlinePaddr: 0x1_0000_0000n, rsdpPaddr: 0xffff_ffffn, memmapPaddr: 2n ** 53n - 1n });
  });

  it("decode: messages name the structure and the value found (little-endian)", () => {
    const good = encodeStartInfo({});
    const with_ = (at: number, v: number): Uint8Array => {
      const b = good.slice();
      b[at] = v;
      return b;
    };
    expect(thrown(() => decodeStartInfo({} as never))).toEqual(err("invalid-argument", "bytes: expected a Uint8Array, got Object"));
    expect(thrown(() => decodeStartInfo(good, 1.5))).toEqual(err("out-of-range", "offset: expected 0..0x1fffffffffffff, got 1.5"));
    expect(thrown(() => decodeStartInfo(good.subarray(0, 50)))).toEqual(err("truncated", "hvm_start_info: needs 56 bytes at offset 0, got 50"));
    expect(thrown(() => decodeStartInfo(good, 60))).toEqual(err("truncated", "hvm_start_info: needs 56 bytes at offset 60, got 0"));
    expect(thrown(() => decodeStartInfo(with_(0, 0x79)))).toEqual(err("bad-magic", "hvm_start_info.magic: expected 0x336ec578, got 0x336ec579"));
    expect(thrown(() => decodeStartInfo(with_(4, 0)))).toEqual(err("unsupported-version", "hvm_start_info.version: expected 1 or more, got 0"));
    expect(thrown(() => decodeStartInfo(with_(52, 1)))).toEqual(err("reserved-not-zero", "hvm_start_info.reserved: expected 0, got 0x1"));
  });
});

describe("module list: field names and limits", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["modules not an array (Into)", () => encodeModlistInto(5 as never, new Uint8Array(32)), err("invalid-argument", "modules: expected an array, got number")],
    ["modules not an array", () => encodeModlist(undefined as never), err("invalid-argument", "modules: expected an array, got undefined")],
    ["out not bytes", () => encodeModlistInto([], [] as never), err("invalid-argument", "out: expected a Uint8Array, got Array")],
    ["offset a bigint past 2^53", () => encodeModlistInto([], new Uint8Array(0), 1n << 53n as never), err("out-of-range", "offset: expected 0..0x1fffffffffffff, got 0x20000000000000")],
    ["offset 2^53-1n is a valid offset, the room is not there", () => encodeModlistInto([], new Uint8Array(0), (1n << 53n) - 1n as never), err("out-of-range", "out: needs 0 bytes at offset 9007199254740991, but the buffer holds 0")],
    ["entry null", () => encodeModlist([null as never]), err("invalid-argument", "modules[0]: expected an object, got null")],
    ["entry 1 a number", () => encodeModlist([{ paddr: 0, size: 0 }, 7 as never]), err("invalid-argument", "modules[1]: expected an object, got number")],
    ["paddr -1", () => encodeModlist([{ paddr: -1, size: 0 }]), err("out-of-range", `modules[0].paddr: ${SAFE_MSG} -1`)],
    ["size 2^64", () => encodeModlist([{ paddr: 0, size: 1n << 64n }]), err("out-of-range", `modules[0].size: ${U64_MSG} 0x10000000000000000`)],
    ["cmdlinePaddr -1", () => encodeModlist([{ paddr: 0, size: 0, cmdlinePaddr: -1 }]), err("out-of-range", `modules[0].cmdlinePaddr: ${SAFE_MSG} -1`)],
    ["cmdlinePaddr a string", () => encodeModlist([{ paddr: 0, size: 0, cmdlinePaddr: "1" as never }]), err("invalid-argument", "modules[0].cmdlinePaddr: expected a number or a bigint, got string")],
    ["no room", () => encodeModlistInto([{ paddr: 0, size: 0 }], new Uint8Array(40), 9), err("out-of-range", "out: needs 32 bytes at offset 9, but the buffer holds 40")],
    ["decode bytes not bytes", () => decodeModlist(null as never, 0), err("invalid-argument", "bytes: expected a Uint8Array, got null")],
    ["decode count 2^32", () => decodeModlist(new Uint8Array(0), 2 ** 32), err("out-of-range", "count: expected 0..0xffffffff, got 4294967296")],
    ["decode offset a string", () => decodeModlist(new Uint8Array(0), 0, "0" as never), err("invalid-argument", "offset: expected a number, got string")],
    ["decode 2 in 40 bytes at 4", () => decodeModlist(new Uint8Array(40), 2, 4), err("truncated", "modlist: needs 64 bytes at offset 4, got 36")],
    ["decode reserved (little-endian)", () => decodeModlist(new Uint8Array(64).fill(1, 56, 57), 2), err("reserved-not-zero", "modlist[1].reserved: expected 0, got 0x1")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  it("an empty list writes nothing, even at the end of the buffer", () => {
    const out = new Uint8Array(8).fill(0xee);
    expect(encodeModlistInto([], out, 8)).toBe(0);
    expect(encodeModlist([])).toEqual(new Uint8Array(0));
    expect([...out]).toEqual(new Array(8).fill(0xee));
  });

  it("numbers above 4 GiB: exact bytes", () => {
    const b = encodeModlist([{ paddr: 0x12_8765_4321, size: 0x1_0000_0000, cmdlinePaddr: 0x3_0000_0005 }]);
    expect(hexOf(b)).toBe("2143658712000000" + "0000000001000000" + "0500000003000000" + "0000000000000000");
  });
});

describe("memory map: field names, look-alike values, bytes", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["entries not an array", () => encodeMemmap("x" as never), err("invalid-argument", "memmap: expected an array, got string")],
    ["entry null", () => encodeMemmap([null as never]), err("invalid-argument", "memmap[0]: expected an object, got null")],
    ["entry 1 undefined", () => encodeMemmap([{ addr: 0, size: 0, type: 1 }, undefined as never]), err("invalid-argument", "memmap[1]: expected an object, got undefined")],
    ["entry without a prototype", () => encodeMemmap([Object.create(null) as never]), err("invalid-argument", "memmap[0].addr: expected a number or a bigint, got undefined")],
    ["addr -1", () => encodeMemmap([{ addr: -1, size: 0, type: 1 }]), err("out-of-range", `memmap[0].addr: ${SAFE_MSG} -1`)],
    ["size -1n", () => encodeMemmap([{ addr: 0, size: -1n, type: 1 }]), err("out-of-range", `memmap[0].size: ${U64_MSG} -0x1`)],
    ["type -1", () => encodeMemmap([{ addr: 0, size: 0, type: -1 }]), err("out-of-range", "memmap[0].type: expected 0..0xffffffff, got -1")],
    ["type 1n << 32n", () => encodeMemmap([{ addr: 0, size: 0, type: (1n << 32n) as never }]), err("out-of-range", "memmap[0].type: expected 0..0xffffffff, got 0x100000000")],
    ["Into: out not bytes", () => encodeMemmapInto([], new ArrayBuffer(8) as never), err("invalid-argument", "out: expected a Uint8Array, got ArrayBuffer")],
    ["Into: offset 0.5", () => encodeMemmapInto([], new Uint8Array(8), 0.5), err("out-of-range", "offset: expected 0..0x1fffffffffffff, got 0.5")],
    ["Into: no room", () => encodeMemmapInto([{ addr: 0, size: 0, type: 1 }], new Uint8Array(30), 7), err("out-of-range", "out: needs 24 bytes at offset 7, but the buffer holds 30")],
    ["decode bytes not bytes", () => decodeMemmap([0] as never, 0), err("invalid-argument", "bytes: expected a Uint8Array, got Array")],
    ["decode bytes without a prototype", () => decodeMemmap(Object.create(null) as never, 0), err("invalid-argument", "bytes: expected a Uint8Array, got object")],
    ["decode count -1", () => decodeMemmap(new Uint8Array(0), -1), err("out-of-range", "count: expected 0..0xffffffff, got -1")],
    ["decode offset -1", () => decodeMemmap(new Uint8Array(0), 0, -1), err("out-of-range", "offset: expected 0..0x1fffffffffffff, got -1")],
    ["decode 1 at 20 of 10", () => decodeMemmap(new Uint8Array(10), 1, 20), err("truncated", "memmap: needs 24 bytes at offset 20, got 0")],
    ["decode 2 at 8 of 50", () => decodeMemmap(new Uint8Array(50), 2, 8), err("truncated", "memmap: needs 48 bytes at offset 8, got 42")],
    ["decode reserved (little-endian)", () => decodeMemmap(new Uint8Array(48).fill(1, 44, 45), 2), err("reserved-not-zero", "memmap[1].reserved: expected 0, got 0x1")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  // Values that look like a u64 to a careless check; the encoder must reject them (not write them).
  const looks: [string, unknown, PvhErrorCode | "no error"][] = [
    ["0", 0, "no error"],
    ["0n", 0n, "no error"],
    ["2^53-1", Number.MAX_SAFE_INTEGER, "no error"],
    ["2^64-1 (bigint)", (1n << 64n) - 1n, "no error"],
    ["-1", -1, "out-of-range"],
    ["-1.5", -1.5, "out-of-range"],
    ["0.5", 0.5, "out-of-range"],
    ["2^53", 2 ** 53, "out-of-range"],
    ["-1n", -1n, "out-of-range"],
    ["2^64", 1n << 64n, "out-of-range"],
    ['"5"', "5", "invalid-argument"],
    ["null", null, "invalid-argument"],
    ["undefined", undefined, "invalid-argument"],
    ["true", true, "invalid-argument"],
  ];
  for (const field of ["addr", "size"] as const)
    it.each(looks)(`${field} %s`, (_n, v, code) => {
      const entry = { addr: 0, size: 0, type: 1, [field]: v };
      const r = thrown(() => encodeMemmap([entry as never]));
      expect(r === "no error" ? r : r.code).toBe(code);
      if (r !== "no error") expect(r.message.startsWith(`memmap[0].${field}: `)).toBe(true);
    });
  // The same value in both fields: a check that is wrong the same way for both would let it through.
  it.each(looks)("addr and size both %s", (_n, v, code) => {
    const r = thrown(() => encodeMemmap([{ addr: v, size: v, type: 1 } as never]));
    expect(r === "no error" ? r : r.code).toBe(code);
    if (r !== "no error") expect(r.message.startsWith("memmap[0].addr: ")).toBe(true);
  });
  const types: [string, unknown, PvhErrorCode | "no error"][] = [
    ["0", 0, "no error"],
    ["0xffffffff", 0xffffffff, "no error"],
    ["1n", 1n, "no error"],
    ["-1", -1, "out-of-range"],
    ["0.5", 0.5, "out-of-range"],
    ["2^32", 2 ** 32, "out-of-range"],
    ["-1n", -1n, "out-of-range"],
    ['"1"', "1", "invalid-argument"],
    ["null", null, "invalid-argument"],
  ];
  it.each(types)("type %s", (_n, v, code) => {
    const r = thrown(() => encodeMemmap([{ addr: 0, size: 0, type: v as number }]));
    expect(r === "no error" ? r : r.code).toBe(code);
  });

  it("a bigint type is written as its number", () => {
    expect(decodeMemmap(encodeMemmap([{ addr: 0, size: 1, type: 7n as never }]), 1)).toEqual([{ addr: 0n, size: 1n, type: 7 }]);
  });

  it("numbers above 4 GiB and types: exact little-endian bytes", () => {
    const b = encodeMemmap([
      { addr: 0x12_8765_4321, size: 0x1_0000_0000, type: 0x0102_0304 },
      { addr: 0xffff_ffff, size: Number.MAX_SAFE_INTEGER, type: 0xffff_fffe },
    ]);
    expect(hexOf(b)).toBe(
      "2143658712000000" + "0000000001000000" + "04030201" + "00000000" + "ffffffff00000000" + "ffffffffffff1f00" + "feffffff" + "00000000",
    );
  });

  it("an empty map writes nothing, even at the end of the buffer", () => {
    const out = new Uint8Array(4).fill(0xee);
    expect(encodeMemmapInto([], out, 4)).toBe(0);
    expect([...out]).toEqual([0xee, 0xee, 0xee, 0xee]);
  });
});

describe("isPvhError and VERSION", () => {
  const rows: [string, unknown, boolean][] = [
    ["a PvhError", new PvhError("truncated", "x"), true],
    ["a plain object that looks like one", { name: "PvhError", code: "outside-ram" }, true],
    ["undefined", undefined, false],
    ["a string", "PvhError", false],
    ["a number", 5, false],
    ["another error with a known code", Object.assign(new Error("x"), { code: "truncated" }), false],
    ["a named object with a known code", { name: "RangeError", code: "out-of-range" }, false],
    ["no name, a known code", { code: "truncated" }, false],
    ["the right name, an unknown code", { name: "PvhError", code: "ENOENT" }, false],
    ["the right name, no code", { name: "PvhError" }, false],
  ];
  it.each(rows)("%s", (_n, v, want) => {
    expect(isPvhError(v)).toBe(want);
  });

  it("VERSION is the package's version", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
