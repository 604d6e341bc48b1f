/**
 * vCPU threads, on workers and on native threads (pause, resume, stop from the host), the I/O
 * thread (a worker, or inline on this thread), and teardown hygiene, on the
 * real /dev/kvm. Skipped with the reason when /dev/kvm cannot be opened.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceMailbox, EventFd, isKvmError, Kvm } from "../src/index.ts";
import { fixture, kvmTitle, kvmUnavailable, newVm, protectedMode32, realMode, waitFor } from "./helpers.ts";
import { newLog, readLog } from "./fixtures/log.ts";

function fdTargets(): string[] {
  return readdirSync("/proc/self/fd").map((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return "";
    }
  });
}
const kvmFds = (): number => fdTargets().filter((t) => /kvm|eventfd|eventpoll/.test(t)).length;
const mapLines = (): string[] => readFileSync("/proc/self/maps", "utf8").trim().split("\n");
const threadCount = (): number => readdirSync("/proc/self/task").length;
/** Whether any mapping of this process covers `addr`. */
function isMapped(addr: bigint): boolean {
  return mapLines().some((l) => {
    const [a, b] = (l.split(" ")[0] ?? "").split("-");
    return BigInt(`0x${a}`) <= addr && addr < BigInt(`0x${b}`);
  });
}

