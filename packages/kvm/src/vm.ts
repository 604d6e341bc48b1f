import { DEFAULT_IDENTITY_MAP_ADDRESS, DEFAULT_TSS_ADDRESS, IOCTL } from "./constants.js";
import { normalizeCpuid } from "./cpuid.js";
import { KvmError, ioctlError } from "./errors.js";
import { EventFd } from "./eventfd.js";
import { IoThread, type IoThreadOptions } from "./io-thread.js";
import type { Kvm } from "./kvm.js";
import { describeRam, type RamDescriptor, type RamRegion } from "./memory.js";
import { toU64, toUint, type CpuidEntry } from "./registers.js";
// The ioctl argument structs are laid out by the pure encoders of structs.ts, which
// test/abi.test.ts checks byte for byte against the kernel header.
import {
  encodeIdentityMapAddress,
  encodeIoeventfd,
  encodeIrqLevel,
  encodeIrqRouting,
  encodeIrqfd,
  encodeMemoryRegion,
  encodeMsi,
  encodePitConfig,
  type GsiRoute,
} from "./structs.js";
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, PROT_RW, sys } from "./sys.js";
import { Vcpu } from "./vcpu.js";
import { VcpuThread, type VcpuThreadOptions } from "./vcpu-thread.js";

/**
 * Options of {@link Vm.addRam}.
 *
 * @example
 * ```ts
 * const opts: RamOptions = { guestAddress: 0x1_0000_0000n, size: 0x4000_0000, slot: 1 };
 * vm.addRam(opts);
 * ```
 */
export interface RamOptions {
  /** Guest-physical start address (page-aligned). */ readonly guestAddress: bigint | number;
  /** Size in bytes (a positive multiple of 4096, at most 4 GiB). */ readonly size: number;
  /** Memory slot; by default the next free one. */ readonly slot?: number;
  /** Map read-only for the guest (`KVM_MEM_READONLY`; guest writes become MMIO exits). */ readonly readOnly?: boolean;
}

/**
 * Options of {@link Vm.ioeventfd}.
 *
 * @example
 * ```ts
 * const opts: IoeventfdOptions = { space: "pio", address: 0x80, length: 1, datamatch: 0x42 };
 * const efd = vm.ioeventfd(opts);
 * ```
 */
export interface IoeventfdOptions {
  /** `pio` for a port, `mmio` for a guest-physical address. */ readonly space: "pio" | "mmio";
  /** The port or address. */ readonly address: bigint | number;
  /** Access length: 1, 2, 4 or 8 (0 for MMIO matches any length). */ readonly length: 0 | 1 | 2 | 4 | 8;
  /** Only writes of this value fire (`KVM_IOEVENTFD_FLAG_DATAMATCH`). */ readonly datamatch?: bigint | number;
  /** The eventfd to signal; a new one (owned by the VM) when omitted. */ readonly eventfd?: EventFd;
}

export type { GsiRoute } from "./structs.js";

/**
 * KVM's default GSI routing with an in-kernel irqchip (arch/x86/kvm/irq_comm.c, `default_routing`):
 * GSIs 0-15 go to both the PIC pair (master pins 0-7, slave pins 0-7) and IOAPIC pins 0-15, GSIs
 * 16-23 to IOAPIC pins 16-23 only. `KVM_SET_GSI_ROUTING` replaces the whole table, so start from
 * this one to change a single route.
 *
 * @returns A fresh table.
 * @example
 * ```ts
 * const routes = defaultGsiRouting().filter((r) => r.gsi !== 0);
 * vm.setGsiRouting([...routes, { gsi: 0, kind: "irqchip", chip: "ioapic", pin: 2 }]);
 * ```
 */
export function defaultGsiRouting(): GsiRoute[] {
  const routes: GsiRoute[] = [];
  for (let gsi = 0; gsi < 24; gsi++) {
    if (gsi < 16) routes.push({ gsi, kind: "irqchip", chip: gsi < 8 ? "pic-master" : "pic-slave", pin: gsi % 8 });
    routes.push({ gsi, kind: "irqchip", chip: "ioapic", pin: gsi });
  }
  return routes;
}

/**
 * Options of {@link Vm.createVcpu}.
 *
 * @example
 * ```ts
 * const opts: VcpuOptions = { vcpuCount: 4 };
 * const vcpu = vm.createVcpu(2, opts);
 * ```
 */
