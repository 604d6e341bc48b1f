// User-mode networking through passt (Debian package `passt`), on both engines: the pure parts
// (hostfwd= spelling and checks, passt's command line and report, the CLI's -netdev user, QEMU's
// -netdev stream / slirp command line), the stream backend of the KVM engine's I/O thread on a
// real socket pair, the test guest's ARP through passt on each engine, what is left behind at
// every way out (passt processes, the QEMU engine's temporary directory), and the CLI as a user
// runs it. Needs no Linux kernel: the guest is guests/build/guest64.elf and tiny kernels.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { encodeStreamFrame, StreamFrameDecoder, STREAM_FRAME_MAX, type FrameSink } from "@microvm/virtio-mmio";
import { buildGuests, failedChecks, findCheck, guestParams, parseReport, qemuAvailable, type GuestImages, type Report } from "../../../test/guests/harness.ts";
import { parseCommandLine, type CliConfig } from "../src/cli/args.js";
import { runCli } from "../src/cli/main.js";
import { checkHostForwards, parseHostfwd, type HostForward } from "../src/host-forward.js";
import { createMachine, isMicrovmError, planMachine, qemuInvocation, qemuPlatform, type DeviceConfig, type MachineEnd, type MachineOptions, type QemuInvocation } from "../src/index.js";
import { libc } from "../src/node/libc.js";
import { parsePasstReport, passtArguments, passtUnavailableReason, startPasst } from "../src/node/passt.js";
import { StreamBackend, type StreamWatch } from "../src/node/stream-backend.js";
import { socketPair, userNetDevices } from "../src/node/user-net.js";
import { errorOf, HALT_FOREVER, tinyKernel } from "./helpers.js";

type Engine = "kvm" | "qemu";
const ENGINES: Engine[] = ["kvm", "qemu"];
const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const qemuMissing = qemuAvailable() ? undefined : "qemu-system-x86_64 not found";
const passtMissing = passtUnavailableReason();
const engineMissing = (engine: Engine): string | undefined => (engine === "kvm" ? kvmMissing : qemuMissing) ?? passtMissing;
const engineOptions = (engine: Engine): Pick<MachineOptions, "engine" | "accel"> => (engine === "kvm" ? { engine: "kvm" } : { engine: "qemu", accel: "tcg" });
const skipNote = (why: string | undefined): string => (why ? ` (skipped: ${why})` : "");
const NESTED = process.env["MICROVM_NESTED"] === "1";

// ---- helpers ----------------------------------------------------------------------------------


/** The same for a promise. */
async function rejectionOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    const v = await p;
    // A machine that started by mistake is stopped, so that it does not outlive the test.
    await (v as { stop?: () => Promise<unknown> } | undefined)?.stop?.();
  } catch (e) {
    if (isMicrovmError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: "no error", message: "" };
}

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly argv: readonly string[];
}

/** Every process whose argv[0] is a passt (by basename), with its parent. Zombies have no argv and are not listed. */
function passtProcesses(): Proc[] {
  const out: Proc[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "latin1").split("\0").filter((a, i, all) => a !== "" || i < all.length - 1);
      if (!/(^|\/)passt$/.test(argv[0] ?? "")) continue;
      const ppid = Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? -1);
      out.push({ pid: Number(p), ppid, argv });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
/** passt processes started by this process. */
const ourPassts = (): Proc[] => passtProcesses().filter((p) => p.ppid === process.pid);
/** Children of this process whose command line mentions `needle`. */
function childrenMentioning(needle: string): number[] {
  return readdirSync("/proc").filter((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, "latin1").includes(needle) && new RegExp(`^PPid:\\s*${process.pid}$`, "m").test(readFileSync(`/proc/${p}/status`, "utf8"));
    } catch {
      return false;
    }
  }).map(Number);
}
/** A live (non-zombie) process with this pid. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}
/** Polls `f` until it returns true or `ms` passes; returns the last value. */
async function until(f: () => boolean, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (f()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, step));
  }
}
/** The promise's value, or "timeout" after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), ms)))]).finally(() => clearTimeout(t));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks).toString("latin1");
}

/** A TCP port on 127.0.0.1 held open by a listener (for "port in use"), or free (closed at once). */
async function listenLocal(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return { server, port: (server.address() as { port: number }).port };
}
async function freePort(): Promise<number> {
  const { server, port } = await listenLocal();
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** What passt says when started as the machine starts it: its report (stderr) and the MAC it answers with. */
async function probePasst(): Promise<{ log: string; gateway: string; mac: string }> {
  const [ours, theirs] = socketPair();
  const child = spawn("passt", passtArguments([], 3), { stdio: ["ignore", "ignore", "pipe", theirs] });
  closeSync(theirs);
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (t: string) => (log += t));
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  await until(() => /router:/.test(log) && /host:\s*\S+/.test(log), 10_000);
  child.kill("SIGTERM");
  await closed;
  closeSync(ours);
  const gateway = parsePasstReport(log).gateway ?? "";
  const mac = /MAC:[\s\S]*?host:\s*([0-9a-f:]{17})/i.exec(log)?.[1]?.toLowerCase() ?? "";
  return { log, gateway, mac };
}

// ---- 1. pure parts ------------------------------------------------------------------------------

