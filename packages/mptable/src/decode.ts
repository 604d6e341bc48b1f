import {
  MP_CPU_FLAG,
  MP_ENTRY_TYPE,
  MP_FLOATING_SIGNATURE,
  MP_IOAPIC_USABLE,
  MP_IRQ_POLARITY,
  MP_IRQ_TRIGGER,
  MP_IRQ_TYPE,
  MP_LIMIT_1MIB,
  MP_SCAN_WINDOWS,
  MP_SIZES,
  MP_TABLE_SIGNATURE,
} from "./constants.js";
import { byteSum, checkInt, readAscii, viewOf } from "./bytes.js";
import { MptableError } from "./errors.js";
import type {
  MpBus,
  MpIoApic,
  MpIoInterrupt,
  MpIrqPolarity,
  MpIrqTrigger,
  MpIrqType,
  MpLocalInterrupt,
  MpProcessor,
  MpTable,
} from "./types.js";

/**
 * Everything {@link inspectMpTable} learns about a table, beyond the description itself.
 *
 * @example
 * ```ts
 * const { storedEntryCount, entryCount, warnings } = inspectMpTable(bytes, 0x9fc00);
 * if (storedEntryCount !== entryCount) console.warn(warnings.join("\n"));
 * ```
 */
export interface MpTableInspection {
  /** The table, as {@link decodeMpTable} returns it. */
  readonly table: MpTable;
  /** Where the configuration table starts (`physptr`); `table.address + 16` for tables we make. */
  readonly configTableAddress: number;
  /** The base table length from the header, in bytes. */
  readonly baseTableLength: number;
  /** The entry count as stored in the header (qboot writes 0; Firecracker one too many). */
  readonly storedEntryCount: number;
  /** The number of entries found by walking the table by entry length, as Linux does. */
  readonly entryCount: number;
  /** The OEM table pointer and size from the header (0 when absent); not part of the description. */
  readonly oemTable: {
    /** Physical address of the OEM table (`oemptr`), 0 when absent. */
    readonly address: number;
    /** Its size in bytes (`oemsize`). */
    readonly size: number;
  };
  /** The extended table length from the header (Linux never reads the extended table). */
  readonly extendedTableLength: number;
  /** Things Linux accepts but the MP specification does not, e.g. a wrong entry count. */
  readonly warnings: readonly string[];
}

/**
 * Options of {@link inspectMpTable}.
 *
 * @example
 * ```ts
 * // `ram` starts at guest-physical 0; the table may lie before its floating pointer
 * const info = inspectMpTable(ram, 0xf0100, { memoryBase: 0 });
 * ```
 */
export interface InspectOptions {
  /**
   * Guest-physical address of `bytes[0]`; default: the floating pointer's address. Give 0 when
   * `bytes` is an image of guest memory from physical address 0 and the table may lie before the
   * floating pointer (kvmtool puts the floating pointer after the table).
   */
  readonly memoryBase?: number;
}

const IRQ_TYPES = invert(MP_IRQ_TYPE);
const POLARITIES = invert(MP_IRQ_POLARITY);
const TRIGGERS = invert(MP_IRQ_TRIGGER);

function invert<K extends string>(o: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  return new Map(Object.entries(o).map(([k, v]) => [v as number, k as K]));
}

function need(b: Uint8Array, at: number, size: number, field: string): void {
  if (at < 0 || at + size > b.length) {
    throw new MptableError("truncated", field, `expected ${size} bytes at offset ${at}, but the bytes end at ${b.length}`);
  }
}

function irqFields(v: DataView, o: number, f: string): { type: MpIrqType; polarity: MpIrqPolarity; trigger: MpIrqTrigger } {
  const type = IRQ_TYPES.get(v.getUint8(o + 1));
  if (type === undefined) throw new MptableError("out-of-range", `${f}.type`, `expected 0..3 (INT, NMI, SMI, ExtINT), got ${v.getUint8(o + 1)}`);
  const flags = v.getUint16(o + 2, true);
  if (flags & ~0xf) throw new MptableError("reserved-bits", `${f}.flags`, `expected bits 4..15 clear (MP spec 1.4 table 4-9), got 0x${flags.toString(16)}`);
  // Both 2-bit fields have exactly four values, every one named, so these lookups always succeed.
  const polarity = POLARITIES.get(flags & 0x3) as MpIrqPolarity;
  const trigger = TRIGGERS.get(flags & 0xc) as MpIrqTrigger;
  return { type, polarity, trigger };
}

