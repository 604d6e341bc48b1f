// The cost of ACPI in a board's plan: planMachine with `acpi: true` (the MPTable plus RSDP, XSDT,
// FADT, MADT and a DSDT with the UART, the GED and the transports) against the same board without
// it, for 1, 8 and 254 CPUs and eight devices. Both sides do everything else alike (the kernel's
// ELF read, the PVH placements, the listing), so the ratio is what the tables add.
import type { BenchCase } from "../../../bench/harness.ts";
import { nsPerOp } from "../../../bench/harness.ts";
import { planMachine, type MachineConfig } from "../src/index.js";
import { TRIPLE_FAULT, tinyKernel } from "../test/helpers.js";

let kernel: Uint8Array | undefined;
const devices: MachineConfig["devices"] = Array.from({ length: 8 }, (_, i) => ({ kind: i % 2 === 0 ? "blk" : "rng" }));

export const cases: BenchCase[] = [1, 8, 254].map((cpus) => ({
  name: `board plan with ACPI, ${cpus} CPUs, 8 devices`,
  unit: "ns/op",
  better: "lower",
  reference: "the same plan without ACPI",
  goal: "<= 2",
  setup: () => {
    kernel ??= tinyKernel(TRIPLE_FAULT);
  },
  ours: () => nsPerOp(() => planMachine({ kernel: kernel as Uint8Array, cpus, legacy: true, devices, acpi: true })),
  ref: () => nsPerOp(() => planMachine({ kernel: kernel as Uint8Array, cpus, legacy: true, devices })),
}));
