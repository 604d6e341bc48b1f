import { AcpiError } from "./errors.js";
import { checkBool, checkInt, checkKey, isIntIn, isKeyOf, keysByValue, viewOf } from "./bytes.js";
import { SDT_HEADER_SIZE, finishTable, resolveHeader, validateAcpiTable, writeHeader, type SdtHeader, type SdtHeaderOptions } from "./header.js";

/**
 * MADT interrupt controller structure types this package reads and writes (ACPI 6.4 §5.2.12,
 * Table 5.21).
 *
 * @example
 * ```ts
 * MADT_ENTRY_TYPE["local-x2apic"]; // 9
 * ```
 */
export const MADT_ENTRY_TYPE = {
  /** Processor Local APIC (§5.2.12.2). */
  "local-apic": 0,
  /** I/O APIC (§5.2.12.3). */
  "io-apic": 1,
  /** Interrupt Source Override (§5.2.12.5). */
  "interrupt-override": 2,
  /** Local APIC NMI (§5.2.12.7). */
  "local-apic-nmi": 4,
  /** Processor Local x2APIC (§5.2.12.12). */
  "local-x2apic": 9,
  /** Local x2APIC NMI (§5.2.12.13). */
  "local-x2apic-nmi": 10,
} as const;

/** Entry lengths by type (ACPI 6.4 §5.2.12.2, .3, .5, .7, .12, .13). */
const ENTRY_LENGTH: Readonly<Record<keyof typeof MADT_ENTRY_TYPE, number>> = {
  "local-apic": 8,
  "io-apic": 12,
  "interrupt-override": 10,
  "local-apic-nmi": 6,
  "local-x2apic": 16,
  "local-x2apic-nmi": 12,
};

/**
 * Interrupt polarity in MPS INTI flags, bits 0–1 (ACPI 6.4 §5.2.12.5, Table 5.26).
 *
 * @example
 * ```ts
 * MADT_POLARITY["active-low"]; // 3
 * ```
 */
export const MADT_POLARITY = {
  /** 00: conforms to the bus's specification. */
  conforming: 0,
  /** 01: active high. */
  "active-high": 1,
  /** 10: reserved. */
  reserved: 2,
  /** 11: active low. */
  "active-low": 3,
} as const;

/**
 * Interrupt trigger mode in MPS INTI flags, bits 2–3 (ACPI 6.4 §5.2.12.5, Table 5.26).
 *
 * @example
 * ```ts
 * MADT_TRIGGER.level; // 3
 * ```
 */
export const MADT_TRIGGER = {
  /** 00: conforms to the bus's specification. */
  conforming: 0,
  /** 01: edge-triggered. */
  edge: 1,
  /** 10: reserved. */
  reserved: 2,
  /** 11: level-triggered. */
  level: 3,
} as const;

/**
 * A polarity name of {@link MADT_POLARITY}.
 *
 * @example
 * ```ts
 * const p: MadtPolarity = "active-high";
 * ```
 */
export type MadtPolarity = keyof typeof MADT_POLARITY;

/**
 * A trigger-mode name of {@link MADT_TRIGGER}.
 *
 * @example
 * ```ts
 * const t: MadtTrigger = "edge";
 * ```
 */
export type MadtTrigger = keyof typeof MADT_TRIGGER;

/**
 * One MADT interrupt controller structure.
 *
 * - `local-apic` (type 0): a processor with an 8-bit APIC id. ACPI 6.4 §5.2.12.12: processors with
 *   ids below 255 use this entry, others `local-x2apic`.
 * - `io-apic` (type 1): an I/O APIC, its address and first GSI.
 * - `interrupt-override` (type 2): ISA IRQ `source` arrives on `gsi` (bus 0 = ISA).
 * - `local-apic-nmi` (type 4): the LINT pin wired to NMI; processor UID 0xff = all.
 * - `local-x2apic` (type 9): a processor with a 32-bit x2APIC id.
 * - `local-x2apic-nmi` (type 10): as type 4 for x2APIC processors; UID 0xffffffff = all.
 *
 * @example
 * ```ts
 * const cpu0: MadtEntry = { type: "local-apic", processorUid: 0, apicId: 0, enabled: true, onlineCapable: false };
 * ```
 */
