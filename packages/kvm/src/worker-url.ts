/**
 * Where the worker entry files and handler modules are, for `new Worker()` and `import()`.
 *
 * Built package: the entries are `dist/vcpu-worker.js` and `dist/io-worker.js` (ESM, also used by
 * the CJS build), next to the module that resolves them. From source (this file ends in `.ts`, as
 * under vitest): Node 20 workers cannot load TypeScript, so the entry, or a `.ts` handler module, is
 * bundled once with esbuild (a devDependency of the monorepo) into `packages/kvm/.cache/workers/`,
 * named by content hash, so concurrent test processes agree on the file.
 *
 * @internal
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { KvmError } from "./errors.js";

const here: string = import.meta.url;
const fromSource = here.endsWith(".ts");
const built = new Map<string, Promise<string>>();

async function bundle(entry: string): Promise<string> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (e) {
    throw new KvmError("thread-failed", `${entry}: a TypeScript module needs esbuild to run in a worker; install it or pass a .js module`, { cause: e });
  }
  const res = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["koffi", "esbuild"],
    write: false,
    sourcemap: "inline",
    logLevel: "silent",
  });
  const text = res.outputFiles[0]?.text ?? "";
  // node:crypto only here, when a TypeScript module is bundled (it costs ~2 MiB to load).
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const dir = fileURLToPath(new URL("../.cache/workers/", here));
  mkdirSync(dir, { recursive: true });
  const base = entry.replace(/^.*\//, "").replace(/\.[cm]?ts$/, "");
  const file = `${dir}${base}-${hash}.mjs`;
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return pathToFileURL(file).href;
}

function cachedBundle(path: string): Promise<string> {
  let p = built.get(path);
  if (!p) {
    p = bundle(path);
    built.set(path, p);
    p.catch(() => built.delete(path));
  }
  return p;
}

/** @internal The URL of a worker entry (`vcpu-worker` or `io-worker`). */
export function workerEntry(name: "vcpu-worker" | "io-worker"): Promise<string> {
  if (fromSource) return cachedBundle(fileURLToPath(new URL(`./${name}.ts`, here)));
  return Promise.resolve(new URL(`./${name}.js`, here).href);
}

/** @internal Normalizes a handler module (path or URL) to an importable URL. */
export function handlerModule(spec: string | URL): Promise<string> {
  let url: URL;
  if (spec instanceof URL) url = spec;
  else if (typeof spec === "string" && spec.startsWith("file:")) url = new URL(spec);
  else if (typeof spec === "string" && spec.startsWith("/")) url = pathToFileURL(spec);
  else throw new KvmError("invalid-argument", `handler: expected an absolute path or a file: URL, got ${String(spec)}`);
  if (/\.[cm]?ts$/.test(url.pathname)) return cachedBundle(fileURLToPath(url));
  return Promise.resolve(url.href);
}
