#!/usr/bin/env node
// pnpm mutate [package...] [--file <path>]... [--max-minutes N] [stryker options]
//
// Mutation testing with StrykerJS over the codec packages (docs/testing.md, "Mutation testing").
// For each package named (mptable, pvh, virtio-mmio; default all three in turn) it runs
// `stryker run scripts/mutation/stryker.config.mjs --mutate <file>` once per source file (so a
// stopped or failed run loses one file, not the package, and a changed file can be re-run alone),
// then merges the reports. Into reports/mutation/<package>/ (gitignored) it writes:
//   mutation.json      the merged report (mutation-testing-report-schema), one entry per file
//   summary.txt        the score per file and in total, the counts, the run time
//   survivors.txt      one line per surviving or uncovered mutant: file:line:col, status, mutator, change
//   mutation.html      the merged report, browsable (Stryker's HTML report page)
//   clear-text.txt     Stryker's console output for every file (its clear-text report at the end of each)
//   files/<file>.json  each file's own report
//
// --file <path>     only this source file (repeatable; a path under one of the package's sources)
// --max-minutes N   the time budget per package: files are then taken smallest first, a file's run
//                   is stopped when the budget runs out, and the files not reached are listed as
//                   not run (MUTATE_MAX_MINUTES sets a default)
// Any other option goes to Stryker, e.g. `--incremental` (per file: only mutants whose code or
// tests changed since that file's last run), `--concurrency 2`, `--logLevel debug`.
// Exits 1 when a run failed, was stopped or left files out; a low score is reported, not an error.
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { PACKAGES } from "./mutation/packages.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const require = createRequire(import.meta.url);
const strykerDir = dirname(require.resolve("@stryker-mutator/core/package.json"));
const stryker = join(strykerDir, "bin", "stryker.js");

/** The merged report as a page, the way Stryker's own HTML reporter writes one. */
function reportHtml(report, title) {
  const elements = createRequire(join(strykerDir, "package.json")).resolve("mutation-testing-elements/dist/mutation-test-elements.js");
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${title}</title><script>${readFileSync(elements, "utf8")}</script></head>
<body>
<mutation-test-report-app titlePostfix="${title}"></mutation-test-report-app>
<script>document.querySelector("mutation-test-report-app").report = ${JSON.stringify(report).replace(/</g, '<"+"')};</script>
</body>
</html>
`;
}

const names = [];
const only = [];
const passThrough = [];
let maxMinutes = Number(process.env.MUTATE_MAX_MINUTES ?? 0);
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--") continue;
  if (a === "-h" || a === "--help") {
    console.log(`usage: pnpm mutate [${Object.keys(PACKAGES).join("|")} ...] [--file <path>]... [--max-minutes N] [stryker options]`);
    process.exit(0);
  }
  if (a === "--max-minutes") maxMinutes = Number(argv[++i]);
  else if (a === "--file") only.push(relative(root, join(process.cwd(), argv[++i])));
  else if (a in PACKAGES) names.push(a);
  else if (!a.startsWith("-") && passThrough.length === 0) {
    console.error(`mutate: unknown package "${a}" (one of ${Object.keys(PACKAGES).join(", ")})`);
    process.exit(2);
  } else passThrough.push(a);
}
if (!(maxMinutes >= 0)) {
  console.error("mutate: --max-minutes takes a number of minutes");
  process.exit(2);
}
if (names.length === 0) names.push(...Object.keys(PACKAGES).filter((n) => only.length === 0 || only.some((f) => f.startsWith(`packages/${n}/`))));

/** The package's source files, sorted: its `sources` entries, directories taken recursively. */
function sourceFiles(name) {
  const out = [];
  const walk = (p) => {
    if (statSync(join(root, p)).isDirectory()) for (const e of readdirSync(join(root, p)).sort()) walk(`${p}/${e}`);
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  };
  for (const s of PACKAGES[name].sources) walk(s);
  return out;
}

/** Runs Stryker on one file; resolves with its exit status, or null when stopped at `deadline`. */
function runFile(name, file, tag, deadline, logFile) {
  const tempDir = `.stryker-tmp/${name}-${process.pid}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [stryker, "run", "scripts/mutation/stryker.config.mjs", "--mutate", file, ...passThrough], {
      cwd: root,
      env: {
        ...process.env,
        MUTATE_PACKAGE: name,
        MUTATE_REPORT_TAG: tag,
        MUTATE_TEMP_DIR: tempDir,
        // hostile.prop.test.ts draws its own seed; a fixed one gives every mutant the same cases.
        VIRTIO_PROP_SEED: process.env.VIRTIO_PROP_SEED ?? "1",
        FORCE_COLOR: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so that stopping it stops its test runners too
    });
    for (const s of [child.stdout, child.stderr]) {
      s.on("data", (d) => {
        process.stdout.write(d);
        appendFileSync(logFile, String(d).replace(/\x1b\[[0-9;]*m/g, ""));
      });
    }
    const stop = () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    };
    // Stopping this script (Ctrl-C, a CI timeout) stops Stryker and its test runners with it.
    const forward = () => {
      stop();
      rmSync(join(root, tempDir), { recursive: true, force: true });
      process.exit(130);
    };
    process.once("SIGINT", forward);
    process.once("SIGTERM", forward);
    let stopped = false;
    const timer = deadline
      ? setTimeout(() => {
          stopped = true;
          console.log(`\nmutate: ${file}: stopped, the ${maxMinutes}-minute budget is spent`);
          stop();
        }, Math.max(0, deadline - Date.now()))
      : undefined;
    child.on("close", (code) => {
      clearTimeout(timer);
      process.removeListener("SIGINT", forward);
      process.removeListener("SIGTERM", forward);
      // Stryker removes its temp dir when it ends by itself, not when it is stopped.
      rmSync(join(root, tempDir), { recursive: true, force: true });
      try {
        rmdirSync(join(root, ".stryker-tmp")); // only when empty: another run may be using it
      } catch {}
      resolve(stopped ? null : code);
    });
  });
}

