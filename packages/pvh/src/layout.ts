// Placement of the PVH boot structures. Defaults are microvm's, the same as
// Firecracker's layout.rs: PVH_INFO_START 0x6000, MODLIST_START 0x6040, MEMMAP_START 0x7000,
// CMDLINE_START 0x20000 (CMDLINE_MAX_SIZE 2048), BOOT_GDT_OFFSET 0x500.
import type { PvhKernel } from "./elf.js";
import { pvhEntryState, DEFAULT_GDT_ADDRESS, type PvhEntryState } from "./entry-state.js";
import { PvhError } from "./errors.js";
import { encodeMemmap, MAX_MEMMAP_ENTRIES, MemmapType, type MemmapEntryInit } from "./memmap.js";
import { encodeModlist, MODLIST_ENTRY_SIZE } from "./modlist.js";
import { encodeStartInfo, START_INFO_SIZE, type StartInfo } from "./start-info.js";
import { checkArray, checkBytes, checkObject, hex, toU64, toUint } from "./checks.js";

/**
 * Most bytes of the command line, its NUL included: Firecracker's `CMDLINE_MAX_SIZE`
 * (src/vmm/src/arch/x86_64/layout.rs) and Linux's x86 `COMMAND_LINE_SIZE`
 * (arch/x86/include/asm/setup.h).
 *
 * @example
 * ```ts
 * import { MAX_CMDLINE_BYTES } from "@microvm/pvh";
 * const longest = "x".repeat(MAX_CMDLINE_BYTES - 1); // plus the NUL
 * ```
 */
export const MAX_CMDLINE_BYTES: 2048 = 2048;

/**
 * Default guest-physical addresses of the boot structures.
 *
 * @example
 * ```ts
 * import { DEFAULT_PVH_ADDRESSES } from "@microvm/pvh";
 * console.log(DEFAULT_PVH_ADDRESSES.cmdline.toString(16)); // "20000"
 * ```
 */
export const DEFAULT_PVH_ADDRESSES: {
  /** `hvm_start_info` (Firecracker's `PVH_INFO_START`). */
  readonly startInfo: 0x6000;
  /** The module list (`MODLIST_START`). */
  readonly modlist: 0x6040;
  /** The memory map (`MEMMAP_START`); room for 127 entries before 0x8000. */
  readonly memmap: 0x7000;
  /** The command line (`CMDLINE_START`). */
  readonly cmdline: 0x20000;
  /** The boot GDT (`BOOT_GDT_OFFSET`). */
  readonly gdt: 0x500;
} = { startInfo: 0x6000, modlist: 0x6040, memmap: 0x7000, cmdline: 0x20000, gdt: DEFAULT_GDT_ADDRESS } as const;

/** 1 GiB: start_info, the module list and the memory map must end below it. */
const LIMIT_1G = 0x4000_0000n;
/** 4 GiB: the command line, the initrd and the GDT must end below it. */
const LIMIT_4G = 0x1_0000_0000n;
const PAGE = 4096n;

/**
 * What a placement holds.
 *
 * @example
 * ```ts
 * import type { PlacementKind } from "@microvm/pvh";
 * const k: PlacementKind = "start_info";
 * ```
 */
export type PlacementKind = "segment" | "start_info" | "modlist" | "memmap" | "cmdline" | "initrd" | "gdt";

/**
 * Bytes to put in guest memory: write `bytes` at `address`, then zeros up to `address + size`
 * (only kernel segments have `size > bytes.length`: their BSS).
 *
 * @example
 * ```ts
 * import type { Placement } from "@microvm/pvh";
 * declare const memory: { write(addr: bigint, b: Uint8Array): void; fill(addr: bigint, n: bigint, v: number): void };
 * function place(p: Placement): void {
 *   memory.write(p.address, p.bytes);
 *   const tail = p.size - BigInt(p.bytes.length);
 *   if (tail > 0n) memory.fill(p.address + BigInt(p.bytes.length), tail, 0);
 * }
 * ```
 */
