/* guest32: ELF32 PVH entry (Xen PHYS32_ENTRY, desc 4 bytes as 32-bit Linux writes it).
 * Entered in 32-bit protected mode, paging off, %ebx = hvm_start_info. */
#include "common.S"

	.section .note.Xen, "a"
	.balign 4
	.long 4			/* namesz */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.section .text.entry, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	cld
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $stack_top, %esp
	push %ebx
	call guest_main
	/* fall through */
	.globl guest_exit
guest_exit:
	/* triple fault: empty IDT, then divide by zero (#DE -> #GP -> #DF -> shutdown) */
	cli
	lidt null_idt
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
	div %ecx
2:	hlt
	jmp 2b

	.globl ap_entry32
ap_entry32:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov ap_stack_top, %esp
	call ap_main
3:	cli
	hlt
	jmp 3b

	.section .bss
	.balign 16
	.space 16384
stack_top:
