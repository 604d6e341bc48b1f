/**
 * The QEMU engine's command line, as data: which `qemu-system-x86_64` arguments run a plan, which
 * files must exist for them (the generated ROM, the blobs), which sockets QEMU connects to and
 * which file descriptors it inherits (among them its control and character channels, connected
 * sockets made at its spawn). Pure: nothing is written or started here, so the command
 * line can be printed (`--print-plan`) and tested.
 *
 * QEMU is told to build exactly the plan's machine and nothing of its own: `-M microvm` with
 * `acpi=off` (`on` for a board with ACPI, for QEMU's GED registers; its own tables are never
 * loaded), the PIC and PIT on, no RTC, no option ROMs, no automatic kernel command line, no
 * default devices; our ROM as `-bios`; every byte of the plan ({@link MachinePlan.blobs}: kernel
 * segments, PVH structures, MPTable, ACPI tables) as `-device loader` blobs, or inside the
 * ROM image where the ROM hides RAM (the BIOS F-segment). Options: QEMU 7.2's
 * docs/system/invocation.rst, hw/i386/microvm.c, hw/core/generic-loader.c.
 */
import { buildPvhRom, type PvhRomBlob } from "@microvm/pvh";
import { MicrovmError } from "../errors.js";
import { deviceKind, type DeviceConfig } from "../devices/index.js";
import type { MachinePlan } from "../plan.js";
import { QEMU_BIOS_SIZE } from "../platform.js";

/**
 * A file the QEMU engine writes before it starts QEMU (in its private temporary directory).
 *
 * @example
 * ```ts
 * const f: QemuFile = { name: "rom.bin", bytes: rom, what: "the PVH ROM" };
 * ```
 */
export interface QemuFile {
  /** File name in the engine's directory. */
  readonly name: string;
  /** Its bytes. */
  readonly bytes: Uint8Array;
  /** What it holds, for messages. */
  readonly what: string;
}

/**
 * A unix socket the engine listens on and QEMU connects to (QEMU is the client, so that it
 * cannot run before the engine is there). Used where a listener is what the other side expects:
 * QEMU reconnects to a vhost-user back-end, and `-netdev stream` connects as a client.
 *
 * @example
 * ```ts
 * const s: QemuSocket = { name: "vhost-blk0.sock", role: "vhost-user", device: "blk0", configIndex: 0 };
 * ```
 */
export interface QemuSocket {
  /** File name in the engine's directory. */
  readonly name: string;
  /**
   * `vhost-user` (a device model of ours QEMU reaches as a vhost-user back-end: a RAM disk, a JS
   * module) or `net-stream` (a net backend of ours, e.g. the ARP responder, on QEMU's
   * `-netdev stream`).
   */
  readonly role: "vhost-user" | "net-stream";
  /** The device id. */
  readonly device: string;
  /** The device's index in the board's devices. */
  readonly configIndex: number;
}

/**
 * A character channel between the engine and QEMU: one end of a connected unix stream socket
 * (a socketpair made when QEMU is spawned) that QEMU inherits as fd `fd` and opens as a
 * `-chardev socket,fd=…` in client mode; the engine keeps the other end. No socket file, no
 * listener, and nothing to wait for: the channel exists before QEMU runs.
 *
 * @example
 * ```ts
 * const c: QemuChannel = { role: "qmp", fd: 3 };
 * ```
 */
export interface QemuChannel {
  /** `qmp` (the control channel), `serial` (the legacy UART) or `console` (a virtio console port). */
  readonly role: "qmp" | "serial" | "console";
  /** For `console`: the device id. */
  readonly device?: string;
  /** The fd number QEMU is told (after {@link QemuInvocation.fds} and {@link QemuInvocation.streams}). */
  readonly fd: number;
}

/**
 * Everything that runs a plan on QEMU.
 *
 * @example
 * ```ts
 * const inv = qemuInvocation(plan, { accel: "tcg", dir: "/tmp/microvm-x" });
 * console.log([inv.binary, ...inv.args].join(" "));
 * ```
 */