export interface Placement {
  /** What it is. */
  readonly kind: PlacementKind;
  /** A readable name: `start_info`, `segment 2`, ... (used in error messages). */
  readonly name: string;
  /** Guest-physical address. */
  readonly address: bigint;
  /** The bytes to write (for segments, a view into the ELF file). */
  readonly bytes: Uint8Array;
  /** Bytes the placement occupies, at least `bytes.length`; the rest is zero-filled. */
  readonly size: bigint;
}

/**
 * A region the board already uses (an MPTable, ACPI tables, ...), so that no placement overlaps it.
 *
 * @example
 * ```ts
 * import type { OccupiedRegion } from "@microvm/pvh";
 * const mptable: OccupiedRegion = { name: "mptable", start: 0x9fc00, size: 0x400 };
 * ```
 */
export interface OccupiedRegion {
  /** Name for error messages. */
  readonly name: string;
  /** First guest-physical address. */
  readonly start: number | bigint;
  /** Length in bytes. */
  readonly size: number | bigint;
}

/**
 * Options of {@link layoutPvhBoot}.
 *
 * @example
 * ```ts
 * import { buildE820, type PvhBootOptions, type PvhKernel } from "@microvm/pvh";
 * declare const kernel: PvhKernel;
 * const opts: PvhBootOptions = {
 *   kernel,
 *   memmap: buildE820({ ram: [{ start: 0, size: 256 << 20 }] }),
 *   cmdline: "console=ttyS0 reboot=t",
 * };
 * ```
 */
export interface PvhBootOptions {
  /** The kernel (from {@link readPvhKernel}): its segments are placed and its entry used. */
  readonly kernel: Pick<PvhKernel, "entry" | "segments">;
  /** The memory map handed to the guest, 1 to 127 entries (see {@link buildE820}). Placements must lie in its RAM. */
  readonly memmap: readonly MemmapEntryInit[];
  /**
   * The kernel command line, at most 2048 bytes with its NUL. A string must be ASCII without NUL
   * (the NUL is appended); bytes may end with their NUL or not. Absent: `cmdline_paddr` = 0.
   */
  readonly cmdline?: string | Uint8Array;
  /** The initrd, passed as module 0. Absent: no modules. */
  readonly initrd?: Uint8Array;
  /** Where the initrd goes (below 4 GiB); default: the highest 4 KiB-aligned RAM below 4 GiB where it fits. */
  readonly initrdAddress?: number | bigint;
  /** `rsdp_paddr`; default 0 (no ACPI). */
  readonly rsdpAddress?: number | bigint;
  /** Addresses of the boot structures; each defaults to {@link DEFAULT_PVH_ADDRESSES}. */
  readonly addresses?: {
    /** `hvm_start_info`; must end at or below 1 GiB. */
    readonly startInfo?: number | bigint;
    /** The module list; must end at or below 1 GiB. */
    readonly modlist?: number | bigint;
    /** The memory map; must end at or below 1 GiB. */
    readonly memmap?: number | bigint;
    /** The command line; must end at or below 4 GiB. */
    readonly cmdline?: number | bigint;
    /** The GDT; must end at or below 4 GiB. */
    readonly gdt?: number | bigint;
  };
  /** Regions the board uses for other things; placements must not overlap them. */
  readonly occupied?: readonly OccupiedRegion[];
}

/**
 * What {@link layoutPvhBoot} returns: everything to write, the start_info it encoded, and the vCPU
 * state to start from.
 *
 * @example
 * ```ts
 * import { layoutPvhBoot, type PvhBootLayout } from "@microvm/pvh";
 * declare const layout: PvhBootLayout;
 * for (const p of layout.placements) console.log(p.name, p.address.toString(16), p.size);
 * ```
 */
