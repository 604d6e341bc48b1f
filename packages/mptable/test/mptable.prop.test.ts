// fast-check properties. Generated sizes reach the format's limits (254 CPUs, 40 I/O interrupts,
// 600-byte inputs): fast-check's default size would stop arrays at about 10 items whatever their
// maxLength, so lengths are drawn explicitly, the limits themselves included, and counters assert
// after each property that the limits and every interesting outcome were reached.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMpTable,
  encodeMpTable,
  findMpTable,
  isMptableError,
  type MpIoInterrupt,
  type MpLocalInterrupt,
  type MpTable,
} from "../src/index.js";
import { ENTRY_SIZE, fixChecksums, referenceMpTable, sum8 } from "./helpers.js";

/** A length in [min, max]: one of the two bounds a quarter of the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 3, arbitrary: fc.integer({ min, max }) });

/** An array of `arb` whose length is drawn by {@link lengthIn}. */
const arrayIn = <T>(arb: fc.Arbitrary<T>, min: number, max: number): fc.Arbitrary<T[]> =>
  lengthIn(min, max).chain((n) => fc.array(arb, { minLength: n, maxLength: n }));

// Printable ASCII without trailing blanks (the padding the format uses).
const ascii = (max: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max, size: "max" })
    .map((s) => s.trimEnd());

const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const irqType = fc.constantFrom("INT", "NMI", "SMI", "ExtINT" as const);
const polarity = fc.constantFrom("conforming", "active-high", "reserved", "active-low" as const);
const trigger = fc.constantFrom("conforming", "edge", "reserved", "level" as const);

const MAX_CPUS = 254;
const MAX_IO_INTERRUPTS = 40;
const MAX_LOCAL_INTERRUPTS = 4;
const APIC_IDS = Array.from({ length: MAX_CPUS + 1 }, (_, i) => i); // 0..254; 0xff is the broadcast id

/** Any valid table: distinct APIC ids, one BSP, references to listed buses and APICs, below 1 MiB. */
const validTable: fc.Arbitrary<MpTable> = fc
  .record({
    cpuIds: lengthIn(1, MAX_CPUS).chain((n) => fc.shuffledSubarray(APIC_IDS, { minLength: n, maxLength: n })),
    ioApicCount: fc.integer({ min: 0, max: 3 }),
    busIds: fc.uniqueArray(u8, { minLength: 1, maxLength: 4, size: "max" }),
  })
  .chain(({ cpuIds, ioApicCount, busIds }) => {
    const free = Array.from({ length: 256 }, (_, i) => i).filter((i) => !cpuIds.includes(i));
    const ioApicIds = free.slice(0, ioApicCount);
    const dest = ioApicIds.length > 0 ? fc.constantFrom(...ioApicIds, 0xff) : fc.constant(0xff);
    const irqCommon = { type: irqType, polarity, trigger, sourceBus: fc.constantFrom(...busIds), sourceIrq: u8 };
    return fc.record({
      specRevision: fc.constantFrom(1, 4 as const),
      imcrPresent: fc.boolean(),
      oemId: ascii(8),
      productId: ascii(12),
      lapicAddress: fc.integer({ min: 1, max: 0xffffffff }),
      processors: fc.tuple(
        fc.integer({ min: 0, max: cpuIds.length - 1 }),
        fc.array(fc.record({ apicVersion: u8, enabled: fc.boolean(), signature: u32, featureFlags: u32 }), {
          minLength: cpuIds.length,
          maxLength: cpuIds.length,
        }),
      ).map(([bsp, rest]) =>
        rest.map((r, i) => ({ apicId: cpuIds[i]!, ...r, enabled: i === bsp ? true : r.enabled, bootstrap: i === bsp })),
      ),
      buses: fc.tuple(...busIds.map((id) => fc.record({ id: fc.constant(id), type: ascii(6).filter((s) => s.length > 0) }))),
      ioApics: fc.tuple(...ioApicIds.map((id) => fc.record({ id: fc.constant(id), version: u8, usable: fc.boolean(), address: u32 }))),
      ioInterrupts: arrayIn(fc.record({ ...irqCommon, destApic: dest, destPin: u8 }) as fc.Arbitrary<MpIoInterrupt>, 0, MAX_IO_INTERRUPTS),
      localInterrupts: arrayIn(
        fc.record({ ...irqCommon, destApic: fc.constantFrom(...cpuIds, 0xff), destLint: fc.integer({ min: 0, max: 1 }) }) as fc.Arbitrary<MpLocalInterrupt>,
        0,
        MAX_LOCAL_INTERRUPTS,
      ),
    });
  })
  .chain((t) => {
    const size = 16 + 44 + 20 * t.processors.length + 8 * (t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length);
    const lastSlot = Math.floor((0x100000 - size) / 16);
    return lengthIn(0, lastSlot).map((slot) => ({ address: slot * 16, ...t }) as MpTable);
  });

