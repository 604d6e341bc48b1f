/**
 * The in-process engine: a plan built on `/dev/kvm` by `@microvm/kvm`, with the device models on
 * this process's I/O thread and the vCPUs on worker threads.
 */
import { closeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DeviceMailbox, EventFd, Kvm, defaultGsiRouting, isKvmError, type GsiRoute, type MailboxDescriptor, type Vcpu, type VcpuRunResult, type VcpuThread, type IoThread, type Vm } from "@microvm/kvm";
import { GuestMemory, MmioReg } from "@microvm/virtio-mmio";
import { MicrovmError } from "./errors.js";
import { GED } from "./layout.js";
import type { Machine, MachineEnd, MachineOptions, MachineStats } from "./machine-types.js";
import type { MachinePlan } from "./plan.js";
import { COUNTER, type IoHandlerData, type TransportSetup, type VcpuHandlerData } from "./protocol.js";
import { RingReader, createRing } from "./ring.js";
import { Uart16550 } from "./uart16550.js";
import { PasstGroup, passtNeeded, socketPair, userNetDevices } from "./node/user-net.js";
import { deviceKind } from "./devices/index.js";

const here = import.meta.url;
const fromSource = here.endsWith(".ts");

/** The path of one of the board's handler modules, from source (tests) or from dist. */
function handlerModule(name: "vcpu-handler" | "io-handler"): string {
  return fileURLToPath(new URL(`./${name}.${fromSource ? "ts" : "js"}`, here));
}

// virtio-mmio register QueueNotify (virtio 1.2 §4.2.2).

/**
 * A machine built from a plan on KVM, in this process: its VM, RAM, vCPU threads, I/O thread and
 * device streams. {@link createMachine} makes one (engine `kvm`); it starts at once and
 * {@link KvmMachine.done} settles with how it ended. Its end ({@link KvmMachine.stop}, or the
 * guest's) releases every fd, mapping and thread.
 *
 * @example
 * ```ts
 * const m = await createMachine({ kernel, engine: "kvm", legacy: true, cmdline: "console=ttyS0" });
 * if (m instanceof KvmMachine) console.log(m.memory.size, m.stats().interrupts);
 * ```
 */
export class KvmMachine implements Machine {
  /** Always `kvm`. */
  readonly engine = "kvm" as const;
  /** The plan it runs. */
  readonly plan: MachinePlan;
  /** Settles when the machine ends (and its resources are released). */
  readonly done: Promise<MachineEnd>;
  /** Guest RAM, for inspection (valid until the machine ends). */
  readonly memory: GuestMemory;
  private readonly vm: Vm;
  private readonly kvm: Kvm;
  private readonly threads: VcpuThread[];
  /** The devices' I/O thread; none on a board without virtio devices (nothing would reach it). */
  private readonly io: IoThread | undefined;
  private readonly counters: Int32Array;
  private readonly serialReader: RingReader | undefined;
  private readonly consoleReaders: Map<string, { reader: RingReader; transport: number }>;
  private readonly uart: Uart16550 | undefined;
  private readonly owned: { close(): void }[];
  private readonly mailbox: MailboxDescriptor | undefined;
  private readonly passts: PasstGroup;
  private readonly ged: { events: Int32Array; irq: EventFd } | undefined;
  private stopping = false;
  private ended = false;
  private finish!: (end: MachineEnd) => void;

  /** @internal */
  constructor(parts: {
    plan: MachinePlan;
    kvm: Kvm;
    vm: Vm;
    memory: GuestMemory;
    threads: VcpuThread[];
    io: IoThread | undefined;
    counters: Int32Array;
    serialRing: SharedArrayBuffer | undefined;
    consoles: Map<string, { ring: SharedArrayBuffer; transport: number }>;
    uart: Uart16550 | undefined;
    owned: { close(): void }[];
    mailbox?: MailboxDescriptor;
    passts: PasstGroup;
    ged: { events: SharedArrayBuffer; irqFd: number } | undefined;
  }) {
    this.ged = parts.ged ? { events: new Int32Array(parts.ged.events), irq: EventFd.fromFd(parts.ged.irqFd) } : undefined;
    this.owned = parts.owned;
    this.mailbox = parts.mailbox;
    this.passts = parts.passts;
    this.plan = parts.plan;
    this.kvm = parts.kvm;
    this.vm = parts.vm;
    this.memory = parts.memory;
    this.threads = parts.threads;
    this.io = parts.io;
    this.counters = parts.counters;
    this.serialReader = parts.serialRing ? new RingReader(parts.serialRing) : undefined;
    this.consoleReaders = new Map([...parts.consoles].map(([id, c]) => [id, { reader: new RingReader(c.ring), transport: c.transport }]));
    this.uart = parts.uart;
    this.done = new Promise((resolve) => (this.finish = resolve));
    void this.done.then(() => (this.ended = true));
    void this.watch();
  }

