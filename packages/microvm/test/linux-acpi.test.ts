// A distribution kernel on OUR ACPI tables: Debian's stock cloud kernel (6.1; ACPI built in,
// virtio_mmio a module, no VIRTIO_MMIO_CMDLINE_DEVICES) booted by the QEMU engine under TCG from
// our ROM, start_info, RSDP, XSDT, FADT, MADT and DSDT. Its /init (scripts/stock-kernel/init)
// loads the virtio modules and prints one STOCK-REPORT line. Checks: every virtio device and the
// serial port found through our DSDT alone, the CPUs counted from our MADT, a power-off through
// our FADT's sleep register ending the machine with `poweroff`, and Machine.powerdown() pressing
// the GED's power button. Negative control: the same board without ACPI, where the kernel finds no
// virtio device at all (the command-line entries are there, but this kernel cannot read them).
// On the in-process KVM engine the same board boots where hardware KVM is present (opt-in, as the
// other Linux runs on that engine).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { createMachine, isMicrovmError, kvmUnavailableReason, type DeviceConfig, type Machine, type MachineEnd, type MachineOptions } from "../src/index.js";
import { parseStockIrqs, parseStockReport, stockKernel, type StockKernel } from "./helpers/stock-kernel.js";

const LIMIT_MS = 90_000;
const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const built = noQemu ? { skip: noQemu } : stockKernel();
const stock: StockKernel | undefined = "skip" in built ? undefined : built;
const skip = "skip" in built ? built.skip : undefined;
const title = (what: string, reason = skip): string => (reason ? `${what} (skipped: ${reason})` : what);