/** Counts of the limits a run of {@link validTable} reached; each must be reached at least once. */
function limitsOf(): { count: (t: MpTable) => void; expectAllReached: () => void } {
  const seen = { cpus254: 0, cpus1: 0, ioInterrupts40: 0, noIoInterrupts: 0, localInterrupts4: 0, buses4: 0, ioApics0: 0, ioApics3: 0, endsAt1MiB: 0, atAddress0: 0 };
  return {
    count: (t) => {
      const size = 16 + 44 + 20 * t.processors.length + 8 * (t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length);
      if (t.processors.length === MAX_CPUS) seen.cpus254++;
      if (t.processors.length === 1) seen.cpus1++;
      if (t.ioInterrupts.length === MAX_IO_INTERRUPTS) seen.ioInterrupts40++;
      if (t.ioInterrupts.length === 0) seen.noIoInterrupts++;
      if (t.localInterrupts.length === MAX_LOCAL_INTERRUPTS) seen.localInterrupts4++;
      if (t.buses.length === 4) seen.buses4++;
      if (t.ioApics.length === 0) seen.ioApics0++;
      if (t.ioApics.length === 3) seen.ioApics3++;
      if (0x100000 - (t.address + size) < 16) seen.endsAt1MiB++;
      if (t.address === 0) seen.atAddress0++;
    },
    expectAllReached: () => {
      for (const [k, n] of Object.entries(seen)) expect(n, `tables with ${k}`).toBeGreaterThan(0);
    },
  };
}

