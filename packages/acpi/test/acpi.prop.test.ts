// fast-check properties. Sizes are drawn explicitly (fast-check's default size would stop arrays
// at about 10 items whatever their maxLength), the limits themselves included, and counters assert
// after each property that the limits and every interesting outcome were reached.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ACPI_ACCESS_SIZE,
  ACPI_ADDRESS_SPACE,
  decodeAml,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  decodePkgLength,
  decodeRsdp,
  decodeXsdt,
  encodeAml,
  encodeDefinitionBlock,
  encodeFadt,
  encodeMadt,
  encodePkgLength,
  encodeRsdp,
  encodeXsdt,
  isAcpiError,
  validateAcpiTable,
  type AmlData,
  type AmlTerm,
  type DecodedFadt,
  type GenericAddress,
  type MadtEntry,
  type ResourceDescriptor,
  type SdtHeader,
} from "../src/index.js";
import { sum8 } from "./helpers.js";

/** A length in [min, max]: one of the two bounds a quarter of the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 3, arbitrary: fc.integer({ min, max }) });
const arrayIn = <T>(arb: fc.Arbitrary<T>, min: number, max: number): fc.Arbitrary<T[]> =>
  lengthIn(min, max).chain((n) => fc.array(arb, { minLength: n, maxLength: n }));

const charFrom = (chars: string) => fc.constantFrom(...chars.split(""));
const ascii = (max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max, size: "max" }).map((s) => s.trimEnd());
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const nonZeroU64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });

const header = (revision: fc.Arbitrary<number>): fc.Arbitrary<SdtHeader> =>
  fc.record({ revision, oemId: ascii(6), oemTableId: ascii(8), oemRevision: u32, creatorId: ascii(4), creatorRevision: u32 });

const gas: fc.Arbitrary<GenericAddress & { address: bigint }> = fc.record({
  space: fc.constantFrom(...(Object.keys(ACPI_ADDRESS_SPACE) as (keyof typeof ACPI_ADDRESS_SPACE)[])),
  bitWidth: u8,
  bitOffset: u8,
  accessSize: fc.constantFrom(...(Object.keys(ACPI_ACCESS_SIZE) as (keyof typeof ACPI_ACCESS_SIZE)[])),
  address: nonZeroU64,
});

/** A register half the time, none the other half. */
const maybeGas = fc.oneof(fc.constant(undefined), gas);
const fadt: fc.Arbitrary<DecodedFadt> = header(fc.constantFrom(5, 6)).chain((h) =>
  fc
    .record({
      header: fc.constant(h),
      minorVersion: u8,
      dsdtAddress: nonZeroU64,
      facsAddress: nonZeroU64,
      flags: u32,
      preferredPmProfile: fc.integer({ min: 0, max: 8 }),
      sciInterrupt: u16,
      iapcBootArch: u16,
      armBootArch: u16,
      resetValue: u8,
      resetRegister: maybeGas,
      sleepControlRegister: maybeGas,
      sleepStatusRegister: maybeGas,
      hypervisorVendorId: h.revision === 6 ? u64 : fc.constant(0n),
    })
    // Absent registers are absent keys, as the decoder returns them.
    .map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as unknown as DecodedFadt),
);

