// The vhost-user back-end (node/vhost-user-backend.ts) driven by a front-end written here, playing
// QEMU's part byte for byte (QEMU docs/interop/vhost-user.rst): guest memory is a shared file we
// map on both sides, the rings are ours to fill, the kick and call eventfds are real. Checks: our
// RngDevice fills a buffer the front-end posted, our BlkDevice answers GET_CONFIG with its
// capacity and writes what a request says, a ring stopped with GET_VRING_BASE resumes where it
// stopped on a new connection. Hostile front-ends (garbage, bad fd counts, a ring outside the
// memory table, features never offered, a legacy driver) end their connection with the reason
// counted, leak no fd, and the back-end takes the next front-end.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EventFd } from "@microvm/kvm";
import { BUF, FrontEnd, MEM, SharedRam, USED, USER, interrupted, post } from "./helpers/vhost-user-frontend.js";
import { VHOST_USER_PROTOCOL_F, encodeVhostUserMessage } from "@microvm/vhost-user";
import { BlkDevice, MemoryBlockBackend, RngDevice } from "@microvm/virtio-mmio";
import { VhostUserBackend } from "../src/node/vhost-user-backend.js";

const dir = mkdtempSync(join(tmpdir(), "microvm-vhost-user-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const openFds = (): number => readdirSync("/proc/self/fd").length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function backend(device: () => RngDevice | BlkDevice): { b: VhostUserBackend; path: string; lines: string[] } {
  const path = join(dir, `vu${n++}.sock`);
  const lines: string[] = [];
  return { b: VhostUserBackend.listen({ socket: path, device, log: (l) => lines.push(l) }), path, lines };
}

/** Lets the event loop run until `cond` holds (the back-end works on poll callbacks). */
async function until(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 300 && !cond(); i++) await sleep(10);
  return cond();
}

