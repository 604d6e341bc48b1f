// readPvhKernel on small ELF images built here byte by byte (System V gABI layouts), so that each
// check can be reached alone and at its exact boundary: the message of every rejection, the
// magic bytes one at a time, headers with no program headers, program headers ending at EOF,
// PT_NOTE totals equal to the file size, note names, segment order and the reported extent.
import { describe, expect, it } from "vitest";
import { readPvhKernel, type ReadPvhKernelOptions } from "@microvm/pvh";

import { err, thrown } from "./helpers/codes.ts";

const PT_LOAD = 1;
const PT_NOTE = 4;
interface Ph {
  type: number;
  offset: number | bigint;
  paddr: bigint;
  filesz: number | bigint;
  memsz: number | bigint;
  flags?: number;
}

/** A note: n_namesz, n_descsz, n_type, the name and the descriptor, each padded to 4 bytes. */
function note(name: readonly number[], type: number, desc: readonly number[]): Uint8Array {
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
const XEN = [0x58, 0x65, 0x6e, 0];
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const pvhNote = (entry: number): Uint8Array => note(XEN, 18, le32(entry));
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** An ELF64 x86-64 image: header, `phs` right after it, then `data`. */
function elf64(phs: readonly Ph[], data: Uint8Array, phnum: number = phs.length): Uint8Array {
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
const dataAt = (n: number): number => 64 + 56 * n;

/** A good kernel: 16 code bytes at 0x100000 (4 KiB in memory) and the PVH note, entry 0x100004. */
function good(notes: Uint8Array = pvhNote(0x100004)): Uint8Array {
  const d = dataAt(2);
  return elf64(
    [
      { type: PT_LOAD, offset: d, paddr: 0x100000n, filesz: 16, memsz: 0x1000 },
      { type: PT_NOTE, offset: d + 16, paddr: 0n, filesz: notes.length, memsz: 0 },
    ],
    cat(new Uint8Array(16).fill(0x90), notes),
  );
}
const set = (b: Uint8Array, f: (dv: DataView, b: Uint8Array) => void): Uint8Array => {
  const c = b.slice();
  f(new DataView(c.buffer), c);
  return c;
};

describe("readPvhKernel: arguments", () => {
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["bytes an array", () => readPvhKernel([0x7f] as never), err("invalid-argument", "bytes: expected a Uint8Array, got Array")],
    ["options a number", () => readPvhKernel(good(), 5 as never), err("invalid-argument", "options: expected an object, got number")],
    ["options without ram", () => readPvhKernel(good(), {}), "no error"],
    ["options.ram an object", () => readPvhKernel(good(), { ram: {} } as never), err("invalid-argument", "options.ram: expected an array, got Object")],
    ["options.ram[1] null", () => readPvhKernel(good(), { ram: [{ start: 0, size: 1 }, null] } as never), err("invalid-argument", "options.ram[1]: expected an object, got null")],
    ["options.ram[0].start -1", () => readPvhKernel(good(), { ram: [{ start: -1, size: 1 }] }), err("out-of-range", "options.ram[0].start: expected an integer 0..2^53-1 (or a bigint up to 2^64-1), got -1")],
    ["options.ram[0].size a string", () => readPvhKernel(good(), { ram: [{ start: 0, size: "1" }] } as never), err("invalid-argument", "options.ram[0].size: expected a number or a bigint, got string")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });
});

describe("readPvhKernel: header checks, one field at a time", () => {
  const header64 = (phnum: number, f?: (dv: DataView) => void): Uint8Array => {
    const b = new Uint8Array(64);
    const dv = new DataView(b.buffer);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    dv.setUint16(18, 62, true);
    dv.setUint16(56, phnum, true);
    f?.(dv);
    return b;
  };
  const NO_LOAD = err("no-load-segments", "program headers: expected at least one PT_LOAD with p_memsz > 0, got none");
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["magic byte 0 wrong", () => readPvhKernel(set(good(), (_, b) => (b[0] = 0x7e))), err("not-elf", `e_ident: expected the magic 7f 45 4c 46 in the first 4 bytes of ${good().length}`)],
    ["magic byte 1 wrong", () => readPvhKernel(set(good(), (_, b) => (b[1] = 0x46))), err("not-elf", `e_ident: expected the magic 7f 45 4c 46 in the first 4 bytes of ${good().length}`)],
    ["magic byte 2 wrong", () => readPvhKernel(set(good(), (_, b) => (b[2] = 0x4d))), err("not-elf", `e_ident: expected the magic 7f 45 4c 46 in the first 4 bytes of ${good().length}`)],
    ["magic byte 3 wrong", () => readPvhKernel(set(good(), (_, b) => (b[3] = 0x45))), err("not-elf", `e_ident: expected the magic 7f 45 4c 46 in the first 4 bytes of ${good().length}`)],
    ["15 bytes with the magic", () => readPvhKernel(good().subarray(0, 15)), err("not-elf", "e_ident: expected the magic 7f 45 4c 46 in the first 4 bytes of 15")],
    ["16 bytes with the magic (an e_ident, no header)", () => readPvhKernel(good().subarray(0, 16)), err("not-elf", "ELF64 header: expected 64 bytes, the file has 16")],
    ["ELF32, 51 bytes", () => readPvhKernel(set(good(), (_, b) => (b[4] = 1)).subarray(0, 51)), err("not-elf", "ELF32 header: expected 52 bytes, the file has 51")],
    ["class 3", () => readPvhKernel(set(good(), (_, b) => (b[4] = 3))), err("wrong-class", "EI_CLASS: expected 1 (ELF32) or 2 (ELF64), got 3")],
    ["EI_DATA 2", () => readPvhKernel(set(good(), (_, b) => (b[5] = 2))), err("big-endian", "EI_DATA: expected 1 (little-endian), got 2")],
    ["EI_VERSION 2", () => readPvhKernel(set(good(), (_, b) => (b[6] = 2))), err("bad-header", "EI_VERSION: expected 1, got 2")],
    ["e_phnum 0xffff", () => readPvhKernel(set(good(), (dv) => dv.setUint16(56, 0xffff, true))), err("bad-header", "e_phnum: 0xffff (PN_XNUM, count in section 0) is not supported")],
    ["e_phentsize 32 in ELF64", () => readPvhKernel(set(good(), (dv) => dv.setUint16(54, 32, true))), err("bad-header", "e_phentsize: expected 56, got 32")],
    ["exactly the 64-byte header, no program headers", () => readPvhKernel(header64(0)), NO_LOAD],
    ["no program headers: e_phentsize and e_phoff are not looked at", () => readPvhKernel(header64(0, (dv) => dv.setBigUint64(32, 0xffff_ffff_ffff_0000n, true))), NO_LOAD],
    ["program headers past the end", () => readPvhKernel(header64(1, (dv) => { dv.setUint16(54, 56, true); dv.setBigUint64(32, 16n, true); })), err("phdrs-outside-file", "program headers: [0x10, 0x48) lie outside the 64-byte file")],
    ["program headers ending exactly at the end of the file", () => readPvhKernel(elf64([{ type: PT_LOAD, offset: 0, paddr: 0x100000n, filesz: 120, memsz: 0x1000 }], new Uint8Array(0))), err("no-pvh-note", 'notes: no XEN_ELFNOTE_PHYS32_ENTRY (name "Xen", type 18) in any PT_NOTE segment')],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });
});

