/**
 * The `microvm` program: parses QEMU's flags for `-M microvm` ({@link parseCommandLine}), opens
 * the host side of every device (images locked as QEMU locks them, taps, ptys, the terminal in
 * raw mode), then runs the machine until the guest resets or triple-faults (exit 0).
 *
 * Every failure before the guest starts is one line on stderr, `microvm: <cause>`, exit status 1,
 * with everything opened so far closed again (no tap, lock or terminal mode left behind).
 *
 * Start-up cost matters (a whole run of a small guest is measured against QEMU's), so the machine,
 * KVM and koffi modules are imported only once the command line asks for a run.
 */
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { isMicrovmError, MicrovmError } from "../errors.js";
import { deviceKind, type DeviceConfig } from "../devices/index.js";
import type { CliDeviceHost } from "../devices/kind.js";
import type { Machine, MachineOptions } from "../machine-types.js";
import type { QemuChannel } from "../qemu/command.js";
import { helpText, parseCommandLine, type CliConfig } from "./args.js";
import { cliVersion } from "./version.js";
import { writeFd } from "./write-fd.js";

/** What {@link runCli} needs from its process; tests pass their own. */
export interface CliIo {
  /** Writes to stdout. */
  readonly out: (text: string) => void;
  /** Writes to stderr. */
  readonly err: (text: string) => void;
  /** The environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new MicrovmError("not-found", `${what} ${path}: ${why}`, { cause: e });
  }
}

/** A drive's image must be a regular file the user can open; said before anything starts. */
function checkImage(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MicrovmError("not-found", `-drive file=${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message}`, { cause: e });
  }
  if (st.isDirectory()) throw new MicrovmError("invalid-argument", `-drive file=${path}: is a directory (expected a raw image file)`);
}

/**
 * The machine's devices from the command line, each built by its kind (devices/) from the
 * backends `host` gives: opened ones for a run, stand-ins for printing QEMU's command line.
 */
function cliDevices(config: CliConfig, host: CliDeviceHost): DeviceConfig[] {
  return config.devices.map((d) => {
    const c = deviceKind(d.kind).cli.config(d, host);
    return d.id === undefined ? c : { ...c, id: d.id };
  });
}

/** A `-netdev` as a kind sees it: a tap's fd, or user networking with its forwards. */
function netdevOf(config: CliConfig, id: string, tapFd: number): ReturnType<CliDeviceHost["netdev"]> {
  const n = config.netdevs.find((x) => x.id === id);
  return n?.type === "user" ? { type: "user", hostfwd: n.hostfwd } : { type: "tap", fd: tapFd };
}

/** Stand-ins for every backend: nothing is opened (`--print-plan`). */
function placeholderHost(config: CliConfig, engine: "kvm" | "qemu"): CliDeviceHost {
  return {
    engine,
    drive: (id) => {
      const drive = config.drives.find((x) => x.id === id);
      return { file: drive?.file ?? "", readOnly: drive?.readOnly ?? false };
    },
    netdev: (id) => netdevOf(config, id, -1),
    chardev: () => ({ out: 1 }),
    nullFd: () => 1,
  };
}

