import { describe, expect, it } from "vitest";
import { BlkDevice, MemoryBlockBackend, Status, BlkType } from "../src/index.ts";
import { Driver } from "./driver.ts";

describe("smoke", () => {
  it("blk read v2", () => {
    const disk = new Uint8Array(1 << 16);
    for (let i = 0; i < disk.length; i++) disk[i] = i & 0xff;
    const d = new Driver(new BlkDevice(new MemoryBlockBackend(disk)));
    expect(d.init()).toBe(true);
    const q = d.queues[0]!;
    const hdr = d.alloc.alloc(16);
    d.mem.write32(hdr, BlkType.In);
    d.mem.write64(hdr + 8, 2n);
    const data = d.alloc.alloc(512);
    const st = d.alloc.alloc(1);
    d.mem.write8(st, 0xff);
    q.submit([{ addr: hdr, len: 16 }, { addr: data, len: 512, write: true }, { addr: st, len: 1, write: true }]);
    expect(d.status() & Status.NeedsReset).toBe(0);
    expect(q.reap()).toEqual([{ id: 0, len: 513 }]);
    expect(d.mem.read8(st)).toBe(0);
    expect(d.mem.read8(data + 5)).toBe((1024 + 5) & 0xff);
  });
});