export interface QemuInvocation {
  /** The program. */
  readonly binary: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Files to write into `dir` first. */
  readonly files: readonly QemuFile[];
  /** Sockets to listen on in `dir` first. */
  readonly sockets: readonly QemuSocket[];
  /**
   * Character channels QEMU inherits as connected sockets, numbered after `fds` and `streams` in
   * this order: `qmp` first, then `serial` on a legacy board, then each `console`.
   */
  readonly channels: readonly QemuChannel[];
  /** File descriptors QEMU inherits: `fds[i]` becomes fd `3 + i` in QEMU. */
  readonly fds: readonly number[];
  /** What each of `fds` is, for messages (`device net0's tap`). */
  readonly fdUses: readonly string[];
  /**
   * Net devices on a stream socket to passt (backend `user` with `userNet: "passt"`): the engine
   * starts passt on one end and passes the other to QEMU as fd `fd`, after `fds`, in this order.
   */
  readonly streams: readonly QemuStream[];
}

/**
 * A net device whose `-netdev stream` socket QEMU inherits (see {@link QemuInvocation.streams}).
 *
 * @example
 * ```ts
 * const s: QemuStream = { device: "net0", index: 0, fd: 3 };
 * ```
 */
export interface QemuStream {
  /** The device id. */
  readonly device: string;
  /** Its index in the board's devices. */
  readonly index: number;
  /** The fd number QEMU is told (3 + fds.length + its position). */
  readonly fd: number;
}

/**
 * Options of {@link qemuInvocation}.
 *
 * @example
 * ```ts
 * const o: QemuInvocationOptions = { accel: "kvm", dir: "/run/user/1000/microvm-1", devices: [] };
 * ```
 */
export interface QemuInvocationOptions {
  /** `tcg` (software, any host) or `kvm`. */
  readonly accel: "tcg" | "kvm";
  /** The directory the files and sockets live in. */
  readonly dir: string;
  /** The devices with their backends, indexed by the plan's `configIndex`. */
  readonly devices?: readonly DeviceConfig[];
  /** The virtio-mmio version of every transport; default 2. QEMU sets it for all transports at once. */
  readonly virtioVersion?: 1 | 2;
  /** The program; default `qemu-system-x86_64`. */
  readonly binary?: string;
  /**
   * What serves `user` net devices whose provider is passt: `passt` (default; a `-netdev stream`
   * socket, see {@link QemuInvocation.streams}) or `slirp` (QEMU's own `-netdev user`, where passt
   * is missing). Devices with provider `slirp` always get QEMU's own.
   */
  readonly userNet?: "passt" | "slirp";
}

/** The plan's device regions QEMU builds itself: the transports, the UART, the ACPI GED's registers. */
const QEMU_BUILT_DEVICES = new Set(["virtio-mmio", "serial", "acpi-ged", "acpi-ged-regs"]);

/** QEMU's option syntax: a comma inside a value is doubled (util/qemu-option.c). */
function qv(value: string): string {
  return value.replace(/,/g, ",,");
}

function unsupported(what: string, why: string): MicrovmError {
  return new MicrovmError("engine", `${what}: ${why} on the QEMU engine`);
}

/**
 * The QEMU command line, files, sockets and inherited fds that run `plan`. Refuses, before
 * anything starts, what the QEMU engine cannot express: console modules, custom regions, a
 * device served over vhost-user on a legacy transport, devices that want different virtio-mmio
 * versions, a platform other than {@link qemuPlatform}'s.
 *
 * @param plan - a plan made for a {@link qemuPlatform} platform
 * @param options - accelerator, directory, devices
 * @returns the invocation
 * @throws MicrovmError `engine` for what QEMU cannot run, naming the device or field
 * @example
 * ```ts
 * const plan = planMachine({ kernel, legacy: true, platform: qemuPlatform({ accel: "tcg" }) });
 * const inv = qemuInvocation(plan, { accel: "tcg", dir: "/tmp/microvm-1" });
 * inv.args.includes("-bios"); // true
 * ```
 */