  private async watch(): Promise<void> {
    // The first vCPU to end decides the machine's end; the others are then stopped. The devices'
    // I/O thread ending first (a backend failed beyond what the device models contain) is an
    // error end too: the guest would otherwise run on with dead devices.
    const ioEnd = this.io
      ? [this.io.done.then(
          () => ({ io: "the I/O thread ended" }),
          (e: unknown) => ({ io: `the I/O thread failed: ${e instanceof Error ? e.message : String(e)}` }),
        )]
      : [];
    // A helper (passt) exiting while the machine runs takes the guest's network away: an error end.
    const helperEnd = this.passts.members.length > 0 ? [this.passts.firstExit().then((why) => ({ io: why }))] : [];
    const first = await Promise.race([
      ...this.threads.map((t, i) => t.done.then((r) => ({ r, i }), (e: unknown) => ({ r: undefined, i, e }))),
      ...ioEnd,
      ...helperEnd,
    ]);
    const end: Omit<MachineEnd, "vcpus"> =
      "io" in first ? { reason: "error", message: first.io } : this.describeEnd(first.r, first.i, (first as { e?: unknown }).e);
    // A vCPU waiting on the mailbox for an I/O thread that has gone gets all-ones and can stop.
    if (this.mailbox) DeviceMailbox.shutdown(this.mailbox);
    const all = await Promise.allSettled(this.threads.map((t) => t.stop()));
    await this.io?.stop().catch(() => undefined);
    await this.vm.close().catch(() => undefined);
    for (const e of this.owned) e.close();
    await this.passts.stop();
    this.kvm.close();
    const vcpus = all.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    this.finish({ ...end, vcpus });
  }