describe("MPTable properties", () => {
  it("decode(encode(x)) equals x, up to 254 CPUs and 40 I/O interrupts", () => {
    const limits = limitsOf();
    fc.assert(
      fc.property(validTable, (t) => {
        limits.count(t);
        expect(decodeMpTable(encodeMpTable(t), t.address)).toEqual(t);
      }),
      { numRuns: 300 },
    );
    limits.expectAllReached();
  });

  it("the encoder writes the bytes of an independent writer (MP spec 1.4 §4)", () => {
    const limits = limitsOf();
    fc.assert(
      fc.property(validTable, (t) => {
        limits.count(t);
        const ours = encodeMpTable(t);
        const want = referenceMpTable(t);
        // The first difference, with the bytes around it (toEqual on 5 KiB tables is slow).
        let at = ours.findIndex((x, i) => x !== want[i]);
        if (at < 0 && ours.length !== want.length) at = Math.min(ours.length, want.length);
        if (at >= 0) {
          const around = (b: Uint8Array): string => Buffer.from(b.subarray(Math.max(0, at - 8), at + 8)).toString("hex");
          expect({ at, ours: around(ours), oursLength: ours.length }).toEqual({ at, ours: around(want), oursLength: want.length });
        }
      }),
      { numRuns: 300 },
    );
    limits.expectAllReached();
  });

  it("both checksums are zero, and the pointer points after itself", () => {
    fc.assert(
      fc.property(validTable, (t) => {
        const b = encodeMpTable(t);
        expect(sum8(b, 0, 16)).toBe(0);
        expect(sum8(b, 16, b.length)).toBe(0);
        const v = new DataView(b.buffer);
        expect(v.getUint32(4, true)).toBe(t.address + 16);
        expect(t.address % 16).toBe(0);
        expect(t.address + b.length).toBeLessThanOrEqual(0x100000);
      }),
      { numRuns: 300 },
    );
  });

  it("the length is the header plus the entries, and the count is right", () => {
    fc.assert(
      fc.property(validTable, (t) => {
        const b = encodeMpTable(t);
        const v = new DataView(b.buffer);
        const length = v.getUint16(16 + 4, true);
        expect(length).toBe(b.length - 16);
        let o = 16 + 44;
        let n = 0;
        const unknown: number[] = [];
        while (o < 16 + length) {
          const size = ENTRY_SIZE[b[o]!];
          if (size === undefined) unknown.push(o);
          o += size ?? 8;
          n++;
        }
        expect(unknown, "offsets of entries of unknown type").toEqual([]);
        expect(o).toBe(16 + length);
        expect(v.getUint16(16 + 34, true)).toBe(n);
        expect(n).toBe(t.processors.length + t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length);
      }),
      { numRuns: 300 },
    );
  });

  it("findMpTable finds a table placed in a scan window, and only there", () => {
    const seen = { inWindow: 0, outside: 0 };
    const ram = new Uint8Array(0x100000);
    fc.assert(
      fc.property(validTable, (t) => {
        ram.fill(0);
        const b = encodeMpTable(t);
        ram.set(b, t.address);
        const inWindow = [
          [0, 0x400],
          [0x9fc00, 0xa0000],
          [0xf0000, 0x100000],
        ].some(([s, e]) => t.address >= s! && t.address + 16 <= e!);
        seen[inWindow ? "inWindow" : "outside"]++;
        const found = findMpTable(ram);
        if (inWindow) expect(found).toEqual(t);
        else expect(found).toBeUndefined();
      }),
      { numRuns: 100 },
    );
    expect(seen.inWindow).toBeGreaterThan(0);
    expect(seen.outside).toBeGreaterThan(0);
  });

  /** The MptableError code `f` throws, or "no error"; anything else thrown fails the property. */
  const outcome = (f: () => unknown): string => {
    try {
      f();
      return "no error";
    } catch (e) {
      if (!isMptableError(e)) throw e;
      return e.code;
    }
  };

  // Random bytes, up to 600, made gradually more table-like so the decoder's later checks run:
  // level 0 is noise; 1 adds a valid floating pointer; 2 a PCMP header after it; 3 printable
  // strings, a LAPIC address and entries of known (and one unknown) type with random contents.
  // One flaw at a time, in the pointer or the header, reaches each check in turn.
  const FLAWS = ["none", "fp-checksum", "fp-length", "fp-spec", "fp-feature1", "fp-feature2", "hdr-short", "hdr-long", "hdr-empty", "hdr-checksum", "hdr-spec", "hdr-lapic", "hdr-reserved"] as const;
  const noisyTable = fc.record({
    bytes: lengthIn(0, 600).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    level: fc.constantFrom(0, 1, 2, 3, 3),
    flaw: fc.oneof({ weight: 3, arbitrary: fc.constant("none" as const) }, { weight: 4, arbitrary: fc.constantFrom(...FLAWS) }),
    address: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xfffff }).map((a) => a & ~15) }),
    spec: fc.constantFrom(1, 4),
    length: fc.nat(),
  });
  type Noisy = typeof noisyTable extends fc.Arbitrary<infer R> ? R : never;

  function shape({ bytes, level, flaw, address, spec, length }: Noisy): Uint8Array {
    const b = bytes.slice();
    const v = new DataView(b.buffer);
    if (level < 1 || b.length < 16) return b;
    v.setUint32(0, 0x5f504d5f, true); // "_MP_"
    v.setUint32(4, address + 16, true);
    b[8] = flaw === "fp-length" ? 2 : 1;
    b[9] = flaw === "fp-spec" ? 3 : spec;
    b[11] = flaw === "fp-feature1" ? 5 : 0;
    b[12] = (b[12]! & 0x80) | (flaw === "fp-feature2" ? 1 : 0);
    b.fill(0, 13, 16);
    if (level >= 2 && b.length >= 16 + 44) {
      const room = b.length - 16;
      v.setUint32(16, 0x504d4350, true); // "PCMP"
      const len =
        flaw === "hdr-short" ? length % 44 : flaw === "hdr-long" ? room + 1 + (length % 64) : flaw === "hdr-empty" ? 44 : 44 + (length % (room - 44 + 1));
      v.setUint16(20, len, true);
      b[22] = flaw === "hdr-spec" ? 5 - spec : spec;
      if (level >= 3) {
        b.fill(0x41, 24, 24 + 20); // OEM and product ids
        v.setUint32(16 + 36, flaw === "hdr-lapic" ? 0 : 0xfee00000, true);
        b[16 + 43] = flaw === "hdr-reserved" ? 1 : 0;
        // Entries of types 0..5 (5 is unknown), walked by their size, contents left random.
        for (let o = 16 + 44; o < Math.min(16 + len, b.length); o += ENTRY_SIZE[b[o]!] ?? 8) b[o] = b[o]! % 6;
      }
      b[23] = 0;
      b[23] = (256 - sum8(b, 16, Math.min(b.length, 16 + len))) & 0xff;
      if (flaw === "hdr-checksum") b[23] = (b[23]! + 1) & 0xff;
    }
    b[10] = 0;
    b[10] = (256 - sum8(b, 0, 16)) & 0xff;
    if (flaw === "fp-checksum") b[10] = (b[10]! + 1) & 0xff;
    return b;
  }

  it("random bytes (up to 600) give a table or an MptableError, and reach every check", () => {
    const codes = new Map<string, number>();
    let longPastPointer = 0;
    fc.assert(
      fc.property(noisyTable, (x) => {
        const b = shape(x);
        const code = outcome(() => decodeMpTable(b, x.address));
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (b.length === 600 && !["truncated", "bad-signature"].includes(code)) longPastPointer++;
      }),
      { numRuns: 3000 },
    );
    const reached = [...codes.keys()].sort();
    for (const code of [
      "truncated",
      "bad-signature",
      "bad-length",
      "bad-checksum",
      "bad-spec-revision",
      "misaligned",
      "above-1mib",
      "default-configuration",
      "reserved-bits",
      "bad-string",
      "null-lapic",
      "unknown-entry",
      "out-of-range",
      "no-processors",
    ]) {
      expect(reached, `no input reached "${code}"`).toContain(code);
    }
    expect(longPastPointer, "600-byte inputs decoded past the floating pointer").toBeGreaterThan(0);
  });

  it("mutated tables give a table or an MptableError", () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(
        validTable,
        fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 8, size: "max" }),
        fc.boolean(),
        fc.integer({ min: -32, max: 32 }),
        (t, edits, fix, cut) => {
          const b = encodeMpTable(t);
          for (const [at, value] of edits) b[at % b.length] = value;
          if (fix) fixChecksums(b);
          const bytes = cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : b;
          const code = outcome(() => decodeMpTable(bytes, t.address));
          seen.set(code, (seen.get(code) ?? 0) + 1);
        },
      ),
      { numRuns: 2000 },
    );
    // Both outcomes, and errors beyond the checksums: the mutations reached the entries.
    expect(seen.get("no error") ?? 0).toBeGreaterThan(0);
    expect([...seen.keys()].filter((k) => !["no error", "bad-checksum", "truncated"].includes(k)).length).toBeGreaterThan(3);
  });
});
