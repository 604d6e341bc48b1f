// The vhost-user back-end alone (no QEMU): 4 KiB virtio-blk reads through our BlkDevice, served
// by VhostUserBackend to a front-end in this process (test/helpers/vhost-user-frontend.ts, which
// plays QEMU's part: shared memory, rings, kick and call eventfds), against a plain copy of the
// same 4 KiB per request. The back-end and the front-end share one event loop here, so each batch
// pays a kick and a call; a real front-end is another process. A second row sends 1 MiB requests
// in 254 scattered 4 KiB buffers (what Linux's dd sends with O_DIRECT) to our file backend, against
// one preadv of the same file range into the same buffers: what our handling adds to the read.
import { closeSync, mkdtempSync, openSync, readvSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventFd } from "@microvm/kvm";
import { BlkDevice, MemoryBlockBackend, type BlockBackend } from "@microvm/virtio-mmio";
import type { BenchCase } from "../../../bench/harness.ts";
import { FdBlockBackend } from "../src/node/fd-block-backend.js";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";
import { AVAIL, FrontEnd, SharedRam, USED, post } from "../test/helpers/vhost-user-frontend.js";

const RING = 256;
const BATCH = 64; // chains of 3 descriptors: 192 of the ring's 256
const ROUNDS = 16;
const DISK = 16 << 20;
const HDR = 0x80000;
const DATA = 0x100000;

let dir = "";
let backend: VhostUserBackend | undefined;
let ram: SharedRam | undefined;
let fe: FrontEnd | undefined;
let kick: EventFd | undefined;
let call: EventFd | undefined;
let availIdx = 0;
const disk = new Uint8Array(DISK).map((_, i) => i * 7);
const sink = new Uint8Array(4096 * BATCH);

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Serves `blk` from a back-end on a socket in `dir`, and connects the test's front-end to it with one ring. */
async function connect(blk: BlockBackend): Promise<void> {
  const path = join(dir, "blk.sock");
  const b = VhostUserBackend.listen({ socket: path, device: () => new BlkDevice(blk) });
  backend = b;
  ram = new SharedRam(join(dir, "ram"), 4 << 20);
  kick = EventFd.create({ nonBlocking: true });
  call = EventFd.create({ nonBlocking: true });
  fe = new FrontEnd(path);
  while (!b.connected) await turn();
  await fe.start(ram, kick, call, { size: RING });
}

function disconnect(): void {
  fe?.close();
  backend?.close();
  ram?.close();
  kick?.close();
  call?.close();
  rmSync(dir, { recursive: true, force: true });
}

/** The 1 MiB row's state: a 64 MiB image file (in the page cache after the warm-ups), 254 buffers. */
const BIG = { segs: 254, disk: 64 << 20, rounds: 64 };
let fd = -1;
let views: Uint8Array[] = [];
let chain: [number, number, boolean][] = [];

export const cases: BenchCase[] = [
  {
    name: "vhost-user-blk back-end alone: 4 KiB reads, batches of 64, front-end in this process",
    unit: "ns/request",
    better: "lower",
    reference: "a plain copy of the same 4 KiB per request",
    reps: 9,
    warmup: 2,
    // eventfds and SCM_RIGHTS: no /dev/kvm needed
    skip: () => (process.platform !== "linux" ? "Linux only (eventfd, SCM_RIGHTS)" : undefined),
    async setup() {
      dir = mkdtempSync(join(tmpdir(), "microvm-vu-bench-"));
      await connect(new MemoryBlockBackend(disk));
    },
    teardown: disconnect,
    async ours() {
      const r = ram as SharedRam;
      const t0 = process.hrtime.bigint();
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < BATCH; i++) {
          const hdr = HDR + 32 * i;
          r.dv.setUint32(hdr, 0, true); // VIRTIO_BLK_T_IN
          r.dv.setBigUint64(hdr + 8, BigInt(((round * BATCH + i) * 8) % (DISK / 512 - 8)), true);
          post(r, availIdx++, 3 * i, [[hdr, 16, false], [DATA + 4096 * i, 4096, true], [hdr + 16, 1, true]], RING, false);
        }
        r.dv.setUint16(0x2000 + 2, availIdx & 0xffff, true); // avail.idx, once per batch
        (kick as EventFd).signal();
        while (r.dv.getUint16(USED + 2, true) !== (availIdx & 0xffff)) await turn();
        (call as EventFd).read();
      }
      return Number(process.hrtime.bigint() - t0) / (ROUNDS * BATCH);
    },
    ref() {
      const t0 = process.hrtime.bigint();
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < BATCH; i++) {
          const at = (((round * BATCH + i) * 8) % (DISK / 512 - 8)) * 512;
          sink.set(disk.subarray(at, at + 4096), 4096 * i);
        }
      }
      return Number(process.hrtime.bigint() - t0) / (ROUNDS * BATCH);
    },
  },
  {
    name: "vhost-user-blk back-end alone: 1 MiB reads in 254 scattered 4 KiB buffers, raw file, front-end in this process",
    unit: "us/request",
    better: "lower",
    reference: "one preadv of the same file range into the same 254 buffers",
    reps: 9,
    warmup: 2,
    skip: () => (process.platform !== "linux" ? "Linux only (eventfd, SCM_RIGHTS)" : undefined),
    async setup() {
      dir = mkdtempSync(join(tmpdir(), "microvm-vu-bench-"));
      fd = openSync(join(dir, "disk.img"), "w+");
      const chunk = new Uint8Array(1 << 20).map((_, i) => i * 13);
      for (let i = 0; i < BIG.disk >> 20; i++) writeSync(fd, chunk);
      await connect(new FdBlockBackend(fd, { size: BIG.disk }));
      // Every other page, in a shuffled order: no two buffers are adjacent.
      const pages = Array.from({ length: BIG.segs }, (_, i) => DATA + 8192 * ((i * 97) % BIG.segs));
      chain = [[HDR, 16, false], ...pages.map((p): [number, number, boolean] => [p, 4096, true]), [HDR + 16, 1, true]];
      views = pages.map((p) => (ram as SharedRam).bytes.subarray(p, p + 4096));
      availIdx = 0;
      // The descriptors once: the device never changes them, so each round only offers the head.
      post(ram as SharedRam, 0, 0, chain, RING, false);
    },
    teardown() {
      closeSync(fd);
      disconnect();
    },
    async ours() {
      const r = ram as SharedRam;
      const t0 = process.hrtime.bigint();
      for (let round = 0; round < BIG.rounds; round++) {
        r.dv.setUint32(HDR, 0, true); // VIRTIO_BLK_T_IN
        r.dv.setBigUint64(HDR + 8, BigInt((round * 2048) % (BIG.disk / 512 - 2048)), true);
        r.dv.setUint16(AVAIL + 4 + 2 * (availIdx++ % RING), 0, true); // avail.ring[]: head 0
        r.dv.setUint16(AVAIL + 2, availIdx & 0xffff, true);
        (kick as EventFd).signal();
        while (r.dv.getUint16(USED + 2, true) !== (availIdx & 0xffff)) await turn();
        (call as EventFd).read();
      }
      return Number(process.hrtime.bigint() - t0) / BIG.rounds / 1000;
    },
    ref() {
      const t0 = process.hrtime.bigint();
      for (let round = 0; round < BIG.rounds; round++) readvSync(fd, views, ((round * 2048) % (BIG.disk / 512 - 2048)) * 512);
      return Number(process.hrtime.bigint() - t0) / BIG.rounds / 1000;
    },
  },
];
