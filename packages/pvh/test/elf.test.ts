import { beforeAll, describe, expect, it } from "vitest";
import { readPvhKernel, type PvhErrorCode, type PvhKernel } from "@microvm/pvh";
import {
  buildFixtures,
  indexOf,
  patch,
  readelfHeader,
  readelfNotes,
  readelfProgramHeaders,
  readelfSymbol,
  type Fixture,
  type Fixtures,
} from "./helpers/toolchain.ts";
import { codeOf } from "./helpers/codes.ts";
import { PT_LOAD, PT_NOTE, dataAt, elf64, type Ph } from "./helpers/elf-build.ts";

let fx: Fixtures;
beforeAll(() => {
  fx = buildFixtures();
});

const VIRT = 0xffffffff80000000n; // kernel64.lds / kernel64.S
// The Xen note types kernel64.S writes, in order (the source is the expectation, not our reader).
const K64_XEN_TYPES = [6, 7, 5, 3, 4, 1, 2, 10, 9, 17, 14, 19, 18];


function u64(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
  return v;
}

function compareWithReadelf(f: Fixture, k: PvhKernel): void {
  const hdr = readelfHeader(f.path);
  expect(k.elfClass).toBe(hdr.class === "ELF64" ? 64 : 32);
  expect(k.machine).toBe(hdr.machine.includes("X86-64") ? 62 : 3);
  expect(k.elfEntry).toBe(hdr.entry);
  const loads = readelfProgramHeaders(f.path).filter((p) => p.type === "LOAD" && p.memsz > 0n);
  expect(k.segments.length).toBe(loads.length);
  k.segments.forEach((s, i) => {
    const p = loads[i];
    if (!p) throw new Error("missing phdr");
    expect(s.paddr).toBe(p.paddr);
    expect(s.vaddr).toBe(p.vaddr);
    expect(BigInt(s.offset)).toBe(p.offset);
    expect(BigInt(s.bytes.length)).toBe(p.filesz);
    expect(s.memsz).toBe(p.memsz);
    const flags = (s.flags & 4 ? "R" : " ") + (s.flags & 2 ? "W" : " ") + (s.flags & 1 ? "E" : " ");
    expect(flags).toBe(p.flags);
    // The bytes are the file's bytes at p_offset, as a view (no copy).
    expect(s.bytes.buffer).toBe(f.bytes.buffer);
    expect(Buffer.from(s.bytes).equals(Buffer.from(f.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz))))).toBe(true);
  });
  const xen = readelfNotes(f.path).filter((n) => n.owner === "Xen");
  expect(k.xenNotes.length).toBe(xen.length);
  k.xenNotes.forEach((n, i) => {
    const r = xen[i];
    if (!r) throw new Error("missing note");
    expect(n.name).toBe("Xen");
    expect(n.desc.length).toBe(r.descsz);
    expect([...n.desc]).toEqual([...r.desc]);
    if (r.type !== undefined) expect(n.type).toBe(r.type);
  });
}

