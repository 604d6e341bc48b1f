/**
 * The `microvm` command line: QEMU's option syntax for the flags of the seed's two invocations
 * (QEMU's microvm cover letter, 2019), parsed into a plain description ({@link CliConfig}).
 * No I/O here except reading the user config file, so every rule is unit-testable.
 *
 * Option syntax follows QEMU (docs/system/invocation.rst, util/qemu-option.c): `-flag value`
 * (one or two leading dashes), values are comma-separated `key=value` lists whose first element
 * may be the implied key (`pty,id=c0`), `,,` is a literal comma, and a bare key means `key=on`.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { MicrovmError } from "../errors.js";
import { checkHostForwards, parseHostfwd, type HostForward } from "../host-forward.js";
import { DEFAULT_MEMORY } from "../layout.js";
import { DEVICE_KINDS } from "../devices/index.js";
import type { CliBackendFlag, CliDevice, CliDeviceParser } from "../devices/kind.js";

/** A `-chardev`. */
export interface ChardevConfig {
  /** Its id. */
  readonly id: string;
  /** `pty`: a new /dev/pts/N; `stdio`: this process's stdin and stdout. */
  readonly backend: "pty" | "stdio";
}

/** A `-drive` (raw image, `if=none`). */
export interface DriveConfig {
  /** Its id. */
  readonly id: string;
  /** The image file. */
  readonly file: string;
  /** `readonly=on`. */
  readonly readOnly: boolean;
}

/** A `-netdev tap` or `-netdev user`. */
export type NetdevConfig =
  | {
      /** A tap device. */
      readonly type: "tap";
      /** Its id. */
      readonly id: string;
      /** `ifname=`: an existing tap to attach to; absent: a temporary tap is created. */
      readonly ifname?: string;
    }
  | {
      /** User-mode networking (passt; QEMU's slirp on the QEMU engine without passt). */
      readonly type: "user";
      /** Its id. */
      readonly id: string;
      /** `hostfwd=` entries, in order. */
      readonly hostfwd: readonly HostForward[];
    };


/** What a `microvm` command line asks for. */
export interface CliConfig {
  /** `-M microvm,legacy`: the ISA 16550A UART and the 0x64 reset port. */
  readonly legacy: boolean;
  /** `-M microvm,acpi=on`: hardware-reduced ACPI tables describing the devices (default off). */
  readonly acpi: boolean;
  /** `-m`, in bytes (default 128 MiB, QEMU's default): a guest size, so a bigint. */
  readonly memory: bigint;
  /** `-smp`. */
  readonly cpus: number;
  /** `-kernel`. */
  readonly kernel?: string;
  /** `-append`. */
  readonly append: string;
  /** `-initrd`. */
  readonly initrd?: string;
  /** `-nodefaults` was given. */
  readonly nodefaults: boolean;
  /** `-no-user-config` was given. */
  readonly noUserConfig: boolean;
  /** The user config file that was read, if any. */
  readonly userConfig?: string;
  /** The chardevs. */
  readonly chardevs: readonly ChardevConfig[];
  /** The drives. */
  readonly drives: readonly DriveConfig[];
  /** The netdevs. */
  readonly netdevs: readonly NetdevConfig[];
  /** The virtio devices, in command-line order (which is transport order). */
  readonly devices: readonly CliDevice[];
  /**
   * Where the legacy UART goes: `stdio` (`-serial stdio`, or the default without `-nodefaults`),
   * or `none` (with `-nodefaults` and no `-serial`). Normal mode: `none`.
   */
  readonly serial: "stdio" | "none";
  /** `--info-mtree`: print the exposed surface and exit. */
  readonly infoMtree: boolean;
  /** `--print-plan`: print the engine, the plan and (QEMU engine) QEMU's command line, and exit. */
  readonly printPlan: boolean;
  /** `--engine`: which engine runs the machine (default auto). */
  readonly engine: "kvm" | "qemu" | "auto";
  /** `--vcpu-threads worker|native`: how the kvm engine runs its vCPUs, when given. */
  readonly vcpuThreads?: "worker" | "native";
  /**
   * `--footprint small|default`: `small` applies the V8 settings of `useSmallFootprint` and, on
   * the kvm engine, makes `native` the default of `--vcpu-threads`. Default `default`.
   */
  readonly footprint: "small" | "default";
  /** `-accel tcg|kvm` or `-enable-kvm` (QEMU's spellings), when given. */
  readonly accel?: "kvm" | "tcg";
  /**
   * `-cpu host|max`, when given. Both name the CPU every engine gives the guest (the host's
   * CPU as KVM offers it; under TCG, QEMU's `max`); `host` needs KVM, as in QEMU.
   */
  readonly cpu?: "host" | "max";
}

