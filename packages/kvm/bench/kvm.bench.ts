/**
 * Bench row: the round trip of a guest port write (KVM_EXIT_IO, handler, re-entry) through
 * @microvm/kvm (a vCPU worker running KVM_RUN synchronously through koffi, the handler module on
 * the same thread) against a plain C program running the same guest loop. Both sides time only
 * the run loop, on their vCPU thread, and report nanoseconds per exit (the best of a few rounds
 * per sample on both sides, so that load from other processes on a shared machine matters less).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kvm } from "../src/index.ts";
import type { BenchCase } from "../../../bench/harness.ts";

const EXITS = 10_000;
/** Each sample is the best of ROUNDS timed loops, on both sides, to shed interference from other load. */
const ROUNDS = 3;
// Real mode at 0x1000: l: out 0x10, al; jmp l
const GUEST = [0xe6, 0x10, 0xeb, 0xfc];

const C_SOURCE = String.raw`
/* The C reference of the kvm bench: the same guest and loop as @microvm/kvm's side. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { perror(#x); exit(1); } } while (0)

int main(int argc, char **argv) {
  long exits = argc > 1 ? atol(argv[1]) : 20000;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  CHECK(kvm);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  CHECK(vm);
  CHECK(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000));
  size_t size = 0x10000;
  unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) { perror("mmap"); return 1; }
  static const unsigned char code[] = { 0xe6, 0x10, 0xeb, 0xfc };
  memcpy(mem + 0x1000, code, sizeof code);
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (unsigned long)mem };
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region));
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  CHECK(vcpu);
  int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  CHECK(runsz);
  struct kvm_run *run = mmap(NULL, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) { perror("mmap run"); return 1; }
  struct kvm_sregs sregs;
  CHECK(ioctl(vcpu, KVM_GET_SREGS, &sregs));
  sregs.cs.base = 0; sregs.cs.selector = 0;
  CHECK(ioctl(vcpu, KVM_SET_SREGS, &sregs));
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
  CHECK(ioctl(vcpu, KVM_SET_REGS, &regs));
  int rounds = argc > 2 ? atoi(argv[2]) : 1;
  double best = 0;
  for (int r = 0; r < rounds; r++) {
    long n = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n < exits) {
      CHECK(ioctl(vcpu, KVM_RUN, 0));
      if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "exit %u\n", run->exit_reason); return 1; }
      if (run->io.port == 0x10) n++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
    if (r == 0 || ns < best) best = ns;
  }
  printf("%.1f\n", best);
  return 0;
}
`;

function buildReference(): string {
  const hash = createHash("sha256").update(C_SOURCE).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), "microvm-kvm-bench");
  const exe = join(dir, `exit-loop-${hash}`);
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true });
    const src = join(dir, `exit-loop-${hash}.c`);
    writeFileSync(src, C_SOURCE);
    execFileSync("gcc", ["-O2", "-o", exe, src], { stdio: "pipe" });
  }
  return exe;
}

let exe = "";
let kvm: Kvm | undefined;
const handler = fileURLToPath(new URL("./port-loop-handler.ts", import.meta.url));

export const cases: BenchCase[] = [
  {
    name: "kvm exit round trip (port write)",
    unit: "ns/exit",
    better: "lower",
    reference: `plain C KVM_RUN loop, same guest, best of ${ROUNDS} x ${EXITS} exits`,
    goal: "<= 1.2",
    reps: 9,
    warmup: 1,
    skip() {
      const why = Kvm.unavailableReason();
      if (why) return why;
      try {
        exe = buildReference();
      } catch (e) {
        return `gcc could not build the C reference: ${e instanceof Error ? e.message : String(e)}`;
      }
      return undefined;
    },
    setup() {
      kvm = Kvm.open();
    },
    ours: () => portLoop("worker"),
    ref() {
      return Number(execFileSync(exe, [String(EXITS), String(ROUNDS)], { encoding: "utf8" }).trim());
    },
    teardown() {
      kvm?.close();
    },
  },
  {
    name: "kvm exit round trip (port write), native vCPU thread",
    unit: "ns/exit",
    better: "lower",
    reference: "the same loop on a vCPU worker (the row above)",
    reps: 9,
    warmup: 1,
    skip: () => Kvm.unavailableReason(),
    setup() {
      kvm = Kvm.open();
    },
    ours: () => portLoop("native"),
    ref: () => portLoop("worker"),
    teardown() {
      kvm?.close();
    },
  },
  {
    name: "kvm resident memory added by one running vCPU, native thread",
    unit: "MiB",
    better: "lower",
    reference: "the same vCPU on a worker (each side in a fresh process, parked in hlt)",
    reps: 5,
    warmup: 1,
    skip: () => Kvm.unavailableReason() ?? (existsSync(dist) ? undefined : `${dist} is not built (pnpm -r run build)`),
    ours: () => vcpuFootprint("native"),
    ref: () => vcpuFootprint("worker"),
  },
];

/** The port loop on one vCPU, best of ROUNDS runs: ns per exit. */
async function portLoop(thread: "worker" | "native"): Promise<number> {
  const vm = kvm!.createVm();
  vm.setTssAddress();
  vm.addRam({ guestAddress: 0, size: 0x10000 }).bytes.set(GUEST, 0x1000);
  const vcpu = vm.createVcpu(0, { cpuid: false });
  vcpu.setSregs({ cs: { base: 0, selector: 0 } });
  vcpu.setRegs({ rip: 0x1000, rflags: 2 });
  let best = Infinity;
  for (let i = 0; i < ROUNDS; i++) {
    // The same vCPU again (a worker: the pool gives it the same thread), and the guest loops on.
    const t = await vm.startVcpu(vcpu, { handler, data: { exits: EXITS }, thread });
    const r = await t.done;
    best = Math.min(best, r.runTimeNs / r.exits);
  }
  await vm.close();
  return best;
}

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
/** A fresh Node process: one VM, one vCPU parked in `cli; hlt`; prints the RSS its start added, in MiB. */
const FOOTPRINT = String.raw`
const [dist, thread, handler] = process.argv.slice(2);
const { Kvm } = await import(dist);
const kvm = Kvm.open();
const vm = kvm.createVm();
vm.setTssAddress();
vm.createIrqchip();
vm.addRam({ guestAddress: 0, size: 0x10000 }).bytes.set([0xfa, 0xf4, 0xeb, 0xfd], 0x1000);
const vcpu = vm.createVcpu(0);
vcpu.setSregs({ cs: { base: 0, selector: 0 } });
vcpu.setRegs({ rip: 0x1000, rflags: 2 });
const before = process.memoryUsage.rss();
const t = await vm.startVcpu(vcpu, { handler, thread });
await new Promise((r) => setTimeout(r, 300));
const after = process.memoryUsage.rss();
await t.stop();
await vm.close();
kvm.close();
console.log((after - before) / 2 ** 20);
`;

function vcpuFootprint(thread: "worker" | "native"): number {
  const dir = join(tmpdir(), "microvm-kvm-bench");
  mkdirSync(dir, { recursive: true });
  const script = join(dir, "footprint.mjs");
  const idle = join(dir, "idle-handler.mjs");
  writeFileSync(script, FOOTPRINT);
  writeFileSync(idle, "export const createVcpuHandler = () => ({});\n");
  return Number(execFileSync(process.execPath, [script, dist, thread, idle], { encoding: "utf8" }).trim());
}
