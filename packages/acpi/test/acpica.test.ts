// External validation with ACPICA, the reference implementation Linux itself embeds
// (Debian package acpica-tools): every table we emit must disassemble with `iasl -d` without
// errors or warnings and recompile to the same bytes; the DSDT must load in `acpiexec` and its
// objects evaluate to what we described. Each check has a negative control: a table corrupted on
// purpose must make it fail.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  amlAnd,
  amlArg,
  amlCca,
  amlCrs,
  amlDevice,
  amlField,
  amlHid,
  amlIf,
  amlLAnd,
  amlLEqual,
  amlLGreater,
  amlLLess,
  amlLNot,
  amlLOr,
  amlLocal,
  amlMethod,
  amlName,
  amlNamedField,
  amlNotify,
  amlOperationRegion,
  amlOr,
  amlPackage,
  amlRef,
  amlReservedField,
  amlReturn,
  amlScope,
  amlShiftLeft,
  amlShiftRight,
  amlSta,
  amlStore,
  amlUid,
  decodeAml,
  encodeAcpiTables,
  extendedInterrupt,
  ioPort,
  madtForCpus,
  memory32Fixed,
  type AmlTerm,
} from "../src/index.js";
import { fixChecksum, hexBytes, mmio8 } from "./helpers.js";
import { AcpicaWorkdir, acpicaMissing } from "../../../test/acpica.ts";

const missing = acpicaMissing();
const work = missing ? undefined : new AcpicaWorkdir();
afterAll(() => work?.dispose());
const dir = work?.dir ?? "";
const run = (cmd: string, args: string[]) => (work as AcpicaWorkdir).run(cmd, args);

/** A virtio-mmio transport as a board describes it: QEMU microvm's window and GSI layout. */
const virtio = (n: number): AmlTerm =>
  amlDevice(`VR${String(n).padStart(2, "0")}`, [
    amlHid("LNRO0005"),
    amlUid(n),
    amlCca(),
    amlSta(),
    amlCrs([memory32Fixed(0xfeb00000 + n * 0x200, 0x200), extendedInterrupt([24 + n])]),
  ]);
const dsdtTerms: AmlTerm[] = [
  amlScope("\\_SB", [
    amlDevice("COM1", [amlHid("PNP0501"), amlUid(0), amlSta(), amlCrs([ioPort(0x3f8, 8), extendedInterrupt([4], { trigger: "edge" })])]),
    virtio(0),
    virtio(1),
    virtio(23),
  ]),
  amlName("\\_S5", amlPackage([5, 0])),
];
const set = encodeAcpiTables({
  address: 0xe0000n,
  madt: madtForCpus({ cpus: 4, ioApics: [{ id: 4, address: 0xfec00000, gsiBase: 0 }, { id: 5, address: 0xfec10000, gsiBase: 24 }] }),
  fadt: { sleepControlRegister: mmio8(0xfea00200n), sleepStatusRegister: mmio8(0xfea00201n), resetRegister: mmio8(0xfea00202n), resetValue: 0x42 },
  dsdt: dsdtTerms,
});
/**
 * A Generic Event Device (ACPI0013, ACPI 6.4 §5.6.9) whose `_EVT` reads an event register and
 * notifies a power button (PNP0C0C) with 0x80 when bit 1 is set; SETE, RSEL and CALC exist for the
 * test: they write and read the register and run the other operations.
 */
