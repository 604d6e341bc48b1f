/**
 * The benchmark harness behind `pnpm bench`.
 *
 * Every row compares *our* implementation with a *reference* doing the same work in the same run
 * (a plain byte copy, a C program, QEMU's microvm). The two sides are sampled interleaved
 * (A B A B …) after a warm-up, so that machine noise hits both; the row reports the median of each
 * side, the spread (the inter-quartile range as a fraction of the median) and the ratio of the
 * medians. Absolute figures on nested-KVM development machines are noisy; the ratio is the result.
 *
 * A row with a goal also gets a 95 % interval for the figure the goal is about (the ratio, or the
 * difference for a goal such as `<= +2 MiB`), by a bootstrap that resamples the interleaved pairs
 * (so noise the two sides shared while they ran in turn cancels, as the interleaving intends), and
 * a verdict: `met` when the whole interval is on the goal's side, `missed` when the whole interval
 * is on the other side, and `at the line` when it straddles the goal: then the samples cannot
 * tell, and more of them (`MICROVM_BENCH_REPS`) narrow the interval. The verdicts are printed, never asserted.
 */

/** Whether a larger or a smaller figure is better for a row (time: lower, throughput: higher). */
export type Better = "lower" | "higher";

/** One benchmark row. */
export interface BenchCase {
  /** Row name, shown in the table, e.g. `mptable encode, 254 CPUs`. */
  readonly name: string;
  /** Unit of the figures both sides return, e.g. `ns/op`, `MB/s`, `ms`. */
  readonly unit: string;
  /** Which direction is better. */
  readonly better: Better;
  /** What the reference is, in a few words (`plain copy of 5364 bytes`). */
  readonly reference: string;
  /** Measured samples per side (after warm-up). */
  readonly reps?: number;
  /** Warm-up samples per side, discarded. */
  readonly warmup?: number;
  /** Optional goal for the ratio ours/reference, e.g. `<= 1.2` or `>= 1`. Printed, never asserted. */
  readonly goal?: string;
  /** One sample of our side: returns the figure in `unit`. */
  ours(): number | Promise<number>;
  /** One sample of the reference side: returns the figure in `unit`. */
  ref(): number | Promise<number>;
  /** Called once before sampling, e.g. to start a server. */
  setup?(): void | Promise<void>;
  /** Called once after sampling. */
  teardown?(): void | Promise<void>;
  /** A reason this row cannot run here (e.g. QEMU missing); the row is printed as skipped. */
  skip?(): string | undefined | Promise<string | undefined>;
}

/** Summary statistics of one side of a row. */
export interface SideStats {
  /** Median of the samples. */
  readonly median: number;
  /** Inter-quartile range divided by the median (0.05 = 5 %). */
  readonly spread: number;
  /** Every sample, in the order taken. */
  readonly samples: readonly number[];
}

/** The result of one row. */
export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  readonly better: Better;
  readonly reference: string;
  readonly goal?: string;
  readonly ours?: SideStats;
  readonly ref?: SideStats;
  /** ours.median / ref.median. */
  readonly ratio?: number;
  /**
   * For a row with a goal: the 95 % bootstrap interval of the figure the goal is about (the ratio,
   * or ours − reference for a `+N` goal), and where it lies against the goal.
   */
  readonly check?: GoalCheck;
  /** Why the row did not run. */
  readonly skipped?: string;
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

/** Median and inter-quartile spread of a list of samples. */
export function stats(samples: readonly number[]): SideStats {
  const sorted = [...samples].sort((x, y) => x - y);
  const median = quantile(sorted, 0.5);
  const iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
  return { median, spread: median === 0 ? 0 : iqr / Math.abs(median), samples: [...samples] };
}

/**
 * Times `op` over a batch of iterations and returns nanoseconds per call. The batch grows until it
 * takes at least `minMs`, so that timer resolution does not dominate small operations.
 */
