/**
 * Debian's stock cloud kernel (linux-image-cloud-amd64, 6.1) for end-to-end tests of a machine
 * described by ACPI tables: the build (scripts/stock-kernel/build.sh, cached outside the
 * checkout), the parsers of what its /init prints (scripts/stock-kernel/init documents the
 * lines), and runs on QEMU's own microvm under TCG, the reference: QEMU's ACPI tables for a given
 * machine are the golden ones a comparison test holds ours against.
 *
 * This kernel has PVH and ACPI built in and virtio-mmio as a module WITHOUT
 * VIRTIO_MMIO_CMDLINE_DEVICES: it finds virtio-mmio transports only through the DSDT's LNRO0005
 * devices, so the devices it reports are the ones the tables describe.
 *
 * @example
 * ```ts
 * const k = stockKernel();
 * if ("skip" in k) return; // describe.skipIf(…)(`… (skipped: ${k.skip})`)
 * const tables = await bootQemuMicrovmAcpi({ kernel: k, cpus: 2, devices: ["blk", "net"] });
 * tables.get("DSDT"); // QEMU's DSDT for that machine, bytes as the guest saw them
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostTsc } from "../../src/node/host-tsc.js";
import { QmpClient } from "../../src/qemu/qmp.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
/** The build script; `--print` prints the paths of a finished build, or exits 3. */
export const STOCK_BUILD: string = join(ROOT, "scripts", "stock-kernel", "build.sh");

/** The three artifacts of scripts/stock-kernel/build.sh. */
export interface StockKernel {
  /** The ELF inside the bzImage (with the Xen PVH entry note), for our loader. */
  readonly vmlinux: string;
  /** Debian's bzImage as packaged, for QEMU's `-kernel`. */
  readonly bzImage: string;
  /** A newc cpio: busybox-static, the virtio modules and scripts/stock-kernel/init. */
  readonly initramfs: string;
}

function parsePaths(stdout: string): StockKernel | undefined {
  const kv = Object.fromEntries(stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  const vmlinux = kv["vmlinux"];
  const bzImage = kv["bzimage"];
  const initramfs = kv["initramfs"];
  return vmlinux && bzImage && initramfs ? { vmlinux, bzImage, initramfs } : undefined;
}

/** The build's failures that mean "Debian's mirror is out of reach", not "the script is broken". */
const OFFLINE_RE = /apt-get download \S+ failed|cannot resolve linux-image|Failed to fetch|Temporary failure resolving|Could not resolve|Unable to fetch/;

/**
 * The stock kernel's artifacts, building them first (synchronously, seconds: one ~30 MB
 * download) when they are missing and this process may: as root (the build installs Debian
 * tools and makes a device node). Otherwise, or when apt cannot reach Debian's mirror, or when
 * the host's TSC rate is unknown, why not, for a skip.
 *
 * @returns the paths, or `{ skip }` with the reason (for a `(skipped: …)` title)
 * @throws Error when the build itself fails (a skip would hide a broken script)
 * @example
 * ```ts
 * const k = stockKernel();
 * const why = "skip" in k ? k.skip : undefined;
 * ```
 */
export function stockKernel(): StockKernel | { skip: string } {
  // Its users boot it under TCG with ACPI, which needs the host's TSC rate (tsc_early_khz=): where
  // that cannot be known the boots may hang (docs/machine.md, "The guest's TSC under TCG").
  const tsc = hostTsc();
  if ("unknown" in tsc) return { skip: `the host's TSC rate is unknown (${tsc.unknown}): an ACPI guest under TCG may hang` };
  const printed = spawnSync("bash", [STOCK_BUILD, "--print"], { encoding: "utf8" });
  if (printed.error) return { skip: `bash is not available (${printed.error.message})` };
  if (printed.status === 0) {
    const paths = parsePaths(printed.stdout);
    if (paths) return paths;
    throw new Error(`unexpected output of ${STOCK_BUILD} --print:\n${printed.stdout}`);
  }
  if (printed.status !== 3) throw new Error(`${STOCK_BUILD} --print failed (status ${printed.status}):\n${printed.stderr}`);
  if (process.getuid?.() !== 0) return { skip: "Debian's stock cloud kernel is not built here and building it needs root: run scripts/stock-kernel/build.sh as root" };
  const built = spawnSync("bash", [STOCK_BUILD], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 15 * 60_000 });
  if (built.status !== 0 && OFFLINE_RE.test(built.stderr)) {
    const line = built.stderr.trim().split("\n").find((l) => OFFLINE_RE.test(l)) ?? "";
    return { skip: `Debian's stock cloud kernel is not built here and apt cannot reach Debian's mirror (${line.trim()}): run scripts/stock-kernel/build.sh` };
  }
  if (built.status !== 0) throw new Error(`${STOCK_BUILD} failed (status ${built.status ?? built.signal}):\n${built.stderr}`);
  const paths = parsePaths(built.stdout);
  if (!paths) throw new Error(`unexpected output of ${STOCK_BUILD}:\n${built.stdout}`);
  return paths;
}

