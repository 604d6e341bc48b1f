// hvm_start_info, version 1. Layout: torvalds/linux include/xen/interface/hvm/start_info.h
// (a copy of xen-project/xen xen/include/public/arch-x86/hvm/start_info.h); offsets are checked
// against a C program compiled with that header (test/vectors/start-info-layout.c).
import { PvhError } from "./errors.js";
import { checkBytes, checkObject, checkOffset, checkU64, hex, needBytes, needRoom, toUint } from "./checks.js";
import { put32, putU64, view } from "./little-endian.js";

/**
 * `XEN_HVM_START_MAGIC_VALUE` ("xEn3" with bit 0x80 of the "E" set), from
 * `include/xen/interface/hvm/start_info.h`. Linux's `xen_prepare_pvh()` checks only this field.
 *
 * @example
 * ```ts
 * import { XEN_HVM_START_MAGIC_VALUE } from "@microvm/pvh";
 * console.log(XEN_HVM_START_MAGIC_VALUE.toString(16)); // "336ec578"
 * ```
 */
export const XEN_HVM_START_MAGIC_VALUE: 0x336ec578 = 0x336ec578;

/**
 * Size in bytes of `struct hvm_start_info` version 1 (version 0 is 40 bytes; version 1 adds
 * `memmap_paddr`, `memmap_entries` and `reserved`).
 *
 * @example
 * ```ts
 * import { START_INFO_SIZE } from "@microvm/pvh";
 * const buf = new Uint8Array(START_INFO_SIZE); // 56
 * ```
 */
export const START_INFO_SIZE: 56 = 56;

/**
 * Byte offsets of the `hvm_start_info` fields (v1), as laid out in
 * `include/xen/interface/hvm/start_info.h`.
 *
 * @example
 * ```ts
 * import { START_INFO_OFFSETS } from "@microvm/pvh";
 * console.log(START_INFO_OFFSETS.memmapPaddr); // 40
 * ```
 */
export const START_INFO_OFFSETS: {
  /** `magic`, u32. */
  readonly magic: 0;
  /** `version`, u32. */
  readonly version: 4;
  /** `flags`, u32. */
  readonly flags: 8;
  /** `nr_modules`, u32. */
  readonly nrModules: 12;
  /** `modlist_paddr`, u64. */
  readonly modlistPaddr: 16;
  /** `cmdline_paddr`, u64. */
  readonly cmdlinePaddr: 24;
  /** `rsdp_paddr`, u64. */
  readonly rsdpPaddr: 32;
  /** `memmap_paddr`, u64 (v1). */
  readonly memmapPaddr: 40;
  /** `memmap_entries`, u32 (v1). */
  readonly memmapEntries: 48;
  /** `reserved`, u32, zero (v1). */
  readonly reserved: 52;
} = {
  magic: 0,
  version: 4,
  flags: 8,
  nrModules: 12,
  modlistPaddr: 16,
  cmdlinePaddr: 24,
  rsdpPaddr: 32,
  memmapPaddr: 40,
  memmapEntries: 48,
  reserved: 52,
} as const;

/**
 * A decoded `hvm_start_info` (version 1 or newer). The magic is implied. Addresses are
 * guest-physical; 0 means "not present" (start_info.h: "nothing will be loaded at physical
 * address 0").
 *
 * @example
 * ```ts
 * import type { StartInfo } from "@microvm/pvh";
 * const si: StartInfo = {
 *   version: 1, flags: 0, nrModules: 0, modlistPaddr: 0n, cmdlinePaddr: 0x20000n,
 *   rsdpPaddr: 0n, memmapPaddr: 0x7000n, memmapEntries: 3,
 * };
 * ```
 */
