// The browser example of @microvm/acpi: the table set of a 2-CPU hardware-reduced board with one
// virtio-mmio device in its DSDT, each table validated, the DSDT's AML decoded back, and one
// refused input. test/browser.test.ts bundles this for the browser platform and runs it in a
// context that has no Node globals.
import { amlCrs, amlDevice, amlHid, amlScope, amlUid, decodeAml, encodeAcpiTables, extendedInterrupt, isAcpiError, madtForCpus, memory32Fixed, validateAcpiTable } from "@microvm/acpi";

const set = encodeAcpiTables({
  address: 0xe0000n,
  madt: madtForCpus({ cpus: 2 }),
  fadt: {},
  dsdt: [amlScope("\\_SB", [amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0), amlCrs([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])])])])],
});
const at = (address: bigint): Uint8Array => set.tables.subarray(Number(address - set.xsdtAddress));
for (const [address, signature] of [[set.xsdtAddress, "XSDT"], [set.fadtAddress, "FACP"], [set.madtAddress, "APIC"], [set.dsdtAddress, "DSDT"]] as const) {
  const info = validateAcpiTable(at(address), signature);
  console.log(`${info.signature} length ${info.length} revision ${info.header.revision}`);
}
const dsdt = validateAcpiTable(at(set.dsdtAddress), "DSDT");
console.log(`aml objects ${decodeAml(at(set.dsdtAddress).subarray(36, dsdt.length)).length}`);
try {
  madtForCpus({ cpus: 0 });
} catch (e) {
  console.log(isAcpiError(e) ? `error ${e.code}` : "unexpected error");
}
console.log(`rsdp ${set.rsdp.length} tables ${set.tables.length}`);
