/** Pure parts of the package: errors, CPUID normalization, read answers, argument checks. */
import { describe, expect, it } from "vitest";
import { answerRead, DeviceMailbox, isKvmError, Kvm, KvmError, normalizeCpuid, type CpuidEntry, type IoExit, type MmioExit } from "../src/index.ts";
import { errnoName } from "../src/errors.ts";
import { openError } from "../src/kvm.ts";
import { acquireWorker, releaseWorker, WORKER_HEAP_MIB } from "../src/pool.ts";
import { kvmTitle, kvmUnavailable } from "./helpers.ts";

describe("KvmError", () => {
  it("is recognised by name and code, not by class", () => {
    const e = new KvmError("out-of-range", "slot: expected 0..65535, got 70000");
    expect(isKvmError(e)).toBe(true);
    expect(e.name).toBe("KvmError");
    expect(isKvmError({ name: "KvmError", code: "closed", message: "x" })).toBe(true); // another copy's error
    expect(isKvmError({ name: "KvmError", code: "NOPE" })).toBe(false);
    expect(isKvmError(new Error("x"))).toBe(false);
    expect(isKvmError(null)).toBe(false);
  });

  it("names errno values", () => {
    expect(errnoName(4)).toBe("EINTR");
    expect(errnoName(13)).toBe("EACCES");
    expect(errnoName(99999)).toBe("errno 99999");
  });

  it("a missing device is device-missing, naming the path and errno", () => {
    let err: unknown;
    try {
      Kvm.open("/dev/does-not-exist-kvm");
    } catch (e) {
      err = e;
    }
    expect(isKvmError(err)).toBe(true);
    expect(err).toMatchObject({ code: "device-missing", syscall: "open", errno: 2 });
    expect((err as Error).message).toMatch(/\/dev\/does-not-exist-kvm.*ENOENT/);
    expect(Kvm.unavailableReason("/dev/does-not-exist-kvm")).toMatch(/ENOENT/);
  });

  it("EACCES/EPERM on open is permission-denied, naming the kvm group", () => {
    // Tests run as root, which bypasses the device's permissions, so the classification is checked directly.
    for (const errno of [13, 1]) {
      const err = openError("/dev/kvm", errno);
      expect(isKvmError(err)).toBe(true);
      expect(err).toMatchObject({ code: "permission-denied", syscall: "open", errno });
      expect(err.message).toMatch(/`kvm` group/);
    }
    expect(openError("/dev/kvm", 6).code).toBe("syscall-failed"); // ENXIO: module loaded without hardware support
  });

  it("a non-KVM file that opens fails the API version check and is closed again", () => {
    expect(() => Kvm.open("/dev/null")).toThrow(expect.objectContaining({ syscall: "KVM_GET_API_VERSION" }));
  });
});