const gedTerms: AmlTerm[] = [
  amlScope("\\_SB", [
    amlDevice("GED", [
      amlHid("ACPI0013"),
      amlUid(0),
      amlCrs([extendedInterrupt([9], { trigger: "edge" })]),
      amlOperationRegion("EREG", "SystemMemory", 0xfea00000, 8),
      amlField("EREG", "DWordAcc", "NoLock", "WriteAsZeros", [amlNamedField("ESEL", 32), amlReservedField(16), amlNamedField("ECTL", 8)]),
      // Method (_EVT, 1, Serialized) { Local0 = ESEL; If ((Local0 & 2) == 2) { Notify (PWRB, 0x80) } }
      amlMethod("_EVT", [amlStore(amlRef("ESEL"), amlLocal(0)), amlIf(amlLEqual(amlAnd(amlLocal(0), 2), 2), [amlNotify("PWRB", 0x80)])], { argCount: 1, serialized: true }),
      amlMethod("SETE", [amlStore(amlArg(0), "ESEL")], { argCount: 1 }),
      amlMethod("RSEL", [amlReturn(amlRef("ESEL"))]),
      // Local1 = (Arg0 << 4) | 1; Local2 = Local1 >> 1; If (Local1 > 0x10 && Arg0 >= 1) { Return (Local2) } Else { Return (Arg0 || 0) }
      // (with targets rather than Store, as iasl compiles `Local1 = (… | …)`, so that the bytes recompile the same)
      amlMethod(
        "CALC",
        [
          amlOr(amlShiftLeft(amlArg(0), 4), 1, amlLocal(1)),
          amlShiftRight(amlLocal(1), 1, amlLocal(2)),
          amlIf(amlLAnd(amlLGreater(amlLocal(1), 0x10), amlLNot(amlLLess(amlArg(0), 1))), [amlReturn(amlLocal(2))], [amlReturn(amlLOr(amlArg(0), 0))]),
        ],
        { argCount: 1 },
      ),
    ]),
    amlDevice("PWRB", [amlHid("PNP0C0C")]),
  ]),
];
const gedSet = encodeAcpiTables({ address: 0xe0000n, madt: madtForCpus({ cpus: 1 }), dsdt: gedTerms });
const bigMadt = encodeAcpiTables({ address: 0x100000n, madt: madtForCpus({ cpus: 288 }), dsdt: [] });
const tableAt = (s: typeof set, a: bigint): Uint8Array => {
  const t = s.tables.subarray(Number(a - s.xsdtAddress));
  return t.slice(0, new DataView(t.buffer, t.byteOffset).getUint32(4, true));
};
const tables: Record<string, Uint8Array> = {
  xsdt: tableAt(set, set.xsdtAddress),
  facp: tableAt(set, set.fadtAddress),
  apic: tableAt(set, set.madtAddress),
  dsdt: tableAt(set, set.dsdtAddress),
  apic288: tableAt(bigMadt, bigMadt.madtAddress),
  ged: tableAt(gedSet, gedSet.dsdtAddress),
};

const disassemble = (name: string, bytes: Uint8Array): { dsl: string; problems: string[] } => (work as AcpicaWorkdir).disassemble(name, bytes);

/** Recompiles a disassembly with `iasl -oa` (no optimisations) and returns the bytes. */
function recompile(name: string, dsl: string): Uint8Array {
  writeFileSync(join(dir, `${name}-rc.dsl`), dsl);
  const r = run("iasl", ["-oa", `${name}-rc.dsl`]);
  expect(r.status, r.out).toBe(0);
  return new Uint8Array(readFileSync(join(dir, `${name}-rc.aml`)));
}

/**
 * Offsets where iasl's bytes may differ from ours: the checksum (9), the creator id and revision
 * (28..35, iasl writes its own), and End Tag checksums, which iasl writes as 0 ("not used").
 */
function unexpectedDifferences(ours: Uint8Array, theirs: Uint8Array): number[] {
  if (ours.length !== theirs.length) return [-1];
  const out: number[] = [];
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] === theirs[i] || i === 9 || (i >= 28 && i <= 35)) continue;
    if (theirs[i] === 0 && ours[i - 1] === 0x79 && theirs[i - 1] === 0x79) continue;
    out.push(i);
  }
  return out;
}

/** Runs acpiexec in batch mode on a DSDT; returns the objects' values by path, and the log. */
const evaluate = (bytes: Uint8Array, paths: string[]) => (work as AcpicaWorkdir).exec(bytes, paths.map((p) => `evaluate ${p}`));

const title = (t: string) => (missing ? `${t} (skipped: ${missing})` : t);