  private describeEnd(r: VcpuRunResult | undefined, vcpu: number, error?: unknown): Omit<MachineEnd, "vcpus"> {
    if (!r) return { reason: "error", vcpu, message: `vCPU ${vcpu} thread failed: ${error instanceof Error ? error.message : String(error)}` };
    switch (r.reason) {
      case "shutdown":
        return { reason: "triple-fault", vcpu };
      case "host":
        return { reason: "host", vcpu };
      case "handler":
        if (r.message === "reset" || r.message === "poweroff") return { reason: r.message, vcpu };
        return { reason: "error", vcpu, message: r.message ?? "stopped by a handler" };
      case "system-event": {
        const type = r.exit?.kind === "system-event" ? r.exit.type : 0;
        // KVM_SYSTEM_EVENT_SHUTDOWN 1, RESET 2 (include/uapi/linux/kvm.h).
        if (type === 1 || type === 2) return { reason: "reset", vcpu };
        return { reason: "error", vcpu, message: `system event ${type}` };
      }
      default:
        return { reason: "error", vcpu, ...(r.regs ? { registers: r.regs } : {}), message: `vCPU ${vcpu} ended: ${r.reason}${r.exit ? ` (${JSON.stringify(r.exit, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v instanceof Uint8Array ? [...v] : v))})` : ""}` };
    }
  }

  /**
   * The legacy UART's output, as an async iterable of byte chunks (empty in normal mode or when
   * the output goes to an fd).
   *
   * @returns the chunks until the machine ends
   * @example
   * ```ts
   * for await (const chunk of machine.serial()) process.stdout.write(chunk);
   * ```
   */
  serial(): AsyncIterable<Uint8Array> {
    return this.stream(this.serialReader);
  }

  /**
   * A virtio console's output (by device id, default the first console with a `stream` backend).
   *
   * @param id - the console's device id
   * @returns the chunks until the machine ends
   * @example
   * ```ts
   * for await (const chunk of machine.console()) log.push(chunk);
   * ```
   */
  console(id?: string): AsyncIterable<Uint8Array> {
    const c = id === undefined ? [...this.consoleReaders.values()][0] : this.consoleReaders.get(id);
    return this.stream(c?.reader);
  }

  private async *stream(reader: RingReader | undefined): AsyncIterable<Uint8Array> {
    if (!reader) return;
    let ended = false;
    void this.done.then(() => (ended = true));
    for (;;) {
      const chunk = await Promise.race([reader.read(), this.done.then(() => null)]);
      if (chunk && chunk.length > 0) yield chunk;
      if (chunk === null || ended) {
        const rest = reader.take();
        if (rest.length > 0) yield rest;
        return;
      }
    }
  }

  /**
   * Sends bytes to the legacy UART's receiver, waiting while its FIFO is full.
   *
   * @param bytes - the input
   * @returns when every byte was taken (or the machine ended)
   * @throws MicrovmError `state` in normal mode (no UART)
   * @example
   * ```ts
   * await machine.serialInput(new TextEncoder().encode("root\n"));
   * ```
   */
  async serialInput(bytes: Uint8Array): Promise<void> {
    if (!this.uart) throw new MicrovmError("state", "serialInput: the machine has no UART (legacy mode is off)");
    let sent = 0;
    let ended = false;
    void this.done.then(() => (ended = true));
    while (sent < bytes.length && !ended) {
      const n = this.uart.pushInput(bytes.subarray(sent));
      sent += n;
      if (sent < bytes.length) await this.uart.waitForRoom(100);
    }
  }

  /**
   * Sends bytes to a virtio console's input (it holds them until the guest posts buffers).
   *
   * @param bytes - the input
   * @param id - the console's device id; default the first `stream` console
   * @throws MicrovmError `state` when there is no such console
   * @example
   * ```ts
   * machine.consoleInput(new TextEncoder().encode("ls\n"));
   * ```
   */
  consoleInput(bytes: Uint8Array, id?: string): void {
    const c = id === undefined ? [...this.consoleReaders.values()][0] : this.consoleReaders.get(id);
    if (!c) throw new MicrovmError("state", `consoleInput: no virtio console${id ? ` with id ${id}` : ""} with a stream backend`);
    this.io?.send({ type: "console-input", transport: c.transport, bytes: bytes.slice() });
  }

  /**
   * Counters of unclaimed accesses and device activity.
   *
   * @returns the counters
   * @example
   * ```ts
   * machine.stats().unclaimedPioReads;
   * ```
   */
  stats(): MachineStats {
    const c = (i: number): number => Atomics.load(this.counters, i);
    return {
      unclaimedPioReads: c(COUNTER.unclaimedPioReads),
      unclaimedPioWrites: c(COUNTER.unclaimedPioWrites),
      unclaimedMmioReads: c(COUNTER.unclaimedMmioReads),
      unclaimedMmioWrites: c(COUNTER.unclaimedMmioWrites),
      forwardedRegisterAccesses: c(COUNTER.forwarded),
      queueNotifications: c(COUNTER.notifications),
      interrupts: c(COUNTER.interrupts),
      hostileChecks: c(COUNTER.hostile),
    };
  }

  /**
   * Asks the guest to shut down, as a power button press does: the GED's power-down event is set
   * and its GSI signalled; the guest's `_EVT` notifies the power button, and what follows is the
   * guest's choice (a system with acpid or systemd powers off; the machine then ends with reason
   * `poweroff`).
   *
   * @throws MicrovmError `state` when the board has no ACPI, or the machine has ended
   * @example
   * ```ts
   * await machine.powerdown();
   * const end = await Promise.race([machine.done, sleep(30_000).then(() => machine.stop())]);
   * ```
   */
  async powerdown(): Promise<void> {
    if (!this.ged) throw new MicrovmError("state", "powerdown: the board has no ACPI (acpi: true, or -M microvm,acpi=on)");
    if (this.stopping || this.ended) throw new MicrovmError("state", "powerdown: the machine has ended");
    Atomics.or(this.ged.events, 0, GED.powerDownEvent);
    this.ged.irq.signal();
  }

  /**
   * Stops the machine from the host: every vCPU is kicked out of KVM_RUN and the resources are
   * released.
   *
   * @returns how it ended (`host`, unless it had already ended otherwise)
   * @example
   * ```ts
   * const end = await machine.stop();
   * ```
   */
  async stop(): Promise<MachineEnd> {
    if (!this.stopping) {
      this.stopping = true;
      await Promise.allSettled(this.threads.map((t) => t.stop()));
    }
    return this.done;
  }
}

