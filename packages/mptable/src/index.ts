/**
 * @packageDocumentation
 * `@microvm/mptable`: an encoder, decoder and validator for the Intel MultiProcessor
 * Specification 1.4 table (MPTable), the structure through which a firmware-less x86 VMM tells the
 * guest about its CPUs, buses, I/O APIC and interrupt routing.
 *
 * It is pure: bytes in, bytes or plain values out; no Node APIs, so it runs in browsers and in
 * other VMMs. Addresses are chosen by the caller.
 *
 * ```ts
 * import { encodeMpTable, decodeMpTable } from "@microvm/mptable";
 * const bytes = encodeMpTable({ address: 0x9fc00, cpus: 2 });
 * const table = decodeMpTable(bytes, 0x9fc00);
 * ```
 */
export {
  DEFAULT_CPU_FEATURES,
  DEFAULT_CPU_SIGNATURE,
  DEFAULT_IOAPIC_ADDRESS,
  DEFAULT_IOAPIC_VERSION,
  DEFAULT_LAPIC_ADDRESS,
  DEFAULT_LAPIC_VERSION,
  MP_APIC_ALL,
  MP_CPU_FLAG,
  MP_ENTRY_TYPE,
  MP_FLOATING_SIGNATURE,
  MP_IOAPIC_USABLE,
  MP_IRQ_POLARITY,
  MP_IRQ_TRIGGER,
  MP_IRQ_TYPE,
  MP_LIMIT_1MIB,
  MP_MAX_CPUS,
  MP_SCAN_WINDOWS,
  MP_SIZES,
  MP_TABLE_SIGNATURE,
} from "./constants.js";
export { MptableError, isMptableError, type MptableErrorCode } from "./errors.js";
export type {
  MpBus,
  MpIoApic,
  MpIoApicConfig,
  MpIoInterrupt,
  MpIrqPolarity,
  MpIrqTrigger,
  MpIrqType,
  MpLocalInterrupt,
  MpProcessor,
  MpProcessorConfig,
  MpTable,
  MpTableConfig,
} from "./types.js";
export { identityIrqRouting, type IrqRoutingOptions } from "./routing.js";
export {
  DEFAULT_OEM_ID,
  encodeMpTable,
  encodeMpTableInto,
  mpTableSize,
  resolveMpTableConfig,
  validateMpTable,
} from "./encode.js";
export {
  decodeMpTable,
  findMpTable,
  inspectMpTable,
  locateMpTable,
  type InspectOptions,
  type MpTableInspection,
} from "./decode.js";
export { formatMpTable } from "./format.js";