/** Counts and the score of a list of mutants (Stryker's definition: detected / valid). */
function score(mutants) {
  const count = {};
  for (const m of mutants) count[m.status] = (count[m.status] ?? 0) + 1;
  const n = (s) => count[s] ?? 0;
  const detected = n("Killed") + n("Timeout");
  const valid = detected + n("Survived") + n("NoCoverage");
  return { count, n, valid, pct: valid ? (100 * detected) / valid : NaN };
}

/** One line per surviving or uncovered mutant. */
function survivorLines(file, f) {
  const lines = f.source.split("\n");
  const oneLine = (s) => s.replace(/\s*\n\s*/g, " ").slice(0, 160);
  const out = [];
  for (const m of [...f.mutants].sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column)) {
    if (m.status !== "Survived" && m.status !== "NoCoverage") continue;
    const { start, end } = m.location;
    const original =
      start.line === end.line
        ? lines[start.line - 1].slice(start.column - 1, end.column - 1)
        : [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1), lines[end.line - 1].slice(0, end.column - 1)].join("\n");
    out.push(`${file}:${start.line}:${start.column}\t${m.status}\t${m.mutatorName}\t${oneLine(original)}  ->  ${oneLine(m.replacement ?? "")}`);
  }
  return out;
}

const pct = (x) => (Number.isNaN(x) ? "n/a" : `${x.toFixed(2)} %`);
let failed = false;
const results = [];
for (const name of names) {
  const { goal } = PACKAGES[name];
  const out = join(root, "reports", "mutation", name);
  const all = sourceFiles(name);
  // With a budget, the smallest files first: a stopped run then has as many whole files as it can.
  const bySize = (a, b) => statSync(join(root, a)).size - statSync(join(root, b)).size;
  const files = (only.length ? all.filter((f) => only.includes(f)) : all).sort(maxMinutes > 0 ? bySize : () => 0);
  if (only.length && files.length === 0) {
    console.error(`mutate: ${name}: none of ${only.join(", ")} is among its sources (${all.join(", ")})`);
    process.exit(2);
  }
  // A whole-package run starts afresh; a --file run replaces those files' reports and keeps the others.
  if (!only.length) rmSync(join(out, "files"), { recursive: true, force: true });
  mkdirSync(join(out, "files"), { recursive: true });
  const logFile = join(out, "clear-text.txt");
  writeFileSync(logFile, "");
  const t0 = Date.now();
  const deadline = maxMinutes > 0 ? t0 + maxMinutes * 60_000 : 0;
  console.log(`mutate: ${name}: ${files.length} file(s), goal ${goal} %${maxMinutes ? `, budget ${maxMinutes} min` : ""}`);
  const tagOf = (file) => relative(`packages/${name}/src`, file).replaceAll("/", "_");
  const minutesOf = new Map();
  const notRun = [];
  for (const file of files) {
    if (deadline && Date.now() >= deadline) {
      notRun.push(file);
      continue;
    }
    const tag = tagOf(file);
    rmSync(join(out, "files", `${tag}.json`), { force: true });
    const f0 = Date.now();
    console.log(`\nmutate: ${file}`);
    appendFileSync(logFile, `\n===== ${file}\n`);
    const code = await runFile(name, file, tag, deadline, logFile);
    const min = ((Date.now() - f0) / 60_000).toFixed(1);
    minutesOf.set(file, min);
    if (code !== 0) {
      failed = true;
      notRun.push(`${file} (${code === null ? "stopped by the budget" : `stryker exit ${code}`} after ${min} min)`);
    }
  }
  // The merged report: every source file's latest report. Each run numbers the tests its own
  // way, so tests are renumbered by test file and name.
  const merged = { files: {}, testFiles: {} };
  const testIds = new Map();
  const rows = [];
  for (const file of all) {
    const json = join(out, "files", `${tagOf(file)}.json`);
    if (!existsSync(json)) continue;
    const { files: rf, testFiles = {}, ...rest } = JSON.parse(readFileSync(json, "utf8"));
    const local = new Map();
    for (const [testFile, tf] of Object.entries(testFiles)) {
      const into = (merged.testFiles[testFile] ??= { ...tf, tests: [] });
      for (const t of tf.tests) {
        const key = `${testFile}#${t.name}`;
        if (!testIds.has(key)) {
          testIds.set(key, String(testIds.size));
          into.tests.push({ ...t, id: testIds.get(key) });
        }
        local.set(t.id, testIds.get(key));
      }
    }
    const remap = (ids) => ids && ids.map((id) => local.get(id) ?? id);
    // Mutant ids are per run too: prefixed with the file's tag.
    for (const f of Object.values(rf)) {
      f.mutants = f.mutants.map((m) => ({ ...m, id: `${tagOf(file)}:${m.id}`, coveredBy: remap(m.coveredBy), killedBy: remap(m.killedBy) }));
    }
    Object.assign(merged, rest, { files: { ...merged.files, ...rf }, testFiles: merged.testFiles });
    const s = score(Object.values(rf).flatMap((x) => x.mutants));
    if (s.valid > 0) rows.push({ file, s, min: minutesOf.get(file) ?? "earlier" });
  }
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  if (notRun.length) failed = true;
  const total = score(Object.values(merged.files).flatMap((x) => x.mutants));
  const survivors = Object.entries(merged.files).flatMap(([file, f]) => survivorLines(file, f));
  writeFileSync(join(out, "mutation.json"), JSON.stringify(merged));
  writeFileSync(join(out, "mutation.html"), reportHtml(merged, `microvm ${name}`));
  writeFileSync(join(out, "survivors.txt"), survivors.join("\n") + (survivors.length ? "\n" : ""));
  const col = (s) => `${pct(s.pct).padStart(9)} ${String(s.n("Killed")).padStart(6)} ${String(s.n("Timeout")).padStart(7)} ${String(s.n("Survived")).padStart(8)} ${String(s.n("NoCoverage")).padStart(6)}`;
  const summary = [
    `${name}: mutation score ${pct(total.pct)} (goal ${goal} %), ${total.valid} mutants, ${minutes} min, ${new Date().toISOString()}`,
    `${"file".padEnd(44)}     score killed timeout survived no-cov     min`,
    ...rows.map((r) => `${r.file.padEnd(44)} ${col(r.s)} ${r.min.padStart(7)}`),
    `${"total".padEnd(44)} ${col(total)} ${minutes.padStart(7)}`,
    ...(notRun.length ? ["not run:", ...notRun.map((f) => `  ${f}`)] : []),
    `${survivors.length} survivors (survived or not covered): reports/mutation/${name}/survivors.txt`,
  ].join("\n");
  writeFileSync(join(out, "summary.txt"), summary + "\n");
  results.push(summary);
}
console.log(`\n${results.join("\n\n")}`);
process.exit(failed ? 1 : 0);
