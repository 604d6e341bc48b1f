// The package in a browser-like context: bundled by esbuild for the browser platform and run in a
// fresh V8 context with no Node globals (no process, Buffer or require), as the codec rule asks.
import { build } from "esbuild";
import { runInNewContext } from "node:vm";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));
const example = `
import { FieldError, codedErrorGuard } from ${JSON.stringify(entry)};
class TableError extends FieldError {
  constructor(code, field, detail) { super("TableError", code, field, detail); }
}
const isTableError = codedErrorGuard("TableError", { "out-of-range": true });
try { throw new TableError("out-of-range", "cpus", "expected 1..254, got 300"); }
catch (e) { console.log((isTableError(e) ? "error " + e.code : "unexpected") + " " + e.message); }
console.log("copy " + isTableError({ name: "TableError", code: "out-of-range" }) + " " + isTableError({ name: "TableError", code: "nope" }));
`;

describe("@microvm/errors in a browser-like context", () => {
  it("bundles for the browser platform and runs without Node globals", async () => {
    const out = await build({ stdin: { contents: example, resolveDir: process.cwd(), loader: "ts" }, bundle: true, platform: "browser", format: "iife", write: false, logLevel: "silent" });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:/);
    expect(code).not.toMatch(/\bBuffer\b|\bprocess\b/);
    const lines: string[] = [];
    runInNewContext(code, { console: { log: (s: string) => lines.push(s) } }, { timeout: 10_000 });
    expect(lines).toEqual(["error out-of-range cpus: expected 1..254, got 300", "copy true false"]);
  });
});