export interface PvhBootLayout {
  /** Every placement, kernel segments first, then the GDT and the boot structures. Disjoint. */
  readonly placements: readonly Placement[];
  /** The `hvm_start_info` that was encoded. */
  readonly startInfo: StartInfo;
  /** Guest-physical address of `hvm_start_info` (also `entry.regs.rbx`). */
  readonly startInfoAddress: bigint;
  /** The vCPU state at the PVH entry. */
  readonly entry: PvhEntryState;
}

function cmdlineBytes(v: unknown): Uint8Array {
  let body: Uint8Array;
  if (typeof v === "string") {
    body = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      // start_info.h: "a zero-terminated ASCII string". Non-ASCII bytes can be passed as a Uint8Array.
      if (c === 0 || c > 0x7f) throw new PvhError("invalid-argument", `cmdline: expected ASCII without NUL, got code ${hex(c)} at index ${i}`);
      body[i] = c;
    }
  } else if (v instanceof Uint8Array) {
    // One trailing NUL is accepted (the bytes are then used as they are); a NUL inside is not.
    body = v.length > 0 && v[v.length - 1] === 0 ? v.subarray(0, v.length - 1) : v;
    const nul = body.indexOf(0);
    if (nul >= 0) throw new PvhError("invalid-argument", `cmdline: expected no NUL before the end, got NUL at index ${nul}`);
  } else {
    throw new PvhError("invalid-argument", `cmdline: expected a string or a Uint8Array, got ${typeof v}`);
  }
  if (body.length + 1 > MAX_CMDLINE_BYTES)
    throw new PvhError("cmdline-too-long", `cmdline: expected at most ${MAX_CMDLINE_BYTES} bytes with its NUL, got ${body.length + 1}`);
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}

interface Span {
  readonly name: string;
  readonly start: bigint;
  readonly end: bigint;
}

function overlapping(spans: readonly Span[]): [Span, Span] | undefined {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as Span;
    const b = sorted[i] as Span;
    if (a.end > b.start) return [a, b];
  }
  return undefined;
}

/**
 * Lays out a PVH boot: the kernel segments, the GDT, `hvm_start_info`, the module list (when
 * there is an initrd), the memory map, the command line and the initrd, each as an
 * `(address, bytes)` {@link Placement}, plus the entry vCPU state. It writes no memory.
 *
 * Rules (Linux arch/x86/platform/pvh/head.S): start_info, module list and memory map end
 * at or below 1 GiB (Linux reads them through its early 1 GiB mapping); the command line, the initrd
 * and the GDT end at or below 4 GiB (32-bit fields and 32-bit mode); every placement lies inside one
 * RAM entry of `memmap`; no two placements overlap each other or an `occupied` region.
 *
 * @param options - see {@link PvhBootOptions}.
 * @returns placements, start_info and entry state.
 * @throws {@link PvhError} `out-of-range` for an empty memory map or a bad value,
 * `too-many-entries` above 127 memory-map entries, `cmdline-too-long`, `address-limit`,
 * `outside-ram`, `placements-overlap`, `invalid-argument`.
 * @example
 * ```ts
 * import { buildE820, layoutPvhBoot, readPvhKernel } from "@microvm/pvh";
 * declare const vmlinux: Uint8Array;
 * const layout = layoutPvhBoot({
 *   kernel: readPvhKernel(vmlinux),
 *   memmap: buildE820({ ram: [{ start: 0, size: 512 << 20 }], reserved: [{ start: 0x9fc00, size: 0x400 }] }),
 *   cmdline: "console=ttyS0 reboot=t",
 * });
 * // for (const p of layout.placements) memory.write(p.address, p.bytes) (and zero the rest up to p.size)
 * ```
 */
