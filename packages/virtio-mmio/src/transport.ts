/**
 * The virtio-mmio transport: the register file of one device, version 2 (modern) or 1 (legacy).
 * @module
 */
import { Feature as FeatureExport, MMIO_MAGIC, MmioInt as MmioIntExport, MmioReg as MmioRegExport, Status as StatusExport } from "./constants.js";
import { VirtioError } from "./errors.js";
import { FeatureBits } from "./feature-bits.js";
import type { GuestMemory } from "./guest-memory.js";
import { HOSTILE_CHECKS, type HostileCheck, type HostileReporter } from "./hostile.js";
import { SplitQueue } from "./split-queue.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const Feature: typeof FeatureExport = { ...FeatureExport };
const MmioInt: typeof MmioIntExport = { ...MmioIntExport };
const MmioReg: typeof MmioRegExport = { ...MmioRegExport };
const Status: typeof StatusExport = { ...StatusExport };

/**
 * What a device model sees of its transport: guest memory, the negotiated features, its queues,
 * and the ways to signal the driver. Given to {@link VirtioDevice.activate}.
 *
 * @example
 * ```ts
 * activate(host: DeviceHost): void {
 *   this.host = host;
 *   const q = host.queue(0);
 * }
 * ```
 */
export interface DeviceHost {
  /** Guest memory. */
  readonly memory: GuestMemory;
  /** The features the driver accepted (device-specific and transport bits). */
  readonly features: bigint;
  /** Whether the transport is version 1 (legacy). */
  readonly legacy: boolean;
  /**
   * Whether the driver accepted feature `bit` (a bit of {@link DeviceHost.features}). Device
   * models ask on their request paths, so a host answers without bigint arithmetic, e.g. from a
   * {@link FeatureBits}.
   * @param bit - feature bit number
   */
  negotiated(bit: number): boolean;
  /**
   * The queue with this index.
   * @param index - queue index
   */
  queue(index: number): SplitQueue;
  /**
   * Raises a used-buffer interrupt if the queue's suppression state asks for one.
   * @param index - queue index
   */
  signalUsed(index: number): void;
  /** Bumps ConfigGeneration and raises a configuration-change interrupt. */
  configChanged(): void;
  /**
   * Counts a hostile-driver check; checks marked `needs-reset` in {@link HOSTILE_CHECKS} also set
   * DEVICE_NEEDS_RESET.
   * @param check - which check
   * @param detail - a message naming the field and the limit
   */
  hostile(check: HostileCheck, detail: string): void;
}

/**
 * A virtio device model behind a {@link MmioTransport}: blk, net, console and rng in this package
 * implement it, and so can a caller's own device.
 *
 * @example
 * ```ts
 * const transport = new MmioTransport({ memory, device: new RngDevice(), interrupt: () => irqfd.write() });
 * ```
 */
export interface VirtioDevice {
  /** virtio device id (`DeviceId`). */
  readonly deviceId: number;
  /** QueueNumMax of each queue; the array's length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Device-specific configuration space, little-endian, read by the driver at 0x100+. */
  readonly config: Uint8Array;
  /**
   * Device-specific feature bits offered (the transport adds VERSION_1 on version 2, and the ring
   * features EVENT_IDX / INDIRECT_DESC unless the device opts out).
   * @param legacy - whether the transport is version 1
   */
  features(legacy: boolean): bigint;
  /**
   * A driver write to configuration space (already bounds-checked against `config`).
   * @param offset - byte offset in config space
   * @param width - 1, 2 or 4
   * @param value - the value written
   */
  writeConfig?(offset: number, width: number, value: number): void;
  /**
   * The driver set DRIVER_OK: start serving the queues. The features are final from here until
   * {@link VirtioDevice.reset} (the driver cannot change them after FEATURES_OK, virtio 1.2
   * §3.1.1), so a device may fix what they decide (header layouts) here; a host whose features
   * can change while the device is live (a vhost-user front-end's SET_FEATURES) calls `activate`
   * again.
   * @param host - the transport's services
   */
  activate(host: DeviceHost): void;
  /** The driver reset the device (Status = 0): forget all requests in flight. */
  reset(): void;
  /**
   * The driver notified a queue (QueueNotify or an ioeventfd); only called while active.
   * @param index - queue index
   */
  queueNotify(index: number): void;
}

