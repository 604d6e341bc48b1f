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
  KVM_SET_GSI_ROUTING: 0x4008ae6a,
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
export const KVM_CAP = {
  /** In-kernel PIC/IOAPIC/LAPIC (`KVM_CREATE_IRQCHIP`). */
  IRQCHIP: 0,
  /** HLT exits are reported. */
  HLT: 1,
  /** `KVM_SET_USER_MEMORY_REGION`. */
  USER_MEMORY: 3,
  /** `KVM_SET_TSS_ADDR`. */
  SET_TSS_ADDR: 4,
  /** `KVM_GET_SUPPORTED_CPUID` / `KVM_SET_CPUID2`. */
  EXT_CPUID: 7,
  /** Recommended maximum vCPUs. */
  NR_VCPUS: 9,
  /** Number of memory slots. */
  NR_MEMSLOTS: 10,
  /** In-kernel PIT. */
  PIT: 11,
  /** Port 0x80 delays are not needed. */
  NOP_IO_DELAY: 12,
  /** Changes to host mappings are seen by the guest. */
  SYNC_MMU: 16,
  /** GSI routing (value: number of routes). */
  IRQ_ROUTING: 25,
  /** `KVM_IRQFD`. */
  IRQFD: 32,
  /** `KVM_CREATE_PIT2`. */
  PIT2: 33,
  /** `KVM_IOEVENTFD`. */
  IOEVENTFD: 36,
  /** `KVM_SET_IDENTITY_MAP_ADDR`. */
  SET_IDENTITY_MAP_ADDR: 37,
  /** Maximum vCPUs. */
  MAX_VCPUS: 66,
  /** `KVM_SIGNAL_MSI`. */
  SIGNAL_MSI: 77,
  /** Maximum vCPU id + 1. */
  MAX_VCPU_ID: 128,
  /** `kvm_run.immediate_exit`. */
  IMMEDIATE_EXIT: 136,
} as const;

/**
 * `kvm_run.exit_reason` values (include/uapi/linux/kvm.h, `KVM_EXIT_*`).
 *
 * @example
 * ```ts
 * if (rawReason === KVM_EXIT.SHUTDOWN) console.log("triple fault");
 * ```
 */
export const KVM_EXIT = {
  /** Unknown reason. */
  UNKNOWN: 0,
  /** Guest exception (debugging). */
  EXCEPTION: 1,
  /** Port I/O. */
  IO: 2,
  /** Hypercall. */
  HYPERCALL: 3,
  /** Debug event. */
  DEBUG: 4,
  /** HLT without an in-kernel irqchip. */
  HLT: 5,
  /** Access outside memory slots. */
  MMIO: 6,
  /** Interrupt window open (userspace irqchip). */
  IRQ_WINDOW_OPEN: 7,
  /** Triple fault. */
  SHUTDOWN: 8,
  /** VM entry failed. */
  FAIL_ENTRY: 9,
  /** Interrupted by a signal. */
  INTR: 10,
  /** KVM internal error (e.g. emulation failure). */
  INTERNAL_ERROR: 17,
  /** Guest shutdown/reset/crash request. */
  SYSTEM_EVENT: 24,
} as const;

/**
 * `KVM_GET_MP_STATE` / `KVM_SET_MP_STATE` values (include/uapi/linux/kvm.h, `KVM_MP_STATE_*`;
 * Documentation/virt/kvm/api.rst "KVM_GET_MP_STATE").
 *
 * @example
 * ```ts
 * vcpu.setMpState(MP_STATE.RUNNABLE); // start an AP without INIT/SIPI
 * ```
 */
export const MP_STATE = {
  /** Running or ready to run. */
  RUNNABLE: 0,
  /** An AP waiting for INIT. */
  UNINITIALIZED: 1,
  /** INIT received, waiting for SIPI. */
  INIT_RECEIVED: 2,
  /** Halted (HLT). */
  HALTED: 3,
  /** SIPI received. */
  SIPI_RECEIVED: 4,
} as const;

/**
 * The KVM API version this package speaks (`KVM_GET_API_VERSION`, Documentation/virt/kvm/api.rst).
 *
 * @example
 * ```ts
 * if (kvm.apiVersion !== KVM_API_VERSION) throw new Error("unexpected KVM API");
 * ```
 */
export const KVM_API_VERSION: 12 = 12;

