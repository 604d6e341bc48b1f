// The board with ACPI (`acpi: true`, the CLI's -M microvm,acpi=on), as a plan: where the tables
// go, what they say compared with the MPTable and the transports, and what ACPICA (the reference
// implementation Linux embeds) makes of them. Negative controls: the same board without ACPI, and
// tables corrupted on purpose.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAml, decodeDefinitionBlock, decodeFadt, decodeMadt, decodeRsdp, decodeXsdt, type AmlTerm, type ResourceDescriptor } from "@microvm/acpi";
import { buildGuests } from "../../../test/guests/harness.ts";
import { AcpicaWorkdir, acpicaMissing } from "../../../test/acpica.ts";
import { GED, KVM_PLATFORM, MICROVM_LAYOUT, isMicrovmError, planMachine, qemuPlatform, type MachineConfig, type MachinePlan } from "../src/index.js";

let kernel: Uint8Array;
beforeAll(async () => {
  kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
});

const board = (c: Omit<MachineConfig, "kernel"> = {}): MachinePlan => planMachine({ kernel, acpi: true, ...c });
const devices = [{ kind: "blk" as const }, { kind: "net" as const }, { kind: "rng" as const }, { kind: "console" as const }, { kind: "rng" as const, slot: 7 }];

/** One table of the plan's blob, by signature, cut to its header's length. */
function table(plan: MachinePlan, sig: "XSDT" | "FACP" | "APIC" | "DSDT"): Uint8Array {
  const a = plan.acpi;
  if (!a) throw new Error("the plan has no ACPI");
  const t = a.tables.subarray(Number(a.addresses[sig] - a.tablesAddress));
  return t.slice(0, new DataView(t.buffer, t.byteOffset).getUint32(4, true));
}

/** The devices under \_SB of the plan's DSDT, by name, with their named objects. */
function dsdtDevices(plan: MachinePlan): Map<string, Map<string, AmlTerm>> {
  const terms = decodeAml(decodeDefinitionBlock(table(plan, "DSDT"), "DSDT").aml);
  const sb = terms.find((t) => t.kind === "scope" && t.path === "\\_SB_");
  const out = new Map<string, Map<string, AmlTerm>>();
  if (sb?.kind !== "scope") return out;
  for (const d of sb.body) {
    if (d.kind !== "device") continue;
    out.set(d.path, new Map(d.body.flatMap((o) => ("path" in o ? [[o.path, o] as [string, AmlTerm]] : []))));
  }
  return out;
}

/** A `Name`'s resource descriptors. */
function resources(o: AmlTerm | undefined): readonly ResourceDescriptor[] {
  if (o?.kind !== "name" || o.value.kind !== "resources") throw new Error(`expected a resource template, got ${JSON.stringify(o)}`);
  return o.value.descriptors;
}

