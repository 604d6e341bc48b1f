// fast-check properties. Sizes are drawn explicitly (fast-check's default size would stop arrays
// at about 10 items whatever their maxLength), the limits themselves included, and counters assert
// after each property that the limits and every interesting outcome were reached.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ACPI_ACCESS_SIZE,
  ACPI_ADDRESS_SPACE,
  AML_FIELD_ACCESS,
  AML_FIELD_UPDATE,
  AML_REGION_SPACE,
  decodeAml,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  decodePkgLength,
  decodeRsdp,
  decodeXsdt,
  encodeAcpiTables,
  encodeAml,
  encodeDefinitionBlock,
  encodeDsdt,
  encodeFadt,
  encodeMadt,
  encodeNameString,
  encodePkgLength,
  encodeRsdp,
  encodeXsdt,
  isAcpiError,
  validateAcpiTable,
  type AmlData,
  type AmlExpression,
  type AmlField,
  type AmlFieldEntry,
  type AmlMethod,
  type AmlOperationRegion,
  type AmlRegionSpace,
  type AmlStatement,
  type AmlTarget,
  type AmlTerm,
  type DecodedFadt,
  type GenericAddress,
  type MadtEntry,
  type ResourceDescriptor,
  type SdtHeader,
} from "../src/index.js";
// Internal paths with properties of their own: the AML plan and writer, the FADT's size, the
// word-wise checksum.
import { planAml, writeAml } from "../src/aml.js";
import { byteSum, keyOf, keysByValue } from "../src/bytes.js";
import { fadtSize } from "../src/fadt.js";
import { codeOf, sum8 } from "./helpers.js";

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
// ---- Method bodies (ACPI 6.4 §20.2.5.3-4), operation regions and fields (§20.2.5.2) ----
const target: fc.Arbitrary<AmlTarget> = fc.oneof(
  fc.record({ kind: fc.constant("local" as const), index: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("arg" as const), index: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ kind: fc.constant("ref" as const), path: namePath }),
);
const binaryKind = fc.constantFrom("and", "or", "shift-left", "shift-right" as const);
/** Optional keys are absent, not undefined, as the decoder returns them. */
const optionalKeys = <K extends string>(...keys: K[]) => ({ requiredKeys: keys });
const { statements } = fc.letrec<{ expression: AmlExpression; statement: AmlStatement; statements: AmlStatement[] }>((tie) => {
  const binary = fc.record(
    { kind: binaryKind, left: tie("expression") as fc.Arbitrary<AmlExpression>, right: tie("expression") as fc.Arbitrary<AmlExpression>, target },
    optionalKeys("kind", "left", "right"),
  );
  return {
    expression: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      target,
      fc.record({ kind: fc.constant("integer" as const), value: integer }),
      data,
      binary,
      fc.record({ kind: fc.constantFrom("lequal", "lgreater", "lless", "land", "lor" as const), left: tie("expression"), right: tie("expression") }),
      fc.record({ kind: fc.constant("lnot" as const), operand: tie("expression") }),
    ) as fc.Arbitrary<AmlExpression>,
    statement: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.record({ kind: fc.constant("store" as const), source: tie("expression"), target }),
      fc.record({ kind: fc.constant("return" as const), value: tie("expression") }),
      fc.record({ kind: fc.constant("notify" as const), object: target, value: tie("expression") }),
      binary,
      fc.record(
        { kind: fc.constant("if" as const), predicate: tie("expression"), body: tie("statements"), else: tie("statements") },
        optionalKeys("kind", "predicate", "body"),
      ),
    ) as fc.Arbitrary<AmlStatement>,
    statements: arrayIn(tie("statement") as fc.Arbitrary<AmlStatement>, 0, 6),
  };
});
const DATA_KINDS = new Set(["integer", "string", "buffer", "resources", "package"]);
/**
 * A method in the decoder's canonical form: a body is non-empty and does not end with a Return of a
 * data object (that is what `returns` stands for), so the tree decodes back equal.
 */
