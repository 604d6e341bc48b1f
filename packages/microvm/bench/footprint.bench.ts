// Rows of `pnpm bench` that need no /dev/kvm (docs/performance.md, "Start-up and footprint"). On
// the QEMU engine our process and QEMU's are two processes, each measured on its own, same run:
// - ours: the `microvm` bin's own peak RSS (VmHWM from /proc/self/status, written at exit by a
//   --require preload; GNU time's figure for our process would include QEMU's, its child);
// - QEMU's: qemu-system-x86_64 started by the engine through a shim first on PATH that runs the
//   real one under GNU time (`-o` a file), so QEMU's ru_maxrss is its own.
// The guest is the test guest under TCG (legacy, SMP 2, 128 MiB), its checks must pass.
// - long-lived process: machines per second when one Node process creates them one after the
//   other through createMachine (QEMU engine, TCG, tiny guest that prints and triple-faults),
//   against QEMU processes started one after the other on the same guest.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchCase } from "../../../bench/harness.ts";
import { buildGuests, qemuArgs, qemuAvailable } from "../../../test/guests/harness.ts";
import { createMachine } from "../src/index.js";
import { SAY_HI, tinyKernel } from "../test/helpers.js";

const BIN = fileURLToPath(new URL("../dist/cli.cjs", import.meta.url));
const gnuTime = spawnSync("/usr/bin/time", ["-f", "%M", "true"], { encoding: "utf8" }).status === 0;
const PASS_RE = /^summary pass=\d+ fail=0 result=PASS\r?$/m;

const PRELOAD = `process.on("exit", () => {
  if (!require("node:worker_threads").isMainThread) return;
  const m = /^VmHWM:\\s+(\\d+) kB/m.exec(require("node:fs").readFileSync("/proc/self/status", "utf8"));
  require("node:fs").writeFileSync(process.env.MICROVM_BENCH_HWM, m ? m[1] : "");
});
`;

export function cases(): BenchCase[] {
  let dir = "";
  let args: string[] = [];
  const qemuFigures: number[] = [];
  const skip = (): string | undefined =>
    !qemuAvailable() ? "qemu-system-x86_64 not found" : !existsSync(BIN) ? "packages/microvm/dist/cli.cjs not built (pnpm build)" : !gnuTime ? "GNU time (/usr/bin/time) not installed" : undefined;
  const real = (): string => {
    const r = spawnSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" });
    return r.stdout.trim();
  };
  const BATCH = 10;
  let hi: Uint8Array = new Uint8Array();
  let hiPath = "";
  return [
    {
      name: `long-lived process: ${BATCH} machines one after another via createMachine (QEMU engine, TCG, tiny guest), machines/s`,
      unit: "machines/s",
      better: "higher",
      reference: `${BATCH} qemu-system-x86_64 -M microvm processes one after another, same guest`,
      reps: 7,
      warmup: 1,
      skip: () => (qemuAvailable() ? undefined : "qemu-system-x86_64 not found"),
      setup() {
        hi = tinyKernel(SAY_HI);
        dir = mkdtempSync(join(tmpdir(), "microvm-footprint-"));
        hiPath = join(dir, "hi.elf");
        writeFileSync(hiPath, hi);
      },
      teardown() {
        if (dir) rmSync(dir, { recursive: true, force: true });
        dir = "";
      },
      async ours() {
        const t0 = performance.now();
        for (let i = 0; i < BATCH; i++) {
          const m = await createMachine({ kernel: hi, engine: "qemu", accel: "tcg", legacy: true, memory: 32 * 1024 * 1024, log: () => undefined });
          const end = await m.done;
          if (end.reason !== "triple-fault") throw new Error(`machine ${i}: ended with ${end.reason}: ${end.message ?? ""}`);
        }
        return BATCH / ((performance.now() - t0) / 1000);
      },
      ref() {
        const t0 = performance.now();
        for (let i = 0; i < BATCH; i++) {
          const r = spawnSync("qemu-system-x86_64", qemuArgs({ kernel: hiPath, memMib: 32, accel: "tcg" }), { encoding: "latin1" });
          if (!r.stdout.includes("hi")) throw new Error(`QEMU ${i}: no output (status ${String(r.status)}): ${r.stderr}`);
        }
        return BATCH / ((performance.now() - t0) / 1000);
      },
    },
    {
      name: "QEMU engine: our process's peak RSS beside QEMU's (test guest, TCG, legacy, SMP 2)",
      unit: "MiB",
      better: "lower",
      reference: "the same run's qemu-system-x86_64 peak RSS (its own ru_maxrss)",
      reps: 9,
      warmup: 1,
      skip,
      async setup() {
        const kernel = (await buildGuests()).elf64;
        dir = mkdtempSync(join(tmpdir(), "microvm-footprint-"));
        writeFileSync(join(dir, "hwm.cjs"), PRELOAD);
        const shim = join(dir, "qemu-system-x86_64");
        writeFileSync(shim, `#!/bin/sh\nexec /usr/bin/time -f "%M" -o ${JSON.stringify(join(dir, "qemu-rss"))} ${JSON.stringify(real())} "$@"\n`);
        chmodSync(shim, 0o755);
        args = ["--require", join(dir, "hwm.cjs"), BIN, "-M", "microvm,legacy", "-accel", "tcg", "-m", "128m", "-smp", "2", "-nodefaults", "-no-user-config",
          "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 microvm.expect_cpus=2 microvm.mem_mib=128"];
      },
      teardown() {
        if (dir) rmSync(dir, { recursive: true, force: true });
        dir = "";
      },
      ours() {
        for (const f of ["hwm", "qemu-rss"]) rmSync(join(dir, f), { force: true });
        const r = spawnSync(process.execPath, args, {
          encoding: "latin1",
          maxBuffer: 16 << 20,
          env: { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent", MICROVM_COMPILE_CACHE: join(dir, "cache"), PATH: `${dir}:${process.env["PATH"] ?? ""}`, MICROVM_BENCH_HWM: join(dir, "hwm") },
        });
        if (!PASS_RE.test(r.stdout)) throw new Error(`the guest did not pass:\n${r.stdout.slice(-2000)}\n${r.stderr}`);
        const qemu = Number(readFileSync(join(dir, "qemu-rss"), "utf8").trim().split("\n").pop());
        const ours = Number(readFileSync(join(dir, "hwm"), "utf8"));
        if (!(qemu > 0) || !(ours > 0)) throw new Error(`no figures: ours ${ours} KiB, QEMU ${qemu} KiB`);
        qemuFigures.push(qemu / 1024);
        return ours / 1024;
      },
      // QEMU's figure from the latest run of ours not yet used (the harness alternates: after
      // ours, this is that run's QEMU; before it, a run of its own is taken).
      ref() {
        if (qemuFigures.length === 0) this.ours();
        const q = qemuFigures.pop() as number;
        qemuFigures.length = 0;
        return q;
      },
    },
  ];
}
