/**
 * Properties of the pure parts: exit decoding never throws on arbitrary kvm_run bytes (a hostile or
 * buggy kernel view must not crash the run loop), register codecs round-trip, and CPUID
 * normalization always installs the vCPU's identity. fast-check prints the seed on failure.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { decodeExit, exitDecoder } from "../src/exits.ts";
import { normalizeCpuid, type CpuidEntry } from "../src/index.ts";
import { decodeRegs, decodeSregs, encodeRegsInto, encodeSregsInto, REGS_SIZE, SREGS_SIZE } from "../src/registers.ts";

const RUN_SIZE = 12288;
const kinds = new Set(["io", "mmio", "hlt", "shutdown", "fail-entry", "internal-error", "system-event", "interrupted", "other"]);

/** A kvm_run page with an arbitrary exit reason (biased to the decoded ones) and arbitrary union bytes. */
const runPage = fc
  .record({
    reason: fc.oneof(fc.constantFrom(2, 5, 6, 8, 9, 10, 17, 24), fc.integer({ min: 0, max: 0xffffffff })),
    union: fc.uint8Array({ minLength: 256, maxLength: 256 }),
    dataOffset: fc.oneof(fc.constant(4096), fc.integer({ min: 0, max: 0xffffffff }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    direction: fc.constantFrom(0, 1),
    size: fc.oneof(fc.constantFrom(1, 2, 4), fc.integer({ min: 0, max: 255 })),
    count: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffffffff })),
  })
  .map(({ reason, union, dataOffset, direction, size, count }) => {
    const b = new Uint8Array(RUN_SIZE);
    const v = new DataView(b.buffer);
    v.setUint32(8, reason, true);
    b.set(union, 32);
    if (reason === 2) {
      b[32] = direction;
      b[33] = size;
      v.setUint32(36, count, true);
      v.setBigUint64(40, BigInt(dataOffset), true);
    }
    return b;
  });

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

describe("exit decoding", () => {
  test.prop([runPage])("returns a known kind and never throws, cached or not", (b) => {
    const v = new DataView(b.buffer);
    const a = decodeExit(b, v);
    const c = exitDecoder(b, v)();
    expect(kinds.has(a.kind)).toBe(true);
    expect(c).toEqual(a);
    if (a.kind === "io") expect(a.data.length).toBeLessThanOrEqual(RUN_SIZE);
  });

  test.prop([
    fc.oneof(fc.constant(4096), fc.integer({ min: 0, max: RUN_SIZE + 8 }), fc.integer({ min: 0, max: 0xffffffff })),
    fc.oneof(fc.constantFrom(1, 2, 4), fc.integer({ min: 0, max: 255 })),
    fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xffffffff })),
    fc.constantFrom(0, 1),
  ])(
    "io exits with any size, count and data_offset decode without throwing",
    (off, size, count, direction) => {
      const b = new Uint8Array(RUN_SIZE);
      const v = new DataView(b.buffer);
      v.setUint32(8, 2, true);
      b[32] = direction;
      b[33] = size;
      v.setUint32(36, count, true);
      v.setUint32(40, off, true);
      const e = exitDecoder(b, v)();
      expect(e.kind).toBe("io");
      if (e.kind === "io") expect(e.data.byteOffset + e.data.length).toBeLessThanOrEqual(RUN_SIZE);
    },
  );
});

describe("register codecs", () => {
  test.prop([fc.array(u64, { minLength: 18, maxLength: 18 })])("kvm_regs round-trips", (vals) => {
    const b = new Uint8Array(REGS_SIZE);
    const v = new DataView(b.buffer);
    vals.forEach((x, i) => v.setBigUint64(i * 8, x, true));
    const out = new Uint8Array(REGS_SIZE);
    encodeRegsInto(decodeRegs(b), out);
    expect(out).toEqual(b);
  });

  test.prop([fc.uint8Array({ minLength: SREGS_SIZE, maxLength: SREGS_SIZE })])("kvm_sregs round-trips (padding aside)", (b) => {
    // Segment byte 23 and dtable bytes 10..15 are padding the codec does not carry.
    for (let s = 0; s < 8; s++) b[s * 24 + 23] = 0;
    for (const t of [192, 208]) b.fill(0, t + 10, t + 16);
    const out = new Uint8Array(SREGS_SIZE);
    encodeSregsInto(decodeSregs(b), out);
    expect(out).toEqual(b);
  });
});

const entry: fc.Arbitrary<CpuidEntry> = fc.record({
  function: fc.oneof(fc.constantFrom(0, 1, 0xb, 0x1f, 0x40000000, 0x40000001, 0x8000001e), fc.integer({ min: 0, max: 0xffffffff })),
  index: fc.integer({ min: 0, max: 4 }),
  flags: fc.integer({ min: 0, max: 7 }),
  eax: fc.integer({ min: 0, max: 0xffffffff }),
  ebx: fc.integer({ min: 0, max: 0xffffffff }),
  ecx: fc.integer({ min: 0, max: 0xffffffff }),
  edx: fc.integer({ min: 0, max: 0xffffffff }),
});

describe("normalizeCpuid", () => {
  test.prop([fc.array(entry, { maxLength: 40, size: "max" }), fc.integer({ min: 1, max: 4096 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })))])(
    "installs the vCPU's APIC ids and the KVM signature, as u32s, without touching the input",
    (entries, [count, id]) => {
      const before = JSON.stringify(entries);
      const out = normalizeCpuid(entries, { vcpuId: id, vcpuCount: count });
      expect(JSON.stringify(entries)).toBe(before);
      for (const e of out) {
        for (const r of [e.eax, e.ebx, e.ecx, e.edx]) expect(Number.isInteger(r) && r >= 0 && r <= 0xffffffff).toBe(true);
        if (e.function === 1) expect([e.ebx >>> 24, e.ecx >>> 31]).toEqual([id & 0xff, 1]);
        if (e.function === 0xb || e.function === 0x1f) expect(e.edx).toBe(id);
      }
      expect(out.filter((e) => e.function === 0x40000000).every((e) => e.ebx === 0x4b4d564b && e.ecx === 0x564b4d56 && e.edx === 0x4d)).toBe(true);
      expect(out.some((e) => e.function === 0x40000001)).toBe(true);
    },
  );
});
