import { AcpiError } from "./errors.js";
import { byteSum, checkBytes, checkU64, isU64, need, readAscii, setChecksum, viewOf, writeAscii } from "./bytes.js";
import { DEFAULT_HEADER, SDT_HEADER_SIZE, finishTable, resolveHeader, validateAcpiTable, writeHeader, type SdtHeader, type SdtHeaderOptions } from "./header.js";

/**
 * Size of an ACPI 2.0+ RSDP (ACPI 6.4 §5.2.5.3, Table 5.3).
 *
 * @example
 * ```ts
 * encodeRsdp({ xsdtAddress: 0xe0000n }).length === RSDP_SIZE; // true
 * ```
 */
export const RSDP_SIZE = 36;

/**
 * A Root System Description Pointer, revision 2 (ACPI 6.4 §5.2.5.3): it points at the XSDT. The
 * 32-bit RSDT address is left 0, as ACPI 2.0+ allows when an XSDT is given.
 *
 * @example
 * ```ts
 * const rsdp: Rsdp = { xsdtAddress: 0xe0000n, oemId: "MICROV" };
 * ```
 */
export interface Rsdp {
  /** Guest-physical address of the XSDT. */
  readonly xsdtAddress: bigint | number;
  /** OEM id, 0..6 printable ASCII characters; default {@link DEFAULT_HEADER}'s. */
  readonly oemId?: string;
}

/**
 * An RSDP as {@link decodeRsdp} returns it: every field set.
 *
 * @example
 * ```ts
 * const r: DecodedRsdp = decodeRsdp(encodeRsdp({ xsdtAddress: 0xe0000n }));
 * r.revision; // 2
 * ```
 */
export interface DecodedRsdp {
  /** Guest-physical address of the XSDT. */
  readonly xsdtAddress: bigint;
  /** OEM id. */
  readonly oemId: string;
  /** The revision (2 for ACPI 2.0 and later). */
  readonly revision: number;
  /** The 32-bit RSDT address (0 in RSDPs made by this package). */
  readonly rsdtAddress: number;
}

/**
 * Encodes a revision-2 RSDP: "RSD PTR ", both checksums (the first 20 bytes, then all 36), the
 * XSDT address (ACPI 6.4 §5.2.5.3). Linux finds it through the PVH start_info's `rsdp_paddr` or by
 * scanning the EBDA and 0xe0000–0xfffff in 16-byte steps (drivers/acpi/acpica/tbxfroot.c), so
 * place it 16-byte aligned.
 *
 * @param rsdp - the XSDT address and an optional OEM id
 * @returns the 36 bytes
 * @throws AcpiError `out-of-range` / `invalid-argument` for the address, `bad-string` for the OEM id
 * @example
 * ```ts
 * const bytes = encodeRsdp({ xsdtAddress: 0xe0040n });
 * bytes.length; // 36
 * ```
 */
export function encodeRsdp(rsdp: Rsdp): Uint8Array {
  if (typeof rsdp !== "object" || rsdp === null) throw new AcpiError("invalid-argument", "RSDP", "expected an object");
  const b = new Uint8Array(RSDP_SIZE);
  const v = viewOf(b);
  for (let i = 0; i < 8; i++) b[i] = "RSD PTR ".charCodeAt(i);
  writeAscii("RSDP", ".oemId", rsdp.oemId ?? DEFAULT_HEADER.oemId, b, 9, 6);
  v.setUint8(15, 2);
  v.setUint32(20, RSDP_SIZE, true);
  v.setBigUint64(24, checkU64("RSDP.xsdtAddress", rsdp.xsdtAddress), true);
  // ACPI_RSDP_CHECKSUM_LENGTH 20 and ACPI_RSDP_XCHECKSUM_LENGTH 36 (include/acpi/acconfig.h).
  setChecksum(b, 8, 0, 20);
  setChecksum(b, 32, 0, RSDP_SIZE);
  return b;
}

/**
 * Decodes and validates an RSDP in the order of Linux's `acpi_tb_validate_rsdp`
 * (drivers/acpi/acpica/tbxfroot.c): the "RSD PTR " signature, the checksum of the first 20 bytes,
 * then (ours) a revision of 2 or more, since this package describes tables through the XSDT, a
 * length field of 36..`bytes.length`, and the extended checksum over that length.
 *
 * @param bytes - the RSDP, starting at `bytes[0]`
 * @returns its fields
 * @throws AcpiError `truncated`, `bad-signature`, `bad-checksum`, `bad-revision`, `bad-length`
 * @example
 * ```ts
 * decodeRsdp(encodeRsdp({ xsdtAddress: 0xe0040n })).xsdtAddress; // 0xe0040n
 * ```
 */
