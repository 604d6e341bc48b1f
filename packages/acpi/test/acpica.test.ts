// External validation with ACPICA, the reference implementation Linux itself embeds
// (Debian package acpica-tools): every table we emit must disassemble with `iasl -d` without
// errors or warnings and recompile to the same bytes; the DSDT must load in `acpiexec` and its
// objects evaluate to what we described. Each check has a negative control: a table corrupted on
// purpose must make it fail.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  amlCca,
  amlCrs,
  amlDevice,
  amlHid,
  amlName,
  amlPackage,
  amlScope,
  amlSta,
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

function missingTool(name: string): string | undefined {
  const r = spawnSync(name, ["-v"], { encoding: "utf8" });
  return r.error ? `${name} not installed (apt-get install acpica-tools)` : undefined;
}
const missing = missingTool("iasl") ?? missingTool("acpiexec");
const dir = missing ? "" : mkdtempSync(join(tmpdir(), "acpi-acpica-"));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: "utf8", timeout: 30_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
};

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
};

/** Disassembles with `iasl -d`; returns the ASL and every line that reports a problem. */
function disassemble(name: string, bytes: Uint8Array): { dsl: string; problems: string[] } {
  writeFileSync(join(dir, `${name}.dat`), bytes);
  const r = run("iasl", ["-d", `${name}.dat`]);
  const dslFile = join(dir, `${name}.dsl`);
  const dsl = existsSync(dslFile) ? readFileSync(dslFile, "utf8") : "";
  const problems = [
    ...(r.status === 0 ? [] : [`iasl exited with ${r.status}`]),
    ...(dsl ? [] : ["no disassembly written"]),
    ...r.out.split("\n").filter((l) => /error|warning|incorrect|invalid/i.test(l) && !/\b0 Errors\b/.test(l)),
    ...dsl.split("\n").filter((l) => /error|warning|incorrect|invalid|\*\*\*\*/i.test(l)),
  ];
  rmSync(join(dir, `${name}.dat`));
  return { dsl, problems };
}

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
function evaluate(bytes: Uint8Array, paths: string[]): { values: Map<string, string>; out: string; status: number | null } {
  writeFileSync(join(dir, "exec.dat"), bytes);
  const r = run("acpiexec", ["-b", paths.map((p) => `evaluate ${p}`).join("; "), "exec.dat"]);
  const values = new Map<string, string>();
  for (const block of r.out.split(/^Evaluation of /m).slice(1)) {
    const path = block.split(" ")[0]!;
    const lines = block.split("\n").slice(1);
    const first = lines[0] ?? "";
    const int = /\[Integer\] = ([0-9A-F]+)/.exec(first);
    const str = /\[String\] Length \w+ = "(.*)"/.exec(first);
    if (int) values.set(path, `int ${BigInt("0x" + int[1]).toString(16)}`);
    else if (str) values.set(path, `str ${str[1]}`);
    else if (/\[Buffer\]/.test(first)) {
      const bytes: string[] = [];
      for (const l of lines.slice(1)) {
        const m = /^\s+[0-9A-F]{4}: ((?:[0-9A-F]{2} )+)/.exec(l);
        if (!m) break;
        bytes.push(...m[1]!.trim().split(" "));
      }
      values.set(path, `buf ${bytes.join(" ").toLowerCase()}`);
    } else values.set(path, `other ${first.trim()}`);
  }
  return { values, out: r.out, status: r.status };
}

const title = (t: string) => (missing ? `${t} (skipped: ${missing})` : t);

describe.skipIf(missing !== undefined)(title("iasl -d: every table disassembles cleanly and recompiles to our bytes"), () => {
  it.each(Object.keys(tables))("%s", (name) => {
    const bytes = tables[name]!;
    const { dsl, problems } = disassemble(name, bytes);
    expect(problems).toEqual([]);
    expect(unexpectedDifferences(bytes, recompile(name, dsl))).toEqual([]);
  });

  it("our decoder reads iasl's own compilation of the DSDT as the tree we built", () => {
    const { dsl } = disassemble("dsdt-tree", tables.dsdt!);
    const aml = recompile("dsdt-tree", dsl).subarray(36);
    const pad = (p: string) => p.replace(/[A-Z0-9_]+/g, (seg) => seg.padEnd(4, "_"));
    const norm = (ts: readonly AmlTerm[]): AmlTerm[] =>
      ts.map((t) => (t.kind === "scope" || t.kind === "device" ? { ...t, path: pad(t.path), body: norm(t.body) } : { ...t, path: pad(t.path) }));
    expect(decodeAml(aml)).toEqual(norm(dsdtTerms));
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
