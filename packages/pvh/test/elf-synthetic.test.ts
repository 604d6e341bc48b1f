// readPvhKernel on small ELF images built here byte by byte (System V gABI layouts), so that each
// check can be reached alone and at its exact boundary: the message of every rejection, the
// magic bytes one at a time, headers with no program headers, program headers ending at EOF,
// PT_NOTE totals equal to the file size, note names, bytes after the PVH note (ignored) and before
// it (an error), a 64 MiB PT_NOTE, segment order and the reported extent.
import { describe, expect, it } from "vitest";
import { readPvhKernel, type ReadPvhKernelOptions } from "@microvm/pvh";

import { err, thrown } from "./helpers/codes.ts";
import { PT_LOAD, PT_NOTE, XEN, cat, dataAt, elf64, kernelWithNotes, le32, note, noteHeader, pvhNote, repeat } from "./helpers/elf-build.ts";

/** A good kernel: 16 code bytes at 0x100000 (4 KiB in memory) and the PVH note, entry 0x100004. */
const good = (notes: Uint8Array = pvhNote(0x100004)): Uint8Array => kernelWithNotes(notes);
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
    // Before the PVH note is found, bytes that form no whole note are an error naming the field
    // and the segment's size; after it they are ignored (see "bytes after the PVH note" below).
    ["a note header cut, in a PT_NOTE before the PVH note's", () => readPvhKernel(kernelWithNotes(cat(note([], 1, []), new Uint8Array(8)), pvhNote(0x100004))), err("note-overrun", "PT_NOTE 1, note at +0xc: the 12-byte note header runs past the segment's 20 bytes")],
    // A 32-byte segment: a 12-byte header whose name of 20 bytes swallows the 20-byte PVH note ends
    // exactly at the segment's end; one byte more (padded to 24) runs past it.
    ["n_namesz 20 ending at the segment's end, over the PVH note", () => readPvhKernel(good(cat(noteHeader(20, 0, 1), pvhNote(0x100004)))), err("no-pvh-note", 'notes: no XEN_ELFNOTE_PHYS32_ENTRY (name "Xen", type 18) in any PT_NOTE segment')],
    ["n_namesz 21 past the segment, before the PVH note", () => readPvhKernel(good(cat(noteHeader(21, 0, 1), pvhNote(0x100004)))), err("note-overrun", "PT_NOTE 1, note at +0x0: n_namesz 21 runs past the segment's 32 bytes")],
    ["n_namesz 0xffffffff, before the PVH note", () => readPvhKernel(good(cat(noteHeader(0xffffffff, 0, 1), pvhNote(0x100004)))), err("note-overrun", "PT_NOTE 1, note at +0x0: n_namesz 4294967295 runs past the segment's 32 bytes")],
    ["n_descsz past the segment, before the PVH note", () => readPvhKernel(good(cat(note(XEN, 6, []), noteHeader(4, 21, 1), Uint8Array.from(XEN), pvhNote(0x100004)))), err("note-overrun", "PT_NOTE 1, note at +0x10: n_descsz 21 runs past the segment's 52 bytes")],
    ["n_descsz 0xfffffffc, before the PVH note", () => readPvhKernel(good(cat(noteHeader(0, 0xfffffffc, 1), pvhNote(0x100004)))), err("note-overrun", "PT_NOTE 1, note at +0x0: n_descsz 4294967292 runs past the segment's 32 bytes")],
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

