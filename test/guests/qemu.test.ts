// The test guests on QEMU's microvm, the reference peer: every check must pass with virtio-mmio
// version 1 and 2 and with 1, 2 and 4 CPUs; the negative controls must fail as documented.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blkPattern,
  buildGuests,
  failedChecks,
  findCheck,
  guestParams,
  kvmAvailable,
  makeFixture,
  parseReport,
  qemuAvailable,
  runQemu,
  type Fixture,
  type GuestExpectations,
  type GuestImages,
  type Report,
  type RunResult,
} from "./harness.ts";

const canRun = kvmAvailable() && qemuAvailable();
const MEM_MIB = 128;
const WRITE_SECTOR = 5;
// slirp's gateway: 10.0.2.2, MAC 52:55:0a:00:02:02 (QEMU's libslirp derives it from the address).
const GATEWAY = "10.0.2.2";
const GATEWAY_MAC = "52:55:0a:00:02:02";

function expectations(fx: Fixture, cpus: number, legacy: boolean): GuestExpectations {
  return {
    expectCpus: cpus,
    memMib: MEM_MIB,
    initrdSum: fx.initrdSum,
    initrdSize: fx.initrdSize,
    blkSum: fx.diskSum,
    blkSectors: fx.diskSectors,
    blkWrite: WRITE_SECTOR,
    virtioVersion: legacy ? 1 : 2,
    virtioDevices: 4,
    netArp: GATEWAY,
    netArpMac: GATEWAY_MAC,
    uart: true,
  };
}

async function run(
  kernel: string,
  fx: Fixture,
  cpus: number,
  legacy: boolean,
  extra: GuestExpectations = {},
  tag = "",
): Promise<{ result: RunResult; report: Report }> {
  const consoleFile = join(fx.dir, `console${tag}.txt`);
  const result = await runQemu({
    kernel,
    smp: cpus,
    memMib: MEM_MIB,
    legacy,
    append: guestParams({ ...expectations(fx, cpus, legacy), ...extra }),
    initrd: fx.initrd,
    disk: fx.disk,
    consoleFile,
    rng: true,
    net: true,
    timeoutMs: 30_000,
  });
  return { result, report: parseReport(result.serial) };
}

function describeFailure(r: RunResult, report: Report): string {
  return [
    `qemu exit=${r.code} signal=${r.signal} timedOut=${r.timedOut} ${Math.round(r.durationMs)}ms`,
    ...failedChecks(report).map((c) => `fail ${c.name} expected=${c.expected} got=${c.got}`),
    r.stderr.trim(),
    r.serial.split("\n").slice(-5).join("\n"),
  ].join("\n");
}

// Checks every passing run must contain: a report that silently skipped a part cannot pass.
function requiredChecks(cpus: number, arch: "i386" | "x86_64"): string[] {
  const names = [
    "start_info.magic",
    "start_info.version",
    "start_info.memmap",
    "start_info.memmap.overlap",
    "start_info.memmap.ram_total",
    "start_info.cmdline",
    "start_info.initrd.size",
    "start_info.initrd.sum",
    "uart.scratch",
    "uart.fifo",
    "mptable.fp",
    "mptable.checksum",
    "mptable.walk",
    "mptable.cpus",
    "mptable.bsp",
    "mptable.ioapic",
    "smp.count",
    "virtio.devices",
    "virtio.blk0.version",
    "virtio.blk0.status",
    "virtio.blk0.capacity",
    "virtio.blk0.read.sum",
    "virtio.blk0.write",
    "virtio.blk0.readback",
    "virtio.blk0.flush",
    "virtio.console0.tx",
    "virtio.rng0.read",
    "virtio.net0.tx",
    "virtio.net0.arp",
    "mptable.route.blk0",
    "mptable.route.net0",
  ];
  for (let apic = 1; apic < cpus; apic++) names.push(`smp.ap.${apic}`);
  const completion = arch === "x86_64" ? "irq" : "isr";
  for (const d of ["blk0", "console0", "rng0", "net0"]) names.push(`virtio.${d}.${completion}`);
  return names;
}