export function decodeRsdp(bytes: Uint8Array): DecodedRsdp {
  checkBytes("bytes", bytes);
  need(bytes, 0, 20, "RSDP");
  let sig = "";
  for (let i = 0; i < 8; i++) sig += String.fromCharCode(bytes[i] ?? 0);
  if (sig !== "RSD PTR ") throw new AcpiError("bad-signature", "RSDP.signature", `expected "RSD PTR ", got ${JSON.stringify(sig)}`);
  const sum = byteSum(bytes, 0, 20);
  if (sum !== 0) throw new AcpiError("bad-checksum", "RSDP.checksum", `expected the first 20 bytes to sum to 0 mod 256, got ${sum}`);
  const v = viewOf(bytes);
  const revision = v.getUint8(15);
  if (revision < 2) throw new AcpiError("bad-revision", "RSDP.revision", `expected 2 or more (ACPI 2.0+, with an XSDT address), got ${revision}`);
  need(bytes, 0, RSDP_SIZE, "RSDP");
  const length = v.getUint32(20, true);
  if (length < RSDP_SIZE || length > bytes.length) {
    throw new AcpiError("bad-length", "RSDP.length", `expected ${RSDP_SIZE}..${bytes.length} bytes, got ${length}`);
  }
  const xsum = byteSum(bytes, 0, length);
  if (xsum !== 0) throw new AcpiError("bad-checksum", "RSDP.extendedChecksum", `expected the ${length} bytes to sum to 0 mod 256, got ${xsum}`);
  return {
    xsdtAddress: v.getBigUint64(24, true),
    oemId: readAscii("RSDP.oemId", bytes, 9, 6),
    revision,
    rsdtAddress: v.getUint32(16, true),
  };
}

/**
 * An Extended System Description Table (ACPI 6.4 §5.2.8): the 64-bit addresses of the other
 * tables (FADT, MADT, SSDTs…; not the DSDT, which the FADT points at).
 *
 * @example
 * ```ts
 * const xsdt: Xsdt = { entries: [0xe0100n, 0xe0300n] };
 * ```
 */
export interface Xsdt {
  /** Header overrides; the revision is 1. */
  readonly header?: SdtHeaderOptions;
  /** Guest-physical addresses of the tables. */
  readonly entries: readonly (bigint | number)[];
}

/**
 * An XSDT as {@link decodeXsdt} returns it.
 *
 * @example
 * ```ts
 * const x: DecodedXsdt = decodeXsdt(encodeXsdt({ entries: [0x1000n] }));
 * x.entries; // [0x1000n]
 * ```
 */
export interface DecodedXsdt {
  /** The complete header. */
  readonly header: SdtHeader;
  /** Guest-physical addresses of the tables. */
  readonly entries: readonly bigint[];
}

/**
 * The size of an XSDT with `entries` entries: 36 + 8 per entry.
 *
 * @param entries - the number of tables it lists
 * @returns its size in bytes
 * @example
 * ```ts
 * xsdtSize(2); // 52
 * ```
 */
export function xsdtSize(entries: number): number {
  return SDT_HEADER_SIZE + 8 * entries;
}

/**
 * Encodes an XSDT (ACPI 6.4 §5.2.8).
 *
 * @param xsdt - the table addresses and optional header fields
 * @returns the bytes, checksummed
 * @throws AcpiError for an address beyond 64 bits or a bad header field
 * @example
 * ```ts
 * const bytes = encodeXsdt({ entries: [0xe0100n, 0xe0300n] });
 * ```
 */
export function encodeXsdt(xsdt: Xsdt): Uint8Array {
  if (typeof xsdt !== "object" || xsdt === null || !Array.isArray(xsdt.entries)) {
    throw new AcpiError("invalid-argument", "XSDT.entries", "expected an object with an array of addresses");
  }
  // The length field is a u32; 8-byte entries after the 36-byte header.
  if (xsdt.entries.length > (0xffffffff - SDT_HEADER_SIZE) / 8) throw new AcpiError("too-long", "XSDT.entries", `too many entries: ${xsdt.entries.length}`);
  const b = new Uint8Array(xsdtSize(xsdt.entries.length));
  writeXsdt(xsdt, b, viewOf(b), 0);
  return b;
}

/** Writes an XSDT whose entries are an array at `b[at]`, checksummed; `v` is a view of `b`. The rest of {@link encodeXsdt}. */
export function writeXsdt(xsdt: Xsdt, b: Uint8Array, v: DataView, at: number): void {
  const length = xsdtSize(xsdt.entries.length);
  writeHeader("XSDT", "XSDT", resolveHeader(1, xsdt.header), b, length, at, v);
  xsdt.entries.forEach((e, i) => v.setBigUint64(at + SDT_HEADER_SIZE + 8 * i, isU64(e) ? BigInt(e) : checkU64(`XSDT.entries[${i}]`, e), true));
  finishTable(b, at, length);
}

/**
 * Decodes an XSDT after {@link validateAcpiTable}; the entries are read up to the table's length,
 * as Linux's `acpi_tb_parse_root_table` does (drivers/acpi/acpica/tbutils.c).
 *
 * @param bytes - the table, starting at `bytes[0]`
 * @returns its header and entries
 * @throws AcpiError from the validator, or `bad-length` when the entries are not whole
 * @example
 * ```ts
 * decodeXsdt(encodeXsdt({ entries: [0x1000n] })).entries[0]; // 0x1000n
 * ```
 */
export function decodeXsdt(bytes: Uint8Array): DecodedXsdt {
  const { length, header } = validateAcpiTable(bytes, "XSDT");
  if ((length - SDT_HEADER_SIZE) % 8 !== 0) {
    throw new AcpiError("bad-length", "XSDT.header.length", `expected 36 + 8 per entry, got ${length}`);
  }
  const v = viewOf(bytes);
  const entries: bigint[] = [];
  for (let o = SDT_HEADER_SIZE; o < length; o += 8) entries.push(v.getBigUint64(o, true));
  // The header validateAcpiTable read, with the same field names ("XSDT.header.…").
  return { header, entries };
}
