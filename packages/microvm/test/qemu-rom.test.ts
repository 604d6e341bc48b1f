// The generated boot ROM, run: on the QEMU engine (TCG) the guest sees exactly the entry state the
// plan describes. Positive: the test guest's start_info checks pass, and a board large enough that
// its MPTable lands in the BIOS F-segment (inside the ROM's window) still gives every CPU to the
// guest. Negative controls: an entry state with the wrong start_info address in EBX, and one whose
// entry point is off, must fail.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildGuests, failedChecks, guestParams, parseReport, qemuAvailable, type GuestImages } from "../../../test/guests/harness.ts";
import { createQemuMachine, planFor, type MachineOptions, type MachinePlan } from "../src/index.js";

const missing = qemuAvailable() ? undefined : "qemu-system-x86_64 not found";

async function run(options: MachineOptions, plan: MachinePlan): Promise<{ serial: string; reason: string }> {
  const m = await createQemuMachine(options, plan);
  const timer = setTimeout(() => void m.stop(), 60_000);
  let serial = "";
  for await (const c of m.serial()) serial += Buffer.from(c).toString("latin1");
  const end = await m.done;
  clearTimeout(timer);
  return { serial, reason: end.reason };
}

/** A copy of `plan` whose vCPU 0 entry registers are changed. */
function withRegs(plan: MachinePlan, regs: Partial<MachinePlan["boot"]["entry"]["regs"]>): MachinePlan {
  const entry = { ...plan.boot.entry, regs: { ...plan.boot.entry.regs, ...regs } };
  return { ...plan, boot: { ...plan.boot, entry } };
}

describe.skipIf(missing !== undefined)(`the PVH ROM on the QEMU engine${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let guests: GuestImages;
  beforeAll(async () => {
    guests = await buildGuests();
  }, 300_000);

  const options = (cpus: number): MachineOptions => ({
    kernel: readFileSync(guests.elf64),
    cpus,
    legacy: true,
    engine: "qemu",
    accel: "tcg",
    cmdline: guestParams({ expectCpus: cpus, uart: true, memmapSorted: true }),
  });

  it("the planned entry state: start_info found through EBX, every check passes", async () => {
    const o = options(2);
    const { plan } = planFor(o);
    const r = await run(o, plan);
    const report = parseReport(r.serial);
    expect(failedChecks(report), r.serial.slice(-2000)).toEqual([]);
    expect(report.checks.find((c) => c.name === "start_info.magic")?.status).toBe("ok");
    expect(r.reason).toBe("triple-fault");
  }, 90_000);

  it("48 CPUs: the MPTable no longer fits below 640 KiB, goes into the ROM's F-segment window, and the guest finds all 48", async () => {
    const o = options(48);
    const { plan } = planFor(o);
    expect(plan.mptable.address).toBe(0xf0000); // the high placement, where the ROM is mapped
    const r = await run(o, plan);
    const report = parseReport(r.serial);
    expect(failedChecks(report), r.serial.slice(-2000)).toEqual([]);
    expect(report.checks.find((c) => c.name === "mptable.cpus")?.got).toBe("48");
  }, 120_000);

  it("negative control: EBX pointing 64 bytes past start_info fails the guest's start_info check", async () => {
    const o = options(1);
    const { plan } = planFor(o);
    const bad = withRegs(plan, { rbx: plan.boot.entry.regs.rbx + 64n });
    const r = await run(o, bad);
    const failed = failedChecks(parseReport(r.serial)).map((c) => c.name);
    expect(failed, r.serial.slice(-2000)).toContain("start_info.magic");
  }, 90_000);

  it("negative control: an entry point 16 bytes off never produces the report", async () => {
    const o = options(1);
    const { plan } = planFor(o);
    const bad = withRegs(plan, { rip: plan.boot.entry.regs.rip + 16n });
    const r = await run(o, bad);
    expect(r.serial).not.toMatch(/^summary pass=\d+ fail=0 result=PASS$/m);
  }, 90_000);
});
