/**
 * The virtio-net device kind: its configuration and backends (tap, user networking through passt,
 * a frame stream, the ARP responder, a JS module), `-device virtio-net-device,netdev=…`, its model
 * on the KVM engine's I/O thread, and QEMU's virtio-net on the matching `-netdev` on the QEMU
 * engine (our frame backends reach it over `-netdev stream`).
 */
import type { VirtioDevice } from "@microvm/virtio-mmio";
import type { HostForward } from "../host-forward.js";
import type { DeviceConfigBase, DeviceKind, IoDeviceContext, IoDeviceSetup, ModuleBackendSpec } from "./kind.js";

/**
 * A net backend.
 *
 * @example
 * ```ts
 * const peer: NetBackendSpec = { type: "arp-responder" };
 * ```
 */
export type NetBackendSpec =
  | {
      /** The in-process {@link ArpResponder}: answers ARP for `ips` (default 10.0.2.2). */
      readonly type: "arp-responder";
      /** Addresses it answers for. */
      readonly ips?: readonly string[];
      /** Its MAC. */
      readonly mac?: string;
    }
  | {
      /**
       * A tap device opened on the main thread (node/tap.ts: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
       * 12-byte header, no offloads), read on the I/O thread when epoll says it is readable.
       * Added for the CLI's `-netdev tap`.
       */
      readonly type: "tap";
      /** The tap's fd (non-blocking). */
      readonly fd: number;
    }
  | {
      /**
       * User-mode networking without root: the machine starts passt (Debian package `passt`) for
       * the device and stops it when the machine ends. The guest gets an address, a gateway and DNS
       * by DHCP; connections to the gateway reach the host's loopback; `hostfwd` forwards host
       * ports into the guest. On the QEMU engine without passt, QEMU's own `-netdev user` (slirp:
       * guest 10.0.2.15, gateway 10.0.2.2) takes its place, said in one line; the KVM engine needs
       * passt. See docs/networking.md.
       */
      readonly type: "user";
      /**
       * Who serves it: `passt` (default; on the QEMU engine QEMU's slirp where passt is missing) or
       * `slirp` (QEMU's own user network, QEMU engine only: guest 10.0.2.15, gateway 10.0.2.2 with
       * MAC 52:55:0a:00:02:02).
       */
      readonly provider?: "passt" | "slirp";
      /** Host ports forwarded into the guest. */
      readonly hostfwd?: readonly HostForward[];
      /** The passt program (default `passt` on PATH). */
      readonly passt?: string;
    }
  | {
      /**
       * A connected stream socket (non-blocking) to a peer that speaks the length-prefixed frame
       * stream of QEMU's `-netdev stream` and passt (each frame after its 4-byte big-endian
       * length), e.g. a passt started by the caller with `--fd`. The machine uses it and does not
       * close it.
       */
      readonly type: "stream";
      /** The socket's fd. */
      readonly fd: number;
    }
  | ModuleBackendSpec;

/**
 * A virtio-net device.
 *
 * @example
 * ```ts
 * const net: NetDeviceConfig = { kind: "net", backend: { type: "arp-responder", ips: ["10.0.2.2"] } };
 * ```
 */
export interface NetDeviceConfig extends DeviceConfigBase {
  /** Discriminant. */
  readonly kind: "net";
  /** Its peer; default the in-process ARP responder. */
  readonly backend?: NetBackendSpec;
}

/**
 * The virtio-net kind (virtio device id 1).
 *
 * @example
 * ```ts
 * netKind.cli.drivers; // ["virtio-net-device"]
 * ```
 */
