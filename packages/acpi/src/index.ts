/**
 * @packageDocumentation
 * `@microvm/acpi`: encoders, decoders and a validator for the ACPI tables of a hardware-reduced
 * x86 machine (RSDP, XSDT, FADT, MADT, DSDT/SSDT), and a small AML builder, encoder and decoder
 * for the devices a board describes (Scope, Device, Name, Method, `_HID`/`_UID`/`_STA`/`_CRS`/`_CCA`,
 * resource templates).
 *
 * It is pure: bytes in, bytes or plain values out; no Node APIs, so it runs in browsers.
 *
 * ```ts
 * import { encodeAcpiTables, madtForCpus, amlScope, amlDevice, amlHid, amlUid, amlCrs, memory32Fixed, extendedInterrupt } from "@microvm/acpi";
 * const set = encodeAcpiTables({
 *   address: 0xe0000n,
 *   madt: madtForCpus({ cpus: 2 }),
 *   dsdt: [amlScope("\\_SB", [amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0), amlCrs([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])])])])],
 * });
 * ```
 */
export { AcpiError, isAcpiError, type AcpiErrorCode } from "./errors.js";
export { DEFAULT_HEADER, SDT_HEADER_SIZE, validateAcpiTable, type AcpiTableInfo, type SdtHeader, type SdtHeaderOptions } from "./header.js";
export { RSDP_SIZE, decodeRsdp, decodeXsdt, encodeRsdp, encodeXsdt, xsdtSize, type DecodedRsdp, type DecodedXsdt, type Rsdp, type Xsdt } from "./root.js";
export {
  ACPI_ACCESS_SIZE,
  ACPI_ADDRESS_SPACE,
  FADT_FLAGS,
  FADT_SIZE,
  IAPC_BOOT_ARCH,
  decodeFadt,
  encodeFadt,
  type DecodedGenericAddress,
  type AcpiAccessSize,
  type AcpiAddressSpace,
  type DecodedFadt,
  type Fadt,
  type GenericAddress,
} from "./fadt.js";
export {
  MADT_ENTRY_TYPE,
  MADT_POLARITY,
  MADT_TRIGGER,
  decodeMadt,
  encodeMadt,
  madtForCpus,
  madtSize,
  type DecodedMadt,
  type Madt,
  type MadtEntry,
  type MadtOptions,
  type MadtPolarity,
  type MadtTrigger,
} from "./madt.js";
export {
  decodeDefinitionBlock,
  encodeAcpiTables,
  encodeDefinitionBlock,
  encodeDsdt,
  type AcpiTableSet,
  type AcpiTablesConfig,
  type DecodedDefinitionBlock,
  type DefinitionBlock,
} from "./tables.js";
export type {
  AmlBuffer,
  AmlData,
  AmlDevice,
  AmlInteger,
  AmlMethod,
  AmlName,
  AmlPackage,
  AmlResourceTemplate,
  AmlScope,
  AmlString,
  AmlTerm,
  InterruptDescriptor,
  IoDescriptor,
  Memory32FixedDescriptor,
  ResourceDescriptor,
} from "./aml-types.js";
export {
  AML_OPCODE,
  PKG_LENGTH_LIMITS,
  decodePkgLength,
  decodeResourceTemplate,
  eisaId,
  eisaIdToString,
  encodeAml,
  encodeAmlData,
  encodeNameString,
  encodePkgLength,
  encodeResourceTemplate,
} from "./aml.js";
export { decodeAml, decodeAmlData } from "./aml-decode.js";
export {
  amlBuffer,
  amlCca,
  amlCrs,
  amlDevice,
  amlHid,
  amlInteger,
  amlMethod,
  amlName,
  amlPackage,
  amlScope,
  amlSta,
  amlString,
  amlUid,
  extendedInterrupt,
  ioPort,
  memory32Fixed,
  resourceTemplate,
  type AmlDataLike,
} from "./aml-builders.js";