describe.skipIf(missing !== undefined)(title("iasl -d: every table disassembles cleanly and recompiles to our bytes"), () => {
  it.each(Object.keys(tables))("%s", (name) => {
    const bytes = tables[name]!;
    const { dsl, problems } = disassemble(name, bytes);
    expect(problems).toEqual([]);
    expect(unexpectedDifferences(bytes, recompile(name, dsl))).toEqual([]);
  });

  it.each([
    ["dsdt", dsdtTerms],
    ["ged", gedTerms],
  ] as const)("our decoder reads iasl's own compilation of the %s as the tree we built", (name, terms) => {
    const { dsl } = disassemble(`${name}-tree`, tables[name]!);
    const aml = recompile(`${name}-tree`, dsl).subarray(36);
    const pad = (p: string) => p.replace(/[A-Z0-9_]+/g, (seg) => seg.padEnd(4, "_"));
    /** Names as the decoder returns them: every segment padded to 4 characters. */
    const norm = (x: unknown): unknown => {
      if (Array.isArray(x)) return x.map(norm);
      if (typeof x !== "object" || x === null || x instanceof Uint8Array) return x;
      const o = x as Record<string, unknown>;
      const padded = (k: string, v: unknown) => typeof v === "string" && (k === "path" || k === "region" || (k === "name" && o.kind === "named"));
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, padded(k, v) ? pad(v as string) : norm(v)]));
    };
    expect(decodeAml(aml)).toEqual(norm(terms));
  });

  it("the disassembly says what we meant", () => {
    const fadt = disassemble("facp-check", tables.facp!).dsl;
    expect(fadt).toMatch(/Hardware Reduced \(V5\) : 1/);
    expect(fadt).toMatch(/Reset Register Supported \(V2\) : 1/);
    expect(fadt).toMatch(/Sleep Control Register : \[Generic Address Structure\]\s*\n.*Space ID : 00 \[SystemMemory\][\s\S]*?Address : 00000000FEA00200/);
    expect(fadt).toMatch(/Value to cause reset : 42/);
    const madt = disassemble("apic-check", tables.apic288!).dsl;
    expect(madt.match(/Subtable Type : 00 \[Processor Local APIC\]/g)).toHaveLength(255);
    expect(madt.match(/Subtable Type : 09 \[Processor Local x2APIC\]/g)).toHaveLength(33);
    const dsdt = disassemble("dsdt-check", tables.dsdt!).dsl;
    expect(dsdt).toContain('Name (_HID, EisaId ("PNP0501")');
    expect(dsdt.match(/Name \(_HID, "LNRO0005"\)/g)).toHaveLength(3);
    expect(dsdt).toMatch(/Memory32Fixed \(ReadWrite,\s*\n\s*0xFEB02E00,\s*\/\/ Address Base\s*\n\s*0x00000200,/);
    expect(dsdt).toMatch(/Interrupt \(ResourceConsumer, Level, ActiveHigh, Exclusive, ,, \)\s*\n\s*\{\s*\n\s*0x0000002F,/);
  });

  it.each(Object.keys(tables))("negative control: %s with a wrong checksum is reported", (name) => {
    const bad = tables[name]!.slice();
    bad[9] = (bad[9]! + 1) & 0xff;
    expect(disassemble(`bad-${name}`, bad).problems.join("\n")).toMatch(/incorrect checksum/i);
  });

  it("negative control: a changed field (checksum repaired) no longer recompiles to the bytes we meant", () => {
    const bad = tables.facp!.slice();
    bad[252] = 0x03; // the sleep control register's address, 0xfea00200 -> 0xfea00203
    const { dsl, problems } = disassemble("facp-changed", fixChecksum(bad));
    expect(problems).toEqual([]);
    expect(unexpectedDifferences(tables.facp!, recompile("facp-changed", dsl))).toEqual([252]);
  });
});

describe.skipIf(missing !== undefined)(title("iasl compiles the RSDP from its fields to our bytes"), () => {
  // ACPICA's data-table compiler computes both checksums itself (ACPI 6.4 §5.2.5.3 layout).
  const source = (xsdt: bigint) => `[0008] Signature : "RSD PTR "
[0001] Checksum : 00
[0006] Oem ID : "MICROV"
[0001] Revision : 02
[0004] RSDT Address : 00000000
[0004] Length : 00000024
[0008] XSDT Address : ${xsdt.toString(16).toUpperCase().padStart(16, "0")}
[0001] Extended Checksum : 00
[0003] Reserved : 000000
`;
  const compile = (): Uint8Array => {
    writeFileSync(join(dir, "rsdp.asl"), source(0xe0000n));
    const r = run("iasl", ["rsdp.asl"]);
    expect(r.status, r.out).toBe(0);
    return new Uint8Array(readFileSync(join(dir, "rsdp.aml")));
  };
  it("byte for byte", () => {
    expect([...set.rsdp]).toEqual([...compile()]);
  });
  it("negative control: a corrupted extended checksum differs", () => {
    const bad = set.rsdp.slice();
    bad[32] = (bad[32]! + 1) & 0xff;
    expect([...bad]).not.toEqual([...compile()]);
  });
});

