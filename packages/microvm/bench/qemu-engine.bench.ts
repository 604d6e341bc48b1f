// QEMU engine rows of `pnpm bench`: what running our plan inside qemu-system-x86_64 (our ROM,
// tables and entry state as -bios and -device loader blobs, QEMU started paused and driven over
// QMP, see src/qemu/) costs against the same QEMU booting the same kernel with its own loader, as a
// user would type it by hand. Both rows run under TCG (-accel tcg -cpu max), so they need no
// /dev/kvm and measure the same thing on every host.
// - "QEMU engine overhead": the whole `microvm -accel tcg` CLI process on the test guest (legacy,
//   SMP 2, the 16550A on stdout), spawn to exit, against `qemu-system-x86_64 -kernel` on the same
//   guest; both runs must PASS the guest's checks (and the same checks), else the row throws.
// - "Linux to init under TCG": the recipe kernel (scripts/linux/build-kernel.sh) from the
//   createMachine() call (reading vmlinux and initramfs included: QEMU reads them too) to the
//   serial line "Run /init as init process", against QEMU's own PVH boot of that kernel from spawn
//   to the same line. Each side is stopped as soon as the line is seen. Some boots on either side
//   wait ~1 s for the absent CMOS clock and some do not (see waitedForRtc); the row prints the two
//   groups separately after the table's figures are taken.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchCase } from "../../../bench/harness.ts";
import { buildGuests, compareReports, parseReport, qemuAvailable, REPO_ROOT } from "../../../test/guests/harness.ts";
import { createMachine } from "../src/index.js";

const CLI = fileURLToPath(new URL("../dist/cli.cjs", import.meta.url)); // the bin (package.json "bin")
const QEMU = "qemu-system-x86_64";
const PASS_RE = /^summary pass=\d+ fail=0 result=PASS\r?$/m;
const INIT_LINE = "Run /init as init process";
const RUN_TIMEOUT_MS = 60_000;

/**
 * Whether a Linux boot spent ~1 s waiting for the CMOS clock: both sides run without an RTC
 * (rtc=off), and Linux 6.1 under TCG (no kvmclock) reads its wall clock from CMOS, waiting up to
 * a second for an update-in-progress bit that an absent RTC (reads of 0xff) never clears. The wait
 * is only real when the kernel calibrated its TSC on the PIT first ("tsc: Fast TSC calibration
 * using PIT"), which under TCG succeeds in some boots and fails in others, on either side. So the
 * row's samples fall in two groups ~1 s apart; the teardown prints each group on its own.
 */
function waitedForRtc(text: string): boolean | undefined {
  const m = /\[\s*(\d+\.\d+)\] Unable to read current time from RTC/.exec(text);
  return m ? Number(m[1]) >= 0.5 : undefined;
}

/** QEMU's microvm as a user types it: its own loader (qboot, fw_cfg), no ACPI, the ISA UART on. */
const QEMU_MACHINE = "microvm,acpi=off,x-option-roms=off,rtc=off,isa-serial=on";
const TCG = ["-accel", "tcg", "-cpu", "max"];

const noQemu = (): string | undefined => (qemuAvailable() ? undefined : `${QEMU} not found`);

/** The recipe kernel's paths (`build-kernel.sh --print`), or why there are none. */
function recipeKernel(): { vmlinux: string; initramfs: string } | { skip: string } {
  const r = spawnSync("bash", [join(REPO_ROOT, "scripts", "linux", "build-kernel.sh"), "--print"], { encoding: "utf8" });
  if (r.status === 3) return { skip: "the recipe kernel is not built (bash scripts/linux/build-kernel.sh builds it)" };
  if (r.status !== 0) return { skip: `scripts/linux/build-kernel.sh --print failed (status ${String(r.status)}): ${(r.stderr ?? "").trim().split("\n").pop() ?? ""}` };
  const kv = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  const vmlinux = kv["vmlinux"];
  const initramfs = kv["initramfs"];
  if (!vmlinux || !initramfs) return { skip: `scripts/linux/build-kernel.sh --print printed no vmlinux=/initramfs= paths: ${r.stdout.trim()}` };
  if (!existsSync(vmlinux) || !existsSync(initramfs)) return { skip: `the recipe kernel's files are missing: ${vmlinux}, ${initramfs}` };
  return { vmlinux, initramfs };
}

