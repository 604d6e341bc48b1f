// Codec throughput of @microvm/acpi: encoding the full table set (RSDP, XSDT, FADT, MADT and a
// DSDT with a serial port and 8 virtio-mmio transports) for 1, 8 and 254 CPUs, and decoding it
// again, each against a plain copy of the same number of bytes (the floor any encoder has to pay).
import {
  amlCca,
  amlCrs,
  amlDevice,
  amlHid,
  amlName,
  amlPackage,
  amlScope,
  amlSta,
  amlUid,
  decodeAml,
  decodeDefinitionBlock,
  decodeFadt,
  decodeMadt,
  decodeRsdp,
  decodeXsdt,
  encodeAcpiTables,
  extendedInterrupt,
  ioPort,
  madtForCpus,
  memory32Fixed,
  type AcpiTablesConfig,
  type AmlTerm,
} from "../src/index.js";
import { nsPerOp, type BenchCase } from "../../../bench/harness.ts";

const mmio8 = (address: bigint) => ({ space: "memory" as const, bitWidth: 8, bitOffset: 0, accessSize: "byte" as const, address });
const dsdt: AmlTerm[] = [
  amlScope("\\_SB", [
    amlDevice("COM1", [amlHid("PNP0501"), amlUid(0), amlSta(), amlCrs([ioPort(0x3f8, 8), extendedInterrupt([4], { trigger: "edge" })])]),
    ...Array.from({ length: 8 }, (_, n) =>
      amlDevice(`VR${String(n).padStart(2, "0")}`, [
        amlHid("LNRO0005"),
        amlUid(n),
        amlCca(),
        amlCrs([memory32Fixed(0xfeb00000 + n * 0x200, 0x200), extendedInterrupt([24 + n])]),
      ]),
    ),
  ]),
  amlName("\\_S5", amlPackage([5, 0])),
];

function plainCopy(size: number): () => number {
  const src = new Uint8Array(size).map((_, i) => i);
  return () => nsPerOp(() => src.slice());
}

export const cases: BenchCase[] = [1, 8, 254].flatMap((cpus): BenchCase[] => {
  const config: AcpiTablesConfig = {
    address: 0xe0000n,
    madt: madtForCpus({ cpus }),
    fadt: { sleepControlRegister: mmio8(0xfea00200n), sleepStatusRegister: mmio8(0xfea00201n), resetRegister: mmio8(0xfea00202n), resetValue: 0x42 },
    dsdt,
  };
  const set = encodeAcpiTables(config);
  const size = set.rsdp.length + set.tables.length;
  const at = (a: bigint) => set.tables.subarray(Number(a - set.xsdtAddress));
  const label = `${cpus} CPU${cpus > 1 ? "s" : ""}`;
  return [
    {
      name: `acpi table set encode, ${label}`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${size} bytes`,
      ours: () => nsPerOp(() => encodeAcpiTables(config)),
      ref: plainCopy(size),
    },
    {
      name: `acpi table set decode, ${label}`,
      unit: "ns/op",
      better: "lower",
      reference: `plain copy of ${size} bytes`,
      // Reached for the board-sized sets (1 and 8 CPUs); encoding, and decoding 254 CPUs' MADT, are not there yet.
      ...(cpus <= 8 ? { goal: "<= 10" } : {}),
      ours: () =>
        nsPerOp(() => {
          decodeRsdp(set.rsdp);
          decodeXsdt(at(set.xsdtAddress));
          decodeFadt(at(set.fadtAddress));
          decodeMadt(at(set.madtAddress));
          return decodeAml(decodeDefinitionBlock(at(set.dsdtAddress)).aml);
        }),
      ref: plainCopy(size),
    },
  ];
});
