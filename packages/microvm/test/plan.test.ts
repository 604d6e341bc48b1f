import { readFileSync } from "node:fs";
import { decodeMpTable, findMpTable } from "@microvm/mptable";
import { decodeStartInfo, decodeMemmap } from "@microvm/pvh";
import { describe, expect, it } from "vitest";
import { isMicrovmError, planMachine, type MachinePlan } from "../src/index.js";
import { TRIPLE_FAULT, codeOf, tinyKernel } from "./helpers.js";

const kernel = tinyKernel(TRIPLE_FAULT);
const seed = readFileSync(new URL("./vectors/seed-mtree-normal.txt", import.meta.url), "utf8").trimEnd().split("\n");
const trim = (lines: readonly string[]): string[] => lines.map((l) => l.trim());


/** Guest RAM as the plan would fill it (first MiB), to read tables back the way a guest does. */
function lowMemory(plan: MachinePlan): Uint8Array {
  const ram = new Uint8Array(0x100000);
  for (const p of plan.boot.placements) if (p.address < 0x100000n) ram.set(p.bytes, Number(p.address));
  ram.set(plan.mptable.bytes, plan.mptable.address);
  return ram;
}

describe("planMachine: the seed's machine", () => {
  const plan = planMachine({ kernel });

  it("lists exactly the seed's exposed surface in normal mode with 8 transports", () => {
    expect(trim(plan.listing)).toEqual(trim(seed));
    // and with QEMU's indentation
    expect(plan.listing).toEqual(seed);
  });

  it("has RAM from 0 and the E820 map of docs/architecture.md §2", () => {
    expect(plan.ram).toEqual([{ start: 0n, size: 128n << 20n }]);
    expect(plan.e820.map((e) => [e.addr, e.addr + e.size, e.type])).toEqual([
      [0n, 0x9fc00n, 1],
      [0x9fc00n, 0xa0000n, 2],
      [0xa0000n, 0xf0000n, 1],
      [0xf0000n, 0x100000n, 2],
      [0x100000n, 128n << 20n, 1],
    ]);
  });

  it("places start_info, module list, memory map and command line where the seed does", () => {
    const kinds = Object.fromEntries(plan.boot.placements.map((p) => [p.kind, p.address]));
    expect(kinds["start_info"]).toBe(0x6000n);
    expect(kinds["memmap"]).toBe(0x7000n);
    expect(kinds["cmdline"]).toBe(0x20000n);
    expect(plan.boot.entry.regs.rbx).toBe(0x6000n);
    const ram = lowMemory(plan);
    const si = decodeStartInfo(ram.subarray(0x6000, 0x6000 + 56));
    expect(si.memmapPaddr).toBe(0x7000n);
    expect(decodeMemmap(ram.subarray(0x7000), si.memmapEntries)).toEqual(plan.e820);
  });

  it("puts an MPTable at 0x9fc00 that a Linux-style scan finds and whose routing is KVM's default", () => {
    expect(plan.mptable.address).toBe(0x9fc00);
    const t = findMpTable(lowMemory(plan));
    expect(t?.processors.length).toBe(1);
    expect(t?.ioApics[0]?.address).toBe(0xfec00000);
    for (const e of t?.ioInterrupts ?? []) expect(e.destPin).toBe(e.sourceIrq);
    expect(plan.gsiRoutes.every((r) => r.gsi === r.ioapicPin)).toBe(true);
  });

  it("has 8 transports at 0xd0000000 + i*0x200 on GSIs 5..12 and no cmdline entries without devices", () => {
    expect(plan.transports.map((t) => [t.base, t.gsi])).toEqual(Array.from({ length: 8 }, (_, i) => [0xd0000000n + BigInt(i) * 0x200n, 5 + i]));
    expect(plan.cmdline).toBe("");
  });
});

