/**
 * virtio-rng / entropy device (virtio 1.2 §5.4).
 * @module
 */
import { cryptoEntropy, type EntropySource } from "../backends.js";
import { DeviceId as DeviceIdExport } from "../constants.js";
import { VirtioError } from "../errors.js";
import type { DescriptorChain } from "../split-queue.js";
import type { DeviceHost } from "../transport.js";
import { DeviceBase, isThenable } from "./device-base.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const DeviceId: typeof DeviceIdExport = { ...DeviceIdExport };

/**
 * Options of {@link RngDevice}.
 *
 * @example
 * ```ts
 * const opts: RngDeviceOptions = { source: (out) => out.fill(7), maxRequest: 4096 };
 * ```
 */
export interface RngDeviceOptions {
  /** Entropy source; default `crypto.getRandomValues` ({@link cryptoEntropy}). */
  readonly source?: EntropySource;
  /** Most bytes served per request (default 65536, Firecracker's MAX_ENTROPY_BYTES). */
  readonly maxRequest?: number;
  /** QueueNumMax (default 64). */
  readonly queueSize?: number;
}

/**
 * A virtio-rng device (id 4): one request queue of device-writable buffers, filled from an
 * entropy source. Requests larger than `maxRequest` are served `maxRequest` bytes (the driver
 * reads `used.len`; virtio 1.2 §5.4.6) and counted as `request-too-large`.
 *
 * @throws {@link VirtioError} from the constructor, for a bad `maxRequest`.
 * @example
 * ```ts
 * const rng = new RngDevice(); // crypto.getRandomValues
 * new MmioTransport({ memory, device: rng, interrupt });
 * ```
 */
export class RngDevice extends DeviceBase {
  /** virtio device id 4. */
  readonly deviceId: number = DeviceId.Rng;
  /** One request queue. */
  readonly queueMaxSizes: readonly number[];
  /** No config space. */
  readonly config: Uint8Array = new Uint8Array(0);
  private readonly source: EntropySource;
  private readonly maxRequest: number;

  /**
   * Creates the device.
   * @param options - source, request cap, queue size
   * @throws {@link VirtioError} `out-of-range` for a `maxRequest` outside 1..2^24
   */
  constructor(options: RngDeviceOptions = {}) {
    super();
    this.source = options.source ?? cryptoEntropy;
    const m = options.maxRequest ?? 65536;
    if (!Number.isInteger(m) || m < 1 || m > 1 << 24) {
      throw new VirtioError("out-of-range", `maxRequest: expected 1..16777216, got ${String(m)}`);
    }
    this.maxRequest = m;
    this.queueMaxSizes = [options.queueSize ?? 64];
  }

  /**
   * No device features beyond the ring ones.
   * @returns the feature mask
   * @example
   * ```ts
   * rng.features(false);
   * ```
   */
  features(): bigint {
    return this.ringFeatures();
  }

  /**
   * Serves the request queue.
   * @param index - 0
   * @example
   * ```ts
   * rng.queueNotify(0);
   * ```
   */
  queueNotify(index: number): void {
    if (index === 0) this.drain(0, (c) => this.request(c));
  }

  private request(c: DescriptorChain): void {
    const host = this.host as DeviceHost;
    let n = c.writableBytes;
    if (n > this.maxRequest) {
      host.hostile("request-too-large", `rng request ${c.head}: ${n} bytes, served ${this.maxRequest}`);
      n = this.maxRequest;
    }
    if (n === 0) {
      host.hostile("malformed-request", `rng request ${c.head}: no device-writable bytes`);
      this.complete(0, c, 0);
      return;
    }
    const buf = new Uint8Array(n);
    const fill = (): void => {
      if (!this.live(0, c)) return;
      const w = c.write(host.memory, 0, buf);
      this.complete(0, c, w);
    };
    let r: unknown;
    try {
      r = this.source(buf);
    } catch {
      host.hostile("device-error", "rng: the entropy source failed");
      return;
    }
    if (isThenable(r)) {
      r.then(fill, () => {
        if (this.live(0, c)) host.hostile("device-error", "rng: the entropy source failed");
      });
    } else fill();
  }
}
