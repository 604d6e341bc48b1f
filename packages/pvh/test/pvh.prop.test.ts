// fast-check properties. fast-check prints the seed and the shrunk counterexample on failure;
// rerun one with `fc.assert(..., { seed, path })`. fast-check's default size stops arrays at about
// 10 items whatever their maxLength, so where a limit matters (127 memmap entries, 600-byte
// inputs) lengths are drawn explicitly, the limit included, and counters assert it was reached.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildE820,
  decodeMemmap,
  decodeModlist,
  decodeStartInfo,
  encodeMemmap,
  encodeModlist,
  encodeStartInfo,
  isPvhError,
  layoutPvhBoot,
  MemmapType,
  readPvhKernel,
  type PvhErrorCode,
  type PvhKernel,
} from "@microvm/pvh";
import { buildFixtures, type Fixtures } from "./helpers/toolchain.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** A length in [min, max]: one of the two bounds a quarter of the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 3, arbitrary: fc.integer({ min, max }) });
/** An array of `arb` whose length is drawn by {@link lengthIn}. */
const arrayIn = <T>(arb: fc.Arbitrary<T>, min: number, max: number): fc.Arbitrary<T[]> =>
  lengthIn(min, max).chain((n) => fc.array(arb, { minLength: n, maxLength: n }));