export function nsPerOp(op: () => unknown, minMs = 20): number {
  let n = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op();
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt >= minMs) return (dt * 1e6) / n;
    n = dt <= 0 ? n * 10 : Math.min(n * 10, Math.ceil((n * minMs * 1.2) / dt));
  }
}

/** Like {@link nsPerOp} with a fixed iteration count; for rows that must do the same work on both sides. */
export function nsPerOpFixed(op: () => unknown, iterations: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) op();
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/** A row's goal, parsed: a bound on the ratio ours/reference, or on the difference ours − reference. */
export interface Goal {
  /** Which side of the bound meets the goal. */
  readonly op: "<=" | ">=";
  /** The bound. */
  readonly bound: number;
  /** True for a goal on the difference (written with a `+`, e.g. `<= +15 MiB`), false for a ratio. */
  readonly difference: boolean;
}

/**
 * Parses a goal as rows write it: `<= 1.5`, `>= 1`, `<= +2 MiB` (a difference, in the row's unit).
 * Returns undefined for anything else, which then gets no verdict.
 */
export function parseGoal(goal: string): Goal | undefined {
  const m = /^\s*(<=|>=)\s*(\+)?(\d+(?:\.\d+)?)(?:\s+\S.*)?$/.exec(goal);
  if (!m) return undefined;
  return { op: m[1] as "<=" | ">=", bound: Number(m[3]), difference: m[2] === "+" };
}

/** Where a row's figure lies against its goal (see the module comment). */
export type Verdict = "met" | "missed" | "at the line";

/** A row's interval and verdict. */
export interface GoalCheck {
  /** Lower and upper end of the 95 % interval of the goal's figure. */
  readonly interval: readonly [number, number];
  /** The verdict; undefined when the interval has no finite ends (a reference of 0, say). */
  readonly verdict?: Verdict;
}

/** A small seeded generator (mulberry32), so that a table's intervals are the same for the same samples. */
function seeded(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), t | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The 95 % percentile-bootstrap interval of median(ours) / median(ref), or of median(ours) −
 * median(ref) with `difference`. The samples are resampled as pairs (`ours[i]` with `ref[i]`, taken
 * in turn), so both medians of a resample see the same moments of the machine.
 *
 * @param ours - our side's samples
 * @param ref - the reference's samples, as many, in the same order
 * @param difference - the difference instead of the ratio
 * @param resamples - bootstrap resamples (default 2000)
 * @returns the interval's ends, low first; NaN ends when a resample has no finite figure
 */
export function goalInterval(ours: readonly number[], ref: readonly number[], difference: boolean, resamples = 2000): [number, number] {
  const n = Math.min(ours.length, ref.length);
  if (n === 0) return [Number.NaN, Number.NaN];
  const next = seeded(0x5eed);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const figures = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(next() * n);
      a[i] = ours[k] as number;
      b[i] = ref[k] as number;
    }
    a.sort();
    b.sort();
    const ma = quantile(a, 0.5);
    const mb = quantile(b, 0.5);
    const f = difference ? ma - mb : ma / mb;
    if (!Number.isFinite(f)) return [Number.NaN, Number.NaN];
    figures[r] = f;
  }
  figures.sort();
  return [quantile(figures, 0.025), quantile(figures, 0.975)];
}

/**
 * The verdict for an interval against a goal: met when all of it meets the goal, missed when none
 * of it does, at the line otherwise.
 *
 * @param goal - the parsed goal
 * @param interval - the interval's ends, low first
 * @returns the verdict, or undefined for an interval without finite ends
 */
export function verdictOf(goal: Goal, interval: readonly [number, number]): Verdict | undefined {
  const [lo, hi] = interval;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return undefined;
  if (goal.op === "<=") return hi <= goal.bound ? "met" : lo > goal.bound ? "missed" : "at the line";
  return lo >= goal.bound ? "met" : hi < goal.bound ? "missed" : "at the line";
}

/**
 * Samples per side for every row when `MICROVM_BENCH_REPS` is set (a whole number from 3 to
 * 1000), else undefined (each row's own `reps`).
 */
