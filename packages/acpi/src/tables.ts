import { AcpiError } from "./errors.js";
import { checkBytes, checkU64, viewOf } from "./bytes.js";
import { SDT_HEADER_SIZE, finishTable, resolveHeader, validateAcpiTable, writeHeader, type SdtHeader, type SdtHeaderOptions } from "./header.js";
import { planAml, writeAml } from "./aml.js";
import type { AmlTerm } from "./aml-types.js";
import { fadtSize, writeFadt, type Fadt } from "./fadt.js";
import { checkMadtSize, writeMadt, type Madt } from "./madt.js";
import { encodeRsdp, writeXsdt, xsdtSize } from "./root.js";

/**
 * A definition block: a DSDT or SSDT, the 36-byte header around AML (ACPI 6.4 §5.2.11.1–2).
 *
 * @example
 * ```ts
 * const dsdt: DefinitionBlock = { signature: "DSDT", aml: encodeAml([amlScope("\\_SB", [])]) };
 * ```
 */
export interface DefinitionBlock {
  /** `DSDT` or `SSDT`. */
  readonly signature: "DSDT" | "SSDT";
  /** Header overrides; the revision defaults to 2 (64-bit integers). */
  readonly header?: SdtHeaderOptions;
  /** The AML bytecode (a term list), e.g. from {@link encodeAml}. */
  readonly aml: Uint8Array;
}

/**
 * A definition block as {@link decodeDefinitionBlock} returns it.
 *
 * @example
 * ```ts
 * const d: DecodedDefinitionBlock = decodeDefinitionBlock(encodeDefinitionBlock({ signature: "DSDT", aml: new Uint8Array() }));
 * d.header.revision; // 2
 * ```
 */
export interface DecodedDefinitionBlock {
  /** `DSDT` or `SSDT`. */
  readonly signature: "DSDT" | "SSDT";
  /** The complete header. */
  readonly header: SdtHeader;
  /** The AML bytes (a view into the input). */
  readonly aml: Uint8Array;
}

/**
 * Encodes a DSDT or SSDT: the header, then the AML.
 *
 * @param block - the signature, the AML and optional header fields
 * @returns the table, checksummed
 * @throws AcpiError `invalid-argument` for another signature, `too-long` beyond 4 GiB
 * @example
 * ```ts
 * const dsdt = encodeDefinitionBlock({ signature: "DSDT", aml: encodeAml([amlScope("\\_SB", [amlDevice("COM1", [amlHid("PNP0501")])])]) });
 * ```
 */
export function encodeDefinitionBlock(block: DefinitionBlock): Uint8Array {
  if (typeof block !== "object" || block === null) throw new AcpiError("invalid-argument", "definitionBlock", "expected an object");
  if (block.signature !== "DSDT" && block.signature !== "SSDT") {
    throw new AcpiError("invalid-argument", "definitionBlock.signature", `expected "DSDT" or "SSDT", got ${JSON.stringify(block.signature)}`);
  }
  const aml = checkBytes(`${block.signature}.aml`, block.aml);
  checkAmlLength(block.signature, aml.length);
  const b = new Uint8Array(SDT_HEADER_SIZE + aml.length);
  b.set(aml, SDT_HEADER_SIZE);
  writeDefinitionBlockHeader(block.signature, block.header, b, viewOf(b), 0, b.length);
  return b;
}

/** The DSDT/SSDT length check of {@link encodeDefinitionBlock}: the table's u32 length must hold the header and the AML. */
function checkAmlLength(signature: "DSDT" | "SSDT", length: number): void {
  if (length > 0xffffffff - SDT_HEADER_SIZE) throw new AcpiError("too-long", `${signature}.aml`, `expected at most 4 GiB, got ${length} bytes`);
}

/** Writes the header of a definition block of `length` bytes at `b[at]` whose AML is in place, and its checksum. */
function writeDefinitionBlockHeader(signature: "DSDT" | "SSDT", header: SdtHeaderOptions | undefined, b: Uint8Array, v: DataView, at: number, length: number): void {
  writeHeader(signature, signature, resolveHeader(2, header), b, length, at, v);
  finishTable(b, at, length);
}

