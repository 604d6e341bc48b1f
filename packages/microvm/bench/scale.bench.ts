// Machine rows of `pnpm bench` beyond boot and UART throughput: the cost of a guest port write
// through the whole machine (the UART path: exit, vCPU-thread handler, UART model, output ring,
// re-entry) against a plain C KVM loop; the CPU an idle guest costs; and many small machines
// booting at once against as many QEMU processes.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@microvm/kvm";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuArgs, qemuAvailable, runQemu } from "../../../test/guests/harness.ts";
import { createMachine } from "../src/index.js";
import { SAY_HI, TRIPLE_FAULT, tinyKernel } from "../test/helpers.js";

const kvmMissing = Kvm.unavailableReason();
const needQemu = (): string | undefined => kvmMissing ?? (qemuAvailable() ? undefined : "qemu-system-x86_64 not found");

async function drain(it: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of it) n += c.length;
  return n;
}

/** `n` writes of one byte to port 0x3f8, no LSR polling (as the C reference loop does). */
const outs = (n: number): Uint8Array =>
  tinyKernel(`
	mov $${n}, %ecx
	mov $0x3f8, %dx
	mov $'x', %al
1:	test %ecx, %ecx
	jz 2f
	outb %al, %dx
	dec %ecx
	jmp 1b
2:
${TRIPLE_FAULT}`);

// The reference: a plain C KVM loop running the same guest loop (out to 0x3f8, counted down in
// ecx), serving each exit by storing the byte, as a minimal VMM would (real mode: same instructions).
const C_SOURCE = String.raw`
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#define CHECK(x) do { if ((x) < 0) { perror(#x); exit(1); } } while (0)
int main(int argc, char **argv) {
  unsigned n = (unsigned)atol(argv[1]);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC); CHECK(kvm);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0); CHECK(vm);
  CHECK(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000));
  /* the same VM-level devices as the machine: in-kernel irqchip and PIT */
  CHECK(ioctl(vm, KVM_CREATE_IRQCHIP, 0));
  struct kvm_pit_config pit = { .flags = 0 }; CHECK(ioctl(vm, KVM_CREATE_PIT2, &pit));
  unsigned char *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  /* mov ecx, n; mov dx, 0x3f8; mov al, 'x'; l: test ecx,ecx; jz e; out dx, al; dec ecx; jmp l;
     e: out 0x99 (a last, different exit that ends the loop; with an irqchip HLT never exits) */
  unsigned char code[] = { 0x66, 0xb9, 0, 0, 0, 0, 0xba, 0xf8, 0x03, 0xb0, 'x', 0x66, 0x85, 0xc9, 0x74, 0x05, 0xee, 0x66, 0x49, 0xeb, 0xf6, 0xe6, 0x99 };
  memcpy(code + 2, &n, 4);
  memcpy(mem + 0x1000, code, sizeof code);
  struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0, .memory_size = 0x10000, .userspace_addr = (unsigned long)mem };
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r));
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0); CHECK(vcpu);
  int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0); CHECK(sz);
  struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs s; CHECK(ioctl(vcpu, KVM_GET_SREGS, &s)); s.cs.base = 0; s.cs.selector = 0; CHECK(ioctl(vcpu, KVM_SET_SREGS, &s));
  struct kvm_regs g; memset(&g, 0, sizeof g); g.rip = 0x1000; g.rflags = 2; CHECK(ioctl(vcpu, KVM_SET_REGS, &g));
  static unsigned char out[1 << 20]; unsigned long k = 0;
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  for (;;) {
    CHECK(ioctl(vcpu, KVM_RUN, 0));
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x3f8) { out[k++ & ((1 << 20) - 1)] = *((unsigned char *)run + run->io.data_offset); continue; }
    break;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%lu %.0f\n", k, ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)));
  return k == n ? 0 : 2;
}
`;

function cLoop(): string {
  const dir = join(tmpdir(), "microvm-bench");
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, `uart-loop-${createHash("sha256").update(C_SOURCE).digest("hex").slice(0, 12)}`);
  if (!existsSync(bin)) {
    writeFileSync(`${bin}.c`, C_SOURCE);
    execFileSync("gcc", ["-O2", "-o", bin, `${bin}.c`]);
  }
  return bin;
}

const EXITS = 50_000;

/** CPU time of every thread of a process, in ns (/proc/<pid>/task/<tid>/schedstat, field 1). */
function cpuNs(pid: string): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