export function qemuInvocation(plan: MachinePlan, options: QemuInvocationOptions): QemuInvocation {
  if (!plan.platform.name.startsWith("qemu-")) {
    throw unsupported("platform", `the plan describes the ${plan.platform.name} platform; plan it with qemuPlatform() to run it`);
  }
  if (plan.memory % 8192n !== 0n) throw unsupported("memory", `QEMU rounds RAM up to 8 KiB; expected a multiple of 8192 bytes, got ${plan.memory}`);
  // A custom region is a device model in this process: QEMU has nothing at its address.
  for (const space of [plan.memorySpace, plan.ioSpace]) {
    for (const r of space.regions()) {
      if (r.kind === "device" && !QEMU_BUILT_DEVICES.has(r.name)) {
        throw unsupported(`custom region ${r.name}`, `a device model served in this process (${space.name} 0x${r.base.toString(16)}) cannot be placed in QEMU's machine`);
      }
    }
  }
  const dir = options.dir.replace(/\/+$/, "");
  const at = (name: string): string => `${dir}/${name}`;
  const devices = options.devices ?? [];
  const files: QemuFile[] = [];
  const sockets: QemuSocket[] = [];
  const fds: number[] = [];
  const fdUses: string[] = [];
  const streams: QemuStream[] = [];
  const channels: { role: QemuChannel["role"]; device?: string }[] = [];
  /** A channel; its fd number, known only at the end, is a placeholder until then. */
  const channel = (role: QemuChannel["role"], device?: string): string => {
    channels.push({ role, ...(device !== undefined ? { device } : {}) });
    return `@CHANNEL${channels.length - 1}@`;
  };
  const args: string[] = [];
  const push = (...a: string[]): void => void args.push(...a);

  // acpi=on makes QEMU build its GED (the registers our FADT and DSDT point at); the tables it
  // would hand a firmware through fw_cfg are never read, since our ROM is the firmware. ioapic2=off
  // keeps the transports on the first IOAPIC, as the plan says: GSIs 5..12 without ACPI, 16..23
  // with it (QEMU's default with ACPI moves them to a second IOAPIC at 24..47).
  const machine = ["microvm", `acpi=${plan.acpi ? "on" : "off"}`, "ioapic2=off", "pic=on", "pit=on", "rtc=off", `isa-serial=${plan.legacy ? "on" : "off"}`, "x-option-roms=off", "auto-kernel-cmdline=off"];
  push("-M", machine.join(","));
  push("-accel", options.accel, "-cpu", options.accel === "kvm" ? "host" : "max");
  push("-m", `${plan.memory}B`, "-smp", String(plan.cpus));
  push("-nodefaults", "-no-user-config", "-display", "none", "-S");
  // A guest reset (on this board only a triple fault: there is no i8042 and no ACPI reset
  // register) and a guest shutdown stop the VM instead of restarting or exiting, so the engine sees
  // the SHUTDOWN event, asks query-status and quits.
  push("-action", "reboot=shutdown,shutdown=pause");
  push("-global", `ioapic.version=0x${plan.layout.ioapicVersion.toString(16)}`);

  // The ROM: the entry state, plus every blob that falls inside one of its windows.
  const romBlobs: PvhRomBlob[] = [];
  const loaders: { address: bigint; bytes: Uint8Array; what: string }[] = [];
  const blobs = plan.blobs.map((b) => ({ address: b.address, bytes: b.bytes, what: b.name }));
  const lowRom = 0x100000n - BigInt(Math.min(QEMU_BIOS_SIZE, 0x20000));
  for (const b of blobs) {
    if (b.bytes.length === 0) continue;
    if (b.address >= lowRom && b.address < 0x100000n) romBlobs.push({ name: b.what, address: b.address, bytes: b.bytes });
    else loaders.push(b);
  }
  let rom: Uint8Array;
  try {
    rom = buildPvhRom({ state: plan.boot.entry, size: QEMU_BIOS_SIZE, blobs: romBlobs });
  } catch (e) {
    throw new MicrovmError("engine", `boot ROM: ${(e as Error).message}`, { cause: e });
  }
  files.push({ name: "rom.bin", bytes: rom, what: "the PVH boot ROM" });
  push("-bios", at("rom.bin"));
  loaders.forEach((b, i) => {
    const name = `blob${i}.bin`;
    files.push({ name, bytes: b.bytes, what: b.what });
    push("-device", `loader,file=${qv(at(name))},addr=0x${b.address.toString(16)},force-raw=on`);
  });

  // Control: QMP on an inherited connected socket (QEMU 7.2's chardev/char-socket.c takes `fd=`
  // as an already connected socket in client mode: util/qemu-sockets.c, socket_connect()).
  push("-chardev", `socket,id=microvm-qmp,fd=${channel("qmp")}`, "-mon", "chardev=microvm-qmp,mode=control");
  if (plan.legacy) push("-chardev", `socket,id=microvm-serial,fd=${channel("serial")}`, "-serial", "chardev:microvm-serial");

  // Devices, each on its planned transport.
  const versions = new Set<number>();
  let vhost = false;
  /** A device model of ours behind QEMU's vhost-user device `type` (node/vhost-user-backend.ts). */
  const vhostUser = (type: string, configIndex: number, id: string, bus: string): void => {
    const d = devices[configIndex];
    if ((d?.version ?? options.virtioVersion ?? 2) !== 2) {
      throw unsupported(`device ${id}`, "a device served over vhost-user needs a virtio 1.0 transport (version 2); it is a legacy one (version 1)");
    }
    vhost = true;
    const sock = `vhost-${id}.sock`;
    sockets.push({ name: sock, role: "vhost-user", device: id, configIndex });
    push("-chardev", `socket,id=${id}-vu,path=${qv(at(sock))}`, "-device", `${type},chardev=${id}-vu,${bus},id=${id}`);
  };
  for (const t of plan.transports) {
    if (!t.device) continue;
    const { configIndex, id } = t.device;
    const d = devices[configIndex];
    const bus = `bus=virtio-mmio-bus.${t.index}`;
    versions.add(d?.version ?? options.virtioVersion ?? 2);
    deviceKind(t.device.kind).qemu(d, {
      id,
      bus,
      configIndex,
      userNet: options.userNet ?? "passt",
      push,
      qv,
      socket: (role, name) => {
        sockets.push({ name, role, device: id, configIndex });
        return at(name);
      },
      channel: () => channel("console", id),
      inherit: (fd, what) => {
        fds.push(fd);
        fdUses.push(what);
        return 2 + fds.length;
      },
      passtStream: () => {
        streams.push({ device: id, index: configIndex, fd: -1 });
        return `@STREAM${streams.length - 1}@`;
      },
      vhostUser: (type) => vhostUser(type, configIndex, id, bus),
      unsupported: (why) => unsupported(`device ${id}`, why),
    });
  }
  if (versions.size > 1) throw unsupported("virtio versions", "QEMU sets the virtio-mmio version of all transports at once (virtio-mmio.force-legacy); the devices ask for both 1 and 2");
  if (vhost) {
    // A vhost-user back-end maps guest RAM from a file descriptor: RAM must be a shared memfd
    // (QEMU docs/interop/vhost-user.rst). Named as QEMU names microvm's RAM, so the listing stays.
    push("-object", `memory-backend-memfd,id=microvm.ram,size=${plan.memory}B,share=on`);
    const m = args.indexOf("-M") + 1;
    args[m] = `${args[m]},memory-backend=microvm.ram`;
  }
  if (!versions.has(1)) push("-global", "virtio-mmio.force-legacy=false");
  // The passt sockets come after the inherited fds, whose count is known only now; the channels last.
  const numbered = streams.map((st, k) => ({ ...st, fd: 3 + fds.length + k }));
  const numberedChannels = channels.map((c, k) => ({ ...c, fd: 3 + fds.length + streams.length + k }));
  const late = { STREAM: numbered, CHANNEL: numberedChannels };
  const final = args.map((a) => a.replace(/@(STREAM|CHANNEL)(\d+)@/g, (_, kind: keyof typeof late, k: string) => String(late[kind][Number(k)]?.fd)));
  return { binary: options.binary ?? "qemu-system-x86_64", args: final, files, sockets, channels: numberedChannels, fds, fdUses, streams: numbered };
}
