// The KVM engine's ACPI Generic Event Device, served on the vCPU threads (vcpu-handler.ts): the
// event register a guest's _EVT reads, the sleep control register a guest's power-off writes and
// the reset register. Driven here through the handler itself with synthetic MMIO exits, so it runs
// on every host (the Linux run through it needs hardware KVM: linux-acpi.test.ts). Negative
// controls: writes that are not S5 with SLP_EN, or not the reset value, end nothing; a board
// without ACPI has no GED at that address.
import { afterAll, describe, expect, it } from "vitest";
import { DeviceMailbox, type MmioExit, type VcpuContext, type VcpuHandler } from "@microvm/kvm";
import { createVcpuHandler } from "../src/vcpu-handler.js";
import { COUNTER, type VcpuHandlerData } from "../src/protocol.js";
import { GED, MICROVM_LAYOUT } from "../src/index.js";

const mailbox = DeviceMailbox.create();
afterAll(() => mailbox.close());

async function handler(withGed: boolean): Promise<{ h: VcpuHandler; stops: string[]; events: Int32Array; counters: Int32Array }> {
  const events = new Int32Array(new SharedArrayBuffer(4));
  const counters = new Int32Array(new SharedArrayBuffer(COUNTER.count * 4));
  const data: VcpuHandlerData = {
    index: 0,
    ...(withGed ? { ged: { base: MICROVM_LAYOUT.gedBase, events: events.buffer as SharedArrayBuffer } } : {}),
    transports: [],
    isr: new SharedArrayBuffer(4),
    mailbox: mailbox.descriptor,
    counters: counters.buffer as SharedArrayBuffer,
    custom: [],
  };
  const stops: string[] = [];
  const ctx = { vcpuId: 0, data, memory: [], stop: (m?: string) => void stops.push(m ?? "") } as unknown as VcpuContext;
  return { h: await createVcpuHandler(ctx), stops, events, counters };
}

const mmio = (address: bigint, length: number, isWrite: boolean, value = 0n): MmioExit =>
  ({ kind: "mmio", address, length, isWrite, value, data: new Uint8Array(length) }) as MmioExit;
const EVENT = MICROVM_LAYOUT.gedBase;
const SLEEP = MICROVM_LAYOUT.gedBase + GED.regsOffset + BigInt(GED.sleepControl);
const RESET = MICROVM_LAYOUT.gedBase + GED.regsOffset + BigInt(GED.reset);
const S5 = BigInt((GED.s5SleepType << 2) | GED.sleepEnable); // 0x34, what Linux's acpi_hw_extended_sleep writes

describe("the KVM engine's GED registers", () => {
  it("the event register answers the pending events once: a read clears them (the _EVT handshake)", async () => {
    const { h, events } = await handler(true);
    expect(h.mmio?.(mmio(EVENT, 4, false))).toBe(0);
    Atomics.or(events, 0, GED.powerDownEvent); // what Machine.powerdown() does
    expect(h.mmio?.(mmio(EVENT, 4, false))).toBe(GED.powerDownEvent);
    expect(h.mmio?.(mmio(EVENT, 4, false))).toBe(0);
    expect(Atomics.load(events, 0)).toBe(0);
  });

  it("S5 with SLP_EN in the sleep control register powers off; the reset value in the reset register resets", async () => {
    const off = await handler(true);
    off.h.mmio?.(mmio(SLEEP, 1, true, S5));
    expect(off.stops).toEqual(["poweroff"]);
    const reset = await handler(true);
    reset.h.mmio?.(mmio(RESET, 1, true, BigInt(GED.resetValue)));
    expect(reset.stops).toEqual(["reset"]);
  });

  it("negative controls: S5 without SLP_EN, another sleep type, another reset value, the status register: nothing ends", async () => {
    const { h, stops, counters } = await handler(true);
    h.mmio?.(mmio(SLEEP, 1, true, BigInt(GED.s5SleepType << 2))); // SLP_EN clear
    h.mmio?.(mmio(SLEEP, 1, true, BigInt((3 << 2) | GED.sleepEnable))); // S3
    h.mmio?.(mmio(RESET, 1, true, 0x41n));
    h.mmio?.(mmio(SLEEP + 1n, 1, true, S5)); // the status register
    expect(stops).toEqual([]);
    expect(h.mmio?.(mmio(SLEEP + 1n, 1, false))).toBe(0); // sleep status reads as zero
    expect(Atomics.load(counters, COUNTER.unclaimedMmioWrites)).toBe(0); // all claimed by the GED
  });

  it("negative control: a board without ACPI has nothing there (unclaimed, all ones, no end)", async () => {
    const { h, stops, counters } = await handler(false);
    h.mmio?.(mmio(SLEEP, 1, true, S5));
    expect(h.mmio?.(mmio(EVENT, 4, false))).toBeUndefined();
    expect(stops).toEqual([]);
    expect(Atomics.load(counters, COUNTER.unclaimedMmioWrites)).toBe(1);
    expect(Atomics.load(counters, COUNTER.unclaimedMmioReads)).toBe(1);
  });
});
