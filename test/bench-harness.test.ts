// The bench harness's goal verdicts (bench/harness.ts): the interval of a row's figure and where it
// lies against the goal. Each verdict is reached by a case built to reach it, and the ones that must
// not be reached are checked not to be (a clear pass is never "at the line", a straddle never "met").
import { afterEach, describe, expect, it } from "vitest";
import { formatTable, formatVerdicts, goalInterval, parseGoal, repsFromEnv, runCase, verdictOf, type BenchCase } from "../bench/harness.ts";

/** Deterministic noise in [-1, 1) (an LCG), so the samples are the same on every run. */
function noise(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  };
}

/**
 * n interleaved pairs: the reference around 100 with a machine noise (±`shared`) both sides share,
 * ours `ratio` times it plus its own noise (±`own`).
 */
function pairs(n: number, ratio: number, own: number, shared = 0.3, seed = 7): { ours: number[]; ref: number[] } {
  const machineNoise = noise(seed);
  const mine = noise(seed * 7919 + 13);
  const ours: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < n; i++) {
    const machine = 100 * (1 + shared * machineNoise());
    ref.push(machine);
    ours.push(machine * ratio * (1 + own * mine()));
  }
  return { ours, ref };
}

describe("parseGoal", () => {
  it("reads the goals rows write, and nothing else", () => {
    expect(parseGoal("<= 1.5")).toEqual({ op: "<=", bound: 1.5, difference: false });
    expect(parseGoal(">= 1")).toEqual({ op: ">=", bound: 1, difference: false });
    expect(parseGoal("<= +15 MiB")).toEqual({ op: "<=", bound: 15, difference: true });
    for (const bad of ["", "1.5", "< 1.5", "<= x", "<= 1.5.2", "== 1"]) expect(parseGoal(bad), bad).toBeUndefined();
  });
});

describe("goalInterval and verdictOf", () => {
  const le = parseGoal("<= 1.5") as NonNullable<ReturnType<typeof parseGoal>>;
  const ge = parseGoal(">= 1") as NonNullable<ReturnType<typeof parseGoal>>;

  it("a ratio well under the goal is met, well over it missed, on it at the line", () => {
    const verdict = (ratio: number): string | undefined => {
      const { ours, ref } = pairs(21, ratio, 0.05);
      return verdictOf(le, goalInterval(ours, ref, false));
    };
    expect(verdict(1.2)).toBe("met");
    expect(verdict(1.9)).toBe("missed");
    expect(verdict(1.5)).toBe("at the line");
  });

  it("the interval holds the ratio of the medians, and a goal of at least works the other way", () => {
    const { ours, ref } = pairs(21, 1.3, 0.05);
    const [lo, hi] = goalInterval(ours, ref, false);
    expect(lo).toBeLessThan(1.3);
    expect(hi).toBeGreaterThan(1.3);
    expect(hi - lo).toBeLessThan(0.2);
    expect(verdictOf(ge, [lo, hi])).toBe("met");
    expect(verdictOf(ge, [0.8, 0.95])).toBe("missed");
    expect(verdictOf(ge, [0.95, 1.05])).toBe("at the line");
  });

  it("resamples pairs: noise both sides shared cancels (independent resampling would leave it)", () => {
    // Ours is exactly 1.4 times the reference at each moment, and the machine moves both by ±30 %.
    const { ours, ref } = pairs(15, 1.4, 0);
    const [lo, hi] = goalInterval(ours, ref, false);
    expect(lo).toBeCloseTo(1.4, 10);
    expect(hi).toBeCloseTo(1.4, 10);
    // Negative control: the same samples with the pairs broken (ours reversed) give a wide interval.
    const [blo, bhi] = goalInterval([...ours].reverse(), ref, false);
    expect(bhi - blo).toBeGreaterThan(0.1);
  });

  it("holds the true ratio about 95 % of the time (a narrower interval would claim too much)", () => {
    // 120 runs of 41 pairs from one population whose ratio of medians is 1.45 (symmetric noise).
    let covered = 0;
    const runs = 120;
    for (let r = 0; r < runs; r++) {
      const { ours, ref } = pairs(41, 1.45, 0.1, 0.05, 1000 + r);
      const [lo, hi] = goalInterval(ours, ref, false, 1000);
      if (lo <= 1.45 && 1.45 <= hi) covered++;
    }
    expect(covered / runs).toBeGreaterThan(0.85);
  });

  it("more samples narrow the interval (what MICROVM_BENCH_REPS is for)", () => {
    const width = (n: number): number => {
      const { ours, ref } = pairs(n, 1.45, 0.1, 0.05);
      const [lo, hi] = goalInterval(ours, ref, false);
      return hi - lo;
    };
    expect(width(81)).toBeLessThan(width(7) / 2);
    expect(width(201)).toBeLessThan(width(81));
  });

  it("a difference goal (<= +N) is checked on ours - reference", () => {
    const ours = [41, 40.5, 41.2, 40.8, 41, 40.9, 41.1];
    const ref = [39.4, 39.4, 39.3, 39.4, 39.5, 39.4, 39.4];
    const plus = parseGoal("<= +2 MiB") as NonNullable<ReturnType<typeof parseGoal>>;
    const iv = goalInterval(ours, ref, true);
    // The medians differ by 1.6 MiB (the ratio would be ~1.04).
    expect(iv[0]).toBeGreaterThan(1.1);
    expect(iv[0]).toBeLessThanOrEqual(1.6);
    expect(iv[1]).toBeGreaterThanOrEqual(1.6);
    expect(iv[1]).toBeLessThan(2);
    expect(verdictOf(plus, iv)).toBe("met");
    // The same samples against a tighter bound: missed.
    expect(verdictOf({ ...plus, bound: 1 }, iv)).toBe("missed");
  });

  it("is deterministic, and has no verdict without a finite figure", () => {
    const { ours, ref } = pairs(11, 1.45, 0.1);
    expect(goalInterval(ours, ref, false)).toEqual(goalInterval(ours, ref, false));
    const iv = goalInterval([19, 2.5, 5], [0, 0, 0], false);
    expect(Number.isNaN(iv[0])).toBe(true);
    expect(verdictOf(le, iv)).toBeUndefined();
    expect(goalInterval([], [], false).every(Number.isNaN)).toBe(true);
  });
});

