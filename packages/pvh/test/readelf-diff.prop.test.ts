// Differential property: random well-formed ELF images, written by a generator in this file (not
// by the package), are read by readPvhKernel and by readelf; both must report the same segments
// and the same Xen notes. fast-check prints the seed on failure. Lengths are drawn explicitly, a
// bound half the time (fast-check's default size would stop arrays at about 10 items whatever
// their maxLength), and counters assert the limits were reached.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readPvhKernel } from "@microvm/pvh";
import { readelfNotes, readelfProgramHeaders } from "./helpers/toolchain.ts";

interface Seg {
  paddr: bigint;
  vaddr: bigint;
  data: Uint8Array;
  memsz: bigint;
  flags: number;
}
interface Note {
  owner: string;
  type: number;
  desc: Uint8Array;
}
interface Image {
  cls: 32 | 64;
  segs: Seg[];
  notes: Note[]; // in file order, the PVH note included
}

const align4 = (n: number): number => (n + 3) & ~3;

/** gABI layout: header, program headers (PT_LOADs then one PT_NOTE), notes, segment bytes. */
function writeElf(img: Image): Uint8Array {
  const is64 = img.cls === 64;
  const eh = is64 ? 64 : 52;
  const pe = is64 ? 56 : 32;
  const phnum = img.segs.length + 1;
  const notesAt = eh + phnum * pe;
  const noteBytes = img.notes.reduce((n, x) => n + 12 + align4(x.owner.length + 1) + align4(x.desc.length), 0);
  let at = align4(notesAt + noteBytes);
  const segAt = img.segs.map((s) => {
    const o = at;
    at = align4(at + s.data.length);
    return o;
  });
  const b = new Uint8Array(at);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, is64 ? 62 : 3, true);
  dv.setUint32(20, 1, true);
  if (is64) {
    dv.setBigUint64(32, BigInt(eh), true);
    dv.setUint16(52, eh, true);
    dv.setUint16(54, pe, true);
    dv.setUint16(56, phnum, true);
  } else {
    dv.setUint32(28, eh, true);
    dv.setUint16(40, eh, true);
    dv.setUint16(42, pe, true);
    dv.setUint16(44, phnum, true);
  }
  const ph = (i: number, type: number, flags: number, off: number, vaddr: bigint, paddr: bigint, filesz: number, memsz: bigint, align: number): void => {
    const p = eh + i * pe;
    dv.setUint32(p, type, true);
    if (is64) {
      dv.setUint32(p + 4, flags, true);
      dv.setBigUint64(p + 8, BigInt(off), true);
      dv.setBigUint64(p + 16, vaddr, true);
      dv.setBigUint64(p + 24, paddr, true);
      dv.setBigUint64(p + 32, BigInt(filesz), true);
      dv.setBigUint64(p + 40, memsz, true);
      dv.setBigUint64(p + 48, BigInt(align), true);
    } else {
      dv.setUint32(p + 4, off, true);
      dv.setUint32(p + 8, Number(vaddr), true);
      dv.setUint32(p + 12, Number(paddr), true);
      dv.setUint32(p + 16, filesz, true);
      dv.setUint32(p + 20, Number(memsz), true);
      dv.setUint32(p + 24, flags, true);
      dv.setUint32(p + 28, align, true);
    }
  };
  img.segs.forEach((s, i) => {
    ph(i, 1, s.flags, segAt[i] ?? 0, s.vaddr, s.paddr, s.data.length, s.memsz, 4);
    b.set(s.data, segAt[i]);
  });
  ph(img.segs.length, 4, 4, notesAt, 0n, 0n, noteBytes, BigInt(noteBytes), 4);
  let p = notesAt;
  for (const n of img.notes) {
    dv.setUint32(p, n.owner.length + 1, true);
    dv.setUint32(p + 4, n.desc.length, true);
    dv.setUint32(p + 8, n.type, true);
    for (let k = 0; k < n.owner.length; k++) b[p + 12 + k] = n.owner.charCodeAt(k);
    p += 12 + align4(n.owner.length + 1);
    b.set(n.desc, p);
    p += align4(n.desc.length);
  }
  return b;
}

