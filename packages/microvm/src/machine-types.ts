/**
 * The types a machine is described and observed with, whatever engine runs it:
 * {@link MachineOptions} (a board with device backends, see devices/), how a machine ends and the
 * {@link Machine} interface both engines implement.
 */
import type { Regs, VcpuRunResult } from "@microvm/kvm";
import type { GuestMemory } from "@microvm/virtio-mmio";
import type { DeviceConfig } from "./devices/index.js";
import type { MachineConfig, MachinePlan } from "./plan.js";

/**
 * Where the legacy UART's output goes.
 *
 * @example
 * ```ts
 * await createMachine({ kernel, legacy: true, serial: { type: "fd", fd: 1 } satisfies SerialOutput });
 * ```
 */
export type SerialOutput =
  | {
      /** To {@link Machine.serial}, a stream read on the main thread. */
      readonly type: "stream";
    }
  | {
      /** Straight to a file descriptor from the vCPU threads (1 for stdout). */
      readonly type: "fd";
      /** The fd. */
      readonly fd: number;
    };

/**
 * Which engine runs a machine:
 * - `kvm`: the in-process engine (`@microvm/kvm`): this process drives `/dev/kvm`, the device
 *   models run on its threads;
 * - `qemu`: `qemu-system-x86_64 -M microvm` runs the same plan (our ROM, tables and entry
 *   state), with QEMU's device models, under `-accel tcg` (any host) or `-accel kvm`;
 * - `auto`: `kvm` when `/dev/kvm` opens, otherwise `qemu` with TCG (one line on stderr says so).
 *
 * @example
 * ```ts
 * const m = await createMachine({ kernel, engine: "qemu" satisfies EngineChoice, accel: "tcg" });
 * ```
 */
export type EngineChoice = "kvm" | "qemu" | "auto";

/**
 * What {@link createMachine} takes: a board ({@link MachineConfig}) with device backends and the
 * engine to run it on.
 *
 * @example
 * ```ts
 * const options: MachineOptions = { kernel, cpus: 2, legacy: true, devices: [{ kind: "rng" }] };
 * const m = await createMachine(options);
 * ```
 */
export interface MachineOptions extends Omit<MachineConfig, "devices" | "platform"> {
  /** The virtio devices with their backends. */
  readonly devices?: readonly DeviceConfig[];
  /** The virtio-mmio version for devices that do not say; default 2. */
  readonly virtioVersion?: 1 | 2;
  /** Where the legacy UART's output goes; default a stream. */
  readonly serial?: SerialOutput;
  /** The KVM device; default /dev/kvm (the `kvm` engine, and `auto`'s probe). */
  readonly kvmDevice?: string;
  /**
   * Where the `kvm` engine runs each vCPU (`@microvm/kvm`'s `thread` option): `worker` (default),
   * a Node worker per vCPU that serves its exits itself (~10 MiB each), the devices on an I/O
   * worker; or `native`, a native thread per vCPU (~0.5 MiB) whose exits are served on this
   * thread's event loop, each exit costing two thread wake-ups more, and the devices on this
   * thread too (no worker at all).
   */
  readonly vcpuThreads?: "worker" | "native";
  /** The engine; default `auto`. */
  readonly engine?: EngineChoice;
  /** The QEMU engine's accelerator: `tcg` (default) or `kvm`. */
  readonly accel?: "kvm" | "tcg";
  /** The QEMU engine's program; default `qemu-system-x86_64` from PATH. */
  readonly qemuBinary?: string;
  /** Where `auto` reports its choice; default stderr. */
  readonly log?: (line: string) => void;
}

/**
 * Why a machine ended:
 * - `poweroff`: the guest powered off through ACPI (its write of S5 to the FADT's sleep control
 *   register; boards with `acpi`), e.g. after {@link Machine.powerdown};
 * - `reset`: the guest asked for a reset (0xFE to port 0x64 in legacy mode, the ACPI reset
 *   register, or a system event);
 * - `triple-fault`: KVM_EXIT_SHUTDOWN, how `reboot=t` and the test guests end (on the QEMU
 *   engine: QEMU's `guest-reset` shutdown, which on its microvm board only a triple fault causes);
 * - `host`: {@link Machine.stop} was called;
 * - `error`: an exit the machine cannot continue from (an emulation failure, a failed entry), or
 *   a backend thread failure, or QEMU exiting on its own; `message` (and on the KVM engine
 *   `registers`) say more.
 *
 * @example
 * ```ts
 * const { reason }: { reason: MachineEndReason } = await machine.done;
 * ```
 */
