// Feature negotiation (QEMU docs/interop/vhost-user.rst "Communication", "Protocol features",
// "In-band notifications"): the front-end reads the back-end's masks (GET_FEATURES,
// GET_PROTOCOL_FEATURES) and sets a subset (SET_FEATURES, SET_PROTOCOL_FEATURES).
import { checkInt, checkU64 } from "./bytes.js";
import { VHOST_USER_PROTOCOL_F } from "./constants.js";
import { VhostUserError } from "./errors.js";

/**
 * The mask with the given bit numbers set.
 *
 * @param bits - bit numbers, 0..63
 * @returns the mask
 * @throws {@link VhostUserError} `out-of-range` for a bit outside 0..63
 * @example
 * ```ts
 * vhostUserFeatureMask([VHOST_USER_F_PROTOCOL_FEATURES, 32]); // 0x1_4000_0000n
 * ```
 */
export function vhostUserFeatureMask(bits: readonly number[]): bigint {
  let mask = 0n;
  bits.forEach((b, i) => {
    mask |= 1n << BigInt(checkInt(`bits[${i}]`, b, 0, 63));
  });
  return mask;
}

/**
 * Whether bit `bit` is set in a feature mask.
 *
 * @param mask - a feature or protocol feature mask
 * @param bit - the bit number, 0..63
 * @returns true when set
 * @throws {@link VhostUserError} `out-of-range` for a bit outside 0..63
 * @example
 * ```ts
 * hasVhostUserFeature(protocolFeatures, VHOST_USER_PROTOCOL_F.REPLY_ACK);
 * ```
 */
export function hasVhostUserFeature(mask: bigint | number, bit: number): boolean {
  return ((checkU64("mask", mask) >> BigInt(checkInt("bit", bit, 0, 63))) & 1n) === 1n;
}

/**
 * The back-end's side of SET_FEATURES or SET_PROTOCOL_FEATURES: the front-end may only set bits the
 * back-end offered, so the result is `offered ∩ requested`, which is `requested` itself. For
 * protocol features it also checks the one dependency the spec states: INBAND_NOTIFICATIONS needs
 * BACKEND_REQ and REPLY_ACK (vhost-user.rst "In-band notifications").
 *
 * @param offered - the mask the back-end answered GET_FEATURES (or GET_PROTOCOL_FEATURES) with
 * @param requested - the mask of SET_FEATURES (or SET_PROTOCOL_FEATURES)
 * @param kind - which of the two negotiations, for the error messages and the dependency check
 * @returns the negotiated mask
 * @throws {@link VhostUserError} `not-offered` naming the bits set but not offered; `feature-dependency`
 * @example
 * ```ts
 * const offered = vhostUserFeatureMask([32, VHOST_USER_F_PROTOCOL_FEATURES]);
 * const features = negotiateVhostUserFeatures(offered, setFeatures.payload.value);
 * ```
 */
export function negotiateVhostUserFeatures(offered: bigint | number, requested: bigint | number, kind: "features" | "protocol-features" = "features"): bigint {
  const field = kind === "features" ? "SET_FEATURES.value" : "SET_PROTOCOL_FEATURES.value";
  const o = checkU64("offered", offered);
  const r = checkU64(field, requested);
  const extra = r & ~o;
  if (extra !== 0n) {
    const bits: number[] = [];
    for (let b = 0; b < 64; b++) if ((extra >> BigInt(b)) & 1n) bits.push(b);
    throw new VhostUserError("not-offered", field, `bit${bits.length > 1 ? "s" : ""} ${bits.join(", ")} set but not offered (offered 0x${o.toString(16)}, set 0x${r.toString(16)})`);
  }
  if (kind === "protocol-features") {
    const has = (bit: number): boolean => ((r >> BigInt(bit)) & 1n) === 1n;
    if (has(VHOST_USER_PROTOCOL_F.INBAND_NOTIFICATIONS) && !(has(VHOST_USER_PROTOCOL_F.BACKEND_REQ) && has(VHOST_USER_PROTOCOL_F.REPLY_ACK))) {
      throw new VhostUserError("feature-dependency", field, "INBAND_NOTIFICATIONS (bit 14) needs BACKEND_REQ (bit 5) and REPLY_ACK (bit 3)");
    }
  }
  return r & o;
}