describe("readPvhKernel on real toolchain output, judged by readelf", () => {
  it("64-bit vmlinux-like image: segments, notes, entry", () => {
    const k = readPvhKernel(fx.k64.bytes);
    compareWithReadelf(fx.k64, k);
    // The PVH entry is the physical address of pvh_start: its symbol value minus the kernel map.
    expect(k.entry).toBe(readelfSymbol(fx.k64.path, "pvh_start") - VIRT);
    // 8-byte descriptor, as Linux writes it; readelf's bytes give the same value.
    const pvhNote = readelfNotes(fx.k64.path).filter((n) => n.owner === "Xen").at(-1);
    expect(pvhNote?.descsz).toBe(8);
    expect(k.entry).toBe(u64(pvhNote?.desc ?? new Uint8Array()));
  });

  it("64-bit image: a dozen other Xen notes come before the PVH note, the non-Xen one is skipped", () => {
    const k = readPvhKernel(fx.k64.bytes);
    expect(k.xenNotes.map((n) => n.type)).toEqual(K64_XEN_TYPES);
    expect(K64_XEN_TYPES.indexOf(18)).toBe(12);
    expect(readelfNotes(fx.k64.path).some((n) => n.owner === "Linux" && n.type === 18)).toBe(true);
  });

  it("64-bit image: the per-CPU segment has vaddr 0 and a non-zero paddr, loaded at paddr", () => {
    const k = readPvhKernel(fx.k64.bytes);
    const percpu = readelfProgramHeaders(fx.k64.path).find((p) => p.type === "LOAD" && p.vaddr === 0n);
    expect(percpu).toBeDefined();
    expect(percpu?.paddr).not.toBe(0n);
    const seg = k.segments.find((s) => s.vaddr === 0n);
    expect(seg?.paddr).toBe(percpu?.paddr);
    expect(k.physEnd).toBe((percpu?.paddr ?? 0n) + (percpu?.memsz ?? 0n));
  });

  it("BSS larger than the file part: memsz > filesz is kept for zero-fill", () => {
    for (const f of [fx.k64, fx.k32]) {
      const k = readPvhKernel(f.bytes);
      const bss = readelfProgramHeaders(f.path).filter((p) => p.type === "LOAD" && p.memsz > p.filesz * 2n);
      expect(bss.length).toBe(1);
      const seg = k.segments.find((s) => s.paddr === bss[0]?.paddr);
      expect(seg?.memsz).toBe(bss[0]?.memsz);
      expect(BigInt(seg?.bytes.length ?? -1)).toBe(bss[0]?.filesz);
    }
  });

  it("32-bit image: 4-byte descriptor, identity-mapped", () => {
    const k = readPvhKernel(fx.k32.bytes);
    compareWithReadelf(fx.k32, k);
    expect(k.elfClass).toBe(32);
    expect(k.entry).toBe(readelfSymbol(fx.k32.path, "pvh_start"));
    const pvhNote = readelfNotes(fx.k32.path).find((n) => n.type === 18);
    expect(pvhNote?.descsz).toBe(4);
    expect(k.entry).toBe(u64(pvhNote?.desc ?? new Uint8Array()));
    expect(k.xenNotes.map((n) => n.type)).toEqual([6, 5, 18]);
  });

  it("works on a subarray of a larger buffer (byteOffset respected)", () => {
    const big = new Uint8Array(fx.k32.bytes.length + 13);
    big.set(fx.k32.bytes, 13);
    const k = readPvhKernel(big.subarray(13));
    expect(k.entry).toBe(readelfSymbol(fx.k32.path, "pvh_start"));
    expect(k.segments[0]?.bytes.byteOffset).toBe(13 + Number(readelfProgramHeaders(fx.k32.path)[0]?.offset));
  });

  it("PT_NOTE with p_align 8 still walks notes with 4-byte alignment (linux-loader PR #128)", () => {
    const noteIdx = readelfProgramHeaders(fx.k64.path).findIndex((p) => p.type === "NOTE");
    const m = patch(fx.k64.bytes, (dv) => dv.setBigUint64(64 + noteIdx * 56 + 48, 8n, true));
    const k = readPvhKernel(m);
    expect(k.entry).toBe(readelfSymbol(fx.k64.path, "pvh_start") - VIRT);
    expect(k.xenNotes.map((n) => n.type)).toEqual(K64_XEN_TYPES);
  });
});

/**
 * A hostile ELF64: `count` PT_NOTE headers all covering the same 4 KiB of empty notes (12 bytes
 * each, namesz = descsz = 0), plus one PT_LOAD. Without a bound, the walk would cost count x 4 KiB.
 */
