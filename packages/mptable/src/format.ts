import type { MpIoInterrupt, MpLocalInterrupt, MpTable } from "./types.js";

const h = (n: number, w = 2): string => `0x${n.toString(16).padStart(w, "0")}`;

function irq(e: MpIoInterrupt | MpLocalInterrupt): string {
  return `${e.type} ${e.polarity}/${e.trigger}, bus ${e.sourceBus} IRQ ${e.sourceIrq}`;
}

/**
 * Renders a table as text, one line per structure, in the spirit of Linux's boot messages
 * (`Intel MultiProcessor Specification v1.4`, `Processor #1`, `IOAPIC[0]: …`).
 *
 * @param t - a table, e.g. from {@link decodeMpTable}
 * @returns the lines, joined by `\n`
 * @example
 * ```ts
 * console.log(formatMpTable(decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: 2 }), 0x9fc00)));
 * ```
 */
export function formatMpTable(t: MpTable): string {
  const lines = [
    `Intel MultiProcessor Specification v1.${t.specRevision} at ${h(t.address, 5)}${t.imcrPresent ? " (IMCR present)" : " (virtual wire mode)"}`,
    `OEM ID: ${JSON.stringify(t.oemId)} Product ID: ${JSON.stringify(t.productId)} LAPIC address: ${h(t.lapicAddress, 8)}`,
  ];
  for (const p of t.processors) {
    const flags = [p.bootstrap ? "BSP" : "AP", p.enabled ? "enabled" : "disabled"].join(", ");
    lines.push(`Processor #${p.apicId} (${flags}) APIC version ${h(p.apicVersion)} signature ${h(p.signature, 3)} features ${h(p.featureFlags, 8)}`);
  }
  for (const b of t.buses) lines.push(`Bus #${b.id} is ${b.type}`);
  t.ioApics.forEach((a, i) => {
    lines.push(`IOAPIC[${i}]: apic_id ${a.id}, version ${h(a.version)}, address ${h(a.address, 8)}${a.usable ? "" : " (unusable)"}`);
  });
  for (const e of t.ioInterrupts) {
    lines.push(`Int: ${irq(e)} -> IOAPIC ${e.destApic === 0xff ? "all" : e.destApic} INTIN ${e.destPin}`);
  }
  for (const e of t.localInterrupts) {
    lines.push(`Lint: ${irq(e)} -> APIC ${e.destApic === 0xff ? "all" : e.destApic} LINT${e.destLint}`);
  }
  lines.push(`Processors: ${t.processors.filter((p) => p.enabled).length}`);
  return lines.join("\n");
}
