// The start-up row of `pnpm bench`: from spawning the `microvm` CLI to the first byte of guest
// serial output, against QEMU's microvm spawned the same way on the same kernel (QEMU runs its
// qboot firmware before the kernel: that is part of its start-up, as Node's is of ours).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuArgs, qemuAvailable } from "../../../test/guests/harness.ts";
import { SAY_HI, tinyKernel } from "../test/helpers.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const kvmMissing = Kvm.unavailableReason();

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

export function cases(): BenchCase[] {
  let dir = "";
  let kernel = "";
  return [
    {
      name: "start-up: spawn to the first byte of guest serial output (tiny guest)",
      unit: "ms",
      better: "lower",
      reference: "QEMU microvm spawned the same way (its qboot firmware runs first)",
      goal: "<= 1",
      reps: 7,
      warmup: 1,
      skip: () => kvmMissing ?? (!qemuAvailable() ? "qemu-system-x86_64 not found" : !existsSync(CLI) ? "packages/microvm/dist/cli.js not built (pnpm build)" : undefined),
      setup() {
        dir = mkdtempSync(join(tmpdir(), "microvm-startup-"));
        kernel = join(dir, "hi.elf");
        writeFileSync(kernel, tinyKernel(SAY_HI));
      },
      teardown() {
        rmSync(dir, { recursive: true, force: true });
      },
      ours: () => firstByte(process.execPath, [CLI, "-M", "microvm,legacy", "-m", "128m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"]),
      ref: () => firstByte("qemu-system-x86_64", qemuArgs({ kernel, memMib: 128 })),
    },
  ];
}
