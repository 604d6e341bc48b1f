// Our BlkDevice behind QEMU's vhost-user-blk against QEMU's own virtio-blk, as the guest sees
// them: Debian's stock kernel on QEMU's microvm (TCG, 1 vCPU) reads 32 MiB of the disk with
// O_DIRECT, in 1 MiB and in 4 KiB blocks (scripts/stock-kernel/init, stock.dd=), timed by the
// guest's own clock. The same image, the same guest, one boot per side and sample; each boot
// measures both block sizes, so the 4 KiB row takes its samples from the 1 MiB row's boots (in
// the same interleaved order) and boots only when run alone. One warm-up boot per side: the first
// boot in a process serves its 1 MiB reads at a third to half of the later speed (the request
// path's JIT warm-up, and the host's page cache of the fresh image, which QEMU's cache=none side
// does not use), a cost the daemon pays once. Under TCG the guest's instructions dominate both
// sides alike; the ratio is what the back-end costs.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { FileBlockBackend } from "../src/node/file-block-backend.js";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";
import { BlkDevice } from "@microvm/virtio-mmio";
import { runQemuMicrovm, stockKernel, type StockKernel } from "../test/helpers/stock-kernel.js";

const MIB = 32;
let dir = "";
let image = "";
let kernel: StockKernel | undefined;
let n = 0;
/** Figures a boot measured that the other block size's row has not taken yet, by side and block size. */
const spare = { ours: new Map<number, number[]>(), ref: new Map<number, number[]>() };

/** One sample of `bs` for a side: a figure an earlier boot left, or a new boot (its other figure is kept). */
async function sample(side: "ours" | "ref", bs: number): Promise<number> {
  const left = spare[side].get(bs);
  if (left !== undefined && left.length > 0) return left.shift() as number;
  const got = await boot(side === "ours");
  for (const [size, mbps] of got) {
    if (size === bs) continue;
    const list = spare[side].get(size) ?? [];
    list.push(mbps);
    spare[side].set(size, list);
  }
  return got.get(bs) as number;
}

/** One boot: MB/s for 1 MiB and 4 KiB reads, from the guest's STOCK-DD lines. */
async function boot(vhost: boolean): Promise<Map<number, number>> {
  const k = kernel as StockKernel;
  let backend: VhostUserBackend | undefined;
  let args: string[];
  if (vhost) {
    const sock = join(dir, `blk${n++}.sock`);
    const disk = new FileBlockBackend(image);
    backend = VhostUserBackend.listen({ socket: sock, device: () => new BlkDevice(disk) });
    args = ["-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-global", "virtio-mmio.force-legacy=false", "-chardev", `socket,id=vu,path=${sock}`, "-device", "vhost-user-blk,chardev=vu"];
  } else {
    args = ["-global", "virtio-mmio.force-legacy=false", "-drive", `id=d0,if=none,format=raw,file=${image},cache=none`, "-device", "virtio-blk-device,drive=d0"];
  }
  try {
    const r = await runQemuMicrovm({ kernel: k, cpus: 1, ...(vhost ? { machine: ["memory-backend=mem"] } : {}), append: `stock.dd=${MIB}`, args, timeoutMs: 120_000 });
    const out = new Map<number, number>();
    for (const m of r.text.matchAll(/^STOCK-DD (\d+) (\d+) (\d+)/gm)) out.set(Number(m[1]), Number(m[2]) / 1e6 / (Number(m[3]) / 1e9));
    if (out.size !== 2) throw new Error(`no STOCK-DD lines (${vhost ? "vhost-user" : "QEMU"}):\n${r.text.slice(-1500)}\n${r.stderr}`);
    return out;
  } finally {
    backend?.close();
  }
}

const row = (bs: number, label: string): BenchCase => ({
  name: `guest reads, ${label} blocks, O_DIRECT: our BlkDevice via vhost-user-blk (TCG)`,
  unit: "MB/s",
  better: "higher",
  reference: "QEMU's own virtio-blk on the same image, same guest",
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
  },
  teardown() {
    // The next row's setup makes a new image if it needs one (spare figures need none).
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  },
  ours: () => sample("ours", bs),
  ref: () => sample("ref", bs),
});

export const cases: BenchCase[] = [row(1048576, "1 MiB"), row(4096, "4 KiB")];
