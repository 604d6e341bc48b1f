import { AcpiError } from "./errors.js";
import { checkInt, checkKey, checkU64, isIntIn, isKeyOf, keysByValue, viewOf } from "./bytes.js";
import { finishTable, resolveHeader, validateAcpiTable, writeHeader, type SdtHeader, type SdtHeaderOptions } from "./header.js";

/**
 * Address space ids of a Generic Address Structure (ACPI 6.4 §5.2.3.2, Table 5.1).
 *
 * @example
 * ```ts
 * ACPI_ADDRESS_SPACE.memory; // 0
 * ```
 */
export const ACPI_ADDRESS_SPACE = {
  /** System memory (MMIO). */
  memory: 0,
  /** System I/O ports. */
  io: 1,
  /** PCI configuration space. */
  "pci-config": 2,
  /** Embedded controller. */
  "embedded-controller": 3,
  /** SMBus. */
  smbus: 4,
  /** System CMOS. */
  cmos: 5,
  /** PCI BAR target. */
  "pci-bar-target": 6,
  /** IPMI. */
  ipmi: 7,
  /** General-purpose I/O. */
  gpio: 8,
  /** Generic serial bus. */
  "generic-serial-bus": 9,
  /** Platform communications channel. */
  pcc: 10,
  /** Functional fixed hardware. */
  "functional-fixed-hw": 0x7f,
} as const;

/**
 * A name of {@link ACPI_ADDRESS_SPACE}.
 *
 * @example
 * ```ts
 * const space: AcpiAddressSpace = "memory";
 * ```
 */
export type AcpiAddressSpace = keyof typeof ACPI_ADDRESS_SPACE;

/**
 * Access sizes of a Generic Address Structure (ACPI 6.4 §5.2.3.2: 0 undefined (legacy), 1 byte,
 * 2 word, 3 dword, 4 qword).
 *
 * @example
 * ```ts
 * ACPI_ACCESS_SIZE.byte; // 1
 * ```
 */
export const ACPI_ACCESS_SIZE = {
  /** Undefined (legacy reasons). */
  undefined: 0,
  /** Byte access. */
  byte: 1,
  /** Word (16-bit) access. */
  word: 2,
  /** Dword (32-bit) access. */
  dword: 3,
  /** Qword (64-bit) access. */
  qword: 4,
} as const;

/**
 * A name of {@link ACPI_ACCESS_SIZE}.
 *
 * @example
 * ```ts
 * const size: AcpiAccessSize = "byte";
 * ```
 */
export type AcpiAccessSize = keyof typeof ACPI_ACCESS_SIZE;

/**
 * A Generic Address Structure (ACPI 6.4 §5.2.3.2, 12 bytes): where a register is and how to
 * access it. A register that is absent is all zeros; this package models it as `undefined`.
 *
 * @example
 * ```ts
 * const sleepControl: GenericAddress = { space: "memory", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0xfea00200n };
 * ```
 */
export interface GenericAddress {
  /** The address space. */
  readonly space: AcpiAddressSpace;
  /** Register width in bits, 0..255. */
  readonly bitWidth: number;
  /** Bit offset of the register at the address, 0..255. */
  readonly bitOffset: number;
  /** The access size. */
  readonly accessSize: AcpiAccessSize;
  /** The address in that space; non-zero. */
  readonly address: bigint | number;
}

/**
 * Bits of the FADT's `Flags` field (ACPI 6.4 §5.2.9, Table 5.10; include/acpi/actbl.h `ACPI_FADT_*`).
 *
 * @example
 * ```ts
 * const flags = FADT_FLAGS.HW_REDUCED_ACPI | FADT_FLAGS.RESET_REG_SUP;
 * ```
 */