export type MachineEndReason = "poweroff" | "reset" | "triple-fault" | "host" | "error";

/**
 * How a machine ended.
 *
 * @example
 * ```ts
 * const end: MachineEnd = await machine.done;
 * if (end.reason === "error") console.error(end.message, end.registers);
 * ```
 */
export interface MachineEnd {
  /** Why. */
  readonly reason: MachineEndReason;
  /** Details, for `error`. */
  readonly message?: string;
  /** The vCPU whose exit ended the machine. */
  readonly vcpu?: number;
  /** That vCPU's registers, for `error` ends. */
  readonly registers?: Regs;
  /** Each vCPU thread's own result (the KVM engine; empty on the QEMU engine). */
  readonly vcpus: readonly VcpuRunResult[];
}

/**
 * Counters of a running machine on the KVM engine (the QEMU engine's devices are QEMU's own and
 * count nothing for us: its {@link Machine.stats} returns `{}`).
 *
 * @example
 * ```ts
 * const s: MachineStats = machine.stats();
 * console.log(`${s.unclaimedPioReads} unclaimed port reads`);
 * ```
 */
export interface MachineStats {
  /** Port reads nothing claimed (answered 0xff…). */
  readonly unclaimedPioReads: number;
  /** Port writes nothing claimed (dropped). */
  readonly unclaimedPioWrites: number;
  /** MMIO reads nothing claimed. */
  readonly unclaimedMmioReads: number;
  /** MMIO writes nothing claimed. */
  readonly unclaimedMmioWrites: number;
  /** virtio register accesses forwarded to the I/O thread. */
  readonly forwardedRegisterAccesses: number;
  /** Queue notifications served. */
  readonly queueNotifications: number;
  /** Interrupts sent. */
  readonly interrupts: number;
  /** Hostile-driver checks that fired. */
  readonly hostileChecks: number;
}

/**
 * A running machine, on either engine. {@link createMachine} returns one; it has started, and
 * {@link Machine.done} settles with how it ended once everything it held (threads, fds, mappings,
 * QEMU's process, temporary files) is released.
 *
 * What each engine offers:
 * - both: `plan`, `done`, `serial()`, `console()`, `serialInput()`, `consoleInput()`,
 *   `powerdown()` (with ACPI), `stop()`;
 * - KVM only: `memory` (guest RAM) and the counters of `stats()`.
 *
 * @example
 * ```ts
 * const m: Machine = await createMachine({ kernel, legacy: true, cmdline: "console=ttyS0" });
 * for await (const chunk of m.serial()) process.stdout.write(chunk);
 * console.log(m.engine, (await m.done).reason);
 * ```
 */
export interface Machine {
  /** The engine running it. */
  readonly engine: "kvm" | "qemu";
  /** The plan it runs. */
  readonly plan: MachinePlan;
  /** Settles when the machine has ended and released everything. */
  readonly done: Promise<MachineEnd>;
  /** Guest RAM, for inspection (KVM engine; valid until the machine ends). */
  readonly memory?: GuestMemory | undefined;
  /**
   * The legacy UART's output as byte chunks (empty in normal mode or when it goes to an fd).
   *
   * @returns the chunks until the machine ends
   */
  serial(): AsyncIterable<Uint8Array>;
  /**
   * A virtio console's output (by device id, default the first console with a `stream` backend).
   *
   * @param id - the console's device id
   * @returns the chunks until the machine ends
   */
  console(id?: string): AsyncIterable<Uint8Array>;
  /**
   * Sends bytes to the legacy UART's receiver.
   *
   * @param bytes - the input
   * @returns when the bytes were taken (or the machine ended)
   */
  serialInput(bytes: Uint8Array): Promise<void>;
  /**
   * Sends bytes to a virtio console's input.
   *
   * @param bytes - the input
   * @param id - the console's device id; default the first `stream` console
   */
  consoleInput(bytes: Uint8Array, id?: string): void;
  /**
   * The counters the engine keeps ({@link MachineStats} on KVM, none on QEMU).
   *
   * @returns the counters
   */
  stats(): Partial<MachineStats>;
  /**
   * Asks the guest to shut down cleanly, as a power button press (boards with `acpi`; on the QEMU
   * engine, QMP's `system_powerdown`). Whether and when the guest powers off is its own choice;
   * when it does, {@link Machine.done} settles with reason `poweroff`.
   *
   * @returns when the request was delivered
   */
  powerdown(): Promise<void>;
  /**
   * Stops the machine from the host.
   *
   * @returns how it ended (`host`, unless it had already ended otherwise)
   */
  stop(): Promise<MachineEnd>;
}