export interface VcpuOptions {
  /**
   * The CPUID table to set: by default KVM's supported CPUID normalized for this vCPU
   * ({@link normalizeCpuid} with `vcpuCount`); `false` leaves KVM's empty default.
   */
  readonly cpuid?: readonly CpuidEntry[] | false;
  /** The VM's vCPU count, for the default CPUID topology. Default 1, or `id + 1` if larger. */
  readonly vcpuCount?: number;
}

/** The largest region: its view is one ArrayBuffer, and koffi.view stops at 2^32 bytes. */
const MAX_REGION = 2 ** 32;

/**
 * A VM: guest RAM and memory slots, the in-kernel irqchip and PIT, interrupts (IRQ lines, irqfd),
 * ioeventfds, vCPUs and the threads that run them. {@link Vm.close} tears everything down: it stops
 * the threads, closes every fd and unmaps every region.
 *
 * VM-level setup (TSS, identity map, irqchip, PIT) must come before the first vCPU
 * (Documentation/virt/kvm/api.rst, "KVM_CREATE_IRQCHIP", "KVM_SET_IDENTITY_MAP_ADDR").
 *
 * @example
 * ```ts
 * const vm = kvm.createVm();
 * vm.setTssAddress();
 * const ram = vm.addRam({ guestAddress: 0, size: 1 << 20 });
 * vm.createIrqchip();
 * vm.createPit2();
 * const vcpu = vm.createVcpu(0);
 * // ...
 * await vm.close();
 * ```
 */
export class Vm {
  /** The VM fd. */
  readonly fd: number;
  readonly #kvm: Kvm;
  readonly #runSize: number;
  readonly #ram: RamRegion[] = [];
  readonly #vcpus: Vcpu[] = [];
  readonly #eventfds: EventFd[] = [];
  readonly #threads: Set<VcpuThread | IoThread> = new Set();
  #closed = false;

  /** @internal Use {@link Kvm.createVm}. */
  constructor(kvm: Kvm, fd: number) {
    this.fd = fd;
    this.#kvm = kvm;
    this.#runSize = kvm.vcpuMmapSize();
  }

  #check(op: string): void {
    if (this.#closed) throw new KvmError("closed", `${op}: the VM is closed`);
  }