export function cases(): BenchCase[] {
  let big: Uint8Array;
  let small: Uint8Array;
  let bin = "";
  const exit: BenchCase = {
    name: `exit round trip: guest port write through the machine's UART path (${EXITS} exits)`,
    unit: "ns/exit",
    better: "lower",
    reference: "a plain C KVM_RUN loop serving the same guest loop",
    goal: "<= 1.2",
    reps: 5,
    warmup: 1,
    skip: () => kvmMissing,
    setup() {
      big = outs(EXITS);
      small = outs(0);
      bin = cLoop();
    },
    async ours() {
      const run = async (kernel: Uint8Array): Promise<number> => {
        const m = await createMachine({ kernel, cpus: 1, legacy: true, memory: 16 << 20 });
        const [, end] = await Promise.all([drain(m.serial()), m.done]);
        return end.vcpus[0]?.runTimeNs ?? NaN; // measured on the vCPU thread: KVM_RUN loop only
      };
      return ((await run(big)) - (await run(small))) / EXITS;
    },
    ref() {
      const [k, ns] = execFileSync(bin, [String(EXITS)], { encoding: "utf8" }).trim().split(" ").map(Number);
      if (k !== EXITS) throw new Error(`the C loop served ${k} exits`);
      return (ns ?? NaN) / EXITS;
    },
  };

  const IDLE_MS = 5000;
  const idleKernel = (): Uint8Array => tinyKernel(`
	sti
1:	hlt
	jmp 1b`);
  let idle: Uint8Array;
  let dir = "";
  const idleRow: BenchCase = {
    name: `idle: CPU used by a guest sitting in HLT for ${IDLE_MS / 1000} s`,
    unit: "ms CPU",
    better: "lower",
    reference: "QEMU microvm process, same guest, CPU time over the same window",
    goal: "<= 1",
    reps: 3,
    warmup: 0,
    skip: needQemu,
    setup() {
      idle = idleKernel();
      dir = mkdtempSync(join(tmpdir(), "microvm-idle-"));
      writeFileSync(join(dir, "idle.elf"), idle);
    },
    teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async ours() {
      const m = await createMachine({ kernel: idle, cpus: 1, legacy: true, memory: 32 << 20 });
      await new Promise((r) => setTimeout(r, 500)); // booted and halted
      const a = cpuNs("self");
      await new Promise((r) => setTimeout(r, IDLE_MS));
      const used = (cpuNs("self") - a) / 1e6;
      await m.stop();
      return used;
    },
    async ref() {
      const child = spawn("qemu-system-x86_64", qemuArgs({ kernel: join(dir, "idle.elf"), memMib: 32 }), { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 1500)); // qboot + boot, then halted
      const a = cpuNs(String(child.pid));
      await new Promise((r) => setTimeout(r, IDLE_MS));
      const used = (cpuNs(String(child.pid)) - a) / 1e6;
      child.kill("SIGKILL");
      return used;
    },
  };

  const K = 8;
  let hi: Uint8Array;
  let hiPath = "";
  const scale: BenchCase = {
    name: `scale: ${K} 32 MiB machines booting at once (tiny guest), boots per second`,
    unit: "boots/s",
    better: "higher",
    reference: `${K} QEMU microvm processes started at once, same guest`,
    goal: ">= 1",
    reps: 3,
    warmup: 1,
    skip: needQemu,
    setup() {
      hi = tinyKernel(SAY_HI);
      dir = mkdtempSync(join(tmpdir(), "microvm-scale-"));
      hiPath = join(dir, "hi.elf");
      writeFileSync(hiPath, hi);
    },
    teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async ours() {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: K }, async () => {
          const m = await createMachine({ kernel: hi, cpus: 1, legacy: true, memory: 32 << 20 });
          const [out] = await Promise.all([drain(m.serial()), m.done]);
          if (out !== 3) throw new Error(`a machine printed ${out} bytes`);
        }),
      );
      return K / ((performance.now() - t0) / 1000);
    },
    async ref() {
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: K }, () => runQemu({ kernel: hiPath, memMib: 32 })));
      if (runs.some((r) => r.serial !== "hi\n")) throw new Error("a QEMU run did not print hi");
      return K / ((performance.now() - t0) / 1000);
    },
  };
  return [exit, idleRow, scale];
}