const polarity = fc.constantFrom("conforming", "active-high", "reserved", "active-low" as const);
const trigger = fc.constantFrom("conforming", "edge", "reserved", "level" as const);
const madtEntry: fc.Arbitrary<MadtEntry> = fc.oneof(
  fc.record({ type: fc.constant("local-apic" as const), processorUid: u8, apicId: fc.integer({ min: 0, max: 254 }), enabled: fc.boolean(), onlineCapable: fc.boolean() }),
  fc.record({ type: fc.constant("io-apic" as const), id: u8, address: u32, gsiBase: u32 }),
  fc.record({ type: fc.constant("interrupt-override" as const), bus: u8, source: u8, gsi: u32, polarity, trigger }),
  fc.record({ type: fc.constant("local-apic-nmi" as const), processorUid: u8, polarity, trigger, lint: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ type: fc.constant("local-x2apic" as const), processorUid: u32, x2apicId: fc.integer({ min: 0, max: 0xfffffffe }), enabled: fc.boolean(), onlineCapable: fc.boolean() }),
  fc.record({ type: fc.constant("local-x2apic-nmi" as const), polarity, trigger, processorUid: u32, lint: fc.integer({ min: 0, max: 1 }) }),
);
const MAX_MADT_ENTRIES = 600;
const madt = fc.record({
  header: header(fc.integer({ min: 1, max: 6 })),
  localApicAddress: u32,
  pcatCompat: fc.boolean(),
  entries: arrayIn(madtEntry, 0, MAX_MADT_ENTRIES),
});
const MAX_XSDT_ENTRIES = 200;
const xsdt = fc.record({ header: header(fc.constant(1)), entries: arrayIn(u64, 0, MAX_XSDT_ENTRIES) });

// ---- AML trees ----
const LEAD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_";
const NAMECH = LEAD + "0123456789";
const seg = fc.tuple(charFrom(LEAD), charFrom(NAMECH), charFrom(NAMECH), charFrom(NAMECH)).map((c) => c.join(""));
const namePath: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.constant(""), fc.constant("\\"), fc.integer({ min: 1, max: 3 }).map((n) => "^".repeat(n))), arrayIn(seg, 0, 6))
  .map(([prefix, segs]) => prefix + segs.join("."))
  .filter((p) => p !== "");
const descriptor: fc.Arbitrary<ResourceDescriptor> = fc.oneof(
  fc.record({ type: fc.constant("memory32-fixed" as const), writable: fc.boolean(), base: u32, length: u32 }),
  fc.record({ type: fc.constant("io" as const), decode16: fc.boolean(), min: u16, max: u16, alignment: u8, length: u8 }),
  fc.record({
    type: fc.constant("interrupt" as const),
    consumer: fc.boolean(),
    trigger: fc.constantFrom("edge", "level" as const),
    polarity: fc.constantFrom("active-high", "active-low" as const),
    shared: fc.boolean(),
    wakeCapable: fc.boolean(),
    interrupts: arrayIn(u32, 1, 255),
  }),
);
// Plain buffers never end like a resource template (…, 0x79, checksum), so they stay buffers.
const plainBytes = (max: number) =>
  arrayIn(u8, 0, max).map((a) => {
    if (a.length >= 2 && a[a.length - 2] === 0x79) a[a.length - 2] = 0x78;
    return Uint8Array.from(a);
  });
const amlString = fc.string({ unit: fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 80, size: "max" });
const integer = fc.oneof(
  fc.constantFrom(0n, 1n, 0xffn, 0x100n, 0xffffn, 0x10000n, 0xffffffffn, 0x100000000n, (1n << 64n) - 1n),
  u64,
  fc.bigInt({ min: 0n, max: 0x1ffn }),
);
const { data } = fc.letrec<{ data: AmlData }>((tie) => ({
  data: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("integer" as const), value: integer }),
    fc.record({ kind: fc.constant("string" as const), value: amlString }),
    fc.record({ kind: fc.constant("buffer" as const), bytes: plainBytes(300) }),
    fc.record({ kind: fc.constant("resources" as const), descriptors: arrayIn(descriptor, 0, 6) }),
    fc.record({ kind: fc.constant("package" as const), elements: arrayIn(tie("data"), 0, 8) }),
  ),
}));
const method = fc
  .record({ kind: fc.constant("method" as const), path: namePath, argCount: fc.integer({ min: 0, max: 7 }), serialized: fc.boolean(), syncLevel: fc.integer({ min: 0, max: 15 }) })
  .chain((m) => fc.option(data, { nil: undefined }).map((r) => (r === undefined ? m : { ...m, returns: r })));
const { terms } = fc.letrec<{ terms: AmlTerm[]; term: AmlTerm }>((tie) => ({
  term: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("name" as const), path: namePath, value: data }),
    method,
    fc.record({ kind: fc.constantFrom("scope" as const, "device" as const), path: namePath, body: tie("terms") }),
  ),
  terms: arrayIn(tie("term") as fc.Arbitrary<AmlTerm>, 0, 12),
}));

/** Walks a tree and calls `f` on every term and data object, with its depth. */
function walk(ts: readonly AmlTerm[], f: (node: AmlTerm | AmlData, depth: number) => void, depth = 0): void {
  const dataWalk = (d: AmlData, k: number): void => {
    f(d, k);
    if (d.kind === "package") d.elements.forEach((e) => dataWalk(e, k + 1));
  };
  for (const t of ts) {
    f(t, depth);
    if (t.kind === "scope" || t.kind === "device") walk(t.body, f, depth + 1);
    else if (t.kind === "name") dataWalk(t.value, depth + 1);
    else if (t.returns) dataWalk(t.returns, depth + 1);
  }
}

/** The number of bytes a PkgLength of value n takes, from the spec's limits (ACPI 6.4 §20.2.4). */
const pkgSize = (n: number) => (n < 64 ? 1 : n < 1 << 12 ? 2 : n < 1 << 20 ? 3 : 4);

