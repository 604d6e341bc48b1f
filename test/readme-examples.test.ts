// Every TypeScript example in a package's README type-checks against that package as a user
// installs it: the ```ts blocks are written into a scratch directory inside the package (so that
// `@microvm/<name>` resolves to the package itself, through its exports, and its dependencies
// through its node_modules) and compiled with tsc, strict. Negative control: a block with a wrong
// argument type is refused by the same compiler run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureBuilt, packageNames, root } from "./build.ts";

ensureBuilt();
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const scratchDirs: string[] = [];
afterAll(() => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

/** The ```ts blocks of a markdown file. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

/** Type-checks `blocks` as modules inside package `name`; returns tsc's status and output. */
function typecheck(name: string, blocks: readonly string[]): { status: number | null; out: string } {
  const dir = join(root, "packages", name, `.readme-check-${process.pid}`);
  scratchDirs.push(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  blocks.forEach((b, i) => writeFileSync(join(dir, `example-${i}.ts`), `${b}\nexport {};\n`));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "es2022", moduleResolution: "bundler", lib: ["es2022"], types: ["node"], skipLibCheck: true },
      include: ["*.ts"],
    }),
  );
  const r = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the READMEs' TypeScript examples", () => {
  const withExamples = packageNames.filter((n) => tsBlocks(readFileSync(join(root, "packages", n, "README.md"), "utf8")).length > 0);

  it("every package's README has one", () => {
    expect(withExamples).toEqual(packageNames);
  });

  it.each(withExamples)("@microvm/%s: its README's examples type-check against the package", (name) => {
    const r = typecheck(name, tsBlocks(readFileSync(join(root, "packages", name, "README.md"), "utf8")));
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);

  it("negative control: a wrong argument type in an example is an error", () => {
    const r = typecheck("mptable", ['import { encodeMpTable } from "@microvm/mptable";\nencodeMpTable({ address: "0x9fc00", cpus: 2 });']);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/error TS2322|error TS2345|error TS2769/);
  }, 120_000);
});