describe("a board with ACPI: the plan", () => {
  it("puts the RSDP and the tables in the reserved range, points start_info at the RSDP, reserves the range in the E820 map", () => {
    const p = board({ cpus: 3, legacy: true, devices });
    const a = p.acpi;
    expect(a).toBeDefined();
    if (!a) return;
    expect(a.rsdpAddress).toBe(BigInt(MICROVM_LAYOUT.acpiBase));
    expect(p.boot.startInfo.rsdpPaddr).toBe(a.rsdpAddress);
    // reserved (merged with the F-segment's reserved range that follows)
    expect(p.e820.some((e) => e.type === 2 && e.addr <= 0xe0000n && e.addr + e.size >= 0xf0000n)).toBe(true);
    expect(decodeRsdp(a.rsdp).xsdtAddress).toBe(a.addresses.XSDT);
    expect(decodeXsdt(table(p, "XSDT")).entries).toEqual([a.addresses.FACP, a.addresses.APIC]);
    expect(decodeFadt(table(p, "FACP")).dsdtAddress).toBe(a.addresses.DSDT);
    // every blob the engines copy, the ACPI ones inside the reserved range, none overlapping another
    const acpiBlobs = p.blobs.filter((b) => b.name.startsWith("ACPI"));
    expect(acpiBlobs.map((b) => b.name)).toEqual(["ACPI RSDP", "ACPI tables"]);
    for (const b of acpiBlobs) {
      expect(b.address >= a.reserved.start && b.address + BigInt(b.bytes.length) <= a.reserved.start + a.reserved.size).toBe(true);
    }
    const spans = p.blobs.map((b) => [b.address, b.address + BigInt(b.bytes.length)] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0] >= spans[i - 1]![1], `blob ${i} overlaps the one before`).toBe(true);
    // the listing shows the GED's registers, named as QEMU names them
    expect(p.listing.filter((l) => l.includes("acpi-ged"))).toHaveLength(2);
  });

  it("the FADT is hardware-reduced and points at the GED's sleep and reset registers", () => {
    const f = decodeFadt(table(board(), "FACP"));
    expect(f.flags & 0x100000).toBe(0x100000); // HW_REDUCED_ACPI
    expect(f.sleepControlRegister?.address).toBe(MICROVM_LAYOUT.gedBase + GED.regsOffset);
    expect(f.sleepStatusRegister?.address).toBe(MICROVM_LAYOUT.gedBase + GED.regsOffset + 1n);
    expect(f.resetRegister?.address).toBe(MICROVM_LAYOUT.gedBase + GED.regsOffset + 2n);
    expect(f.resetValue).toBe(GED.resetValue);
  });

  it.each([
    ["kvm", 1, KVM_PLATFORM],
    ["kvm", 200, KVM_PLATFORM],
    ["qemu", 4, qemuPlatform({ accel: "tcg" })],
  ] as const)("the MADT says what the MPTable says (%s platform, %d CPUs)", (_name, cpus, platform) => {
    const p = board({ cpus, platform });
    const madt = decodeMadt(table(p, "APIC"));
    const lapics = madt.entries.flatMap((e) => (e.type === "local-apic" ? [e.apicId] : []));
    expect(lapics).toEqual(p.mptable.table.processors.map((c) => c.apicId));
    const ioapics = madt.entries.filter((e) => e.type === "io-apic");
    expect(ioapics).toEqual([{ type: "io-apic", id: p.mptable.table.ioApics[0]?.id, address: p.mptable.table.ioApics[0]?.address, gsiBase: 0 }]);
    // the IRQ0 override exactly where the MPTable routes IRQ0 to pin 2
    const overrides = madt.entries.filter((e) => e.type === "interrupt-override");
    const irq0 = p.mptable.table.ioInterrupts.find((e) => e.sourceIrq === 0);
    expect(overrides.map((o) => (o.type === "interrupt-override" ? [o.source, o.gsi] : []))).toEqual(irq0?.destPin === 2 ? [[0, 2]] : []);
  });

  it("the DSDT describes exactly the transports holding a device (window, GSI), the UART in legacy mode, the GED and its power button", () => {
    for (const legacy of [false, true]) {
      const p = board({ legacy, devices });
      const found = dsdtDevices(p);
      const vr = [...found.keys()].filter((k) => k.startsWith("VR")).sort();
      const withDevice = p.transports.filter((t) => t.device);
      expect(vr).toEqual(withDevice.map((t) => `VR${t.index.toString(16).toUpperCase().padStart(2, "0")}`));
      for (const t of withDevice) {
        const d = found.get(`VR${t.index.toString(16).toUpperCase().padStart(2, "0")}`);
        const hid = d?.get("_HID");
        expect(hid?.kind === "name" && hid.value).toEqual({ kind: "string", value: "LNRO0005" });
        expect(resources(d?.get("_CRS"))).toEqual([
          { type: "memory32-fixed", writable: true, base: Number(t.base), length: 0x200 },
          { type: "interrupt", consumer: true, trigger: "edge", polarity: "active-high", shared: false, wakeCapable: false, interrupts: [t.gsi] },
        ]);
      }
      expect(found.has("COM1")).toBe(legacy);
      const ged = found.get("GED_");
      expect(resources(ged?.get("_CRS"))).toEqual([
        { type: "interrupt", consumer: true, trigger: "edge", polarity: "active-high", shared: false, wakeCapable: false, interrupts: [MICROVM_LAYOUT.gedGsi] },
      ]);
      expect(found.has("PWRB")).toBe(true);
    }
  });

  it("with ACPI the transports move to GSIs 16..23 on both platforms (as QEMU's acpi=on wires them), clear of the GED's ISA IRQ", () => {
    for (const platform of [KVM_PLATFORM, qemuPlatform({ accel: "tcg" })]) {
      expect(board({ platform }).transports.map((t) => t.gsi)).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
      // negative control: without ACPI they stay at 5..12
      expect(planMachine({ kernel, platform }).transports.map((t) => t.gsi)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    }
    // the MPTable routes them too (an identity entry per GSI up to 23)
    expect(board().mptable.table.ioInterrupts.map((e) => e.sourceIrq)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    // QEMU fixes the base: a board cannot move it there
    expect(() => board({ platform: qemuPlatform({ accel: "tcg" }), layout: { virtioGsiBase: 5 } })).toThrow(/layout\.virtioGsiBase: the qemu-7\.2\/tcg platform fixes it at 16, got 5/);
  });

  it("a KVM board that keeps its transports on GSIs 5..12: the one on the GED's GSI stays empty, an explicit slot on it and an 8th device are refused", () => {
    const low = { layout: { virtioGsiBase: 5 } };
    const gedSlot = MICROVM_LAYOUT.gedGsi - 5;
    const seven = Array.from({ length: 7 }, () => ({ kind: "rng" as const }));
    const board = (c: Omit<MachineConfig, "kernel">): MachinePlan => planMachine({ kernel, acpi: true, ...low, ...c });
    const p = board({ devices: seven });
    expect(p.transports[gedSlot]?.device).toBeUndefined();
    expect(p.transports.filter((t) => t.device)).toHaveLength(7);
    const refused = (c: Omit<MachineConfig, "kernel">): string => {
      try {
        board(c);
      } catch (e) {
        return isMicrovmError(e) ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
      }
      return "accepted";
    };
    expect(refused({ devices: [...seven, { kind: "rng" }] })).toMatch(/^too-many-devices: devices: expected at most 7 .*transport 4 is on the GED's GSI 9/);
    expect(refused({ devices: [{ kind: "rng", slot: gedSlot }] })).toMatch(/^invalid-argument: devices\[0\]\.slot: transport 4 is on GSI 9, which the ACPI GED uses/);
    // negative control: without ACPI, transport 4 takes a device and eight fit
    expect(planMachine({ kernel, devices: [...seven, { kind: "rng" }] }).transports[gedSlot]?.device).toBeDefined();
  });

  it("negative control: the same board without ACPI has no tables, no rsdp_paddr, no reserved range, no GED", () => {
    const p = planMachine({ kernel, devices });
    expect(p.acpi).toBeUndefined();
    expect(p.boot.startInfo.rsdpPaddr).toBe(0n);
    expect(p.e820.some((e) => e.type === 2 && e.addr <= 0xe0000n && e.addr + e.size > 0xe0000n)).toBe(false);
    expect(p.listing.some((l) => l.includes("acpi-ged"))).toBe(false);
    expect(p.blobs.some((b) => b.name.startsWith("ACPI"))).toBe(false);
  });

  it("acpi must be a boolean", () => {
    expect(() => planMachine({ kernel, acpi: "on" as unknown as boolean })).toThrow(/acpi: expected true or false, got on/);
  });
});

const missing = acpicaMissing();
describe.skipIf(missing !== undefined)(`ACPICA reads the board's tables${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const work = missing ? undefined : new AcpicaWorkdir();
  afterAll(() => work?.dispose());
  const p = (): MachinePlan => board({ cpus: 2, legacy: true, devices });

  it.each(["XSDT", "FACP", "APIC", "DSDT"] as const)("iasl -d disassembles the %s without a problem", (sig) => {
    const { dsl, problems } = (work as AcpicaWorkdir).disassemble(sig.toLowerCase(), table(p(), sig));
    expect(problems).toEqual([]);
    expect(dsl.length).toBeGreaterThan(0);
  });

  it("acpiexec loads the DSDT and evaluates each transport's _CRS, _S5 and the GED's _UID", () => {
    const plan = p();
    const vr = plan.transports.filter((t) => t.device).map((t) => `\\_SB.VR${t.index.toString(16).toUpperCase().padStart(2, "0")}._CRS`);
    const r = (work as AcpicaWorkdir).exec(table(plan, "DSDT"), [...vr.map((x) => `evaluate ${x}`), "evaluate \\_S5", "evaluate \\_SB.GED._UID"]);
    expect(r.out).not.toMatch(/AE_[A-Z_]+ .*(error|failure)|Exception/i);
    const t0 = plan.transports.find((t) => t.device);
    const le32 = (n: number) => [n, n >>> 8, n >>> 16, n >>> 24].map((b) => (b & 0xff).toString(16).padStart(2, "0")).join(" ");
    // Memory32Fixed (0x86, length 9, RW) with the window, then the interrupt descriptor with the GSI
    expect(r.values.get(vr[0] as string)).toContain(`86 09 00 01 ${le32(Number(t0?.base))} 00 02 00 00`);
    expect(r.values.get(vr[0] as string)).toContain(`89 06 00 03 01 ${le32(t0?.gsi ?? -1)}`);
    expect(r.values.get("\\_SB.GED._UID")).toBe("str GED");
  });

  it("negative control: a DSDT with one byte changed (checksum unrepaired) is reported", () => {
    const bad = table(p(), "DSDT").slice();
    bad[40] = (bad[40]! ^ 0xff) & 0xff;
    expect((work as AcpicaWorkdir).disassemble("dsdt-bad", bad).problems.join("\n")).toMatch(/checksum/i);
  });
});