export function layoutPvhBoot(options: PvhBootOptions): PvhBootLayout {
  const o = checkObject("options", options);
  const kernel = checkObject("options.kernel", o["kernel"]);
  const segments = checkArray("options.kernel.segments", kernel["segments"]);
  const mmList = checkArray("options.memmap", o["memmap"]);
  if (mmList.length === 0)
    throw new PvhError("out-of-range", `memmap: expected 1..${MAX_MEMMAP_ENTRIES} entries, got 0 (Linux needs a memory map outside Xen)`);
  const memmapBytes = encodeMemmap(o["memmap"] as readonly MemmapEntryInit[]); // checks 127 and the field widths
  const addrs = o["addresses"] === undefined ? {} : checkObject("options.addresses", o["addresses"]);
  const addr = (k: keyof typeof DEFAULT_PVH_ADDRESSES): bigint => toU64(`addresses.${k}`, addrs[k] ?? DEFAULT_PVH_ADDRESSES[k]);

  const placements: Placement[] = [];
  const limits: [Placement, bigint][] = [];
  const add = (p: Placement, limit?: bigint): void => {
    placements.push(p);
    if (limit !== undefined) limits.push([p, limit]);
  };

  segments.forEach((s, i) => {
    const so = checkObject(`kernel.segments[${i}]`, s);
    const bytes = checkBytes(`kernel.segments[${i}].bytes`, so["bytes"]);
    const index = so["index"] === undefined ? i : toUint(`kernel.segments[${i}].index`, so["index"], 0xffff);
    const size = toU64(`kernel.segments[${i}].memsz`, so["memsz"]);
    if (size < BigInt(bytes.length))
      throw new PvhError("out-of-range", `kernel.segments[${i}].memsz: expected at least its ${bytes.length} file bytes, got ${size}`);
    add({ kind: "segment", name: `segment ${index}`, address: toU64(`kernel.segments[${i}].paddr`, so["paddr"]), bytes, size });
  });

  const startInfoAddress = addr("startInfo");
  const entry = pvhEntryState({ entry: kernel["entry"] as bigint, startInfo: startInfoAddress, gdtAddress: addr("gdt") });
  add({ kind: "gdt", name: "gdt", address: entry.gdt.address, bytes: entry.gdt.bytes, size: BigInt(entry.gdt.bytes.length) }, LIMIT_4G);

  let cmdlinePaddr = 0n;
  if (o["cmdline"] !== undefined) {
    const bytes = cmdlineBytes(o["cmdline"]);
    cmdlinePaddr = addr("cmdline");
    add({ kind: "cmdline", name: "cmdline", address: cmdlinePaddr, bytes, size: BigInt(bytes.length) }, LIMIT_4G);
  }

  const memmapPaddr = addr("memmap");
  add({ kind: "memmap", name: "memmap", address: memmapPaddr, bytes: memmapBytes, size: BigInt(memmapBytes.length) }, LIMIT_1G);

  // RAM runs of the memory map, adjacent RAM entries joined.
  const ramRuns: { start: bigint; end: bigint }[] = [];
  for (const e of mmList as readonly MemmapEntryInit[]) {
    if (Number(e.type) !== MemmapType.RAM) continue; // a bigint type is accepted too
    const start = BigInt(e.addr);
    ramRuns.push({ start, end: start + BigInt(e.size) });
  }
  ramRuns.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const runs: { start: bigint; end: bigint }[] = [];
  for (const r of ramRuns) {
    const last = runs[runs.length - 1];
    if (last !== undefined && r.start <= last.end) last.end = r.end > last.end ? r.end : last.end;
    else runs.push({ ...r });
  }

  let nrModules = 0;
  let modlistPaddr = 0n;
  if (o["initrd"] !== undefined) {
    const initrd = checkBytes("initrd", o["initrd"]);
    const size = BigInt(initrd.length);
    modlistPaddr = addr("modlist");
    let at: bigint;
    if (o["initrdAddress"] !== undefined) at = toU64("initrdAddress", o["initrdAddress"]);
    else {
      // start_info and the module list are placed after the initrd: keep it off them too.
      const later = [
        { start: startInfoAddress, end: startInfoAddress + BigInt(START_INFO_SIZE) },
        { start: modlistPaddr, end: modlistPaddr + BigInt(MODLIST_ENTRY_SIZE) },
      ];
      at = defaultInitrdAddress(size, runs, [...placements.map(spanOf), ...later, ...occupiedSpans(o["occupied"])]);
    }
    add({ kind: "initrd", name: "initrd", address: at, bytes: initrd, size }, LIMIT_4G);
    const modlist = encodeModlist([{ paddr: at, size }]);
    add({ kind: "modlist", name: "modlist", address: modlistPaddr, bytes: modlist, size: BigInt(modlist.length) }, LIMIT_1G);
    nrModules = 1;
  }

  const rsdp = o["rsdpAddress"] === undefined ? 0n : toU64("rsdpAddress", o["rsdpAddress"]);
  const startInfo: StartInfo = {
    version: 1,
    flags: 0,
    nrModules,
    modlistPaddr,
    cmdlinePaddr,
    rsdpPaddr: rsdp,
    memmapPaddr,
    memmapEntries: mmList.length,
  };
  const siBytes = encodeStartInfo(startInfo);
  add({ kind: "start_info", name: "start_info", address: startInfoAddress, bytes: siBytes, size: BigInt(START_INFO_SIZE) }, LIMIT_1G);

  for (const [p, limit] of limits) {
    const end = p.address + p.size;
    if (end > limit)
      throw new PvhError(
        "address-limit",
        `${p.name}: expected [${hex(p.address)}, ${hex(end)}) to end at or below ${limit === LIMIT_1G ? "1 GiB" : "4 GiB"}`,
      );
  }
  for (const p of placements) {
    const end = p.address + p.size;
    if (p.size > 0n && !runs.some((r) => r.start <= p.address && end <= r.end))
      throw new PvhError("outside-ram", `${p.name}: [${hex(p.address)}, ${hex(end)}) is not inside one RAM entry of the memory map`);
  }
  const clash = overlapping([...placements.map(spanOf), ...occupiedSpans(o["occupied"])]);
  if (clash !== undefined) {
    const [a, b] = clash;
    throw new PvhError(
      "placements-overlap",
      `${a.name} [${hex(a.start)}, ${hex(a.end)}) overlaps ${b.name} [${hex(b.start)}, ${hex(b.end)})`,
    );
  }
  // Kernel segments first, then the structures by address: a stable, readable order.
  const rest = placements.filter((p) => p.kind !== "segment").sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { placements: [...placements.filter((p) => p.kind === "segment"), ...rest], startInfo, startInfoAddress, entry };
}

