import { describe, expect, it } from "vitest";
import {
  MptableError,
  decodeMpTable,
  encodeMpTable,
  encodeMpTableInto,
  identityIrqRouting,
  isMptableError,
  mpTableSize,
  resolveMpTableConfig,
  type MpTableConfig,
} from "../src/index.js";
import { codeOf, sum8 } from "./helpers.js";


/** Size by the MP spec's own arithmetic: pointer 16, header 44, CPU 20, bus/IOAPIC/IRQ/LINT 8 each. */
const specSize = (cpus: number, irqs = 16): number => 16 + 44 + 20 * cpus + 8 + 8 + 8 * irqs + 8 * 2;

describe("encodeMpTable: the default two-CPU board", () => {
  const bytes = encodeMpTable({ address: 0x9fc00, cpus: 2 });
  const v = new DataView(bytes.buffer);

  it("has the size the spec arithmetic gives", () => {
    expect(bytes.length).toBe(specSize(2));
    expect(mpTableSize({ address: 0x9fc00, cpus: 2 })).toBe(specSize(2));
  });

  it("starts with a valid floating pointer pointing right after itself", () => {
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe("_MP_");
    expect(v.getUint32(4, true)).toBe(0x9fc10);
    expect(bytes[8]).toBe(1);
    expect(bytes[9]).toBe(4);
    expect(sum8(bytes, 0, 16)).toBe(0);
    expect([...bytes.subarray(11, 16)]).toEqual([0, 0, 0, 0, 0]);
  });

  it("has a PCMP header with a correct length, checksum and entry count", () => {
    expect(String.fromCharCode(...bytes.subarray(16, 20))).toBe("PCMP");
    expect(v.getUint16(20, true)).toBe(specSize(2) - 16);
    expect(sum8(bytes, 16, bytes.length)).toBe(0);
    // 2 CPUs + 1 bus + 1 IOAPIC + 16 IRQs + 2 LINTs; Firecracker would write one more.
    expect(v.getUint16(16 + 34, true)).toBe(22);
    expect(v.getUint32(16 + 36, true)).toBe(0xfee00000);
    expect(String.fromCharCode(...bytes.subarray(24, 32))).toBe("MICROVM ");
  });

  it("describes the defaults the board relies on", () => {
    const t = decodeMpTable(bytes, 0x9fc00);
    expect(t.processors).toEqual([
      { apicId: 0, apicVersion: 0x14, enabled: true, bootstrap: true, signature: 0x600, featureFlags: 0x201 },
      { apicId: 1, apicVersion: 0x14, enabled: true, bootstrap: false, signature: 0x600, featureFlags: 0x201 },
    ]);
    expect(t.ioApics).toEqual([{ id: 2, version: 0x11, usable: true, address: 0xfec00000 }]);
    expect(t.buses).toEqual([{ id: 0, type: "ISA" }]);
    // IRQ n -> INTIN n, no IRQ0 override: KVM's default GSI routing.
    expect(t.ioInterrupts.map((e) => [e.sourceIrq, e.destPin, e.destApic])).toEqual(
      Array.from({ length: 16 }, (_, i) => [i, i, 2]),
    );
    expect(t.localInterrupts).toEqual([
      { type: "ExtINT", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0, destLint: 0 },
      { type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0xff, destLint: 1 },
    ]);
  });
});

