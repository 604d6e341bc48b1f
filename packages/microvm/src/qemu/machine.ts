/**
 * The QEMU engine: runs a plan in `qemu-system-x86_64 -M microvm` (see command.ts for what QEMU is
 * told), controlled through QMP. Start-up: a private directory with the ROM, the blobs and the
 * listening sockets of vhost-user and `-netdev stream` backends; QEMU started paused (`-S`) as a
 * child that dies with this process (`setpriv --pdeathsig`), with its QMP, serial and console
 * channels on connected sockets it inherits; QMP greeted; QEMU's own `info mtree` compared with
 * the plan's listing (a QEMU that builds another machine is refused); the directory removed (QEMU
 * has read the files and connected to the listeners); `cont`. The end: a SHUTDOWN event (its
 * reason), `query-status`, `quit`, the process reaped. Every exit path removes the directory and
 * leaves no process behind.
 */
import type { ChildProcess } from "node:child_process";
import { fstatSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { connect, createServer, Socket, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isatty, ReadStream } from "node:tty";
import type { ByteStreamBackend, GuestMemory } from "@microvm/virtio-mmio";
import type { ModuleBackendSpec } from "../devices/kind.js";
import { MicrovmError } from "../errors.js";
import { spawnBound, which } from "../node/child.js";
import { deviceKind, type DeviceConfig } from "../devices/index.js";
import { PasstGroup, userNetDevices, type UserNetDevice } from "../node/user-net.js";
import type { Machine, MachineEnd, MachineOptions, MachineStats } from "../machine-types.js";
import type { MachinePlan } from "../plan.js";
import { qemuInvocation, type QemuChannel, type QemuInvocation } from "./command.js";
import { QmpClient, type QmpEvent } from "./qmp.js";

/** Byte chunks handed from a socket to an async iterator, in order, until the end. */
class ChunkQueue {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | undefined;
  push(c: Uint8Array): void {
    this.chunks.push(c);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *iterate(): AsyncIterable<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) {
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/**
 * The sections of `info mtree` output by address-space name: a group of `address-space:` header
 * lines shares the tree that follows it (QEMU prints address spaces with the same root together).
 *
 * @param text - QEMU's `info mtree` output
 * @returns each address space's lines, without its header
 * @example
 * ```ts
 * mtreeSections("address-space: I/O\n  0000000000000000-000000000000ffff (prio 0, i/o): io\n").get("I/O");
 * ```
 */
export function mtreeSections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let names: string[] = [];
  let lines: string[] = [];
  const flush = (): void => {
    for (const n of names) out.set(n, lines);
    names = [];
    lines = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const h = /^address-space: (.*)$/.exec(line);
    if (h) {
      if (lines.length > 0) flush();
      names.push(h[1] as string);
    } else if (line.startsWith("memory-region:")) {
      flush();
    } else if (line.length === 0) {
      if (lines.length > 0) flush();
    } else if (names.length > 0) lines.push(line);
  }
  flush();
  return out;
}

/**
 * Compares a plan's listing with QEMU's `info mtree` output, address space by address space
 * (`memory` and `I/O`), line by line.
 *
 * @param listing - the plan's listing (memory, a blank line, I/O)
 * @param qemuMtree - QEMU's `info mtree` output
 * @returns undefined when they agree, else the first difference in words
 * @example
 * ```ts
 * const diff = compareMtree(plan.listing, mtreeText);
 * if (diff) throw new Error(diff);
 * ```
 */
export function compareMtree(listing: readonly string[], qemuMtree: string): string | undefined {
  const ours = mtreeSections(listing.join("\n"));
  const theirs = mtreeSections(qemuMtree);
  for (const [name, lines] of ours) {
    const q = theirs.get(name);
    if (!q) return `QEMU has no address space "${name}"`;
    for (let i = 0; i < Math.max(lines.length, q.length); i++) {
      if (lines[i] !== q[i]) return `address space ${name}, line ${i + 1}: the plan says ${JSON.stringify(lines[i] ?? "(nothing)")}, QEMU has ${JSON.stringify(q[i] ?? "(nothing)")}`;
    }
  }
  return undefined;
}

/**
 * Why the QEMU engine cannot start its program, or undefined when it is on PATH.
 *
 * @param binary - the program; default `qemu-system-x86_64`
 * @returns the reason, or undefined
 * @example
 * ```ts
 * qemuUnavailableReason(); // undefined where Debian's qemu-system-x86 is installed
 * ```
 */
export function qemuUnavailableReason(binary = "qemu-system-x86_64"): string | undefined {
  return which(binary) ? undefined : `${binary}: not found on PATH (the QEMU engine needs it: Debian package qemu-system-x86)`;
}

/**
 * Compares the plan's transports with QEMU's `info qtree`: each transport's proxy at the planned
 * address sits on bus `virtio-mmio-bus.<index>`, holds the planned device (by type and id) or
 * nothing, and has the planned virtio-mmio version (`force-legacy`).
 *
 * @param plan - the plan
 * @param qtree - QEMU's `info qtree` output
 * @param forceLegacy - whether the transports are meant to be legacy (virtio-mmio version 1)
 * @returns undefined when they agree, else the first difference in words
 * @example
 * ```ts
 * const diff = compareQtree(plan, qtreeText, false);
 * ```
 */
export function compareQtree(plan: MachinePlan, qtree: string, forceLegacy: boolean, vhostUser: ReadonlySet<string> = new Set()): string | undefined {
  interface Proxy {
    indent: number;
    base?: bigint;
    bus?: string;
    forceLegacy?: boolean;
    devices: { type: string; id: string }[];
  }
  const proxies: Proxy[] = [];
  let cur: Proxy | undefined;
  for (const raw of qtree.split(/\r?\n/)) {
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    if (cur && indent <= cur.indent && line.length > 0) cur = undefined;
    const dev = /^dev: ([\w.-]+), id "(.*)"$/.exec(line);
    if (dev && dev[1] === "virtio-mmio") {
      cur = { indent, devices: [] };
      proxies.push(cur);
      continue;
    }
    if (!cur) continue;
    // Only the proxy's own properties (indent + 2) and the devices on its bus (indent + 4); a
    // virtio-serial device has a bus and a port of its own further in.
    if (dev && indent === cur.indent + 4) cur.devices.push({ type: dev[1] as string, id: dev[2] as string });
    if (indent !== cur.indent + 2) continue;
    const mmio = /^mmio ([0-9a-f]+)\//.exec(line);
    if (mmio) cur.base = BigInt(`0x${mmio[1]}`);
    const bus = /^bus: (\S+)$/.exec(line);
    if (bus) cur.bus = bus[1] as string;
    const fl = /^force-legacy = (true|false)$/.exec(line);
    if (fl) cur.forceLegacy = fl[1] === "true";
  }
  for (const t of plan.transports) {
    const p = proxies.find((x) => x.base === t.base);
    const at = `transport ${t.index} (0x${t.base.toString(16)})`;
    if (!p) return `${at}: QEMU has no virtio-mmio proxy there`;
    if (p.bus !== `virtio-mmio-bus.${t.index}`) return `${at}: QEMU's bus there is ${p.bus ?? "(none)"}, not virtio-mmio-bus.${t.index}`;
    if (p.forceLegacy !== forceLegacy) return `${at}: QEMU's force-legacy is ${String(p.forceLegacy)}, the plan wants ${String(forceLegacy)}`;
    const kind = t.device ? deviceKind(t.device.kind) : undefined;
    const type = kind && vhostUser.has(t.device?.id ?? "") ? (kind.qemuVhostUserType ?? kind.qemuType) : kind?.qemuType;
    const want = t.device ? [{ type, id: t.device.id }] : [];
    if (JSON.stringify(p.devices) !== JSON.stringify(want)) {
      return `${at}: QEMU has ${p.devices.map((d) => `${d.type} "${d.id}"`).join(", ") || "no device"}, the plan has ${want.map((d) => `${d.type} "${d.id}"`).join(", ") || "no device"}`;
    }
  }
  if (proxies.length !== plan.transports.length) return `QEMU has ${proxies.length} virtio-mmio transports, the plan ${plan.transports.length}`;
  return undefined;
}

const START_TIMEOUT_MS = 30_000;
/** How long a start-up step that failed waits for QEMU's exit, to report QEMU's own message. */
const EXIT_GRACE_MS = 2_000;
const QUIT_GRACE_MS = 5_000;

/**
 * A machine running in QEMU. {@link createMachine} makes one (engine `qemu`, or `auto` where
 * `/dev/kvm` does not open).
 *
 * @example
 * ```ts
 * const m = await createMachine({ kernel, engine: "qemu", accel: "tcg", legacy: true });
 * for await (const chunk of m.serial()) process.stdout.write(chunk);
 * ```
 */
export class QemuMachine implements Machine {
  /** Always `qemu`. */
  readonly engine = "qemu" as const;
  /** The plan it runs. */
  readonly plan: MachinePlan;
  /** Settles when QEMU has exited and everything is released. */
  readonly done: Promise<MachineEnd>;
  /** Guest RAM is QEMU's: not reachable from here. */
  readonly memory: GuestMemory | undefined = undefined;
  /** The QEMU command line that runs it (program first). */
  readonly commandLine: readonly string[];
  private readonly child: ChildProcess;
  private readonly qmp: QmpClient;
  private readonly serialQueue: ChunkQueue | undefined;
  private readonly serialSocket: Socket | undefined;
  private readonly consoles: Map<string, { socket: Socket; queue?: ChunkQueue }>;
  private end: Omit<MachineEnd, "vcpus"> | undefined;
  private quitting = false;

  /** @internal */
  constructor(parts: {
    plan: MachinePlan;
    child: ChildProcess;
    exited: Promise<{ code: number | null; signal: string | null }>;
    stderr: () => string;
    qmp: QmpClient;
    events: QmpEvent[];
    setEventSink: (f: (e: QmpEvent) => void) => void;
    serialQueue: ChunkQueue | undefined;
    serialSocket: Socket | undefined;
    consoles: Map<string, { socket: Socket; queue?: ChunkQueue }>;
    commandLine: readonly string[];
    release: () => void;
    passts: PasstGroup;
  }) {
    this.plan = parts.plan;
    this.child = parts.child;
    this.qmp = parts.qmp;
    this.serialQueue = parts.serialQueue;
    this.serialSocket = parts.serialSocket;
    this.consoles = parts.consoles;
    this.commandLine = parts.commandLine;
    parts.setEventSink((e) => this.onEvent(e));
    for (const e of parts.events) this.onEvent(e);
    const sockets = [parts.serialSocket, ...[...parts.consoles.values()].map((c) => c.socket)].filter((s): s is Socket => s !== undefined);
    const drained = Promise.all(sockets.map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())))));
    // A passt exiting while QEMU runs takes the guest's network away: an error end. Once QEMU has
    // exited or is quitting, passt's exit is the consequence (its socket closed), not the cause.
    if (parts.passts.members.length > 0) {
      void parts.passts.firstExit().then((why) => {
        if (this.quitting || this.child.exitCode !== null || this.child.signalCode !== null) return;
        this.end ??= { reason: "error", message: why };
        void this.quit();
      });
    }
    this.done = parts.exited.then(async ({ code, signal }) => {
      // QEMU's exit closes its end of every socket: wait (briefly) for the last output to arrive.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer); // never hold the process open after the end
      for (const s of sockets) s.destroy();
      this.qmp.close();
      this.serialQueue?.end();
      for (const c of this.consoles.values()) c.queue?.end();
      parts.release();
      await parts.passts.stop();
      const end = this.end ?? {
        reason: "error" as const,
        message: `QEMU exited on its own (${signal ? `signal ${signal}` : `status ${String(code)}`})${parts.stderr() ? `: ${parts.stderr()}` : ""}`,
      };
      return { ...end, vcpus: [] };
    });
  }

  private onEvent(e: QmpEvent): void {
    if (e.event === "SHUTDOWN") {
      const reason = String(e.data?.["reason"] ?? "");
      // QEMU's ShutdownCause (qapi/run-state.json). guest-reset: without ACPI only a triple fault
      // (there is no i8042); with ACPI also the GED's reset register, and QEMU does not say which.
      // guest-shutdown: the GED's sleep control register took S5 (only with ACPI). host-qmp-quit: our quit.
      if (!this.end) {
        if (reason === "guest-reset") {
          this.end = this.plan.acpi ? { reason: "reset", message: "the guest reset the machine (the ACPI reset register or a triple fault: QEMU reports both as guest-reset)" } : { reason: "triple-fault" };
        } else if (reason === "guest-shutdown") this.end = { reason: "poweroff" };
        else if (reason === "guest-panic") this.end = { reason: "error", message: "the guest panicked (QEMU: guest-panic)" };
        else if (reason.startsWith("host")) this.end = { reason: "host" };
        else this.end = { reason: "error", message: `QEMU shut down: ${reason || "no reason given"}` };
      }
      void this.quit();
    } else if (e.event === "STOP" || e.event === "GUEST_PANICKED") {
      // A stop we did not ask for: an internal error (e.g. a KVM emulation failure) pauses QEMU.
      void this.qmp.execute("query-status").then(
        (s) => {
          const status = (s as { status?: string }).status ?? "";
          if (status === "internal-error" || status === "guest-panicked" || status === "io-error") {
            this.end ??= { reason: "error", message: `QEMU stopped the guest: ${status}` };
            void this.quit();
          }
        },
        () => undefined,
      );
    }
  }

  private async quit(): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    try {
      await this.qmp.execute("query-status");
      await this.qmp.execute("quit");
    } catch {
      // QMP gone: the process is ending, or we make it end
    }
    const timer = setTimeout(() => this.child.kill("SIGKILL"), QUIT_GRACE_MS);
    timer.unref();
    void this.done.finally(() => clearTimeout(timer));
  }

  /**
   * The legacy UART's output.
   *
   * @returns the chunks until the machine ends
   * @example
   * ```ts
   * for await (const c of m.serial()) out.push(c);
   * ```
   */
  serial(): AsyncIterable<Uint8Array> {
    return this.serialQueue ? this.serialQueue.iterate() : (async function* () {})();
  }

  /**
   * A virtio console's output (a `stream` console).
   *
   * @param id - its device id; default the first `stream` console
   * @returns the chunks until the machine ends
   * @example
   * ```ts
   * for await (const c of m.console()) out.push(c);
   * ```
   */
  console(id?: string): AsyncIterable<Uint8Array> {
    const c = this.findConsole(id);
    return c?.queue ? c.queue.iterate() : (async function* () {})();
  }

  private findConsole(id?: string): { socket: Socket; queue?: ChunkQueue } | undefined {
    if (id !== undefined) return this.consoles.get(id);
    return [...this.consoles.values()].find((c) => c.queue);
  }

  /**
   * Sends bytes to the legacy UART's receiver (QEMU queues them in its chardev).
   *
   * @param bytes - the input
   * @throws MicrovmError `state` in normal mode
   * @example
   * ```ts
   * await m.serialInput(new TextEncoder().encode("root\n"));
   * ```
   */
  async serialInput(bytes: Uint8Array): Promise<void> {
    if (!this.serialSocket) throw new MicrovmError("state", "serialInput: the machine has no UART (legacy mode is off)");
    if (this.serialSocket.destroyed) return;
    await new Promise<void>((r) => this.serialSocket?.write(bytes, () => r()));
  }

  /**
   * Sends bytes to a virtio console's input.
   *
   * @param bytes - the input
   * @param id - the console's device id; default the first `stream` console
   * @throws MicrovmError `state` when there is no such console
   * @example
   * ```ts
   * m.consoleInput(new TextEncoder().encode("ls\n"));
   * ```
   */
  consoleInput(bytes: Uint8Array, id?: string): void {
    const c = this.findConsole(id);
    if (!c) throw new MicrovmError("state", `consoleInput: no virtio console${id ? ` with id ${id}` : ""} with a stream backend`);
    if (!c.socket.destroyed) c.socket.write(bytes.slice());
  }

  /**
   * QEMU's devices keep no counters for us.
   *
   * @returns `{}`
   * @example
   * ```ts
   * m.stats(); // {}
   * ```
   */
  stats(): Partial<MachineStats> {
    return {};
  }

  /**
   * Asks the guest to shut down: QMP `system_powerdown`, which QEMU's GED delivers as a power-button
   * event. The guest decides what to do with it; a power-off ends the machine with `poweroff`.
   *
   * @throws MicrovmError `state` when the board has no ACPI or QEMU has gone
   * @example
   * ```ts
   * await m.powerdown();
   * ```
   */
  async powerdown(): Promise<void> {
    if (!this.plan.acpi) throw new MicrovmError("state", "powerdown: the board has no ACPI (acpi: true, or -M microvm,acpi=on)");
    if (this.quitting || this.child.exitCode !== null || this.child.signalCode !== null) throw new MicrovmError("state", "powerdown: the machine has ended");
    await this.qmp.execute("system_powerdown");
  }

  /**
   * Stops the machine: QMP `quit` (QEMU is killed if it does not exit within 5 s).
   *
   * @returns how it ended (`host`, unless it had already ended otherwise)
   * @example
   * ```ts
   * await m.stop();
   * ```
   */
  async stop(): Promise<MachineEnd> {
    this.end ??= { reason: "host" };
    void this.quit();
    return this.done;
  }
}

