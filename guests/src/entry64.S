/* guest64: ELF64 with the 32-bit PVH entry (Xen PHYS32_ENTRY, desc 8 bytes as 64-bit Linux
 * writes it with _ASM_PTR). Entered in 32-bit protected mode, paging off, %ebx = hvm_start_info;
 * builds an identity map of [0, 4 GiB) with 2 MiB pages, enables PAE, EFER.LME and paging and
 * jumps to 64-bit code, as Linux's arch/x86/platform/pvh/head.S does. */
#include "common.S"

	.section .note.Xen, "a"
	.balign 4
	.long 4			/* namesz */
	.long 8			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.quad pvh_start

	.section .text.entry, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	cld
	mov %ebx, %esi
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $stack_top, %esp
	/* PD entries: 2048 x 2 MiB (present, writable, PS) */
	mov $pd, %edi
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, (%edi,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jne 2b
	/* PDPT: 4 entries -> the 4 PD pages; PML4[0] -> PDPT */
	mov $pdpt, %edi
	mov $pd + 0x003, %eax
	mov %eax, 0(%edi)
	add $0x1000, %eax
	mov %eax, 8(%edi)
	add $0x1000, %eax
	mov %eax, 16(%edi)
	add $0x1000, %eax
	mov %eax, 24(%edi)
	movl $pdpt + 0x003, pml4
	call long_mode_on
	ljmp $0x18, $bsp64

/* PAE, CR3, EFER.LME, CR0.PG: shared by BSP and APs (still in 32-bit code) */
long_mode_on:
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax
	mov %eax, %cr0
	ret

	.globl ap_entry32
ap_entry32:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov ap_stack_top, %esp
	call long_mode_on
	ljmp $0x18, $ap64

	.code64
bsp64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $stack_top, %rsp
	mov %esi, %edi
	call guest_main
	/* fall through */
	.globl guest_exit
guest_exit:
	cli
	lidt null_idt
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
	div %ecx
3:	hlt
	jmp 3b

ap64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov ap_stack_top, %esp
	call ap_main
4:	cli
	hlt
	jmp 4b

/* interrupt stubs: vectors 0x40..0x57, 16 bytes apart */
	.balign 16
	.globl irq_stubs
irq_stubs:
	.set v, 0x40
	.rept 24
	.balign 16
	pushq $v
	jmp irq_common
	.set v, v + 1
	.endr
	.balign 16
	.globl irq_spurious
irq_spurious:
	iretq

irq_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov 72(%rsp), %rdi
	sub $8, %rsp
	call irq_dispatch
	add $8, %rsp
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $8, %rsp
	iretq

	.section .bss
	.balign 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4 * 4096
	.balign 16
	.space 16384
stack_top:
