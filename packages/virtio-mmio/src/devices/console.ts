/**
 * virtio-console, one port (virtio 1.2 §5.3).
 * @module
 */
import type { ByteSink, ByteStreamBackend } from "../backends.js";
import { Console as ConsoleExport, DeviceId as DeviceIdExport } from "../constants.js";
import { VirtioError } from "../errors.js";
import type { DescriptorChain } from "../split-queue.js";
import type { DeviceHost } from "../transport.js";
import { DeviceBase, isThenable } from "./device-base.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const Console: typeof ConsoleExport = { ...ConsoleExport };
const DeviceId: typeof DeviceIdExport = { ...DeviceIdExport };

/**
 * Options of {@link ConsoleDevice}.
 *
 * @example
 * ```ts
 * const opts: ConsoleDeviceOptions = { cols: 80, rows: 25 };
 * ```
 */
export interface ConsoleDeviceOptions {
  /** QueueNumMax of both queues (default 64). */
  readonly queueSize?: number;
  /** Terminal size; offered with VIRTIO_CONSOLE_F_SIZE when both are given. */
  readonly cols?: number;
  /** Terminal rows. */
  readonly rows?: number;
}

const BIT = (b: number): bigint => 1n << BigInt(b);
const RX = 0;
const TX = 1;

/**
 * A virtio-console device (id 3) with one port, the `hvc0` console: receiveq 0 (input to the
 * guest), transmitq 1 (output), over a {@link ByteStreamBackend}.
 *
 * - Features: EMERG_WRITE (a write to `emerg_wr` outputs one byte even before the driver is
 *   ready), SIZE when `cols` and `rows` are given, EVENT_IDX, INDIRECT_DESC; no MULTIPORT.
 * - Input back-pressure: {@link ConsoleDevice.receive} accepts only what fits in the posted
 *   receive buffers and returns how much; the backend is told through `rxReady` when more arrive.
 *
 * @throws {@link VirtioError} from the constructor, for a bad size.
 * @example
 * ```ts
 * const tty = new MemoryByteStream();
 * const con = new ConsoleDevice(tty);
 * new MmioTransport({ memory, device: con, interrupt });
 * tty.type("hello\n");
 * ```
 */
export class ConsoleDevice extends DeviceBase implements ByteSink {
  /** virtio device id 3. */
  readonly deviceId: number = DeviceId.Console;
  /** receiveq(port0), transmitq(port0). */
  readonly queueMaxSizes: readonly number[];
  /** `struct virtio_console_config` (12 bytes). */
  readonly config: Uint8Array;
  /** The backend. */
  readonly backend: ByteStreamBackend;
  private readonly size: boolean;

  /**
   * Creates the device and attaches it to the backend as its input sink.
   * @param backend - the byte stream
   * @param options - queue size, terminal size
   * @throws {@link VirtioError} `out-of-range` for cols/rows outside 0..65535
   */
  constructor(backend: ByteStreamBackend, options: ConsoleDeviceOptions = {}) {
    super();
    const qs = options.queueSize ?? 64;
    this.queueMaxSizes = [qs, qs];
    this.backend = backend;
    this.config = new Uint8Array(Console.ConfigSize);
    const v = new DataView(this.config.buffer);
    this.size = options.cols !== undefined && options.rows !== undefined;
    for (const [k, x] of [["cols", options.cols], ["rows", options.rows]] as const) {
      if (x !== undefined && (!Number.isInteger(x) || x < 0 || x > 0xffff)) {
        throw new VirtioError("out-of-range", `${k}: expected 0..65535, got ${String(x)}`);
      }
    }
    v.setUint16(0, options.cols ?? 0, true);
    v.setUint16(2, options.rows ?? 0, true);
    v.setUint32(4, 1, true); // max_nr_ports
    backend.attach?.(this);
  }

  /**
   * Offered features.
   * @returns the feature mask
   * @example
   * ```ts
   * con.features(false);
   * ```
   */
  features(): bigint {
    let f = this.ringFeatures() | BIT(Console.FeatureEmergWrite);
    if (this.size) f |= BIT(Console.FeatureSize);
    return f;
  }

  /**
   * A config write: `emerg_wr` (offset 8) outputs its low byte.
   * @param offset - config offset
   * @param _width - access width
   * @param value - the value
   * @example
   * ```ts
   * con.writeConfig(8, 4, 0x41); // "A"
   * ```
   */
  writeConfig(offset: number, _width: number, value: number): void {
    if (offset !== 8) return;
    try {
      const r = this.backend.write(new Uint8Array([value & 0xff]));
      if (isThenable(r)) r.then(undefined, () => undefined);
    } catch {
      // output errors are the backend's business
    }
  }

  /**
   * Serves a notification: receive buffers posted, or output to send.
   * @param index - 0 receiveq, 1 transmitq
   * @example
   * ```ts
   * con.queueNotify(1);
   * ```
   */
  queueNotify(index: number): void {
    if (index === RX) this.backend.rxReady?.();
    else if (index === TX) this.drain(TX, (c) => this.transmit(c));
  }

  /**
   * Delivers input bytes into posted receive buffers.
   * @param bytes - input
   * @returns how many leading bytes were consumed (0 when no buffer is posted)
   * @example
   * ```ts
   * const n = con.receive(new TextEncoder().encode("ls\n"));
   * ```
   */
  receive(bytes: Uint8Array): number {
    const host = this.host;
    if (host === undefined) return 0;
    try {
      const q = host.queue(RX);
      if (!q.ready) return 0;
      let done = 0;
      while (done < bytes.length) {
        const c = q.pop();
        if (c === undefined) break;
        if (c.writableBytes === 0) {
          host.hostile("malformed-request", `console rx buffer ${c.head}: no device-writable bytes`);
          q.addUsed(c, 0);
          continue;
        }
        const w = c.write(host.memory, 0, bytes.subarray(done));
        done += w;
        q.addUsed(c, w);
      }
      if (done > 0) host.signalUsed(RX);
      // Re-arm receive-buffer notifications (avail_event = next index with EVENT_IDX).
      q.enableNotifications();
      return done;
    } catch (e) {
      host.hostile("device-error", `console receive: ${e instanceof Error ? e.message : String(e)}`);
      return 0;
    }
  }

  private transmit(c: DescriptorChain): void {
    const host = this.host as DeviceHost;
    const out = new Uint8Array(c.readableBytes);
    c.read(host.memory, 0, out);
    let r: unknown;
    try {
      r = this.backend.write(out);
    } catch {
      r = undefined;
    }
    if (isThenable(r)) {
      r.then(
        () => this.complete(TX, c, 0),
        () => this.complete(TX, c, 0),
      );
    } else this.complete(TX, c, 0);
  }
}