/** What the command line asks the program to do. */
export type CliCommand = { readonly action: "help" } | { readonly action: "version" } | { readonly action: "run"; readonly config: CliConfig };

/** Every flag `microvm` accepts, with its argument, for `--help` and for errors. */
export const SUPPORTED_FLAGS: readonly (readonly [flag: string, arg: string, what: string])[] = [
  ["-M", "microvm[,legacy][,acpi=on|off][,isa-serial=on|off]", "the machine; legacy (or isa-serial=on) adds the ISA 16550A UART at 0x3f8 and the 0x64 reset port; acpi=on adds ACPI tables that describe the devices (for kernels without virtio_mmio.device= support); QEMU's pit=on, pic=on, rtc=off and x-option-roms=off are accepted, as this board has them"],
  ["-m", "SIZE", "guest RAM: 512m, 1G, or a plain number of MiB (default 128)"],
  ["-smp", "N", "vCPUs, 1..254 (default 1)"],
  ["-kernel", "FILE", "the PVH kernel: a vmlinux or any ELF with the Xen PHYS32_ENTRY note"],
  ["-append", "CMDLINE", "the kernel command line (virtio_mmio.device= entries are appended)"],
  ["-initrd", "FILE", "an initrd, passed as the first PVH module"],
  ["-nodefaults", "", "no default devices: in legacy mode the UART is then silent unless -serial stdio"],
  ["-no-user-config", "", "do not read the user config file ($XDG_CONFIG_HOME/microvm/microvm.conf)"],
  ["-chardev", "pty|stdio,id=ID[,server]", "a character device: a new /dev/pts/N, or this terminal"],
  // The -device lines: each device kind's own (devices/).
  ...DEVICE_KINDS.flatMap((k) => k.cli.help),
  ["-drive", "id=ID,file=FILE,format=raw,if=none[,readonly=on]", "a raw image, locked as QEMU locks it (read-only=on is the same as readonly=on; cache=writeback, the only mode, is accepted)"],
  ["-netdev", "tap,id=ID,script=no,downscript=no[,ifname=NAME]", "a tap device (an existing one by name, else a new temporary one)"],
  ["-netdev", "user,id=ID[,hostfwd=[tcp|udp]:[HOSTADDR]:PORT-:PORT]…", "user-mode networking without root (passt), host ports forwarded into the guest"],
  ["-serial", "stdio", "the legacy UART on this terminal (needs -M microvm,legacy)"],
  ["-cpu", "host|max", "the guest's CPU: the host's as KVM offers it (host needs KVM), under TCG QEMU's max; the default either way"],
  ["-accel", "tcg|kvm", "the accelerator: tcg runs on QEMU's CPU emulator (any host, engine qemu); kvm uses /dev/kvm"],
  ["-enable-kvm", "", "the same as -accel kvm"],
  ["-nographic", "", "accepted for QEMU's command lines: microvm has no display (output is on this terminal already)"],
  ["-display", "none", "accepted for QEMU's command lines: microvm has no display"],
  ["-no-reboot", "", "accepted for QEMU's command lines: a guest reset always ends the run (exit status 0)"],
  ["--engine", "kvm|qemu|auto", "kvm: in this process on /dev/kvm; qemu: in qemu-system-x86_64; auto (default): kvm if /dev/kvm opens, else qemu with tcg"],
  ["--vcpu-threads", "worker|native", "kvm engine: a Node worker per vCPU (default; ~10 MiB each, fastest exits) or a native thread per vCPU (~0.5 MiB each, exits served on the main thread)"],
  ["--footprint", "small|default", "small: the least memory, not the fastest exits: V8 without its optimising compiler and with a fixed young generation, and (kvm engine) --vcpu-threads native unless given; default: neither"],
  ["--info-mtree", "", "print the machine's exposed surface (QEMU's `info mtree` format) for the chosen engine and exit"],
  ["--print-plan", "", "print the engine, the plan (memory map, transports, command line) and the QEMU command line that would run, and exit"],
  ["--help", "", "this help"],
  ["--version", "", "the version"],
];