const method: fc.Arbitrary<AmlMethod> = fc.record(
  {
    kind: fc.constant("method" as const),
    path: namePath,
    argCount: fc.integer({ min: 0, max: 7 }),
    serialized: fc.boolean(),
    syncLevel: fc.integer({ min: 0, max: 15 }),
    body: statements
      .filter((b) => b.length > 0)
      .map((b) => {
        const last = b[b.length - 1]!;
        return last.kind === "return" && DATA_KINDS.has(last.value.kind) ? [...b.slice(0, -1), { ...last, value: { kind: "local" as const, index: 0 } }] : b;
      }),
    returns: data,
  },
  optionalKeys("kind", "path", "argCount", "serialized", "syncLevel"),
);
const opRegion: fc.Arbitrary<AmlOperationRegion> = fc
  .tuple(namePath, fc.constantFrom(...(Object.keys(AML_REGION_SPACE) as AmlRegionSpace[])))
  .chain(([path, space]) => {
    // I/O ports end at 0x10000; other spaces at 2^64. Lengths are u32s, at least 1.
    const end = space === "SystemIO" ? 0x10000n : 1n << 64n;
    return fc.oneof(fc.constantFrom(0n, end - 1n), fc.bigInt({ min: 0n, max: end - 1n })).chain((offset) => {
      const maxLength = end - offset < 0xffffffffn ? end - offset : 0xffffffffn;
      return fc
        .oneof(fc.constantFrom(1n, maxLength), fc.bigInt({ min: 1n, max: maxLength }))
        .map((length): AmlOperationRegion => ({ kind: "operation-region", path, space, offset, length }));
    });
  });
/** Widths at the PkgLength boundaries (1, 2, 3 and 4 bytes) and small ones. */
const fieldBits = fc.oneof(fc.constantFrom(1, 63, 64, 4095, 4096, 1048575, 1048576, 268435455), fc.integer({ min: 1, max: 300 }));
const fieldEntry: fc.Arbitrary<AmlFieldEntry> = fc.oneof(
  fc.record({ kind: fc.constant("named" as const), name: seg, bits: fieldBits }),
  fc.record({ kind: fc.constant("reserved" as const), bits: fieldBits }),
);
// At most 15 entries of 2^28 - 1 bits stay below ACPICA's 2^32 bit-offset limit.
const MAX_FIELD_ENTRIES = 15;
const field: fc.Arbitrary<AmlField> = fc.record({
  kind: fc.constant("field" as const),
  region: namePath,
  accessType: fc.constantFrom(...(Object.keys(AML_FIELD_ACCESS) as (keyof typeof AML_FIELD_ACCESS)[])),
  lockRule: fc.constantFrom("NoLock", "Lock" as const),
  updateRule: fc.constantFrom(...(Object.keys(AML_FIELD_UPDATE) as (keyof typeof AML_FIELD_UPDATE)[])),
  entries: arrayIn(fieldEntry, 0, MAX_FIELD_ENTRIES),
});
const { terms } = fc.letrec<{ terms: AmlTerm[]; term: AmlTerm }>((tie) => ({
  term: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("name" as const), path: namePath, value: data }),
    method,
    opRegion,
    field,
    fc.record({ kind: fc.constantFrom("scope" as const, "device" as const), path: namePath, body: tie("terms") }),
  ),
  terms: arrayIn(tie("term") as fc.Arbitrary<AmlTerm>, 0, 12),
}));

type Node = { readonly kind: string; readonly [k: string]: unknown };
/**
 * Walks any tree of nodes (terms, data, statements, expressions, field entries) and calls `f` on
 * each node with its depth (object nesting) and the number of Ifs around it.
 */
function walk(node: unknown, f: (node: Node, depth: number, ifs: number) => void, depth = 0, ifs = 0): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, f, depth, ifs);
    return;
  }
  if (typeof node !== "object" || node === null || node instanceof Uint8Array) return;
  const n = node as Node;
  if (typeof n.kind === "string") f(n, depth, ifs);
  for (const [k, v] of Object.entries(n)) if (k !== "kind") walk(v, f, depth + 1, n.kind === "if" ? ifs + 1 : ifs);
}

/** The number of bytes a PkgLength of value n takes, from the spec's limits (ACPI 6.4 §20.2.4). */
const pkgSize = (n: number) => (n < 64 ? 1 : n < 1 << 12 ? 2 : n < 1 << 20 ? 3 : 4);

