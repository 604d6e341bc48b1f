/**
 * What a device kind is made of: the one interface every module in `src/devices/` implements
 * ({@link DeviceKind}), and the contexts the command line, the KVM engine, its I/O thread and the
 * QEMU engine hand it. The board's code around it (cli/, kvm-machine.ts, io-handler.ts, qemu/)
 * iterates the table in `devices/index.ts` and knows no kind by name.
 *
 * A kind module keeps its static imports to types and light modules: the CLI's entry is built
 * from it (`--help` lists its flags), so what builds device models and backends is imported
 * inside the hooks that need it.
 */
import type { IoContext } from "@microvm/kvm";
import type { FrameBackend, VirtioDevice } from "@microvm/virtio-mmio";
import type { HostForward } from "../host-forward.js";
import type { VirtioDevicePlanInit } from "../plan.js";
import type { VirtioKind } from "./index.js";

/**
 * What every device configuration has besides its kind and backend.
 *
 * @example
 * ```ts
 * const base: DeviceConfigBase = { kind: "net", version: 1, mac: "52:54:00:12:34:56" };
 * ```
 */
export interface DeviceConfigBase extends VirtioDevicePlanInit {
  /** virtio-mmio version of its transport: 2 (modern, default) or 1 (legacy). */
  readonly version?: 1 | 2;
  /** net only: the MAC address (default: the device's own default). */
  readonly mac?: string;
}

/**
 * A backend made by the caller's own module, loaded where the device model runs (the KVM engine's
 * I/O thread, or this process for the QEMU engine): an absolute path or `file:` URL of a module
 * whose named export `createBackend(options)` returns the backend object (`BlockBackend`,
 * `FrameBackend`, `ByteStreamBackend` or an `EntropySource` function).
 *
 * @example
 * ```ts
 * const custom: ModuleBackendSpec = { type: "module", module: "/opt/vmm/my-disk.js", options: { size: 1 << 30 } };
 * ```
 */
export interface ModuleBackendSpec {
  /** Discriminant. */
  readonly type: "module";
  /** The module. */
  readonly module: string;
  /** Passed to `createBackend` (structured-cloned). */
  readonly options?: unknown;
}

/**
 * A `-device` of the command line, in command-line order (which is transport order).
 *
 * @example
 * ```ts
 * const d: CliDevice = { kind: "blk", backend: "disk0", id: "root" }; // -device virtio-blk-device,drive=disk0,id=root
 * ```
 */
export interface CliDevice {
  /** The device kind. */
  readonly kind: VirtioKind;
  /** `id=`: the device's name (QEMU's `-device …,id=`). */
  readonly id?: string;
  /** The id of the `-drive`, `-netdev` or `-chardev` it is attached to, if any. */
  readonly backend?: string;
}

/**
 * The backend flags a `-device` can refer to by id (QEMU's front-end/back-end split: `-drive`,
 * `-netdev`, `-chardev`).
 *
 * @example
 * ```ts
 * const f: CliBackendFlag = "drive";
 * ```
 */
export type CliBackendFlag = "drive" | "netdev" | "chardev";

/**
 * What a kind's {@link DeviceCliHooks.parse} works with: the option helpers of the command line,
 * so that every kind reports errors the same way.
 *
 * @example
 * ```ts
 * const m = p.keys(["drive", "id"]); // throws for any other key
 * p.push({ kind: "blk", backend: p.need(m, "drive"), ...p.optId(m) });
 * ```
 */
export interface CliDeviceParser {
  /** The flag and driver as written, for messages (`-device virtio-blk-device`). */
  readonly flag: string;
  /** The devices parsed so far (a port device, like `virtconsole`, attaches to one of them). */
  readonly devices: CliDevice[];
  /**
   * The driver's `key=value` pairs against an allow-list (the driver name itself is allowed).
   *
   * @param allowed - the keys this driver takes
   * @returns the values by key
   */
  keys(allowed: readonly string[]): Map<string, string>;
  /**
   * A required, non-empty value.
   *
   * @param m - the values
   * @param key - the key
   * @returns its value
   */
  need(m: Map<string, string>, key: string): string;
  /**
   * An optional `id=`, checked against QEMU's well-formed id rule.
   *
   * @param m - the values
   * @returns `{ id }` or `{}`
   */
  optId(m: Map<string, string>): {
    /** The id. */
    id?: string;
  };
  /**
   * Takes a backend id for this device; a second device naming it is refused.
   *
   * @param flag - which backend flag the id is of
   * @param id - the id
   * @param by - who takes it, for the message (default "another device")
   */
  claim(flag: CliBackendFlag, id: string, by?: string): void;
  /**
   * Appends a device.
   *
   * @param d - the device
   */
  push(d: CliDevice): void;
  /**
   * An `invalid-argument` error with this message.
   *
   * @param message - the message
   * @returns the error, to throw
   */
  bad(message: string): Error;
}