const FLAG_NAMES = [...new Set(SUPPORTED_FLAGS.map(([f]) => f))];

function bad(message: string): MicrovmError {
  return new MicrovmError("invalid-argument", message);
}

/**
 * Splits a QEMU option value: `pty,id=c0,server` → `[["", "pty"], ["id", "c0"], ["server", "on"]]`
 * when `implied` names the first key, `,,` being a literal comma (util/qemu-option.c).
 *
 * @param value - the option value
 * @param implied - the key of a first element without `=` (e.g. `backend`), or undefined
 * @returns the key/value pairs, in order
 * @throws MicrovmError `invalid-argument` for an empty element
 * @example
 * ```ts
 * parseKeyval("tap,id=n0,script=no", "type"); // [["type","tap"],["id","n0"],["script","no"]]
 * ```
 */
export function parseKeyval(value: string, implied: string | undefined): [string, string][] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === ",") {
      if (value[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p, i): [string, string] => {
    if (p.length === 0) throw bad(`${JSON.stringify(value)}: empty element`);
    const eq = p.indexOf("=");
    if (eq < 0) return i === 0 && implied !== undefined ? [implied, p] : [p, "on"];
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
}

/** Reads `key=value` pairs against an allow-list; returns a map, complaining about the rest. */
function keys(flag: string, pairs: [string, string][], allowed: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of pairs) {
    if (!allowed.includes(k)) throw bad(`${flag}: unsupported option '${k}'; supported: ${allowed.filter((a) => !a.startsWith("_")).join(", ")}`);
    if (m.has(k)) throw bad(`${flag}: '${k}' given twice`);
    m.set(k, v);
  }
  return m;
}

function onOff(flag: string, key: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === "on" || v === "yes" || v === "true") return true;
  if (v === "off" || v === "no" || v === "false") return false;
  throw bad(`${flag}: ${key}: expected on or off, got ${JSON.stringify(v)}`);
}

function need(flag: string, m: Map<string, string>, key: string): string {
  const v = m.get(key);
  if (v === undefined || v.length === 0) throw bad(`${flag}: ${key}= is required`);
  return v;
}

const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
function id(flag: string, m: Map<string, string>): string {
  const v = need(flag, m, "id");
  // QEMU ids start with a letter and hold letters, digits, '-', '.', '_' (util/id.c id_wellformed).
  if (!ID_RE.test(v)) throw bad(`${flag}: id ${JSON.stringify(v)}: expected a letter, then letters, digits, '-', '.' or '_'`);
  return v;
}

/** An optional `id=` (QEMU's well-formed id rule), unique among the devices. */
function optId(flag: string, m: Map<string, string>): { id?: string } {
  return m.has("id") ? { id: id(flag, m) } : {};
}

/**
 * Parses a QEMU memory size: a plain number is MiB; suffixes B, K, M, G, T (powers of 1024,
 * either case) as QEMU's `-m` (softmmu/vl.c set_memory_options, util/cutils.c qemu_strtosz_MiB).
 * The size is rounded up to 8 KiB, as QEMU does.
 *
 * @param text - e.g. `512m`, `1G`, `256`, `size=1.5G`
 * @returns bytes
 * @throws MicrovmError `invalid-argument` for a malformed size
 * @example
 * ```ts
 * parseMemorySize("512m"); // 536870912n
 * ```
 */
export function parseMemorySize(text: string): bigint {
  const t = text.startsWith("size=") ? text.slice(5) : text;
  const m = /^(\d+(?:\.\d+)?)([bkmgt])?$/i.exec(t);
  if (!m) throw bad(`-m: expected a size such as 512m, 1G or a number of MiB, got ${JSON.stringify(text)}`);
  const unit = (m[2] ?? "m").toLowerCase();
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] as number;
  const bytes = Math.ceil((Number(m[1]) * mult) / 8192) * 8192;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw bad(`-m: ${JSON.stringify(text)}: expected a size from 2 MiB to 64 TiB, such as 512m or 2G`);
  return BigInt(bytes);
}

