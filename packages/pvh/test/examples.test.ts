// Every @example in src/ typechecks against the package's public surface (strict settings,
// `"types": []` plus the DOM lib only for `console`). Examples that do not compile are caught here
// instead of by a reader.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const src = fileURLToPath(new URL("../src/", import.meta.url));
const root = fileURLToPath(new URL("../../../", import.meta.url));

function examples(): { file: string; code: string }[] {
  const out: { file: string; code: string }[] = [];
  for (const f of readdirSync(src).filter((n) => n.endsWith(".ts"))) {
    const text = readFileSync(join(src, f), "utf8");
    for (const m of text.matchAll(/@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/g)) {
      const code = (m[1] ?? "").split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n");
      out.push({ file: f, code });
    }
  }
  return out;
}

it("there is an example per documented export, and every one typechecks", () => {
  const list = examples();
  expect(list.length).toBeGreaterThan(50);
  const dir = mkdtempSync(join(tmpdir(), "pvh-examples-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.base.json"),
      compilerOptions: {
        types: [],
        lib: ["es2022", "dom"],
        isolatedDeclarations: false,
        declaration: false,
        allowImportingTsExtensions: true,
        paths: { "@microvm/pvh": [join(src, "index.ts")] },
      },
      include: ["*.ts"],
    }),
  );
  list.forEach((e, i) => writeFileSync(join(dir, `ex${i}-${e.file}`), `export {};\n${e.code}\n`));
  let output = "";
  try {
    execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    output = String((err as { stdout?: string }).stdout ?? err);
  }
  expect(output).toBe("");
});