export type MadtEntry =
  | {
      /** The entry kind. */
      readonly type: "local-apic";
      /** ACPI processor UID, 0..255 (matches a processor device's `_UID`). */
      readonly processorUid: number;
      /** The local APIC id, 0..254. */
      readonly apicId: number;
      /** Flags bit 0: usable now. */
      readonly enabled: boolean;
      /** Flags bit 1 (ACPI 6.3+): may be enabled later; only meaningful when not enabled. */
      readonly onlineCapable: boolean;
    }
  | {
      /** The entry kind. */
      readonly type: "io-apic";
      /** I/O APIC id, 0..255. */
      readonly id: number;
      /** Its 32-bit MMIO address. */
      readonly address: number;
      /** The GSI of its input 0. */
      readonly gsiBase: number;
    }
  | {
      /** The entry kind. */
      readonly type: "interrupt-override";
      /** Source bus; 0 is ISA, the only value the spec defines. */
      readonly bus: number;
      /** Bus-relative IRQ, 0..255. */
      readonly source: number;
      /** Global system interrupt it is wired to. */
      readonly gsi: number;
      /** Polarity. */
      readonly polarity: MadtPolarity;
      /** Trigger mode. */
      readonly trigger: MadtTrigger;
    }
  | {
      /** The entry kind. */
      readonly type: "local-apic-nmi";
      /** ACPI processor UID, or 0xff for all processors. */
      readonly processorUid: number;
      /** Polarity. */
      readonly polarity: MadtPolarity;
      /** Trigger mode. */
      readonly trigger: MadtTrigger;
      /** LINT input, 0 or 1. */
      readonly lint: number;
    }
  | {
      /** The entry kind. */
      readonly type: "local-x2apic";
      /** ACPI processor UID, a u32. */
      readonly processorUid: number;
      /** The x2APIC id, a u32 (0xffffffff is not a valid id). */
      readonly x2apicId: number;
      /** Flags bit 0. */
      readonly enabled: boolean;
      /** Flags bit 1. */
      readonly onlineCapable: boolean;
    }
  | {
      /** The entry kind. */
      readonly type: "local-x2apic-nmi";
      /** ACPI processor UID, or 0xffffffff for all processors. */
      readonly processorUid: number;
      /** Polarity. */
      readonly polarity: MadtPolarity;
      /** Trigger mode. */
      readonly trigger: MadtTrigger;
      /** LINT input, 0 or 1. */
      readonly lint: number;
    };

/**
 * A Multiple APIC Description Table (ACPI 6.4 §5.2.12).
 *
 * @example
 * ```ts
 * const madt: Madt = { entries: [{ type: "local-apic", processorUid: 0, apicId: 0, enabled: true, onlineCapable: false }] };
 * ```
 */
export interface Madt {
  /** Header overrides; the revision defaults to 5 (ACPI 6.3–6.4). */
  readonly header?: SdtHeaderOptions;
  /** Local APIC address; default 0xfee00000. */
  readonly localApicAddress?: number;
  /** Flags bit 0, PCAT_COMPAT: the machine also has dual 8259s; default true (Linux: arch/x86/kernel/acpi/boot.c `acpi_parse_madt` calls `legacy_pic_pcat_compat`). */
  readonly pcatCompat?: boolean;
  /** The interrupt controller structures, in order. */
  readonly entries: readonly MadtEntry[];
}

/**
 * A MADT as {@link decodeMadt} returns it.
 *
 * @example
 * ```ts
 * const m: DecodedMadt = decodeMadt(encodeMadt(madtForCpus({ cpus: 2 })));
 * m.entries.length; // 2 CPUs, 1 IOAPIC, 1 LAPIC NMI
 * ```
 */
