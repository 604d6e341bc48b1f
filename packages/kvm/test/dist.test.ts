// Imports the built package (ESM and CJS) the way a user would, and runs a guest through a vCPU
// worker from each: the worker entry must be found next to dist/index.js and dist/index.cjs.
// `pnpm build` (or ./run test) first; without dist/ the suite is skipped.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fixture, kvmTitle, kvmUnavailable } from "./helpers.ts";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const built = existsSync(`${dist}index.js`) && existsSync(`${dist}index.cjs`) && existsSync(`${dist}vcpu-worker.js`);

type Api = typeof import("../src/index.ts");

async function runGuest(api: Api): Promise<void> {
  const kvm = api.Kvm.open();
  const vm = kvm.createVm();
  vm.setTssAddress();
  const ram = vm.addRam({ guestAddress: 0, size: 0x10000 });
  ram.bytes.set([0xe4, 0x20, 0xe6, 0x10, 0xf4], 0x1000); // in al, 0x20; out 0x10, al; hlt
  const vcpu = vm.createVcpu(0);
  vcpu.setSregs({ cs: { base: 0, selector: 0 } });
  vcpu.setRegs({ rip: 0x1000, rflags: 2 });
  const t = await vm.startVcpu(vcpu, { handler: fixture("echo.mjs"), data: { value: 0x5c } });
  const r = await t.done;
  expect(r.reason).toBe("handler");
  expect(r.message).toBe("out 0x10 = 0x5c");
  await vm.close();
  kvm.close();
}

describe.skipIf(!built)(`built package${built ? "" : ` (skipped: ${dist} has not been built; run pnpm build)`}`, () => {
  const noKvm = kvmUnavailable !== undefined;
  it("ESM and CJS entries export the same names", async () => {
    const esm = (await import(`${dist}index.js`)) as Api;
    const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as Api;
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).sort());
    expect(Object.keys(esm)).toContain("Kvm");
  });
  it.skipIf(noKvm)(kvmTitle("ESM entry runs a guest on a vCPU worker"), async () => {
    await runGuest((await import(`${dist}index.js`)) as Api);
  });
  it.skipIf(noKvm)(kvmTitle("CJS entry runs a guest on a vCPU worker"), async () => {
    const require = createRequire(import.meta.url);
    await runGuest(require(`${dist}index.cjs`) as Api);
  });
  it("an error from the ESM copy is recognised by the CJS copy's guard (name + code, not instanceof)", async () => {
    const esm = (await import(`${dist}index.js`)) as Api;
    const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as Api;
    const e = new esm.KvmError("out-of-range", "slot: expected 0..65535, got 70000");
    expect(cjs.isKvmError(e)).toBe(true);
    expect(e instanceof cjs.KvmError).toBe(false);
  });
});
