/**
 * A vitest reporter that ends every run with the skipped tests grouped by reason and one summary
 * line, `tests: <n> passed, <n> failed, <n> skipped`, which CI's log scanner reads: it is always the
 * last line this reporter prints. It runs after vitest's default reporter (vitest.config.ts lists
 * both), so the normal output is unchanged; it never touches the exit code.
 *
 * Counts are per test case. A skip's reason is, in order: the note of `ctx.skip("...")`; the
 * nearest title (the test's own, then its suites', innermost first) holding `(skipped: ...)` or
 * `[skipped: ...]`, the repository's convention for `skipIf`; `todo` for `it.todo`; "filtered out
 * by -t" when a name pattern left the test out; "not run: its suite failed" when a hook of a suite
 * around it threw (vitest then skips the suite's tests); otherwise "(no reason given)".
 *
 * Failures are counted so that a failing run never ends with `0 failed`: besides failed tests, a
 * file that fails to load (a collection error), a suite whose hooks threw with no failed test
 * under it, an error outside any test, a test that did not finish, an interrupted run, and a run
 * vitest failed for no other reason (no test files) each count as one failure, and are named.
 *
 * The logic is in the pure functions below (tested in summary.test.ts); the class only turns
 * vitest's reported entities into plain records. When `--reporter` is given on the command line
 * it replaces the configured reporters, this one included.
 *
 * @example
 * ```ts
 * // vitest.config.ts
 * export default defineConfig({ test: { reporters: ["default", "./test/summary-reporter.ts"] } });
 * ```
 */
import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import type {
  Reporter,
  SerializedError,
  TestCase,
  TestModule,
  TestRunEndReason,
  TestSuite,
  Vitest,
} from "vitest/node";

// ---- pure part ---------------------------------------------------------------------------------

/** One test case, as the summary sees it. */
export interface CaseRecord {
  /** `file > suite > test`, for the list of failures. */
  readonly name: string;
  readonly state: "passed" | "failed" | "skipped" | "pending";
  /** The test's own title, then its suites' titles, innermost first (not the file). */
  readonly titles: readonly string[];
  /** `options.mode`: "skip" and "todo" say how a test was left out. */
  readonly mode?: "run" | "only" | "skip" | "todo";
  /** The note of `ctx.skip(note)`. */
  readonly note?: string | undefined;
  /** A test name pattern (`-t`) was given and does not match this test. */
  readonly filtered?: boolean;
  /** A suite (or the file) around the test has errors: a failed beforeAll skips the tests. */
  readonly suiteFailed?: boolean;
}

/**
 * A failure that is not a test case's: a collection error, a hook error, an unhandled error.
 * It adds one failure unless `failedBeneath` tests under it already failed (a suite whose
 * afterAll threw after a test failed is then only listed).
 */
export interface GroupError {
  readonly name: string;
  readonly message: string;
  readonly failedBeneath: number;
}

/** Everything the summary is made from. */
export interface RunRecord {
  readonly cases: readonly CaseRecord[];
  readonly errors: readonly GroupError[];
  /** vitest's verdict (onTestRunEnd's reason). */
  readonly reason?: TestRunEndReason;
}

/** The counts and lists of a run. */
export interface Summary {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** Distinct skip reasons with their counts, most frequent first (ties by reason). */
  readonly skipsByReason: readonly (readonly [reason: string, count: number])[];
  /** One line per counted failure (and per listed-only group error). */
  readonly failures: readonly string[];
}

export const NO_REASON = "(no reason given)";

/** Collapses whitespace (a reason or message must stay on one line). */
const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim();

/**
 * The reason in a title's `(skipped: REASON)` or `[skipped: REASON]`, or undefined. Brackets inside
 * the reason nest (`(skipped: gcc (12) missing)`); an unclosed or empty one gives undefined.
 */
export function titleReason(title: string): string | undefined {
  const re = /[([]skipped:\s*/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(title))) {
    const close = m[0][0] === "(" ? ")" : "]";
    const start = m.index + m[0].length;
    const stack: string[] = [close];
    for (let i = start; i < title.length; i++) {
      const ch = title[i]!;
      if (ch === "(") stack.push(")");
      else if (ch === "[") stack.push("]");
      else if (ch === ")" || ch === "]") {
        if (ch !== stack.at(-1)) break; // mismatched: not this form
        stack.pop();
        if (stack.length === 0) {
          const reason = oneLine(title.slice(start, i));
          if (reason !== "") return reason;
          break;
        }
      }
    }
  }
  return undefined;
}

/** Why a skipped test was skipped (see the module comment for the order). */
export function skipReason(c: Pick<CaseRecord, "titles" | "note" | "mode" | "filtered" | "suiteFailed">): string {
  const note = c.note === undefined ? "" : oneLine(c.note);
  if (note !== "") return note;
  for (const t of c.titles) {
    const r = titleReason(t);
    if (r !== undefined) return r;
  }
  if (c.mode === "todo") return "todo";
  if (c.filtered) return "filtered out by -t";
  if (c.suiteFailed && c.mode !== "skip") return "not run: its suite failed (see failures)";
  return NO_REASON;
}

