// The start-up rows of `pnpm bench` (docs/performance.md, "Start-up and footprint"):
// - the `microvm` bin (dist/cli.cjs, what package.json's "bin" names) against `node -e 0`, Node's
//   own floor, whole process, wall time and peak RSS (GNU time's ru_maxrss): `--version` and
//   `-M microvm --info-mtree` (the planner, no kernel);
// - spawn to QEMU's exec on the QEMU engine against `node -e 0`: `qemu-system-x86_64` is a shim
//   first on PATH (a C program built here) that writes CLOCK_MONOTONIC at its exec and exits 1, so
//   the row measures everything our process does before QEMU starts (Node, our modules, reading
//   the kernel, planning, writing the ROM and blobs, the QMP socket, setpriv's exec);
// - on KVM hosts: spawn to the first byte of guest serial output (tiny guest) against QEMU's
//   microvm spawned the same way on the same kernel (QEMU runs its qboot firmware before the
//   kernel: that is part of its start-up, as Node's is of ours).
// Each row alternates the two sides (bench/harness.ts), median of 21 (15 for the QEMU row).
// MICROVM_BENCH_CLI=/path/to/cli.js runs the rows on another build of the bin;
// MICROVM_COMPILE_CACHE=0 runs them without the CLI's compile cache.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuArgs, qemuAvailable } from "../../../test/guests/harness.ts";
import { SAY_HI, tinyKernel } from "../test/helpers.js";

// MICROVM_BENCH_CLI: another build of the bin (e.g. an older commit's dist/cli.js), for before/after.
const BIN = process.env["MICROVM_BENCH_CLI"] ?? fileURLToPath(new URL("../dist/cli.cjs", import.meta.url));
const kvmMissing = Kvm.unavailableReason();
const notBuilt = (): string | undefined => (existsSync(BIN) ? undefined : `${BIN} not built (pnpm build)`);
const gnuTime = spawnSync("/usr/bin/time", ["-f", "%M", "true"], { encoding: "utf8" }).status === 0;
const NODE_FLOOR = ["-e", "0"];
// No user config file: the same work on every host. The CLI's compile cache (src/cli.ts) in a
// directory of this run, filled by the warm-up runs (as a user's is after the first run);
// MICROVM_COMPILE_CACHE=0 in the environment measures without it.
const CACHE = process.env["MICROVM_COMPILE_CACHE"] ?? join(tmpdir(), `microvm-bench-v8-${process.pid}`);
if (CACHE !== process.env["MICROVM_COMPILE_CACHE"]) process.on("exit", () => rmSync(CACHE, { recursive: true, force: true }));
const ENV = { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent", MICROVM_COMPILE_CACHE: CACHE };

/** Spawns a command and resolves with the milliseconds until its first stdout byte. */
function firstByte(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let t: number | undefined;
    let err = "";
    child.stdout.once("data", () => (t = performance.now() - t0));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", () => (t === undefined ? reject(new Error(`${cmd} printed nothing: ${err}`)) : resolve(t)));
  });
}

/** Whole-process wall time of `node <args>`, in ms; throws when it fails. */
function wallMs(args: readonly string[], env: NodeJS.ProcessEnv = ENV): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")}: status ${String(r.status)}: ${r.stderr.toString()}`);
  return ms;
}

/** Peak RSS (ru_maxrss, from GNU time) of `node <args>`, in MiB. */
function peakMiB(args: readonly string[]): number {
  const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", process.execPath, ...args], { encoding: "utf8", env: ENV });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`node ${args.join(" ")}: status ${String(r.status)}: ${r.stderr}`);
  return Number(m[1]) / 1024;
}

/** Checks once that a command prints what it should, so that no row times an error. */
function expectOutput(args: readonly string[], re: RegExp): void {
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env: ENV });
  if (r.status !== 0 || !re.test(r.stdout)) throw new Error(`node ${args.join(" ")}: status ${String(r.status)}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${r.stderr}`);
}

// A stand-in for qemu-system-x86_64: writes CLOCK_MONOTONIC (the clock of process.hrtime) to the
// file given at build time, then exits 1 (the engine then reports that QEMU did not start).
const SHIM_C = `#include <stdio.h>
#include <time.h>
int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  FILE *f = fopen(STAMP, "w");
  if (f) { fprintf(f, "%lld\\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec); fclose(f); }
  return 1;
}
`;

