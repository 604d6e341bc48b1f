// Our device models under a real Linux driver on any host: QEMU's microvm (TCG) runs Debian's
// stock kernel with vhost-user-blk and vhost-user-rng whose back-end is OUR VhostUserBackend, in
// this process, serving our BlkDevice (on a raw image file, FileBlockBackend) and RngDevice. The
// guest's /init writes a pattern to the disk with fsync (a FLUSH), drops its page cache, reads it
// back and compares; reads the rng; the host then checks the bytes in the image file. Negative
// controls: a block back-end that corrupts what the guest reads (the guest's compare fails), and
// a legacy virtio-mmio transport, which the back-end refuses by name.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlkDevice, RngDevice, type BlockBackend } from "@microvm/virtio-mmio";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { FileBlockBackend } from "../src/node/file-block-backend.js";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";
import { parseStockReport, runQemuMicrovm, stockKernel, type StockKernel } from "./helpers/stock-kernel.js";

const noQemu = qemuAvailable() ? undefined : "qemu-system-x86_64 is not installed";
const built = noQemu ? { skip: noQemu } : stockKernel();
const skip = "skip" in built ? built.skip : undefined;
const stock = "skip" in built ? undefined : (built as StockKernel);
const dir = mkdtempSync(join(tmpdir(), "microvm-linux-vu-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Shared guest RAM and modern transports: what a vhost-user device needs on QEMU's microvm. */
const SHARED = ["-object", "memory-backend-memfd,id=mem,size=256M,share=on"];
const MODERN = ["-global", "virtio-mmio.force-legacy=false"];

/** The FileBlockBackend with every read of sector 0 corrupted in one byte (plain and vectored reads). */
function corrupting(inner: FileBlockBackend): BlockBackend {
  return new Proxy(inner, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if ((prop !== "read" && prop !== "readv") || typeof v !== "function") return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return (offset: number, into: Uint8Array | readonly Uint8Array[], ...rest: unknown[]) => {
        const r = (v as (...a: unknown[]) => unknown).call(target, offset, into, ...rest);
        const first = Array.isArray(into) ? (into[0] as Uint8Array | undefined) : (into as Uint8Array);
        if (offset === 0 && first !== undefined && first.length > 0) first[0] = (first[0] ?? 0) ^ 0xff;
        return r;
      };
    },
  }) as BlockBackend;
}

async function boot(opts: { blk?: (path: string) => BlockBackend; rng?: boolean; modern?: boolean; append: string; timeoutMs?: number }) {
  const image = join(dir, `disk${n}.img`);
  writeFileSync(image, "");
  truncateSync(image, 8 << 20);
  const backends: VhostUserBackend[] = [];
  const lines: string[] = [];
  const args: string[] = [...SHARED, ...(opts.modern === false ? [] : MODERN)];
  if (opts.blk) {
    const sock = join(dir, `blk${n}.sock`);
    const make = opts.blk;
    backends.push(VhostUserBackend.listen({ socket: sock, device: () => new BlkDevice(make(image)), log: (l) => lines.push(l) }));
    args.push("-chardev", `socket,id=vublk,path=${sock}`, "-device", "vhost-user-blk,chardev=vublk");
  }
  if (opts.rng) {
    const sock = join(dir, `rng${n}.sock`);
    backends.push(VhostUserBackend.listen({ socket: sock, device: () => new RngDevice(), log: (l) => lines.push(l) }));
    args.push("-chardev", `socket,id=vurng,path=${sock}`, "-device", "vhost-user-rng,chardev=vurng");
  }
  n++;
  try {
    const run = await runQemuMicrovm({ kernel: stock as StockKernel, cpus: 1, machine: ["memory-backend=mem"], append: opts.append, args, timeoutMs: opts.timeoutMs ?? 90_000 });
    return { run, lines, image, stats: backends.map((b) => b.stats()) };
  } finally {
    for (const b of backends) b.close();
  }
}

const readHead = (path: string, n: number): Uint8Array => {
  const fd = openSync(path, "r");
  try {
    const b = new Uint8Array(n);
    readSync(fd, b, 0, n, 0);
    return b;
  } finally {
    closeSync(fd);
  }
};

describe.skipIf(skip !== undefined)(`Linux drives our device models through vhost-user (QEMU microvm, TCG, Debian's stock kernel)${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("blk: the guest's pattern, written with fsync, reads back and is in the image file; rng: the guest reads entropy from our RngDevice", async () => {
    const { run, image, stats, lines } = await boot({ blk: (p) => new FileBlockBackend(p), rng: true, append: "stock.blk=vhostuser7 stock.rng=1" });
    const report = parseStockReport(run.text);
    expect(report, `${run.text.slice(-2000)}\n${run.stderr}\n${lines.join("\n")}`).toBeDefined();
    expect([...(report?.virtio ?? [])].sort()).toEqual([2, 4]);
    expect(report?.blk).toEqual([{ name: "vda", sectors: 16384 }]);
    expect(run.text).toMatch(/^STOCK-BLK ok 65536/m);
    expect(run.text).toMatch(/^STOCK-RNG 32 [0-9a-f]{32}/m);
    // the host's side: the bytes are in the file
    const want = new TextEncoder().encode("vhostuser7\n".repeat(6000)).subarray(0, 65536);
    expect(readHead(image, 65536)).toEqual(want);
    const [blk, rng] = stats;
    expect(blk?.kicks).toBeGreaterThan(0);
    expect(rng?.kicks).toBeGreaterThan(0);
    expect(blk?.refused).toEqual({});
    expect(blk?.hostile).toEqual({});
  });

  it("negative control: a back-end that corrupts what the guest reads back turns the guest's check red", async () => {
    const { run, image } = await boot({ blk: (p) => corrupting(new FileBlockBackend(p)), append: "stock.blk=vhostuser8" });
    expect(run.text, run.text.slice(-2000)).toMatch(/^STOCK-BLK fail 65536/m);
    // the writes themselves went through: only the reads of sector 0 were corrupted
    expect(readHead(image, 65536)).toEqual(new TextEncoder().encode("vhostuser8\n".repeat(6000)).subarray(0, 65536));
  });

  it("a legacy virtio-mmio transport (QEMU microvm's default): the back-end refuses it by name, at the features", async () => {
    const { lines } = await boot({ blk: (p) => new FileBlockBackend(p), modern: false, append: "", timeoutMs: 12_000 });
    expect(lines.join("\n")).toMatch(/refused: the front-end did not accept VIRTIO_F_VERSION_1 \(a legacy virtio driver\).*force-legacy=false/);
  });
});
