// The project's own PVH test guests (guests/, built by `make -C guests`), when they have been built:
// readPvhKernel must agree with readelf on them too. Skipped, with the reason, when not built.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readPvhKernel } from "@microvm/pvh";
import { readelfHeader, readelfNotes, readelfProgramHeaders, readelfSymbol } from "./helpers/toolchain.ts";

const build = fileURLToPath(new URL("../../../guests/build/", import.meta.url));
const images = ["guest32.elf", "guest64.elf"].map((n) => `${build}${n}`);

describe.each(images)("%s", (path) => {
  it.skipIf(!existsSync(path))(`agrees with readelf (skipped: not built, run make -C guests)`, () => {
    const bytes = new Uint8Array(readFileSync(path));
    const k = readPvhKernel(bytes);
    const hdr = readelfHeader(path);
    expect(k.elfClass).toBe(hdr.class === "ELF64" ? 64 : 32);
    const loads = readelfProgramHeaders(path).filter((p) => p.type === "LOAD" && p.memsz > 0n);
    expect(k.segments.map((s) => [s.paddr, BigInt(s.offset), BigInt(s.bytes.length), s.memsz])).toEqual(
      loads.map((p) => [p.paddr, p.offset, p.filesz, p.memsz]),
    );
    const xen = readelfNotes(path).filter((n) => n.owner === "Xen");
    expect(k.xenNotes.map((n) => [...n.desc])).toEqual(xen.map((n) => [...n.desc]));
    // The guests link pvh_start at its physical address (guests/src/guest.ld).
    expect(k.entry).toBe(readelfSymbol(path, "pvh_start"));
  });
});
