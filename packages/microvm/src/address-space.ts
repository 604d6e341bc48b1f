import { MicrovmError } from "./errors.js";

/**
 * Who serves a region's accesses:
 * - `kernel`: KVM itself (in-kernel PIC, PIT, IOAPIC, LAPIC); listed, never seen by userspace;
 * - `device`: a userspace device model, through `read` / `write`;
 * - `null`: a named no-op region (reads return 0, writes are dropped, neither is "unclaimed");
 * - `ram`: guest memory (RAM or firmware) that a platform lists (QEMU lists its RAM aliases);
 *   listed as `ram`, and it may lie under a `ram` region of another priority, as QEMU's BIOS
 *   alias lies over low RAM.
 *
 * @example
 * ```ts
 * const kind: RegionKind = "kernel"; // served by KVM, listed only
 * ```
 */
export type RegionKind = "kernel" | "device" | "null" | "ram";

/**
 * A region of an address space: a range of guest-physical MMIO addresses or I/O ports.
 *
 * @example
 * ```ts
 * const r: Region | undefined = plan.ioSpace.find(0x3f8);
 * ```
 */
export interface Region {
  /** Name in the listing (`virtio-mmio`, `kvm-pic`, `serial`, …). */
  readonly name: string;
  /** First address. */
  readonly base: bigint;
  /** Length in bytes (at least 1). */
  readonly size: bigint;
  /** Who serves it. */
  readonly kind: RegionKind;
  /** Priority shown in the listing (QEMU's `prio`); the LAPIC/MSI window has 4096. */
  readonly priority: number;
  /** False for regions that exist but the seed's listing leaves out (the in-kernel IOAPIC). */
  readonly listed: boolean;
  /** Serves a read of `size` bytes at `offset` within the region (device regions). */
  read?(offset: number, size: number): number;
  /** Serves a write of `size` bytes at `offset` within the region (device regions). */
  write?(offset: number, size: number, value: number): void;
}

/**
 * What {@link AddressSpace.add} takes: a {@link Region} with defaults for kind, priority and listed.
 *
 * @example
 * ```ts
 * const init: RegionInit = { name: "my-dev", base: 0xd0001000n, size: 0x1000 };
 * memorySpace.add(init);
 * ```
 */
export interface RegionInit {
  /** Name in the listing. */
  readonly name: string;
  /** First address. */
  readonly base: number | bigint;
  /** Length in bytes. */
  readonly size: number | bigint;
  /** Who serves it; default `device` when `read` or `write` is given, else `null`. */
  readonly kind?: RegionKind;
  /** Listing priority; default 0. */
  readonly priority?: number;
  /** Whether the listing shows it; default true. */
  readonly listed?: boolean;
  /** Read handler. */
  read?(offset: number, size: number): number;
  /** Write handler. */
  write?(offset: number, size: number, value: number): void;
}

/**
 * Counters of accesses nothing claimed.
 *
 * @example
 * ```ts
 * const { reads, writes }: UnclaimedCounters = plan.ioSpace.unclaimed;
 * ```
 */
export interface UnclaimedCounters {
  /** Reads that hit no region (answered with all ones). */
  reads: number;
  /** Writes that hit no region (dropped). */
  writes: number;
}

const hex16 = (n: bigint): string => n.toString(16).padStart(16, "0");

/**
 * One address space of the machine (`memory` for MMIO or `I/O` for ports): the regions
 * registered in it, the dispatch of accesses to them, and the listing of the exposed surface in
 * the format of QEMU's `info mtree`.
 *
 * Accesses that hit no region are answered the way a PC bus answers them: reads return all ones,
 * writes are dropped; both are counted in {@link AddressSpace.unclaimed}.
 *
 * @example
 * ```ts
 * const io = new AddressSpace("I/O", 0x10000n, "io");
 * io.add({ name: "kvm-pit", base: 0x40, size: 4, kind: "kernel" });
 * io.read(0x80, 1); // 0xff, counted as unclaimed
 * ```
 */
export class AddressSpace {
  /** The name in the listing header (`memory`, `I/O`). */
  readonly name: string;
  /** The size of the space (2^64 for memory, 2^16 for ports). */
  readonly size: bigint;
  /** The root container's name, shown as the first listing line when given (`io`). */
  readonly rootName: string | undefined;
  /** Accesses that no region claimed. */
  readonly unclaimed: UnclaimedCounters = { reads: 0, writes: 0 };
  private readonly sorted: Region[] = [];

  /**
   * Creates an empty address space.
   *
   * @param name - the listing header's name
   * @param size - the size of the space
   * @param rootName - a root container line to print first (QEMU prints `io` for the port space)
   */
  constructor(name: string, size: bigint, rootName?: string) {
    this.name = name;
    this.size = size;
    this.rootName = rootName;
  }