describe.skipIf(!canRun)("test guests on QEMU microvm (needs /dev/kvm and qemu-system-x86_64)", () => {
  let images: GuestImages;
  const fixtures: Fixture[] = [];
  const fixture = (): Fixture => {
    const f = makeFixture();
    fixtures.push(f);
    return f;
  };

  beforeAll(async () => {
    images = await buildGuests();
  });
  afterAll(() => {
    for (const f of fixtures) f.cleanup();
  });

  const matrix: { arch: "i386" | "x86_64"; legacy: boolean; cpus: number }[] = [];
  for (const arch of ["i386", "x86_64"] as const)
    for (const legacy of [true, false]) for (const cpus of [1, 2, 4]) matrix.push({ arch, legacy, cpus });

  it.each(matrix)("$arch guest, force-legacy=$legacy, -smp $cpus: every check passes", async ({ arch, legacy, cpus }) => {
    const fx = fixture();
    const kernel = arch === "i386" ? images.elf32 : images.elf64;
    const { result, report } = await run(kernel, fx, cpus, legacy);
    const why = describeFailure(result, report);
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
    // What the guest wrote reached the image, and nothing else changed.
    const disk = readFileSync(fx.disk);
    const sector = disk.subarray(WRITE_SECTOR * 512, (WRITE_SECTOR + 1) * 512);
    expect([...sector]).toEqual(Array.from({ length: 512 }, (_, i) => blkPattern(WRITE_SECTOR, i)));
    // QEMU exits on the guest's triple fault (-no-reboot), with status 0.
    expect(result.code, why).toBe(0);
  });

  describe("negative controls", () => {
    it("a wrong initrd checksum fails start_info.initrd.sum and the summary", async () => {
      const fx = fixture();
      const wrong = (fx.initrdSum ^ 0x1) >>> 0;
      const { result, report } = await run(images.elf64, fx, 2, false, { initrdSum: wrong });
      expect(failedChecks(report).map((c) => c.name), describeFailure(result, report)).toEqual(["start_info.initrd.sum"]);
      const c = findCheck(report, "start_info.initrd.sum")!;
      expect(c.expected).toBe(`0x${wrong.toString(16)}`);
      expect(c.got).toBe(`0x${fx.initrdSum.toString(16)}`);
      expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    });

    it("a wrong CPU count fails mptable.cpus and the summary", async () => {
      const fx = fixture();
      const { result, report } = await run(images.elf32, fx, 2, true, { expectCpus: 3 });
      expect(failedChecks(report).map((c) => c.name), describeFailure(result, report)).toEqual(["mptable.cpus"]);
      expect(findCheck(report, "mptable.cpus")).toMatchObject({ expected: "3", got: "2" });
      // the APs the table lists are still all started
      expect(findCheck(report, "smp.count")).toMatchObject({ status: "ok", got: "2" });
      expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    });

    it("wrong disk contents fail virtio.blk0.read.sum", async () => {
      const fx = fixture();
      const { report } = await run(images.elf64, fx, 1, true, { blkSum: (fx.diskSum + 1) >>> 0 });
      expect(failedChecks(report).map((c) => c.name)).toEqual(["virtio.blk0.read.sum"]);
      expect(report.summary?.result).toBe("FAIL");
    });

    it("a wrong virtio version fails every device's version check", async () => {
      const fx = fixture();
      const { report } = await run(images.elf32, fx, 1, false, { virtioVersion: 1 });
      expect(failedChecks(report).map((c) => c.name).sort()).toEqual(
        ["virtio.blk0.version", "virtio.console0.version", "virtio.net0.version", "virtio.rng0.version"].sort(),
      );
    });
  });

  it.each(["i386", "x86_64"] as const)(
    "%s guest without the ISA serial port (microvm.uart=0): the whole report is on the virtio console",
    async (arch) => {
      const fx = fixture();
      const consoleFile = join(fx.dir, "console-only.txt");
      const result = await runQemu({
        kernel: arch === "i386" ? images.elf32 : images.elf64,
        smp: 2,
        memMib: MEM_MIB,
        legacy: false,
        isaSerial: false,
        append: guestParams({ ...expectations(fx, 2, false), uart: false }),
        initrd: fx.initrd,
        disk: fx.disk,
        consoleFile,
        rng: true,
        net: true,
        timeoutMs: 30_000,
      });
      expect(result.serial).toBe("");
      const report = parseReport(result.console ?? "");
      const why = describeFailure(result, report);
      expect(failedChecks(report), why).toEqual([]);
      expect(report.summary?.result, why).toBe("PASS");
      expect(report.ended, why).toBe(true);
      expect(report.checks.filter((c) => c.name.startsWith("uart.")), why).toEqual([]);
      expect(report.infos).toContain("uart not probed (microvm.uart=0)");
      expect(findCheck(report, "virtio.net0.arp")?.status, why).toBe("ok");
    },
  );

  it("microvm.dump=1 hex-dumps the MPTable region (qboot's table at 0x9fc00)", async () => {
    const fx = fixture();
    const { report } = await run(images.elf32, fx, 2, true, { dump: true });
    const fp = report.dumps.find((d) => d.addr === 0x9fc00);
    expect(fp).toBeDefined();
    expect(new TextDecoder().decode(fp!.bytes.subarray(0, 4))).toBe("_MP_");
    const info = report.infos.find((l) => l.startsWith("mptable.fp addr="));
    expect(info).toMatch(/^mptable\.fp addr=0x9fc00 /);
    expect(report.summary?.result).toBe("PASS");
  });

  it("microvm.reboot=kbd: QEMU's microvm has no i8042, so the guest reports it and still ends", async () => {
    const fx = fixture();
    const { result, report } = await run(images.elf64, fx, 1, false, { reboot: "kbd" });
    expect(result.serial).toContain("\nreboot kbd\n");
    expect(failedChecks(report).map((c) => c.name)).toEqual(["reboot.kbd"]);
    expect(report.summary).toMatchObject({ fail: 1, result: "FAIL" });
    expect(report.ended).toBe(true);
    expect(result.timedOut).toBe(false);
  });
});
