// The packages as a user gets them: packed by pnpm (workspace ranges rewritten), installed with
// npm into a scratch project outside the workspace, then imported as ESM and required as CJS.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, packageNames, root } from "./build.ts";

let dir = "";
const tarballs = new Map<string, string>();

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "microvm-packed-"));
  const packDir = join(dir, "tarballs");
  for (const n of packageNames) {
    const out = execFileSync("pnpm", ["pack", "--pack-destination", packDir], { cwd: join(root, "packages", n), encoding: "utf8" });
    tarballs.set(`@microvm/${n}`, out.trim().split("\n").pop()!);
  }
  const app = join(dir, "app");
  execFileSync("mkdir", ["-p", app]);
  const deps = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]));
  // overrides: a package that depends on another @microvm package gets the local tarball too.
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "scratch", private: true, dependencies: deps, overrides: deps }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app, stdio: "pipe" });
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(file: string, code: string): string {
  const app = join(dir, "app");
  writeFileSync(join(app, file), code);
  return execFileSync(process.execPath, [file], { cwd: app, encoding: "utf8" });
}

describe("packed packages installed with npm", () => {
  it.each(packageNames)("@microvm/%s's tarball carries its LICENSE and a README that is more than a placeholder", (n) => {
    const files = execFileSync("tar", ["-tzf", tarballs.get(`@microvm/${n}`) as string], { encoding: "utf8" }).split("\n");
    expect(files).toContain("package/LICENSE");
    expect(files).toContain("package/README.md");
    const readme = execFileSync("tar", ["-xzOf", tarballs.get(`@microvm/${n}`) as string, "package/README.md"], { encoding: "utf8" });
    expect(readme).not.toMatch(/work in progress/i);
    expect(readme.length).toBeGreaterThan(500);
  });

  it.each(packageNames)("@microvm/%s's tarball points at no file outside itself (no design notes or repository docs it does not carry)", (n) => {
    const tgz = tarballs.get(`@microvm/${n}`) as string;
    const files = execFileSync("tar", ["-tzf", tgz], { encoding: "utf8" }).split("\n").filter((f) => /\.(js|cjs|mjs|ts|cts|md|json)$/.test(f));
    const dangling = /ARCHITECTURE\.md|CONVENTIONS\.md|mptable_pvh|shared\/reference|docs\/(architecture|engines|testing|machine|cli|linux|performance|test-guests|contributing)\.md/;
    const hits: string[] = [];
    for (const f of files) {
      const text = execFileSync("tar", ["-xzOf", tgz, f], { encoding: "utf8", maxBuffer: 64 << 20 });
      const m = dangling.exec(text);
      if (m) hits.push(`${f}: ${m[0]}`);
    }
    expect(hits).toEqual([]);
  });

  it.each(packageNames)("@microvm/%s imports as ESM and requires as CJS with the same exports", (n) => {
    const esm = run(`esm-${n}.mjs`, `import * as m from "@microvm/${n}"; console.log(JSON.stringify(Object.keys(m).sort()));`);
    const cjs = run(`cjs-${n}.cjs`, `const m = require("@microvm/${n}"); console.log(JSON.stringify(Object.keys(m).sort()));`);
    const esmKeys = JSON.parse(esm) as string[];
    expect(esmKeys.length).toBeGreaterThan(0);
    expect(JSON.parse(cjs)).toEqual(esmKeys);
  });

  it("@microvm/mptable works from the tarball in both module systems", () => {
    const code = (imp: string): string => `${imp}
const b = encodeMpTable({ address: 0x9fc00, cpus: 3 });
const t = decodeMpTable(b, 0x9fc00);
let e; try { encodeMpTable({ address: 0x9fc00, cpus: 0 }); } catch (x) { e = x; }
console.log(JSON.stringify({ len: b.length, cpus: t.processors.length, guard: isMptableError(e), code: e.code }));`;
    const expected = { len: 16 + 44 + 3 * 20 + 8 + 8 + 16 * 8 + 2 * 8, cpus: 3, guard: true, code: "no-cpus" };
    expect(JSON.parse(run("mpt.mjs", code(`import { encodeMpTable, decodeMpTable, isMptableError } from "@microvm/mptable";`)))).toEqual(expected);
    expect(JSON.parse(run("mpt.cjs", code(`const { encodeMpTable, decodeMpTable, isMptableError } = require("@microvm/mptable");`)))).toEqual(expected);
  });
});
