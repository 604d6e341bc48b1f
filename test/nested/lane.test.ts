// The nested-KVM lane tested (scripts/nested/lane.ts, docs/testing.md): a probe on the lane's
// /dev/kvm passes; the same probe with a deliberately broken exit handler turns the lane red; a
// guest the lane cannot start fails loudly with the reason, never as a skip. Needs QEMU (TCG), the
// Debian packages the lane installs, and Debian's registry for the cloud kernel (cached afterwards).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { qemuAvailable } from "../guests/harness.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 not found";
const notRoot = process.getuid?.() === 0 ? undefined : "not root: virtiofsd shares the host's root and needs it";
const why = noQemu ?? notRoot;

/** Runs the lane (quietly) with the probe suite; returns its status and output. */
function lane(...opts: string[]): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(root, "scripts/nested/lane.ts"), "--quiet", "--timeout-min", "10", ...opts, "vitest", "--config", join(root, "test/nested/vitest.probe.config.ts")],
    { cwd: root, encoding: "utf8", timeout: 15 * 60_000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const jobsLeft = (): string[] => (existsSync(join(root, ".cache/nested")) ? readdirSync(join(root, ".cache/nested")).filter((n) => n.startsWith(`job-`)) : []);

describe.skipIf(why !== undefined)(`the nested-KVM lane${why ? ` (skipped: ${why})` : ""}`, () => {
  it("runs the probe on the guest's /dev/kvm (AMD SVM under TCG) and reports it in its summary", () => {
    const before = jobsLeft();
    const r = lane();
    expect(r.status, r.out).toBe(0);
    expect(r.out, r.out).toMatch(/^tests: 1 passed, 0 failed, 0 skipped$/m);
    expect(jobsLeft()).toEqual(before); // the job's directory is gone
  }, 16 * 60_000);

  it("negative control: a deliberately broken exit handler turns the nested run red", () => {
    const r = lane("--env", "MICROVM_LANE_BREAK=1");
    expect(r.status, r.out).toBe(1);
    expect(r.out, r.out).toMatch(/^tests: 0 passed, 1 failed, 0 skipped$/m);
    expect(r.out).toMatch(/\[nested\] .*kvm\.probe\.ts/);
  }, 16 * 60_000);

  it("a guest the lane cannot start fails loudly, with the reason, not as a skip", () => {
    const r = lane("--mem-mib", "16"); // too little RAM for the kernel: it never gets to /init
    expect(r.status, r.out).toBe(2);
    expect(r.out).toMatch(/\[nested\] lane FAILED after \d+ s: the guest never got its \/dev\/kvm/);
    expect(r.out).not.toMatch(/skipped/);
  }, 5 * 60_000);
});