/** Runs a whole process to its exit; returns the wall time and what it printed. Throws unless the guest passed. */
function wholeRun(what: string, cmd: string, args: readonly string[]): { ms: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "latin1", maxBuffer: 16 << 20, timeout: RUN_TIMEOUT_MS, killSignal: "SIGKILL" });
  const ms = performance.now() - t0;
  if (r.error || r.status !== 0 || !PASS_RE.test(r.stdout)) {
    throw new Error(
      `QEMU engine overhead: ${what} did not PASS (status ${String(r.status)}, signal ${String(r.signal)}${r.error ? `, ${r.error.message}` : ""}):\n` +
        `$ ${[cmd, ...args].join(" ")}\n--- stdout (tail) ---\n${(r.stdout ?? "").slice(-2000)}\n--- stderr ---\n${(r.stderr ?? "").slice(-2000)}`,
    );
  }
  return { ms, stdout: r.stdout };
}

/** Reads a serial stream until `line` appears; resolves with the text so far, or rejects with its tail. */
async function untilLine(chunks: AsyncIterable<Uint8Array>, line: string, what: string): Promise<string> {
  let text = "";
  for await (const c of chunks) {
    text += Buffer.from(c).toString("latin1");
    if (text.includes(line)) return text;
    if (text.length > 1 << 20) text = text.slice(-(1 << 19));
  }
  throw new Error(`Linux to init: ${what}: the serial output ended without "${line}":\n${text.slice(-3000)}`);
}

/** Spawns QEMU; resolves with the milliseconds from spawn to `line` on its stdout and the text so far, then kills it. */
function qemuUntilLine(args: readonly string[], line: string): Promise<{ ms: number; text: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(QEMU, args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    let err = "";
    let ms: number | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.stdout.on("data", (d: Buffer) => {
      if (ms !== undefined) return;
      text = (text + d.toString("latin1")).slice(-(1 << 19));
      if (text.includes(line)) {
        ms = performance.now() - t0;
        child.kill("SIGKILL");
      }
    });
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4096)));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (ms !== undefined) resolve({ ms, text });
      else reject(new Error(`Linux to init: ${QEMU} ended (status ${String(code)}, signal ${String(signal)}) without "${line}":\n$ ${[QEMU, ...args].join(" ")}\n${text.slice(-3000)}\n${err}`));
    });
  });
}

