/**
 * The benchmark harness behind `pnpm bench`.
 *
 * Every row compares *our* implementation with a *reference* doing the same work in the same run
 * (a plain byte copy, a C program, QEMU's microvm). The two sides are sampled interleaved
 * (A B A B …) after a warm-up, so that machine noise hits both; the row reports the median of each
 * side, the spread (the inter-quartile range as a fraction of the median) and the ratio of the
 * medians. Absolute figures on nested-KVM development machines are noisy; the ratio is the result.
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
  /** Why the row did not run. */
  readonly skipped?: string;
}

function quantile(sorted: readonly number[], q: number): number {
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

/** Runs one row: warm-up, then interleaved samples (ours, ref, ours, ref, …). */
export async function runCase(c: BenchCase): Promise<BenchResult> {
  const base = { name: c.name, unit: c.unit, better: c.better, reference: c.reference, ...(c.goal ? { goal: c.goal } : {}) };
  const why = c.skip ? await c.skip() : undefined;
  if (why) return { ...base, skipped: why };
  await c.setup?.();
  try {
    const warmup = c.warmup ?? 2;
    const reps = c.reps ?? 11;
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
    return { ...base, ours, ref, ratio: ours.median / ref.median };
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
  const head = ["row", "unit", "ours (median ±spread)", "reference (median ±spread)", "ratio", "better", "goal", "reference is"];
  const rows = results.map((r) => {
    if (r.skipped) return [r.name, r.unit, "skipped", "-", "-", r.better, r.goal ?? "", `skipped: ${r.skipped}`];
    const side = (s: SideStats | undefined): string =>
      s ? `${fmt(s.median)} ±${(s.spread * 100).toFixed(1)}%` : "-";
    return [r.name, r.unit, side(r.ours), side(r.ref), `${fmt(r.ratio)}x`, r.better, r.goal ?? "", r.reference];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
