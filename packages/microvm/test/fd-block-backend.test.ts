// The raw-image backend's vectored reads and writes (node/fd-block-backend.ts): one preadv/pwritev
// per request, the buffers filled and written back to back; a read past the end of the file gives
// zeros; more buffers than one preadv takes (IOV_MAX) are done in several calls.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FdBlockBackend } from "../src/node/fd-block-backend.js";

const dir = mkdtempSync(join(tmpdir(), "microvm-fdblk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe("FdBlockBackend, vectored", () => {
  it("readv fills the buffers in order from the offset; writev writes them back to back", () => {
    const path = join(dir, "a.img");
    const image = bytes(64 * 1024, 1);
    writeFileSync(path, image);
    const fd = openSync(path, "r+");
    try {
      const disk = new FdBlockBackend(fd, { size: image.length });
      const bufs = [new Uint8Array(512), new Uint8Array(4096), new Uint8Array(1536)];
      disk.readv(1024, bufs);
      expect([...bufs[0]!, ...bufs[1]!, ...bufs[2]!]).toEqual([...image.subarray(1024, 1024 + 512 + 4096 + 1536)]);
      const data = [bytes(512, 9), bytes(1024, 10)];
      disk.writev(8192, data);
      const after = new Uint8Array(readFileSync(path));
      expect(after.subarray(8192, 8192 + 1536)).toEqual(Uint8Array.from([...data[0]!, ...data[1]!]));
      // Negative control: nothing else moved.
      expect(after.subarray(0, 8192)).toEqual(image.subarray(0, 8192));
      expect(after.subarray(8192 + 1536)).toEqual(image.subarray(8192 + 1536));
    } finally {
      closeSync(fd);
    }
  });

  it("a read that runs past the end of the file gives zeros for the rest", () => {
    const path = join(dir, "short.img");
    writeFileSync(path, bytes(1000, 3)); // shorter than the 2 KiB read
    const fd = openSync(path, "r");
    try {
      const bufs = [new Uint8Array(1024).fill(0xee), new Uint8Array(1024).fill(0xee)];
      new FdBlockBackend(fd, { size: 2048 }).readv(0, bufs);
      expect(bufs[0]!.subarray(0, 1000)).toEqual(bytes(1000, 3));
      expect([...bufs[0]!.subarray(1000), ...bufs[1]!].every((b) => b === 0)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it("more buffers than one preadv takes (1024): all of them, in order", () => {
    const path = join(dir, "many.img");
    const image = bytes(1500 * 16, 5);
    writeFileSync(path, image);
    const fd = openSync(path, "r+");
    try {
      const disk = new FdBlockBackend(fd, { size: image.length });
      const bufs = Array.from({ length: 1500 }, () => new Uint8Array(16));
      disk.readv(0, bufs);
      expect(Uint8Array.from(bufs.flatMap((b) => [...b]))).toEqual(image);
      disk.writev(0, bufs.map((_, i) => new Uint8Array(16).fill(i & 0xff)));
      const after = new Uint8Array(readFileSync(path));
      expect(after[1499 * 16]).toBe(1499 & 0xff);
      expect(after[1024 * 16]).toBe(1024 & 0xff);
    } finally {
      closeSync(fd);
    }
  });
});
