// fast-check property of the note walk: random sequences of notes (Xen, GNU or random names, random
// types and descriptors, up to 1000 of them) with the PVH note at a random place or absent, split
// into one or two PT_NOTE segments, possibly with a note that overruns its segment before the PVH
// note, and random bytes after everything. readPvhKernel must return the PVH note's entry and the
// Xen notes in order, or throw the PvhError the construction predicts; any other throw fails.
// Lengths are drawn explicitly (fast-check's default size stops arrays at about 10 items), and
// counters assert that long sequences, both ends and every outcome were reached.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPvhError, readPvhKernel, type PvhErrorCode } from "@microvm/pvh";
import { XEN, cat, kernelWithNotes, note, noteHeader } from "./helpers/elf-build.ts";

/** A length in [min, max]: one of the two bounds a quarter of the time, otherwise uniform. */
const lengthIn = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(min, max) }, { weight: 3, arbitrary: fc.integer({ min, max }) });
const bytesIn = (min: number, max: number): fc.Arbitrary<number[]> =>
  lengthIn(min, max).chain((n) => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n }));

/** `arb` with odds `odds` : 1 against undefined. */
const sometimes = <T>(odds: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  odds >= 1
    ? fc.oneof({ weight: Math.round(odds), arbitrary: arb }, { weight: 1, arbitrary: fc.constant(undefined) })
    : fc.oneof({ weight: 1, arbitrary: arb }, { weight: Math.round(1 / odds), arbitrary: fc.constant(undefined) });

const MAX_NOTES = 1000;
const MAX_TAIL = 64;
const GNU = [0x47, 0x4e, 0x55, 0];

const noteArb = fc.record({
  name: fc.oneof({ weight: 2, arbitrary: fc.constant([...XEN]) }, { weight: 1, arbitrary: fc.constant(GNU) }, { weight: 1, arbitrary: bytesIn(0, 12) }),
  // Type 18 often, so that Xen notes of the PVH type come after the PVH note (the first one wins).
  type: fc.oneof(fc.constant(18), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffffffff })),
  desc: bytesIn(0, 40),
});

const caseArb = fc.record({
  notes: lengthIn(0, MAX_NOTES).chain((n) => fc.array(noteArb, { minLength: n, maxLength: n })),
  pvh: sometimes(5, fc.record({ at: fc.nat(), entry: fc.integer({ min: 0, max: 15 }), descsz: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(8, 4, 12) }, { weight: 1, arbitrary: fc.constantFrom(0, 3) }) })),
  // A note whose name or descriptor runs past its segment, placed before the PVH note.
  overrun: sometimes(1 / 4, fc.record({ at: fc.nat(), field: fc.constantFrom("namesz", "descsz"), size: fc.constantFrom(0x100000, 0xfffffffc, 0xffffffff) })),
  split: sometimes(1, fc.nat()), // two PT_NOTEs, cut at a note boundary
  tail: fc.oneof({ weight: 3, arbitrary: bytesIn(0, MAX_TAIL) }, { weight: 1, arbitrary: fc.constantFrom([], [0xff, 0xff, 0xff, 0xff]) }),
});

type Item = { kind: "note"; xen: boolean; type: number; bytes: Uint8Array } | { kind: "pvh"; bytes: Uint8Array } | { kind: "overrun"; bytes: Uint8Array };

const sameAsXen = (name: readonly number[]): boolean => name.length === 4 && name.every((b, i) => b === XEN[i]);

