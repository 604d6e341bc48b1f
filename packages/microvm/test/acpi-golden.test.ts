// Our ACPI tables held against QEMU's own, field by field. The same board (N CPUs, a virtio-blk
// and a virtio-rng device, the legacy UART) is planned here for the QEMU/TCG platform and booted
// on QEMU 7.2's `-M microvm,acpi=on,ioapic2=off,isa-serial=on` with Debian's stock cloud kernel,
// which dumps the tables QEMU gave it (helpers/stock-kernel.ts; QEMU builds them in
// hw/i386/acpi-microvm.c). Both sets are decoded with @microvm/acpi into "facts": one string per
// compared field, with namespace paths resolved to absolute ones (Scope (_SB) and Scope (\_SB)
// name the same objects) and each virtio-mmio device described relative to its own slot (QEMU
// fills the transports from the top, we from the bottom). The facts that differ must be exactly
// expectedDifferences(), each with its reason: a new difference, or one that vanished, turns the
// test red. Not compared: checksums, lengths and the tables' addresses (each side places its
// tables where it likes).
//
// Negative controls: the same comparison with a plan for another CPU count, and with our FADT
// re-encoded with another reset value, reports the unexpected difference; QEMU's tables held
// against themselves report every expected difference as vanished. Without QEMU or the stock
// kernel only the fact extraction's own checks run (ours against ours, and a perturbed copy).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FADT_FLAGS,
  IAPC_BOOT_ARCH,
  decodeAml,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  eisaIdToString,
  encodeFadt,
  type AmlData,
  type AmlTerm,
  type DecodedGenericAddress,
  type ResourceDescriptor,
  type SdtHeader,
} from "@microvm/acpi";
import { buildGuests, qemuAvailable } from "../../../test/guests/harness.ts";
import { AcpicaWorkdir, acpicaMissing } from "../../../test/acpica.ts";
import { GED, planMachine, qemuPlatform, type MachinePlan } from "../src/index.js";
import { bootQemuMicrovmAcpi, stockKernel, type StockDevice, type StockKernel } from "./helpers/stock-kernel.js";

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const stock = noQemu ? undefined : stockKernel();
const skip = noQemu ?? (stock && "skip" in stock ? stock.skip : undefined);
const title = (what: string): string => (skip ? `${what} (skipped: ${skip})` : what);
/** Per boot; QEMU is killed at this limit (a boot takes 3 to 5 s here). */
const BOOT_MS = 60_000;

/** The devices of both machines, in this order on QEMU's command line and in our plan. */
const DEVICES: readonly StockDevice[] = ["blk", "rng"];
/** The CPU counts compared: one QEMU boot each. */
const CPU_COUNTS = [1, 2] as const;

// ---- the tables, as facts ------------------------------------------------------------------------

/** The three tables Linux exposes in /sys/firmware/acpi/tables (no RSDP, no XSDT). */
interface Tables {
  readonly FACP: Uint8Array;
  readonly APIC: Uint8Array;
  readonly DSDT: Uint8Array;
}

/** What one side's tables say: the compared facts, and what the explicit checks read. */
interface Analysis {
  /** One string per compared field, by a readable key. */
  readonly facts: ReadonlyMap<string, string>;
  /** Every `_HID` in the DSDT as a string (EisaIds decoded), sorted, one per distinct id. */
  readonly hids: readonly string[];
  /** The virtio-mmio devices: slot, window, GSI and interrupt mode. */
  readonly virtio: readonly VirtioDevice[];
}

interface VirtioDevice {
  readonly name: string;
  readonly slot: number;
  readonly base: number;
  readonly length: number;
  readonly gsis: readonly number[];
  readonly trigger: string;
}

/** Where QEMU's microvm puts transport 0, the window each takes, and the GSI of transport 0 with acpi=on (hw/i386/microvm.h VIRTIO_MMIO_BASE; hw/i386/microvm.c). */
const VIRTIO_BASE = 0xfeb0_0000;
const VIRTIO_WINDOW = 0x200;
const VIRTIO_GSI_BASE = 16;

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, "0");
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? hex(x) : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x));
/** The names of the set bits of `value` among `bits`, or `none`. */
const bitNames = (value: number, bits: Readonly<Record<string, number>>): string => Object.entries(bits).filter(([, b]) => (value & b) !== 0).map(([n]) => n).join("|") || "none";

/** A table's header: revision, and the ids each side signs with. */
function headerFacts(f: Map<string, string>, sig: string, h: SdtHeader): void {
  f.set(`${sig} header: revision`, String(h.revision));
  f.set(`${sig} header: OEM id / OEM table id / creator id`, `${h.oemId}/${h.oemTableId}/${h.creatorId}`);
  f.set(`${sig} header: OEM revision / creator revision`, `${h.oemRevision}/${h.creatorRevision}`);
}

/** A FADT register: where it is (one fact) and how it is accessed (another). */
function gasFacts(f: Map<string, string>, name: string, g: DecodedGenericAddress | undefined): void {
  f.set(`FACP ${name}`, g ? `${g.space} ${hex(g.address)}, ${g.bitWidth} bits at bit ${g.bitOffset}` : "none");
  f.set(`FACP ${name}: access size`, g ? g.accessSize : "none");
}