export const FADT_FLAGS = {
  /** Bit 0: processor WBINVD works correctly. */
  WBINVD: 0x1,
  /** Bit 1: WBINVD flushes but does not invalidate caches. */
  WBINVD_FLUSH: 0x2,
  /** Bit 2: C1 is supported on all processors. */
  PROC_C1: 0x4,
  /** Bit 3: C2 works on multiprocessor systems. */
  P_LVL2_UP: 0x8,
  /** Bit 4: the power button is a control-method device (0: fixed feature). */
  PWR_BUTTON: 0x10,
  /** Bit 5: the sleep button is a control-method device, or absent. */
  SLP_BUTTON: 0x20,
  /** Bit 6: the RTC wake status is not in fixed register space. */
  FIX_RTC: 0x40,
  /** Bit 7: the RTC can wake from S4. */
  RTC_S4: 0x80,
  /** Bit 8: the PM timer is 32 bits wide (0: 24). */
  TMR_VAL_EXT: 0x100,
  /** Bit 9: the system supports docking. */
  DCK_CAP: 0x200,
  /** Bit 10: the reset register is supported. */
  RESET_REG_SUP: 0x400,
  /** Bit 11: no internal expansion. */
  SEALED_CASE: 0x800,
  /** Bit 12: no local input or output devices. */
  HEADLESS: 0x1000,
  /** Bit 13: a native instruction is needed after writing SLP_TYP. */
  CPU_SW_SLP: 0x2000,
  /** Bit 14: PCIe wake support. */
  PCI_EXP_WAK: 0x4000,
  /** Bit 15: use the platform clock, not the TSC. */
  USE_PLATFORM_CLOCK: 0x8000,
  /** Bit 16: RTC_STS is valid after S4. */
  S4_RTC_STS_VALID: 0x10000,
  /** Bit 17: can be powered on remotely. */
  REMOTE_POWER_ON_CAPABLE: 0x20000,
  /** Bit 18: use the APIC cluster model. */
  FORCE_APIC_CLUSTER_MODEL: 0x40000,
  /** Bit 19: use APIC physical destination mode. */
  FORCE_APIC_PHYSICAL_DESTINATION_MODE: 0x80000,
  /** Bit 20: hardware-reduced ACPI (ACPI 6.4 §4.1): no fixed hardware. */
  HW_REDUCED_ACPI: 0x100000,
  /** Bit 21: low-power S0 idle is at least as good as S3. */
  LOW_POWER_S0_IDLE_CAPABLE: 0x200000,
} as const;

/**
 * Bits of the FADT's `IAPC_BOOT_ARCH` field (ACPI 6.4 §5.2.9.3, Table 5.11).
 *
 * @example
 * ```ts
 * const arch = IAPC_BOOT_ARCH.VGA_NOT_PRESENT | IAPC_BOOT_ARCH.CMOS_RTC_NOT_PRESENT;
 * ```
 */
export const IAPC_BOOT_ARCH = {
  /** Bit 0: legacy devices (LPC/ISA) are present. */
  LEGACY_DEVICES: 0x1,
  /** Bit 1: an 8042 keyboard controller is present. */
  I8042: 0x2,
  /** Bit 2: no VGA hardware. */
  VGA_NOT_PRESENT: 0x4,
  /** Bit 3: MSI must not be enabled. */
  MSI_NOT_SUPPORTED: 0x8,
  /** Bit 4: OSPM must not enable ASPM. */
  PCIE_ASPM_CONTROLS: 0x10,
  /** Bit 5: no CMOS RTC. */
  CMOS_RTC_NOT_PRESENT: 0x20,
} as const;

/**
 * Size of a revision-6 FADT (ACPI 6.0 and later; include/acpi/actbl.h ACPI_FADT_V6_SIZE).
 *
 * @example
 * ```ts
 * encodeFadt({ dsdtAddress: 0x1000n }).length === FADT_SIZE; // true
 * ```
 */
export const FADT_SIZE = 276;
/** Size of a revision-5 FADT (ACPI 5.x; ACPI_FADT_V5_SIZE, up to the hypervisor vendor id). */
const FADT_V5_SIZE = 268;

/**
 * A Fixed ACPI Description Table for a hardware-reduced machine (ACPI 6.4 §5.2.9 and §4.1): no
 * fixed-hardware PM blocks, sleep through the sleep control/status registers, reset through the
 * reset register. The legacy fields (SMI command, PM1/PM2/timer/GPE blocks) are written as 0 and
 * not read back.
 *
 * @example
 * ```ts
 * const fadt: Fadt = {
 *   dsdtAddress: 0xe0400n,
 *   sleepControlRegister: { space: "memory", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0xfea00200n },
 *   sleepStatusRegister: { space: "memory", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0xfea00201n },
 *   resetRegister: { space: "memory", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0xfea00202n },
 *   resetValue: 0x42,
 * };
 * ```
 */
