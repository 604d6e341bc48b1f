// The vitest configuration Stryker runs (scripts/mutation/stryker.config.mjs): the tests of one
// package (MUTATE_PACKAGE), as the root vitest.config.ts's project for it runs them, minus the
// tests that do not exercise the sources Stryker mutates: dist.test.ts (the built output) and
// pvh's examples.test.ts (typechecks the @example blocks with tsc).
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../../", import.meta.url));
const name = process.env["MUTATE_PACKAGE"] ?? "";
if (!existsSync(`${root}packages/${name}/test`)) throw new Error(`MUTATE_PACKAGE: no packages/${name}/test`);
const names = readdirSync(`${root}packages`).filter((n) => existsSync(`${root}packages/${n}/package.json`));
const alias = Object.fromEntries(names.map((n) => [`@microvm/${n}`, `${root}packages/${n}/src/index.ts`]));

export default defineConfig({
  resolve: { alias },
  test: {
    name,
    root: `${root}packages/${name}`,
    include: ["test/**/*.test.ts"],
    exclude: ["test/dist.test.ts", "test/examples.test.ts"],
    setupFiles: [`${root}scripts/mutation/setup.ts`],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
