/**
 * virtio-net (virtio 1.2 §5.1).
 * @module
 */
import type { FrameBackend, FrameSink } from "../backends.js";
import { DeviceId as DeviceIdExport, Feature as FeatureExport, Net as NetExport, NetFeature as NetFeatureExport } from "../constants.js";
import { VirtioError } from "../errors.js";
import type { DescriptorChain, SplitQueue } from "../split-queue.js";
import type { GuestMemory } from "../guest-memory.js";
import type { DeviceHost } from "../transport.js";
import { DeviceBase, isThenable } from "./device-base.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const DeviceId: typeof DeviceIdExport = { ...DeviceIdExport };
const Feature: typeof FeatureExport = { ...FeatureExport };
const Net: typeof NetExport = { ...NetExport };
const NetFeature: typeof NetFeatureExport = { ...NetFeatureExport };

/**
 * Options of {@link NetDevice}.
 *
 * @example
 * ```ts
 * const opts: NetDeviceOptions = { mac: new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56]) };
 * ```
 */
export interface NetDeviceOptions {
  /** MAC address offered in config (VIRTIO_NET_F_MAC); default 52:54:00:12:34:56. */
  readonly mac?: Uint8Array;
  /** QueueNumMax of both queues (default 256). */
  readonly queueSize?: number;
  /** Offer VIRTIO_NET_F_MRG_RXBUF (default true). */
  readonly mergeRxBuffers?: boolean;
  /** Initial link state (default up). */
  readonly linkUp?: boolean;
}

const BIT = (b: number): bigint => 1n << BigInt(b);
const RX = 0;
const TX = 1;
// The header of a frame received into one buffer, written as words: all zero but num_buffers = 1
// (le16 at bytes 10..11 of the 12-byte header; the 10-byte legacy header has none).
function oneBufferHeader(v: DataView, o: number): void {
  v.setFloat64(o, 0); // 8 zero bytes
  v.setUint32(o + 8, 1 << 16, true);
}
function legacyHeader(v: DataView, o: number): void {
  v.setFloat64(o, 0);
  v.setUint16(o + 8, 0, true);
}

/**
 * A virtio-net device (id 1): receive queue 0, transmit queue 1, over a {@link FrameBackend}.
 *
 * - Header: `virtio_net_hdr` is 12 bytes (with `num_buffers`) when VERSION_1 or MRG_RXBUF is
 *   negotiated, else 10 bytes (legacy; virtio 1.2 §5.1.6). Transmitted headers are skipped (no
 *   offloads are offered); received frames get a zero header with `num_buffers`.
 * - Features: MAC, STATUS, MRG_RXBUF (optional), EVENT_IDX, INDIRECT_DESC.
 * - Config: mac, status (LINK_UP), max_virtqueue_pairs = 1.
 * - Receive back-pressure: {@link NetDevice.receive} returns false while the guest has posted no
 *   (or too few, with mergeable buffers) receive buffers; the backend keeps the frame and is told
 *   through `rxReady` when buffers arrive. Frames are dropped only by the backend, or when the
 *   guest posts a buffer too small for the frame without MRG_RXBUF (`malformed-request`).
 * - Transmitted frames above 65562 bytes are dropped (`request-too-large`, as Firecracker).
 *
 * @throws {@link VirtioError} from the constructor, for a bad MAC or queue size.
 * @example
 * ```ts
 * const wire = new MemoryFrameBackend();
 * const net = new NetDevice(wire, { mac: new Uint8Array([2, 0, 0, 0, 0, 1]) });
 * new MmioTransport({ memory, device: net, interrupt });
 * wire.inject(frame); // reaches the guest once it posts receive buffers
 * ```
 */
export class NetDevice extends DeviceBase implements FrameSink {
  /** virtio device id 1. */
  readonly deviceId: number = DeviceId.Net;
  /** receiveq, transmitq. */
  readonly queueMaxSizes: readonly number[];
  /** `struct virtio_net_config` prefix (12 bytes). */
  readonly config: Uint8Array;
  /** The backend. */
  readonly backend: FrameBackend;
  private readonly mrg: boolean;
  // Receive headers, one per size, reused for every frame: all zero but num_buffers (bytes 10..11
  // of the 12-byte one), which every frame sets.
  private readonly hdrScratch = new Uint8Array(Net.HeaderSize);
  /** The transmit buffer lent to a backend that borrows frames ({@link FrameBackend.borrowsFrames}). */
  private txScratch: Uint8Array | undefined;
  /** The last view of `txScratch` lent, reused while frames keep the same length (a subarray allocates). */
  private txView: Uint8Array | undefined;
  private readonly legacyHdrScratch = new Uint8Array(Net.LegacyHeaderSize);
  /** MRG_RXBUF and the header length, as negotiated at the last activation. */
  private rxMrg = false;
  private headerLen: number = Net.LegacyHeaderSize;
  /** Writes the header of a frame received into one buffer, for the header length negotiated. */
  private rxHeader: (view: DataView, offset: number) => void = legacyHeader;

