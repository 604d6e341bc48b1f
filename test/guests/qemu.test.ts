// The test guests on QEMU's microvm, the reference peer: every check must pass with virtio-mmio
// version 1 and 2 and with 1, 2 and 4 CPUs; the negative controls must fail as documented.
// Needs only qemu-system-x86_64: it runs on KVM when /dev/kvm is usable, else on TCG (-cpu max);
// MICROVM_TEST_ACCEL=tcg or =kvm forces one (see qemuAccel in harness.ts).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blkPattern,
  buildGuests,
  compareReports,
  describeRun,
  failedChecks,
  findCheck,
  makeFixture,
  qemuAccel,
  qemuAvailable,
  REFERENCE_DIFFERENCES,
  requiredChecks,
  runStandardOnQemu,
  STANDARD_WRITE_SECTOR,
  type Fixture,
  type GuestExpectations,
  type GuestImages,
  type GuestRun,
} from "./harness.ts";

const hasQemu = qemuAvailable();
const accel = qemuAccel();
const title = `test guests on QEMU microvm (${accel === "kvm" ? "KVM" : "TCG, -cpu max"})`;

describe.skipIf(!hasQemu)(`${title}${hasQemu ? "" : " (skipped: qemu-system-x86_64 not found)"}`, () => {
  let images: GuestImages;
  const fixtures: Fixture[] = [];
  const fixture = (): Fixture => {
    const f = makeFixture();
    fixtures.push(f);
    return f;
  };
  const kernel = (arch: "i386" | "x86_64"): string => (arch === "i386" ? images.elf32 : images.elf64);
  const run = (
    arch: "i386" | "x86_64",
    cpus: number,
    legacy: boolean,
    extra: GuestExpectations = {},
    fx: Fixture = fixture(),
  ): Promise<GuestRun> => runStandardOnQemu({ kernel: kernel(arch), fixture: fx, cpus, legacy, extra, accel });

  beforeAll(async () => {
    images = await buildGuests();
  });
  afterAll(() => {
    for (const f of fixtures) f.cleanup();
  });

  const matrix: { arch: "i386" | "x86_64"; legacy: boolean; cpus: number }[] = [];
  for (const arch of ["i386", "x86_64"] as const)
    for (const legacy of [true, false]) for (const cpus of [1, 2, 4]) matrix.push({ arch, legacy, cpus });

  const reports = new Map<string, GuestRun>();

  it.each(matrix)("$arch guest, force-legacy=$legacy, -smp $cpus: every check passes", async ({ arch, legacy, cpus }) => {
    const fx = fixture();
    const { result, report } = await run(arch, cpus, legacy, {}, fx);
    reports.set(`${arch}/${legacy}/${cpus}`, { result, report });
    const why = describeRun(result, report);
    expect(result.timedOut, why).toBe(false);
    expect(report.header?.arch, why).toBe(arch);
    expect(failedChecks(report), why).toEqual([]);
    expect(report.summary, why).toEqual({ pass: report.checks.length, fail: 0, result: "PASS" });
    expect(report.ended, why).toBe(true);
    const names = new Set(report.checks.map((c) => c.name));
    expect(requiredChecks(cpus, arch).filter((n) => !names.has(n)), why).toEqual([]);
    expect(findCheck(report, "virtio.blk0.version")?.got).toBe(legacy ? "1" : "2");
    expect(findCheck(report, "smp.count")?.got).toBe(String(cpus));
    // The virtio console carries the same report, byte for byte.
    expect(result.console).toBe(result.serial.slice(result.serial.indexOf("begin microvm-guest")));
    // What the guest wrote reached the image.
    const disk = readFileSync(fx.disk);
    const sector = disk.subarray(STANDARD_WRITE_SECTOR * 512, (STANDARD_WRITE_SECTOR + 1) * 512);
    expect([...sector]).toEqual(Array.from({ length: 512 }, (_, i) => blkPattern(STANDARD_WRITE_SECTOR, i)));
    // QEMU exits on the guest's triple fault (-no-reboot), with status 0.
    expect(result.code, why).toBe(0);
  });

  it("passing reports of one guest compare equal across -smp and force-legacy, but for the expected lines", async () => {
    // reuses the matrix's runs; runs them itself when the matrix was filtered out
    const get = async (arch: "i386" | "x86_64", legacy: boolean, cpus: number): Promise<GuestRun> =>
      reports.get(`${arch}/${legacy}/${cpus}`) ?? (await run(arch, cpus, legacy));
    const versionLines = (n: string): boolean => /^virtio\.\w+\.(version|status|version_1|features_ok)$/.test(n);
    const smpLines = (n: string): boolean => /^(mptable\.cpus|mptable\.processors|smp\.count|smp\.ap\.\d+)$/.test(n);
    for (const arch of ["i386", "x86_64"] as const) {
      const a = await get(arch, true, 2);
      const b = await get(arch, false, 2);
      const c = await get(arch, true, 4);
      expect(a.report.summary?.result).toBe("PASS");
      // legacy and modern transports differ only in what the version and status registers read,
      // and in the two steps only version 2 has
      const ab = compareReports(a.report, b.report, REFERENCE_DIFFERENCES).map((d) => d.name);
      expect(ab.length).toBeGreaterThan(0);
      expect(ab.filter((n) => !versionLines(n))).toEqual([]);
      const ac = compareReports(a.report, c.report, REFERENCE_DIFFERENCES).map((d) => d.name);
      expect(ac).toContain("smp.ap.3");
      expect(ac.filter((n) => !smpLines(n))).toEqual([]);
    }
  });

  describe("negative controls", () => {
    it("a wrong initrd checksum fails start_info.initrd.sum and the summary", async () => {
      const fx = fixture();
      const wrong = (fx.initrdSum ^ 0x1) >>> 0;
      const { result, report } = await run("x86_64", 2, false, { initrdSum: wrong }, fx);
      expect(failedChecks(report).map((c) => c.name), describeRun(result, report)).toEqual(["start_info.initrd.sum"]);
      const c = findCheck(report, "start_info.initrd.sum")!;
      expect(c.expected).toBe(`0x${wrong.toString(16)}`);
      expect(c.got).toBe(`0x${fx.initrdSum.toString(16)}`);
      expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    });

    it("a wrong CPU count fails mptable.cpus and the summary", async () => {
      const { result, report } = await run("i386", 2, true, { expectCpus: 3 });
      expect(failedChecks(report).map((c) => c.name), describeRun(result, report)).toEqual(["mptable.cpus"]);
      expect(findCheck(report, "mptable.cpus")).toMatchObject({ expected: "3", got: "2" });
      // the APs the table lists are still all started
      expect(findCheck(report, "smp.count")).toMatchObject({ status: "ok", got: "2" });
      expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    });

    it("wrong disk contents fail virtio.blk0.read.sum", async () => {
      const fx = fixture();
      const { report } = await run("x86_64", 1, true, { blkSum: (fx.diskSum + 1) >>> 0 }, fx);
      expect(failedChecks(report).map((c) => c.name)).toEqual(["virtio.blk0.read.sum"]);
      expect(report.summary?.result).toBe("FAIL");
    });

    it("a wrong virtio version fails every device's version check", async () => {
      const { report } = await run("i386", 1, false, { virtioVersion: 1 });
      expect(failedChecks(report).map((c) => c.name).sort()).toEqual(
        ["virtio.blk0.version", "virtio.console0.version", "virtio.net0.version", "virtio.rng0.version"].sort(),
      );
    });

    it("an ARP reply from the wrong MAC fails virtio.net0.arp", async () => {
      const { report } = await run("x86_64", 1, false, { netArpMac: "02:00:00:00:00:01" });
      expect(failedChecks(report).map((c) => c.name)).toEqual(["virtio.net0.arp"]);
    });
  });

  it.each(["i386", "x86_64"] as const)(
    "%s guest without the ISA serial port (microvm.uart=0): the whole report is on the virtio console",
    async (arch) => {
      const { result, report } = await runStandardOnQemu({
        kernel: kernel(arch),
        fixture: fixture(),
        cpus: 2,
        legacy: false,
        isaSerial: false,
        extra: { uart: false },
        accel,
      });
      const why = describeRun(result, report);
      expect(result.serial).toBe("");
      expect(failedChecks(report), why).toEqual([]);
      expect(report.summary?.result, why).toBe("PASS");
      expect(report.ended, why).toBe(true);
      const names = new Set(report.checks.map((c) => c.name));
      expect(requiredChecks(2, arch, false).filter((n) => !names.has(n)), why).toEqual([]);
      expect(report.checks.filter((c) => c.name.startsWith("uart.")), why).toEqual([]);
      expect(report.infos).toContain("uart not probed (microvm.uart=0)");
    },
  );

  it("x86_64 guest with microvm.irq=0 polls instead of taking interrupts", async () => {
    const { result, report } = await run("x86_64", 1, false, { irq: false });
    const why = describeRun(result, report);
    expect(failedChecks(report), why).toEqual([]);
    const names = report.checks.map((c) => c.name);
    for (const d of ["blk0", "console0", "rng0", "net0"]) {
      expect(names, why).toContain(`virtio.${d}.isr`);
      expect(names, why).not.toContain(`virtio.${d}.irq`);
    }
    expect(names.filter((n) => n.startsWith("uart.irq"))).toEqual([]);
  });

  it("microvm.dump=1 hex-dumps the window holding the MPTable (qboot's, at 0x9fc00) and stops", async () => {
    const { result, report } = await run("i386", 2, true, { dump: true });
    const why = describeRun(result, report);
    expect(report.infos, why).toContain("dump windows=[0x9fc00,0xa0000)");
    // rebuild the window from the dump (left-out lines are zero) and judge the table in it
    const mem = new Uint8Array(0x400);
    for (const d of report.dumps) {
      expect(d.addr >= 0x9fc00 && d.addr < 0xa0000, why).toBe(true);
      mem.set(d.bytes, d.addr - 0x9fc00);
    }
    expect(new TextDecoder().decode(mem.subarray(0, 4))).toBe("_MP_");
    expect(mem.subarray(0, 16).reduce((s, b) => (s + b) & 0xff, 0)).toBe(0);
    const physptr = new DataView(mem.buffer).getUint32(4, true);
    const t = mem.subarray(physptr - 0x9fc00);
    const len = new DataView(t.buffer, t.byteOffset).getUint16(4, true);
    expect(new TextDecoder().decode(t.subarray(0, 4))).toBe("PCMP");
    expect(t.subarray(0, len).reduce((s, b) => (s + b) & 0xff, 0)).toBe(0);
    // dump mode skips SMP and the devices, and still ends with a summary
    expect(report.checks.some((c) => c.name.startsWith("smp.") || c.name.startsWith("virtio."))).toBe(false);
    expect(report.summary?.result, why).toBe("PASS");
    expect(report.ended).toBe(true);
  });

  it("microvm.reboot=kbd: QEMU's microvm has no i8042, so the guest reports it and still ends", async () => {
    const { result, report } = await run("x86_64", 1, false, { reboot: "kbd" });
    expect(result.serial).toContain("\nreboot kbd\n");
    expect(failedChecks(report).map((c) => c.name)).toEqual(["reboot.kbd"]);
    expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    expect(report.ended).toBe(true);
    expect(result.timedOut).toBe(false);
  });
});
