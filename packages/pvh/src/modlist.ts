// hvm_modlist_entry: torvalds/linux include/xen/interface/hvm/start_info.h. Linux treats the first
// module as the initrd (arch/x86/platform/pvh/enlighten.c, init_pvh_bootparams: "The first module
// is always ramdisk").
import { PvhError } from "./errors.js";
import { checkArray, checkBytes, checkObject, checkOffset, hex, needBytes, needRoom, checkU64, toUint } from "./checks.js";
import { putU64Dv, view } from "./little-endian.js";

/**
 * Size in bytes of one `struct hvm_modlist_entry`.
 *
 * @example
 * ```ts
 * import { MODLIST_ENTRY_SIZE } from "@microvm/pvh";
 * console.log(MODLIST_ENTRY_SIZE * 2); // bytes for two modules: 64
 * ```
 */
export const MODLIST_ENTRY_SIZE: 32 = 32;

/**
 * One module (`hvm_modlist_entry`): `paddr` @0, `size` @8, `cmdline_paddr` @16, `reserved` @24,
 * all u64.
 *
 * @example
 * ```ts
 * import type { ModlistEntry } from "@microvm/pvh";
 * const initrd: ModlistEntry = { paddr: 0xbff00000n, size: 0x100000n, cmdlinePaddr: 0n };
 * ```
 */
export interface ModlistEntry {
  /** Guest-physical address of the module. */
  readonly paddr: bigint;
  /** Size of the module in bytes. */
  readonly size: bigint;
  /** Guest-physical address of the module's NUL-terminated command line, 0 for none. */
  readonly cmdlinePaddr: bigint;
}

/**
 * What {@link encodeModlist} accepts for one module: numbers or bigints, `cmdlinePaddr` optional
 * (default 0).
 *
 * @example
 * ```ts
 * import type { ModlistEntryInit } from "@microvm/pvh";
 * const initrd: ModlistEntryInit = { paddr: 0x4000000, size: 1 << 20 };
 * ```
 */
export interface ModlistEntryInit {
  /** Guest-physical address of the module. */
  readonly paddr: number | bigint;
  /** Size of the module in bytes. */
  readonly size: number | bigint;
  /** Guest-physical address of its command line; default 0 (none). */
  readonly cmdlinePaddr?: number | bigint;
}

/**
 * Writes module-list entries (32 bytes each, `reserved` = 0) into `out` at `offset`.
 *
 * @param modules - the modules, the initrd first.
 * @param out - the destination buffer.
 * @param offset - where in `out` to write; default 0.
 * @returns the number of bytes written (32 per module).
 * @throws {@link PvhError} `invalid-argument` for a wrong type, `out-of-range` for a value that is
 * not a u64 or when `out` has no room.
 * @example
 * ```ts
 * import { encodeModlistInto } from "@microvm/pvh";
 * const out = new Uint8Array(32);
 * encodeModlistInto([{ paddr: 0x4000000, size: 4096 }], out, 0);
 * ```
 */
export function encodeModlistInto(modules: readonly ModlistEntryInit[], out: Uint8Array, offset: number = 0): number {
  const list = checkArray("modules", modules);
  checkBytes("out", out);
  const off = checkOffset("offset", offset);
  const size = list.length * MODLIST_ENTRY_SIZE;
  // Validate everything before writing anything.
  for (let i = 0; i < list.length; i++) {
    const o = checkObject(`modules[${i}]`, list[i]);
    checkU64(`modules[${i}].paddr`, o["paddr"]);
    checkU64(`modules[${i}].size`, o["size"]);
    checkU64(`modules[${i}].cmdlinePaddr`, o["cmdlinePaddr"] ?? 0);
  }
  needRoom("out", out, off, size);
  if (size === 0) return 0;
  const dv = view(out);
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as ModlistEntryInit;
    const at = off + i * MODLIST_ENTRY_SIZE;
    putU64Dv(dv, at, m.paddr);
    putU64Dv(dv, at + 8, m.size);
    putU64Dv(dv, at + 16, m.cmdlinePaddr ?? 0);
    putU64Dv(dv, at + 24, 0);
  }
  return size;
}

/**
 * Encodes a module list: 32 little-endian bytes per module.
 *
 * @param modules - the modules, the initrd first.
 * @returns a new array of `32 * modules.length` bytes.
 * @throws {@link PvhError} `invalid-argument` for a wrong type, `out-of-range` for a value that is
 * not a u64.
 * @example
 * ```ts
 * import { encodeModlist } from "@microvm/pvh";
 * const bytes = encodeModlist([{ paddr: 0x4000000, size: 0x200000 }]);
 * console.log(bytes.length); // 32
 * ```
 */
export function encodeModlist(modules: readonly ModlistEntryInit[]): Uint8Array {
  const list = checkArray("modules", modules);
  const out = new Uint8Array(list.length * MODLIST_ENTRY_SIZE);
  encodeModlistInto(modules, out, 0);
  return out;
}

/**
 * Decodes `count` module-list entries.
 *
 * @param bytes - the bytes holding the list.
 * @param count - how many entries (`hvm_start_info.nr_modules`).
 * @param offset - where the list starts in `bytes`; default 0.
 * @returns the modules.
 * @throws {@link PvhError} `truncated` when `bytes` is too short, `reserved-not-zero`,
 * `invalid-argument`, `out-of-range` for a bad `count` or `offset`.
 * @example
 * ```ts
 * import { decodeModlist, encodeModlist } from "@microvm/pvh";
 * const [initrd] = decodeModlist(encodeModlist([{ paddr: 0x4000000, size: 4096 }]), 1);
 * console.log(initrd?.size); // 4096n
 * ```
 */
export function decodeModlist(bytes: Uint8Array, count: number, offset: number = 0): ModlistEntry[] {
  checkBytes("bytes", bytes);
  const n = toUint("count", count, 0xffff_ffff);
  const off = checkOffset("offset", offset);
  needBytes("modlist", bytes, off, n * MODLIST_ENTRY_SIZE);
  const dv = view(bytes);
  const out: ModlistEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = off + i * MODLIST_ENTRY_SIZE;
    const reserved = dv.getBigUint64(at + 24, true);
    if (reserved !== 0n) throw new PvhError("reserved-not-zero", `modlist[${i}].reserved: expected 0, got ${hex(reserved)}`);
    out.push({
      paddr: dv.getBigUint64(at, true),
      size: dv.getBigUint64(at + 8, true),
      cmdlinePaddr: dv.getBigUint64(at + 16, true),
    });
  }
  return out;
}
