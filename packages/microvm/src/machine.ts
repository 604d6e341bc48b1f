/**
 * {@link createMachine}: one board, planned once, run on the engine the host allows: the
 * in-process KVM engine (kvm-machine.ts) or QEMU (qemu/machine.ts).
 */
import { resolveEngine } from "./engine-choice.js";
import type { Machine, MachineOptions } from "./machine-types.js";
import { planMachine, type MachinePlan, type VirtioDevicePlanInit } from "./plan.js";
import { KVM_PLATFORM, qemuPlatform } from "./platform.js";
import { hostTsc } from "./node/host-tsc.js";

export { kvmUnavailableReason, resolveEngine } from "./engine-choice.js";

/**
 * The plan `options` give on the engine they resolve to (what {@link createMachine} runs).
 *
 * @param options - the machine options
 * @returns the engine and its plan
 * @throws MicrovmError as {@link planMachine}
 * @example
 * ```ts
 * const { engine, plan } = planFor({ kernel, engine: "qemu" });
 * plan.transports[0]?.base; // 0xfeb00000n
 * ```
 */
export function planFor(options: Omit<MachineOptions, "devices"> & { readonly devices?: readonly VirtioDevicePlanInit[] }): {
  /** The engine. */
  readonly engine: "kvm" | "qemu";
  /** QEMU's accelerator (`kvm` for the in-process engine). */
  readonly accel: "kvm" | "tcg";
  /** The plan, made for the engine's platform. */
  readonly plan: MachinePlan;
  /** Why `auto` fell back to QEMU. */
  readonly why?: string;
  /** What the caller should tell the user about the plan (e.g. that the TSC rate is unknown). */
  readonly notes: readonly string[];
} {
  const r = resolveEngine(options);
  const platform = r.engine === "kvm" ? KVM_PLATFORM : qemuPlatform({ accel: r.accel });
  const notes: string[] = [];
  let tscKhz = options.tscKhz;
  if (tscKhz === undefined && options.acpi === true && r.engine === "qemu" && r.accel === "tcg") {
    // TCG's TSC runs at the host's rate; with hardware-reduced ACPI Linux has nothing to calibrate it against.
    const t = hostTsc();
    if ("khz" in t) tscKhz = t.khz;
    else notes.push(`the guest's TSC rate is unknown (${t.unknown}); a Linux guest with ACPI under TCG may hang calibrating its delay loop`);
  }
  const plan = planMachine({ ...options, devices: options.devices ?? [], platform, ...(tscKhz !== undefined ? { tscKhz } : {}) });
  return { ...r, plan, notes };
}

/**
 * Plans a board ({@link planMachine}) for the engine the options choose and starts it there:
 * - `kvm`: in this process on `/dev/kvm` (see {@link createKvmMachine});
 * - `qemu`: in `qemu-system-x86_64 -M microvm` with `-accel tcg` or `kvm`, booted from our own
 *   ROM, tables and entry state (see {@link createQemuMachine});
 * - `auto` (default): `kvm` when `/dev/kvm` opens, else `qemu` with TCG, said in one line on
 *   stderr (or `options.log`).
 *
 * @param options - the board, its device backends and the engine
 * @returns the running machine
 * @throws MicrovmError for a bad board (see {@link planMachine}), `kvm` when KVM refuses,
 *   `engine` when the engine cannot run the board or does not start, `platform-mismatch`
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * const m = await createMachine({
 *   kernel: readFileSync("guests/build/guest64.elf"),
 *   cpus: 2,
 *   legacy: true,
 *   devices: [{ kind: "rng" }],
 * });
 * for await (const chunk of m.serial()) process.stdout.write(chunk);
 * console.log(m.engine, (await m.done).reason);
 * ```
 */
export async function createMachine(options: MachineOptions): Promise<Machine> {
  const r = planFor(options);
  const { engine, plan, why } = r;
  const log = options.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  if (why !== undefined) log(`microvm: ${why}; running on QEMU with TCG (engine auto)`);
  for (const n of r.notes) log(`microvm: ${n}`);
  if (engine === "kvm") {
    const { createKvmMachine } = await import("./kvm-machine.js");
    return createKvmMachine(options, plan);
  }
  const { createQemuMachine } = await import("./qemu/machine.js");
  return createQemuMachine({ ...options, accel: r.accel }, plan);
}
