/**
 * `pnpm bench [regex]`: finds every `packages/* /bench/*.bench.ts` (and `bench/*.bench.ts`), runs
 * its rows, prints one table and writes the raw figures to `bench/results/latest.json`.
 * A bench file exports `cases: BenchCase[]` (or a function returning them).
 *
 * Each bench file runs in a Node process of its own (this script again, told the file by
 * `MICROVM_BENCH_FILE`, its results sent back over IPC), as JMH forks a JVM per benchmark: the
 * rows of one file do not inherit what another file's rows left in V8 (compiled code and its
 * type feedback; protectors such as the ArrayBuffer-detaching one, which a KVM machine's teardown
 * invalidates, after which optimised code checks every typed-array access for a detached
 * buffer). Ours and the reference of a row still run in the same process, in turn.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";
import { formatTable, formatVerdicts, repsFromEnv, runCase, type BenchCase, type BenchResult } from "./harness.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const filterArg = process.argv[2];
// A filter is a regular expression matched against row names (`pnpm bench "mptable|UART"`).
const filter = filterArg ? new RegExp(filterArg) : undefined;

function benchFiles(): string[] {
  const files: string[] = [];
  const pkgs = join(root, "packages");
  for (const p of readdirSync(pkgs).sort()) {
    const dir = join(pkgs, p, "bench");
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith(".bench.ts")) files.push(join(dir, f));
  }
  for (const f of readdirSync(join(root, "bench")).sort()) if (f.endsWith(".bench.ts")) files.push(join(root, "bench", f));
  return files;
}

/** Runs the rows of one bench file that the filter selects, in this process. */
async function runFile(file: string): Promise<BenchResult[]> {
  const mod = (await import(pathToFileURL(file).href)) as { cases: BenchCase[] | (() => BenchCase[] | Promise<BenchCase[]>) };
  const cases = typeof mod.cases === "function" ? await mod.cases() : mod.cases;
  const out: BenchResult[] = [];
  for (const c of cases) {
    if (filter && !filter.test(c.name)) continue;
    process.stderr.write(`bench: ${c.name} …\n`);
    out.push(await runCase(c));
  }
  return out;
}

/** Runs one bench file in a child process (this script, with the same loader flags) and collects its results. */
function forkFile(file: string): Promise<BenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...(filterArg ? [filterArg] : [])], {
      env: { ...process.env, MICROVM_BENCH_FILE: file },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Structured clone rather than JSON: a ratio with no finite value stays Infinity or NaN.
      serialization: "advanced",
    });
    let got: BenchResult[] | undefined;
    child.on("message", (m) => (got = m as BenchResult[]));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (got !== undefined && code === 0) resolve(got);
      else reject(new Error(`bench file ${file}: its process ended with ${signal ?? `exit code ${String(code)}`} before sending its results`));
    });
  });
}

const own = process.env["MICROVM_BENCH_FILE"];
if (own !== undefined) {
  // A child: one file's rows, sent to the parent.
  const out = await runFile(own);
  await new Promise<void>((resolve) => process.send?.(out, () => resolve()) ?? resolve());
  process.exit(0);
}

repsFromEnv(); // a wrong MICROVM_BENCH_REPS is refused before any row runs
const results: BenchResult[] = [];
for (const file of benchFiles()) results.push(...(await forkFile(file)));

console.log(formatTable(results));
console.log(`\n${formatVerdicts(results)}`);
const outDir = join(root, "bench", "results");
mkdirSync(outDir, { recursive: true });
const out = join(outDir, "latest.json");
writeFileSync(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, host: os.hostname(), results },
    null,
    2,
  ),
);
console.log(`\nraw figures: ${out}`);