describe("planMachine: boards", () => {
  it("announces each device on the command line in hex with 0x, in slot order", () => {
    const plan = planMachine({ kernel, cmdline: "console=ttyS0", devices: [{ kind: "blk" }, { kind: "net" }, { kind: "rng", slot: 7 }] });
    expect(plan.cmdline).toBe(
      "console=ttyS0 virtio_mmio.device=512@0xd0000000:5 virtio_mmio.device=512@0xd0000200:6 virtio_mmio.device=512@0xd0000e00:12",
    );
    expect(plan.transports[7]?.device).toEqual({ kind: "rng", id: "rng0", deviceId: 4, configIndex: 2 });
    expect(planMachine({ kernel, devices: [{ kind: "blk" }], autoCmdline: false }).cmdline).toBe("");
  });

  it("adds the UART and the reset port in legacy mode, and they appear in the listing", () => {
    const plan = planMachine({ kernel, legacy: true });
    const io = plan.listing.slice(plan.listing.indexOf("address-space: I/O"));
    expect(io).toContain("    00000000000003f8-00000000000003ff (prio 0, i/o): serial");
    expect(io).toContain("    0000000000000064-0000000000000064 (prio 0, i/o): i8042-reset");
    expect(plan.listing.length).toBe(seed.length + 2);
  });

  it("a custom device region changes the listing, and one that overlaps is refused", () => {
    const plan = planMachine({ kernel, customRegions: [{ name: "my-dev", space: "memory", base: 0xd0001000, size: 0x1000 }] });
    expect(plan.listing).toContain("  00000000d0001000-00000000d0001fff (prio 0, i/o): my-dev");
    expect(codeOf(() => planMachine({ kernel, customRegions: [{ name: "bad", space: "io", base: 0x40, size: 1 }] }))).toBe("overlap");
    expect(codeOf(() => planMachine({ kernel, customRegions: [{ name: "bad", space: "memory", base: 0xd00001f0, size: 0x20 }] }))).toBe("overlap");
  });

  it("moves the MPTable to the F-segment when it outgrows 1 KiB, and tells SMP boards' CPUs", () => {
    const small = planMachine({ kernel, cpus: 40 });
    expect(small.mptable.address).toBe(0x9fc00);
    const big = planMachine({ kernel, cpus: 41 });
    expect(big.mptable.address).toBe(0xf0000);
    const t = decodeMpTable(big.mptable.bytes, 0xf0000);
    expect(t.processors.map((p) => p.apicId)).toEqual(Array.from({ length: 41 }, (_, i) => i));
  });

  it("with the IRQ0 override, routes GSI 0 to IOAPIC pin 2 in both the MPTable and the GSI routes", () => {
    const plan = planMachine({ kernel, irq0Override: true });
    const t = decodeMpTable(plan.mptable.bytes, plan.mptable.address);
    expect(t.ioInterrupts.find((e) => e.sourceIrq === 0)?.destPin).toBe(2);
    expect(t.ioInterrupts.some((e) => e.sourceIrq === 2)).toBe(false);
    expect(plan.gsiRoutes.find((r) => r.gsi === 0)).toEqual({ gsi: 0, ioapicPin: 2, pic: true });
    expect(plan.gsiRoutes.some((r) => r.gsi === 2)).toBe(false);
    // by construction: every MPTable route is a GSI route
    for (const e of t.ioInterrupts) expect(plan.gsiRoutes).toContainEqual({ gsi: e.sourceIrq, ioapicPin: e.destPin, pic: e.sourceIrq < 16 });
  });

  it("splits RAM around the 32-bit MMIO gap", () => {
    const plan = planMachine({ kernel, memory: 4n << 30n });
    expect(plan.ram).toEqual([
      { start: 0n, size: 0xc0000000n },
      { start: 0x100000000n, size: 1n << 30n },
    ]);
    expect(plan.e820.some((e) => e.addr < 0x100000000n && e.addr + e.size > 0xc0000000n)).toBe(false);
  });

  it.each<[string, Parameters<typeof planMachine>[0], string]>([
    ["0 CPUs", { kernel, cpus: 0 }, "out-of-range"],
    ["255 CPUs", { kernel, cpus: 255 }, "out-of-range"],
    ["1 MiB of RAM", { kernel, memory: 1 << 20 }, "out-of-range"],
    ["9 devices", { kernel, devices: Array.from({ length: 9 }, () => ({ kind: "rng" as const })) }, "too-many-devices"],
    ["an unknown device kind", { kernel, devices: [{ kind: "gpu" as "rng" }] }, "invalid-argument"],
    ["two devices on one slot", { kernel, devices: [{ kind: "rng", slot: 1 }, { kind: "blk", slot: 1 }] }, "invalid-argument"],
    ["slot 8", { kernel, devices: [{ kind: "rng", slot: 8 }] }, "out-of-range"],
    ["a kernel that is not ELF", { kernel: new Uint8Array(100) }, "kernel"],
    ["a kernel without the PVH note", { kernel: tinyKernel(TRIPLE_FAULT, { note: false }) }, "kernel"],
    ["a command line of 2048 bytes (blamed on the command line, not the kernel)", { kernel, cmdline: "x".repeat(2048) }, "out-of-range"],
  ])("refuses %s", (_n, config, code) => {
    expect(codeOf(() => planMachine(config))).toBe(code);
  });
});
