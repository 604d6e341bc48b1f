// hvm_memmap_table_entry: torvalds/linux include/xen/interface/hvm/start_info.h. Types are the
// ACPI address-range types (E820), XEN_HVM_MEMMAP_TYPE_* in the same header.
import { PvhError } from "./errors.js";
import { checkArray, checkBytes, checkObject, checkOffset, hex, isU64, needBytes, needRoom, checkU64, toUint } from "./checks.js";
import { putU64Dv, view } from "./little-endian.js";

/**
 * Size in bytes of one `struct hvm_memmap_table_entry` (the same size as an ACPI 3.0 E820 record).
 *
 * @example
 * ```ts
 * import { MEMMAP_ENTRY_SIZE } from "@microvm/pvh";
 * console.log(MEMMAP_ENTRY_SIZE); // 24
 * ```
 */
export const MEMMAP_ENTRY_SIZE: 24 = 24;

/**
 * Most memory-map entries microvm emits. Linux's `init_pvh_bootparams()` copies the map into
 * `boot_params.e820_table` (128 slots, `E820_MAX_ENTRIES_ZEROPAGE`) without a bound check, then
 * appends the ISA range only if fewer than 127 entries are in use
 * (torvalds/linux arch/x86/platform/pvh/enlighten.c). 127 leaves room for that entry.
 *
 * @example
 * ```ts
 * import { MAX_MEMMAP_ENTRIES } from "@microvm/pvh";
 * console.log(MAX_MEMMAP_ENTRIES); // 127
 * ```
 */
export const MAX_MEMMAP_ENTRIES: 127 = 127;

/**
 * Memory-map entry types, `XEN_HVM_MEMMAP_TYPE_*` in `include/xen/interface/hvm/start_info.h`
 * (the ACPI "Address Range Types", also the E820 types).
 *
 * @example
 * ```ts
 * import { MemmapType } from "@microvm/pvh";
 * const entry = { addr: 0n, size: 0x9fc00n, type: MemmapType.RAM };
 * ```
 */
export const MemmapType: {
  /** `XEN_HVM_MEMMAP_TYPE_RAM`: usable RAM. */
  readonly RAM: 1;
  /** `XEN_HVM_MEMMAP_TYPE_RESERVED`: not to be used by the OS. */
  readonly RESERVED: 2;
  /** `XEN_HVM_MEMMAP_TYPE_ACPI`: ACPI tables, reclaimable. */
  readonly ACPI: 3;
  /** `XEN_HVM_MEMMAP_TYPE_NVS`: ACPI non-volatile storage. */
  readonly NVS: 4;
  /** `XEN_HVM_MEMMAP_TYPE_UNUSABLE`: memory with errors. */
  readonly UNUSABLE: 5;
  /** `XEN_HVM_MEMMAP_TYPE_DISABLED`: not enabled. */
  readonly DISABLED: 6;
  /** `XEN_HVM_MEMMAP_TYPE_PMEM`: persistent memory. */
  readonly PMEM: 7;
} = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5, DISABLED: 6, PMEM: 7 } as const;

/**
 * One of the known memory-map types (any u32 is accepted on the wire).
 *
 * @example
 * ```ts
 * import { MemmapType, type MemmapTypeValue } from "@microvm/pvh";
 * const t: MemmapTypeValue = MemmapType.RESERVED;
 * ```
 */
export type MemmapTypeValue = (typeof MemmapType)[keyof typeof MemmapType];

/**
 * One memory-map entry: `addr` u64 @0, `size` u64 @8, `type` u32 @16, `reserved` u32 @20.
 *
 * @example
 * ```ts
 * import { MemmapType, type MemmapEntry } from "@microvm/pvh";
 * const low: MemmapEntry = { addr: 0n, size: 0x9fc00n, type: MemmapType.RAM };
 * ```
 */
export interface MemmapEntry {
  /** Guest-physical base address. */
  readonly addr: bigint;
  /** Size in bytes. */
  readonly size: bigint;
  /** Type: see {@link MemmapType}; any u32. */
  readonly type: number;
}

/**
 * What {@link encodeMemmap} accepts for one entry: addresses as numbers or bigints.
 *
 * @example
 * ```ts
 * import type { MemmapEntryInit } from "@microvm/pvh";
 * const e: MemmapEntryInit = { addr: 0x100000, size: 0xbff00000, type: 1 };
 * ```
 */
export interface MemmapEntryInit {
  /** Guest-physical base address. */
  readonly addr: number | bigint;
  /** Size in bytes. */
  readonly size: number | bigint;
  /** Type (u32); see {@link MemmapType}. */
  readonly type: number;
}

