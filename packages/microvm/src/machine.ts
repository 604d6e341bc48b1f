/**
 * {@link createMachine}: one board, planned once, run on the engine the host allows: the
 * in-process KVM engine (kvm-machine.ts) or QEMU (qemu/machine.ts).
 */
import { openSync, closeSync } from "node:fs";
import { MicrovmError } from "./errors.js";
import type { Machine, MachineOptions } from "./machine-types.js";
import { planMachine, type MachinePlan, type VirtioDevicePlanInit } from "./plan.js";
import { KVM_PLATFORM, qemuPlatform } from "./platform.js";
import { hostTsc } from "./node/host-tsc.js";

/**
 * Why `/dev/kvm` (or the given device) cannot be used, or undefined when it opens read-write.
 *
 * @param device - the KVM device; default `$MICROVM_KVM_DEVICE` or `/dev/kvm` (the variable simulates a host without KVM)
 * @returns the reason, or undefined
 * @example
 * ```ts
 * const why = kvmUnavailableReason();
 * console.log(why ?? "KVM is usable");
 * ```
 */
export function kvmUnavailableReason(device: string = process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm"): string | undefined {
  try {
    closeSync(openSync(device, "r+"));
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    return `${device}: ${code === "ENOENT" ? "no such device" : code === "EACCES" ? "permission denied (join the kvm group)" : code}`;
  }
}

/**
 * The engine `options` resolve to:
 * - `engine: "kvm"`: the in-process engine (`accel` must be absent or `kvm`);
 * - `engine: "qemu"`: QEMU with `accel`, default `kvm` when `/dev/kvm` opens, else `tcg`;
 * - `engine: "auto"` (default): `accel: "tcg"` means QEMU (only QEMU has TCG), `accel: "kvm"` the
 *   in-process engine; no `accel`: the in-process engine when `/dev/kvm` opens, else QEMU with TCG.
 *
 * @param options - the machine options
 * @returns the engine and, for QEMU, the accelerator; `why` says why `auto` chose QEMU
 * @example
 * ```ts
 * resolveEngine({ kernel, engine: "auto" }); // { engine: "qemu", accel: "tcg", why: "/dev/kvm: no such device" } on a host without KVM
 * ```
 */
export function resolveEngine(options: Pick<MachineOptions, "engine" | "accel" | "kvmDevice">): {
  /** The engine. */
  readonly engine: "kvm" | "qemu";
  /** QEMU's accelerator. */
  readonly accel: "kvm" | "tcg";
  /** Why `auto` fell back to QEMU. */
  readonly why?: string;
} {
  const choice = options.engine ?? "auto";
  if (choice !== "kvm" && choice !== "qemu" && choice !== "auto") throw new MicrovmError("invalid-argument", `engine: expected kvm, qemu or auto, got ${String(choice)}`);
  const accel = options.accel;
  if (accel !== undefined && accel !== "kvm" && accel !== "tcg") throw new MicrovmError("invalid-argument", `accel: expected kvm or tcg, got ${String(accel)}`);
  if (choice === "kvm") {
    if (accel === "tcg") throw new MicrovmError("invalid-argument", "accel: tcg is QEMU's CPU emulator; the kvm engine runs on /dev/kvm only (use engine qemu)");
    return { engine: "kvm", accel: "kvm" };
  }
  if (choice === "qemu") return { engine: "qemu", accel: accel ?? (kvmUnavailableReason(options.kvmDevice) === undefined ? "kvm" : "tcg") };
  // auto: TCG only exists on QEMU; KVM asked for by name is the in-process engine.
  if (accel === "tcg") return { engine: "qemu", accel: "tcg" };
  if (accel === "kvm") return { engine: "kvm", accel: "kvm" };
  const why = kvmUnavailableReason(options.kvmDevice);
  return why === undefined ? { engine: "kvm", accel: "kvm" } : { engine: "qemu", accel: "tcg", why };
}

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
