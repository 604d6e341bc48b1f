// Shared by the repository-level tests: makes sure the packages are built (./run test builds
// them first; a bare `vitest run` builds them here) and lists them.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root: string = fileURLToPath(new URL("..", import.meta.url));

/** Names of the workspace packages (directory names under packages/). */
export const packageNames: string[] = readdirSync(join(root, "packages"))
  .filter((n) => existsSync(join(root, "packages", n, "package.json")))
  .sort();

/** The codec packages, which must run without Node. */
export const codecPackages: readonly string[] = ["errors", "mptable", "pvh", "virtio-mmio", "acpi", "vhost-user"];

/** Builds every package whose dist/ is missing. */
export function ensureBuilt(): void {
  const missing = packageNames.filter((n) => !existsSync(join(root, "packages", n, "dist", "index.js")));
  if (missing.length === 0) return;
  execFileSync("pnpm", ["-r", ...missing.flatMap((n) => ["--filter", `@microvm/${n}`]), "run", "build"], {
    cwd: root,
    stdio: "ignore",
  });
}
