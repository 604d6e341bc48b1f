// The project's own PVH test guests (guests/): readPvhKernel must agree with readelf on them too.
// They are built here with `make -C guests` (buildGuests, shared with the QEMU and machine tests:
// once per process, serialised by flock), which needs only gcc, binutils and make, as the other
// toolchain tests in this package do; a failed build fails the test with make's output.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { readPvhKernel } from "@microvm/pvh";
import { buildGuests, type GuestImages } from "../../../test/guests/harness.ts";
import { readelfHeader, readelfNotes, readelfProgramHeaders, readelfSymbol } from "./helpers/toolchain.ts";

let images: GuestImages;
beforeAll(async () => {
  images = await buildGuests();
});

describe.each([
  ["guest32.elf", "elf32"],
  ["guest64.elf", "elf64"],
] as const)("guests/build/%s", (_name, image) => {
  it("agrees with readelf", () => {
    const path = images[image];
    const bytes = new Uint8Array(readFileSync(path));
    const k = readPvhKernel(bytes);
    const hdr = readelfHeader(path);
    expect(k.elfClass).toBe(hdr.class === "ELF64" ? 64 : 32);
    expect(k.elfClass).toBe(image === "elf64" ? 64 : 32);
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
