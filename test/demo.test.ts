// The main job (`./run demo`, scripts/demo.ts) on the QEMU engine, which every host has: the demo
// board with its in-process backends (a RAM disk served over vhost-user, the ARP responder behind
// -netdev stream) boots the test guest to a PASS report, and the guest's write reaches the RAM disk.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { qemuAvailable } from "./guests/harness.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = `${root}node_modules/.bin/tsx`;
const qemuMissing = qemuAvailable() ? undefined : "qemu-system-x86_64 not found (Debian package qemu-system-x86)";

function demo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tsx, [`${root}scripts/demo.ts`, ...args], { encoding: "utf8", timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(qemuMissing !== undefined)(`./run demo on the QEMU engine${qemuMissing ? ` (skipped: ${qemuMissing})` : ""}`, () => {
  it("boots the demo board with the same backends as on KVM: a PASS report, the RAM disk written, exit 0", () => {
    const r = demo("--engine", "qemu");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^summary pass=\d+ fail=0 result=PASS$/m);
    // the ARP responder answered through QEMU's virtio-net, the block device was ours
    expect(r.stdout).toMatch(/^ok virtio\.net0\.arp expected=reply:10\.0\.2\.2@52:55:0a:00:02:02 got=reply:10\.0\.2\.2@52:55:0a:00:02:02$/m);
    expect(r.stdout).toContain("demo machine on the QEMU engine (accel tcg)");
    expect(r.stdout).toContain("virtio blk (RAM disk, our device model over vhost-user)");
    expect(r.stdout).toMatch(/the guest ended by: triple-fault; report: \d+ checks passed, 0 failed, PASS; sector 5 written to the RAM disk: yes/);
  });

  it("negative control: a wrong --engine is refused with its value and exit status 2, before anything boots", () => {
    const r = demo("--engine", "firecracker");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[demo] --engine: expected kvm, qemu or auto, got firecracker');
    expect(r.stdout).not.toContain("summary");
  });
});
