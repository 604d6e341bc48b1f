/**
 * The `microvm` bin's version, from the package's package.json. Its own module: the bin answers
 * `microvm --version` with it before it loads the command line's chunk (src/cli.ts).
 *
 * @module
 */
import { readFileSync } from "node:fs";

/**
 * The version of `@microvm/microvm` this bin belongs to.
 *
 * @returns e.g. `0.1.0`; `0.0.0` when no package.json of the package is found
 * @example
 * ```ts
 * console.log(`microvm ${cliVersion()}`);
 * ```
 */
export function cliVersion(): string {
  // package.json is one level up from dist/cli.cjs and its chunks, two from src/cli/.
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "@microvm/microvm") return pkg.version ?? "0.0.0";
    } catch {
      // try the next
    }
  }
  return "0.0.0";
}