/**
 * Decodes an MPTable and reports what the description leaves out (stored entry count, OEM
 * table, extended table, warnings). It applies Linux's checks (arch/x86/kernel/mpparse.c
 * `smp_scan_config`, `smp_check_mpc`, `smp_read_mpc`): the `_MP_` signature, a length of one
 * paragraph, a zero floating-pointer checksum, spec revision 1 or 4; the `PCMP` signature, a zero
 * base-table checksum, revision 1 or 4, a non-zero LAPIC address; entries walked by their length
 * up to the table length (the stored count is only compared, as Linux ignores it); an unknown
 * entry type stops with an error. It adds: everything below 1 MiB, reserved bits clear, printable
 * strings, at least one processor, and no MP "default configuration" (feature byte 1).
 *
 * @param bytes - memory holding the table; `bytes[0]` is at `options.memoryBase` (default `address`)
 * @param address - guest-physical address of the floating pointer
 * @param options - where `bytes` sits in guest memory
 * @returns the description and the facts around it
 * @throws MptableError for anything Linux (or the checks above) would reject; never anything else
 * @example
 * ```ts
 * const bytes = encodeMpTable({ address: 0x9fc00, cpus: 2 });
 * const { table, storedEntryCount, warnings } = inspectMpTable(bytes, 0x9fc00);
 * ```
 */
