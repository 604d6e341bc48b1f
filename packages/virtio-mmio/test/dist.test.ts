/** Imports the built package (ESM and CJS) the way a user would. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const dist = new URL("../dist/", import.meta.url);
const built = existsSync(new URL("index.js", dist)) && existsSync(new URL("index.cjs", dist));

describe.skipIf(!built)(`built package${built ? "" : " (skipped: dist/ is not built; run pnpm --filter @microvm/virtio-mmio build)"}`, () => {
  it("ESM and CJS builds export the same working API", async () => {
    const esm = (await import(new URL("index.js", dist).href)) as typeof import("../src/index.ts");
    const cjs = createRequire(import.meta.url)("../dist/index.cjs") as typeof import("../src/index.ts");
    for (const m of [esm, cjs]) {
      const mem = new m.GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x1000) }]);
      const t = new m.MmioTransport({ memory: mem, device: new m.RngDevice(), interrupt: () => {} });
      expect(t.read(m.MmioReg.MagicValue, 4)).toBe(0x74726976);
      // A read past guest memory throws; the guard of either copy recognises the error.
      let err: unknown;
      try {
        mem.read8(0x1000);
      } catch (e) {
        err = e;
      }
      expect(err, "reading past guest memory must throw").toBeDefined();
      expect(esm.isVirtioError(err)).toBe(true);
      expect(cjs.isVirtioError(err)).toBe(true);
    }
    expect(Object.keys(esm).sort()).toEqual(Object.keys(cjs).filter((k) => k !== "default").sort());
  });
});

// The objects on every request's path keep V8's fast properties: an object in dictionary mode
// (an object literal with a getter was one: the transport's DeviceHost) costs a hash lookup per
// property access, which no functional test sees. Checked in a child process with V8's
// `%HasFastProperties`; the probe's own literal with a getter is the negative control.
describe.skipIf(!built)("V8 object shapes on the request path (built package)", () => {
  it("the transport, its DeviceHost, the queues and a device have fast properties; a literal with a getter does not", async () => {
    const { execFileSync } = await import("node:child_process");
    const probe = `
      const m = await import(${JSON.stringify(new URL("index.js", dist).href)});
      const mem = new m.GuestMemory([{ guestAddress: 0n, bytes: new Uint8Array(0x10000) }]);
      let host;
      const dev = new m.RngDevice();
      const activate = dev.activate.bind(dev);
      dev.activate = (h) => { host = h; activate(h); };
      const t = new m.MmioTransport({ memory: mem, device: dev, interrupt: () => {} });
      const w = (r, v) => t.write(r, 4, v);
      w(m.MmioReg.Status, m.Status.Acknowledge | m.Status.Driver);
      for (const sel of [0, 1]) {
        w(m.MmioReg.DeviceFeaturesSel, sel);
        w(m.MmioReg.DriverFeaturesSel, sel);
        w(m.MmioReg.DriverFeatures, t.read(m.MmioReg.DeviceFeatures, 4));
      }
      w(m.MmioReg.Status, m.Status.Acknowledge | m.Status.Driver | m.Status.FeaturesOk);
      w(m.MmioReg.Status, m.Status.Acknowledge | m.Status.Driver | m.Status.FeaturesOk | m.Status.DriverOk);
      const control = { a: 1, get b() { return 2; } };
      console.log(JSON.stringify({ transport: %HasFastProperties(t), host: host !== undefined && %HasFastProperties(host), device: %HasFastProperties(dev), memory: %HasFastProperties(mem), control: %HasFastProperties(control) }));
    `;
    const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", probe], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({ transport: true, host: true, device: true, memory: true, control: false });
  });
});