/**
 * Decodes a DSDT or SSDT after {@link validateAcpiTable}; pass `aml` to {@link decodeAml} to read
 * the terms.
 *
 * @param bytes - the table, starting at `bytes[0]`
 * @param signature - the signature expected; default: either
 * @returns the signature, header and AML
 * @throws AcpiError from the validator
 * @example
 * ```ts
 * const { aml } = decodeDefinitionBlock(encodeDsdt([amlScope("\\_SB", [])]));
 * decodeAml(aml)[0]?.kind; // "scope"
 * ```
 */
export function decodeDefinitionBlock(bytes: Uint8Array, signature?: "DSDT" | "SSDT"): DecodedDefinitionBlock {
  const info = validateAcpiTable(bytes, signature);
  if (info.signature !== "DSDT" && info.signature !== "SSDT") {
    throw new AcpiError("bad-signature", "definitionBlock.header.signature", `expected "DSDT" or "SSDT", got ${JSON.stringify(info.signature)}`);
  }
  // info.header was read with the same field names ("DSDT.header.…").
  return { signature: info.signature, header: info.header, aml: bytes.subarray(SDT_HEADER_SIZE, info.length) };
}

/**
 * Encodes a DSDT from AML terms: `encodeDefinitionBlock({ signature: "DSDT", aml: encodeAml(terms) })`.
 *
 * @param terms - the DSDT's term list
 * @param header - header overrides
 * @returns the table
 * @throws AcpiError from {@link encodeAml}
 * @example
 * ```ts
 * const dsdt = encodeDsdt([amlScope("\\_SB", [amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0), amlCrs([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])])])])]);
 * ```
 */
export function encodeDsdt(terms: readonly AmlTerm[], header?: SdtHeaderOptions): Uint8Array {
  // encodeDefinitionBlock's work, with the AML written in place rather than copied.
  const plan = planAml(terms);
  checkAmlLength("DSDT", plan.size);
  const b = new Uint8Array(SDT_HEADER_SIZE + plan.size);
  writeAml(terms, plan, b, SDT_HEADER_SIZE);
  writeDefinitionBlockHeader("DSDT", header, b, viewOf(b), 0, b.length);
  return b;
}

/**
 * The input of {@link encodeAcpiTables}: everything a board describes.
 *
 * @example
 * ```ts
 * const config: AcpiTablesConfig = { address: 0xe0000n, madt: madtForCpus({ cpus: 2 }), dsdt: [amlScope("\\_SB", [])] };
 * ```
 */
export interface AcpiTablesConfig {
  /** Guest-physical address where `tables` goes (8-byte aligned is best; the tables inside are 8-byte aligned relative to it). */
  readonly address: bigint | number;
  /** The FADT, without its DSDT address (filled in); default a bare hardware-reduced FADT. */
  readonly fadt?: Omit<Fadt, "dsdtAddress">;
  /** The MADT. */
  readonly madt: Madt;
  /** The DSDT's terms, or its AML bytes. */
  readonly dsdt: readonly AmlTerm[] | Uint8Array;
  /** OEM id of the RSDP; default {@link DEFAULT_HEADER}'s. */
  readonly oemId?: string;
}

/**
 * The output of {@link encodeAcpiTables}.
 *
 * @example
 * ```ts
 * const set: AcpiTableSet = encodeAcpiTables({ address: 0xe0000n, madt: madtForCpus({ cpus: 1 }), dsdt: [] });
 * set.xsdtAddress; // 0xe0000n
 * ```
 */
export interface AcpiTableSet {
  /** The 36-byte RSDP; place it anywhere (16-byte aligned, below 1 MiB if the guest scans for it) and tell the guest where (PVH `rsdp_paddr`). */
  readonly rsdp: Uint8Array;
  /** XSDT, FADT, MADT and DSDT, each 8-byte aligned, to place at `address`. */
  readonly tables: Uint8Array;
  /** Where the XSDT is (= `address`). */
  readonly xsdtAddress: bigint;
  /** Where the FADT is. */
  readonly fadtAddress: bigint;
  /** Where the MADT is. */
  readonly madtAddress: bigint;
  /** Where the DSDT is. */
  readonly dsdtAddress: bigint;
}