/**
 * Options of {@link MmioTransport}.
 *
 * @example
 * ```ts
 * const opts: MmioTransportOptions = { memory, device, version: 2, interrupt: (isr) => irqfd.signal() };
 * ```
 */
export interface MmioTransportOptions {
  /** Guest memory the queues live in. */
  readonly memory: GuestMemory;
  /** The device model. */
  readonly device: VirtioDevice;
  /** 2 (modern, default) or 1 (legacy: GuestPageSize, QueuePFN, QueueAlign). */
  readonly version?: 1 | 2;
  /** VendorID register, default 0 (as Firecracker; QEMU uses 0x554d4551). */
  readonly vendorId?: number;
  /**
   * Called each time the device raises an interrupt, after the InterruptStatus bit is set
   * (virtio 1.2 §4.2.3.4): an edge board writes its irqfd, a level board asserts the line.
   * The argument is the InterruptStatus value.
   */
  readonly interrupt: (status: number) => void;
  /**
   * Where InterruptStatus lives: element 0 of this array, updated with Atomics. Pass an Int32Array
   * over a SharedArrayBuffer to let vCPU threads serve InterruptStatus reads and InterruptACK
   * writes themselves (`Atomics.load`, `Atomics.and(cell, 0, ~value)`), without a round trip to the
   * thread that owns the transport: a driver reads and acknowledges it on every interrupt
   * (virtio 1.2 §4.2.3.4). Default: a private cell. `interruptAcked` is not called for
   * acknowledgements served elsewhere.
   */
  readonly interruptStatus?: Int32Array;
  /** Called after InterruptACK lowered InterruptStatus to this value (a level board lowers the line at 0). */
  readonly interruptAcked?: (status: number) => void;
  /** Called on every hostile-driver check, e.g. for a rate-limited log. */
  readonly onHostile?: HostileReporter;
}

/**
 * A snapshot of the transport's registers, for tests, logs and migration to another thread.
 *
 * @example
 * ```ts
 * transport.state().status & Status.NeedsReset;
 * ```
 */
export interface MmioTransportState {
  /** Device status. */
  readonly status: number;
  /** InterruptStatus. */
  readonly interruptStatus: number;
  /** ConfigGeneration. */
  readonly configGeneration: number;
  /** Features accepted by the driver. */
  readonly driverFeatures: bigint;
  /** Features offered. */
  readonly deviceFeatures: bigint;
}

interface QueueRegs {
  num: number;
  /** desc lo/hi, avail lo/hi, used lo/hi. */
  readonly addr: Uint32Array;
  ready: number;
  pfn: number;
  align: number;
}

const HOSTILE_KEYS = Object.keys(HOSTILE_CHECKS) as HostileCheck[];
const TWO32 = 4294967296;

/** A 64-bit register pair as a number; beyond 2^53 it cannot be guest memory, so Infinity. */
function addr64(a: Uint32Array, i: number): number {
  const lo = a[i] as number;
  const hi = a[i + 1] as number;
  return hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * TWO32 + lo;
}

function emptyCounts(): Record<HostileCheck, number> {
  const o = {} as Record<HostileCheck, number>;
  for (const k of HOSTILE_KEYS) o[k] = 0;
  return o;
}

/**
 * A transport's {@link DeviceHost}: a class, so that its fields stay fast properties (V8 keeps an
 * object literal with a getter in dictionary mode, and every request's `host.queue` and
 * `host.signalUsed` then cost a dictionary lookup).
 */
class TransportHost implements DeviceHost {
  constructor(
    readonly memory: GuestMemory,
    readonly legacy: boolean,
    private readonly accepted: FeatureBits,
    private readonly queues: readonly SplitQueue[],
    readonly signalUsed: (index: number) => void,
    readonly configChanged: () => void,
    readonly hostile: (check: HostileCheck, detail: string) => void,
  ) {}

