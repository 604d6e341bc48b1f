/**
 * Harness for the PVH test guests (guests/): build them once, describe the parameters they take,
 * parse the report they print, run them under QEMU's microvm, and compare two reports.
 *
 * The machine tests reuse it to run the same guest on our VMM and compare the report line by line
 * with QEMU's: see docs/test-guests.md for the format and every parameter.
 *
 * @example
 * ```ts
 * const { elf64 } = await buildGuests();
 * const run = await runQemu({ kernel: elf64, smp: 2, legacy: false, append: guestParams({ expectCpus: 2 }) });
 * const report = parseReport(run.serial);
 * expect(report.summary?.fail).toBe(0);
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root, `guests/` and its build output. */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
export const GUESTS_DIR: string = join(REPO_ROOT, "guests");
export const GUESTS_BUILD_DIR: string = join(GUESTS_DIR, "build");

/** Paths of the two guest images. */
export interface GuestImages {
  /** ELF32 guest: stays in 32-bit protected mode, polls for virtio completions. */
  readonly elf32: string;
  /** ELF64 guest: 32-bit PVH entry, switches to long mode, takes interrupts through the IOAPIC. */
  readonly elf64: string;
}

let building: Promise<GuestImages> | undefined;

/**
 * Builds the guests with `make -C guests` (once per process; `flock` serialises concurrent
 * builds from parallel test workers). Rejects with make's output when the build fails.
 */
export function buildGuests(): Promise<GuestImages> {
  building ??= new Promise<GuestImages>((resolve, reject) => {
    mkdirSync(GUESTS_BUILD_DIR, { recursive: true });
    const lock = join(GUESTS_BUILD_DIR, ".lock");
    const hasFlock = spawnSync("flock", ["--version"], { stdio: "ignore" }).status === 0;
    const [cmd, args] = hasFlock
      ? ["flock", [lock, "make", "-s", "-C", GUESTS_DIR]]
      : ["make", ["-s", "-C", GUESTS_DIR]];
    const child = spawn(cmd, args as string[], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const images = { elf32: join(GUESTS_BUILD_DIR, "guest32.elf"), elf64: join(GUESTS_BUILD_DIR, "guest64.elf") };
      if (code === 0 && existsSync(images.elf32) && existsSync(images.elf64)) resolve(images);
      else reject(new Error(`guest build failed (exit ${code}):\n${out}`));
    });
  });
  return building;
}

// ---- report format ---------------------------------------------------------------------------

/** One `ok|fail <name> expected=<e> got=<g>` line. */
export interface Check {
  readonly status: "ok" | "fail";
  readonly name: string;
  readonly expected: string;
  readonly got: string;
  readonly line: number;
}

/** A parsed report. The last `summary` line wins (a failed `microvm.reboot=kbd` adds one). */
export interface Report {
  /** From `begin microvm-guest format=1 arch=<arch>`. */
  readonly header: { readonly format: number; readonly arch: string } | undefined;
  readonly checks: readonly Check[];
  /** `info ...` lines without the prefix. */
  readonly infos: readonly string[];
  /** `dump <addr> <16 bytes>` lines (microvm.dump=1). */
  readonly dumps: readonly { readonly addr: number; readonly bytes: Uint8Array }[];
  readonly summary: { readonly pass: number; readonly fail: number; readonly result: "PASS" | "FAIL" } | undefined;
  /** The `end` line was seen: the guest finished and went on to its triple fault. */
  readonly ended: boolean;
  /** Lines that match no known form (firmware noise, truncation): kept for diagnostics. */
  readonly other: readonly string[];
}

const CHECK_RE = /^(ok|fail) (\S+) expected=(\S*) got=(\S*)$/;
const SUMMARY_RE = /^summary pass=(\d+) fail=(\d+) result=(PASS|FAIL)$/;
const BEGIN_RE = /^begin microvm-guest format=(\d+) arch=(\S+)$/;
const DUMP_RE = /^dump ([0-9a-f]{8})((?: [0-9a-f]{2}){16})$/;