/** Runs `f`, naming the kernel file in a kernel error (the plan only sees the bytes). */
function withKernelPath<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isMicrovmError(e) && e.code === "kernel") throw new MicrovmError("kernel", e.message.replace(/^kernel: /, `kernel ${path}: `), { cause: e });
    throw e;
  }
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellQuote(w: string): string {
  return /^[\w@%+=:,./$-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/** One line: the message with its newlines folded, as the CLI's errors promise. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ");
}

/**
 * Runs the `microvm` command line to the end of the guest.
 *
 * @param argv - the arguments after the program name
 * @param io - output streams and environment; default the process's
 * @returns the exit status: 0 after a guest reset or triple fault, 1 on an error
 * @example
 * ```ts
 * process.exitCode = await runCli(["-M", "microvm,legacy", "-kernel", "guest.elf", "-serial", "stdio"]);
 * ```
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = { out: (t) => writeFd(1, t), err: (t) => writeFd(2, t), env: process.env },
): Promise<number> {
  const cleanups: (() => void)[] = [];
  const cleanup = (): void => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        c();
      } catch {
        // best effort: keep closing the rest
      }
    }
  };
  try {
    const cmd = parseCommandLine(argv, io.env);
    if (cmd.action === "help") {
      io.out(helpText());
      return 0;
    }
    if (cmd.action === "version") {
      io.out(`microvm ${cliVersion()}\n`);
      return 0;
    }
    return await run(cmd.config, io, cleanups);
  } catch (e) {
    cleanup();
    const msg = isMicrovmError(e) ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    io.err(`microvm: ${oneLine(msg)}\n`);
    return 1;
  } finally {
    cleanup();
  }
}

/** `-cpu host` needs KVM, as in QEMU: refused once the engine is known to run TCG, before anything is opened. */
function checkCpu(config: CliConfig, accel: "kvm" | "tcg", why: string | undefined): void {
  if (config.cpu === "host" && accel === "tcg") {
    throw new MicrovmError("invalid-argument", `-cpu host: needs KVM${why !== undefined ? ` (${why})` : ""}; under TCG the guest's CPU is QEMU's max: leave -cpu out or say -cpu max`);
  }
}

async function run(config: CliConfig, io: CliIo, cleanups: (() => void)[]): Promise<number> {
  if (config.kernel === undefined) {
    // --info-mtree alone: the surface depends on the board and the engine, not on a kernel (and
    // needs none of the encoders: surface.ts, not plan.ts).
    const [{ resolveEngine }, { planSurface }, { KVM_PLATFORM, qemuPlatform }] = await Promise.all([import("../engine-choice.js"), import("../surface.js"), import("../platform.js")]);
    const r = resolveEngine({ engine: config.engine, ...(config.accel ? { accel: config.accel } : {}) });
    checkCpu(config, r.accel, r.why);
    const surface = planSurface({
      memory: config.memory,
      cpus: config.cpus,
      legacy: config.legacy,
      acpi: config.acpi,
      platform: r.engine === "kvm" ? KVM_PLATFORM : qemuPlatform({ accel: r.accel }),
      devices: config.devices.map((d) => ({ kind: d.kind, ...(d.id !== undefined ? { id: d.id } : {}) })),
    });
    io.out(`${surface.listing.join("\n")}\n`);
    return 0;
  }
  const kernel = readInput("kernel", config.kernel);
  const initrd = config.initrd !== undefined ? readInput("initrd", config.initrd) : undefined;
  const { planFor, kvmUnavailableReason } = await import("../machine.js");
  const board = {
    kernel,
    memory: config.memory,
    cpus: config.cpus,
    legacy: config.legacy,
    acpi: config.acpi,
    cmdline: config.append,
    ...(initrd ? { initrd } : {}),
  };
  // The engine is decided, and the plan made once, before anything is opened or created.
  const chosen = withKernelPath(config.kernel, () => planFor({ ...board, engine: config.engine, ...(config.accel ? { accel: config.accel } : {}), devices: config.devices.map((d) => ({ kind: d.kind, ...(d.id !== undefined ? { id: d.id } : {}) })) }));
  const { plan, engine, accel } = chosen;
  checkCpu(config, accel, chosen.why);
  if (config.infoMtree) {
    io.out(`${plan.listing.join("\n")}\n`);
    return 0;
  }
  if (config.printPlan) {
    const { formatPlan } = await import("../format-plan.js");
    io.out(`engine: ${engine}${engine === "qemu" ? ` (accel ${accel})` : ""}${chosen.why ? ` [auto: ${chosen.why}]` : ""}\n`);
    io.out(`${formatPlan(plan).join("\n")}\n`);
    if (engine === "qemu") {
      const { qemuInvocation } = await import("../qemu/command.js");
      const devices = cliDevices(config, placeholderHost(config, engine));
      // The engine's own choice between passt and slirp (node/user-net.ts), made the same way here.
      const [{ userNetDevices }, { passtArguments }] = await Promise.all([import("../node/user-net.js"), import("../node/passt.js")]);
      const users = userNetDevices(devices);
      const inv = qemuInvocation(plan, { accel, dir: "$TMPDIR/microvm-qemu-XXXXXX", devices, userNet: users.passtMissing ? "slirp" : "passt" });
      io.out(`qemu: ${[inv.binary, ...inv.args].map(shellQuote).join(" ")}\n`);
      if (inv.fds.length > 0) io.out(`qemu fds: ${inv.fdUses.map((what, i) => `fd ${3 + i} is ${what}`).join(", ")}\n`);
      const channel = (c: QemuChannel): string => `fd ${c.fd} is ${c.role === "qmp" ? "QMP" : c.role === "serial" ? "the serial port" : `device ${c.device ?? "?"}`}`;
      io.out(`qemu channels (sockets connected to this process): ${inv.channels.map(channel).join(", ")}\n`);
      for (const st of inv.streams) {
        const forwards = users.devices.find((u) => u.index === st.index)?.backend.hostfwd ?? [];
        io.out(`qemu fd ${st.fd} is device ${st.device}'s socket to: passt ${passtArguments(forwards, 3).map(shellQuote).join(" ")}\n`);
      }
    }
    return 0;
  }
  if (engine === "kvm") {
    const why = kvmUnavailableReason();
    if (why !== undefined) throw new MicrovmError("kvm", `${why}; without KVM, run on QEMU's CPU emulator with -accel tcg`);
  } else {
    const { qemuUnavailableReason } = await import("../qemu/machine.js");
    const why = qemuUnavailableReason();
    if (why !== undefined) throw new MicrovmError("engine", why);
    if (chosen.why !== undefined) io.err(`microvm: ${chosen.why}; running on QEMU with TCG (engine auto)\n`);
    for (const n of chosen.notes) io.err(`microvm: ${n}\n`);
  }

  // --footprint small: V8's settings before any of the run's code gets hot (node/footprint.ts).
  if (config.footprint === "small") await (await import("../node/footprint.js")).useSmallFootprint();

  // Host side of the devices, opened in command-line order; each registers its own cleanup.
  const drives = new Map<string, { fd?: number; size?: number; readOnly: boolean; file: string }>();
  for (const d of config.drives) {
    if (engine === "qemu") {
      // QEMU opens and locks the image itself; here it is only checked, for a clear error.
      checkImage(d.file);
      drives.set(d.id, { readOnly: d.readOnly, file: d.file });
      continue;
    }
    const { openImage } = await import("../node/image.js");
    const img = openImage(d.file, d.readOnly);
    cleanups.push(() => img.close());
    drives.set(d.id, { fd: img.fd, size: img.size, readOnly: d.readOnly, file: d.file });
  }
  const taps = new Map<string, number>();
  for (const n of config.netdevs) {
    if (n.type !== "tap") continue; // user: the machine starts passt
    const { openTap } = await import("../node/tap.js"); // loaded only when a tap is configured
    const tap = openTap(n.ifname, n.id);
    cleanups.push(() => tap.close());
    taps.set(n.id, tap.fd);
  }
  let devNull = -1;
  const nullFd = (): number => {
    if (devNull < 0) {
      devNull = openSync("/dev/null", "w");
      const fd = devNull;
      cleanups.push(() => closeSync(fd));
    }
    return devNull;
  };
  const chardevs = new Map<string, { out: number; input?: number }>();
  let stdioUsed = config.serial === "stdio";
  for (const c of config.chardevs) {
    if (c.backend === "pty") {
      const { openPty } = await import("../node/pty.js"); // loaded only when a pty is configured
      const pty = openPty();
      cleanups.push(() => pty.close());
      // QEMU prints this for every pty chardev (chardev/char-pty.c char_pty_open).
      io.err(`char device redirected to ${pty.path} (label ${c.id})\n`);
      chardevs.set(c.id, { out: pty.master, input: pty.master });
    } else {
      stdioUsed = true;
      chardevs.set(c.id, { out: 1, input: 0 });
    }
  }

  const devices = cliDevices(config, {
    engine,
    drive: (id) => drives.get(id) as { fd?: number; size?: number; readOnly: boolean; file: string },
    netdev: (id) => netdevOf(config, id, taps.get(id) ?? -1),
    chardev: (id) => (id !== undefined ? chardevs.get(id) : undefined),
    nullFd,
  });

  // The terminal: raw while the guest owns it, restored on every way out.
  let signalled: { name: string; signo: number } | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (name: string, signo: number): void => {
    signalled = { name, signo };
    io.err(`\nmicrovm: terminating on signal ${signo} (${name})\n`);
    wake?.();
  };
  const signalWait = new Promise<void>((resolve) => (wake = resolve));
  let term: { restore(): void } | undefined;
  // isatty(0) rather than process.stdin.isTTY: touching process.stdin would make Node open it as
  // a stream, which the I/O thread then competes with when it serves a stdio console.
  if (stdioUsed && (await import("node:tty")).isatty(0)) {
    const { enterRawMode } = await import("../node/terminal.js");
    term = enterRawMode(0, onSignal); // handles the signals itself, restoring the mode first
    if (term) cleanups.push(() => term?.restore());
  }
  if (!term) {
    const nums = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
    const handlers = (Object.keys(nums) as (keyof typeof nums)[]).map((s) => [s, () => onSignal(s, nums[s])] as const);
    for (const [s, h] of handlers) process.on(s, h);
    cleanups.push(() => {
      for (const [s, h] of handlers) process.removeListener(s, h);
    });
  }

  const vcpuThreads = config.vcpuThreads ?? (config.footprint === "small" ? "native" : undefined);
  const options: MachineOptions = {
    ...board,
    devices,
    engine,
    accel,
    ...(vcpuThreads !== undefined && engine === "kvm" ? { vcpuThreads } : {}),
    serial: config.legacy ? { type: "fd", fd: config.serial === "stdio" ? 1 : nullFd() } : { type: "stream" },
  };
  const machine: Machine =
    engine === "kvm"
      ? await (await import("../kvm-machine.js")).createKvmMachine(options, plan)
      : await (await import("../qemu/machine.js")).createQemuMachine(options, plan);
  if (config.legacy && config.serial === "stdio") {
    // The UART's receiver, fed from stdin on this thread (its FIFO state is shared with the vCPUs).
    // Chunks are queued one after the other, so that a paste larger than the 16-byte FIFO keeps its order.
    let queue: Promise<void> = Promise.resolve();
    const onData = (b: Buffer): void => {
      const bytes = new Uint8Array(b);
      queue = queue.then(() => machine.serialInput(bytes)).catch(() => undefined);
    };
    process.stdin.on("data", onData);
    cleanups.push(() => {
      process.stdin.removeListener("data", onData);
      process.stdin.pause();
    });
  }
  const outcome = await Promise.race([machine.done, signalWait.then(() => undefined)]);
  if (outcome === undefined) {
    await Promise.race([machine.stop(), new Promise((r) => setTimeout(r, 2000))]);
    return 128 + (signalled?.signo ?? 0);
  }
  if (outcome.reason === "error") {
    io.err(`microvm: the guest stopped with an error: ${oneLine(outcome.message ?? "unknown")}\n`);
    return 1;
  }
  return 0;
}
