// Debian's stock cloud kernel (scripts/stock-kernel/build.sh) on QEMU's OWN microvm under TCG: the
// reference for a machine described by ACPI tables. This kernel has no
// VIRTIO_MMIO_CMDLINE_DEVICES, so it finds virtio-mmio transports only through the DSDT:
// - with `acpi=on` its /init reports 2 CPUs, the blk, net and rng devices, the disk's size, ttyS0
//   and the DSDT's LNRO0005/PNP0501/ACPI0013/PNP0C0C devices; each table it dumps is well formed;
// - the negative control, `acpi=off` with `virtio_mmio.device=` entries on the command line, finds
//   no virtio device at all: the ACPI path is what finds them;
// - the ACPI power button (QMP system_powerdown -> GED -> PNP0C0C) reaches /init as a key event;
// - with `ioapic2=off`, QEMU 7.2 wires the transports to GSI 16 + slot of its only IOAPIC.
// The kernel is built (seconds, one download) when missing and this runs as root; otherwise the
// tests are skipped with the reason.
import { describe, expect, it } from "vitest";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { bootQemuMicrovmAcpi, parseStockIrqs, parseStockReport, parseStockTables, runQemuMicrovm, stockKernel, type StockKernel } from "./helpers/stock-kernel.js";

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const k = noQemu ? undefined : stockKernel();
const skip = noQemu ?? (k && "skip" in k ? k.skip : undefined);
const kernel = (): StockKernel => k as StockKernel;
const title = (what: string): string => (skip ? `${what} (skipped: ${skip})` : what);
/** Per boot; QEMU is killed at this limit (each boot takes 3 to 5 s here). */
const BOOT_MS = 60_000;
const DISK_BYTES = 3 << 20;

/** A table's length field matches its size and its bytes sum to 0 mod 256 (ACPI 6.5, 5.2.6). */
function tableProblems(name: string, t: Uint8Array): string[] {
  const problems: string[] = [];
  const sig = Buffer.from(t.subarray(0, 4)).toString("latin1");
  if (sig !== name) problems.push(`${name}: signature ${JSON.stringify(sig)}`);
  const length = t.length >= 8 ? new DataView(t.buffer, t.byteOffset, t.byteLength).getUint32(4, true) : -1;
  if (length !== t.length) problems.push(`${name}: length field ${length}, ${t.length} bytes dumped`);
  const sum = t.reduce((a, b) => (a + b) & 0xff, 0);
  if (sum !== 0) problems.push(`${name}: checksum: bytes sum to ${sum} mod 256`);
  return problems;
}