export function cases(): BenchCase[] {
  // ---- 1: the CLI on the QEMU engine vs the same QEMU command typed by hand -------------------
  let ours: string[] = [];
  let ref: string[] = [];
  const overhead: BenchCase = {
    name: "QEMU engine overhead: microvm -accel tcg whole process, test guest (legacy, SMP 2, UART on stdio)",
    unit: "ms",
    better: "lower",
    reference: "the same QEMU command typed by hand (qemu-system-x86_64 -M microvm -accel tcg -kernel, qboot), same guest",
    goal: "<= 1.10",
    reps: 9,
    warmup: 1,
    skip: () => noQemu() ?? (!existsSync(CLI) ? "packages/microvm/dist/cli.cjs not built (pnpm build)" : undefined),
    async setup() {
      const kernel = (await buildGuests()).elf64;
      const append = "console=ttyS0 microvm.expect_cpus=2 microvm.mem_mib=128";
      ours = [CLI, "-M", "microvm,legacy", "-accel", "tcg", "-m", "128m", "-smp", "2", "-nodefaults", "-no-user-config",
        "-serial", "stdio", "-kernel", kernel, "-append", append];
      ref = ["-M", QEMU_MACHINE, ...TCG, "-m", "128m", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-kernel", kernel, "-append", append];
      // Once, before sampling: both sides report the same checks with the same results (the
      // `info` lines differ: the tables are ours on one side, qboot's on the other).
      const a = parseReport(wholeRun("microvm (QEMU engine)", process.execPath, ours).stdout);
      const b = parseReport(wholeRun(QEMU, QEMU, ref).stdout);
      const diffs = compareReports(a, b);
      if (diffs.length > 0 || a.checks.length === 0) {
        throw new Error(`QEMU engine overhead: the two sides report different checks:\n${diffs.map((d) => `${d.name}: ours ${d.a?.status ?? "-"} ${d.a?.got ?? ""}, QEMU ${d.b?.status ?? "-"} ${d.b?.got ?? ""}`).join("\n")}`);
      }
    },
    ours: () => wholeRun("microvm (QEMU engine)", process.execPath, ours).ms,
    ref: () => wholeRun(QEMU, QEMU, ref).ms,
  };

  // ---- 2: Linux to /init, the engine (API) vs QEMU's own PVH boot ------------------------------
  let vmlinux = "";
  let initramfs = "";
  const cmdline = "console=ttyS0 reboot=t panic=-1";
  const LINUX_WARMUP = 1;
  const boots: Record<"ours" | "ref", { ms: number; rtc: boolean | undefined }[]> = { ours: [], ref: [] };
  const linux: BenchCase = {
    name: "Linux to init under TCG: recipe kernel, 2 CPUs, 512 MiB, createMachine (engine qemu) to \"Run /init\"",
    unit: "ms",
    better: "lower",
    reference: "qemu-system-x86_64 -M microvm -accel tcg -kernel vmlinux -initrd (QEMU's PVH boot, qboot), spawn to the same line",
    goal: "<= 1.0",
    reps: 11,
    warmup: LINUX_WARMUP,
    skip() {
      const q = noQemu();
      if (q) return q;
      const k = recipeKernel();
      if ("skip" in k) return k.skip;
      vmlinux = k.vmlinux;
      initramfs = k.initramfs;
      return undefined;
    },
    async ours() {
      const t0 = performance.now();
      const m = await createMachine({
        kernel: new Uint8Array(readFileSync(vmlinux)),
        initrd: new Uint8Array(readFileSync(initramfs)),
        cpus: 2,
        memory: 512 << 20,
        legacy: true,
        cmdline,
        engine: "qemu",
        accel: "tcg",
      });
      const timer = setTimeout(() => void m.stop(), RUN_TIMEOUT_MS);
      try {
        const text = await untilLine(m.serial(), INIT_LINE, "the QEMU engine");
        const ms = performance.now() - t0;
        boots.ours.push({ ms, rtc: waitedForRtc(text) });
        return ms;
      } finally {
        clearTimeout(timer);
        await m.stop();
      }
    },
    async ref() {
      const { ms, text } = await qemuUntilLine(
        ["-M", QEMU_MACHINE, ...TCG, "-m", "512m", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
          "-serial", "stdio", "-kernel", vmlinux, "-initrd", initramfs, "-append", cmdline],
        INIT_LINE,
      );
      boots.ref.push({ ms, rtc: waitedForRtc(text) });
      return ms;
    },
    teardown() {
      // The two groups of boots (see waitedForRtc), each side's median in each, warm-up excluded.
      const median = (xs: number[]): number => {
        const s = [...xs].sort((a, b) => a - b);
        const mid = (s.length - 1) / 2;
        return s.length === 0 ? Number.NaN : ((s[Math.floor(mid)] as number) + (s[Math.ceil(mid)] as number)) / 2;
      };
      const group = (side: "ours" | "ref", rtc: boolean): number[] => boots[side].slice(LINUX_WARMUP).filter((b) => b.rtc === rtc).map((b) => b.ms);
      const part = (rtc: boolean): string => {
        const a = group("ours", rtc);
        const b = group("ref", rtc);
        const ratio = a.length && b.length ? ` (${(median(a) / median(b)).toFixed(2)}x)` : "";
        const med = (xs: number[]): string => (xs.length ? `, median ${Math.round(median(xs))} ms` : "");
        return `${rtc ? "with" : "without"} the RTC wait: ours ${a.length} boots${med(a)}; QEMU ${b.length} boots${med(b)}${ratio}`;
      };
      process.stderr.write(`bench: Linux to init: ${part(false)}; ${part(true)}\n`);
      boots.ours = [];
      boots.ref = [];
    },
  };
  return [overhead, linux];
}