function fadtFacts(f: Map<string, string>, bytes: Uint8Array): void {
  const fadt = decodeFadt(bytes);
  headerFacts(f, "FACP", fadt.header);
  f.set("FACP minor version", String(fadt.minorVersion));
  f.set("FACP flags", bitNames(fadt.flags, FADT_FLAGS));
  f.set("FACP IAPC_BOOT_ARCH", bitNames(fadt.iapcBootArch, IAPC_BOOT_ARCH));
  f.set("FACP ARM boot flags", hex(fadt.armBootArch));
  f.set("FACP preferred PM profile", String(fadt.preferredPmProfile));
  f.set("FACP SCI interrupt", String(fadt.sciInterrupt));
  f.set("FACP FACS", hex(fadt.facsAddress));
  f.set("FACP hypervisor vendor id", hex(fadt.hypervisorVendorId));
  gasFacts(f, "sleep control register", fadt.sleepControlRegister);
  gasFacts(f, "sleep status register", fadt.sleepStatusRegister);
  gasFacts(f, "reset register", fadt.resetRegister);
  f.set("FACP reset value", hex(fadt.resetValue));
  // The 32-bit DSDT field (offset 40), which decodeFadt folds into dsdtAddress: set or left 0.
  const dsdt32 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(40, true);
  f.set("FACP 32-bit DSDT field", dsdt32 === 0 ? "0 (X_DSDT only)" : BigInt(dsdt32) === fadt.dsdtAddress ? "= X_DSDT" : `${hex(dsdt32)} (X_DSDT ${hex(fadt.dsdtAddress)})`);
}

function madtFacts(f: Map<string, string>, bytes: Uint8Array): void {
  const madt = decodeMadt(bytes);
  headerFacts(f, "APIC", madt.header);
  f.set("APIC local APIC address", hex(madt.localApicAddress));
  f.set("APIC PCAT_COMPAT", String(madt.pcatCompat));
  const list = (xs: string[]): string => (xs.length > 0 ? xs.join(", ") : "none");
  const lapics: string[] = [];
  const ioapicIds: string[] = [];
  const ioapics: string[] = [];
  const overrides: string[] = [];
  const nmis: string[] = [];
  const others: string[] = [];
  for (const e of madt.entries) {
    if (e.type === "local-apic") lapics.push(`UID ${e.processorUid}: APIC id ${e.apicId}${e.enabled ? "" : " disabled"}${e.onlineCapable ? " online-capable" : ""}`);
    else if (e.type === "io-apic") {
      ioapicIds.push(String(e.id));
      ioapics.push(`${hex(e.address)}, GSI base ${e.gsiBase}`);
    } else if (e.type === "interrupt-override") overrides.push(`bus ${e.bus} IRQ ${e.source} -> GSI ${e.gsi} (${e.polarity}, ${e.trigger})`);
    else if (e.type === "local-apic-nmi") nmis.push(`${e.processorUid === 0xff ? "all processors" : `UID ${e.processorUid}`}: LINT${e.lint} (${e.polarity}, ${e.trigger})`);
    else others.push(json(e));
  }
  f.set("APIC local APICs", list(lapics));
  f.set("APIC I/O APIC: address, GSI base", list(ioapics));
  f.set("APIC I/O APIC: id", list(ioapicIds));
  f.set("APIC interrupt source overrides", list(overrides));
  f.set("APIC local APIC NMIs", list(nmis));
  f.set("APIC other entries", list(others));
}

/** A resource descriptor: what it says (compared as such) and how it says it (compared apart). */
interface Resource {
  readonly what: string;
  readonly how: string;
}

function irqWhat(irqs: readonly number[], trigger: string, polarity: string, shared: boolean, wake: boolean, consumer: boolean): string {
  return `IRQ ${irqs.join(",")} ${trigger} ${polarity} ${shared ? "shared" : "exclusive"}${wake ? " wake" : ""}${consumer ? "" : " producer"}`;
}

function ioWhat(decode16: boolean, min: number, max: number, length: number): string {
  return `I/O ${hex(min)}${min === max ? "" : `..${hex(max)}`} length ${length}${decode16 ? "" : " (10-bit decode)"}`;
}

function describeResource(d: ResourceDescriptor): Resource {
  if (d.type === "memory32-fixed") return { what: `memory ${hex(d.base)} length ${hex(d.length)} ${d.writable ? "read-write" : "read-only"}`, how: "Memory32Fixed" };
  if (d.type === "io") return { what: ioWhat(d.decode16, d.min, d.max, d.length), how: `IO (alignment ${d.alignment})` };
  return { what: irqWhat(d.interrupts, d.trigger, d.polarity, d.shared, d.wakeCapable, d.consumer), how: "Interrupt (extended)" };
}

/**
 * The small descriptors of a template @microvm/acpi leaves as a buffer (QEMU's COM1 and RTC: an
 * IO descriptor with alignment 0 and the 2-byte IRQ descriptor). ACPI 6.4 §6.4.2.1 (IRQ: without
 * the information byte it is edge-triggered, active-high, exclusive) and §6.4.2.5 (I/O port).
 */
