// The build of a pure package (mptable, pvh, virtio-mmio, acpi, vhost-user, errors): one entry,
// ES module and CommonJS, declarations and source maps, ES2022. Each package's tsup.config.ts
// re-exports it; packages with more entries (kvm, microvm) have their own.
import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
});