describe("MICROVM_BENCH_REPS", () => {
  afterEach(() => {
    delete process.env["MICROVM_BENCH_REPS"];
  });

  it("sets the samples per side of every row; a wrong value is refused naming the variable and the range", async () => {
    expect(repsFromEnv({})).toBeUndefined();
    expect(repsFromEnv({ MICROVM_BENCH_REPS: "40" })).toBe(40);
    for (const bad of ["0", "2", "1001", "4.5", "many"]) expect(() => repsFromEnv({ MICROVM_BENCH_REPS: bad }), bad).toThrow(/MICROVM_BENCH_REPS: expected a whole number of samples per side from 3 to 1000, got/);
    let calls = 0;
    const row: BenchCase = { name: "r", unit: "ns", better: "lower", reference: "x", reps: 5, warmup: 1, goal: "<= 2", ours: () => (calls++, 1.2), ref: () => 1 };
    const own = await runCase(row);
    expect(own.ours?.samples).toHaveLength(5);
    process.env["MICROVM_BENCH_REPS"] = "9";
    const more = await runCase(row);
    expect(more.ours?.samples).toHaveLength(9);
    expect(calls).toBe(1 + 5 + 1 + 9);
    expect(more.check).toEqual({ interval: [1.2, 1.2], verdict: "met" });
  });
});

describe("the table and the verdict line", () => {
  it("prints each row's interval and verdict, and counts the verdicts", async () => {
    const rows = await Promise.all(
      [1.2, 1.9].map((r, i) =>
        runCase({ name: `row${i}`, unit: "ns", better: "lower", reference: "copy", reps: 5, warmup: 0, goal: "<= 1.5", ours: () => r, ref: () => 1 }),
      ),
    );
    rows.push(await runCase({ name: "nogoal", unit: "ns", better: "lower", reference: "copy", reps: 3, warmup: 0, ours: () => 3, ref: () => 1 }));
    rows.push(await runCase({ name: "skipped", unit: "ns", better: "lower", reference: "copy", goal: "<= 1", skip: () => "no QEMU", ours: () => 1, ref: () => 1 }));
    const table = formatTable(rows);
    expect(table).toMatch(/\| row0 .*\| <= 1\.5 \| 1\.20–1\.20x\s*\| met\s*\|/);
    expect(table).toMatch(/\| row1 .*\| <= 1\.5 \| 1\.90–1\.90x\s*\| missed\s*\|/);
    expect(table).toMatch(/\| nogoal .*\| -\s*\| -\s*\|/);
    expect(formatVerdicts(rows)).toBe("goals: 1 met, 1 missed, 0 at the line, 1 skipped");
  });
});
