// The summary reporter (summary-reporter.ts): how it finds a skip's reason, how it counts, the
// lines it prints; then vitest itself run on the fixtures in summary-fixtures/, with the reporter,
// in a child process: the last line, the exit code, a file that fails to load.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  formatSummary,
  NO_REASON,
  skipReason,
  summarize,
  summaryLine,
  titleReason,
  type CaseRecord,
} from "./summary-reporter.ts";

const SUMMARY_LINE = /^(?:\w+: )?(\d+) passed, (\d+) failed, (\d+) skipped$/;

describe("titleReason", () => {
  it.each([
    ["microvm on KVM (skipped: /dev/kvm not available)", "/dev/kvm not available"],
    ["KVM ABI [skipped: gcc/headers unavailable: no gcc]", "gcc/headers unavailable: no gcc"],
    ["x (skipped: gcc (12) is too old)", "gcc (12) is too old"],
    ["x [skipped: a [nested] one] (skipped: second)", "a [nested] one"],
    ["x (Skipped:   spaced\n  out )", "spaced out"],
  ])("%j gives %j", (title, reason) => {
    expect(titleReason(title)).toBe(reason);
  });

  it.each([
    "built package (skipped when dist has not been built)", // not the form
    "a test that mentions skipped: in passing",
    "unclosed (skipped: reason",
    "mismatched (skipped: reason]",
    "empty (skipped: )",
    "",
  ])("no reason in %j", (title) => {
    expect(titleReason(title)).toBeUndefined();
  });
});

describe("skipReason", () => {
  it("the note of ctx.skip comes first, then the nearest title, innermost first", () => {
    const titles = ["test", "inner (skipped: inner reason)", "outer (skipped: outer reason)"];
    expect(skipReason({ titles, note: "the note" })).toBe("the note");
    expect(skipReason({ titles, note: "" })).toBe("inner reason");
    expect(skipReason({ titles: ["test [skipped: own]", ...titles.slice(1)] })).toBe("own");
    expect(skipReason({ titles: ["test", "inner", "outer (skipped: outer reason)"] })).toBe("outer reason");
  });

  it("todo, a -t filter and a failed suite have their own reasons; nothing else gives none", () => {
    expect(skipReason({ titles: ["t"], mode: "todo" })).toBe("todo");
    expect(skipReason({ titles: ["t"], mode: "skip", filtered: true })).toBe("filtered out by -t");
    expect(skipReason({ titles: ["t"], mode: "run", suiteFailed: true })).toMatch(/^not run: its suite failed/);
    // an it.skip inside a suite whose hook failed was skipped on purpose
    expect(skipReason({ titles: ["t"], mode: "skip", suiteFailed: true })).toBe(NO_REASON);
    expect(skipReason({ titles: ["t", "suite (needs /dev/kvm)"], mode: "skip" })).toBe(NO_REASON);
  });
});

