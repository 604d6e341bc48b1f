// User-mode networking with Linux: the recipe's kernel, with a second initramfs archive appended
// (its own /init-net, run with rdinit=, using the busybox already in the recipe's archive), gets an
// address by DHCP, exchanges a known payload both ways with a TCP server this test runs on the
// host (through the gateway, which reaches the host's loopback), and serves a host client through
// a forwarded port (hostfwd). On the QEMU engine with TCG, so on every host; on the in-process
// engine where KVM boots Linux in useful time (opt-in, as for the recipe's other end-to-end test).
// Negative controls: without the forward the host's connection is refused; a payload the host did
// not send is not what the guest reports (the tokens are random per run).
// With passt missing, the QEMU engine falls back to QEMU's own slirp: the same exchange works
// there, with slirp's addresses, and the fallback is said in one line.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { createMachine, passtUnavailableReason, type HostForward, type Machine, type MachineOptions } from "../src/index.js";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { netInitramfs, recipe } from "./linux-net-guest.ts";

const LIMIT_MS = 120_000;

const built = recipe();
const noRecipe = built ? undefined : "the recipe's kernel is not built here: run scripts/linux/build-kernel.sh (./run ci builds it)";
const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const noPasst = passtUnavailableReason();
const title = (what: string, ...reasons: (string | undefined)[]): string => {
  const r = reasons.find((x) => x !== undefined);
  return r ? `${what} (skipped: ${r})` : what;
};
const skip = (...reasons: (string | undefined)[]): boolean => reasons.some((r) => r !== undefined);

/** A host TCP server: sends its greeting at once, records the first line it gets, then closes. */
async function hostServer(greeting: string): Promise<{ server: Server; port: number; got: Promise<string> }> {
  let resolveGot!: (s: string) => void;
  const got = new Promise<string>((r) => (resolveGot = r));
  const server = createServer((s) => {
    s.write(`${greeting}\n`);
    let text = "";
    s.on("data", (b: Buffer) => {
      text += b.toString();
      if (text.includes("\n")) {
        resolveGot(text.split("\n")[0] as string);
        s.end();
      }
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, port: (server.address() as AddressInfo).port, got };
}

/** A free host TCP port (bound, then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Connects to 127.0.0.1:port, sends a line, collects what comes until the peer closes. */
function hostClient(port: number, line: string): Promise<{ text: string } | { error: string }> {
  return new Promise((resolve) => {
    let text = "";
    const s: Socket = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text });
    }, 20_000);
    s.on("connect", () => s.write(`${line}\n`));
    s.on("data", (b: Buffer) => {
      text += b.toString();
      // The guest's line arrived: close first (the guest then sees our FIN; see docs/networking.md
      // for the half-close this avoids depending on).
      if (text.includes("\n")) s.end();
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ text });
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
  });
}

interface NetRun {
  readonly serial: string;
  readonly end: string;
  readonly hostGot?: string;
  readonly client?: { text: string } | { error: string };
  readonly logs: readonly string[];
}

/** Boots the recipe kernel with /init-net and drives the host side. */
async function run(o: { engine: "kvm" | "qemu"; hostfwd: boolean; outbound: boolean; passt?: string }): Promise<NetRun & { token: string }> {
  const token = randomBytes(6).toString("hex");
  const r = built as { vmlinux: string; initramfs: string };
  const initrd = netInitramfs(r.initramfs);
  const server = o.outbound ? await hostServer(`host-hello-${token}`) : undefined;
  const guestPort = 8080;
  const hostPort = await freePort();
  const hostfwd: HostForward[] = o.hostfwd ? [{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort, guestPort }] : [];
  const logs: string[] = [];
  const options: MachineOptions = {
    kernel: readFileSync(r.vmlinux),
    initrd,
    engine: o.engine,
    ...(o.engine === "qemu" ? { accel: "tcg" as const } : {}),
    cpus: 1,
    memory: 256 * 1024 * 1024,
    legacy: true,
    cmdline: `console=ttyS0 reboot=t panic=-1 rdinit=/init-net mvnet.token=${token} mvnet.listen=${guestPort}${server ? ` mvnet.port=${server.port}` : ""}`,
    devices: [{ kind: "net", backend: { type: "user", hostfwd, ...(o.passt ? { passt: o.passt } : {}) } }],
    log: (l) => logs.push(l),
  };
  const m: Machine = await createMachine(options);
  const timer = setTimeout(() => void m.stop(), LIMIT_MS);
  let serial = "";
  let client: Promise<{ text: string } | { error: string }> | undefined;
  for await (const c of m.serial()) {
    serial += Buffer.from(c).toString("latin1");
    if (!client && serial.includes("mvnet: listening")) {
      client = hostClient(hostPort, `host-client-${token}`);
      // Without the forward nothing can reach the guest's listener: end the run once refused.
      if (!o.hostfwd) void client.then(() => m.stop());
    }
  }
  const end = await m.done;
  clearTimeout(timer);
  const hostGot = server ? await Promise.race([server.got, new Promise<string>((r) => setTimeout(() => r("(nothing)"), 10))]) : undefined;
  server?.server.close();
  return { token, serial, end: `${end.reason}${end.message ? `: ${end.message}` : ""}`, logs, ...(hostGot !== undefined ? { hostGot } : {}), ...(client ? { client: await client } : {}) };
}

