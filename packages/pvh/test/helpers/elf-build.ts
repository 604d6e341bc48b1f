// Small ELF64 images built byte by byte from the System V gABI layouts ("ELF Header", "Program
// Header", "Note Section"), independently of the reader under test.

export const PT_LOAD = 1;
export const PT_NOTE = 4;

/** One program header of {@link elf64}. */
export interface Ph {
  type: number;
  offset: number | bigint;
  paddr: bigint;
  filesz: number | bigint;
  memsz: number | bigint;
  flags?: number;
}

/** A note: n_namesz, n_descsz, n_type, the name and the descriptor, each padded to 4 bytes. */
export function note(name: readonly number[], type: number, desc: readonly number[]): Uint8Array {
  const pad = (n: number): number => (n + 3) & ~3;
  const b = new Uint8Array(12 + pad(name.length) + pad(desc.length));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, name.length, true);
  dv.setUint32(4, desc.length, true);
  dv.setUint32(8, type, true);
  b.set(name, 12);
  b.set(desc, 12 + pad(name.length));
  return b;
}

/** "Xen\0", the name of Xen's notes with its NUL (n_namesz 4). */
export const XEN: readonly number[] = [0x58, 0x65, 0x6e, 0];
export const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
/** XEN_ELFNOTE_PHYS32_ENTRY (type 18) with a 4-byte descriptor. */
export const pvhNote = (entry: number): Uint8Array => note(XEN, 18, le32(entry));

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `count` copies of `unit` end to end, copied by doubling runs (fast for 64 MiB). */
export function repeat(unit: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(unit.length * count);
  if (count === 0) return out;
  out.set(unit);
  for (let n = 1; n < count; n *= 2) out.copyWithin(n * unit.length, 0, Math.min(n, count - n) * unit.length);
  return out;
}

/** An ELF64 x86-64 image: header, `phs` right after it, then `data`. */
export function elf64(phs: readonly Ph[], data: Uint8Array, phnum: number = phs.length): Uint8Array {
  const b = new Uint8Array(64 + 56 * phs.length + data.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(18, 62, true);
  dv.setBigUint64(32, 64n, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
  phs.forEach((p, i) => {
    const at = 64 + i * 56;
    dv.setUint32(at, p.type, true);
    dv.setUint32(at + 4, p.flags ?? 5, true);
    dv.setBigUint64(at + 8, BigInt(p.offset), true);
    dv.setBigUint64(at + 24, p.paddr, true);
    dv.setBigUint64(at + 32, BigInt(p.filesz), true);
    dv.setBigUint64(at + 40, BigInt(p.memsz), true);
  });
  b.set(data, 64 + 56 * phs.length);
  return b;
}

/** Where `data` starts in an ELF64 image with `n` program headers. */
export const dataAt = (n: number): number => 64 + 56 * n;

/** A bare note header: n_namesz, n_descsz, n_type (for notes that lie about their sizes). */
export function noteHeader(namesz: number, descsz: number, type: number): Uint8Array {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, namesz, true);
  dv.setUint32(4, descsz, true);
  dv.setUint32(8, type, true);
  return b;
}

/**
 * A kernel with 16 code bytes at 0x100000 (4 KiB in memory), then one PT_NOTE per element of
 * `segments` holding its bytes, in that order; entry points in [0x100000, 0x100010) are loaded.
 */
export function kernelWithNotes(...segments: Uint8Array[]): Uint8Array {
  const d = dataAt(1 + segments.length);
  let at = d + 16;
  const notes = segments.map((s) => {
    const ph = { type: PT_NOTE, offset: at, paddr: 0n, filesz: s.length, memsz: 0 };
    at += s.length;
    return ph;
  });
  return elf64([{ type: PT_LOAD, offset: d, paddr: 0x100000n, filesz: 16, memsz: 0x1000 }, ...notes], cat(new Uint8Array(16).fill(0x90), ...segments));
}