export interface Fadt {
  /** Header overrides; the revision defaults to 6 (5 gives the 268-byte ACPI 5.x layout). */
  readonly header?: SdtHeaderOptions;
  /** The FADT minor version (byte 131; ACPI 6.4 Table 5.9); default 5, for ACPI 6.5. */
  readonly minorVersion?: number;
  /** Guest-physical address of the DSDT, written to `X_DSDT` (the 32-bit `DSDT` is left 0). */
  readonly dsdtAddress: bigint | number;
  /** Guest-physical address of a FACS, written to `X_FIRMWARE_CTRL`; 0 (default) for none, which a hardware-reduced machine may do. */
  readonly facsAddress?: bigint | number;
  /** {@link FADT_FLAGS} bits; default `HW_REDUCED_ACPI`, plus `RESET_REG_SUP` when there is a reset register. */
  readonly flags?: number;
  /** Preferred power-management profile, 0..8 (0 unspecified; ACPI 6.4 Table 5.9); default 0. */
  readonly preferredPmProfile?: number;
  /** SCI interrupt (unused on hardware-reduced machines); default 0. */
  readonly sciInterrupt?: number;
  /** {@link IAPC_BOOT_ARCH} bits; default 0. */
  readonly iapcBootArch?: number;
  /** ARM boot architecture flags (ACPI 6.4 Table 5.12); default 0. */
  readonly armBootArch?: number;
  /** The reset register; default none. */
  readonly resetRegister?: GenericAddress;
  /** The value to write to the reset register; default 0. */
  readonly resetValue?: number;
  /** Sleep control register (ACPI 6.4 §4.8.3, hardware-reduced sleep): written with SLP_TYPx << 2 | SLP_EN (include/acpi/actbl.h ACPI_X_SLEEP_*). */
  readonly sleepControlRegister?: GenericAddress;
  /** Sleep status register (ACPI 6.4 §4.8.3): bit 7 is WAK_STS (include/acpi/actbl.h ACPI_X_WAKE_STATUS). */
  readonly sleepStatusRegister?: GenericAddress;
  /** Hypervisor vendor identity (revision 6 only); default 0. */
  readonly hypervisorVendorId?: bigint | number;
}

/**
 * A FADT as {@link decodeFadt} returns it: every field set, addresses as bigints, absent registers
 * left out.
 *
 * @example
 * ```ts
 * const f: DecodedFadt = decodeFadt(encodeFadt({ dsdtAddress: 0x1000n }));
 * (f.flags & FADT_FLAGS.HW_REDUCED_ACPI) !== 0; // true
 * ```
 */
export interface DecodedFadt {
  /** The complete header. */
  readonly header: SdtHeader;
  /** The FADT minor version. */
  readonly minorVersion: number;
  /** `X_DSDT`, or the 32-bit `DSDT` when `X_DSDT` is 0. */
  readonly dsdtAddress: bigint;
  /** `X_FIRMWARE_CTRL`, or the 32-bit `FIRMWARE_CTRL` when it is 0. */
  readonly facsAddress: bigint;
  /** The flags. */
  readonly flags: number;
  /** Preferred PM profile. */
  readonly preferredPmProfile: number;
  /** SCI interrupt. */
  readonly sciInterrupt: number;
  /** IA-PC boot architecture flags. */
  readonly iapcBootArch: number;
  /** ARM boot architecture flags. */
  readonly armBootArch: number;
  /** The reset register, if any. */
  readonly resetRegister?: DecodedGenericAddress;
  /** The reset value. */
  readonly resetValue: number;
  /** The sleep control register, if any. */
  readonly sleepControlRegister?: DecodedGenericAddress;
  /** The sleep status register, if any. */
  readonly sleepStatusRegister?: DecodedGenericAddress;
  /** Hypervisor vendor identity (0 in a revision-5 FADT). */
  readonly hypervisorVendorId: bigint;
}

/**
 * A Generic Address Structure as the decoders return it: the address as a bigint.
 *
 * @example
 * ```ts
 * const reg: DecodedGenericAddress | undefined = decodeFadt(encodeFadt({ dsdtAddress: 1n })).resetRegister; // undefined: none
 * ```
 */
export interface DecodedGenericAddress extends GenericAddress {
  /** The address in its space. */
  readonly address: bigint;
}

/** Writes a GAS at `o`, or leaves 12 zero bytes for `undefined`. */
function writeGas(field: string, v: DataView, o: number, g: GenericAddress | undefined): void {
  if (g === undefined) return;
  if (typeof g !== "object" || g === null) throw new AcpiError("invalid-argument", field, "expected a GenericAddress object or nothing");
  v.setUint8(o, isKeyOf(g.space, ACPI_ADDRESS_SPACE) ? ACPI_ADDRESS_SPACE[g.space] : checkKey(`${field}.space`, g.space, ACPI_ADDRESS_SPACE));
  v.setUint8(o + 1, isIntIn(g.bitWidth, 0, 0xff) ? g.bitWidth : checkInt(`${field}.bitWidth`, g.bitWidth, 0, 0xff));
  v.setUint8(o + 2, isIntIn(g.bitOffset, 0, 0xff) ? g.bitOffset : checkInt(`${field}.bitOffset`, g.bitOffset, 0, 0xff));
  v.setUint8(o + 3, isKeyOf(g.accessSize, ACPI_ACCESS_SIZE) ? ACPI_ACCESS_SIZE[g.accessSize] : checkKey(`${field}.accessSize`, g.accessSize, ACPI_ACCESS_SIZE));
  const address = checkU64(`${field}.address`, g.address);
  // An all-zero GAS means "no register" (ACPI 6.4 §5.2.9: "If this register is not supported, ... zero").
  if (address === 0n) throw new AcpiError("out-of-range", `${field}.address`, "expected a non-zero address (a zero GAS means no register; leave it out instead)");
  v.setBigUint64(o + 4, address, true);
}

