/*
 * The smallest PVH guest: it enters in 32-bit protected mode (Xen PHYS32_ENTRY note, type 18)
 * and halts forever, so that gen-qemu-dumps.sh can read the firmware's tables out of guest memory.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4          /* n_namesz: "Xen\0" */
	.long 4          /* n_descsz */
	.long 18         /* n_type: XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.text
	.code32
	.globl _start
_start:
	cli
1:	hlt
	jmp 1b