describe("table properties", () => {
  it("every FADT decodes back equal and sums to zero", () => {
    const seen = { rev5: 0, rev6: 0, noRegisters: 0, allRegisters: 0 };
    fc.assert(
      fc.property(fadt, (f) => {
        const b = encodeFadt(f);
        expect(sum8(b)).toBe(0);
        expect(decodeFadt(b)).toEqual(f);
        if (f.header.revision === 5) seen.rev5++;
        else seen.rev6++;
        const regs = [f.resetRegister, f.sleepControlRegister, f.sleepStatusRegister].filter(Boolean).length;
        if (regs === 0) seen.noRegisters++;
        if (regs === 3) seen.allRegisters++;
      }),
      { numRuns: 300 },
    );
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it(`every MADT decodes back equal and sums to zero, up to ${MAX_MADT_ENTRIES} entries`, () => {
    const seen: Record<string, number> = { empty: 0, max: 0 };
    fc.assert(
      fc.property(madt, (m) => {
        const b = encodeMadt(m);
        expect(sum8(b)).toBe(0);
        expect(decodeMadt(b)).toEqual(m);
        if (m.entries.length === 0) seen.empty!++;
        if (m.entries.length === MAX_MADT_ENTRIES) seen.max!++;
        for (const e of m.entries) seen[e.type] = (seen[e.type] ?? 0) + 1;
      }),
      { numRuns: 200 },
    );
    for (const k of ["empty", "max", "local-apic", "io-apic", "interrupt-override", "local-apic-nmi", "local-x2apic", "local-x2apic-nmi"]) {
      expect(seen[k] ?? 0, k).toBeGreaterThan(0);
    }
  });

  it(`every XSDT (up to ${MAX_XSDT_ENTRIES} entries), RSDP and definition block decodes back equal; checksums sum to zero`, () => {
    const seen = { empty: 0, max: 0 };
    fc.assert(
      fc.property(xsdt, fc.record({ xsdtAddress: u64, oemId: ascii(6) }), header(fc.integer({ min: 2, max: 255 })), plainBytes(2000), (x, r, h, aml) => {
        const xb = encodeXsdt(x);
        expect(sum8(xb)).toBe(0);
        expect(decodeXsdt(xb)).toEqual(x);
        const rb = encodeRsdp(r);
        expect([sum8(rb, 0, 20), sum8(rb, 0, 36)]).toEqual([0, 0]);
        expect(decodeRsdp(rb)).toEqual({ ...r, revision: 2, rsdtAddress: 0 });
        const db = encodeDefinitionBlock({ signature: "SSDT", header: h, aml });
        expect(sum8(db)).toBe(0);
        expect(decodeDefinitionBlock(db)).toEqual({ signature: "SSDT", header: h, aml });
        if (x.entries.length === 0) seen.empty++;
        if (x.entries.length === MAX_XSDT_ENTRIES) seen.max++;
      }),
      { numRuns: 200 },
    );
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });
});

describe("AML properties", () => {
  it("random AML trees round-trip", () => {
    const seen = { depth4: 0, scope: 0, device: 0, method: 0, emptyMethod: 0, name: 0, package: 0, resources: 0, buffer: 0, string: 0, pkg2: 0, pkg3: 0, qword: 0, multiName: 0, parent: 0, root: 0 };
    fc.assert(
      fc.property(terms, (ts) => {
        const bytes = encodeAml(ts);
        expect(decodeAml(bytes)).toEqual(ts);
        walk(ts, (n, depth) => {
          if (depth >= 4) seen.depth4++;
          if (n.kind === "method" && n.returns === undefined) seen.emptyMethod++;
          if (n.kind === "integer" && n.value > 0xffffffffn && n.value !== (1n << 64n) - 1n) seen.qword++;
          if (n.kind !== "integer") seen[n.kind]++;
          if ("path" in n) {
            if (n.path.split(".").length >= 3) seen.multiName++;
            if (n.path.startsWith("^")) seen.parent++;
            if (n.path.startsWith("\\")) seen.root++;
          }
        });
        if (bytes.length > 0 && (bytes[0] === 0x10 || bytes[0] === 0x14)) {
          const size = decodePkgLength(bytes, 1).size;
          if (size === 2) seen.pkg2++;
          if (size === 3) seen.pkg3++;
        }
      }),
      { numRuns: 200 },
    );
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it("PkgLength round-trips at every boundary (63/64, 4095/4096, 1048575/1048576, 268435455)", () => {
    const boundaries = [0, 63, 64, 4095, 4096, 1048575, 1048576, 268435455];
    const seen = new Set<number>();
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...boundaries), fc.integer({ min: 0, max: 268435455 })), (n) => {
        const b = encodePkgLength(n);
        expect(b.length).toBe(pkgSize(n));
        expect(decodePkgLength(b, 0)).toEqual({ length: n, size: b.length });
        if (boundaries.includes(n)) seen.add(n);
      }),
      { numRuns: 500 },
    );
    expect([...seen].sort((a, b) => a - b)).toEqual(boundaries);
  });

  it("buffers across each PkgLength boundary, up to the 4-byte form, round-trip", () => {
    // A buffer of n bytes: 11 PkgLength BufferSize bytes; PkgLength = its size + BufferSize + n.
    const sizes = new Set<number>();
    const near = (limit: number) => fc.integer({ min: limit - 8, max: limit + 2 });
    fc.assert(
      fc.property(fc.oneof(near(63), near(4095), near(1048575)), (n) => {
        const bytes = new Uint8Array(n).fill(0x5a);
        const aml = encodeAml([{ kind: "name", path: "BUF_", value: { kind: "buffer", bytes } }]);
        const { length, size } = decodePkgLength(aml, 6);
        expect(length).toBe(aml.length - 6);
        expect(size).toBe(pkgSize(length));
        sizes.add(size);
        const [t] = decodeAml(aml);
        // Compared by hand: a deep toEqual of a 1 MiB array takes seconds.
        expect(t?.kind === "name" && t.path === "BUF_" && t.value.kind === "buffer").toBe(true);
        const got = t?.kind === "name" && t.value.kind === "buffer" ? t.value.bytes : new Uint8Array();
        expect(got.length).toBe(n);
        expect(got.every((x) => x === 0x5a)).toBe(true);
      }),
      { numRuns: 60 },
    );
    expect([...sizes].sort()).toEqual([1, 2, 3, 4]);
  });
});

