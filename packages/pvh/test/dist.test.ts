// Imports the built package (ESM and CJS) the way a user would. `pnpm build` (or ./run test) first.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const built = existsSync(`${dist}index.js`) && existsSync(`${dist}index.cjs`);

type Api = typeof import("../src/index.ts");

function exercise(api: Api): void {
  const bytes = api.encodeStartInfo({ cmdlinePaddr: 0x20000, memmapPaddr: 0x7000, memmapEntries: 1 });
  expect(Buffer.from(bytes.subarray(0, 8)).toString("hex")).toBe("78c56e3301000000");
  expect(api.decodeStartInfo(bytes).memmapPaddr).toBe(0x7000n);
  try {
    api.readPvhKernel(new Uint8Array(8));
    expect.unreachable();
  } catch (e) {
    expect(api.isPvhError(e)).toBe(true);
    expect((e as { code: string }).code).toBe("not-elf");
  }
  expect(api.pvhEntryState({ entry: 0x100000, startInfo: 0x6000 }).sregs.cr0).toBe(0x11n);
}

describe.skipIf(!built)(`built package${built ? "" : ` (skipped: ${dist} has not been built; run pnpm build)`}`, () => {
  it("ESM entry", async () => {
    exercise((await import(`${dist}index.js`)) as Api);
  });
  it("CJS entry", () => {
    const require = createRequire(import.meta.url);
    exercise(require(`${dist}index.cjs`) as Api);
  });
  it("an error from the ESM copy is recognised by the CJS copy's guard (name + code, not instanceof)", async () => {
    const esm = (await import(`${dist}index.js`)) as Api;
    const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as Api;
    let err: unknown;
    try {
      esm.decodeStartInfo(new Uint8Array(3));
    } catch (e) {
      err = e;
    }
    expect(err instanceof cjs.PvhError).toBe(false);
    expect(cjs.isPvhError(err)).toBe(true);
  });
});
