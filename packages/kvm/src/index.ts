/**
 * @packageDocumentation
 * `@microvm/kvm`: the KVM backend for Node. Opens `/dev/kvm`, creates VMs with guest RAM, the
 * in-kernel irqchip and PIT, irqfd and ioeventfd, configures vCPUs (registers, CPUID, MSRs,
 * LAPIC, MP state) and runs each vCPU on its own worker thread, with exit handlers loaded on that
 * thread and an epoll-driven I/O thread for device work. Linux x86_64 only; the syscalls go through
 * koffi, behind one module.
 *
 * @example
 * ```ts
 * import { Kvm } from "@microvm/kvm";
 * const kvm = Kvm.open();
 * const vm = kvm.createVm();
 * const ram = vm.addRam({ guestAddress: 0, size: 0x10000 });
 * ram.bytes.set([0xe6, 0x10, 0xf4], 0x1000); // out 0x10, al; hlt
 * const vcpu = vm.createVcpu(0);
 * vcpu.setSregs({ cs: { base: 0, selector: 0 } });
 * vcpu.setRegs({ rip: 0x1000, rflags: 2, rax: 42 });
 * console.log(vcpu.run()); // { kind: "io", direction: "out", port: 16, value: 42, ... }
 * await vm.close();
 * ```
 */
export { KvmError, isKvmError, errnoName, type KvmErrorCode, type KvmErrorOptions } from "./errors.js";
export {
  KVM_CAP,
  KVM_EXIT,
  MP_STATE,
  KVM_API_VERSION,
  DEFAULT_TSS_ADDRESS,
  DEFAULT_IDENTITY_MAP_ADDRESS,
} from "./constants.js";
export { Kvm, KVM_DEVICE } from "./kvm.js";
export { Vm, defaultGsiRouting, type GsiRoute, type RamOptions, type IoeventfdOptions, type VcpuOptions } from "./vm.js";
export { viewRam, type RamDescriptor, type RamRegion } from "./memory.js";
export { Vcpu, type VcpuDescriptor } from "./vcpu.js";
export { EventFd, type EventFdOptions } from "./eventfd.js";
export { normalizeCpuid, type CpuidNormalizeOptions } from "./cpuid.js";
export type {
  Regs,
  RegsInput,
  Segment,
  SegmentInput,
  DescriptorTable,
  DescriptorTableInput,
  Sregs,
  SregsInput,
  Fpu,
  FpuInput,
  CpuidEntry,
  MsrEntry,
} from "./registers.js";
export {
  answerRead,
  type VcpuExit,
  type IoExit,
  type MmioExit,
  type HltExit,
  type ShutdownExit,
  type FailEntryExit,
  type InternalErrorExit,
  type SystemEventExit,
  type InterruptedExit,
  type OtherExit,
  type ReadAnswer,
} from "./exits.js";
export type {
  VcpuContext,
  VcpuHandler,
  VcpuHandlerFactory,
  IoContext,
  IoHandler,
  IoHandlerFactory,
  WatchOptions,
} from "./handlers.js";
export { VcpuThread, type VcpuThreadOptions, type VcpuRunResult, type VcpuEndReason } from "./vcpu-thread.js";
export { IoThread, type IoThreadOptions } from "./io-thread.js";
export { releaseIdleWorkers } from "./pool.js";
export { DeviceMailbox, type MailboxDescriptor, type MailboxRequest } from "./mailbox.js";
