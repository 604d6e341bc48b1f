// The vhost-user back-end (node/vhost-user-backend.ts) driven by a front-end written here, playing
// QEMU's part byte for byte (QEMU docs/interop/vhost-user.rst): guest memory is a shared file we
// map on both sides, the rings are ours to fill, the kick and call eventfds are real. Checks: our
// RngDevice fills a buffer the front-end posted, our BlkDevice answers GET_CONFIG with its
// capacity and writes what a request says, a ring stopped with GET_VRING_BASE resumes where it
// stopped on a new connection. Hostile front-ends (garbage, bad fd counts, a ring outside the
// memory table, features never offered, a legacy driver) end their connection with the reason
// counted, leak no fd, and the back-end takes the next front-end. With VIRTIO_RING_F_EVENT_IDX an
// interrupt goes out only when the driver's used_event asks for it. Polling (pollMicros, off by
// default): a driver on another thread keeps the ring busy; buffers are taken without kicks, the
// event loop still gets its turns, and once the driver stops the back-end asks for kicks again
// and leaves the event loop idle.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { EventFd } from "@microvm/kvm";
import { AVAIL, BUF, DESC, FrontEnd, MEM, SharedRam, USED, USER, interrupted, post } from "./helpers/vhost-user-frontend.js";
import { VHOST_USER_F_PROTOCOL_FEATURES, VHOST_USER_PROTOCOL_F, encodeVhostUserMessage } from "@microvm/vhost-user";
import { BlkDevice, Feature, MemoryBlockBackend, RngDevice } from "@microvm/virtio-mmio";
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

/** A front-end connects, starts ring 0 and has one 16-byte buffer served (its interrupt seen). */
async function connectAndServeOne(b: VhostUserBackend, path: string, ram: SharedRam): Promise<{ fe: FrontEnd; kick: EventFd; call: EventFd }> {
  const kick = EventFd.create({ nonBlocking: true });
  const call = EventFd.create({ nonBlocking: true });
  const fe = new FrontEnd(path);
  await until(() => b.connected);
  await fe.start(ram, kick, call);
  post(ram, 0, 0, [[BUF, 16, true]]);
  kick.signal();
  expect(await interrupted(call)).toBeGreaterThan(0n);
  return { fe, kick, call };
}

/** The front-end hangs up; once the back-end has seen it, everything the test opened is closed. */
async function hangUp(fe: { close(): void }, b: VhostUserBackend, fds: readonly { close(): void }[], ram: { close(): void }): Promise<void> {
  fe.close();
  await until(() => !b.connected);
  b.close();
  for (const f of fds) f.close();
  ram.close();
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
    await hangUp(fe, b, [kick, call], ram);
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
    const { fe, kick, call } = await connectAndServeOne(b, path, ram);
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

  it("new features while the device is live reach it as a new activation; the same features again do not", async () => {
    // A device may fix what the features decide when it is activated (virtio-net's header
    // length); a front-end's later SET_FEATURES must not leave it with the old answer.
    class Watching extends RngDevice {
      readonly seen: boolean[] = [];
      override activate(host: Parameters<RngDevice["activate"]>[0]): void {
        super.activate(host);
        this.seen.push(this.negotiated(Feature.EventIdx));
      }
    }
    const device = new Watching();
    const { b, path } = backend(() => device);
    const ram = new SharedRam(join(dir, `ram${n++}`));
    const { fe, kick, call } = await connectAndServeOne(b, path, ram);
    const v1 = (1n << BigInt(Feature.Version1)) | (1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES));
    fe.send({ request: "SET_FEATURES", payload: { type: "u64", value: v1 } });
    await fe.u64("GET_FEATURES"); // answered after the SET_FEATURES before it was handled
    expect(device.seen).toEqual([false]);
    fe.send({ request: "SET_FEATURES", payload: { type: "u64", value: v1 | (1n << BigInt(Feature.EventIdx)) } });
    await fe.u64("GET_FEATURES");
    expect(device.seen).toEqual([false, true]);
    await hangUp(fe, b, [kick, call], ram);
  });

  it("with EVENT_IDX, interrupts only when the driver's used_event asks for one; without polling, every served kick leaves kicks on", async () => {
    const { b, path } = backend(() => new RngDevice());
    const ram = new SharedRam(join(dir, `ram${n++}`));
    const kick = EventFd.create({ nonBlocking: true });
    const call = EventFd.create({ nonBlocking: true });
    const fe = new FrontEnd(path);
    await until(() => b.connected);
    await fe.start(ram, kick, call, { features: EVENT_IDX_FEATURES });
    // used_event = 2: "interrupt me once used.idx goes past 2", i.e. at the third buffer
    ram.dv.setUint16(USED_EVENT, 2, true);
    for (let i = 0; i < 3; i++) {
      post(ram, i, i, [[BUF + 64 * i, 64, true]]);
      kick.signal();
      expect(await until(() => ram.dv.getUint16(USED + 2, true) === i + 1)).toBe(true);
      // kicks stay on: avail_event is the next index to serve, so the driver's next buffer kicks
      expect(ram.dv.getUint16(AVAIL_EVENT, true)).toBe(i + 1);
      if (i < 2) {
        await sleep(20);
        expect(call.read(), `no interrupt after buffer ${i}`).toBe(0n);
      }
    }
    expect(await interrupted(call)).toBe(1n);
    expect(b.stats()).toMatchObject({ kicks: 3, calls: 1, polled: 0, hostile: {} });
    await hangUp(fe, b, [kick, call], ram);
  });

  it("pollMicros: a busy driver's buffers are taken without kicks, the event loop still gets its turns, and an idle back-end asks for kicks again and does not spin", async () => {
    const path = join(dir, `vu${n++}.sock`);
    // A quiet window far longer than the stream's gaps: only the per-turn bound can give the event
    // loop its turns while the driver streams.
    const b = VhostUserBackend.listen({ socket: path, device: () => new RngDevice(), pollMicros: 50_000 });
    const ramPath = join(dir, `ram${n++}`);
    const ram = new SharedRam(ramPath);
    const kick = EventFd.create({ nonBlocking: true });
    const call = EventFd.create({ nonBlocking: false }); // the driver sleeps in read() until its interrupt
    const fe = new FrontEnd(path);
    await until(() => b.connected);
    await fe.start(ram, kick, call, { features: EVENT_IDX_FEATURES });
    // The event loop's longest pause while the driver streams (the back-end polls on this thread).
    let last = performance.now();
    let maxLag = 0;
    const tick = setInterval(() => {
      const t = performance.now();
      maxLag = Math.max(maxLag, t - last);
      last = t;
    }, 1);
    const STREAM_MS = 300;
    const worker = new Worker(DRIVER, { eval: true, workerData: { path: ramPath, kickFd: kick.fd, callFd: call.fd, ms: STREAM_MS, size: 8, DESC, AVAIL, USED, BUF } });
    const r = await new Promise<{ requests: number; kicks: number; stuck: boolean }>((resolve, reject) => {
      // A driver whose interrupt never comes sleeps in read(): one from here wakes it, as stuck.
      const watchdog = setTimeout(() => call.signal(), STREAM_MS + 5000);
      worker.once("message", (m: { requests: number; kicks: number; stuck: boolean }) => {
        clearTimeout(watchdog);
        resolve(m);
      });
      worker.once("error", reject);
    });
    clearInterval(tick);
    maxLag = Math.max(maxLag, performance.now() - last); // a pause that lasted until the stream's end
    await worker.terminate();
    expect(r.stuck, "a buffer was never served").toBe(false);
    expect(r.requests).toBeGreaterThan(50);
    const s = b.stats();
    // taken while polling, without a kick: the driver kicked for fewer buffers than it posted
    expect(s.polled).toBeGreaterThan(0);
    expect(r.kicks).toBeLessThan(r.requests);
    expect(s.kicks).toBeLessThanOrEqual(r.kicks);
    // bounded: a stream of 300 ms never held the event loop for long (POLL_TURN_MS is 2 ms)
    expect(maxLag).toBeLessThan(150);
    // idle: polling stopped, kicks asked for again (avail_event = the next index to serve)…
    await sleep(20);
    expect(ram.dv.getUint16(AVAIL_EVENT, true)).toBe(r.requests & 0xffff);
    // …and the event loop sleeps (a back-end spinning on the rings would keep it near 1)
    const elu0 = performance.eventLoopUtilization();
    await sleep(200);
    expect(performance.eventLoopUtilization(elu0).utilization).toBeLessThan(0.5);
    expect(b.stats()).toMatchObject({ polled: s.polled, kicks: s.kicks, hostile: {} });
    await hangUp(fe, b, [kick, call], ram);
  });
});

