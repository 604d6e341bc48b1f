// Our BlkDevice behind QEMU's vhost-user-blk against QEMU's own virtio-blk, as the guest sees
// them: Debian's stock kernel on QEMU's microvm (TCG, 1 vCPU) reads 32 MiB of the disk with
// O_DIRECT, sequentially in 1 MiB and in 4 KiB blocks (scripts/stock-kernel/init, stock.dd=), and
// 2048 random 4 KiB blocks one at a time (stock.rand=, scripts/stock-kernel/randread.c), timed by
// the guest's own clock. The same image, the same guest, one boot per side and sample; each boot
// measures all three, so the later rows take their samples from the first row's boots (in the
// same interleaved order) and boot only when run alone. One warm-up boot per side: the first
// boot in a process serves its 1 MiB reads at a third to half of the later speed (the request
// path's JIT warm-up, and the host's page cache of the fresh image, which QEMU's cache=none side
// does not use), a cost the daemon pays once. Under TCG the guest's instructions dominate both
// sides alike; the ratio is what the back-end costs.
import { randomFillSync } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { FileBlockBackend } from "../src/node/file-block-backend.js";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";
import { BlkDevice } from "@microvm/virtio-mmio";
import { runQemuMicrovm, stockKernel, type StockKernel } from "../test/helpers/stock-kernel.js";

const MIB = 32;
// The image and QEMU's cache mode (docs/vhost-user.md, "By image content and QEMU's cache mode"):
// by default a sparse image and cache=none; MICROVM_BENCH_VU_IMAGE=data fills it with random
// bytes, MICROVM_BENCH_VU_QEMU_CACHE=writeback puts QEMU's reads through the page cache as ours go,
// and MICROVM_BENCH_VU_QEMU_MEM=memfd gives QEMU's side the shared memfd RAM that vhost-user needs
// on ours (by default it has QEMU's own), so that the sides differ only in the device path.
const IMAGE = process.env["MICROVM_BENCH_VU_IMAGE"] === "data" ? "data" : "sparse";
const QEMU_CACHE = process.env["MICROVM_BENCH_VU_QEMU_CACHE"] === "writeback" ? "writeback" : "none";
const QEMU_MEMFD = process.env["MICROVM_BENCH_VU_QEMU_MEM"] === "memfd";
/** The guest's RAM as shared memfd (what vhost-user needs; `-machine memory-backend=mem` uses it). */
const SHARED_RAM = ["-object", "memory-backend-memfd,id=mem,size=256M,share=on"];
const RANDOM_READS = 2048;
let dir = "";
let image = "";
let kernel: StockKernel | undefined;
let n = 0;
/** What a boot measures: sequential reads by block size, and random 4 KiB reads. */
type Measure = "1048576" | "4096" | "random-4096";
/** Figures a boot measured that the other rows have not taken yet, by side and measure. */
const spare = { ours: new Map<Measure, number[]>(), ref: new Map<Measure, number[]>() };

/** One sample of `what` for a side: a figure an earlier boot left, or a new boot (its other figures are kept). */
async function sample(side: "ours" | "ref", what: Measure): Promise<number> {
  const left = spare[side].get(what);
  if (left !== undefined && left.length > 0) return left.shift() as number;
  const got = await boot(side === "ours");
  for (const [m, mbps] of got) {
    if (m === what) continue;
    const list = spare[side].get(m) ?? [];
    list.push(mbps);
    spare[side].set(m, list);
  }
  return got.get(what) as number;
}