const SPACE_BY_ID = keysByValue(ACPI_ADDRESS_SPACE);
const ACCESS_SIZE_BY_ID = keysByValue(ACPI_ACCESS_SIZE);

function readGas(field: string, v: DataView, o: number): DecodedGenericAddress | undefined {
  const address = v.getBigUint64(o + 4, true);
  const spaceId = v.getUint8(o);
  const bitWidth = v.getUint8(o + 1);
  const bitOffset = v.getUint8(o + 2);
  const accessId = v.getUint8(o + 3);
  if (address === 0n && (spaceId | bitWidth | bitOffset | accessId) === 0) return undefined;
  if (address === 0n) throw new AcpiError("out-of-range", `${field}.address`, "expected a non-zero address in a register with a space, width or access size");
  const space = SPACE_BY_ID[spaceId];
  if (space === undefined) throw new AcpiError("out-of-range", `${field}.space`, `expected a known address space id (ACPI 6.4 Table 5.1), got ${spaceId}`);
  const accessSize = ACCESS_SIZE_BY_ID[accessId];
  if (accessSize === undefined) throw new AcpiError("out-of-range", `${field}.accessSize`, `expected 0..4, got ${accessId}`);
  return { space, bitWidth, bitOffset, accessSize, address };
}

/** checkInt of 0..`max`, without the call when the value is in range. */
function fieldInt(field: string, value: number, max: number): number {
  return isIntIn(value, 0, max) ? value : checkInt(field, value, 0, max);
}

/**
 * The size of the FADT {@link encodeFadt} writes for `fadt`: 268 bytes for a revision-5 header,
 * else 276. It checks nothing (a wrong revision is the encoder's error, in its turn), so that
 * {@link encodeAcpiTables} can lay the tables out first.
 */
export function fadtSize(fadt: unknown): number {
  const header = typeof fadt === "object" && fadt !== null ? (fadt as Fadt).header : undefined;
  // The revision resolveHeader takes: the header's own enumerable one (spread semantics), else 6.
  const own = typeof header === "object" && header !== null && Object.prototype.propertyIsEnumerable.call(header, "revision");
  return own && header.revision === 5 ? FADT_V5_SIZE : FADT_SIZE;
}

/**
 * Encodes a hardware-reduced FADT, revision 6 (276 bytes) by default or 5 (268 bytes). Offsets
 * follow ACPI 6.4 §5.2.9 Table 5.9 (include/acpi/actbl.h `struct acpi_table_fadt`).
 *
 * @param fadt - the DSDT address, registers and flags
 * @returns the bytes, checksummed
 * @throws AcpiError `out-of-range` / `invalid-argument` / `bad-string` naming the field
 * @example
 * ```ts
 * const bytes = encodeFadt({ dsdtAddress: 0xe0400n, resetRegister: { space: "io", bitWidth: 8, bitOffset: 0, accessSize: "byte", address: 0xcf9 }, resetValue: 6 });
 * bytes.length; // 276
 * ```
 */
export function encodeFadt(fadt: Fadt): Uint8Array {
  const b = new Uint8Array(fadtSize(fadt));
  writeFadt(fadt, typeof fadt === "object" && fadt !== null ? fadt.dsdtAddress : undefined, b, viewOf(b), 0);
  return b;
}

/**
 * Checks and writes the FADT at `b[at]`, {@link fadtSize} bytes, checksummed; `v` is a view of `b`.
 * The work of {@link encodeFadt}, which {@link encodeAcpiTables} calls on its own table blob; the
 * DSDT address is given apart (`fadt.dsdtAddress` is not read).
 */
