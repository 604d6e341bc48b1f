/**
 * Which engine a machine runs on ({@link resolveEngine}) and whether `/dev/kvm` opens: apart from
 * machine.ts so that the CLI's `--info-mtree` without a kernel needs no planner.
 */
import { closeSync, openSync } from "node:fs";
import { MicrovmError } from "./errors.js";
import type { MachineOptions } from "./machine-types.js";

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
export function resolveEngine(options: Pick<MachineOptions, "engine" | "accel" | "kvmDevice" | "vcpuThreads">): {
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
  const threads = options.vcpuThreads;
  if (threads !== undefined && threads !== "worker" && threads !== "native") {
    throw new MicrovmError("invalid-argument", `vcpuThreads: expected worker or native, got ${String(threads)}`);
  }
  if (choice === "qemu" && threads !== undefined) {
    throw new MicrovmError("invalid-argument", "vcpuThreads: QEMU runs its own vCPU threads; the option is the kvm engine's (engine kvm or auto)");
  }
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