describe("readPvhKernel: program headers and notes", () => {
  const d2 = dataAt(2);
  const rows: [string, () => unknown, ReturnType<typeof thrown>][] = [
    ["the good image", () => readPvhKernel(good()), "no error"],
    ["PT_LOAD past EOF", () => readPvhKernel(set(good(), (dv) => dv.setBigUint64(64 + 32, 0x1000n, true))), err("segment-outside-file", `program header 0 (PT_LOAD): file bytes [${"0x" + d2.toString(16)}, ${"0x" + (d2 + 0x1000).toString(16)}) lie outside the ${good().length}-byte file`)],
    ["PT_NOTE past EOF", () => readPvhKernel(set(good(), (dv) => dv.setBigUint64(120 + 32, 0x100n, true))), err("segment-outside-file", `program header 1 (PT_NOTE): file bytes [${"0x" + (d2 + 16).toString(16)}, ${"0x" + (d2 + 16 + 0x100).toString(16)}) lie outside the ${good().length}-byte file`)],
    ["memsz below filesz", () => readPvhKernel(set(good(), (dv) => dv.setBigUint64(64 + 40, 15n, true))), err("memsz-less-than-filesz", "program header 0 (PT_LOAD): p_memsz 0xf is less than p_filesz 0x10")],
    ["paddr + memsz past 2^64", () => readPvhKernel(set(good(), (dv) => dv.setBigUint64(64 + 24, 0xffff_ffff_ffff_f001n, true))), err("address-overflow", "program header 0 (PT_LOAD): p_paddr 0xfffffffffffff001 + p_memsz 0x1000 exceeds 2^64")],
    ["RAM below the segment", () => readPvhKernel(good(), { ram: [{ start: 0, size: 0x100fff }] }), err("segment-outside-ram", "PT_LOAD 0: [0x100000, 0x101000) does not fit in any guest RAM range")],
    ["the segment in the second of two RAM ranges", () => readPvhKernel(good(), { ram: [{ start: 0, size: 0x1000 }, { start: 0x100000, size: 0x1000 }] }), "no error"],
    ["PVH descriptor of 3 bytes", () => readPvhKernel(good(note(XEN, 18, [4, 0, 0x10]))), err("bad-pvh-note", "XEN_ELFNOTE_PHYS32_ENTRY: expected a descriptor of 4 or more bytes, got 3")],
    ["PVH entry at 4 GiB", () => readPvhKernel(good(note(XEN, 18, [0, 0, 0, 0, 1, 0, 0, 0]))), err("entry-above-4g", "XEN_ELFNOTE_PHYS32_ENTRY: expected an entry below 4 GiB, got 0x100000000")],
    ["PVH entry in the BSS", () => readPvhKernel(good(pvhNote(0x100010))), err("entry-not-loaded", "XEN_ELFNOTE_PHYS32_ENTRY: entry 0x100010 is not inside the file bytes of any PT_LOAD segment")],
    ["a note name of 4 bytes without its NUL is not Xen's", () => readPvhKernel(good(note([0x58, 0x65, 0x6e, 0x21], 18, le32(0x100004)))), err("no-pvh-note", 'notes: no XEN_ELFNOTE_PHYS32_ENTRY (name "Xen", type 18) in any PT_NOTE segment')],
    ["a note header cut", () => readPvhKernel(good(cat(pvhNote(0x100004), new Uint8Array(8)))), err("note-overrun", "PT_NOTE 1, note at +0x14: the 12-byte note header runs past the segment's 28 bytes")],
    ["n_namesz past the segment", () => readPvhKernel(good(cat(pvhNote(0x100004), note([1, 2, 3, 4, 5, 6, 7, 8], 1, [])).subarray(0, 20 + 16))), err("note-overrun", "PT_NOTE 1, note at +0x14: n_namesz 8 runs past the segment's 36 bytes")],
    ["n_descsz past the segment", () => readPvhKernel(good(note(XEN, 18, [4, 0, 0x10, 0, 0, 0, 0, 0]).subarray(0, 20))), err("note-overrun", "PT_NOTE 1, note at +0x0: n_descsz 8 runs past the segment's 20 bytes")],
  ];
  it.each(rows)("%s", (_n, f, want) => {
    expect(thrown(f)).toEqual(want);
  });

  it("two PVH notes: the first one is the entry", () => {
    const k = readPvhKernel(good(cat(pvhNote(0x100004), pvhNote(0x100008))));
    expect(k.entry).toBe(0x100004n);
    expect(k.xenNotes.map((n) => [...n.desc])).toEqual([le32(0x100004), le32(0x100008)]);
  });

  it("a PT_LOAD with p_memsz 0 is not a segment", () => {
    const d = dataAt(3);
    const k = readPvhKernel(
      elf64(
        [
          { type: PT_LOAD, offset: d, paddr: 0x100000n, filesz: 16, memsz: 0x1000 },
          { type: PT_LOAD, offset: d, paddr: 0x200000n, filesz: 0, memsz: 0 },
          { type: PT_NOTE, offset: d + 16, paddr: 0n, filesz: 20, memsz: 0 },
        ],
        cat(new Uint8Array(16), pvhNote(0x100004)),
      ),
    );
    expect(k.segments.map((s) => [s.index, s.paddr])).toEqual([[0, 0x100000n]]);
    expect(k.physEnd).toBe(0x101000n);
  });

  // Three PT_LOADs out of address order: the extent is taken over all of them, overlaps are found
  // between neighbours in address order, and segments keep their program-header order.
  const unordered = (second: bigint, secondMemsz: number): Uint8Array => {
    const d = dataAt(4);
    return elf64(
      [
        { type: PT_LOAD, offset: d, paddr: 0x300000n, filesz: 0, memsz: 0x1000 },
        { type: PT_LOAD, offset: d, paddr: 0x100000n, filesz: 16, memsz: 0x1000 },
        { type: PT_LOAD, offset: d, paddr: second, filesz: 0, memsz: secondMemsz },
        { type: PT_NOTE, offset: d + 16, paddr: 0n, filesz: 20, memsz: 0 },
      ],
      cat(new Uint8Array(16), pvhNote(0x100004)),
    );
  };
  it("segments out of address order: physStart, physEnd and program-header order", () => {
    const k = readPvhKernel(unordered(0x180000n, 0x80000));
    expect(k.segments.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(k.physStart).toBe(0x100000n);
    expect(k.physEnd).toBe(0x301000n);
  });
  it("a small segment after a large one still ends the extent right", () => {
    const k = readPvhKernel(unordered(0x102000n, 0x1fe000));
    expect(k.physEnd).toBe(0x301000n);
    expect(thrown(() => readPvhKernel(unordered(0x102000n, 0x1fe001)))).toEqual(
      err("segments-overlap", "PT_LOAD 2 [0x102000, 0x300001) overlaps PT_LOAD 0 [0x300000, 0x301000)"),
    );
  });
  it("segments out of order that overlap are found, named in address order", () => {
    expect(thrown(() => readPvhKernel(unordered(0x100800n, 0x1000)))).toEqual(
      err("segments-overlap", "PT_LOAD 1 [0x100000, 0x101000) overlaps PT_LOAD 2 [0x100800, 0x101800)"),
    );
    // Same start: the earlier program header is named first.
    expect(thrown(() => readPvhKernel(unordered(0x100000n, 0x10)))).toEqual(
      err("segments-overlap", "PT_LOAD 1 [0x100000, 0x101000) overlaps PT_LOAD 2 [0x100000, 0x100010)"),
    );
  });

  it("the extent ends at the highest segment's end, however large its p_memsz", () => {
    const d = dataAt(3);
    const k = readPvhKernel(
      elf64(
        [
          { type: PT_LOAD, offset: d, paddr: 0x100000n, filesz: 16, memsz: 0x1000 },
          { type: PT_LOAD, offset: d, paddr: 0x200000n, filesz: 0, memsz: 0x200000 },
          { type: PT_NOTE, offset: d + 16, paddr: 0n, filesz: 20, memsz: 0 },
        ],
        cat(new Uint8Array(16), pvhNote(0x100004)),
      ),
    );
    expect([k.physStart, k.physEnd]).toEqual([0x100000n, 0x400000n]);
  });

  it("PT_NOTE bytes in total equal to the file size are fine, one more byte is too many", () => {
    // Header 64 + 3 program headers 168 = 232; notes of 232 bytes covered twice = 464 = the file.
    const notes = cat(pvhNote(0x100004), note([], 0, new Array(200).fill(0)));
    expect(notes.length).toBe(232);
    const image = (extra: number): Uint8Array => {
      const d = dataAt(3);
      return elf64(
        [
          { type: PT_LOAD, offset: 0, paddr: 0x100000n, filesz: 464, memsz: 0x1000 },
          { type: PT_NOTE, offset: d, paddr: 0n, filesz: 232, memsz: 0 },
          { type: PT_NOTE, offset: d - extra, paddr: 0n, filesz: 232 + extra, memsz: 0 },
        ],
        notes,
      );
    };
    expect(image(0).length).toBe(464);
    expect(readPvhKernel(image(0)).xenNotes.length).toBe(2);
    expect(thrown(() => readPvhKernel(image(4)))).toEqual(err("notes-too-large", "PT_NOTE segments: 468 bytes in total exceed the 464-byte file (overlapping PT_NOTEs)"));
  });
});

describe("readPvhKernel: options", () => {
  it("ram given as bigints", () => {
    const opts: ReadPvhKernelOptions = { ram: [{ start: 0x100000n, size: 0x1000n }] };
    expect(readPvhKernel(good(), opts).segments.length).toBe(1);
  });
});