function spanOf(p: Placement): Span {
  return { name: p.name, start: p.address, end: p.address + p.size };
}

function occupiedSpans(v: unknown): Span[] {
  if (v === undefined) return [];
  return checkArray("occupied", v).map((r, i) => {
    const o = checkObject(`occupied[${i}]`, r);
    const start = toU64(`occupied[${i}].start`, o["start"]);
    const name = typeof o["name"] === "string" ? o["name"] : `occupied[${i}]`;
    return { name, start, end: start + toU64(`occupied[${i}].size`, o["size"]) };
  });
}

function defaultInitrdAddress(size: bigint, runs: readonly { start: bigint; end: bigint }[], taken: readonly { start: bigint; end: bigint }[]): bigint {
  // The top of RAM below 4 GiB, page-aligned down, as Firecracker (initrd_load_addr) and QEMU do;
  // below anything already taken if the top is in use.
  const candidates = [...runs].sort((a, b) => (a.end > b.end ? -1 : a.end < b.end ? 1 : 0));
  for (const r of candidates) {
    let top = r.end < LIMIT_4G ? r.end : LIMIT_4G;
    for (;;) {
      if (top < size) break;
      const at = ((top - size) / PAGE) * PAGE;
      if (at < r.start) break;
      const hit = taken.find((t) => t.end > t.start && t.start < at + size && at < t.end);
      if (hit === undefined) return at;
      top = hit.start;
    }
  }
  throw new PvhError("outside-ram", `initrd: no RAM below 4 GiB has ${size} free bytes`);
}
