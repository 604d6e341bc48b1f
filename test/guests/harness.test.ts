// Unit tests of the report parser and comparison, and of QEMU's command line (no KVM or QEMU needed).
import { describe, expect, it } from "vitest";
import {
  blkPattern,
  compareReports,
  failedChecks,
  fnv1a,
  guestParams,
  kvmAvailable,
  parseReport,
  qemuAccel,
  qemuArgs,
} from "./harness.ts";

const sample = [
  "qboot noise",
  "begin microvm-guest format=1 arch=x86_64",
  "info start_info addr=0x6000",
  "ok start_info.magic expected=0x336ec578 got=0x336ec578",
  "fail mptable.cpus expected=3 got=2",
  "dump 0009fc00 5f 4d 50 5f 10 fc 09 00 01 04 8b 00 00 00 00 00",
  "summary pass=1 fail=1 result=FAIL\r",
  "end",
].join("\n");

describe("parseReport", () => {
  const r = parseReport(sample);
  it("reads header, checks, infos, dumps, summary and end", () => {
    expect(r.header).toEqual({ format: 1, arch: "x86_64" });
    expect(r.checks.map((c) => [c.status, c.name, c.expected, c.got])).toEqual([
      ["ok", "start_info.magic", "0x336ec578", "0x336ec578"],
      ["fail", "mptable.cpus", "3", "2"],
    ]);
    expect(r.infos).toEqual(["start_info addr=0x6000"]);
    expect(r.dumps).toHaveLength(1);
    expect(r.dumps[0]!.addr).toBe(0x9fc00);
    expect([...r.dumps[0]!.bytes.subarray(0, 4)]).toEqual([0x5f, 0x4d, 0x50, 0x5f]);
    expect(r.summary).toEqual({ pass: 1, fail: 1, result: "FAIL" });
    expect(r.ended).toBe(true);
    expect(r.other).toEqual(["qboot noise"]);
    expect(failedChecks(r).map((c) => c.name)).toEqual(["mptable.cpus"]);
  });
  it("reports a truncated run as not ended and without summary", () => {
    const t = parseReport("begin microvm-guest format=1 arch=i386\nok a expected=1 got=1\nok b expec");
    expect(t.ended).toBe(false);
    expect(t.summary).toBeUndefined();
    expect(t.checks).toHaveLength(1);
  });
});

describe("compareReports", () => {
  const a = parseReport("ok x expected=1 got=1\nok addr expected=0x1 got=0x1\nok y expected=a got=a");
  const b = parseReport("ok y expected=a got=a\nok addr expected=0x2 got=0x2\nok x expected=1 got=1");
  it("ignores order, flags value differences unless allowed", () => {
    expect(compareReports(a, b).map((d) => d.name)).toEqual(["addr"]);
    expect(compareReports(a, b, { allow: [/^addr$/] })).toEqual([]);
  });
  it("flags status differences and missing checks even when allowed", () => {
    const c = parseReport("fail x expected=1 got=2\nok y expected=a got=a");
    expect(compareReports(a, c, { allow: [/^x$/] }).map((d) => d.name)).toEqual(["x", "addr"]);
    expect(compareReports(a, c, { allow: [/^x$/], ignore: [/^addr$/] }).map((d) => d.name)).toEqual(["x"]);
    expect(compareReports(a, c, { ignore: [/^addr$/, /^x$/] })).toEqual([]);
  });
});

describe("parameters", () => {
  it("FNV-1a matches the published test vectors", () => {
    // Fowler/Noll/Vo reference values: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968
    expect(fnv1a(new Uint8Array())).toBe(0x811c9dc5);
    expect(fnv1a(new TextEncoder().encode("a"))).toBe(0xe40c292c);
    expect(fnv1a(new TextEncoder().encode("foobar"))).toBe(0xbf9cf968);
  });
  it("builds the command line in hex where the guest reads numbers", () => {
    expect(guestParams({ expectCpus: 2, initrdSum: 0xdeadbeef, virtioVersion: 2, uart: false })).toBe(
      "microvm.expect_cpus=2 microvm.initrd_sum=0xdeadbeef microvm.virtio_version=2 microvm.uart=0",
    );
    expect(blkPattern(5, 0)).toBe(95);
  });
});

describe("QEMU's accelerator", () => {
  it("MICROVM_TEST_ACCEL forces kvm or tcg; unset or auto chooses by /dev/kvm; anything else throws", () => {
    expect(qemuAccel("tcg")).toBe("tcg");
    expect(qemuAccel("kvm")).toBe("kvm");
    const chosen = kvmAvailable() ? "kvm" : "tcg";
    expect(qemuAccel("auto")).toBe(chosen);
    expect(qemuAccel("")).toBe(chosen);
    expect(() => qemuAccel("hvf")).toThrow(/MICROVM_TEST_ACCEL=hvf: expected kvm, tcg or auto/);
  });
  it("TCG runs with -accel tcg -cpu max, KVM with -enable-kvm -cpu host", () => {
    const tcg = qemuArgs({ kernel: "k", accel: "tcg" });
    expect(tcg.join(" ")).toContain(" -accel tcg -cpu max ");
    expect(tcg).not.toContain("-enable-kvm");
    const kvm = qemuArgs({ kernel: "k", accel: "kvm" });
    expect(kvm.join(" ")).toContain(" -enable-kvm -cpu host,arch-capabilities=off ");
    expect(kvm).not.toContain("tcg");
    expect(kvm.filter((a) => a === "-cpu")).toHaveLength(1);
  });
});
