// Test helpers: tiny PVH kernels assembled and linked by gcc/ld, and the test guests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { isMicrovmError } from "../src/index.js";
import { typedErrorOf } from "../../../test/error-codes.ts";
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
    execFileSync("ld", ["-m", "elf_i386", "-N", "--no-warn-rwx-segments", "-Ttext=0x100000", "--section-start=.note.Xen=0x100800", "-o", join(dir, "k.elf"), join(dir, "k.o")]);
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

/**
 * A hostile guest (32-bit, interrupts off). With a fixed-seed LCG it
 * 1. writes a random byte to every I/O port and reads it back (0x64 never gets 0xFE, the reset);
 * 2. writes random 32-bit values to every register of the 8 virtio-mmio transports, and reads them;
 * 3. then, per transport, walks the driver init sequence far enough for the device to run
 *    (ACKNOWLEDGE, DRIVER, VERSION_1, FEATURES_OK, queue 0 of size 8 with its rings at random
 *    places in RAM filled with random bytes, QueueReady, DRIVER_OK, QueueNotify), so the device
 *    walks garbage descriptor chains;
 * then triple-faults.
 */
export const HOSTILE = `
	cli
	mov $0x90000, %esp
	mov $0x2545f491, %esi
	xor %ecx, %ecx
1:	imul $1103515245, %esi, %esi
	add $12345, %esi
	mov %esi, %eax
	shr $16, %eax
	cmp $0x64, %ecx
	jne 2f
	cmp $0xfe, %al
	jne 2f
	mov $0xfd, %al
2:	mov %cx, %dx
	outb %al, %dx
	inb %dx, %al
	inc %ecx
	cmp $0x10000, %ecx
	jne 1b

	mov $0xd0000000, %edi
3:	imul $1103515245, %esi, %esi
	add $12345, %esi
	mov %esi, (%edi)
	mov (%edi), %eax
	movb %al, 1(%edi)
	movw 2(%edi), %ax
	add $4, %edi
	cmp $0xd0001000, %edi
	jne 3b

	mov $0xd0000000, %edi
4:	movl $0, 0x70(%edi)
	movl $1, 0x70(%edi)
	movl $3, 0x70(%edi)
	movl $1, 0x24(%edi)
	movl $1, 0x20(%edi)
	movl $0, 0x24(%edi)
	movl $0, 0x20(%edi)
	movl $0xb, 0x70(%edi)
	movl $0, 0x30(%edi)
	movl $8, 0x38(%edi)
	movl $4096, 0x28(%edi)        /* legacy GuestPageSize */
	/* three random 4 KiB pages in [16 MiB, 32 MiB) for the rings, filled with random bytes */
	mov $0x80, %ebx
5:	call rnd_page
	mov %eax, %ebp
	call fill_page
	cmp $0x80, %ebx
	jne 6f
	mov %ebp, 0x80(%edi)
	movl $0, 0x84(%edi)
	shr $12, %ebp
	mov %ebp, 0x40(%edi)           /* legacy QueuePFN */
	mov $0x90, %ebx
	jmp 5b
6:	cmp $0x90, %ebx
	jne 7f
	mov %ebp, 0x90(%edi)
	movl $0, 0x94(%edi)
	mov $0xa0, %ebx
	jmp 5b
7:	mov %ebp, 0xa0(%edi)
	movl $0, 0xa4(%edi)
	movl $1, 0x44(%edi)
	movl $0xf, 0x70(%edi)
	movl $0, 0x50(%edi)
	movl $1, 0x50(%edi)
	mov 0x60(%edi), %eax
	mov %eax, 0x64(%edi)
	add $0x200, %edi
	cmp $0xd0001000, %edi
	jne 4b
${TRIPLE_FAULT}

rnd_page:
	imul $1103515245, %esi, %esi
	add $12345, %esi
	mov %esi, %eax
	and $0x00fff000, %eax
	or $0x01000000, %eax
	ret
fill_page:
	push %edi
	push %ecx
	mov %ebp, %edi
	mov $1024, %ecx
8:	imul $1103515245, %esi, %esi
	add $12345, %esi
	mov %esi, (%edi)
	add $4, %edi
	dec %ecx
	jnz 8b
	pop %ecx
	pop %edi
	ret
`;

/** Processes whose command line mentions `needle` (other than this one): a QEMU left behind shows up here. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "latin1").includes(needle)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Points TMPDIR at a private directory for the enclosing suite (restored and removed after it), so
 * that the QEMU engine's temporary directories, and any process naming them, are this suite's to see.
 *
 * @returns a getter for the directory (valid from beforeAll on)
 */
export function usePrivateTmpdir(prefix: string): () => string {
  let dir = "";
  const saved = process.env["TMPDIR"];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    process.env["TMPDIR"] = dir;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** The MicrovmError (code and message) `f` throws; "no error" when it returns; any other throw is rethrown. */
export function errorOf(f: () => unknown): { code: string; message: string } {
  const e = typedErrorOf(f, isMicrovmError);
  return e ? { code: e.code, message: e.message } : { code: "no error", message: "" };
}

/** The MicrovmError code `f` throws ("no error" when it returns); any other throw is rethrown. */
export function codeOf(f: () => unknown): string {
  return errorOf(f).code;
}
