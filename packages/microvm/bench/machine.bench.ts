// Machine rows of `pnpm bench`: the in-process boot of the test guest against QEMU's whole process
// on the same guest, and UART output throughput against QEMU's. Each side runs the same kernel
// image with the same devices; sides are interleaved by the harness.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import {
  buildGuests,
  guestParams,
  makeFixture,
  qemuAvailable,
  runQemu,
  standardExpectations,
  type Fixture,
} from "../../../test/guests/harness.ts";
import { createMachine } from "../src/index.js";
import { TRIPLE_FAULT, tinyKernel } from "../test/helpers.js";

const kvmMissing = Kvm.unavailableReason();
const skip = (): string | undefined => kvmMissing ?? (qemuAvailable() ? undefined : "qemu-system-x86_64 not found");

/**
 * A kernel that writes `n` bytes to COM1, polling LSR.THRE before each one as Linux's 8250
 * console does (QEMU's UART drops bytes written while its transmitter is busy, ours never is).
 */
function uartKernel(n: number): Uint8Array {
  return tinyKernel(`
	mov $${n}, %ecx
1:	test %ecx, %ecx
	jz 3f
	mov $0x3fd, %dx
2:	inb %dx, %al
	test $0x20, %al
	jz 2b
	mov $0x3f8, %dx
	mov $'x', %al
	outb %al, %dx
	dec %ecx
	jmp 1b
3:
${TRIPLE_FAULT}`);
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of it) n += c.length;
  return n;
}

export async function cases(): Promise<BenchCase[]> {
  let fx: Fixture | undefined;
  let kernelPath = "";
  let dir = "";
  const cpus = 2;
  const boot: BenchCase = {
    name: "in-process boot: test guest, SMP 2, blk+console+rng+net, to guest done",
    unit: "ms",
    better: "lower",
    reference: "QEMU microvm whole process (incl. qboot), same guest and devices",
    goal: "<= 0.5",
    reps: 5,
    warmup: 1,
    skip,
    async setup() {
      kernelPath = (await buildGuests()).elf64;
      fx = makeFixture();
    },
    teardown() {
      fx?.cleanup();
    },
    async ours() {
      const f = fx as Fixture;
      const disk = new SharedArrayBuffer(f.diskSectors * 512);
      new Uint8Array(disk).set(readFileSync(f.disk));
      const kernel = readFileSync(kernelPath);
      const initrd = readFileSync(f.initrd);
      const t0 = performance.now();
      const m = await createMachine({
        kernel,
        cpus,
        legacy: true,
        initrd,
        virtioVersion: 2,
        cmdline: guestParams(standardExpectations(f, cpus, 2)),
        devices: [{ kind: "blk", backend: { type: "memory", buffer: disk } }, { kind: "console" }, { kind: "rng" }, { kind: "net" }],
      });
      await Promise.all([drain(m.serial()), drain(m.console()), m.done]);
      return performance.now() - t0;
    },
    async ref() {
      const f = fx as Fixture;
      const r = await runQemu({
        kernel: kernelPath,
        smp: cpus,
        legacy: false,
        append: guestParams(standardExpectations(f, cpus, 2)),
        initrd: f.initrd,
        disk: f.disk,
        consoleFile: join(f.dir, "console.txt"),
        rng: true,
        net: true,
      });
      return r.durationMs;
    },
  };

  const N = 200_000;
  let bigPath = "";
  let smallPath = "";
  const uart: BenchCase = {
    name: `UART output: ${N} bytes of guest serial output`,
    unit: "bytes/s",
    better: "higher",
    reference: "QEMU microvm, same guest, -serial stdio into a pipe",
    goal: ">= 1",
    reps: 5,
    warmup: 1,
    skip,
    setup() {
      dir = mkdtempSync(join(tmpdir(), "microvm-bench-"));
      bigPath = join(dir, "big.elf");
      smallPath = join(dir, "small.elf");
      writeFileSync(bigPath, uartKernel(N));
      writeFileSync(smallPath, uartKernel(0));
    },
    teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async ours() {
      // Throughput = N / (time with N bytes - time with none): boot costs cancel out.
      const run = async (path: string): Promise<number> => {
        const t0 = performance.now();
        const m = await createMachine({ kernel: readFileSync(path), cpus: 1, legacy: true, memory: 64 << 20 });
        const [bytes] = await Promise.all([drain(m.serial()), m.done]);
        if (path === bigPath && bytes !== N) throw new Error(`our UART delivered ${bytes} bytes, expected ${N}`);
        return performance.now() - t0;
      };
      const big = await run(bigPath);
      const small = await run(smallPath);
      return N / (Math.max(1, big - small) / 1000);
    },
    async ref() {
      const big = await runQemu({ kernel: bigPath, memMib: 64 });
      const small = await runQemu({ kernel: smallPath, memMib: 64 });
      if (big.serial.length !== N) throw new Error(`QEMU printed ${big.serial.length} bytes, expected ${N}`);
      return N / (Math.max(1, big.durationMs - small.durationMs) / 1000);
    },
  };
  return [boot, uart];
}
