/**
 * Shared plumbing of the device models: queue draining, completion, sync-or-async backends.
 * @module
 */
import { Feature as FeatureExport } from "../constants.js";
import type { DescriptorChain, SplitQueue } from "../split-queue.js";
import type { DeviceHost, VirtioDevice } from "../transport.js";

// Module-local copies: some loaders (tsx, CJS interop) turn imported constants into getters,
// which shows on the request path.
const Feature: typeof FeatureExport = { ...FeatureExport };

/** Whether a value is a thenable (a backend answered asynchronously). */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as { then?: unknown }).then === "function";
}

/**
 * The base of this package's device models: it keeps the {@link DeviceHost} given at
 * activation, drains queues with notification suppression, and completes chains (dropping
 * completions that arrive after a reset). Extend it for a custom device.
 *
 * @example
 * ```ts
 * class NullDevice extends DeviceBase {
 *   readonly deviceId = 99;
 *   readonly queueMaxSizes = [16];
 *   readonly config = new Uint8Array(0);
 *   features(): bigint { return 0n; }
 *   queueNotify(i: number): void { this.drain(i, (c) => this.complete(i, c, 0)); }
 * }
 * ```
 */
export abstract class DeviceBase implements VirtioDevice {
  /** virtio device id. */
  abstract readonly deviceId: number;
  /** QueueNumMax of each queue. */
  abstract readonly queueMaxSizes: readonly number[];
  /** Config space bytes. */
  abstract readonly config: Uint8Array;
  /** The transport's services, from the last activation. */
  protected host: DeviceHost | undefined;
  private batch = 0;

  /**
   * Device-specific features offered.
   * @param legacy - version-1 transport
   */
  abstract features(legacy: boolean): bigint;

  /**
   * A queue notification.
   * @param index - queue index
   */
  abstract queueNotify(index: number): void;

  /**
   * Keeps the host; subclasses extend it to start work.
   * @param host - the transport's services
   * @example
   * ```ts
   * device.activate(host);
   * ```
   */
  activate(host: DeviceHost): void {
    this.host = host;
  }

  /**
   * Forgets requests in flight (their completions are dropped by the queues' epochs).
   * @example
   * ```ts
   * device.reset();
   * ```
   */
  reset(): void {
    this.host = undefined;
  }

  /**
   * Whether the driver accepted feature `bit`.
   * @param bit - feature bit number
   * @returns true when negotiated
   * @example
   * ```ts
   * this.negotiated(Feature.EventIdx);
   * ```
   */
  protected negotiated(bit: number): boolean {
    const h = this.host;
    return h !== undefined && h.negotiated(bit);
  }

  /**
   * The ring features every device here offers: EVENT_IDX and INDIRECT_DESC (virtio 1.2 §6).
   * @returns the feature mask
   * @example
   * ```ts
   * features(): bigint { return this.ringFeatures() | myBits; }
   * ```
   */
  protected ringFeatures(): bigint {
    return (1n << BigInt(Feature.EventIdx)) | (1n << BigInt(Feature.IndirectDesc));
  }

  /**
   * Pops and handles every available chain of queue `index`, re-checking after re-enabling
   * notifications, then raises at most one interrupt for the batch.
   * @param index - queue index
   * @param handle - called for each chain, with the queue it came from (a handler that completes
   * the chain before it returns may add its used element there directly: the batch's interrupt
   * covers it)
   * @example
   * ```ts
   * this.drain(0, (c) => this.complete(0, c, 0));
   * ```
   */
  protected drain(index: number, handle: (chain: DescriptorChain, queue: SplitQueue) => void): void {
    const host = this.host;
    if (host === undefined) return;
    const q = host.queue(index);
    this.batch++;
    try {
      do {
        q.disableNotifications();
        for (let c = q.pop(); c !== undefined; c = q.pop()) handle(c, q);
      } while (q.enableNotifications());
    } finally {
      this.batch--;
    }
    host.signalUsed(index);
  }

  /**
   * Whether `chain` can still be completed (no reset or queue stop since it was popped).
   * @param index - queue index
   * @param chain - the chain
   * @returns true when completing it is still meaningful
   * @example
   * ```ts
   * if (this.live(0, chain)) mem.write8(statusAddr, 0);
   * ```
   */
  protected live(index: number, chain: DescriptorChain): boolean {
    const h = this.host;
    if (h === undefined) return false;
    const q = h.queue(index);
    return q.ready && q.epoch === chain.epoch;
  }

  /**
   * Adds a used element for `chain` and, outside a drain batch, interrupts if the driver wants it.
   * @param index - queue index
   * @param chain - the chain
   * @param written - bytes written into its writable part
   * @example
   * ```ts
   * this.complete(0, chain, 513);
   * ```
   */
  protected complete(index: number, chain: DescriptorChain, written: number): void {
    const h = this.host;
    if (h === undefined) return;
    if (h.queue(index).addUsed(chain, written) && this.batch === 0) h.signalUsed(index);
  }
}