/**
 * The user config file: `$XDG_CONFIG_HOME/microvm/microvm.conf` (XDG Base Directory spec;
 * default `~/.config`). Each non-empty line that does not start with `#` is one flag and its value
 * (`-device virtio-rng-device`), read before the command line unless `-no-user-config` is given.
 *
 * @param env - the environment
 * @returns the path
 * @example
 * ```ts
 * userConfigPath(process.env); // "/home/me/.config/microvm/microvm.conf"
 * ```
 */
export function userConfigPath(env: Readonly<Record<string, string | undefined>>): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), ".config");
  return join(base, "microvm", "microvm.conf");
}

function readUserConfig(path: string): string[] {
  const out: string[] = [];
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith("#")) continue;
    const sp = line.search(/\s/);
    if (sp < 0) out.push(line);
    else out.push(line.slice(0, sp), line.slice(sp).trim());
  }
  return out;
}

const FLAGS_WITH_VALUE = new Set(["M", "machine", "m", "smp", "kernel", "append", "initrd", "chardev", "device", "drive", "netdev", "serial", "accel", "cpu", "display", "engine", "vcpu-threads", "footprint"]);
const FLAGS_BARE = new Set(["nodefaults", "no-user-config", "info-mtree", "print-plan", "enable-kvm", "nographic", "no-reboot", "help", "h", "version"]);

/**
 * QEMU's `-M microvm` options for parts this board has or lacks whatever the command line says
 * (docs/architecture.md: the board is fixed): the value that matches the board is accepted, so that
 * QEMU command lines run unchanged where they ask for this board; the other is refused with why.
 */
const FIXED_BOARD_PARTS: readonly (readonly [key: string, has: boolean, why: string])[] = [
  ["pit", true, "this board always has the i8254 PIT (KVM's in-kernel PIT on the kvm engine, QEMU's on the qemu engine)"],
  ["pic", true, "this board always has the 8259 PIC (part of KVM's in-kernel interrupt controller)"],
  ["rtc", false, "this board has no MC146818 RTC"],
  ["x-option-roms", false, "this board runs no firmware, so no option ROMs"],
];

function splitPairs(argv: readonly string[]): [flag: string, value: string | undefined][] {
  const pairs: [flag: string, value: string | undefined][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("-") || a === "-" || a === "--") {
      throw bad(`${JSON.stringify(a)}: unexpected argument (the kernel is given with -kernel); supported flags: ${FLAG_NAMES.join(", ")}`);
    }
    const name = a.replace(/^--?/, "");
    if (FLAGS_BARE.has(name)) pairs.push([name, undefined]);
    else if (FLAGS_WITH_VALUE.has(name)) {
      if (i + 1 >= argv.length) throw bad(`${a}: requires an argument`);
      pairs.push([name, argv[++i] as string]);
    } else throw bad(`${a}: unsupported option; supported: ${FLAG_NAMES.join(", ")} (see --help)`);
  }
  return pairs;
}