  /**
   * Creates the device and attaches it to the backend as its receive sink.
   * @param backend - the frame backend
   * @param options - MAC, queue size, mergeable buffers, link state
   * @throws {@link VirtioError} `out-of-range` for a MAC that is not 6 bytes
   */
  constructor(backend: FrameBackend, options: NetDeviceOptions = {}) {
    super();
    const mac = options.mac ?? new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    if (!(mac instanceof Uint8Array) || mac.length !== 6) {
      throw new VirtioError("out-of-range", `mac: expected 6 bytes, got ${mac instanceof Uint8Array ? mac.length : typeof mac}`);
    }
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    this.mrg = options.mergeRxBuffers ?? true;
    this.backend = backend;
    this.config = new Uint8Array(Net.ConfigSize);
    this.config.set(mac, 0);
    const v = new DataView(this.config.buffer);
    v.setUint16(6, options.linkUp === false ? 0 : Net.StatusLinkUp, true);
    v.setUint16(8, 1, true); // max_virtqueue_pairs
    backend.attach?.(this);
  }

  /**
   * Offered features.
   * @returns the feature mask
   * @example
   * ```ts
   * net.features(false);
   * ```
   */
  features(): bigint {
    let f = this.ringFeatures() | BIT(NetFeature.Mac) | BIT(NetFeature.Status);
    if (this.mrg) f |= BIT(NetFeature.MrgRxbuf);
    return f;
  }

  /**
   * Whether the link is up (config status bit 0).
   * @example
   * ```ts
   * net.linkUp; // true
   * ```
   */
  get linkUp(): boolean {
    return ((this.config[6] as number) & Net.StatusLinkUp) !== 0;
  }

  /**
   * Changes the link state; raises a configuration-change interrupt when the device is live.
   * @param up - the new state
   * @example
   * ```ts
   * net.setLinkUp(false);
   * ```
   */
  setLinkUp(up: boolean): void {
    this.config[6] = up ? Net.StatusLinkUp : 0;
    this.host?.configChanged();
  }

  /**
   * The `virtio_net_hdr` length in use: 12 with VERSION_1 or MRG_RXBUF, else 10.
   * @example
   * ```ts
   * net.headerSize; // 12 on a version-2 transport
   * ```
   */
  get headerSize(): number {
    return this.negotiated(Feature.Version1) || this.negotiated(NetFeature.MrgRxbuf) ? Net.HeaderSize : Net.LegacyHeaderSize;
  }

  /**
   * Serves a queue notification: receive buffers posted (tell the backend) or frames to send.
   * @param index - 0 receiveq, 1 transmitq
   * @example
   * ```ts
   * net.queueNotify(1);
   * ```
   */
  queueNotify(index: number): void {
    if (index === RX) this.backend.rxReady?.();
    else if (index === TX) {
      const hl = this.headerLen; // the same header length on both queues
      this.drain(TX, (c) => this.transmit(c, hl));
    }
  }

  /**
   * Activates: keeps the host and fixes the header length from the negotiated features.
   * @param host - the transport's services
   * @example
   * ```ts
   * net.activate(host);
   * ```
   */
  override activate(host: DeviceHost): void {
    super.activate(host);
    // The receive header's layout, fixed while the device is live: a host activates the device
    // again after the features change (a transport only after a reset, virtio 1.2 §3.1.1).
    this.rxMrg = this.negotiated(NetFeature.MrgRxbuf);
    this.headerLen = this.headerSize;
    this.rxHeader = this.headerLen === Net.HeaderSize ? oneBufferHeader : legacyHeader;
  }