export function repsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env["MICROVM_BENCH_REPS"];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 3 || n > 1000) throw new Error(`MICROVM_BENCH_REPS: expected a whole number of samples per side from 3 to 1000, got ${JSON.stringify(v)}`);
  return n;
}

/** Runs one row: warm-up, then interleaved samples (ours, ref, ours, ref, …). */
export async function runCase(c: BenchCase): Promise<BenchResult> {
  const base = { name: c.name, unit: c.unit, better: c.better, reference: c.reference, ...(c.goal ? { goal: c.goal } : {}) };
  const reps = repsFromEnv() ?? c.reps ?? 11;
  const why = c.skip ? await c.skip() : undefined;
  if (why) return { ...base, skipped: why };
  await c.setup?.();
  try {
    const warmup = c.warmup ?? 2;
    for (let i = 0; i < warmup; i++) {
      await c.ours();
      await c.ref();
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < reps; i++) {
      // Alternate which side goes first, so neither always runs on a "warm" or "cold" machine.
      if (i % 2 === 0) {
        a.push(await c.ours());
        b.push(await c.ref());
      } else {
        b.push(await c.ref());
        a.push(await c.ours());
      }
    }
    const ours = stats(a);
    const ref = stats(b);
    const goal = c.goal === undefined ? undefined : parseGoal(c.goal);
    let check: GoalCheck | undefined;
    if (goal) {
      const interval = goalInterval(a, b, goal.difference);
      const verdict = verdictOf(goal, interval);
      check = { interval, ...(verdict ? { verdict } : {}) };
    }
    return { ...base, ours, ref, ratio: ours.median / ref.median, ...(check ? { check } : {}) };
  } finally {
    await c.teardown?.();
  }
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  const abs = Math.abs(x);
  if (abs >= 1e6) return x.toExponential(3);
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Renders results as the one table `pnpm bench` prints. */
export function formatTable(results: readonly BenchResult[]): string {
  const head = ["row", "unit", "ours (median ±spread)", "reference (median ±spread)", "ratio", "better", "goal", "95% interval", "verdict", "reference is"];
  const rows = results.map((r) => {
    if (r.skipped) return [r.name, r.unit, "skipped", "-", "-", r.better, r.goal ?? "", "-", "-", `skipped: ${r.skipped}`];
    const side = (s: SideStats | undefined): string =>
      s ? `${fmt(s.median)} ±${(s.spread * 100).toFixed(1)}%` : "-";
    const c = r.check;
    const unit = c && r.goal !== undefined && parseGoal(r.goal)?.difference ? "" : "x";
    const interval = c && Number.isFinite(c.interval[0]) ? `${fmt(c.interval[0])}–${fmt(c.interval[1])}${unit}` : "-";
    return [r.name, r.unit, side(r.ours), side(r.ref), `${fmt(r.ratio)}x`, r.better, r.goal ?? "", interval, c?.verdict ?? "-", r.reference];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/**
 * One line that counts the verdicts of the rows with a goal, for after the table.
 *
 * @param results - the rows
 * @returns e.g. `goals: 3 met, 1 missed, 2 at the line (…)`
 */
export function formatVerdicts(results: readonly BenchResult[]): string {
  const count = (v: Verdict): number => results.filter((r) => r.check?.verdict === v).length;
  const none = results.filter((r) => r.goal !== undefined && !r.skipped && r.check?.verdict === undefined).length;
  const skipped = results.filter((r) => r.goal !== undefined && r.skipped).length;
  const line = count("at the line");
  return (
    `goals: ${count("met")} met, ${count("missed")} missed, ${line} at the line` +
    (none ? `, ${none} without a finite figure` : "") +
    (skipped ? `, ${skipped} skipped` : "") +
    (line ? " (an interval that straddles its goal: more samples per side, MICROVM_BENCH_REPS=N, narrow it)" : "")
  );
}