export function inspectMpTable(bytes: Uint8Array, address: number, options: InspectOptions = {}): MpTableInspection {
  if (!(bytes instanceof Uint8Array)) throw new MptableError("invalid-argument", "bytes", "expected a Uint8Array");
  checkInt("address", address, 0, 0xffffffff);
  const base = checkInt("memoryBase", options.memoryBase ?? address, 0, 0xffffffff);
  const warnings: string[] = [];
  const v = viewOf(bytes);
  const fp = address - base;

  // Floating pointer.
  need(bytes, fp, MP_SIZES.floatingPointer, "floatingPointer");
  if (v.getUint32(fp, true) !== MP_FLOATING_SIGNATURE) {
    throw new MptableError("bad-signature", "floatingPointer.signature", `expected "_MP_", got 0x${v.getUint32(fp, true).toString(16)}`);
  }
  if (v.getUint8(fp + 8) !== 1) throw new MptableError("bad-length", "floatingPointer.length", `expected 1 paragraph, got ${v.getUint8(fp + 8)}`);
  const fpSum = byteSum(bytes, fp, fp + MP_SIZES.floatingPointer);
  if (fpSum !== 0) throw new MptableError("bad-checksum", "floatingPointer.checksum", `expected the 16 bytes to sum to 0 mod 256, got ${fpSum}`);
  const spec = v.getUint8(fp + 9);
  if (spec !== 1 && spec !== 4) throw new MptableError("bad-spec-revision", "floatingPointer.specification", `expected 1 or 4, got ${spec}`);
  if (address % 16 !== 0) throw new MptableError("misaligned", "address", `expected a multiple of 16, got 0x${address.toString(16)}`);
  if (address + MP_SIZES.floatingPointer > MP_LIMIT_1MIB) {
    throw new MptableError("above-1mib", "address", `expected the floating pointer below 0x100000, got 0x${address.toString(16)}`);
  }
  const feature1 = v.getUint8(fp + 11);
  if (feature1 !== 0) {
    throw new MptableError("default-configuration", "floatingPointer.feature1", `expected 0 (a configuration table), got MP default configuration ${feature1}`);
  }
  const feature2 = v.getUint8(fp + 12);
  if ((feature2 & 0x7f) !== 0 || v.getUint8(fp + 13) !== 0 || v.getUint8(fp + 14) !== 0 || v.getUint8(fp + 15) !== 0) {
    throw new MptableError("reserved-bits", "floatingPointer.feature2", "expected feature2 bits 0..6 and feature bytes 3..5 clear (MP spec 1.4 §4.1)");
  }
  const physptr = v.getUint32(fp + 4, true);

  // Configuration table header.
  if (physptr + MP_SIZES.header > MP_LIMIT_1MIB) {
    throw new MptableError("above-1mib", "floatingPointer.physptr", `expected the configuration table below 0x100000, got 0x${physptr.toString(16)}`);
  }
  const h = physptr - base;
  if (h < 0 || h + MP_SIZES.header > bytes.length) {
    throw new MptableError("truncated", "floatingPointer.physptr", `the configuration table at 0x${physptr.toString(16)} is outside the given bytes [0x${base.toString(16)}, 0x${(base + bytes.length).toString(16)})`);
  }
  if (v.getUint32(h, true) !== MP_TABLE_SIGNATURE) {
    throw new MptableError("bad-signature", "header.signature", `expected "PCMP", got 0x${v.getUint32(h, true).toString(16)}`);
  }
  const length = v.getUint16(h + 4, true);
  if (length < MP_SIZES.header) throw new MptableError("bad-length", "header.length", `expected at least ${MP_SIZES.header}, got ${length}`);
  if (physptr + length > MP_LIMIT_1MIB) {
    throw new MptableError("above-1mib", "header.length", `the table [0x${physptr.toString(16)}, 0x${(physptr + length).toString(16)}) must end at or below 0x100000`);
  }
  need(bytes, h, length, "header.length");
  const sum = byteSum(bytes, h, h + length);
  if (sum !== 0) throw new MptableError("bad-checksum", "header.checksum", `expected the ${length} bytes of the base table to sum to 0 mod 256, got ${sum}`);
  const tableSpec = v.getUint8(h + 6);
  if (tableSpec !== 1 && tableSpec !== 4) throw new MptableError("bad-spec-revision", "header.spec", `expected 1 or 4, got ${tableSpec}`);
  if (tableSpec !== spec) {
    throw new MptableError("bad-spec-revision", "header.spec", `expected the floating pointer's revision ${spec}, got ${tableSpec}`);
  }
  const oemId = readAscii("header.oem", bytes, h + 8, 8);
  const productId = readAscii("header.productid", bytes, h + 16, 12);
  const oemTable = { address: v.getUint32(h + 28, true), size: v.getUint16(h + 32, true) };
  if (oemTable.address !== 0) warnings.push(`an OEM table at 0x${oemTable.address.toString(16)} (${oemTable.size} bytes) is not decoded`);
  const storedEntryCount = v.getUint16(h + 34, true);
  const lapicAddress = v.getUint32(h + 36, true);
  if (lapicAddress === 0) throw new MptableError("null-lapic", "header.lapic", "expected a non-zero local APIC address, got 0");
  const extendedTableLength = v.getUint16(h + 40, true);
  if (v.getUint8(h + 43) !== 0) throw new MptableError("reserved-bits", "header.reserved", `expected 0, got ${v.getUint8(h + 43)}`);
  if (extendedTableLength !== 0) warnings.push(`an extended table of ${extendedTableLength} bytes is not decoded (Linux ignores it)`);

  // Entries, walked by length as Linux's smp_read_mpc does.
  const processors: MpProcessor[] = [];
  const buses: MpBus[] = [];
  const ioApics: MpIoApic[] = [];
  const ioInterrupts: MpIoInterrupt[] = [];
  const localInterrupts: MpLocalInterrupt[] = [];
  let o = h + MP_SIZES.header;
  const end = h + length;
  let count = 0;
  while (o < end) {
    const type = v.getUint8(o);
    const f = `entries[${count}]`;
    const size = entrySize(type);
    if (size === undefined) throw new MptableError("unknown-entry", `${f}.type`, `expected 0..4, got ${type} at table offset ${o - h}`);
    if (o + size > end) throw new MptableError("bad-length", "header.length", `${f} (${size} bytes at offset ${o - h}) runs past the table length ${length}`);
    switch (type) {
      case MP_ENTRY_TYPE.processor: {
        const flags = v.getUint8(o + 3);
        if (flags & ~0x3) throw new MptableError("reserved-bits", `${f}.cpuflag`, `expected bits 2..7 clear, got 0x${flags.toString(16)}`);
        if (v.getUint32(o + 12, true) !== 0 || v.getUint32(o + 16, true) !== 0) {
          throw new MptableError("reserved-bits", `${f}.reserved`, "expected the 8 reserved bytes to be 0");
        }
        processors.push({
          apicId: v.getUint8(o + 1),
          apicVersion: v.getUint8(o + 2),
          enabled: (flags & MP_CPU_FLAG.enabled) !== 0,
          bootstrap: (flags & MP_CPU_FLAG.bootProcessor) !== 0,
          signature: v.getUint32(o + 4, true),
          featureFlags: v.getUint32(o + 8, true),
        });
        break;
      }
      case MP_ENTRY_TYPE.bus:
        buses.push({ id: v.getUint8(o + 1), type: readAscii(`${f}.bustype`, bytes, o + 2, 6) });
        break;
      case MP_ENTRY_TYPE.ioApic: {
        const flags = v.getUint8(o + 3);
        if (flags & ~MP_IOAPIC_USABLE) throw new MptableError("reserved-bits", `${f}.flags`, `expected bits 1..7 clear, got 0x${flags.toString(16)}`);
        ioApics.push({ id: v.getUint8(o + 1), version: v.getUint8(o + 2), usable: flags === MP_IOAPIC_USABLE, address: v.getUint32(o + 4, true) });
        break;
      }
      case MP_ENTRY_TYPE.ioInterrupt: {
        // Built as literals, not by spreading irqFields(): a spread makes V8 build these objects
        // in dictionary mode, which made decoding ~10x slower.
        const { type: irqType, polarity, trigger } = irqFields(v, o, f);
        ioInterrupts.push({
          type: irqType,
          polarity,
          trigger,
          sourceBus: v.getUint8(o + 4),
          sourceIrq: v.getUint8(o + 5),
          destApic: v.getUint8(o + 6),
          destPin: v.getUint8(o + 7),
        });
        break;
      }
      default: {
        const { type: irqType, polarity, trigger } = irqFields(v, o, f);
        localInterrupts.push({
          type: irqType,
          polarity,
          trigger,
          sourceBus: v.getUint8(o + 4),
          sourceIrq: v.getUint8(o + 5),
          destApic: v.getUint8(o + 6),
          destLint: v.getUint8(o + 7),
        });
      }
    }
    o += size;
    count++;
  }
  if (processors.length === 0) throw new MptableError("no-processors", "processors", "expected at least 1 processor entry, got 0 (Linux disables SMP)");
  if (storedEntryCount !== count) {
    warnings.push(`header.oemcount is ${storedEntryCount}, but the table has ${count} entries (Linux ignores the count; FreeBSD reads it)`);
  }
  if (ioInterrupts.length === 0) warnings.push("no I/O interrupt entries: Linux falls back to its default ISA routing");
  if (physptr !== address + MP_SIZES.floatingPointer) {
    warnings.push(`the configuration table (0x${physptr.toString(16)}) does not follow the floating pointer (0x${address.toString(16)})`);
  }

  const table: MpTable = {
    address,
    specRevision: spec,
    imcrPresent: (feature2 & 0x80) !== 0,
    oemId,
    productId,
    lapicAddress,
    processors,
    buses,
    ioApics,
    ioInterrupts,
    localInterrupts,
  };
  return { table, configTableAddress: physptr, baseTableLength: length, storedEntryCount, entryCount: count, oemTable, extendedTableLength, warnings };
}