function checkEntries(entries: readonly MemmapEntryInit[]): readonly MemmapEntryInit[] {
  const list = checkArray("memmap", entries);
  if (list.length > MAX_MEMMAP_ENTRIES)
    throw new PvhError("too-many-entries", `memmap: expected at most ${MAX_MEMMAP_ENTRIES} entries, got ${list.length}`);
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    // Fast path first; field names are only built for the error message.
    if (typeof e === "object" && e !== null) {
      const o = e as Record<string, unknown>;
      const t = o["type"];
      if (isU64(o["addr"]) && isU64(o["size"]) && typeof t === "number" && t >= 0 && t <= 0xffff_ffff && Number.isInteger(t)) continue;
    }
    const o = checkObject(`memmap[${i}]`, e);
    checkU64(`memmap[${i}].addr`, o["addr"]);
    checkU64(`memmap[${i}].size`, o["size"]);
    toUint(`memmap[${i}].type`, o["type"], 0xffff_ffff);
  }
  return list as readonly MemmapEntryInit[];
}

/**
 * Writes memory-map entries (24 bytes each, `reserved` = 0) into `out` at `offset`. The entries
 * are written as given; use {@link buildE820} to get a sorted, disjoint map.
 *
 * @param entries - at most {@link MAX_MEMMAP_ENTRIES} entries.
 * @param out - the destination buffer.
 * @param offset - where in `out` to write; default 0.
 * @returns the number of bytes written (24 per entry).
 * @throws {@link PvhError} `too-many-entries` above 127 entries, `invalid-argument`,
 * `out-of-range` for a bad value or when `out` has no room.
 * @example
 * ```ts
 * import { encodeMemmapInto, MemmapType } from "@microvm/pvh";
 * const out = new Uint8Array(24);
 * encodeMemmapInto([{ addr: 0, size: 0x9fc00, type: MemmapType.RAM }], out);
 * ```
 */
export function encodeMemmapInto(entries: readonly MemmapEntryInit[], out: Uint8Array, offset: number = 0): number {
  const values = checkEntries(entries);
  checkBytes("out", out);
  return writeEntries(values, out, checkOffset("offset", offset));
}

function writeEntries(list: readonly MemmapEntryInit[], out: Uint8Array, off: number): number {
  const size = list.length * MEMMAP_ENTRY_SIZE;
  needRoom("out", out, off, size);
  if (size === 0) return 0;
  const dv = view(out);
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as MemmapEntryInit;
    const at = off + i * MEMMAP_ENTRY_SIZE;
    putU64Dv(dv, at, e.addr);
    putU64Dv(dv, at + 8, e.size);
    dv.setUint32(at + 16, Number(e.type), true); // checkEntries also accepts a bigint type
    dv.setUint32(at + 20, 0, true);
  }
  return size;
}

/**
 * Encodes a memory map: 24 little-endian bytes per entry, in the order given.
 *
 * @param entries - at most {@link MAX_MEMMAP_ENTRIES} entries.
 * @returns a new array of `24 * entries.length` bytes.
 * @throws {@link PvhError} `too-many-entries` above 127 entries, `invalid-argument`,
 * `out-of-range` for a value outside its width.
 * @example
 * ```ts
 * import { encodeMemmap, MemmapType } from "@microvm/pvh";
 * const bytes = encodeMemmap([
 *   { addr: 0, size: 0x9fc00, type: MemmapType.RAM },
 *   { addr: 0x9fc00, size: 0x400, type: MemmapType.RESERVED },
 * ]);
 * console.log(bytes.length); // 48
 * ```
 */
export function encodeMemmap(entries: readonly MemmapEntryInit[]): Uint8Array {
  const values = checkEntries(entries);
  const out = new Uint8Array(values.length * MEMMAP_ENTRY_SIZE);
  writeEntries(values, out, 0);
  return out;
}

/**
 * Decodes `count` memory-map entries. No entry-count limit applies here: the decoder reads what
 * another VMM may have written (QEMU's option ROM writes up to 128).
 *
 * @param bytes - the bytes holding the map.
 * @param count - how many entries (`hvm_start_info.memmap_entries`).
 * @param offset - where the map starts in `bytes`; default 0.
 * @returns the entries, in table order.
 * @throws {@link PvhError} `truncated` when `bytes` is too short, `reserved-not-zero`,
 * `invalid-argument`, `out-of-range` for a bad `count` or `offset`.
 * @example
 * ```ts
 * import { decodeMemmap, encodeMemmap } from "@microvm/pvh";
 * const map = decodeMemmap(encodeMemmap([{ addr: 0, size: 4096, type: 1 }]), 1);
 * console.log(map[0]?.type); // 1
 * ```
 */
export function decodeMemmap(bytes: Uint8Array, count: number, offset: number = 0): MemmapEntry[] {
  checkBytes("bytes", bytes);
  const n = toUint("count", count, 0xffff_ffff);
  const off = checkOffset("offset", offset);
  needBytes("memmap", bytes, off, n * MEMMAP_ENTRY_SIZE);
  const dv = view(bytes);
  const out: MemmapEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = off + i * MEMMAP_ENTRY_SIZE;
    const reserved = dv.getUint32(at + 20, true);
    if (reserved !== 0) throw new PvhError("reserved-not-zero", `memmap[${i}].reserved: expected 0, got ${hex(reserved)}`);
    out.push({ addr: dv.getBigUint64(at, true), size: dv.getBigUint64(at + 8, true), type: dv.getUint32(at + 16, true) });
  }
  return out;
}