describe("mutations", () => {
  /** Flips, overwrites, truncates or extends bytes; sometimes repairs the checksum afterwards. */
  const mutation = fc.record({
    edits: arrayIn(fc.tuple(fc.nat(), u8), 1, 4),
    // Truncation one time in five; otherwise most mutants would only be "truncated".
    truncate: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
    fixChecksum: fc.boolean(),
  });
  function mutate(b: Uint8Array, m: { edits: [number, number][]; truncate: number | undefined; fixChecksum: boolean }, sdt: boolean): Uint8Array {
    let c = b.slice();
    for (const [at, v] of m.edits) c[at % c.length] = v;
    if (m.truncate !== undefined) c = c.subarray(0, m.truncate % (c.length + 1));
    if (sdt && m.fixChecksum && c.length >= 10) {
      c[9] = 0;
      c[9] = (256 - sum8(c, 0, Math.min(c.length, new DataView(c.buffer, c.byteOffset).getUint32(4, true) >>> 0))) & 0xff;
    }
    return c;
  }
  const outcome = (f: () => unknown): string => {
    try {
      f();
      return "decoded";
    } catch (e) {
      if (isAcpiError(e)) return e.code;
      throw e;
    }
  };

  it("mutated tables give a typed error or a valid decode, never another throw", () => {
    const seen = new Map<string, number>();
    const decoders = {
      FADT: (b: Uint8Array) => decodeFadt(b),
      MADT: (b: Uint8Array) => decodeMadt(b),
      XSDT: (b: Uint8Array) => decodeXsdt(b),
      RSDP: (b: Uint8Array) => decodeRsdp(b),
      DSDT: (b: Uint8Array) => decodeAml(decodeDefinitionBlock(b).aml),
      any: (b: Uint8Array) => validateAcpiTable(b),
    };
    const table = fc.oneof(
      fadt.map((f) => ["FADT", encodeFadt(f)] as const),
      madt.map((m) => ["MADT", encodeMadt(m)] as const),
      xsdt.map((x) => ["XSDT", encodeXsdt(x)] as const),
      u64.map((a) => ["RSDP", encodeRsdp({ xsdtAddress: a })] as const),
      terms.map((t) => ["DSDT", encodeDefinitionBlock({ signature: "DSDT", aml: encodeAml(t) })] as const),
    );
    fc.assert(
      fc.property(table, mutation, fc.boolean(), ([kind, bytes], m, generic) => {
        const c = mutate(bytes, m, kind !== "RSDP");
        const o = outcome(() => (generic && kind !== "RSDP" ? decoders.any(c) : decoders[kind](c)));
        seen.set(`${kind} ${o}`, (seen.get(`${kind} ${o}`) ?? 0) + 1);
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }),
      { numRuns: 1500 },
    );
    for (const k of ["decoded", "bad-checksum", "bad-signature", "bad-length", "truncated", "bad-revision", "bad-entry", "MADT decoded", "FADT decoded", "DSDT decoded", "RSDP bad-checksum"]) {
      expect(seen.get(k) ?? 0, `outcome ${k}; seen: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
    // A DSDT whose AML was mutated under a repaired checksum fails in the AML decoder, as a bad
    // opcode or a bad name depending on where the byte fell (some seeds reach only one of them).
    expect((seen.get("bad-aml") ?? 0) + (seen.get("bad-name") ?? 0), `AML errors; seen: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
  });

  it("mutated AML gives a typed error or a valid decode, never another throw", () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(terms.filter((t) => t.length > 0), mutation, (ts, m) => {
        const c = mutate(encodeAml(ts), m, false);
        const o = outcome(() => decodeAml(c));
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }),
      { numRuns: 500 },
    );
    for (const k of ["decoded", "bad-aml", "truncated", "bad-name"]) expect(seen.get(k) ?? 0, `outcome ${k}; seen: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
  });

  it("arbitrary bytes give a typed error or a valid decode", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400, size: "max" }), (b) => {
        for (const f of [decodeAml, decodeFadt, decodeMadt, decodeXsdt, decodeRsdp, validateAcpiTable, decodeDefinitionBlock] as ((b: Uint8Array) => unknown)[]) {
          try {
            f(b);
          } catch (e) {
            if (!isAcpiError(e)) throw e;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
