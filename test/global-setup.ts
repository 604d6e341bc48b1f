/**
 * Vitest's global set-up: the processes the tests start keep the CLI's compile cache in one
 * directory of this run (`MICROVM_COMPILE_CACHE`), removed at the end. The cache would otherwise go
 * to `$XDG_CACHE_HOME` or `$HOME/.cache`, and the tests run the CLI with `HOME=/nonexistent`,
 * which a root CI job would create and fill. (Only this variable: `XDG_CACHE_HOME` also locates
 * the built Linux kernels the tests boot.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  if (process.env["MICROVM_COMPILE_CACHE"] !== undefined) return () => {};
  const dir = mkdtempSync(join(tmpdir(), "microvm-test-cache-"));
  process.env["MICROVM_COMPILE_CACHE"] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
