import { defineConfig } from "tsup";

export default defineConfig({
  // The handler modules are loaded by @microvm/kvm on the vCPU and I/O threads, from dist/ next
  // to the module that names them (src/machine.ts).
  // cli: the `microvm` bin (package.json "bin"); it imports the machine lazily, from shared chunks.
  entry: { index: "src/index.ts", "vcpu-handler": "src/vcpu-handler.ts", "io-handler": "src/io-handler.ts", cli: "src/cli.ts" },
  format: ["esm", "cjs"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  shims: true,
});
