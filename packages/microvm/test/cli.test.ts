// The `microvm` CLI, as a user runs it: the built bin (dist/cli.js, rebuilt here when the sources
// are newer) spawned with the seed's command lines, a real image file, a real tap device (root
// only) and a pty for the terminal tests. Parser rules are tested on parseCommandLine directly.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import {
  blkPattern,
  buildGuests,
  failedChecks,
  findCheck,
  fnv1a,
  guestParams,
  parseReport,
  qemuAvailable,
  testBytes,
  type GuestImages,
} from "../../../test/guests/harness.ts";
import { parseCommandLine, parseMemorySize, type CliConfig, type DriveConfig } from "../src/cli/args.js";
import { lockImage } from "../src/node/image.js";
import { openTap } from "../src/node/tap.js";
import { HALT_FOREVER, TRIPLE_FAULT, tinyKernel } from "./helpers.js";

const PKG = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(PKG, "dist", "cli.js");
const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const isRoot = process.getuid?.() === 0;
const hasIp = spawnSync("ip", ["-V"], { stdio: "ignore" }).status === 0;
const tapSkip = !isRoot ? "not root: creating a tap needs CAP_NET_ADMIN" : !hasIp ? "iproute2 (ip) not installed" : !existsSync("/dev/net/tun") ? "/dev/net/tun missing" : undefined;
const pythonOk = spawnSync("python3", ["-c", "import pty, termios"], { stdio: "ignore" }).status === 0;
/** A kernel that echoes every byte the COM1 UART receives (polling LSR.DR, then LSR.THRE) until a 'q'. */
const ECHO_UNTIL_Q = `
1:	mov $0x3fd, %dx
	inb %dx, %al
	test $1, %al
	jz 1b
	mov $0x3f8, %dx
	inb %dx, %al
	mov %al, %bl
2:	mov $0x3fd, %dx
	inb %dx, %al
	test $0x20, %al
	jz 2b
	mov $0x3f8, %dx
	mov %bl, %al
	outb %al, %dx
	cmp $'q', %bl
	jne 1b
${TRIPLE_FAULT}`;
const seed = readFileSync(new URL("./vectors/seed-mtree-normal.txt", import.meta.url), "utf8").trimEnd().split("\n");