/** A length in [min, max]: one of the two bounds half the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 1, arbitrary: fc.integer({ min, max }) });
const arrayIn = <T>(arb: fc.Arbitrary<T>, min: number, max: number): fc.Arbitrary<T[]> =>
  lengthIn(min, max).chain((n) => fc.array(arb, { minLength: n, maxLength: n }));
const bytesIn = (min: number, max: number): fc.Arbitrary<Uint8Array> =>
  lengthIn(min, max).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

const MAX_DATA = 200;
const MAX_SEGS = 6;
const MAX_NOTES = 10;
const MAX_DESC = 20;

const segArb = fc.record({
  gap: fc.bigInt({ min: 0n, max: 0x10000n }).map((x) => x * 16n),
  vaddr: fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
  data: bytesIn(1, MAX_DATA),
  bss: fc.bigInt({ min: 0n, max: 0x10000n }),
  flags: fc.integer({ min: 0, max: 7 }),
});
const noteArb = fc.record({
  owner: fc.constantFrom("Xen", "Foo"),
  type: fc.integer({ min: 1, max: 17 }),
  desc: bytesIn(1, MAX_DESC),
});
const imageArb = fc
  .record({
    cls: fc.constantFrom(32 as const, 64 as const),
    base: fc.bigInt({ min: 0x100000n, max: 0x4000_0000n }).map((x) => x & ~0xfffn),
    segs: arrayIn(segArb, 1, MAX_SEGS),
    notes: arrayIn(noteArb, 0, MAX_NOTES),
    pvhAt: fc.nat(),
    entrySeg: fc.nat(),
    entryOff: fc.nat(),
    desc8: fc.boolean(),
  })
  .map((r): { img: Image; entry: bigint } => {
    let at = r.base;
    const segs = r.segs.map((s) => {
      const paddr = at + s.gap;
      const memsz = BigInt(s.data.length) + s.bss;
      at = paddr + memsz;
      return { paddr, vaddr: r.cls === 32 ? s.vaddr : s.vaddr | 0xffffffff00000000n, data: s.data, memsz, flags: s.flags };
    });
    const es = segs[r.entrySeg % segs.length] as Seg;
    const entry = es.paddr + BigInt(r.entryOff % es.data.length);
    const desc = new Uint8Array(r.desc8 ? 8 : 4);
    new DataView(desc.buffer).setUint32(0, Number(entry), true);
    const notes = [...r.notes];
    notes.splice(r.pvhAt % (notes.length + 1), 0, { owner: "Xen", type: 18, desc });
    return { img: { cls: r.cls, segs, notes }, entry };
  });

describe("readPvhKernel agrees with readelf on random well-formed images", () => {
  it("segments and Xen notes", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvh-diff-"));
    let n = 0;
    const seen = { elf32: 0, elf64: 0, data200: 0, segs6: 0, notes10: 0, desc20: 0, pvhDesc4: 0, pvhDesc8: 0, otherXen: 0, foo: 0 };
    fc.assert(
      fc.property(imageArb, ({ img, entry }) => {
        seen[img.cls === 32 ? "elf32" : "elf64"]++;
        if (img.segs.some((s) => s.data.length === MAX_DATA)) seen.data200++;
        if (img.segs.length === MAX_SEGS) seen.segs6++;
        if (img.notes.length === MAX_NOTES + 1) seen.notes10++; // the PVH note is added to the generated ones
        if (img.notes.some((x) => x.desc.length === MAX_DESC)) seen.desc20++;
        const pvh = img.notes.find((x) => x.owner === "Xen" && x.type === 18);
        if (pvh?.desc.length === 4) seen.pvhDesc4++;
        if (pvh?.desc.length === 8) seen.pvhDesc8++;
        if (img.notes.some((x) => x.owner === "Xen" && x.type !== 18)) seen.otherXen++;
        if (img.notes.some((x) => x.owner === "Foo")) seen.foo++;
        const bytes = writeElf(img);
        const path = join(dir, `img${n++}.elf`);
        writeFileSync(path, bytes);
        const k = readPvhKernel(bytes);
        const loads = readelfProgramHeaders(path).filter((p) => p.type === "LOAD");
        expect(k.segments.map((s) => [s.paddr, s.vaddr, BigInt(s.offset), BigInt(s.bytes.length), s.memsz])).toEqual(
          loads.map((p) => [p.paddr, p.vaddr, p.offset, p.filesz, p.memsz]),
        );
        const xen = readelfNotes(path).filter((x) => x.owner === "Xen");
        expect(k.xenNotes.map((x) => [...x.desc])).toEqual(xen.map((x) => [...x.desc]));
        // Types and the entry: the generator's values are the expectation.
        expect(k.xenNotes.map((x) => x.type)).toEqual(img.notes.filter((x) => x.owner === "Xen").map((x) => x.type));
        expect(k.entry).toBe(entry);
        expect(k.elfClass).toBe(img.cls);
      }),
      { numRuns: 60 },
    );
    for (const [k, v] of Object.entries(seen)) expect(v, `images with ${k}`).toBeGreaterThan(0);
  });
});