  get features(): bigint {
    return this.accepted.value;
  }

  negotiated(bit: number): boolean {
    return this.accepted.has(bit);
  }

  queue(index: number): SplitQueue {
    return this.queues[index] as SplitQueue;
  }
}

/**
 * The register file of one virtio-mmio device (virtio 1.2 §4.2.2, legacy §4.2.4) and the glue to
 * its device model and queues.
 *
 * - Registers below 0x100 accept only aligned 32-bit accesses; anything else is ignored, reads
 *   as 0 and is counted (`register-width`). Config space at 0x100+ serves 1-, 2- and 4-byte
 *   accesses at any offset (Linux reads it byte by byte on version 1).
 * - VIRTIO_F_VERSION_1 is always offered on version 2; VIRTIO_F_NOTIFICATION_DATA never (it
 *   would break datamatch ioeventfds on QueueNotify, reference §5.2).
 * - Status follows the spec state machine: 0 resets, bits are never cleared by the driver,
 *   FEATURES_OK is refused unless the driver accepted a subset of what was offered (including
 *   VERSION_1 on version 2), DRIVER_OK starts the device. A hostile-driver violation sets
 *   DEVICE_NEEDS_RESET, with a configuration-change interrupt once DRIVER_OK is set.
 * - Nothing the guest does makes a method throw: device errors are caught and become
 *   DEVICE_NEEDS_RESET (`device-error`).
 *
 * **Threading**: a transport and its device belong to one thread, the
 * device's I/O thread. A vCPU thread that takes an MMIO exit forwards `(offset, width, value)`
 * through a mailbox (the board uses `@microvm/kvm`'s `DeviceMailbox`) and waits; the owner calls
 * {@link MmioTransport.read} or {@link MmioTransport.write} and posts the result back. Register
 * accesses are rare (setup, config, ISR reads), so the round trip is off the hot path. Queue
 * notifications arrive on the owner thread from ioeventfds (`addr = base + 0x50`, `len = 4`,
 * datamatch = queue index) and are passed to {@link MmioTransport.notify}; interrupts leave
 * through the `interrupt` callback, which writes an irqfd. Guest RAM itself may be
 * SharedArrayBuffer-backed and read by any thread.
 *
 * @throws {@link VirtioError} from the constructor only, for bad options.
 * @example
 * ```ts
 * const mem = new GuestMemory([{ guestAddress: 0n, bytes: ram }]);
 * const blk = new BlkDevice(new MemoryBlockBackend(new Uint8Array(1 << 20)));
 * const t = new MmioTransport({ memory: mem, device: blk, interrupt: () => irqfd.write(1n) });
 * // in the MMIO exit handler:
 * const v = t.read(offset, 4);
 * t.write(offset, 4, value);
 * // in the ioeventfd handler for queue 0:
 * t.notify(0);
 * ```
 */
export class MmioTransport {
  /** Version register value: 2 modern, 1 legacy. */
  readonly version: 1 | 2;
  /** VendorID register value. */
  readonly vendorId: number;
  /** The device model. */
  readonly device: VirtioDevice;
  /** Guest memory. */
  readonly memory: GuestMemory;
  /** How often each hostile-driver check fired since construction (never reset). */
  readonly hostileCounts: Readonly<Record<HostileCheck, number>>;
  private readonly counts: Record<HostileCheck, number>;
  private readonly queues: SplitQueue[];
  private readonly qregs: QueueRegs[];
  private readonly offered: bigint;
  private readonly irq: (status: number) => void;
  private readonly irqAck: ((status: number) => void) | undefined;
  private readonly report: HostileReporter | undefined;
  private readonly cfgView: DataView;
  private status = 0;
  private readonly isrCell: Int32Array;
  private generation = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  /** The features the driver accepted. */
  private readonly accepted = new FeatureBits();
  private queueSel = 0;
  private guestPageSize = 4096;
  private active = false;
  private readonly host: DeviceHost;

