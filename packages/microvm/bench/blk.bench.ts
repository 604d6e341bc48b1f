// The virtio-blk row of `pnpm bench`: the test guest reads, then writes, 8 MiB of a raw image
// file through one queue in 32 KiB requests (guests' microvm.blk_bench_kib mode), on our machine
// and on QEMU's microvm. The guest times each pass with its TSC, so both VMMs are measured by the
// same clock on the same work; the figure is MB/s over the read and write passes together.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import { buildGuests, parseReport, qemuAvailable, runQemu, testBytes } from "../../../test/guests/harness.ts";
import { createMachine } from "../src/index.js";

const KIB = 8 * 1024;
const kvmMissing = Kvm.unavailableReason();

/** MB/s from the guest's `info virtio.blk0 bench …` line. */
function throughput(report: string): number {
  const m = /bench kib=(\d+) tsc_khz=(\d+) read_ticks=(\d+) write_ticks=(\d+)/.exec(report);
  if (!m || !/^ok virtio\.blk0\.bench /m.test(report)) throw new Error(`no bench result in the report:\n${report.slice(-1500)}`);
  const [, kib, khz, r, w] = m.map(Number) as [number, number, number, number, number];
  const ms = (r + w) / khz;
  return (2 * kib * 1024) / 1e6 / (ms / 1000);
}

export function cases(): BenchCase[] {
  let dir = "";
  let disk = "";
  let kernel = "";
  const append = `microvm.blk_bench_kib=${KIB} microvm.irq=1`;
  const setup = async (): Promise<void> => {
    kernel = (await buildGuests()).elf64;
    dir = mkdtempSync(join(tmpdir(), "microvm-blk-bench-"));
    disk = join(dir, "disk.img");
    writeFileSync(disk, testBytes(KIB * 1024, 7));
  };
  const teardown = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  return [
    {
      name: `virtio-blk: guest reads then writes ${KIB / 1024} MiB in 32 KiB requests, one queue, raw file`,
      unit: "MB/s",
      better: "higher",
      reference: "QEMU microvm, same guest and image (-drive file=…,format=raw)",
      goal: ">= 1",
      reps: 5,
      warmup: 1,
      skip: () => kvmMissing ?? (qemuAvailable() ? undefined : "qemu-system-x86_64 not found"),
      setup,
      teardown,
      ours: () => ourRun("worker"),
      async ref() {
        const r = await runQemu({ kernel, append, disk, timeoutMs: 120_000 });
        return throughput(r.serial);
      },
    },
    {
      // The same guest with the vCPU on a native thread and the device inline (no worker): each
      // exit costs two thread wake-ups more; the I/O itself goes through ioeventfd and irqfd.
      name: `virtio-blk: guest reads then writes ${KIB / 1024} MiB in 32 KiB requests, --vcpu-threads native`,
      unit: "MB/s",
      better: "higher",
      reference: "the same run on vCPU and I/O workers (the row above)",
      reps: 5,
      warmup: 1,
      skip: () => kvmMissing,
      setup,
      teardown,
      ours: () => ourRun("native"),
      ref: () => ourRun("worker"),
    },
  ];

  async function ourRun(vcpuThreads: "worker" | "native"): Promise<number> {
    const m = await createMachine({
      kernel: readFileSync(kernel),
      legacy: true,
      cmdline: append,
      vcpuThreads,
      devices: [{ kind: "blk", backend: { type: "file", path: disk } }],
    });
    let text = "";
    for await (const c of m.serial()) text += Buffer.from(c).toString("latin1");
    await m.done;
    if (parseReport(text).summary === undefined) throw new Error(`the guest did not finish:\n${text.slice(-800)}`);
    return throughput(text);
  }
}
