import { IOCTL } from "./constants.js";
import { KvmError, ioctlError } from "./errors.js";
import { exitDecoder, INTERRUPTED, type VcpuExit } from "./exits.js";
import {
  CPUID_ENTRY_SIZE,
  decodeCpuid2,
  decodeFpu,
  decodeMsrs,
  decodeRegs,
  decodeSregs,
  encodeCpuid2,
  encodeFpuInto,
  encodeMsrs,
  encodeRegsInto,
  encodeSregsInto,
  FPU_SIZE,
  isFullRegs,
  LAPIC_SIZE,
  REGS_SIZE,
  SREGS_SIZE,
  toUint,
  type CpuidEntry,
  type Fpu,
  type FpuInput,
  type MsrEntry,
  type Regs,
  type RegsInput,
  type Sregs,
  type SregsInput,
} from "./registers.js";
import { E2BIG, EAGAIN, EINTR, sys } from "./sys.js";

/**
 * What identifies a vCPU across threads: its fd and the address of its `kvm_run` mapping are
 * process-wide, so a worker rebuilds a {@link Vcpu} from this with {@link Vcpu.attach}.
 *
 * @example
 * ```ts
 * const desc: VcpuDescriptor = vcpu.descriptor; // post it to a worker
 * const again = Vcpu.attach(desc);
 * ```
 */
export interface VcpuDescriptor {
  /** The vCPU id given to `KVM_CREATE_VCPU` (the APIC id). */ readonly id: number;
  /** The vCPU fd. */ readonly fd: number;
  /** Host address of the `kvm_run` mapping. */ readonly runAddress: bigint;
  /** Its size (`KVM_GET_VCPU_MMAP_SIZE`). */ readonly runSize: number;
}

/**
 * One vCPU: its registers, CPUID, MSRs, LAPIC, MP state and `KVM_RUN`.
 *
 * Every vCPU ioctl takes the vCPU's mutex in the kernel, so a call from another thread while the
 * vCPU sits in `KVM_RUN` blocks until it exits. The main-thread object therefore refuses calls
 * (`vcpu-busy`) while a {@link VcpuThread} runs it; pause the thread first, or use the
 * {@link VcpuContext.vcpu} handed to handlers on the vCPU's own thread.
 *
 * @example
 * ```ts
 * const vcpu = vm.createVcpu(0);
 * vcpu.setRegs({ rip: 0x1000, rflags: 2 });
 * const exit = vcpu.run(); // one KVM_RUN on this thread
 * ```
 */
export class Vcpu {
  /** The vCPU id (also its APIC id). */
  readonly id: number;
  /** The vCPU fd. */
  readonly fd: number;
  readonly #runAddress: bigint;
  readonly #runSize: number;
  readonly #run: Uint8Array;
  readonly #decode: () => VcpuExit;
  readonly #owner: boolean;
  #closed = false;
  #guard: (() => string | undefined) | undefined;

  /**
   * @internal Use {@link Vm.createVcpu} or {@link Vcpu.attach}.
   */
  constructor(desc: VcpuDescriptor, owner: boolean) {
    this.id = desc.id;
    this.fd = desc.fd;
    this.#runAddress = desc.runAddress;
    this.#runSize = desc.runSize;
    const ab = sys().view(desc.runAddress, desc.runSize);
    this.#run = new Uint8Array(ab);
    this.#decode = exitDecoder(this.#run, new DataView(ab));
    this.#owner = owner;
  }

  /**
   * Rebuilds a vCPU from its descriptor on another thread (the fd and mapping stay owned by the
   * thread that created them; {@link Vcpu.close} on an attached vCPU does nothing).
   *
   * @param desc - From {@link Vcpu.descriptor}.
   * @returns A vCPU object usable on this thread.
   * @throws {@link KvmError} `unsupported` on a platform without the syscall layer.
   * @example
   * ```ts
   * const vcpu = Vcpu.attach(workerData.vcpu);
   * ```
   */
  static attach(desc: VcpuDescriptor): Vcpu {
    return new Vcpu(desc, false);
  }