// ---- what the guest prints ------------------------------------------------------------------------

/** The `STOCK-REPORT` line of scripts/stock-kernel/init, parsed. */
export interface StockReport {
  /** Online CPUs. */
  readonly cpus: number;
  /** Virtio device IDs (`/sys/bus/virtio/devices/ * /device`), in the kernel's device order: 1 net, 2 blk, 4 rng, 3 console. */
  readonly virtio: number[];
  /** The virtio disks and their sizes in 512-byte sectors. */
  readonly blk: { readonly name: string; readonly sectors: number }[];
  /** `eth*` interfaces. */
  readonly net: string[];
  /** ttyS ports with a UART behind them. */
  readonly ttyS: string[];
  /** Whether the kernel found a DSDT (ACPI is in use). */
  readonly acpi: boolean;
  /** The `_HID`s among LNRO0005, PNP0501, ACPI0013, PNP0C0C, sorted, one per ACPI device. */
  readonly hids: string[];
}

const REPORT_RE = /^STOCK-REPORT cpus=(\d+) virtio=(\S*) blk=(\S*) net=(\S*) ttyS=(\S*) acpi=(yes|no) hid=(\S*)\s*$/m;
const list = (s: string): string[] => (s === "" ? [] : s.split(","));

/**
 * Parses the guest's `STOCK-REPORT` line out of its console output (kernel lines around it are
 * ignored; a `\r` before the newline is allowed).
 *
 * @returns the report, or undefined when there is no well-formed line
 * @example
 * ```ts
 * parseStockReport("STOCK-REPORT cpus=2 virtio=0x0002 blk=vda:2048 net= ttyS=ttyS0 acpi=yes hid=LNRO0005\n");
 * // { cpus: 2, virtio: [2], blk: [{ name: "vda", sectors: 2048 }], net: [], ttyS: ["ttyS0"], acpi: true, hids: ["LNRO0005"] }
 * ```
 */
export function parseStockReport(text: string): StockReport | undefined {
  const m = REPORT_RE.exec(text.replace(/\r/g, ""));
  if (!m) return undefined;
  const [, cpus, virtio, blk, net, ttyS, acpi, hid] = m as unknown as [string, string, string, string, string, string, string, string];
  const disks = list(blk).map((d) => {
    const [name, sectors] = d.split(":");
    return { name: name ?? "", sectors: Number(sectors) };
  });
  const ids = list(virtio).map((v) => Number.parseInt(v, 16));
  if (ids.some((n) => Number.isNaN(n)) || disks.some((d) => d.name === "" || !Number.isInteger(d.sectors))) return undefined;
  return { cpus: Number(cpus), virtio: ids, blk: disks, net: list(net), ttyS: list(ttyS), acpi: acpi === "yes", hids: list(hid) };
}

/**
 * The `STOCK-TABLE <signature> <hex>` lines (stock.dump=1): each ACPI table the guest's kernel
 * exposes in /sys/firmware/acpi/tables (DSDT, FACP, APIC; Linux lists no RSDP/XSDT there).
 *
 * @returns the tables by signature, in the order printed; empty when there is none
 * @example
 * ```ts
 * parseStockTables("STOCK-TABLE DSDT 44534454\n").get("DSDT"); // Uint8Array [0x44, 0x53, 0x44, 0x54]
 * ```
 */
export function parseStockTables(text: string): Map<string, Uint8Array> {
  const tables = new Map<string, Uint8Array>();
  for (const m of text.replace(/\r/g, "").matchAll(/^STOCK-TABLE (\S+) ((?:[0-9a-f]{2})+)$/gm)) {
    tables.set(m[1] as string, new Uint8Array(Buffer.from(m[2] as string, "hex")));
  }
  return tables;
}

/**
 * The `STOCK-IRQ` line (stock.interrupts=1): /proc/interrupts, one entry per line of it.
 *
 * @returns the lines, or undefined when the guest printed none
 * @example
 * ```ts
 * parseStockIrqs("STOCK-IRQ  CPU0 | 52: 16 IO-APIC 4-edge ttyS0\n"); // ["CPU0", "52: 16 IO-APIC 4-edge ttyS0"]
 * ```
 */
