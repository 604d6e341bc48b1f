// Live: QEMU 7.2 started with exactly the plan's invocation (paused, -S), its own `info mtree`
// dumped over a QMP of ours, and compared with the plan's listing. Negative controls: plans whose
// listing is deliberately wrong are caught by compareMtree (first differing line) and refused by
// createQemuMachine with platform-mismatch, leaving no directory and no process behind.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGuests, qemuAvailable } from "../../../test/guests/harness.ts";
import { processesMentioning, usePrivateTmpdir } from "./helpers.js";
import {
  compareMtree,
  compareQtree,
  createQemuMachine,
  isMicrovmError,
  kvmUnavailableReason,
  mtreeSections,
  planMachine,
  qemuInvocation,
  qemuPlatform,
  type DeviceConfig,
  type MachineConfig,
  type MachinePlan,
  type Platform,
} from "../src/index.js";

const qemuMissing = !qemuAvailable();
const skipNote = qemuMissing ? " (skipped: qemu-system-x86_64 not found)" : "";
/**
 * Why QEMU cannot use this host's KVM, or undefined: `/dev/kvm` must open, and QEMU must get past
 * its vCPUs' set-up with `-cpu host` (on a nested, software-assisted KVM QEMU 7.2 aborts there,
 * "failed to set MSR 0x10a"). A QEMU still alive, stopped (-S), after 1.5 s is taken as able.
 */