/** Parses a report (serial or virtio-console text). Carriage returns are ignored. */
export function parseReport(text: string): Report {
  let header: Report["header"];
  let summary: Report["summary"];
  let ended = false;
  const checks: Check[] = [];
  const infos: string[] = [];
  const dumps: { addr: number; bytes: Uint8Array }[] = [];
  const other: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line === "") return;
    let m: RegExpExecArray | null;
    if ((m = CHECK_RE.exec(line))) {
      checks.push({ status: m[1] as "ok" | "fail", name: m[2]!, expected: m[3]!, got: m[4]!, line: i + 1 });
    } else if (line.startsWith("info ")) {
      infos.push(line.slice(5));
    } else if ((m = SUMMARY_RE.exec(line))) {
      summary = { pass: Number(m[1]), fail: Number(m[2]), result: m[3] as "PASS" | "FAIL" };
    } else if ((m = BEGIN_RE.exec(line))) {
      header = { format: Number(m[1]), arch: m[2]! };
    } else if ((m = DUMP_RE.exec(line))) {
      dumps.push({ addr: parseInt(m[1]!, 16), bytes: Uint8Array.from(m[2]!.trim().split(" "), (h) => parseInt(h, 16)) });
    } else if (line === "end") {
      ended = true;
    } else {
      other.push(line);
    }
  });
  return { header, checks, infos, dumps, summary, ended, other };
}

/** The checks of a report that failed. */
export function failedChecks(report: Report): Check[] {
  return report.checks.filter((c) => c.status === "fail");
}

/** Finds a check by exact name. */
export function findCheck(report: Report, name: string): Check | undefined {
  return report.checks.find((c) => c.name === name);
}

/** A difference between two reports, as found by {@link compareReports}. */
export interface ReportDifference {
  readonly name: string;
  readonly a: Check | undefined;
  readonly b: Check | undefined;
}

/**
 * Compares the checks of two reports by name (so slot order does not matter): every name must be
 * in both, with the same status, expected and got. Names matching `allow` may differ in
 * expected/got (not in status); names matching `ignore` are skipped entirely.
 */
export function compareReports(
  a: Report,
  b: Report,
  opts: { readonly allow?: readonly RegExp[]; readonly ignore?: readonly RegExp[] } = {},
): ReportDifference[] {
  const allow = opts.allow ?? [];
  const ignore = opts.ignore ?? [];
  const map = (r: Report): Map<string, Check> => new Map(r.checks.map((c) => [c.name, c]));
  const ma = map(a);
  const mb = map(b);
  const names = [...new Set([...ma.keys(), ...mb.keys()])].filter((n) => !ignore.some((re) => re.test(n)));
  const diffs: ReportDifference[] = [];
  for (const name of names) {
    const ca = ma.get(name);
    const cb = mb.get(name);
    const same =
      ca !== undefined &&
      cb !== undefined &&
      ca.status === cb.status &&
      (allow.some((re) => re.test(name)) || (ca.expected === cb.expected && ca.got === cb.got));
    if (!same) diffs.push({ name, a: ca, b: cb });
  }
  return diffs;
}

// ---- parameters -----------------------------------------------------------------------------

/** FNV-1a 32-bit, the checksum the guests use for `initrd_sum` and `blk_sum`. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

/** Byte `i` of the sector the guest writes for `microvm.blk_write=<sector>`. */
export function blkPattern(sector: number, i: number): number {
  return (i * 7 + sector + 0x5a) & 0xff;
}