/** One boot: MB/s of each measure, from the guest's STOCK-DD and STOCK-RAND lines. */
async function boot(vhost: boolean): Promise<Map<Measure, number>> {
  const k = kernel as StockKernel;
  let backend: VhostUserBackend | undefined;
  let args: string[];
  if (vhost) {
    const sock = join(dir, `blk${n++}.sock`);
    const disk = new FileBlockBackend(image);
    backend = VhostUserBackend.listen({ socket: sock, device: () => new BlkDevice(disk) });
    args = [...SHARED_RAM, "-global", "virtio-mmio.force-legacy=false", "-chardev", `socket,id=vu,path=${sock}`, "-device", "vhost-user-blk,chardev=vu"];
  } else {
    args = [...(QEMU_MEMFD ? SHARED_RAM : []), "-global", "virtio-mmio.force-legacy=false", "-drive", `id=d0,if=none,format=raw,file=${image},cache=${QEMU_CACHE}`, "-device", "virtio-blk-device,drive=d0"];
  }
  try {
    const r = await runQemuMicrovm({ kernel: k, cpus: 1, ...(vhost || QEMU_MEMFD ? { machine: ["memory-backend=mem"] } : {}), append: `stock.dd=${MIB} stock.rand=${RANDOM_READS}`, args, timeoutMs: 120_000 });
    const out = new Map<Measure, number>();
    const mbps = (bytes: string | undefined, ns: string | undefined): number => Number(bytes) / 1e6 / (Number(ns) / 1e9);
    // What the guest sent, beside each dd's figure: the requests it took (the same on both sides
    // when the guest splits the reads alike).
    const reqs: string[] = [];
    for (const m of r.text.matchAll(/^STOCK-DD (\d+) (\d+) (\d+)(?: (\d+))?/gm)) {
      out.set(m[1] as Measure, mbps(m[2], m[3]));
      if (m[4] !== undefined) reqs.push(`${m[1]} B blocks in ${m[4]} requests`);
    }
    for (const m of r.text.matchAll(/^STOCK-RAND 4096 (\d+) (\d+)/gm)) out.set("random-4096", mbps(m[1], m[2]));
    // The disk's queue limits and those request counts, on stderr beside the bench's progress.
    const queue = /^STOCK-QUEUE (\d+) (\d+) (\d+)/m.exec(r.text);
    if (queue) process.stderr.write(`bench: ${vhost ? "ours" : "QEMU's"}: max_sectors_kb ${queue[1]}, max_segments ${queue[2]}; ${reqs.join(", ")}\n`);
    if (out.size !== 3) throw new Error(`no STOCK-DD or STOCK-RAND lines (${vhost ? "vhost-user" : "QEMU"}):\n${r.text.slice(-1500)}\n${r.stderr}`);
    return out;
  } finally {
    backend?.close();
  }
}

const row = (what: Measure, label: string): BenchCase => ({
  name: `guest reads, ${label}, O_DIRECT: our BlkDevice via vhost-user-blk (TCG)`,
  unit: "MB/s",
  better: "higher",
  reference: `QEMU's own virtio-blk on the same image (${IMAGE}, QEMU cache=${QEMU_CACHE}${QEMU_MEMFD ? ", RAM on the same shared memfd as ours" : ""}), same guest`,
  goal: ">= 1.0",
  reps: 5,
  warmup: 1,
  skip: () => {
    if (!qemuAvailable()) return "qemu-system-x86_64 not found";
    const k = stockKernel();
    if ("skip" in k) return k.skip;
    kernel = k;
    return undefined;
  },
  setup() {
    if (dir) return;
    dir = mkdtempSync(join(tmpdir(), "microvm-vu-guest-bench-"));
    image = join(dir, "disk.img");
    writeFileSync(image, "");
    truncateSync(image, 64 << 20);
    if (IMAGE === "data") {
      const fd = openSync(image, "r+");
      const chunk = Buffer.alloc(1 << 20);
      for (let i = 0; i < 64; i++) writeSync(fd, randomFillSync(chunk), 0, chunk.length, i << 20);
      closeSync(fd);
    }
  },
  teardown() {
    // The next row's setup makes a new image if it needs one (spare figures need none).
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  },
  ours: () => sample("ours", what),
  ref: () => sample("ref", what),
});

export const cases: BenchCase[] = [row("1048576", "1 MiB blocks"), row("4096", "4 KiB blocks"), row("random-4096", "random 4 KiB blocks")];