  /**
   * The descriptor to hand to another thread.
   *
   * @example
   * ```ts
   * new Worker(url, { workerData: { vcpu: vcpu.descriptor } });
   * ```
   */
  get descriptor(): VcpuDescriptor {
    return { id: this.id, fd: this.fd, runAddress: this.#runAddress, runSize: this.#runSize };
  }

  /**
   * The `kvm_run` mapping's bytes (offset 0: `struct kvm_run`; the port I/O data page follows).
   *
   * @example
   * ```ts
   * const exitReason = new DataView(vcpu.runBytes.buffer).getUint32(8, true);
   * ```
   */
  get runBytes(): Uint8Array {
    return this.#run;
  }

  /**
   * `kvm_run.immediate_exit` (needs KVM_CAP_IMMEDIATE_EXIT): when set, the next `KVM_RUN` returns
   * `EINTR` at once (Documentation/virt/kvm/api.rst, "The kvm_run structure"). Safe to set from any
   * thread: it is a plain byte in shared memory.
   *
   * @example
   * ```ts
   * vcpu.immediateExit = true;
   * ```
   */
  get immediateExit(): boolean {
    return !this.#closed && Atomics.load(this.#run, 1) !== 0;
  }
  /** Sets `kvm_run.immediate_exit` (see the getter). */
  set immediateExit(v: boolean) {
    if (!this.#closed) Atomics.store(this.#run, 1, v ? 1 : 0);
  }

  /** @internal Installs the check run before each vCPU ioctl (VcpuThread uses it). */
  setGuard(guard: (() => string | undefined) | undefined): void {
    this.#guard = guard;
  }

  #check(op: string): void {
    if (this.#closed) throw new KvmError("closed", `${op}: vCPU ${this.id} is closed`);
    const busy = this.#guard?.();
    if (busy) throw new KvmError("vcpu-busy", `${op}: vCPU ${this.id} ${busy}; pause its thread first`);
  }

  #ioctl(name: keyof typeof IOCTL, arg: Uint8Array | null): number {
    const r = sys().ioctlPtr(this.fd, IOCTL[name], arg);
    if (r < 0) throw ioctlError(name, -r, `vCPU ${this.id}`);
    return r;
  }

  /**
   * Reads the general registers (`KVM_GET_REGS`).
   *
   * @returns The registers.
   * @throws {@link KvmError} `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * console.log(vcpu.getRegs().rip.toString(16));
   * ```
   */
  getRegs(): Regs {
    this.#check("KVM_GET_REGS");
    const b = new Uint8Array(REGS_SIZE);
    this.#ioctl("KVM_GET_REGS", b);
    return decodeRegs(b);
  }

  /**
   * Writes general registers (`KVM_SET_REGS`). Registers not given keep their value (they are read
   * first with `KVM_GET_REGS` unless all eighteen are given).
   *
   * @param regs - Registers to set, as bigint or number.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `invalid-argument`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.setRegs({ rip: 0x1000, rflags: 2 });
   * ```
   */
  setRegs(regs: RegsInput): void {
    this.#check("KVM_SET_REGS");
    const b = new Uint8Array(REGS_SIZE);
    if (!isFullRegs(regs)) this.#ioctl("KVM_GET_REGS", b);
    encodeRegsInto(regs, b);
    this.#ioctl("KVM_SET_REGS", b);
  }

  /**
   * Reads the special registers (`KVM_GET_SREGS`): segments, descriptor tables, control registers, EFER.
   *
   * @returns The special registers.
   * @throws {@link KvmError} `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * const { cr0, cs } = vcpu.getSregs();
   * ```
   */
  getSregs(): Sregs {
    this.#check("KVM_GET_SREGS");
    const b = new Uint8Array(SREGS_SIZE);
    this.#ioctl("KVM_GET_SREGS", b);
    return decodeSregs(b);
  }

  /**
   * Writes special registers (`KVM_SET_SREGS`), read-modify-write: fields not given keep their value.
   *
   * @param sregs - The fields to change; segments may be partial.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * // Real mode at 0:0x1000
   * vcpu.setSregs({ cs: { base: 0, selector: 0 } });
   * ```
   */
  setSregs(sregs: SregsInput): void {
    this.#check("KVM_SET_SREGS");
    const b = new Uint8Array(SREGS_SIZE);
    this.#ioctl("KVM_GET_SREGS", b);
    encodeSregsInto(sregs, b);
    this.#ioctl("KVM_SET_SREGS", b);
  }

  /**
   * Reads the FPU state (`KVM_GET_FPU`).
   *
   * @returns x87 and SSE state.
   * @throws {@link KvmError} `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.getFpu().mxcsr; // 0x1f80 after reset
   * ```
   */
  getFpu(): Fpu {
    this.#check("KVM_GET_FPU");
    const b = new Uint8Array(FPU_SIZE);
    this.#ioctl("KVM_GET_FPU", b);
    return decodeFpu(b);
  }

  /**
   * Writes the FPU state (`KVM_SET_FPU`), read-modify-write.
   *
   * @param fpu - The fields to change.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.setFpu({ fcw: 0x37f, mxcsr: 0x1f80 }); // Firecracker's setup_fpu
   * ```
   */
  setFpu(fpu: FpuInput): void {
    this.#check("KVM_SET_FPU");
    const b = new Uint8Array(FPU_SIZE);
    this.#ioctl("KVM_GET_FPU", b);
    encodeFpuInto(fpu, b);
    this.#ioctl("KVM_SET_FPU", b);
  }

  /**
   * Reads the local APIC's register page (`KVM_GET_LAPIC`, needs an in-kernel irqchip): 1024 bytes,
   * registers as little-endian u32 at their MMIO offsets (LVT LINT0 at 0x350, LINT1 at 0x360).
   *
   * @returns A copy of the page.
   * @throws {@link KvmError} `ioctl-failed` (e.g. `ENXIO` without an irqchip), `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * const lapic = vcpu.getLapic();
   * const id = new DataView(lapic.buffer).getUint32(0x20, true) >>> 24;
   * ```
   */
  getLapic(): Uint8Array {
    this.#check("KVM_GET_LAPIC");
    const b = new Uint8Array(LAPIC_SIZE);
    this.#ioctl("KVM_GET_LAPIC", b);
    return b;
  }

  /**
   * Writes the local APIC's register page (`KVM_SET_LAPIC`).
   *
   * @param page - 1024 bytes, usually from {@link Vcpu.getLapic}, modified.
   * @throws {@link KvmError} `out-of-range` for a wrong length, `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * const p = vcpu.getLapic();
   * const v = new DataView(p.buffer);
   * v.setUint32(0x350, (v.getUint32(0x350, true) & ~0x700) | (7 << 8), true); // LINT0 = ExtINT
   * vcpu.setLapic(p);
   * ```
   */
  setLapic(page: Uint8Array): void {
    this.#check("KVM_SET_LAPIC");
    if (page.length !== LAPIC_SIZE) throw new KvmError("out-of-range", `lapic: expected ${LAPIC_SIZE} bytes, got ${page.length}`);
    this.#ioctl("KVM_SET_LAPIC", page.slice());
  }

  /**
   * Sets the vCPU's CPUID table (`KVM_SET_CPUID2`). Use {@link normalizeCpuid} to build it.
   *
   * @param entries - The entries.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.setCpuid(normalizeCpuid(kvm.supportedCpuid(), { vcpuId: 0, vcpuCount: 1 }));
   * ```
   */
  setCpuid(entries: readonly CpuidEntry[]): void {
    this.#check("KVM_SET_CPUID2");
    this.#ioctl("KVM_SET_CPUID2", encodeCpuid2(entries));
  }

  /**
   * Reads back the vCPU's CPUID table (`KVM_GET_CPUID2`).
   *
   * @returns The entries.
   * @throws {@link KvmError} `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * const leaf1 = vcpu.getCpuid().find((e) => e.function === 1);
   * ```
   */
  getCpuid(): CpuidEntry[] {
    this.#check("KVM_GET_CPUID2");
    for (let cap = 64; ; cap *= 2) {
      const b = new Uint8Array(8 + cap * CPUID_ENTRY_SIZE);
      new DataView(b.buffer).setUint32(0, cap, true);
      const r = sys().ioctlPtr(this.fd, IOCTL.KVM_GET_CPUID2, b);
      if (r === -E2BIG && cap < 4096) continue;
      if (r < 0) throw ioctlError("KVM_GET_CPUID2", -r, `vCPU ${this.id}`);
      return decodeCpuid2(b);
    }
  }

  /**
   * Reads MSRs (`KVM_GET_MSRS`), all or nothing: the ioctl returns how many it read, and anything
   * short of all of them is an error naming the first MSR that failed.
   *
   * @param indices - MSR indices, e.g. `[0x10, 0x1a0]`.
   * @returns The MSRs in the same order.
   * @throws {@link KvmError} `msr-partial`, `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * const [tsc] = vcpu.getMsrs([0x10]);
   * ```
   */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    this.#check("KVM_GET_MSRS");
    const b = encodeMsrs(indices.map((index) => ({ index })));
    const n = this.#ioctl("KVM_GET_MSRS", b);
    if (n !== indices.length) {
      throw new KvmError("msr-partial", `KVM_GET_MSRS (vCPU ${this.id}): read ${n} of ${indices.length} MSRs; MSR 0x${(indices[n] ?? 0).toString(16)} failed`, { syscall: "KVM_GET_MSRS" });
    }
    return decodeMsrs(b, n);
  }

