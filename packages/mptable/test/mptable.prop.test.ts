import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import {
  decodeMpTable,
  encodeMpTable,
  findMpTable,
  isMptableError,
  type MpIoInterrupt,
  type MpLocalInterrupt,
  type MpTable,
} from "../src/index.js";
import { ENTRY_SIZE, fixChecksums, sum8 } from "./helpers.js";

// Printable ASCII without trailing blanks (the padding the format uses).
const ascii = (max: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max })
    .map((s) => s.trimEnd());

const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const irqType = fc.constantFrom("INT", "NMI", "SMI", "ExtINT" as const);
const polarity = fc.constantFrom("conforming", "active-high", "reserved", "active-low" as const);
const trigger = fc.constantFrom("conforming", "edge", "reserved", "level" as const);

/** Any valid table: distinct APIC ids, one BSP, references to listed buses and APICs, below 1 MiB. */
const validTable: fc.Arbitrary<MpTable> = fc
  .record({
    cpuIds: fc.uniqueArray(fc.integer({ min: 0, max: 254 }), { minLength: 1, maxLength: 254 }),
    ioApicCount: fc.integer({ min: 0, max: 3 }),
    busIds: fc.uniqueArray(u8, { minLength: 1, maxLength: 4 }),
    seed: fc.integer(),
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
      ioInterrupts: fc.array(fc.record({ ...irqCommon, destApic: dest, destPin: u8 }) as fc.Arbitrary<MpIoInterrupt>, { maxLength: 40 }),
      localInterrupts: fc.array(
        fc.record({ ...irqCommon, destApic: fc.constantFrom(...cpuIds, 0xff), destLint: fc.integer({ min: 0, max: 1 }) }) as fc.Arbitrary<MpLocalInterrupt>,
        { maxLength: 4 },
      ),
    });
  })
  .chain((t) => {
    const size = 16 + 44 + 20 * t.processors.length + 8 * (t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length);
    const lastSlot = Math.floor((0x100000 - size) / 16);
    return fc.integer({ min: 0, max: lastSlot }).map((slot) => ({ address: slot * 16, ...t }) as MpTable);
  });

describe("MPTable properties", () => {
  test.prop([validTable], { numRuns: 300 })("decode(encode(x)) equals x", (t) => {
    expect(decodeMpTable(encodeMpTable(t), t.address)).toEqual(t);
  });

  test.prop([validTable], { numRuns: 300 })("both checksums are zero, and the pointer points after itself", (t) => {
    const b = encodeMpTable(t);
    expect(sum8(b, 0, 16)).toBe(0);
    expect(sum8(b, 16, b.length)).toBe(0);
    const v = new DataView(b.buffer);
    expect(v.getUint32(4, true)).toBe(t.address + 16);
    expect(t.address % 16).toBe(0);
    expect(t.address + b.length).toBeLessThanOrEqual(0x100000);
  });

  test.prop([validTable], { numRuns: 300 })("the length is the header plus the entries, and the count is right", (t) => {
    const b = encodeMpTable(t);
    const v = new DataView(b.buffer);
    const length = v.getUint16(16 + 4, true);
    expect(length).toBe(b.length - 16);
    let o = 16 + 44;
    let n = 0;
    while (o < 16 + length) {
      const size = ENTRY_SIZE[b[o]!];
      expect(size).toBeDefined();
      o += size!;
      n++;
    }
    expect(o).toBe(16 + length);
    expect(v.getUint16(16 + 34, true)).toBe(n);
    expect(n).toBe(t.processors.length + t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length);
  });

  test.prop([validTable], { numRuns: 100 })("the encoder is deterministic", (t) => {
    expect(encodeMpTable(t)).toEqual(encodeMpTable(structuredClone(t)));
  });

  test.prop([validTable], { numRuns: 100 })("findMpTable finds a table placed in a scan window", (t) => {
    const ram = new Uint8Array(0x100000);
    const b = encodeMpTable(t);
    ram.set(b, t.address);
    const inWindow = [
      [0, 0x400],
      [0x9fc00, 0xa0000],
      [0xf0000, 0x100000],
    ].some(([s, e]) => t.address >= s! && t.address + 16 <= e!);
    const found = findMpTable(ram);
    if (inWindow) expect(found).toEqual(t);
    else expect(found).toBeUndefined();
  });

  const onlyOurErrors = (f: () => unknown): void => {
    try {
      f();
    } catch (e) {
      if (!isMptableError(e)) throw e;
    }
  };

  test.prop([fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 0xffffffff })], { numRuns: 2000 })(
    "random bytes give a table or an MptableError",
    (bytes, address) => {
      onlyOurErrors(() => decodeMpTable(bytes, address));
    },
  );

  test.prop(
    [
      validTable,
      fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      fc.integer({ min: -32, max: 32 }),
    ],
    { numRuns: 2000 },
  )("mutated tables give a table or an MptableError", (t, edits, fix, cut) => {
    const b = encodeMpTable(t);
    for (const [at, value] of edits) b[at % b.length] = value;
    if (fix) fixChecksums(b);
    const bytes = cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : b;
    onlyOurErrors(() => decodeMpTable(bytes, t.address));
  });
});
