// The Linux recipe (scripts/linux/, docs/linux.md): the kernel it builds from Debian's linux-source
// has the options its config fragment asks for and loads through @microvm/pvh; on this host our
// CLI, run with the seed's legacy invocation, reaches the same early kernel lines as QEMU's microvm
// with the same kernel; and, opt-in (MICROVM_LINUX_E2E=1), the kernel boots to the initramfs's
// one-line device report.
//
// Building takes minutes, so a fresh checkout reports the KVM tests as skipped with the reason,
// never as passed; MICROVM_BUILD_LINUX=1 builds the kernel first (scripts/linux/build-kernel.sh).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { constants, copyFileSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, type ReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { readPvhKernel } from "@microvm/pvh";
import { qemuArgs, qemuAvailable } from "../../../test/guests/harness.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PKG = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(PKG, "dist", "cli.js");
const BUILD = join(ROOT, "scripts", "linux", "build-kernel.sh");
const FRAGMENT = join(ROOT, "scripts", "linux", "microvm.config");
const INIT = join(ROOT, "scripts", "linux", "init");
/** How long each early-boot run may take on this host before it is stopped. */
const LIMIT_MS = 240_000;
const CMDLINE = "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1";

interface Artifacts {
  readonly vmlinux: string;
  readonly initramfs: string;
  readonly disk: string;
  readonly dir: string;
}

/** The build script's `key=path` lines; undefined when it says "not built" (exit 3). */
function artifacts(build: boolean): Artifacts | undefined {
  const r = spawnSync("bash", [BUILD, ...(build ? [] : ["--print"])], {
    encoding: "utf8",
    env: { ...process.env, JOBS: process.env["JOBS"] ?? "2" },
    stdio: ["ignore", "pipe", build ? "inherit" : "pipe"],
    timeout: 3 * 3600_000,
  });
  if (!build && (r.status === 3 || r.error !== undefined)) return undefined; // not built, or no bash
  if (r.status !== 0) throw new Error(`${BUILD} failed (status ${r.status}):\n${r.stderr ?? ""}`);
  const kv = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  const vmlinux = kv["vmlinux"];
  const initramfs = kv["initramfs"];
  const disk = kv["disk"];
  if (!vmlinux || !initramfs || !disk) throw new Error(`unexpected output of ${BUILD}:\n${r.stdout}`);
  return { vmlinux, initramfs, disk, dir: join(vmlinux, "..") };
}

const wantBuild = process.env["MICROVM_BUILD_LINUX"] === "1";
const prebuilt = wantBuild ? undefined : artifacts(false);
const notBuilt = prebuilt === undefined && !wantBuild
  ? "the recipe's kernel is not built here: run scripts/linux/build-kernel.sh or set MICROVM_BUILD_LINUX=1"
  : undefined;
let built: Artifacts | undefined = prebuilt;
function getArtifacts(): Artifacts {
  built ??= artifacts(true);
  if (built === undefined) throw new Error("build-kernel.sh built nothing");
  return built;
}

const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const isRoot = process.getuid?.() === 0;
const tapMissing = !isRoot ? "not root: a tap device needs CAP_NET_ADMIN" : !existsSync("/dev/net/tun") ? "/dev/net/tun missing" : undefined;
const skipReason = (...reasons: (string | undefined)[]): string | undefined => reasons.find((r) => r !== undefined);
const title = (what: string, reason: string | undefined): string => (reason ? `${what} (skipped: ${reason})` : what);

