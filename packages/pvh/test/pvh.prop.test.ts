// fast-check properties. fast-check prints the seed and the shrunk counterexample on failure;
// rerun one with `fc.assert(..., { seed, path })`.
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
  type PvhKernel,
} from "@microvm/pvh";
import { buildFixtures, type Fixtures } from "./helpers/toolchain.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

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

  it("module list: decode(encode(x)) = x, 32 bytes per entry", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ paddr: u64, size: u64, cmdlinePaddr: u64 }), { maxLength: 20 }), (mods) => {
        const b = encodeModlist(mods);
        expect(b.length).toBe(32 * mods.length);
        expect(decodeModlist(b, mods.length)).toEqual(mods);
      }),
      { numRuns: 300 },
    );
  });

  it("memory map: decode(encode(x)) = x, 24 bytes per entry", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ addr: u64, size: u64, type: u32 }), { maxLength: 127 }), (map) => {
        const b = encodeMemmap(map);
        expect(b.length).toBe(24 * map.length);
        expect(decodeMemmap(b, map.length)).toEqual(map);
      }),
      { numRuns: 300 },
    );
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
        fc.property(fc.array(arb, { maxLength: 12 }), fc.array(arb, { maxLength: 12 }), (ram, reserved) => {
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

function valueOrPvhError(file: Uint8Array): "ok" | "error" {
  try {
    checkInside(file, readPvhKernel(file));
    return "ok";
  } catch (e) {
    if (isPvhError(e)) return "error";
    throw e;
  }
}

describe("hostile ELF images: a kernel description or a PvhError, nothing else", () => {
  it("random bytes (with and without an ELF prefix)", () => {
    const prefix = fc.constantFrom(
      new Uint8Array([]),
      new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]),
      new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]),
    );
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 600 }), (p, rest) => {
        const b = new Uint8Array(p.length + rest.length);
        b.set(p);
        b.set(rest, p.length);
        valueOrPvhError(b);
      }),
      { numRuns: 2000 },
    );
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
