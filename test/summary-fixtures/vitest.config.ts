// The fixtures of summary.test.ts: a small run, judged by the summary reporter after vitest's own.
// Not part of the repository's test run (their names do not end in .test.ts); summary.test.ts runs
// vitest on them in a child process. FIXTURES=a,b picks which files (default: all).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = fileURLToPath(new URL(".", import.meta.url));
const picked = process.env.FIXTURES?.split(",").map((n) => `${n}.fixture.ts`);

export default defineConfig({
  test: {
    root: here,
    include: picked ?? ["*.fixture.ts"],
    reporters: ["default", `${here}../summary-reporter.ts`],
  },
});
