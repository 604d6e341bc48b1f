// The nested-KVM lane's probe (lane.test.ts runs it inside the lane's guest): one file, the KVM
// package from source, nothing else of the suite.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../../", import.meta.url));
export default defineConfig({
  resolve: { alias: { "@microvm/kvm": `${root}packages/kvm/src/index.ts` } },
  test: { root: `${root}test/nested`, include: ["*.probe.ts"], testTimeout: 120_000 },
});
