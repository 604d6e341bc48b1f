// Live: the QEMU engine's life cycle under TCG: a test guest runs to its PASS summary and triple
// fault; stop() from the host; a missing or failing QEMU program. Every end is checked for
// leftovers: the engine's temporary directories (the engine's TMPDIR is pointed at a private
// directory, so only this file's are seen) and QEMU processes (any process whose command line
// mentions that directory).
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildGuests, guestParams, parseReport, qemuAvailable } from "../../../test/guests/harness.ts";
import { createMachine, createQemuMachine, isMicrovmError, planMachine, type Machine, type MachineOptions } from "../src/index.js";
import { HALT_FOREVER, processesMentioning, tinyKernel, usePrivateTmpdir } from "./helpers.js";

const qemuMissing = !qemuAvailable();
const skipNote = qemuMissing ? " (skipped: qemu-system-x86_64 not found)" : "";

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks).toString("latin1");
}


async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    const m = (await p) as Machine;
    await m.stop();
  } catch (e) {
    if (isMicrovmError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: "no error", message: "" };
}

describe.skipIf(qemuMissing)(`the QEMU engine's life cycle (TCG)${skipNote}`, () => {
  let elf64: Uint8Array;
  let scripts: string;
  const tmp = usePrivateTmpdir("microvm-engine-tmp-");
  beforeAll(async () => {
    elf64 = new Uint8Array(readFileSync((await buildGuests()).elf64));
    scripts = mkdtempSync(join(tmpdir(), "microvm-engine-scripts-"));
  });
  afterAll(() => rmSync(scripts, { recursive: true, force: true }));

  const leftovers = (): { dirs: string[]; processes: number[] } => ({
    dirs: readdirSync(tmp()).filter((n) => n.startsWith("microvm-qemu-")),
    processes: processesMentioning(tmp()),
  });
  afterEach(() => {
    expect(leftovers()).toEqual({ dirs: [], processes: [] });
  });

  const board = (extra: Partial<MachineOptions> = {}): MachineOptions => ({
    engine: "qemu",
    accel: "tcg",
    kernel: elf64,
    legacy: true,
    cpus: 2,
    cmdline: `console=ttyS0 ${guestParams({ expectCpus: 2, memMib: 128, virtioDevices: 2, uart: true })}`,
    devices: [{ kind: "rng" }, { kind: "console" }],
    ...extra,
  });

  it("runs the 64-bit test guest to a PASS summary and its triple fault, on both the UART and the virtio console", async () => {
    const m = await createMachine(board());
    expect(m.engine).toBe("qemu");
    expect(m.memory).toBeUndefined();
    expect(m.stats()).toEqual({});
    expect(m.plan.platform.name).toBe("qemu-7.2/tcg");
    // the directory is gone as soon as QEMU has started
    expect(leftovers().dirs).toEqual([]);
    const [serial, console, end] = await Promise.all([collect(m.serial()), collect(m.console()), m.done]);
    expect(end.reason, end.message).toBe("triple-fault");
    expect(end.vcpus).toEqual([]);
    const lines = serial.split("\n").filter((l) => l.length > 0);
    expect(lines.at(-2)).toMatch(/^summary pass=\d+ fail=0 result=PASS$/);
    expect(lines.at(-1)).toBe("end");
    const report = parseReport(serial);
    expect(report.summary?.result).toBe("PASS");
    const ok = new Set(report.checks.filter((c) => c.status === "ok").map((c) => c.name));
    for (const name of ["mptable.cpus", "smp.count", "smp.ap.1", "uart.present", "virtio.devices", "virtio.rng0.read", "virtio.console0.tx", "start_info.memmap.ram_total"]) {
      expect(ok.has(name), name).toBe(true);
    }
    // the virtio console carried the same report
    expect(console).toContain(lines.at(-2));
    expect(parseReport(console).summary).toEqual(report.summary);
    expect(leftovers()).toEqual({ dirs: [], processes: [] });
  });

  it("holds no timer, socket or child once done has settled (an API user's process can exit at once)", async () => {
    const counts = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const k of process.getActiveResourcesInfo()) m.set(k, (m.get(k) ?? 0) + 1);
      return m;
    };
    // What the machine added and still holds: kinds counted more often than before it started.
    const added = (before: Map<string, number>): string[] => [...counts()].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} +${n - (before.get(k) ?? 0)}`);
    const before = counts();
    const m = await createMachine(board());
    expect(added(before), "while it runs it holds a child, sockets and timers").not.toEqual([]);
    await Promise.all([collect(m.serial()), collect(m.console()), m.done]);
    // Closed handles leave the list once libuv has run their close callbacks: give it a few turns
    // of the loop (bounded) before judging.
    for (let i = 0; i < 100 && added(before).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(added(before)).toEqual([]);
  });

  it("negative control: the same guest expecting 3 CPUs ends with a FAIL summary", async () => {
    const m = await createMachine(board({ cmdline: `console=ttyS0 ${guestParams({ expectCpus: 3, uart: true })}` }));
    const [serial, end] = await Promise.all([collect(m.serial()), m.done]);
    expect(end.reason).toBe("triple-fault");
    const report = parseReport(serial);
    expect(report.summary?.result).toBe("FAIL");
    expect(report.checks.filter((c) => c.status === "fail").map((c) => c.name)).toContain("mptable.cpus");
  });

  it("stop() on a running machine ends it with reason host and leaves nothing behind", async () => {
    const m = await createMachine({ engine: "qemu", accel: "tcg", kernel: tinyKernel(HALT_FOREVER), cpus: 2 });
    await new Promise((r) => setTimeout(r, 300));
    // positive control for the process check: QEMU is there while the guest runs
    const running = leftovers().processes;
    expect(running).toHaveLength(1);
    const pid = running[0] as number;
    const end = await m.stop();
    expect(end.reason).toBe("host");
    expect(await m.done).toEqual(end);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    // a second stop changes nothing
    expect((await m.stop()).reason).toBe("host");
  });

  it("QEMU killed from outside: done settles with reason error naming the signal, and nothing is left", async () => {
    const m = await createMachine({ engine: "qemu", accel: "tcg", kernel: tinyKernel(HALT_FOREVER), cpus: 1 });
    await new Promise((r) => setTimeout(r, 200));
    const [pid] = leftovers().processes;
    expect(pid).toBeDefined();
    process.kill(pid as number, "SIGKILL");
    const end = await m.done;
    expect(end.reason).toBe("error");
    expect(end.message).toMatch(/^QEMU exited on its own \(signal SIGKILL\)/);
    // stop() after the end reports the end as it was
    expect((await m.stop()).reason).toBe("error");
  });

  it("stop() at once after creation ends with reason host, even for a guest that would end by itself", async () => {
    const m = await createMachine(board());
    const [end] = await Promise.all([m.stop(), collect(m.serial())]);
    expect(end.reason).toBe("host");
  });

  it("refuses what QEMU cannot run before anything exists: a KVM plan, an in-process backend", async () => {
    const kvmPlan = await failure(createQemuMachine({ kernel: elf64, accel: "tcg" }, planMachine({ kernel: elf64 })));
    expect(kvmPlan.code).toBe("engine");
    expect(kvmPlan.message).toMatch(/^platform: /);
    // a script that would record being started, to show nothing is
    const marker = join(scripts, "started");
    const script = join(scripts, "record-start");
    writeFileSync(script, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`);
    chmodSync(script, 0o755);
    // a RAM disk (served over vhost-user) on a legacy transport: vhost-user needs virtio 1.0
    const legacyDisk = await failure(createMachine(board({ qemuBinary: script, devices: [{ kind: "rng" }, { kind: "blk", version: 1, backend: { type: "memory", buffer: new SharedArrayBuffer(1 << 20) } }] })));
    expect(legacyDisk.code).toBe("engine");
    expect(legacyDisk.message).toMatch(/^device blk0: a device served over vhost-user needs a virtio 1\.0 transport/);
    expect(existsSync(marker)).toBe(false);
    // positive control: the same board with QEMU's user network is started (and the script fails it)
    const started = await failure(createMachine(board({ qemuBinary: script, devices: [{ kind: "rng" }, { kind: "net", backend: { type: "user", provider: "slirp" } }] })));
    expect(started.code).toBe("engine");
    expect(existsSync(marker)).toBe(true);
  });

  it("QEMU failing at start on KVM: the error carries QEMU's message and points to -accel tcg; under TCG it does not", async () => {
    // A stand-in for QEMU 7.2 on a nested KVM it cannot drive: its message on stderr, then abort.
    const script = join(scripts, "abort-on-kvm");
    writeFileSync(script, `#!/bin/sh\necho "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2\nkill -ABRT $$\n`);
    chmodSync(script, 0o755);
    const onKvm = await failure(createMachine(board({ qemuBinary: script, accel: "kvm" })));
    expect(onKvm.code).toBe("engine");
    expect(onKvm.message).toMatch(/^QEMU did not start \(signal SIGABRT\): qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69; QEMU could not run the board on this host's KVM: -accel tcg runs it/);
    const onTcg = await failure(createMachine(board({ qemuBinary: script, accel: "tcg" })));
    expect(onTcg.message).toMatch(/^QEMU did not start \(signal SIGABRT\): qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69$/);
    expect(leftovers().processes).toEqual([]);
  });

  it("a qemuBinary that does not exist: engine error naming the package qemu-system-x86", async () => {
    for (const qemuBinary of ["/nonexistent/qemu-system-x86_64", "microvm-test-no-such-qemu"]) {
      const e = await failure(createMachine(board({ qemuBinary })));
      expect(e.code).toBe("engine");
      expect(e.message).toContain(qemuBinary);
      expect(e.message).toContain("qemu-system-x86");
      expect(e.message).toMatch(/Debian package qemu-system-x86\b/);
    }
  });

  it("a qemuBinary that exits 1 with a message: engine error with that message, no directory, no process", async () => {
    const log = join(scripts, "args.txt");
    const script = join(scripts, "fake-qemu");
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\necho "fake-qemu: -device loader: refusing for the test" >&2\nexit 1\n`);
    chmodSync(script, 0o755);
    for (let i = 0; i < 5; i++) {
      rmSync(log, { force: true });
      const e = await failure(createMachine(board({ qemuBinary: script })));
      expect(e.code).toBe("engine");
      expect(e.message).toContain("fake-qemu: -device loader: refusing for the test");
      expect(e.message).toContain("status 1");
      // it was started, with the engine's files in a directory of the private TMPDIR, now gone
      const args = readFileSync(log, "utf8").split("\n");
      const bios = args[args.indexOf("-bios") + 1] as string;
      expect(bios.startsWith(join(tmp(), "microvm-qemu-"))).toBe(true);
      expect(existsSync(bios)).toBe(false);
      expect(existsSync(join(bios, ".."))).toBe(false);
      expect(leftovers()).toEqual({ dirs: [], processes: [] });
    }
  });

  it("a qemuBinary that closes its channels before it exits with a message: still that message, not the closed channel", async () => {
    // QEMU failing at start closes its QMP socket before the engine sees it exit; the error must be
    // QEMU's own message (the QMP greeting's failure alone would say "QEMU closed the connection").
    const script = join(scripts, "fake-qemu-closing");
    const closeFds = 'const fs = require("fs"); for (const fd of [3, 4]) fs.closeSync(fd);';
    const later = 'setTimeout(() => { fs.writeSync(2, "fake-qemu: closing first\\n"); process.exit(1); }, 300);';
    writeFileSync(script, `#!${process.execPath}\n${closeFds}\n${later}\n`);
    chmodSync(script, 0o755);
    const e = await failure(createMachine(board({ qemuBinary: script })));
    expect(e.code).toBe("engine");
    expect(e.message).toContain("fake-qemu: closing first");
    expect(e.message).toContain("status 1");
    expect(leftovers()).toEqual({ dirs: [], processes: [] });
  });
});