function config(argv: string[], env: Record<string, string> = { HOME: "/nonexistent" }): CliConfig {
  const c = parseCommandLine(argv, env);
  if (c.action !== "run") throw new Error(`expected a run, got ${c.action}`);
  return c.config;
}
function parseError(argv: string[], env: Record<string, string> = { HOME: "/nonexistent" }): string {
  try {
    parseCommandLine(argv, env);
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

const NORMAL_SEED = (kernel: string, append: string, img: string, tapExtra = ""): string[] => [
  "-M", "microvm", "-m", "512m", "-smp", "2", "-kernel", kernel, "-append", append,
  "-nodefaults", "-no-user-config", "-chardev", "pty,id=virtiocon0,server", "-device", "virtio-serial-device",
  "-device", "virtconsole,chardev=virtiocon0", "-drive", `id=test,file=${img},format=raw,if=none`,
  "-device", "virtio-blk-device,drive=test", "-netdev", `tap,id=tap0,script=no,downscript=no${tapExtra}`,
  "-device", "virtio-net-device,netdev=tap0",
];
const LEGACY_SEED = (kernel: string, append: string, img: string, tapExtra = ""): string[] => [
  "-M", "microvm,legacy", "-m", "512m", "-smp", "2", "-kernel", kernel, "-append", append,
  "-nodefaults", "-no-user-config", "-drive", `id=test,file=${img},format=raw,if=none`,
  "-device", "virtio-blk-device,drive=test", "-netdev", `tap,id=tap0,script=no,downscript=no${tapExtra}`,
  "-device", "virtio-net-device,netdev=tap0", "-serial", "stdio",
];

describe("parseCommandLine: the seed's flags", () => {
  it("reads the seed's normal-mode invocation flag for flag", () => {
    const c = config(NORMAL_SEED("vmlinux", "console=hvc0 root=/dev/vda", "test.img"));
    expect(c).toMatchObject({ legacy: false, memory: 512n * 2n ** 20n, cpus: 2, kernel: "vmlinux", append: "console=hvc0 root=/dev/vda", nodefaults: true, noUserConfig: true, serial: "none" });
    expect(c.chardevs).toEqual([{ id: "virtiocon0", backend: "pty" }]);
    expect(c.drives).toEqual([{ id: "test", file: "test.img", readOnly: false }]);
    expect(c.netdevs).toEqual([{ type: "tap", id: "tap0" }]);
    expect(c.devices).toEqual([{ kind: "console", backend: "virtiocon0" }, { kind: "blk", backend: "test" }, { kind: "net", backend: "tap0" }]);
  });

  it("reads the seed's legacy-mode invocation flag for flag", () => {
    const c = config(LEGACY_SEED("vmlinux", "console=ttyS0 root=/dev/vda", "test.img"));
    expect(c).toMatchObject({ legacy: true, serial: "stdio", cpus: 2, memory: 512n * 2n ** 20n });
    expect(c.devices).toEqual([{ kind: "blk", backend: "test" }, { kind: "net", backend: "tap0" }]);
  });

  it("reads QEMU's -m sizes: suffixes, plain MiB, size=, rounding to 8 KiB", () => {
    expect(parseMemorySize("512m")).toBe(536870912n);
    expect(parseMemorySize("512M")).toBe(536870912n);
    expect(parseMemorySize("1G")).toBe(1073741824n);
    expect(parseMemorySize("256")).toBe(268435456n);
    expect(parseMemorySize("size=1.5G")).toBe(1610612736n);
    expect(parseMemorySize("65536k")).toBe(67108864n);
    expect(parseMemorySize("1b")).toBe(8192n);
    for (const b of ["", "12q", "-5", "1.2.3", "0"]) expect(() => parseMemorySize(b)).toThrow(/-m/);
  });

  it("--vcpu-threads picks how the kvm engine runs its vCPUs; absent, the engine's default", () => {
    expect(config(["-M", "microvm", "-kernel", "k", "--vcpu-threads", "native"]).vcpuThreads).toBe("native");
    expect(config(["-M", "microvm", "-kernel", "k", "--engine", "kvm", "--vcpu-threads", "worker"]).vcpuThreads).toBe("worker");
    expect(config(["-M", "microvm", "-kernel", "k"]).vcpuThreads).toBeUndefined();
  });

  it("--footprint small|default; default when absent; anything else is refused", () => {
    expect(config(["-M", "microvm", "-kernel", "k", "--footprint", "small"]).footprint).toBe("small");
    expect(config(["-M", "microvm", "-kernel", "k", "--footprint", "default"]).footprint).toBe("default");
    expect(config(["-M", "microvm", "-kernel", "k"]).footprint).toBe("default");
    // --footprint small says nothing of --vcpu-threads by itself: the run picks native on the kvm engine
    expect(config(["-M", "microvm", "-kernel", "k", "--footprint", "small"]).vcpuThreads).toBeUndefined();
    expect(parseError(["-M", "microvm", "-kernel", "k", "--footprint", "tiny"])).toBe('--footprint: expected small or default, got "tiny"');
    expect(parseError(["-M", "microvm", "-kernel", "k", "--footprint"])).toBe("--footprint: requires an argument");
  });

  it("names an unsupported flag and lists the supported ones", () => {
    const m = parseError(["-M", "microvm", "-kernel", "k", "-vga", "std"]);
    expect(m).toMatch(/^-vga: unsupported option; supported: -M, -m, -smp, -kernel, -append, -initrd, -nodefaults, -no-user-config, -chardev, -device, -drive, -netdev, -serial, -cpu, -accel, -enable-kvm, -nographic, -display, -no-reboot, --engine, --vcpu-threads, --footprint, --info-mtree, --print-plan, --help, --version/);
  });

  it.each<[string[], RegExp]>([
    [["-M", "pc", "-kernel", "k"], /machine "pc" is not supported; supported: microvm/],
    [["-M", "microvm,pit=off", "-kernel", "k"], /-M: pit=off is not supported: this board always has the i8254 PIT/],
    [["-M", "microvm,hpet=off", "-kernel", "k"], /-M: unsupported option 'hpet'; supported: type, legacy, acpi, isa-serial, pit, pic, rtc, x-option-roms/],
    [["-M", "microvm", "-kernel", "k", "--vcpu-threads", "green"], /--vcpu-threads: expected worker or native, got "green"/],
    [["-M", "microvm", "-kernel", "k", "--engine", "qemu", "--vcpu-threads", "native"], /--vcpu-threads: QEMU runs its own vCPU threads/],
    [["-M", "microvm", "-kernel", "k", "-accel", "tcg", "--vcpu-threads", "worker"], /--vcpu-threads: QEMU runs its own vCPU threads/],
    [["-M", "microvm"], /-kernel is required/],
    [["-kernel", "k"], /-M microvm is required/],
    [["-M", "microvm", "-kernel", "k", "-smp", "0"], /cpus: expected 1\.\.254/],
    [["-M", "microvm", "-kernel", "k", "-chardev", "socket,id=c0"], /backend "socket" is not supported; supported: pty, stdio/],
    [["-M", "microvm", "-kernel", "k", "-chardev", "pty"], /id= is required/],
    [["-M", "microvm", "-kernel", "k", "-chardev", "pty,id=c0,server=off"], /server=off is not supported/],
    [["-M", "microvm", "-kernel", "k", "-drive", "id=d,file=x,format=qcow2,if=none"], /only format=raw/],
    [["-M", "microvm", "-kernel", "k", "-drive", "id=d,file=x,format=raw"], /only if=none/],
    [["-M", "microvm", "-kernel", "k", "-drive", "id=d,file=x,format=raw,if=none,cache=none"], /cache=none is not supported: disks use the host's page cache/],
    [["-M", "microvm", "-kernel", "k", "-drive", "id=d,file=x,format=raw,if=none,aio=native"], /unsupported option 'aio'/],
    [["-M", "microvm", "-kernel", "k", "-netdev", "socket,id=n"], /type "socket" is not supported; supported: tap, user/],
    [["-M", "microvm", "-kernel", "k", "-netdev", "user,id=n,net=10.0.0.0/8"], /unsupported option 'net'; supported: type, id, hostfwd/],
    [["-M", "microvm", "-kernel", "k", "-netdev", "tap,id=n"], /script=no is required/],
    [["-M", "microvm", "-kernel", "k", "-netdev", "tap,id=n,script=no"], /downscript=no is required/],
    [["-M", "microvm", "-kernel", "k", "-device", "e1000"], /device "e1000" is not supported; supported: virtio-net-device, virtio-blk-device, virtio-serial-device, virtconsole, virtio-rng-device/],
    [["-M", "microvm", "-kernel", "k", "-device", "virtconsole,chardev=c"], /no virtio-serial-device before it/],
    [["-M", "microvm", "-kernel", "k", "-device", "virtio-blk-device,drive=nope"], /drive nope not found/],
    [["-M", "microvm", "-kernel", "k", "-device", "virtio-net-device,netdev=nope"], /netdev nope not found/],
    [["-M", "microvm", "-kernel", "k", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=x"], /chardev x not found/],
    [["-M", "microvm", "-kernel", "k", "-serial", "stdio"], /no UART; use -M microvm,legacy/],
    [["-M", "microvm,legacy", "-kernel", "k", "-serial", "pty"], /-serial: "pty" is not supported; supported: stdio/],
    [["-M", "microvm,legacy", "-kernel", "k", "-serial", "stdio", "-chardev", "stdio,id=c"], /stdio is used by 2 character devices/],
    [["-M", "microvm,legacy", "-kernel", "k", "-chardev", "stdio,id=c"], /without -nodefaults/],
    [["-M", "microvm", "-kernel", "k", ...Array(9).fill(["-device", "virtio-rng-device"]).flat()], /8 virtio-mmio transports/],
    [["-M", "microvm", "-kernel"], /-kernel: requires an argument/],
    [["-M", "microvm", "vmlinux"], /"vmlinux": unexpected argument/],
  ])("refuses %j", (argv, re) => {
    expect(parseError(argv)).toMatch(re);
  });

  it("QEMU's own microvm command lines: machine options this board matches, -cpu, -nographic, -display none, -no-reboot, read-only=on", () => {
    const base = config(["-M", "microvm", "-kernel", "k"]);
    // What this board has anyway is accepted; what it cannot be is refused, saying why.
    expect(config(["-M", "microvm,x-option-roms=off,pit=on,pic=on,rtc=off,isa-serial=off", "-kernel", "k"])).toEqual(base);
    expect(config(["-M", "microvm,isa-serial=on", "-kernel", "k"]).legacy).toBe(true);
    expect(config(["-M", "microvm,legacy,isa-serial=on", "-kernel", "k"]).legacy).toBe(true);
    expect(parseError(["-M", "microvm,legacy,isa-serial=off", "-kernel", "k"])).toMatch(/^-M: isa-serial=off contradicts legacy=on/);
    expect(parseError(["-M", "microvm,pic=off", "-kernel", "k"])).toMatch(/^-M: pic=off is not supported: this board always has the 8259 PIC/);
    expect(parseError(["-M", "microvm,rtc=on", "-kernel", "k"])).toMatch(/^-M: rtc=on is not supported: this board has no MC146818 RTC; leave it out or say rtc=off$/);
    expect(parseError(["-M", "microvm,x-option-roms=on", "-kernel", "k"])).toMatch(/^-M: x-option-roms=on is not supported/);
    expect(parseError(["-M", "microvm,pit=maybe", "-kernel", "k"])).toMatch(/^-M: pit: expected on or off, got "maybe"$/);
    // -cpu: the two models that name what the guest gets; host needs KVM.
    expect(config(["-M", "microvm", "-kernel", "k", "-cpu", "host"]).cpu).toBe("host");
    expect(config(["-M", "microvm", "-kernel", "k", "-cpu", "max", "-accel", "tcg"]).cpu).toBe("max");
    expect(base.cpu).toBeUndefined();
    expect(parseError(["-M", "microvm", "-kernel", "k", "-cpu", "qemu64"])).toMatch(/^-cpu: CPU model "qemu64" is not supported; supported: host, max/);
    expect(parseError(["-M", "microvm", "-kernel", "k", "-cpu", "host,+x2apic,vmx=off"])).toMatch(/^-cpu: CPU feature flags \(\+x2apic, vmx=off\) are not supported/);
    expect(parseError(["-M", "microvm", "-kernel", "k", "-cpu", "host", "-accel", "tcg"])).toMatch(/^-cpu host: needs KVM, and -accel tcg was given/);
    expect(parseError(["-M", "microvm", "-kernel", "k", "-cpu", "host", "-cpu", "max"])).toMatch(/^-cpu: max contradicts -cpu host/);
    // No display to turn off, and a reset always ends the run: accepted, nothing changes.
    expect(config(["-M", "microvm", "-kernel", "k", "-nographic", "-display", "none", "-no-reboot"])).toEqual(base);
    expect(parseError(["-M", "microvm", "-kernel", "k", "-display", "gtk"])).toMatch(/^-display: "gtk" is not supported: microvm has no display/);
    // read-only= is the block layer's spelling of readonly=.
    const drive = (opts: string): readonly DriveConfig[] => config(["-M", "microvm", "-kernel", "k", "-drive", `id=d,file=x,format=raw,if=none${opts}`]).drives;
    expect(drive(",read-only=on")).toEqual([{ id: "d", file: "x", readOnly: true }]);
    expect(drive(",read-only=off")).toEqual([{ id: "d", file: "x", readOnly: false }]);
    expect(drive(",readonly=on,read-only=on")).toEqual([{ id: "d", file: "x", readOnly: true }]);
    expect(drive(",cache=writeback")).toEqual([{ id: "d", file: "x", readOnly: false }]);
    expect(drive("")).toEqual([{ id: "d", file: "x", readOnly: false }]);
    expect(parseError(["-M", "microvm", "-kernel", "k", "-drive", "id=d,file=x,format=raw,if=none,readonly=on,read-only=off"])).toMatch(/read-only=off contradicts readonly=on/);
  });

  it("-nodefaults: without it a legacy board's UART is on stdio; with it, silent unless -serial stdio", () => {
    expect(config(["-M", "microvm,legacy", "-kernel", "k"]).serial).toBe("stdio");
    expect(config(["-M", "microvm,legacy", "-kernel", "k", "-nodefaults"]).serial).toBe("none");
    expect(config(["-M", "microvm,legacy", "-kernel", "k", "-nodefaults", "-serial", "stdio"]).serial).toBe("stdio");
  });

  it("-no-user-config: the user config file is read only without it", () => {
    const home = mkdtempSync(join(tmpdir(), "microvm-cfg-"));
    try {
      mkdirSync(join(home, "microvm"));
      writeFileSync(join(home, "microvm", "microvm.conf"), "# extra devices\n-device virtio-rng-device\n-smp 3\n");
      const env = { XDG_CONFIG_HOME: home };
      const withCfg = config(["-M", "microvm", "-kernel", "k"], env);
      expect(withCfg.devices).toEqual([{ kind: "rng" }]);
      expect(withCfg.cpus).toBe(3);
      expect(config(["-M", "microvm", "-kernel", "k", "-smp", "2"], env).cpus).toBe(2); // the command line wins
      const without = config(["-M", "microvm", "-kernel", "k", "-no-user-config"], env);
      expect(without.devices).toEqual([]);
      expect(without.cpus).toBe(1);
      writeFileSync(join(home, "microvm", "microvm.conf"), "-bogus\n");
      expect(parseError(["-M", "microvm", "-kernel", "k"], env)).toMatch(/microvm\.conf: -bogus: unsupported option/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("errors name the flag, the field and the range, in the user's words", () => {
    expect(() => config(["-M", "microvm", "-kernel", "k", "-m", "0"])).toThrow(/^-m: "0": expected a size from 2 MiB to 64 TiB/);
    // the device type is the implied first element: no internal key name in the list of options
    expect(() => config(["-M", "microvm", "-kernel", "k", "-device", "virtio-rng-device,foo=1"])).toThrow(/^-device: unsupported option 'foo'; supported: id$/);
  });

  it("-device …,id= is accepted as QEMU users write it, checked as QEMU checks ids, and unique", () => {
    const c = config(["-M", "microvm", "-kernel", "k", "-device", "virtio-rng-device,id=rng-a", "-device", "virtio-serial-device,id=con", "-device", "virtconsole,chardev=c0", "-chardev", "pty,id=c0"]);
    expect(c.devices).toEqual([{ kind: "rng", id: "rng-a" }, { kind: "console", id: "con", backend: "c0" }]);
    expect(() => config(["-M", "microvm", "-kernel", "k", "-device", "virtio-rng-device,id=x", "-device", "virtio-rng-device,id=x"])).toThrow(/-device: id x is used twice/);
    expect(() => config(["-M", "microvm", "-kernel", "k", "-device", "virtio-rng-device,id=1x"])).toThrow(/id "1x": expected a letter/);
    // the id reaches the plan: the transport carries it
    expect(config(["-M", "microvm", "-kernel", "k", "-device", "virtio-rng-device"]).devices).toEqual([{ kind: "rng" }]);
  });

  it("QEMU keyval syntax: ,, is a comma, --flags work, readonly and ifname are read", () => {
    const c = config(["--M", "microvm", "--kernel", "k", "-drive", "id=d,file=a,,b.img,format=raw,if=none,readonly=on", "-netdev", "tap,id=n,script=no,downscript=no,ifname=tap7"]);
    expect(c.drives).toEqual([{ id: "d", file: "a,b.img", readOnly: true }]);
    expect(c.netdevs).toEqual([{ type: "tap", id: "n", ifname: "tap7" }]);
  });

  it("--help and --version win over everything else", () => {
    expect(parseCommandLine(["-bogus-but-help", "--help"].slice(1)).action).toBe("help");
    expect(parseCommandLine(["-version"]).action).toBe("version");
  });
});

// ---- the process --------------------------------------------------------------------------------

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function startAny(args: string[], o: { env?: Record<string, string>; onStdout?: (text: string, child: ChildProcess) => void } = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent", ...o.env } });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("latin1");
    o.onStdout?.(stdout, child);
  });
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  // A bound on each process; inside the nested-KVM lane (MICROVM_NESTED=1) every run is far slower.
  const timer = setTimeout(() => child.kill("SIGKILL"), process.env["MICROVM_NESTED"] === "1" ? 600_000 : 30_000);
  const done = new Promise<Run>((resolve) => child.on("close", (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr });
  }));
  return { child, done };
}
const cli = (args: string[], env?: Record<string, string>): Promise<Run> => startAny(args, env ? { env } : {}).done;

/** A one-line error: exactly one line on stderr, starting `microvm: `, exit status 1. */
function expectOneLineError(r: Run, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.endsWith("\n")).toBe(true);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/^microvm: /);
  expect(r.stderr).toMatch(re);
}

function taps(): string[] {
  return readdirSync("/sys/class/net").filter((n) => existsSync(`/sys/class/net/${n}/tun_flags`));
}

function ensureBuilt(): void {
  const newest = (dir: string): number => Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => statSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest(join(PKG, "src"))) return;
  const r = spawnSync("pnpm", ["-s", "run", "build"], { cwd: PKG, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the CLI failed:\n${r.stdout}${r.stderr}`);
}

describe("microvm (the process): flags that need no guest", () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), "microvm-cli-"));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--help lists every flag; --version prints the package version; both exit 0", async () => {
    const h = await cli(["--help"]);
    expect(h.code).toBe(0);
    for (const f of ["-M microvm[,legacy][,acpi=on|off]", "-m SIZE", "-smp N", "-kernel FILE", "-append", "-initrd", "-nodefaults", "-no-user-config", "-chardev pty|stdio", "virtio-serial-device", "virtconsole,chardev=ID", "-drive id=ID", "virtio-blk-device,drive=ID", "-netdev tap", "virtio-net-device,netdev=ID", "virtio-rng-device", "-serial stdio", "--info-mtree"]) {
      expect(h.stdout).toContain(f);
    }
    const v = await cli(["--version"]);
    expect(v.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")) as { version: string };
    expect(v.stdout).toBe(`microvm ${pkg.version}\n`);
  });

  it("an unsupported flag: one line naming it and what is supported, exit 1", async () => {
    const r = await cli(["-M", "microvm", "-kernel", "k", "-vga", "std"]);
    expectOneLineError(r, /-vga: unsupported option; supported: -M, -m, -smp/);
  });

  it("a missing kernel: one line, exit 1", async () => {
    const r = await cli(["-M", "microvm", "-kernel", join(dir, "no-such-vmlinux")]);
    expectOneLineError(r, /kernel .*no-such-vmlinux: no such file/);
  });

  it("an image without a PVH note: one line with the loader's reason, exit 1", async () => {
    const k = join(dir, "nonote.elf");
    writeFileSync(k, tinyKernel(TRIPLE_FAULT, { note: false }));
    const r = await cli(["-M", "microvm", "-kernel", k]);
    expectOneLineError(r, /kernel \S+: .*(PHYS32_ENTRY|note)/i); // the file is named
  });

  it("-cpu host needs KVM: refused in one line when the engine would run TCG (no /dev/kvm here), -cpu max runs there", async () => {
    const k = join(dir, "tf-cpu.elf");
    writeFileSync(k, tinyKernel(TRIPLE_FAULT));
    const noKvm = { MICROVM_KVM_DEVICE: join(dir, "no-such-kvm") };
    expectOneLineError(await cli(["-M", "microvm", "-cpu", "host", "-kernel", k], noKvm), /-cpu host: needs KVM \(.*no-such-kvm: no such device\); under TCG the guest's CPU is QEMU's max/);
    expectOneLineError(await cli(["-M", "microvm", "-cpu", "host", "--info-mtree"], noKvm), /-cpu host: needs KVM/);
    // Negative control: the same command lines with -cpu max (and QEMU's habits) pass that point.
    const plan = await cli(["-M", "microvm", "-cpu", "max", "-nographic", "-display", "none", "-no-reboot", "-kernel", k, "--print-plan"], noKvm);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^engine: qemu \(accel tcg\)/);
    expect(plan.stdout).toMatch(/ -cpu max /);
    expect((await cli(["-M", "microvm", "-cpu", "max", "--info-mtree"], noKvm)).code).toBe(0);
  });

  it("--info-mtree needs no kernel: the surface without -kernel is the one with it, on either engine", async () => {
    const k = join(dir, "tf-noarg.elf");
    writeFileSync(k, tinyKernel(TRIPLE_FAULT));
    for (const extra of [[], ["-M", "microvm,legacy", "-device", "virtio-rng-device,id=r"], ["-accel", "tcg", "-m", "4G"]]) {
      const base = extra.includes("-M") ? [] : ["-M", "microvm"];
      const without = await cli([...base, ...extra, "--info-mtree"]);
      expect(without.code, without.stderr).toBe(0);
      const withKernel = await cli([...base, ...extra, "--info-mtree", "-kernel", k]);
      expect(without.stdout).toBe(withKernel.stdout);
    }
    expect((await cli(["-M", "microvm", "--info-mtree"])).stdout.trimEnd().split("\n")).toEqual(seed);
    // a run still needs its kernel
    expectOneLineError(await cli(["-M", "microvm"]), /-kernel is required/);
  });

  it("a bzImage given as -kernel: the file is named, with the hint to boot the vmlinux inside it; an ELF of garbage gets no such hint", async () => {
    const bz = new Uint8Array(4096);
    bz.set([0x4d, 0x5a], 0); // "MZ"
    bz.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS": the x86 boot protocol's real-mode header
    const k = join(dir, "bzImage");
    writeFileSync(k, bz);
    expectOneLineError(await cli(["-M", "microvm", "-kernel", k]), new RegExp(`kernel ${k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*magic.*bzImage.*vmlinux`));
    const junk = join(dir, "junk.bin");
    writeFileSync(junk, new Uint8Array(4096).fill(0x90));
    const r = await cli(["-M", "microvm", "-kernel", junk]);
    expectOneLineError(r, /kernel \S+junk\.bin: .*magic/);
    expect(r.stderr).not.toMatch(/bzImage/);
  });

  it("-M microvm,acpi=on: --info-mtree adds the GED's two register windows, --print-plan the tables and rsdp; acpi=maybe is refused by name", async () => {
    const on = await cli(["-M", "microvm,acpi=on", "--info-mtree"]);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain("00000000fea00000-00000000fea00003 (prio 0, i/o): acpi-ged");
    expect(on.stdout).toContain("00000000fea00200-00000000fea00202 (prio 0, i/o): acpi-ged-regs");
    // negative control: acpi=off (the default) lists neither
    const off = await cli(["-M", "microvm,acpi=off", "--info-mtree"]);
    expect(off.stdout).not.toContain("acpi-ged");
    expect(off.stdout.trimEnd().split("\n")).toEqual(seed);
    const k = join(dir, "tf-acpi.elf");
    writeFileSync(k, tinyKernel(TRIPLE_FAULT));
    const plan = await cli(["-M", "microvm,acpi=on", "-kernel", k, "-device", "virtio-rng-device", "--print-plan"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^acpi: RSDP at 0xe0000; XSDT at 0xe0040, FACP at 0x[0-9a-f]+, APIC at 0x[0-9a-f]+, DSDT at 0x[0-9a-f]+; \d+ bytes in \[0xe0000, 0xf0000\)$/m);
    expect(plan.stdout).toMatch(/^transport 0: 0x[0-9a-f]+ gsi 16 rng rng0$/m);
    expectOneLineError(await cli(["-M", "microvm,acpi=maybe", "--info-mtree"]), /-M: acpi: expected on or off, got "maybe"/);
  });

  it("--info-mtree prints the seed's exposed surface for the seed's normal machine, and legacy adds the UART and reset port", async () => {
    const k = join(dir, "tf.elf");
    writeFileSync(k, tinyKernel(TRIPLE_FAULT));
    const r = await cli(["-M", "microvm", "-kernel", k, "--info-mtree"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toEqual(seed);
    const l = await cli(["-M", "microvm,legacy", "-kernel", k, "--info-mtree", "-nodefaults"]);
    expect(l.code).toBe(0);
    expect(l.stdout).toContain("00000000000003f8-00000000000003ff (prio 0, i/o): serial");
    expect(l.stdout).toContain("0000000000000064-0000000000000064 (prio 0, i/o): i8042-reset");
  });
});

describe.each(["kvm", "qemu"] as const)("microvm (the process) on the %s engine", (engine) => {
  const missing = engine === "kvm" ? kvmMissing : qemuAvailable() ? undefined : "qemu-system-x86_64 not found";
  // The engine flags a user would type: the in-process engine by name, or QEMU's -accel tcg.
  const eargs = engine === "kvm" ? ["--engine", "kvm"] : ["-accel", "tcg"];
  const start = (args: string[], o: Parameters<typeof startAny>[1] = {}): ReturnType<typeof startAny> => startAny([...args, ...eargs], o);
  const cli = (args: string[], env?: Record<string, string>): Promise<Run> => start(args, env ? { env } : {}).done;
  describe.skipIf(missing !== undefined)(`microvm (the process) on the ${engine} engine${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let guests: GuestImages;
  let dir: string;
  let halt: string;
  let crash: string;
  let echo: string;
  beforeAll(async () => {
    ensureBuilt();
    guests = await buildGuests();
    dir = mkdtempSync(join(tmpdir(), "microvm-cli-"));
    halt = join(dir, "halt.elf");
    writeFileSync(halt, tinyKernel(HALT_FOREVER));
    crash = join(dir, "crash.elf");
    writeFileSync(crash, tinyKernel(TRIPLE_FAULT));
    echo = join(dir, "echo.elf");
    writeFileSync(echo, tinyKernel(ECHO_UNTIL_Q));
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const image = (name: string, sectors = 128): { path: string; bytes: Uint8Array } => {
    const path = join(dir, name);
    const bytes = testBytes(sectors * 512, 0x1234);
    writeFileSync(path, bytes);
    return { path, bytes };
  };

  it("-m, -smp, -initrd, -append, virtio-rng-device and a blk write: the guest checks each, exit 0", async () => {
    const img = image("a.img");
    const initrd = join(dir, "initrd.bin");
    const ib = testBytes(5000, 0xbeef);
    writeFileSync(initrd, ib);
    const append = guestParams({ expectCpus: 3, memMib: 96, initrdSum: fnv1a(ib), initrdSize: 5000, blkSum: fnv1a(img.bytes.subarray(0, 1024)), blkSectors: 128, blkWrite: 5, virtioDevices: 2, uart: true });
    const r = await cli(["-M", "microvm,legacy", "-m", "96", "-smp", "3", "-kernel", guests.elf64, "-initrd", initrd, "-append", append, "-nodefaults", "-no-user-config",
      "-drive", `id=d0,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device", "-serial", "stdio"]);
    expect(r.code, r.stderr).toBe(0);
    const rep = parseReport(r.stdout);
    expect(failedChecks(rep)).toEqual([]);
    for (const n of ["mptable.cpus", "start_info.memmap.ram_total", "start_info.initrd.sum", "virtio.blk0.read.sum", "virtio.blk0.flush", "virtio.rng0.read", "virtio.devices", "smp.count"]) {
      expect(findCheck(rep, n)?.status, n).toBe("ok");
    }
    const sector = readFileSync(img.path).subarray(5 * 512, 6 * 512);
    expect([...sector]).toEqual(Array.from({ length: 512 }, (_, i) => blkPattern(5, i)));
  });

  it("readonly=on: the guest sees a read-only disk and the image is unchanged; so with QEMU's spellings and habits (isa-serial=on, read-only=on, -cpu, -nographic, …)", async () => {
    // The second line is how QEMU users write the same board (QEMU's microvm docs and scripts).
    const qemuHabits = ["-cpu", engine === "kvm" ? "host" : "max", "-nographic", "-display", "none", "-no-reboot"];
    for (const [machine, ro, extra] of [["microvm,legacy", "readonly=on", []], ["microvm,isa-serial=on,x-option-roms=off,rtc=off,pit=on,pic=on", "read-only=on", qemuHabits]] as const) {
      const img = image(`ro-${ro}.img`);
      const r = await cli(["-M", machine, "-kernel", guests.elf64, "-append", "microvm.blk_write=5", "-nodefaults", "-drive", `id=d0,file=${img.path},format=raw,if=none,${ro}`, "-device", "virtio-blk-device,drive=d0", "-serial", "stdio", ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^info virtio\.blk0 capacity=128 sectors ro=1 /m); // VIRTIO_BLK_F_RO offered
      expect(findCheck(parseReport(r.stdout), "virtio.blk0.write")).toMatchObject({ status: "fail", got: "read-only" });
      expect(Buffer.compare(readFileSync(img.path), Buffer.from(img.bytes))).toBe(0);
    }
  });

  it("-nodefaults: a legacy UART without -serial prints on stdout without it, and nothing with it", async () => {
    const a = await cli(["-M", "microvm,legacy", "-kernel", guests.elf64, "-append", "microvm.uart=1"]);
    expect(a.code, a.stderr).toBe(0);
    expect(parseReport(a.stdout).summary?.result).toBe("PASS");
    const b = await cli(["-M", "microvm,legacy", "-kernel", guests.elf64, "-append", "microvm.uart=1", "-nodefaults"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe("");
  });

  it("-no-user-config: a device from the user config file appears only without it", async () => {
    const home = join(dir, "xdg");
    mkdirSync(join(home, "microvm"), { recursive: true });
    writeFileSync(join(home, "microvm", "microvm.conf"), "-device virtio-rng-device\n");
    const args = ["-M", "microvm,legacy", "-kernel", guests.elf64, "-nodefaults", "-serial", "stdio"];
    const a = await cli(args, { XDG_CONFIG_HOME: home });
    expect(a.code, a.stderr).toBe(0);
    expect(findCheck(parseReport(a.stdout), "virtio.rng0.read")?.status).toBe("ok");
    const b = await cli([...args, "-no-user-config"], { XDG_CONFIG_HOME: home });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain("summary");
    expect(findCheck(parseReport(b.stdout), "virtio.rng0.read")).toBeUndefined();
  });

  it("-chardev stdio + virtconsole: the normal-mode report arrives on stdout through the virtio console", async () => {
    const r = await cli(["-M", "microvm", "-smp", "2", "-kernel", guests.elf64, "-append", "microvm.expect_cpus=2 microvm.uart=0", "-nodefaults", "-chardev", "stdio,id=c0", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=c0"]);
    expect(r.code, r.stderr).toBe(0);
    const rep = parseReport(r.stdout);
    expect(rep.summary?.result).toBe("PASS");
    expect(findCheck(rep, "virtio.console0.tx")?.status).toBe("ok");
  });

  it("virtio-serial-device without a virtconsole: the guest finds the console, its output goes nowhere", async () => {
    const r = await cli(["-M", "microvm,legacy", "-kernel", guests.elf64, "-nodefaults", "-device", "virtio-serial-device", "-serial", "stdio"]);
    expect(r.code, r.stderr).toBe(0);
    expect(findCheck(parseReport(r.stdout), "virtio.console0.device_id")?.status).toBe("ok");
  });

  it("-chardev pty: prints QEMU's redirect line; an unread pty drops the output and the guest still ends", async () => {
    const r = await cli(["-M", "microvm", "-kernel", guests.elf64, "-append", "microvm.uart=0", "-nodefaults", "-chardev", "pty,id=con7", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=con7"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^char device redirected to \/dev\/pts\/\d+ \(label con7\)\n$/);
  });

  it("-serial stdio input: bytes on stdin reach the guest's UART receiver", async () => {
    const child = spawn(process.execPath, [CLI, "-M", "microvm,legacy", "-kernel", echo, "-nodefaults", "-serial", "stdio", ...eargs], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("latin1")));
    // Far more than the 16-byte receive FIFO, in several writes: every byte arrives, in order.
    const text = `hello, uart\n${Buffer.from(testBytes(3000, 7)).toString("hex")}q`;
    for (let i = 0; i < text.length; i += 1000) child.stdin.write(text.slice(i, i + 1000));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(out).toBe(text);
  });

  it("a missing drive and an unreadable drive: one line, exit 1", async () => {
    expectOneLineError(await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${join(dir, "nope.img")},format=raw,if=none`, "-device", "virtio-blk-device,drive=d"]), engine === "kvm" ? /drive .*nope\.img: cannot open for reading and writing: no such file/ : /drive file=.*nope\.img: no such file/);
    mkdirSync(join(dir, "adir"), { recursive: true });
    expectOneLineError(await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${join(dir, "adir")},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=d"]), /drive .*adir: is a directory/);
  });

  it("a guest writes and flushes a sector, then the process is SIGKILLed: the bytes are in the image", async () => {
    const img = image("kill.img");
    let killedAfterFlush = false;
    // Normal mode with no i8042: microvm.reboot=kbd keeps the guest alive 0.5 s after its summary.
    const { done } = start(
      ["-M", "microvm", "-kernel", guests.elf64, "-append", "microvm.blk_write=9 microvm.uart=0 microvm.reboot=kbd", "-nodefaults", "-no-user-config",
        "-drive", `id=d0,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d0",
        "-chardev", "stdio,id=c0", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=c0"],
      {
        onStdout: (text, child) => {
          if (!killedAfterFlush && /^ok virtio\.blk0\.flush /m.test(text)) {
            killedAfterFlush = true;
            child.kill("SIGKILL");
          }
        },
      },
    );
    const r = await done;
    expect(killedAfterFlush, r.stdout).toBe(true);
    if (engine === "qemu") {
      // QEMU dies with its parent (PR_SET_PDEATHSIG): wait for the kernel to reap it, then no
      // QEMU of ours is left and no private directory either.
      const t0 = Date.now();
      const ours = (): string[] => readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "latin1").includes(img.path);
        } catch {
          return false;
        }
      });
      while (ours().length > 0 && Date.now() - t0 < 10_000) await new Promise((res) => setTimeout(res, 100));
      expect(ours(), "a QEMU survived its parent").toEqual([]);
      expect(readdirSync(tmpdir()).filter((n) => n.startsWith("microvm-qemu-") && statSync(join(tmpdir(), n)).mtimeMs > t0 - 60_000)).toEqual([]);
    }
    expect(r.signal).toBe("SIGKILL");
    expect(r.stdout).not.toContain("\nend\n"); // it really died mid-run
    const sector = readFileSync(img.path).subarray(9 * 512, 10 * 512);
    expect([...sector]).toEqual(Array.from({ length: 512 }, (_, i) => blkPattern(9, i)));
    // and the dead process's locks went with it
    const fd = openSync(img.path, constants.O_RDWR);
    try {
      expect(() => lockImage(fd, img.path, false)).not.toThrow();
    } finally {
      closeSync(fd);
    }
  });

  describe.skipIf(engine !== "kvm")(`the in-process engine's own: the 0x64 reset port, OFD locks, the terminal, taps${engine !== "kvm" ? " (skipped: the kvm engine's features)" : ""}`, () => {
  it("-serial stdio into a pipe its reader drains late: every byte arrives (the UART waits for a slow reader, as QEMU's does)", async () => {
    const n = 300_000; // far more than a pipe holds (64 KiB)
    const k = join(dir, "flood.elf");
    writeFileSync(k, tinyKernel(`
	mov $${n}, %ecx
	mov $0x3f8, %dx
	mov $'x', %al
1:	outb %al, %dx
	loop 1b
${TRIPLE_FAULT}`));
    const child = spawn(process.execPath, [CLI, "-M", "microvm,legacy", "-kernel", k, "-nodefaults", "-serial", "stdio", ...eargs], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pause(); // the reader is busy for a while: the pipe fills up
    await new Promise((r) => setTimeout(r, 700));
    let got = 0;
    child.stdout.on("data", (d: Buffer) => (got += d.length));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(got).toBe(n);
  });

  it("a guest triple fault exits 0; a reset (0xFE to port 0x64) exits 0", async () => {
    expect((await cli(["-M", "microvm", "-kernel", crash])).code).toBe(0);
    const r = await cli(["-M", "microvm,legacy", "-kernel", guests.elf64, "-append", "microvm.reboot=kbd", "-nodefaults", "-serial", "stdio"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("reboot kbd");
    expect(r.stdout).not.toContain("fail reboot.kbd");
  });

  it("a locked drive: one line, exit 1; the lock is QEMU's, both ways, and readers share", async () => {
    const img = image("locked.img");
    // Another writer in this process (a separate open file description) holds QEMU's write locks.
    const fd = openSync(img.path, constants.O_RDWR);
    try {
      lockImage(fd, img.path, false);
      const r = await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d"]);
      expectOneLineError(r, /drive .*locked\.img: failed to get "write" lock/);
      const ro = await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${img.path},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=d"]);
      expectOneLineError(ro, /failed to get shared "write" lock/);
    } finally {
      closeSync(fd);
    }
    // Two readers coexist.
    const rfd = openSync(img.path, constants.O_RDONLY);
    try {
      lockImage(rfd, img.path, true);
      const ro = await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${img.path},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=d"]);
      expect(ro.code, ro.stderr).toBe(0);
    } finally {
      closeSync(rfd);
    }
  });

  it.skipIf(!qemuAvailable())(`QEMU and microvm exclude each other from one image${qemuAvailable() ? "" : " (skipped: no qemu-system-x86_64)"}`, async () => {
    const img = image("shared.img");
    const qemuArgs = ["-M", "microvm,acpi=off,x-option-roms=off", "-enable-kvm", "-nodefaults", "-no-user-config", "-display", "none", "-S", "-kernel", crash, "-drive", `if=none,id=d0,file=${img.path},format=raw`, "-device", "virtio-blk-device,drive=d0"];
    // QEMU first (paused with -S, its drive open and locked): microvm must refuse.
    const q = spawn("qemu-system-x86_64", qemuArgs, { stdio: "ignore" });
    try {
      // Wait until QEMU holds its OFD locks (/proc/locks: proc(5)), without taking any ourselves.
      const inode = statSync(img.path).ino;
      const t0 = Date.now();
      while (!readFileSync("/proc/locks", "utf8").split("\n").some((l) => l.includes("OFDLCK") && l.includes(`:${inode} `))) {
        if (q.exitCode !== null || Date.now() - t0 > 10_000) throw new Error("QEMU never locked the image");
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = await cli(["-M", "microvm", "-kernel", crash, "-drive", `id=d,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d"]);
      expectOneLineError(r, /shared\.img: failed to get "write" lock/);
    } finally {
      if (q.exitCode === null && q.signalCode === null) {
        const closed = new Promise((r) => q.on("close", r));
        q.kill("SIGKILL");
        await closed;
      }
    }
    // microvm first (a guest that halts forever): QEMU must refuse with its own lock error.
    const m = start(["-M", "microvm", "-kernel", halt, "-drive", `id=d,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d"]);
    try {
      // Wait until microvm holds its OFD locks (a fixed sleep is too short on a slow, emulated CPU).
      const inode = statSync(img.path).ino;
      const t0 = Date.now();
      while (!readFileSync("/proc/locks", "utf8").split("\n").some((l) => l.includes("OFDLCK") && l.includes(`:${inode} `))) {
        if (Date.now() - t0 > 60_000) throw new Error("microvm never locked the image");
        await new Promise((r) => setTimeout(r, 50));
      }
      const qr = spawnSync("qemu-system-x86_64", qemuArgs.filter((a) => a !== "-S").concat(["-no-reboot"]), { encoding: "utf8", timeout: 20_000 });
      expect(qr.status).not.toBe(0);
      expect(qr.stderr).toMatch(/Failed to get "write" lock/);
    } finally {
      m.child.kill("SIGTERM");
    }
    const end = await m.done;
    expect(end.code).toBe(128 + 15);
    expect(end.stderr).toContain("terminating on signal 15");
  });

  describe.skipIf(!pythonOk)(`the terminal${pythonOk ? "" : " (skipped: python3 with pty/termios not found)"}`, () => {
    // A pty is the CLI's stdin/stdout/stderr and controlling terminal; python records its mode
    // before, while (raw seen: ECHO and ICANON off) and after the run, and can type Ctrl-C.
    const HARNESS = String.raw`
import fcntl, json, os, select, subprocess, sys, termios, time
mode, cmd = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()
before = termios.tcgetattr(slave)
def ctty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=ctty)
out, raw_seen, sent, t0 = b"", False, False, time.time()
while True:
    r, _, _ = select.select([master], [], [], 0.01)
    if r:
        try:
            out += os.read(master, 65536)
        except OSError:
            pass
    lf = termios.tcgetattr(slave)[3]
    if not (lf & termios.ECHO) and not (lf & termios.ICANON):
        raw_seen = True
    if mode == "ctrlc" and raw_seen and not sent and time.time() - t0 > 0.5:
        os.write(master, b"\x03"); sent = True
    if mode == "type" and raw_seen and not sent and time.time() - t0 > 0.5:
        os.write(master, b"xyq"); sent = True  # no Enter: only a raw terminal passes these on
    if p.poll() is not None:
        break
    if time.time() - t0 > float(os.environ.get("HARNESS_LIMIT_S", "40")):
        p.kill()
time.sleep(0.05)
try:
    while select.select([master], [], [], 0.05)[0]:
        out += os.read(master, 65536)
except OSError:
    pass
after = termios.tcgetattr(slave)
print(json.dumps({"rc": p.returncode, "raw": raw_seen, "restored": before == after, "echo": bool(after[3] & termios.ECHO), "out": out.decode("latin1")}))
`;
    const underPty = (mode: "run" | "ctrlc" | "type", args: string[]): { rc: number; raw: boolean; restored: boolean; echo: boolean; out: string } => {
      // Inside the nested-KVM lane (MICROVM_NESTED=1) a run takes minutes, not seconds.
      const nested = process.env["MICROVM_NESTED"] === "1";
      const r = spawnSync("python3", ["-c", HARNESS, mode, process.execPath, CLI, ...args], {
        encoding: "utf8",
        timeout: nested ? 660_000 : 60_000,
        env: { ...process.env, HOME: "/nonexistent", HARNESS_LIMIT_S: nested ? "600" : "40" },
      });
      if (r.status !== 0) throw new Error(`harness failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as { rc: number; raw: boolean; restored: boolean; echo: boolean; out: string };
    };

    it("after the guest crashes (triple fault), the terminal's mode is restored", () => {
      const r = underPty("run", ["-M", "microvm,legacy", "-smp", "2", "-kernel", guests.elf64, "-append", "microvm.expect_cpus=2", "-nodefaults", "-serial", "stdio"]);
      expect(r.rc, r.out).toBe(0);
      expect(r.raw).toBe(true);
      expect(r.out).toContain("summary pass=");
      expect(r.out).toContain("\r\n"); // OPOST kept: the guest's "\n" reaches the terminal as "\r\n"
      expect(r.restored).toBe(true);
      expect(r.echo).toBe(true);
    });

    it("raw mode: keys typed without Enter reach the guest's UART at once (the echo guest ends on 'q')", () => {
      const r = underPty("type", ["-M", "microvm,legacy", "-kernel", echo, "-nodefaults", "-serial", "stdio"]);
      expect(r.raw).toBe(true);
      expect(r.rc, r.out).toBe(0);
      expect(r.out).toBe("xyq"); // echoed by the guest, not by the terminal (ECHO is off)
      expect(r.restored).toBe(true);
    });

    it("after Ctrl-C, the process ends with 130 and the terminal's mode is restored", () => {
      const r = underPty("ctrlc", ["-M", "microvm,legacy", "-kernel", halt, "-nodefaults", "-serial", "stdio"]);
      expect(r.raw).toBe(true);
      expect(r.rc, r.out).toBe(130);
      expect(r.out).toContain("terminating on signal 2 (SIGINT)");
      expect(r.restored).toBe(true);
    });

    it("after an error (a locked drive), the terminal was never left raw", () => {
      const img = image("tty-locked.img");
      const fd = openSync(img.path, constants.O_RDWR);
      try {
        lockImage(fd, img.path, false);
        const r = underPty("run", ["-M", "microvm,legacy", "-kernel", halt, "-serial", "stdio", "-drive", `id=d,file=${img.path},format=raw,if=none`, "-device", "virtio-blk-device,drive=d"]);
        expect(r.rc).toBe(1);
        expect(r.restored).toBe(true);
      } finally {
        closeSync(fd);
      }
    });
  });

  describe.skipIf(tapSkip !== undefined)(`the seed's invocations on a real tap${tapSkip ? ` (skipped: ${tapSkip})` : ""}`, () => {
    const TAP = "mvtap0";
    const HOST_IP = "10.0.2.2";
    const HOST_MAC = "52:55:0a:00:02:02";
    const ip = (...a: string[]): void => {
      const r = spawnSync("ip", a, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`ip ${a.join(" ")}: ${r.stderr}`);
    };
    beforeAll(() => {
      spawnSync("ip", ["link", "del", TAP], { stdio: "ignore" });
      ip("tuntap", "add", "dev", TAP, "mode", "tap");
      ip("link", "set", "dev", TAP, "address", HOST_MAC);
      ip("addr", "add", `${HOST_IP}/24`, "dev", TAP);
      ip("link", "set", TAP, "up");
    });
    afterAll(() => {
      spawnSync("ip", ["link", "del", TAP], { stdio: "ignore" });
    });
    const append = (console: string): string =>
      `${console} root=/dev/vda ${guestParams({ expectCpus: 2, memMib: 512, blkWrite: 5, netArp: HOST_IP, netArpMac: HOST_MAC, virtioDevices: console === "console=hvc0" ? 3 : 2 })}`;

    it("legacy mode: the seed's command line (with ifname=mvtap0), report on -serial stdio, ARP answered by the host through the tap", async () => {
      const img = image("legacy.img");
      const before = taps();
      const r = await cli(LEGACY_SEED(guests.elf64, append("console=ttyS0"), img.path, `,ifname=${TAP}`));
      expect(r.code, r.stderr).toBe(0);
      const rep = parseReport(r.stdout);
      expect(failedChecks(rep)).toEqual([]);
      expect(findCheck(rep, "virtio.net0.arp")?.status).toBe("ok");
      expect(findCheck(rep, "virtio.blk0.flush")?.status).toBe("ok");
      expect(rep.summary?.result).toBe("PASS");
      expect([...readFileSync(img.path).subarray(5 * 512, 6 * 512)]).toEqual(Array.from({ length: 512 }, (_, i) => blkPattern(5, i)));
      expect(taps()).toEqual(before); // nothing created, nothing left
    });

    it("normal mode: the seed's command line (with ifname=mvtap0), report read from the printed pty", async () => {
      const img = image("normal.img");
      const { child, done } = start(NORMAL_SEED(guests.elf64, append("console=hvc0"), img.path, `,ifname=${TAP}`));
      let consoleText = "";
      const path = await new Promise<string>((resolve, reject) => {
        let err = "";
        child.stderr?.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /char device redirected to (\/dev\/pts\/\d+) \(label virtiocon0\)/.exec(err);
          if (m) resolve(m[1] as string);
        });
        child.on("close", () => reject(new Error(`exited before printing the pty: ${err}`)));
      });
      // Numeric open flags work at run time (fs.open takes them), but @types/node types `flags` as a string.
      const stream = createReadStream(path, { flags: (constants.O_RDONLY | constants.O_NOCTTY) as unknown as string });
      stream.on("data", (d) => (consoleText += (d as Buffer).toString("latin1")));
      stream.on("error", () => undefined); // EIO once the CLI closes the pty
      const r = await done;
      stream.destroy();
      expect(r.code, r.stderr).toBe(0);
      const rep = parseReport(consoleText);
      expect(failedChecks(rep), consoleText).toEqual([]);
      expect(findCheck(rep, "virtio.net0.arp")?.status).toBe("ok");
      expect(findCheck(rep, "virtio.console0.tx")?.status).toBe("ok");
      expect(rep.summary?.result).toBe("PASS");
    });

    it("the exact seed command line (no ifname): a temporary tap is created for the run and is gone after", async () => {
      const img = image("seed.img");
      const before = taps();
      const r = await cli(LEGACY_SEED(guests.elf64, "console=ttyS0 root=/dev/vda microvm.expect_cpus=2", img.path));
      expect(r.code, r.stderr).toBe(0);
      const rep = parseReport(r.stdout);
      expect(findCheck(rep, "virtio.net0.tx")?.status).toBe("ok");
      expect(findCheck(rep, "mptable.cpus")?.status).toBe("ok");
      expect(taps()).toEqual(before);
    });

    it("a busy tap and a missing tap: one line, exit 1, no tap created", async () => {
      const img = image("busy.img");
      const before = taps();
      const held = openTap(TAP, "holder");
      try {
        const r = await cli(LEGACY_SEED(crash, "", img.path, `,ifname=${TAP}`));
        expectOneLineError(r, /netdev tap0: tap device mvtap0 is busy/);
      } finally {
        held.close();
      }
      const r = await cli(LEGACY_SEED(crash, "", img.path, ",ifname=mvnosuch0"));
      expectOneLineError(r, /netdev tap0: tap device mvnosuch0 does not exist/);
      expect(taps()).toEqual(before);
      expect(existsSync("/sys/class/net/mvnosuch0")).toBe(false);
      // and the drive opened before the tap failed was unlocked again
      const fd = openSync(img.path, constants.O_RDWR);
      try {
        expect(() => lockImage(fd, img.path, false)).not.toThrow();
      } finally {
        closeSync(fd);
      }
    });
  });  });
  });
});