export function parseStockIrqs(text: string): string[] | undefined {
  const m = /^STOCK-IRQ (.*)$/m.exec(text.replace(/\r/g, ""));
  return m ? (m[1] as string).split("|").map((l) => l.trim()) : undefined;
}

// ---- QEMU's microvm, the reference ------------------------------------------------------------------

/** A device of a QEMU microvm run, on a virtio-mmio transport. */
export type StockDevice = "blk" | "net" | "rng";

/** What {@link runQemuMicrovm} boots. */
export interface QemuMicrovmOptions {
  readonly kernel: StockKernel;
  /** vCPUs (`-smp`); default 2. */
  readonly cpus?: number;
  /** RAM in MiB; default 256. */
  readonly memMib?: number;
  /** The devices, in this order on QEMU's command line; default none. */
  readonly devices?: readonly StockDevice[];
  /** The virtio-blk disk's size in bytes (a sparse temporary raw file); default 1 MiB. */
  readonly diskBytes?: number;
  /** `-M microvm,acpi=on` (the default) or `acpi=off`. */
  readonly acpi?: boolean;
  /** More `-M microvm` properties, e.g. `["ioapic2=off"]`. */
  readonly machine?: readonly string[];
  /** Appended to the kernel command line (`console=ttyS0 tsc_early_khz=…` comes first). */
  readonly append?: string;
  /** Press the ACPI power button (QMP `system_powerdown`) when the guest says it waits for it
   * (`stock.wait=powerbutton` is added to the command line). */
  readonly powerButton?: boolean;
  /** Hard limit for the run; QEMU is killed then. Default 60 s. */
  readonly timeoutMs?: number;
  /** More QEMU arguments, after the devices (e.g. a vhost-user chardev and device). */
  readonly args?: readonly string[];
  /** Called with the whole console text so far, each time more arrives. */
  readonly onText?: (text: string) => void;
}

/** How a {@link runQemuMicrovm} run went. */
export interface QemuMicrovmRun {
  /** Everything on the serial console (the kernel's log and /init's lines). */
  readonly text: string;
  /** From QEMU's start to its end, in ms. */
  readonly ms: number;
  /**
   * `exited`: QEMU ended by itself (ACPI power-off); `halted`: the kernel halted ("reboot: System
   * halted", no ACPI power-off) or powered off and QEMU was stopped; `timeout`: the limit hit.
   */
  readonly end: "exited" | "halted" | "timeout";
  /** QEMU's exit status, or the signal that ended it. */
  readonly status: number | string | null;
  /** QEMU's stderr. */
  readonly stderr: string;
  /** The command line run (for messages). */
  readonly argv: readonly string[];
}

/**
 * The TSC rate for `tsc_early_khz=`: under TCG, with no kvmclock, the kernel's PIT calibration is
 * timing-sensitive and sometimes fails ("tsc: Unable to calibrate against PIT"); this kernel then
 * stalls. The same source the QEMU engine uses for ACPI boards (src/node/host-tsc.ts).
 */
function tscKhz(): number {
  const t = hostTsc();
  if ("unknown" in t) throw new Error(`the host's TSC rate: ${t.unknown}`);
  return t.khz;
}

/**
 * Boots the stock kernel on QEMU's own microvm under TCG (`-accel tcg -cpu max`, no /dev/kvm)
 * with `-kernel` (the bzImage) and `-initrd`, the console on QEMU's stdout. QEMU is killed on
 * every path (the limit, a halt, an error), and the temporary directory (disk, QMP socket) is
 * removed.
 *
 * @returns the console text and how the run ended
 * @example
 * ```ts
 * const run = await runQemuMicrovm({ kernel: k, devices: ["blk"], append: "stock.dump=1" });
 * parseStockReport(run.text)?.blk; // [{ name: "vda", sectors: 2048 }]
 * ```
 */