describe("DeviceMailbox (no KVM needed)", () => {
  const codeOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return isKvmError(e) ? `${e.code}: ${e.message}` : String(e);
    }
    return "no error";
  };

  it("has the slots it was made with, each addressed by index, and refuses others by name", () => {
    const mb = DeviceMailbox.create({ slots: 3 });
    try {
      expect(mb.descriptor.buffer.byteLength).toBe(3 * 40);
      for (const slot of [0, 1, 2]) expect(DeviceMailbox.attach(mb.descriptor, slot)).toBeInstanceOf(DeviceMailbox);
      expect(codeOf(() => DeviceMailbox.attach(mb.descriptor, 3))).toBe("invalid-argument: slot: expected 0..2, got 3");
      expect(codeOf(() => DeviceMailbox.attach(mb.descriptor, -1))).toBe("invalid-argument: slot: expected 0..2, got -1");
      expect(codeOf(() => DeviceMailbox.create({ slots: 0 }))).toBe("invalid-argument: slots: expected 1..4096, got 0");
      expect(codeOf(() => DeviceMailbox.attach({ buffer: new SharedArrayBuffer(44), fd: mb.descriptor.fd }))).toMatch(/^invalid-argument: mailbox: expected/);
    } finally {
      mb.close();
    }
  });

  it("after a shutdown from any thread, every slot's call fails with closed at once, and the others' slots too", () => {
    const mb = DeviceMailbox.create({ slots: 2 });
    try {
      DeviceMailbox.shutdown(mb.descriptor);
      for (const slot of [0, 1]) expect(codeOf(() => DeviceMailbox.attach(mb.descriptor, slot).call({ op: 0, address: 0n, value: 0n, size: 4 }))).toBe("closed: mailbox: the serving thread has stopped");
      // Negative control: a fresh mailbox is not closed (its call would wait for a server, so only
      // the state is looked at: slot 0's STATE word is idle, not closed).
      const fresh = DeviceMailbox.create();
      expect(new Int32Array(fresh.descriptor.buffer)[1]).toBe(0);
      fresh.close();
    } finally {
      mb.close();
    }
  });

  it("serves every slot's posted request from one doorbell, and its stop closes the mailbox", () => {
    const mb = DeviceMailbox.create({ slots: 3 });
    try {
      let onBell: (() => void) | undefined;
      const ctx = { watch: (_fd: number, f: () => void) => void (onBell = f), unwatch: () => undefined } as unknown as Parameters<typeof DeviceMailbox.serve>[0];
      const seen: string[] = [];
      const stop = DeviceMailbox.serve(ctx, mb.descriptor, (r) => (seen.push(`${r.op} ${r.address.toString(16)} ${r.size}`), r.address + 1n));
      // Post into slots 0 and 2 as call() does (a call would block this thread waiting for the answer).
      const i = new Int32Array(mb.descriptor.buffer);
      const u = new BigUint64Array(mb.descriptor.buffer);
      for (const slot of [0, 2]) {
        i[slot * 10 + 2] = 0;
        i[slot * 10 + 3] = 4;
        u[slot * 5 + 2] = 0xd0000000n + BigInt(slot);
        Atomics.store(i, slot * 10 + 1, 1);
      }
      onBell?.();
      expect(seen).toEqual(["0 d0000000 4", "0 d0000002 4"]);
      expect([0, 1, 2].map((s) => Atomics.load(i, s * 10 + 1))).toEqual([2, 0, 2]);
      expect([u[0 * 5 + 4], u[2 * 5 + 4]]).toEqual([0xd0000001n, 0xd0000003n]);
      stop();
      expect([0, 1, 2].map((s) => Atomics.load(i, s * 10 + 1))).toEqual([3, 3, 3]);
    } finally {
      mb.close();
    }
  });
});