describe.skipIf(skip !== undefined)(title("Debian's stock cloud kernel on QEMU's microvm (TCG): devices found through ACPI"), () => {
  it("acpi=on: 2 CPUs, blk/net/rng on virtio-mmio, ttyS0 and the DSDT's devices; each dumped table is well formed", async () => {
    const run = await runQemuMicrovm({ kernel: kernel(), cpus: 2, devices: ["blk", "rng", "net"], diskBytes: DISK_BYTES, append: "stock.dump=1 stock.interrupts=1", timeoutMs: BOOT_MS });
    const report = parseStockReport(run.text);
    console.log(`stock kernel, QEMU microvm acpi=on: ${(run.ms / 1000).toFixed(1)} s (${run.end}); ${/^STOCK-REPORT .*$/m.exec(run.text)?.[0] ?? "no report"}`);
    expect(report, `no STOCK-REPORT (${run.end}, status ${run.status}):\n${run.text.slice(-3000)}\n${run.stderr}`).toBeDefined();
    if (!report) return;
    expect(report.cpus).toBe(2);
    expect([...report.virtio].sort()).toEqual([1, 2, 4]);
    expect(report.blk).toEqual([{ name: "vda", sectors: DISK_BYTES / 512 }]);
    expect(report.net).toEqual(["eth0"]);
    expect(report.ttyS).toContain("ttyS0");
    expect(report.acpi).toBe(true);
    expect(report.hids.filter((h) => h === "LNRO0005").length).toBeGreaterThanOrEqual(3);
    expect(report.hids).toEqual(expect.arrayContaining(["ACPI0013", "PNP0501", "PNP0C0C"]));
    expect(run.text).not.toMatch(/STOCK-INSMOD-FAILED/);
    const tables = parseStockTables(run.text);
    expect([...tables.keys()].sort()).toEqual(["APIC", "DSDT", "FACP"]);
    expect([...tables].flatMap(([name, t]) => tableProblems(name, t))).toEqual([]);
    // The kernel powered the machine off through the FADT's sleep registers: QEMU ended by itself.
    expect(run.text).toMatch(/reboot: Power down/);
    expect(run.end).toBe("exited");
  }, BOOT_MS + 30_000);

  it("negative control: acpi=off with virtio_mmio.device= entries finds no virtio device (no VIRTIO_MMIO_CMDLINE_DEVICES)", async () => {
    // The entries QEMU's auto-kernel-cmdline would add for these three devices (it adds them too).
    const devices = "virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=512@0xfeb00c00:11 virtio_mmio.device=512@0xfeb00a00:10";
    const run = await runQemuMicrovm({ kernel: kernel(), acpi: false, devices: ["blk", "rng", "net"], append: devices, timeoutMs: BOOT_MS });
    const report = parseStockReport(run.text);
    console.log(`stock kernel, QEMU microvm acpi=off: ${(run.ms / 1000).toFixed(1)} s (${run.end}); ${/^STOCK-REPORT .*$/m.exec(run.text)?.[0] ?? "no report"}`);
    expect(report, `no STOCK-REPORT (${run.end}):\n${run.text.slice(-3000)}`).toBeDefined();
    expect(run.text).toMatch(/Command line: .*virtio_mmio\.device=512@0xfeb00e00:12/);
    expect(report?.acpi).toBe(false);
    expect(report?.virtio).toEqual([]);
    expect(report?.blk).toEqual([]);
    expect(report?.net).toEqual([]);
    expect(report?.ttyS).toContain("ttyS0");
    // No ACPI power-off: the kernel halts and the helper stops QEMU.
    expect(run.end).toBe("halted");
  }, BOOT_MS + 30_000);

  it("the ACPI power button (QMP system_powerdown, GED event) reaches /init as an input event", async () => {
    const run = await runQemuMicrovm({ kernel: kernel(), cpus: 1, powerButton: true, timeoutMs: BOOT_MS });
    console.log(`stock kernel, QEMU microvm power button: ${(run.ms / 1000).toFixed(1)} s (${run.end}); ${/^STOCK-WAIT .*$/m.exec(run.text)?.[0] ?? "no STOCK-WAIT"}`);
    expect(run.text, run.text.slice(-3000)).toMatch(/^STOCK-WAIT powerbutton event\d+/m);
    expect(run.text).toMatch(/^STOCK-POWERBUTTON\r?$/m);
    expect(run.end).toBe("exited");
  }, BOOT_MS + 30_000);

  it("ioapic2=off: QEMU 7.2 wires the transports to GSI 16 + slot of its one IOAPIC (not GSI 5..12)", async () => {
    const run = await runQemuMicrovm({ kernel: kernel(), machine: ["ioapic2=off"], devices: ["blk", "rng", "net"], append: "stock.interrupts=1", timeoutMs: BOOT_MS });
    const irqs = parseStockIrqs(run.text);
    console.log(`stock kernel, QEMU microvm acpi=on,ioapic2=off: ${(run.ms / 1000).toFixed(1)} s (${run.end}); ${/^STOCK-REPORT .*$/m.exec(run.text)?.[0] ?? "no report"}\n${(irqs ?? []).filter((l) => /IO-APIC/.test(l)).join("\n")}`);
    expect(irqs, run.text.slice(-3000)).toBeDefined();
    const virtio = (irqs ?? []).filter((l) => /virtio\d/.test(l)).map((l) => Number(/IO-APIC (\d+)-/.exec(l)?.[1]));
    // QEMU fills the last transports first: slots 7, 6, 5 at 0xfeb00e00, …c00, …a00.
    expect(virtio.sort()).toEqual([21, 22, 23]);
    expect(parseStockReport(run.text)?.virtio.length).toBe(3);
  }, BOOT_MS + 30_000);

  it("bootQemuMicrovmAcpi returns QEMU's DSDT, FACP and MADT for the machine asked for", async () => {
    const one = await bootQemuMicrovmAcpi({ kernel: kernel(), cpus: 1, devices: ["blk"], timeoutMs: BOOT_MS });
    const madt = one.get("APIC");
    expect(madt && tableProblems("APIC", madt)).toEqual([]);
    // One Processor Local APIC entry (type 0) per vCPU after the 44-byte header.
    let cpus = 0;
    for (let at = 44; madt && at + 2 <= madt.length; at += madt[at + 1] || madt.length) if (madt[at] === 0) cpus++;
    expect(cpus).toBe(1);
    expect(Buffer.from(one.get("DSDT") ?? []).includes("LNRO0005")).toBe(true);
  }, BOOT_MS + 30_000);
});