export interface DecodedMadt {
  /** The complete header. */
  readonly header: SdtHeader;
  /** The local APIC address. */
  readonly localApicAddress: number;
  /** PCAT_COMPAT. */
  readonly pcatCompat: boolean;
  /** The entries. */
  readonly entries: readonly MadtEntry[];
}

/**
 * The size of the MADT {@link encodeMadt} writes for these entries.
 *
 * @param entries - the entries
 * @returns 44 plus the entries' lengths
 * @throws AcpiError `invalid-argument` for an unknown entry type
 * @example
 * ```ts
 * madtSize(madtForCpus({ cpus: 1 }).entries); // 44 + 8 + 12 + 6 = 70
 * ```
 */
export function madtSize(entries: readonly MadtEntry[]): number {
  let n = 44;
  entries.forEach((e, i) => {
    const t = typeof e === "object" && e !== null ? e.type : undefined;
    const length = entryLength(t);
    if (length === 0) checkKey(`${entryField(i)}.type`, t, MADT_ENTRY_TYPE);
    n += length;
  });
  return n;
}

/** {@link ENTRY_LENGTH} of a type name, or 0 for anything else (a switch: no keyed lookup per entry). */
function entryLength(type: unknown): number {
  switch (type) {
    case "local-apic":
      return ENTRY_LENGTH["local-apic"];
    case "io-apic":
      return ENTRY_LENGTH["io-apic"];
    case "interrupt-override":
      return ENTRY_LENGTH["interrupt-override"];
    case "local-apic-nmi":
      return ENTRY_LENGTH["local-apic-nmi"];
    case "local-x2apic":
      return ENTRY_LENGTH["local-x2apic"];
    case "local-x2apic-nmi":
      return ENTRY_LENGTH["local-x2apic-nmi"];
    default:
      return 0;
  }
}

/** The field of entry `i` in errors. */
function entryField(i: number): string {
  return `MADT.entries[${i}]`;
}

/** checkInt for field `key` of entry `i`, naming the field only when the check fails. */
function entryInt(i: number, key: string, value: number, min: number, max: number): number {
  return isIntIn(value, min, max) ? value : checkInt(`${entryField(i)}.${key}`, value, min, max);
}

/** The Flags of a processor entry: bit 0 enabled, bit 1 online capable (ACPI 6.4 Table 5.23). */
function cpuFlags(i: number, enabled: unknown, onlineCapable: unknown): number {
  const e = typeof enabled === "boolean" ? enabled : checkBool(`${entryField(i)}.enabled`, enabled);
  const o = typeof onlineCapable === "boolean" ? onlineCapable : checkBool(`${entryField(i)}.onlineCapable`, onlineCapable);
  return (e ? 1 : 0) | (o ? 2 : 0);
}

/** MPS INTI flags: polarity in bits 0–1, trigger mode in bits 2–3 (ACPI 6.4 Table 5.26). */
function inti(i: number, polarity: unknown, trigger: unknown): number {
  const p = isKeyOf(polarity, MADT_POLARITY) ? MADT_POLARITY[polarity] : checkKey(`${entryField(i)}.polarity`, polarity, MADT_POLARITY);
  const t = isKeyOf(trigger, MADT_TRIGGER) ? MADT_TRIGGER[trigger] : checkKey(`${entryField(i)}.trigger`, trigger, MADT_TRIGGER);
  return p | (t << 2);
}

/**
 * Encodes a MADT: the local APIC address, the PCAT_COMPAT flag, then each entry (layouts of ACPI
 * 6.4 §5.2.12; include/acpi/actbl2.h `struct acpi_madt_*`).
 *
 * @param madt - the entries and optional fields
 * @returns the bytes, checksummed
 * @throws AcpiError naming the entry and field, e.g. `MADT.entries[3].apicId: expected 0..254, got 300`
 * @example
 * ```ts
 * const bytes = encodeMadt(madtForCpus({ cpus: 8 }));
 * ```
 */
export function encodeMadt(madt: Madt): Uint8Array {
  const size = checkMadtSize(madt);
  const b = new Uint8Array(size);
  writeMadt(madt, b, viewOf(b), 0, size);
  return b;
}

