import { describe, expect, it } from "vitest";
import type { FrameSink } from "@microvm/virtio-mmio";
import { ArpResponder } from "../src/index.js";

const GUEST_MAC = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const GUEST_IP = [10, 0, 2, 15];

/** An ARP request (Ethernet II, broadcast) from the guest asking for `target`. */
function request(target: readonly number[], op = 1): Uint8Array {
  return new Uint8Array([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], ...GUEST_MAC, 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, op,
    ...GUEST_MAC, ...GUEST_IP,
    0, 0, 0, 0, 0, 0, ...target,
  ]);
}

/** A sink taking `room` frames, then refusing (no receive buffers posted). */
function sink(room: number): FrameSink & { got: Uint8Array[]; room: number } {
  return {
    got: [],
    room,
    receive(frame: Uint8Array): boolean {
      if (this.room === 0) return false;
      this.room--;
      this.got.push(frame.slice());
      return true;
    },
  };
}

describe("ArpResponder", () => {
  it("answers a request for one of its addresses with its MAC, to the requester", () => {
    const peer = new ArpResponder({ ips: ["10.0.2.2", "10.0.2.3"], mac: "52:55:0a:00:02:02" });
    const s = sink(8);
    peer.attach(s);
    peer.transmit(request([10, 0, 2, 3]));
    expect(peer.stats).toEqual({ answered: 1, ignored: 0, dropped: 0 });
    const r = s.got[0]!;
    expect(r.length).toBe(60);
    expect([...r.subarray(0, 6)]).toEqual(GUEST_MAC); // to the requester
    expect([...r.subarray(6, 12)]).toEqual([0x52, 0x55, 0x0a, 0, 2, 2]);
    expect([...r.subarray(12, 22)]).toEqual([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]); // ARP reply
    expect([...r.subarray(22, 28)]).toEqual([0x52, 0x55, 0x0a, 0, 2, 2]); // sender: us
    expect([...r.subarray(28, 32)]).toEqual([10, 0, 2, 3]); // the address asked about
    expect([...r.subarray(32, 38)]).toEqual(GUEST_MAC);
    expect([...r.subarray(38, 42)]).toEqual(GUEST_IP);
  });

  it("ignores other addresses, replies, other protocols and short frames", () => {
    const peer = new ArpResponder({ ips: ["10.0.2.2"] });
    const s = sink(8);
    peer.attach(s);
    const ipv4 = request([10, 0, 2, 2]);
    ipv4[13] = 0x00; // ethertype 0x0800
    for (const f of [request([10, 0, 2, 9]), request([10, 0, 2, 2], 2), ipv4, request([10, 0, 2, 2]).subarray(0, 41)]) peer.transmit(f);
    expect(peer.stats).toEqual({ answered: 0, ignored: 4, dropped: 0 });
    expect(s.got).toEqual([]);
    // Negative control: the same responder answers the request it should.
    peer.transmit(request([10, 0, 2, 2]));
    expect(s.got.length).toBe(1);
  });

  it("keeps replies while the guest has no buffers, up to maxPending, and delivers them on rxReady", () => {
    const peer = new ArpResponder({ ips: ["10.0.2.2"], maxPending: 2 });
    const s = sink(0);
    peer.attach(s);
    for (let i = 0; i < 3; i++) peer.transmit(request([10, 0, 2, 2]));
    expect(peer.stats).toEqual({ answered: 3, ignored: 0, dropped: 1 });
    s.room = 1;
    peer.rxReady();
    expect(s.got.length).toBe(1);
    s.room = 5;
    peer.rxReady();
    expect(s.got.length).toBe(2);
  });
});
