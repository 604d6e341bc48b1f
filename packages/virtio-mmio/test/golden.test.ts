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
  type BlockBackend,
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

/**
 * Golden lines whose counterpart is not a constant of ours but what a device or the transport
 * does: the tests below read each of them with g() and check it through I/O or config space.
 */
const CHECKED_BY_BEHAVIOUR = [
  "offsetof.vring_desc.addr",
  "offsetof.vring_desc.len",
  "offsetof.vring_desc.flags",
  "offsetof.vring_desc.next",
  "offsetof.vring_avail.idx",
  "offsetof.vring_avail.ring",
  "offsetof.vring_used.idx",
  "offsetof.vring_used.ring",
  "vring_size.8.4096",
  "vring_size.256.4096",
  "offsetof.virtio_blk_outhdr.type",
  "offsetof.virtio_blk_outhdr.sector",
  "offsetof.virtio_blk_discard_write_zeroes.num_sectors",
  "offsetof.virtio_blk_discard_write_zeroes.flags",
  "blk.WriteZeroesFlagUnmap",
  "offsetof.virtio_blk_config.capacity",
  "offsetof.virtio_blk_config.seg_max",
  "offsetof.virtio_blk_config.blk_size",
  "offsetof.virtio_blk_config.max_discard_sectors",
  "offsetof.virtio_blk_config.max_discard_seg",
  "offsetof.virtio_blk_config.discard_sector_alignment",
  "offsetof.virtio_blk_config.max_write_zeroes_sectors",
  "offsetof.virtio_blk_config.max_write_zeroes_seg",
  "offsetof.virtio_blk_config.write_zeroes_may_unmap",
  "offsetof.virtio_net_hdr_v1.num_buffers",
  "offsetof.virtio_net_config.status",
  "offsetof.virtio_net_config.max_virtqueue_pairs",
  "offsetof.virtio_net_config.mtu",
  "offsetof.virtio_net_config.speed",
  "offsetof.virtio_console_config.rows",
  "offsetof.virtio_console_config.max_nr_ports",
  "offsetof.virtio_console_config.emerg_wr",
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
    // Walk the golden side: every line is compared with a constant of ours or checked below.
    const behaviour = new Set(CHECKED_BY_BEHAVIOUR);
    let compared = 0;
    let byBehaviour = 0;
    for (const [k, v] of golden) {
      if (ours.has(k)) {
        expect(ours.get(k), k).toBe(v);
        compared++;
      } else {
        expect(behaviour.has(k), `golden line ${k} has no counterpart`).toBe(true);
        byBehaviour++;
      }
    }
    expect(compared + byBehaviour).toBe(golden.size);
    expect(byBehaviour).toBe(behaviour.size); // every listed line exists in the golden file
    // And our side: only constants newer than the installed headers may lack a golden line.
    const absent = [...ours.keys()].filter((k) => !golden.has(k));
    expect(absent.filter((k) => k !== "feature.NotificationData")).toEqual([]);
    expect(compared).toBe(ours.size - absent.length);
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

  it.each([8, 256])("a legacy ring of %i entries laid out with Linux's vring_size() and struct offsets works", (size) => {
    const d = new Driver(new RngDevice({ queueSize: 256, source: (o) => void o.fill(0x42) }), { version: 1 });
    d.init({ queueSize: size });
    const q = d.queues[0]!;
    expect(q.size).toBe(size);
    // used ring = end of vring_size(size, 4096) minus the used ring's own size (6 + 8 * size)
    expect(q.used - q.desc).toBe(g(`vring_size.${size}.4096`) - (6 + 8 * size));
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
  it("blk request headers and write-zeroes segments, net num_buffers and mtu, console emerg_wr at the header's offsets", () => {
    // blk: an IN request whose header is written with the golden offsets reads that sector.
    const disk = new Uint8Array(64 * 512);
    for (let i = 0; i < disk.length; i++) disk[i] = (i >> 9) + 1; // sector n holds n + 1
    const zeroed: [number, number, boolean][] = [];
    const backend: BlockBackend = {
      size: disk.length,
      read: (o, out) => void out.set(disk.subarray(o, o + out.length)),
      write: (o, bytes) => void disk.set(bytes, o),
      writeZeroes: (o, n, unmap) => void zeroed.push([o, n, unmap]),
    };
    const d = new Driver(new BlkDevice(backend), { version: 2 });
    expect(d.init()).toBe(true);
    const q = d.queues[0]!;
    const hdr = d.alloc.alloc(g("sizeof.virtio_blk_outhdr"));
    d.mem.fill(hdr, g("sizeof.virtio_blk_outhdr"));
    d.mem.write32(hdr + g("offsetof.virtio_blk_outhdr.type"), g("blkt.In"));
    d.mem.write64(hdr + g("offsetof.virtio_blk_outhdr.sector"), 5n);
    const data = d.alloc.alloc(512);
    const st = d.alloc.alloc(1);
    q.submit([{ addr: hdr, len: g("sizeof.virtio_blk_outhdr") }, { addr: data, len: 512, write: true }, { addr: st, len: 1, write: true }]);
    expect(q.reap()).toHaveLength(1);
    expect(d.mem.read8(st)).toBe(g("blks.Ok"));
    expect(d.mem.read8(data)).toBe(6);
    // WRITE_ZEROES with UNMAP: one segment written with the golden offsets.
    d.mem.write32(hdr + g("offsetof.virtio_blk_outhdr.type"), g("blkt.WriteZeroes"));
    d.mem.write64(hdr + g("offsetof.virtio_blk_outhdr.sector"), 0n);
    const seg = d.alloc.alloc(g("sizeof.virtio_blk_discard_write_zeroes"));
    d.mem.fill(seg, g("sizeof.virtio_blk_discard_write_zeroes"));
    d.mem.write64(seg, 7n); // sector, at offset 0 (the struct's first field)
    d.mem.write32(seg + g("offsetof.virtio_blk_discard_write_zeroes.num_sectors"), 3);
    d.mem.write32(seg + g("offsetof.virtio_blk_discard_write_zeroes.flags"), g("blk.WriteZeroesFlagUnmap"));
    q.submit([{ addr: hdr, len: g("sizeof.virtio_blk_outhdr") }, { addr: seg, len: g("sizeof.virtio_blk_discard_write_zeroes") }, { addr: st, len: 1, write: true }]);
    expect(q.reap()).toHaveLength(1);
    expect(d.mem.read8(st)).toBe(g("blks.Ok"));
    expect(zeroed).toEqual([[7 * 512, 3 * 512, true]]);

    // net: a received frame's header carries num_buffers = 1 at the golden offset (VERSION_1),
    // with and without mergeable receive buffers (two code paths).
    for (const mergeRxBuffers of [true, false]) {
      const wire = new MemoryFrameBackend();
      const n = new Driver(new NetDevice(wire, { mergeRxBuffers }), { version: 2 });
      expect(n.init()).toBe(true);
      expect((n.features >> BigInt(g("netf.MrgRxbuf"))) & 1n).toBe(mergeRxBuffers ? 1n : 0n);
      const rx = n.queues[0]!;
      const buf = n.alloc.alloc(1526);
      n.mem.fill(buf, 1526, 0xaa);
      rx.submit([{ addr: buf, len: 1526, write: true }]);
      wire.inject(new Uint8Array(60).fill(0x11));
      expect(rx.reap().map((u) => u.len)).toEqual([g("sizeof.virtio_net_hdr_v1") + 60]);
      expect(n.mem.read16(buf + g("offsetof.virtio_net_hdr_v1.num_buffers"))).toBe(1);
      expect(n.mem.read8(buf + g("sizeof.virtio_net_hdr_v1"))).toBe(0x11);
      // mtu lies inside the config served, and reads 0: VIRTIO_NET_F_MTU is not offered.
      expect(g("offsetof.virtio_net_config.mtu") + 2).toBeLessThanOrEqual(Net.ConfigSize);
      expect(n.config16(g("offsetof.virtio_net_config.mtu"))).toBe(0);
      expect((n.features >> BigInt(g("netf.Mtu"))) & 1n).toBe(0n);
    }

    // console: a write to emerg_wr at the golden offset is output.
    const tty = new MemoryByteStream();
    const c = new Driver(new ConsoleDevice(tty), { version: 2 });
    expect(c.init()).toBe(true);
    c.t.write(MmioReg.Config + g("offsetof.virtio_console_config.emerg_wr"), 4, 0x21);
    expect(tty.output.map((b) => [...b])).toEqual([[0x21]]);
  });
});