describe("hostfwd= in QEMU's spelling (parseHostfwd)", () => {
  it("reads tcp and udp, the protocol defaulting to tcp, with or without a host address", () => {
    expect(parseHostfwd("tcp::2222-:22", "-netdev")).toEqual({ protocol: "tcp", hostPort: 2222, guestPort: 22 });
    expect(parseHostfwd("::2222-:22", "-netdev")).toEqual({ protocol: "tcp", hostPort: 2222, guestPort: 22 });
    expect(parseHostfwd("udp::5353-:53", "-netdev")).toEqual({ protocol: "udp", hostPort: 5353, guestPort: 53 });
    expect(parseHostfwd("tcp:127.0.0.1:8080-:80", "-netdev")).toEqual({ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 8080, guestPort: 80 });
    expect(parseHostfwd("udp:10.1.2.3:6000-:7000", "-netdev")).toEqual({ protocol: "udp", hostAddress: "10.1.2.3", hostPort: 6000, guestPort: 7000 });
    // no hostAddress key at all without an address (passt then listens on every address)
    expect("hostAddress" in parseHostfwd("tcp::2222-:22", "-netdev")).toBe(false);
    // negative control: udp is not read as tcp, nor the ports swapped
    expect(parseHostfwd("udp::5353-:53", "-netdev")).not.toEqual({ protocol: "tcp", hostPort: 5353, guestPort: 53 });
    expect(parseHostfwd("tcp::1-:2", "-netdev")).not.toEqual({ protocol: "tcp", hostPort: 2, guestPort: 1 });
  });

  it("takes ports 1 and 65535 on both sides and refuses 0, 65536 and non-numbers, naming the side", () => {
    expect(parseHostfwd("tcp::1-:65535", "-netdev")).toEqual({ protocol: "tcp", hostPort: 1, guestPort: 65535 });
    expect(parseHostfwd("tcp::65535-:1", "-netdev")).toEqual({ protocol: "tcp", hostPort: 65535, guestPort: 1 });
    const cases: [string, RegExp][] = [
      ["tcp::0-:22", /^-netdev: hostfwd=tcp::0-:22: host port: expected a port in 1\.\.65535, got "0"$/],
      ["tcp::65536-:22", /host port: expected a port in 1\.\.65535, got "65536"/],
      ["tcp::2222-:0", /guest port: expected a port in 1\.\.65535, got "0"/],
      ["tcp::2222-:65536", /guest port: expected a port in 1\.\.65535, got "65536"/],
      ["tcp::-:22", /host port: expected a port in 1\.\.65535, got ""/],
      ["tcp::22a-:22", /host port: .*got "22a"/],
      ["tcp::2222-:-1", /guest port: .*got "-1"/],
    ];
    for (const [v, re] of cases) {
      const e = errorOf(() => parseHostfwd(v, "-netdev"));
      expect(e.code, v).toBe("invalid-argument");
      expect(e.message, v).toMatch(re);
    }
  });

  it("refuses a guest address, saying why and how to write it instead", () => {
    const e = errorOf(() => parseHostfwd("tcp::2222-10.0.2.15:22", "-netdev"));
    expect(e.code).toBe("invalid-argument");
    expect(e.message).toBe("-netdev: hostfwd=tcp::2222-10.0.2.15:22: a guest address is not supported (passt forwards to the guest's one address); write -:22");
    // negative control: an empty guest address is the supported form
    expect(errorOf(() => parseHostfwd("tcp::2222-:22", "-netdev")).code).toBe("no error");
  });

  it("refuses malformed strings, a bad protocol and a host name, naming the value", () => {
    const shape = /expected \[tcp\|udp\]:\[hostaddr\]:hostport-\[guestaddr\]:guestport, e\.g\. tcp::2222-:22$/;
    // ":2222-:22" has two fields before the "-" where QEMU wants three.
    for (const v of ["", "2222-:22", ":2222-:22", "tcp::2222", "tcp::2222:22", "tcp:2222-22", "garbage"]) {
      const e = errorOf(() => parseHostfwd(v, "-netdev"));
      expect(e.code, v).toBe("invalid-argument");
      expect(e.message, v).toMatch(shape);
      expect(e.message, v).toContain(`hostfwd=${v}:`);
    }
    for (const v of ["sctp::2222-:22", "sctp:127.0.0.1:2222-:22", "TCP::2222-:22"]) {
      const e = errorOf(() => parseHostfwd(v, "-netdev"));
      expect(e.code, v).toBe("invalid-argument");
      expect(e.message, v).toMatch(/: protocol "(sctp|TCP)": expected tcp or udp$/);
    }
    for (const v of ["tcp:localhost:2222-:22", "tcp:256.0.0.1:2222-:22", "tcp:1.2.3:2222-:22"]) {
      const e = errorOf(() => parseHostfwd(v, "-netdev"));
      expect(e.code, v).toBe("invalid-argument");
      expect(e.message, v).toMatch(/expected an IPv4 or IPv6 address, got "[^"]+"$/);
    }
    // the flag given is the flag named
    expect(errorOf(() => parseHostfwd("x", "-nic")).message).toMatch(/^-nic: hostfwd=x: /);
  });
});

describe("host forwards checked (checkHostForwards)", () => {
  const ok = (f: readonly HostForward[]): string => errorOf(() => checkHostForwards(f, "devices[0].backend.hostfwd")).code;
  const err = (f: unknown): { code: string; message: string } => errorOf(() => checkHostForwards(f as HostForward[], "devices[0].backend.hostfwd"));

  it("accepts tcp and udp on one port, boundaries 1 and 65535, IPv4 and IPv6 host addresses", () => {
    expect(ok([])).toBe("no error");
    expect(
      ok([
        { protocol: "tcp", hostPort: 2222, guestPort: 22 },
        { protocol: "udp", hostPort: 2222, guestPort: 22 },
        { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 1, guestPort: 65535 },
        { protocol: "tcp", hostAddress: "::1", hostPort: 65535, guestPort: 1 },
      ]),
    ).toBe("no error");
  });

  it("refuses a host port forwarded twice, naming the entry, the protocol and the port", () => {
    const e = err([
      { protocol: "tcp", hostPort: 2222, guestPort: 22 },
      { protocol: "udp", hostPort: 2222, guestPort: 22 },
      { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 23 },
    ]);
    expect(e).toEqual({ code: "invalid-argument", message: "devices[0].backend.hostfwd[2]: host tcp port 2222 is forwarded twice" });
  });

  it("names the field of a bad protocol, port, address or entry", () => {
    expect(err([{ protocol: "sctp", hostPort: 1, guestPort: 1 }])).toEqual({ code: "invalid-argument", message: "devices[0].backend.hostfwd[0].protocol: expected tcp or udp, got sctp" });
    expect(err([{ protocol: "tcp", hostPort: 0, guestPort: 22 }])).toEqual({ code: "out-of-range", message: "devices[0].backend.hostfwd[0].hostPort: expected a port in 1..65535, got 0" });
    expect(err([{ protocol: "udp", hostPort: 53, guestPort: 65536 }])).toEqual({ code: "out-of-range", message: "devices[0].backend.hostfwd[0].guestPort: expected a port in 1..65535, got 65536" });
    expect(err([{ protocol: "tcp", hostPort: 1, guestPort: 1 }, { protocol: "tcp", hostPort: 22.5, guestPort: 22 }]).message).toBe("devices[0].backend.hostfwd[1].hostPort: expected a port in 1..65535, got 22.5");
    expect(err([{ protocol: "tcp", hostPort: 2222, guestPort: 22, hostAddress: "localhost" }])).toEqual({ code: "invalid-argument", message: 'devices[0].backend.hostfwd[0].hostAddress: expected an IPv4 or IPv6 address, got "localhost"' });
    expect(err([null]).message).toBe("devices[0].backend.hostfwd[0]: expected an object");
    expect(err("tcp::2222-:22").message).toBe("devices[0].backend.hostfwd: expected an array of forwards");
  });

  it("is applied to a machine's user devices with the device's field name (userNetDevices)", () => {
    const devices: DeviceConfig[] = [{ kind: "rng" }, { kind: "net", backend: { type: "user", hostfwd: [{ protocol: "tcp", hostPort: 70000, guestPort: 22 }] } }];
    expect(errorOf(() => userNetDevices(devices))).toEqual({ code: "out-of-range", message: "devices[1].backend.hostfwd[0].hostPort: expected a port in 1..65535, got 70000" });
    const fine = userNetDevices([{ kind: "net", backend: { type: "tap", fd: 9 } }, { kind: "net", backend: { type: "user" } }]);
    expect(fine.devices.map((d) => d.index)).toEqual([1]);
    expect(fine.passtMissing).toBe(passtMissing);
    const missing = userNetDevices([{ kind: "net", backend: { type: "user", passt: "/nonexistent/passt" } }]);
    expect(missing.passtMissing).toMatch(/^\/nonexistent\/passt: not found on PATH .*Debian package passt/);
    // negative control: without a user device nothing is needed
    expect(userNetDevices([{ kind: "rng" }])).toEqual({ devices: [], passtMissing: undefined });
    // provider slirp needs no passt; an unknown provider is refused by name
    expect(userNetDevices([{ kind: "net", backend: { type: "user", provider: "slirp", passt: "/nonexistent/passt" } }]).passtMissing).toBeUndefined();
    expect(errorOf(() => userNetDevices([{ kind: "net", backend: { type: "user", provider: "vde" as "slirp" } }]))).toEqual({ code: "invalid-argument", message: "devices[0].backend.provider: expected passt or slirp, got vde" });
  });
});