describe.skipIf(missing !== undefined)(title("acpiexec loads the DSDT and evaluates the devices' objects"), () => {
  // Expected values written out from ACPI 6.4 §6.4.3.4 and §6.4.3.6, not by our encoder.
  /** A template's bytes, the End Tag and the checksum byte that makes them sum to 0 (§6.4.2.9). */
  const template = (bytes: number[]) => {
    const all = [...bytes, 0x79];
    const sum = all.reduce((a, b) => a + b, 0);
    return `buf ${[...all, (256 - (sum & 0xff)) & 0xff].map((x) => x.toString(16).padStart(2, "0")).join(" ")}`;
  };
  const le32 = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
  // Memory32Fixed (86, length 9, read-write, base, length), Interrupt (89, length 6, consumer +
  // level + active high + exclusive = 01, one interrupt, the GSI).
  const crs = (n: number) => template([0x86, 0x09, 0x00, 0x01, ...le32(0xfeb00000 + n * 0x200), ...le32(0x200), 0x89, 0x06, 0x00, 0x01, 0x01, ...le32(24 + n)]);
  const paths = ["\\_SB.VR00._CRS", "\\_SB.VR01._CRS", "\\_SB.VR23._CRS", "\\_SB.VR23._STA", "\\_SB.VR23._HID", "\\_SB.VR23._UID", "\\_SB.VR23._CCA", "\\_SB.COM1._HID", "\\_SB.COM1._CRS"];
  const expected = new Map([
    ["\\_SB.VR00._CRS", crs(0)],
    ["\\_SB.VR01._CRS", crs(1)],
    ["\\_SB.VR23._CRS", crs(23)],
    ["\\_SB.VR23._STA", "int f"],
    ["\\_SB.VR23._HID", "str LNRO0005"],
    ["\\_SB.VR23._UID", "int 17"],
    ["\\_SB.VR23._CCA", "int 1"],
    ["\\_SB.COM1._HID", "int 105d041"],
    // IO (47, decode16, 0x3f8, 0x3f8, alignment 1, 8 ports); Interrupt with flags 03 (edge).
    ["\\_SB.COM1._CRS", template([...hexBytes("47 01 f8 03 f8 03 01 08 89 06 00 03 01 04 00 00 00")])],
  ]);

  it("_CRS, _STA, _HID, _UID, _CCA", () => {
    const r = evaluate(tables.dsdt!, paths);
    expect(r.out).toMatch(/1 ACPI AML tables successfully acquired and loaded/);
    expect(r.out).not.toMatch(/ACPI Error|Warning/i);
    expect(r.values).toEqual(expected);
  });

  it("negative control: a corrupted DSDT does not load", () => {
    const bad = tables.dsdt!.slice();
    bad[9] = (bad[9]! + 1) & 0xff;
    const r = evaluate(bad, paths);
    expect(r.out).toMatch(/Incorrect checksum|install failed/i);
    expect(r.values).not.toEqual(expected);
  });

  it("negative control: a changed GSI (checksum repaired) evaluates to something else", () => {
    const bad = tables.dsdt!.slice();
    // The first byte 0x18 (GSI 24) after an extended interrupt header 89 06 00 01 01.
    let at = -1;
    for (let i = 0; i < bad.length - 5; i++) if (bad[i] === 0x89 && bad[i + 3] === 0x01 && bad[i + 5] === 0x18) at = i + 5;
    expect(at).toBeGreaterThan(0);
    bad[at] = 0x30;
    const r = evaluate(fixChecksum(bad), paths);
    expect(r.out).toMatch(/successfully acquired and loaded/);
    expect(r.values).not.toEqual(expected);
  });
});

