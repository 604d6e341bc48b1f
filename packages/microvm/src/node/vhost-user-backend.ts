/**
 * A vhost-user back-end that serves one of our virtio device models (blk, rng, …) to another VMM
 * (QEMU's `vhost-user-blk`, `vhost-user-rng`): the front-end connects to our unix socket, sends
 * its guest memory as fds (SET_MEM_TABLE), the rings' addresses and an eventfd per ring to kick
 * us and one for us to interrupt it; our device model runs on the rings in guest memory we map,
 * exactly as it runs behind our own virtio-mmio transport. Messages are decoded and checked by
 * `@microvm/vhost-user`; anything it refuses ends the connection (and is counted), never the
 * process. Protocol: QEMU docs/interop/vhost-user.rst (the "front-end" drives; the "back-end" is
 * this). Everything runs on the Node event loop: the socket, the kick eventfds and the device's
 * completions.
 */
import { closeSync, readSync, writeSync } from "node:fs";
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_PAYLOAD,
  VHOST_USER_PROTOCOL_F,
  decodeVhostUserMessage,
  encodeVhostUserAck,
  encodeVhostUserConfigReply,
  encodeVhostUserU64Reply,
  encodeVhostUserVringBaseReply,
  isVhostUserError,
  negotiateVhostUserFeatures,
  vhostUserReplyKind,
  type VhostUserMemoryRegion,
  type VhostUserMessage,
} from "@microvm/vhost-user";
import { Feature, FeatureBits, GuestMemory, SplitQueue, type DeviceHost, type HostileCheck, type VirtioDevice } from "@microvm/virtio-mmio";
import { MicrovmError } from "../errors.js";
import { libc, loadKoffi } from "./libc.js";
import { FdSocket, UnixListener } from "./unix-socket.js";

type PollHandle = ReturnType<ReturnType<typeof loadKoffi>["node"]["poll"]>;

/** PROT_READ|PROT_WRITE, MAP_SHARED (asm-generic/mman-common.h, mman.h). */
const PROT_RW = 3;
const MAP_SHARED = 1;

/**
 * Options of {@link VhostUserBackend.listen}.
 *
 * @example
 * ```ts
 * const o: VhostUserBackendOptions = { socket: "/tmp/blk.sock", device: () => new BlkDevice(new FileBlockBackend("disk.img")) };
 * ```
 */
export interface VhostUserBackendOptions {
  /** The unix socket's path (created; removed by {@link VhostUserBackend.close}). */
  readonly socket: string;
  /** Makes the device model; called once per front-end connection. */
  readonly device: () => VirtioDevice;
  /** Where one line per connection event goes; default nowhere. */
  readonly log?: (line: string) => void;
  /**
   * Busy polling: after a kick, keep serving the rings and looking for new buffers until this
   * many microseconds pass without one, with the driver asked not to kick meanwhile (EVENT_IDX's
   * avail_event, else used.flags NO_NOTIFY). At most 2 ms per turn of the event loop, however busy
   * the rings; never while idle. Default 0: off (on a host without a spare core it slows the
   * guest down; docs/vhost-user.md, "Speed").
   */
  readonly pollMicros?: number;
}

/** The longest the back-end polls in one turn of the event loop, in ms, however busy the rings. */
const POLL_TURN_MS = 2;

/**
 * Counters of a back-end.
 *
 * @example
 * ```ts
 * const s: VhostUserBackendStats = backend.stats();
 * ```
 */
export interface VhostUserBackendStats {
  /** Front-end connections accepted. */
  readonly connections: number;
  /** Messages handled. */
  readonly messages: number;
  /** Connections ended because of a message we refused, by error code. */
  readonly refused: Readonly<Record<string, number>>;
  /** Hostile-driver checks the device models and rings raised, by check. */
  readonly hostile: Readonly<Record<string, number>>;
  /** Kicks served. */
  readonly kicks: number;
  /** Interrupts sent (call eventfd writes). */
  readonly calls: number;
  /** Times polling ({@link VhostUserBackendOptions.pollMicros}) found a ring with new buffers, posted without a kick. */
  readonly polled: number;
}

