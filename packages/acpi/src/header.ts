import { AcpiError } from "./errors.js";
import { byteSum, checkInt, hex, isIntIn, need, readAscii, setChecksum, u32le, viewOf, writeAscii } from "./bytes.js";

/**
 * The fields of the 36-byte System Description Table header (ACPI 6.4 §5.2.6, Table 5.4) that a
 * table's author chooses. Signature, length and checksum are written by the encoders.
 *
 * @example
 * ```ts
 * const header: SdtHeader = { revision: 6, oemId: "MICROV", oemTableId: "MICROVM", oemRevision: 1, creatorId: "MCVM", creatorRevision: 1 };
 * ```
 */
export interface SdtHeader {
  /** The table's revision (its layout version, e.g. 6 for an ACPI 6.x FADT). */
  readonly revision: number;
  /** OEM id, 0..6 printable ASCII characters (blank-padded in the table). */
  readonly oemId: string;
  /** OEM table id, 0..8 printable ASCII characters. */
  readonly oemTableId: string;
  /** OEM revision, a u32. */
  readonly oemRevision: number;
  /** Id of the tool that made the table, 0..4 printable ASCII characters. */
  readonly creatorId: string;
  /** Revision of that tool, a u32. */
  readonly creatorRevision: number;
}

/**
 * Header fields a caller may override; the rest take the defaults of {@link DEFAULT_HEADER}
 * (and the table's current revision).
 *
 * @example
 * ```ts
 * const h: SdtHeaderOptions = { oemId: "ACME", oemRevision: 2 };
 * ```
 */
export type SdtHeaderOptions = Partial<SdtHeader>;

/**
 * Header defaults of tables made by this package (the revision is each table's own).
 *
 * @example
 * ```ts
 * decodeXsdt(encodeXsdt({ entries: [] })).header.oemId === DEFAULT_HEADER.oemId; // true
 * ```
 */
export const DEFAULT_HEADER: Omit<SdtHeader, "revision"> = {
  oemId: "MICROV",
  oemTableId: "MICROVM",
  oemRevision: 1,
  creatorId: "MCVM",
  creatorRevision: 1,
};

/**
 * Size of the System Description Table header (ACPI 6.4 §5.2.6).
 *
 * @example
 * ```ts
 * const aml = dsdtBytes.subarray(SDT_HEADER_SIZE);
 * ```
 */
export const SDT_HEADER_SIZE = 36;

/** The complete header of a table: the defaults, the table's revision, then the caller's overrides. */
export function resolveHeader(revision: number, given: SdtHeaderOptions | undefined): SdtHeader {
  if (given !== undefined && (typeof given !== "object" || given === null)) {
    throw new AcpiError("invalid-argument", "header", "expected an object or nothing");
  }
  if (given === undefined) {
    // The defaults as they are now (an object literal: cheaper than a spread).
    const d = DEFAULT_HEADER;
    return { revision, oemId: d.oemId, oemTableId: d.oemTableId, oemRevision: d.oemRevision, creatorId: d.creatorId, creatorRevision: d.creatorRevision };
  }
  return { revision, ...DEFAULT_HEADER, ...given };
}

/**
 * Writes the header of a table of `length` bytes at `b[at..at+36)`; `v` is a view of `b` (same
 * offsets). The checksum is set by {@link finishTable}.
 */
export function writeHeader(table: string, signature: string, h: SdtHeader, b: Uint8Array, length: number, at = 0, v: DataView = viewOf(b)): void {
  for (let i = 0; i < 4; i++) b[at + i] = signature.charCodeAt(i);
  v.setUint32(at + 4, length, true);
  v.setUint8(at + 8, isIntIn(h.revision, 0, 0xff) ? h.revision : checkInt(`${table}.header.revision`, h.revision, 0, 0xff));
  writeAscii(table, ".header.oemId", h.oemId, b, at + 10, 6);
  writeAscii(table, ".header.oemTableId", h.oemTableId, b, at + 16, 8);
  v.setUint32(at + 24, isIntIn(h.oemRevision, 0, 0xffffffff) ? h.oemRevision : checkInt(`${table}.header.oemRevision`, h.oemRevision, 0, 0xffffffff), true);
  writeAscii(table, ".header.creatorId", h.creatorId, b, at + 28, 4);
  v.setUint32(at + 32, isIntIn(h.creatorRevision, 0, 0xffffffff) ? h.creatorRevision : checkInt(`${table}.header.creatorRevision`, h.creatorRevision, 0, 0xffffffff), true);
}

/** Sets the checksum byte (offset 9) of the table at `b[at..at+length)` so that it sums to zero (ACPI 6.4 §5.2.6). */
export function finishTable(b: Uint8Array, at: number, length: number): Uint8Array {
  setChecksum(b, at + 9, at, at + length);
  return b;
}

/** Reads the author's header fields of a validated table. */
export function readHeader(table: string, b: Uint8Array): SdtHeader {
  return {
    revision: b[8] as number,
    oemId: readAscii(`${table}.header.oemId`, b, 10, 6),
    oemTableId: readAscii(`${table}.header.oemTableId`, b, 16, 8),
    oemRevision: u32le(b, 24),
    creatorId: readAscii(`${table}.header.creatorId`, b, 28, 4),
    creatorRevision: u32le(b, 32),
  };
}

/**
 * What {@link validateAcpiTable} checks per signature: the smallest length the layout needs and the
 * revisions it accepts.
 */
interface TableRule {
  readonly minLength: number;
  readonly minRevision: number;
  readonly maxRevision: number;
  readonly why: string;
}

/**
 * Per-table rules. The revisions are the ones whose layout this package reads; Linux itself accepts
 * any revision and works out the FADT's layout from its length (drivers/acpi/acpica/tbfadt.c,
 * `acpi_tb_create_local_fadt`).
 */
const RULES: Readonly<Record<string, TableRule>> = {
  // XSDT revision 1 (ACPI 6.4 §5.2.8, Table 5.7).
  XSDT: { minLength: SDT_HEADER_SIZE, minRevision: 1, maxRevision: 1, why: "ACPI 6.4 §5.2.8: the XSDT's revision is 1" },
  // FADT: revision 5 (ACPI 5.0, 268 bytes) introduced HW_REDUCED_ACPI and the sleep registers;
  // revision 6 (ACPI 6.0+) adds the hypervisor vendor id, 276 bytes (include/acpi/actbl.h
  // ACPI_FADT_V5_SIZE, ACPI_FADT_V6_SIZE).
  FACP: { minLength: 268, minRevision: 5, maxRevision: 6, why: "a hardware-reduced FADT needs the ACPI 5.0+ layout (revision 5 or 6)" },
  // MADT: 44 bytes of fixed fields (ACPI 6.4 §5.2.12, Table 5.19); revisions 1..6 share them.
  APIC: { minLength: 44, minRevision: 1, maxRevision: 6, why: "ACPI 6.4 §5.2.12: MADT revisions 1..6" },
  // DSDT/SSDT: revision 2 or more makes AML integers 64 bits wide (ACPI 6.4 §5.2.11.1;
  // drivers/acpi/acpica/utmisc.c acpi_ut_set_integer_width, called from tbinstal.c); our AML
  // encoder writes 64-bit constants.
  DSDT: { minLength: SDT_HEADER_SIZE, minRevision: 2, maxRevision: 0xff, why: "revision 2 or more gives 64-bit AML integers (ACPI 6.4 §5.2.11.1)" },
  SSDT: { minLength: SDT_HEADER_SIZE, minRevision: 2, maxRevision: 0xff, why: "revision 2 or more gives 64-bit AML integers (ACPI 6.4 §5.2.11.2)" },
};

/**
 * What {@link validateAcpiTable} returns: the header as stored, and where the table ends.
 *
 * @example
 * ```ts
 * const info: AcpiTableInfo = validateAcpiTable(encodeXsdt({ entries: [0x1000n] }));
 * info.length; // 44
 * ```
 */
