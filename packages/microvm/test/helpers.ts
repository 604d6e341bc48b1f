// Test helpers: tiny PVH kernels assembled and linked by gcc/ld, and the test guests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Builds a 32-bit PVH ELF from assembly text (AT&T syntax, code32), linked at 1 MiB, with the Xen
 * PHYS32_ENTRY note pointing at `_start`.
 */
export function tinyKernel(body: string, options: { note?: boolean } = {}): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "microvm-tiny-"));
  try {
    writeFileSync(
      join(dir, "k.S"),
      `${options.note === false ? "" : `	.section .note.Xen, "a", @note
	.balign 4
	.long 4, 4, 18
	.asciz "Xen"
	.long _start`}
	.text
	.code32
	.globl _start
_start:
${body}
`,
    );
    execFileSync("gcc", ["-m32", "-c", "-o", join(dir, "k.o"), join(dir, "k.S")]);
    execFileSync("ld", ["-m", "elf_i386", "-N", "-Ttext=0x100000", "--section-start=.note.Xen=0x100800", "-o", join(dir, "k.elf"), join(dir, "k.o")]);
    return new Uint8Array(readFileSync(join(dir, "k.elf")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A kernel that triple-faults at once: an empty IDT, then a divide by zero. */
export const TRIPLE_FAULT = `
	lidt idt0
	xor %eax, %eax
	div %eax
	.balign 8
idt0: .word 0
	.long 0
`;

/** A kernel that halts forever with interrupts off (KVM keeps it in the kernel: no exits). */
export const HALT_FOREVER = `
	cli
1:	hlt
	jmp 1b
`;

/** A kernel that prints "hi\\n" on the COM1 UART (polling LSR.THRE), then triple-faults. */
export const SAY_HI = `
	mov $0x3fd, %dx
1:	inb %dx, %al
	test $0x20, %al
	jz 1b
	mov $0x3f8, %dx
	mov $'h', %al
	outb %al, %dx
	mov $'i', %al
	outb %al, %dx
	mov $'\\n', %al
	outb %al, %dx
${TRIPLE_FAULT}`;