describe("passt's command line and report", () => {
  it("passtArguments: foreground, stderr, one client, the socket fd, then -t/-u per forward", () => {
    expect(passtArguments([], 3)).toEqual(["-f", "-e", "-1", "-F", "3"]);
    expect(
      passtArguments(
        [
          { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 },
          { protocol: "udp", hostPort: 5353, guestPort: 53 },
          { protocol: "tcp", hostAddress: "::1", hostPort: 8080, guestPort: 80 },
        ],
        7,
      ),
    ).toEqual(["-f", "-e", "-1", "-F", "7", "-t", "127.0.0.1/2222:22", "-u", "5353:53", "-t", "::1/8080:80"]);
    // negative control: udp is -u, never -t
    expect(passtArguments([{ protocol: "udp", hostPort: 1, guestPort: 2 }], 3)).not.toContain("-t");
  });

  // passt 0.0~git20230309 as the machine runs it, where no syslog is reachable (as in containers):
  // a complaint before every line of the report.
  const REAL = [
    "Failed to send 47 bytes to syslog",
    "Don't run as root. Changing to nobody...",
    "Failed to send 51 bytes to syslog",
    "Template interface: eth0 (IPv4), eth0 (IPv6)",
    "Failed to send 11 bytes to syslog",
    "MAC:",
    "Failed to send 34 bytes to syslog",
    "    host: 02:fc:00:00:00:01",
    "Failed to send 12 bytes to syslog",
    "DHCP:",
    "Failed to send 28 bytes to syslog",
    "    assign: 192.0.2.2",
    "Failed to send 30 bytes to syslog",
    "    mask: 255.255.255.0",
    "Failed to send 28 bytes to syslog",
    "    router: 192.0.2.1",
    "Failed to send 11 bytes to syslog",
    "DNS:",
    "    10.255.255.53",
    "NDP/DHCPv6:",
    "    assign: fd00::2",
    "    router: fd00::1",
    "",
  ].join("\n");

  it("parsePasstReport reads the DHCP block, with or without syslog complaints between its lines", () => {
    expect(parsePasstReport("DHCP:\n    assign: 192.0.2.2\n    mask: 255.255.255.0\n    router: 192.0.2.1\n")).toEqual({ guestAddress: "192.0.2.2", gateway: "192.0.2.1" });
    expect(parsePasstReport(REAL)).toEqual({ guestAddress: "192.0.2.2", gateway: "192.0.2.1" });
    // only the DHCP block: the DHCPv6 block's assign/router are not taken for missing IPv4 ones
    expect(parsePasstReport("MAC:\n    host: 02:fc:00:00:00:01\nDHCP:\n    mask: 255.255.255.0\nNDP/DHCPv6:\n    assign: fd00::2\n    router: fd00::1\n")).toEqual({});
    expect(parsePasstReport("DHCP:\n    assign: 10.0.0.5\nDNS:\n    router: 10.0.0.9\n")).toEqual({ guestAddress: "10.0.0.5" });
    // negative control: no DHCP block (a host without IPv4), nothing found
    expect(parsePasstReport("MAC:\n    host: 02:fc:00:00:00:01\nNDP/DHCPv6:\n    assign: fd00::2\n    router: fd00::1\n")).toEqual({});
    expect(parsePasstReport("")).toEqual({});
  });

  it.skipIf(passtMissing !== undefined)(`startPasst on a socket pair reports the gateway, runs until stopped, and is gone after stop()${skipNote(passtMissing)}`, async () => {
    const [ours, theirs] = socketPair();
    try {
      const p = await startPasst({ peer: theirs, forwards: [] });
      closeSync(theirs);
      try {
        expect(p.report.gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        expect(p.report.guestAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        expect(alive(p.pid)).toBe(true);
        const me = ourPassts().find((x) => x.pid === p.pid);
        expect(me?.argv.slice(1)).toEqual(["-f", "-e", "-1", "-F", "3"]);
      } finally {
        await p.stop();
      }
      expect(await p.exited).toMatch(/^(exit status 0|killed by SIGTERM)/);
      expect(alive(p.pid)).toBe(false);
    } finally {
      closeSync(ours);
    }
  }, 30_000);
});

describe("the CLI's -netdev user (parseCommandLine)", () => {
  const env = { HOME: "/nonexistent" };
  const config = (argv: string[]): CliConfig => {
    const c = parseCommandLine(argv, env);
    if (c.action !== "run") throw new Error(`expected a run, got ${c.action}`);
    return c.config;
  };
  const parseError = (argv: string[]): string => {
    try {
      parseCommandLine(argv, env);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  const base = ["-M", "microvm", "-kernel", "k"];

  it("reads user,id=…,hostfwd=…,hostfwd=… in order and attaches it to virtio-net-device", () => {
    const c = config([...base, "-netdev", "user,id=n0,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-:53", "-device", "virtio-net-device,netdev=n0"]);
    expect(c.netdevs).toEqual([
      {
        type: "user",
        id: "n0",
        hostfwd: [
          { protocol: "tcp", hostPort: 2222, guestPort: 22 },
          { protocol: "udp", hostAddress: "127.0.0.1", hostPort: 5353, guestPort: 53 },
        ],
      },
    ]);
    expect(c.devices).toEqual([{ kind: "net", backend: "n0" }]);
    expect(config([...base, "-netdev", "user,id=u", "-device", "virtio-net-device,netdev=u"]).netdevs).toEqual([{ type: "user", id: "u", hostfwd: [] }]);
    // a tap and a user netdev side by side
    const both = config([...base, "-netdev", "tap,id=t,script=no,downscript=no", "-netdev", "user,id=u", "-device", "virtio-net-device,netdev=t", "-device", "virtio-net-device,netdev=u"]);
    expect(both.netdevs.map((n) => n.type)).toEqual(["tap", "user"]);
  });

  it("refuses unsupported keys, a missing or duplicate id, bad and duplicate forwards", () => {
    expect(parseError([...base, "-netdev", "user,id=n0,net=10.0.3.0/24"])).toMatch(/^-netdev: unsupported option 'net'; supported: type, id/);
    expect(parseError([...base, "-netdev", "user,id=n0,id=n1"])).toBe("-netdev: 'id' given twice");
    expect(parseError([...base, "-netdev", "user"])).toBe("-netdev: id= is required");
    expect(parseError([...base, "-netdev", "user,id=0bad"])).toMatch(/^-netdev: id "0bad": expected a letter/);
    expect(parseError([...base, "-netdev", "user,id=n0", "-netdev", "user,id=n0"])).toBe("-netdev: duplicate netdev id n0");
    expect(parseError([...base, "-netdev", "user,id=n0,hostfwd=tcp::2222-10.0.2.15:22"])).toMatch(/^-netdev: hostfwd=tcp::2222-10\.0\.2\.15:22: a guest address is not supported/);
    expect(parseError([...base, "-netdev", "user,id=n0,hostfwd=tcp::0-:22"])).toMatch(/^-netdev: hostfwd=tcp::0-:22: host port: expected a port in 1\.\.65535/);
    expect(parseError([...base, "-netdev", "user,id=n0,hostfwd=tcp::2222-:22,hostfwd=tcp:127.0.0.1:2222-:23"])).toBe("-netdev hostfwd[1]: host tcp port 2222 is forwarded twice");
    // hostfwd is user's alone
    expect(parseError([...base, "-netdev", "tap,id=t,script=no,downscript=no,hostfwd=tcp::1-:2"])).toMatch(/^-netdev: unsupported option 'hostfwd'; supported: type, id, script, downscript, ifname$/);
    expect(parseError([...base, "-netdev", "socket,id=s"])).toMatch(/type "socket" is not supported; supported: tap, user/);
    expect(parseError([...base, "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n1"])).toMatch(/netdev n1 not found/);
    // negative control: the same forward on tcp and udp is two forwards
    expect(parseError([...base, "-netdev", "user,id=n0,hostfwd=tcp::2222-:22,hostfwd=udp::2222-:22"])).toBe("no error");
  });
});

describe("--print-plan with -netdev user (the CLI in this process)", () => {
  it("shows passt's command line for each device on a passt socket, with its forwards", async () => {
    const images = await buildGuests();
    let out = "";
    let err = "";
    const argv = ["-M", "microvm", "-kernel", images.elf64, "-accel", "tcg", "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53", "-device", "virtio-net-device,netdev=n0", "--print-plan"];
    const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t), env: process.env });
    expect(code, err).toBe(0);
    const lines = out.split("\n");
    if (passtUnavailableReason() === undefined) {
      expect(lines).toContain("qemu fd 3 is device net0's socket to: passt -f -e -1 -F 3 -t 127.0.0.1/2222:22 -u 5353:53");
      expect(lines.find((l) => l.startsWith("qemu: "))).toContain("-netdev stream,id=net0-net,server=off,addr.type=fd,addr.str=3");
    } else {
      // The engine's fallback, chosen the same way: QEMU's slirp with the same forwards.
      expect(lines.find((l) => l.startsWith("qemu: "))).toContain("-netdev user,id=net0-net,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53");
    }
  }, 120_000);
});

describe("QEMU's command line for user networking (qemuInvocation)", () => {
  let kernel: Uint8Array;
  beforeAll(async () => {
    kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
  }, 300_000);
  const valuesOf = (inv: QemuInvocation, name: string): string[] => inv.args.flatMap((a, i) => (inv.args[i - 1] === name ? [a] : []));
  const FORWARDS: HostForward[] = [
    { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 },
    { protocol: "udp", hostPort: 5353, guestPort: 53 },
  ];
  const devices: DeviceConfig[] = [
    { kind: "net", backend: { type: "tap", fd: 42 } },
    { kind: "net", backend: { type: "user" } },
    { kind: "rng" },
    { kind: "net", backend: { type: "tap", fd: 43 } },
    { kind: "net", backend: { type: "user", hostfwd: FORWARDS } },
  ];
  const inv = (userNet?: "passt" | "slirp"): QemuInvocation =>
    qemuInvocation(planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }), devices }), { accel: "tcg", dir: "/run/x", devices, ...(userNet ? { userNet } : {}) });

  it("passt (the default): -netdev stream on an inherited fd numbered after the taps' fds", () => {
    const i = inv();
    expect(i.fds).toEqual([42, 43]);
    expect(valuesOf(i, "-netdev")).toEqual([
      "tap,id=net0-net,fd=3,vhost=off",
      "stream,id=net1-net,server=off,addr.type=fd,addr.str=5",
      "tap,id=net2-net,fd=4,vhost=off",
      "stream,id=net3-net,server=off,addr.type=fd,addr.str=6",
    ]);
    expect(i.streams).toEqual([
      { device: "net1", index: 1, fd: 5 },
      { device: "net3", index: 4, fd: 6 },
    ]);
    expect(valuesOf(i, "-device").filter((d) => d.startsWith("virtio-net-device"))).toContain("virtio-net-device,netdev=net1-net,bus=virtio-mmio-bus.1,id=net1");
    expect(inv("passt").args).toEqual(i.args);
    // negative control: no slirp and no placeholder left in the arguments
    expect(i.args.join(" ")).not.toMatch(/-netdev user|@STREAM|hostfwd/);
  });

  it("provider slirp gets QEMU's own -netdev user even where passt serves the others", () => {
    const mixed: DeviceConfig[] = [
      { kind: "net", backend: { type: "user", provider: "slirp", hostfwd: [{ protocol: "tcp", hostPort: 2222, guestPort: 22 }] } },
      { kind: "net", backend: { type: "user" } },
    ];
    const i = qemuInvocation(planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }), devices: mixed }), { accel: "tcg", dir: "/run/x", devices: mixed });
    expect(valuesOf(i, "-netdev")).toEqual(["user,id=net0-net,hostfwd=tcp::2222-:22", "stream,id=net1-net,server=off,addr.type=fd,addr.str=3"]);
    expect(i.streams).toEqual([{ device: "net1", index: 1, fd: 3 }]);
  });

  it("without taps the stream fds start at 3", () => {
    const only: DeviceConfig[] = [{ kind: "net", backend: { type: "user" } }];
    const i = qemuInvocation(planMachine({ kernel, platform: qemuPlatform({ accel: "tcg" }), devices: only }), { accel: "tcg", dir: "/run/x", devices: only });
    expect(valuesOf(i, "-netdev")).toEqual(["stream,id=net0-net,server=off,addr.type=fd,addr.str=3"]);
    expect(i.fds).toEqual([]);
    expect(i.streams).toEqual([{ device: "net0", index: 0, fd: 3 }]);
  });

  it("slirp: -netdev user with QEMU's hostfwd= spelling, no stream fds", () => {
    const i = inv("slirp");
    expect(valuesOf(i, "-netdev")).toEqual(["tap,id=net0-net,fd=3,vhost=off", "user,id=net1-net", "tap,id=net2-net,fd=4,vhost=off", "user,id=net3-net,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53"]);
    expect(i.streams).toEqual([]);
    expect(i.fds).toEqual([42, 43]);
    // what slirp is given parses back to the same forwards
    const back = valuesOf(i, "-netdev")[3]!.split(",").filter((p) => p.startsWith("hostfwd=")).map((p) => parseHostfwd(p.slice(8), "-netdev"));
    expect(back).toEqual(FORWARDS);
    expect(i.args.join(" ")).not.toContain("stream");
  });
});