/**
 * The host side of the CLI's backends a kind's {@link DeviceCliHooks.config} builds its
 * configuration from: opened (images locked, taps created, ptys opened) for a run, or stand-ins for
 * `--print-plan`.
 *
 * @example
 * ```ts
 * const img = host.drive("disk0"); // { file: "disk.img", readOnly: false, fd: 7, size: 1048576 }
 * ```
 */
export interface CliDeviceHost {
  /** The engine the machine runs on. */
  readonly engine: "kvm" | "qemu";
  /**
   * A `-drive`: its file, and for the KVM engine the open, locked image.
   *
   * @param id - the drive id
   * @returns the drive
   */
  drive(id: string): {
    /** The image file. */
    readonly file: string;
    /** `readonly=on`. */
    readonly readOnly: boolean;
    /** The open, locked image (KVM engine). */
    readonly fd?: number;
    /** Its size in bytes (with `fd`). */
    readonly size?: number;
  };
  /**
   * A `-netdev`: a tap (its fd, or -1 for a stand-in) or user networking with its forwards.
   *
   * @param id - the netdev id
   * @returns the netdev
   */
  netdev(id: string):
    | {
        /** A tap. */
        readonly type: "tap";
        /** Its fd (-1 for a stand-in). */
        readonly fd: number;
      }
    | {
        /** User networking. */
        readonly type: "user";
        /** The forwarded ports. */
        readonly hostfwd: readonly HostForward[];
      };
  /**
   * A `-chardev`'s output fd and input fd (a pty master, or stdout and stdin); undefined for
   * none.
   *
   * @param id - the chardev id, or undefined
   * @returns the fds
   */
  chardev(id: string | undefined):
    | {
        /** Where output goes. */
        readonly out: number;
        /** Where input comes from. */
        readonly input?: number;
      }
    | undefined;
  /**
   * An fd open on /dev/null, for output that goes nowhere.
   *
   * @returns the fd
   */
  nullFd(): number;
}

/**
 * A kind's part of the `microvm` command line.
 *
 * @example
 * ```ts
 * const hooks: DeviceCliHooks<RngDeviceConfig> = rngKind.cli;
 * hooks.drivers; // ["virtio-rng-device"]
 * ```
 */
export interface DeviceCliHooks<C> {
  /** The `-device` driver names it parses (QEMU's names). */
  readonly drivers: readonly string[];
  /** Its `--help` lines: flag, argument, what it does. */
  readonly help: readonly (readonly [flag: string, arg: string, what: string])[];
  /**
   * The backend flag its devices refer to, and whether the reference may be absent; the command
   * line checks that the id exists once every flag is read.
   */
  readonly backendFlag?: {
    /** The flag. */
    readonly flag: CliBackendFlag;
    /** The `-device` driver that names the id, for messages. */
    readonly driver: string;
    /** Whether a device may name none. */
    readonly optional?: boolean;
  };
  /**
   * Parses one `-device` of one of its drivers.
   *
   * @param driver - the driver name
   * @param p - the parser helpers
   */
  parse(driver: string, p: CliDeviceParser): void;
  /**
   * The device's configuration (with its backend) for the machine.
   *
   * @param d - the device as parsed
   * @param host - the opened backends
   * @returns the configuration
   */
  config(d: CliDevice, host: CliDeviceHost): C;
}

/**
 * What the KVM engine gives a kind while it sets up the I/O thread.
 *
 * @example
 * ```ts
 * const setup = netKind.ioSetup(config, { userStream: () => fd, consoleRing: () => createRing() });
 * ```
 */
export interface KvmDeviceHost {
  /**
   * The socket to the passt the engine started for this device (net backend `user`).
   *
   * @returns the fd
   */
  userStream(): number;
  /**
   * A ring for a console's output, read as {@link Machine.console} on the main thread.
   *
   * @returns the ring's buffer
   */
  consoleRing(): SharedArrayBuffer;
}

/**
 * What crosses to the I/O thread for one device (structured-cloned): its kind and whatever the
 * kind's {@link DeviceKind.ioSetup} puts there.
 *
 * @example
 * ```ts
 * const s: IoDeviceSetup = { kind: "rng", backend: { type: "crypto" } };
 * ```
 */
export interface IoDeviceSetup {
  /** The device kind. */
  readonly kind: string;
  /** The rest, the kind's own. */
  readonly [key: string]: unknown;
}

/**
 * What a kind's {@link DeviceKind.model} gets on the KVM engine's I/O thread.
 *
 * @example
 * ```ts
 * io.closers.push(() => backend.close());
 * ```
 */
export interface IoDeviceContext {
  /** The I/O thread (fd watches). */
  readonly ctx: IoContext;
  /** Close functions run when the machine ends. */
  readonly closers: (() => void)[];
  /**
   * Receives the bytes {@link Machine.consoleInput} sends to this transport.
   *
   * @param f - the receiver
   */
  onInput(f: (bytes: Uint8Array) => void): void;
}

/**
 * What a kind's {@link DeviceKind.qemu} writes QEMU's command line with.
 *
 * @example
 * ```ts
 * q.push("-device", `virtio-rng-device,rng=${q.id}-rng,${q.bus},id=${q.id}`);
 * ```
 */
