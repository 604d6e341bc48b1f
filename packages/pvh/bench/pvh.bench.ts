// Codec throughput of @microvm/pvh, each row against a plain copy of the same number of bytes:
// - reading a synthetic 32 MiB ELF64 with 256 PT_LOAD segments and a PT_NOTE (zero-copy reader);
// - the same read followed by placing every segment into a guest-RAM-sized buffer (what a VMM does),
//   against copying the same bytes into a preallocated buffer;
// - encoding start_info, and start_info plus a 127-entry memory map;
// - reading an ELF whose one PT_NOTE is 64 MiB of small notes with the PVH note last and 12 bytes
//   that form no note after it (the note walk alone), against a plain copy of the same 64 MiB into
//   a preallocated buffer.
import { encodeMemmap, encodeStartInfo, readPvhKernel, MemmapType } from "../src/index.js";
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";

const SEGMENTS = 256;
const SEG_SIZE = 128 * 1024; // 256 x 128 KiB = 32 MiB of segment data
const LOAD_BASE = 0x1000000;

/** The ELF64 x86-64 header (gABI "ELF Header"), program headers at 64. */
function elfHeader64(b: Uint8Array, dv: DataView, phnum: number): void {
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 62, true); // EM_X86_64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(LOAD_BASE), true);
  dv.setBigUint64(32, 64n, true); // e_phoff
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
}

/** Program header `ph` (gABI "Program Header", ELF64). */
function phdr64(dv: DataView, ph: number, type: number, offset: number, paddr: number, filesz: number, memsz: number, align: number): void {
  dv.setUint32(ph, type, true);
  dv.setUint32(ph + 4, type === 1 ? 5 : 4, true);
  dv.setBigUint64(ph + 8, BigInt(offset), true);
  dv.setBigUint64(ph + 16, type === 1 ? 0xffffffff80000000n + BigInt(paddr) : 0n, true);
  dv.setBigUint64(ph + 24, BigInt(paddr), true);
  dv.setBigUint64(ph + 32, BigInt(filesz), true);
  dv.setBigUint64(ph + 40, BigInt(memsz), true);
  dv.setBigUint64(ph + 48, BigInt(align), true);
}

const PVH_NOTE = 12 + 4 + 8; // header, "Xen\0", .quad entry

/** The PVH note (XEN_ELFNOTE_PHYS32_ENTRY) at `at`, entry LOAD_BASE + 0x40. */
function pvhNote(b: Uint8Array, dv: DataView, at: number): void {
  dv.setUint32(at, 4, true);
  dv.setUint32(at + 4, 8, true);
  dv.setUint32(at + 8, 18, true);
  b.set([0x58, 0x65, 0x6e, 0], at + 12);
  dv.setBigUint64(at + 16, BigInt(LOAD_BASE + 0x40), true);
}

/** Builds the ELF by hand (gABI layout), independently of the reader. */
function syntheticElf(): Uint8Array {
  const phnum = SEGMENTS + 1;
  const headers = 64 + phnum * 56;
  const dataStart = Math.ceil((headers + PVH_NOTE) / 4096) * 4096;
  const size = dataStart + SEGMENTS * SEG_SIZE;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  elfHeader64(b, dv, phnum);
  for (let i = 0; i < SEGMENTS; i++) phdr64(dv, 64 + i * 56, 1, dataStart + i * SEG_SIZE, LOAD_BASE + i * SEG_SIZE, SEG_SIZE, SEG_SIZE, 4096);
  // The flags of every segment but the first (text, R+X) say R+W.
  for (let i = 1; i < SEGMENTS; i++) dv.setUint32(64 + i * 56 + 4, 6, true);
  phdr64(dv, 64 + SEGMENTS * 56, 4, headers, 0, PVH_NOTE, PVH_NOTE, 4);
  pvhNote(b, dv, headers);
  for (let i = dataStart; i < size; i += 4096) b[i] = i & 0xff;
  return b;
}

const NOTES_BYTES = 64 * 2 ** 20;

/**
 * An ELF64 image with one PT_LOAD of 4 KiB and one PT_NOTE of `NOTES_BYTES` (gABI "Note Section"
 * layout): `noteSize`-byte non-Xen notes (12: empty ones; otherwise "GNU\0", type 3, a descriptor
 * of noteSize - 16 bytes, the size of an NT_GNU_BUILD_ID at 36), then the PVH note, then 12 bytes
 * that form no note (n_namesz 0xffffffff), which the reader ignores after the PVH note.
 */
