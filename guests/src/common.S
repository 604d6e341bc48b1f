/* Shared by entry32.S and entry64.S (#included): the GDT and the AP real-mode trampoline. */

	.section .data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: 32-bit flat code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code (L=1) */
gdt_end:
	.balign 4
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
	.balign 4
null_idt:
	.word 0
	.quad 0
	.globl ap_stack_top
ap_stack_top:
	.long 0

/* Copied by the BSP to a free page T below 1 MiB; APs start at T:0 in real mode (SIPI vector
 * T >> 12). Only DS-relative addressing is used, so it runs from any page. */
	.section .rodata
	.balign 16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	.code16
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl tr_gdt_desc - ap_tramp_start
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl *tr_far - ap_tramp_start
	.balign 4
tr_far:
	.long ap_entry32
	.word 0x08
tr_gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
ap_tramp_end:
	.code32