/**
 * The first checks of {@link encodeMadt} (an object with an array of entries of known types, a
 * length that fits the header) and the size of the table; {@link writeMadt} does the rest.
 */
export function checkMadtSize(madt: Madt): number {
  if (typeof madt !== "object" || madt === null || !Array.isArray(madt.entries)) {
    throw new AcpiError("invalid-argument", "MADT.entries", "expected an object with an array of entries");
  }
  const size = madtSize(madt.entries);
  if (size > 0xffffffff) throw new AcpiError("too-long", "MADT.entries", `the table would be ${size} bytes`);
  return size;
}

/** Checks the rest of the MADT that passed {@link checkMadtSize} and writes its `size` bytes at `b[at]`, checksummed; `v` is a view of `b`. */
export function writeMadt(madt: Madt, b: Uint8Array, v: DataView, at: number, size: number): void {
  writeHeader("MADT", "APIC", resolveHeader(5, madt.header), b, size, at, v);
  const apic = madt.localApicAddress ?? 0xfee00000;
  v.setUint32(at + 36, isIntIn(apic, 0, 0xffffffff) ? apic : checkInt("MADT.localApicAddress", apic, 0, 0xffffffff), true);
  v.setUint32(at + 40, checkBool("MADT.pcatCompat", madt.pcatCompat ?? true) ? 1 : 0, true);
  let o = at + 44;
  madt.entries.forEach((e, i) => {
    // Each case writes its type and length (constant keys: no lookup by the type string per entry).
    switch (e.type) {
      case "local-apic":
        v.setUint8(o, MADT_ENTRY_TYPE["local-apic"]);
        v.setUint8(o + 1, ENTRY_LENGTH["local-apic"]);
        v.setUint8(o + 2, entryInt(i, "processorUid", e.processorUid, 0, 0xff));
        // 0xff is the broadcast id (Linux ignores such an entry, arch/x86/kernel/acpi/boot.c acpi_parse_lapic).
        v.setUint8(o + 3, entryInt(i, "apicId", e.apicId, 0, 0xfe));
        v.setUint32(o + 4, cpuFlags(i, e.enabled, e.onlineCapable), true);
        break;
      case "io-apic":
        v.setUint8(o, MADT_ENTRY_TYPE["io-apic"]);
        v.setUint8(o + 1, ENTRY_LENGTH["io-apic"]);
        v.setUint8(o + 2, entryInt(i, "id", e.id, 0, 0xff));
        v.setUint32(o + 4, entryInt(i, "address", e.address, 0, 0xffffffff), true);
        v.setUint32(o + 8, entryInt(i, "gsiBase", e.gsiBase, 0, 0xffffffff), true);
        break;
      case "interrupt-override":
        v.setUint8(o, MADT_ENTRY_TYPE["interrupt-override"]);
        v.setUint8(o + 1, ENTRY_LENGTH["interrupt-override"]);
        v.setUint8(o + 2, entryInt(i, "bus", e.bus, 0, 0xff));
        v.setUint8(o + 3, entryInt(i, "source", e.source, 0, 0xff));
        v.setUint32(o + 4, entryInt(i, "gsi", e.gsi, 0, 0xffffffff), true);
        v.setUint16(o + 8, inti(i, e.polarity, e.trigger), true);
        break;
      case "local-apic-nmi":
        v.setUint8(o, MADT_ENTRY_TYPE["local-apic-nmi"]);
        v.setUint8(o + 1, ENTRY_LENGTH["local-apic-nmi"]);
        v.setUint8(o + 2, entryInt(i, "processorUid", e.processorUid, 0, 0xff));
        v.setUint16(o + 3, inti(i, e.polarity, e.trigger), true);
        v.setUint8(o + 5, entryInt(i, "lint", e.lint, 0, 1));
        break;
      case "local-x2apic":
        v.setUint8(o, MADT_ENTRY_TYPE["local-x2apic"]);
        v.setUint8(o + 1, ENTRY_LENGTH["local-x2apic"]);
        v.setUint32(o + 4, entryInt(i, "x2apicId", e.x2apicId, 0, 0xfffffffe), true);
        v.setUint32(o + 8, cpuFlags(i, e.enabled, e.onlineCapable), true);
        v.setUint32(o + 12, entryInt(i, "processorUid", e.processorUid, 0, 0xffffffff), true);
        break;
      case "local-x2apic-nmi":
        v.setUint8(o, MADT_ENTRY_TYPE["local-x2apic-nmi"]);
        v.setUint8(o + 1, ENTRY_LENGTH["local-x2apic-nmi"]);
        v.setUint16(o + 2, inti(i, e.polarity, e.trigger), true);
        v.setUint32(o + 4, entryInt(i, "processorUid", e.processorUid, 0, 0xffffffff), true);
        v.setUint8(o + 8, entryInt(i, "lint", e.lint, 0, 1));
        break;
    }
    o += v.getUint8(o + 1);
  });
  finishTable(b, at, size);
}

const ENTRY_TYPE_BY_CODE = keysByValue(MADT_ENTRY_TYPE);
const POLARITY_BY_VALUE = keysByValue(MADT_POLARITY) as readonly MadtPolarity[];
const TRIGGER_BY_VALUE = keysByValue(MADT_TRIGGER) as readonly MadtTrigger[];

/** Checks MPS INTI flags (bits 4..15 reserved) of entry `i`; returns them. */
function checkInti(i: number, flags: number): number {
  if (flags & ~0xf) throw new AcpiError("bad-entry", `${entryField(i)}.flags`, `expected bits 4..15 clear (ACPI 6.4 Table 5.26), got 0x${flags.toString(16)}`);
  return flags;
}

/** Checks processor Flags (bits 2..31 reserved) of entry `i`; returns them. */
function checkCpuFlags(i: number, flags: number): number {
  if (flags & ~3) throw new AcpiError("bad-entry", `${entryField(i)}.flags`, `expected bits 2..31 clear (ACPI 6.4 Table 5.23), got 0x${(flags >>> 0).toString(16)}`);
  return flags;
}

/**
 * Decodes a MADT after {@link validateAcpiTable}. Entries are walked by their length field up to
 * the table's length, as Linux's `acpi_parse_entries_array` does (drivers/acpi/tables.c); an entry
 * shorter than its type's layout, running past the table, of a type this package does not know,
 * or with reserved bits set is an error.
 *
 * @param bytes - the table, starting at `bytes[0]`
 * @returns its fields and entries
 * @throws AcpiError from the validator, or `bad-entry` naming the entry
 * @example
 * ```ts
 * decodeMadt(encodeMadt(madtForCpus({ cpus: 2 }))).entries[0]?.type; // "local-apic"
 * ```
 */
