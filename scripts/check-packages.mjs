#!/usr/bin/env node
// Packs every workspace package with pnpm (as it would be published: workspace: ranges rewritten)
// and runs publint and are-the-types-wrong on each tarball. Exits non-zero on any problem.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "microvm-pack-"));
const bin = (name) => join(root, "node_modules", ".bin", name);
let failed = 0;
try {
  for (const name of readdirSync(join(root, "packages")).sort()) {
    const dir = join(root, "packages", name);
    if (!existsSync(join(dir, "package.json"))) continue;
    if (!existsSync(join(dir, "dist", "index.js"))) {
      console.error(`@microvm/${name}: not built (run pnpm build first)`);
      failed++;
      continue;
    }
    const tarball = execFileSync("pnpm", ["pack", "--pack-destination", out], { cwd: dir, encoding: "utf8" })
      .trim()
      .split("\n")
      .pop();
    for (const [tool, args] of [
      ["publint", ["--strict", tarball]],
      ["attw", [tarball, "--format", "table-flipped"]],
    ]) {
      try {
        const text = execFileSync(bin(tool), args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        console.log(`@microvm/${name}: ${tool} ok`);
        if (process.env.VERBOSE) console.log(text);
      } catch (e) {
        failed++;
        console.error(`@microvm/${name}: ${tool} found problems:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (failed) {
  console.error(`${failed} package check(s) failed`);
  process.exit(1);
}
console.log("package checks passed");