interface Ring {
  size: number;
  addr: { desc: bigint; avail: bigint; used: bigint } | undefined;
  base: number;
  kick: number | undefined;
  call: number | undefined;
  enabled: boolean;
  started: boolean;
  queue: SplitQueue | undefined;
  poll: PollHandle | undefined;
  /** The available ring's flags and idx (4 bytes), while started. */
  availHead: DataView | undefined;
  /** The used ring's avail_event (2 bytes; meaningful with EVENT_IDX), while started. */
  availEvent: DataView | undefined;
  /** avail.idx as it was just before the device last looked at the ring. */
  seen: number;
  /** VIRTIO_RING_F_EVENT_IDX was negotiated when the ring started. */
  eventIdx: boolean;
}

interface Mapping {
  readonly region: VhostUserMemoryRegion;
  readonly address: bigint;
  readonly length: number;
}

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
/**
 * A locked read-modify-write (x86: `lock xadd`) orders every earlier store before every later
 * load: between "kick me again" (avail_event / used.flags) and the re-read of avail.idx, which must
 * not be served from before the store (virtio 1.2 §2.7.10, the driver's side has the same fence).
 */
const FENCE = new Int32Array(new SharedArrayBuffer(4));
const fence = (): number => Atomics.add(FENCE, 0, 0);
/** The largest split virtqueue (virtio 1.2 §2.7: Queue Size up to 32768). */
const MAX_QUEUE_SIZE = 32768;

/**
 * A vhost-user back-end on a unix socket: one front-end at a time; when it goes, the device is
 * reset and the socket takes the next (a restarted QEMU reconnects).
 *
 * @example
 * ```ts
 * const b = VhostUserBackend.listen({ socket: "/tmp/rng.sock", device: () => new RngDevice() });
 * // qemu-system-x86_64 … -chardev socket,id=c,path=/tmp/rng.sock -device vhost-user-rng,chardev=c
 * await b.close();
 * ```
 */
export class VhostUserBackend {
  private readonly listener: UnixListener;
  private readonly koffi = loadKoffi();
  private readonly listenPoll: PollHandle;
  private session: Session | undefined;
  private closed = false;
  private readonly counts = { connections: 0, messages: 0, kicks: 0, calls: 0, polled: 0 };
  private readonly refused: Record<string, number> = {};
  private readonly hostile: Record<string, number> = {};

  private constructor(private readonly options: VhostUserBackendOptions) {
    this.listener = UnixListener.listen(options.socket);
    this.listenPoll = this.koffi.node.poll(this.listener.fd, { readable: true }, () => this.accept());
  }

  /**
   * Listens on `options.socket` for a front-end.
   *
   * @param options - socket path and device factory
   * @returns the back-end
   * @throws MicrovmError `backend` when the socket cannot be created (e.g. the path exists)
   */
  static listen(options: VhostUserBackendOptions): VhostUserBackend {
    return new VhostUserBackend(options);
  }

  /**
   * The counters so far.
   *
   * @returns connections, messages, refusals, hostile checks, kicks, calls, buffers found by polling
   */
  stats(): VhostUserBackendStats {
    return { ...this.counts, refused: { ...this.refused }, hostile: { ...this.hostile } };
  }

  /** Whether a front-end is connected. */
  get connected(): boolean {
    return this.session !== undefined;
  }