function entrySize(type: number): number | undefined {
  switch (type) {
    case MP_ENTRY_TYPE.processor:
      return MP_SIZES.processor;
    case MP_ENTRY_TYPE.bus:
      return MP_SIZES.bus;
    case MP_ENTRY_TYPE.ioApic:
      return MP_SIZES.ioApic;
    case MP_ENTRY_TYPE.ioInterrupt:
      return MP_SIZES.ioInterrupt;
    case MP_ENTRY_TYPE.localInterrupt:
      return MP_SIZES.localInterrupt;
    default:
      return undefined;
  }
}

/**
 * Decodes the MPTable whose floating pointer sits at guest-physical `address`, where `bytes[0]`
 * is. It applies Linux's checks (see {@link inspectMpTable}) and returns the same description
 * {@link encodeMpTable} takes.
 *
 * @param bytes - memory starting at the floating pointer (and holding the configuration table)
 * @param address - guest-physical address of `bytes[0]`, the floating pointer
 * @returns the table
 * @throws MptableError for a table Linux would reject, truncated bytes or a table above 1 MiB;
 *   never any other error, whatever the bytes
 * @example
 * ```ts
 * import { decodeMpTable, encodeMpTable } from "@microvm/mptable";
 * const t = decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: 2 }), 0x9fc00);
 * t.processors.map((p) => p.apicId); // [0, 1]
 * ```
 */
