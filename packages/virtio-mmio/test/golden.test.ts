/**
 * Golden checks against Linux's include/uapi/linux/virtio_*.h, through the output of a C program
 * compiled against them (test/vectors/virtio_golden.c; see test/vectors/README.md).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  Blk,
  BlkDevice,
  BlkFeature,
  BlkStatus,
  BlkType,
  Console,
  ConsoleDevice,
  DeviceId,
  Feature,
  MemoryBlockBackend,
  MemoryByteStream,
  MemoryFrameBackend,
  MmioInt,
  MmioReg,
  Net,
  NetDevice,
  NetFeature,
  RngDevice,
  Status,
  Vring,
  VringFlag,
} from "../src/index.ts";
import { Driver } from "./driver.ts";

const golden = new Map<string, number>(
  readFileSync(new URL("./vectors/virtio_golden.txt", import.meta.url), "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const [k, v] = l.split(" ");
      return [k!, Number(v)] as const;
    }),
);

function g(name: string): number {
  const v = golden.get(name);
  if (v === undefined) throw new Error(`golden value ${name} missing`);
  return v;
}

const groups: [string, Record<string, number>][] = [
  ["mmio", MmioReg],
  ["int", MmioInt],
  ["status", Status],
  ["feature", Feature],
  ["id", DeviceId],
  ["blkf", BlkFeature],
  ["blkt", BlkType],
  ["blks", BlkStatus],
  ["netf", NetFeature],
];

describe("golden constants from Linux UAPI headers", () => {
  it("every golden line has a counterpart and they agree", () => {
    const ours = new Map<string, number>();
    for (const [prefix, obj] of groups) for (const [k, v] of Object.entries(obj)) ours.set(`${prefix}.${k}`, v);
    for (const k of ["DescNext", "DescWrite", "DescIndirect", "AvailNoInterrupt", "UsedNoNotify"] as const) ours.set(`vring.${k}`, VringFlag[k]);
    for (const k of ["DescAlign", "AvailAlign", "UsedAlign"] as const) ours.set(`vring.${k}`, Vring[k]);
    for (const k of ["FeatureSize", "FeatureMultiport", "FeatureEmergWrite"] as const) ours.set(`console.${k}`, Console[k]);
    ours.set("blk.IdBytes", Blk.IdBytes);
    ours.set("net.StatusLinkUp", Net.StatusLinkUp);
    ours.set("sizeof.vring_desc", Vring.DescSize);
    ours.set("sizeof.vring_used_elem", Vring.UsedElemSize);
    ours.set("sizeof.virtio_blk_outhdr", Blk.HeaderSize);
    ours.set("sizeof.virtio_blk_discard_write_zeroes", Blk.DiscardSegmentSize);
    ours.set("sizeof.virtio_net_hdr", Net.LegacyHeaderSize);
    ours.set("sizeof.virtio_net_hdr_v1", Net.HeaderSize);
    ours.set("sizeof.virtio_net_hdr_mrg_rxbuf", Net.HeaderSize);
    ours.set("sizeof.virtio_console_config", Console.ConfigSize);
    // Our blk config stops where the secure-erase fields begin.
    ours.set("offsetof.virtio_blk_config.max_secure_erase_sectors", Blk.ConfigSize);
    let compared = 0;
    for (const [k, v] of ours) {
      if (!golden.has(k)) {
        // Only constants newer than the installed headers may be absent.
        expect(["feature.NotificationData"]).toContain(k);
        continue;
      }
      expect(v, k).toBe(g(k));
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });

  it("device config spaces put each field at the header's offset", () => {
    const blk = new BlkDevice(new MemoryBlockBackend(new Uint8Array(1 << 20)), { segMax: 77 });
    const bv = new DataView(blk.config.buffer);
    expect(bv.getBigUint64(g("offsetof.virtio_blk_config.capacity"), true)).toBe(2048n);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.seg_max"), true)).toBe(77);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.blk_size"), true)).toBe(512);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.max_discard_seg"), true)).toBe(1);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.max_write_zeroes_seg"), true)).toBe(1);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.discard_sector_alignment"), true)).toBe(1);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.max_discard_sectors"), true)).toBeGreaterThan(0);
    expect(bv.getUint32(g("offsetof.virtio_blk_config.max_write_zeroes_sectors"), true)).toBeGreaterThan(0);
    expect(bv.getUint8(g("offsetof.virtio_blk_config.write_zeroes_may_unmap"))).toBe(1);

    const net = new NetDevice(new MemoryFrameBackend());
    const nv = new DataView(net.config.buffer);
    expect(nv.getUint16(g("offsetof.virtio_net_config.status"), true)).toBe(g("net.StatusLinkUp"));
    expect(nv.getUint16(g("offsetof.virtio_net_config.max_virtqueue_pairs"), true)).toBe(1);
    expect(net.config.length).toBe(g("offsetof.virtio_net_config.speed"));

    const con = new ConsoleDevice(new MemoryByteStream(), { cols: 100, rows: 40 });
    const cv = new DataView(con.config.buffer);
    expect(cv.getUint16(g("offsetof.virtio_console_config.rows"), true)).toBe(40);
    expect(cv.getUint32(g("offsetof.virtio_console_config.max_nr_ports"), true)).toBe(1);
    expect(con.config.length).toBe(g("sizeof.virtio_console_config"));
  });

  it("a legacy ring laid out with Linux's vring_size() and struct offsets works", () => {
    const d = new Driver(new RngDevice({ source: (o) => void o.fill(0x42) }), { version: 1 });
    d.init({ queueSize: 8 });
    const q = d.queues[0]!;
    // used ring = end of vring_size(8, 4096) minus the used ring's own size (6 + 8 * 8)
    expect(q.used - q.desc).toBe(g("vring_size.8.4096") - (6 + 8 * 8));
    const m = d.mem;
    const buf = d.alloc.alloc(64);
    const desc = q.desc + 3 * g("sizeof.vring_desc");
    m.write64(desc + g("offsetof.vring_desc.addr"), BigInt(buf));
    m.write32(desc + g("offsetof.vring_desc.len"), 64);
    m.write16(desc + g("offsetof.vring_desc.flags"), g("vring.DescWrite"));
    m.write16(desc + g("offsetof.vring_desc.next"), 0);
    m.write16(q.avail + g("offsetof.vring_avail.ring"), 3);
    m.write16(q.avail + g("offsetof.vring_avail.idx"), 1);
    d.w(MmioReg.QueueNotify, 0);
    expect(m.read16(q.used + g("offsetof.vring_used.idx"))).toBe(1);
    const elem = q.used + g("offsetof.vring_used.ring");
    expect(m.read32(elem)).toBe(3);
    expect(m.read32(elem + 4)).toBe(64);
    expect(m.read8(buf + 63)).toBe(0x42);
  });
});
