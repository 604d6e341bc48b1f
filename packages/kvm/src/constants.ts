/**
 * ioctl request numbers and constants of the KVM API, x86_64.
 *
 * Values follow include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h (Linux 6.1 headers):
 * `_IO/_IOR/_IOW/_IOWR(KVMIO = 0xAE, nr, type)` encode `nr | 0xAE << 8 | sizeof(type) << 16 | dir << 30`
 * (include/uapi/asm-generic/ioctl.h). The full 32-bit value is always used, because the same `nr`
 * is reused with different sizes.
 */

/** @internal Request numbers by name. */
export const IOCTL = {
  // System ioctls (on the /dev/kvm fd).
  KVM_GET_API_VERSION: 0xae00,
  KVM_CREATE_VM: 0xae01,
  KVM_GET_MSR_INDEX_LIST: 0xc004ae02,
  KVM_CHECK_EXTENSION: 0xae03,
  KVM_GET_VCPU_MMAP_SIZE: 0xae04,
  KVM_GET_SUPPORTED_CPUID: 0xc008ae05,
  // VM ioctls.
  KVM_CREATE_VCPU: 0xae41,
  KVM_SET_USER_MEMORY_REGION: 0x4020ae46,
  KVM_SET_TSS_ADDR: 0xae47,
  KVM_SET_IDENTITY_MAP_ADDR: 0x4008ae48,
  KVM_CREATE_IRQCHIP: 0xae60,
  KVM_IRQ_LINE: 0x4008ae61,
  KVM_IRQFD: 0x4020ae76,
  KVM_CREATE_PIT2: 0x4040ae77,
  KVM_IOEVENTFD: 0x4040ae79,
  KVM_SIGNAL_MSI: 0x4020aea5,
  // vCPU ioctls.
  KVM_RUN: 0xae80,
  KVM_GET_REGS: 0x8090ae81,
  KVM_SET_REGS: 0x4090ae82,
  KVM_GET_SREGS: 0x8138ae83,
  KVM_SET_SREGS: 0x4138ae84,
  KVM_GET_MSRS: 0xc008ae88,
  KVM_SET_MSRS: 0x4008ae89,
  KVM_GET_FPU: 0x81a0ae8c,
  KVM_SET_FPU: 0x41a0ae8d,
  KVM_GET_LAPIC: 0x8400ae8e,
  KVM_SET_LAPIC: 0x4400ae8f,
  KVM_SET_CPUID2: 0x4008ae90,
  KVM_GET_CPUID2: 0xc008ae91,
  KVM_GET_MP_STATE: 0x8004ae98,
  KVM_SET_MP_STATE: 0x4004ae99,
} as const;

/**
 * `KVM_CHECK_EXTENSION` capability numbers (include/uapi/linux/kvm.h, `KVM_CAP_*`), for
 * {@link Kvm.checkExtension}.
 *
 * @example
 * ```ts
 * kvm.checkExtension(KVM_CAP.IRQFD); // 1 when irqfd is supported
 * ```
 */
export const KVM_CAP: {
  readonly IRQCHIP: 0;
  readonly HLT: 1;
  readonly USER_MEMORY: 3;
  readonly SET_TSS_ADDR: 4;
  readonly EXT_CPUID: 7;
  readonly NR_VCPUS: 9;
  readonly NR_MEMSLOTS: 10;
  readonly PIT: 11;
  readonly NOP_IO_DELAY: 12;
  readonly SYNC_MMU: 16;
  readonly IRQ_ROUTING: 25;
  readonly IRQFD: 32;
  readonly PIT2: 33;
  readonly IOEVENTFD: 36;
  readonly SET_IDENTITY_MAP_ADDR: 37;
  readonly MAX_VCPUS: 66;
  readonly SIGNAL_MSI: 77;
  readonly MAX_VCPU_ID: 128;
  readonly IMMEDIATE_EXIT: 136;
} = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  NOP_IO_DELAY: 12,
  SYNC_MMU: 16,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  MAX_VCPUS: 66,
  SIGNAL_MSI: 77,
  MAX_VCPU_ID: 128,
  IMMEDIATE_EXIT: 136,
};

/**
 * `kvm_run.exit_reason` values (include/uapi/linux/kvm.h, `KVM_EXIT_*`).
 *
 * @example
 * ```ts
 * if (rawReason === KVM_EXIT.SHUTDOWN) console.log("triple fault");
 * ```
 */
export const KVM_EXIT: {
  readonly UNKNOWN: 0;
  readonly EXCEPTION: 1;
  readonly IO: 2;
  readonly HYPERCALL: 3;
  readonly DEBUG: 4;
  readonly HLT: 5;
  readonly MMIO: 6;
  readonly IRQ_WINDOW_OPEN: 7;
  readonly SHUTDOWN: 8;
  readonly FAIL_ENTRY: 9;
  readonly INTR: 10;
  readonly INTERNAL_ERROR: 17;
  readonly SYSTEM_EVENT: 24;
} = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
};

/**
 * `KVM_GET_MP_STATE` / `KVM_SET_MP_STATE` values (include/uapi/linux/kvm.h, `KVM_MP_STATE_*`;
 * Documentation/virt/kvm/api.rst "KVM_GET_MP_STATE").
 *
 * @example
 * ```ts
 * vcpu.setMpState(MP_STATE.RUNNABLE); // start an AP without INIT/SIPI
 * ```
 */
export const MP_STATE: {
  readonly RUNNABLE: 0;
  readonly UNINITIALIZED: 1;
  readonly INIT_RECEIVED: 2;
  readonly HALTED: 3;
  readonly SIPI_RECEIVED: 4;
} = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
};

/** The KVM API version this package speaks (`KVM_GET_API_VERSION`, Documentation/virt/kvm/api.rst). */
export const KVM_API_VERSION: 12 = 12;

/**
 * Default hidden-page addresses, Firecracker's choice: the 3-page TSS at 0xfffbd000 and the
 * identity-map page at 0xfffbc000 (firecracker `src/vmm/src/arch/x86_64/layout.rs`; api.rst
 * "KVM_SET_IDENTITY_MAP_ADDR": the default is 0xfffbc000). Both must stay out of every memory slot.
 */
export const DEFAULT_TSS_ADDRESS: bigint = 0xfffbd000n;
/** See {@link DEFAULT_TSS_ADDRESS}. */
export const DEFAULT_IDENTITY_MAP_ADDRESS: bigint = 0xfffbc000n;
