/**
 * `pnpm bench [regex]`: finds every `packages/* /bench/*.bench.ts` (and `bench/*.bench.ts`), runs
 * its rows, prints one table and writes the raw figures to `bench/results/latest.json`.
 * A bench file exports `cases: BenchCase[]` (or a function returning them).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";
import { formatTable, runCase, type BenchCase, type BenchResult } from "./harness.ts";

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

const results: BenchResult[] = [];
for (const file of benchFiles()) {
  const mod = (await import(pathToFileURL(file).href)) as { cases: BenchCase[] | (() => BenchCase[] | Promise<BenchCase[]>) };
  const cases = typeof mod.cases === "function" ? await mod.cases() : mod.cases;
  for (const c of cases) {
    if (filter && !filter.test(c.name)) continue;
    process.stderr.write(`bench: ${c.name} …\n`);
    results.push(await runCase(c));
  }
}

console.log(formatTable(results));
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