export const netKind: DeviceKind<NetDeviceConfig> = {
  kind: "net",
  virtioId: 1,
  qemuType: "virtio-net-device",
  cli: {
    drivers: ["virtio-net-device"],
    help: [["-device", "virtio-net-device,netdev=ID[,id=ID]", "a virtio network device on a netdev"]],
    backendFlag: { flag: "netdev", driver: "virtio-net-device" },
    parse(_driver, p) {
      const m = p.keys(["netdev", "id"]);
      const netdev = p.need(m, "netdev");
      p.claim("netdev", netdev);
      p.push({ kind: "net", backend: netdev, ...p.optId(m) });
    },
    config(d, host) {
      const n = host.netdev(d.backend as string);
      return { kind: "net", backend: n.type === "user" ? { type: "user", hostfwd: n.hostfwd } : { type: "tap", fd: n.fd } };
    },
  },
  ioSetup: (config, host) => ({
    kind: "net",
    // The engine has started passt for a `user` device; the I/O thread sees its socket.
    backend: config.backend?.type === "user" ? { type: "stream", fd: host.userStream() } : (config.backend ?? { type: "arp-responder" }),
    ...(config.mac ? { mac: config.mac } : {}),
  }),
  model: netModel,
  qemu(config, q) {
    const b = config?.backend;
    if (b?.type === "user" && (b.provider === "slirp" || q.userNet === "slirp")) {
      // QEMU's hostfwd syntax (net/slirp.c slirp_hostfwd): [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport.
      const fwd = (b.hostfwd ?? []).map((f) => `,hostfwd=${f.protocol}:${f.hostAddress ?? ""}:${f.hostPort}-:${f.guestPort}`);
      q.push("-netdev", `user,id=${q.id}-net${fwd.join("")}`);
    } else if (b?.type === "user") {
      q.push("-netdev", `stream,id=${q.id}-net,server=off,addr.type=fd,addr.str=${q.passtStream()}`);
    } else if (b?.type === "stream") {
      q.push("-netdev", `stream,id=${q.id}-net,server=off,addr.type=fd,addr.str=${q.inherit(b.fd, `device ${q.id}'s stream socket`)}`);
    } else if (b?.type === "tap") {
      q.push("-netdev", `tap,id=${q.id}-net,fd=${q.inherit(b.fd, `device ${q.id}'s tap`)},vhost=off`);
    } else {
      // Our frame backend (the ARP responder, a JS module), in this process, on a stream socket
      // QEMU connects to (-netdev stream, QEMU 7.2).
      q.push("-netdev", `stream,id=${q.id}-net,server=off,addr.type=unix,addr.path=${q.qv(q.socket("net-stream", `net-${q.id}.sock`))}`);
    }
    q.push("-device", `virtio-net-device,netdev=${q.id}-net,${q.bus},id=${q.id}${config?.mac ? `,mac=${config.mac}` : ""}`);
  },
  async qemuFrames(config) {
    const { frameBackend } = await import("../node/device-backends.js");
    return frameBackend(config.backend as Parameters<typeof frameBackend>[0]);
  },
};

/** The KVM engine's NetDevice, its backend read when epoll says so. */
async function netModel(setup: IoDeviceSetup, io: IoDeviceContext): Promise<VirtioDevice> {
  const [{ NetDevice }, { parseMac }] = await Promise.all([import("@microvm/virtio-mmio"), import("../arp-responder.js")]);
  const backend = setup.backend as NetBackendSpec;
  const options = typeof setup.mac === "string" ? { mac: parseMac(setup.mac) } : {};
  const { ctx, closers } = io;
  if (backend.type === "tap") {
    const { TapBackend } = await import("../node/tap-backend.js");
    const fd = backend.fd;
    const tap: InstanceType<typeof TapBackend> = new TapBackend(fd, (on) => (on ? ctx.watch(fd, () => tap.readable()) : ctx.unwatch(fd)));
    closers.push(() => ctx.unwatch(fd));
    return new NetDevice(tap, options);
  }
  if (backend.type === "stream") {
    const { StreamBackend } = await import("../node/stream-backend.js");
    const fd = backend.fd;
    const net: InstanceType<typeof StreamBackend> = new StreamBackend(fd, (w) => {
      ctx.unwatch(fd);
      if (w.readable || w.writable) ctx.watch(fd, (ev) => net.ready(ev), w);
    });
    closers.push(() => ctx.unwatch(fd));
    return new NetDevice(net, options);
  }
  // The engine turns `user` into passt on a `stream` socket before the I/O thread starts.
  if (backend.type === "user") throw new Error("net backend user: expected a stream socket to passt");
  const { frameBackend } = await import("../node/device-backends.js");
  return new NetDevice(await frameBackend(backend), options);
}