export interface QemuDeviceArgs {
  /** The device id. */
  readonly id: string;
  /** `bus=virtio-mmio-bus.<transport>`. */
  readonly bus: string;
  /** Its index in the board's devices. */
  readonly configIndex: number;
  /** Who serves `user` net devices passt would serve: `passt` or QEMU's own `slirp`. */
  readonly userNet: "passt" | "slirp";
  /**
   * Appends arguments.
   *
   * @param args - the arguments
   */
  push(...args: string[]): void;
  /**
   * A value in QEMU's option syntax (commas doubled).
   *
   * @param value - the value
   * @returns it, quoted
   */
  qv(value: string): string;
  /**
   * A socket the engine listens on for QEMU, by role (see `QemuSocket`).
   *
   * @param role - `vhost-user` or `net-stream`
   * @param name - its file name in the engine's directory
   * @returns its path
   */
  socket(role: "vhost-user" | "net-stream", name: string): string;
  /**
   * A console channel the engine serves: a connected socket QEMU inherits (see `QemuChannel`).
   *
   * @returns a placeholder for the fd's number in QEMU, for `-chardev socket,fd=…`
   */
  channel(): string;
  /**
   * An fd QEMU inherits.
   *
   * @param fd - the fd in this process
   * @param what - what it is, for `--print-plan`
   * @returns its number in QEMU
   */
  inherit(fd: number, what: string): number;
  /**
   * A stream socket to a passt the engine starts (net `user`).
   *
   * @returns a placeholder for the fd's number in QEMU
   */
  passtStream(): string;
  /**
   * This device as a model of ours behind QEMU's vhost-user device `type`.
   *
   * @param type - QEMU's vhost-user device (`vhost-user-blk`)
   */
  vhostUser(type: string): void;
  /**
   * An `engine` error: what the QEMU engine cannot run, naming the device.
   *
   * @param why - the reason
   * @returns the error, to throw
   */
  unsupported(why: string): Error;
}

/**
 * What a device kind's configuration has at least: its kind's name.
 *
 * @example
 * ```ts
 * const c: KindedConfig = { kind: "rng" };
 * ```
 */
export interface KindedConfig {
  /** The kind's name. */
  readonly kind: string;
}

/**
 * One kind of virtio device of the board: everything that differs between blk, net, console and
 * rng, in one object. The table `DEVICE_KINDS` (devices/index.ts) lists them; the command line, the
 * plan, both engines and the I/O thread iterate it.
 *
 * @example
 * ```ts
 * const kind: DeviceKind<RngDeviceConfig> = rngKind;
 * kind.virtioId; // 4
 * ```
 */
export interface DeviceKind<C extends KindedConfig> {
  /** Its name, the `kind` of its configurations. */
  readonly kind: C["kind"];
  /** Its virtio device id (virtio 1.2 §5 "Device Types"). */
  readonly virtioId: number;
  /** QEMU's device type for it, as `info qtree` names it. */
  readonly qemuType: string;
  /** QEMU's vhost-user device type, when our model of it can be served to QEMU that way. */
  readonly qemuVhostUserType?: string;
  /** Its command-line part. */
  readonly cli: DeviceCliHooks<C>;
  /**
   * KVM engine, main thread: what the I/O thread needs to build the device (structured-clonable).
   *
   * @param config - the device's configuration
   * @param host - what the engine provides
   * @returns the setup
   */
  ioSetup(config: C, host: KvmDeviceHost): IoDeviceSetup;
  /**
   * KVM engine, I/O thread: the device model with its backend.
   *
   * @param setup - what {@link DeviceKind.ioSetup} made
   * @param io - the I/O thread's context
   * @returns the model
   */
  model(setup: IoDeviceSetup, io: IoDeviceContext): Promise<VirtioDevice>;
  /**
   * QEMU engine: its part of QEMU's command line (pure: nothing is opened).
   *
   * @param config - the device's configuration, or undefined when the plan names a device the
   *   caller gave no configuration for
   * @param q - the command-line helpers
   */
  qemu(config: C | undefined, q: QemuDeviceArgs): void;
  /**
   * QEMU engine: our device model, when {@link DeviceKind.qemu} chose vhost-user for it.
   *
   * @param config - the device's configuration
   * @param closers - close functions run when the machine ends
   * @returns the model
   */
  vhostUserModel?(config: C, closers: (() => void)[]): Promise<VirtioDevice>;
  /**
   * QEMU engine: our frame backend, when {@link DeviceKind.qemu} put the device on a
   * `net-stream` socket (QEMU's `-netdev stream`).
   *
   * @param config - the device's configuration
   * @returns the backend
   */
  qemuFrames?(config: C): Promise<FrameBackend>;
}

/**
 * The configuration type of a {@link DeviceKind}.
 *
 * @example
 * ```ts
 * type Rng = ConfigOf<typeof rngKind>; // RngDeviceConfig
 * ```
 */
export type ConfigOf<K> = K extends DeviceKind<infer C> ? C : never;