export function writeFadt(fadt: Omit<Fadt, "dsdtAddress">, dsdtAddress: unknown, b: Uint8Array, v: DataView, at: number): void {
  if (typeof fadt !== "object" || fadt === null) throw new AcpiError("invalid-argument", "FADT", "expected an object");
  const header = resolveHeader(6, fadt.header);
  const revision = checkInt("FADT.header.revision", header.revision, 5, 6);
  const length = revision === 6 ? FADT_SIZE : FADT_V5_SIZE;
  writeHeader("FADT", "FACP", header, b, length, at, v);
  v.setUint8(at + 45, fieldInt("FADT.preferredPmProfile", fadt.preferredPmProfile ?? 0, 8));
  v.setUint16(at + 46, fieldInt("FADT.sciInterrupt", fadt.sciInterrupt ?? 0, 0xffff), true);
  v.setUint16(at + 109, fieldInt("FADT.iapcBootArch", fadt.iapcBootArch ?? 0, 0xffff), true);
  const defaultFlags = FADT_FLAGS.HW_REDUCED_ACPI | (fadt.resetRegister !== undefined ? FADT_FLAGS.RESET_REG_SUP : 0);
  v.setUint32(at + 112, fieldInt("FADT.flags", fadt.flags ?? defaultFlags, 0xffffffff), true);
  writeGas("FADT.resetRegister", v, at + 116, fadt.resetRegister);
  v.setUint8(at + 128, fieldInt("FADT.resetValue", fadt.resetValue ?? 0, 0xff));
  v.setUint16(at + 129, fieldInt("FADT.armBootArch", fadt.armBootArch ?? 0, 0xffff), true);
  v.setUint8(at + 131, fieldInt("FADT.minorVersion", fadt.minorVersion ?? 5, 0xff));
  v.setBigUint64(at + 132, checkU64("FADT.facsAddress", fadt.facsAddress ?? 0n), true);
  v.setBigUint64(at + 140, checkU64("FADT.dsdtAddress", dsdtAddress), true);
  writeGas("FADT.sleepControlRegister", v, at + 244, fadt.sleepControlRegister);
  writeGas("FADT.sleepStatusRegister", v, at + 256, fadt.sleepStatusRegister);
  const hv = checkU64("FADT.hypervisorVendorId", fadt.hypervisorVendorId ?? 0n);
  if (revision === 6) v.setBigUint64(at + 268, hv, true);
  else if (hv !== 0n) throw new AcpiError("out-of-range", "FADT.hypervisorVendorId", "expected 0 in a revision-5 FADT (the field is new in revision 6)");
  finishTable(b, at, length);
}

/**
 * Decodes a FADT after {@link validateAcpiTable} (signature `FACP`, length, checksum, revision 5
 * or 6), then checks that the length fits the revision (268 for 5, 276 or more for 6).
 *
 * @param bytes - the table, starting at `bytes[0]`
 * @returns its fields
 * @throws AcpiError from the validator; `bad-length`; `out-of-range` for an unknown register space
 * @example
 * ```ts
 * decodeFadt(encodeFadt({ dsdtAddress: 0xe0400n })).dsdtAddress; // 0xe0400n
 * ```
 */
export function decodeFadt(bytes: Uint8Array): DecodedFadt {
  const { length, header } = validateAcpiTable(bytes, "FACP");
  const need = header.revision === 6 ? FADT_SIZE : FADT_V5_SIZE;
  if (length < need) throw new AcpiError("bad-length", "FADT.header.length", `expected at least ${need} bytes for revision ${header.revision}, got ${length}`);
  const v = viewOf(bytes);
  const xDsdt = v.getBigUint64(140, true);
  const xFacs = v.getBigUint64(132, true);
  const out: {
    -readonly [K in keyof DecodedFadt]: DecodedFadt[K];
  } = {
    // The header validateAcpiTable read, with the same field names ("FADT.header.…").
    header,
    minorVersion: v.getUint8(131),
    dsdtAddress: xDsdt !== 0n ? xDsdt : BigInt(v.getUint32(40, true)),
    facsAddress: xFacs !== 0n ? xFacs : BigInt(v.getUint32(36, true)),
    flags: v.getUint32(112, true),
    preferredPmProfile: v.getUint8(45),
    sciInterrupt: v.getUint16(46, true),
    iapcBootArch: v.getUint16(109, true),
    armBootArch: v.getUint16(129, true),
    resetValue: v.getUint8(128),
    hypervisorVendorId: header.revision === 6 ? v.getBigUint64(268, true) : 0n,
  };
  const reset = readGas("FADT.resetRegister", v, 116);
  if (reset) out.resetRegister = reset;
  const sleepControl = readGas("FADT.sleepControlRegister", v, 244);
  if (sleepControl) out.sleepControlRegister = sleepControl;
  const sleepStatus = readGas("FADT.sleepStatusRegister", v, 256);
  if (sleepStatus) out.sleepStatusRegister = sleepStatus;
  return out;
}