/** VERSION_1, the protocol-features extension and EVENT_IDX, as QEMU acks them for our devices. */
const EVENT_IDX_FEATURES = (1n << BigInt(Feature.Version1)) | (1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES)) | (1n << BigInt(Feature.EventIdx));
/** The rings of FrontEnd.start (8 entries): used_event after avail.ring, avail_event after used.ring. */
const USED_EVENT = AVAIL + 4 + 2 * 8;
const AVAIL_EVENT = USED + 4 + 8 * 8;

/**
 * A virtio driver on its own thread, as a guest's would be: it posts one 64-byte writable buffer
 * at a time for `ms`, kicks only when avail_event asks (vring_need_event, virtio 1.2 §2.7.10),
 * asks for an interrupt for it (used_event) and sleeps in read() on the call eventfd until it
 * comes. Guest RAM is the shared file, through pread and pwrite (the same pages the back-end maps).
 */
const DRIVER = `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { path, kickFd, callFd, ms, size, DESC, AVAIL, USED, BUF } = workerData;
const fd = fs.openSync(path, "r+");
const b2 = Buffer.alloc(2), b8 = Buffer.alloc(8), d = Buffer.alloc(16), one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
const rd16 = (at) => (fs.readSync(fd, b2, 0, 2, at), b2.readUInt16LE(0));
const wr16 = (at, v) => (b2.writeUInt16LE(v & 0xffff), fs.writeSync(fd, b2, 0, 2, at));
const t0 = Date.now();
let i = 0, kicks = 0, stuck = false;
while (Date.now() - t0 < ms) {
  const head = i % size;
  d.fill(0);
  d.writeBigUInt64LE(BigInt(BUF + 64 * head), 0);
  d.writeUInt32LE(64, 8);
  d.writeUInt16LE(2, 12); // VIRTQ_DESC_F_WRITE
  fs.writeSync(fd, d, 0, 16, DESC + 16 * head);
  wr16(AVAIL + 4 + 2 * head, head);
  wr16(AVAIL + 4 + 2 * size, i); // used_event: an interrupt for this buffer
  wr16(AVAIL + 2, i + 1);
  const ev = rd16(USED + 4 + 8 * size); // avail_event
  if (((i - ev) & 0xffff) < 1) { fs.writeSync(kickFd, one); kicks++; } // vring_need_event(ev, i + 1, i)
  fs.readSync(callFd, b8, 0, 8, null); // the interrupt (or the test's watchdog)
  if (rd16(USED + 2) !== ((i + 1) & 0xffff)) { stuck = true; break; }
  i++;
}
fs.closeSync(fd);
parentPort.postMessage({ requests: i, kicks, stuck });
`;
