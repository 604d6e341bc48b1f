#!/usr/bin/env node
/**
 * The `microvm` executable (package.json `bin`, built to dist/cli.cjs). Kept tiny: it answers
 * `microvm --version` itself, and otherwise loads the command line from a chunk of its own
 * through the compile cache below, then the machine only when a run is asked for, from further
 * chunks (dist/cli-*.cjs; see tsup.config.ts and docs/performance.md, "Start-up and footprint").
 *
 * @module
 */
import { readFileSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { cliVersion } from "./cli/version.js";
import { writeFd } from "./cli/write-fd.js";

interface Script {
  readonly cachedDataRejected?: boolean;
  runInThisContext(): (...args: unknown[]) => void;
  createCachedData(): Buffer;
}
type Loader = (this: unknown, m: NodeModule, filename: string) => void;

/**
 * A V8 code cache for the lazily loaded chunks (Node 20 has no module compile cache of its own):
 * each chunk is compiled with the cache V8 made for it on an earlier run, which holds the
 * functions that run compiled as well. When a run loads a chunk without a cache (or one V8
 * rejects: another Node, other V8 flags), it compiles it as usual and, when the process exits,
 * writes the caches of every chunk it loaded: they then also hold the functions this run needed
 * (a QEMU run after an --info-mtree adds the planner's functions to the planning chunk's cache).
 * Planning a machine and starting QEMU then compile ~6 ms less code on the development machine.
 * The cache is `$XDG_CACHE_HOME/microvm/v8-<node version>-<arch>/` (else `~/.cache/…`), or the
 * directory `MICROVM_COMPILE_CACHE` names; `MICROVM_COMPILE_CACHE=0` turns it off. Any failure to
 * read or write it is ignored. Only the built CLI (CommonJS) has chunks: from source this is a no-op.
 * Chunk names carry a hash of their content, so another build's caches never match this one's;
 * when a run writes its caches, it removes those of chunks this build does not have once they are
 * a week old (younger ones may belong to another installed version still in use), and leftover
 * temporary files a day old, so that upgrades do not pile caches up.
 */
function useCompileCache(): void {
  const setting = process.env["MICROVM_COMPILE_CACHE"];
  if (setting === "0" || typeof module === "undefined" || typeof __filename === "undefined" || !__filename.endsWith(".cjs")) return;
  const Module = module.constructor as unknown as { _extensions: Record<string, Loader>; wrap(src: string): string; createRequire(f: string): NodeJS.Require };
  const dist = dirname(__filename);
  let dir = setting;
  if (!dir) {
    const xdg = process.env["XDG_CACHE_HOME"];
    dir = join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".cache"), "microvm", `v8-${process.version}-${process.arch}`);
  }
  const cacheDir = dir;
  const plain = Module._extensions[".cjs"] ?? Module._extensions[".js"];
  if (!plain) return;
  const loaded = new Map<string, Script>();
  let stale = false;
  Module._extensions[".cjs"] = function (m, filename) {
    const name = basename(filename);
    if (dirname(filename) !== dist || !name.startsWith("cli-")) return plain.call(this, m, filename);
    const cacheFile = join(cacheDir, `${name}.v8`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // none yet
    }
    const source = readFileSync(filename, "utf8");
    // A chunk with an import() (a backend module the user names) is compiled by Node itself: a
    // vm.Script would need Node 20's experimental hook for it.
    if (source.includes("import(")) return plain.call(this, m, filename);
    const vm = m.require("node:vm") as { Script: new (src: string, o: { filename: string; cachedData?: Buffer }) => Script };
    const script = new vm.Script(Module.wrap(source), { filename, ...(cachedData ? { cachedData } : {}) });
    if (loaded.size === 0) process.once("exit", writeCaches);
    loaded.set(cacheFile, script);
    if (!cachedData || script.cachedDataRejected === true) stale = true;
    script.runInThisContext()(m.exports, Module.createRequire(filename), m, filename, dirname(filename));
  };
  function writeCaches(): void {
    if (!stale) return;
    try {
      mkdirSync(cacheDir, { recursive: true });
      for (const [file, script] of loaded) {
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, file);
      }
    } catch {
      // a read-only or absent home: run without a cache
    }
    prune();
  }
  function prune(): void {
    const day = 86_400_000;
    try {
      const ours = new Set(readdirSync(dist).filter((n) => n.startsWith("cli-")));
      for (const n of readdirSync(cacheDir)) {
        const tmp = /\.\d+\.tmp$/.test(n);
        const foreign = n.endsWith(".v8") && !ours.has(n.slice(0, -3));
        if (!tmp && !foreign) continue;
        const path = join(cacheDir, n);
        if (Date.now() - statSync(path).mtimeMs > (tmp ? day : 7 * day)) unlinkSync(path);
      }
    } catch {
      // another process pruning too, or no cache directory: nothing to do
    }
  }
}

/** `microvm --version` alone, answered without the command line's chunk; false if it is not that, or could not be written here. */
function answeredVersion(argv: readonly string[]): boolean {
  if (argv.length !== 1 || (argv[0] !== "--version" && argv[0] !== "-version")) return false;
  try {
    writeFd(1, `microvm ${cliVersion()}\n`);
    return true;
  } catch {
    return false; // the command line's path reports the error in its own words
  }
}

const argv = process.argv.slice(2);
if (!answeredVersion(argv)) {
  useCompileCache();
  void import("./cli/main.js")
    .then(({ runCli }) => runCli(argv))
    .then((code) => {
      // Worker threads and stdin would otherwise keep the process alive after the guest has ended.
      process.exit(code);
    });
}
