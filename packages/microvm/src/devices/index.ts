/**
 * The board's device kinds, in one table. The command line (its `-device` drivers and `--help`),
 * the plan (virtio device ids), both engines and the KVM engine's I/O thread iterate it; adding a
 * kind is a new module in this directory and one line here (docs/contributing.md).
 */
import { MicrovmError } from "../errors.js";
import { blkKind } from "./blk.js";
import { consoleKind } from "./console.js";
import type { ConfigOf, DeviceKind } from "./kind.js";
import { netKind } from "./net.js";
import { rngKind } from "./rng.js";

/**
 * Every device kind of the board, in virtio device id order.
 *
 * @example
 * ```ts
 * for (const k of DEVICE_KINDS) console.log(k.kind, k.virtioId, k.cli.drivers.join(", "));
 * ```
 */
export const DEVICE_KINDS: readonly [typeof netKind, typeof blkKind, typeof consoleKind, typeof rngKind] = [netKind, blkKind, consoleKind, rngKind];

/**
 * A virtio device of a machine: its kind, where it sits, and its backend (one of
 * {@link BlkDeviceConfig}, {@link NetDeviceConfig}, {@link ConsoleDeviceConfig},
 * {@link RngDeviceConfig}: the configurations of the kinds in {@link DEVICE_KINDS}).
 *
 * @example
 * ```ts
 * const devices: DeviceConfig[] = [{ kind: "rng" }, { kind: "console" }];
 * ```
 */
export type DeviceConfig = ConfigOf<(typeof DEVICE_KINDS)[number]>;

/**
 * The kinds of virtio device the machine offers.
 *
 * @example
 * ```ts
 * const kind: VirtioKind = "blk";
 * ```
 */
export type VirtioKind = DeviceConfig["kind"];

/**
 * The virtio device id of each kind (virtio 1.2 §5 "Device Types"), from {@link DEVICE_KINDS}.
 *
 * @example
 * ```ts
 * VIRTIO_DEVICE_ID.blk; // 2
 * ```
 */
export const VIRTIO_DEVICE_ID: { readonly [K in VirtioKind]: number } = Object.freeze(
  Object.fromEntries(DEVICE_KINDS.map((k) => [k.kind, k.virtioId])) as { [K in VirtioKind]: number },
);

/**
 * The kind named `kind`.
 *
 * @param kind - a kind name
 * @returns its {@link DeviceKind}
 * @throws MicrovmError `invalid-argument` for a name no kind has
 * @example
 * ```ts
 * deviceKind("rng").virtioId; // 4
 * ```
 */
export function deviceKind(kind: string): DeviceKind<DeviceConfig> {
  const k = DEVICE_KINDS.find((x) => x.kind === kind);
  if (!k) throw new MicrovmError("invalid-argument", `kind: expected one of ${DEVICE_KINDS.map((x) => x.kind).join(", ")}, got ${JSON.stringify(kind)}`);
  return k as DeviceKind<DeviceConfig>;
}
