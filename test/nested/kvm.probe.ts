// Runs inside the nested-KVM lane's guest: a real-mode guest on that guest's /dev/kvm reads a
// port, adds one and writes it back. The exit handler answers the read with 0x41, so the write must
// be 0x42. With MICROVM_LANE_BREAK=1 the handler answers wrongly (0x10): the deliberately broken
// exit handler of the lane's negative control, which must turn this test, and the lane, red.
import { expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { fixture, newVm, realMode } from "../../packages/kvm/test/helpers.ts";

it("a guest on the lane's /dev/kvm gets its port read answered and its write seen", async () => {
  const kvm = Kvm.open();
  const { vm, ram } = newVm(kvm, 0x10000);
  // mov dx, 0x66; in al, dx; inc al; out dx, al; hlt
  ram.set([0xba, 0x66, 0x00, 0xec, 0xfe, 0xc0, 0xee, 0xf4], 0x1000);
  const vcpu = vm.createVcpu(0);
  realMode(vcpu);
  const log = new SharedArrayBuffer(4 * 64);
  const inValue = process.env["MICROVM_LANE_BREAK"] === "1" ? 0x10 : 0x41;
  const t = await vm.startVcpu(vcpu, { handler: fixture("recorder.ts"), data: { log, inValue } });
  const result = await t.done;
  expect(result.reason).toBe("hlt");
  const l = new Int32Array(log);
  // entries from index 4: kind (2 in, 1 out), port, value, size
  expect([...l.subarray(4, 12)]).toEqual([2, 0x66, inValue, 1, 1, 0x66, 0x42, 1]);
  await vm.close();
  kvm.close();
});