function noteHeavyElf(noteSize: number): Uint8Array {
  const notesAt = 64 + 2 * 56;
  const tail = 12;
  const count = Math.floor((NOTES_BYTES - PVH_NOTE - tail) / noteSize);
  const notesLen = count * noteSize + PVH_NOTE + tail;
  const loadAt = notesAt + notesLen;
  const b = new Uint8Array(loadAt + 4096);
  const dv = new DataView(b.buffer);
  elfHeader64(b, dv, 2);
  phdr64(dv, 64, 1, loadAt, LOAD_BASE, 4096, 4096, 4096);
  phdr64(dv, 120, 4, notesAt, 0, notesLen, notesLen, 4);
  if (noteSize > 12) {
    dv.setUint32(notesAt, 4, true);
    dv.setUint32(notesAt + 4, noteSize - 16, true);
    dv.setUint32(notesAt + 8, 3, true);
    b.set([0x47, 0x4e, 0x55, 0], notesAt + 12);
  }
  // Copy the first note over the rest, doubling the copied run each time.
  for (let n = 1; n < count; n *= 2) b.copyWithin(notesAt + n * noteSize, notesAt, notesAt + Math.min(n, count - n) * noteSize);
  const pvhAt = notesAt + count * noteSize;
  pvhNote(b, dv, pvhAt);
  b.fill(0xff, pvhAt + PVH_NOTE, loadAt);
  return b;
}

/** The PT_NOTE row for `noteSize`-byte notes, against a copy of its 64 MiB into `dst`. */
function noteRow(noteSize: number, dst: Uint8Array, goal?: string): BenchCase {
  const elf = noteHeavyElf(noteSize);
  const src = elf.subarray(64 + 2 * 56, 64 + 2 * 56 + NOTES_BYTES);
  return {
    name: `pvh read ELF, one 64 MiB PT_NOTE of ${noteSize}-byte notes, PVH note last`,
    unit: "ns/op",
    better: "lower",
    reference: `plain copy of the ${NOTES_BYTES} note bytes into a preallocated buffer`,
    ...(goal ? { goal } : {}),
    ours: () => nsPerOp(() => readPvhKernel(elf)),
    ref: () => nsPerOp(() => dst.set(src)),
  };
}

function plainCopy(src: Uint8Array): () => number {
  return () => nsPerOp(() => src.slice());
}

export function cases(): BenchCase[] {
  const elf = syntheticElf();
  const ram = new Uint8Array(LOAD_BASE + SEGMENTS * SEG_SIZE);
  // Same number of bytes written into memory that is already mapped, like `ram` above.
  const copyDst = new Uint8Array(elf.length);
  const memmap = [
    { addr: 0, size: 0x9fc00, type: MemmapType.RAM },
    ...Array.from({ length: 125 }, (_, i) => ({ addr: 0x9fc00 + i * 8, size: 8, type: MemmapType.RESERVED })),
    { addr: 0x100000, size: 0xbff00000, type: MemmapType.RAM },
  ];
  const si = { cmdlinePaddr: 0x20000, memmapPaddr: 0x7000, memmapEntries: memmap.length, rsdpPaddr: 0xe0000 };
  const mib = (elf.length / 2 ** 20).toFixed(1);
  const noteDst = new Uint8Array(NOTES_BYTES);
  return [
    {
      name: `pvh read ELF, ${mib} MiB, ${SEGMENTS} segments`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${elf.length} bytes`,
      ours: () => nsPerOp(() => readPvhKernel(elf)),
      ref: plainCopy(elf),
    },
    {
      name: `pvh read ELF + place segments, ${mib} MiB`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${elf.length} bytes into a preallocated buffer`,
      goal: "<= 1.2",
      ours: () =>
        nsPerOp(() => {
          for (const s of readPvhKernel(elf).segments) {
            ram.set(s.bytes, Number(s.paddr));
            ram.fill(0, Number(s.paddr) + s.bytes.length, Number(s.paddr + s.memsz));
          }
        }),
      ref: () => nsPerOp(() => copyDst.set(elf)),
    },
    // Notes of an NT_GNU_BUILD_ID's size; and empty notes, the most notes per byte (the worst case).
    noteRow(36, noteDst, "<= 2"),
    noteRow(12, noteDst),
    {
      name: "pvh encode start_info",
      unit: "ns/op",
      better: "lower",
      reference: "plain copy of 56 bytes",
      ours: () => nsPerOp(() => encodeStartInfo(si)),
      ref: plainCopy(new Uint8Array(56).map((_, i) => i)),
    },
    {
      name: `pvh encode start_info + memmap, ${memmap.length} entries`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${56 + 24 * memmap.length} bytes`,
      ours: () =>
        nsPerOp(() => {
          encodeStartInfo(si);
          encodeMemmap(memmap);
        }),
      ref: plainCopy(new Uint8Array(56 + 24 * memmap.length).map((_, i) => i)),
    },
  ];
}
