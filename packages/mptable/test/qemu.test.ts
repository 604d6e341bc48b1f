// The tables QEMU 7.2's microvm machine builds (through its qboot firmware), dumped from guest
// memory by vectors/gen-qemu-dumps.sh. qboot is an independent implementation of the same spec:
// decoding its tables checks our decoder, and re-encoding them checks our encoder byte for byte.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeMpTable, encodeMpTable, findMpTable, inspectMpTable, locateMpTable, type MpTable } from "../src/index.js";

const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./vectors/${name}`, import.meta.url)));

describe.each([1, 2, 4, 8])("QEMU microvm (qboot) table, -smp %i", (n) => {
  const dump = vector(`qemu-microvm-smp${n}-9fc00.bin`);
  const info = inspectMpTable(dump, 0x9fc00);
  const t = info.table;

  it("lists the processors, the ISA bus and the IOAPIC", () => {
    expect(t.specRevision).toBe(4);
    expect(t.lapicAddress).toBe(0xfee00000);
    expect(t.processors.map((p) => p.apicId)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(t.processors.map((p) => p.bootstrap)).toEqual(Array.from({ length: n }, (_, i) => i === 0));
    expect(t.processors.every((p) => p.enabled && p.apicVersion === 0x14)).toBe(true);
    expect(t.buses).toEqual([{ id: 0, type: "ISA" }]);
    // qboot, like Firecracker, gives the IOAPIC the id n+1; ours defaults to n (the id after the CPUs).
    expect(t.ioApics).toEqual([{ id: n + 1, version: 0x14, usable: true, address: 0xfec00000 }]);
  });

  it("routes the ISA IRQs with qboot's IRQ0 override (a legitimate difference from our default)", () => {
    // qboot: ISA IRQ n -> INTIN n for 1..15 except 2, and IRQ0 -> INTIN2, because QEMU sets
    // fw_cfg IRQ0_OVERRIDE. Our default is identity routing (KVM's default GSI routing).
    const routes = t.ioInterrupts.map((e) => [e.sourceIrq, e.destPin]);
    expect(routes).toEqual([[0, 2], ...[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => [i, i])]);
    expect(t.ioInterrupts.every((e) => e.type === "INT" && e.sourceBus === 0 && e.destApic === n + 1)).toBe(true);
    expect(t.ioInterrupts.every((e) => e.polarity === "conforming" && e.trigger === "conforming")).toBe(true);
  });

  it("has the local interrupts we write by default", () => {
    const ours = decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: n }), 0x9fc00);
    expect(t.localInterrupts).toEqual(ours.localInterrupts);
  });

  it("stores an entry count of 0 (qboot never sets it), which we report as a warning", () => {
    expect(info.storedEntryCount).toBe(0);
    expect(info.entryCount).toBe(n + 1 + 1 + 15 + 2);
    expect(info.warnings.join("\n")).toMatch(/oemcount is 0/);
  });

  it("differs from our default table only where the test above says", () => {
    const ours = decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: n }), 0x9fc00);
    const normalise = (x: MpTable): unknown => ({
      ...x,
      oemId: "-",
      productId: "-",
      processors: x.processors.map((p) => ({ ...p, signature: 0, featureFlags: 0 })), // qboot copies the host CPUID
      ioApics: x.ioApics.map((a) => ({ ...a, id: 0, version: 0 })),
      ioInterrupts: [],
      localInterrupts: x.localInterrupts.map((e) => ({ ...e })),
    });
    expect(t.oemId).toBe("QBOOT");
    expect(normalise(t)).toEqual(normalise(ours));
  });

  it("re-encodes to qboot's bytes, except the entry count and the checksum that covers it", () => {
    const again = encodeMpTable(t);
    const length = again.length;
    const expected = dump.slice(0, length);
    // Our encoder writes the spec's entry count where qboot leaves 0 (header offset 34).
    const v = new DataView(again.buffer);
    expect(v.getUint16(16 + 34, true)).toBe(info.entryCount);
    const patched = again.slice();
    patched[16 + 34] = 0;
    patched[16 + 35] = 0;
    patched[16 + 7] = expected[16 + 7]!;
    expect(Buffer.from(patched).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
  });
});

describe("findMpTable on QEMU microvm's first MiB of guest memory (-smp 2)", () => {
  const low = new Uint8Array(gunzipSync(readFileSync(new URL("./vectors/qemu-microvm-smp2-lowmem.bin.gz", import.meta.url))));

  it("finds the floating pointer at 0x9fc00, as Linux would", () => {
    expect(low.length).toBe(0x100000);
    expect(locateMpTable(low)).toBe(0x9fc00);
    const t = findMpTable(low);
    expect(t?.processors.length).toBe(2);
    expect(t?.oemId).toBe("QBOOT");
  });

  it("finds nothing once the floating pointer is wiped", () => {
    const copy = low.slice();
    copy.fill(0, 0x9fc00, 0x9fc10);
    expect(locateMpTable(copy)).toBeUndefined();
    expect(findMpTable(copy)).toBeUndefined();
  });
});
