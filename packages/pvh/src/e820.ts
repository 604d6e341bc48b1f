// An E820-style memory map for hvm_start_info, built from RAM and reserved ranges.
import { PvhError } from "./errors.js";
import { MAX_MEMMAP_ENTRIES, MemmapType, type MemmapEntry } from "./memmap.js";
import { checkArray, checkObject, hex, toU64 } from "./checks.js";

/**
 * A range of guest-physical addresses, `[start, start + size)`, as numbers or bigints.
 *
 * @example
 * ```ts
 * import type { GuestRangeInit } from "@microvm/pvh";
 * const low: GuestRangeInit = { start: 0, size: 0xc0000000 };
 * ```
 */
export interface GuestRangeInit {
  /** First guest-physical address. */
  readonly start: number | bigint;
  /** Length in bytes; `start + size` must not exceed 2^64. */
  readonly size: number | bigint;
}

/**
 * The 32-bit MMIO gap of microvm's machine, `[0xc0000000, 4 GiB)`: RAM runs
 * up to 3 GiB, the IOAPIC, LAPIC and virtio-mmio windows live in the gap.
 *
 * @example
 * ```ts
 * import { buildE820, MMIO_GAP_32 } from "@microvm/pvh";
 * buildE820({ ram: [{ start: 0, size: 0x1_0000_0000 }], mmioGap: MMIO_GAP_32 });
 * ```
 */
export const MMIO_GAP_32: {
  /** 3 GiB. */
  readonly start: 0xc0000000;
  /** 1 GiB, up to 4 GiB. */
  readonly size: 0x40000000;
} = { start: 0xc0000000, size: 0x40000000 } as const;

/**
 * Options of {@link buildE820}.
 *
 * @example
 * ```ts
 * import type { E820Options } from "@microvm/pvh";
 * const opts: E820Options = {
 *   ram: [{ start: 0, size: 128 << 20 }],
 *   reserved: [{ start: 0x9fc00, size: 0x400 }, { start: 0xf0000, size: 0x10000 }],
 * };
 * ```
 */
export interface E820Options {
  /** RAM ranges; overlapping or adjacent ones are merged. */
  readonly ram: readonly GuestRangeInit[];
  /** Reserved ranges; they win over RAM where both cover an address. Kept even inside the MMIO gap. */
  readonly reserved?: readonly GuestRangeInit[];
  /** RAM inside this range is left out of the map; default {@link MMIO_GAP_32}; `null` for none. */
  readonly mmioGap?: GuestRangeInit | null;
}

interface Span {
  readonly start: bigint;
  readonly end: bigint;
}

const END_MAX = 1n << 64n;

function spans(field: string, v: unknown): Span[] {
  return checkArray(field, v).map((r, i) => span(`${field}[${i}]`, r));
}

function span(field: string, r: unknown): Span {
  const o = checkObject(field, r);
  const start = toU64(`${field}.start`, o["start"]);
  const size = toU64(`${field}.size`, o["size"]);
  const end = start + size;
  if (end > END_MAX) throw new PvhError("out-of-range", `${field}: start + size must be at most 2^64, got ${hex(end)}`);
  return { start, end };
}

/**
 * Builds the memory map for `hvm_start_info`: sorted by address, non-overlapping, adjacent
 * entries of the same type merged, zero-sized ranges dropped. Reserved ranges override RAM; RAM
 * inside the MMIO gap is left out (the gap itself is not listed, as on QEMU's `microvm`).
 *
 * @param options - RAM ranges, reserved ranges and the MMIO gap; see {@link E820Options}.
 * @returns the entries, ready for {@link encodeMemmap}.
 * @throws {@link PvhError} `too-many-entries` when the result exceeds {@link MAX_MEMMAP_ENTRIES},
 * `out-of-range` for a range that is not u64 or ends past 2^64, `invalid-argument` for wrong types.
 * @example
 * ```ts
 * import { buildE820 } from "@microvm/pvh";
 * const map = buildE820({
 *   ram: [{ start: 0, size: 0x1_4000_0000 }], // 5 GiB, split by the gap below 4 GiB
 *   reserved: [{ start: 0x9fc00, size: 0x400 }, { start: 0xf0000, size: 0x10000 }],
 * });
 * // [0,0x9fc00) RAM, [0x9fc00,0xa0000) reserved, [0xa0000,0xf0000) RAM,
 * // [0xf0000,0x100000) reserved, [0x100000,0xc0000000) RAM, [4 GiB, 5 GiB) RAM
 * ```
 */
export function buildE820(options: E820Options): MemmapEntry[] {
  const o = checkObject("options", options);
  const ram = spans("ram", o["ram"]);
  const reserved = o["reserved"] === undefined ? [] : spans("reserved", o["reserved"]);
  const gapInit = o["mmioGap"] === undefined ? MMIO_GAP_32 : o["mmioGap"];
  const gap = gapInit === null ? [] : [span("mmioGap", gapInit)];

  // Sweep over the range boundaries with a coverage count per kind: O(n log n).
  const RAM_K = 0;
  const RES_K = 1;
  const GAP_K = 2;
  const events: [bigint, number, number][] = []; // [address, kind, +1 | -1]
  const push = (list: readonly Span[], kind: number): void => {
    for (const r of list) {
      if (r.end <= r.start) continue;
      events.push([r.start, kind, 1], [r.end, kind, -1]);
    }
  };
  push(ram, RAM_K);
  push(reserved, RES_K);
  push(gap, GAP_K);
  events.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const count = [0, 0, 0];
  const out: { addr: bigint; size: bigint; type: number }[] = [];
  for (let i = 0; i < events.length; ) {
    const a = (events[i] as [bigint, number, number])[0];
    while (i < events.length && (events[i] as [bigint, number, number])[0] === a) {
      const [, kind, d] = events[i] as [bigint, number, number];
      count[kind] = (count[kind] as number) + d;
      i++;
    }
    if (i >= events.length) break;
    const b = (events[i] as [bigint, number, number])[0];
    // [a, b) is covered uniformly.
    let type: number | undefined;
    if ((count[RES_K] as number) > 0) type = MemmapType.RESERVED;
    else if ((count[RAM_K] as number) > 0 && (count[GAP_K] as number) === 0) type = MemmapType.RAM;
    if (type === undefined) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last.type === type && last.addr + last.size === a) last.size += b - a;
    else out.push({ addr: a, size: b - a, type });
  }
  if (out.length > MAX_MEMMAP_ENTRIES)
    throw new PvhError("too-many-entries", `memmap: expected at most ${MAX_MEMMAP_ENTRIES} entries, got ${out.length}`);
  return out.map((e) => ({ addr: e.addr, size: e.size, type: e.type }));
}
