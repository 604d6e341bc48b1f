// Our layout constants and the offsets the encoder writes, against Linux's own header:
// vectors/mpspec-layout.json is the output of vectors/mpspec-layout.c compiled against
// arch/x86/include/asm/mpspec_def.h (see vectors/README.md).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  MP_APIC_ALL,
  MP_CPU_FLAG,
  MP_ENTRY_TYPE,
  MP_FLOATING_SIGNATURE,
  MP_IOAPIC_USABLE,
  MP_IRQ_POLARITY,
  MP_IRQ_TRIGGER,
  MP_IRQ_TYPE,
  MP_SIZES,
  encodeMpTable,
} from "../src/index.js";

interface Field { offset: number; size: number }
type Struct = Record<string, Field> & { sizeof: number };
const golden = JSON.parse(readFileSync(new URL("./vectors/mpspec-layout.json", import.meta.url), "utf8")) as {
  structs: Record<string, Struct>;
  constants: Record<string, number>;
};
const s = (name: string): Struct => {
  const v = golden.structs[name];
  if (!v) throw new Error(`missing struct ${name} in mpspec-layout.json`);
  return v;
};
const off = (struct: string, field: string): number => {
  const f = s(struct)[field];
  if (!f || typeof f === "number") throw new Error(`missing ${struct}.${field}`);
  return f.offset;
};
const c = golden.constants;