  /**
   * Writes MSRs (`KVM_SET_MSRS`), all or error: KVM stops at the first MSR it refuses, and that one
   * is named in the error (Firecracker treats a short count the same way, `msr.rs` `set_msrs`).
   *
   * @param entries - Index/value pairs.
   * @throws {@link KvmError} `msr-partial`, `ioctl-failed`, `out-of-range`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.setMsrs([{ index: 0x1a0, value: 1n }]); // IA32_MISC_ENABLE.FAST_STRING
   * ```
   */
  setMsrs(entries: readonly { readonly index: number; readonly value: bigint | number }[]): void {
    this.#check("KVM_SET_MSRS");
    const n = this.#ioctl("KVM_SET_MSRS", encodeMsrs(entries));
    if (n !== entries.length) {
      throw new KvmError("msr-partial", `KVM_SET_MSRS (vCPU ${this.id}): wrote ${n} of ${entries.length} MSRs; MSR 0x${(entries[n]?.index ?? 0).toString(16)} was refused`, { syscall: "KVM_SET_MSRS" });
    }
  }

  /**
   * Reads the MP state (`KVM_GET_MP_STATE`), one of {@link MP_STATE}.
   *
   * @returns The state number.
   * @throws {@link KvmError} `ioctl-failed`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.getMpState() === MP_STATE.UNINITIALIZED; // an AP waiting for INIT/SIPI
   * ```
   */
  getMpState(): number {
    this.#check("KVM_GET_MP_STATE");
    const b = new Uint8Array(4);
    this.#ioctl("KVM_GET_MP_STATE", b);
    return new DataView(b.buffer).getUint32(0, true);
  }