export interface StartInfo {
  /** `version` (u32), at least 1. */
  readonly version: number;
  /** `flags` (u32, Xen `SIF_*` flags); VMMs write 0. */
  readonly flags: number;
  /** `nr_modules` (u32): entries in the module list; the first module is the initrd. */
  readonly nrModules: number;
  /** `modlist_paddr` (u64): guest-physical address of the module list. */
  readonly modlistPaddr: bigint;
  /** `cmdline_paddr` (u64): guest-physical address of the NUL-terminated command line. */
  readonly cmdlinePaddr: bigint;
  /** `rsdp_paddr` (u64): guest-physical address of the ACPI RSDP, 0 when there is none. */
  readonly rsdpPaddr: bigint;
  /** `memmap_paddr` (u64): guest-physical address of the memory map. */
  readonly memmapPaddr: bigint;
  /** `memmap_entries` (u32): entries in the memory map. */
  readonly memmapEntries: number;
}

/**
 * What {@link encodeStartInfo} accepts: every field optional (default 0, `version` default 1),
 * addresses as `number` or `bigint`.
 *
 * @example
 * ```ts
 * import { encodeStartInfo, type StartInfoInit } from "@microvm/pvh";
 * const init: StartInfoInit = { cmdlinePaddr: 0x20000, memmapPaddr: 0x7000, memmapEntries: 4 };
 * encodeStartInfo(init);
 * ```
 */
export interface StartInfoInit {
  /** `version`, 1 or more; default 1. */
  readonly version?: number;
  /** `flags`; default 0. */
  readonly flags?: number;
  /** `nr_modules`; default 0. */
  readonly nrModules?: number;
  /** `modlist_paddr`; default 0. */
  readonly modlistPaddr?: number | bigint;
  /** `cmdline_paddr`; default 0. */
  readonly cmdlinePaddr?: number | bigint;
  /** `rsdp_paddr`; default 0. */
  readonly rsdpPaddr?: number | bigint;
  /** `memmap_paddr`; default 0. */
  readonly memmapPaddr?: number | bigint;
  /** `memmap_entries`; default 0. */
  readonly memmapEntries?: number;
}

/**
 * Writes a version-1 `hvm_start_info` (56 bytes, little-endian, `reserved` = 0) into `out` at
 * `offset`, without allocating.
 *
 * @param info - the fields; see {@link StartInfoInit}.
 * @param out - the destination buffer.
 * @param offset - where in `out` to write; default 0.
 * @returns the number of bytes written (56).
 * @throws {@link PvhError} `invalid-argument` for a wrong type, `out-of-range` for a field outside
 * its width, a `version` of 0, or when `out` has no room.
 * @example
 * ```ts
 * import { encodeStartInfoInto } from "@microvm/pvh";
 * const page = new Uint8Array(4096);
 * encodeStartInfoInto({ memmapPaddr: 0x7000, memmapEntries: 3 }, page, 0);
 * ```
 */
export function encodeStartInfoInto(info: StartInfoInit, out: Uint8Array, offset: number = 0): number {
  const i = checkObject("startInfo", info);
  checkBytes("out", out);
  const off = checkOffset("offset", offset);
  const version = i["version"] === undefined ? 1 : toUint("startInfo.version", i["version"], 0xffff_ffff);
  if (version < 1) throw new PvhError("out-of-range", `startInfo.version: expected 1..0xffffffff, got ${version}`);
  const flags = toUint("startInfo.flags", i["flags"] ?? 0, 0xffff_ffff);
  const nrModules = toUint("startInfo.nrModules", i["nrModules"] ?? 0, 0xffff_ffff);
  const modlist = checkU64("startInfo.modlistPaddr", i["modlistPaddr"] ?? 0);
  const cmdline = checkU64("startInfo.cmdlinePaddr", i["cmdlinePaddr"] ?? 0);
  const rsdp = checkU64("startInfo.rsdpPaddr", i["rsdpPaddr"] ?? 0);
  const memmap = checkU64("startInfo.memmapPaddr", i["memmapPaddr"] ?? 0);
  const memmapEntries = toUint("startInfo.memmapEntries", i["memmapEntries"] ?? 0, 0xffff_ffff);
  needRoom("out", out, off, START_INFO_SIZE);
  const o = START_INFO_OFFSETS;
  put32(out, off + o.magic, XEN_HVM_START_MAGIC_VALUE);
  put32(out, off + o.version, version);
  put32(out, off + o.flags, flags);
  put32(out, off + o.nrModules, nrModules);
  putU64(out, off + o.modlistPaddr, modlist);
  putU64(out, off + o.cmdlinePaddr, cmdline);
  putU64(out, off + o.rsdpPaddr, rsdp);
  putU64(out, off + o.memmapPaddr, memmap);
  put32(out, off + o.memmapEntries, memmapEntries);
  put32(out, off + o.reserved, 0);
  return START_INFO_SIZE;
}