function rawResources(b: Uint8Array): Resource[] {
  const out: Resource[] = [];
  const u16 = (o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
  for (let o = 0; o < b.length; ) {
    const tag = b[o] as number;
    if (tag & 0x80) throw new Error(`resource template: large descriptor ${hex(tag)} at ${o} in a template @microvm/acpi could not decode: ${Buffer.from(b).toString("hex")}`);
    const type = (tag >> 3) & 0xf;
    const len = tag & 7;
    if (type === 0xf) break; // End Tag
    if (type === 0x8 && len === 7) {
      out.push({ what: ioWhat(((b[o + 1] as number) & 1) === 1, u16(o + 2), u16(o + 4), b[o + 7] as number), how: `IO (alignment ${b[o + 6]})` });
    } else if (type === 0x4 && (len === 2 || len === 3)) {
      const mask = u16(o + 1);
      const irqs = Array.from({ length: 16 }, (_, i) => i).filter((i) => (mask >> i) & 1);
      const info = len === 3 ? (b[o + 3] as number) : 0x01;
      const what = irqWhat(irqs, info & 1 ? "edge" : "level", info & 8 ? "active-low" : "active-high", (info & 0x10) !== 0, (info & 0x20) !== 0, true);
      out.push({ what, how: len === 2 ? "IRQNoFlags" : "IRQ" });
    } else throw new Error(`resource template: small descriptor ${hex(tag)} at ${o} is not one this test reads: ${Buffer.from(b).toString("hex")}`);
    o += 1 + len;
  }
  return out;
}

function resourcesOf(v: AmlData): Resource[] {
  if (v.kind === "resources") return v.descriptors.map(describeResource);
  if (v.kind === "buffer") return rawResources(v.bytes);
  throw new Error(`_CRS: expected a resource template, got ${json(v)}`);
}

function dataText(v: AmlData): string {
  switch (v.kind) {
    case "integer":
      return hex(v.value);
    case "string":
      return JSON.stringify(v.value);
    case "buffer":
      return `Buffer ${Buffer.from(v.bytes).toString("hex")}`;
    case "resources":
      return v.descriptors.map((d) => describeResource(d).what).join("; ");
    case "package":
      return `Package (${v.elements.map(dataText).join(", ")})`;
  }
}

/** A name segment as written in ASL: the decoder's 4-character segment without its `_` padding. */
const seg = (s: string): string => s.replace(/_+$/, "") || s;

/** An absolute path: `\_SB_.GED_` and `_SB_` inside `\` both become `\_SB.GED`. */
function resolve(scope: readonly string[], path: string): string[] {
  if (path.includes("^")) throw new Error(`path ${path}: parent prefixes are not expected in either DSDT`);
  const segs = path.replace(/^\\/, "").split(".").filter((s) => s.length > 0);
  return path.startsWith("\\") ? segs : [...scope, ...segs];
}
const pathText = (segs: readonly string[]): string => `\\${segs.map(seg).join(".")}`;

/** A device's `_HID` as a string, and how it is encoded. */
function hidOf(v: AmlData | undefined): { id: string; how: string } | undefined {
  if (v?.kind === "string") return { id: v.value, how: "String" };
  if (v?.kind === "integer") return { id: eisaIdToString(v.value) ?? hex(v.value), how: "EisaId" };
  return undefined;
}

function dsdtFacts(f: Map<string, string>, bytes: Uint8Array): { hids: string[]; virtio: VirtioDevice[] } {
  const block = decodeDefinitionBlock(bytes, "DSDT");
  headerFacts(f, "DSDT", block.header);
  const hids = new Set<string>();
  const virtio: VirtioDevice[] = [];
  const virtioRecords = new Set<string>();
  const virtioModes = new Set<string>();

  /** One device's members, as facts under `<device>.`; virtio-mmio devices go to `virtio` instead. */
  const device = (segs: string[], body: readonly AmlTerm[]): void => {
    const path = pathText(segs);
    const names = new Map(body.flatMap((t) => (t.kind === "name" ? [[seg(t.path), t.value] as const] : [])));
    const hid = hidOf(names.get("_HID"));
    if (hid) hids.add(hid.id);
    if (hid?.id === "LNRO0005") {
      virtioDevice(seg(segs[segs.length - 1] ?? ""), names, body);
      return;
    }
    f.set(path, `Device, _HID ${hid?.id ?? "none"}`);
    for (const t of body) {
      if (t.kind === "name") {
        const key = `${path}.${seg(t.path)}`;
        if (seg(t.path) === "_HID" && hid) {
          f.set(key, hid.id);
          f.set(`${key}: encoding`, hid.how);
        } else if (seg(t.path) === "_CRS") {
          const r = resourcesOf(t.value);
          f.set(key, r.map((x) => x.what).join("; "));
          f.set(`${key}: descriptors`, r.map((x) => x.how).join("; "));
        } else f.set(key, dataText(t.value));
      } else if (t.kind === "operation-region") f.set(`${path}.${seg(t.path)}`, `OperationRegion ${t.space} ${hex(t.offset)} length ${hex(t.length)}`);
      else if (t.kind === "field") {
        const entries = t.entries.map((e) => (e.kind === "named" ? `${seg(e.name)}:${e.bits}` : `reserved:${e.bits}`)).join(", ");
        f.set(`${path}.Field(${seg(t.region)})`, `${t.accessType} ${t.lockRule} ${t.updateRule} {${entries}}`);
      } else if (t.kind === "method") {
        const sig = `Method (${t.argCount}${t.serialized ? ", Serialized" : ""}${t.syncLevel ? `, sync ${t.syncLevel}` : ""})`;
        f.set(`${path}.${seg(t.path)}()`, `${sig} ${json(t.body ?? [])}${t.returns ? ` returns ${dataText(t.returns)}` : ""}`);
      } else walk(segs, [t]);
    }
  };

  const virtioDevice = (name: string, names: ReadonlyMap<string, AmlData>, body: readonly AmlTerm[]): void => {
    const crs = names.get("_CRS");
    const descriptors = crs?.kind === "resources" ? crs.descriptors : [];
    const mem = descriptors.find((d) => d.type === "memory32-fixed");
    const irq = descriptors.find((d) => d.type === "interrupt");
    if (!mem || !irq || descriptors.length !== 2) {
      virtioRecords.add(`${name}: _CRS ${crs ? dataText(crs) : "missing"}`);
      return;
    }
    const slot = (mem.base - VIRTIO_BASE) / VIRTIO_WINDOW;
    const inRange = Number.isInteger(slot) && slot >= 0 && slot < 8;
    const uid = names.get("_UID");
    virtio.push({ name, slot, base: mem.base, length: mem.length, gsis: irq.interrupts, trigger: irq.trigger });
    // Each device relative to its own slot: the same string for every device when all agree.
    virtioRecords.add(
      [
        `name ${inRange && name === `VR${hex2(slot)}` ? "VR<slot>" : name}`,
        `_UID ${inRange && uid?.kind === "integer" && uid.value === BigInt(slot) ? "<slot>" : uid ? dataText(uid) : "none"}`,
        `_CCA ${names.get("_CCA") ? dataText(names.get("_CCA") as AmlData) : "none"}`,
        `memory ${inRange ? `${hex(VIRTIO_BASE)} + slot*${hex(VIRTIO_WINDOW)}` : hex(mem.base)} length ${hex(mem.length)} ${mem.writable ? "read-write" : "read-only"}`,
        `GSI ${inRange && irq.interrupts.length === 1 && irq.interrupts[0] === VIRTIO_GSI_BASE + slot ? `${VIRTIO_GSI_BASE} + slot` : irq.interrupts.join(",")}`,
        `members ${body.map((t) => ("path" in t ? seg(t.path) : t.kind)).join(",")}`,
      ].join(", "),
    );
    virtioModes.add(`${irq.trigger} ${irq.polarity} ${irq.shared ? "shared" : "exclusive"}${irq.wakeCapable ? " wake" : ""}${irq.consumer ? "" : " producer"}`);
  };

  const walk = (scope: string[], terms: readonly AmlTerm[]): void => {
    for (const t of terms) {
      if (t.kind === "scope") walk(resolve(scope, t.path), t.body);
      else if (t.kind === "device") device(resolve(scope, t.path), t.body);
      else if (t.kind === "name") f.set(pathText(resolve(scope, t.path)), dataText(t.value));
      else f.set(pathText(resolve(scope, "path" in t ? t.path : `Field(${t.region})`)), json(t));
    }
  };
  walk([], decodeAml(block.aml));

  f.set("virtio: devices", String(virtio.length));
  f.set("virtio: slots", virtio.map((v) => v.slot).sort((a, b) => a - b).join(",") || "none");
  f.set("virtio: each device, relative to its slot", [...virtioRecords].sort().join(" | ") || "none");
  f.set("virtio: interrupt mode", [...virtioModes].sort().join(" | ") || "none");
  return { hids: [...hids].sort(), virtio: virtio.sort((a, b) => a.slot - b.slot) };
}

function analyse(t: Tables): Analysis {
  const facts = new Map<string, string>();
  fadtFacts(facts, t.FACP);
  madtFacts(facts, t.APIC);
  const { hids, virtio } = dsdtFacts(facts, t.DSDT);
  return { facts, hids, virtio };
}

// ---- the comparison ------------------------------------------------------------------------------

/** A fact one side does not have. */
const ABSENT = "(absent)";

/** A fact that differs: QEMU's value and ours. */
interface Difference {
  readonly fact: string;
  readonly qemu: string;
  readonly ours: string;
}

/** An expected difference and why it is there. */
interface ExpectedDifference extends Difference {
  readonly why: string;
}

/**
 * The facts that differ, sorted by key. A device present on one side only is one difference (the
 * device), not one per member.
 */
function differences(qemu: ReadonlyMap<string, string>, ours: ReadonlyMap<string, string>): Difference[] {
  const devices = (m: ReadonlyMap<string, string>): Set<string> => new Set([...m].filter(([, v]) => v.startsWith("Device,")).map(([k]) => k));
  const [qd, od] = [devices(qemu), devices(ours)];
  const oneSided = [...qd, ...od].filter((d) => !(qd.has(d) && od.has(d)));
  const keys = [...new Set([...qemu.keys(), ...ours.keys()])].sort();
  const out: Difference[] = [];
  for (const fact of keys) {
    if (oneSided.some((d) => fact.startsWith(`${d}.`))) continue;
    const [q, o] = [qemu.get(fact) ?? ABSENT, ours.get(fact) ?? ABSENT];
    if (q !== o) out.push({ fact, qemu: q, ours: o });
  }
  return out;
}

/** The devices only QEMU's DSDT has, with their `_HID`s. */
const QEMU_ONLY_DEVICES: Readonly<Record<string, { readonly hid: string; readonly why: string }>> = {
  "\\_SB.FWCF": { hid: "QEMU0002", why: "QEMU's fw_cfg at port 0x510 (for firmware); our boards have no consumer of it and describe only what the guest kernel needs" },
  "\\_SB.RTC": { hid: "PNP0B00", why: "QEMU's microvm has the CMOS RTC by default (rtc=on); our boards have none (the QEMU engine runs rtc=off), so the FADT says CMOS_RTC_NOT_PRESENT instead" },
};

const OUR_IDS = "MICROV/MICROVM/MCVM";
const QEMU_IDS = "BOCHS/BXPC/BXPC";

/**
 * Every difference between QEMU 7.2's tables and ours for the board of this file, with the
 * reason. Values that depend on the board are computed from it (the CPU count, the devices).
 */
function expectedDifferences(cpus: number, devices: number): ExpectedDifference[] {
  const slots = (from: number): string => Array.from({ length: devices }, (_, i) => from + i).join(",");
  const list: ExpectedDifference[] = [
    ...(["APIC", "DSDT", "FACP"] as const).map((sig) => ({ fact: `${sig} header: OEM id / OEM table id / creator id`, qemu: QEMU_IDS, ours: OUR_IDS, why: "each implementation signs its own tables" })),
    { fact: "APIC header: revision", qemu: "1", ours: "5", why: "QEMU writes MADT revision 1; ours declares the revision of ACPI 6.x's MADT (the entries used are the same in both)" },
    { fact: "APIC I/O APIC: id", qemu: "0", ours: String(cpus), why: "ours repeats the MPTable's IOAPIC id (the first id after the CPUs' APIC ids); QEMU's microvm numbers its IOAPIC 0 and writes no MPTable" },
    {
      fact: "APIC interrupt source overrides",
      qemu: "none",
      ours: "bus 0 IRQ 0 -> GSI 2 (conforming, conforming)",
      why: "the QEMU platform wires ISA IRQ0 to IOAPIC pin 2 and our MPTable says so; QEMU's microvm MADT omits the override (hardware-reduced Linux does not use the PIT)",
    },
    { fact: "FACP header: revision", qemu: "5", ours: "6", why: "QEMU 7.2 writes the 268-byte ACPI 5.x FADT; ours is the 276-byte revision 6 (with the hypervisor vendor id, here 0)" },
    { fact: "FACP minor version", qemu: "0", ours: "5", why: "QEMU leaves the minor version 0; ours says ACPI 6.5" },
    {
      fact: "FACP IAPC_BOOT_ARCH",
      qemu: "none",
      ours: "VGA_NOT_PRESENT|MSI_NOT_SUPPORTED|CMOS_RTC_NOT_PRESENT",
      why: "QEMU's microvm leaves the boot flags 0; ours says there is no VGA, no MSI (no PCI) and no CMOS RTC on either engine",
    },
    { fact: "FACP 32-bit DSDT field", qemu: "= X_DSDT", ours: "0 (X_DSDT only)", why: "QEMU fills both DSDT pointers; ours only the 64-bit X_DSDT, which ACPI 2.0+ readers use when set" },
    ...(["reset register", "sleep control register", "sleep status register"] as const).map((r) => ({
      fact: `FACP ${r}: access size`,
      qemu: "undefined",
      ours: "byte",
      why: "QEMU leaves the access size undefined (legacy); ours says byte, the width of the GED's register",
    })),
    { fact: "\\_SB.COM1._UID", qemu: "0x1", ours: "0x0", why: "a free choice of each (unique among PNP0501 devices either way)" },
    { fact: "\\_SB.COM1._STA", qemu: "0xf", ours: ABSENT, why: "QEMU says present/enabled/shown/functioning explicitly; without _STA ACPI assumes the same (ACPI 6.4 §6.3.7)" },
    {
      fact: "\\_SB.COM1._CRS: descriptors",
      qemu: "IO (alignment 0); IRQNoFlags",
      ours: "IO (alignment 1); Interrupt (extended)",
      why: "the same port range and IRQ 4 edge/active-high/exclusive in both: QEMU encodes them as the short IRQ descriptor and an IO descriptor with alignment 0, ours as an Extended Interrupt and alignment 1",
    },
    { fact: "\\_SB.PWRB._HID: encoding", qemu: "String", ours: "EisaId", why: "QEMU writes \"PNP0C0C\" as a string, our builder writes PNP ids as EisaIds; Linux matches both to the same id" },
    { fact: "virtio: slots", qemu: slots(8 - devices), ours: slots(0), why: "QEMU fills the transports from the top (the first device on its command line gets the last slot), our plan from the bottom" },
    {
      fact: "virtio: interrupt mode",
      qemu: "level active-high exclusive",
      ours: "edge active-high exclusive",
      why: "QEMU says level; ours says edge, as our MPTable does, so both tables program the IOAPIC pin alike (the driver acknowledges before reading the queues)",
    },
    ...Object.entries(QEMU_ONLY_DEVICES).map(([path, d]) => ({ fact: path, qemu: `Device, _HID ${d.hid}`, ours: ABSENT, why: d.why })),
  ];
  return list.sort((a, b) => (a.fact < b.fact ? -1 : a.fact > b.fact ? 1 : 0));
}

/** What the comparison reports against the expected list: the differences not expected, and the expected ones that are gone. */
function unexpected(actual: readonly Difference[], expected: readonly ExpectedDifference[]): { added: Difference[]; vanished: Difference[] } {
  const same = (a: Difference, b: Difference): boolean => a.fact === b.fact && a.qemu === b.qemu && a.ours === b.ours;
  return {
    added: actual.filter((a) => !expected.some((e) => same(a, e))),
    vanished: expected.filter((e) => !actual.some((a) => same(a, e))).map(({ fact, qemu, ours }) => ({ fact, qemu, ours })),
  };
}

// ---- our side ------------------------------------------------------------------------------------

let kernel: Uint8Array;
beforeAll(async () => {
  kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
});

/** Our board, as close to QEMU's machine as it goes: the QEMU/TCG platform, legacy UART, the same devices in the same order. */
const ourPlan = (cpus: number): MachinePlan =>
  planMachine({ kernel, acpi: true, legacy: true, cpus, devices: DEVICES.map((kind) => ({ kind })), platform: qemuPlatform({ accel: "tcg" }) });

/** The plan's tables, cut from its blob by the addresses it gives. */
function ourTables(plan: MachinePlan): Tables {
  const a = plan.acpi;
  if (!a) throw new Error("the plan has no ACPI");
  const cut = (sig: "FACP" | "APIC" | "DSDT"): Uint8Array => {
    const t = a.tables.subarray(Number(a.addresses[sig] - a.tablesAddress));
    return t.slice(0, new DataView(t.buffer, t.byteOffset).getUint32(4, true));
  };
  return { FACP: cut("FACP"), APIC: cut("APIC"), DSDT: cut("DSDT") };
}

/** Our FADT re-encoded with one field changed (the rest as decoded). */
function withFadt(t: Tables, change: { resetValue: number }): Tables {
  return { ...t, FACP: encodeFadt({ ...decodeFadt(t.FACP), ...change }) };
}

describe("the golden comparison's own machinery (no QEMU needed)", () => {
  it("our tables against themselves: no difference; with our FADT's reset value changed: exactly that one", () => {
    const ours = analyse(ourTables(ourPlan(2)));
    expect(differences(ours.facts, ours.facts)).toEqual([]);
    const changed = analyse(withFadt(ourTables(ourPlan(2)), { resetValue: 0x43 }));
    expect(differences(ours.facts, changed.facts)).toEqual([{ fact: "FACP reset value", qemu: "0x42", ours: "0x43" }]);
  });

  it("our virtio devices are read relative to their slots, and a device on one side only is one difference", () => {
    const ours = analyse(ourTables(ourPlan(2)));
    expect(ours.virtio.map((v) => [v.name, v.slot, hex(v.base), v.gsis])).toEqual([
      ["VR00", 0, "0xfeb00000", [16]],
      ["VR01", 1, "0xfeb00200", [17]],
    ]);
    expect(ours.facts.get("virtio: each device, relative to its slot")).toBe(
      "name VR<slot>, _UID <slot>, _CCA 0x1, memory 0xfeb00000 + slot*0x200 length 0x200 read-write, GSI 16 + slot, members _HID,_UID,_CCA,_CRS",
    );
    const withoutCom1 = new Map([...ours.facts].filter(([k]) => !k.startsWith("\\_SB.COM1")));
    expect(differences(withoutCom1, ours.facts)).toEqual([{ fact: "\\_SB.COM1", qemu: ABSENT, ours: "Device, _HID PNP0501" }]);
  });

  it("the short descriptors @microvm/acpi leaves undecoded (IO with alignment 0, IRQNoFlags, IRQ with flags) are read as ACPI defines them", () => {
    // IO (Decode16, 0x3f8, 0x3f8, 0, 8); IRQNoFlags () {4}; End Tag (ACPI 6.4 §6.4.2.1, §6.4.2.5, §6.4.2.9)
    expect(rawResources(new Uint8Array([0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00]))).toEqual([
      { what: "I/O 0x3f8 length 8", how: "IO (alignment 0)" },
      { what: "IRQ 4 edge active-high exclusive", how: "IRQNoFlags" },
    ]);
    // IRQ (Level, ActiveLow, Shared) {5, 7}: the information byte 0x18
    expect(rawResources(new Uint8Array([0x23, 0xa0, 0x00, 0x18, 0x79, 0x00]))).toEqual([{ what: "IRQ 5,7 level active-low shared", how: "IRQ" }]);
    // a descriptor this test does not read is an error, not a silent pass
    expect(() => rawResources(new Uint8Array([0x2a, 0x00, 0x00, 0x79, 0x00]))).toThrow(/small descriptor 0x2a/);
  });

  it("the expected list: one entry per fact, each with a reason", () => {
    const list = expectedDifferences(2, DEVICES.length);
    expect(new Set(list.map((d) => d.fact)).size).toBe(list.length);
    for (const d of list) expect(d.why.length, d.fact).toBeGreaterThan(20);
  });
});

// ---- against QEMU --------------------------------------------------------------------------------

const booted = new Map<number, Promise<Tables>>();
/** QEMU's tables for `-M microvm,acpi=on,ioapic2=off` with this many CPUs and {@link DEVICES}; one boot per CPU count. */
function qemuTables(cpus: number): Promise<Tables> {
  let p = booted.get(cpus);
  if (!p) {
    p = bootQemuMicrovmAcpi({ kernel: stock as StockKernel, cpus, devices: DEVICES, machine: ["ioapic2=off", "isa-serial=on"], timeoutMs: BOOT_MS }).then((m) => {
      const get = (sig: string): Uint8Array => {
        const t = m.get(sig);
        if (!t) throw new Error(`QEMU's guest dumped no ${sig} (got ${[...m.keys()].join(", ")})`);
        return t;
      };
      return { FACP: get("FACP"), APIC: get("APIC"), DSDT: get("DSDT") };
    });
    booted.set(cpus, p);
  }
  return p;
}

const fmt = (ds: readonly Difference[]): string => ds.map((d) => `  ${d.fact}: QEMU ${d.qemu} | ours ${d.ours}`).join("\n") || "  (none)";

describe.skipIf(skip !== undefined)(title("our ACPI tables against QEMU 7.2's own (-M microvm,acpi=on,ioapic2=off; stock kernel, TCG)"), () => {
  describe.each(CPU_COUNTS)("%d CPU(s), blk + rng, legacy UART", (cpus) => {
    let qemu: Analysis;
    let ours: Analysis;
    beforeAll(async () => {
      qemu = analyse(await qemuTables(cpus));
      ours = analyse(ourTables(ourPlan(cpus)));
    }, BOOT_MS + 30_000);

    it("FADT: hardware-reduced with the reset register in both; the same sleep control/status and reset registers and reset value", () => {
      for (const a of [qemu, ours]) {
        expect(a.facts.get("FACP flags")).toBe("RESET_REG_SUP|HW_REDUCED_ACPI");
        expect(a.facts.get("FACP sleep control register")).toBe("memory 0xfea00200, 8 bits at bit 0");
        expect(a.facts.get("FACP sleep status register")).toBe("memory 0xfea00201, 8 bits at bit 0");
        expect(a.facts.get("FACP reset register")).toBe("memory 0xfea00202, 8 bits at bit 0");
        expect(a.facts.get("FACP reset value")).toBe(hex(GED.resetValue));
      }
    });

    it("MADT: the same local APIC ids, IOAPIC address and GSI base, and the LINT1 NMI for all processors", () => {
      const lapics = Array.from({ length: cpus }, (_, i) => `UID ${i}: APIC id ${i}`).join(", ");
      for (const a of [qemu, ours]) {
        expect(a.facts.get("APIC local APICs")).toBe(lapics);
        expect(a.facts.get("APIC I/O APIC: address, GSI base")).toBe("0xfec00000, GSI base 0");
        expect(a.facts.get("APIC local APIC NMIs")).toBe("all processors: LINT1 (conforming, conforming)");
      }
    });

    it("DSDT: the same _HIDs (but QEMU's fw_cfg and RTC), the GED's interrupt (GSI 9, edge) and _EVT, _S5", () => {
      const qemuOnly = new Set(Object.values(QEMU_ONLY_DEVICES).map((d) => d.hid));
      expect(ours.hids).toEqual(qemu.hids.filter((h) => !qemuOnly.has(h)));
      expect(ours.hids).toEqual(["ACPI0013", "LNRO0005", "PNP0501", "PNP0C0C"]);
      for (const a of [qemu, ours]) {
        expect(a.facts.get("\\_SB.GED._CRS")).toBe("IRQ 9 edge active-high exclusive");
        expect(a.facts.get("\\_SB.GED.EREG")).toBe("OperationRegion SystemMemory 0xfea00000 length 0x4");
        expect(a.facts.get("\\_S5")).toBe("Package (0x5, 0x0, 0x0, 0x0)");
      }
      // The method itself, as decoded: read ESEL, notify PWRB with 0x80 when bit 1 is set.
      expect(ours.facts.get("\\_SB.GED._EVT()")).toBe(qemu.facts.get("\\_SB.GED._EVT()"));
    });

    it("virtio-mmio: each device's window is 0x200 at 0xfeb00000 + slot*0x200 on GSI 16 + slot, in both", () => {
      for (const a of [qemu, ours]) {
        expect(a.virtio).toHaveLength(DEVICES.length);
        for (const v of a.virtio) {
          expect(v.length).toBe(VIRTIO_WINDOW);
          expect(v.base).toBe(VIRTIO_BASE + v.slot * VIRTIO_WINDOW);
          expect(v.gsis).toEqual([VIRTIO_GSI_BASE + v.slot]);
          expect(v.name).toBe(`VR${hex2(v.slot)}`);
        }
      }
      // As sets of (base, GSI): QEMU's from the top slots, ours from the bottom.
      const pairs = (a: Analysis): string[] => a.virtio.map((v) => `${hex(v.base)}:${v.gsis.join(",")}`);
      expect(pairs(qemu)).toEqual(DEVICES.map((_, i) => `${hex(VIRTIO_BASE + (8 - DEVICES.length + i) * VIRTIO_WINDOW)}:${VIRTIO_GSI_BASE + 8 - DEVICES.length + i}`));
      expect(pairs(ours)).toEqual(DEVICES.map((_, i) => `${hex(VIRTIO_BASE + i * VIRTIO_WINDOW)}:${VIRTIO_GSI_BASE + i}`));
    });

    it("the differences are exactly the expected ones", () => {
      const actual = differences(qemu.facts, ours.facts);
      const expected = expectedDifferences(cpus, DEVICES.length);
      console.log(`ACPI golden, ${cpus} CPU(s): ${qemu.facts.size} facts from QEMU, ${ours.facts.size} ours, ${actual.length} differences:\n${fmt(actual)}`);
      const { added, vanished } = unexpected(actual, expected);
      expect(added, `unexpected differences:\n${fmt(added)}`).toEqual([]);
      expect(vanished, `expected differences that are gone:\n${fmt(vanished)}`).toEqual([]);
      expect(actual).toEqual(expected.map(({ fact, qemu: q, ours: o }) => ({ fact, qemu: q, ours: o })));
    });
  });

  describe("negative controls (QEMU's 2-CPU tables)", () => {
    let qemu: Analysis;
    beforeAll(async () => {
      qemu = analyse(await qemuTables(2));
    }, BOOT_MS + 30_000);
    const expected = (): ExpectedDifference[] => expectedDifferences(2, DEVICES.length);

    it("a plan for 3 CPUs held against QEMU's 2-CPU tables: the local APICs differ, unexpectedly", () => {
      const { added } = unexpected(differences(qemu.facts, analyse(ourTables(ourPlan(3))).facts), expected());
      expect(added).toEqual([
        { fact: "APIC I/O APIC: id", qemu: "0", ours: "3" },
        { fact: "APIC local APICs", qemu: "UID 0: APIC id 0, UID 1: APIC id 1", ours: "UID 0: APIC id 0, UID 1: APIC id 1, UID 2: APIC id 2" },
      ]);
    });

    it("our FADT re-encoded with reset value 0x43: an unexpected difference in the reset value", () => {
      const { added, vanished } = unexpected(differences(qemu.facts, analyse(withFadt(ourTables(ourPlan(2)), { resetValue: 0x43 })).facts), expected());
      expect(added).toEqual([{ fact: "FACP reset value", qemu: "0x42", ours: "0x43" }]);
      expect(vanished).toEqual([]);
    });

    it("QEMU's tables against themselves: every expected difference is reported as vanished", () => {
      const { added, vanished } = unexpected(differences(qemu.facts, qemu.facts), expected());
      expect(added).toEqual([]);
      expect(vanished.map((d) => d.fact)).toEqual(expected().map((d) => d.fact));
    });
  });

  const missing = acpicaMissing();
  describe.skipIf(missing !== undefined)(`ACPICA's disassembly of both GEDs${missing ? ` (skipped: ${missing})` : ""}`, () => {
    const work = missing ? undefined : new AcpicaWorkdir();
    afterAll(() => work?.dispose());

    /** The `Method (_EVT …) { … }` block of a disassembled DSDT, whitespace collapsed. */
    function evtText(dsl: string): string {
      const start = dsl.indexOf("Method (_EVT");
      if (start < 0) throw new Error(`no _EVT in:\n${dsl}`);
      let depth = 0;
      let end = dsl.indexOf("{", start);
      for (; end < dsl.length; end++) {
        if (dsl[end] === "{") depth++;
        else if (dsl[end] === "}" && --depth === 0) break;
      }
      return dsl.slice(start, end + 1).replace(/\s+/g, " ");
    }

    it("iasl -d gives the same _EVT text and the same event register for both (2 CPUs)", async () => {
      const w = work as AcpicaWorkdir;
      const q = w.disassemble("qemu-dsdt", (await qemuTables(2)).DSDT).dsl;
      const o = w.disassemble("our-dsdt", ourTables(ourPlan(2)).DSDT).dsl;
      expect(evtText(o)).toBe(evtText(q));
      expect(evtText(o)).toMatch(/Local0 = ESEL .*If \(\(\(Local0 & 0x02\) == 0x02\)\) \{ Notify \(PWRB, 0x80\)/);
      for (const dsl of [q, o]) expect(dsl).toContain("OperationRegion (EREG, SystemMemory, 0xFEA00000, 0x04)");
    }, BOOT_MS + 30_000);
  });
});
