// The packages `pnpm mutate` knows (scripts/mutate.mjs): the sources Stryker mutates in each
// (files, or directories taken recursively: every .ts file but declarations) and the goal from
// issue 17, the share of mutants the package's own tests must kill.
export const PACKAGES = {
  mptable: { sources: ["packages/mptable/src"], goal: 90 },
  pvh: { sources: ["packages/pvh/src"], goal: 90 },
  // The queue, the transport and the device models. The backends, guest memory and the
  // hostile-check counters are not codecs (docs/testing.md, "Mutation testing").
  "virtio-mmio": {
    sources: ["packages/virtio-mmio/src/split-queue.ts", "packages/virtio-mmio/src/transport.ts", "packages/virtio-mmio/src/feature-bits.ts", "packages/virtio-mmio/src/devices"],
    goal: 85,
  },
  // A codec like mptable; its goal is mptable's (not yet run: docs/testing.md).
  acpi: { sources: ["packages/acpi/src"], goal: 90 },
};
