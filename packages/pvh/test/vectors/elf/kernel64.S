/* Notes of the 64-bit fixture: twelve other Xen notes (odd descriptor sizes, so the padding is
 * exercised), a non-Xen note, then the PVH note with an 8-byte descriptor (.quad, like Linux's
 * _ASM_PTR in arch/x86/platform/pvh/head.S). The section is 4-aligned: readelf aligns notes by
 * the PT_NOTE's p_align when it is 8, so the p_align-8 case is a mutation in the tests instead. */
#include "xen-notes.inc"
#define VIRT 0xffffffff80000000
.section .note.Xen, "a", @note
.balign 4
XENNOTE 6, .asciz "linux"
XENNOTE 7, .asciz "2.6"
XENNOTE 5, .asciz "xen-3.0"
XENNOTE 3, .quad VIRT
XENNOTE 4, .quad 0
XENNOTE 1, .quad pvh_start
XENNOTE 2, .quad VIRT + 0x2000
XENNOTE 10, .asciz "!writable_page_tables"
XENNOTE 9, .asciz "yes"
XENNOTE 17, .byte 1
XENNOTE 14, .long 1
XENNOTE 19, .long 0x200000, 0x1000000, 0xffffffff
/* Not a Xen note: must be skipped. Same type number as PHYS32_ENTRY on purpose. */
  .balign 4
  .long 6, 4, 18
  .asciz "Linux"
  .balign 4
  .long 0xdeadbeef
XENNOTE 18, .quad pvh_start - VIRT