const align8 = (n: number): number => (n + 7) & ~7;
/** The first address past the 64-bit address space. */
const ADDRESS_LIMIT = 1n << 64n;

/**
 * Encodes the table set of a hardware-reduced machine: RSDP → XSDT → {FADT → DSDT, MADT}.
 *
 * @param config - the address of the tables, the MADT, the DSDT and FADT options
 * @returns the RSDP, the table blob and the address of each table
 * @throws AcpiError from the table encoders, naming the table and field
 * @example
 * ```ts
 * const set = encodeAcpiTables({
 *   address: 0xe0000n,
 *   madt: madtForCpus({ cpus: 2 }),
 *   dsdt: [amlScope("\\_SB", [amlDevice("COM1", [amlHid("PNP0501"), amlUid(0), amlCrs([ioPort(0x3f8, 8), extendedInterrupt([4], { trigger: "edge" })])])])],
 * });
 * // guestRam.set(set.tables, 0xe0000); guestRam.set(set.rsdp, rsdpAddress)
 * ```
 */
export function encodeAcpiTables(config: AcpiTablesConfig): AcpiTableSet {
  if (typeof config !== "object" || config === null) throw new AcpiError("invalid-argument", "tables", "expected an object");
  const base = checkU64("tables.address", config.address);
  // Every table is checked and measured first, in the order errors are reported in (DSDT, MADT,
  // FADT), then written in place into one blob.
  const dsdt = config.dsdt instanceof Uint8Array ? config.dsdt : planAml(config.dsdt);
  const amlLength = dsdt instanceof Uint8Array ? dsdt.length : dsdt.size;
  checkAmlLength("DSDT", amlLength);
  const madtLength = checkMadtSize(config.madt);
  // The FADT's own enumerable options, as before (its dsdtAddress, if any, is not read).
  const fadt: Omit<Fadt, "dsdtAddress"> = { ...config.fadt };
  const fadtOff = align8(xsdtSize(2));
  // The FADT's size depends only on its revision.
  const madtOff = align8(fadtOff + fadtSize(fadt));
  const dsdtOff = align8(madtOff + madtLength);
  const total = dsdtOff + SDT_HEADER_SIZE + amlLength;
  const xsdtAddress = base;
  const fadtAddress = base + BigInt(fadtOff);
  const madtAddress = base + BigInt(madtOff);
  const dsdtAddress = base + BigInt(dsdtOff);
  const tables = new Uint8Array(total);
  const v = viewOf(tables);
  writeMadt(config.madt, tables, v, madtOff, madtLength);
  // Past 2^64 the address is not written: the check below fails, after the FADT's own checks.
  writeFadt(fadt, dsdtAddress < ADDRESS_LIMIT ? dsdtAddress : 0n, tables, v, fadtOff);
  if (base + BigInt(total) > ADDRESS_LIMIT) throw new AcpiError("out-of-range", "tables.address", "the tables would end beyond 2^64");
  writeXsdt({ entries: [fadtAddress, madtAddress] }, tables, v, 0);
  if (dsdt instanceof Uint8Array) tables.set(dsdt, dsdtOff + SDT_HEADER_SIZE);
  else writeAml(config.dsdt as readonly AmlTerm[], dsdt, tables, dsdtOff + SDT_HEADER_SIZE);
  writeDefinitionBlockHeader("DSDT", undefined, tables, v, dsdtOff, SDT_HEADER_SIZE + amlLength);
  const rsdp = encodeRsdp(config.oemId === undefined ? { xsdtAddress } : { xsdtAddress, oemId: config.oemId });
  return { rsdp, tables, xsdtAddress, fadtAddress, madtAddress, dsdtAddress };
}