export function cases(): BenchCase[] {
  const version = [BIN, "--version"];
  const mtree = [BIN, "-M", "microvm", "--info-mtree"];
  const sideRows = (what: string, args: string[], re: RegExp, goals: { wall: string; rss: string }): BenchCase[] => [
    {
      name: `start-up: microvm ${what}, whole process`,
      unit: "ms",
      better: "lower",
      reference: "node -e 0 (Node's own start-up and exit)",
      goal: goals.wall,
      reps: 21,
      warmup: 3,
      skip: notBuilt,
      setup: () => expectOutput(args, re),
      ours: () => wallMs(args),
      ref: () => wallMs(NODE_FLOOR),
    },
    {
      name: `start-up: microvm ${what}, peak RSS`,
      unit: "MiB",
      better: "lower",
      reference: "node -e 0 peak RSS (ru_maxrss)",
      goal: goals.rss,
      reps: 21,
      warmup: 2,
      skip: () => notBuilt() ?? (gnuTime ? undefined : "GNU time (/usr/bin/time) not installed"),
      setup: () => expectOutput(args, re),
      ours: () => peakMiB(args),
      ref: () => peakMiB(NODE_FLOOR),
    },
  ];

  let dir = "";
  let kernel = "";
  let shimDir = "";
  let stamp = "";
  const shimEnv = (): NodeJS.ProcessEnv => ({ ...ENV, PATH: `${shimDir}:${process.env["PATH"] ?? ""}` });
  const engineArgs = (): string[] => [BIN, "-M", "microvm,legacy", "-accel", "tcg", "-m", "128m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"];
  const scratch = (): void => {
    if (dir) return;
    dir = mkdtempSync(join(tmpdir(), "microvm-startup-"));
    kernel = join(dir, "hi.elf");
    writeFileSync(kernel, tinyKernel(SAY_HI));
  };
  const gccMissing = (): string | undefined => (spawnSync("gcc", ["--version"], { stdio: "ignore" }).status === 0 ? undefined : "gcc not found (the tiny guest and the QEMU shim are built with it)");

  return [
    ...sideRows("--version", version, /^microvm \d+\.\d+\.\d+\n$/, { wall: "<= 1.05", rss: "<= +2 MiB" }),
    ...sideRows("-M microvm --info-mtree (planner, no kernel)", mtree, /\(prio 0, i\/o\): virtio-mmio/, { wall: "<= 1.10", rss: "<= +3 MiB" }),
    {
      name: "start-up: spawn to QEMU's exec, QEMU engine (tiny guest, -accel tcg, legacy)",
      unit: "ms",
      better: "lower",
      reference: "node -e 0 whole process; ours stops at the exec of a qemu-system-x86_64 shim that timestamps",
      goal: "<= 1.25",
      reps: 15,
      warmup: 2,
      skip: () => notBuilt() ?? gccMissing(),
      setup() {
        scratch();
        shimDir = join(dir, "bin");
        mkdirSync(shimDir, { recursive: true });
        stamp = join(dir, "exec-stamp");
        writeFileSync(join(dir, "shim.c"), SHIM_C);
        const cc = spawnSync("gcc", ["-O2", `-DSTAMP=${JSON.stringify(stamp)}`, "-o", join(shimDir, "qemu-system-x86_64"), join(dir, "shim.c")], { encoding: "utf8" });
        if (cc.status !== 0) throw new Error(`building the QEMU shim failed: ${cc.stderr}`);
      },
      teardown() {
        if (dir) rmSync(dir, { recursive: true, force: true });
        dir = "";
      },
      ours() {
        rmSync(stamp, { force: true });
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, engineArgs(), { encoding: "utf8", env: shimEnv() });
        if (!existsSync(stamp)) throw new Error(`the engine never started the QEMU shim (status ${String(r.status)}): ${r.stderr}`);
        if (!/QEMU did not start/.test(r.stderr)) throw new Error(`unexpected end after the shim: ${r.stderr}`);
        return Number(BigInt(readFileSync(stamp, "utf8").trim()) - t0) / 1e6;
      },
      ref: () => wallMs(NODE_FLOOR, shimEnv()),
    },
    {
      name: "start-up: spawn to the first byte of guest serial output (tiny guest)",
      unit: "ms",
      better: "lower",
      reference: "QEMU microvm spawned the same way (its qboot firmware runs first)",
      goal: "<= 1",
      reps: 7,
      warmup: 1,
      skip: () => kvmMissing ?? (!qemuAvailable() ? "qemu-system-x86_64 not found" : notBuilt()),
      setup: scratch,
      teardown() {
        if (dir) rmSync(dir, { recursive: true, force: true });
        dir = "";
      },
      ours: () => firstByte(process.execPath, [BIN, "-M", "microvm,legacy", "-m", "128m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"]),
      ref: () => firstByte("qemu-system-x86_64", qemuArgs({ kernel, memMib: 128 })),
    },
  ];
}