describe("the vhost-user back-end under a front-end of our own", () => {
  it("serves our RngDevice: a posted 64-byte buffer comes back filled, with an interrupt on the call eventfd", async () => {
    const { b, path } = backend(() => new RngDevice());
    const ram = new SharedRam(join(dir, `ram${n++}`));
    const kick = EventFd.create({ nonBlocking: true });
    const call = EventFd.create({ nonBlocking: true });
    const fe = new FrontEnd(path);
    expect(await until(() => b.connected)).toBe(true);
    // what it offers: VERSION_1 and the protocol extension; REPLY_ACK and MQ but not CONFIG (rng has no config space)
    const f = await fe.u64("GET_FEATURES");
    expect((f >> 32n) & 1n).toBe(1n);
    expect((f >> 30n) & 1n).toBe(1n);
    const pf = await fe.u64("GET_PROTOCOL_FEATURES");
    expect(pf & (1n << BigInt(VHOST_USER_PROTOCOL_F.CONFIG))).toBe(0n);
    expect(pf & (1n << BigInt(VHOST_USER_PROTOCOL_F.REPLY_ACK))).not.toBe(0n);
    await fe.start(ram, kick, call);
    post(ram, 0, 0, [[BUF, 64, true]]);
    kick.signal();
    expect(await interrupted(call)).toBeGreaterThan(0n);
    expect(ram.dv.getUint16(USED + 2, true)).toBe(1); // used.idx
    expect(ram.dv.getUint32(USED + 8, true)).toBe(64); // used.ring[0].len
    expect(ram.bytes.subarray(BUF, BUF + 64).some((x) => x !== 0)).toBe(true);
    // GET_VRING_BASE stops the ring and says where: one buffer taken
    fe.send({ request: "GET_VRING_BASE", payload: { type: "vring-state", index: 0, num: 0 } });
    const base = await fe.reply();
    expect(base !== "eof" && base.payload).toEqual({ type: "vring-state", index: 0, num: 1 });
    // a buffer posted now is not served (stopped)…
    post(ram, 1, 1, [[BUF + 0x100, 32, true]]);
    kick.signal();
    await sleep(100);
    expect(ram.dv.getUint16(USED + 2, true)).toBe(1);
    fe.close();
    expect(await until(() => !b.connected)).toBe(true);
    // …until a new front-end (a restarted QEMU) resumes the ring at that base
    const kick2 = EventFd.create({ nonBlocking: true });
    const fe2 = new FrontEnd(path);
    expect(await until(() => b.connected)).toBe(true);
    await fe2.start(ram, kick2, call, { base: 1 });
    kick2.signal();
    expect(await interrupted(call)).toBeGreaterThan(0n);
    expect(ram.dv.getUint16(USED + 2, true)).toBe(2);
    expect(ram.dv.getUint32(USED + 4 + 8 + 4, true)).toBe(32); // used.ring[1]: head 1, 32 bytes
    expect(ram.dv.getUint32(USED + 4 + 8, true)).toBe(1);
    fe2.close();
    await until(() => !b.connected);
    expect(b.stats()).toMatchObject({ connections: 2, refused: {}, hostile: {} });
    b.close();
    for (const e of [kick, kick2, call]) e.close();
    ram.close();
  });

  it("serves our BlkDevice: GET_CONFIG answers the capacity; a write request lands in the disk", async () => {
    const disk = new Uint8Array(64 * 512);
    const { b, path } = backend(() => new BlkDevice(new MemoryBlockBackend(disk)));
    const ram = new SharedRam(join(dir, `ram${n++}`));
    const kick = EventFd.create({ nonBlocking: true });
    const call = EventFd.create({ nonBlocking: true });
    const fe = new FrontEnd(path);
    await until(() => b.connected);
    expect(await fe.u64("GET_PROTOCOL_FEATURES") & (1n << BigInt(VHOST_USER_PROTOCOL_F.CONFIG))).not.toBe(0n);
    fe.send({ request: "GET_CONFIG", payload: { type: "config", offset: 0, flags: 0, data: new Uint8Array(8) } });
    const cfg = await fe.reply();
    expect(cfg !== "eof" && cfg.payload.type === "config" && new DataView(cfg.payload.data.buffer, cfg.payload.data.byteOffset).getBigUint64(0, true)).toBe(64n); // capacity in sectors
    await fe.start(ram, kick, call);
    // VIRTIO_BLK_T_OUT (1) to sector 3: header, 512 data bytes, status byte (virtio 1.2 §5.2.6)
    ram.dv.setUint32(BUF, 1, true);
    ram.dv.setBigUint64(BUF + 8, 3n, true);
    ram.bytes.fill(0xab, BUF + 0x100, BUF + 0x300);
    post(ram, 0, 0, [[BUF, 16, false], [BUF + 0x100, 512, false], [BUF + 0x400, 1, true]]);
    kick.signal();
    expect(await interrupted(call)).toBeGreaterThan(0n);
    expect(ram.bytes[BUF + 0x400]).toBe(0); // VIRTIO_BLK_S_OK
    expect(disk.subarray(3 * 512, 4 * 512).every((x) => x === 0xab)).toBe(true);
    expect(disk.subarray(0, 3 * 512).every((x) => x === 0)).toBe(true);
    fe.close();
    await until(() => !b.connected);
    b.close();
    kick.close();
    call.close();
    ram.close();
  });

  it("hostile front-ends: each is cut off with the reason counted, no fd leaks, and the next front-end is served", async () => {
    const { b, path, lines } = backend(() => new RngDevice());
    const ram = new SharedRam(join(dir, `ram${n++}`));
    const before = openFds();
    const attempts: [string, (fe: FrontEnd) => void][] = [
      ["garbage header", (fe) => fe.sock.send(new Uint8Array([0xff, 0xff, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]))],
      ["SET_MEM_TABLE without its fd", (fe) => fe.sock.send(encodeVhostUserMessage({ request: "SET_MEM_TABLE", fdCount: 1, payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: BigInt(MEM), userAddress: USER, mmapOffset: 0n }] } }))],
      ["a feature never offered", (fe) => fe.send({ request: "SET_FEATURES", payload: { type: "u64", value: (1n << 32n) | (1n << 63n) } })],
      ["a legacy driver (no VERSION_1)", (fe) => fe.send({ request: "SET_FEATURES", payload: { type: "u64", value: 0n } })],
      [
        "a ring outside the memory table",
        (fe) => {
          const kick = EventFd.create({ nonBlocking: true });
          const call = EventFd.create({ nonBlocking: true });
          fe.send({ request: "SET_FEATURES", payload: { type: "u64", value: 1n << 32n } });
          fe.send({ request: "SET_MEM_TABLE", payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: BigInt(MEM), userAddress: USER, mmapOffset: 0n }] } }, [ram.fd]);
          fe.send({ request: "SET_VRING_NUM", payload: { type: "vring-state", index: 0, num: 8 } });
          fe.send({ request: "SET_VRING_ADDR", payload: { type: "vring-addr", index: 0, flags: 0, descUser: USER + 0x10_0000_0000n, usedUser: USER, availUser: USER, logGuest: 0n } });
          fe.send({ request: "SET_VRING_KICK", payload: { type: "vring-fd", index: 0, noFd: false } }, [kick.fd]);
          kick.close();
          call.close();
        },
      ],
      ["a ring this device does not have", (fe) => fe.send({ request: "SET_VRING_NUM", payload: { type: "vring-state", index: 5, num: 8 } })],
    ];
    for (const [what, act] of attempts) {
      const fe = new FrontEnd(path);
      expect(await until(() => b.connected), what).toBe(true);
      act(fe);
      expect(await until(() => !b.connected), `${what}: the back-end ended the connection`).toBe(true);
      fe.close();
    }
    const s = b.stats();
    expect(s.connections).toBe(attempts.length);
    expect(s.refused).toEqual({ "unknown-request": 1, "fd-count": 1, "not-offered": 1, "legacy-driver": 1, "bad-index": 1 });
    expect(s.hostile).toEqual({ "ring-outside-memory": 1 });
    expect(lines.filter((l) => /front-end gone \(refused: /.test(l))).toHaveLength(attempts.length);
    expect(lines.some((l) => /did not accept VIRTIO_F_VERSION_1 .*force-legacy=false/.test(l))).toBe(true);
    // still serving, and nothing left open by the hostile ones
    const kick = EventFd.create({ nonBlocking: true });
    const call = EventFd.create({ nonBlocking: true });
    const fe = new FrontEnd(path);
    await until(() => b.connected);
    await fe.start(ram, kick, call);
    post(ram, 0, 0, [[BUF, 16, true]]);
    kick.signal();
    expect(await interrupted(call)).toBeGreaterThan(0n);
    fe.close();
    await until(() => !b.connected);
    kick.close();
    call.close();
    expect(openFds()).toBe(before);
    b.close();
    ram.close();
    // the socket's path is gone
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
  });
});