function manyNotes(count: number): Uint8Array {
  const notesAt = dataAt(count + 1);
  const load: Ph = { type: PT_LOAD, offset: notesAt + 4096, paddr: 0x100000n, filesz: 4096, memsz: 4096 };
  // 4092 bytes: 341 empty notes.
  const notes = Array.from({ length: count }, (): Ph => ({ type: PT_NOTE, offset: notesAt, paddr: 0n, filesz: 4092, memsz: 0 }));
  return elf64([load, ...notes], new Uint8Array(4096 * 2));
}

// Program-header field offsets (System V gABI) used by the mutations.
const P64 = { type: 0, flags: 4, offset: 8, vaddr: 16, paddr: 24, filesz: 32, memsz: 40 };
const P32 = { type: 0, offset: 4, vaddr: 8, paddr: 12, filesz: 16, memsz: 20 };

describe("every check is a PvhError with its code (mutations of the real fixtures)", () => {
  const ph64 = (i: number, f: keyof typeof P64): number => 64 + i * 56 + P64[f];
  const ph32 = (i: number, f: keyof typeof P32): number => 52 + i * 32 + P32[f];
  const pvhNote64 = (): number => indexOf(fx.k64.bytes, [4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]);
  const pvhNote32 = (): number => indexOf(fx.k32.bytes, [4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]);

  const cases: [string, () => unknown, PvhErrorCode][] = [
    ["bad magic", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[1] = 0x33))), "not-elf"],
    ["too short", () => readPvhKernel(fx.k64.bytes.subarray(0, 15)), "not-elf"],
    ["header cut", () => readPvhKernel(fx.k64.bytes.subarray(0, 63)), "not-elf"],
    ["class 3", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[4] = 3))), "wrong-class"],
    ["class 0", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[4] = 0))), "wrong-class"],
    ["big-endian", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[5] = 2))), "big-endian"],
    ["EI_VERSION 0", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[6] = 0))), "bad-header"],
    ["e_phentsize 55", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint16(54, 55, true))), "bad-header"],
    ["e_phnum PN_XNUM", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint16(56, 0xffff, true))), "bad-header"],
    ["EM_ARM", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint16(18, 40, true))), "wrong-machine"],
    ["e_phoff past EOF", () => readPvhKernel(patch(fx.k64.bytes, (dv, b) => dv.setBigUint64(32, BigInt(b.length - 100), true))), "phdrs-outside-file"],
    ["e_phoff huge", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(32, 0xffffffffffffff00n, true))), "phdrs-outside-file"],
    ["file cut inside phdrs", () => readPvhKernel(fx.k64.bytes.subarray(0, 64 + 56 * 2)), "phdrs-outside-file"],
    ["PT_LOAD filesz past EOF", () => readPvhKernel(patch(fx.k64.bytes, (dv, b) => dv.setBigUint64(ph64(0, "filesz"), BigInt(b.length), true))), "segment-outside-file"],
    ["PT_LOAD offset huge", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(1, "offset"), 0xfffffffffffffff0n, true))), "segment-outside-file"],
    ["PT_NOTE past EOF", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(3, "filesz"), 0x100000n, true))), "segment-outside-file"],
    ["memsz < filesz", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(0, "memsz"), dv.getBigUint64(ph64(0, "filesz"), true) - 1n, true))), "memsz-less-than-filesz"],
    ["paddr + memsz > 2^64", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(2, "paddr"), 0xffffffffffffff00n, true))), "address-overflow"],
    ["no PT_LOAD", () => readPvhKernel(patch(fx.k32.bytes, (dv) => { dv.setUint32(ph32(0, "type"), 0, true); dv.setUint32(ph32(1, "type"), 0, true); })), "no-load-segments"],
    ["per-CPU paddr on text", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(2, "paddr"), 0x1000100n, true))), "segments-overlap"],
    ["data overlaps text by one byte", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(0, "memsz"), 0x1001, true))), "segments-overlap"],
    ["RAM too small", () => readPvhKernel(fx.k64.bytes, { ram: [{ start: 0, size: 0x1100000 }] }), "segment-outside-ram"],
    ["no PVH note (type changed)", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[pvhNote64() + 8] = 20))), "no-pvh-note"],
    ["no PVH note (name Xem)", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[pvhNote64() + 14] = 0x6d))), "no-pvh-note"],
    ["no PVH note (namesz 3, no NUL)", () => readPvhKernel(patch(fx.k32.bytes, (_, b) => (b[pvhNote32()] = 3))), "no-pvh-note"],
    ["no PT_NOTE at all", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(2, "type"), 0, true))), "no-pvh-note"],
    ["PT_NOTE cut in the last descriptor", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(3, "filesz"), dv.getBigUint64(ph64(3, "filesz"), true) - 4n, true))), "note-overrun"],
    ["PT_NOTE cut in a header", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(3, "filesz"), dv.getBigUint64(ph64(3, "filesz"), true) - 20n, true))), "note-overrun"],
    ["descsz 0xffffffff", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint32(pvhNote64() + 4, 0xffffffff, true))), "note-overrun"],
    ["namesz 0xfffffffd", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint32(pvhNote64(), 0xfffffffd, true))), "note-overrun"],
    ["1000 PT_NOTEs over the same notes", () => readPvhKernel(manyNotes(1000)), "notes-too-large"],
    ["PVH descsz 2", () => readPvhKernel(patch(fx.k32.bytes, (_, b) => (b[pvhNote32() + 4] = 2))), "bad-pvh-note"],
    ["PVH entry above 4 GiB", () => readPvhKernel(patch(fx.k64.bytes, (_, b) => (b[pvhNote64() + 16 + 4] = 1))), "entry-above-4g"],
    ["PVH entry in no segment", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(pvhNote32() + 16, 0x500, true))), "entry-not-loaded"],
    ["not bytes", () => readPvhKernel([1, 2, 3] as unknown as Uint8Array), "invalid-argument"],
    ["bad RAM range", () => readPvhKernel(fx.k64.bytes, { ram: [{ start: -1, size: 1 }] }), "out-of-range"],
  ];
  it.each(cases)("%s", (_name, f, code) => {
    expect(codeOf(f)).toBe(code);
  });

  it("error messages name the field and the limit", () => {
    try {
      readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setUint16(18, 40, true)));
    } catch (e) {
      expect(String((e as Error).message)).toBe("e_machine: expected 3 (EM_386) or 62 (EM_X86_64), got 40");
      expect((e as Error).name).toBe("PvhError");
    }
    expect.assertions(2);
  });
});

