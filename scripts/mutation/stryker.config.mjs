// StrykerJS configuration for one codec package, named by MUTATE_PACKAGE. `pnpm mutate [package]`
// (scripts/mutate.mjs) runs it once per source file (`--mutate <file>`, its own temp dir and JSON
// report) and merges the reports; run directly (`MUTATE_PACKAGE=pvh pnpm exec stryker run
// scripts/mutation/stryker.config.mjs`) it mutates the whole package in one run. Stryker copies
// a sandbox of the files below into .stryker-tmp/, mutates the sources there and runs the
// package's tests with scripts/mutation/vitest.config.ts. Reports go to reports/mutation/<package>/
// (gitignored).
import { PACKAGES } from "./packages.mjs";

const name = process.env.MUTATE_PACKAGE ?? "";
const pkg = PACKAGES[name];
if (!pkg) {
  throw new Error(`MUTATE_PACKAGE must be one of ${Object.keys(PACKAGES).join(", ")} (got "${name}")`);
}
const out = `reports/mutation/${name}`;
// scripts/mutate.mjs gives each per-file run its own report names and temp dir.
const tag = process.env.MUTATE_REPORT_TAG;
const report = tag ? `${out}/files/${tag}` : `${out}/mutation`;

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "scripts/mutation/vitest.config.ts", related: false },
  mutate: [...pkg.sources.map((s) => (s.endsWith(".ts") ? s : `${s}/**/*.ts`)), "!**/*.d.ts"],
  coverageAnalysis: "perTest",
  // Only what the package's tests need goes into the sandbox: every package's sources (the tests
  // import siblings from source), this package's tests, the shared test helpers they import from
  // test/ (typed error codes, the ACPICA tools), and the test guests for pvh's guest tests.
  ignorePatterns: [
    "/**",
    "!/package.json",
    "!/tsconfig*.json",
    "!/scripts/mutation/**",
    "!/packages/*/package.json",
    "!/packages/*/tsconfig.json",
    "!/packages/*/src/**",
    `!/packages/${name}/test/**`,
    "!/test/guests/**",
    "!/test/error-codes.ts",
    "!/test/acpica.ts",
    "!/guests/**",
  ],
  // The machine has 2 cores shared with other jobs: one test-runner process.
  concurrency: 1,
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 10,
  // Per-file runs write JSON only; scripts/mutate.mjs writes one HTML report from the merged JSON.
  reporters: ["clear-text", "json", ...(tag ? [] : ["html"]), "progress-append-only"],
  clearTextReporter: { allowColor: false, allowEmojis: false, reportTests: false, reportMutants: true, reportScoreTable: true },
  jsonReporter: { fileName: `${report}.json` },
  htmlReporter: { fileName: `${report}.html` },
  incrementalFile: tag ? `${out}/incremental/${tag}.json` : `${out}/stryker-incremental.json`,
  thresholds: { high: pkg.goal, low: pkg.goal - 10, break: null },
  tempDirName: process.env.MUTATE_TEMP_DIR ?? ".stryker-tmp",
  cleanTempDir: "always",
};
