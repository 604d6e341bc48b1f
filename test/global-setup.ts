/**
 * Vitest's global set-up: every process the tests start gets one cache directory of this run
 * (`XDG_CACHE_HOME`), removed at the end. The CLI keeps its compile cache under `$XDG_CACHE_HOME`
 * (else `$HOME/.cache`), and the tests run it with `HOME=/nonexistent`, which a root CI job would
 * otherwise create and fill.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "microvm-test-cache-"));
  process.env["XDG_CACHE_HOME"] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
