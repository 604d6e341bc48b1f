import { defineConfig } from "tsup";

export default defineConfig({
  // The worker entries are loaded by `new Worker()` from dist/ next to the module that resolves
  // them (src/worker-url.ts); both the ESM and the CJS build start the ESM worker files.
  entry: { index: "src/index.ts", "vcpu-worker": "src/vcpu-worker.ts", "io-worker": "src/io-worker.ts" },
  format: ["esm", "cjs"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  // import.meta.url in the CJS build (worker-url.ts resolves the worker files from it).
  shims: true,
  // Only used from source, to bundle TypeScript handler modules; never a runtime dependency.
  external: ["esbuild"],
});