/**
 * KVM's GSI routing table for the plan's routes: exactly what the MPTable's I/O interrupt entries
 * say (GSI n to IOAPIC pin n, or IRQ0 to pin 2 with the override; ISA IRQs also to the 8259
 * pair), plus KVM's default IOAPIC routes for the GSIs the table does not mention.
 */
function kvmRoutes(routes: MachinePlan["gsiRoutes"]): GsiRoute[] {
  const out: GsiRoute[] = [];
  for (const r of routes) {
    out.push({ gsi: r.gsi, kind: "irqchip", chip: "ioapic", pin: r.ioapicPin });
    if (r.pic) out.push({ gsi: r.gsi, kind: "irqchip", chip: r.gsi < 8 ? "pic-master" : "pic-slave", pin: r.gsi % 8 });
  }
  const named = new Set(routes.map((r) => r.gsi));
  for (const d of defaultGsiRouting()) if (!named.has(d.gsi) && d.kind === "irqchip" && d.chip === "ioapic") out.push(d);
  return out;
}

/** The largest RAM slot @microvm/kvm maps (`Vm.addRam`: 4 GiB). */
export const MAX_RAM_SLOT: bigint = 1n << 32n;

/**
 * Splits a RAM region into adjacent pieces of at most {@link MAX_RAM_SLOT} bytes, one KVM memory
 * slot each.
 *
 * @param start - the region's guest address
 * @param size - its size in bytes
 * @returns the pieces, in address order
 * @example
 * ```ts
 * ramSlots(0x1_0000_0000n, 5n << 30n); // [{ start: 0x1_0000_0000n, size: 4 GiB }, { start: 0x2_0000_0000n, size: 1 GiB }]
 * ```
 */
export function ramSlots(start: bigint, size: bigint): { readonly start: bigint; readonly size: bigint }[] {
  const out: { start: bigint; size: bigint }[] = [];
  for (let at = 0n; at < size; at += MAX_RAM_SLOT) out.push({ start: start + at, size: size - at < MAX_RAM_SLOT ? size - at : MAX_RAM_SLOT });
  return out;
}

function lapicLints(vcpu: Vcpu): void {
  // LVT LINT0 (0x350) = ExtINT (delivery mode 7), LINT1 (0x360) = NMI (4), as the MPTable's local
  // interrupt entries say (Intel SDM vol. 3A §10.5.1; Firecracker interrupts.rs set_lint).
  const page = vcpu.getLapic();
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const set = (off: number, mode: number): void => v.setUint32(off, (v.getUint32(off, true) & ~0x700) | (mode << 8), true);
  set(0x350, 7);
  set(0x360, 4);
  vcpu.setLapic(page);
}

/**
 * Builds a planned board on KVM and starts it: the VM with its in-kernel irqchip and PIT, RAM
 * with the kernel, the PVH structures and the MPTable in it, one irqfd and one ioeventfd per
 * virtio device, the I/O thread that owns the devices, and one worker thread per vCPU (vCPU 0 at
 * the PVH entry, the others waiting for INIT/SIPI). {@link createMachine} calls it for the `kvm`
 * engine, with the plan it made once.
 *
 * @param options - the board and its device backends
 * @param plan - `planMachine(options)` for the KVM platform
 * @returns the running machine
 * @throws MicrovmError `kvm` when KVM refuses
 * @example
 * ```ts
 * const plan = planMachine({ kernel, legacy: true });
 * const m = await createKvmMachine({ kernel, legacy: true }, plan);
 * ```
 */