describe.skipIf(kvmUnavailable !== undefined)(kvmTitle("vCPU and I/O threads on /dev/kvm"), () => {
  let kvm: Kvm;
  beforeAll(() => {
    kvm = Kvm.open();
  });
  afterAll(() => kvm?.close());

  for (const thread of ["worker", "native"] as const) {
    it(`stops a vCPU parked in cli; hlt (in-kernel irqchip, so it never exits by itself), on a ${thread} thread`, async () => {
      const { vm, ram } = newVm(kvm, 0x10000);
      vm.createIrqchip();
      ram.set([0xfa, 0xf4, 0xeb, 0xfd], 0x1000); // cli; l: hlt; jmp l
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log: newLog() }, thread });
      await new Promise((r) => setTimeout(r, 100));
      expect(t.state).toBe("running");
      const running = threadCount();
      // The vCPU thread sits in KVM_RUN: vCPU ioctls from here would block on its mutex, so they are refused.
      expect(() => vcpu.getRegs()).toThrow(expect.objectContaining({ code: "vcpu-busy" }));
      const result = await t.stop();
      expect(result.reason).toBe("host");
      expect(result.exits).toBe(0);
      expect(t.state).toBe("ended");
      expect(vcpu.getRegs().rip).toBe(0x1002n); // halted after the hlt
      // A native thread is gone with its run; a worker stays in the pool for the next one.
      if (thread === "native") await waitFor(() => threadCount() === running - 1, 2000);
      else expect(threadCount()).toBe(running);
      await vm.close();
    });

    it(`pause then resume loses no guest state, on a ${thread} thread`, async () => {
      const { vm, ram } = newVm(kvm, 0x10000);
      // xor eax, eax; l: inc eax; out 0x10, eax; jmp l
      ram.set([0x66, 0x31, 0xc0, 0x66, 0x40, 0x66, 0xe7, 0x10, 0xeb, 0xf9], 0x1000);
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const state = new SharedArrayBuffer(16);
      const s = new Int32Array(state);
      const t = await vm.startVcpu(vcpu, { handler: fixture("counter.ts"), data: { state }, thread });
      await waitFor(() => Atomics.load(s, 2) >= 200);
      await t.pause();
      expect(t.state).toBe("paused");
      const seen = Atomics.load(s, 0);
      // Paused: the vCPU's registers are readable from this thread and agree with what the guest last
      // wrote: eax is that value, or one more when the kick landed between `inc eax` and the next
      // `out` (the continuity check below proves that value is then written, not lost).
      const regs = vcpu.getRegs();
      expect([seen, seen + 1]).toContain(Number(regs.rax & 0xffffffffn));
      const exitsAtPause = t.exitCount;
      await new Promise((r) => setTimeout(r, 200));
      expect(t.exitCount).toBe(exitsAtPause);
      expect(Atomics.load(s, 0)).toBe(seen);
      t.resume();
      await waitFor(() => Atomics.load(s, 0) >= seen + 200);
      // A second pause/resume, then stop.
      await t.pause();
      t.resume();
      await waitFor(() => Atomics.load(s, 0) >= seen + 300);
      // A resume() that overtakes its pause() settles the pause too.
      const p = t.pause();
      t.resume();
      await p;
      const result = await t.stop();
      expect(result.reason).toBe("host");
      expect(Atomics.load(s, 1)).toBe(0); // every value followed the previous one: nothing lost or repeated
      expect(result.exits).toBe(Atomics.load(s, 2));
      // Started again, the vCPU goes on counting (a worker: on the same, pooled thread).
      const again = Atomics.load(s, 0);
      const t2 = await vm.startVcpu(vcpu, { handler: fixture("counter.ts"), data: { state }, thread });
      if (thread === "worker") expect(t2.tid).toBe(t.tid);
      await waitFor(() => Atomics.load(s, 0) >= again + 50);
      await t2.stop();
      expect(Atomics.load(s, 1)).toBe(0);
      await vm.close();
    });
  }

  it("closing the VM stops a vCPU spinning in the guest without exits", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    ram.set([0xeb, 0xfe], 0x1000); // jmp $
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log: newLog() } });
    await new Promise((r) => setTimeout(r, 50));
    await vm.close();
    expect(t.state).toBe("ended");
    await expect(t.done).resolves.toMatchObject({ reason: "host", exits: 0 });
  });

  for (const thread of ["worker", "native"] as const) {
    it(`a handler that throws ends the run with thread-failed, and the vCPU is usable again (${thread} thread)`, async () => {
      const { vm, ram } = newVm(kvm, 0x10000);
      ram.set([0xb0, 0x01, 0xe6, 0x66, 0xf4], 0x1000); // mov al, 1; out 0x66, al; hlt
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log: newLog(), throwPort: 0x66 }, thread });
      const err: unknown = await t.done.catch((e: unknown) => e);
      expect(isKvmError(err)).toBe(true);
      expect(err).toMatchObject({ code: "thread-failed" });
      expect((err as Error).message).toMatch(/handler threw at port 0x66/);
      expect(vcpu.getRegs().rip).toBe(0x1004n); // the out completed; the guard is gone
      await vm.close();
    });

    it(`a handler module that fails to load rejects the start with thread-failed (${thread} thread)`, async () => {
      const { vm, ram } = newVm(kvm, 0x10000);
      ram.set([0xf4], 0x1000);
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const err: unknown = await vm.startVcpu(vcpu, { handler: fixture("bad-handler.ts"), thread }).catch((e: unknown) => e);
      expect(isKvmError(err)).toBe(true);
      expect((err as Error).message).toMatch(/refuses to start/);
      await vm.close();
    });
  }

  it.each([
    ["an I/O worker: idle, it sleeps in epoll_wait with no timeout", "worker"],
    ["an inline I/O module (this thread, no worker) and a native vCPU thread", "inline"],
  ] as const)("the I/O thread serves an ioeventfd with no vCPU exit, a message and the stop: %s", async (_, where) => {
    const { vm, ram } = newVm(kvm, 0x10000);
    // mov cx, 3; l: out 0x80, al; dec cx; jnz l; hlt
    ram.set([0xb9, 0x03, 0x00, 0xe6, 0x80, 0x49, 0x75, 0xfb, 0xf4], 0x1000);
    const kick = vm.ioeventfd({ space: "pio", address: 0x80, length: 1 });
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    const io = await vm.startIoThread({ handler: fixture("io-counter.ts"), data: { fd: kick.fd, state }, thread: where });
    if (where === "inline") expect(io.tid).toBe(process.pid); // the main thread's id
    else {
      expect(io.tid).not.toBe(process.pid);
      // Idle, the thread blocks in the kernel (proc(5), /proc/[pid]/task/[tid]/syscall: the number,
      // then the arguments): epoll_wait (232 on x86_64), or epoll_pwait (281) / epoll_pwait2 (441)
      // with other C libraries. Its fourth argument says it never wakes up by itself: timeout -1
      // (epoll_wait, epoll_pwait), or a NULL timespec (epoll_pwait2). A polling loop fails this.
      const syscall = (): string[] => readFileSync(`/proc/self/task/${io.tid}/syscall`, "utf8").trim().split(" ");
      await waitFor(() => ["232", "281", "441"].includes(syscall()[0] ?? ""));
      const [nr, , , , timeout] = syscall();
      expect(["232", "281", "441"]).toContain(nr);
      expect(BigInt.asIntN(32, BigInt(timeout ?? "0x0"))).toBe(nr === "441" ? 0n : -1n);
    }

    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const log = newLog();
    const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log }, thread: where === "inline" ? "native" : "worker" });
    expect((await t.done).exits).toBe(1); // just the hlt
    expect(readLog(log)).toEqual([]);
    await waitFor(() => Atomics.load(s, 0) === 3);
    io.send({ add: 7 });
    if (where === "inline") expect(Atomics.load(s, 1)).toBe(0); // delivered on a later turn, not inside send()
    await waitFor(() => Atomics.load(s, 1) === 7);
    await io.stop();
    expect(() => io.send({ add: 1 })).toThrow(expect.objectContaining({ code: "closed" }));
    await vm.close();
  });

  it.each([
    ["one slot they share", 1, "worker", "worker"],
    ["a slot each", 2, "worker", "worker"],
    ["native vCPU threads to an I/O worker (the calls wait on this thread)", 2, "native", "worker"],
    ["native vCPU threads to an inline I/O module (answered on this thread)", 2, "native", "inline"],
  ] as const)("two vCPU threads forward MMIO accesses to the I/O thread through a DeviceMailbox: %s", async (_, slots, vcpuThread, ioThread) => {
    const { vm, ram } = newVm(kvm);
    const code = [
      0xb9, 0x32, 0x00, 0x00, 0x00, // mov ecx, 50
      0xa1, 0x00, 0x00, 0x00, 0xd0, // l: mov eax, [0xd0000000]   read the counter
      0xa3, 0x04, 0x00, 0x00, 0xd0, // mov [0xd0000004], eax       write it back
      0x49, // dec ecx
      0x75, 0xf3, // jnz l
      0xe7, 0x10, // out 0x10, eax   last value read
      0xf4,
    ];
    ram.set(code, 0x100000);
    const mailbox = DeviceMailbox.create({ slots });
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    await vm.startIoThread({ handler: fixture("mailbox-device.ts"), data: { mailbox: mailbox.descriptor, state }, thread: ioThread });
    const log = new SharedArrayBuffer(8);
    const vcpus = [0, 1].map((id) => vm.createVcpu(id, { vcpuCount: 2 }));
    for (const v of vcpus) protectedMode32(v, ram, 0x100000);
    const threads = await Promise.all(vcpus.map((v) => vm.startVcpu(v, { handler: fixture("mailbox-forwarder.ts"), data: { mailbox: mailbox.descriptor, log, ownSlot: slots > 1 }, thread: vcpuThread })));
    const results = await Promise.all(threads.map((t) => t.done));
    expect(results.map((r) => r.reason)).toEqual(["hlt", "hlt"]);
    // Every read got a distinct counter value and every write arrived once: 0 + 1 + ... + 99.
    expect([Atomics.load(s, 0), Atomics.load(s, 1), Atomics.load(s, 2)]).toEqual([100, 100, 4950]);
    expect(Math.max(...new Int32Array(log))).toBe(99);
    await vm.close();
    for (let slot = 0; slot < slots; slot++) expect(() => DeviceMailbox.attach(mailbox.descriptor, slot).call({ op: 0, address: 0n, value: 0n, size: 4 })).toThrow(expect.objectContaining({ code: "closed" }));
    mailbox.close();
  });

  it("an I/O thread watching a host eventfd is woken by it", async () => {
    const { vm } = newVm(kvm, 0x10000);
    const efd = EventFd.create();
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    const io = await vm.startIoThread({ handler: fixture("io-counter.ts"), data: { fd: efd.fd, state } });
    efd.signal(2);
    await waitFor(() => Atomics.load(s, 0) === 2);
    await vm.close(); // stops the I/O thread too
    await expect(io.done).resolves.toBeUndefined();
    efd.close();
  });

  it.each(["worker", "inline"] as const)("an I/O thread (%s) can wait for output room (EPOLLOUT) and then for input only", async (where) => {
    const { vm } = newVm(kvm, 0x10000);
    const efd = EventFd.create();
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    efd.signal(1); // readable and writable from the start
    const io = await vm.startIoThread({ handler: fixture("io-writable.ts"), data: { fd: efd.fd, state }, thread: where });
    await waitFor(() => Atomics.load(s, 0) !== 0);
    expect(Atomics.load(s, 0)).toBe(0x4); // EPOLLOUT alone: input was not asked for
    await waitFor(() => Atomics.load(s, 2) >= 1);
    expect(Atomics.load(s, 1)).toBe(0x1); // watched again without `writable`: EPOLLIN only
    await vm.close();
    await expect(io.done).resolves.toBeUndefined();
    efd.close();
  });

  it("a native vCPU thread runs its handler on this thread: data is not cloned, so it can carry a function (a worker refuses it)", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    ram.set([0xb0, 0x07, 0xe6, 0x10, 0xb0, 0x09, 0xe6, 0x11, 0xf4], 0x1000); // out 0x10, 7; out 0x11, 9; hlt
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const seen: [number, number, number][] = [];
    const data = { onOut: (port: number, value: number, id: number) => void seen.push([port, value, id]) };
    const t = await vm.startVcpu(vcpu, { handler: fixture("callback.ts"), data, thread: "native" });
    expect(await t.done).toMatchObject({ reason: "hlt", exits: 3 });
    expect(seen).toEqual([
      [0x10, 7, 0],
      [0x11, 9, 0],
    ]);
    const onWorker: unknown = await vm.startVcpu(vcpu, { handler: fixture("callback.ts"), data }).catch((e: unknown) => e);
    expect(String(onWorker)).toMatch(/could not be cloned/);
    const wrong: unknown = await vm.startVcpu(vcpu, { handler: fixture("callback.ts"), thread: "green" as "native" }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: "invalid-argument", message: expect.stringMatching(/thread: expected "worker" or "native", got green/) });
    const io: unknown = await vm.startIoThread({ handler: fixture("io-counter.ts"), thread: "elsewhere" as "inline" }).catch((e: unknown) => e);
    expect(io).toMatchObject({ code: "invalid-argument", message: expect.stringMatching(/thread: expected "worker" or "inline", got elsewhere/) });
    await vm.close();
  });

  it("a native vCPU thread: a handler's stop() ends the run after the exit completes; 50 runs leave no fds or threads behind", async () => {
    const cycle = async (): Promise<void> => {
      const { vm, ram } = newVm(kvm, 0x10000);
      ram.set([0xb0, 0x2a, 0xe6, 0x10, 0xeb, 0xfe], 0x1000); // mov al, 42; out 0x10, al; jmp $
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const log = newLog(4);
      const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log, stopPort: 0x10 }, thread: "native" });
      const r = await t.done;
      if (r.reason !== "handler" || r.exits !== 1) throw new Error(`unexpected end: ${r.reason} after ${r.exits} exits`);
      if (vcpu.getRegs().rip !== 0x1004n) throw new Error("the out was not completed before the end");
      await vm.close();
    };
    await cycle();
    const fds0 = kvmFds();
    const threads0 = threadCount();
    for (let i = 0; i < 50; i++) await cycle();
    expect(kvmFds()).toBe(fds0);
    expect(threadCount()).toBe(threads0);
  });
  it("100 VM create/run/destroy cycles leave no fds, mappings or threads behind", async () => {
    const cycle = async (): Promise<void> => {
      const { vm, ram } = newVm(kvm, 0x10000);
      vm.createIrqchip();
      vm.createPit2();
      vm.irqfd(5);
      vm.ioeventfd({ space: "mmio", address: 0xd0000050, length: 4 });
      ram.set([0xb0, 0x2a, 0xe6, 0x10, 0xeb, 0xfe], 0x1000); // mov al, 42; out 0x10, al; jmp $
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const log = newLog(4);
      const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log, stopPort: 0x10 } });
      const r = await t.done;
      if (r.reason !== "handler") throw new Error(`unexpected end: ${r.reason}`);
      const addresses = [vm.ram[0]!.hostAddress, vcpu.descriptor.runAddress];
      await vm.close();
      // Right after teardown the guest RAM and the kvm_run page are unmapped.
      for (const a of addresses) if (isMapped(a)) unmappedFailures++;
    };
    let unmappedFailures = 0;
    await cycle(); // warm-up: the first worker bundles and loads code, libuv may start its pool
    const vcpuMaps0 = mapLines().filter((l) => l.includes("kvm-vcpu")).length;
    const fds0 = kvmFds();
    const maps0 = mapLines().length;
    const threads0 = threadCount();
    for (let i = 0; i < 100; i++) await cycle();
    await waitFor(() => threadCount() <= threads0, 5000).catch(() => {});
    expect(kvmFds()).toBe(fds0);
    expect(mapLines().filter((l) => l.includes("kvm-vcpu")).length).toBe(vcpuMaps0);
    expect(unmappedFailures).toBe(0);
    // The line count is noisy (V8's 256 KiB new-space pages come and go, adjacent anonymous
    // mappings merge), so it only bounds gross leaks: 100 leaked kvm_run pages alone would add 100.
    expect(mapLines().length - maps0).toBeLessThan(60);
    expect(threadCount()).toBeLessThanOrEqual(threads0);
  });
});