export interface AcpiTableInfo {
  /** The four-character signature, e.g. `FACP` for the FADT. */
  readonly signature: string;
  /** The table's length from its header; the table is `bytes[0..length)`. */
  readonly length: number;
  /** The header fields. */
  readonly header: SdtHeader;
}

/** Whether byte `c` may be in a table signature: A–Z, 0–9 or `_` (ACPICA `acpi_ut_valid_nameseg`). */
function isSignatureChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** The table name used in error messages: FACP is called FADT, APIC is called MADT. */
export function tableName(signature: string): string {
  return signature === "FACP" ? "FADT" : signature === "APIC" ? "MADT" : signature;
}

/**
 * Validates a System Description Table in the order Linux's ACPICA does
 * (drivers/acpi/acpica/tbdata.c `acpi_tb_verify_temp_table`, tbutils.c `acpi_tb_parse_root_table`):
 * 1. signature: four name characters (A–Z, 0–9, `_`; `acpi_ut_valid_nameseg`), equal to the
 *    expected one if given;
 * 2. length: at least the 36-byte header and the table's fixed fields, and no longer than `bytes`;
 * 3. checksum: the `length` bytes sum to zero (`acpi_tb_verify_checksum`);
 * 4. revision: one whose layout this package reads (XSDT 1, FADT 5–6, MADT 1–6, DSDT/SSDT ≥ 2).
 *
 * @param bytes - the table, starting at `bytes[0]` (it may be followed by other bytes)
 * @param signature - the signature expected, e.g. `"FACP"`; default: any
 * @returns the signature, length and header
 * @throws AcpiError `truncated`, `bad-signature`, `bad-length`, `bad-checksum` or `bad-revision`
 * @example
 * ```ts
 * const fadt = encodeFadt({ dsdtAddress: 0x1000n });
 * validateAcpiTable(fadt, "FACP").length; // 276
 * ```
 */
export function validateAcpiTable(bytes: Uint8Array, signature?: string): AcpiTableInfo {
  if (!(bytes instanceof Uint8Array)) throw new AcpiError("invalid-argument", "bytes", "expected a Uint8Array");
  const expected = signature === undefined ? undefined : tableName(signature);
  const t = expected ?? "table";
  need(bytes, 0, SDT_HEADER_SIZE, `${t}.header`);
  const c0 = bytes[0] as number;
  const c1 = bytes[1] as number;
  const c2 = bytes[2] as number;
  const c3 = bytes[3] as number;
  const sig = String.fromCharCode(c0, c1, c2, c3);
  if (!(isSignatureChar(c0) && isSignatureChar(c1) && isSignatureChar(c2) && isSignatureChar(c3))) {
    throw new AcpiError("bad-signature", `${t}.header.signature`, `expected 4 characters A-Z, 0-9 or _, got ${JSON.stringify(sig)}`);
  }
  if (signature !== undefined && sig !== signature) {
    throw new AcpiError("bad-signature", `${t}.header.signature`, `expected ${JSON.stringify(signature)}, got ${JSON.stringify(sig)}`);
  }
  const name = tableName(sig);
  const length = u32le(bytes, 4);
  const rule = RULES[sig];
  const min = rule?.minLength ?? SDT_HEADER_SIZE;
  if (length < min) throw new AcpiError("bad-length", `${name}.header.length`, `expected at least ${min} bytes, got ${length}`);
  if (length > bytes.length) {
    throw new AcpiError("truncated", `${name}.header.length`, `the table says ${hex(length)} bytes, but only ${hex(bytes.length)} are given`);
  }
  const sum = byteSum(bytes, 0, length);
  if (sum !== 0) throw new AcpiError("bad-checksum", `${name}.header.checksum`, `expected the ${length} bytes to sum to 0 mod 256, got ${sum}`);
  const revision = bytes[8] ?? 0;
  if (rule && (revision < rule.minRevision || revision > rule.maxRevision)) {
    throw new AcpiError("bad-revision", `${name}.header.revision`, `expected ${rule.minRevision}..${rule.maxRevision} (${rule.why}), got ${revision}`);
  }
  return { signature: sig, length, header: readHeader(name, bytes) };
}
