// The vhost-user back-end alone (no QEMU): 4 KiB virtio-blk reads through our BlkDevice, served
// by VhostUserBackend to a front-end in this process (test/helpers/vhost-user-frontend.ts, which
// plays QEMU's part: shared memory, rings, kick and call eventfds), against a plain copy of the
// same 4 KiB per request. The back-end and the front-end share one event loop here, so each batch
// pays a kick and a call; a real front-end is another process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventFd } from "@microvm/kvm";
import { BlkDevice, MemoryBlockBackend } from "@microvm/virtio-mmio";
import type { BenchCase } from "../../../bench/harness.ts";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";
import { FrontEnd, SharedRam, USED, post } from "../test/helpers/vhost-user-frontend.js";

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
      const path = join(dir, "blk.sock");
      backend = VhostUserBackend.listen({ socket: path, device: () => new BlkDevice(new MemoryBlockBackend(disk)) });
      ram = new SharedRam(join(dir, "ram"), 4 << 20);
      kick = EventFd.create({ nonBlocking: true });
      call = EventFd.create({ nonBlocking: true });
      fe = new FrontEnd(path);
      while (!backend.connected) await turn();
      await fe.start(ram, kick, call, { size: RING });
    },
    teardown() {
      fe?.close();
      backend?.close();
      ram?.close();
      kick?.close();
      call?.close();
      rmSync(dir, { recursive: true, force: true });
    },
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
];
