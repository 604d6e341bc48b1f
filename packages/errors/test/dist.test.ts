// Imports the built package (ESM and CJS) the way a user would. `pnpm build` (or ./run test) first.
// The two builds are two copies of the package, with two CodedError classes: the guard of one
// recognises the errors of the other.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const built = existsSync(`${dist}index.js`) && existsSync(`${dist}index.cjs`);

type Api = typeof import("../src/index.ts");

describe.skipIf(!built)(`built package${built ? "" : ` (skipped: ${dist} has not been built; run pnpm build)`}`, () => {
  it("ESM and CJS entries have the same exports", async () => {
    const esm = (await import(`${dist}index.js`)) as Api;
    const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as Api;
    expect(Object.keys(esm).sort()).toEqual(["CodedError", "FieldError", "codedErrorGuard"]);
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).sort());
  });

  it("an error from the ESM copy is recognised by the CJS copy's guard (name + code, not instanceof)", async () => {
    const esm = (await import(`${dist}index.js`)) as Api;
    const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as Api;
    const err = new esm.FieldError("DemoError", "truncated", "header", "expected 16 bytes, got 3");
    expect(err instanceof cjs.CodedError).toBe(false);
    expect(err instanceof esm.CodedError).toBe(true);
    expect(cjs.codedErrorGuard("DemoError", { truncated: true })(err)).toBe(true);
    expect(cjs.codedErrorGuard("DemoError", { "out-of-range": true })(err)).toBe(false);
  });
});