describe("summarize and formatSummary", () => {
  const c = (state: CaseRecord["state"], extra: Partial<CaseRecord> = {}): CaseRecord => ({
    name: `f.test.ts > ${state}`,
    state,
    titles: [state],
    ...extra,
  });

  it("counts per test case, groups skips by reason, most frequent first, and ends with the summary line", () => {
    const s = summarize({
      cases: [
        c("passed"),
        c("passed"),
        c("skipped", { titles: ["a", "suite (skipped: no kvm)"] }),
        c("skipped", { titles: ["b", "suite (skipped: no kvm)"] }),
        c("skipped", { note: "by ctx.skip" }),
        c("skipped"),
        c("failed", { name: "f.test.ts > s > broken" }),
      ],
      errors: [],
      reason: "failed",
    });
    expect(s).toMatchObject({ passed: 2, failed: 1, skipped: 4 });
    expect(formatSummary(s)).toEqual([
      "skipped tests by reason:",
      "  2  no kvm",
      `  1  ${NO_REASON}`,
      "  1  by ctx.skip",
      "failures:",
      "  f.test.ts > s > broken",
      "tests: 2 passed, 1 failed, 4 skipped",
    ]);
  });

  it("with nothing skipped or failed the sections stay, and the last line still matches", () => {
    const lines = formatSummary(summarize({ cases: [c("passed")], errors: [], reason: "passed" }));
    expect(lines).toEqual(["skipped tests by reason:", "  (none)", "tests: 1 passed, 0 failed, 0 skipped"]);
    expect(lines.at(-1)).toMatch(SUMMARY_LINE);
  });

  it("a file that fails to load, an unfinished test and an unhandled error each count as a failure", () => {
    const s = summarize({
      cases: [c("passed"), c("pending", { name: "f.test.ts > slow" })],
      errors: [
        { name: "g.test.ts (failed to load)", message: "SyntaxError: Unexpected token\n  at g.test.ts:1", failedBeneath: 0 },
        { name: "error outside the tests", message: "Worker exited unexpectedly", failedBeneath: 0 },
      ],
      reason: "failed",
    });
    expect(s.failed).toBe(3);
    expect(s.failures).toEqual([
      "f.test.ts > slow (did not finish)",
      "g.test.ts (failed to load): SyntaxError: Unexpected token at g.test.ts:1",
      "error outside the tests: Worker exited unexpectedly",
    ]);
  });

  it("a suite error over tests that already failed is listed, not counted twice", () => {
    const s = summarize({
      cases: [c("failed")],
      errors: [{ name: "f.test.ts > s (suite)", message: "afterAll threw", failedBeneath: 1 }],
      reason: "failed",
    });
    expect(s.failed).toBe(1);
    expect(s.failures).toHaveLength(2);
  });

  it("a run vitest calls failed or interrupted never ends with 0 failed; a passed one may", () => {
    expect(summarize({ cases: [], errors: [], reason: "failed" }).failed).toBe(1);
    expect(summarize({ cases: [c("passed")], errors: [], reason: "interrupted" }).failed).toBe(1);
    expect(summarize({ cases: [c("passed")], errors: [], reason: "passed" }).failed).toBe(0);
  });

  it("names at most maxFailures failures", () => {
    const s = summarize({ cases: Array.from({ length: 5 }, () => c("failed")), errors: [] });
    const lines = formatSummary(s, 2);
    expect(lines.filter((l) => l.startsWith("  f.test.ts"))).toHaveLength(2);
    expect(lines).toContain("  ... and 3 more");
    expect(lines.at(-1)).toBe("tests: 0 passed, 5 failed, 0 skipped");
  });

  it("summaryLine is exactly the form CI reads", () => {
    expect(summaryLine({ passed: 612, failed: 0, skipped: 23 })).toBe("tests: 612 passed, 0 failed, 23 skipped");
    expect(SUMMARY_LINE.exec(summaryLine({ passed: 1, failed: 2, skipped: 3 }))?.slice(1)).toEqual(["1", "2", "3"]);
    expect("tests: 1 passed, 2 failed".match(SUMMARY_LINE)).toBeNull();
  });
});

describe("vitest with the reporter, on summary-fixtures/", () => {
  const root = fileURLToPath(new URL("../", import.meta.url));
  // The child must not think it is a worker of this run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VITEST|TEST$|NODE_ENV$)/.test(k)));
  const vitest = (fixtures: string): { code: number | null; lines: string[] } => {
    const r = spawnSync(
      process.execPath,
      [`${root}node_modules/vitest/vitest.mjs`, "run", "--config", `${root}test/summary-fixtures/vitest.config.ts`],
      { cwd: root, env: { ...env, FIXTURES: fixtures, NO_COLOR: "1", CI: "1" }, encoding: "utf8", timeout: 120_000 },
    );
    return { code: r.status, lines: r.stdout.trimEnd().split("\n") };
  };

  it("passing and skipped tests: exit 0, each reason with its count, the summary line last", () => {
    const { code, lines } = vitest("skips");
    expect(code, lines.join("\n")).toBe(0);
    const at = lines.indexOf("skipped tests by reason:");
    expect(lines.slice(at)).toEqual([
      "skipped tests by reason:",
      "  3  no widget here",
      `  1  ${NO_REASON}`,
      "  1  bracket (nested) reason",
      "  1  the note of ctx.skip",
      "  1  todo",
      "tests: 2 passed, 0 failed, 7 skipped",
    ]);
  });

  it("a failing test, a file that fails to load, a failed beforeAll and an error outside the tests: exit 1, all counted", () => {
    const { code, lines } = vitest("fails,broken,hook,unhandled");
    expect(code, lines.join("\n")).toBe(1);
    expect(lines.at(-1)).toBe("tests: 2 passed, 4 failed, 1 skipped");
    const failures = lines.slice(lines.indexOf("failures:") + 1, -1);
    expect(failures).toEqual(
      expect.arrayContaining([
        "  fails.fixture.ts > fails",
        "  broken.fixture.ts (failed to load): Error: this fixture fails to load",
        "  hook.fixture.ts > a suite with a failing beforeAll (suite): Error: beforeAll fails",
        "  error outside the tests: Error: rejected after the test",
      ]),
    );
    expect(failures).toHaveLength(4);
    expect(lines).toContain("  1  not run: its suite failed (see failures)");
  });
});