export async function createKvmMachine(options: MachineOptions, plan: MachinePlan): Promise<KvmMachine> {
  const devices = options.devices ?? [];
  // Every check before any side effect: a `user` network needs passt on this engine.
  const users = userNetDevices(devices);
  const slirp = users.devices.find((u) => u.backend.provider === "slirp");
  if (slirp) throw new MicrovmError("engine", `devices[${slirp.index}] (net): backend user with provider slirp is QEMU's own user network and exists only on the QEMU engine (use provider passt here)`);
  if (users.devices.length > 0 && users.passtMissing) throw passtNeeded(users.passtMissing);
  let kvm: Kvm;
  try {
    kvm = Kvm.open(options.kvmDevice ?? process.env["MICROVM_KVM_DEVICE"]);
  } catch (e) {
    throw new MicrovmError("kvm", isKvmError(e) ? e.message : String(e), { cause: e });
  }
  const vm = kvm.createVm();
  const owned: { close(): void }[] = [];
  const passts = new PasstGroup();
  try {
    // passt for each `user` net device, on one end of a socket pair; the I/O thread gets the other.
    const streams = new Map<number, number>();
    for (const u of users.devices) {
      const [ours, theirs] = socketPair();
      owned.push({ close: () => closeSync(ours) });
      try {
        const id = plan.transports.find((t) => t.device?.configIndex === u.index)?.device?.id ?? `devices[${u.index}]`;
        await passts.start(id, u.backend, theirs);
      } finally {
        closeSync(theirs);
      }
      streams.set(u.index, ours);
    }
    vm.setTssAddress(plan.layout.tssAddress);
    vm.setIdentityMapAddress(plan.layout.identityMapAddress);
    vm.createIrqchip();
    vm.createPit2();
    vm.setGsiRouting(kvmRoutes(plan.gsiRoutes));
    // One KVM slot holds at most 4 GiB here (@microvm/kvm's zero-copy view of a slot stops there):
    // larger RAM regions go in as several adjacent slots. Untouched guest pages cost no host RAM.
    const regions = plan.ram.flatMap((r) => ramSlots(r.start, r.size).map((c) => vm.addRam({ guestAddress: c.start, size: Number(c.size) })));
    const memory = new GuestMemory(regions.map((r) => ({ guestAddress: r.guestAddress, bytes: r.bytes })));
    for (const b of plan.blobs) memory.write(b.address, b.bytes); // fresh RAM is zero: BSS needs nothing

    const counters = new Int32Array(new SharedArrayBuffer(COUNTER.count * 4));
    const mailbox = DeviceMailbox.create({ slots: plan.cpus }); // one slot per vCPU
    owned.push(mailbox);
    const setups: TransportSetup[] = [];
    const consoles = new Map<string, { ring: SharedArrayBuffer; transport: number }>();
    for (const t of plan.transports) {
      if (!t.device) continue;
      const d = devices[t.device.configIndex];
      if (!d) continue;
      const irqFd = vm.irqfd(t.gsi).fd;
      const notifyFd = vm.ioeventfd({ space: "mmio", address: t.base + BigInt(MmioReg.QueueNotify), length: 4 }).fd;
      const version = d.version ?? options.virtioVersion ?? 2;
      const kind = deviceKind(d.kind);
      const configIndex = t.device.configIndex;
      const id = t.device.id;
      const device = kind.ioSetup(d, {
        userStream: () => streams.get(configIndex) as number,
        consoleRing: () => {
          const ring = createRing();
          consoles.set(id, { ring, transport: t.index });
          return ring;
        },
      });
      setups.push({ index: t.index, base: t.base, size: t.size, version, device, irqFd, notifyFd });
    }
    const isr = new SharedArrayBuffer(Math.max(1, plan.transports.length) * 4);
    const ioData: IoHandlerData = { transports: setups, isr, mailbox: mailbox.descriptor, counters: counters.buffer as SharedArrayBuffer };
    // Worker threads start in parallel (each takes tens of ms): a vCPU that forwards a register
    // access before the I/O thread serves the mailbox waits for it (the doorbell stays rung); it
    // gives up only once the mailbox is shut down (the I/O thread ended).
    // Without a virtio device no access is ever forwarded (empty transports are answered on the
    // vCPU threads), so no I/O thread is started: a worker costs ~10 MiB and its start-up.
    // With the vCPUs' exits served on this thread (native vCPU threads), the devices run here too.
    const ioThread = options.vcpuThreads === "native" ? "inline" : "worker";
    const ioStart = setups.length > 0 ? vm.startIoThread({ handler: handlerModule("io-handler"), data: ioData, thread: ioThread }) : Promise.resolve(undefined);

    let uartData: VcpuHandlerData["uart"];
    let uart: Uart16550 | undefined;
    let serialRing: SharedArrayBuffer | undefined;
    if (plan.legacy) {
      const state = Uart16550.createState();
      const irqFd = vm.irqfd(plan.layout.uartIrq).fd;
      const serial = options.serial ?? { type: "stream" };
      if (serial.type === "stream") serialRing = createRing();
      uartData = { state, irqFd, base: plan.layout.uartBase, ...(serialRing ? { ring: serialRing } : {}), ...(serial.type === "fd" ? { fd: serial.fd } : {}) };
      const irq = EventFd.fromFd(irqFd);
      // The host's side of the UART (input): same state, interrupts through the same irqfd.
      uart = new Uart16550(state, { irq: (level) => level && irq.signal() });
    }

    // With ACPI: the GED's pending events, shared by the vCPU threads (the guest reads them) and
    // powerdown() (which sets one and signals the GED's GSI).
    const ged = plan.acpi ? { base: plan.layout.gedBase, events: new SharedArrayBuffer(4), irqFd: vm.irqfd(plan.layout.gedGsi).fd } : undefined;

    const windows = plan.transports.map((t) => ({ index: t.device ? t.index : -1, base: t.base, size: t.size }));
    const vcpus: Vcpu[] = [];
    for (let i = 0; i < plan.cpus; i++) {
      const vcpu = vm.createVcpu(i, { vcpuCount: plan.cpus });
      lapicLints(vcpu);
      vcpus.push(vcpu);
    }
    const boot = vcpus[0] as Vcpu;
    const e = plan.boot.entry;
    const sr = e.sregs;
    boot.setSregs({
      cs: sr.cs, ds: sr.ds, es: sr.es, fs: sr.fs, gs: sr.gs, ss: sr.ss, tr: sr.tr, ldt: sr.ldt,
      gdt: sr.gdt, idt: sr.idt,
      cr0: sr.cr0, cr2: sr.cr2, cr3: sr.cr3, cr4: sr.cr4, efer: sr.efer,
    });
    boot.setRegs({ ...e.regs });
    boot.setFpu({ fcw: 0x37f, mxcsr: 0x1f80 });
    const custom = (options.customRegions ?? []).flatMap((c) =>
      c.module ? [{ name: c.name, space: c.space, base: BigInt(c.base), size: Number(c.size), module: c.module, options: c.options }] : [],
    );
    const vcpuStarts = vcpus.map((vcpu, i) => {
      const data: VcpuHandlerData = {
        index: i,
        ...(uartData ? { uart: uartData } : {}),
        ...(plan.legacy && plan.platform.resetPort ? { resetPort: plan.layout.resetPort } : {}),
        ...(ged ? { ged: { base: ged.base, events: ged.events } } : {}),
        transports: windows,
        isr,
        mailbox: mailbox.descriptor,
        counters: counters.buffer as SharedArrayBuffer,
        custom,
      };
      return vm.startVcpu(vcpu, { handler: handlerModule("vcpu-handler"), data, thread: options.vcpuThreads ?? "worker" });
    });
    const started = await Promise.allSettled([ioStart, ...vcpuStarts]);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      DeviceMailbox.shutdown(mailbox.descriptor); // release any vCPU waiting on the mailbox
      throw (failed as PromiseRejectedResult).reason;
    }
    const io = (started[0] as PromiseFulfilledResult<IoThread | undefined>).value;
    const threads = started.slice(1).map((r) => (r as PromiseFulfilledResult<VcpuThread>).value);
    return new KvmMachine({ plan, kvm, vm, memory, threads, io, counters, serialRing, consoles, uart, owned, passts, ged, mailbox: mailbox.descriptor });
  } catch (e) {
    await vm.close().catch(() => undefined);
    for (const o of owned) o.close();
    await passts.stop();
    kvm.close();
    if (isKvmError(e)) throw new MicrovmError("kvm", e.message, { cause: e });
    throw e;
  }
}