  /**
   * Creates the transport in the reset state.
   * @param options - memory, device, version, interrupt callback
   * @throws {@link VirtioError} `invalid-argument` / `out-of-range` for bad options or queue sizes
   */
  constructor(options: MmioTransportOptions) {
    const version = options.version ?? 2;
    if (version !== 1 && version !== 2) {
      throw new VirtioError("out-of-range", `version: expected 1 or 2, got ${String(version)}`);
    }
    if (typeof options.interrupt !== "function") {
      throw new VirtioError("invalid-argument", "interrupt: expected a function");
    }
    const vendor = options.vendorId ?? 0;
    if (!Number.isInteger(vendor) || vendor < 0 || vendor > 0xffffffff) {
      throw new VirtioError("out-of-range", `vendorId: expected 0..0xffffffff, got ${String(vendor)}`);
    }
    this.version = version;
    this.vendorId = vendor;
    this.device = options.device;
    this.memory = options.memory;
    this.irq = options.interrupt;
    this.irqAck = options.interruptAcked;
    const cell = options.interruptStatus;
    if (cell !== undefined && (!(cell instanceof Int32Array) || cell.length < 1)) {
      throw new VirtioError("invalid-argument", "interruptStatus: expected an Int32Array of at least 1 element");
    }
    this.isrCell = cell ?? new Int32Array(1);
    Atomics.store(this.isrCell, 0, 0);
    this.report = options.onHostile;
    this.counts = emptyCounts();
    this.hostileCounts = this.counts;
    const legacy = version === 1;
    this.queues = options.device.queueMaxSizes.map(
      (maxSize) => new SplitQueue({ memory: options.memory, maxSize, onViolation: (c, d) => this.hostile(c, d) }),
    );
    this.qregs = this.queues.map((q) => ({ num: q.maxSize, addr: new Uint32Array(6), ready: 0, pfn: 0, align: 4096 }));
    let f = options.device.features(legacy);
    // VIRTIO_F_NOTIFICATION_DATA is never offered (reference §5.2); VERSION_1 always on v2 and
    // never on v1 (a legacy transport has only 32 feature bits that matter).
    f &= ~(1n << BigInt(Feature.NotificationData));
    if (legacy) f &= 0xffff_ffffn;
    else f |= 1n << BigInt(Feature.Version1);
    this.offered = f;
    const c = options.device.config;
    this.cfgView = new DataView(c.buffer, c.byteOffset, c.byteLength);
    this.host = new TransportHost(
      options.memory,
      legacy,
      this.accepted,
      this.queues,
      (i) => {
        const q = this.queues[i];
        if (q !== undefined && this.active && q.needsNotification()) this.raise(MmioInt.Vring);
      },
      () => this.configChanged(),
      (check, detail) => this.hostile(check, detail),
    );
  }

  /**
   * The features offered in DeviceFeatures.
   * @example
   * ```ts
   * (t.deviceFeatures >> 32n) & 1n; // 1n on version 2 (VERSION_1)
   * ```
   */
  get deviceFeatures(): bigint {
    return this.offered;
  }

  /**
   * A snapshot of the main registers.
   * @returns status, interrupt status, config generation and features
   * @example
   * ```ts
   * if (t.state().status & Status.NeedsReset) console.warn("device needs reset");
   * ```
   */
  state(): MmioTransportState {
    return {
      status: this.status,
      interruptStatus: Atomics.load(this.isrCell, 0),
      configGeneration: this.generation,
      driverFeatures: this.accepted.value,
      deviceFeatures: this.offered,
    };
  }

  /**
   * The queue with this index (for tests and custom devices).
   * @param index - queue index
   * @returns the queue
   * @throws {@link VirtioError} `out-of-range` when there is no such queue
   * @example
   * ```ts
   * t.queue(0).ready;
   * ```
   */
  queue(index: number): SplitQueue {
    const q = this.queues[index];
    if (q === undefined) throw new VirtioError("out-of-range", `index: expected 0..${this.queues.length - 1}, got ${index}`);
    return q;
  }