describe("layout against Linux mpspec_def.h", () => {
  it("struct sizes", () => {
    expect(MP_SIZES.floatingPointer).toBe(s("mpf_intel").sizeof);
    expect(MP_SIZES.header).toBe(s("mpc_table").sizeof);
    expect(MP_SIZES.processor).toBe(s("mpc_cpu").sizeof);
    expect(MP_SIZES.bus).toBe(s("mpc_bus").sizeof);
    expect(MP_SIZES.ioApic).toBe(s("mpc_ioapic").sizeof);
    expect(MP_SIZES.ioInterrupt).toBe(s("mpc_intsrc").sizeof);
    expect(MP_SIZES.localInterrupt).toBe(s("mpc_lintsrc").sizeof);
  });

  it("constants", () => {
    expect(MP_FLOATING_SIGNATURE).toBe(c["SMP_MAGIC_IDENT"]);
    expect(MP_ENTRY_TYPE).toEqual({
      processor: c["MP_PROCESSOR"],
      bus: c["MP_BUS"],
      ioApic: c["MP_IOAPIC"],
      ioInterrupt: c["MP_INTSRC"],
      localInterrupt: c["MP_LINTSRC"],
    });
    expect(MP_CPU_FLAG).toEqual({ enabled: c["CPU_ENABLED"], bootProcessor: c["CPU_BOOTPROCESSOR"] });
    expect(MP_IOAPIC_USABLE).toBe(c["MPC_APIC_USABLE"]);
    expect(MP_IRQ_TYPE).toEqual({ INT: c["mp_INT"], NMI: c["mp_NMI"], SMI: c["mp_SMI"], ExtINT: c["mp_ExtINT"] });
    expect(MP_IRQ_POLARITY).toEqual({
      conforming: c["MP_IRQPOL_DEFAULT"],
      "active-high": c["MP_IRQPOL_ACTIVE_HIGH"],
      reserved: c["MP_IRQPOL_RESERVED"],
      "active-low": c["MP_IRQPOL_ACTIVE_LOW"],
    });
    expect(MP_IRQ_TRIGGER).toEqual({
      conforming: c["MP_IRQTRIG_DEFAULT"],
      edge: c["MP_IRQTRIG_EDGE"],
      reserved: c["MP_IRQTRIG_RESERVED"],
      level: c["MP_IRQTRIG_LEVEL"],
    });
    expect(MP_APIC_ALL).toBe(c["MP_APIC_ALL"]);
  });

  it("the encoder writes each field at the offset the C compiler gives it", () => {
    // Distinctive values in every field, read back at the C offsets.
    const bytes = encodeMpTable({
      address: 0x9fc00,
      processors: [{ apicId: 0x21, apicVersion: 0x15, signature: 0x12345678, featureFlags: 0x9abcdef0, bootstrap: true }],
      ioApics: [{ id: 0x42, version: 0x16, usable: true, address: 0xfec01000 }],
      buses: [{ id: 0x07, type: "PCI" }],
      ioInterrupts: [{ type: "SMI", polarity: "active-low", trigger: "level", sourceBus: 0x07, sourceIrq: 0x33, destApic: 0x42, destPin: 0x17 }],
      localInterrupts: [{ type: "NMI", polarity: "active-high", trigger: "edge", sourceBus: 0x07, sourceIrq: 0x05, destApic: 0x21, destLint: 1 }],
      oemId: "ABCDEFGH",
      productId: "IJKLMNOPQRST",
      lapicAddress: 0xfee01000,
    });
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // floating pointer
    expect(v.getUint32(off("mpf_intel", "physptr"), true)).toBe(0x9fc10);
    expect(v.getUint8(off("mpf_intel", "length"))).toBe(1);
    expect(v.getUint8(off("mpf_intel", "specification"))).toBe(4);
    // header, at 16
    const h = 16;
    const text = (o: number, n: number): string => String.fromCharCode(...bytes.subarray(o, o + n));
    expect(text(h + off("mpc_table", "signature"), 4)).toBe("PCMP");
    expect(text(h + off("mpc_table", "oem"), 8)).toBe("ABCDEFGH");
    expect(text(h + off("mpc_table", "productid"), 12)).toBe("IJKLMNOPQRST");
    expect(v.getUint32(h + off("mpc_table", "lapic"), true)).toBe(0xfee01000);
    expect(v.getUint16(h + off("mpc_table", "oemcount"), true)).toBe(5);
    expect(v.getUint16(h + off("mpc_table", "length"), true)).toBe(44 + 20 + 8 + 8 + 8 + 8);
    // processor, at 16 + 44
    const p = h + s("mpc_table").sizeof;
    expect(v.getUint8(p + off("mpc_cpu", "apicid"))).toBe(0x21);
    expect(v.getUint8(p + off("mpc_cpu", "apicver"))).toBe(0x15);
    expect(v.getUint8(p + off("mpc_cpu", "cpuflag"))).toBe(c["CPU_ENABLED"]! | c["CPU_BOOTPROCESSOR"]!);
    expect(v.getUint32(p + off("mpc_cpu", "cpufeature"), true)).toBe(0x12345678);
    expect(v.getUint32(p + off("mpc_cpu", "featureflag"), true)).toBe(0x9abcdef0);
    // bus
    const b = p + s("mpc_cpu").sizeof;
    expect(v.getUint8(b + off("mpc_bus", "busid"))).toBe(0x07);
    expect(text(b + off("mpc_bus", "bustype"), 6)).toBe("PCI   ");
    // ioapic
    const a = b + s("mpc_bus").sizeof;
    expect(v.getUint8(a)).toBe(c["MP_IOAPIC"]);
    expect(v.getUint8(a + off("mpc_ioapic", "apicid"))).toBe(0x42);
    expect(v.getUint8(a + off("mpc_ioapic", "apicver"))).toBe(0x16);
    expect(v.getUint8(a + off("mpc_ioapic", "flags"))).toBe(c["MPC_APIC_USABLE"]);
    expect(v.getUint32(a + off("mpc_ioapic", "apicaddr"), true)).toBe(0xfec01000);
    // intsrc
    const i = a + s("mpc_ioapic").sizeof;
    expect(v.getUint8(i)).toBe(c["MP_INTSRC"]);
    expect(v.getUint8(i + off("mpc_intsrc", "irqtype"))).toBe(c["mp_SMI"]);
    expect(v.getUint16(i + off("mpc_intsrc", "irqflag"), true)).toBe(c["MP_IRQPOL_ACTIVE_LOW"]! | c["MP_IRQTRIG_LEVEL"]!);
    expect(v.getUint8(i + off("mpc_intsrc", "srcbus"))).toBe(0x07);
    expect(v.getUint8(i + off("mpc_intsrc", "srcbusirq"))).toBe(0x33);
    expect(v.getUint8(i + off("mpc_intsrc", "dstapic"))).toBe(0x42);
    expect(v.getUint8(i + off("mpc_intsrc", "dstirq"))).toBe(0x17);
    // lintsrc
    const l = i + s("mpc_intsrc").sizeof;
    expect(v.getUint8(l)).toBe(c["MP_LINTSRC"]);
    expect(v.getUint8(l + off("mpc_lintsrc", "irqtype"))).toBe(c["mp_NMI"]);
    expect(v.getUint16(l + off("mpc_lintsrc", "irqflag"), true)).toBe(c["MP_IRQPOL_ACTIVE_HIGH"]! | c["MP_IRQTRIG_EDGE"]!);
    expect(v.getUint8(l + off("mpc_lintsrc", "srcbusid"))).toBe(0x07);
    expect(v.getUint8(l + off("mpc_lintsrc", "srcbusirq"))).toBe(0x05);
    expect(v.getUint8(l + off("mpc_lintsrc", "destapic"))).toBe(0x21);
    expect(v.getUint8(l + off("mpc_lintsrc", "destapiclint"))).toBe(1);
    expect(l + s("mpc_lintsrc").sizeof).toBe(bytes.length);
  });
});