describe("encodeMpTable options", () => {
  it("takes explicit processors with their APIC ids and puts the IOAPIC after the highest", () => {
    const t = decodeMpTable(encodeMpTable({ address: 0xf0000, cpus: [{ apicId: 4 }, { apicId: 9 }] }), 0xf0000);
    expect(t.processors.map((p) => [p.apicId, p.bootstrap])).toEqual([[4, true], [9, false]]);
    expect(t.ioApics[0]?.id).toBe(10);
    expect(t.localInterrupts[0]?.destApic).toBe(4); // ExtINT goes to the BSP
  });

  it("honours an explicit bootstrap processor that is not the first", () => {
    const t = resolveMpTableConfig({ address: 0, cpus: [{ apicId: 0 }, { apicId: 1, bootstrap: true }] });
    expect(t.processors.map((p) => p.bootstrap)).toEqual([false, true]);
  });

  it("writes qboot's IRQ0 override when asked", () => {
    const ioInterrupts = identityIrqRouting({ ioApicId: 2, irq0Override: true });
    expect(ioInterrupts.length).toBe(15);
    const t = decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: 1, ioApic: { id: 2 }, ioInterrupts }), 0x9fc00);
    expect(t.ioInterrupts[0]).toMatchObject({ sourceIrq: 0, destPin: 2 });
    expect(t.ioInterrupts.some((e) => e.sourceIrq === 2)).toBe(false);
  });

  it("writes Firecracker's 24 identity routes when asked", () => {
    const t = decodeMpTable(
      encodeMpTable({ address: 0x9fc00, cpus: 1, ioInterrupts: identityIrqRouting({ ioApicId: 1, irqs: 24 }) }),
      0x9fc00,
    );
    expect(t.ioInterrupts.map((e) => e.destPin)).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it("encodes into a larger buffer at an offset without touching the rest", () => {
    const out = new Uint8Array(2048).fill(0xaa);
    const n = encodeMpTableInto({ address: 0x9fc00, cpus: 2 }, out, 512);
    expect(n).toBe(specSize(2));
    expect(out[511]).toBe(0xaa);
    expect(out[512 + n]).toBe(0xaa);
    expect(out.subarray(512, 512 + n)).toEqual(encodeMpTable({ address: 0x9fc00, cpus: 2 }));
    expect(codeOf(() => encodeMpTableInto({ address: 0x9fc00, cpus: 2 }, new Uint8Array(100), 0))).toBe("out-of-range");
  });

  it("writes a CPU count exactly as the same processors listed one by one, for every count", () => {
    // The encoder writes `cpus: n` from the count (one entry copied n times, ids patched); a list
    // takes the general path. Both must give the same bytes and checksums, 1..254.
    for (let n = 1; n <= 254; n++) {
      const address = n > 37 ? 0xf0000 : 0x9fc00;
      const counted = encodeMpTable({ address, cpus: n });
      const listed = encodeMpTable({ address, processors: resolveMpTableConfig({ address, cpus: n }).processors });
      expect(counted, `${n} CPUs`).toEqual(listed);
      expect(sum8(counted, 16, counted.length)).toBe(0);
      expect(decodeMpTable(counted, address).processors.map((p) => p.apicId)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it("sets the IMCR bit and spec revision 1 when asked", () => {
    const b = encodeMpTable({ address: 0x9fc00, cpus: 1, imcrPresent: true, specRevision: 1 });
    expect(b[12]).toBe(0x80);
    expect(b[9]).toBe(1);
    expect(b[16 + 6]).toBe(1);
  });
});

// The boundary table the issue asks for: each row is the config, and the error code expected
// (or "no error").
const ok = "no error";
const last1Cpu = 0x100000 - specSize(1); // the last address at which a 1-CPU table ends at 1 MiB
const boundary: [string, MpTableConfig, string][] = [
  ["1 CPU", { address: 0x9fc00, cpus: 1 }, ok],
  ["254 CPUs", { address: 0xf0000, cpus: 254 }, ok],
  ["0 CPUs", { address: 0x9fc00, cpus: 0 }, "no-cpus"],
  ["255 CPUs", { address: 0xf0000, cpus: 255 }, "too-many-cpus"],
  ["an empty processor list", { address: 0x9fc00, cpus: [] }, "no-cpus"],
  ["1.5 CPUs", { address: 0x9fc00, cpus: 1.5 }, "invalid-argument"],
  ["OEM id of 8 characters", { address: 0x9fc00, cpus: 1, oemId: "ABCDEFGH" }, ok],
  ["OEM id of 9 characters", { address: 0x9fc00, cpus: 1, oemId: "ABCDEFGHI" }, "bad-string"],
  ["OEM id not ASCII", { address: 0x9fc00, cpus: 1, oemId: "MICRÖVM" }, "bad-string"],
  ["product id of 12 characters", { address: 0x9fc00, cpus: 1, productId: "ABCDEFGHIJKL" }, ok],
  ["product id of 13 characters", { address: 0x9fc00, cpus: 1, productId: "ABCDEFGHIJKLM" }, "bad-string"],
  ["product id with a NUL", { address: 0x9fc00, cpus: 1, productId: "A\0B" }, "bad-string"],
  ["bus type of 7 characters", { address: 0x9fc00, cpus: 1, buses: [{ id: 0, type: "ISAISAI" }] }, "bad-string"],
  ["address 16-aligned", { address: 0x9fc10, cpus: 1 }, ok],
  ["address misaligned by 8", { address: 0x9fc08, cpus: 1 }, "misaligned"],
  ["the last address that ends at 1 MiB", { address: last1Cpu, cpus: 1 }, ok],
  ["16 bytes further: crosses 1 MiB", { address: last1Cpu + 16, cpus: 1 }, "above-1mib"],
  ["an address above 1 MiB", { address: 0x100000, cpus: 1 }, "out-of-range"],
  ["duplicate APIC ids", { address: 0x9fc00, cpus: [{ apicId: 3 }, { apicId: 3 }] }, "duplicate-apic-id"],
  ["APIC id 254", { address: 0x9fc00, cpus: [{ apicId: 254 }], ioApic: { id: 0 } }, ok],
  ["APIC id 255 (broadcast)", { address: 0x9fc00, cpus: [{ apicId: 255 }], ioApic: { id: 0 } }, "out-of-range"],
  ["APIC id equal to the IOAPIC id", { address: 0x9fc00, cpus: 2, ioApic: { id: 1 } }, "apic-id-conflict"],
  ["two bootstrap processors", { address: 0x9fc00, cpus: [{ apicId: 0, bootstrap: true }, { apicId: 1, bootstrap: true }] }, "bsp-count"],
  ["no bootstrap processor", { address: 0x9fc00, cpus: [{ apicId: 0, bootstrap: false }] }, "bsp-count"],
  ["a disabled bootstrap processor", { address: 0x9fc00, cpus: [{ apicId: 0, enabled: false }] }, "bsp-count"],
  ["LAPIC address 0", { address: 0x9fc00, cpus: 1, lapicAddress: 0 }, "null-lapic"],
  ["LAPIC address 2^32", { address: 0x9fc00, cpus: 1, lapicAddress: 2 ** 32 }, "out-of-range"],
  ["IOAPIC address 2^32-1", { address: 0x9fc00, cpus: 1, ioApic: { address: 0xffffffff } }, ok],
  ["IOAPIC version 256", { address: 0x9fc00, cpus: 1, ioApic: { version: 256 } }, "out-of-range"],
  ["signature 2^32", { address: 0x9fc00, cpus: [{ apicId: 0, signature: 2 ** 32 }] }, "out-of-range"],
  ["spec revision 2", { address: 0x9fc00, cpus: 1, specRevision: 2 as 4 }, "out-of-range"],
  ["an IRQ from an unknown bus", { address: 0x9fc00, cpus: 1, ioInterrupts: [{ type: "INT", polarity: "conforming", trigger: "conforming", sourceBus: 5, sourceIrq: 0, destApic: 1, destPin: 0 }] }, "out-of-range"],
  ["an IRQ to an unknown IOAPIC", { address: 0x9fc00, cpus: 1, ioInterrupts: [{ type: "INT", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 7, destPin: 0 }] }, "out-of-range"],
  ["an IRQ of an unknown type", { address: 0x9fc00, cpus: 1, ioInterrupts: [{ type: "IPI" as "INT", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 1, destPin: 0 }] }, "invalid-argument"],
  ["LINT 2", { address: 0x9fc00, cpus: 1, localInterrupts: [{ type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: 0, sourceIrq: 0, destApic: 0xff, destLint: 2 }] }, "out-of-range"],
];

describe("boundaries", () => {
  it.each(boundary)("%s", (_name, config, expected) => {
    expect(codeOf(() => encodeMpTable(config))).toBe(expected);
  });

  it("names the field and the limit in the message", () => {
    try {
      encodeMpTable({ address: 0x9fc00, cpus: 300 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MptableError);
      expect((e as MptableError).message).toBe("cpus: expected 1..254, got 300");
      expect((e as MptableError).field).toBe("cpus");
    }
  });

  it("the 254-CPU table is 5300 bytes; 40 CPUs are the most that fit the 1 KiB at 0x9fc00", () => {
    expect(mpTableSize({ address: 0xf0000, cpus: 254 })).toBe(5300);
    expect(codeOf(() => encodeMpTable({ address: 0x9fc00, cpus: 254 }))).toBe(ok); // below 1 MiB is all we require
    expect(mpTableSize({ address: 0x9fc00, cpus: 40 })).toBeLessThanOrEqual(1024);
    expect(mpTableSize({ address: 0x9fc00, cpus: 41 })).toBeGreaterThan(1024);
    // With Firecracker's 24 routes, 37 CPUs fit (docs/architecture.md §2).
    const fc = (cpus: number): number => mpTableSize({ address: 0x9fc00, cpus, ioInterrupts: identityIrqRouting({ ioApicId: cpus, irqs: 24 }) });
    expect(fc(37)).toBe(1024);
    expect(fc(38)).toBeGreaterThan(1024);
  });

  it("isMptableError rejects look-alikes", () => {
    expect(isMptableError(new Error("x"))).toBe(false);
    expect(isMptableError({ name: "MptableError", code: "nope" })).toBe(false);
    expect(isMptableError({ name: "MptableError", code: "no-cpus" })).toBe(true);
    expect(isMptableError(null)).toBe(false);
  });
});
