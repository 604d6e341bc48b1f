/* The 32-bit fixture: i386 code, data, a BSS larger than the file part, and a PVH note with a
 * 4-byte descriptor (.long, as in Xen's docs/misc/pvh.pandoc example) after two other Xen notes. */
#include "xen-notes.inc"
.code32
.section .text, "ax"
.globl pvh_start
pvh_start:
  cli
1: hlt
  jmp 1b

.section .data, "aw"
message: .ascii "microvm pvh fixture\n"

.section .bss, "aw", @nobits
.balign 16
stack: .skip 0x40000

.section .note.Xen, "a", @note
XENNOTE 6, .asciz "fixture"
XENNOTE 5, .asciz "xen-3.0"
XENNOTE 18, .long pvh_start
