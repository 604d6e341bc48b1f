/**
 * The virtio-blk device kind: its configuration, `-device virtio-blk-device,drive=…`, its setup on
 * the KVM engine's I/O thread and its place on QEMU's command line (QEMU's own virtio-blk for an
 * image file, our `BlkDevice` over vhost-user for everything else).
 */
import type { VirtioDevice } from "@microvm/virtio-mmio";
import type { DeviceConfigBase, DeviceKind, IoDeviceSetup, ModuleBackendSpec } from "./kind.js";

/**
 * A blk backend, described so that the device model can be built where it runs.
 *
 * @example
 * ```ts
 * const disk: BlkBackendSpec = { type: "memory", buffer: new SharedArrayBuffer(1 << 20) };
 * ```
 */
export type BlkBackendSpec =
  | {
      /** In memory, over a SharedArrayBuffer the caller keeps (and can read after the run). */
      readonly type: "memory";
      /** The disk's bytes; its length is the capacity (a multiple of 512). */
      readonly buffer: SharedArrayBuffer;
      /** Refuse writes. */
      readonly readOnly?: boolean;
    }
  | {
      /** A raw image file, read and written with pread/pwrite, flushed with fdatasync. */
      readonly type: "file";
      /** Its path. */
      readonly path: string;
      /** Open it read-only and refuse writes. */
      readonly readOnly?: boolean;
    }
  | {
      /**
       * An image already open (and locked, see node/image.ts) on the main thread: the I/O thread
       * reads and writes this fd with pread/pwrite and flushes it with fdatasync; its owner
       * closes it. Added for the CLI's `-drive`, whose OFD locks belong to that one open file.
       */
      readonly type: "fd";
      /** The fd (process-wide). */
      readonly fd: number;
      /** Its size in bytes. */
      readonly size: number;
      /** Refuse writes. */
      readonly readOnly?: boolean;
      /** The GET_ID serial. */
      readonly id?: string;
    }
  | ModuleBackendSpec;

/**
 * A virtio-blk device.
 *
 * @example
 * ```ts
 * const blk: BlkDeviceConfig = { kind: "blk", backend: { type: "file", path: "root.img" } };
 * ```
 */
export interface BlkDeviceConfig extends DeviceConfigBase {
  /** Discriminant. */
  readonly kind: "blk";
  /** Its disk. */
  readonly backend: BlkBackendSpec;
}

/**
 * The virtio-blk kind (virtio device id 2).
 *
 * @example
 * ```ts
 * blkKind.cli.drivers; // ["virtio-blk-device"]
 * ```
 */
export const blkKind: DeviceKind<BlkDeviceConfig> = {
  kind: "blk",
  virtioId: 2,
  qemuType: "virtio-blk-device",
  qemuVhostUserType: "vhost-user-blk",
  cli: {
    drivers: ["virtio-blk-device"],
    help: [["-device", "virtio-blk-device,drive=ID[,id=ID]", "a virtio block device on a drive"]],
    backendFlag: { flag: "drive", driver: "virtio-blk-device" },
    parse(_driver, p) {
      const m = p.keys(["drive", "id"]);
      const drive = p.need(m, "drive");
      p.claim("drive", drive);
      p.push({ kind: "blk", backend: drive, ...p.optId(m) });
    },
    config(d, host) {
      const img = host.drive(d.backend as string);
      // QEMU opens and locks the image itself; the KVM engine's I/O thread uses the locked fd.
      if (img.fd === undefined) return { kind: "blk", backend: { type: "file", path: img.file, readOnly: img.readOnly } };
      return { kind: "blk", backend: { type: "fd", fd: img.fd, size: img.size ?? 0, readOnly: img.readOnly, id: d.backend as string } };
    },
  },
  ioSetup: (config) => ({ kind: "blk", backend: config.backend }),
  model: (setup: IoDeviceSetup, io) => blkModel(setup.backend as BlkBackendSpec, io.closers),
  qemu(config, q) {
    const b = config?.backend;
    if (!b) throw q.unsupported("a blk device needs a backend");
    if (b.type === "file") {
      q.push("-drive", `id=${q.id}-drive,file=${q.qv(b.path)},format=raw,if=none${b.readOnly ? ",readonly=on" : ""}`);
      q.push("-device", `virtio-blk-device,drive=${q.id}-drive,${q.bus},id=${q.id}`);
    } else q.vhostUser("vhost-user-blk"); // a RAM disk, an fd, a JS module: our BlkDevice
  },
  vhostUserModel: (config, closers) => blkModel(config.backend, closers),
};

/** Our BlkDevice on its backend, on either engine. */
async function blkModel(backend: BlkBackendSpec, closers: (() => void)[]): Promise<VirtioDevice> {
  const [{ BlkDevice }, { blockBackend }] = await Promise.all([import("@microvm/virtio-mmio"), import("../node/device-backends.js")]);
  return new BlkDevice(await blockBackend(backend, closers));
}
