import { readdirSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const names = readdirSync(`${root}packages`).filter((n) => existsSync(`${root}packages/${n}/package.json`));

// Tests import sibling packages from source, so `vitest` works without a build; the dist tests
// (packages/*/test/dist.test.ts and test/packed.test.ts) import the built output explicitly.
const alias = Object.fromEntries(names.map((n) => [`@microvm/${n}`, `${root}packages/${n}/src/index.ts`]));

export default defineConfig({
  test: {
    // vitest's own output, then the skips by reason and the `tests: N passed, N failed, N skipped`
    // line CI's log scanner reads (test/summary-reporter.ts; a --reporter option replaces both).
    reporters: ["default", `${root}test/summary-reporter.ts`],
    // One compile-cache directory for the CLI processes the tests start, removed after (test/global-setup.ts).
    globalSetup: [`${root}test/global-setup.ts`],
    // One project per package, plus the repository-level tests (packed tarballs, browser bundles).
    projects: [
      ...names.map((name) => ({
        resolve: { alias },
        test: {
          name,
          root: `${root}packages/${name}`,
          include: ["test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      })),
      {
        resolve: { alias },
        test: {
          name: "repo",
          root: `${root}test`,
          include: ["**/*.test.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