describe("round trips", () => {
  it("start_info: decode(encode(x)) = x, 56 bytes", () => {
    fc.assert(
      fc.property(
        fc.record({
          version: fc.integer({ min: 1, max: 0xffffffff }),
          flags: u32,
          nrModules: u32,
          modlistPaddr: u64,
          cmdlinePaddr: u64,
          rsdpPaddr: u64,
          memmapPaddr: u64,
          memmapEntries: u32,
        }),
        (si) => {
          const b = encodeStartInfo(si);
          expect(b.length).toBe(56);
          expect(decodeStartInfo(b)).toEqual(si);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("module list: decode(encode(x)) = x, 32 bytes per entry, up to 20 modules", () => {
    const lengths = new Set<number>();
    fc.assert(
      fc.property(arrayIn(fc.record({ paddr: u64, size: u64, cmdlinePaddr: u64 }), 0, 20), (mods) => {
        lengths.add(mods.length);
        const b = encodeModlist(mods);
        expect(b.length).toBe(32 * mods.length);
        expect(decodeModlist(b, mods.length)).toEqual(mods);
      }),
      { numRuns: 300 },
    );
    expect([lengths.has(0), lengths.has(20)]).toEqual([true, true]);
  });

  it("memory map: decode(encode(x)) = x, 24 bytes per entry, up to 127 entries", () => {
    const lengths = new Set<number>();
    fc.assert(
      fc.property(arrayIn(fc.record({ addr: u64, size: u64, type: u32 }), 0, 127), (map) => {
        lengths.add(map.length);
        const b = encodeMemmap(map);
        expect(b.length).toBe(24 * map.length);
        expect(decodeMemmap(b, map.length)).toEqual(map);
      }),
      { numRuns: 300 },
    );
    // The limit layoutPvhBoot accepts (127 entries, as Firecracker's E820 table) was round-tripped.
    expect([lengths.has(0), lengths.has(127)]).toEqual([true, true]);
    expect(lengths.size).toBeGreaterThan(50);
  });
});

describe("buildE820", () => {
  // Ranges on a coarse grid so overlaps, adjacency and the gap are all common.
  const G = 0x1000_0000n;
  const range = fc.record({ start: fc.bigInt({ min: 0n, max: 40n }).map((x) => x * G), size: fc.bigInt({ min: 0n, max: 12n }).map((x) => x * G) });
  const rangeFine = fc.record({ start: fc.bigInt({ min: 0n, max: 0x2_0000n }), size: fc.bigInt({ min: 0n, max: 0x8000n }) });

  function oracle(ram: readonly { start: bigint; size: bigint }[], res: readonly { start: bigint; size: bigint }[], a: bigint): number | undefined {
    const inR = (rs: readonly { start: bigint; size: bigint }[]): boolean => rs.some((r) => r.start <= a && a < r.start + r.size);
    if (inR(res)) return MemmapType.RESERVED;
    if (inR(ram) && !(a >= 0xc000_0000n && a < 0x1_0000_0000n)) return MemmapType.RAM;
    return undefined;
  }

  for (const [label, arb] of [["coarse", range], ["fine", rangeFine]] as const) {
    it(`sorted, disjoint, merged, and every address classified as an oracle says (${label})`, () => {
      fc.assert(
        fc.property(fc.array(arb, { maxLength: 12, size: "max" }), fc.array(arb, { maxLength: 12, size: "max" }), (ram, reserved) => {
          const map = buildE820({ ram, reserved });
          for (let i = 0; i < map.length; i++) {
            const e = map[i];
            if (!e) throw new Error("hole");
            expect(e.size > 0n).toBe(true);
            const next = map[i + 1];
            if (next) {
              expect(e.addr + e.size <= next.addr).toBe(true); // sorted and disjoint
              if (e.addr + e.size === next.addr) expect(e.type).not.toBe(next.type); // merged
            }
          }
          // Probe every boundary and its neighbours.
          const probes = new Set<bigint>([0xc000_0000n - 1n, 0xc000_0000n, 0xffff_ffffn, 0x1_0000_0000n]);
          for (const r of [...ram, ...reserved]) for (const p of [r.start, r.start + r.size]) for (const d of [-1n, 0n, 1n]) if (p + d >= 0n) probes.add(p + d);
          for (const a of probes) {
            const hit = map.find((e) => e.addr <= a && a < e.addr + e.size);
            expect(hit?.type).toBe(oracle(ram, reserved, a));
          }
        }),
        { numRuns: 400 },
      );
    });
  }
});

let fx: Fixtures;
beforeAll(() => {
  fx = buildFixtures();
});

function checkInside(file: Uint8Array, k: PvhKernel): void {
  for (const s of k.segments) {
    expect(s.bytes.buffer).toBe(file.buffer);
    expect(s.bytes.byteOffset - file.byteOffset).toBe(s.offset);
    expect(s.offset + s.bytes.length <= file.length).toBe(true);
    expect(s.memsz >= BigInt(s.bytes.length)).toBe(true);
  }
  for (const n of k.xenNotes) {
    expect(n.desc.buffer).toBe(file.buffer);
    expect(n.desc.byteOffset >= file.byteOffset && n.desc.byteOffset + n.desc.length <= file.byteOffset + file.length).toBe(true);
  }
  expect(k.entry <= 0xffffffffn).toBe(true);
}

/** "ok" with a description that stays inside the file, or the PvhError's code; anything else thrown fails. */
function outcomeOf(file: Uint8Array): "ok" | PvhErrorCode {
  try {
    checkInside(file, readPvhKernel(file));
    return "ok";
  } catch (e) {
    if (isPvhError(e)) return e.code;
    throw e;
  }
}

function valueOrPvhError(file: Uint8Array): "ok" | "error" {
  return outcomeOf(file) === "ok" ? "ok" : "error";
}

/** `common` most of the time, else one of `rare` (fc.constantFrom would favour its first value). */
const mostly = <T>(common: T, ...rare: T[]): fc.Arbitrary<T> =>
  fc.oneof({ weight: 2 * rare.length, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
/**
 * Random ELF-like images of up to 600 bytes, made gradually more ELF-like so that every check of
 * readPvhKernel runs: level 0 is noise; 1 an e_ident (one field possibly wrong); 2 an ELF header
 * (machine, phoff, phentsize, phnum possibly wrong) over random program headers; 3 program
 * headers of PT_LOAD, PT_NOTE and other types with fields mostly inside the file (else random,
 * overflowing, overlapping, memsz short, or a second PT_NOTE over the whole file), and a PVH note
 * (its descriptor possibly short, its entry possibly outside the loaded bytes or above 4 GiB).
 */
const phdrArb = fc.record({
  type: mostly(1, 0, 4, 6), // PT_LOAD; PT_NULL, PT_NOTE, PT_PHDR
  fields: mostly("sane", "raw", "overflow", "short-memsz", "overlap", "whole-file-note"),
  offset: fc.nat(640),
  filesz: fc.integer({ min: 1, max: 96 }),
  bss: fc.nat(0x1000),
  gap: fc.nat(0x2000),
  raw: fc.tuple(u64, u64, u64, u64),
});
const elfish = fc.record({
  bytes: lengthIn(0, 600).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  level: mostly(3, 0, 1, 2),
  is64: fc.boolean(),
  flaw: fc.oneof(
    { weight: 3, arbitrary: fc.constant("none" as const) },
    { weight: 1, arbitrary: fc.constantFrom("magic", "class", "data", "version", "machine", "phentsize", "xnum", "phoff") },
  ),
  phnum: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 8, arbitrary: fc.integer({ min: 1, max: 5 }) }),
  phdrs: fc.array(phdrArb, { minLength: 5, maxLength: 5 }),
  note: fc.record({
    present: mostly(true, false),
    type: mostly(18, 17),
    descsz: mostly(8, 4, 2),
    entry: mostly("loaded", "unloaded", "above-4g"),
    overrun: mostly(0, 1, 40),
  }),
  entryOffset: fc.nat(),
});

function shapeElf(x: typeof elfish extends fc.Arbitrary<infer R> ? R : never): Uint8Array {
  const b = x.bytes.slice();
  const dv = new DataView(b.buffer);
  const eh = x.is64 ? 64 : 52;
  const pe = x.is64 ? 56 : 32;
  if (x.level < 1 || b.length < 16) return b;
  b.set([0x7f, 0x45, 0x4c, 0x46, x.is64 ? 2 : 1, 1, 1]);
  if (x.flaw === "magic") b[1] = 0x46;
  if (x.flaw === "class") b[4] = 3;
  if (x.flaw === "data") b[5] = 2;
  if (x.flaw === "version") b[6] = 0;
  if (x.level < 2 || b.length < eh) return b;
  dv.setUint16(16, 2, true);
  dv.setUint16(18, x.flaw === "machine" ? 40 : x.is64 ? 62 : 3, true);
  dv.setUint32(20, 1, true);
  const phnum = x.flaw === "xnum" ? 0xffff : x.phnum;
  const phoff = x.flaw === "phoff" ? b.length - 8 : eh;
  if (x.is64) {
    dv.setBigUint64(32, BigInt(phoff), true);
    dv.setUint16(54, x.flaw === "phentsize" ? pe + 8 : pe, true);
    dv.setUint16(56, phnum, true);
  } else {
    dv.setUint32(28, phoff, true);
    dv.setUint16(42, x.flaw === "phentsize" ? pe + 8 : pe, true);
    dv.setUint16(44, phnum, true);
  }
  if (x.level < 3 || x.flaw !== "none") return b;
  // Program headers, then the PVH note, then the segments' bytes (wherever their offsets say).
  const noteAt = eh + phnum * pe;
  const noteLen = 12 + 4 + ((x.note.descsz + 3) & ~3);
  const fits = (at: number, n: number): boolean => at >= 0 && at + n <= b.length;
  let paddr = 0x100000n;
  let lastLoad = -1n;
  let firstLoad: { paddr: bigint; filesz: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = x.phdrs[i]!;
    const at = eh + i * pe;
    if (!fits(at, pe)) break;
    // The first program header is the PT_NOTE of the PVH note, when there is one.
    const type = (i === 0 && x.note.present) || p.fields === "whole-file-note" ? 4 : p.type;
    const start = p.offset % (b.length + 1);
    let offset = BigInt(start);
    let filesz = BigInt(Math.min(p.filesz, b.length - start));
    if (type === 4) [offset, filesz] = p.fields === "whole-file-note" ? [0n, BigInt(b.length)] : [BigInt(noteAt), BigInt(noteLen + x.note.overrun)];
    let addr = paddr + BigInt(p.gap);
    let memsz = filesz + BigInt(p.bss);
    if (p.fields === "raw") [offset, filesz, memsz, addr] = p.raw;
    if (p.fields === "overflow") [addr, memsz] = [(1n << 64n) - 0x1000n, filesz + 0x2000n];
    if (p.fields === "short-memsz") memsz = filesz - 1n;
    if (p.fields === "overlap" && lastLoad >= 0n) addr = lastLoad;
    if (memsz < 0n) memsz = 0n;
    if (type === 1 && firstLoad === undefined && filesz > 0n) firstLoad = { paddr: addr, filesz: Number(filesz) };
    if (type === 1) [lastLoad, paddr] = [addr, addr + memsz];
    dv.setUint32(at, type, true);
    if (x.is64) {
      dv.setUint32(at + 4, 5, true);
      dv.setBigUint64(at + 8, offset, true);
      dv.setBigUint64(at + 16, addr, true);
      dv.setBigUint64(at + 24, addr, true);
      dv.setBigUint64(at + 32, filesz, true);
      dv.setBigUint64(at + 40, memsz, true);
    } else {
      dv.setUint32(at + 4, Number(offset & 0xffffffffn), true);
      dv.setUint32(at + 8, Number(addr & 0xffffffffn), true);
      dv.setUint32(at + 12, Number(addr & 0xffffffffn), true);
      dv.setUint32(at + 16, Number(filesz & 0xffffffffn), true);
      dv.setUint32(at + 20, Number(memsz & 0xffffffffn), true);
      dv.setUint32(at + 24, 5, true);
    }
  }
  if (x.note.present && fits(noteAt, noteLen)) {
    dv.setUint32(noteAt, 4, true);
    dv.setUint32(noteAt + 4, x.note.descsz, true);
    dv.setUint32(noteAt + 8, x.note.type, true);
    b.set([0x58, 0x65, 0x6e, 0], noteAt + 12); // "Xen\0"
    const entry =
      x.note.entry === "above-4g" ? 0x1_0000_0000n + BigInt(x.entryOffset % 0x1000) :
      x.note.entry === "loaded" && firstLoad ? firstLoad.paddr + BigInt(x.entryOffset % firstLoad.filesz) : 0xfff0_0000n;
    const desc = new DataView(b.buffer, noteAt + 16);
    if (x.note.descsz >= 8) desc.setBigUint64(0, entry, true);
    else if (x.note.descsz >= 4) desc.setUint32(0, Number(entry & 0xffffffffn), true);
  }
  return b;
}

describe("hostile ELF images: a kernel description or a PvhError, nothing else", () => {
  it("random ELF-like bytes (up to 600) reach every check of the reader", () => {
    const codes = new Map<string, number>();
    let longPastHeader = 0;
    fc.assert(
      fc.property(elfish, (x) => {
        const b = shapeElf(x);
        const code = outcomeOf(b);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (b.length === 600 && !["not-elf", "wrong-class", "big-endian", "bad-header", "wrong-machine"].includes(code)) longPastHeader++;
      }),
      { numRuns: 6000 },
    );
    const reached = [...codes.keys()];
    for (const code of [
      "ok",
      "not-elf",
      "wrong-class",
      "big-endian",
      "bad-header",
      "wrong-machine",
      "phdrs-outside-file",
      "segment-outside-file",
      "memsz-less-than-filesz",
      "address-overflow",
      "no-load-segments",
      "segments-overlap",
      "no-pvh-note",
      "note-overrun",
      "notes-too-large",
      "bad-pvh-note",
      "entry-above-4g",
      "entry-not-loaded",
    ]) {
      expect(reached, `no input reached "${code}"`).toContain(code);
    }
    expect(longPastHeader, "600-byte inputs read past the ELF header").toBeGreaterThan(0);
  });

  for (const which of ["k64", "k32"] as const) {
    it(`mutations of the real ${which} fixture never yield a segment outside the file`, () => {
      const src = (): Uint8Array => fx[which].bytes;
      // Most mutations hit the headers and the notes, where the reader's decisions are.
      const hot = which === "k64" ? 0x1200 : 0x1100;
      const offset = fc.oneof(fc.integer({ min: 0, max: 0x200 }), fc.integer({ min: 0x1000, max: hot }), fc.nat());
      const edit = fc.tuple(offset, fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xff, 0x7f, 0x80)));
      const seen = { ok: 0, error: 0 };
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), fc.option(fc.nat(), { nil: undefined }), (edits, cut) => {
          const b = src().slice();
          for (const [o, v] of edits) b[o % b.length] = v;
          const file = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
          seen[valueOrPvhError(file)]++;
        }),
        { numRuns: 3000 },
      );
      // Both outcomes occur, so the property exercised the reader, not just its first check.
      expect(seen.ok).toBeGreaterThan(0);
      expect(seen.error).toBeGreaterThan(0);
    });
  }

  it("u32/u64 field overwrites in the program headers and notes of the 64-bit fixture", () => {
    const fields = fc.tuple(fc.integer({ min: 0, max: 0x1200 / 4 }), fc.constantFrom(0, 1, 3, 4, 8, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff));
    fc.assert(
      fc.property(fc.array(fields, { minLength: 1, maxLength: 4 }), (edits) => {
        const b = fx.k64.bytes.slice();
        const dv = new DataView(b.buffer);
        for (const [w, v] of edits) if (w * 4 + 4 <= b.length) dv.setUint32(w * 4, v, true);
        valueOrPvhError(b);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("layoutPvhBoot", () => {
  it("placements are disjoint and each inside RAM, whatever the sizes", () => {
    const k = (): PvhKernel => readPvhKernel(fx.k64.bytes);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2047 }), fc.integer({ min: 0, max: 1 << 22 }), fc.integer({ min: 2, max: 127 }), (cmdLen, initrdLen, n) => {
        // n entries: low RAM, n - 2 small reserved ranges, RAM from 1 MiB to 1 GiB.
        const memmap = [
          { addr: 0, size: 0x9fc00, type: MemmapType.RAM },
          ...Array.from({ length: n - 2 }, (_, i) => ({ addr: 0x9fc00 + i * 4, size: 4, type: MemmapType.RESERVED })),
          { addr: 0x100000, size: 0x3ff0_0000, type: MemmapType.RAM },
        ];
        const l = layoutPvhBoot({ kernel: k(), memmap, cmdline: "x".repeat(cmdLen), initrd: new Uint8Array(initrdLen) });
        expect(l.startInfo.memmapEntries).toBe(n);
        const spans = l.placements.filter((p) => p.size > 0n).map((p) => [p.address, p.address + p.size] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
        for (let i = 1; i < spans.length; i++) expect((spans[i - 1]?.[1] ?? 0n) <= (spans[i]?.[0] ?? 0n)).toBe(true);
        for (const [a, e] of spans) expect((e <= 0x9fc00n) || (a >= 0x100000n && e <= 0x4000_0000n)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