  /**
   * Stops: the connection (if any) is dropped, the device reset, memory unmapped, every fd
   * closed and the socket's path removed.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session?.end("the back-end closed");
    this.listenPoll.close();
    this.listener.close();
  }

  private accept(): void {
    for (;;) {
      const fd = this.listener.accept();
      if (fd === undefined) return;
      if (this.session) {
        // One front-end at a time (the device has one set of rings).
        this.options.log?.(`vhost-user ${this.options.socket}: a second front-end was turned away`);
        closeSync(fd);
        continue;
      }
      this.counts.connections++;
      this.options.log?.(`vhost-user ${this.options.socket}: front-end connected`);
      const pollMicros = this.options.pollMicros ?? 0;
      this.session = new Session(new FdSocket(fd), this.options.device(), this.koffi, Number.isFinite(pollMicros) && pollMicros > 0 ? pollMicros / 1000 : 0, {
        message: () => this.counts.messages++,
        kick: () => this.counts.kicks++,
        call: () => this.counts.calls++,
        polled: () => this.counts.polled++,
        hostile: (check) => (this.hostile[check] = (this.hostile[check] ?? 0) + 1),
        refused: (code) => (this.refused[code] = (this.refused[code] ?? 0) + 1),
        ended: (why) => {
          this.session = undefined;
          this.options.log?.(`vhost-user ${this.options.socket}: front-end gone (${why})`);
        },
      });
    }
  }
}

interface SessionEvents {
  message(): void;
  kick(): void;
  call(): void;
  polled(): void;
  hostile(check: HostileCheck): void;
  refused(code: string): void;
  ended(why: string): void;
}

/** One front-end connection: its memory, its rings, the device model on them. */
class Session implements DeviceHost {
  memory: GuestMemory = new GuestMemory([]);
  /** The virtio features the front-end set (SET_FEATURES, without the protocol-features bit). */
  private readonly accepted = new FeatureBits();
  readonly legacy = false;
  private protocolFeatures = 0n;
  /** VHOST_USER_F_PROTOCOL_FEATURES was acked in SET_FEATURES: rings then start disabled. */
  private protocolNegotiated = false;
  private readonly offered: bigint;
  private readonly offeredProtocol: bigint;
  private readonly rings: Ring[];
  private mappings: Mapping[] = [];
  private active = false;
  private over = false;
  private readonly poll: PollHandle;
  /** Inside {@link Session.pollRings} (it does not nest). */
  private polling = false;
  /** A continuation of polling is queued with setImmediate. */
  private pollQueued = false;

  constructor(
    private readonly sock: FdSocket,
    private readonly device: VirtioDevice,
    private readonly koffi: ReturnType<typeof loadKoffi>,
    /** How long polling waits for new buffers, in ms; 0: no polling. */
    private readonly pollMs: number,
    private readonly events: SessionEvents,
  ) {
    // What the device offers on a modern transport, plus the vhost-user protocol extension.
    this.offered = device.features(false) | (1n << BigInt(Feature.Version1)) | (1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES));
    // MQ (GET_QUEUE_NUM) and REPLY_ACK always; CONFIG (GET_CONFIG) for a device with a config space.
    this.offeredProtocol = PROTOCOL_MQ_REPLY_ACK | (device.config.length > 0 ? 1n << BigInt(VHOST_USER_PROTOCOL_F.CONFIG) : 0n);
    this.rings = device.queueMaxSizes.map(() => ({ size: 0, addr: undefined, base: 0, kick: undefined, call: undefined, enabled: false, started: false, queue: undefined, poll: undefined, availHead: undefined, availEvent: undefined, seen: 0, eventIdx: false }));
    this.poll = koffi.node.poll(sock.fd, { readable: true }, () => this.readable());
  }

  // ---- DeviceHost ----

  get features(): bigint {
    return this.accepted.value;
  }

  negotiated(bit: number): boolean {
    return this.accepted.has(bit);
  }

  queue(index: number): SplitQueue {
    const q = this.rings[index]?.queue;
    if (!q) throw new MicrovmError("state", `vhost-user: queue ${index} is not running`);
    return q;
  }

  signalUsed(index: number): void {
    const r = this.rings[index];
    if (!r?.queue || r.call === undefined || !r.queue.needsNotification()) return;
    // While polling, the driver's next buffer needs no kick: say so before the interrupt wakes it
    // (the device's drain has just asked for kicks again).
    if (this.polling) this.suppressKicks(r, true);
    try {
      writeSync(r.call, ONE);
      this.events.call();
    } catch {
      // the front-end closed its eventfd: it is going away
    }
  }

  configChanged(): void {
    // Config-change notices travel on the back-end request channel (BACKEND_REQ), which we do
    // not offer: the front-end reads the config when it needs it (GET_CONFIG).
  }

  hostile(check: HostileCheck): void {
    this.events.hostile(check);
  }

  // ---- the connection ----