  /**
   * A guest read of the register at `offset` (relative to the device's base) of `width` bytes.
   * Never throws on guest input: bad widths and unknown registers read as 0 and are counted.
   *
   * @param offset - byte offset in the device's MMIO window
   * @param width - access size in bytes
   * @returns the value read (zero-extended)
   * @example
   * ```ts
   * t.read(0x000, 4) === MMIO_MAGIC; // true
   * ```
   */
  read(offset: number, width: number): number {
    try {
      return this.readReg(offset, width);
    } catch (e) {
      this.internal(e);
      return 0;
    }
  }

  /**
   * A guest write of `value` (`width` bytes) to the register at `offset`. Never throws on guest
   * input: bad widths and unknown registers are ignored and counted.
   *
   * @param offset - byte offset in the device's MMIO window
   * @param width - access size in bytes
   * @param value - the value written
   * @example
   * ```ts
   * t.write(0x070, 4, 0); // reset
   * ```
   */
  write(offset: number, width: number, value: number): void {
    try {
      this.writeReg(offset, width, value >>> 0);
    } catch (e) {
      this.internal(e);
    }
  }

  /**
   * A queue notification from the board: an MMIO write to QueueNotify that no ioeventfd caught,
   * or an ioeventfd firing. Ignored (and counted) for an absent or inactive queue.
   *
   * @param index - queue index
   * @example
   * ```ts
   * t.notify(0);
   * ```
   */
  notify(index: number): void {
    try {
      const q = this.queues[index];
      if (q === undefined || !this.active || !q.ready) {
        this.hostile("queue-not-ready", `QueueNotify: queue ${index} is absent or not ready`);
        return;
      }
      this.device.queueNotify(index);
    } catch (e) {
      this.internal(e);
    }
  }

  /**
   * Raises a configuration-change interrupt after bumping ConfigGeneration; devices call it (via
   * their host) when their config space changes, e.g. a link going down.
   * @example
   * ```ts
   * t.configChanged();
   * ```
   */
  configChanged(): void {
    this.generation = (this.generation + 1) >>> 0;
    if ((this.status & Status.DriverOk) !== 0) this.raise(MmioInt.Config);
  }

  private raise(bit: number): void {
    this.irq(Atomics.or(this.isrCell, 0, bit) | bit);
  }

  private hostile(check: HostileCheck, detail: string): void {
    this.counts[check]++;
    if (this.report !== undefined) this.report(check, detail);
    if (HOSTILE_CHECKS[check] === "needs-reset") this.needsReset();
  }

  private needsReset(): void {
    if ((this.status & Status.NeedsReset) !== 0) return;
    this.status |= Status.NeedsReset;
    // virtio 1.2 §2.1.2: with DRIVER_OK set, also send a configuration-change notification.
    if ((this.status & Status.DriverOk) !== 0) this.raise(MmioInt.Config);
  }

  private internal(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    this.hostile("device-error", `internal: ${msg}`);
  }

