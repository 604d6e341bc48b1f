/*
 * Prints, as JSON, the ioctl numbers, struct sizes and field offsets of the KVM ABI the way the
 * installed kernel headers (linux-libc-dev: <linux/kvm.h>, <asm/kvm.h>) define them. The layout
 * test compiles and runs this with gcc and compares @microvm/kvm's constants and codecs with it.
 */
#include <linux/kvm.h>
#include <stddef.h>
#include <stdio.h>

#define IOC(name) printf("  \"%s\": %lu,\n", #name, (unsigned long)(name))
#define OFF(type, field, key) printf("  \"%s\": %zu,\n", key, offsetof(struct type, field))
#define SIZE(type) printf("  \"sizeof %s\": %zu,\n", #type, sizeof(struct type))

int main(void) {
  printf("{\n");
  IOC(KVM_GET_API_VERSION); IOC(KVM_CREATE_VM); IOC(KVM_GET_MSR_INDEX_LIST); IOC(KVM_CHECK_EXTENSION);
  IOC(KVM_GET_VCPU_MMAP_SIZE); IOC(KVM_GET_SUPPORTED_CPUID); IOC(KVM_CREATE_VCPU);
  IOC(KVM_SET_USER_MEMORY_REGION); IOC(KVM_SET_TSS_ADDR); IOC(KVM_SET_IDENTITY_MAP_ADDR);
  IOC(KVM_CREATE_IRQCHIP); IOC(KVM_IRQ_LINE); IOC(KVM_IRQFD); IOC(KVM_CREATE_PIT2); IOC(KVM_IOEVENTFD);
  IOC(KVM_SIGNAL_MSI); IOC(KVM_SET_GSI_ROUTING); IOC(KVM_RUN); IOC(KVM_GET_REGS); IOC(KVM_SET_REGS); IOC(KVM_GET_SREGS);
  IOC(KVM_SET_SREGS); IOC(KVM_GET_MSRS); IOC(KVM_SET_MSRS); IOC(KVM_GET_FPU); IOC(KVM_SET_FPU);
  IOC(KVM_GET_LAPIC); IOC(KVM_SET_LAPIC); IOC(KVM_SET_CPUID2); IOC(KVM_GET_CPUID2);
  IOC(KVM_GET_MP_STATE); IOC(KVM_SET_MP_STATE);
  SIZE(kvm_regs); SIZE(kvm_sregs); SIZE(kvm_segment); SIZE(kvm_fpu); SIZE(kvm_lapic_state);
  SIZE(kvm_cpuid_entry2); SIZE(kvm_msr_entry); SIZE(kvm_userspace_memory_region); SIZE(kvm_irqfd);
  SIZE(kvm_ioeventfd); SIZE(kvm_pit_config); SIZE(kvm_irq_level);
  OFF(kvm_regs, rax, "regs.rax"); OFF(kvm_regs, rbx, "regs.rbx"); OFF(kvm_regs, rcx, "regs.rcx");
  OFF(kvm_regs, rdx, "regs.rdx"); OFF(kvm_regs, rsi, "regs.rsi"); OFF(kvm_regs, rdi, "regs.rdi");
  OFF(kvm_regs, rsp, "regs.rsp"); OFF(kvm_regs, rbp, "regs.rbp"); OFF(kvm_regs, r8, "regs.r8");
  OFF(kvm_regs, r9, "regs.r9"); OFF(kvm_regs, r10, "regs.r10"); OFF(kvm_regs, r11, "regs.r11");
  OFF(kvm_regs, r12, "regs.r12"); OFF(kvm_regs, r13, "regs.r13"); OFF(kvm_regs, r14, "regs.r14");
  OFF(kvm_regs, r15, "regs.r15"); OFF(kvm_regs, rip, "regs.rip"); OFF(kvm_regs, rflags, "regs.rflags");
  OFF(kvm_sregs, cs, "sregs.cs"); OFF(kvm_sregs, ds, "sregs.ds"); OFF(kvm_sregs, es, "sregs.es");
  OFF(kvm_sregs, fs, "sregs.fs"); OFF(kvm_sregs, gs, "sregs.gs"); OFF(kvm_sregs, ss, "sregs.ss");
  OFF(kvm_sregs, tr, "sregs.tr"); OFF(kvm_sregs, ldt, "sregs.ldt"); OFF(kvm_sregs, gdt, "sregs.gdt");
  OFF(kvm_sregs, idt, "sregs.idt"); OFF(kvm_sregs, cr0, "sregs.cr0"); OFF(kvm_sregs, cr2, "sregs.cr2");
  OFF(kvm_sregs, cr3, "sregs.cr3"); OFF(kvm_sregs, cr4, "sregs.cr4"); OFF(kvm_sregs, cr8, "sregs.cr8");
  OFF(kvm_sregs, efer, "sregs.efer"); OFF(kvm_sregs, apic_base, "sregs.apicBase");
  OFF(kvm_sregs, interrupt_bitmap, "sregs.interruptBitmap");
  OFF(kvm_segment, base, "segment.base"); OFF(kvm_segment, limit, "segment.limit");
  OFF(kvm_segment, selector, "segment.selector"); OFF(kvm_segment, type, "segment.type");
  OFF(kvm_segment, present, "segment.present"); OFF(kvm_segment, dpl, "segment.dpl");
  OFF(kvm_segment, db, "segment.db"); OFF(kvm_segment, s, "segment.s"); OFF(kvm_segment, l, "segment.l");
  OFF(kvm_segment, g, "segment.g"); OFF(kvm_segment, avl, "segment.avl"); OFF(kvm_segment, unusable, "segment.unusable");
  OFF(kvm_dtable, base, "dtable.base"); OFF(kvm_dtable, limit, "dtable.limit");
  OFF(kvm_fpu, fpr, "fpu.fpr"); OFF(kvm_fpu, fcw, "fpu.fcw"); OFF(kvm_fpu, fsw, "fpu.fsw");
  OFF(kvm_fpu, ftwx, "fpu.ftwx"); OFF(kvm_fpu, last_opcode, "fpu.lastOpcode"); OFF(kvm_fpu, last_ip, "fpu.lastIp");
  OFF(kvm_fpu, last_dp, "fpu.lastDp"); OFF(kvm_fpu, xmm, "fpu.xmm"); OFF(kvm_fpu, mxcsr, "fpu.mxcsr");
  OFF(kvm_cpuid_entry2, function, "cpuid.function"); OFF(kvm_cpuid_entry2, index, "cpuid.index");
  OFF(kvm_cpuid_entry2, flags, "cpuid.flags"); OFF(kvm_cpuid_entry2, eax, "cpuid.eax");
  OFF(kvm_cpuid_entry2, ebx, "cpuid.ebx"); OFF(kvm_cpuid_entry2, ecx, "cpuid.ecx"); OFF(kvm_cpuid_entry2, edx, "cpuid.edx");
  OFF(kvm_cpuid2, entries, "cpuid2.entries"); OFF(kvm_msrs, entries, "msrs.entries");
  OFF(kvm_msr_entry, index, "msr.index"); OFF(kvm_msr_entry, data, "msr.data");
  OFF(kvm_run, immediate_exit, "run.immediate_exit"); OFF(kvm_run, exit_reason, "run.exit_reason");
  OFF(kvm_run, io.direction, "run.io.direction"); OFF(kvm_run, io.size, "run.io.size");
  OFF(kvm_run, io.port, "run.io.port"); OFF(kvm_run, io.count, "run.io.count");
  OFF(kvm_run, io.data_offset, "run.io.data_offset"); OFF(kvm_run, mmio.phys_addr, "run.mmio.phys_addr");
  OFF(kvm_run, mmio.data, "run.mmio.data"); OFF(kvm_run, mmio.len, "run.mmio.len");
  OFF(kvm_run, mmio.is_write, "run.mmio.is_write");
  OFF(kvm_run, fail_entry.hardware_entry_failure_reason, "run.fail_entry.reason");
  OFF(kvm_run, fail_entry.cpu, "run.fail_entry.cpu"); OFF(kvm_run, internal.suberror, "run.internal.suberror");
  OFF(kvm_run, internal.ndata, "run.internal.ndata"); OFF(kvm_run, internal.data, "run.internal.data");
  OFF(kvm_run, system_event.type, "run.system_event.type");
  OFF(kvm_run, system_event.ndata, "run.system_event.ndata");
  OFF(kvm_run, system_event.data, "run.system_event.data");
  SIZE(kvm_irq_routing_entry); SIZE(kvm_msi);
  OFF(kvm_irq_routing, entries, "routing.entries"); OFF(kvm_irq_routing_entry, u, "route.u");
  OFF(kvm_irq_routing_entry, type, "route.type"); OFF(kvm_irq_routing_entry, u.irqchip.pin, "route.pin");
  OFF(kvm_irq_routing_entry, u.msi.data, "route.msi.data"); OFF(kvm_msi, data, "msi.data");
  printf("  \"KVM_IRQ_ROUTING_IRQCHIP\": %d, \"KVM_IRQ_ROUTING_MSI\": %d, \"KVM_IRQCHIP_IOAPIC\": %d, \"KVM_IRQCHIP_PIC_SLAVE\": %d,\n",
         KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_SLAVE);
  OFF(kvm_ioeventfd, datamatch, "ioeventfd.datamatch"); OFF(kvm_ioeventfd, addr, "ioeventfd.addr");
  OFF(kvm_ioeventfd, len, "ioeventfd.len"); OFF(kvm_ioeventfd, fd, "ioeventfd.fd");
  OFF(kvm_ioeventfd, flags, "ioeventfd.flags");
  printf("  \"KVM_IOEVENTFD_FLAG_DATAMATCH\": %d,\n  \"KVM_IOEVENTFD_FLAG_PIO\": %d,\n  \"KVM_IOEVENTFD_FLAG_DEASSIGN\": %d,\n",
         KVM_IOEVENTFD_FLAG_DATAMATCH, KVM_IOEVENTFD_FLAG_PIO, KVM_IOEVENTFD_FLAG_DEASSIGN);
  /* The rest of the VM ioctl arguments the encoders of src/structs.ts lay out (VM_ABI). */
  SIZE(kvm_irq_routing); OFF(kvm_irq_routing, flags, "routing.flags");
  OFF(kvm_irq_routing_entry, flags, "route.flags"); OFF(kvm_msi, flags, "msi.flags"); OFF(kvm_msi, devid, "msi.devid");
  OFF(kvm_irqfd, resamplefd, "irqfd.resamplefd");
  OFF(kvm_userspace_memory_region, slot, "memregion.slot"); OFF(kvm_userspace_memory_region, flags, "memregion.flags");
  OFF(kvm_userspace_memory_region, guest_phys_addr, "memregion.guest_phys_addr");
  OFF(kvm_userspace_memory_region, memory_size, "memregion.memory_size");
  OFF(kvm_userspace_memory_region, userspace_addr, "memregion.userspace_addr");
  OFF(kvm_pit_config, flags, "pit.flags"); OFF(kvm_irq_level, irq, "irqlevel.irq"); OFF(kvm_irq_level, level, "irqlevel.level");
  OFF(kvm_msi, address_lo, "msi.address_lo"); OFF(kvm_msi, address_hi, "msi.address_hi");
  OFF(kvm_irq_routing, nr, "routing.nr"); OFF(kvm_irq_routing_entry, gsi, "route.gsi");
  OFF(kvm_irq_routing_entry, u.irqchip.irqchip, "route.irqchip");
  OFF(kvm_irq_routing_entry, u.msi.address_lo, "route.msi.address_lo");
  OFF(kvm_irq_routing_entry, u.msi.address_hi, "route.msi.address_hi");
  OFF(kvm_irqfd, fd, "irqfd.fd"); OFF(kvm_irqfd, gsi, "irqfd.gsi"); OFF(kvm_irqfd, flags, "irqfd.flags");
  printf("  \"sizeof __u64\": %zu,\n", sizeof(__u64));
  printf("  \"KVM_MEM_READONLY\": %d, \"KVM_PIT_SPEAKER_DUMMY\": %d, \"KVM_IRQFD_FLAG_DEASSIGN\": %d, \"KVM_IRQCHIP_PIC_MASTER\": %d,\n",
         (int)KVM_MEM_READONLY, (int)KVM_PIT_SPEAKER_DUMMY, (int)KVM_IRQFD_FLAG_DEASSIGN, (int)KVM_IRQCHIP_PIC_MASTER);
  printf("  \"KVM_EXIT_IO\": %d, \"KVM_EXIT_MMIO\": %d, \"KVM_EXIT_HLT\": %d, \"KVM_EXIT_SHUTDOWN\": %d,\n",
         KVM_EXIT_IO, KVM_EXIT_MMIO, KVM_EXIT_HLT, KVM_EXIT_SHUTDOWN);
  printf("  \"KVM_EXIT_FAIL_ENTRY\": %d, \"KVM_EXIT_INTR\": %d, \"KVM_EXIT_INTERNAL_ERROR\": %d, \"KVM_EXIT_SYSTEM_EVENT\": %d,\n",
         KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTR, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_SYSTEM_EVENT);
  printf("  \"KVM_CAP_IRQFD\": %d, \"KVM_CAP_IOEVENTFD\": %d, \"KVM_CAP_IMMEDIATE_EXIT\": %d, \"KVM_CAP_PIT2\": %d,\n",
         KVM_CAP_IRQFD, KVM_CAP_IOEVENTFD, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_PIT2);
  printf("  \"KVM_MP_STATE_UNINITIALIZED\": %d, \"KVM_MP_STATE_RUNNABLE\": %d\n}\n",
         KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_RUNNABLE);
  return 0;
}
