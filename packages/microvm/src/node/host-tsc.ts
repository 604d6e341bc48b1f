/**
 * The host's TSC rate, for guests under QEMU's TCG. TCG's RDTSC returns the host's own counter
 * (QEMU's cpu_get_host_ticks), so the guest's TSC runs at the host's rate; a Linux guest with
 * hardware-reduced ACPI has no PIT clock event to calibrate it against and, without being told
 * (`tsc_early_khz=`), can wait forever in its delay-loop calibration. Sources, in order:
 * `MICROVM_TSC_KHZ`; the kernel's own figure when it knows the rate exactly (`tsc_known_freq` in
 * /proc/cpuinfo); a measurement against the monotonic clock (RDTSC run from a page of code
 * through koffi, x86-64 only), cached for the process.
 */
import { readFileSync } from "node:fs";
import { libc, loadKoffi } from "./libc.js";

/**
 * The host's TSC rate and where it came from.
 *
 * @example
 * ```ts
 * const t: HostTsc = { khz: 2_600_000, source: "cpuinfo" };
 * ```
 */
export interface HostTsc {
  /** The rate in kHz. */
  readonly khz: number;
  /** `env` (MICROVM_TSC_KHZ), `cpuinfo` (the kernel's known frequency) or `measured`. */
  readonly source: "env" | "cpuinfo" | "measured";
}

let cached: HostTsc | { readonly unknown: string } | undefined;

/**
 * The host's TSC rate, or why it is unknown.
 *
 * @returns the rate, or `{ unknown: reason }`
 * @throws Error when MICROVM_TSC_KHZ is set but not an integer 1000..100000000
 * @example
 * ```ts
 * const t = hostTsc();
 * if ("khz" in t) cmdline += ` tsc_early_khz=${t.khz}`;
 * ```
 */
export function hostTsc(): HostTsc | { readonly unknown: string } {
  const env = process.env["MICROVM_TSC_KHZ"];
  if (env !== undefined && env !== "") {
    const khz = Number(env);
    if (!Number.isInteger(khz) || khz < 1000 || khz > 100_000_000) throw new Error(`MICROVM_TSC_KHZ: expected the host's TSC rate in kHz, an integer 1000..100000000, got ${JSON.stringify(env)}`);
    return { khz, source: "env" };
  }
  cached ??= fromCpuinfo() ?? measureHostTsc();
  return cached;
}

/** The kernel's figure, when it took the rate from CPUID or the hypervisor rather than calibrating it. */
function fromCpuinfo(): HostTsc | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
  const cpu0 = text.split(/\n\s*\n/)[0] ?? "";
  const flags = /^flags\s*:(.*)$/m.exec(cpu0)?.[1]?.split(/\s+/) ?? [];
  const mhz = Number(/^cpu MHz\s*:\s*([0-9.]+)$/m.exec(cpu0)?.[1]);
  // tsc_known_freq: the kernel read the rate, it did not measure it; without a cpufreq driver
  // (as in a VM), "cpu MHz" is that rate (arch/x86/kernel/cpu/proc.c falls back to cpu_khz).
  if (!flags.includes("tsc_known_freq") || flags.includes("aperfmperf") || !(mhz > 0)) return undefined;
  return { khz: Math.round(mhz * 1000), source: "cpuinfo" };
}

/**
 * Measures the TSC rate: RDTSC against the monotonic clock over 2 × 25 ms; the lower slope is
 * kept (a preemption between the reads only raises one). x86-64 Linux only.
 *
 * @returns the rate, or why it could not be measured
 * @internal
 */
export function measureHostTsc(): HostTsc | { readonly unknown: string } {
  if (process.arch !== "x64" || process.platform !== "linux") return { unknown: `the host is ${process.platform}/${process.arch}: the TSC rate is measured on x86-64 Linux only (set MICROVM_TSC_KHZ)` };
  try {
    const c = libc();
    // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS (asm-generic/mman-common.h); then PROT_READ|PROT_EXEC.
    const page = c.mmap(4096, 3, 0x22, -1, 0);
    if (page < 0n) return { unknown: "mmap of a code page failed (set MICROVM_TSC_KHZ)" };
    try {
      // rdtsc; shl rdx, 32; or rax, rdx; ret (Intel SDM vol. 2B, RDTSC: EDX:EAX)
      new Uint8Array(c.view(page, 16)).set([0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3]);
      if (c.mprotect(page, 4096, 5) !== 0) return { unknown: "the host does not allow an executable page (set MICROVM_TSC_KHZ)" };
      const koffi = loadKoffi();
      const proto = koffi.proto("uint64_t microvm_rdtsc()");
      const rdtsc = (): bigint => BigInt(koffi.call(page, proto) as number | bigint);
      const slopes: number[] = [];
      for (let i = 0; i < 2; i++) {
        const t0 = process.hrtime.bigint();
        const c0 = rdtsc();
        let t1 = t0;
        while ((t1 = process.hrtime.bigint()) - t0 < 25_000_000n);
        const c1 = rdtsc();
        slopes.push(Number(((c1 - c0) * 1_000_000n) / (t1 - t0)));
      }
      const khz = Math.round(Math.min(...slopes));
      if (!(khz >= 1000)) return { unknown: `the measured TSC rate (${khz} kHz) is not plausible (set MICROVM_TSC_KHZ)` };
      return { khz, source: "measured" };
    } finally {
      c.munmap(page, 4096);
    }
  } catch (e) {
    return { unknown: `the TSC rate could not be measured: ${e instanceof Error ? e.message : String(e)} (set MICROVM_TSC_KHZ)` };
  }
}
