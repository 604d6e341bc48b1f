/**
 * vCPUs on native threads (`startVcpu(…, { thread: "native" })`): `KVM_RUN` on a thread of our
 * own machine code, exits served on this thread's event loop. The same guests and host controls
 * as the worker tests (threads.test.ts, guests.test.ts), the same answers, one OS thread per vCPU
 * and nothing left behind. Skipped with the reason when /dev/kvm cannot be opened.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceMailbox, EventFd, isKvmError, Kvm } from "../src/index.ts";
import { fixture, kvmTitle, kvmUnavailable, newVm, protectedMode32, realMode, waitFor } from "./helpers.ts";
import { newLog, readLog } from "./fixtures/log.ts";

const recorder = fixture("recorder.ts");
const threadCount = (): number => readdirSync("/proc/self/task").length;
const kvmFds = (): number =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return /kvm|eventfd/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;

describe.skipIf(kvmUnavailable !== undefined)(kvmTitle("vCPUs on native threads on /dev/kvm"), () => {
  let kvm: Kvm;
  beforeAll(() => {
    kvm = Kvm.open();
  });
  afterAll(() => kvm?.close());

  it("serves port and MMIO exits with the same answers as a worker", async () => {
    const code = [
      0xa1, 0x00, 0x00, 0x00, 0xd0, // mov eax, [0xd0000000]
      0xe7, 0x10, // out 0x10, eax
      0xc7, 0x05, 0x04, 0x00, 0x00, 0xd0, 0x78, 0x56, 0x34, 0x12, // mov dword [0xd0000004], 0x12345678
      0xe5, 0x20, // in eax, 0x20
      0xe7, 0x11, // out 0x11, eax
      0xf4,
    ];
    const runOn = async (thread: "worker" | "native"): Promise<{ log: unknown[]; exits: number; reason: string }> => {
      const { vm, ram } = newVm(kvm);
      ram.set(code, 0x100000);
      const vcpu = vm.createVcpu(0);
      protectedMode32(vcpu, ram, 0x100000);
      const log = newLog();
      const t = await vm.startVcpu(vcpu, { handler: recorder, data: { log, mmioValue: 0xcafebabe, inValue: 0x5a5a1234 }, thread });
      const r = await t.done;
      await vm.close();
      return { log: readLog(log), exits: r.exits, reason: r.reason };
    };
    const worker = await runOn("worker");
    const native = await runOn("native");
    expect(native.log).toEqual([
      { kind: "mmio-read", where: 0xd0000000, value: 0xcafebabe, size: 4 },
      { kind: "out", where: 0x10, value: 0xcafebabe, size: 4 },
      { kind: "mmio-write", where: 0xd0000004, value: 0x12345678, size: 4 },
      { kind: "in", where: 0x20, value: 0x5a5a1234, size: 4 },
      { kind: "out", where: 0x11, value: 0x5a5a1234, size: 4 },
    ]);
    expect(native.log).toEqual(worker.log);
    expect([native.reason, native.exits]).toEqual([worker.reason, worker.exits]);
    expect([native.reason, native.exits]).toEqual(["hlt", 6]);
  });

  it("runs the handler on this thread: data is not cloned, so it can carry a function (a worker refuses it)", async () => {
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
    await vm.close();
  });

  it("stops a vCPU parked in cli; hlt (in-kernel irqchip, so it never exits by itself)", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    vm.createIrqchip();
    ram.set([0xfa, 0xf4, 0xeb, 0xfd], 0x1000); // cli; l: hlt; jmp l
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const t = await vm.startVcpu(vcpu, { handler: recorder, data: { log: newLog() }, thread: "native" });
    await new Promise((r) => setTimeout(r, 100));
    expect(t.state).toBe("running");
    const running = threadCount();
    expect(readlinkSync(`/proc/self/task/${t.tid}/ns/pid`)).toMatch(/pid/); // the kick's target is a live thread of ours
    expect(() => vcpu.getRegs()).toThrow(expect.objectContaining({ code: "vcpu-busy" }));
    const result = await t.stop();
    expect(result.reason).toBe("host");
    expect(result.exits).toBe(0);
    expect(t.state).toBe("ended");
    expect(vcpu.getRegs().rip).toBe(0x1002n);
    // The vCPU had one OS thread of its own, gone with it (a pooled worker would stay).
    await waitFor(() => threadCount() === running - 1, 2000);
    await vm.close();
  });

  it("pause then resume loses no guest state, and a stopped vCPU starts again on a native thread", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    // xor eax, eax; l: inc eax; out 0x10, eax; jmp l
    ram.set([0x66, 0x31, 0xc0, 0x66, 0x40, 0x66, 0xe7, 0x10, 0xeb, 0xf9], 0x1000);
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    const t = await vm.startVcpu(vcpu, { handler: fixture("counter.ts"), data: { state }, thread: "native" });
    await waitFor(() => Atomics.load(s, 2) >= 200);
    await t.pause();
    expect(t.state).toBe("paused");
    const seen = Atomics.load(s, 0);
    expect([seen, seen + 1]).toContain(Number(vcpu.getRegs().rax & 0xffffffffn));
    const exitsAtPause = t.exitCount;
    await new Promise((r) => setTimeout(r, 100));
    expect(t.exitCount).toBe(exitsAtPause);
    t.resume();
    await waitFor(() => Atomics.load(s, 0) >= seen + 200);
    const p = t.pause();
    t.resume(); // overtakes the pause: both settle
    await p;
    const result = await t.stop();
    expect(result.reason).toBe("host");
    expect(Atomics.load(s, 1)).toBe(0); // nothing lost or repeated
    expect(result.exits).toBe(Atomics.load(s, 2));
    const again = Atomics.load(s, 0);
    const t2 = await vm.startVcpu(vcpu, { handler: fixture("counter.ts"), data: { state }, thread: "native" });
    await waitFor(() => Atomics.load(s, 0) >= again + 50);
    await vm.close(); // stops it
    expect(t2.state).toBe("ended");
    expect(Atomics.load(s, 1)).toBe(0);
  });

  it("a handler that throws ends the run with thread-failed after completing the exit; a module that fails to load rejects the start", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    ram.set([0xb0, 0x01, 0xe6, 0x66, 0xf4], 0x1000); // mov al, 1; out 0x66, al; hlt
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const t = await vm.startVcpu(vcpu, { handler: recorder, data: { log: newLog(), throwPort: 0x66 }, thread: "native" });
    const err: unknown = await t.done.catch((e: unknown) => e);
    expect(isKvmError(err)).toBe(true);
    expect(err).toMatchObject({ code: "thread-failed" });
    expect((err as Error).message).toMatch(/handler threw at port 0x66/);
    expect(vcpu.getRegs().rip).toBe(0x1004n); // the out completed; the guard is gone
    const bad: unknown = await vm.startVcpu(vcpu, { handler: fixture("bad-handler.ts"), thread: "native" }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "thread-failed" });
    expect((bad as Error).message).toMatch(/refuses to start/);
    const wrong: unknown = await vm.startVcpu(vcpu, { handler: recorder, thread: "green" as "native" }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: "invalid-argument", message: expect.stringMatching(/thread: expected "worker" or "native", got green/) });
    await vm.close();
  });

  it("a handler's stop() ends the run after the exit completes; 50 runs leave no fds or threads behind", async () => {
    const cycle = async (): Promise<void> => {
      const { vm, ram } = newVm(kvm, 0x10000);
      ram.set([0xb0, 0x2a, 0xe6, 0x10, 0xeb, 0xfe], 0x1000); // mov al, 42; out 0x10, al; jmp $
      const vcpu = vm.createVcpu(0);
      realMode(vcpu);
      const log = newLog(4);
      const t = await vm.startVcpu(vcpu, { handler: recorder, data: { log, stopPort: 0x10 }, thread: "native" });
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

  it("an inline I/O module (no worker) serves an ioeventfd, a message and the stop on this thread", async () => {
    const { vm, ram } = newVm(kvm, 0x10000);
    // mov cx, 3; l: out 0x80, al; dec cx; jnz l; hlt
    ram.set([0xb9, 0x03, 0x00, 0xe6, 0x80, 0x49, 0x75, 0xfb, 0xf4], 0x1000);
    const kick = vm.ioeventfd({ space: "pio", address: 0x80, length: 1 });
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    const io = await vm.startIoThread({ handler: fixture("io-counter.ts"), data: { fd: kick.fd, state }, thread: "inline" });
    expect(io.tid).toBe(process.pid); // the main thread's id
    const vcpu = vm.createVcpu(0);
    realMode(vcpu);
    const t = await vm.startVcpu(vcpu, { handler: recorder, data: { log: newLog() }, thread: "native" });
    expect((await t.done).exits).toBe(1); // just the hlt: the port writes went to the ioeventfd
    await waitFor(() => Atomics.load(s, 0) === 3);
    io.send({ add: 7 });
    expect(Atomics.load(s, 1)).toBe(0); // delivered on a later turn, not inside send()
    await waitFor(() => Atomics.load(s, 1) === 7);
    await io.stop();
    expect(() => io.send({ add: 1 })).toThrow(expect.objectContaining({ code: "closed" }));
    const bad: unknown = await vm.startIoThread({ handler: recorder, thread: "elsewhere" as "inline" }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "invalid-argument" });
    await vm.close();
  });

  it("an inline I/O module waits for output room (EPOLLOUT), then for input only", async () => {
    const { vm } = newVm(kvm, 0x10000);
    const efd = EventFd.create();
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    efd.signal(1);
    const io = await vm.startIoThread({ handler: fixture("io-writable.ts"), data: { fd: efd.fd, state }, thread: "inline" });
    await waitFor(() => Atomics.load(s, 0) !== 0);
    expect(Atomics.load(s, 0)).toBe(0x4);
    await waitFor(() => Atomics.load(s, 2) >= 1);
    expect(Atomics.load(s, 1)).toBe(0x1);
    await vm.close();
    await expect(io.done).resolves.toBeUndefined();
    efd.close();
  });

  it.each([
    ["an inline I/O module: the calls are answered on this thread", "inline"],
    ["an I/O worker: the calls wait on this thread for its answers", "worker"],
  ] as const)("two native vCPU threads forward MMIO accesses through a DeviceMailbox to %s", async (_, where) => {
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
    const mailbox = DeviceMailbox.create({ slots: 2 });
    const state = new SharedArrayBuffer(16);
    const s = new Int32Array(state);
    await vm.startIoThread({ handler: fixture("mailbox-device.ts"), data: { mailbox: mailbox.descriptor, state }, thread: where });
    const log = new SharedArrayBuffer(8);
    const vcpus = [0, 1].map((id) => vm.createVcpu(id, { vcpuCount: 2 }));
    for (const v of vcpus) protectedMode32(v, ram, 0x100000);
    const threads = await Promise.all(vcpus.map((v) => vm.startVcpu(v, { handler: fixture("mailbox-forwarder.ts"), data: { mailbox: mailbox.descriptor, log, ownSlot: true }, thread: "native" })));
    const results = await Promise.all(threads.map((t) => t.done));
    expect(results.map((r) => r.reason)).toEqual(["hlt", "hlt"]);
    expect([Atomics.load(s, 0), Atomics.load(s, 1), Atomics.load(s, 2)]).toEqual([100, 100, 4950]);
    expect(Math.max(...new Int32Array(log))).toBe(99);
    await vm.close();
    // Stopped, the mailbox refuses calls, on this thread too.
    expect(() => DeviceMailbox.attach(mailbox.descriptor, 0).call({ op: 0, address: 0n, value: 0n, size: 4 })).toThrow(expect.objectContaining({ code: "closed" }));
    mailbox.close();
  });
});
