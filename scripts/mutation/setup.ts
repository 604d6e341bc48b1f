// Runs before every test file under Stryker (scripts/mutation/vitest.config.ts). A fixed fast-check
// seed makes every mutant meet the same generated inputs as the initial run that chose which tests
// cover it (MUTATE_SEED, default 1; explicit per-test seeds still win), and endOnFailure skips
// shrinking: a mutant is killed by the first counterexample, and its minimal form is not needed.
import fc from "fast-check";

fc.configureGlobal({
  ...fc.readConfigureGlobal(),
  seed: Number(process.env["MUTATE_SEED"] ?? 1),
  endOnFailure: true,
});