/** What the guest should expect; every field becomes one `microvm.*` parameter. */
export interface GuestExpectations {
  readonly expectCpus?: number;
  readonly memMib?: number;
  readonly memmapSorted?: boolean;
  readonly initrdSum?: number;
  readonly initrdSize?: number;
  readonly blkSum?: number;
  readonly blkSectors?: number;
  readonly blkWrite?: number;
  readonly virtioVersion?: 1 | 2;
  readonly virtioDevices?: number;
  readonly netIp?: string;
  readonly netArp?: string;
  readonly netArpMac?: string;
  readonly uart?: boolean;
  readonly irq?: boolean;
  readonly reboot?: "kbd";
  /** `microvm.dump=1` (the MPTable's window) or `microvm.dump=all` (both windows); dump mode skips SMP and devices. */
  readonly dump?: boolean | "all";
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** Builds the `microvm.*` part of the kernel command line. */
export function guestParams(e: GuestExpectations): string {
  const p: string[] = [];
  if (e.expectCpus !== undefined) p.push(`microvm.expect_cpus=${e.expectCpus}`);
  if (e.memMib !== undefined) p.push(`microvm.mem_mib=${e.memMib}`);
  if (e.memmapSorted !== undefined) p.push(`microvm.memmap_sorted=${e.memmapSorted ? 1 : 0}`);
  if (e.initrdSum !== undefined) p.push(`microvm.initrd_sum=${hex(e.initrdSum)}`);
  if (e.initrdSize !== undefined) p.push(`microvm.initrd_size=${e.initrdSize}`);
  if (e.blkSum !== undefined) p.push(`microvm.blk_sum=${hex(e.blkSum)}`);
  if (e.blkSectors !== undefined) p.push(`microvm.blk_sectors=${e.blkSectors}`);
  if (e.blkWrite !== undefined) p.push(`microvm.blk_write=${e.blkWrite}`);
  if (e.virtioVersion !== undefined) p.push(`microvm.virtio_version=${e.virtioVersion}`);
  if (e.virtioDevices !== undefined) p.push(`microvm.virtio_devices=${e.virtioDevices}`);
  if (e.netIp !== undefined) p.push(`microvm.net_ip=${e.netIp}`);
  if (e.netArp !== undefined) p.push(`microvm.net_arp=${e.netArp}`);
  if (e.netArpMac !== undefined) p.push(`microvm.net_arp_mac=${e.netArpMac}`);
  if (e.uart !== undefined) p.push(`microvm.uart=${e.uart ? 1 : 0}`);
  if (e.irq !== undefined) p.push(`microvm.irq=${e.irq ? 1 : 0}`);
  if (e.reboot !== undefined) p.push(`microvm.reboot=${e.reboot}`);
  if (e.dump) p.push(`microvm.dump=${e.dump === "all" ? "all" : 1}`);
  return p.join(" ");
}

/** Deterministic bytes (xorshift32), for disk images and initrds with known contents. */
export function testBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A scratch directory with a raw disk image and an initrd of known contents. */
export interface Fixture {
  readonly dir: string;
  readonly disk: string;
  readonly diskSectors: number;
  /** FNV-1a of the disk's sectors 0 and 1, for `blkSum`. */
  readonly diskSum: number;
  readonly initrd: string;
  readonly initrdSize: number;
  readonly initrdSum: number;
  cleanup(): void;
}

/** Creates a {@link Fixture}: a 64 KiB disk and an initrd of `initrdSize` bytes. */
export function makeFixture(initrdSize = 5000, diskSectors = 128): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "microvm-guests-"));
  const disk = join(dir, "disk.img");
  const diskBytes = testBytes(diskSectors * 512, 0x1234);
  writeFileSync(disk, diskBytes);
  const initrd = join(dir, "initrd.bin");
  const initrdBytes = testBytes(initrdSize, 0xbeef);
  writeFileSync(initrd, initrdBytes);
  return {
    dir,
    disk,
    diskSectors,
    diskSum: fnv1a(diskBytes.subarray(0, 1024)),
    initrd,
    initrdSize,
    initrdSum: fnv1a(initrdBytes),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---- QEMU -----------------------------------------------------------------------------------

/** True when /dev/kvm can be opened for reading and writing. */
export function kvmAvailable(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when qemu-system-x86_64 runs. */
export function qemuAvailable(): boolean {
  return spawnSync("qemu-system-x86_64", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * QEMU's accelerator: `kvm` (`-enable-kvm -cpu host,arch-capabilities=off`) or `tcg`, QEMU's own
 * CPU emulator (`-accel tcg -cpu max`), which needs no /dev/kvm.
 */
export type QemuAccel = "kvm" | "tcg";

/**
 * The accelerator QEMU runs get when {@link QemuOptions.accel} is not given: kvm when /dev/kvm is
 * usable, else tcg. `MICROVM_TEST_ACCEL=tcg` (or `=kvm`) forces one for every QEMU run of the
 * harness, e.g. to check the QEMU reference on TCG on a machine that has KVM:
 * `MICROVM_TEST_ACCEL=tcg pnpm exec vitest run --project repo test/guests/qemu.test.ts`.
 * `auto` or unset chooses; any other value throws.
 */
export function qemuAccel(env: string | undefined = process.env.MICROVM_TEST_ACCEL): QemuAccel {
  if (env === "kvm" || env === "tcg") return env;
  if (env === undefined || env === "" || env === "auto") return kvmAvailable() ? "kvm" : "tcg";
  throw new Error(`MICROVM_TEST_ACCEL=${env}: expected kvm, tcg or auto`);
}

/** The accelerator's part of the QEMU command line. */
export function accelArgs(accel: QemuAccel): string[] {
  return accel === "kvm" ? ["-enable-kvm", "-cpu", "host,arch-capabilities=off"] : ["-accel", "tcg", "-cpu", "max"];
}

/** One QEMU microvm run. */
export interface QemuOptions {
  readonly kernel: string;
  readonly smp?: number;
  readonly memMib?: number;
  /** `-global virtio-mmio.force-legacy=<legacy>`: true gives virtio-mmio version 1. */
  readonly legacy?: boolean;
  /** Kernel command line (QEMU appends the virtio_mmio.device= entries itself with acpi=off). */
  readonly append?: string;
  readonly initrd?: string;
  /** Raw disk image for a virtio-blk device. */
  readonly disk?: string;
  /** A virtio-serial-device with a virtconsole writing to this file. */
  readonly consoleFile?: string;
  readonly rng?: boolean;
  /** virtio-net on `-netdev user` (slirp answers ARP for 10.0.2.2). */
  readonly net?: boolean;
  /** The ISA 16550A on stdout (default true). Without it the report is on the console only. */
  readonly isaSerial?: boolean;
  /** Default {@link qemuAccel}(): kvm when /dev/kvm is usable, else tcg, unless MICROVM_TEST_ACCEL says. */
  readonly accel?: QemuAccel;
  readonly timeoutMs?: number;
}

/** The QEMU command line for {@link QemuOptions} (devices in the order: blk, console, rng, net). */
export function qemuArgs(o: QemuOptions): string[] {
  const args = [
    "-M",
    `microvm,acpi=off,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=${o.isaSerial === false ? "off" : "on"}`,
    ...accelArgs(o.accel ?? qemuAccel()),
    "-m",
    `${o.memMib ?? 128}m`,
    "-smp",
    String(o.smp ?? 1),
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-display",
    "none",
    ...(o.isaSerial === false ? [] : ["-serial", "stdio"]),
    "-kernel",
    o.kernel,
    "-append",
    o.append ?? "",
  ];
  if (o.initrd !== undefined) args.push("-initrd", o.initrd);
  if (o.legacy !== undefined) args.push("-global", `virtio-mmio.force-legacy=${o.legacy}`);
  if (o.disk !== undefined) {
    args.push("-drive", `if=none,id=d0,file=${o.disk},format=raw`, "-device", "virtio-blk-device,drive=d0");
  }
  if (o.consoleFile !== undefined) {
    args.push(
      "-device",
      "virtio-serial-device",
      "-chardev",
      `file,id=con0,path=${o.consoleFile}`,
      "-device",
      "virtconsole,chardev=con0",
    );
  }
  if (o.rng) args.push("-device", "virtio-rng-device");
  if (o.net) args.push("-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0");
  return args;
}

/** What a run produced. */
export interface RunResult {
  readonly args: readonly string[];
  /** What QEMU wrote to stdout: the ISA serial port, when there is one. */
  readonly serial: string;
  /** The virtio console's output, when a console file was given. */
  readonly console: string | undefined;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/** Runs QEMU with a timeout (default 30 s, then SIGKILL). Never rejects on a guest failure. */
export function runQemu(o: QemuOptions): Promise<RunResult> {
  const args = qemuArgs(o);
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
    let serial = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (serial += d.toString("latin1")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, o.timeoutMs ?? 30_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const console =
        o.consoleFile !== undefined && existsSync(o.consoleFile) ? readFileSync(o.consoleFile, "latin1") : undefined;
      resolve({ args, serial, console, stderr, code, signal, timedOut, durationMs: performance.now() - start });
    });
  });
}

// ---- the standard scenario (shared by the QEMU tests and the machine tests) -------------------

/** Sector the standard scenario writes (`microvm.blk_write`). */
export const STANDARD_WRITE_SECTOR = 5;
/** Memory of the standard scenario, in MiB. */
export const STANDARD_MEM_MIB = 128;
/** slirp's gateway, which answers ARP, and its MAC (libslirp derives it from the address). */
export const SLIRP_GATEWAY = "10.0.2.2";
export const SLIRP_GATEWAY_MAC = "52:55:0a:00:02:02";

/**
 * Expectations for the standard scenario: a blk (the fixture's disk), a console, an rng and a net
 * device, the fixture's initrd, `cpus` CPUs, and transports of `virtioVersion`.
 */
export function standardExpectations(fx: Fixture, cpus: number, virtioVersion: 1 | 2): GuestExpectations {
  return {
    expectCpus: cpus,
    memMib: STANDARD_MEM_MIB,
    initrdSum: fx.initrdSum,
    initrdSize: fx.initrdSize,
    blkSum: fx.diskSum,
    blkSectors: fx.diskSectors,
    blkWrite: STANDARD_WRITE_SECTOR,
    virtioVersion,
    virtioDevices: 4,
    netArp: SLIRP_GATEWAY,
    netArpMac: SLIRP_GATEWAY_MAC,
    uart: true,
  };
}

/**
 * Names of the checks a passing run of the standard scenario must contain, so a report that
 * silently skipped a part cannot pass. `legacyUart`: the scenario has the 16550A.
 */
export function requiredChecks(cpus: number, arch: "i386" | "x86_64", legacyUart = true): string[] {
  const names = [
    "start_info.magic",
    "start_info.version",
    "start_info.memmap",
    "start_info.memmap.overlap",
    "start_info.memmap.entries",
    "start_info.memmap.image",
    "start_info.memmap.ram_total",
    "start_info.cmdline",
    "start_info.cmdline.format",
    "start_info.initrd.size",
    "start_info.initrd.sum",
    "mptable.fp",
    "mptable.signature",
    "mptable.checksum",
    "mptable.spec",
    "mptable.walk",
    "mptable.cpus",
    "mptable.bsp",
    "mptable.ioapic",
    "smp.trampoline",
    "smp.count",
    "virtio.devices",
    "virtio.blk0.capacity",
    "virtio.blk0.read",
    "virtio.blk0.read.sum",
    "virtio.blk0.write",
    "virtio.blk0.readback",
    "virtio.blk0.flush",
    "virtio.console0.tx",
    "virtio.rng0.read",
    "virtio.net0.tx",
    "virtio.net0.arp",
  ];
  if (legacyUart) names.push("uart.present", "uart.scratch", "uart.fifo", "uart.lcr_dlab", "uart.lsr");
  if (legacyUart && arch === "x86_64") names.push("uart.irq", "uart.irq.iir");
  for (let apic = 1; apic < cpus; apic++) names.push(`smp.ap.${apic}`);
  for (const d of ["blk0", "console0", "rng0", "net0"]) {
    names.push(`mptable.route.${d}`);
    for (const c of ["magic", "version", "device_id", "reset", "queues", "status"]) names.push(`virtio.${d}.${c}`);
    names.push(`virtio.${d}.${arch === "x86_64" ? "irq" : "isr"}`);
  }
  return names;
}

/**
 * Differences {@link compareReports} should tolerate between QEMU's microvm and another board
 * running the standard scenario: the ARP answer's MAC depends on the network back end, and QEMU
 * cannot pass `start_info.memmap.sorted` (qboot's map is unsorted under KVM), so a board that is
 * asked for it has one check more. Everything else VMM-specific is on `info` lines.
 *
 * QEMU on TCG (`-accel tcg -cpu max`, see {@link qemuAccel}) needs no entry here: compared with
 * QEMU on KVM, every check of the standard scenario has the same status, expected and got (both
 * guests, force-legacy true/false, -smp 1 and 4, checked with compareReports on QEMU 7.2). Only
 * `info` lines differ: without KVM, QEMU adds no reserved e820 entry for KVM's EPT identity map
 * and TSS at [0xfeffc000,+16K) (target/i386/kvm/kvm.c, kvm_arch_init), so qboot's map has 6
 * entries and is in ascending order (`info memmap order=ascending`; still no `memmap.sorted`
 * check, as QEMU passes no flag); the MPTable's CPU signature and feature words are `-cpu max`'s;
 * interrupt counts (`info virtio.<dev> irq count=`) depend on timing.
 */
export const REFERENCE_DIFFERENCES: { readonly allow: readonly RegExp[]; readonly ignore: readonly RegExp[] } = {
  allow: [/^virtio\.net\d+\.arp$/],
  ignore: [/^start_info\.memmap\.sorted$/],
};

/** A run and its parsed report (from the serial port, or the console when there is no serial). */
export interface GuestRun {
  readonly result: RunResult;
  readonly report: Report;
}

/**
 * Runs a guest under QEMU's microvm in the standard scenario (blk, console, rng, net), with
 * `extra` overriding the standard expectations. The report is read from the serial port, or from
 * the virtio console when `isaSerial` is false.
 */
export async function runStandardOnQemu(o: {
  readonly kernel: string;
  readonly fixture: Fixture;
  readonly cpus: number;
  readonly legacy: boolean;
  readonly extra?: GuestExpectations;
  readonly isaSerial?: boolean;
  readonly tag?: string;
  /** Default {@link qemuAccel}(). */
  readonly accel?: QemuAccel;
}): Promise<GuestRun> {
  const fx = o.fixture;
  const result = await runQemu({
    kernel: o.kernel,
    smp: o.cpus,
    memMib: STANDARD_MEM_MIB,
    legacy: o.legacy,
    isaSerial: o.isaSerial ?? true,
    append: guestParams({ ...standardExpectations(fx, o.cpus, o.legacy ? 1 : 2), ...o.extra }),
    initrd: fx.initrd,
    disk: fx.disk,
    consoleFile: join(fx.dir, `console${o.tag ?? ""}-${Date.now()}.txt`),
    rng: true,
    net: true,
    accel: o.accel ?? qemuAccel(),
    timeoutMs: 30_000,
  });
  const text = o.isaSerial === false ? (result.console ?? "") : result.serial;
  return { result, report: parseReport(text) };
}

/** A readable account of a run for assertion messages: exit, failed checks, stderr, last lines. */
export function describeRun(r: RunResult, report: Report): string {
  return [
    `exit=${r.code} signal=${r.signal} timedOut=${r.timedOut} ${Math.round(r.durationMs)}ms`,
    ...failedChecks(report).map((c) => `fail ${c.name} expected=${c.expected} got=${c.got}`),
    r.stderr.trim(),
    (r.serial || (r.console ?? "")).split("\n").slice(-5).join("\n"),
  ].join("\n");
}