function qemuKvmUnusable(): string | undefined {
  const missing = kvmUnavailableReason();
  if (missing !== undefined || qemuMissing) return missing ?? "qemu-system-x86_64 not found";
  const r = spawnSync("qemu-system-x86_64", ["-M", "microvm", "-accel", "kvm", "-cpu", "host", "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none", "-S"], { encoding: "utf8", timeout: 1500 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") return undefined;
  return `QEMU cannot use this host's KVM: ${(r.stderr.split("\n").find((l) => l.includes("error")) ?? r.stderr.trim()) || `exit ${String(r.status ?? r.signal)}`}`;
}
const kvmMissing = qemuKvmUnusable();

const MIB = 1 << 20;
const GIB = 1024 * MIB;

/**
 * Runs QEMU with `plan`'s invocation, every socket chardev made a null one and the engine's QMP
 * replaced by one on stdio; returns QEMU's `info mtree`. The files live in a directory whose name
 * has a comma, so the invocation's `,,` escaping is exercised (QEMU refuses a loader file it
 * cannot open).
 */
function dumpMtree(plan: MachinePlan, accel: "tcg" | "kvm", devices: readonly DeviceConfig[] = [], command = "info mtree", virtioVersion?: 1 | 2): string {
  const dir = mkdtempSync(join(tmpdir(), "microvm-mtree-test,"));
  try {
    const inv = qemuInvocation(plan, { accel, dir, devices, ...(virtioVersion ? { virtioVersion } : {}) });
    for (const f of inv.files) writeFileSync(join(dir, f.name), f.bytes);
    const args: string[] = [];
    let droppedQmp = 0;
    for (let i = 0; i < inv.args.length; i++) {
      const a = inv.args[i] as string;
      const v = inv.args[i + 1] ?? "";
      if ((a === "-chardev" && v.startsWith("socket,id=microvm-qmp,")) || (a === "-mon" && v === "chardev=microvm-qmp,mode=control")) {
        droppedQmp++;
        i++;
      } else if (a === "-chardev" && v.startsWith("socket,")) {
        args.push(a, v.replace(/^socket,(id=[^,]+),.*$/, "null,$1"));
        i++;
      } else args.push(a);
    }
    expect(droppedQmp, "the invocation's QMP chardev and -mon").toBe(2);
    expect(args).toContain("-S");
    args.push("-qmp", "stdio");
    const input = [
      { execute: "qmp_capabilities" },
      { execute: "query-status" },
      { execute: "human-monitor-command", arguments: { "command-line": command } },
      { execute: "quit" },
    ]
      .map((c) => JSON.stringify(c))
      .join("\n");
    const r = spawnSync("qemu-system-x86_64", args, { input: `${input}\n`, encoding: "utf8", timeout: 30_000 });
    expect(r.error, r.stderr).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const answers = r.stdout
      .split("\n")
      .filter((l) => l.trim().length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((m) => "return" in m || "error" in m);
    expect(answers, r.stdout).toHaveLength(4);
    // still paused: the machine QEMU built, before the guest ran an instruction
    expect((answers[1]?.["return"] as { status?: string }).status).toBe("prelaunch");
    const mtree = answers[2]?.["return"];
    expect(typeof mtree).toBe("string");
    return mtree as string;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The plan's lines of one address space, from its own listing (without the header). */
function planLines(plan: MachinePlan, space: "memory" | "I/O"): string[] {
  const header = plan.listing.indexOf(`address-space: ${space}`);
  expect(header).toBeGreaterThanOrEqual(0);
  const end = plan.listing.indexOf("", header);
  return plan.listing.slice(header + 1, end < 0 ? undefined : end);
}

/** The first line (1-based) where two line lists differ. */
function firstDifference(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i + 1;
  return 0;
}

/** A platform like `base` whose listing names the LAPIC/MSI window `name` instead. */
function renamedApic(base: Platform, name: string): Platform {
  return {
    ...base,
    name: `${base.name}+renamed`,
    surface: (ctx) => {
      const s = base.surface(ctx);
      return { ...s, memory: s.memory.map((r) => (r.name === "apic-msi" || r.name === "kvm-apic-msi" ? { ...r, name } : r)) };
    },
  };
}


describe.skipIf(qemuMissing)(`QEMU's own info mtree against the plan's listing${skipNote}`, () => {
  let kernel: Uint8Array;
  // The engine's temporary directories go here, so that what is left over is ours to see.
  const tmp = usePrivateTmpdir("microvm-mtree-tmp-");
  beforeAll(async () => {
    kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
  });

  const plan = (platform: Platform, c: Omit<MachineConfig, "kernel" | "platform"> = {}): MachinePlan => planMachine({ kernel, platform, ...c });
  const TCG = qemuPlatform({ accel: "tcg" });

  const matrix: [boolean, number, number][] = [];
  for (const legacy of [false, true]) for (const memory of [128 * MIB, 3 * GIB, 3.5 * GIB]) for (const cpus of [1, 4]) matrix.push([legacy, memory, cpus]);

  it.each(matrix)("legacy=%s memory=%d cpus=%d (tcg): QEMU's listing is the plan's, line for line", (legacy, memory, cpus) => {
    const p = plan(TCG, { legacy, memory, cpus });
    const dump = dumpMtree(p, "tcg");
    expect(compareMtree(p.listing, dump)).toBeUndefined();
    const sections = mtreeSections(dump);
    expect(sections.get("memory")).toEqual(planLines(p, "memory"));
    expect(sections.get("I/O")).toEqual(planLines(p, "I/O"));
    // what the case is about
    expect(dump.includes("alias ram-above-4g @microvm.ram")).toBe(memory > 3 * GIB);
    expect(p.ram.length).toBe(memory > 3 * GIB ? 2 : 1);
    expect(sections.get("I/O")?.some((l) => l.endsWith("): serial"))).toBe(legacy);
  });

  it.each([
    [false, 1],
    [true, 4],
  ])("acpi=on, legacy=%s, cpus=%d: QEMU's GED registers are where the plan lists them, and a plan without ACPI is caught", (legacy, cpus) => {
    const p = plan(TCG, { legacy, cpus, acpi: true });
    const dump = dumpMtree(p, "tcg");
    expect(compareMtree(p.listing, dump)).toBeUndefined();
    const ged = mtreeSections(dump).get("memory")?.filter((l) => /\): acpi-ged(-regs)?$/.test(l)).map((l) => l.trim());
    expect(ged).toEqual(["00000000fea00000-00000000fea00003 (prio 0, i/o): acpi-ged", "00000000fea00200-00000000fea00202 (prio 0, i/o): acpi-ged-regs"]);
    // negative control: the same board planned without ACPI does not match what QEMU built
    expect(compareMtree(plan(TCG, { legacy, cpus }).listing, dump)).toMatch(/acpi-ged/);
  });

  it.each([128 * MIB + 8192, 3 * GIB + 8192, 2 * MIB, 5 * GIB + 3 * MIB])("memory=%d, a multiple of 8 KiB the invocation accepts: QEMU's listing is the plan's", (memory) => {
    const p = plan(TCG, { memory });
    const dump = dumpMtree(p, "tcg");
    expect(compareMtree(p.listing, dump)).toBeUndefined();
  });

  it("with devices on their transports (blk file, console, rng, user net) and 60 CPUs (the MPTable inside the ROM), QEMU's listing is still the plan's", () => {
    const dir = mkdtempSync(join(tmpdir(), "microvm-mtree-disk-"));
    try {
      const disk = join(dir, "disk.img");
      writeFileSync(disk, new Uint8Array(1 << 20));
      const devices: DeviceConfig[] = [{ kind: "blk", slot: 3, backend: { type: "file", path: disk } }, { kind: "console" }, { kind: "rng", slot: 7 }, { kind: "net", backend: { type: "user", provider: "slirp" } }];
      const p = plan(TCG, { legacy: true, cpus: 60, devices });
      expect(p.mptable.address).toBe(0xf0000);
      const dump = dumpMtree(p, "tcg", devices);
      expect(compareMtree(p.listing, dump)).toBeUndefined();
      expect(mtreeSections(dump).get("memory")).toEqual(planLines(p, "memory"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(kvmMissing !== undefined)(`on -accel kvm, the window is kvm-apic-msi and the kvm platform's listing is QEMU's${kvmMissing ? ` (skipped: ${kvmMissing})` : ""}`, () => {
    const p = plan(qemuPlatform({ accel: "kvm" }), { legacy: true, cpus: 2 });
    const dump = dumpMtree(p, "kvm");
    expect(compareMtree(p.listing, dump)).toBeUndefined();
    expect(mtreeSections(dump).get("memory")?.some((l) => l.endsWith("): kvm-apic-msi"))).toBe(true);
    // and the TCG platform's listing is not
    expect(compareMtree(plan(TCG, { legacy: true, cpus: 2 }).listing, dump)).toMatch(/the plan says ".*: apic-msi", QEMU has ".*: kvm-apic-msi"/);
  });

  describe("negative controls: plans whose listing is not what QEMU builds", () => {
    it("a LAPIC/MSI window named kvm-apic-msi under TCG: compareMtree reports exactly the first differing line", () => {
      const good = plan(TCG, { legacy: true });
      const dump = dumpMtree(good, "tcg");
      const theirs = mtreeSections(dump).get("memory") ?? [];
      for (const bad of [plan(renamedApic(TCG, "kvm-apic-msi")), plan(qemuPlatform({ accel: "kvm" }), { legacy: true })]) {
        const ours = planLines(bad, "memory");
        const n = firstDifference(ours, theirs);
        expect(n).toBe(theirs.findIndex((l) => l.endsWith("): apic-msi")) + 1);
        expect(compareMtree(bad.listing, dump)).toBe(`address space memory, line ${n}: the plan says ${JSON.stringify(ours[n - 1])}, QEMU has ${JSON.stringify(theirs[n - 1])}`);
      }
    });

    it("a platform with 7 transports where QEMU has 8: the first differing line is QEMU's 8th transport", () => {
      const seven: Platform = { ...TCG, name: "qemu-7.2/tcg-7", layout: { ...TCG.layout, virtioTransports: 7 } };
      const bad = plan(seven);
      expect(bad.transports).toHaveLength(7);
      const dump = dumpMtree(bad, "tcg");
      const theirs = mtreeSections(dump).get("memory") ?? [];
      const ours = planLines(bad, "memory");
      const n = firstDifference(ours, theirs);
      expect(theirs[n - 1]).toBe("    00000000feb00e00-00000000feb00fff (prio 0, i/o): virtio-mmio");
      expect(compareMtree(bad.listing, dump)).toBe(`address space memory, line ${n}: the plan says ${JSON.stringify(ours[n - 1])}, QEMU has ${JSON.stringify(theirs[n - 1])}`);
    });

    it("a line QEMU has after the plan's last one: 3 GiB planned, 3.5 GiB built (RAM above 4 GiB the plan does not list)", () => {
      const built = plan(TCG, { memory: 3.5 * GIB });
      const planned = plan(TCG, { memory: 3 * GIB });
      const dump = dumpMtree(built, "tcg");
      const theirs = mtreeSections(dump).get("memory") ?? [];
      const ours = planLines(planned, "memory");
      expect(ours).toEqual(theirs.slice(0, -1));
      expect(compareMtree(planned.listing, dump)).toBe(
        `address space memory, line ${theirs.length}: the plan says "(nothing)", QEMU has ${JSON.stringify(theirs.at(-1))}`,
      );
      expect(theirs.at(-1)).toMatch(/alias ram-above-4g @microvm\.ram 00000000c0000000-00000000dfffffff$/);
    });

    it("an I/O difference and a missing address space are reported too", () => {
      const p = plan(TCG);
      const dump = dumpMtree(p, "tcg");
      const io = planLines(p, "I/O");
      const lastIo = io.length;
      const extra = [...p.listing, "    0000000000000600-0000000000000601 (prio 0, i/o): my-dev"];
      expect(compareMtree(extra, dump)).toBe(`address space I/O, line ${lastIo + 1}: the plan says "    0000000000000600-0000000000000601 (prio 0, i/o): my-dev", QEMU has "(nothing)"`);
      expect(compareMtree([...p.listing, "", "address-space: nowhere", "  0000000000000000-0000000000000000 (prio 0, i/o): x"], dump)).toBe('QEMU has no address space "nowhere"');
    });

    const badPlatforms: [string, () => Platform][] = [
      ["apic-msi named kvm-apic-msi", () => renamedApic(TCG, "kvm-apic-msi")],
      ["7 transports", () => ({ ...TCG, name: "qemu-7.2/tcg-7", layout: { ...TCG.layout, virtioTransports: 7 } })],
      ["the kvm platform under TCG", () => qemuPlatform({ accel: "kvm" })],
    ];
    it.each(badPlatforms)("createQemuMachine refuses a plan with %s: platform-mismatch, no directory, no process left", async (_, platform) => {
      const bad = plan(platform(), { legacy: true, devices: [{ kind: "rng" }, { kind: "console" }] });
      const before = readdirSync(tmp());
      expect(before.filter((n) => n.startsWith("microvm-qemu-"))).toEqual([]);
      let caught: unknown;
      try {
        const m = await createQemuMachine({ kernel, accel: "tcg", devices: [{ kind: "rng" }, { kind: "console" }] }, bad);
        await m.stop();
      } catch (e) {
        caught = e;
      }
      expect(isMicrovmError(caught) && caught.code).toBe("platform-mismatch");
      const dump = dumpMtree(bad, "tcg", [{ kind: "rng" }, { kind: "console" }]);
      expect((caught as Error).message).toContain(compareMtree(bad.listing, dump) as string);
      expect(readdirSync(tmp()).filter((n) => n.startsWith("microvm-qemu-"))).toEqual([]);
      expect(processesMentioning(tmp())).toEqual([]);
    });
  });
});

describe.skipIf(!qemuAvailable())(`QEMU's info qtree against the plan's transports${qemuAvailable() ? "" : " (skipped: qemu-system-x86_64 not found)"}`, () => {
  let kernel: Uint8Array;
  let dir: string;
  beforeAll(async () => {
    kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
    dir = mkdtempSync(join(tmpdir(), "microvm-qtree-"));
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const board = (slots: { blk: number; rng: number; con: number; net: number }): { plan: MachinePlan; devices: DeviceConfig[] } => {
    const image = join(dir, "disk.img");
    writeFileSync(image, new Uint8Array(1 << 20));
    const devices: DeviceConfig[] = [
      { kind: "blk", slot: slots.blk, backend: { type: "file", path: image } },
      { kind: "rng", slot: slots.rng },
      { kind: "console", slot: slots.con },
      { kind: "net", slot: slots.net, backend: { type: "user", provider: "slirp" } },
    ];
    return { plan: planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }), devices }), devices };
  };

  it.each([1, 2] as const)("every transport's proxy, bus, device and version agree (virtio-mmio v%i, devices on chosen slots)", (version) => {
    const { plan, devices } = board({ blk: 6, rng: 0, con: 3, net: 7 });
    const qtree = dumpMtree(plan, "tcg", devices, "info qtree", version);
    expect(compareQtree(plan, qtree, version === 1)).toBeUndefined();
    // negative controls: the other version, devices on other slots, a device the plan lacks
    expect(compareQtree(plan, qtree, version !== 1)).toMatch(/^transport 0 \(0xfeb00000\): QEMU's force-legacy is (true|false), the plan wants/);
    const moved = board({ blk: 5, rng: 0, con: 3, net: 7 }).plan;
    expect(compareQtree(moved, qtree, version === 1)).toBe(`transport 5 (0xfeb00a00): QEMU has no device, the plan has virtio-blk-device "blk0"`);
    const fewer = planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }), devices: devices.filter((d) => d.kind !== "net") });
    expect(compareQtree(fewer, qtree, version === 1)).toMatch(/QEMU has virtio-net-device "net0", the plan has no device/);
  });
});
