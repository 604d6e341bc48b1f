// GNU objdump as the independent judge of the boot ROM's code: it disassembles the image the way
// a CPU would walk it from the reset vector (16-bit code from the reset vector's jump target up
// to the far jump into protected mode, 32-bit code from that far jump's target up to the final
// far jump) and the checker compares the instruction text with what the entry state needs.
// Nothing here uses rom.ts or the test model: the expectations are written as AT&T text.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PvhEntryState } from "@microvm/pvh";

/** Why objdump cannot be used, or undefined when it can. */
export function objdumpMissing(): string | undefined {
  try {
    execFileSync("objdump", ["--version"], { stdio: ["ignore", "pipe", "pipe"] });
    return undefined;
  } catch {
    return "objdump not found";
  }
}

export interface Insn {
  /** Address as objdump printed it (after --adjust-vma). */
  readonly addr: number;
  readonly length: number;
  /** "mnemonic operands" with single spaces, e.g. "mov $0x10,%ax". */
  readonly text: string;
}

/** Disassembles `file` (loaded at `vma`) from `start` to `stop` as `machine` code. */
export function disassemble(file: string, machine: "i8086" | "i386", vma: number, start: number, stop: number): Insn[] {
  const out = execFileSync(
    "objdump",
    ["-D", "-b", "binary", "-m", machine, "--insn-width=16", `--adjust-vma=0x${vma.toString(16)}`,
      `--start-address=0x${start.toString(16)}`, `--stop-address=0x${stop.toString(16)}`, file],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  const insns: Insn[] = [];
  for (const line of out.split("\n")) {
    const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$/.exec(line);
    if (!m) continue;
    insns.push({
      addr: Number.parseInt(m[1] as string, 16),
      length: (m[2] as string).split(" ").length,
      text: (m[3] as string).trim().replace(/\s+/g, " "),
    });
  }
  return insns;
}

const h = (v: number | bigint): string => `0x${v.toString(16)}`;
/** Parses objdump's hex (possibly negative, e.g. "-0x151"). */
const num = (s: string): number => (s.startsWith("-") ? -Number.parseInt(s.slice(3), 16) : Number.parseInt(s.slice(2), 16));

/** The reset segment: the last 64 KiB of the image, CS.base 0xffff0000, the CPU starts at IP 0xfff0. */
const SEG_BASE = 0xffff_0000;

/** One expected instruction: its exact text, or a check returning a complaint. */
type Want = string | { readonly what: string; readonly check: (text: string) => string | undefined };

/**
 * Disassembles `rom` with objdump and checks it establishes `state` and jumps to its entry.
 * Returns the problems found (empty when the ROM is right). `dir` is a scratch directory.
 */
export function judgeRom(rom: Uint8Array, state: PvhEntryState, dir: string, name: string): string[] {
  const problems: string[] = [];
  const seg = rom.subarray(rom.length - 0x10000);
  const file = join(dir, `${name}.bin`);
  writeFileSync(file, seg);
  const u16 = (ip: number): number | undefined => (ip >= 0 && ip + 2 <= seg.length ? (seg[ip] as number) | ((seg[ip + 1] as number) << 8) : undefined);
  const u32 = (ip: number): number | undefined => {
    const lo = u16(ip);
    const hi = u16(ip + 2);
    return lo === undefined || hi === undefined ? undefined : (lo | (hi << 16)) >>> 0;
  };
  /** A pseudo-descriptor (limit16, base32) at IP `ip` of the reset segment. */
  const pseudo = (ip: number): string => `limit ${h(u16(ip) ?? -1)} base ${h(u32(ip + 2) ?? -1)}`;
  const s = state.sregs;
  const r = state.regs;

  // 1. The reset vector: a jmp; follow it.
  const reset = disassemble(file, "i8086", 0, 0xfff0, 0x10000)[0];
  const rm = /^jmp 0x([0-9a-f]+)$/.exec(reset?.text ?? "");
  if (!rm) return [`reset vector: expected a near jmp, got "${reset?.text ?? "nothing"}"`];
  const start16 = Number.parseInt(rm[1] as string, 16);
  if (start16 !== 0x10000 - 0x200) problems.push(`reset vector: jumps to ${h(start16)}, not to the code at 0xfe00`);

  // 2. 16-bit code up to the far jump.
  const real = takeUntilFarJump(disassemble(file, "i8086", 0, start16, 0x10000), 8);
  const expectGdtr = `limit ${h(s.gdt.limit)} base ${h(s.gdt.base)}`;
  let pm32: number | undefined;
  const realWant: Want[] = [
    "cli",
    "cld",
    {
      what: `lgdtl %cs:<GDTR: ${expectGdtr}>`,
      check: (t) => {
        const m = /^lgdtl %cs:(-?0x[0-9a-f]+)$/.exec(t);
        if (!m) return "not an lgdtl through CS";
        const got = pseudo(num(m[1] as string) & 0xffff);
        return got === expectGdtr ? undefined : `GDTR holds ${got}`;
      },
    },
    `mov $${h(s.cr0)},%eax`,
    "mov %eax,%cr0",
    {
      what: `ljmpl $${h(s.cs.selector)},$<32-bit code>`,
      check: (t) => {
        const m = /^ljmpl \$0x([0-9a-f]+),\$0x([0-9a-f]+)$/.exec(t);
        if (!m) return "not an ljmpl";
        if (Number.parseInt(m[1] as string, 16) !== s.cs.selector) return "wrong selector";
        pm32 = Number(s.cs.base) + Number.parseInt(m[2] as string, 16); // linear: CS is reloaded from the GDT
        return pm32 >= SEG_BASE && pm32 < 0xffff_fff0 ? undefined : "target outside the reset segment";
      },
    },
  ];
  compare("16-bit", real, realWant, problems);
  if (pm32 === undefined) return problems;

  // 3. 32-bit code from the far jump's target up to the final far jump.
  const prot = takeUntilFarJump(disassemble(file, "i386", SEG_BASE, pm32, 0x1_0000_0000), 60);
  const expectIdtr = `limit ${h(s.idt.limit)} base ${h(s.idt.base)}`;
  const flags = Number(r.rflags) & 0xd5;
  const efer = BigInt(s.efer);
  const protWant: Want[] = [
    ...(["ds", "es", "fs", "gs", "ss"] as const).flatMap((x) => [`mov $${h(s[x].selector)},%ax`, `mov %eax,%${x}`]),
    `andb $0xfd,${h(s.gdt.base + BigInt(s.tr.selector) + 5n)}`, // the TSS descriptor's type byte: busy -> available
    `mov $${h(s.tr.selector)},%ax`,
    "ltr %ax",
    `mov $${h(s.ldt.selector)},%ax`,
    "lldt %ax",
    {
      what: `lidtl <IDTR: ${expectIdtr}>`,
      check: (t) => {
        const m = /^lidtl 0x([0-9a-f]+)$/.exec(t);
        if (!m) return "not an lidtl with an absolute address";
        const got = pseudo(Number.parseInt(m[1] as string, 16) - SEG_BASE);
        return got === expectIdtr ? undefined : `IDTR holds ${got}`;
      },
    },
    `mov $${h(s.cr4)},%eax`,
    "mov %eax,%cr4",
    `mov $${h(s.cr3)},%eax`,
    "mov %eax,%cr3",
    `mov $${h(s.cr2)},%eax`,
    "mov %eax,%cr2",
    "mov $0xc0000080,%ecx",
    `mov $${h(efer & 0xffff_ffffn)},%eax`,
    `mov $${h(efer >> 32n)},%edx`,
    "wrmsr",
    "xor %eax,%eax",
    {
      what: `mov $<SF ZF AF PF CF of ${h(r.rflags)}>,%ah`,
      check: (t) => {
        const m = /^mov \$0x([0-9a-f]+),%ah$/.exec(t);
        if (!m) return "not a mov to ah";
        return (Number.parseInt(m[1] as string, 16) & 0xd5) === flags ? undefined : "wrong flags";
      },
    },
    "sahf",
    ...(["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const).map((reg) => `mov $${h(r[`r${reg.slice(1)}` as "rax"])},%${reg}`),
    `ljmp $${h(s.cs.selector)},$${h(r.rip)}`,
  ];
  compare("32-bit", prot, protWant, problems);
  return problems;
}

/** The instructions up to and including the first far jump (at most `max`). */
function takeUntilFarJump(insns: Insn[], max: number): Insn[] {
  const i = insns.findIndex((x) => /^ljmpl? /.test(x.text));
  return insns.slice(0, i < 0 ? max : Math.min(i + 1, max));
}

function compare(part: string, got: readonly Insn[], want: readonly Want[], problems: string[]): void {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    const where = g ? `${part} ${h(g.addr)}` : `${part} #${i}`;
    if (w === undefined) problems.push(`${where}: unexpected "${g?.text}"`);
    else if (g === undefined) problems.push(`${where}: missing "${typeof w === "string" ? w : w.what}"`);
    else if (typeof w === "string") {
      if (g.text !== w) problems.push(`${where}: expected "${w}", got "${g.text}"`);
    } else {
      const why = w.check(g.text);
      if (why !== undefined) problems.push(`${where}: expected "${w.what}", got "${g.text}" (${why})`);
    }
  }
}