/**
 * Parses a `microvm` command line (the arguments after the program name).
 *
 * @param argv - the arguments
 * @param env - the environment (for the user config file); default `process.env`
 * @returns what to do
 * @throws MicrovmError `invalid-argument` naming the flag and what is supported
 * @example
 * ```ts
 * const cmd = parseCommandLine(["-M", "microvm,legacy", "-kernel", "vmlinux", "-serial", "stdio"]);
 * if (cmd.action === "run") cmd.config.legacy; // true
 * ```
 */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): CliCommand {
  // Pass 1: split into (flag, value) pairs, so that -no-user-config is known before anything.
  const pairs = splitPairs(argv);
  if (pairs.some(([f]) => f === "help" || f === "h")) return { action: "help" };
  if (pairs.some(([f]) => f === "version")) return { action: "version" };

  const noUserConfig = pairs.some(([f]) => f === "no-user-config");
  let userConfig: string | undefined;
  if (!noUserConfig) {
    const path = userConfigPath(env);
    if (existsSync(path)) {
      userConfig = path;
      let head: [string, string | undefined][];
      try {
        head = splitPairs(readUserConfig(path));
      } catch (e) {
        throw bad(`${path}: ${(e as Error).message}`);
      }
      pairs.unshift(...head); // the command line's own flags come after, as QEMU reads config first
    }
  }

  let machine: string | undefined;
  let legacy = false;
  let acpi = false;
  let memory = DEFAULT_MEMORY;
  let cpus = 1;
  let kernel: string | undefined;
  let append = "";
  let initrd: string | undefined;
  let nodefaults = false;
  let serial: "stdio" | undefined;
  let infoMtree = false;
  let printPlan = false;
  let engine: "kvm" | "qemu" | "auto" = "auto";
  let vcpuThreads: "worker" | "native" | undefined;
  let footprint: "small" | "default" = "default";
  let accel: "kvm" | "tcg" | undefined;
  let cpu: "host" | "max" | undefined;
  const setAccel = (f: string, a: string): void => {
    if (a !== "kvm" && a !== "tcg") throw bad(`${f}: accelerator ${JSON.stringify(a)} is not supported; supported: kvm, tcg`);
    if (accel !== undefined && accel !== a) throw bad(`${f}: ${a} contradicts the accelerator given before (${accel})`);
    accel = a;
  };
  const chardevs: ChardevConfig[] = [];
  const drives: DriveConfig[] = [];
  const netdevs: NetdevConfig[] = [];
  const devices: CliDevice[] = [];
  const claimed = new Map<string, string>(); // "<flag> <id>" -> who took it

  for (const [flag, value] of pairs) {
    const f = `-${flag}`;
    const v = value ?? "";
    switch (flag) {
      case "M":
      case "machine": {
        const m = keys(f, parseKeyval(v, "type"), ["type", "legacy", "acpi", "isa-serial", ...FIXED_BOARD_PARTS.map(([k]) => k)]);
        const type = need(f, m, "type");
        if (type !== "microvm") throw bad(`${f}: machine ${JSON.stringify(type)} is not supported; supported: microvm`);
        machine = type;
        legacy = onOff(f, "legacy", m.get("legacy"), false);
        if (m.has("isa-serial")) {
          // QEMU's name for the legacy board's part the guest sees most: the ISA UART.
          const isa = onOff(f, "isa-serial", m.get("isa-serial"), false);
          if (m.has("legacy") && isa !== legacy) throw bad(`${f}: isa-serial=${isa ? "on" : "off"} contradicts legacy=${legacy ? "on" : "off"} (the legacy board is the one with the ISA UART)`);
          legacy = isa;
        }
        acpi = onOff(f, "acpi", m.get("acpi"), false);
        for (const [key, has, why] of FIXED_BOARD_PARTS) {
          if (m.has(key) && onOff(f, key, m.get(key), has) !== has) throw bad(`${f}: ${key}=${has ? "off" : "on"} is not supported: ${why}; leave it out or say ${key}=${has ? "on" : "off"}`);
        }
        break;
      }
      case "m":
        memory = parseMemorySize(v);
        break;
      case "smp": {
        const m = keys(f, parseKeyval(v, "cpus"), ["cpus"]);
        const n = need(f, m, "cpus");
        if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 254) throw bad(`${f}: cpus: expected 1..254, got ${JSON.stringify(n)}`);
        cpus = Number(n);
        break;
      }
      case "kernel":
        kernel = v;
        break;
      case "append":
        append = v;
        break;
      case "initrd":
        initrd = v;
        break;
      case "nodefaults":
        nodefaults = true;
        break;
      case "no-user-config":
        break;
      case "info-mtree":
        infoMtree = true;
        break;
      case "print-plan":
        printPlan = true;
        break;
      case "accel": {
        // QEMU's -accel takes an implied accel= key and options (accel/accel-softmmu.c); none are supported here.
        const m = keys(f, parseKeyval(v, "accel"), ["accel"]);
        setAccel(f, need(f, m, "accel"));
        break;
      }
      case "enable-kvm":
        setAccel(f, "kvm");
        break;
      case "cpu": {
        // QEMU's -cpu takes a model and feature flags (+x2apic, vmx=off): only the model is read.
        const pairsC = parseKeyval(v, "model");
        const model = pairsC[0]?.[0] === "model" ? pairsC[0][1] : "";
        if (model !== "host" && model !== "max") throw bad(`${f}: CPU model ${JSON.stringify(model)} is not supported; supported: host, max (the guest gets the host's CPU as KVM offers it, or QEMU's max under TCG)`);
        if (pairsC.length > 1) throw bad(`${f}: CPU feature flags (${pairsC.slice(1).map(([k, x]) => (x === "on" ? k : `${k}=${x}`)).join(", ")}) are not supported: the guest's CPU is the model's as it is`);
        if (cpu !== undefined && cpu !== model) throw bad(`${f}: ${model} contradicts -cpu ${cpu} given before`);
        cpu = model;
        break;
      }
      case "display": {
        const m = keys(f, parseKeyval(v, "type"), ["type"]);
        if (need(f, m, "type") !== "none") throw bad(`${f}: ${JSON.stringify(m.get("type"))} is not supported: microvm has no display; only -display none is accepted`);
        break;
      }
      case "nographic":
      case "no-reboot":
        // No display to turn off; a reset always ends the run (the exit status is 0), as with QEMU's -no-reboot.
        break;
      case "engine":
        if (v !== "kvm" && v !== "qemu" && v !== "auto") throw bad(`${f}: expected kvm, qemu or auto, got ${JSON.stringify(v)}`);
        engine = v;
        break;
      case "vcpu-threads":
        if (v !== "worker" && v !== "native") throw bad(`--vcpu-threads: expected worker or native, got ${JSON.stringify(v)}`);
        vcpuThreads = v;
        break;
      case "footprint":
        if (v !== "small" && v !== "default") throw bad(`--footprint: expected small or default, got ${JSON.stringify(v)}`);
        footprint = v;
        break;
      case "chardev": {
        // `server` is a listening option of socket chardevs; QEMU accepts it on every chardev
        // (qemu_chardev_opts) and a pty is always the serving end, so it is accepted only as on.
        const m = keys(f, parseKeyval(v, "backend"), ["backend", "id", "server"]);
        const backend = need(f, m, "backend");
        if (backend !== "pty" && backend !== "stdio") throw bad(`${f}: backend ${JSON.stringify(backend)} is not supported; supported: pty, stdio`);
        if (m.has("server") && !onOff(f, "server", m.get("server"), true)) throw bad(`${f}: server=off is not supported: a ${backend} chardev is always the serving end`);
        const cid = id(f, m);
        if (chardevs.some((c) => c.id === cid)) throw bad(`${f}: duplicate chardev id ${cid}`);
        chardevs.push({ id: cid, backend });
        break;
      }
      case "drive": {
        const m = keys(f, parseKeyval(v, undefined), ["id", "file", "format", "if", "readonly", "read-only", "cache"]);
        // The one cache mode this board's disks have (QEMU's default): the host's page cache, a
        // volatile write cache offered to the guest, FLUSH as fdatasync (docs/cli.md).
        const cache = m.get("cache");
        if (cache !== undefined && cache !== "writeback") {
          throw bad(`${f}: cache=${cache} is not supported: disks use the host's page cache and offer the guest a write cache whose FLUSH is fdatasync (cache=writeback, QEMU's default)`);
        }
        const did = id(f, m);
        const file = need(f, m, "file");
        const format = m.get("format");
        if (format !== "raw") throw bad(`${f}: format=${format ?? ""}: only format=raw is supported (and must be given, as QEMU asks)`);
        const iface = m.get("if");
        if (iface !== "none") throw bad(`${f}: if=${iface ?? ""}: only if=none is supported (attach it with -device virtio-blk-device,drive=${did})`);
        if (drives.some((d) => d.id === did)) throw bad(`${f}: duplicate drive id ${did}`);
        // read-only= is the block layer's spelling, which QEMU's -drive passes through.
        const readonly = onOff(f, "readonly", m.get("readonly"), false);
        const readOnly = onOff(f, "read-only", m.get("read-only"), readonly);
        if (m.has("readonly") && readOnly !== readonly) throw bad(`${f}: read-only=${m.get("read-only") ?? ""} contradicts readonly=${m.get("readonly") ?? ""}`);
        drives.push({ id: did, file, readOnly });
        break;
      }
      case "netdev": {
        const pairs = parseKeyval(v, "type");
        const type = pairs[0]?.[0] === "type" ? pairs[0][1] : undefined;
        if (type === "user") {
          // hostfwd may repeat (QEMU takes a list); every other key once.
          const m = keys(f, pairs.filter(([k]) => k !== "hostfwd"), ["type", "id", "hostfwd"]);
          const nid = id(f, m);
          if (netdevs.some((n) => n.id === nid)) throw bad(`${f}: duplicate netdev id ${nid}`);
          const hostfwd = pairs.filter(([k]) => k === "hostfwd").map(([, x]) => parseHostfwd(x, f));
          checkHostForwards(hostfwd, `${f} hostfwd`);
          netdevs.push({ type: "user", id: nid, hostfwd });
          break;
        }
        const m = keys(f, pairs, ["type", "id", "script", "downscript", "ifname"]);
        if (type !== "tap") throw bad(`${f}: type ${JSON.stringify(type ?? "")} is not supported; supported: tap, user`);
        const nid = id(f, m);
        for (const s of ["script", "downscript"]) {
          if (m.get(s) !== "no") throw bad(`${f}: ${s}=no is required (microvm runs no network scripts; configure the tap beforehand)`);
        }
        if (netdevs.some((n) => n.id === nid)) throw bad(`${f}: duplicate netdev id ${nid}`);
        const ifname = m.get("ifname");
        netdevs.push({ type: "tap", id: nid, ...(ifname !== undefined ? { ifname } : {}) });
        break;
      }
      case "device": {
        // The implied first element is the device type; "_driver" keeps that internal name out of
        // the lists of supported options in messages.
        const pairsD = parseKeyval(v, "_driver");
        const driver = pairsD[0]?.[0] === "_driver" ? pairsD[0][1] : "";
        const kind = DEVICE_KINDS.find((k) => k.cli.drivers.includes(driver));
        if (!kind) throw bad(`${f}: device ${JSON.stringify(driver || v)} is not supported; supported: ${DEVICE_KINDS.flatMap((k) => k.cli.drivers).join(", ")}`);
        const flag = `${f} ${driver}`;
        const parser: CliDeviceParser = {
          flag,
          devices,
          keys: (allowed) => keys(f, pairsD, ["_driver", ...allowed]),
          need: (m, key) => need(flag, m, key),
          optId: (m) => optId(f, m),
          claim: (backendFlag: CliBackendFlag, bid: string, by = "another device") => {
            const owner = claimed.get(`${backendFlag} ${bid}`);
            if (owner !== undefined) throw bad(`${flag}: ${backendFlag} ${bid} is already used by ${owner}`);
            claimed.set(`${backendFlag} ${bid}`, by);
          },
          push: (d) => void devices.push(d),
          bad,
        };
        kind.cli.parse(driver, parser);
        break;
      }
      case "serial":
        if (v !== "stdio") throw bad(`${f}: ${JSON.stringify(v)} is not supported; supported: stdio`);
        if (serial) throw bad(`${f}: given twice (the microvm has one UART)`);
        serial = "stdio";
        break;
    }
  }

  if (machine === undefined) throw bad("-M microvm is required (the only machine microvm offers)");
  const deviceIds = devices.flatMap((d) => (d.id !== undefined ? [d.id] : []));
  const dup = deviceIds.find((x, i) => deviceIds.indexOf(x) !== i);
  if (dup !== undefined) throw bad(`-device: id ${dup} is used twice`);
  // References resolve against the whole command line, as QEMU resolves them at machine creation.
  const backendIds: Record<CliBackendFlag, readonly { id: string }[]> = { drive: drives, netdev: netdevs, chardev: chardevs };
  for (const d of devices) {
    const ref = DEVICE_KINDS.find((k) => k.kind === d.kind)?.cli.backendFlag;
    if (!ref || d.backend === undefined) continue;
    if (!backendIds[ref.flag].some((x) => x.id === d.backend)) {
      throw bad(`-device ${ref.driver}: ${ref.flag} ${d.backend} not found (no -${ref.flag} ${ref.flag === "drive" ? "" : "…,"}id=${d.backend})`);
    }
  }
  if (serial === "stdio" && !legacy) throw bad("-serial stdio: this machine has no UART; use -M microvm,legacy");
  // Without -nodefaults, a legacy board's UART defaults to stdio (QEMU's -nographic default).
  const serialTarget: "stdio" | "none" = legacy && (serial === "stdio" || !nodefaults) ? "stdio" : "none";
  const stdioUsers = chardevs.filter((c) => c.backend === "stdio").length + (serialTarget === "stdio" ? 1 : 0);
  if (stdioUsers > 1) {
    throw bad(`stdio is used by ${stdioUsers} character devices (${serialTarget === "stdio" ? "the legacy UART" + (serial ? "" : " by default, without -nodefaults") + " and " : ""}-chardev stdio); it can serve only one`);
  }
  if (devices.length > 8) throw bad(`-device: ${devices.length} virtio devices; the microvm has 8 virtio-mmio transports`);
  if (vcpuThreads !== undefined && (engine === "qemu" || (engine === "auto" && accel === "tcg"))) {
    throw bad("--vcpu-threads: QEMU runs its own vCPU threads; the flag is the kvm engine's (--engine kvm, or auto on a host with /dev/kvm)");
  }
  if (engine === "kvm" && accel === "tcg") throw bad("--engine kvm: contradicts -accel tcg (TCG is QEMU's CPU emulator: use --engine qemu or leave --engine out)");
  if (cpu === "host" && accel === "tcg") throw bad("-cpu host: needs KVM, and -accel tcg was given (under TCG the guest's CPU is QEMU's max: leave -cpu out or say -cpu max)");
  if (!kernel && !infoMtree) throw bad("-kernel is required (microvm has no firmware: it boots a PVH kernel directly)");

  return {
    action: "run",
    config: {
      legacy,
      acpi,
      memory,
      cpus,
      ...(kernel !== undefined ? { kernel } : {}),
      append,
      ...(initrd !== undefined ? { initrd } : {}),
      nodefaults,
      noUserConfig,
      ...(userConfig !== undefined ? { userConfig } : {}),
      chardevs,
      drives,
      netdevs,
      devices,
      serial: serialTarget,
      infoMtree,
      printPlan,
      engine,
      ...(vcpuThreads !== undefined ? { vcpuThreads } : {}),
      footprint,
      ...(accel !== undefined ? { accel } : {}),
      ...(cpu !== undefined ? { cpu } : {}),
    },
  };
}