  private readReg(offset: number, width: number): number {
    if (offset >= MmioReg.Config) {
      const o = offset - MmioReg.Config;
      if (width !== 1 && width !== 2 && width !== 4) {
        this.hostile("register-width", `config+${o}: expected a 1-, 2- or 4-byte access, got ${width}`);
        return 0;
      }
      const size = this.cfgView.byteLength;
      if (o + width > size) return 0;
      // Little-endian for both versions (legacy is guest-endian, i.e. little-endian on x86).
      return width === 1 ? this.cfgView.getUint8(o) : width === 2 ? this.cfgView.getUint16(o, true) : this.cfgView.getUint32(o, true);
    }
    if (width !== 4 || (offset & 3) !== 0) {
      this.hostile("register-width", `register 0x${offset.toString(16)}: expected an aligned 4-byte access, got ${width} bytes`);
      return 0;
    }
    const legacy = this.version === 1;
    const q = this.qregs[this.queueSel];
    switch (offset) {
      case MmioReg.MagicValue:
        return MMIO_MAGIC;
      case MmioReg.Version:
        return this.version;
      case MmioReg.DeviceId:
        return this.device.deviceId;
      case MmioReg.VendorId:
        return this.vendorId;
      case MmioReg.DeviceFeatures:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn);
      case MmioReg.QueueNumMax:
        return q === undefined ? 0 : (this.queues[this.queueSel] as SplitQueue).maxSize;
      case MmioReg.QueueReady:
        if (legacy) break;
        return q === undefined ? 0 : q.ready;
      case MmioReg.QueuePfn:
        if (!legacy) break;
        return q === undefined ? 0 : q.pfn;
      case MmioReg.InterruptStatus:
        return Atomics.load(this.isrCell, 0);
      case MmioReg.Status:
        return this.status;
      case MmioReg.ConfigGeneration:
        return legacy ? 0 : this.generation;
      case MmioReg.ShmLenLow:
      case MmioReg.ShmLenHigh:
      case MmioReg.ShmBaseLow:
      case MmioReg.ShmBaseHigh:
        // No shared-memory regions: length and base read as all ones (virtio 1.2 §4.2.2).
        if (legacy) break;
        return 0xffffffff;
      case 0x0c0: // QueueReset: VIRTIO_F_RING_RESET is not offered.
        if (legacy) break;
        return 0;
      default:
        break;
    }
    this.hostile("register-unknown", `register 0x${offset.toString(16)}: not readable on version ${this.version}`);
    return 0;
  }

  private inQueueWindow(name: string): boolean {
    const s = this.status;
    const ok =
      this.version === 2
        ? (s & Status.FeaturesOk) !== 0 && (s & (Status.DriverOk | Status.Failed)) === 0
        : (s & Status.Driver) !== 0 && (s & Status.Failed) === 0;
    if (!ok) this.hostile("register-window", `${name}: queue registers are writable only between FEATURES_OK and DRIVER_OK, status is 0x${s.toString(16)}`);
    return ok;
  }

  private writeReg(offset: number, width: number, value: number): void {
    if (offset >= MmioReg.Config) {
      const o = offset - MmioReg.Config;
      if (width !== 1 && width !== 2 && width !== 4) {
        this.hostile("register-width", `config+${o}: expected a 1-, 2- or 4-byte access, got ${width}`);
        return;
      }
      if (o + width > this.cfgView.byteLength) return;
      // `>>> 0`: a 4-byte value with bit 31 set stays unsigned (`&` gives a signed int32).
      this.device.writeConfig?.(o, width, (value & (width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff)) >>> 0);
      return;
    }
    if (width !== 4 || (offset & 3) !== 0) {
      this.hostile("register-width", `register 0x${offset.toString(16)}: expected an aligned 4-byte access, got ${width} bytes`);
      return;
    }
    const legacy = this.version === 1;
    const q = this.qregs[this.queueSel];
    const queue = this.queues[this.queueSel];
    switch (offset) {
      case MmioReg.DeviceFeaturesSel:
        this.deviceFeaturesSel = value;
        return;
      case MmioReg.DriverFeaturesSel:
        this.driverFeaturesSel = value;
        return;
      case MmioReg.DriverFeatures: {
        const s = this.status;
        if ((s & Status.Driver) === 0 || (s & (Status.FeaturesOk | Status.DriverOk | Status.Failed)) !== 0) {
          this.hostile("register-window", `DriverFeatures: writable only with DRIVER set and FEATURES_OK clear, status is 0x${s.toString(16)}`);
          return;
        }
        if (this.driverFeaturesSel > 1) {
          if (value !== 0) this.hostile("feature-negotiation", `DriverFeatures[${this.driverFeaturesSel}]: no features offered there, got 0x${value.toString(16)}`);
          return;
        }
        const shift = BigInt(32 * this.driverFeaturesSel);
        let f = (this.accepted.value & ~(0xffff_ffffn << shift)) | (BigInt(value) << shift);
        if (legacy && (f & ~this.offered) !== 0n) {
          // Legacy drivers have no FEATURES_OK step: mask what was not offered (Firecracker's rule).
          this.hostile("feature-negotiation", `DriverFeatures: bits 0x${(f & ~this.offered).toString(16)} were not offered`);
          f &= this.offered;
        }
        this.accepted.value = f;
        return;
      }
      case MmioReg.GuestPageSize:
        if (!legacy) break;
        this.guestPageSize = value;
        return;
      case MmioReg.QueueSel:
        this.queueSel = value;
        return;
      case MmioReg.QueueNum:
        if (q === undefined) return this.hostile("register-window", `QueueNum: queue ${this.queueSel} does not exist`);
        if (!this.inQueueWindow("QueueNum")) return;
        if (q.ready !== 0 || q.pfn !== 0) return this.hostile("register-window", `QueueNum: queue ${this.queueSel} is active`);
        q.num = value;
        return;
      case MmioReg.QueueAlign:
        if (!legacy) break;
        if (q === undefined || !this.inQueueWindow("QueueAlign")) return;
        q.align = value;
        return;
      case MmioReg.QueuePfn: {
        if (!legacy) break;
        if (q === undefined || queue === undefined) return this.hostile("register-window", `QueuePFN: queue ${this.queueSel} does not exist`);
        if (value === 0) {
          // Stopping a queue is always allowed: Linux's vm_del_vq writes 0 after a reset.
          q.pfn = 0;
          queue.deactivate();
          return;
        }
        if (!this.inQueueWindow("QueuePFN")) return;
        q.pfn = value;
        this.activateLegacy(q, queue);
        return;
      }
      case MmioReg.QueueReady: {
        if (legacy) break;
        if (q === undefined || queue === undefined) return this.hostile("register-window", `QueueReady: queue ${this.queueSel} does not exist`);
        if ((value & 1) === 0) {
          // Stopping a queue is always allowed: Linux's vm_del_vq writes 0 after a reset.
          q.ready = 0;
          queue.deactivate();
          return;
        }
        if (!this.inQueueWindow("QueueReady")) return;
        if (q.ready === 1) return;
        const ok = queue.activate(
          { size: q.num, desc: addr64(q.addr, 0), avail: addr64(q.addr, 2), used: addr64(q.addr, 4) },
          this.ringFeatures(),
        );
        q.ready = ok ? 1 : 0;
        return;
      }
      case MmioReg.QueueNotify:
        this.notify(value & 0xffff);
        return;
      case MmioReg.InterruptAck: {
        // Computed before the optional call: `f?.(x)` would skip evaluating x when f is absent.
        const left = Atomics.and(this.isrCell, 0, ~value) & ~value;
        this.irqAck?.(left);
        return;
      }
      case MmioReg.Status:
        this.writeStatus(value);
        return;
      case MmioReg.QueueDescLow:
      case MmioReg.QueueDescHigh:
      case MmioReg.QueueAvailLow:
      case MmioReg.QueueAvailHigh:
      case MmioReg.QueueUsedLow:
      case MmioReg.QueueUsedHigh: {
        if (legacy) break;
        if (q === undefined) return this.hostile("register-window", `queue address: queue ${this.queueSel} does not exist`);
        if (!this.inQueueWindow("queue address")) return;
        if (q.ready !== 0) return this.hostile("register-window", `queue address: queue ${this.queueSel} is ready`);
        {
          const d = offset - MmioReg.QueueDescLow;
          q.addr[((d >> 4) << 1) | ((d >> 2) & 1)] = value;
        }
        return;
      }
      case MmioReg.ShmSel:
        if (legacy) break;
        return;
      case 0x0c0: // QueueReset without VIRTIO_F_RING_RESET: ignored.
        if (legacy) break;
        return;
      default:
        break;
    }
    this.hostile("register-unknown", `register 0x${offset.toString(16)}: not writable on version ${this.version}`);
  }

  private ringFeatures(): { eventIdx: boolean; indirect: boolean } {
    return {
      eventIdx: this.accepted.has(Feature.EventIdx),
      indirect: this.accepted.has(Feature.IndirectDesc),
    };
  }

  private activateLegacy(q: QueueRegs, queue: SplitQueue): void {
    // virtio 1.2 §4.2.4 / §2.7.2 legacy layout: desc, avail, then used at the next QueueAlign.
    const page = this.guestPageSize;
    const align = q.align;
    if (page === 0 || (page & (page - 1)) !== 0 || align === 0 || (align & (align - 1)) !== 0) {
      // The queue is not in use, so QueuePFN reads 0 (virtio 1.2 §4.2.4), as after a failed activation.
      q.pfn = 0;
      this.hostile("ring-alignment", `GuestPageSize/QueueAlign: expected powers of two, got ${page}/${align}`);
      return;
    }
    const n = q.num;
    const desc = q.pfn * page;
    const avail = desc + 16 * n;
    const used = Math.ceil((avail + 6 + 2 * n) / align) * align;
    if (!queue.activate({ size: n, desc, avail, used }, this.ringFeatures())) q.pfn = 0;
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const cur = this.status & ~Status.NeedsReset;
    const v = value & 0xff & ~Status.NeedsReset;
    if ((v & Status.Failed) !== 0) {
      this.status |= Status.Failed;
      return;
    }
    if ((cur & ~v) !== 0) {
      this.hostile("status-clear", `Status: the driver may not clear bits 0x${(cur & ~v).toString(16)}`);
      return;
    }
    const added = v & ~cur;
    if (added === 0) return;
    const legacy = this.version === 1;
    const need = (bit: number, pre: number): boolean => (added & bit) !== 0 && (v & pre) !== pre;
    if (
      need(Status.Driver, Status.Acknowledge) ||
      need(Status.FeaturesOk, Status.Driver) ||
      need(Status.DriverOk, legacy ? Status.Driver : Status.FeaturesOk | Status.Driver)
    ) {
      this.hostile("status-order", `Status: 0x${v.toString(16)} sets a bit before its prerequisite (current 0x${cur.toString(16)})`);
      return;
    }
    let next = v;
    if ((added & Status.FeaturesOk) !== 0) {
      const extra = this.accepted.value & ~this.offered;
      const v1 = 1n << BigInt(Feature.Version1);
      if (extra !== 0n) {
        this.hostile("feature-negotiation", `DriverFeatures: bits 0x${extra.toString(16)} were not offered; FEATURES_OK refused`);
        next &= ~Status.FeaturesOk;
      } else if (!legacy && (this.accepted.value & v1) === 0n) {
        this.hostile("feature-negotiation", "DriverFeatures: VERSION_1 (bit 32) must be accepted on a version-2 device; FEATURES_OK refused");
        next &= ~Status.FeaturesOk;
      }
      if ((next & Status.FeaturesOk) === 0) next &= ~Status.DriverOk;
    }
    this.status = (this.status & Status.NeedsReset) | next;
    if ((added & Status.DriverOk) !== 0 && (next & Status.DriverOk) !== 0 && (this.status & Status.NeedsReset) === 0) {
      this.active = true;
      this.device.activate(this.host);
      // Buffers made available before DRIVER_OK (legacy drivers may) are served now.
      for (let i = 0; i < this.queues.length; i++) {
        const q = this.queues[i] as SplitQueue;
        if (this.active && q.ready && q.hasAvailable()) this.device.queueNotify(i);
      }
    }
  }

  /** Device reset (Status = 0; virtio 1.2 §2.4): ConfigGeneration stays monotonic, GuestPageSize is kept. */
  private reset(): void {
    this.active = false;
    this.status = 0;
    Atomics.store(this.isrCell, 0, 0);
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.accepted.value = 0n;
    this.queueSel = 0;
    this.queues.forEach((q, i) => {
      q.deactivate();
      const r = this.qregs[i] as QueueRegs;
      r.num = q.maxSize;
      r.addr.fill(0);
      r.ready = 0;
      r.pfn = 0;
      r.align = 4096;
    });
    this.device.reset();
  }
}
