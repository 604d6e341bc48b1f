import type { MachinePlan } from "./plan.js";

const hex = (n: bigint | number): string => `0x${n.toString(16)}`;
const E820_TYPES: Record<number, string> = { 1: "ram", 2: "reserved", 3: "acpi", 4: "nvs", 5: "unusable" };

/**
 * A plan in words, one fact per line, for people (the CLI's `--print-plan`): platform, CPUs,
 * RAM and the E820 map, where the MPTable, the ACPI tables and every PVH structure go, the transports with their
 * GSIs and devices, the command line and the entry point.
 *
 * @param plan - the plan
 * @returns the lines
 * @example
 * ```ts
 * console.log(formatPlan(planMachine({ kernel, cpus: 2 })).join("\n"));
 * ```
 */
export function formatPlan(plan: MachinePlan): string[] {
  const out: string[] = [];
  out.push(`platform: ${plan.platform.name}`);
  out.push(`cpus: ${plan.cpus}; memory: ${plan.memory / (1024n * 1024n)} MiB (${plan.memory} bytes); legacy: ${plan.legacy ? "on" : "off"}`);
  for (const r of plan.ram) out.push(`ram: [${hex(r.start)}, ${hex(r.start + r.size)})`);
  for (const e of plan.e820) out.push(`e820: [${hex(e.addr)}, ${hex(e.addr + e.size)}) ${E820_TYPES[e.type] ?? `type ${e.type}`}`);
  out.push(`mptable: ${hex(plan.mptable.address)}, ${plan.mptable.bytes.length} bytes, ${plan.mptable.table.processors.length} processors, IOAPIC version ${hex(plan.layout.ioapicVersion)}`);
  for (const p of plan.boot.placements) out.push(`placement: ${p.name} at ${hex(p.address)}, ${p.bytes.length} bytes${p.size > BigInt(p.bytes.length) ? ` (+${p.size - BigInt(p.bytes.length)} zero)` : ""}`);
  if (plan.acpi) {
    const a = plan.acpi;
    out.push(`acpi: RSDP at ${hex(a.rsdpAddress)}; ${Object.entries(a.addresses).map(([sig, at]) => `${sig} at ${hex(at)}`).join(", ")}; ${a.tables.length} bytes in [${hex(a.reserved.start)}, ${hex(a.reserved.start + a.reserved.size)})`);
    out.push(`acpi: GED at ${hex(plan.layout.gedBase)} on gsi ${plan.layout.gedGsi}`);
  }
  for (const t of plan.transports) out.push(`transport ${t.index}: ${hex(t.base)} gsi ${t.gsi}${t.device ? ` ${t.device.kind} ${t.device.id}` : " (empty)"}`);
  for (const r of plan.gsiRoutes.filter((g) => g.gsi !== g.ioapicPin)) out.push(`gsi route: ${r.gsi} -> IOAPIC pin ${r.ioapicPin}`);
  out.push(`cmdline: ${plan.cmdline}`);
  const e = plan.boot.entry;
  out.push(`entry: rip ${hex(e.regs.rip)}, rbx (start_info) ${hex(e.regs.rbx)}, cr0 ${hex(e.sregs.cr0)}, gdt ${hex(e.gdt.address)}`);
  return out;
}
