/**
 * Helper programs the machine runs (QEMU, passt): found on PATH, started so that they die with this
 * process, and killed when this process exits, whatever the way out.
 *
 * @internal
 */
import type { ChildProcess, StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, join } from "node:path";

/**
 * Finds a program on PATH (a name with a slash is taken as a path).
 *
 * @param program - the name or path
 * @param env - the environment whose PATH is searched
 * @returns its path, or undefined
 * @example
 * ```ts
 * which("qemu-system-x86_64"); // "/usr/bin/qemu-system-x86_64"
 * ```
 */
export function which(program: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (program.includes("/")) return existsSync(program) ? program : undefined;
  for (const d of (env["PATH"] ?? "").split(delimiter)) {
    if (d && existsSync(join(d, program))) return join(d, program);
  }
  return undefined;
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * Starts a helper program bound to this process: `setpriv --pdeathsig KILL` (util-linux) makes
 * the kernel kill it when this process dies, even by SIGKILL; without setpriv, this process's
 * `exit` event kills it (normal exits and uncaught errors). It leaves the set once it has exited.
 *
 * @param binary - the program's path (see {@link which})
 * @param args - its arguments
 * @param stdio - as for `child_process.spawn` (fds and sockets after index 2 are passed on)
 * @returns the child
 * @example
 * ```ts
 * const child = spawnBound("/usr/bin/passt", ["-f", "-F", "3"], ["ignore", "ignore", "pipe", peer]);
 * ```
 */
export function spawnBound(binary: string, args: readonly string[], stdio: StdioOptions): ChildProcess {
  const setpriv = which("setpriv");
  const argv = setpriv ? [setpriv, "--pdeathsig", "KILL", "--", binary, ...args] : [binary, ...args];
  // node:child_process (with net and dgram, ~1 MiB) only when a helper is started: a KVM-engine
  // run without passt never loads it. A built-in resolves the same from any path: "/" rather than
  // import.meta.url, whose CommonJS shim costs ~0.7 ms of start-up (a file URL made and parsed).
  const { spawn } = createRequire("/")("node:child_process") as typeof import("node:child_process");
  const child = spawn(argv[0] as string, argv.slice(1), { stdio });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  return child;
}
