/**
 * The board's vCPU-thread module, loaded by `@microvm/kvm` on every vCPU's own thread. It serves
 * port and MMIO exits right there: the legacy UART (its state is shared by all vCPU threads), the
 * 0x64 reset port, the ACPI GED's registers (with ACPI), the named no-op vapic port, unclaimed accesses (all-ones reads, dropped writes,
 * counted), and forwards virtio-mmio register accesses to the I/O thread through the mailbox.
 */
import { writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { VcpuHandlerFactory } from "@microvm/kvm";
import { DeviceMailbox, EventFd, isKvmError } from "@microvm/kvm";
import { MMIO_MAGIC, MmioReg } from "@microvm/virtio-mmio";
import { GED } from "./layout.js";
import type { RegionHandler, RegionHandlerFactory } from "./plan.js";
import { COUNTER, type VcpuHandlerData } from "./protocol.js";
import { RingWriter } from "./ring.js";
import { Uart16550 } from "./uart16550.js";

// Module-local copies of the register offsets (loaders may turn imported constants into getters
// on the exit path).
const REG = { magic: MmioReg.MagicValue, version: MmioReg.Version, isr: MmioReg.InterruptStatus, ack: MmioReg.InterruptAck } as const;

/**
 * The vCPU handler factory (the named export `@microvm/kvm` looks for).
 *
 * @param ctx - the vCPU thread context
 * @returns the handler
 * @example
 * ```ts
 * await vm.startVcpu(vcpu, { handler: vcpuHandlerModule(), data });
 * ```
 */
export const createVcpuHandler: VcpuHandlerFactory = async (ctx) => {
  const data = ctx.data as VcpuHandlerData;
  // Custom regions' device models, loaded on this thread.
  const custom: { space: "memory" | "io"; base: bigint; end: bigint; handler: RegionHandler }[] = [];
  for (const c of data.custom) {
    const url = c.module.startsWith("file:") ? c.module : pathToFileURL(c.module).href;
    const mod = (await import(url)) as { createRegionHandler?: RegionHandlerFactory };
    if (typeof mod.createRegionHandler !== "function") throw new Error(`${c.module}: no named export createRegionHandler`);
    const handler = await mod.createRegionHandler({ name: c.name, space: c.space, base: c.base, size: c.size, vcpu: data.index, options: c.options });
    custom.push({ space: c.space, base: c.base, end: c.base + BigInt(c.size), handler });
  }
  const customIo = custom.filter((c) => c.space === "io");
  const customMmio = custom.filter((c) => c.space === "memory");
  const counters = new Int32Array(data.counters);
  const mailbox = DeviceMailbox.attach(data.mailbox, data.index);
  const isr = new Int32Array(data.isr);

  let uart: Uart16550 | undefined;
  const fdOutput = new FdOutput();
  if (data.uart) {
    const u = data.uart;
    const ring = u.ring ? new RingWriter(u.ring) : undefined;
    const irq = EventFd.fromFd(u.irqFd);
    const out = u.fd;
    uart = new Uart16550(u.state, {
      output: ring
        ? (b) => void ring.write(b)
        : (b) => {
            if (out !== undefined) fdOutput.write(out, b);
          },
      // ISA IRQ 4 is edge-triggered (MP spec: ISA conforms to edge, active high): a rising level
      // is delivered as an edge through the irqfd, which is what KVM_IRQ_LINE 1-then-0 gives.
      irq: (level) => {
        if (level) irq.signal();
      },
    });
  }
  const uartBase = data.uart?.base ?? -1;
  const gedEvents = data.ged ? new Int32Array(data.ged.events) : undefined;
  const gedBase = data.ged?.base ?? -1n;
  const gedRegs = gedBase + GED.regsOffset;

  /** The GED's registers (ACPI 6.4 §4.8.3.7 for the sleep control value). */
  function ged(offset: number, isWrite: boolean, value: number): number | undefined {
    if (offset < GED.eventSize) {
      // The event register: a read takes the pending events (the guest's _EVT reads it once per interrupt).
      if (isWrite || !gedEvents) return undefined;
      return offset === 0 ? Atomics.exchange(gedEvents, 0, 0) >>> 0 : 0;
    }
    const reg = offset - Number(GED.regsOffset);
    if (!isWrite) return 0; // sleep control and status read as zero: the machine never wakes from a sleep state
    if (reg === GED.sleepControl && (value & GED.sleepEnable) !== 0 && ((value >> 2) & 7) === GED.s5SleepType) ctx.stop("poweroff");
    else if (reg === GED.reset && (value & 0xff) === GED.resetValue) ctx.stop("reset");
    return undefined;
  }

  /** A register access of a transport, answered by the I/O thread (all ones once it has gone). */
  function forward(address: bigint, width: number, isWrite: boolean, value: number): number {
    try {
      return Number(mailbox.call({ op: isWrite ? 1 : 0, address, value: BigInt(value >>> 0), size: width }) & 0xffffffffn);
    } catch (e) {
      if (isKvmError(e) && e.code === "closed") return 0xffffffff;
      throw e;
    }
  }

  return {
    io(exit) {
      const port = exit.port;
      if (uart && port >= uartBase && port < uartBase + 8) {
        const reg = port - uartBase;
        if (exit.direction === "out") {
          // `rep outsb` to the THR sends every byte; wider accesses touch consecutive registers.
          for (let i = 0; i < exit.data.length; i++) uart.write((reg + (exit.size > 1 ? i % exit.size : 0)) & 7, exit.data[i] ?? 0);
          return undefined;
        }
        if (exit.data.length === 1) return uart.read(reg);
        const answer = new Uint8Array(exit.data.length);
        for (let i = 0; i < answer.length; i++) answer[i] = uart.read((reg + (exit.size > 1 ? i % exit.size : 0)) & 7);
        return answer;
      }
      if (port === data.resetPort) {
        if (exit.direction === "out" && (exit.value & 0xff) === 0xfe) ctx.stop("reset");
        return exit.direction === "in" ? 0 : undefined; // i8042 status: nothing pending
      }
      if (port === 0x7e || port === 0x7f) return exit.direction === "in" ? 0 : undefined; // kvmvapic: named no-op
      for (const c of customIo) {
        if (BigInt(port) < c.base || BigInt(port) >= c.end) continue;
        const offset = port - Number(c.base);
        if (exit.direction === "out") c.handler.write?.(offset, exit.size, exit.value);
        else return c.handler.read ? c.handler.read(offset, exit.size) : undefined;
        return undefined;
      }
      if (exit.direction === "in") {
        Atomics.add(counters, COUNTER.unclaimedPioReads, 1);
        return undefined; // all ones
      }
      Atomics.add(counters, COUNTER.unclaimedPioWrites, 1);
      return undefined;
    },
    mmio(exit) {
      const a = exit.address;
      if (gedEvents && ((a >= gedBase && a < gedBase + BigInt(GED.eventSize)) || (a >= gedRegs && a < gedRegs + BigInt(GED.regsSize)))) {
        return ged(Number(a - gedBase), exit.isWrite, Number(exit.value & 0xffn));
      }
      for (const t of data.transports) {
        if (a < t.base || a >= t.base + t.size) continue;
        const offset = Number(a - t.base);
        if (t.index < 0) {
          // A transport with no device: magic and version answer, the rest reads as zero (as QEMU).
          if (exit.isWrite) return undefined;
          if (offset === REG.magic && exit.length === 4) return MMIO_MAGIC;
          if (offset === REG.version && exit.length === 4) return 2;
          return 0;
        }
        if (exit.length > 4) return exit.isWrite ? undefined : 0xffffffff;
        // InterruptStatus (0x60) and InterruptACK (0x64), aligned 32-bit, are served here from the
        // shared cell the transport keeps them in (virtio 1.2 §4.2.2); anything else is forwarded.
        if (exit.length === 4 && offset === REG.isr && !exit.isWrite) return Atomics.load(isr, t.index) >>> 0;
        if (exit.length === 4 && offset === REG.ack && exit.isWrite) {
          Atomics.and(isr, t.index, ~Number(exit.value & 0xffffffffn));
          return undefined;
        }
        const r = forward(a, exit.length, exit.isWrite, Number(exit.value & 0xffffffffn));
        return exit.isWrite ? undefined : r;
      }
      for (const c of customMmio) {
        if (a < c.base || a >= c.end) continue;
        const offset = Number(a - c.base);
        if (exit.isWrite) c.handler.write?.(offset, exit.length, Number(exit.value & 0xffffffffn));
        else return c.handler.read ? c.handler.read(offset, exit.length) : undefined;
        return undefined;
      }
      if (exit.isWrite) {
        Atomics.add(counters, COUNTER.unclaimedMmioWrites, 1);
        return undefined;
      }
      Atomics.add(counters, COUNTER.unclaimedMmioReads, 1);
      return undefined; // all ones
    },
  };
};

/** How long one stall of an output fd may hold the vCPU before its output is dropped instead. */
const STALL_BUDGET_MS = 2000;

/**
 * The UART's output to a file descriptor (a terminal, a pipe, a pty). A reader that is merely slow
 * holds the guest back, as a UART with flow control does (QEMU's serial waits for its chardev the
 * same way), so nothing is lost; a reader that takes nothing for {@link STALL_BUDGET_MS} is taken
 * to be absent, and the output is dropped until the fd takes bytes again, so that an unread pty
 * never blocks the guest for long.
 */
class FdOutput {
  private dropping = false;
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));

  write(fd: number, bytes: Uint8Array): void {
    let off = 0;
    let stalledSince = 0;
    while (off < bytes.length) {
      try {
        off += writeSync(fd, bytes, off);
        this.dropping = false;
        stalledSince = 0;
      } catch (e) {
        const full = (e as NodeJS.ErrnoException).code === "EAGAIN";
        const now = Date.now();
        if (full && stalledSince === 0) stalledSince = now;
        if (!full || this.dropping || now - stalledSince >= STALL_BUDGET_MS) {
          this.dropping = full;
          return; // dropped: the guest never waits long on an output nobody takes
        }
        Atomics.wait(this.nap, 0, 0, 1);
      }
    }
  }
}
