// The `microvm-vhost-user` daemon (src/vhost-user-cli.ts) as a process: it serves blk on a socket
// to QEMU (the recipe of docs/vhost-user.md: shared memfd RAM, vhost-user-blk, modern virtio-mmio;
// the guest is Debian's stock kernel, whose init writes and reads back a pattern), removes its
// socket and exits 0 on SIGTERM; bad command lines and a missing image are one-line errors
// before any socket exists.
import { spawn, spawnSync } from "node:child_process";
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

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const built = noQemu ? { skip: noQemu } : stockKernel();
const skip = "skip" in built ? built.skip : undefined;
describe.skipIf(skip !== undefined)(`microvm-vhost-user under QEMU${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it.each([
    ["SIGTERM", "daemon5"],
    ["SIGKILL", "killed9"],
  ] as const)("serves blk to QEMU's vhost-user-blk: the guest's fsync'd pattern is in the image; then %s", async (signal, word) => {
    const image = join(dir, `disk-${word}.img`);
    writeFileSync(image, "");
    truncateSync(image, 8 << 20);
    const sock = join(dir, `blk-${word}.sock`);
    const daemon = spawn(process.execPath, [...NODE_ARGS, "blk", "--socket", sock, "--image", image], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    daemon.stderr.setEncoding("utf8").on("data", (t: string) => (log += t));
    const exited = new Promise<number | null>((r) => daemon.once("close", (code) => r(code)));
    for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
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
});