export function decodeMadt(bytes: Uint8Array): DecodedMadt {
  const { length, header } = validateAcpiTable(bytes, "APIC");
  const v = viewOf(bytes);
  const flags = v.getUint32(40, true);
  if (flags & ~1) throw new AcpiError("bad-entry", "MADT.flags", `expected bits 1..31 clear, got 0x${(flags >>> 0).toString(16)}`);
  const entries: MadtEntry[] = [];
  let o = 44;
  for (let i = 0; o < length; i++) {
    if (o + 2 > length) throw new AcpiError("bad-entry", entryField(i), `expected a 2-byte entry header at offset ${o}, but the table ends at ${length}`);
    const code = v.getUint8(o);
    const len = v.getUint8(o + 1);
    const type = ENTRY_TYPE_BY_CODE[code];
    if (type === undefined) throw new AcpiError("bad-entry", `${entryField(i)}.type`, `expected one of 0, 1, 2, 4, 9, 10, got ${code}`);
    if (len !== ENTRY_LENGTH[type]) throw new AcpiError("bad-entry", `${entryField(i)}.length`, `expected ${ENTRY_LENGTH[type]} for a ${type} entry, got ${len}`);
    if (o + len > length) throw new AcpiError("bad-entry", entryField(i), `the ${len}-byte entry at offset ${o} runs past the table's end at ${length}`);
    switch (type) {
      case "local-apic": {
        const apicId = v.getUint8(o + 3);
        if (apicId === 0xff) throw new AcpiError("bad-entry", `${entryField(i)}.apicId`, "expected 0..254, got 255 (the broadcast id)");
        const flags = checkCpuFlags(i, v.getUint32(o + 4, true));
        entries.push({ type, processorUid: v.getUint8(o + 2), apicId, enabled: (flags & 1) !== 0, onlineCapable: (flags & 2) !== 0 });
        break;
      }
      case "io-apic":
        if (v.getUint8(o + 3) !== 0) throw new AcpiError("bad-entry", `${entryField(i)}.reserved`, `expected 0, got ${v.getUint8(o + 3)}`);
        entries.push({ type, id: v.getUint8(o + 2), address: v.getUint32(o + 4, true), gsiBase: v.getUint32(o + 8, true) });
        break;
      case "interrupt-override": {
        const flags = checkInti(i, v.getUint16(o + 8, true));
        entries.push({ type, bus: v.getUint8(o + 2), source: v.getUint8(o + 3), gsi: v.getUint32(o + 4, true), polarity: POLARITY_BY_VALUE[flags & 3]!, trigger: TRIGGER_BY_VALUE[flags >> 2]! });
        break;
      }
      case "local-apic-nmi": {
        const lint = v.getUint8(o + 5);
        if (lint > 1) throw new AcpiError("bad-entry", `${entryField(i)}.lint`, `expected 0 or 1, got ${lint}`);
        const flags = checkInti(i, v.getUint16(o + 3, true));
        entries.push({ type, processorUid: v.getUint8(o + 2), polarity: POLARITY_BY_VALUE[flags & 3]!, trigger: TRIGGER_BY_VALUE[flags >> 2]!, lint });
        break;
      }
      case "local-x2apic": {
        if (v.getUint16(o + 2, true) !== 0) throw new AcpiError("bad-entry", `${entryField(i)}.reserved`, "expected 0");
        const x2apicId = v.getUint32(o + 4, true);
        if (x2apicId === 0xffffffff) throw new AcpiError("bad-entry", `${entryField(i)}.x2apicId`, "expected 0..0xfffffffe, got 0xffffffff");
        const flags = checkCpuFlags(i, v.getUint32(o + 8, true));
        entries.push({ type, processorUid: v.getUint32(o + 12, true), x2apicId, enabled: (flags & 1) !== 0, onlineCapable: (flags & 2) !== 0 });
        break;
      }
      case "local-x2apic-nmi": {
        const lint = v.getUint8(o + 8);
        if (lint > 1) throw new AcpiError("bad-entry", `${entryField(i)}.lint`, `expected 0 or 1, got ${lint}`);
        if (v.getUint8(o + 9) | v.getUint8(o + 10) | v.getUint8(o + 11)) throw new AcpiError("bad-entry", `${entryField(i)}.reserved`, "expected 0");
        const flags = checkInti(i, v.getUint16(o + 2, true));
        entries.push({ type, polarity: POLARITY_BY_VALUE[flags & 3]!, trigger: TRIGGER_BY_VALUE[flags >> 2]!, processorUid: v.getUint32(o + 4, true), lint });
        break;
      }
    }
    o += len;
  }
  // The header validateAcpiTable read, with the same field names ("MADT.header.…").
  return { header, localApicAddress: v.getUint32(36, true), pcatCompat: (flags & 1) !== 0, entries };
}

/**
 * Options of {@link madtForCpus}.
 *
 * @example
 * ```ts
 * const o: MadtOptions = { cpus: 4, ioApics: [{ id: 0, address: 0xfec00000, gsiBase: 0 }, { id: 1, address: 0xfec10000, gsiBase: 24 }] };
 * ```
 */