/** Writes to an fd, dropping what it cannot take (output nobody reads never blocks the guest). */
function writeAll(fd: number, chunk: Uint8Array): void {
  try {
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off);
  } catch {
    // dropped
  }
}

/** Feeds what arrives on `fd` (a terminal, a pty, a pipe or a socket) to `sink`; returns a stop function. */
function watchInput(fd: number, sink: (b: Uint8Array) => void): () => void {
  if (fd === 0) {
    const on = (b: Buffer): void => sink(new Uint8Array(b));
    process.stdin.on("data", on);
    return () => {
      process.stdin.removeListener("data", on);
      process.stdin.pause();
    };
  }
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return () => undefined;
  }
  let stream: Socket;
  if (isatty(fd)) stream = new ReadStream(fd);
  else if (st.isFIFO() || st.isSocket()) stream = new Socket({ fd, readable: true, writable: false });
  else return () => undefined; // a regular file or /dev/null: no input, as on the KVM engine
  const on = (b: Buffer): void => sink(new Uint8Array(b));
  stream.on("data", on);
  stream.on("error", () => undefined);
  return () => {
    stream.removeListener("data", on);
    stream.pause();
    stream.unref();
  };
}

/**
 * Starts a planned machine on QEMU. {@link createMachine} calls it for the `qemu` engine.
 *
 * @param options - the machine options (devices, serial output, accelerator, program)
 * @param plan - the plan, made for {@link qemuPlatform}
 * @returns the running machine
 * @throws MicrovmError `engine` when QEMU is missing, refuses the command line, or does not
 *   start; `platform-mismatch` when QEMU's `info mtree` differs from the plan's listing
 * @example
 * ```ts
 * const plan = planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }) });
 * const m = await createQemuMachine({ kernel, accel: "tcg" }, plan);
 * ```
 */
