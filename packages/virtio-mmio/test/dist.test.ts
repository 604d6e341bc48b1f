/** Imports the built package (ESM and CJS) the way a user would. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const dist = new URL("../dist/", import.meta.url);
const built = existsSync(new URL("index.js", dist)) && existsSync(new URL("index.cjs", dist));

describe.skipIf(!built)(`built package${built ? "" : " (skipped: dist/ is not built; run pnpm --filter @microvm/virtio-mmio build)"}`, () => {
  it("ESM and CJS builds export the same working API", async () => {
    const esm = (await import(new URL("index.js", dist).href)) as typeof import("../src/index.ts");
    const cjs = createRequire(import.meta.url)("../dist/index.cjs") as typeof import("../src/index.ts");
    for (const m of [esm, cjs]) {
      const mem = new m.GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x1000) }]);
      const t = new m.MmioTransport({ memory: mem, device: new m.RngDevice(), interrupt: () => {} });
      expect(t.read(m.MmioReg.MagicValue, 4)).toBe(0x74726976);
      // A read past guest memory throws; the guard of either copy recognises the error.
      let err: unknown;
      try {
        mem.read8(0x1000);
      } catch (e) {
        err = e;
      }
      expect(err, "reading past guest memory must throw").toBeDefined();
      expect(esm.isVirtioError(err)).toBe(true);
      expect(cjs.isVirtioError(err)).toBe(true);
    }
    expect(Object.keys(esm).sort()).toEqual(Object.keys(cjs).filter((k) => k !== "default").sort());
  });
});