export async function runQemuMicrovm(opts: QemuMicrovmOptions): Promise<QemuMicrovmRun> {
  const dir = mkdtempSync(join(tmpdir(), "microvm-stock-"));
  const qmpPath = join(dir, "qmp.sock");
  const machine = ["microvm", `acpi=${opts.acpi === false ? "off" : "on"}`, ...(opts.machine ?? [])].join(",");
  const append = ["console=ttyS0", `tsc_early_khz=${tscKhz()}`, ...(opts.powerButton ? ["stock.wait=powerbutton"] : []), ...(opts.append ? [opts.append] : [])].join(" ");
  const args = [
    "-M", machine, "-accel", "tcg", "-cpu", "max", "-smp", String(opts.cpus ?? 2), "-m", `${opts.memMib ?? 256}M`,
    "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
    "-kernel", opts.kernel.bzImage, "-initrd", opts.kernel.initramfs, "-append", append,
    ...(opts.powerButton ? ["-qmp", `unix:${qmpPath},server=on,wait=off`] : []),
  ];
  for (const [i, d] of (opts.devices ?? []).entries()) {
    if (d === "blk") {
      const disk = join(dir, `disk${i}.raw`);
      writeFileSync(disk, "");
      truncateSync(disk, opts.diskBytes ?? 1 << 20); // sparse
      args.push("-drive", `id=d${i},if=none,format=raw,file=${disk}`, "-device", `virtio-blk-device,drive=d${i}`);
    } else if (d === "net") args.push("-netdev", `user,id=n${i}`, "-device", `virtio-net-device,netdev=n${i}`);
    else args.push("-device", "virtio-rng-device");
  }
  args.push(...(opts.args ?? []));
  const t0 = performance.now();
  const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  let stderr = "";
  let end: QemuMicrovmRun["end"] = "exited";
  let pressed = false;
  let qmpSocket: Socket | undefined;
  const kill = (why: QemuMicrovmRun["end"]): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    end = why;
    child.kill("SIGKILL");
  };
  const limit = setTimeout(() => kill("timeout"), opts.timeoutMs ?? 60_000);
  let haltTimer: NodeJS.Timeout | undefined;
  const pressPowerButton = async (): Promise<void> => {
    qmpSocket?.destroy();
    qmpSocket = createConnection(qmpPath);
    await new Promise<void>((resolve, reject) => {
      qmpSocket?.once("connect", resolve).once("error", reject);
    });
    const qmp = await QmpClient.open(qmpSocket, () => {});
    await qmp.execute("system_powerdown");
  };
  // The button is pressed when the guest says it waits, and again every 5 s until it says it saw
  // the press (a press can be lost under TCG's timing: the guest's reader may be late).
  let pressTimer: NodeJS.Timeout | undefined;
  const press = (): void => {
    if (/^STOCK-POWERBUTTON/m.test(text) || child.exitCode !== null || child.signalCode !== null) return;
    pressPowerButton().catch((e: unknown) => {
      text += `\n[test] QMP system_powerdown failed: ${String(e)}\n`;
    });
    pressTimer = setTimeout(press, 5_000);
  };
  child.stdout.setEncoding("latin1").on("data", (c: string) => {
    text += c;
    if (opts.powerButton && !pressed && /^STOCK-WAIT powerbutton/m.test(text)) {
      pressed = true;
      press();
    }
    // Without ACPI (or when ACPI's power-off fails) the kernel halts and QEMU keeps running.
    if (haltTimer === undefined && /reboot: (System halted|Power down)/.test(text)) haltTimer = setTimeout(() => kill("halted"), 2_000);
    opts.onText?.(text);
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => void (stderr += c));
  const status = await new Promise<number | string | null>((resolve) => {
    child.once("error", (e) => {
      stderr += String(e);
      resolve(null);
    });
    child.once("close", (code, signal) => resolve(code ?? signal));
  });
  clearTimeout(limit);
  clearTimeout(haltTimer);
  clearTimeout(pressTimer);
  qmpSocket?.destroy();
  rmSync(dir, { recursive: true, force: true });
  return { text, ms: performance.now() - t0, end, status, stderr, argv: ["qemu-system-x86_64", ...args] };
}

/**
 * QEMU's own ACPI tables for a microvm of the given CPUs and devices (`-M microvm,acpi=on`), as
 * the stock kernel saw them (stock.dump=1): the golden tables for a comparison with ours. The
 * RSDP and XSDT are not among them (Linux does not expose them in /sys/firmware/acpi/tables).
 *
 * @returns the tables by signature: DSDT, FACP, APIC
 * @throws Error when the guest printed no report or no table (the console's tail in the message)
 * @example
 * ```ts
 * const golden = await bootQemuMicrovmAcpi({ kernel: k, cpus: 2, devices: ["blk", "rng", "net"] });
 * expect(ourDsdt).toEqual(golden.get("DSDT"));
 * ```
 */
export async function bootQemuMicrovmAcpi(opts: Omit<QemuMicrovmOptions, "acpi" | "powerButton">): Promise<Map<string, Uint8Array>> {
  const run = await runQemuMicrovm({ ...opts, append: ["stock.dump=1", ...(opts.append ? [opts.append] : [])].join(" ") });
  const tables = parseStockTables(run.text);
  if (parseStockReport(run.text) === undefined || tables.size === 0) {
    throw new Error(`QEMU microvm (${run.end}, status ${run.status}) printed no STOCK-REPORT/STOCK-TABLE lines:\n${run.text.slice(-3000)}\n${run.stderr}`);
  }
  return tables;
}