// ---- 2. the stream backend on a real socket pair --------------------------------------------------

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLHUP = 0x10;

/** A guest that takes frames while it has room (room = Infinity: always). */
class FakeSink implements FrameSink {
  readonly frames: Uint8Array[] = [];
  room = Infinity;
  refused = 0;
  receive(frame: Uint8Array): boolean {
    if (this.room <= 0) {
      this.refused++;
      return false;
    }
    this.room--;
    this.frames.push(frame.slice()); // the contract: copied before returning
    return true;
  }
}

/** Frame i: its index in the first 4 bytes, then bytes derived from it. */
function frameN(i: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  for (let k = 0; k < len; k++) f[k] = (i * 31 + k) & 0xff;
  new DataView(f.buffer).setUint32(0, i);
  return f;
}
const idOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(0);

describe("StreamBackend (the I/O thread's net backend on a stream socket), driven by hand", () => {
  let ours = -1;
  let peer = -1;
  let watches: StreamWatch[];
  let closes: string[];
  let sink: FakeSink;
  let net: StreamBackend;

  /** A fresh pair; the peer's end made non-blocking too, so that the test never blocks on it. */
  function setup(): void {
    [ours, peer] = socketPair();
    const fl = libc().fcntlVal(peer, 3, 0);
    expect(libc().fcntlVal(peer, 4, fl | 0o4000)).toBeGreaterThanOrEqual(0);
    watches = [];
    closes = [];
    sink = new FakeSink();
    net = new StreamBackend(ours, (w) => watches.push(w), (why) => closes.push(why));
  }
  /** Closes the peer's end (once: a closed fd number may be reused by anything in this process). */
  function closePeer(): void {
    closeSync(peer);
    peer = -1;
  }
  function teardown(): void {
    for (const fd of [ours, peer]) if (fd >= 0) closeSync(fd);
    ours = peer = -1;
  }
  /** Everything readable on the peer's end now. */
  function drainPeer(): Uint8Array {
    const parts: Buffer[] = [];
    const b = Buffer.alloc(1 << 16);
    for (;;) {
      let n: number;
      try {
        n = readSync(peer, b, 0, b.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
        throw e;
      }
      if (n === 0) break;
      parts.push(Buffer.from(b.subarray(0, n)));
    }
    return new Uint8Array(Buffer.concat(parts));
  }
  const last = (): StreamWatch | undefined => watches[watches.length - 1];

  it("carries frames both ways: whole, several in one write, split across writes (even inside the length)", () => {
    setup();
    try {
      // nothing is read before the guest is attached, nor watched
      expect(watches).toEqual([]);
      net.attach(sink);
      expect(watches).toEqual([{ readable: true, writable: false }]);
      const [f1, f2, f3] = [frameN(1), frameN(2, 1514), frameN(3, 200)];
      writeSync(peer, Buffer.concat([encodeStreamFrame(f1), encodeStreamFrame(f2)]));
      const e3 = encodeStreamFrame(f3);
      writeSync(peer, e3.subarray(0, 2)); // half the length prefix
      net.ready(EPOLLIN);
      expect(sink.frames).toEqual([f1, f2]);
      writeSync(peer, e3.subarray(2, 50));
      net.ready(EPOLLIN);
      expect(sink.frames.length).toBe(2);
      writeSync(peer, e3.subarray(50));
      net.ready(EPOLLIN);
      expect(sink.frames).toEqual([f1, f2, f3]);
      // a spurious wake-up with nothing to read is no end
      net.ready(EPOLLIN);
      expect(net.closed).toBeUndefined();
      // guest -> peer: each frame after its 4-byte big-endian length
      const g1 = frameN(10, 42);
      const g2 = frameN(11, 1500);
      net.transmit(g1);
      net.transmit(g2);
      const bytes = drainPeer();
      expect(bytes.length).toBe(4 + 42 + 4 + 1500);
      expect([...bytes.subarray(0, 4)]).toEqual([0, 0, 0, 42]);
      expect(new StreamFrameDecoder().push(bytes)).toEqual([g1, g2]);
      // written at once: no write watch was needed
      expect(watches.some((w) => w.writable)).toBe(false);
      expect(net.txDropped).toBe(0);
      expect(closes).toEqual([]);
    } finally {
      teardown();
    }
  });

  it("back-pressure: a refusing guest stops the reads until rxReady; nothing is lost or reordered", () => {
    setup();
    try {
      sink.room = 1;
      net.attach(sink);
      writeSync(peer, Buffer.concat([1, 2, 3].map((i) => encodeStreamFrame(frameN(i)))));
      net.ready(EPOLLIN);
      expect(sink.frames.map(idOf)).toEqual([1]);
      expect(last()).toEqual({ readable: false, writable: false }); // no more reads
      writeSync(peer, Buffer.concat([4, 5].map((i) => encodeStreamFrame(frameN(i)))));
      const refusedBefore = sink.refused;
      net.ready(EPOLLIN); // a wake-up anyway: the socket is not read while frames wait
      expect(sink.frames.map(idOf)).toEqual([1]);
      expect(sink.refused).toBe(refusedBefore);
      // room for one: one kept frame delivered, still not reading
      sink.room = 1;
      net.rxReady();
      expect(sink.frames.map(idOf)).toEqual([1, 2]);
      expect(last()).toEqual({ readable: false, writable: false });
      sink.room = Infinity;
      net.rxReady();
      expect(sink.frames.map(idOf)).toEqual([1, 2, 3]);
      expect(last()).toEqual({ readable: true, writable: false });
      net.ready(EPOLLIN);
      expect(sink.frames.map(idOf)).toEqual([1, 2, 3, 4, 5]);
      expect(sink.frames).toEqual([1, 2, 3, 4, 5].map((i) => frameN(i)));
      expect(closes).toEqual([]);
    } finally {
      teardown();
    }
  });

  it("the peer closing mid-frame ends the link once, naming the truncation; later guest frames are dropped", () => {
    setup();
    try {
      net.attach(sink);
      const e = encodeStreamFrame(frameN(7, 100));
      writeSync(peer, Buffer.concat([encodeStreamFrame(frameN(6)), e.subarray(0, 14)]));
      closePeer();
      net.ready(EPOLLIN | EPOLLHUP);
      expect(sink.frames.map(idOf)).toEqual([6]); // the whole frame before the cut still arrives
      expect(closes).toEqual(["the peer closed the stream (stream frame: the stream ended inside a frame (10 of 100 bytes))"]);
      expect(net.closed).toBe(closes[0]);
      expect(last()).toEqual({ readable: false, writable: false });
      net.ready(EPOLLIN | EPOLLHUP);
      expect(closes.length).toBe(1);
      net.transmit(frameN(8));
      expect(net.txDropped).toBe(1);
    } finally {
      teardown();
    }
  });

  it("the peer closing inside a length prefix, and cleanly (negative control: no truncation named)", () => {
    setup();
    try {
      net.attach(sink);
      writeSync(peer, new Uint8Array([0, 0]));
      closePeer();
      net.ready(EPOLLIN | EPOLLHUP);
      expect(closes).toEqual(["the peer closed the stream (stream frame: the stream ended inside a length prefix (2 of 4 bytes))"]);
    } finally {
      teardown();
    }
    setup();
    try {
      net.attach(sink);
      writeSync(peer, encodeStreamFrame(frameN(1)));
      closePeer();
      net.ready(EPOLLIN | EPOLLHUP);
      expect(sink.frames.map(idOf)).toEqual([1]);
      expect(closes).toEqual(["the peer closed the stream"]);
    } finally {
      teardown();
    }
  });

  it("a length above the limit ends the link naming it; a frame of exactly the limit passes", () => {
    setup();
    try {
      net.attach(sink);
      const max = frameN(1, STREAM_FRAME_MAX);
      writeSync(peer, encodeStreamFrame(max));
      net.ready(EPOLLIN);
      expect(sink.frames).toEqual([max]);
      expect(closes).toEqual([]);
      const huge = new Uint8Array(4 + 16);
      new DataView(huge.buffer).setUint32(0, STREAM_FRAME_MAX + 1);
      writeSync(peer, huge);
      net.ready(EPOLLIN);
      expect(closes).toEqual([`stream frame: length ${STREAM_FRAME_MAX + 1} exceeds maxFrame ${STREAM_FRAME_MAX}`]);
      expect(last()).toEqual({ readable: false, writable: false });
      expect(sink.frames.length).toBe(1);
    } finally {
      teardown();
    }
  });

  it("a peer that does not read: output queued behind a write watch, then frames dropped and counted, the rest delivered in order", () => {
    setup();
    try {
      net.attach(sink);
      const N = 80; // 80 × 64 KiB = 5 MiB: more than the socket buffer plus the 4 MiB queue
      for (let i = 0; i < N; i++) net.transmit(frameN(i, 65536));
      expect(last()).toEqual({ readable: true, writable: true });
      expect(net.txDropped).toBeGreaterThan(0);
      expect(net.txDropped).toBeLessThan(N);
      const dropped = net.txDropped;
      // the peer reads; each write wake-up moves more
      const dec = new StreamFrameDecoder();
      const got: number[] = [];
      for (let round = 0; round < 10_000 && (last()?.writable ?? false); round++) {
        for (const f of dec.push(drainPeer())) got.push(idOf(f));
        net.ready(EPOLLOUT);
      }
      for (const f of dec.push(drainPeer())) got.push(idOf(f));
      expect(last()).toEqual({ readable: true, writable: false });
      expect(got).toEqual(Array.from({ length: N - dropped }, (_, i) => i)); // the tail was dropped, nothing torn
      expect(dec.buffered).toBe(0);
      expect(closes).toEqual([]);
      // with room again, nothing more is dropped (negative control)
      for (let i = 0; i < 10; i++) net.transmit(frameN(1000 + i, 1000));
      expect(net.txDropped).toBe(dropped);
      expect(dec.push(drainPeer()).map(idOf)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
    } finally {
      teardown();
    }
  });

  it("a write to a closed peer ends the link with the error; the queued output counts as dropped", () => {
    setup();
    try {
      net.attach(sink);
      closePeer();
      net.transmit(frameN(1));
      expect(closes).toEqual(["write: EPIPE"]);
      expect(net.txDropped).toBe(1);
      expect(last()).toEqual({ readable: false, writable: false });
    } finally {
      teardown();
    }
  });
});

// ---- 3 and 4. end to end on both engines, and what is left behind ---------------------------

/** Runs the test guest with one user net device; returns its report and end, and the passt pids seen while it ran. */
async function runArp(o: { engine: Engine; gateway: string; mac?: string; backend?: DeviceConfig & { kind: "net" }; log?: (l: string) => void }): Promise<{ report: Report; end: MachineEnd; serial: string; seen: number[]; tmpDuring: string[] }> {
  const m = await createMachine({
    ...engineOptions(o.engine),
    kernel: readFileSync(guestsPath.elf64),
    legacy: true,
    cpus: 1,
    cmdline: guestParams({ netArp: o.gateway, virtioDevices: 1, ...(o.mac ? { netArpMac: o.mac } : {}) }),
    devices: [o.backend ?? { kind: "net", backend: { type: "user" } }],
    ...(o.log ? { log: o.log } : {}),
  });
  // Synchronously after start-up, before the guest can have finished: what exists while it runs.
  const seen = ourPassts().map((p) => p.pid);
  const tmpDuring = readdirSync(privateTmp);
  const [serial, end] = await Promise.all([collect(m.serial()), m.done]);
  return { report: parseReport(serial), end, serial, seen, tmpDuring };
}
let guestsPath: GuestImages;
let privateTmp = "";

describe("user networking end to end", () => {
  const savedTmp = process.env["TMPDIR"];
  let passtInfo: { gateway: string; mac: string; log: string } = { gateway: "", mac: "", log: "" };
  beforeAll(async () => {
    guestsPath = await buildGuests();
    // The QEMU engine's directories go here, so that what a run leaves behind is this file's to see.
    privateTmp = mkdtempSync(join(tmpdir(), "microvm-usernet-"));
    process.env["TMPDIR"] = privateTmp;
    if (!passtMissing) passtInfo = await probePasst();
  }, 300_000);
  afterAll(() => {
    if (savedTmp === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = savedTmp;
    rmSync(privateTmp, { recursive: true, force: true });
  });

  it.skipIf(passtMissing !== undefined)(`passt's report names the gateway and its MAC (read, not assumed)${skipNote(passtMissing)}`, () => {
    expect(passtInfo.gateway, passtInfo.log).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(passtInfo.mac, passtInfo.log).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  it("a missing passt on the KVM engine: a backend error naming the Debian package, before /dev/kvm is even opened", async () => {
    const before = ourPassts().length;
    const kernel = tinyKernel(HALT_FOREVER);
    const e = await rejectionOf(
      createMachine({ engine: "kvm", kvmDevice: "/nonexistent/kvm", kernel, devices: [{ kind: "net", backend: { type: "user", passt: "/nonexistent/passt" } }] }),
    );
    expect(e.code).toBe("backend");
    expect(e.message).toMatch(/\/nonexistent\/passt: not found on PATH/);
    expect(e.message).toContain("Debian package passt");
    expect(ourPassts().length).toBe(before);
    // negative control: with passt present the same machine gets as far as /dev/kvm (which is missing)
    if (!passtMissing) {
      const k = await rejectionOf(createMachine({ engine: "kvm", kvmDevice: "/nonexistent/kvm", kernel, devices: [{ kind: "net", backend: { type: "user" } }] }));
      expect(k.code).toBe("kvm");
      expect(ourPassts().length).toBe(before);
    }
    // provider slirp is QEMU's alone: refused on the KVM engine, before /dev/kvm too
    const sl = await rejectionOf(createMachine({ engine: "kvm", kvmDevice: "/nonexistent/kvm", kernel, devices: [{ kind: "net", backend: { type: "user", provider: "slirp" } }] }));
    expect(sl.code).toBe("engine");
    expect(sl.message).toMatch(/^devices\[0\] \(net\): backend user with provider slirp .*only on the QEMU engine/);
    // a bad forward is refused before anything too
    const f = await rejectionOf(createMachine({ engine: "kvm", kvmDevice: "/nonexistent/kvm", kernel, devices: [{ kind: "net", backend: { type: "user", hostfwd: [{ protocol: "tcp", hostPort: 0, guestPort: 22 }] } }] }));
    expect(f).toEqual({ code: "out-of-range", message: "devices[0].backend.hostfwd[0].hostPort: expected a port in 1..65535, got 0" });
  });

  describe.each(ENGINES)("on the %s engine", (engine) => {
    const missing = engineMissing(engine);
    describe.skipIf(missing !== undefined)(`passt behind the ${engine} engine${skipNote(missing)}`, () => {
      const timeout = NESTED ? 600_000 : 60_000;

      it("the guest's ARP for passt's gateway is answered with passt's MAC; afterwards no passt and no temp dir remain", async () => {
        const r = await runArp({ engine, gateway: passtInfo.gateway, mac: passtInfo.mac });
        const arp = findCheck(r.report, "virtio.net0.arp");
        expect(arp?.status, `${r.end.reason} ${r.end.message ?? ""}\n${r.serial}`).toBe("ok");
        expect(arp?.got).toBe(`reply:${passtInfo.gateway}@${passtInfo.mac}`);
        expect(failedChecks(r.report)).toEqual([]);
        expect(r.end.reason).toBe("triple-fault");
        // At most one passt, this process's child, and gone now. (The guest is quick: on QEMU with
        // TCG it can be done before createMachine's promise is seen, so the run-time picture is
        // taken deterministically in the tests below, with a guest that does not end.)
        expect(r.seen.length).toBeLessThanOrEqual(1);
        for (const pid of r.seen) expect(alive(pid), `passt ${pid}`).toBe(false);
        expect(ourPassts()).toEqual([]);
        expect(r.tmpDuring.filter((n) => !n.startsWith("microvm-qemu-"))).toEqual([]);
        expect(readdirSync(privateTmp)).toEqual([]);
      }, timeout);

      it("negative control: a wrong expected MAC fails the ARP check and only it", async () => {
        const wrong = passtInfo.mac.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
        const r = await runArp({ engine, gateway: passtInfo.gateway, mac: wrong });
        expect(failedChecks(r.report).map((c) => c.name)).toEqual(["virtio.net0.arp"]);
        const arp = findCheck(r.report, "virtio.net0.arp");
        expect(arp?.expected).toBe(`reply:${passtInfo.gateway}@${wrong}`);
        expect(arp?.got).toBe(`reply:${passtInfo.gateway}@${passtInfo.mac}`);
        expect(r.report.summary?.result).toBe("FAIL");
        expect(ourPassts()).toEqual([]);
      }, timeout);

      it("passt killed while the machine runs ends it with reason error, naming the device and how passt exited", async () => {
        // A guest that never ends by itself (cli; hlt), so that the end can only come from passt.
        const m = await createMachine({ ...engineOptions(engine), kernel: tinyKernel(HALT_FOREVER), devices: [{ kind: "net", backend: { type: "user" } }] });
        let ended = false;
        void m.done.then(() => (ended = true));
        try {
          const mine = ourPassts();
          expect(mine.length).toBe(1);
          const pid = mine[0]!.pid;
          // control: running, and still running a while later
          expect(await within(m.done, 300)).toBe("timeout");
          expect(ended).toBe(false);
          process.kill(pid, "SIGKILL");
          const end = await within(m.done, 30_000);
          expect(end).not.toBe("timeout");
          const e = end as MachineEnd;
          expect(e.reason).toBe("error");
          expect(e.message).toMatch(/^device net0: passt exited \(killed by SIGKILL/);
          expect(alive(pid)).toBe(false);
          expect(ourPassts()).toEqual([]);
          expect(readdirSync(privateTmp)).toEqual([]);
        } finally {
          if (!ended) await m.stop();
        }
      }, timeout);

      it("a forward reaches passt's command line; the same host port already taken is a backend error with passt's complaint", async () => {
        const port = await freePort();
        const fwd: HostForward = { protocol: "tcp", hostAddress: "127.0.0.1", hostPort: port, guestPort: 22 };
        // control: the port free, the machine starts and its passt listens as asked
        const m = await createMachine({ ...engineOptions(engine), kernel: tinyKernel(HALT_FOREVER), devices: [{ kind: "net", backend: { type: "user", hostfwd: [fwd] } }] });
        try {
          const mine = ourPassts();
          expect(mine.map((p) => p.argv.slice(1))).toEqual([["-f", "-e", "-1", "-F", "3", "-t", `127.0.0.1/${port}:22`]]);
          // Nothing on disk while it runs: the QEMU engine removes its directory (and the socket
          // file it made passt's socket pair with) once QEMU has started. Control: QEMU's command
          // line shows that directory was in this file's private TMPDIR.
          expect(readdirSync(privateTmp)).toEqual([]);
          if (engine === "qemu") expect(childrenMentioning(`${privateTmp}/microvm-qemu-`).length).toBe(1);
        } finally {
          const end = await m.stop();
          expect(end.reason).toBe("host");
        }
        expect(ourPassts()).toEqual([]);
        expect(readdirSync(privateTmp)).toEqual([]);
        // the port taken
        const held = await listenLocal();
        try {
          const taken: HostForward = { ...fwd, hostPort: held.port };
          const e = await rejectionOf(createMachine({ ...engineOptions(engine), kernel: tinyKernel(HALT_FOREVER), devices: [{ kind: "net", backend: { type: "user", hostfwd: [taken] } }] }));
          expect(e.code).toBe("backend");
          expect(e.message).toMatch(/^device net0: passt \(.*-t 127\.0\.0\.1\/\d+:22\) did not start: exit status 1: /);
          expect(e.message).toContain(`Failed to bind any port for '-t 127.0.0.1/${held.port}:22'`);
          expect(e.message).not.toContain("syslog");
        } finally {
          await new Promise<void>((r) => held.server.close(() => r()));
        }
        expect(ourPassts()).toEqual([]);
        expect(readdirSync(privateTmp)).toEqual([]);
      }, timeout);
    });
  });

  describe.skipIf(qemuMissing !== undefined)(`the QEMU engine without passt${skipNote(qemuMissing)}`, () => {
    it("falls back to QEMU's slirp with one line through options.log, and the guest's ARP for 10.0.2.2 is answered", async () => {
      const lines: string[] = [];
      const r = await runArp({ engine: "qemu", gateway: "10.0.2.2", backend: { kind: "net", backend: { type: "user", passt: "/nonexistent/passt" } }, log: (l) => lines.push(l) });
      expect(lines).toEqual([
        "microvm: /nonexistent/passt: not found on PATH (user-mode networking needs it: Debian package passt); user networking falls back to QEMU's own (slirp: guest 10.0.2.15, gateway 10.0.2.2)",
      ]);
      const arp = findCheck(r.report, "virtio.net0.arp");
      expect(arp?.status, r.serial).toBe("ok");
      expect(arp?.got).toMatch(/^reply:10\.0\.2\.2@52:55:0a:00:02:02$/); // slirp's MAC, not passt's
      expect(failedChecks(r.report)).toEqual([]);
      expect(r.seen).toEqual([]); // no passt at all
      expect(readdirSync(privateTmp)).toEqual([]);
    }, NESTED ? 600_000 : 60_000);

    it.skipIf(passtMissing !== undefined)(`negative control: with passt, nothing is logged and 10.0.2.2 is answered by passt's MAC, not slirp's${skipNote(passtMissing)}`, async () => {
      const lines: string[] = [];
      // passt answers ARP for every address but the guest's own, always with its MAC
      const r = await runArp({ engine: "qemu", gateway: "10.0.2.2", log: (l) => lines.push(l) });
      expect(lines).toEqual([]);
      expect(findCheck(r.report, "virtio.net0.arp")?.got).toBe(`reply:10.0.2.2@${passtInfo.mac}`);
      expect(passtInfo.mac).not.toBe("52:55:0a:00:02:02");
    }, NESTED ? 600_000 : 60_000);
  });
});

// ---- 5. the CLI process -----------------------------------------------------------------------

const PKG = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(PKG, "dist", "cli.js");

/** Builds dist/cli.js when the sources are newer (as cli.test.ts does). */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => statSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest(join(PKG, "src"))) return;
  const r = spawnSync("pnpm", ["-s", "run", "build"], { cwd: PKG, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the CLI failed:\n${r.stdout}${r.stderr}`);
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}
function startCli(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString("latin1")));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), NESTED ? 600_000 : 45_000);
  const done = new Promise<Run>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done };
}
const cliEngine = (engine: Engine): string[] => (engine === "kvm" ? ["--engine", "kvm"] : ["--engine", "qemu", "-accel", "tcg"]);

describe.skipIf(passtMissing !== undefined)(`the microvm CLI with -netdev user${skipNote(passtMissing)}`, () => {
  let dir = "";
  let gateway = "";
  let halt = "";
  beforeAll(async () => {
    ensureBuilt();
    guestsPath = await buildGuests();
    dir = mkdtempSync(join(tmpdir(), "microvm-usernet-cli-"));
    halt = join(dir, "halt.elf");
    writeFileSync(halt, tinyKernel(HALT_FOREVER));
    gateway = (await probePasst()).gateway;
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe.each(ENGINES)("--engine %s", (engine) => {
    const missing = engine === "kvm" ? kvmMissing : qemuMissing;
    describe.skipIf(missing !== undefined)(`the CLI on the ${engine} engine${skipNote(missing)}`, () => {
      it("-netdev user,id=n0 -device virtio-net-device,netdev=n0: the guest's ARP check passes through passt", async () => {
        const tmp = mkdtempSync(join(dir, "tmp-"));
        const r = await startCli(
          ["-M", "microvm,legacy", "-nodefaults", "-no-user-config", "-serial", "stdio", ...cliEngine(engine), "-kernel", guestsPath.elf64,
            "-append", guestParams({ netArp: gateway, virtioDevices: 1 }), "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"],
          { TMPDIR: tmp },
        ).done;
        const report = parseReport(r.stdout);
        const arp = findCheck(report, "virtio.net0.arp");
        expect(arp?.status, `${r.stderr}\n${r.stdout}`).toBe("ok");
        expect(arp?.got).toMatch(new RegExp(`^reply:${gateway.replace(/\./g, "\\.")}@`));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toBe("");
        expect(readdirSync(tmp)).toEqual([]);
      }, NESTED ? 600_000 : 60_000);

      it("SIGTERM to the CLI mid-run leaves no passt behind (found by its unique -t port)", async () => {
        const port = await freePort();
        const tag = `127.0.0.1/${port}:22`;
        const tmp = mkdtempSync(join(dir, "tmp-"));
        const { child, done } = startCli(
          ["-M", "microvm,legacy", "-nodefaults", "-no-user-config", ...cliEngine(engine), "-kernel", halt, "-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, "-device", "virtio-net-device,netdev=n0"],
          { TMPDIR: tmp },
        );
        const mine = (): Proc[] => passtProcesses().filter((p) => p.argv.includes(tag));
        try {
          // control: while the CLI runs, its passt is there, as the CLI's child
          expect(await until(() => mine().length === 1, NESTED ? 300_000 : 30_000, 100)).toBe(true);
          const passt = mine()[0]!;
          expect(passt.ppid).toBe(child.pid);
          expect(await within(done, 300)).toBe("timeout");
          child.kill("SIGTERM");
          const r = await done;
          expect(r.code, r.stderr).toBe(128 + 15);
          expect(r.stderr).toContain("terminating on signal 15 (SIGTERM)");
          // gone (a zombie awaiting init's reaping has no command line, so polls briefly)
          expect(await until(() => mine().length === 0 && !alive(passt.pid), 3000)).toBe(true);
          expect(readdirSync(tmp)).toEqual([]);
        } finally {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          for (const p of mine()) process.kill(p.pid, "SIGKILL");
        }
      }, NESTED ? 600_000 : 60_000);
    });
  });
});
