import type { FrameBackend, FrameSink } from "@microvm/virtio-mmio";
import { MicrovmError } from "./errors.js";

/**
 * Options of {@link ArpResponder}.
 *
 * @example
 * ```ts
 * const peer = new ArpResponder({ ips: ["10.0.2.2", "10.0.2.3"], mac: "52:55:0a:00:02:02" } satisfies ArpResponderOptions);
 * ```
 */
export interface ArpResponderOptions {
  /** The IPv4 addresses it answers for, dotted quads; default `["10.0.2.2"]` (QEMU slirp's gateway). */
  readonly ips?: readonly string[];
  /** Its MAC address, `aa:bb:cc:dd:ee:ff`; default `52:55:0a:00:02:02` (slirp's gateway MAC). */
  readonly mac?: string;
  /** Frames it holds while the guest has posted no receive buffers; beyond that it drops (counted). Default 64. */
  readonly maxPending?: number;
}

/**
 * Parses `aa:bb:cc:dd:ee:ff`.
 *
 * @param mac - the text
 * @returns six bytes
 * @throws MicrovmError `invalid-argument`
 * @example
 * ```ts
 * parseMac("52:54:00:12:34:56"); // Uint8Array [0x52, 0x54, 0, 0x12, 0x34, 0x56]
 * ```
 */
export function parseMac(mac: string): Uint8Array {
  const parts = typeof mac === "string" ? mac.split(":") : [];
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new MicrovmError("invalid-argument", `mac: expected six hex bytes separated by colons, got ${JSON.stringify(mac)}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function parseIp(ip: string): Uint8Array {
  const parts = typeof ip === "string" ? ip.split(".") : [];
  const n = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (n.length !== 4 || n.some((x) => !(x >= 0 && x <= 255))) {
    throw new MicrovmError("invalid-argument", `ip: expected a dotted IPv4 address, got ${JSON.stringify(ip)}`);
  }
  return Uint8Array.from(n);
}

const eq = (a: Uint8Array, ao: number, b: Uint8Array): boolean => b.every((x, i) => a[ao + i] === x);

/**
 * An in-process network peer for virtio-net: it answers ARP requests (RFC 826) for a set of IPv4
 * addresses, like the gateway of QEMU's user-mode network, so that a guest's "send a frame, get
 * an answer" check works without root, a tap device or a network. Other frames are counted and
 * dropped. Replies wait while the guest has no receive buffers posted (back-pressure), up to
 * `maxPending` frames.
 *
 * @example
 * ```ts
 * const peer = new ArpResponder({ ips: ["10.0.2.2"] });
 * const net = new NetDevice(peer);
 * ```
 */
export class ArpResponder implements FrameBackend {
  /** It has read each frame when transmit returns: the device lends it one buffer. */
  readonly borrowsFrames = true;
  private sink: FrameSink | undefined;
  private readonly pending: Uint8Array[] = [];
  private readonly ips: Uint8Array[];
  private readonly mac: Uint8Array;
  private readonly maxPending: number;
  /** Counters: ARP requests answered, other frames ignored, replies dropped for lack of room. */
  readonly stats: {
    /** ARP requests answered. */
    answered: number;
    /** Other frames, ignored. */
    ignored: number;
    /** Replies dropped because too many waited for receive buffers. */
    dropped: number;
  } = { answered: 0, ignored: 0, dropped: 0 };

  /**
   * Creates a responder.
   *
   * @param options - addresses and MAC
   */
  constructor(options: ArpResponderOptions = {}) {
    this.ips = (options.ips ?? ["10.0.2.2"]).map(parseIp);
    this.mac = parseMac(options.mac ?? "52:55:0a:00:02:02");
    this.maxPending = options.maxPending ?? 64;
  }

  /**
   * Connects the device's receive side.
   *
   * @param sink - where answers go
   * @example
   * ```ts
   * peer.attach(netDevice);
   * ```
   */
  attach(sink: FrameSink): void {
    this.sink = sink;
  }

  /**
   * The guest posted receive buffers: deliver what waits.
   *
   * @example
   * ```ts
   * peer.rxReady();
   * ```
   */
  rxReady(): void {
    while (this.pending.length > 0 && this.sink?.receive(this.pending[0] as Uint8Array)) this.pending.shift();
  }

  /**
   * A frame the guest sent.
   *
   * @param frame - an Ethernet frame, without the virtio-net header
   * @example
   * ```ts
   * peer.transmit(arpRequest);
   * ```
   */
  transmit(frame: Uint8Array): void {
    // Ethernet II + ARP for IPv4 over Ethernet: ethertype 0x0806, htype 1, ptype 0x0800, hlen 6,
    // plen 4, op 1 (request); the target protocol address is at frame offset 38.
    const isArpRequest =
      frame.length >= 42 &&
      frame[12] === 0x08 && frame[13] === 0x06 &&
      frame[14] === 0 && frame[15] === 1 && frame[16] === 0x08 && frame[17] === 0 &&
      frame[18] === 6 && frame[19] === 4 && frame[20] === 0 && frame[21] === 1;
    // The frame may be guest memory that changes meanwhile (borrowsFrames): the address answered
    // for is ours, as matched, not the frame's bytes read a second time.
    const ip = isArpRequest ? this.ips.find((a) => eq(frame, 38, a)) : undefined;
    if (ip === undefined) {
      this.stats.ignored++;
      return;
    }
    const reply = new Uint8Array(60); // padded to the Ethernet minimum
    reply.set(frame.subarray(22, 28), 0); // to the requester's MAC
    reply.set(this.mac, 6);
    reply.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12); // ARP reply
    reply.set(this.mac, 22); // sender: us
    reply.set(ip, 28); // the address asked about
    reply.set(frame.subarray(22, 28), 32); // target: the requester
    reply.set(frame.subarray(28, 32), 38);
    this.stats.answered++;
    if (this.pending.length === 0 && this.sink?.receive(reply)) return;
    if (this.pending.length >= this.maxPending) {
      this.stats.dropped++;
      return;
    }
    this.pending.push(reply);
  }
}