  #ioctl(name: keyof typeof IOCTL, arg: Uint8Array | null, what = ""): number {
    const r = sys().ioctlPtr(this.fd, IOCTL[name], arg);
    if (r < 0) throw ioctlError(name, -r, what);
    return r;
  }

  /**
   * The RAM regions, with views on the main thread.
   *
   * @example
   * ```ts
   * vm.ram[0]?.bytes.set(code, 0x1000);
   * ```
   */
  get ram(): readonly RamRegion[] {
    return this.#ram;
  }

  /**
   * The RAM regions as plain data for other threads ({@link viewRam} there).
   *
   * @returns One descriptor per region.
   * @example
   * ```ts
   * new Worker(url, { workerData: { ram: vm.ramDescriptors() } });
   * ```
   */
  ramDescriptors(): RamDescriptor[] {
    return this.#ram.map(describeRam);
  }

  /**
   * The vCPUs created so far.
   *
   * @example
   * ```ts
   * vm.vcpus.length;
   * ```
   */
  get vcpus(): readonly Vcpu[] {
    return this.#vcpus;
  }

  /**
   * Adds guest RAM: an anonymous private `MAP_NORESERVE` mapping (pages are only backed when
   * touched) registered as a memory slot (`KVM_SET_USER_MEMORY_REGION`).
   *
   * @param options - Address, size, slot, read-only.
   * @returns The region, with a zero-copy view on this thread.
   * @throws {@link KvmError} `out-of-range` for a misaligned address or size, a region over
   * 4 GiB (the largest zero-copy view; use several slots) or a used slot,
   * `syscall-failed` if mmap fails, `ioctl-failed` if KVM refuses (e.g. overlap: `EEXIST`), `closed`.
   * @example
   * ```ts
   * const low = vm.addRam({ guestAddress: 0, size: 0xc000_0000 });
   * ```
   */
  addRam(options: RamOptions): RamRegion {
    this.#check("addRam");
    const guestAddress = toU64(options.guestAddress, "guestAddress");
    const size = options.size;
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
      throw new KvmError("out-of-range", `size: expected a positive multiple of 4096, got ${size}`);
    }
    if (size > MAX_REGION) {
      // One zero-copy view per region; koffi.view (V8 external ArrayBuffers) stops at 4 GiB.
      throw new KvmError("out-of-range", `size: expected at most 4 GiB per region (split larger RAM into several slots), got ${size}`);
    }
    if (guestAddress % 4096n !== 0n) throw new KvmError("out-of-range", `guestAddress: expected a multiple of 4096, got 0x${guestAddress.toString(16)}`);
    const used = new Set(this.#ram.map((r) => r.slot));
    let slot = options.slot;
    if (slot === undefined) {
      slot = 0;
      while (used.has(slot)) slot++;
    } else {
      toUint(slot, 16, "slot");
      if (used.has(slot)) throw new KvmError("out-of-range", `slot: ${slot} is already used`);
    }
    const readOnly = options.readOnly === true;
    const s = sys();
    const hostAddress = s.mmap(size, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    try {
      this.#setRegion(slot, readOnly, guestAddress, BigInt(size), hostAddress);
    } catch (e) {
      s.munmap(hostAddress, size);
      throw e;
    }
    const buffer = s.view(hostAddress, size);
    const region: RamRegion = { slot, guestAddress, size, hostAddress, readOnly, buffer, bytes: new Uint8Array(buffer) };
    this.#ram.push(region);
    return region;
  }

  #setRegion(slot: number, readOnly: boolean, gpa: bigint, size: bigint, host: bigint): void {
    const b = encodeMemoryRegion({ slot, readOnly, guestPhysAddr: gpa, memorySize: size, userspaceAddr: host });
    this.#ioctl("KVM_SET_USER_MEMORY_REGION", b, `slot ${slot} at 0x${gpa.toString(16)}`);
  }

  /**
   * Removes a RAM region: deletes its slot (size 0) and unmaps it. Views of it become invalid.
   * Only while no vCPU thread runs.
   *
   * @param region - A region returned by {@link Vm.addRam}.
   * @throws {@link KvmError} `out-of-range` for an unknown region, `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * vm.removeRam(region);
   * ```
   */
  removeRam(region: RamDescriptor): void {
    this.#check("removeRam");
    const i = this.#ram.findIndex((r) => r.slot === region.slot && r.hostAddress === region.hostAddress);
    const r = this.#ram[i];
    if (!r) throw new KvmError("out-of-range", `region: slot ${region.slot} is not a RAM region of this VM`);
    this.#setRegion(r.slot, false, r.guestAddress, 0n, r.hostAddress);
    this.#ram.splice(i, 1);
    sys().munmap(r.hostAddress, r.size);
  }

  /**
   * Sets the 3-page TSS area used on Intel hosts (`KVM_SET_TSS_ADDR`); it must be below 4 GiB and
   * outside every slot and MMIO range.
   *
   * @param address - Default 0xfffbd000 (Firecracker's).
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`.
   * @example
   * ```ts
   * vm.setTssAddress(0xfffbd000);
   * ```
   */
  setTssAddress(address: bigint | number = DEFAULT_TSS_ADDRESS): void {
    this.#check("KVM_SET_TSS_ADDR");
    const a = toU64(address, "tssAddress");
    if (a > 0xffffd000n) throw new KvmError("out-of-range", `tssAddress: expected below 4 GiB - 3 pages, got 0x${a.toString(16)}`);
    const r = sys().ioctlVal(this.fd, IOCTL.KVM_SET_TSS_ADDR, Number(a));
    if (r < 0) throw ioctlError("KVM_SET_TSS_ADDR", -r);
  }

  /**
   * Sets the identity-map page used on Intel hosts for real mode without unrestricted guest
   * (`KVM_SET_IDENTITY_MAP_ADDR`, takes a pointer to a u64). Only before the first vCPU.
   *
   * @param address - Default 0xfffbc000 (KVM's default).
   * @throws {@link KvmError} `ioctl-failed` (e.g. `EINVAL` after a vCPU exists), `closed`.
   * @example
   * ```ts
   * vm.setIdentityMapAddress(0xfffbc000);
   * ```
   */
  setIdentityMapAddress(address: bigint | number = DEFAULT_IDENTITY_MAP_ADDRESS): void {
    this.#check("KVM_SET_IDENTITY_MAP_ADDR");
    this.#ioctl("KVM_SET_IDENTITY_MAP_ADDR", encodeIdentityMapAddress(address));
  }

  /**
   * Creates the in-kernel irqchip (`KVM_CREATE_IRQCHIP`): PIC pair, IOAPIC at 0xfec00000 and a
   * LAPIC per vCPU; GSIs 0-15 go to PIC and IOAPIC, 16-23 to the IOAPIC. Only before the first
   * vCPU. With it, HLT is handled in the kernel and never exits to userspace.
   *
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * vm.createIrqchip();
   * ```
   */
  createIrqchip(): void {
    this.#check("KVM_CREATE_IRQCHIP");
    const r = sys().ioctlVal(this.fd, IOCTL.KVM_CREATE_IRQCHIP, 0);
    if (r < 0) throw ioctlError("KVM_CREATE_IRQCHIP", -r);
  }

  /**
   * Creates the in-kernel PIT (`KVM_CREATE_PIT2`), after the irqchip.
   *
   * @param options - `speakerDummy` (default true): emulate port 0x61 in the kernel too, as
   * Firecracker does, so the speaker port does not exit to userspace.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * vm.createPit2();
   * ```
   */
  createPit2(options: { readonly speakerDummy?: boolean } = {}): void {
    this.#check("KVM_CREATE_PIT2");
    this.#ioctl("KVM_CREATE_PIT2", encodePitConfig({ speakerDummy: options.speakerDummy !== false }));
  }

  /**
   * Sets a GSI's level (`KVM_IRQ_LINE`, needs the irqchip). For edge-triggered interrupts set it to
   * 1 then 0. Safe from any thread: it does not take a vCPU lock.
   *
   * @param irq - The GSI.
   * @param level - High (true/1) or low.
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`.
   * @example
   * ```ts
   * vm.irqLine(4, true);
   * vm.irqLine(4, false);
   * ```
   */
  irqLine(irq: number, level: boolean | 0 | 1): void {
    this.#check("KVM_IRQ_LINE");
    this.#ioctl("KVM_IRQ_LINE", encodeIrqLevel({ irq, level }), `irq ${irq}`);
  }

  /**
   * Injects an MSI (`KVM_SIGNAL_MSI`, needs the irqchip): on x86 an address of
   * `0xfee00000 | apicId << 12` and the vector in `data` bits 7:0 deliver a fixed interrupt.
   *
   * @param msi - Address and data.
   * @returns `true` if delivered, `false` if the guest blocked it (e.g. masked).
   * @throws {@link KvmError} `ioctl-failed`, `out-of-range`, `closed`.
   * @example
   * ```ts
   * vm.signalMsi({ address: 0xfee00000, data: 0x31 }); // vector 0x31 to APIC 0
   * ```
   */
  signalMsi(msi: { readonly address: bigint | number; readonly data: number }): boolean {
    this.#check("KVM_SIGNAL_MSI");
    return this.#ioctl("KVM_SIGNAL_MSI", encodeMsi(msi)) > 0;
  }

  /**
   * Replaces the GSI routing table (`KVM_SET_GSI_ROUTING`, needs the irqchip). The whole table is
   * replaced: start from {@link defaultGsiRouting}.
   *
   * @param routes - Every route.
   * @throws {@link KvmError} `ioctl-failed` (e.g. `EINVAL` for a bad pin), `out-of-range`, `invalid-argument`, `closed`.
   * @example
   * ```ts
   * vm.setGsiRouting([...defaultGsiRouting(), { gsi: 24, kind: "msi", address: 0xfee00000, data: 0x40 }]);
   * ```
   */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    this.#check("KVM_SET_GSI_ROUTING");
    const b = encodeIrqRouting(routes);
    this.#ioctl("KVM_SET_GSI_ROUTING", b, `${routes.length} routes`);
  }

  /**
   * Binds an eventfd to a GSI (`KVM_IRQFD`): every write to the eventfd injects an edge on the GSI,
   * from any thread and without a vCPU exit.
   *
   * @param gsi - The GSI (an IOAPIC pin with the default routing).
   * @param eventfd - The eventfd; a new one (closed by {@link Vm.close}) when omitted.
   * @returns The eventfd.
   * @throws {@link KvmError} `ioctl-failed` (e.g. without an irqchip), `out-of-range`, `closed`.
   * @example
   * ```ts
   * const irq = vm.irqfd(5);
   * irq.signal();
   * ```
   */
  irqfd(gsi: number, eventfd?: EventFd): EventFd {
    this.#check("KVM_IRQFD");
    const efd = eventfd ?? this.#ownEventfd();
    try {
      this.#ioctl("KVM_IRQFD", encodeIrqfd({ fd: efd.fd, gsi }), `gsi ${gsi}`);
    } catch (e) {
      if (!eventfd) this.#dropEventfd(efd);
      throw e;
    }
    return efd;
  }

  /**
   * Unbinds an eventfd from a GSI (`KVM_IRQFD` with `KVM_IRQFD_FLAG_DEASSIGN`).
   *
   * @param eventfd - The eventfd given to {@link Vm.irqfd}.
   * @param gsi - The same GSI.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * vm.removeIrqfd(irq, 5);
   * ```
   */
  removeIrqfd(eventfd: EventFd, gsi: number): void {
    this.#check("KVM_IRQFD");
    this.#ioctl("KVM_IRQFD", encodeIrqfd({ fd: eventfd.fd, gsi, deassign: true }), `deassign gsi ${gsi}`);
  }

  /**
   * Registers an ioeventfd (`KVM_IOEVENTFD`): a guest write to the port or MMIO address (optionally
   * only of one value) signals the eventfd inside the kernel and the vCPU continues, with no exit to
   * userspace. Watch the eventfd from an {@link IoThread}.
   *
   * @param options - Space, address, length, datamatch, eventfd.
   * @returns The eventfd.
   * @throws {@link KvmError} `ioctl-failed` (e.g. `EEXIST` for a duplicate), `out-of-range`, `closed`.
   * @example
   * ```ts
   * // virtio-mmio QueueNotify of transport 0
   * const kick = vm.ioeventfd({ space: "mmio", address: 0xd0000050, length: 4 });
   * ```
   */
  ioeventfd(options: IoeventfdOptions): EventFd {
    this.#check("KVM_IOEVENTFD");
    const efd = options.eventfd ?? this.#ownEventfd();
    try {
      this.#ioctl("KVM_IOEVENTFD", this.#ioeventfdStruct(options, efd.fd, false), `${options.space} 0x${BigInt(options.address).toString(16)}`);
    } catch (e) {
      if (!options.eventfd) this.#dropEventfd(efd);
      throw e;
    }
    return efd;
  }

  /**
   * Unregisters an ioeventfd (`KVM_IOEVENTFD_FLAG_DEASSIGN`); give the same options and eventfd.
   *
   * @param eventfd - The eventfd returned by {@link Vm.ioeventfd}.
   * @param options - The options it was registered with.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * vm.removeIoeventfd(kick, { space: "mmio", address: 0xd0000050, length: 4 });
   * ```
   */
  removeIoeventfd(eventfd: EventFd, options: Omit<IoeventfdOptions, "eventfd">): void {
    this.#check("KVM_IOEVENTFD");
    this.#ioctl("KVM_IOEVENTFD", this.#ioeventfdStruct(options, eventfd.fd, true), "deassign");
  }

  #ioeventfdStruct(o: Omit<IoeventfdOptions, "eventfd">, fd: number, deassign: boolean): Uint8Array {
    return encodeIoeventfd({ space: o.space, address: o.address, length: o.length, datamatch: o.datamatch, fd, deassign });
  }

  #ownEventfd(): EventFd {
    const e = EventFd.create();
    this.#eventfds.push(e);
    return e;
  }

  #dropEventfd(e: EventFd): void {
    const i = this.#eventfds.indexOf(e);
    if (i >= 0) this.#eventfds.splice(i, 1);
    e.close();
  }

  /**
   * Creates a vCPU (`KVM_CREATE_VCPU`), maps its `kvm_run`, and by default sets its CPUID to KVM's
   * supported table normalized for this vCPU ({@link normalizeCpuid}). Configure it here, on the
   * creating thread, then run it with {@link Vm.startVcpu} (the first `KVM_RUN` on the worker
   * claims the vCPU at no cost, as in Firecracker).
   *
   * @param id - The vCPU id, which is also its APIC id.
   * @param options - CPUID and the VM's vCPU count.
   * @returns The vCPU.
   * @throws {@link KvmError} `ioctl-failed` (e.g. `EEXIST` for a duplicate id), `syscall-failed`, `closed`.
   * @example
   * ```ts
   * const cpus = [0, 1].map((id) => vm.createVcpu(id, { vcpuCount: 2 }));
   * ```
   */
  createVcpu(id: number, options: VcpuOptions = {}): Vcpu {
    this.#check("KVM_CREATE_VCPU");
    toUint(id, 32, "vcpu id");
    let cpuid: readonly CpuidEntry[] | undefined;
    if (options.cpuid === undefined) {
      const count = Math.max(options.vcpuCount ?? 1, id + 1);
      cpuid = normalizeCpuid(this.#kvm.supportedCpuid(), { vcpuId: id, vcpuCount: count });
    } else if (options.cpuid !== false) cpuid = options.cpuid;
    const s = sys();
    const fd = s.ioctlVal(this.fd, IOCTL.KVM_CREATE_VCPU, id);
    if (fd < 0) throw ioctlError("KVM_CREATE_VCPU", -fd, `id ${id}`);
    let runAddress: bigint;
    try {
      runAddress = s.mmap(this.#runSize, PROT_RW, MAP_SHARED, fd, 0);
    } catch (e) {
      s.close(fd);
      throw e;
    }
    const vcpu = new Vcpu({ id, fd, runAddress, runSize: this.#runSize }, true);
    this.#vcpus.push(vcpu);
    if (cpuid) vcpu.setCpuid(cpuid);
    return vcpu;
  }

  /**
   * Starts a worker thread that runs `vcpu` for the rest of its life, calling `KVM_RUN`
   * synchronously and handing exits to a handler module loaded on that thread (see
   * {@link VcpuThreadOptions}). Resolves once the worker is in its run loop.
   *
   * @param vcpu - A vCPU of this VM.
   * @param options - The handler module and its data.
   * @returns The running thread.
   * @throws {@link KvmError} `thread-failed` if the worker or handler module fails to start,
   * `vcpu-busy` if the vCPU already has a thread, `closed`.
   * @example
   * ```ts
   * const t = await vm.startVcpu(vcpu, { handler: new URL("./devices.js", import.meta.url) });
   * const result = await t.done;
   * ```
   */
  async startVcpu(vcpu: Vcpu, options: VcpuThreadOptions): Promise<VcpuThread> {
    this.#check("startVcpu");
    if (!this.#vcpus.includes(vcpu)) throw new KvmError("invalid-argument", `vcpu: vCPU ${vcpu.id} does not belong to this VM`);
    for (const t of this.#threads) {
      if (t instanceof VcpuThread && t.vcpu === vcpu) throw new KvmError("vcpu-busy", `startVcpu: vCPU ${vcpu.id} already has a thread`);
    }
    const t = await VcpuThread.start(vcpu, this.ramDescriptors(), options);
    this.#threads.add(t);
    void t.done.then(
      () => this.#threads.delete(t),
      () => this.#threads.delete(t),
    );
    return t;
  }

  /**
   * Starts an I/O thread for this VM: a worker blocked in `epoll_wait` on eventfds (ioeventfds, a
   * tap, stdin) that runs device code when one becomes readable, with no timers or polling. See
   * {@link IoThreadOptions}.
   *
   * @param options - The device module and its data.
   * @returns The running thread.
   * @throws {@link KvmError} `thread-failed`, `closed`.
   * @example
   * ```ts
   * const io = await vm.startIoThread({ handler: new URL("./virtio.js", import.meta.url), data: { kick: kick.fd } });
   * ```
   */
  async startIoThread(options: IoThreadOptions): Promise<IoThread> {
    this.#check("startIoThread");
    const t = await IoThread.start(this.ramDescriptors(), options);
    this.#threads.add(t);
    void t.done.then(
      () => this.#threads.delete(t),
      () => this.#threads.delete(t),
    );
    return t;
  }

  /**
   * Tears the VM down: stops its vCPU and I/O threads (kicking vCPUs out of `KVM_RUN`), then closes
   * every vCPU fd (unmapping `kvm_run`), the eventfds it created, the VM fd, and unmaps every RAM
   * region. Idempotent.
   *
   * @throws {@link KvmError} `syscall-failed` if a close or munmap fails.
   * @example
   * ```ts
   * await vm.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // vCPU threads first: one may be waiting for an answer from an I/O thread (DeviceMailbox).
    const threads = [...this.#threads];
    await Promise.allSettled(threads.filter((t) => t instanceof VcpuThread).map((t) => t.stop()));
    await Promise.allSettled(threads.filter((t) => !(t instanceof VcpuThread)).map((t) => t.stop()));
    const s = sys();
    for (const v of this.#vcpus) v.close();
    for (const e of this.#eventfds) e.close();
    s.close(this.fd);
    for (const r of this.#ram) s.munmap(r.hostAddress, r.size);
    this.#vcpus.length = 0;
    this.#eventfds.length = 0;
    this.#ram.length = 0;
  }
}