export interface MadtOptions {
  /** The CPU count (APIC ids 0..n-1), or the list of APIC ids. */
  readonly cpus: number | readonly number[];
  /** The I/O APICs; default one, id = the CPU count, at 0xfec00000, GSI base 0. */
  readonly ioApics?: readonly {
    /** I/O APIC id. */
    readonly id: number;
    /** MMIO address. */
    readonly address: number;
    /** GSI of input 0. */
    readonly gsiBase: number;
  }[];
  /** Interrupt source overrides, e.g. ISA IRQ 0 → GSI 2; default none. */
  readonly overrides?: readonly {
    /** ISA IRQ. */
    readonly source: number;
    /** The GSI it arrives on. */
    readonly gsi: number;
    /** Polarity; default conforming. */
    readonly polarity?: MadtPolarity;
    /** Trigger mode; default conforming. */
    readonly trigger?: MadtTrigger;
  }[];
  /** PCAT_COMPAT; default true. */
  readonly pcatCompat?: boolean;
  /** Header overrides. */
  readonly header?: SdtHeaderOptions;
}

/**
 * A MADT for a board: one processor entry per CPU (processor UID = its index; `local-apic` for
 * APIC ids below 255, `local-x2apic` above, as ACPI 6.4 §5.2.12.12 asks), the I/O APICs, the
 * overrides, and NMI on LINT1 of every processor (a `local-apic-nmi`, plus a `local-x2apic-nmi` when
 * there are x2APIC entries) — the wiring of the MP spec's default configuration.
 *
 * @param options - CPUs, I/O APICs and overrides
 * @returns the MADT to pass to {@link encodeMadt}
 * @throws AcpiError `out-of-range` for a CPU count outside 1..65535 or an invalid APIC id
 * @example
 * ```ts
 * const madt = madtForCpus({ cpus: 2 });
 * madt.entries.map((e) => e.type); // ["local-apic", "local-apic", "io-apic", "local-apic-nmi"]
 * ```
 */
export function madtForCpus(options: MadtOptions): Madt {
  if (typeof options !== "object" || options === null) throw new AcpiError("invalid-argument", "MADT", "expected an object");
  const ids =
    typeof options.cpus === "number"
      ? Array.from({ length: checkInt("MADT.cpus", options.cpus, 1, 0xffff) }, (_, i) => i)
      : Array.isArray(options.cpus)
        ? options.cpus
        : [];
  if (ids.length === 0) throw new AcpiError("out-of-range", "MADT.cpus", "expected at least one CPU");
  const entries: MadtEntry[] = ids.map((id, i) => {
    // The checks build their field names only when they fail (a name per CPU was most of the time
    // of a 254-CPU MADT).
    if (!isIntIn(id, 0, 0xfffffffe)) checkInt(`MADT.cpus[${i}]`, id, 0, 0xfffffffe);
    if (id < 0xff && i > 0xff) checkInt(`MADT.cpus[${i}] processor UID`, i, 0, 0xff);
    return id < 0xff
      ? { type: "local-apic", processorUid: i, apicId: id, enabled: true, onlineCapable: false }
      : { type: "local-x2apic", processorUid: i, x2apicId: id, enabled: true, onlineCapable: false };
  });
  const ioApics = options.ioApics ?? [{ id: ids.length & 0xff, address: 0xfec00000, gsiBase: 0 }];
  for (const a of ioApics) entries.push({ type: "io-apic", id: a.id, address: a.address, gsiBase: a.gsiBase });
  for (const r of options.overrides ?? []) {
    entries.push({ type: "interrupt-override", bus: 0, source: r.source, gsi: r.gsi, polarity: r.polarity ?? "conforming", trigger: r.trigger ?? "conforming" });
  }
  entries.push({ type: "local-apic-nmi", processorUid: 0xff, polarity: "conforming", trigger: "conforming", lint: 1 });
  if (ids.some((id) => id >= 0xff)) {
    entries.push({ type: "local-x2apic-nmi", processorUid: 0xffffffff, polarity: "conforming", trigger: "conforming", lint: 1 });
  }
  const out: { -readonly [K in keyof Madt]: Madt[K] } = { entries };
  if (options.pcatCompat !== undefined) out.pcatCompat = options.pcatCompat;
  if (options.header !== undefined) out.header = options.header;
  return out;
}
