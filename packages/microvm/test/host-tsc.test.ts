// The host's TSC rate (node/host-tsc.ts), which an ACPI board under TCG passes to Linux as
// tsc_early_khz=: the measurement agrees with the kernel's own figure where the kernel knows it
// (tsc_known_freq), and MICROVM_TSC_KHZ overrides both or is refused by name when malformed.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { hostTsc, measureHostTsc } from "../src/node/host-tsc.js";

const cpuinfo = readFileSync("/proc/cpuinfo", "utf8").split(/\n\s*\n/)[0] ?? "";
const known = /^flags\s*:.*\btsc_known_freq\b/m.test(cpuinfo) && !/^flags\s*:.*\baperfmperf\b/m.test(cpuinfo);
const mhz = Number(/^cpu MHz\s*:\s*([0-9.]+)$/m.exec(cpuinfo)?.[1]);
const x64 = process.arch === "x64" && process.platform === "linux";

describe("the host's TSC rate", () => {
  const saved = process.env["MICROVM_TSC_KHZ"];
  afterEach(() => {
    if (saved === undefined) delete process.env["MICROVM_TSC_KHZ"];
    else process.env["MICROVM_TSC_KHZ"] = saved;
  });

  it.skipIf(!x64 || !known)(`the measurement agrees with the kernel's known rate within 2%${!x64 ? " (skipped: not x86-64 Linux)" : !known ? " (skipped: the host kernel does not flag tsc_known_freq, so there is no figure to compare with)" : ""}`, () => {
    const m = measureHostTsc();
    expect("khz" in m ? m.source : m.unknown).toBe("measured");
    const khz = "khz" in m ? m.khz : 0;
    expect(Math.abs(khz / (mhz * 1000) - 1)).toBeLessThan(0.02);
    // and hostTsc() takes the kernel's figure here, not the measurement
    delete process.env["MICROVM_TSC_KHZ"];
    expect(hostTsc()).toEqual({ khz: Math.round(mhz * 1000), source: "cpuinfo" });
  });

  it("MICROVM_TSC_KHZ wins; a malformed one is refused, naming the variable and the range", () => {
    process.env["MICROVM_TSC_KHZ"] = "1234567";
    expect(hostTsc()).toEqual({ khz: 1234567, source: "env" });
    for (const bad of ["2.6GHz", "12", "-5", "1e12"]) {
      process.env["MICROVM_TSC_KHZ"] = bad;
      expect(() => hostTsc()).toThrow(/^MICROVM_TSC_KHZ: expected the host's TSC rate in kHz, an integer 1000\.\.100000000, got/);
    }
  });
});