export function decodeMpTable(bytes: Uint8Array, address: number): MpTable {
  return inspectMpTable(bytes, address).table;
}

/**
 * Finds the MP floating pointer in an image of guest memory (starting at physical 0) the way
 * Linux does (`default_find_smp_config`, arch/x86/kernel/mpparse.c): in 16-byte steps through
 * [0, 0x400), [0x9fc00, 0xa0000) and [0xf0000, 0x100000), then the first KiB of the EBDA whose
 * segment is the u16 at 0x40e. A candidate needs the signature, a length of 1, a zero checksum
 * and revision 1 or 4. Parts of a window beyond the image are not scanned.
 *
 * @param memory - guest memory from physical address 0
 * @returns the floating pointer's address, or undefined when there is none
 * @throws MptableError `invalid-argument` when `memory` is not a Uint8Array
 * @example
 * ```ts
 * const ram = new Uint8Array(0x100000);
 * ram.set(encodeMpTable({ address: 0xf0000, cpus: 1 }), 0xf0000);
 * locateMpTable(ram); // 0xf0000
 * ```
 */
export function locateMpTable(memory: Uint8Array): number | undefined {
  if (!(memory instanceof Uint8Array)) throw new MptableError("invalid-argument", "memory", "expected a Uint8Array");
  const v = viewOf(memory);
  const windows: (readonly [number, number])[] = [...MP_SCAN_WINDOWS];
  if (memory.length >= 0x410) {
    const ebda = v.getUint16(0x40e, true) << 4;
    if (ebda !== 0) windows.push([ebda, ebda + 0x400]);
  }
  for (const [start, end] of windows) {
    for (let a = start; a + MP_SIZES.floatingPointer <= Math.min(end, memory.length); a += 16) {
      if (
        v.getUint32(a, true) === MP_FLOATING_SIGNATURE &&
        v.getUint8(a + 8) === 1 &&
        byteSum(memory, a, a + MP_SIZES.floatingPointer) === 0 &&
        (v.getUint8(a + 9) === 1 || v.getUint8(a + 9) === 4)
      ) {
        return a;
      }
    }
  }
  return undefined;
}

/**
 * Scans an image of guest memory (starting at physical 0) for an MPTable as Linux does (see
 * {@link locateMpTable}) and decodes the first one found. Like Linux, it stops at the first
 * valid floating pointer: if the configuration table it points to is bad, that is an error.
 *
 * @param memory - guest memory from physical address 0 (at least the first MiB for a full scan)
 * @returns the table, or undefined when no floating pointer is found
 * @throws MptableError when the table found fails a check (see {@link inspectMpTable})
 * @example
 * ```ts
 * const ram = new Uint8Array(0x100000);
 * ram.set(encodeMpTable({ address: 0x9fc00, cpus: 4 }), 0x9fc00);
 * findMpTable(ram)?.processors.length; // 4
 * ```
 */
export function findMpTable(memory: Uint8Array): MpTable | undefined {
  const at = locateMpTable(memory);
  return at === undefined ? undefined : inspectMpTable(memory, at, { memoryBase: 0 }).table;
}