describe("boundary table: ELF limits", () => {
  const ph64 = (i: number, f: keyof typeof P64): number => 64 + i * 56 + P64[f];
  const ph32 = (i: number, f: keyof typeof P32): number => 52 + i * 32 + P32[f];
  const pvhNote32 = (): number => indexOf(fx.k32.bytes, [4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]);
  const pvhNote64 = (): number => indexOf(fx.k64.bytes, [4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]);
  const rows: [string, () => unknown, PvhErrorCode | "no error"][] = [
    ["e_machine 3", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint16(18, 3, true))), "no error"],
    ["e_machine 62", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint16(18, 62, true))), "no error"],
    ["e_machine 0", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint16(18, 0, true))), "wrong-machine"],
    ["e_machine 63", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint16(18, 63, true))), "wrong-machine"],
    ["memsz = filesz", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(1, "memsz"), dv.getUint32(ph32(1, "filesz"), true), true))), "no error"],
    ["memsz = filesz - 1", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(1, "memsz"), dv.getUint32(ph32(1, "filesz"), true) - 1, true))), "memsz-less-than-filesz"],
    ["memsz 0 and filesz 0: skipped", () => readPvhKernel(patch(fx.k32.bytes, (dv) => { dv.setUint32(ph32(1, "memsz"), 0, true); dv.setUint32(ph32(1, "filesz"), 0, true); })), "no error"],
    ["segment ends at EOF", () => readPvhKernel(patch(fx.k32.bytes, (dv, b) => { dv.setUint32(ph32(1, "filesz"), b.length - dv.getUint32(ph32(1, "offset"), true), true); dv.setUint32(ph32(1, "memsz"), 0x40020, true); })), "no error"],
    ["segment ends at EOF + 1", () => readPvhKernel(patch(fx.k32.bytes, (dv, b) => { dv.setUint32(ph32(1, "filesz"), b.length + 1 - dv.getUint32(ph32(1, "offset"), true), true); dv.setUint32(ph32(1, "memsz"), 0x40020, true); })), "segment-outside-file"],
    ["segments adjacent", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(0, "memsz"), 0x1000, true))), "no error"],
    ["segments overlap by 1", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(ph32(0, "memsz"), 0x1001, true))), "segments-overlap"],
    ["paddr + memsz = 2^64", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(2, "paddr"), (1n << 64n) - dv.getBigUint64(ph64(2, "memsz"), true), true))), "no error"],
    ["paddr + memsz = 2^64 + 1", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(2, "paddr"), (1n << 64n) - dv.getBigUint64(ph64(2, "memsz"), true) + 1n, true))), "address-overflow"],
    ["RAM ends at the last segment end", () => readPvhKernel(fx.k32.bytes, { ram: [{ start: 0x100000, size: 0x41020 }] }), "no error"],
    ["RAM ends 1 byte early", () => readPvhKernel(fx.k32.bytes, { ram: [{ start: 0x100000, size: 0x4101f }] }), "segment-outside-ram"],
    ["RAM starts 1 byte late", () => readPvhKernel(fx.k32.bytes, { ram: [{ start: 0x100001, size: 0x41020 }] }), "segment-outside-ram"],
    ["PT_NOTEs covering fewer bytes than the file (2 copies)", () => readPvhKernel(manyNotes(2)), "no-pvh-note"],
    ["65533 PT_NOTEs (e_phnum 65534, the most) over the same notes", () => readPvhKernel(manyNotes(65533)), "notes-too-large"],
    ["PVH descsz 3", () => readPvhKernel(patch(fx.k32.bytes, (_, b) => (b[pvhNote32() + 4] = 3))), "bad-pvh-note"],
    // The file bytes after the notes join the PT_NOTE: ignored after the PVH note, as QEMU does.
    ["PT_NOTE 1 byte longer than its notes", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(3, "filesz"), dv.getBigUint64(ph64(3, "filesz"), true) + 1n, true))), "no error"],
    ["PT_NOTE 13 bytes longer than its notes", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(ph64(3, "filesz"), dv.getBigUint64(ph64(3, "filesz"), true) + 13n, true))), "no error"],
    ["PVH descsz 4", () => readPvhKernel(fx.k32.bytes), "no error"],
    ["PVH descsz 8", () => readPvhKernel(fx.k64.bytes), "no error"],
    ["PVH entry 0xffffffff (passes the 4 GiB check)", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(pvhNote64() + 16, 0xffffffffn, true))), "entry-not-loaded"],
    ["PVH entry 0x100000000", () => readPvhKernel(patch(fx.k64.bytes, (dv) => dv.setBigUint64(pvhNote64() + 16, 0x100000000n, true))), "entry-above-4g"],
    ["PVH entry = last byte of text file part", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(pvhNote32() + 16, 0x100000 + 0x47, true))), "no error"],
    ["PVH entry = first byte after text file part", () => readPvhKernel(patch(fx.k32.bytes, (dv) => dv.setUint32(pvhNote32() + 16, 0x100000 + 0x48, true))), "entry-not-loaded"],
  ];
  it.each(rows)("%s", (_name, f, code) => {
    expect(codeOf(f)).toBe(code);
  });

  it("the 32-bit text segment is 0x48 bytes (assumed by the rows above)", () => {
    const text = readelfProgramHeaders(fx.k32.path)[0];
    expect(text?.filesz).toBe(0x48n);
    expect(text?.paddr).toBe(0x100000n);
  });
});