/**
 * Default hidden-page addresses, Firecracker's choice: the 3-page TSS at 0xfffbd000 and the
 * identity-map page at 0xfffbc000 (firecracker `src/vmm/src/arch/x86_64/layout.rs`; api.rst
 * "KVM_SET_IDENTITY_MAP_ADDR": the default is 0xfffbc000). Both must stay out of every memory slot.
 *
 * @example
 * ```ts
 * vm.setTssAddress(DEFAULT_TSS_ADDRESS);
 * ```
 */
export const DEFAULT_TSS_ADDRESS: bigint = 0xfffbd000n;
/**
 * See {@link DEFAULT_TSS_ADDRESS}.
 *
 * @example
 * ```ts
 * vm.setIdentityMapAddress(DEFAULT_IDENTITY_MAP_ADDRESS);
 * ```
 */
export const DEFAULT_IDENTITY_MAP_ADDRESS: bigint = 0xfffbc000n;

/**
 * @internal The argument structs of the VM ioctls that the encoders of structs.ts lay out: their
 * sizes, the offsets of the fields they write, and the flag and type values they store
 * (include/uapi/linux/kvm.h, Linux 6.1). test/abi.test.ts compares every number here with the
 * installed header, through test/vectors/kvm-abi.c, and every encoder's output with a struct built
 * from the header's offsets, so the encoders must take them from here rather than repeat them.
 */
export const VM_ABI = {
  /** `struct kvm_userspace_memory_region` (`KVM_SET_USER_MEMORY_REGION`). */
  memoryRegion: { size: 32, slot: 0, flags: 4, guestPhysAddr: 8, memorySize: 16, userspaceAddr: 24 },
  /** `KVM_MEM_READONLY`, a `kvm_userspace_memory_region.flags` bit. */
  memReadonly: 2,
  /** The `__u64` that `KVM_SET_IDENTITY_MAP_ADDR` points at. */
  identityMapAddress: { size: 8 },
  /** `struct kvm_pit_config` (`KVM_CREATE_PIT2`). */
  pitConfig: { size: 64, flags: 0 },
  /** `KVM_PIT_SPEAKER_DUMMY`, a `kvm_pit_config.flags` bit. */
  pitSpeakerDummy: 1,
  /** `struct kvm_irq_level` (`KVM_IRQ_LINE`). */
  irqLevel: { size: 8, irq: 0, level: 4 },
  /** `struct kvm_msi` (`KVM_SIGNAL_MSI`). */
  msi: { size: 32, addressLo: 0, addressHi: 4, data: 8 },
  /** `struct kvm_irq_routing` (`KVM_SET_GSI_ROUTING`): the header before the entries. */
  irqRouting: { nr: 0, entries: 8 },
  /** `struct kvm_irq_routing_entry`: the union `u` at 16 holds `irqchip` or `msi`. */
  irqRoutingEntry: { size: 48, gsi: 0, type: 4, irqchip: 16, pin: 20, msiAddressLo: 16, msiAddressHi: 20, msiData: 24 },
  /** `KVM_IRQ_ROUTING_IRQCHIP` and `KVM_IRQ_ROUTING_MSI`, `kvm_irq_routing_entry.type`. */
  routingType: { irqchip: 1, msi: 2 },
  /** `KVM_IRQCHIP_PIC_MASTER`, `KVM_IRQCHIP_PIC_SLAVE`, `KVM_IRQCHIP_IOAPIC`. */
  irqchip: { "pic-master": 0, "pic-slave": 1, ioapic: 2 },
  /** `struct kvm_irqfd` (`KVM_IRQFD`). */
  irqfd: { size: 32, fd: 0, gsi: 4, flags: 8 },
  /** `KVM_IRQFD_FLAG_DEASSIGN`. */
  irqfdDeassign: 1,
  /** `struct kvm_ioeventfd` (`KVM_IOEVENTFD`). */
  ioeventfd: { size: 64, datamatch: 0, addr: 8, len: 16, fd: 20, flags: 24 },
  /** `KVM_IOEVENTFD_FLAG_DATAMATCH`, `_PIO`, `_DEASSIGN` (1 << `kvm_ioeventfd_flag_nr_*`). */
  ioeventfdFlag: { datamatch: 1, pio: 2, deassign: 4 },
} as const;
