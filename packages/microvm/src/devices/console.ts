/**
 * The virtio console device kind: its configuration, `-device virtio-serial-device` with its one
 * `virtconsole` port on a chardev, its model on the KVM engine's I/O thread (output to a ring or an
 * fd, input from {@link Machine.consoleInput} or a watched fd), and QEMU's virtconsole on a socket
 * chardev the QEMU engine serves.
 */
import { readSync, writeSync } from "node:fs";
import type { IoContext } from "@microvm/kvm";
import type { ByteSink, ByteStreamBackend, VirtioDevice } from "@microvm/virtio-mmio";
import type { DeviceConfigBase, DeviceKind, IoDeviceContext, IoDeviceSetup, ModuleBackendSpec } from "./kind.js";

/**
 * A console backend.
 *
 * @example
 * ```ts
 * const out: ConsoleBackendSpec = { type: "stream" };
 * ```
 */
export type ConsoleBackendSpec =
  | {
      /** Output to the machine's console stream (a shared ring), input from {@link Machine.consoleInput}. */
      readonly type: "stream";
    }
  | {
      /** Output written straight to a file descriptor (e.g. 1 for stdout). */
      readonly type: "fd";
      /** The fd. */
      readonly fd: number;
      /**
       * Optional input: an fd the I/O thread watches (a pty master, stdin); bytes read go to the
       * guest's receive queue. Added for the CLI's `-chardev pty|stdio`. An fd that epoll cannot
       * watch (a regular file, /dev/null) gives no input; end of file stops the watch.
       */
      readonly inputFd?: number;
    }
  | ModuleBackendSpec;

/**
 * A virtio console.
 *
 * @example
 * ```ts
 * const con: ConsoleDeviceConfig = { kind: "console", backend: { type: "fd", fd: 1 } };
 * ```
 */
export interface ConsoleDeviceConfig extends DeviceConfigBase {
  /** Discriminant. */
  readonly kind: "console";
  /** Where its output goes; default the machine's console stream. */
  readonly backend?: ConsoleBackendSpec;
}

/**
 * The virtio console kind (virtio device id 3).
 *
 * @example
 * ```ts
 * consoleKind.cli.drivers; // ["virtio-serial-device", "virtconsole"]
 * ```
 */
export const consoleKind: DeviceKind<ConsoleDeviceConfig> = {
  kind: "console",
  virtioId: 3,
  qemuType: "virtio-serial-device",
  cli: {
    drivers: ["virtio-serial-device", "virtconsole"],
    help: [
      ["-device", "virtio-serial-device[,id=ID]", "a virtio console device (one port)"],
      ["-device", "virtconsole,chardev=ID", "the console port of the last virtio-serial-device, on a chardev"],
    ],
    backendFlag: { flag: "chardev", driver: "virtconsole", optional: true },
    parse(driver, p) {
      if (driver === "virtio-serial-device") {
        p.push({ kind: "console", ...p.optId(p.keys(["id"])) });
        return;
      }
      const chardev = p.need(p.keys(["chardev"]), "chardev");
      // The port goes on the last virtio-serial-device (QEMU: the most recent virtio-serial bus).
      let bus = -1;
      for (let i = p.devices.length - 1; i >= 0; i--) {
        if (p.devices[i]?.kind === "console") {
          bus = i;
          break;
        }
      }
      if (bus < 0) throw p.bad(`${p.flag}: no virtio-serial-device before it (add -device virtio-serial-device first)`);
      const busDev = p.devices[bus] as { kind: "console"; id?: string; backend?: string };
      if (busDev.backend !== undefined) throw p.bad(`${p.flag}: the virtio-serial-device already has a virtconsole (one port per device)`);
      p.claim("chardev", chardev, "a virtconsole");
      p.devices[bus] = { ...busDev, backend: chardev };
    },
    config(d, host) {
      const c = host.chardev(d.backend);
      // A virtio-serial-device without a port: the guest sees the console; its output goes nowhere.
      if (!c) return { kind: "console", backend: { type: "fd", fd: host.nullFd() } };
      return { kind: "console", backend: { type: "fd", fd: c.out, ...(c.input !== undefined ? { inputFd: c.input } : {}) } };
    },
  },
  ioSetup(config, host) {
    const backend = config.backend ?? { type: "stream" };
    return { kind: "console", backend, ...(backend.type === "stream" ? { ring: host.consoleRing() } : {}) };
  },
  model: consoleModel,
  qemu(config, q) {
    // Every backend (a stream, an fd, a JS module) is served by this process on a socket chardev.
    q.push("-chardev", `socket,id=${q.id}-chr,fd=${q.channel()}`);
    q.push("-device", `virtio-serial-device,${q.bus},id=${q.id}`, "-device", `virtconsole,chardev=${q.id}-chr,bus=${q.id}.0`);
  },
};

/** Console output: to a ring the main thread reads, or straight to an fd; input from messages. */
class StreamConsole implements ByteStreamBackend {
  private sink: ByteSink | undefined;
  private readonly pending: Uint8Array[] = [];
  constructor(private readonly out: (b: Uint8Array) => void) {}
  write(bytes: Uint8Array): void {
    this.out(bytes);
  }
  attach(sink: ByteSink): void {
    this.sink = sink;
  }
  rxReady(): void {
    while (this.pending.length > 0 && this.sink) {
      const head = this.pending[0] as Uint8Array;
      const n = this.sink.receive(head);
      if (n >= head.length) this.pending.shift();
      else {
        this.pending[0] = head.subarray(n);
        return;
      }
    }
  }
  input(bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.rxReady();
  }
}

/**
 * Input of an `fd` console from `inputFd` (the CLI's pty or stdin): read when epoll says so and
 * handed to the guest. A fd epoll refuses (a regular file) gives no input; EOF ends the watch.
 */
function watchConsoleInput(ctx: IoContext, fd: number, console: StreamConsole): void {
  const buf = new Uint8Array(4096);
  try {
    ctx.watch(fd, () => {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return;
        n = 0; // EIO (a pty whose other side went away) and the like end the input
      }
      if (n <= 0) ctx.unwatch(fd);
      else console.input(buf.slice(0, n));
    });
  } catch {
    // not pollable: no input
  }
}

/** The KVM engine's ConsoleDevice on its backend. */
async function consoleModel(setup: IoDeviceSetup, io: IoDeviceContext): Promise<VirtioDevice> {
  const { ConsoleDevice } = await import("@microvm/virtio-mmio");
  const backend = setup.backend as ConsoleBackendSpec;
  if (backend.type === "module") {
    const { moduleBackend } = await import("../node/device-backends.js");
    return new ConsoleDevice((await moduleBackend(backend)) as ByteStreamBackend);
  }
  let out: (b: Uint8Array) => void;
  if (backend.type === "fd") {
    const fd = backend.fd;
    out = (b) => {
      try {
        writeSync(fd, b);
      } catch {
        // A closed or full output drops the bytes; the guest never stalls on its console.
      }
    };
  } else {
    const { RingWriter } = await import("../ring.js");
    const ring = new RingWriter(setup.ring as SharedArrayBuffer);
    out = (b) => void ring.write(b);
  }
  const stream = new StreamConsole(out);
  io.onInput((bytes) => stream.input(bytes));
  if (backend.type === "fd" && backend.inputFd !== undefined) watchConsoleInput(io.ctx, backend.inputFd, stream);
  return new ConsoleDevice(stream);
}
