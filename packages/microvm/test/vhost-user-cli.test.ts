// The `microvm-vhost-user` daemon (src/vhost-user-cli.ts) as a process: it serves blk on a socket
// to QEMU (the recipe of docs/vhost-user.md: shared memfd RAM, vhost-user-blk, modern virtio-mmio;
// the guest is Debian's stock kernel, whose init writes and reads back a pattern), removes its
// socket and exits 0 on SIGTERM; bad command lines and a missing image are one-line errors
// before any socket exists.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { runQemuMicrovm, stockKernel, type StockKernel } from "./helpers/stock-kernel.js";

const CLI = fileURLToPath(new URL("../src/vhost-user-cli.ts", import.meta.url));
/** One process (not tsx's launcher and its child), so a signal reaches the daemon itself. */
const NODE_ARGS = ["--import", "tsx", CLI];
const dir = mkdtempSync(join(tmpdir(), "microvm-vu-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [...NODE_ARGS, ...args], { encoding: "utf8", timeout: 30_000 });

describe("microvm-vhost-user: the command line", () => {
  it.each([
    [[], /^microvm-vhost-user: device: expected blk or rng, got nothing$/m],
    [["net", "--socket", "x"], /^microvm-vhost-user: device: expected blk or rng, got "net"$/m],
    [["blk", "--socket", "x"], /^microvm-vhost-user: blk: --image FILE is required$/m],
    [["rng"], /^microvm-vhost-user: --socket PATH is required$/m],
    [["rng", "--socket", "x", "--image", "y"], /^microvm-vhost-user: --image: unknown option for rng; options: --socket PATH$/m],
  ])("%j: one line naming what is wrong, exit 1", (args, message) => {
    const r = run(args as string[]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it("a missing image: an error naming the file, and no socket is created", () => {
    const sock = join(dir, "never.sock");
    const r = run(["blk", "--socket", sock, "--image", join(dir, "missing.img")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^microvm-vhost-user: drive .*missing\.img: cannot open/m);
    expect(existsSync(sock)).toBe(false);
  });
});

/** A fresh 8 MiB raw image and a socket path for a daemon run named `word`. */
function blkFiles(word: string): { image: string; sock: string } {
  const image = join(dir, `disk-${word}.img`);
  writeFileSync(image, "");
  truncateSync(image, 8 << 20);
  return { image, sock: join(dir, `blk-${word}.sock`) };
}

/** Starts `microvm-vhost-user blk` on `sock` and `image`; its stderr goes to `log`. */
function startBlkDaemon(sock: string, image: string, log: (text: string) => void): { d: ChildProcess; closed: Promise<number | string | null> } {
  const d = spawn(process.execPath, [...NODE_ARGS, "blk", "--socket", sock, "--image", image], { stdio: ["ignore", "ignore", "pipe"] });
  d.stderr?.setEncoding("utf8").on("data", log);
  return { d, closed: new Promise((r) => d.once("close", (code, signal) => r(code ?? signal))) };
}

/** Waits (15 s at most) for the daemon's socket to appear. */
async function socketUp(sock: string): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
}

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const built = noQemu ? { skip: noQemu } : stockKernel();
const skip = "skip" in built ? built.skip : undefined;
describe.skipIf(skip !== undefined)(`microvm-vhost-user under QEMU${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it.each([
    ["SIGTERM", "daemon5"],
    ["SIGKILL", "killed9"],
  ] as const)("serves blk to QEMU's vhost-user-blk: the guest's fsync'd pattern is in the image; then %s", async (signal, word) => {
    const { image, sock } = blkFiles(word);
    let log = "";
    const { d: daemon, closed: exited } = startBlkDaemon(sock, image, (t) => (log += t));
    await socketUp(sock);
    expect(existsSync(sock), log).toBe(true);
    const r = await runQemuMicrovm({
      kernel: built as StockKernel,
      cpus: 1,
      machine: ["memory-backend=mem"],
      append: `stock.blk=${word}`,
      args: ["-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-global", "virtio-mmio.force-legacy=false", "-chardev", `socket,id=vu,path=${sock}`, "-device", "vhost-user-blk,chardev=vu"],
    });
    expect(r.text, `${r.text.slice(-1500)}\n${log}`).toMatch(/^STOCK-BLK ok 65536/m);
    daemon.kill(signal);
    if (signal === "SIGTERM") {
      expect(await exited).toBe(0);
      expect(existsSync(sock)).toBe(false);
    } else await exited; // killed: what the guest's FLUSH completed is on disk all the same
    expect(log).toMatch(/front-end connected/);
    const fd = openSync(image, "r");
    const head = new Uint8Array(16);
    readSync(fd, head, 0, 16, 0);
    closeSync(fd);
    expect(new TextDecoder().decode(head).slice(0, 2 * (word.length + 1))).toBe(`${word}\n${word}\n`);
  });

  // The back-end restarted under a running QEMU (vhost-user.rst, "reconnect"): QEMU's chardev
  // reconnects (reconnect=1), sets the device up again on the new back-end and resumes each ring
  // at its used index, so requests in flight when the old one died are served again by the new
  // one. The new daemon takes over the socket the killed one left behind.
  async function killAndRestart(word: string, reconnect: boolean, timeoutMs: number) {
    const { image, sock } = blkFiles(word);
    let log = "";
    const start = () => startBlkDaemon(sock, image, (t) => (log += t));
    const first = start();
    await socketUp(sock);
    let second: ReturnType<typeof start> | undefined;
    let restarted: Promise<void> | undefined;
    try {
      const run = await runQemuMicrovm({
        kernel: built as StockKernel,
        cpus: 1,
        machine: ["memory-backend=mem"],
        append: `stock.blk=${word}`,
        args: ["-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-global", "virtio-mmio.force-legacy=false", "-chardev", `socket,id=vu,path=${sock}${reconnect ? ",reconnect=1" : ""}`, "-device", "vhost-user-blk,chardev=vu"],
        // The guest has found the disk and is about to write its pattern: the back-end dies now.
        onText: (text) => {
          if (restarted || !/^STOCK-REPORT/m.test(text)) return;
          restarted = (async () => {
            first.d.kill("SIGKILL");
            await first.closed;
            second = start();
          })();
        },
        timeoutMs,
      });
      await restarted;
      const s = second as ReturnType<typeof start> | undefined;
      s?.d.kill("SIGTERM");
      await s?.closed;
      const fd = openSync(image, "r");
      const head = new Uint8Array(65536);
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      return { run, log, killed: await first.closed, head };
    } finally {
      first.d.kill("SIGKILL");
      (second as ReturnType<typeof start> | undefined)?.d.kill("SIGKILL");
    }
  }

  it("killed with SIGKILL and restarted while the guest writes: QEMU reconnects to the new daemon, which serves the rest; the guest's fsync'd pattern reads back and is in the image", async () => {
    const word = "restart4";
    const { run, log, killed, head } = await killAndRestart(word, true, 90_000);
    expect(killed).toBe("SIGKILL");
    expect(run.text, `${run.text.slice(-1500)}\n${run.stderr.slice(-1500)}\n${log}`).toMatch(/^STOCK-BLK ok 65536/m);
    // The second daemon had QEMU's connection and served the guest's requests after the restart.
    expect(log, log).toMatch(/stopping after 1 front-end connection\(s\), [1-9]\d* kick\(s\)/);
    expect(head).toEqual(new TextEncoder().encode(`${word}\n`.repeat(8000)).subarray(0, 65536));
  }, 150_000);

  it("negative control: without reconnect= QEMU stays cut off from the new daemon, and the guest's check never completes", async () => {
    const { run, log, killed } = await killAndRestart("noreconnect", false, 15_000);
    expect(killed).toBe("SIGKILL");
    expect(run.text, run.text.slice(-1500)).toMatch(/^STOCK-REPORT/m);
    expect(run.text).not.toMatch(/^STOCK-BLK ok/m);
    expect(log).toMatch(/stopping after 0 front-end connection\(s\)/);
  }, 60_000);
});