  private readable(): void {
    if (this.over) return;
    try {
      for (;;) {
        const head = this.sock.receive(VHOST_USER_HEADER_SIZE);
        if (head === "again") return;
        if (head === "eof") return this.end("the front-end closed the connection");
        let bytes = head.bytes;
        if (bytes.length < VHOST_USER_HEADER_SIZE) {
          const rest = this.sock.readExactly(VHOST_USER_HEADER_SIZE - bytes.length);
          if (!rest) return this.end("the front-end closed the connection mid-message", head.fds);
          bytes = concat(bytes, rest);
        }
        const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
        // The codec bounds the size; read at most what it accepts, so a hostile size never allocates.
        const body = size === 0 ? new Uint8Array(0) : size <= VHOST_USER_MAX_PAYLOAD ? this.sock.readExactly(size) : undefined;
        let msg: VhostUserMessage;
        try {
          msg = decodeVhostUserMessage(body ? concat(bytes, body) : bytes, head.fds.length);
        } catch (e) {
          if (isVhostUserError(e)) {
            this.events.refused(e.code);
            return this.end(`refused: ${e.message}`, head.fds);
          }
          throw e;
        }
        if (!body && size > 0) return this.end("the front-end closed the connection mid-message", head.fds);
        this.events.message();
        const fds = [...head.fds];
        try {
          this.handle(msg, fds);
        } catch (e) {
          for (const f of fds) closeFd(f);
          if (!isVhostUserError(e)) throw e;
          // e.g. SET_FEATURES with a bit we did not offer
          this.events.refused(e.code);
          return this.end(`refused: ${e.message}`);
        }
        if (this.over) return;
      }
    } catch (e) {
      this.end(e instanceof Error ? e.message : String(e));
    }
  }

  /** Ends the connection: rings stopped, device reset, memory unmapped, fds closed. */
  end(why: string, stray: readonly number[] = []): void {
    if (this.over) return;
    this.over = true;
    for (const f of stray) closeFd(f);
    this.poll.close();
    this.resetDevice();
    for (const r of this.rings) {
      closeFd(r.kick);
      closeFd(r.call);
      r.kick = r.call = undefined;
    }
    this.unmap();
    this.sock.close();
    this.events.ended(why);
  }

  private reply(bytes: Uint8Array): void {
    this.sock.send(bytes);
  }