describe("normalizeCpuid", () => {
  const base: CpuidEntry[] = [
    { function: 0, index: 0, flags: 0, eax: 0x10, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
    { function: 1, index: 0, flags: 0, eax: 0x800f12, ebx: 0xff0bff01, ecx: 0x01202000, edx: 0x178bfbff },
    { function: 0xb, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 0x55 },
    { function: 0x40000000, index: 0, flags: 0, eax: 0x40000001, ebx: 0, ecx: 0, edx: 0 },
  ];

  it("puts the APIC id in leaf 1 EBX[31:24] and the x2APIC id in every leaf 0xB subleaf", () => {
    const out = normalizeCpuid(base, { vcpuId: 3, vcpuCount: 5 });
    const leaf1 = out.find((e) => e.function === 1)!;
    expect(leaf1.ebx >>> 24).toBe(3);
    expect((leaf1.ebx >>> 16) & 0xff).toBe(8); // next power of two of 5
    expect((leaf1.ebx >>> 8) & 0xff).toBe(8); // CLFLUSH 64 bytes
    expect(leaf1.ebx & 0xff).toBe(0x01); // brand index kept
    expect(leaf1.ecx >>> 31).toBe(1); // hypervisor
    expect((leaf1.edx >>> 28) & 1).toBe(1); // HTT with more than one vCPU
    const topo = out.filter((e) => e.function === 0xb);
    expect(topo.map((e) => [e.index, e.edx, (e.ecx >>> 8) & 0xff])).toEqual([
      [0, 3, 1],
      [1, 3, 2],
    ]);
    expect(topo.find((e) => e.index === 1)!.ebx).toBe(5);
  });

  it("sets the KVM signature and leaves the input alone", () => {
    const copy = JSON.stringify(base);
    const out = normalizeCpuid(base, { vcpuId: 0, vcpuCount: 1 });
    const sig = out.find((e) => e.function === 0x40000000)!;
    const bytes = new Uint8Array(new Uint32Array([sig.ebx, sig.ecx, sig.edx]).buffer);
    expect(new TextDecoder().decode(bytes).replace(/\0+$/, "")).toBe("KVMKVMKVM");
    expect(out.some((e) => e.function === 0x40000001)).toBe(true);
    expect((out.find((e) => e.function === 1)!.edx >>> 28) & 1).toBe(0); // no HTT with one vCPU
    expect(JSON.stringify(base)).toBe(copy);
  });

  it("fills leaf 0x1F only when present, and 0x8000001E's extended APIC id", () => {
    const withExt = [...base, { function: 0x1f, index: 0, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 0 }, { function: 0x8000001e, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 }];
    const out = normalizeCpuid(withExt, { vcpuId: 2, vcpuCount: 4 });
    expect(out.filter((e) => e.function === 0x1f).map((e) => e.edx)).toEqual([2, 2]);
    expect(out.find((e) => e.function === 0x8000001e)!.eax).toBe(2);
    expect(normalizeCpuid(base, { vcpuId: 0, vcpuCount: 1 }).some((e) => e.function === 0x1f)).toBe(false);
  });

  it("rejects counts and ids out of range", () => {
    expect(() => normalizeCpuid(base, { vcpuId: 0, vcpuCount: 0 })).toThrow(expect.objectContaining({ code: "out-of-range" }));
    expect(() => normalizeCpuid(base, { vcpuId: 4, vcpuCount: 4 })).toThrow(/vcpuId: expected 0..3, got 4/);
    expect(() => normalizeCpuid(base, { vcpuId: 0, vcpuCount: 4097 })).toThrow(/vcpuCount/);
  });
});

describe("answerRead", () => {
  const io = (size: 1 | 2 | 4, count = 1): IoExit => ({ kind: "io", direction: "in", port: 0x60, size, count, data: new Uint8Array(size * count), value: 0 });
  const mmio = (length: number): MmioExit => ({ kind: "mmio", isWrite: false, address: 0xd0000000n, length, data: new Uint8Array(length), value: 0n });

  it("writes numbers little-endian in the access size, repeated for rep ins", () => {
    const a = io(2, 3);
    answerRead(a, 0x1234);
    expect([...a.data]).toEqual([0x34, 0x12, 0x34, 0x12, 0x34, 0x12]);
    const b = io(4);
    answerRead(b, -1);
    expect([...b.data]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it("answers nothing with all-ones, and bigints and bytes as given", () => {
    const a = io(1);
    answerRead(a, undefined);
    expect([...a.data]).toEqual([0xff]);
    const m = mmio(8);
    answerRead(m, 0x0102030405060708n);
    expect([...m.data]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    const n = mmio(8);
    answerRead(n, 2 ** 40 + 5);
    expect([...n.data]).toEqual([5, 0, 0, 0, 0, 1, 0, 0]);
    const r = mmio(4);
    answerRead(r, new Uint8Array([9, 8]));
    expect([...r.data]).toEqual([9, 8, 0, 0]);
  });

  it("leaves writes alone and rejects other answer types", () => {
    const w: IoExit = { ...io(1), direction: "out", data: new Uint8Array([7]) };
    answerRead(w, 0);
    expect([...w.data]).toEqual([7]);
    expect(() => answerRead(io(1), "x" as unknown as number)).toThrow(expect.objectContaining({ code: "invalid-argument" }));
  });
});

describe.skipIf(kvmUnavailable !== undefined)(kvmTitle("argument checks on /dev/kvm"), () => {
  it("reports the system's facts and refuses bad arguments with codes that name the field", async () => {
    const kvm = Kvm.open();
    expect(kvm.apiVersion).toBe(12);
    expect(kvm.vcpuMmapSize()).toBeGreaterThanOrEqual(8192);
    expect(kvm.checkExtension(0)).toBe(1); // KVM_CAP_IRQCHIP
    expect(kvm.msrIndexList()).toContain(0x10); // IA32_TSC
    expect(kvm.supportedCpuid().some((e) => e.function === 0)).toBe(true);
    const vm = kvm.createVm();
    vm.setTssAddress();
    vm.setIdentityMapAddress();
    expect(() => vm.setTssAddress(0xffffe000)).toThrow(expect.objectContaining({ code: "out-of-range" }));
    expect(() => vm.addRam({ guestAddress: 0, size: 1000 })).toThrow(/size: expected a positive multiple of 4096, got 1000/);
    expect(() => vm.addRam({ guestAddress: 2 ** 32, size: 2 ** 32 + 4096 })).toThrow(/at most 4 GiB per region/);
    const high = vm.addRam({ guestAddress: 2 ** 32, size: 2 ** 32 }); // MAP_NORESERVE: only touched pages cost memory
    high.bytes[2 ** 32 - 1] = 0xaa;
    expect(high.buffer.byteLength).toBe(2 ** 32);
    expect(() => vm.addRam({ guestAddress: 0x123, size: 4096 })).toThrow(expect.objectContaining({ code: "out-of-range" }));
    const ram = vm.addRam({ guestAddress: 0, size: 0x10000 });
    expect(() => vm.addRam({ guestAddress: 0x8000, size: 0x10000 })).toThrow(expect.objectContaining({ code: "ioctl-failed", syscall: "KVM_SET_USER_MEMORY_REGION", errno: 17 }));
    expect(() => vm.ioeventfd({ space: "pio", address: 0x10000, length: 1 })).toThrow(/port 0..0xffff/);
    const vcpu = vm.createVcpu(0);
    // VM-level set-up must come before the first vCPU (api.rst, KVM_SET_IDENTITY_MAP_ADDR).
    expect(() => vm.setIdentityMapAddress()).toThrow(expect.objectContaining({ syscall: "KVM_SET_IDENTITY_MAP_ADDR" }));
    expect(() => vm.createVcpu(0)).toThrow(/KVM_CREATE_VCPU \(id 0\) failed: EEXIST/);
    expect(() => vcpu.setRegs({ rip: -1 })).toThrow(expect.objectContaining({ code: "out-of-range" }));
    expect(() => vcpu.setMsrs([{ index: 0xdeadbeef, value: 1n }])).toThrow(expect.objectContaining({ code: "msr-partial" }));
    vcpu.setMsrs([{ index: 0x1a0, value: 1n }]);
    expect(vcpu.getMsrs([0x1a0])[0]!.value & 1n).toBe(1n);
    vcpu.setFpu({ fcw: 0x27f, lastIp: 0x1234n }); // (mxcsr does not travel through KVM_*_FPU, see Fpu.mxcsr)
    expect(vcpu.getFpu()).toMatchObject({ fcw: 0x27f, lastIp: 0x1234n });
    const leaf1 = vcpu.getCpuid().find((e) => e.function === 1)!;
    expect(leaf1.ebx >>> 24).toBe(0);
    expect(ram.bytes.length).toBe(0x10000);
    await vm.close();
    expect(() => vm.createVcpu(1)).toThrow(expect.objectContaining({ code: "closed" }));
    expect(() => vcpu.getRegs()).toThrow(expect.objectContaining({ code: "closed" }));
    kvm.close();
  });
});

describe("worker pool", () => {
  it("starts each worker with the pool's heap limit, and hands an idle one out again", async () => {
    const entry = "data:text/javascript,";
    const w = acquireWorker(entry, "t");
    try {
      expect(w.resourceLimits?.maxOldGenerationSizeMb).toBe(WORKER_HEAP_MIB);
      releaseWorker(w);
      expect(acquireWorker(entry, "t")).toBe(w);
    } finally {
      await w.terminate();
    }
  });

  it("the limit holds: a worker that keeps more JavaScript objects than it ends with an out-of-memory error, not the process", async () => {
    const hog = acquireWorker("data:text/javascript,const a = []; for (;;) a.push(new Array(100000).fill(1.5));", "hog");
    const code = await new Promise<string>((resolve) => hog.once("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message)));
    expect(code).toBe("ERR_WORKER_OUT_OF_MEMORY");
  });
});