describe.skipIf(missing !== undefined)(title("a Generic Event Device: iasl shows the OperationRegion, Field, If and Notify; acpiexec runs _EVT"), () => {
  /** What the GED's disassembly must say; returns the expectations it misses. */
  const gedDslMisses = (dsl: string): string[] =>
    [
      /OperationRegion \(EREG, SystemMemory, 0xFEA00000, 0x08\)/,
      /Field \(EREG, DWordAcc, NoLock, WriteAsZeros\)\s*\n\s*\{\s*\n\s*ESEL,\s+32,\s*\n\s*Offset \(0x06\),\s*\n\s*ECTL,\s+8\s*\n\s*\}/,
      /Method \(_EVT, 1, Serialized\)[^\n]*\n\s*\{\s*\n\s*Local0 = ESEL \/\* \\_SB_\.GED_\.ESEL \*\/\s*\n\s*If \(\(\(Local0 & 0x02\) == 0x02\)\)\s*\n\s*\{\s*\n\s*Notify \(PWRB, 0x80\)/,
      /Method \(SETE, 1, NotSerialized\)\s*\n\s*\{\s*\n\s*ESEL = Arg0/,
      /Return \(ESEL\)/,
      /Local1 = \(\(Arg0 << 0x04\) \| One\)\s*\n\s*Local2 = \(Local1 >> One\)\s*\n\s*If \(\(\(Local1 > 0x10\) && \(Arg0 >= One\)\)\)/,
      /Else\s*\n\s*\{\s*\n\s*Return \(\(Arg0 \|\| Zero\)\)/,
      /Device \(PWRB\)\s*\n\s*\{\s*\n\s*Name \(_HID, EisaId \("PNP0C0C"\)/,
    ]
      .filter((re) => !re.test(dsl))
      .map(String);

  /** Each `Evaluating` block of an acpiexec batch run: the path, the integer returned, the notifies, the AE_ errors. */
  function execute(bytes: Uint8Array, commands: string[]) {
    writeFileSync(join(dir, "ged.dat"), bytes);
    const r = run("acpiexec", ["-b", commands.map((c) => `evaluate ${c}`).join("; "), "ged.dat"]);
    const runs = r.out
      .split(/^Evaluating /m)
      .slice(1)
      .map((block) => ({
        path: block.split(/\s/)[0]!,
        integer: /\[Integer\] = ([0-9A-F]+)/.exec(block)?.[1]?.replace(/^0+(?=.)/, ""),
        notifies: [...block.matchAll(/Received a Device Notify on \[(\w+)\] \S+ Value (0x[0-9A-F]+)/gi)].map((m) => `${m[1]} ${m[2]}`),
        errors: [...new Set(block.match(/\bAE_[A-Z_]+/g) ?? [])],
      }));
    return { runs, out: r.out };
  }
  /** The objects, and the problems of the run: a table that did not load, ACPI errors or warnings. */
  const loadProblems = (out: string) => [
    ...(/1 ACPI AML tables successfully acquired and loaded/.test(out) ? [] : ["the DSDT did not load"]),
    ...out.split("\n").filter((l) => /ACPI Error|Firmware Error|Warning|AE_/i.test(l)),
  ];
  /** The GED's DSDT with `ESEL` renamed `FSEL` where _EVT reads it (checksum repaired). */
  const corrupted = (): Uint8Array => {
    const bad = tables.ged!.slice();
    const store = hexBytes("70 45 53 45 4c 60"); // Store (ESEL, Local0)
    const at = bad.findIndex((_, i) => store.every((b, k) => bad[i + k] === b));
    expect(at).toBeGreaterThan(36);
    bad[at + 1] = 0x46;
    return fixChecksum(bad);
  };

  it("iasl -d disassembles it without errors or warnings, with the OperationRegion, Field, If and Notify", () => {
    const { dsl, problems } = disassemble("ged-check", tables.ged!);
    expect(problems).toEqual([]);
    expect(gedDslMisses(dsl)).toEqual([]);
  });

  it("negative control: one corrupted byte (ESEL read as FSEL) no longer disassembles to the GED", () => {
    const { dsl } = disassemble("ged-bad", corrupted());
    expect(dsl).toMatch(/External \(FSEL/);
    expect(gedDslMisses(dsl)).not.toEqual([]);
  });

  it("acpiexec evaluates \\_SB.GED._EVT 9: no notify while the register is 0; a notify 0x80 to PWRB once bit 1 is set", () => {
    const { runs, out } = execute(tables.ged!, ["\\_SB.GED._EVT 9", "\\_SB.GED.SETE 1", "\\_SB.GED._EVT 9", "\\_SB.GED.SETE 2", "\\_SB.GED._EVT 9", "\\_SB.GED.RSEL"]);
    expect(loadProblems(out)).toEqual([]);
    expect(runs.map((r) => [r.path, r.notifies, r.errors])).toEqual([
      ["\\_SB.GED._EVT", [], []],
      ["\\_SB.GED.SETE", [], []],
      ["\\_SB.GED._EVT", [], []],
      ["\\_SB.GED.SETE", [], []],
      ["\\_SB.GED._EVT", ["PWRB 0x80"], []],
      ["\\_SB.GED.RSEL", [], []],
    ]);
    expect(runs[5]!.integer).toBe("2");
  });

  it("acpiexec runs the other operations: CALC 2 is 0x10 (the If), CALC 0 is 0 (the Else)", () => {
    // (2 << 4) | 1 = 0x21 > 0x10 and 2 >= 1: Local2 = 0x21 >> 1 = 0x10. (0 << 4) | 1 = 1: Else, 0 || 0 = 0.
    const { runs, out } = execute(tables.ged!, ["\\_SB.GED.CALC 2", "\\_SB.GED.CALC 0"]);
    expect(loadProblems(out)).toEqual([]);
    expect(runs.map((r) => [r.integer, r.errors])).toEqual([
      ["10", []],
      ["0", []],
    ]);
  });

  it("negative control: with the corrupted byte, _EVT fails with AE_NOT_FOUND", () => {
    const { runs, out } = execute(corrupted(), ["\\_SB.GED._EVT 9"]);
    expect(out).toMatch(/successfully acquired and loaded/);
    expect(runs[0]!.errors).toContain("AE_NOT_FOUND");
    expect(loadProblems(out)).not.toEqual([]);
  });
});