/** Counts a run (see {@link Summary}). */
export function summarize(run: RunRecord): Summary {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const reasons = new Map<string, number>();
  const failures: string[] = [];
  for (const c of run.cases) {
    if (c.state === "passed") passed++;
    else if (c.state === "skipped") {
      skipped++;
      const r = skipReason(c);
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    } else {
      failed++;
      failures.push(c.state === "pending" ? `${c.name} (did not finish)` : c.name);
    }
  }
  for (const e of run.errors) {
    const line = `${e.name}: ${oneLine(e.message)}`;
    if (e.failedBeneath > 0) failures.push(`${line} (besides its ${e.failedBeneath} failed test(s))`);
    else {
      failed++;
      failures.push(line);
    }
  }
  if (failed === 0 && run.reason === "interrupted") {
    failed++;
    failures.push("the run was interrupted before all tests finished");
  } else if (failed === 0 && run.reason === "failed") {
    failed++;
    failures.push("vitest reports the run as failed, with no failed test (no test files found?)");
  }
  const skipsByReason = [...reasons].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { passed, failed, skipped, skipsByReason, failures };
}

/** The last line, exactly `tests: N passed, N failed, N skipped`. */
export function summaryLine(s: Pick<Summary, "passed" | "failed" | "skipped">): string {
  return `tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

/** The lines the reporter prints, the summary line last. At most `maxFailures` failures are named. */
export function formatSummary(s: Summary, maxFailures = 50): string[] {
  const lines = ["skipped tests by reason:"];
  if (s.skipsByReason.length === 0) lines.push("  (none)");
  const width = Math.max(0, ...s.skipsByReason.map(([, n]) => String(n).length));
  for (const [reason, n] of s.skipsByReason) lines.push(`  ${String(n).padStart(width)}  ${reason}`);
  if (s.failures.length > 0) {
    lines.push("failures:");
    for (const f of s.failures.slice(0, maxFailures)) lines.push(`  ${f}`);
    if (s.failures.length > maxFailures) lines.push(`  ... and ${s.failures.length - maxFailures} more`);
  }
  lines.push(summaryLine(s));
  return lines;
}

// ---- vitest's entities to records --------------------------------------------------------------

const errorText = (errors: readonly SerializedError[]): string =>
  errors.map((e) => (e.name && !String(e.message).startsWith(e.name) ? `${e.name}: ${e.message}` : String(e.message))).join("; ");

function countFailed(entity: TestModule | TestSuite): number {
  let n = 0;
  for (const _ of entity.children.allTests("failed")) n++;
  return n;
}

/** Turns vitest's modules and unhandled errors into a {@link RunRecord}. */
export function recordRun(
  testModules: readonly TestModule[],
  unhandledErrors: readonly SerializedError[],
  reason: TestRunEndReason | undefined,
  o: { readonly root?: string; readonly namePattern?: RegExp | undefined } = {},
): RunRecord {
  const root = o.root ?? process.cwd();
  const cases: CaseRecord[] = [];
  const errors: GroupError[] = [];
  for (const m of testModules) {
    const file = relative(root, m.moduleId) || m.moduleId;
    const moduleErrors = m.errors();
    if (moduleErrors.length > 0) {
      const loaded = m.children.size > 0;
      errors.push({
        name: loaded ? `${file} (errors in the file)` : `${file} (failed to load)`,
        message: errorText(moduleErrors),
        failedBeneath: countFailed(m),
      });
    }
    for (const s of m.children.allSuites()) {
      const suiteErrors = s.errors();
      if (suiteErrors.length > 0) {
        errors.push({ name: `${file} > ${s.fullName} (suite)`, message: errorText(suiteErrors), failedBeneath: countFailed(s) });
      }
    }
    for (const t of m.children.allTests()) cases.push(caseRecord(t, file, o.namePattern));
  }
  unhandledErrors.forEach((e, i) => {
    errors.push({ name: `error outside the tests${unhandledErrors.length > 1 ? ` #${i + 1}` : ""}`, message: errorText([e]), failedBeneath: 0 });
  });
  return { cases, errors, ...(reason === undefined ? {} : { reason }) };
}

function caseRecord(t: TestCase, file: string, namePattern: RegExp | undefined): CaseRecord {
  const titles: string[] = [t.name];
  let suiteFailed = t.module.errors().length > 0;
  for (let p: TestCase["parent"] = t.parent; p.type === "suite"; p = p.parent) {
    titles.push(p.name);
    if (p.errors().length > 0) suiteFailed = true;
  }
  const result = t.result();
  const spaced = [...titles].reverse().join(" ");
  const filtered =
    namePattern !== undefined && !new RegExp(namePattern.source, namePattern.flags.replace(/[gy]/g, "")).test(spaced);
  return {
    name: `${file} > ${t.fullName}`,
    state: result.state,
    titles,
    mode: t.options.mode,
    note: result.state === "skipped" ? result.note : undefined,
    filtered,
    suiteFailed,
  };
}

// ---- the reporter ------------------------------------------------------------------------------

export default class SummaryReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    const root = this.vitest?.config.root ?? process.cwd();
    const namePattern = this.vitest?.config.testNamePattern;
    const summary = summarize(recordRun(testModules, unhandledErrors, reason, { root, namePattern }));
    // MICROVM_SUMMARY_JSON=<file>: the counts also go to a file, for a run that merges several
    // summaries (the nested-KVM lane, scripts/nested/lane.ts).
    const out = process.env["MICROVM_SUMMARY_JSON"];
    if (out) writeFileSync(out, JSON.stringify(summary));
    const lines = formatSummary(summary);
    const log = (line: string): void => (this.vitest ? this.vitest.logger.log(line) : void process.stdout.write(`${line}\n`));
    log("");
    for (const line of lines) log(line);
  }
}
