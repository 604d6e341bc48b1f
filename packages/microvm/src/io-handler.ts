/**
 * The board's I/O-thread module, loaded by `@microvm/kvm` on the I/O thread: it owns the virtio
 * transports and their devices and backends. It serves queue notifications from ioeventfds,
 * register accesses forwarded by vCPU threads through the MMIO mailbox, and sends interrupts
 * through irqfds. Nothing here waits on a timer or polls.
 */
import type { IoContext, IoHandlerFactory } from "@microvm/kvm";
import { DeviceMailbox, EventFd } from "@microvm/kvm";
import { GuestMemory, MmioTransport, type VirtioDevice } from "@microvm/virtio-mmio";
import { deviceKind } from "./devices/index.js";
import { COUNTER, type IoHandlerData, type TransportSetup } from "./protocol.js";

/** A transport's device model, built by its kind (devices/). */
async function makeDevice(t: TransportSetup, closers: (() => void)[], inputs: Map<number, (bytes: Uint8Array) => void>, ctx: IoContext): Promise<VirtioDevice> {
  return deviceKind(t.device.kind).model(t.device, { ctx, closers, onInput: (f) => void inputs.set(t.index, f) });
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
  const inputs = new Map<number, (bytes: Uint8Array) => void>();

  for (const t of data.transports) {
    const device = await makeDevice(t, closers, inputs, ctx);
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

  // Register accesses forwarded by vCPU threads, by address (a transport with no device is
  // answered on the vCPU threads and never forwarded; anything else reads as zero).
  const windows = data.transports.map((t) => ({ base: t.base, end: t.base + t.size, transport: transports.get(t.index) as MmioTransport }));
  const stopMailbox = DeviceMailbox.serve(ctx, data.mailbox, (req) => {
    Atomics.add(counters, COUNTER.forwarded, 1);
    const w = windows.find((x) => req.address >= x.base && req.address < x.end);
    if (!w) return 0;
    const offset = Number(req.address - w.base);
    if (req.op === 1) w.transport.write(offset, req.size, Number(req.value & 0xffffffffn));
    else return w.transport.read(offset, req.size);
    return 0;
  });

  return {
    onMessage(message: unknown) {
      const m = message as { type: "console-input"; transport: number; bytes: Uint8Array };
      if (m.type === "console-input") inputs.get(m.transport)?.(m.bytes);
    },
    close() {
      stopMailbox();
      for (const c of closers) c();
    },
  };
};
