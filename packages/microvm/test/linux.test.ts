// A real Linux kernel accepts our machine: Debian's stock x86-64 vmlinux (scripts/fetch-linux.sh
// extracts it from the linux-image package) boots in legacy mode on 2 vCPUs until this host's
// nested KVM emulator stops it, well after it has parsed our firmware tables. We require the
// kernel's own lines about what we gave it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { createMachine } from "../src/index.js";

const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const root = fileURLToPath(new URL("../../../", import.meta.url));
const LIMIT_MS = 240_000;

describe.skipIf(kvmMissing !== undefined)(`Debian's stock vmlinux on microvm${kvmMissing ? ` (skipped: ${kvmMissing})` : ""}`, () => {
  let vmlinux: Uint8Array;
  beforeAll(() => {
    const path = execFileSync(`${root}scripts/fetch-linux.sh`, { encoding: "utf8" }).trim();
    vmlinux = new Uint8Array(readFileSync(path));
  }, 300_000);

  it("parses our command line, E820 map and MPTable (legacy mode, 2 vCPUs)", async () => {
    const cmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1 microvm.test=linux";
    const t0 = performance.now();
    const m = await createMachine({ kernel: vmlinux, cpus: 2, legacy: true, memory: 128 * 1024 * 1024, cmdline });
    const want: [string, RegExp][] = [
      ["command line", new RegExp(`Command line: ${cmdline.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`, "m")],
      ["e820 low RAM", /BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable/],
      ["e820 reserved", /BIOS-e820: \[mem 0x000000000009fc00-0x00000000000fffff\] reserved/],
      ["e820 RAM above 1 MiB", /BIOS-e820: \[mem 0x0000000000100000-0x0000000007ffffff\] usable/],
      ["MP spec", /Intel MultiProcessor Specification v1\.4/],
      ["OEM", /MPTABLE: OEM ID: MICROVM/],
      ["BSP", /Processor #0 \(Bootup-CPU\)/],
      ["AP", /Processor #1\b/],
      ["IOAPIC", /IOAPIC\[0\]: apic_id 2, version \d+, address 0xfec00000/],
      ["CPU count", /Processors: 2\b/],
    ];
    let text = "";
    const seen = new Map<string, number>();
    const timer = setTimeout(() => void m.stop(), LIMIT_MS);
    for await (const chunk of m.serial()) {
      text += Buffer.from(chunk).toString("latin1");
      for (const [name, re] of want) if (!seen.has(name) && re.test(text)) seen.set(name, performance.now() - t0);
      if (seen.size === want.length) break;
    }
    clearTimeout(timer);
    const end = await m.stop();
    const elapsed = ((seen.get("CPU count") ?? NaN) / 1000).toFixed(1);
    console.log(`linux: all lines by ${elapsed} s; machine end: ${end.reason}`);
    const missing = want.filter(([n]) => !seen.has(n)).map(([n]) => n);
    expect(missing, `missing kernel lines; last output:\n${text.slice(-2000)}`).toEqual([]);
  }, LIMIT_MS + 60_000);
});