  /**
   * Sets the MP state (`KVM_SET_MP_STATE`).
   *
   * @param state - One of {@link MP_STATE}.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * vcpu.setMpState(MP_STATE.RUNNABLE);
   * ```
   */
  setMpState(state: number): void {
    this.#check("KVM_SET_MP_STATE");
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, toUint(state, 32, "mpState"), true);
    this.#ioctl("KVM_SET_MP_STATE", b);
  }

  /**
   * Runs the vCPU once (`KVM_RUN`) on the calling thread and decodes the exit. Always call it from
   * the same thread (api.rst, "General description"). To answer a read, write into the exit's
   * `data` (or use {@link answerRead}) before the next call. `EINTR`/`EAGAIN` (a kick) give an
   * `interrupted` exit and clear `immediate_exit`.
   *
   * @returns The decoded exit.
   * @throws {@link KvmError} `ioctl-failed` for any other error, `closed`, `vcpu-busy`.
   * @example
   * ```ts
   * for (;;) {
   *   const exit = vcpu.run();
   *   if (exit.kind === "hlt") break;
   * }
   * ```
   */
  run(): VcpuExit {
    this.#check("KVM_RUN");
    const r = sys().run(this.fd);
    if (r < 0) {
      if (r === -EINTR || r === -EAGAIN) {
        Atomics.store(this.#run, 1, 0);
        return INTERRUPTED;
      }
      throw ioctlError("KVM_RUN", -r, `vCPU ${this.id}`);
    }
    return this.#decode();
  }

  /**
   * Unmaps `kvm_run` and closes the fd (only on the thread that created the vCPU; attached copies
   * just forget it). Idempotent. {@link Vm.close} calls it for every vCPU.
   *
   * @throws {@link KvmError} `syscall-failed` if `munmap` or `close` fails.
   * @example
   * ```ts
   * vcpu.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owner) return;
    sys().munmap(this.#runAddress, this.#runSize);
    sys().close(this.fd);
  }
}