const line = (serial: string, prefix: string): string => serial.split(/\r?\n/).find((l) => l.startsWith(prefix))?.trim() ?? `(no "${prefix}" line)`;

const engines: { engine: "kvm" | "qemu"; reason: string | undefined }[] = [
  { engine: "qemu", reason: noQemu },
  {
    engine: "kvm",
    reason:
      process.env["MICROVM_LINUX_E2E"] === "1"
        ? undefined
        : "opt-in: set MICROVM_LINUX_E2E=1 on a host with hardware KVM (a nested, emulated KVM does not boot Linux in useful time)",
  },
];

for (const { engine, reason } of engines) {
  describe.skipIf(skip(noRecipe, reason, noPasst))(title(`Linux on user networking through passt (${engine} engine)`, noRecipe, reason, noPasst), () => {
    let ok: NetRun & { token: string };
    beforeAll(async () => {
      ok = await run({ engine, hostfwd: true, outbound: true });
    }, LIMIT_MS + 30_000);

    it("gets an address and a gateway by DHCP from passt", () => {
      expect(line(ok.serial, "mvnet: dhcp"), ok.serial.slice(-3000)).toMatch(/^mvnet: dhcp ok ip=\d+\.\d+\.\d+\.\d+ gw=\d+\.\d+\.\d+\.\d+$/);
      expect(ok.logs).toEqual([]); // passt was there: no fallback line
    });

    it("exchanges a known payload both ways with a TCP server on the host (through the gateway)", () => {
      expect(ok.hostGot).toBe(`guest-hello-${ok.token}`);
      expect(line(ok.serial, "mvnet: out")).toBe(`mvnet: out got=host-hello-${ok.token}`);
    });

    it("serves a host client through hostfwd, both ways", () => {
      expect(ok.client).toEqual({ text: `guest-served-${ok.token}\n` });
      expect(line(ok.serial, "mvnet: in")).toBe(`mvnet: in got=host-client-${ok.token}`);
      expect(line(ok.serial, "mvnet: done")).toBe("mvnet: done");
      expect(ok.end).toBe("triple-fault"); // reboot=t: the guest's own end
    });

    it("negative control: without the forward, the host's connection is refused", async () => {
      const r = await run({ engine, hostfwd: false, outbound: false });
      expect(line(r.serial, "mvnet: dhcp")).toMatch(/^mvnet: dhcp ok/);
      expect(r.client).toEqual({ error: "ECONNREFUSED" });
    }, LIMIT_MS + 30_000);
  });
}

describe.skipIf(skip(noRecipe, noQemu))(title("Linux on QEMU's own user network where passt is missing (QEMU engine)", noRecipe, noQemu), () => {
  it("falls back to slirp with one line, and the same exchanges work with slirp's addresses", async () => {
    const r = await run({ engine: "qemu", hostfwd: true, outbound: true, passt: "/nonexistent/passt" });
    expect(r.logs).toEqual([
      "microvm: /nonexistent/passt: not found on PATH (user-mode networking needs it: Debian package passt); user networking falls back to QEMU's own (slirp: guest 10.0.2.15, gateway 10.0.2.2)",
    ]);
    expect(line(r.serial, "mvnet: dhcp"), r.serial.slice(-3000)).toBe("mvnet: dhcp ok ip=10.0.2.15 gw=10.0.2.2");
    expect(r.hostGot).toBe(`guest-hello-${r.token}`);
    expect(line(r.serial, "mvnet: out")).toBe(`mvnet: out got=host-hello-${r.token}`);
    expect(r.client).toEqual({ text: `guest-served-${r.token}\n` });
    expect(line(r.serial, "mvnet: in")).toBe(`mvnet: in got=host-client-${r.token}`);
  }, LIMIT_MS + 30_000);
});

