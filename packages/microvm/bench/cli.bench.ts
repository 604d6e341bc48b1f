// CLI rows of `pnpm bench`: the `microvm` process against QEMU's on the same test guest with the
// same devices, from spawn to exit, and their peak resident memory. Both sides are whole
// processes started the same way; /usr/bin/time (GNU time) reports each one's peak RSS from
// wait4's rusage (ru_maxrss), so neither side is polled.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import { buildGuests, qemuAvailable, testBytes } from "../../../test/guests/harness.ts";

// The bin as package.json names it (dist/cli.js is an ES module alias of it).
const CLI = fileURLToPath(new URL("../dist/cli.cjs", import.meta.url));
const kvmMissing = Kvm.unavailableReason();
const gnuTime = spawnSync("/usr/bin/time", ["-f", "%M", "true"], { encoding: "utf8" }).status === 0;
const skip = (): string | undefined =>
  kvmMissing ??
  (!qemuAvailable() ? "qemu-system-x86_64 not found" : !existsSync(CLI) ? "packages/microvm/dist/cli.cjs not built (pnpm build)" : !gnuTime ? "GNU time (/usr/bin/time) not installed" : undefined);

interface Sample {
  readonly ms: number;
  readonly maxRssKiB: number;
}

/** Runs a whole process under GNU time; returns its wall time and peak RSS (ru_maxrss, KiB). */
function measure(cmd: string, args: string[]): Sample {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", cmd, ...args], { encoding: "latin1", maxBuffer: 16 << 20 });
  const ms = performance.now() - t0;
  if (!/^summary pass=\d+ fail=0 result=PASS$/m.test(r.stdout)) throw new Error(`${cmd}: the guest did not pass:\n${r.stdout.slice(-2000)}\n${r.stderr}`);
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`${cmd}: no rusage from /usr/bin/time: ${r.stderr}`);
  return { ms, maxRssKiB: Number(m[1]) };
}

export async function cases(): Promise<BenchCase[]> {
  let dir = "";
  let ours: string[] = [];
  let qemu: string[] = [];
  const setup = async (): Promise<void> => {
    if (dir) return;
    const kernel = (await buildGuests()).elf64;
    dir = mkdtempSync(join(tmpdir(), "microvm-cli-bench-"));
    const disk = join(dir, "disk.img");
    writeFileSync(disk, testBytes(128 * 512, 0x1234));
    const append = "microvm.expect_cpus=2 microvm.mem_mib=128 microvm.blk_sectors=128";
    // The same board on both sides: 2 vCPUs, 128 MiB, the 16550A on stdout, blk on a raw file, rng.
    ours = [CLI, "-M", "microvm,legacy", "-m", "128m", "-smp", "2", "-kernel", kernel, "-append", append, "-nodefaults", "-no-user-config",
      "-drive", `id=d0,file=${disk},format=raw,if=none`, "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device", "-serial", "stdio"];
    qemu = ["-M", "microvm,acpi=off,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=on", "-enable-kvm", "-cpu", "host,arch-capabilities=off",
      "-m", "128m", "-smp", "2", "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none", "-serial", "stdio", "-kernel", kernel, "-append", append,
      "-drive", `if=none,id=d0,file=${disk},format=raw`, "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device"];
  };
  const teardown = (): void => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  };
  const wall: BenchCase = {
    name: "microvm CLI whole process: test guest, SMP 2, blk (raw file) + rng, UART on stdout",
    unit: "ms",
    better: "lower",
    reference: "qemu-system-x86_64 -M microvm whole process, same guest, flags and devices",
    goal: "<= 1.0",
    reps: 7,
    warmup: 1,
    skip,
    setup,
    teardown,
    ours: () => measure(process.execPath, ours).ms,
    ref: () => measure("qemu-system-x86_64", qemu).ms,
  };
  const rss: BenchCase = {
    name: "microvm CLI peak resident memory, same run",
    unit: "MiB",
    better: "lower",
    reference: "qemu-system-x86_64 peak RSS (ru_maxrss), same run",
    goal: "<= 1.2",
    reps: 5,
    warmup: 1,
    skip,
    setup,
    teardown,
    ours: () => measure(process.execPath, ours).maxRssKiB / 1024,
    ref: () => measure("qemu-system-x86_64", qemu).maxRssKiB / 1024,
  };
  const startup: BenchCase = {
    name: "microvm CLI start-up alone: --version",
    unit: "ms",
    better: "lower",
    reference: "qemu-system-x86_64 --version",
    reps: 9,
    warmup: 2,
    skip: () => (!existsSync(CLI) ? "packages/microvm/dist/cli.cjs not built (pnpm build)" : !qemuAvailable() ? "qemu-system-x86_64 not found" : undefined),
    ours() {
      const t0 = performance.now();
      spawnSync(process.execPath, [CLI, "--version"]);
      return performance.now() - t0;
    },
    ref() {
      const t0 = performance.now();
      spawnSync("qemu-system-x86_64", ["--version"]);
      return performance.now() - t0;
    },
  };
  // The same run's peak against Node's own floor: everything above `node -e 0` is ours (worker
  // threads, koffi, the guest's touched RAM, our modules and heap).
  const floor: BenchCase = {
    name: "microvm CLI peak resident memory above Node's floor, same run",
    unit: "MiB",
    better: "lower",
    reference: "node -e 0 peak RSS (ru_maxrss)",
    reps: 5,
    warmup: 1,
    skip,
    setup,
    teardown,
    ours: () => measure(process.execPath, ours).maxRssKiB / 1024,
    ref() {
      const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", process.execPath, "-e", "0"], { encoding: "utf8" });
      const m = /MAXRSS (\d+)/.exec(r.stderr);
      if (!m) throw new Error(`node -e 0: no rusage from /usr/bin/time: ${r.stderr}`);
      return Number(m[1]) / 1024;
    },
  };
  // The same, with the vCPUs on native threads and the device models on the main thread (no
  // worker at all): what `--vcpu-threads native` saves.
  const nativeFloor: BenchCase = {
    ...floor,
    name: "microvm CLI peak resident memory above Node's floor, --vcpu-threads native, same run",
    ours: () => measure(process.execPath, [...ours, "--vcpu-threads", "native"]).maxRssKiB / 1024,
  };
  // The small-footprint mode: native threads as above, and V8 without its optimising compiler and
  // with a young generation of fixed size (src/node/footprint.ts). The goal is for this row.
  const smallFloor: BenchCase = {
    ...floor,
    name: "microvm CLI peak resident memory above Node's floor, --footprint small, same run",
    goal: "<= +15 MiB",
    ours: () => measure(process.execPath, [...ours, "--footprint", "small"]).maxRssKiB / 1024,
  };
  return [wall, rss, floor, nativeFloor, smallFloor, startup];
}
