// Linux reaches userspace on OUR tables on every host: the QEMU engine runs the plan (our ROM, our
// start_info, E820, MPTable and command line, our entry state) in QEMU's microvm under TCG, so no
// /dev/kvm is needed. Two kernels:
// - the recipe's (scripts/linux/build-kernel.sh, cached outside the checkout): its initramfs checks
//   blk, net, console and rng and prints one line; the kernel's own lines must show our tables;
// - Debian's stock 6.1 vmlinux (scripts/fetch-linux.sh): our E820 and MPTable lines, 2 CPUs, /init.
// Negative controls: the same run with a corrupted MPTable checksum (Linux then finds one CPU and
// says why), and a run without devices (every device check says fail).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemmapType } from "@microvm/pvh";
import { createQemuMachine, planFor, type DeviceConfig, type MachineOptions, type MachinePlan } from "../src/index.js";
import { openTap } from "../src/node/tap.js";
import { qemuAvailable } from "../../../test/guests/harness.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BUILD = join(ROOT, "scripts", "linux", "build-kernel.sh");
const LIMIT_MS = 120_000;
const CMDLINE = "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1";

function recipe(): { vmlinux: string; initramfs: string; disk: string } | undefined {
  const r = spawnSync("bash", [BUILD, "--print"], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const kv = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  return kv["vmlinux"] && kv["initramfs"] && kv["disk"] ? { vmlinux: kv["vmlinux"], initramfs: kv["initramfs"], disk: kv["disk"] } : undefined;
}

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const built = recipe();
const noRecipe = built ? undefined : "the recipe's kernel is not built here: run scripts/linux/build-kernel.sh (./run ci builds it)";
const isRoot = process.getuid?.() === 0;
const noTap = !isRoot ? "not root: a tap needs CAP_NET_ADMIN" : !existsSync("/dev/net/tun") ? "/dev/net/tun missing" : undefined;
const title = (what: string, ...reasons: (string | undefined)[]): string => {
  const r = reasons.find((x) => x !== undefined);
  return r ? `${what} (skipped: ${r})` : what;
};

/** Runs a plan on the QEMU engine, collecting the UART and the first console until the end. */
async function boot(options: MachineOptions, plan: MachinePlan): Promise<{ text: string; hvc: string; reason: string; message?: string }> {
  const m = await createQemuMachine(options, plan);
  const timer = setTimeout(() => void m.stop(), LIMIT_MS);
  let hvc = "";
  const con = (async () => {
    for await (const c of m.console()) hvc += Buffer.from(c).toString("latin1");
  })();
  let text = "";
  for await (const c of m.serial()) text += Buffer.from(c).toString("latin1");
  const end = await m.done;
  await con;
  clearTimeout(timer);
  return { text, hvc, reason: end.reason, ...(end.message ? { message: end.message } : {}) };
}

const linesOf = (text: string, re: RegExp): string[] =>
  text.split(/\r?\n/).filter((l) => re.test(l)).map((l) => l.replace(/^\[\s*\d+\.\d+\]\s*/, "").trim());

const E820_NAMES: Record<number, string> = { [MemmapType.RAM]: "usable", [MemmapType.RESERVED]: "reserved", [MemmapType.ACPI]: "ACPI data", [MemmapType.NVS]: "ACPI NVS" };
const hex16 = (n: bigint): string => `0x${n.toString(16).padStart(16, "0")}`;

/**
 * The table Linux prints for a PVH memory map: it adds a reserved entry for the ISA range
 * [0xa0000, 0x100000) (arch/x86/platform/pvh/enlighten.c init_pvh_bootparams), then sanitizes:
 * where types overlap the higher type number wins, and adjacent ranges of one type merge
 * (arch/x86/kernel/e820.c e820__update_table).
 */
function linuxPvhE820(entries: MachinePlan["e820"]): { addr: bigint; size: bigint; type: number }[] {
  const all = [...entries, { addr: 0xa0000n, size: 0x60000n, type: MemmapType.RESERVED }];
  const points = [...new Set(all.flatMap((e) => [e.addr, e.addr + e.size]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: { addr: bigint; size: bigint; type: number }[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i] as bigint;
    const b = points[i + 1] as bigint;
    const type = Math.max(0, ...all.filter((e) => e.addr <= a && e.addr + e.size >= b).map((e) => e.type));
    if (type === 0) continue;
    const last = out[out.length - 1];
    if (last && last.type === type && last.addr + last.size === a) last.size += b - a;
    else out.push({ addr: a, size: b - a, type });
  }
  return out;
}

/**
 * What the kernel's log must say about the machine it was given, checked against the plan; each
 * failing check is named. Sources: arch/x86/kernel/setup.c ("Command line:"), e820.c
 * (e820__print_table "BIOS-e820: [mem %#018Lx-%#018Lx] "), mpparse.c ("MPTABLE: OEM ID:",
 * MP_processor_info "Processor #%d", smp_read_mpc's checksum message), smpboot.c / kernel/smp.c
 * ("smp: Brought up %d node, %d CPUs"), init/main.c ("Run %s as init process").
 */
function kernelChecks(text: string, plan: MachinePlan): string[] {
  const failed: string[] = [];
  const check = (name: string, ok: boolean): void => void (ok || failed.push(name));
  check("command line", linesOf(text, /Command line: /).some((l) => l === `Command line: ${plan.cmdline}`));
  const e820 = linuxPvhE820(plan.e820).map((e) => `BIOS-e820: [mem ${hex16(e.addr)}-${hex16(e.addr + e.size - 1n)}] ${E820_NAMES[e.type] ?? `type ${e.type}`}`);
  check("e820 is ours", JSON.stringify(linesOf(text, /BIOS-e820: /)) === JSON.stringify(e820));
  check("MPTABLE OEM", /MPTABLE: OEM ID: MICROVM/.test(text));
  check(`MPTable processors (${plan.cpus})`, linesOf(text, /Processor #\d+/).length === plan.cpus);
  check(`CPUs brought up (${plan.cpus})`, new RegExp(`smp: Brought up 1 node, ${plan.cpus} CPUs?\\b`).test(text));
  check("IOAPIC from the MPTable", /IOAPIC\[0\]: apic_id \d+, version 17, address 0xfec00000/.test(text));
  check("no 8254 timer complaint", !/MP-BIOS bug: 8254 timer not connected/.test(text));
  check("reached /init", /Run \/init as init process/.test(text));
  return failed;
}

describe.skipIf(noQemu !== undefined || noRecipe !== undefined)(title("the recipe's kernel on the QEMU engine (TCG): our tables, userspace, every device", noQemu, noRecipe), () => {
  let dir: string;
  let vmlinux: Uint8Array;
  let initrd: Uint8Array;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "microvm-linux-qemu-"));
    vmlinux = new Uint8Array(readFileSync(built?.vmlinux as string));
    initrd = new Uint8Array(readFileSync(built?.initramfs as string));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const devicesFor = (disk: string, tapFd: number | undefined): DeviceConfig[] => [
    { kind: "blk", backend: { type: "file", path: disk } },
    ...(tapFd !== undefined ? [{ kind: "net", backend: { type: "tap", fd: tapFd } } as const] : []),
    { kind: "console" },
    { kind: "rng" },
  ];

  it(title("blk, net (tap), console and rng all ok; the kernel shows our command line, E820, MPTable and 2 CPUs; reboot=t ends it as a triple fault", noTap), async () => {
    const disk = join(dir, "disk.img");
    copyFileSync(built?.disk as string, disk);
    const tap = noTap === undefined ? openTap(undefined, "n0") : undefined;
    try {
      const options: MachineOptions = { kernel: vmlinux, initrd, cpus: 2, memory: 512 << 20, legacy: true, cmdline: CMDLINE, engine: "qemu", accel: "tcg", devices: devicesFor(disk, tap?.fd) };
      const { plan } = planFor(options);
      const run = await boot(options, plan);
      const tail = `serial tail:\n${run.text.slice(-3000)}`;
      expect(linesOf(run.text, /microvm-linux: blk=/), tail).toEqual([`microvm-linux: blk=ok net=${tap ? "ok" : "fail"} console=ok rng=ok`]);
      expect(kernelChecks(run.text, plan), tail).toEqual([]);
      expect(linesOf(run.text, /virtio-mmio: Registering device/)).toHaveLength(tap ? 4 : 3);
      expect(run.hvc).toContain("microvm-linux: hello from hvc0");
      expect(run.reason, run.message).toBe("triple-fault");
    } finally {
      tap?.close();
    }
  }, LIMIT_MS + 30_000);

  it("negative control: a corrupted MPTable checksum turns the MPTable and CPU checks red", async () => {
    const options: MachineOptions = { kernel: vmlinux, initrd, cpus: 2, memory: 512 << 20, legacy: true, cmdline: CMDLINE, engine: "qemu", accel: "tcg" };
    const { plan } = planFor(options);
    const bytes = plan.mptable.bytes.slice();
    // The configuration table's checksum byte: the floating pointer (16 bytes) comes first, then
    // the table header, whose byte 7 is the checksum (MP spec 1.4 §4.2).
    bytes[16 + 7] = ((bytes[16 + 7] ?? 0) + 1) & 0xff;
    // The engines copy plan.blobs (the MPTable is one of them): the broken bytes go there too.
    const broken: MachinePlan = { ...plan, mptable: { ...plan.mptable, bytes }, blobs: plan.blobs.map((b) => (b.name === "MPTable" ? { ...b, bytes } : b)) };
    const run = await boot(options, broken);
    const failed = kernelChecks(run.text, broken);
    expect(failed, run.text.slice(-3000)).toContain("MPTable processors (2)");
    expect(failed).toContain("CPUs brought up (2)");
    expect(failed).not.toContain("e820 is ours"); // only what was broken goes red
    expect(run.text).toMatch(/MPTABLE: checksum error/);
  }, LIMIT_MS + 30_000);

  it("negative control: without devices every device check says fail", async () => {
    const options: MachineOptions = { kernel: vmlinux, initrd, cpus: 1, memory: 256 << 20, legacy: true, cmdline: CMDLINE, engine: "qemu", accel: "tcg" };
    const { plan } = planFor(options);
    const run = await boot(options, plan);
    expect(linesOf(run.text, /microvm-linux: blk=/), run.text.slice(-2000)).toEqual(["microvm-linux: blk=fail net=fail console=fail rng=fail"]);
  }, LIMIT_MS + 30_000);
});

// Debian's stock kernel: no virtio-mmio command-line devices (VIRTIO_MMIO_CMDLINE_DEVICES is off)
// and virtio_mmio is a module, so only the tables and the CPUs are checked, plus reaching /init
// (the recipe's initramfs, when built; the kernel panics after "Run /init" is not needed).
function stockVmlinux(): string | undefined {
  const cache = join(ROOT, ".cache", "linux");
  const cached = existsSync(cache) ? readdirSync(cache).find((f) => f.endsWith(".vmlinux")) : undefined;
  if (cached) return join(cache, cached);
  if (process.env["MICROVM_FETCH_LINUX"] === "0") return undefined;
  try {
    return execFileSync(join(ROOT, "scripts", "fetch-linux.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch {
    return undefined;
  }
}

describe.skipIf(noQemu !== undefined || noRecipe !== undefined)(title("Debian's stock 6.1 vmlinux on the QEMU engine (TCG): our E820 and MPTable, 2 CPUs, /init", noQemu, noRecipe), () => {
  it("prints our command line, E820 map, MPTable lines, brings up 2 CPUs and runs /init", async () => {
    const path = stockVmlinux();
    expect(path, "scripts/fetch-linux.sh could not extract Debian's vmlinux").toBeDefined();
    const kernel = new Uint8Array(readFileSync(path as string));
    const initrd = new Uint8Array(readFileSync(built?.initramfs as string));
    const options: MachineOptions = { kernel, initrd, cpus: 2, memory: 512 << 20, legacy: true, cmdline: CMDLINE, engine: "qemu", accel: "tcg" };
    const { plan } = planFor(options);
    const run = await boot(options, plan);
    expect(kernelChecks(run.text, plan), run.text.slice(-3000)).toEqual([]);
    expect(run.text).toMatch(/Processors: 2\b/);
  }, LIMIT_MS + 300_000);
});