/** Rebuilds dist/cli.js when a source file is newer (as test/cli.test.ts does). */
function ensureCliBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => statSync(join(e.parentPath, e.name)).mtimeMs));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest(join(PKG, "src"))) return;
  const r = spawnSync("pnpm", ["-s", "run", "build"], { cwd: PKG, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the CLI failed:\n${r.stdout}${r.stderr}`);
}

// ---- the milestones of an early boot --------------------------------------------------------------

// Each pattern is a line the 6.1 kernel prints, with its source:
const MILESTONES = [
  // init/version.c linux_banner, printed first by start_kernel().
  ["banner", /Linux version 6\.1\.\d+/],
  // arch/x86/kernel/setup.c setup_arch(): "Command line: %s".
  ["command line", new RegExp(`Command line: ${CMDLINE}`)],
  // arch/x86/kernel/e820.c e820__print_table(): low RAM below the MPTable, and RAM from 1 MiB
  // to the end of the 512 MiB both machines are given.
  ["e820 low RAM", /BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable/],
  ["e820 RAM from 1 MiB", /BIOS-e820: \[mem 0x0000000000100000-0x000000001fffffff\] usable/],
  // arch/x86/kernel/mpparse.c: smp_read_mpc()/MP_processor_info()/MP_ioapic_info().
  ["MP spec", /Intel MultiProcessor Specification v1\.4/],
  ["CPU 0", /Processor #0 \(Bootup-CPU\)/],
  ["CPU 1", /Processor #1\b/],
  ["IOAPIC", /IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-\d+/],
  // arch/x86/kernel/smpboot.c / mpparse.c: the CPU count the kernel settled on.
  ["Processors: 2", /Processors: 2\b/],
  // kernel/printk/printk.c register_console(): the 8250 console (SERIAL_8250_CONSOLE) takes over
  // from earlyprintk, in console_init().
  ["console ttyS0", /printk: console \[ttyS0\] enabled/],
  // arch/x86/kernel/fpu/xstate.c print_xstate_features() (or fpu/init.c "x87 FPU will use FXSAVE"
  // with noxsave): the FPU set-up that this host's KVM emulator cannot run (XRSTOR), see docs/linux.md.
  ["x86/fpu", /x86\/fpu: /],
  // drivers/virtio/virtio_mmio.c vm_cmdline_set(): one line per virtio_mmio.device= entry.
  ["virtio-mmio devices", /virtio-mmio: Registering device virtio-mmio\.1 at 0x/],
  // init/main.c run_init_process() ("Run %s as init process").
  ["run /init", /Run \/init as init process/],
  // scripts/linux/init's result line.
  ["initramfs result", /microvm-linux: blk=\w+ net=\w+ console=\w+ rng=\w+/],
] as const satisfies readonly (readonly [string, RegExp])[];
type Milestone = (typeof MILESTONES)[number][0];
/** The lines both machines must reach: banner to MPTable. */
const EARLY: readonly Milestone[] = ["banner", "command line", "e820 low RAM", "e820 RAM from 1 MiB", "MP spec", "CPU 0", "CPU 1", "IOAPIC"];

interface BootRun {
  readonly who: string;
  readonly text: string;
  readonly stderr: string;
  /** Milestone → milliseconds after the process was spawned. */
  readonly seen: ReadonlyMap<Milestone, number>;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly ms: number;
}

interface WatchOptions {
  /** Stop the process (SIGTERM) shortly after its stderr matches: QEMU pauses, rather than exits, on a KVM internal error. */
  readonly stopOnStderr?: RegExp;
  /** Called with the stderr text so far, on every chunk. */
  readonly onStderr?: (text: string) => void;
}

/**
 * Spawns a VMM, watches its stdout (the guest's UART) for the milestones, and stops it (SIGTERM,
 * then SIGKILL) at `limitMs`.
 */
function watchBoot(who: string, cmd: string, args: readonly string[], limitMs: number, o: WatchOptions = {}): Promise<BootRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent" } });
    let text = "";
    let stderr = "";
    let timedOut = false;
    const seen = new Map<Milestone, number>();
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      for (const [name, re] of MILESTONES) if (!seen.has(name) && re.test(text)) seen.set(name, performance.now() - t0);
    });
    let killer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      child.kill("SIGTERM"); // the CLI stops the machine and removes its tap on SIGTERM
      killer ??= setTimeout(() => child.kill("SIGKILL"), 10_000);
    };
    let stopping = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      o.onStderr?.(stderr);
      if (!stopping && o.stopOnStderr?.test(stderr)) {
        stopping = true;
        setTimeout(stop, 1000); // let the register dump finish
      }
    });
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limitMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({ who, text, stderr, seen, code, signal, timedOut, ms: performance.now() - t0 });
    });
  });
}

function describeRun(r: BootRun): string {
  const rows = MILESTONES.map(([n]) => `  ${n.padEnd(22)} ${r.seen.has(n) ? `${((r.seen.get(n) ?? 0) / 1000).toFixed(1)} s` : "-"}`);
  const end = r.timedOut ? `stopped at ${(r.ms / 1000).toFixed(0)} s` : `exited (${r.code ?? r.signal}) at ${(r.ms / 1000).toFixed(1)} s`;
  return `${r.who}: ${end}\n${rows.join("\n")}\n  last serial line: ${JSON.stringify(r.text.trimEnd().split("\n").pop() ?? "")}\n  stderr: ${JSON.stringify(r.stderr.trim().slice(-300))}`;
}

/** Every line matching `re`, with the printk timestamp removed. */
const linesOf = (text: string, re: RegExp): string[] =>
  text.split(/\r?\n/).filter((l) => re.test(l)).map((l) => l.replace(/^\[\s*\d+\.\d+\]\s*/, "").trim());

/** The seed's legacy invocation (README of the seed: `-M microvm,legacy … -serial stdio`) plus our initramfs. */
function seedLegacyArgs(a: Artifacts, disk: string, append: string, extra: readonly string[] = []): string[] {
  return [
    CLI, "-M", "microvm,legacy", "-m", "512m", "-smp", "2", "-kernel", a.vmlinux, "-append", append,
    "-nodefaults", "-no-user-config", "-drive", `id=test,file=${disk},format=raw,if=none`,
    "-device", "virtio-blk-device,drive=test",
    ...(tapMissing === undefined ? ["-netdev", "tap,id=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=tap0"] : []),
    "-serial", "stdio", "-initrd", a.initramfs, ...extra,
  ];
}

// ---- the artifacts -----------------------------------------------------------------------------

describe.skipIf(notBuilt !== undefined)(title("the recipe's kernel, initramfs and disk", notBuilt), () => {
  let a: Artifacts;
  beforeAll(() => {
    a = getArtifacts();
  }, 3 * 3600_000);

  it("the kernel's .config has every option of microvm.config (and no modules)", () => {
    const config = readFileSync(join(a.dir, "config"), "utf8").split("\n");
    const fragment = readFileSync(FRAGMENT, "utf8").split("\n");
    const wanted = fragment.filter((l) => /^CONFIG_\w+=/.test(l));
    const off = fragment.flatMap((l) => /^# (CONFIG_\w+) is not set$/.exec(l)?.[1] ?? []);
    // The options issue 9 names, so that the fragment cannot silently lose one.
    for (const o of ["64BIT", "PVH", "SMP", "X86_MPPARSE", "VIRTIO_MMIO", "VIRTIO_MMIO_CMDLINE_DEVICES", "VIRTIO_BLK", "VIRTIO_NET", "VIRTIO_CONSOLE", "HW_RANDOM_VIRTIO", "SERIAL_8250", "SERIAL_8250_CONSOLE", "PRINTK", "EARLY_PRINTK", "TTY", "DEVTMPFS", "DEVTMPFS_MOUNT", "EXT4_FS", "BLK_DEV_INITRD", "BINFMT_ELF", "BINFMT_SCRIPT", "PROC_FS", "SYSFS", "NET", "INET"]) {
      expect(wanted, `microvm.config asks for CONFIG_${o}`).toContain(`CONFIG_${o}=y`);
    }
    expect(off).toContain("CONFIG_MODULES");
    expect(wanted.filter((l) => !config.includes(l)), "options kconfig dropped").toEqual([]);
    expect(off.filter((s) => config.some((l) => l.startsWith(`${s}=`))), "options that should be off").toEqual([]);
  });

  it("the vmlinux loads through @microvm/pvh at the PVH entry readelf and nm find", () => {
    const bytes = new Uint8Array(readFileSync(a.vmlinux));
    const k = readPvhKernel(bytes, { ram: [{ start: 0, size: 512 * 2 ** 20 }] });
    expect(k.elfClass).toBe(64);
    expect(k.machine).toBe(62);
    // Independent reading 1: binutils' readelf prints the XEN_ELFNOTE_PHYS32_ENTRY (type 18)
    // descriptor bytes, little-endian (include/xen/interface/elfnote.h).
    const notes = execFileSync("readelf", ["-n", "--wide", a.vmlinux], { encoding: "utf8" });
    const entries: bigint[] = [];
    for (const hit of notes.matchAll(/Xen\s+0x0000000[48]\s+([^\n]*?)\s+description data: ((?:[0-9a-f]{2} ?)+)/g)) {
      if (!/0x00000012|PHYS32/.test(hit[1] ?? "")) continue;
      entries.push(BigInt(`0x${(hit[2] ?? "").trim().split(" ").reverse().join("")}`));
    }
    expect(entries, `readelf -n found no PHYS32_ENTRY note:\n${notes}`).toHaveLength(1);
    expect(k.entry).toBe(entries[0]);
    // Independent reading 2: the note holds pvh_start_xen's physical address
    // (arch/x86/platform/pvh/head.S: ELFNOTE(Xen, XEN_ELFNOTE_PHYS32_ENTRY, _ASM_PTR (pvh_start_xen - __START_KERNEL_map))).
    const nm = execFileSync("nm", [a.vmlinux], { encoding: "utf8", maxBuffer: 64 << 20 });
    const sym = /^([0-9a-f]+) [tT] pvh_start_xen$/m.exec(nm);
    expect(sym, "nm: pvh_start_xen").not.toBeNull();
    expect(k.entry).toBe(BigInt(`0x${sym?.[1]}`) - 0xffffffff80000000n); // __START_KERNEL_map, arch/x86/include/asm/page_64_types.h
    expect(k.physStart).toBe(0x1000000n); // CONFIG_PHYSICAL_START's default, arch/x86/Kconfig
  });

  it("the initramfs holds /init (scripts/linux/init), a static busybox and /dev/console", () => {
    const list = execFileSync("cpio", ["-itv", "--quiet"], { input: readFileSync(a.initramfs), encoding: "utf8" });
    expect(list).toMatch(/^-rwxr-xr-x .* init$/m);
    expect(list).toMatch(/^-rwxr-xr-x .* bin\/busybox$/m);
    expect(list).toMatch(/^crw------- .* 5,\s+1 .* dev\/console$/m);
    for (const applet of ["sh", "mount", "ip", "reboot"]) expect(list).toMatch(new RegExp(`^l.* bin/${applet} -> busybox$`, "m"));
    const dir = mkdtempSync(join(tmpdir(), "microvm-initramfs-"));
    try {
      execFileSync("cpio", ["-id", "--quiet", "init"], { cwd: dir, input: readFileSync(a.initramfs) });
      expect(readFileSync(join(dir, "init"), "utf8")).toBe(readFileSync(INIT, "utf8"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the disk is ext4 with the line the init checks", () => {
    const out = execFileSync("debugfs", ["-R", "cat /microvm-check", a.disk], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(out).toBe("microvm-linux-disk\n");
  });
});

// ---- early boot on this host: ours vs QEMU -------------------------------------------------------

const compareSkip = skipReason(notBuilt, kvmMissing, qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed");
describe.skipIf(compareSkip !== undefined)(
  title("the recipe's kernel on this host: our CLI (seed's legacy invocation) reaches QEMU microvm's early lines", compareSkip),
  () => {
    let a: Artifacts;
    let dir: string;
    let qemu: BootRun | undefined;
    beforeAll(() => {
      a = getArtifacts();
      ensureCliBuilt();
      dir = mkdtempSync(join(tmpdir(), "microvm-linux-"));
    }, 3 * 3600_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("QEMU 7.2 -M microvm with the same kernel, initramfs and devices (the reference)", async () => {
      const disk = join(dir, "qemu.img");
      copyFileSync(a.disk, disk);
      // docs/architecture.md §4: QEMU's microvm as the reference peer (qboot, acpi=off so that QEMU puts
      // the virtio_mmio.device= entries on the command line itself); blk and net, as in ours.
      const args = qemuArgs({ kernel: a.vmlinux, initrd: a.initramfs, smp: 2, memMib: 512, append: CMDLINE, disk, net: true });
      // QEMU prints "emulation failure" and pauses the guest when KVM cannot emulate an instruction
      // (accel/kvm/kvm-all.c kvm_handle_internal_error); the run ends there.
      qemu = await watchBoot("QEMU microvm", "qemu-system-x86_64", args, LIMIT_MS, { stopOnStderr: /emulation failure|KVM internal error/ });
      console.log(describeRun(qemu));
      const missing = EARLY.filter((n) => !qemu?.seen.has(n));
      expect(missing, `QEMU did not print the early lines; serial tail:\n${qemu.text.slice(-2000)}`).toEqual([]);
    }, LIMIT_MS + 60_000);

    it("ours: the same banner, command line, e820 RAM, MPTable (and virtio-mmio lines when QEMU gets there)", async () => {
      const disk = join(dir, "ours.img");
      copyFileSync(a.disk, disk);
      const ours = await watchBoot("microvm CLI", process.execPath, seedLegacyArgs(a, disk, CMDLINE), LIMIT_MS);
      console.log(describeRun(ours));
      expect(qemu, "the QEMU run came first").toBeDefined();
      const ref = qemu as BootRun;
      // Every milestone QEMU's run reached, ours reaches too (on this nested host both stop at the
      // same instruction the KVM emulator cannot run; on hardware KVM both run to the result line).
      const want = MILESTONES.map(([n]) => n).filter((n) => ref.seen.has(n));
      expect(want.filter((n) => !ours.seen.has(n)), `ours stopped early; serial tail:\n${ours.text.slice(-2000)}\nstderr:\n${ours.stderr.slice(-1000)}`).toEqual([]);
      // The same kernel on the same CPU model: the banner lines are identical, and so is the usable
      // RAM (reserved ranges and device addresses legitimately differ, docs/architecture.md §4).
      expect(linesOf(ours.text, /Linux version/)).toEqual(linesOf(ref.text, /Linux version/));
      expect(linesOf(ours.text, /BIOS-e820: .* usable/)).toEqual(linesOf(ref.text, /BIOS-e820: .* usable/));
      expect(linesOf(ours.text, /Processor #\d+/).length).toBe(2);
      if (ref.seen.has("virtio-mmio devices") && ours.seen.has("virtio-mmio devices")) {
        const count = (t: string): number => linesOf(t, /virtio-mmio: Registering device/).length;
        expect(count(ours.text)).toBe(count(ref.text));
      }
      // When the emulator stops both, it stops them on the same instruction bytes: QEMU prints
      // KVM_EXIT_INTERNAL_ERROR's data as "extra data[1]: 0x…" (accel/kvm/kvm-all.c), our CLI as a
      // JSON array. The second word is insn_size and the first instruction bytes (include/uapi/linux/kvm.h,
      // kvm_run.emulation_failure; filled by arch/x86/kvm/x86.c prepare_emulation_failure_exit).
      const qemuInsn = /extra data\[1\]: (0x[0-9a-f]+)/.exec(ref.stderr)?.[1];
      const oursInsn = /"data":\["[^"]*","(0x[0-9a-f]+)"/.exec(ours.stderr)?.[1];
      // Whether each run stopped on KVM_EXIT_INTERNAL_ERROR, by markers independent of how the
      // data is printed. A run that stopped there must print the word in the format parsed above:
      // a changed format fails here rather than silently skipping the comparison.
      const qemuStopped = /KVM internal error|emulation failure/.test(ref.stderr);
      const oursStopped = /internal-error/.test(ours.stderr);
      if (qemuStopped) expect(qemuInsn, `QEMU stopped on an internal error, but no "extra data[1]: 0x…" line in its stderr:\n${ref.stderr.slice(-1000)}`).toBeDefined();
      if (oursStopped) expect(oursInsn, `ours stopped on an internal error, but no "data":["…","0x…" in its stderr:\n${ours.stderr.slice(-1000)}`).toBeDefined();
      if (qemuStopped && oursStopped) expect(BigInt(oursInsn!)).toBe(BigInt(qemuInsn!));
      const ranOn = [qemuStopped ? "" : "QEMU", oursStopped ? "" : "ours"].filter((w) => w !== "").join(" and ");
      console.log(ranOn === "" ? `emulation failure instruction word: QEMU ${qemuInsn}, ours ${oursInsn}` : `emulation failure instruction word not compared: ${ranOn} did not stop on an internal error`);
    }, LIMIT_MS + 60_000);
  },
);

// ---- the recipe end to end, without KVM: QEMU's TCG ---------------------------------------------

// This host's KVM cannot run the kernel past its FPU set-up (see above), so the kernel config and
// the initramfs are proven here by QEMU's microvm under TCG, QEMU's own CPU emulator, which has no
// such gaps: the whole boot to the result line takes seconds. The machine is QEMU's, not ours.
const tcgSkip = skipReason(notBuilt, qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed");
describe.skipIf(tcgSkip !== undefined)(title("the recipe's kernel and initramfs end to end on QEMU microvm under TCG (no KVM)", tcgSkip), () => {
  let a: Artifacts;
  let dir: string;
  beforeAll(() => {
    a = getArtifacts();
    dir = mkdtempSync(join(tmpdir(), "microvm-linux-tcg-"));
  }, 3 * 3600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** QEMU microvm under TCG: qboot, MPTable, acpi=off so QEMU writes the virtio_mmio.device= entries. */
  const tcgArgs = (devices: readonly string[]): string[] => [
    // TCG has no kvmclock, so the PIT and PIC stay on for the TSC calibration.
    "-M", "microvm,acpi=off,x-option-roms=off,rtc=off,isa-serial=on", "-accel", "tcg", "-cpu", "max",
    "-m", "512m", "-smp", "2", "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none", "-serial", "stdio",
    "-kernel", a.vmlinux, "-initrd", a.initramfs, "-append", CMDLINE, ...devices,
  ];

  it("blk, net, console and rng: the init prints blk=ok net=ok console=ok rng=ok, the console line reaches the host, reboot=t ends QEMU", async () => {
    const disk = join(dir, "tcg.img");
    copyFileSync(a.disk, disk);
    const con = join(dir, "console.txt");
    const run = await watchBoot("QEMU microvm (TCG)", "qemu-system-x86_64", tcgArgs([
      "-drive", `if=none,id=d0,file=${disk},format=raw`, "-device", "virtio-blk-device,drive=d0",
      "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
      "-device", "virtio-serial-device", "-chardev", `file,id=con0,path=${con}`, "-device", "virtconsole,chardev=con0",
      "-device", "virtio-rng-device",
    ]), 180_000);
    console.log(describeRun(run));
    expect(run.timedOut, `serial tail:\n${run.text.slice(-2000)}`).toBe(false);
    expect(run.code, run.stderr).toBe(0); // -no-reboot: the guest's reset ends QEMU with status 0
    expect(linesOf(run.text, /microvm-linux: blk=/)).toEqual(["microvm-linux: blk=ok net=ok console=ok rng=ok"]);
    expect(linesOf(run.text, /virtio-mmio: Registering device/)).toHaveLength(4);
    // The hvc tty's default ONLCR turns the newline into CR LF (drivers/tty/tty_io.c tty_std_termios).
    expect(readFileSync(con, "latin1")).toBe("microvm-linux: hello from hvc0\r\n");
    expect(run.text).toMatch(/reboot: (Restarting system|machine restart)/); // kernel/reboot.c, arch/x86/kernel/reboot.c
  }, 240_000);

  it("negative control: with no devices every check says fail", async () => {
    const run = await watchBoot("QEMU microvm (TCG), no devices", "qemu-system-x86_64", tcgArgs([]), 180_000);
    console.log(describeRun(run));
    expect(run.timedOut, `serial tail:\n${run.text.slice(-2000)}`).toBe(false);
    expect(linesOf(run.text, /microvm-linux: blk=/)).toEqual(["microvm-linux: blk=fail net=fail console=fail rng=fail"]);
  }, 240_000);
});

// ---- opt-in: the whole boot to the initramfs's report --------------------------------------------

const e2eSkip = skipReason(
  process.env["MICROVM_LINUX_E2E"] === "1" ? undefined : "opt-in: set MICROVM_LINUX_E2E=1 on a host with hardware KVM (a nested, emulated KVM does not boot Linux in useful time)",
  notBuilt,
  kvmMissing,
  tapMissing,
);
describe.skipIf(e2eSkip !== undefined)(title("the recipe's kernel boots to its initramfs report with blk, net (tap), console and rng", e2eSkip), () => {
  let a: Artifacts;
  let dir: string;
  beforeAll(() => {
    a = getArtifacts();
    ensureCliBuilt();
    dir = mkdtempSync(join(tmpdir(), "microvm-linux-e2e-"));
  }, 3 * 3600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("microvm CLI, legacy seed invocation + virtio console (pty) + virtio-rng: blk=ok net=ok console=ok rng=ok, then the triple fault ends it", async () => {
    const disk = join(dir, "disk.img");
    copyFileSync(a.disk, disk);
    const limit = Number(process.env["MICROVM_LINUX_E2E_TIMEOUT_MS"] ?? 120_000);
    const extra = ["-chardev", "pty,id=con0", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=con0", "-device", "virtio-rng-device"];
    // The CLI names the pty as QEMU does ("char device redirected to /dev/pts/N (label con0)");
    // the virtio console's line is read from its other side.
    let hvc = "";
    let pty: ReadStream | undefined;
    const run = await watchBoot("microvm CLI", process.execPath, seedLegacyArgs(a, disk, CMDLINE, extra), limit, {
      onStderr: (text) => {
        const path = /char device redirected to (\S+) \(label con0\)/.exec(text)?.[1];
        if (path === undefined || pty !== undefined) return;
        pty = createReadStream(path, { fd: openSync(path, constants.O_RDONLY | constants.O_NOCTTY) });
        pty.on("data", (d) => (hvc += d.toString()));
        pty.on("error", () => undefined); // EIO once the CLI closes the master
      },
    });
    pty?.destroy();
    console.log(describeRun(run));
    expect(run.timedOut, `no result within ${limit} ms; serial tail:\n${run.text.slice(-2000)}`).toBe(false);
    expect(linesOf(run.text, /microvm-linux: blk=/), `serial tail:\n${run.text.slice(-2000)}\nstderr:\n${run.stderr}`).toEqual(["microvm-linux: blk=ok net=ok console=ok rng=ok"]);
    expect(run.code, run.stderr).toBe(0); // reboot -f with reboot=t: a triple fault, a clean end
    expect(hvc).toContain("microvm-linux: hello from hvc0"); // the line reached the host's side of the console
  }, 600_000);
});
