// Builds the ELF fixtures from test/vectors/elf with the real toolchain (gcc, as, ld) and parses
// readelf's output, the independent judge the tests compare readPvhKernel against.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const VECTORS: string = fileURLToPath(new URL("../vectors/", import.meta.url));
const ELF_SRC = join(VECTORS, "elf");

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export interface Fixture {
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface Fixtures {
  readonly dir: string;
  /** x86-64, vmlinux-like: 8-byte PVH descriptor after 12 other Xen notes, per-CPU segment at vaddr 0, big BSS. */
  readonly k64: Fixture;
  /** i386, identity-mapped at 1 MiB: 4-byte PVH descriptor, BSS larger than the file part. */
  readonly k32: Fixture;
}

/** The commands are also written down in test/vectors/README.md. */
export function buildFixtures(): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), "pvh-fixtures-"));
  run("gcc", ["-c", "-O2", "-ffreestanding", "-fno-pic", "-fno-pie", "-mcmodel=kernel", "-mno-red-zone",
    "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-o", "k64c.o", join(ELF_SRC, "kernel64.c")], dir);
  run("gcc", ["-c", `-I${ELF_SRC}`, "-o", "k64s.o", join(ELF_SRC, "kernel64.S")], dir);
  run("ld", ["-nostdlib", "-static", "-z", "max-page-size=4096", "-z", "noexecstack", "--no-warn-rwx-segments",
    "-T", join(ELF_SRC, "kernel64.lds"), "-o", "k64.elf", "k64c.o", "k64s.o"], dir);
  // -m32 only preprocesses and calls `as --32`; no 32-bit libraries are needed.
  run("gcc", ["-m32", "-c", `-I${ELF_SRC}`, "-o", "k32.o", join(ELF_SRC, "kernel32.S")], dir);
  run("ld", ["-m", "elf_i386", "-nostdlib", "-static", "-z", "max-page-size=4096", "-z", "noexecstack",
    "-T", join(ELF_SRC, "kernel32.lds"), "-o", "k32.elf", "k32.o"], dir);
  const load = (name: string): Fixture => {
    const path = join(dir, name);
    return { path, bytes: new Uint8Array(readFileSync(path)) };
  };
  return { dir, k64: load("k64.elf"), k32: load("k32.elf") };
}

export interface ReadelfHeader {
  readonly class: "ELF32" | "ELF64";
  readonly machine: string;
  readonly entry: bigint;
}

export interface ReadelfPhdr {
  readonly type: string;
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
  readonly flags: string;
}

export interface ReadelfNote {
  readonly owner: string;
  readonly descsz: number;
  /** Only when readelf printed "Unknown note type: (0x..)"; it names some numbers after GNU notes. */
  readonly type?: number;
  readonly desc: Uint8Array;
}

export function readelfHeader(path: string): ReadelfHeader {
  const out = run("readelf", ["-hW", path], ".");
  const field = (name: string): string => {
    const m = new RegExp(`^\\s*${name}:\\s*(.*)$`, "m").exec(out);
    if (!m?.[1]) throw new Error(`readelf -h: no ${name}`);
    return m[1].trim();
  };
  return { class: field("Class") as "ELF32" | "ELF64", machine: field("Machine"), entry: BigInt(field("Entry point address")) };
}

export function readelfProgramHeaders(path: string): ReadelfPhdr[] {
  const out = run("readelf", ["-lW", path], ".");
  const rows: ReadelfPhdr[] = [];
  const re = /^\s+([A-Z_]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+([RWE ]{3})\s+0x[0-9a-f]+$/gm;
  for (const m of out.matchAll(re)) {
    rows.push({
      type: m[1] as string,
      offset: BigInt(m[2] as string),
      vaddr: BigInt(m[3] as string),
      paddr: BigInt(m[4] as string),
      filesz: BigInt(m[5] as string),
      memsz: BigInt(m[6] as string),
      flags: m[7] as string,
    });
  }
  if (rows.length === 0) throw new Error(`readelf -l printed no program headers:\n${out}`);
  return rows;
}

export function readelfNotes(path: string): ReadelfNote[] {
  const out = run("readelf", ["-nW", path], ".");
  const notes: ReadelfNote[] = [];
  const re = /^\s+(\S+)\s+0x([0-9a-f]+)\t(.*?)\s+description data: ([0-9a-f ]*)$/gm;
  for (const m of out.matchAll(re)) {
    const t = /Unknown note type: \(0x([0-9a-f]+)\)/.exec(m[3] as string);
    const hexBytes = (m[4] as string).trim();
    notes.push({
      owner: m[1] as string,
      descsz: Number.parseInt(m[2] as string, 16),
      ...(t ? { type: Number.parseInt(t[1] as string, 16) } : {}),
      desc: new Uint8Array(hexBytes === "" ? [] : hexBytes.split(/\s+/).map((h) => Number.parseInt(h, 16))),
    });
  }
  return notes;
}

export function readelfSymbol(path: string, name: string): bigint {
  const out = run("readelf", ["-sW", path], ".");
  for (const line of out.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols[7] === name && cols[1]) return BigInt(`0x${cols[1]}`);
  }
  throw new Error(`readelf -s: no symbol ${name}`);
}

/** A little-endian patcher for mutation tests. */
export function patch(src: Uint8Array, edits: (dv: DataView, b: Uint8Array) => void): Uint8Array {
  const b = src.slice();
  edits(new DataView(b.buffer, b.byteOffset, b.byteLength), b);
  return b;
}

/** Offset of the first occurrence of `needle` in `hay`. */
export function indexOf(hay: Uint8Array, needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