// QEMU's note search (get_elf_note_type, include/hw/elf_ops.h.inc) returns at the first note of
// the type it wants and never reads what follows; readPvhKernel keeps walking for the other Xen
// notes but ignores whatever bytes after the PVH note form no whole note.
describe("readPvhKernel: bytes after the PVH note", () => {
  const PVH = pvhNote(0x100004);
  const ff = (n: number): Uint8Array => new Uint8Array(n).fill(0xff);
  const rows: [string, Uint8Array[], readonly number[]][] = [
    ["1 byte", [cat(PVH, ff(1))], [18]],
    ["11 bytes (a header cut one byte short)", [cat(PVH, ff(11))], [18]],
    ["a header whose n_namesz runs past the segment", [cat(PVH, noteHeader(8, 0, 1))], [18]],
    ["a header with n_namesz 0xffffffff", [cat(PVH, noteHeader(0xffffffff, 0, 1))], [18]],
    ["a header whose n_descsz runs past the segment by 1", [cat(PVH, noteHeader(4, 5, 1), Uint8Array.from(XEN), ff(4))], [18]],
    ["a header with n_descsz 0xffffffff", [cat(PVH, noteHeader(0, 0xffffffff, 1))], [18]],
    ["64 bytes of 0xff", [cat(PVH, ff(64))], [18]],
    ["a whole Xen note, then a cut header: the Xen note is still read", [cat(PVH, note(XEN, 6, [0x4c, 0x69, 0x6e, 0x75, 0x78, 0]), ff(8))], [18, 6]],
    ["a second PVH note, then a cut header: the first PVH note wins", [cat(PVH, pvhNote(0x100008), ff(8))], [18, 18]],
    ["other notes first, then the PVH note and a cut header", [cat(note([0x47, 0x4e, 0x55, 0], 3, new Array(20).fill(7)), note(XEN, 6, [0]), PVH, ff(5))], [6, 18]],
    ["a cut header in a later PT_NOTE", [PVH, cat(note(XEN, 5, [0]), ff(8))], [18, 5]],
    ["a later PT_NOTE of 0xff only", [PVH, ff(40)], [18]],
  ];
  it.each(rows)("%s: accepted, same entry", (_n, segments, types) => {
    const k = readPvhKernel(kernelWithNotes(...segments));
    expect(k.entry).toBe(0x100004n);
    expect(k.xenNotes.map((n) => n.type)).toEqual(types);
  });

  it("the same bytes in front of the PVH note are an error (negative control)", () => {
    expect(thrown(() => readPvhKernel(kernelWithNotes(cat(ff(64), PVH))))).toEqual(
      err("note-overrun", "PT_NOTE 1, note at +0x0: n_namesz 4294967295 runs past the segment's 84 bytes"),
    );
    expect(thrown(() => readPvhKernel(kernelWithNotes(cat(note(XEN, 6, [0]), ff(8)), PVH)))).toEqual(
      err("note-overrun", "PT_NOTE 1, note at +0x14: the 12-byte note header runs past the segment's 28 bytes"),
    );
  });

  it("the PVH note itself must still be whole and valid", () => {
    // Its descriptor cut by the segment's end, whatever follows in the file.
    expect(thrown(() => readPvhKernel(good(cat(note(XEN, 18, le32(0x100004)).subarray(0, 18), ff(2)).subarray(0, 18))))).toEqual(
      err("note-overrun", "PT_NOTE 1, note at +0x0: n_descsz 4 runs past the segment's 18 bytes"),
    );
    // A descriptor of 3 bytes, then bytes that form no note.
    expect(thrown(() => readPvhKernel(good(cat(note(XEN, 18, [4, 0, 0x10]), ff(8)))))).toEqual(
      err("bad-pvh-note", "XEN_ELFNOTE_PHYS32_ENTRY: expected a descriptor of 4 or more bytes, got 3"),
    );
  });

  it("no PVH note, only bytes that form no note: the overrun is the error", () => {
    expect(thrown(() => readPvhKernel(good(cat(note(XEN, 6, [0]), ff(12)))))).toEqual(
      err("note-overrun", "PT_NOTE 1, note at +0x14: n_namesz 4294967295 runs past the segment's 32 bytes"),
    );
  });

  describe("a 64 MiB PT_NOTE of 36-byte notes", () => {
    const MIB64 = 64 * 2 ** 20;
    const GNU = note([0x47, 0x4e, 0x55, 0], 3, new Array(20).fill(0xab)); // NT_GNU_BUILD_ID-sized
    const count = Math.floor((MIB64 - PVH.length - 12) / GNU.length);
    const many = repeat(GNU, count);

    it("PVH note last, then 12 bytes of 0xff: accepted, no other Xen note", () => {
      const k = readPvhKernel(kernelWithNotes(cat(many, pvhNote(0x10000c), ff(12))));
      expect(k.entry).toBe(0x10000cn);
      expect(k.xenNotes.length).toBe(1);
    });
    it("no PVH note in it: no-pvh-note", () => {
      expect(thrown(() => readPvhKernel(kernelWithNotes(many)))).toEqual(
        err("no-pvh-note", 'notes: no XEN_ELFNOTE_PHYS32_ENTRY (name "Xen", type 18) in any PT_NOTE segment'),
      );
    });
    it("a note overrunning the segment just before the PVH note: note-overrun at its offset", () => {
      const notes = cat(many, noteHeader(4, PVH.length + 1, 1), Uint8Array.from(XEN), PVH);
      expect(thrown(() => readPvhKernel(kernelWithNotes(notes)))).toEqual(
        err("note-overrun", `PT_NOTE 1, note at +0x${many.length.toString(16)}: n_descsz ${PVH.length + 1} runs past the segment's ${notes.length} bytes`),
      );
    });
  });
});

describe("readPvhKernel: options", () => {
  it("ram given as bigints", () => {
    const opts: ReadPvhKernelOptions = { ram: [{ start: 0x100000n, size: 0x1000n }] };
    expect(readPvhKernel(good(), opts).segments.length).toBe(1);
  });
});
