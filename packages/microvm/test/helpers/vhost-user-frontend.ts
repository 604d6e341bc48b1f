// A vhost-user front-end written in TypeScript, playing QEMU's part byte for byte (QEMU
// docs/interop/vhost-user.rst): guest memory is a shared file mapped on both sides, the rings are
// ours to fill, the kick and call eventfds are real. For the back-end's tests and its benchmark.
import { closeSync, ftruncateSync, openSync, writeFileSync } from "node:fs";
import type { EventFd } from "@microvm/kvm";
import { VHOST_USER_F_PROTOCOL_FEATURES, VHOST_USER_PROTOCOL_F, decodeVhostUserMessage, encodeVhostUserMessage, type VhostUserMessage, type VhostUserMessageInput } from "@microvm/vhost-user";
import { Feature, VringFlag } from "@microvm/virtio-mmio";
import { libc } from "../../src/node/libc.js";
import { FdSocket, connectUnix } from "../../src/node/unix-socket.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const MEM: number = 1 << 20;
export const USER: bigint = 0x7f00_0000_0000n; // where "QEMU" has the guest's RAM mapped (any value: only the translation matters)
export const DESC = 0x1000;
export const AVAIL = 0x2000;
export const USED = 0x3000;
export const BUF = 0x10000;

/** Guest RAM: a shared file mapped here; the back-end maps the same file from the fd we send. */
export class SharedRam {
  readonly fd: number;
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  private readonly addr: bigint;
  constructor(
    path: string,
    readonly size: number = MEM,
  ) {
    writeFileSync(path, "");
    this.fd = openSync(path, "r+");
    ftruncateSync(this.fd, size);
    this.addr = libc().mmap(size, 3, 1, this.fd, 0);
    this.bytes = new Uint8Array(libc().view(this.addr, size));
    this.dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, size);
  }
  close(): void {
    libc().munmap(this.addr, this.size);
    closeSync(this.fd);
  }
}

/** The front-end: QEMU's side of the protocol. */
export class FrontEnd {
  readonly sock: FdSocket;
  constructor(path: string) {
    this.sock = new FdSocket(connectUnix(path));
  }
  send(m: VhostUserMessageInput, fds: number[] = []): void {
    this.sock.send(encodeVhostUserMessage({ ...m, fdCount: fds.length }), fds);
  }
  /** The next message from the back-end, or "eof" (the back-end runs on this thread's event loop: wait without blocking it). */
  async reply(): Promise<VhostUserMessage | "eof"> {
    let head = this.sock.receive(12);
    for (let i = 0; head === "again" && i < 300; i++) {
      await sleep(10);
      head = this.sock.receive(12);
    }
    if (head === "again" || head === "eof") return "eof";
    const size = new DataView(head.bytes.buffer).getUint32(8, true);
    const body = size > 0 ? this.sock.readExactly(size) : new Uint8Array(0);
    if (!body) return "eof";
    const all = new Uint8Array(12 + size);
    all.set(head.bytes);
    all.set(body, 12);
    return decodeVhostUserMessage(all, 0);
  }
  async u64(request: "GET_FEATURES" | "GET_PROTOCOL_FEATURES" | "GET_QUEUE_NUM"): Promise<bigint> {
    this.send({ request });
    const r = await this.reply();
    if (r === "eof" || r.payload.type !== "u64") throw new Error(`no u64 reply to ${request}`);
    return BigInt(r.payload.value);
  }
  /** The usual start-up of one ring over `ram`, as QEMU sends it. */
  async start(ram: SharedRam, kick: EventFd, call: EventFd, opts: { size?: number; base?: number; features?: bigint } = {}): Promise<void> {
    const offered = await this.u64("GET_FEATURES");
    const want = opts.features ?? (offered & ((1n << BigInt(Feature.Version1)) | (1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES))));
    this.send({ request: "SET_FEATURES", payload: { type: "u64", value: want } });
    await this.u64("GET_PROTOCOL_FEATURES");
    this.send({ request: "SET_PROTOCOL_FEATURES", payload: { type: "u64", value: 1n << BigInt(VHOST_USER_PROTOCOL_F.REPLY_ACK) } });
    this.send({ request: "SET_OWNER" });
    this.send({ request: "SET_MEM_TABLE", needReply: true, payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: BigInt(ram.size), userAddress: USER, mmapOffset: 0n }] } }, [ram.fd]);
    const ack = await this.reply();
    if (ack === "eof" || ack.payload.type !== "u64" || BigInt(ack.payload.value) !== 0n) throw new Error(`SET_MEM_TABLE was not acknowledged with 0 (success): ${JSON.stringify(ack, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
    this.send({ request: "SET_VRING_NUM", payload: { type: "vring-state", index: 0, num: opts.size ?? 8 } });
    this.send({ request: "SET_VRING_BASE", payload: { type: "vring-state", index: 0, num: opts.base ?? 0 } });
    this.send({ request: "SET_VRING_ADDR", payload: { type: "vring-addr", index: 0, flags: 0, descUser: USER + BigInt(DESC), usedUser: USER + BigInt(USED), availUser: USER + BigInt(AVAIL), logGuest: 0n } });
    this.send({ request: "SET_VRING_KICK", payload: { type: "vring-fd", index: 0, noFd: false } }, [kick.fd]);
    this.send({ request: "SET_VRING_CALL", payload: { type: "vring-fd", index: 0, noFd: false } }, [call.fd]);
    this.send({ request: "SET_VRING_ENABLE", payload: { type: "vring-state", index: 0, num: 1 } });
  }
  close(): void {
    this.sock.close();
  }
}

/** Posts one chain of descriptors (each [address, length, writable]) as avail.ring[idx]. */
export function post(ram: SharedRam, availIdx: number, head: number, bufs: [number, number, boolean][], ringSize = 8, publish = true): void {
  bufs.forEach(([addr, len, w], i) => {
    const d = DESC + 16 * (head + i);
    ram.dv.setBigUint64(d, BigInt(addr), true);
    ram.dv.setUint32(d + 8, len, true);
    ram.dv.setUint16(d + 12, (w ? VringFlag.DescWrite : 0) | (i + 1 < bufs.length ? VringFlag.DescNext : 0), true);
    ram.dv.setUint16(d + 14, head + i + 1, true);
  });
  ram.dv.setUint16(AVAIL + 4 + 2 * (availIdx % ringSize), head, true);
  if (publish) ram.dv.setUint16(AVAIL + 2, (availIdx + 1) & 0xffff, true);
}

/** Waits for the back-end's interrupt on `call` (its counter), up to 3 s. */
export async function interrupted(call: EventFd): Promise<bigint> {
  for (let i = 0; i < 300; i++) {
    const v = call.read();
    if (v > 0n) return v;
    await sleep(10);
  }
  return 0n;
}

