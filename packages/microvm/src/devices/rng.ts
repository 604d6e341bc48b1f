/**
 * The virtio-rng device kind: its configuration, `-device virtio-rng-device`, its model on the KVM
 * engine's I/O thread, and QEMU's own virtio-rng (host entropy) or our `RngDevice` over vhost-user
 * (a JS entropy module) on the QEMU engine.
 */
import type { VirtioDevice } from "@microvm/virtio-mmio";
import type { DeviceConfigBase, DeviceKind, ModuleBackendSpec } from "./kind.js";

/**
 * An rng backend.
 *
 * @example
 * ```ts
 * const rng: RngBackendSpec = { type: "crypto" };
 * ```
 */
export type RngBackendSpec =
  | {
      /** `crypto.getRandomValues`. */
      readonly type: "crypto";
    }
  | {
      /** The host's entropy, read from /dev/urandom (node/entropy.ts). Added for the CLI. */
      readonly type: "system";
    }
  | ModuleBackendSpec;

/**
 * A virtio-rng device.
 *
 * @example
 * ```ts
 * const rng: RngDeviceConfig = { kind: "rng" };
 * ```
 */
export interface RngDeviceConfig extends DeviceConfigBase {
  /** Discriminant. */
  readonly kind: "rng";
  /** Its entropy; default `crypto.getRandomValues`. */
  readonly backend?: RngBackendSpec;
}

/**
 * The virtio-rng kind (virtio device id 4).
 *
 * @example
 * ```ts
 * rngKind.virtioId; // 4
 * ```
 */
export const rngKind: DeviceKind<RngDeviceConfig> = {
  kind: "rng",
  virtioId: 4,
  qemuType: "virtio-rng-device",
  qemuVhostUserType: "vhost-user-rng",
  cli: {
    drivers: ["virtio-rng-device"],
    help: [["-device", "virtio-rng-device[,id=ID]", "a virtio entropy device fed from the host's /dev/urandom"]],
    parse(_driver, p) {
      p.push({ kind: "rng", ...p.optId(p.keys(["id"])) });
    },
    config: () => ({ kind: "rng", backend: { type: "system" } }),
  },
  ioSetup: (config) => ({ kind: "rng", backend: config.backend ?? { type: "crypto" } }),
  model: (setup) => rngModel(setup.backend as RngBackendSpec),
  qemu(config, q) {
    const b = config?.backend ?? { type: "crypto" };
    if (b.type === "crypto" || b.type === "system") q.push("-object", `rng-random,id=${q.id}-rng,filename=/dev/urandom`, "-device", `virtio-rng-device,rng=${q.id}-rng,${q.bus},id=${q.id}`);
    else q.vhostUser("vhost-user-rng"); // a JS entropy module: our RngDevice
  },
  vhostUserModel: (config) => rngModel(config.backend),
};

/** Our RngDevice on its entropy source, on either engine. */
async function rngModel(backend: RngBackendSpec | undefined): Promise<VirtioDevice> {
  const [{ RngDevice }, { entropySource }] = await Promise.all([import("@microvm/virtio-mmio"), import("../node/device-backends.js")]);
  return new RngDevice({ source: await entropySource(backend) });
}