export async function createQemuMachine(options: MachineOptions, plan: MachinePlan): Promise<QemuMachine> {
  const accel = options.accel ?? "tcg";
  const binaryName = options.qemuBinary ?? "qemu-system-x86_64";
  // Everything QEMU cannot express is refused here, before any file or process exists.
  const users = userNetDevices(options.devices ?? []);
  const userNet = users.passtMissing ? "slirp" : "passt";
  const probe: QemuInvocation = qemuInvocation(plan, { accel, dir: "/nonexistent", devices: options.devices ?? [], userNet, ...(options.virtioVersion ? { virtioVersion: options.virtioVersion } : {}) });
  void probe;
  if (users.devices.some((u) => u.backend.provider !== "slirp") && users.passtMissing) {
    (options.log ?? ((l: string) => void process.stderr.write(`${l}\n`)))(`microvm: ${users.passtMissing}; user networking falls back to QEMU's own (slirp: guest 10.0.2.15, gateway 10.0.2.2)`);
  }
  const binary = which(binaryName);
  if (!binary) throw new MicrovmError("engine", qemuUnavailableReason(binaryName) as string);

  const dir = mkdtempSync(join(tmpdir(), "microvm-qemu-"));
  const passts = new PasstGroup();
  const servers: Server[] = [];
  /** Stops for what serves QEMU from this process (vhost-user back-ends, frame pumps), run at the end. */
  const backends: (() => void)[] = [];
  let child: ChildProcess | undefined;
  const stopInputs: (() => void)[] = [];
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    for (const s of stopInputs) s();
    for (const s of servers) s.close();
    for (const b of backends) b();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const inv = qemuInvocation(plan, { accel, dir, devices: options.devices ?? [], binary, userNet, ...(options.virtioVersion ? { virtioVersion: options.virtioVersion } : {}) });
    for (const f of inv.files) writeFileSync(join(dir, f.name), f.bytes, { mode: 0o600 });
    for (const s of inv.sockets) {
      if (s.role === "vhost-user") {
        // Our device model, served to QEMU's vhost-user device (node/vhost-user-backend.ts).
        const d = (options.devices ?? [])[s.configIndex] as DeviceConfig;
        const closers: (() => void)[] = [];
        const { vhostUserModel } = deviceKind(d.kind);
        if (!vhostUserModel) throw new MicrovmError("engine", `device ${s.device}: a ${d.kind} device has no model of ours to serve over vhost-user`);
        const model = await vhostUserModel(d, closers);
        const { VhostUserBackend } = await import("../node/vhost-user-backend.js");
        const b = VhostUserBackend.listen({ socket: join(dir, s.name), device: () => model });
        backends.push(() => {
          b.close();
          for (const c of closers) c();
        });
        continue;
      }
      // net-stream: a frame backend of ours on QEMU's -netdev stream, which connects as a client.
      const d = (options.devices ?? [])[s.configIndex] as DeviceConfig;
      const { qemuFrames } = deviceKind(d.kind);
      if (!qemuFrames) throw new MicrovmError("engine", `device ${s.device}: a ${d.kind} device has no frame backend of ours for -netdev stream`);
      const frames = await qemuFrames(d);
      // Loaded here: it brings the virtio codecs, which a board without such a device never needs.
      const { serveFrames } = await import("../node/frame-stream.js");
      const server = createServer((sock) => backends.push(serveFrames(sock, frames)));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(join(dir, s.name), () => resolve());
      });
    }

    // passt for each `user` net device, on one end of a connected socket; QEMU inherits the other.
    const qemuEnds: Socket[] = [];
    try {
      for (const st of inv.streams) {
        const [theirs, ours] = await socketPairInDir(join(dir, `passt-${st.index}.sock`));
        qemuEnds.push(ours);
        try {
          await passts.start(st.device, (users.devices.find((u) => u.index === st.index) as UserNetDevice).backend, theirs);
        } finally {
          theirs.destroy();
        }
      }
      // The child dies with this process (node/child.ts).
      // The channels (QMP, serial, consoles) are socketpairs libuv makes for "pipe" entries.
      child = spawnBound(binary, inv.args, ["ignore", "ignore", "pipe", ...inv.fds, ...qemuEnds, ...inv.channels.map(() => "pipe" as const)]);
    } finally {
      for (const e of qemuEnds) e.destroy(); // QEMU has its own copy
    }
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (t: string) => (stderr = (stderr + t).slice(-4096)));
    const started = child;
    // "close" rather than "exit": it comes after QEMU's stderr has been read to its end.
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      started.once("close", (code, signal) => resolve({ code, signal }));
      started.once("error", () => resolve({ code: null, signal: null }));
    });
    const failedStart = exited.then(({ code, signal }) => {
      // A host whose /dev/kvm opens but whose KVM QEMU cannot drive (seen: a nested KVM where
      // QEMU 7.2 aborts setting an MSR) fails here; TCG needs nothing of the host.
      const hint = accel === "kvm" ? "; QEMU could not run the board on this host's KVM: -accel tcg runs it under QEMU's emulator instead" : "";
      throw new MicrovmError("engine", `QEMU did not start (${signal ? `signal ${signal}` : `status ${String(code)}`}): ${stderr.trim() || "no message"}${hint}`);
    });
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new MicrovmError("engine", `QEMU did not answer on its control channel (QMP) within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      void exited.finally(() => clearTimeout(t));
    });
    // QEMU failing at start closes its channels as it exits: a step that fails then (QMP's
    // greeting, a command) waits briefly for the exit, so the error is QEMU's status and message.
    const race = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p.catch(async (e: unknown) => {
          let grace: NodeJS.Timeout | undefined;
          const ended = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (grace = setTimeout(() => r(false), EXIT_GRACE_MS)))]);
          clearTimeout(grace);
          if (ended) await failedStart;
          throw e;
        }),
        failedStart,
        timeout,
      ]);

    const events: QmpEvent[] = [];
    let sink: (e: QmpEvent) => void = (e) => void events.push(e);
    const stdio = started.stdio;
    const channelOf = (c: QemuChannel): Socket => stdio[c.fd] as Socket;
    const qmp = await race(QmpClient.open(channelOf(inv.channels.find((c) => c.role === "qmp") as QemuChannel), (e) => sink(e)));

    const mtree = (await race(qmp.execute("human-monitor-command", { "command-line": "info mtree" }))) as string;
    const diff = compareMtree(plan.listing, mtree);
    if (diff) throw new MicrovmError("platform-mismatch", `${binaryName} builds another machine than the plan (${plan.platform.name}): ${diff}`);
    const qtree = (await race(qmp.execute("human-monitor-command", { "command-line": "info qtree" }))) as string;
    const qdiff = compareQtree(plan, qtree, !inv.args.includes("virtio-mmio.force-legacy=false"), new Set(inv.sockets.flatMap((x) => (x.role === "vhost-user" && x.device ? [x.device] : []))));
    if (qdiff) throw new MicrovmError("platform-mismatch", `${binaryName} wires the devices otherwise than the plan (${plan.platform.name}): ${qdiff}`);

    let serialQueue: ChunkQueue | undefined;
    let serialSocket: Socket | undefined;
    const serialChannel = inv.channels.find((c) => c.role === "serial");
    if (serialChannel) {
      serialSocket = channelOf(serialChannel);
      const out = options.serial ?? { type: "stream" as const };
      if (out.type === "stream") {
        const q = new ChunkQueue();
        serialQueue = q;
        serialSocket.on("data", (b: Buffer) => q.push(new Uint8Array(b)));
      } else {
        const fd = out.fd;
        serialSocket.on("data", (b: Buffer) => writeAll(fd, b));
      }
      serialSocket.on("error", () => undefined);
    }
    const consoles = new Map<string, { socket: Socket; queue?: ChunkQueue }>();
    for (const s of inv.channels) {
      if (s.role !== "console" || !s.device) continue;
      const socket = channelOf(s);
      socket.on("error", () => undefined);
      const t = plan.transports.find((x) => x.device?.id === s.device);
      const d = t?.device ? options.devices?.[t.device.configIndex] : undefined;
      const backend = (d as { backend?: { type: string; fd?: number; inputFd?: number } } | undefined)?.backend ?? { type: "stream" };
      if (backend.type === "fd" && typeof backend.fd === "number") {
        const fd = backend.fd;
        socket.on("data", (b: Buffer) => writeAll(fd, b));
        if (typeof backend.inputFd === "number") stopInputs.push(watchInput(backend.inputFd, (b) => socket.write(b)));
        consoles.set(s.device, { socket });
      } else if (backend.type === "module") {
        // The caller's ByteStreamBackend behind QEMU's virtconsole: the guest's output is written
        // to it, and what it sends reaches the guest through the socket (QEMU paces the guest).
        const { moduleBackend } = await import("../node/device-backends.js");
        const stream = (await moduleBackend(backend as ModuleBackendSpec)) as ByteStreamBackend;
        stream.attach?.({ receive: (b) => (socket.write(b), b.length) });
        socket.on("data", (b: Buffer) => void stream.write(new Uint8Array(b)));
        consoles.set(s.device, { socket });
      } else {
        const q = new ChunkQueue();
        socket.on("data", (b: Buffer) => q.push(new Uint8Array(b)));
        consoles.set(s.device, { socket, queue: q });
      }
    }
    // QEMU has read its files and connected to the listeners: nothing of ours needs to stay on disk.
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
    await race(qmp.execute("cont"));
    return new QemuMachine({
      plan,
      child,
      exited,
      stderr: () => stderr.trim(),
      qmp,
      events,
      setEventSink: (f) => {
        sink = f;
      },
      serialQueue,
      serialSocket,
      consoles,
      commandLine: [binary, ...inv.args],
      release,
      passts,
    });
  } catch (e) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once("close", r));
      c.kill("SIGKILL");
      await gone;
    }
    release();
    await passts.stop();
    throw e;
  }
}

/**
 * A connected pair of unix stream sockets made with Node alone (the QEMU engine loads no native
 * module): a listener on `path` (in the engine's private directory) accepts one connection from
 * this process, and is closed and unlinked at once. The accepted end does not read, so nothing is
 * taken from the stream before the sockets are handed to their programs.
 *
 * @returns [accepted end, connecting end]
 */
async function socketPairInDir(path: string): Promise<[Socket, Socket]> {
  const server = createServer({ pauseOnConnect: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = connect(path);
    client.pause();
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    return [await accepted, client];
  } finally {
    server.close();
    rmSync(path, { force: true });
  }
}