describe("the note walk on random note sequences", () => {
  it("gives the PVH entry and the Xen notes in order, or the predicted PvhError", () => {
    const outcomes = new Map<"ok" | PvhErrorCode, number>();
    const seen = { maxNotes: 0, pvhFirst: 0, pvhLast: 0, split: 0, maxTail: 0, decoyAfter: 0, overrunInFront: 0 };
    fc.assert(
      fc.property(caseArb, (c) => {
        const items: Item[] = [];
        let pvhIndex = c.pvh === undefined ? -1 : c.pvh.at % (c.notes.length + 1);
        c.notes.forEach((n, i) => {
          const xen = sameAsXen(n.name);
          // No PVH-type Xen note before the PVH note (it would be the entry); after it, decoys.
          const type = xen && n.type === 18 && (pvhIndex < 0 || i < pvhIndex) ? 17 : n.type;
          items.push({ kind: "note", xen, type, bytes: note(n.name, type, n.desc) });
        });
        const entry = 0x100000 + (c.pvh?.entry ?? 0);
        if (c.pvh !== undefined) {
          const desc = new Uint8Array(c.pvh.descsz);
          if (c.pvh.descsz >= 4) new DataView(desc.buffer).setUint32(0, entry, true);
          else desc.fill(0x10);
          items.splice(pvhIndex, 0, { kind: "pvh", bytes: note(XEN, 18, [...desc]) });
        }
        let overrunIndex = -1;
        if (c.overrun !== undefined) {
          overrunIndex = c.overrun.at % ((pvhIndex < 0 ? items.length : pvhIndex) + 1);
          const { field, size } = c.overrun;
          items.splice(overrunIndex, 0, { kind: "overrun", bytes: field === "namesz" ? noteHeader(size, 0, 1) : noteHeader(0, size, 1) });
          if (pvhIndex >= 0) pvhIndex++;
        }
        const cut = c.split === undefined ? items.length : c.split % (items.length + 1);
        const segments = [cat(...items.slice(0, cut).map((x) => x.bytes)), cat(...items.slice(cut).map((x) => x.bytes), Uint8Array.from(c.tail))];
        const image = kernelWithNotes(...(c.split === undefined ? [cat(...segments)] : segments));

        seen.maxNotes = Math.max(seen.maxNotes, c.notes.length);
        if (pvhIndex === 0) seen.pvhFirst++;
        if (pvhIndex >= 0 && pvhIndex === items.length - 1) seen.pvhLast++;
        if (c.split !== undefined && cut > 0 && cut < items.length) seen.split++;
        if (c.tail.length === MAX_TAIL) seen.maxTail++;
        if (items.some((x, i) => x.kind === "note" && x.xen && x.type === 18 && i > pvhIndex && pvhIndex >= 0)) seen.decoyAfter++;

        let outcome: "ok" | PvhErrorCode;
        try {
          const k = readPvhKernel(image);
          outcome = "ok";
          expect(k.entry).toBe(BigInt(entry));
          // The Xen notes up to the tail, in order; the tail's random bytes may add more.
          const xen = items.filter((x) => x.kind === "pvh" || (x.kind === "note" && x.xen)).map((x) => (x.kind === "note" ? x.type : 18));
          expect(k.xenNotes.slice(0, xen.length).map((n) => n.type)).toEqual(xen);
        } catch (e) {
          if (!isPvhError(e)) throw e;
          outcome = e.code;
          if (e.code === "note-overrun") expect(e.message).toMatch(/^PT_NOTE [12], note at \+0x[0-9a-f]+: (n_namesz|n_descsz) \d+ runs past the segment's \d+ bytes$|^PT_NOTE [12], note at \+0x[0-9a-f]+: the 12-byte note header runs past the segment's \d+ bytes$/);
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);

        // What the construction predicts.
        if (overrunIndex >= 0) {
          seen.overrunInFront++;
          expect(outcome).toBe("note-overrun");
        } else if (c.pvh === undefined) {
          // Random tail bytes with no PVH note in front may themselves overrun the segment.
          expect(["no-pvh-note", "note-overrun"]).toContain(outcome);
          if (c.tail.length === 0) expect(outcome).toBe("no-pvh-note");
        } else if (c.pvh.descsz < 4) {
          expect(outcome).toBe("bad-pvh-note");
        } else {
          expect(outcome).toBe("ok"); // whatever the tail holds
        }
      }),
      { numRuns: 400 },
    );
    expect(Object.fromEntries(outcomes)).toEqual({
      ok: expect.any(Number),
      "no-pvh-note": expect.any(Number),
      "note-overrun": expect.any(Number),
      "bad-pvh-note": expect.any(Number),
    });
    expect(seen.maxNotes).toBe(MAX_NOTES);
    for (const [k, v] of Object.entries(seen)) expect(v, `cases with ${k}`).toBeGreaterThan(0);
  });
});