describe("keysByValue", () => {
  it("gives keyOf's answer for every byte value, duplicates and out-of-range values included", () => {
    const dup = { a: 1, b: 1, c: 300, d: -1, e: 0.5, f: 255 };
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 3 }), fc.integer({ min: -2, max: 260 }), { size: "+1" }), (options) => {
        const table = keysByValue(options);
        for (let n = 0; n < 256; n++) expect(table[n]).toBe(keyOf(options, n));
      }),
      { numRuns: 200 },
    );
    const t = keysByValue(dup);
    expect([t[0], t[1], t[255]]).toEqual([undefined, "a", "f"]);
    expect(t.length).toBe(256);
  });
});

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
  it("random AML trees round-trip, method bodies, operation regions and fields included", () => {
    const seen: Record<string, number> = {};
    const count = (k: string) => (seen[k] = (seen[k] ?? 0) + 1);
    fc.assert(
      fc.property(terms, (ts) => {
        const bytes = encodeAml(ts);
        expect(decodeAml(bytes)).toEqual(ts);
        walk(ts, (n, depth, ifs) => {
          count(n.kind);
          if (depth >= 4) count("depth4");
          if (ifs >= 3) count("if nested 3 deep");
          if (n.kind === "method") {
            if (n.body === undefined && n.returns === undefined) count("empty method");
            if (n.body !== undefined && n.returns !== undefined) count("body and returns");
          }
          if (n.kind === "if" && n.else !== undefined) count("else");
          if ((n.kind === "and" || n.kind === "or") && n.target !== undefined) count("binary with target");
          if (n.kind === "integer" && typeof n.value === "bigint" && n.value > 0xffffffffn && n.value !== (1n << 64n) - 1n) count("qword");
          if (n.kind === "field" && (n.entries as unknown[]).length === MAX_FIELD_ENTRIES) count("field max entries");
          if ((n.kind === "named" || n.kind === "reserved") && n.bits === 268435455) count("field bits 2^28-1");
          if (n.kind === "operation-region" && n.space === "SystemIO" && (n.offset as bigint) + (n.length as bigint) === 0x10000n) count("SystemIO at its end");
          if (typeof n.path === "string") {
            if (n.path.split(".").length >= 3) count("multiName");
            if (n.path.startsWith("^")) count("parent");
            if (n.path.startsWith("\\")) count("root");
          }
        });
        if (bytes.length > 0 && (bytes[0] === 0x10 || bytes[0] === 0x14)) {
          const size = decodePkgLength(bytes, 1).size;
          if (size === 2) count("pkg2");
          if (size === 3) count("pkg3");
        }
      }),
      { numRuns: 300 },
    );
    const expected = [
      ...["depth4", "scope", "device", "method", "empty method", "body and returns", "name", "package", "resources", "buffer", "string", "qword"],
      ...["pkg2", "pkg3", "multiName", "parent", "root"],
      ...["operation-region", "SystemIO at its end", "field", "named", "reserved", "field max entries", "field bits 2^28-1"],
      ...["store", "return", "notify", "if", "else", "if nested 3 deep", "local", "arg", "ref"],
      ...["and", "or", "shift-left", "shift-right", "binary with target", "lequal", "lgreater", "lless", "land", "lor", "lnot"],
    ];
    for (const k of expected) expect(seen[k] ?? 0, `${k}; seen: ${JSON.stringify(seen)}`).toBeGreaterThan(0);
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

  it("mutated method bodies, operation regions and fields give a typed error or a valid decode, never another throw", () => {
    const seen = new Map<string, number>();
    const withBodies = arrayIn(fc.oneof(method.filter((m) => m.body !== undefined), opRegion, field), 1, 4);
    fc.assert(
      fc.property(withBodies, mutation, (ts, m) => {
        const c = mutate(encodeAml(ts), m, false);
        const o = outcome(() => decodeAml(c));
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }),
      { numRuns: 800 },
    );
    for (const k of ["decoded", "bad-aml", "truncated", "bad-name"]) expect(seen.get(k) ?? 0, `outcome ${k}; seen: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
  });

  it("arbitrary bytes as a method body give a typed error or a valid decode", () => {
    const seen = new Map<string, number>();
    // Half the bytes are the opcodes a body holds, so that the decoder gets past the first one.
    const opcode = fc.constantFrom(0x70, 0xa4, 0x86, 0xa0, 0xa1, 0x79, 0x7a, 0x7b, 0x7d, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x60, 0x68, 0x0a, 0x00, 0x45, 0x5c);
    fc.assert(
      fc.property(arrayIn(fc.oneof(u8, opcode), 0, 50), (b) => {
        // Method (M___) { <bytes> }: MethodOp, a 1-byte PkgLength, the name, flags 0.
        const o = outcome(() => decodeAml(Uint8Array.of(0x14, b.length + 6, 0x4d, 0x5f, 0x5f, 0x5f, 0x00, ...b)));
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }),
      { numRuns: 2000 },
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

describe("precomputed sizes and in-place writers", () => {
  it("the AML plan's size is exactly the span the writer fills, and the bytes are encodeAml's", () => {
    const seen: Record<string, number> = {};
    const count = (k: string) => (seen[k] = (seen[k] ?? 0) + 1);
    fc.assert(
      fc.property(terms, fc.integer({ min: 0, max: 7 }), (ts, at) => {
        const plan = planAml(ts);
        // Guard bytes around the span: the writer must stop exactly at the planned end.
        const b = new Uint8Array(at + plan.size + 8).fill(0xa5);
        const end = writeAml(ts, plan, b, at);
        expect(end).toBe(at + plan.size);
        expect(b.subarray(0, at).every((x) => x === 0xa5)).toBe(true);
        expect(b.subarray(end).every((x) => x === 0xa5)).toBe(true);
        const bytes = encodeAml(ts);
        expect(bytes.length).toBe(plan.size);
        // Compared by hand: a deep toEqual of large byte arrays is slow.
        expect(bytes.every((x, i) => x === b[at + i])).toBe(true);
        if (ts.length === 0) count("empty");
        if (plan.size > 4095) count("over 4 KiB");
        walk(ts, (n) => {
          count(n.kind);
          if (typeof n.path === "string") count(/^[A-Z_][A-Z0-9_]{3}$/.test(n.path) ? "4-character name" : "other name");
        });
        if (bytes.length > 0 && (bytes[0] === 0x10 || bytes[0] === 0x14)) count(`pkg${decodePkgLength(bytes, 1).size}`);
      }),
      { numRuns: 300 },
    );
    for (const k of ["empty", "over 4 KiB", "scope", "device", "method", "name", "field", "operation-region", "package", "resources", "buffer", "if", "4-character name", "other name", "pkg1", "pkg2"]) {
      expect(seen[k] ?? 0, `${k}; seen: ${JSON.stringify(seen)}`).toBeGreaterThan(0);
    }
  });

  it("name paths: the encoded size follows the grammar, and what it rejects is a bad-name", () => {
    // An independent statement of ACPI 6.4 §20.2.2 for the paths the encoder takes.
    const rule = /^(\\|\^*)((?:[A-Z_][A-Z0-9_]{0,3})(?:\.[A-Z_][A-Z0-9_]{0,3})*)?$/;
    const expectedSize = (p: string): number | undefined => {
      const m = rule.exec(p);
      if (m === null || p === "") return undefined;
      const segs = m[2] === undefined ? 0 : m[2].split(".").length;
      if (segs > 255) return undefined;
      return m[1]!.length + (segs === 0 ? 1 : segs === 1 ? 0 : segs === 2 ? 1 : 2) + 4 * segs;
    };
    const seen: Record<string, number> = {};
    const count = (k: string) => (seen[k] = (seen[k] ?? 0) + 1);
    const path = fc.oneof(
      namePath,
      fc.string({ unit: charFrom("AZ_09.^\\a"), maxLength: 24 }),
      fc.constantFrom("", "\\", "^", "^^^", "_HID", "ABCDE", "A..B", ".A", "A.", "\\^A", Array(255).fill("A").join("."), Array(256).fill("A").join(".")),
    );
    fc.assert(
      fc.property(path, (p) => {
        const size = expectedSize(p);
        if (size === undefined) {
          expect(codeOf(() => encodeNameString(p))).toBe("bad-name");
          expect(codeOf(() => encodeAml([{ kind: "name", path: p, value: { kind: "integer", value: 0n } }]))).toBe("bad-name");
          count("rejected");
        } else {
          expect(encodeNameString(p).length).toBe(size);
          expect(planAml([{ kind: "name", path: p, value: { kind: "integer", value: 0n } }]).size).toBe(1 + size + 1);
          count(p.length === 4 && size === 4 ? "one full segment" : "other");
          if (p.split(".").length === 255) count("255 segments");
        }
        if (p.split(".").length === 256) count("256 segments");
      }),
      { numRuns: 2000 },
    );
    for (const k of ["rejected", "one full segment", "other", "255 segments", "256 segments"]) expect(seen[k] ?? 0, `${k}; seen: ${JSON.stringify(seen)}`).toBeGreaterThan(0);
  });

  it("fadtSize never throws and is the length encodeFadt writes whenever it writes one", () => {
    const seen = { rev5: 0, rev6: 0, rejected: 0 };
    const anyRevision = fadt.chain((f) => fc.oneof(fc.constant(f), fc.integer({ min: 0, max: 255 }).map((revision) => ({ ...f, header: { ...f.header, revision } }))));
    fc.assert(
      fc.property(anyRevision, (f) => {
        const size = fadtSize(f);
        let bytes: Uint8Array | undefined;
        try {
          bytes = encodeFadt(f);
        } catch (e) {
          if (!isAcpiError(e)) throw e;
        }
        if (bytes === undefined) seen.rejected++;
        else {
          expect(bytes.length).toBe(size);
          if (f.header.revision === 5) seen.rev5++;
          else seen.rev6++;
        }
      }),
      { numRuns: 300 },
    );
    for (const v of [undefined, null, 5, "x", {}, { header: null }, { header: { revision: 5 } }]) expect([268, 276]).toContain(fadtSize(v));
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it("encodeAcpiTables writes each table in place exactly as its own encoder does", () => {
    const seen = { terms: 0, bytes: 0, rev5: 0, rev6: 0, bigMadt: 0 };
    const config = fc.record({
      address: fc.oneof(fc.constant(0xe0000n), fc.bigInt({ min: 0n, max: (1n << 63n) - 1n })),
      madt,
      fadt: fadt.map(({ dsdtAddress: _, ...rest }) => rest),
      dsdt: fc.oneof(terms, plainBytes(200)),
    });
    fc.assert(
      fc.property(config, (c) => {
        const set = encodeAcpiTables(c);
        const at = (a: bigint) => set.tables.subarray(Number(a - set.xsdtAddress));
        const fadtBytes = encodeFadt({ ...c.fadt, dsdtAddress: set.dsdtAddress });
        const madtBytes = encodeMadt(c.madt);
        const dsdtBytes = c.dsdt instanceof Uint8Array ? encodeDefinitionBlock({ signature: "DSDT", aml: c.dsdt }) : encodeDsdt(c.dsdt);
        // Compared by hand: a deep toEqual of large byte arrays is slow.
        const same = (a: Uint8Array, b: Uint8Array) => a.length >= b.length && b.every((x, i) => x === a[i]);
        expect(same(at(set.xsdtAddress), encodeXsdt({ entries: [set.fadtAddress, set.madtAddress] }))).toBe(true);
        expect(same(at(set.fadtAddress), fadtBytes)).toBe(true);
        expect(same(at(set.madtAddress), madtBytes)).toBe(true);
        expect(at(set.dsdtAddress).length).toBe(dsdtBytes.length);
        expect(same(at(set.dsdtAddress), dsdtBytes)).toBe(true);
        // Nothing but zero padding between the tables.
        expect(set.tables.subarray(52, Number(set.fadtAddress - set.xsdtAddress)).every((x) => x === 0)).toBe(true);
        expect(at(set.fadtAddress).subarray(fadtBytes.length, Number(set.madtAddress - set.fadtAddress)).every((x) => x === 0)).toBe(true);
        expect(at(set.madtAddress).subarray(madtBytes.length, Number(set.dsdtAddress - set.madtAddress)).every((x) => x === 0)).toBe(true);
        if (c.dsdt instanceof Uint8Array) seen.bytes++;
        else seen.terms++;
        if (c.fadt.header.revision === 5) seen.rev5++;
        else seen.rev6++;
        if (c.madt.entries.length === MAX_MADT_ENTRIES) seen.bigMadt++;
      }),
      { numRuns: 150 },
    );
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it("the word-wise checksum equals the plain byte sum, at any alignment and length", () => {
    const seen = { short: 0, long: 0, unaligned: 0, flushes: 0, allFF: 0 };
    const bytes = fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 3000, size: "max" }), lengthIn(0, 3000).map((n) => new Uint8Array(n).fill(0xff)));
    fc.assert(
      fc.property(bytes, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (b, x, y, shift) => {
        const v = b.subarray(Math.min(shift, b.length));
        const start = v.length === 0 ? 0 : x % v.length;
        const end = start + (v.length === 0 ? 0 : y % (v.length - start + 1));
        expect(byteSum(v, start, end)).toBe(sum8(v, start, end));
        if (end - start < 64) seen.short++;
        else seen.long++;
        if ((v.byteOffset + start) % 4 !== 0) seen.unaligned++;
        if (end - start > 4 * 128) seen.flushes++;
        if (end - start > 600 && v.every((z) => z === 0xff)) seen.allFF++;
      }),
      { numRuns: 500 },
    );
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });
});
