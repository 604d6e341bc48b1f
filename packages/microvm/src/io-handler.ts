/**
 * The board's I/O-thread module, loaded by `@microvm/kvm` on the I/O thread: it owns the virtio
 * transports and their devices and backends. It serves queue notifications from ioeventfds,
 * register accesses forwarded by vCPU threads through the MMIO mailbox, and sends interrupts
 * through irqfds. Nothing here waits on a timer or polls.
 */
import { readSync, writeSync } from "node:fs";
import type { IoContext, IoHandlerFactory } from "@microvm/kvm";
import { EventFd } from "@microvm/kvm";
import {
  BlkDevice,
  ConsoleDevice,
  GuestMemory,
  MmioTransport,
  NetDevice,
  RngDevice,
  type ByteSink,
  type ByteStreamBackend,
  type VirtioDevice,
} from "@microvm/virtio-mmio";
import { parseMac } from "./arp-responder.js";
import { blockBackend, entropySource, frameBackend, moduleBackend } from "./node/device-backends.js";
import { StreamBackend } from "./node/stream-backend.js";
import { TapBackend } from "./node/tap-backend.js";
import { COUNTER, MAILBOX, type IoHandlerData, type TransportSetup } from "./protocol.js";
import { RingWriter } from "./ring.js";

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

async function makeDevice(t: TransportSetup, closers: (() => void)[], consoles: Map<number, StreamConsole>, ctx: IoContext): Promise<VirtioDevice> {
  const d = t.device;
  switch (d.kind) {
    case "blk":
      return new BlkDevice(await blockBackend(d.backend, closers));
    case "net": {
      if (d.backend.type === "tap") {
        const fd = d.backend.fd;
        const tap: TapBackend = new TapBackend(fd, (on) => (on ? ctx.watch(fd, () => tap.readable()) : ctx.unwatch(fd)));
        closers.push(() => ctx.unwatch(fd));
        return new NetDevice(tap, d.mac ? { mac: parseMac(d.mac) } : {});
      }
      if (d.backend.type === "stream") {
        const fd = d.backend.fd;
        const net: StreamBackend = new StreamBackend(fd, (w) => {
          ctx.unwatch(fd);
          if (w.readable || w.writable) ctx.watch(fd, (ev) => net.ready(ev), w);
        });
        closers.push(() => ctx.unwatch(fd));
        return new NetDevice(net, d.mac ? { mac: parseMac(d.mac) } : {});
      }
      // kvm-machine.ts turns `user` into passt on a `stream` socket before the I/O thread starts.
      if (d.backend.type === "user") throw new Error("net backend user: expected a stream socket to passt");
      return new NetDevice(await frameBackend(d.backend), d.mac ? { mac: parseMac(d.mac) } : {});
    }
    case "console": {
      if (d.backend.type === "module") return new ConsoleDevice((await moduleBackend(d.backend)) as ByteStreamBackend);
      let out: (b: Uint8Array) => void;
      if (d.backend.type === "fd") {
        const fd = d.backend.fd;
        out = (b) => {
          try {
            writeSync(fd, b);
          } catch {
            // A closed or full output drops the bytes; the guest never stalls on its console.
          }
        };
      } else {
        const ring = new RingWriter(d.ring as SharedArrayBuffer);
        out = (b) => void ring.write(b);
      }
      const backend = new StreamConsole(out);
      consoles.set(t.index, backend);
      if (d.backend.type === "fd" && d.backend.inputFd !== undefined) watchConsoleInput(ctx, d.backend.inputFd, backend);
      return new ConsoleDevice(backend);
    }
    case "rng":
      return new RngDevice({ source: await entropySource(d.backend) });
  }
}

/**
 * The I/O handler factory (the named export `@microvm/kvm` looks for).
 *
 * @param ctx - the I/O thread context
 * @returns the handler
 * @example
 * ```ts
 * await vm.startIoThread({ handler: ioHandlerModule(), data });
 * ```
 */
export const createIoHandler: IoHandlerFactory = async (ctx) => {
  const data = ctx.data as IoHandlerData;
  const counters = new Int32Array(data.counters);
  const memory = new GuestMemory(ctx.memory.map((r) => ({ guestAddress: r.guestAddress, bytes: r.bytes })));
  const transports = new Map<number, MmioTransport>();
  const closers: (() => void)[] = [];
  const consoles = new Map<number, StreamConsole>();

  for (const t of data.transports) {
    const device = await makeDevice(t, closers, consoles, ctx);
    const irq = EventFd.fromFd(t.irqFd);
    const transport = new MmioTransport({
      memory,
      device,
      version: t.version,
      // InterruptStatus lives in shared memory: vCPU threads serve its reads and acknowledgements
      // (one of each per interrupt) without a round trip to this thread.
      interruptStatus: new Int32Array(data.isr, t.index * 4, 1),
      interrupt: () => {
        Atomics.add(counters, COUNTER.interrupts, 1);
        irq.signal();
      },
      onHostile: () => void Atomics.add(counters, COUNTER.hostile, 1),
    });
    transports.set(t.index, transport);
    const queues = device.queueMaxSizes.length;
    // One ioeventfd per transport, on any write to QueueNotify: a notification is served by
    // looking at every queue of the device, which costs little and is always correct.
    ctx.watch(
      t.notifyFd,
      () => {
        Atomics.add(counters, COUNTER.notifications, 1);
        for (let q = 0; q < queues; q++) transport.notify(q);
      },
      { eventfd: true },
    );
  }

  // Register accesses forwarded by vCPU threads.
  const box = new Int32Array(data.mailbox);
  const slots = box.length / MAILBOX.slotInts;
  ctx.watch(
    data.mailboxFd,
    () => {
      for (let s = 0; s < slots; s++) {
        const b = s * MAILBOX.slotInts;
        if (Atomics.load(box, b + MAILBOX.state) !== 1) continue;
        const transport = transports.get(box[b + MAILBOX.transport] ?? -1);
        const offset = box[b + MAILBOX.offset] ?? 0;
        const width = box[b + MAILBOX.width] ?? 0;
        let result = 0;
        if (transport) {
          if (box[b + MAILBOX.isWrite]) transport.write(offset, width, (box[b + MAILBOX.value] ?? 0) >>> 0);
          else result = transport.read(offset, width);
        } else if (!box[b + MAILBOX.isWrite]) {
          // A transport with no device: reads as zeros (MagicValue 0 tells Linux nothing is there).
          result = 0;
        }
        Atomics.add(counters, COUNTER.forwarded, 1);
        box[b + MAILBOX.result] = result | 0;
        Atomics.store(box, b + MAILBOX.state, 2);
        Atomics.notify(box, b + MAILBOX.state);
      }
    },
    { eventfd: true },
  );
  Atomics.store(counters, COUNTER.ioAlive, 1);

  return {
    onMessage(message: unknown) {
      const m = message as { type: "console-input"; transport: number; bytes: Uint8Array };
      if (m.type === "console-input") consoles.get(m.transport)?.input(m.bytes);
    },
    close() {
      Atomics.store(counters, COUNTER.ioAlive, 0);
      for (const c of closers) c();
    },
  };
};
