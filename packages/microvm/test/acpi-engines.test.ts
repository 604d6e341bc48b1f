// The ACPI board's power path on both engines, with tiny guests that do what Linux does through
// our FADT and DSDT: a write of S5|SLP_EN to the GED's sleep control register (Linux's poweroff),
// the reset value to its reset register, and a loop on the GED's event register until the
// power-down bit shows (what the DSDT's _EVT reads after Machine.powerdown()). The KVM engine
// serves these registers itself; the QEMU engine leaves them to QEMU's GED (acpi=on), so the same
// guest checks that both agree. Negative controls: the same guests on a board without ACPI.
import { describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { GED, MICROVM_LAYOUT, createMachine, type MachineEnd, type MachineOptions } from "../src/index.js";
import { HALT_FOREVER, tinyKernel } from "./helpers.js";

type Engine = "kvm" | "qemu";
const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const missing = (e: Engine): string | undefined => (e === "kvm" ? kvmMissing : qemuAvailable() ? undefined : "qemu-system-x86_64 not found");
const engineOptions = (e: Engine): Pick<MachineOptions, "engine" | "accel"> => (e === "kvm" ? { engine: "kvm" } : { engine: "qemu", accel: "tcg" });

const hex = (n: bigint | number): string => `0x${n.toString(16)}`;
const REGS = MICROVM_LAYOUT.gedBase + GED.regsOffset;
const S5 = (GED.s5SleepType << 2) | GED.sleepEnable;

/** Writes S5|SLP_EN to the sleep control register, then halts (a machine that ignores it runs on). */
const POWER_OFF = `
	movl $${hex(REGS + BigInt(GED.sleepControl))}, %ebx
	movb $${hex(S5)}, (%ebx)
${HALT_FOREVER}`;
/** Writes the reset value to the reset register, then halts. */
const RESET = `
	movl $${hex(REGS + BigInt(GED.reset))}, %ebx
	movb $${hex(GED.resetValue)}, (%ebx)
${HALT_FOREVER}`;
/** Reads the event register until the power-down bit is set (as _EVT does), then powers off. */
const WAIT_FOR_BUTTON = `
	movl $${hex(MICROVM_LAYOUT.gedBase)}, %esi
1:	movl (%esi), %eax
	testl $${hex(GED.powerDownEvent)}, %eax
	jz 1b
	movl $${hex(REGS + BigInt(GED.sleepControl))}, %ebx
	movb $${hex(S5)}, (%ebx)
${HALT_FOREVER}`;

/** Runs a tiny guest; stops it from the host after `limitMs` if it has not ended by then. */
async function run(engine: Engine, body: string, acpi: boolean, opts: { limitMs?: number; press?: boolean } = {}): Promise<MachineEnd> {
  const m = await createMachine({ kernel: tinyKernel(body), cpus: 1, acpi, ...engineOptions(engine), log: () => undefined });
  const timers: NodeJS.Timeout[] = [setTimeout(() => void m.stop(), opts.limitMs ?? 30_000)];
  if (opts.press) {
    // pressed after the guest has started polling; again in case the first came too early
    const press = (): void => void m.powerdown().catch(() => undefined);
    timers.push(setTimeout(press, 300), setTimeout(press, 3000));
  }
  const end = await m.done;
  for (const t of timers) clearTimeout(t);
  return end;
}

describe.each(["kvm", "qemu"] as const)("the ACPI power path on the %s engine", (engine) => {
  const why = missing(engine);
  describe.skipIf(why !== undefined)(`engine ${engine}${why ? ` (skipped: ${why})` : ""}`, () => {
    it("S5|SLP_EN to the GED's sleep control register ends the machine with poweroff; without ACPI nothing is there and the guest runs on", async () => {
      expect((await run(engine, POWER_OFF, true)).reason).toBe("poweroff");
      expect((await run(engine, POWER_OFF, false, { limitMs: 2000 })).reason).toBe("host");
    }, 60_000);

    it("the reset value to the GED's reset register ends the machine with reset; without ACPI the guest runs on", async () => {
      expect((await run(engine, RESET, true)).reason).toBe("reset");
      expect((await run(engine, RESET, false, { limitMs: 2000 })).reason).toBe("host");
    }, 60_000);

    it("Machine.powerdown() sets the power-down bit the guest reads from the event register; unpressed, the guest keeps waiting", async () => {
      expect((await run(engine, WAIT_FOR_BUTTON, true, { press: true })).reason).toBe("poweroff");
      // negative control: no press, the bit never shows
      expect((await run(engine, WAIT_FOR_BUTTON, true, { limitMs: 2000 })).reason).toBe("host");
    }, 60_000);
  });
});
