// Codec throughput of @microvm/pvh, each row against a plain copy of the same number of bytes:
// - reading a synthetic 32 MiB ELF64 with 256 PT_LOAD segments and a PT_NOTE (zero-copy reader);
// - the same read followed by placing every segment into a guest-RAM-sized buffer (what a VMM does),
//   against copying the same bytes into a preallocated buffer;
// - encoding start_info, and start_info plus a 127-entry memory map.
import { encodeMemmap, encodeStartInfo, readPvhKernel, MemmapType } from "../src/index.js";
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";

const SEGMENTS = 256;
const SEG_SIZE = 128 * 1024; // 256 x 128 KiB = 32 MiB of segment data
const LOAD_BASE = 0x1000000;

/** Builds the ELF by hand (gABI layout), independently of the reader. */
function syntheticElf(): Uint8Array {
  const phnum = SEGMENTS + 1;
  const notes = 12 + 4 + 8; // one PVH note: header, "Xen\0", .quad entry
  const headers = 64 + phnum * 56;
  const dataStart = Math.ceil((headers + notes) / 4096) * 4096;
  const size = dataStart + SEGMENTS * SEG_SIZE;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 62, true); // EM_X86_64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(LOAD_BASE), true);
  dv.setBigUint64(32, 64n, true); // e_phoff
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
  for (let i = 0; i < SEGMENTS; i++) {
    const at = 64 + i * 56;
    dv.setUint32(at, 1, true); // PT_LOAD
    dv.setUint32(at + 4, i === 0 ? 5 : 6, true);
    dv.setBigUint64(at + 8, BigInt(dataStart + i * SEG_SIZE), true);
    dv.setBigUint64(at + 16, 0xffffffff80000000n + BigInt(LOAD_BASE + i * SEG_SIZE), true);
    dv.setBigUint64(at + 24, BigInt(LOAD_BASE + i * SEG_SIZE), true);
    dv.setBigUint64(at + 32, BigInt(SEG_SIZE), true);
    dv.setBigUint64(at + 40, BigInt(SEG_SIZE), true);
    dv.setBigUint64(at + 48, 4096n, true);
  }
  const noteAt = headers;
  const ph = 64 + SEGMENTS * 56;
  dv.setUint32(ph, 4, true); // PT_NOTE
  dv.setBigUint64(ph + 8, BigInt(noteAt), true);
  dv.setBigUint64(ph + 32, BigInt(notes), true);
  dv.setBigUint64(ph + 40, BigInt(notes), true);
  dv.setBigUint64(ph + 48, 4n, true);
  dv.setUint32(noteAt, 4, true);
  dv.setUint32(noteAt + 4, 8, true);
  dv.setUint32(noteAt + 8, 18, true);
  b.set([0x58, 0x65, 0x6e, 0], noteAt + 12);
  dv.setBigUint64(noteAt + 16, BigInt(LOAD_BASE + 0x40), true);
  for (let i = dataStart; i < size; i += 4096) b[i] = i & 0xff;
  return b;
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