  /**
   * Registers a region.
   *
   * @param init - the region
   * @returns the region as registered
   * @throws MicrovmError `overlap` when it overlaps a region already there, `out-of-range` when it
   *   leaves the space
   * @example
   * ```ts
   * io.add({ name: "serial", base: 0x3f8, size: 8, read: (o) => uart.read(o), write: (o, _s, v) => uart.write(o, v) });
   * ```
   */
  add(init: RegionInit): Region {
    const base = BigInt(init.base);
    const size = BigInt(init.size);
    if (size < 1n || base < 0n || base + size > this.size) {
      throw new MicrovmError(
        "out-of-range",
        `${this.name} region ${init.name}: expected [base, base+size) within [0, 0x${this.size.toString(16)}) and size >= 1, got base 0x${base.toString(16)} size 0x${size.toString(16)}`,
      );
    }
    const kind: RegionKind = init.kind ?? (init.read || init.write ? "device" : "null");
    const priority = init.priority ?? 0;
    for (const r of this.sorted) {
      // Memory may be layered by priority (QEMU's subregion rule); nothing else may overlap.
      const layered = kind === "ram" && r.kind === "ram" && priority !== r.priority;
      if (!layered && base < r.base + r.size && r.base < base + size) {
        throw new MicrovmError(
          "overlap",
          `${this.name} region ${init.name} [0x${base.toString(16)}, 0x${(base + size).toString(16)}) overlaps ${r.name} [0x${r.base.toString(16)}, 0x${(r.base + r.size).toString(16)})`,
        );
      }
    }
    const region: Region = {
      name: init.name,
      base,
      size,
      kind,
      priority,
      listed: init.listed ?? true,
      ...(init.read ? { read: init.read } : {}),
      ...(init.write ? { write: init.write } : {}),
    };
    this.sorted.push(region);
    this.sorted.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : b.priority - a.priority));
    return region;
  }

  /**
   * Every region, in address order.
   *
   * @returns the regions
   * @example
   * ```ts
   * const names = io.regions().map((r) => r.name);
   * ```
   */
  regions(): readonly Region[] {
    return this.sorted;
  }

  /**
   * The region containing `address`, if any.
   *
   * @param address - an address in this space
   * @returns the region or undefined
   * @example
   * ```ts
   * io.find(0x3fd)?.name; // "serial"
   * ```
   */
  find(address: number | bigint): Region | undefined {
    const a = BigInt(address);
    // Few regions (a dozen at most): a linear scan beats anything cleverer here.
    for (const r of this.sorted) if (a >= r.base && a < r.base + r.size) return r;
    return undefined;
  }

  /**
   * Dispatches a read. Unclaimed reads return all ones for the access size and are counted.
   *
   * @param address - the address
   * @param size - 1, 2, 4 or 8 bytes
   * @returns the value read
   * @example
   * ```ts
   * const lsr = io.read(0x3fd, 1);
   * ```
   */
  read(address: number | bigint, size: number): number {
    const r = this.find(address);
    if (r?.read) return r.read(Number(BigInt(address) - r.base), size);
    if (r && r.kind !== "device") return r.kind === "null" ? 0 : allOnes(size);
    this.unclaimed.reads++;
    return allOnes(size);
  }

  /**
   * Dispatches a write. Unclaimed writes are dropped and counted.
   *
   * @param address - the address
   * @param size - 1, 2, 4 or 8 bytes
   * @param value - the value written
   * @example
   * ```ts
   * io.write(0x3f8, 1, 0x41); // "A" to the UART
   * ```
   */
  write(address: number | bigint, size: number, value: number): void {
    const r = this.find(address);
    if (r?.write) return r.write(Number(BigInt(address) - r.base), size, value);
    if (r && r.kind !== "device") return;
    this.unclaimed.writes++;
  }

  /**
   * The listing of this space in the format of QEMU's `info mtree`: a header line, the root
   * container when the space has one, then one line per listed region in address order.
   *
   * @returns the lines
   * @example
   * ```ts
   * console.log(io.listing().join("\n"));
   * ```
   */
  listing(): string[] {
    const lines = [`address-space: ${this.name}`];
    let indent = "  ";
    if (this.rootName !== undefined) {
      lines.push(`${indent}${hex16(0n)}-${hex16(this.size - 1n)} (prio 0, i/o): ${this.rootName}`);
      indent += "  ";
    }
    for (const r of this.sorted) {
      if (!r.listed) continue;
      lines.push(`${indent}${hex16(r.base)}-${hex16(r.base + r.size - 1n)} (prio ${r.priority}, ${r.kind === "ram" ? "ram" : "i/o"}): ${r.name}`);
    }
    return lines;
  }
}

function allOnes(size: number): number {
  return size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