/**
 * Encodes a version-1 `hvm_start_info`: 56 little-endian bytes with the magic `0x336ec578`.
 *
 * @param info - the fields; see {@link StartInfoInit}.
 * @returns a new 56-byte array.
 * @throws {@link PvhError} `invalid-argument` for a wrong type, `out-of-range` for a field outside
 * its width or a `version` of 0.
 * @example
 * ```ts
 * import { encodeStartInfo } from "@microvm/pvh";
 * const bytes = encodeStartInfo({ cmdlinePaddr: 0x20000, memmapPaddr: 0x7000, memmapEntries: 4 });
 * console.log(bytes.length); // 56
 * ```
 */
export function encodeStartInfo(info: StartInfoInit): Uint8Array {
  const out = new Uint8Array(START_INFO_SIZE);
  encodeStartInfoInto(info, out, 0);
  return out;
}

/**
 * Decodes an `hvm_start_info` of version 1 or newer (newer versions are backwards-compatible, so
 * their first 56 bytes are read as version 1).
 *
 * @param bytes - the bytes holding the structure.
 * @param offset - where it starts in `bytes`; default 0.
 * @returns the fields.
 * @throws {@link PvhError} `truncated` when fewer than 56 bytes remain, `bad-magic`,
 * `unsupported-version` for version 0, `reserved-not-zero`, `invalid-argument`.
 * @example
 * ```ts
 * import { decodeStartInfo, encodeStartInfo } from "@microvm/pvh";
 * const si = decodeStartInfo(encodeStartInfo({ memmapPaddr: 0x7000, memmapEntries: 2 }));
 * console.log(si.memmapPaddr); // 28672n
 * ```
 */
export function decodeStartInfo(bytes: Uint8Array, offset: number = 0): StartInfo {
  checkBytes("bytes", bytes);
  const off = checkOffset("offset", offset);
  needBytes("hvm_start_info", bytes, off, START_INFO_SIZE);
  const dv = view(bytes);
  const o = START_INFO_OFFSETS;
  const magic = dv.getUint32(off + o.magic, true);
  if (magic !== XEN_HVM_START_MAGIC_VALUE)
    throw new PvhError("bad-magic", `hvm_start_info.magic: expected 0x336ec578, got ${hex(magic)}`);
  const version = dv.getUint32(off + o.version, true);
  // Version 0 has no memory map, and Linux BUG()s on it outside Xen
  // (torvalds/linux arch/x86/platform/pvh/enlighten.c, init_pvh_bootparams).
  if (version < 1) throw new PvhError("unsupported-version", `hvm_start_info.version: expected 1 or more, got ${version}`);
  const reserved = dv.getUint32(off + o.reserved, true);
  if (reserved !== 0) throw new PvhError("reserved-not-zero", `hvm_start_info.reserved: expected 0, got ${hex(reserved)}`);
  return {
    version,
    flags: dv.getUint32(off + o.flags, true),
    nrModules: dv.getUint32(off + o.nrModules, true),
    modlistPaddr: dv.getBigUint64(off + o.modlistPaddr, true),
    cmdlinePaddr: dv.getBigUint64(off + o.cmdlinePaddr, true),
    rsdpPaddr: dv.getBigUint64(off + o.rsdpPaddr, true),
    memmapPaddr: dv.getBigUint64(off + o.memmapPaddr, true),
    memmapEntries: dv.getUint32(off + o.memmapEntries, true),
  };
}