const dir = mkdtempSync(join(tmpdir(), "microvm-linux-acpi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DISK_SECTORS = 6144;
const disk = join(dir, "disk.img");
writeFileSync(disk, new Uint8Array(DISK_SECTORS * 512));

const devices: DeviceConfig[] = [
  { kind: "blk", backend: { type: "file", path: disk } },
  { kind: "rng" },
  { kind: "net", backend: { type: "user", provider: "slirp" } },
];

interface Run {
  readonly text: string;
  readonly end: MachineEnd;
  readonly ms: number;
  readonly pressed: number;
}

/**
 * Boots the stock kernel with `options` on the chosen engine and collects the UART until the
 * machine ends. `until`: once this appears, the machine is given 3 s more and then stopped (a
 * kernel that halts instead of powering off never ends the machine itself). `powerButton`: when
 * the guest says it waits for the button, Machine.powerdown() is called (again every 5 s, in case
 * the guest was not yet reading its input device).
 */
async function boot(options: Partial<MachineOptions> & { engine: "qemu" | "kvm" }, extra: { until?: RegExp; powerButton?: boolean; onMachine?: (m: Machine) => Promise<void>; limitMs?: number } = {}): Promise<Run> {
  const k = stock as StockKernel;
  const start = Date.now();
  const m = await createMachine({
    kernel: new Uint8Array(readFileSync(k.vmlinux)),
    initrd: new Uint8Array(readFileSync(k.initramfs)),
    memory: 256 * 1024 * 1024,
    legacy: true,
    serial: { type: "stream" },
    ...(options.engine === "qemu" ? { accel: "tcg" as const } : {}),
    log: () => undefined,
    ...options,
    cmdline: `console=ttyS0 panic=-1 ${options.cmdline ?? ""}`.trim(),
  });
  await extra.onMachine?.(m);
  const timers: NodeJS.Timeout[] = [setTimeout(() => void m.stop(), extra.limitMs ?? LIMIT_MS)];
  let text = "";
  let pressed = 0;
  let pressing: NodeJS.Timeout | undefined;
  for await (const c of m.serial()) {
    text += Buffer.from(c).toString("latin1");
    if (extra.until && extra.until.test(text) && timers.length === 1) timers.push(setTimeout(() => void m.stop(), 3000));
    if (extra.powerButton && pressing === undefined && /^STOCK-WAIT powerbutton/m.test(text)) {
      const press = (): void => {
        if (/STOCK-POWERBUTTON/.test(text)) return;
        pressed++;
        void m.powerdown().catch(() => undefined);
        pressing = setTimeout(press, 5000);
      };
      press();
    }
  }
  const end = await m.done;
  for (const t of timers) clearTimeout(t);
  clearTimeout(pressing);
  return { text, end, ms: Date.now() - start, pressed };
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

describe.skipIf(skip !== undefined)(title("Debian's stock kernel on our ACPI tables (QEMU engine, TCG)"), () => {
  it("finds every virtio device and the serial port from our DSDT, 2 CPUs from our MADT, and powers off through our FADT: the machine ends with poweroff", async () => {
    const r = await boot({ engine: "qemu", acpi: true, cpus: 2, devices, cmdline: "stock.interrupts=1" });
    const report = parseStockReport(r.text);
    expect(report, r.text.slice(-3000)).toBeDefined();
    expect(report?.acpi).toBe(true);
    expect(report?.cpus).toBe(2);
    expect(sorted(report?.virtio ?? [])).toEqual([1, 2, 4]);
    expect(report?.blk).toEqual([{ name: "vda", sectors: DISK_SECTORS }]);
    expect(report?.net).toEqual(["eth0"]);
    expect(report?.ttyS).toEqual(["ttyS0"]);
    expect(report?.hids).toEqual(["ACPI0013", "LNRO0005", "LNRO0005", "LNRO0005", "PNP0501", "PNP0C0C"]);
    // the kernel's own account: our MADT, our transports' GSIs (16..), edge-triggered
    expect(r.text).toMatch(/ACPI: Using ACPI \(MADT\) for SMP configuration information/);
    const irqs = parseStockIrqs(r.text) ?? [];
    expect(irqs.filter((l) => /IO-APIC 1[6-9]-edge\s+virtio\d/.test(l))).toHaveLength(3);
    expect(irqs.some((l) => /IO-APIC 9-edge\s+ACPI:Ged/.test(l))).toBe(true);
    expect(r.text).toMatch(/reboot: Power down/);
    expect(r.end.reason).toBe("poweroff");
  });

  it("negative control: the same board without ACPI: the kernel finds no virtio device (it cannot read virtio_mmio.device=), does not power off, and powerdown() is refused", async () => {
    let refused = "";
    const r = await boot(
      { engine: "qemu", acpi: false, cpus: 2, devices },
      {
        until: /^STOCK-REPORT/m,
        onMachine: async (m) => {
          refused = await m.powerdown().then(
            () => "accepted",
            (e: unknown) => (isMicrovmError(e) ? `${e.code}: ${e.message}` : String(e)),
          );
        },
      },
    );
    expect(refused).toMatch(/^state: powerdown: the board has no ACPI/);
    const report = parseStockReport(r.text);
    expect(report, r.text.slice(-3000)).toBeDefined();
    expect(r.text).toMatch(/virtio_mmio\.device=512@0xfeb00000:5/); // the entries are on its command line…
    expect(report?.virtio).toEqual([]); // …and do nothing for this kernel
    expect(report?.acpi).toBe(false);
    // This cloud kernel has no MPTable parser either ("ACPI MADT or MP tables are not detected"):
    // without ACPI it sees one CPU. (Debian's generic kernel reads our MPTable: linux-qemu.test.ts.)
    expect(r.text).toMatch(/APIC: ACPI MADT or MP tables are not detected/);
    expect(report?.cpus).toBe(1);
    expect(r.end.reason).toBe("host"); // no ACPI power-off: the kernel halted, the test stopped it
  });

  it("Machine.powerdown(): the GED's event reaches the guest's power button (QMP system_powerdown), and the guest's power-off ends the machine", async () => {
    const r = await boot({ engine: "qemu", acpi: true, cpus: 1, cmdline: "stock.wait=powerbutton" }, { powerButton: true });
    expect(r.text, r.text.slice(-2000)).toMatch(/^STOCK-POWERBUTTON/m);
    expect(r.pressed).toBeGreaterThanOrEqual(1);
    expect(r.end.reason).toBe("poweroff");
  });

  it("boots reliably under TCG: 20 boots in a row reach /init and power off (tsc_early_khz= from the host's TSC rate)", async () => {
    const outcomes = new Map<string, number>();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      // A boot takes ~4 s here; one that hangs is stopped after 30 s and ends the loop.
      const r = await boot({ engine: "qemu", acpi: true, cpus: 2 }, { limitMs: 30_000 });
      const ok = parseStockReport(r.text) !== undefined && r.end.reason === "poweroff";
      outcomes.set(ok ? "ok" : `failed: ${r.end.reason}`, (outcomes.get(ok ? "ok" : `failed: ${r.end.reason}`) ?? 0) + 1);
      times.push(r.ms);
      expect(r.text).toMatch(/tsc_early_khz=\d+/);
      if (!ok) break;
    }
    console.log(`20 ACPI boots under TCG: ${JSON.stringify(Object.fromEntries(outcomes))}; ms min ${Math.min(...times)} max ${Math.max(...times)}`);
    expect(Object.fromEntries(outcomes)).toEqual({ ok: 20 });
  }, 20 * LIMIT_MS);
});

// Our device models under Linux behind the QEMU engine: a board in code whose backends live in
// this process (a RAM disk, a JS entropy module, the ARP responder, a JS console module), which the
// QEMU engine serves over vhost-user, -netdev stream and a socket chardev. The guest writes and
// reads back a pattern (the host then finds it in the RAM disk), reads the entropy module's
// recognisable bytes, ARPs for the responder's address and gets its MAC, and says hello on hvc0
// and reads the module's reply. Negative control: a responder for another address and a console
// module that does not answer turn the ARP and console checks red, and nothing else.
const ENTROPY_MODULE = fileURLToPath(new URL("./fixtures/entropy-pattern.mjs", import.meta.url));
const CONSOLE_MODULE = fileURLToPath(new URL("./fixtures/console-backend.mjs", import.meta.url));
const RESPONDER_MAC = "52:54:00:be:ef:07";

function ourDevices(o: { ramDisk: SharedArrayBuffer; arpFor: string; reply?: string; consoleLog: string }): DeviceConfig[] {
  return [
    { kind: "blk", backend: { type: "memory", buffer: o.ramDisk } },
    { kind: "rng", backend: { type: "module", module: ENTROPY_MODULE, options: { seed: 0x40 } } },
    { kind: "net", backend: { type: "arp-responder", ips: [o.arpFor], mac: RESPONDER_MAC } },
    { kind: "console", backend: { type: "module", module: CONSOLE_MODULE, options: { path: o.consoleLog, expect: "STOCK-HVC-HELLO", ...(o.reply ? { reply: o.reply } : {}) } } },
  ];
}

/** The longest run of bytes that each follow the one before plus one (mod 256), in a hex string. */
function longestRun(hex: string): number {
  const b = (hex.match(/../g) ?? []).map((x) => parseInt(x, 16));
  let best = b.length > 0 ? 1 : 0;
  for (let i = 1, run = 1; i < b.length; i++) best = Math.max(best, (run = b[i] === (((b[i - 1] ?? 0) + 1) & 0xff) ? run + 1 : 1));
  return best;
}

describe.skipIf(skip !== undefined)(title("Linux drives our device models behind the QEMU engine (stock kernel, TCG)"), () => {
  const CMDLINE = "stock.blk=ourdisk3 stock.rng=1 stock.arp=10.0.2.2 stock.hvc=1";

  it("blk: the guest's pattern is in the RAM disk; rng: the module's bytes; net: the ARP responder answers with its MAC; console: a hello out, the module's reply in", async () => {
    const ramDisk = new SharedArrayBuffer(DISK_SECTORS * 512);
    const consoleLog = join(dir, "hvc-ok.log");
    const r = await boot({ engine: "qemu", acpi: true, cpus: 1, devices: ourDevices({ ramDisk, arpFor: "10.0.2.2", reply: "pong-from-the-host", consoleLog }), cmdline: CMDLINE });
    const tail = r.text.slice(-3000);
    expect(parseStockReport(r.text)?.virtio.slice().sort(), tail).toEqual([1, 2, 3, 4]);
    expect(r.text, tail).toMatch(/^STOCK-BLK ok 65536/m);
    expect(new Uint8Array(ramDisk, 0, 65536)).toEqual(new TextEncoder().encode("ourdisk3\n".repeat(8000)).subarray(0, 65536));
    const rng = /^STOCK-RNG 32 ([0-9a-f]{32})/m.exec(r.text);
    expect(rng, tail).not.toBeNull();
    expect(longestRun(rng?.[1] ?? "")).toBeGreaterThanOrEqual(8); // the module's counting bytes, not crypto's
    expect(r.text).toMatch(new RegExp(`^STOCK-ARP ok ${RESPONDER_MAC}`, "mi"));
    expect(r.text).toMatch(/^STOCK-HVC pong-from-the-host\r?$/m);
    expect(readFileSync(consoleLog, "utf8")).toContain("STOCK-HVC-HELLO");
    expect(r.end.reason).toBe("poweroff");
  });

  it("negative control: a responder for another address and a console module that does not answer: ARP and console go red, blk and rng stay green", async () => {
    const ramDisk = new SharedArrayBuffer(DISK_SECTORS * 512);
    const r = await boot({ engine: "qemu", acpi: true, cpus: 1, devices: ourDevices({ ramDisk, arpFor: "10.0.2.3", consoleLog: join(dir, "hvc-silent.log") }), cmdline: CMDLINE });
    expect(r.text, r.text.slice(-3000)).toMatch(/^STOCK-ARP fail -/m);
    expect(r.text).toMatch(/^STOCK-HVC -\r?$/m);
    expect(r.text).toMatch(/^STOCK-BLK ok 65536/m);
    expect(longestRun(/^STOCK-RNG 32 ([0-9a-f]{32})/m.exec(r.text)?.[1] ?? "")).toBeGreaterThanOrEqual(8);
  });
});

const kvmWhy =
  skip ??
  kvmUnavailableReason() ??
  (process.env["MICROVM_LINUX_E2E"] === "1" ? undefined : "opt-in: set MICROVM_LINUX_E2E=1 on a host with hardware KVM (a nested, emulated KVM does not boot Linux in useful time)");
describe.skipIf(kvmWhy !== undefined)(title("Debian's stock kernel on our ACPI tables (KVM engine)", kvmWhy), () => {
  it("finds the devices from our DSDT, and powerdown() through our GED ends the machine with poweroff", async () => {
    const r = await boot({ engine: "kvm", acpi: true, cpus: 2, devices: [{ kind: "rng" }, { kind: "blk", backend: { type: "file", path: disk } }], cmdline: "stock.wait=powerbutton" }, { powerButton: true });
    const report = parseStockReport(r.text);
    expect(sorted(report?.virtio ?? [])).toEqual([2, 4]);
    expect(report?.cpus).toBe(2);
    expect(r.text).toMatch(/^STOCK-POWERBUTTON/m);
    expect(r.end.reason).toBe("poweroff");
  });
});