  /** One message; `fds` are ours to keep or close. */
  private handle(m: VhostUserMessage, fds: number[]): void {
    let ok = true;
    const p = m.payload;
    switch (m.request) {
      case "GET_FEATURES":
        this.reply(encodeVhostUserU64Reply("GET_FEATURES", this.offered));
        return;
      case "SET_FEATURES":
        if (p.type === "u64") {
          const acked = negotiateVhostUserFeatures(this.offered, p.value);
          if (((acked >> BigInt(Feature.Version1)) & 1n) === 0n) {
            // A legacy (virtio 0.9) driver: its rings and config follow other rules; this back-end
            // serves modern devices only, like libvhost-user's (QEMU microvm: legacy transports
            // unless -global virtio-mmio.force-legacy=false).
            this.events.refused("legacy-driver");
            this.end("refused: the front-end did not accept VIRTIO_F_VERSION_1 (a legacy virtio driver); this back-end serves virtio 1.0+ devices only (QEMU's microvm: add -global virtio-mmio.force-legacy=false)", fds.splice(0));
            return;
          }
          this.protocolNegotiated = ((acked >> BigInt(VHOST_USER_F_PROTOCOL_FEATURES)) & 1n) === 1n;
          const features = acked & ~(1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES));
          const changed = features !== this.accepted.value;
          this.accepted.value = features;
          // A device model may fix what the features decide when it is activated (DeviceHost):
          // new features while it is live reach it as a new activation.
          if (changed && this.active) this.device.activate(this);
        }
        break;
      case "GET_PROTOCOL_FEATURES":
        this.reply(encodeVhostUserU64Reply("GET_PROTOCOL_FEATURES", this.offeredProtocol));
        return;
      case "SET_PROTOCOL_FEATURES":
        if (p.type === "u64") this.protocolFeatures = negotiateVhostUserFeatures(this.offeredProtocol, p.value, "protocol-features");
        break;
      case "SET_OWNER":
        break;
      case "RESET_OWNER":
      case "RESET_DEVICE":
        this.resetDevice();
        break;
      case "GET_QUEUE_NUM":
        this.reply(encodeVhostUserU64Reply("GET_QUEUE_NUM", this.rings.length));
        return;
      case "SET_MEM_TABLE":
        if (p.type === "memory-table") this.mapTable(p.regions, fds.splice(0));
        break;
      case "SET_VRING_NUM":
      case "SET_VRING_BASE": {
        const r = p.type === "vring-state" ? this.ring(p.index) : undefined;
        if (r && p.type === "vring-state") {
          if (m.request === "SET_VRING_NUM") r.size = p.num;
          else r.base = p.num;
        } else ok = false;
        break;
      }
      case "SET_VRING_ADDR": {
        const r = p.type === "vring-addr" ? this.ring(p.index) : undefined;
        if (r && p.type === "vring-addr") r.addr = { desc: BigInt(p.descUser), avail: BigInt(p.availUser), used: BigInt(p.usedUser) };
        else ok = false;
        break;
      }
      case "SET_VRING_KICK":
      case "SET_VRING_CALL":
      case "SET_VRING_ERR": {
        const r = p.type === "vring-fd" ? this.ring(p.index) : undefined;
        const fd = p.type === "vring-fd" && !p.noFd ? fds.shift() : undefined;
        if (!r) {
          closeFd(fd);
          ok = false;
          break;
        }
        if (m.request === "SET_VRING_KICK") {
          closeFd(r.kick);
          r.kick = fd;
          // Without the protocol-features extension a ring starts at its kick; with it, rings
          // start disabled and SET_VRING_ENABLE enables them (vhost-user.rst, "Ring states").
          if (!this.protocolNegotiated) r.enabled = true;
          this.maybeStart(p.type === "vring-fd" ? p.index : 0);
        } else if (m.request === "SET_VRING_CALL") {
          closeFd(r.call);
          r.call = fd;
        } else closeFd(fd); // errors are not reported on an err fd: we end the connection instead
        break;
      }
      case "SET_VRING_ENABLE": {
        const r = p.type === "vring-state" ? this.ring(p.index) : undefined;
        if (r && p.type === "vring-state") {
          r.enabled = p.num === 1;
          if (r.enabled) this.maybeStart(p.index);
          else this.stopRing(r);
        } else ok = false;
        break;
      }
      case "GET_VRING_BASE": {
        // Stops the ring and says where it stopped (vhost-user.rst: the back-end must stop the ring).
        const index = p.type === "vring-state" ? p.index : -1;
        const r = this.ring(index);
        if (!r) {
          ok = false;
          break;
        }
        const base = r.queue ? r.queue.nextAvail : r.base;
        this.stopRing(r);
        r.base = base;
        closeFd(r.kick);
        r.kick = undefined;
        if (this.rings.every((x) => !x.started)) this.resetDevice();
        this.reply(encodeVhostUserVringBaseReply(index, base));
        return;
      }
      case "GET_CONFIG": {
        if (p.type !== "config") {
          ok = false;
          break;
        }
        const cfg = this.device.config;
        const end = p.offset + p.data.length;
        // Out-of-range reads answer an empty payload, which QEMU takes as a failure (vhost-user.rst GET_CONFIG).
        this.reply(encodeVhostUserConfigReply(p.offset, end <= cfg.length ? cfg.slice(p.offset, end) : new Uint8Array(0), p.flags));
        return;
      }
      case "SET_CONFIG":
        if (p.type === "config" && this.device.writeConfig) {
          for (let i = 0; i < p.data.length; i++) this.device.writeConfig(p.offset + i, 1, p.data[i] ?? 0);
        }
        break;
      default:
        // Decoded but not offered (log, postcopy, inflight, …): refuse it.
        for (const f of fds.splice(0)) closeFd(f);
        this.events.refused("not-offered");
        this.end(`refused: ${m.request} is not something this back-end offers`);
        return;
    }
    for (const f of fds.splice(0)) closeFd(f);
    if (vhostUserReplyKind(m, this.protocolFeatures) === "ack") this.reply(encodeVhostUserAck(m.request, ok));
    else if (!ok) {
      this.events.refused("bad-index");
      this.end(`refused: ${m.request} names a ring this device does not have (it has ${this.rings.length})`);
    }
  }

  private ring(index: number): Ring | undefined {
    return Number.isInteger(index) && index >= 0 ? this.rings[index] : undefined;
  }

  /** Maps the front-end's memory (each region's fd at its offset), replacing any earlier table. */
  private mapTable(regions: readonly VhostUserMemoryRegion[], fds: number[]): void {
    const running = this.rings.map((r, i) => (r.started ? i : -1)).filter((i) => i >= 0);
    for (const i of running) this.stopRing(this.rings[i] as Ring, true);
    this.unmap();
    const c = libc();
    try {
      regions.forEach((r, i) => {
        const fd = fds[i] as number;
        const length = Number(r.size + r.mmapOffset);
        if (r.size > 0xffff_ffffn || !Number.isSafeInteger(length)) throw new MicrovmError("backend", `SET_MEM_TABLE: region ${i} is ${r.size} bytes; this back-end maps regions of at most 4 GiB`);
        const address = c.mmap(length, PROT_RW, MAP_SHARED, fd, 0);
        if (address < 0n) throw new MicrovmError("backend", `SET_MEM_TABLE: mmap of region ${i} (${length} bytes) failed: errno ${-address}`);
        this.mappings.push({ region: r, address, length });
      });
    } finally {
      for (const f of fds) closeFd(f);
    }
    this.memory = new GuestMemory(
      this.mappings.map((m) => ({ guestAddress: m.region.guestAddress, bytes: new Uint8Array(c.view(m.address + m.region.mmapOffset, Number(m.region.size))) })),
    );
    for (const i of running) this.maybeStart(i);
  }

  private unmap(): void {
    const c = libc();
    for (const m of this.mappings) c.munmap(m.address, m.length);
    this.mappings = [];
    this.memory = new GuestMemory([]);
  }

  /** The guest-physical address of a front-end (QEMU process) address, through the memory table. */
  private toGuest(user: bigint): number | undefined {
    for (const m of this.mappings) {
      const r = m.region;
      if (user >= r.userAddress && user < r.userAddress + r.size) return Number(r.guestAddress + (user - r.userAddress));
    }
    return undefined;
  }

  /** Starts ring `index` when it has everything: size, addresses, memory, a kick fd, and is enabled. */
  private maybeStart(index: number): void {
    const r = this.rings[index];
    if (!r || r.started || !r.enabled || r.kick === undefined || !r.addr || this.mappings.length === 0) return;
    const desc = this.toGuest(r.addr.desc);
    const avail = this.toGuest(r.addr.avail);
    const used = this.toGuest(r.addr.used);
    // The front-end chooses the size (QEMU's queue-size property): any the virtio spec allows.
    const q = new SplitQueue({ memory: this.memory, maxSize: MAX_QUEUE_SIZE, onViolation: (check) => this.hostile(check) });
    const features = { eventIdx: this.accepted.has(Feature.EventIdx), indirect: this.accepted.has(Feature.IndirectDesc) };
    if (desc === undefined || avail === undefined || used === undefined || !q.activate({ size: r.size, desc, avail, used }, features) || !q.resume(r.base)) {
      this.hostile("ring-outside-memory");
      this.end(`refused: ring ${index}'s addresses or size do not fit the memory table`);
      return;
    }
    // Views of avail.flags/idx and of avail_event, for polling (inside the checked ring parts).
    const head = this.memory.tryView(avail, 4);
    const event = this.memory.tryView(used + 4 + 8 * r.size, 2);
    r.availHead = head && new DataView(head.buffer, head.byteOffset, 4);
    r.availEvent = event && new DataView(event.buffer, event.byteOffset, 2);
    r.eventIdx = features.eventIdx;
    r.queue = q;
    r.started = true;
    if (!this.active) {
      this.active = true;
      this.device.activate(this);
    }
    const kick = r.kick;
    const scratch = new Uint8Array(8);
    r.poll = this.koffi.node.poll(kick, { readable: true }, () => {
      try {
        readSync(kick, scratch, 0, 8, null);
      } catch {
        // EAGAIN: another reader took it; the queue is looked at anyway
      }
      this.events.kick();
      if (!r.started || !this.active) return;
      // A kick with nothing new (one sent while we were polling) starts no polling.
      const fresh = r.availHead !== undefined && r.availHead.getUint16(2, true) !== r.seen;
      if (fresh && this.pollMs > 0) this.pollRings();
      else this.serve(r, index);
    });
    // Buffers the driver made available before the ring started are served now.
    this.serve(r, index);
  }

  /**
   * Lets the device take what ring `index` has, then, after a fence, looks again: the device
   * re-enables notifications and re-reads avail.idx, but without a fence the re-read may be served
   * before the store is visible to the driver, and a buffer added then would get neither a kick
   * nor a look.
   */
  private serve(r: Ring, index: number): void {
    for (let i = 0; i < 64; i++) {
      const q = r.queue;
      if (!q || !r.started || !this.active) return;
      r.seen = r.availHead ? r.availHead.getUint16(2, true) : 0;
      const before = q.nextAvail;
      this.device.queueNotify(index);
      if (!r.started || r.queue !== q) return;
      // The device may have taken buffers added after that read: those were looked at too.
      const past = (q.nextAvail - r.seen) & 0xffff;
      if (past !== 0 && past <= r.size) r.seen = q.nextAvail;
      fence();
      // Again only if the device took buffers and more came (a device may leave buffers in the
      // ring, e.g. receive buffers with nothing to receive yet: those are not new work).
      if (q.nextAvail === before || !q.hasAvailable()) return;
    }
  }

  /**
   * Serves the started rings and busy-polls them while the driver keeps adding buffers: asks it
   * not to kick (EVENT_IDX: avail_event left behind; else used.flags NO_NOTIFY; again before each
   * interrupt, see signalUsed), serves every ring whose avail.idx moved, and stops after
   * {@link Session.pollMs} without new buffers: notifications back on, a fence, one last look.
   * Bounded: at most POLL_TURN_MS per event-loop turn; if the rings are still busy then, it goes on
   * after the loop's other work (setImmediate).
   */
  private pollRings(): void {
    if (this.pollMs <= 0 || this.polling || this.over || !this.active) return;
    this.polling = true;
    try {
      const start = performance.now();
      const turnEnd = start + POLL_TURN_MS;
      let quietEnd = start + this.pollMs;
      this.suppressAll(true);
      for (;;) {
        let found = false;
        for (let i = 0; i < this.rings.length; i++) {
          const r = this.rings[i] as Ring;
          if (!r.started || !r.availHead || r.availHead.getUint16(2, true) === r.seen) continue;
          this.events.polled();
          this.serve(r, i);
          found = true;
        }
        if (this.over || !this.active) return;
        const now = performance.now();
        if (found) {
          this.suppressAll(true); // the device's drain asked for kicks again
          quietEnd = now + this.pollMs;
        }
        if (now < quietEnd && now < turnEnd) continue;
        // Quiet (or the turn is over): kicks back on, then a last look after the fence.
        this.suppressAll(false);
        fence();
        const pending = this.rings.some((r) => r.started && r.availHead !== undefined && r.availHead.getUint16(2, true) !== r.seen);
        if (!pending) return;
        if (now >= turnEnd) {
          // Busy for a whole turn: the event loop gets its turn (sockets, timers), then we go on.
          // Buffers added before kicks were back on may have no kick: the continuation serves them.
          if (!this.pollQueued) {
            this.pollQueued = true;
            setImmediate(() => {
              this.pollQueued = false;
              if (this.over || !this.active) return;
              this.rings.forEach((r, i) => {
                if (r.started) this.serve(r, i);
              });
              this.pollRings();
            });
          }
          return;
        }
        this.suppressAll(true);
        quietEnd = now + this.pollMs;
      }
    } finally {
      this.polling = false;
    }
  }

  /** {@link Session.suppressKicks} on every started ring. */
  private suppressAll(off: boolean): void {
    for (const r of this.rings) this.suppressKicks(r, off);
  }

  /** Asks the driver not to kick (true) or to kick for its next buffer (false). */
  private suppressKicks(r: Ring, off: boolean): void {
    const q = r.queue;
    if (!r.started || !q) return;
    if (r.eventIdx) {
      // The driver kicks when avail_event is among the indices it just added (vring_need_event):
      // one behind the next index to serve is never among them.
      r.availEvent?.setUint16(0, (q.nextAvail + (off ? 0xffff : 0)) & 0xffff, true);
    } else if (off) q.disableNotifications();
    else q.enableNotifications();
  }

  private stopRing(r: Ring, keepBase = false): void {
    r.poll?.close();
    r.poll = undefined;
    if (r.started && r.queue && keepBase) r.base = r.queue.nextAvail;
    r.queue?.deactivate();
    r.queue = undefined;
    r.started = false;
    r.availHead = r.availEvent = undefined;
  }

  private resetDevice(): void {
    for (const r of this.rings) this.stopRing(r);
    if (this.active) {
      this.active = false;
      this.device.reset();
    }
  }
}

/** The protocol features every device gets: MQ (GET_QUEUE_NUM) and REPLY_ACK. */
const PROTOCOL_MQ_REPLY_ACK = (1n << BigInt(VHOST_USER_PROTOCOL_F.MQ)) | (1n << BigInt(VHOST_USER_PROTOCOL_F.REPLY_ACK));

function closeFd(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
