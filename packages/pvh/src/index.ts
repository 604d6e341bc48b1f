/**
 * @packageDocumentation
 * `@microvm/pvh`: boot a `vmlinux` through the PVH boot protocol with no firmware. It reads the
 * ELF (segments at their physical addresses, the Xen `PHYS32_ENTRY` note), encodes
 * `hvm_start_info` v1, the module list and the memory map, builds an E820 map, lays everything out
 * as `(address, bytes)` placements and describes the entry vCPU state as plain data. Isomorphic:
 * no Node APIs, no memory writes.
 */

export { PvhError, isPvhError, type PvhErrorCode } from "./errors.js";
export {
  readPvhKernel,
  XenElfNote,
  ElfMachine,
  type PvhKernel,
  type PvhSegment,
  type ElfNote,
  type ReadPvhKernelOptions,
} from "./elf.js";
export {
  encodeStartInfo,
  encodeStartInfoInto,
  decodeStartInfo,
  XEN_HVM_START_MAGIC_VALUE,
  START_INFO_SIZE,
  START_INFO_OFFSETS,
  type StartInfo,
  type StartInfoInit,
} from "./start-info.js";
export {
  encodeModlist,
  encodeModlistInto,
  decodeModlist,
  MODLIST_ENTRY_SIZE,
  type ModlistEntry,
  type ModlistEntryInit,
} from "./modlist.js";
export {
  encodeMemmap,
  encodeMemmapInto,
  decodeMemmap,
  MEMMAP_ENTRY_SIZE,
  MAX_MEMMAP_ENTRIES,
  MemmapType,
  type MemmapTypeValue,
  type MemmapEntry,
  type MemmapEntryInit,
} from "./memmap.js";
export { buildE820, MMIO_GAP_32, type E820Options, type GuestRangeInit } from "./e820.js";
export {
  layoutPvhBoot,
  MAX_CMDLINE_BYTES,
  DEFAULT_PVH_ADDRESSES,
  type Placement,
  type PlacementKind,
  type OccupiedRegion,
  type PvhBootOptions,
  type PvhBootLayout,
} from "./layout.js";
export {
  pvhEntryState,
  DEFAULT_GDT_ADDRESS,
  GdtSelector,
  PVH_CR0,
  type PvhEntryState,
  type PvhSregs,
  type PvhEntryInit,
  type SegmentState,
  type TableRegister,
  type GeneralRegisters,
} from "./entry-state.js";
export {
  buildPvhRom,
  decodePvhRom,
  pvhRomWindows,
  PVH_ROM_SIZE,
  PVH_ROM_CODE_SIZE,
  type PvhRomInit,
  type PvhRomBlob,
  type PvhRomState,
} from "./rom.js";

/**
 * The package's version.
 *
 * @example
 * ```ts
 * import { VERSION } from "@microvm/pvh";
 * console.log(VERSION);
 * ```
 */
export const VERSION: string = "0.1.0";
