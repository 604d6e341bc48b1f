// formatMpTable: the exact text, one line per structure, for tables that exercise every branch
// (IMCR or virtual wire, BSP/AP, enabled/disabled, an unusable IOAPIC, "all" destinations).
import { describe, expect, it } from "vitest";
import { formatMpTable, resolveMpTableConfig } from "../src/index.js";

describe("formatMpTable", () => {
  it("renders the default two-CPU table", () => {
    expect(formatMpTable(resolveMpTableConfig({ address: 0x9fc00, cpus: 2, ioInterrupts: [] }))).toBe(
      [
        "Intel MultiProcessor Specification v1.4 at 0x9fc00 (virtual wire mode)",
        'OEM ID: "MICROVM" Product ID: "MICROVM" LAPIC address: 0xfee00000',
        "Processor #0 (BSP, enabled) APIC version 0x14 signature 0x600 features 0x00000201",
        "Processor #1 (AP, enabled) APIC version 0x14 signature 0x600 features 0x00000201",
        "Bus #0 is ISA",
        "IOAPIC[0]: apic_id 2, version 0x11, address 0xfec00000",
        "Lint: ExtINT conforming/conforming, bus 0 IRQ 0 -> APIC 0 LINT0",
        "Lint: NMI conforming/conforming, bus 0 IRQ 0 -> APIC all LINT1",
        "Processors: 2",
      ].join("\n"),
    );
  });

  it("pads small numbers, names unusable IOAPICs, disabled CPUs and broadcast destinations, and counts enabled CPUs", () => {
    const t = resolveMpTableConfig({
      address: 0xf0,
      specRevision: 1,
      imcrPresent: true,
      oemId: "A",
      productId: "",
      lapicAddress: 0x1000,
      cpus: [
        { apicId: 3, apicVersion: 5, signature: 6, featureFlags: 0x12345678 },
        { apicId: 7, enabled: false },
        { apicId: 9, enabled: false },
      ],
      buses: [
        { id: 0, type: "ISA" },
        { id: 4, type: "PCI" },
      ],
      ioApics: [
        { id: 10, version: 1, usable: false, address: 0xfec00000 },
        { id: 11, version: 0x20, usable: true, address: 0x10 },
      ],
      ioInterrupts: [
        { type: "INT", polarity: "active-low", trigger: "level", sourceBus: 4, sourceIrq: 5, destApic: 10, destPin: 7 },
        { type: "SMI", polarity: "active-high", trigger: "edge", sourceBus: 0, sourceIrq: 1, destApic: 0xff, destPin: 9 },
      ],
      localInterrupts: [{ type: "NMI", polarity: "reserved", trigger: "reserved", sourceBus: 0, sourceIrq: 2, destApic: 7, destLint: 1 }],
    });
    expect(formatMpTable(t).split("\n")).toEqual([
      "Intel MultiProcessor Specification v1.1 at 0x000f0 (IMCR present)",
      'OEM ID: "A" Product ID: "" LAPIC address: 0x00001000',
      "Processor #3 (BSP, enabled) APIC version 0x05 signature 0x006 features 0x12345678",
      "Processor #7 (AP, disabled) APIC version 0x14 signature 0x600 features 0x00000201",
      "Processor #9 (AP, disabled) APIC version 0x14 signature 0x600 features 0x00000201",
      "Bus #0 is ISA",
      "Bus #4 is PCI",
      "IOAPIC[0]: apic_id 10, version 0x01, address 0xfec00000 (unusable)",
      "IOAPIC[1]: apic_id 11, version 0x20, address 0x00000010",
      "Int: INT active-low/level, bus 4 IRQ 5 -> IOAPIC 10 INTIN 7",
      "Int: SMI active-high/edge, bus 0 IRQ 1 -> IOAPIC all INTIN 9",
      "Lint: NMI reserved/reserved, bus 0 IRQ 2 -> APIC 7 LINT1",
      "Processors: 1",
    ]);
  });
});