  /**
   * Delivers one frame (without header) into the guest's receive buffers.
   * @param frame - the Ethernet frame
   * @returns true when consumed (delivered, or dropped for a too-small guest buffer), false when
   * the guest has no room yet: keep the frame and offer it again after `rxReady`
   * @example
   * ```ts
   * if (!net.receive(frame)) backlog.push(frame);
   * ```
   */
  receive(frame: Uint8Array): boolean {
    const host = this.host;
    if (host === undefined) return false;
    try {
      const q = host.queue(RX);
      // The usual buffer (one writable descriptor that holds header and frame, where the queue
      // knows guest memory to be) is filled and completed in one step; any other goes on below.
      if (q.fillNext(frame, this.headerLen, this.rxHeader)) {
        host.signalUsed(RX);
        return true;
      }
      // (A queue that is not ready pops nothing and re-arms nothing: false, the frame waits.)
      const first = q.pop();
      if (first !== undefined) return this.rxChain(host, q, frame, first);
      // Out of receive buffers: ask to be notified of the next one (avail_event = the next index
      // with EVENT_IDX), and try again if one was posted before the request was visible (virtio
      // 1.2 §2.7.10). The receive queue is never drained, so this is where the device re-arms
      // notifications; while buffers last the driver need not notify at all.
      return q.enableNotifications() && this.rxInto(host, q, frame);
    } catch (e) {
      host.hostile("device-error", `net receive: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  private rxInto(host: DeviceHost, q: SplitQueue, frame: Uint8Array): boolean {
    const first = q.pop();
    return first !== undefined && this.rxChain(host, q, frame, first);
  }

  /** Delivers `frame` into `first` (popped) and, with mergeable buffers, as many more as it needs. */
  private rxChain(host: DeviceHost, q: SplitQueue, frame: Uint8Array, first: DescriptorChain): boolean {
    const mem = host.memory;
    const mrg = this.rxMrg;
    const hl = this.headerLen;
    const total = hl + frame.length;
    const hdr = hl === Net.HeaderSize ? this.hdrScratch : this.legacyHdrScratch;
    if (!mrg || first.writableBytes >= total) {
      // One buffer holds the frame: without MRG_RXBUF it must; with it, it usually does (Linux
      // sizes mergeable buffers to the frames it sees), and then no list of buffers is made.
      const c = first;
      if (c.writableBytes < total) {
        host.hostile("malformed-request", `net rx buffer ${c.head}: ${c.writableBytes} bytes cannot hold a ${total}-byte frame`);
        if (q.addUsed(c, 0)) host.signalUsed(RX); // (as below)
        return true;
      }
      const w = c.readableCount;
      const a = c.addresses[w] as number;
      // (The chain's region, when the queue knows it, holds the whole buffer, so the frame too.)
      const r = c.count === w + 1 ? (c.region ?? mem.regionAt(a, total)) : undefined;
      if (r !== undefined) {
        const o = a - r.start;
        this.rxHeader(r.view, o);
        r.bytes.set(frame, o + hl);
      } else {
        if (hl === Net.HeaderSize) {
          hdr[10] = 1; // num_buffers = 1
          hdr[11] = 0;
        }
        c.write(mem, 0, hdr);
        c.write(mem, hl, frame);
      }
      // Signalled at once, also when a backend answers from inside a transmit drain (complete()
      // would leave it to the drain, which signals the transmit queue only).
      if (q.addUsed(c, total)) host.signalUsed(RX);
      return true;
    }
    const chains: DescriptorChain[] = [first];
    let room = first.writableBytes;
    while (room < total) {
      const c = q.pop();
      if (c === undefined) {
        q.unpop(chains);
        return false;
      }
      chains.push(c);
      room += c.writableBytes;
    }
    hdr[10] = chains.length & 0xff;
    hdr[11] = chains.length >> 8;
    let off = 0; // offset in header+frame
    for (const c of chains) {
      let w = 0;
      // (The whole header or frame is passed as it is rather than as a subarray from 0: a subarray
      // allocates, and of a small frame that V8 keeps on its heap it moves the bytes out first.)
      if (off < hl) {
        w += c.write(mem, 0, off === 0 ? hdr : hdr.subarray(off));
        off += w;
      }
      if (off >= hl) {
        const k = c.write(mem, w, off === hl ? frame : frame.subarray(off - hl));
        w += k;
        off += k;
      }
      q.addUsed(c, w, false);
    }
    q.publishUsed();
    host.signalUsed(RX);
    return true;
  }

  /** The frame copied into the one transmit buffer lent to a borrowing backend. */
  private scratchFrame(c: DescriptorChain, mem: GuestMemory, hl: number, len: number): Uint8Array {
    let v = this.txView;
    if (v === undefined || v.length !== len) {
      // A view per length, reused while frames keep it (a subarray allocates).
      const scratch = (this.txScratch ??= new Uint8Array(Net.MaxFrameSize));
      v = this.txView = scratch.subarray(0, len);
    }
    c.read(mem, hl, v);
    return v;
  }

  private transmit(c: DescriptorChain, hl: number): void {
    const host = this.host as DeviceHost;
    if (c.readableBytes < hl) {
      host.hostile("malformed-request", `net tx ${c.head}: ${c.readableBytes} bytes, expected at least the ${hl}-byte header`);
      this.complete(TX, c, 0);
      return;
    }
    const len = c.readableBytes - hl;
    if (len > Net.MaxFrameSize) {
      host.hostile("request-too-large", `net tx ${c.head}: frame of ${len} bytes, expected at most ${Net.MaxFrameSize}`);
      this.complete(TX, c, 0);
      return;
    }
    const mem = host.memory;
    let frame: Uint8Array;
    if (this.backend.borrowsFrames === true) {
      // A borrowing backend is done with the frame when transmit returns. It gets the guest's own
      // bytes when the frame lies in one buffer (no copy: QEMU likewise hands its net backends
      // the guest's buffers, hw/net/virtio-net.c virtio_net_flush_tx), else one reused buffer.
      frame = c.readableView(mem, hl, len) ?? this.scratchFrame(c, mem, hl, len);
    } else {
      frame = new Uint8Array(len);
      c.read(mem, hl, frame);
    }
    let r: unknown;
    try {
      r = this.backend.transmit(frame);
    } catch {
      r = undefined; // the backend's failure loses the frame, not the queue
    }
    if (isThenable(r)) {
      r.then(
        () => this.complete(TX, c, 0),
        () => this.complete(TX, c, 0),
      );
    } else this.complete(TX, c, 0);
  }
}
