/**
 * A negotiated feature mask with a bit test cheap enough for request paths.
 * @module
 */

const LOW = 0xffff_ffffn;

/**
 * A feature mask (virtio 1.2 §2.2: device-specific bits 0–23, reserved and transport bits
 * above) kept as a `bigint` and as two 32-bit numbers, so that {@link FeatureBits.has} needs no
 * bigint arithmetic: device models ask several times per request, and a bigint shift or
 * comparison costs more there than the rest of the test. A {@link DeviceHost} keeps the driver's
 * accepted features in one and answers {@link DeviceHost.negotiated} from it.
 *
 * @example
 * ```ts
 * const f = new FeatureBits();
 * f.value = (1n << 32n) | (1n << 29n); // VERSION_1, EVENT_IDX
 * f.has(29); // true
 * f.has(5); // false
 * ```
 */
export class FeatureBits {
  private v = 0n;
  private low = 0;
  private high = 0;

  /**
   * The whole mask.
   * @example
   * ```ts
   * f.value = 0n; // a device reset
   * ```
   */
  get value(): bigint {
    return this.v;
  }

  /**
   * Replaces the whole mask (both views of it).
   * @param mask - the new mask
   * @example
   * ```ts
   * f.value = 1n << 32n; // VERSION_1 only
   * ```
   */
  set value(mask: bigint) {
    this.v = mask;
    this.low = Number(mask & LOW);
    this.high = Number((mask >> 32n) & LOW);
  }

  /**
   * Whether bit `bit` is set.
   * @param bit - the feature bit number (bits from 64 up are looked up in the bigint)
   * @returns true when set
   * @example
   * ```ts
   * if (f.has(Feature.EventIdx)) useEventIdx();
   * ```
   */
  has(bit: number): boolean {
    // `(x & 31) === x` holds for the integers 0..31 only (not for fractions, negatives or NaN,
    // which go on to the last line and are never set).
    if ((bit & 31) === bit) return ((this.low >>> bit) & 1) === 1;
    if (((bit - 32) & 31) === bit - 32) return ((this.high >>> (bit - 32)) & 1) === 1;
    return Number.isInteger(bit) && bit >= 0 && ((this.v >> BigInt(bit)) & 1n) === 1n;
  }
}