/**
 * The `--help` text.
 *
 * @returns the text, ending with a newline
 * @example
 * ```ts
 * process.stdout.write(helpText());
 * ```
 */
export function helpText(): string {
  const w = Math.max(...SUPPORTED_FLAGS.map(([f, a]) => f.length + a.length + 1));
  const lines = SUPPORTED_FLAGS.map(([f, a, what]) => `  ${`${f} ${a}`.padEnd(w)}  ${what}`);
  return [
    "usage: microvm -M microvm[,legacy] -kernel FILE [options]",
    "",
    "A micro-VM with QEMU's -M microvm board: PVH boot, MPTable, virtio-mmio, optional legacy UART.",
    "It runs in this process on /dev/kvm (engine kvm) or, where /dev/kvm is missing or -accel tcg is",
    "given, in qemu-system-x86_64 from the same plan (engine qemu; TCG needs no KVM at all).",
    "It takes QEMU's flags for that board, e.g.:",
    '  microvm -M microvm,legacy -m 512m -smp 2 -kernel vmlinux -append "console=ttyS0 root=/dev/vda" \\',
    "    -nodefaults -no-user-config -drive id=test,file=test.img,format=raw,if=none \\",
    "    -device virtio-blk-device,drive=test -netdev tap,id=tap0,script=no,downscript=no \\",
    "    -device virtio-net-device,netdev=tap0 -serial stdio",
    "",
    "options:",
    ...lines,
    "",
    "Exit status: 0 when the guest resets or triple-faults (how `reboot` ends a microvm), 1 on an error,",
    "128+N when ended by signal N.",
    "",
  ].join("\n");
}
