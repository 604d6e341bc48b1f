import {
  DEFAULT_CPU_FEATURES,
  DEFAULT_CPU_SIGNATURE,
  DEFAULT_IOAPIC_ADDRESS,
  DEFAULT_IOAPIC_VERSION,
  DEFAULT_LAPIC_ADDRESS,
  DEFAULT_LAPIC_VERSION,
  MP_APIC_ALL,
  MP_CPU_FLAG,
  MP_ENTRY_TYPE,
  MP_FLOATING_SIGNATURE,
  MP_IOAPIC_USABLE,
  MP_IRQ_POLARITY,
  MP_IRQ_TRIGGER,
  MP_IRQ_TYPE,
  MP_LIMIT_1MIB,
  MP_MAX_CPUS,
  MP_SIZES,
  MP_TABLE_SIGNATURE,
} from "./constants.js";
import { SummingWriter, asciiField, checkBool, checkEntryBool, checkEntryInt, checkEntryKey, checkInt } from "./bytes.js";
import { MptableError } from "./errors.js";
import { identityIrqRouting } from "./routing.js";
import type {
  MpBus,
  MpIoApic,
  MpIoInterrupt,
  MpLocalInterrupt,
  MpProcessor,
  MpProcessorConfig,
  MpTable,
  MpTableConfig,
} from "./types.js";

/**
 * Default OEM and product id of tables made by this package.
 *
 * @example
 * ```ts
 * decodeMpTable(encodeMpTable({ address: 0x9fc00, cpus: 1 }), 0x9fc00).oemId === DEFAULT_OEM_ID; // true
 * ```
 */
export const DEFAULT_OEM_ID: "MICROVM" = "MICROVM";

/**
 * The encoder's own form of a table: like {@link MpTable}, but a CPU count given as `cpus: n`
 * stays a number. Those n processors (APIC ids 0..n-1, the defaults, the first one the BSP) are
 * valid by construction, so the encoder neither makes an object for each nor checks them: at 254
 * CPUs the objects and their checks were half of the encoder's time.
 */
interface EncoderTable extends Omit<MpTable, "processors"> {
  readonly processors: readonly MpProcessor[] | number;
}

/** The number of processors of a table in either form. */
function cpuCount(t: EncoderTable): number {
  return typeof t.processors === "number" ? t.processors : t.processors.length;
}

/** The processors of `config`, or their count when `keepCount` and `cpus` is a number. */
function processorsOf(config: MpTableConfig, keepCount: boolean): MpProcessor[] | number {
  const given = config.processors ?? config.cpus;
  if (given === undefined) {
    throw new MptableError("invalid-argument", "cpus", "expected a CPU count or a list of processors, got nothing");
  }
  if (typeof given === "number") {
    if (!Number.isInteger(given)) throw new MptableError("invalid-argument", "cpus", `expected an integer 1..${MP_MAX_CPUS}, got ${given}`);
    if (given < 1) throw new MptableError("no-cpus", "cpus", `expected 1..${MP_MAX_CPUS}, got ${given}`);
    if (given > MP_MAX_CPUS) throw new MptableError("too-many-cpus", "cpus", `expected 1..${MP_MAX_CPUS}, got ${given}`);
    if (keepCount) return given;
    const out = new Array<MpProcessor>(given);
    for (let i = 0; i < given; i++) out[i] = countedProcessor(i);
    return out;
  }
  if (!Array.isArray(given)) {
    throw new MptableError("invalid-argument", "cpus", `expected a number or an array, got ${typeof given}`);
  }
  const list = given as readonly MpProcessorConfig[];
  // A non-object entry is kept as it is, for validateMpTable to name it (`processors[i]`).
  const anyBsp = list.some((p) => p?.bootstrap === true);
  return list.map((p, i) => (typeof p === "object" && p !== null ? defaultProcessor(p, !anyBsp && i === 0) : (p as unknown as MpProcessor)));
}

/** Processor `i` of a table given as a CPU count. */
function countedProcessor(i: number): MpProcessor {
  return {
    apicId: i,
    apicVersion: DEFAULT_LAPIC_VERSION,
    enabled: true,
    bootstrap: i === 0,
    signature: DEFAULT_CPU_SIGNATURE,
    featureFlags: DEFAULT_CPU_FEATURES,
  };
}

function defaultProcessor(p: MpProcessorConfig, bsp: boolean): MpProcessor {
  return {
    apicId: p.apicId,
    apicVersion: p.apicVersion ?? DEFAULT_LAPIC_VERSION,
    enabled: p.enabled ?? true,
    bootstrap: p.bootstrap ?? bsp,
    signature: p.signature ?? DEFAULT_CPU_SIGNATURE,
    featureFlags: p.featureFlags ?? DEFAULT_CPU_FEATURES,
  };
}

/**
 * Fills in every default of an {@link MpTableConfig} and returns the complete {@link MpTable}
 * that {@link encodeMpTable} would write. Use it to inspect a board's table before placing it.
 * It does not validate; {@link encodeMpTable} and {@link validateMpTable} do.
 *
 * @param config - the table's address and CPUs, plus optional overrides
 * @returns the complete description
 * @throws MptableError `no-cpus` / `too-many-cpus` / `invalid-argument` for a bad CPU list
 * @example
 * ```ts
 * const t = resolveMpTableConfig({ address: 0x9fc00, cpus: 2 });
 * t.ioApics[0]?.id; // 2: the id after the CPUs' 0 and 1
 * ```
 */
export function resolveMpTableConfig(config: MpTableConfig): MpTable {
  return resolveTable(config, false) as MpTable;
}

/** {@link resolveMpTableConfig}, keeping a CPU count as a number when `keepCount`. */
function resolveTable(config: MpTableConfig, keepCount: boolean): EncoderTable {
  if (typeof config !== "object" || config === null) {
    throw new MptableError("invalid-argument", "config", `expected an object, got ${config === null ? "null" : typeof config}`);
  }
  const processors = processorsOf(config, keepCount);
  // A counted table's BSP is APIC id 0 and its largest id n-1.
  const bspApic = typeof processors === "number" ? 0 : (processors.find((p) => p?.bootstrap) ?? processors[0])?.apicId;
  const maxApic =
    typeof processors === "number" ? processors - 1 : processors.reduce((m, p) => (typeof p?.apicId === "number" && p.apicId > m ? p.apicId : m), -1);
  const ioApics: MpIoApic[] = config.ioApics
    ? [...config.ioApics]
    : [
        {
          id: config.ioApic?.id ?? maxApic + 1,
          version: config.ioApic?.version ?? DEFAULT_IOAPIC_VERSION,
          usable: config.ioApic?.usable ?? true,
          address: config.ioApic?.address ?? DEFAULT_IOAPIC_ADDRESS,
        },
      ];
  const buses: MpBus[] = config.buses ? [...config.buses] : [{ id: 0, type: "ISA" }];
  const isaBus = buses.find((b) => b?.type === "ISA") ?? buses[0];
  const firstIoApic = ioApics[0];
  const ioInterrupts: MpIoInterrupt[] = config.ioInterrupts
    ? [...config.ioInterrupts]
    : firstIoApic && isaBus && typeof firstIoApic.id === "number" && firstIoApic.id >= 0 && firstIoApic.id <= 0xff
      ? identityIrqRouting({ ioApicId: firstIoApic.id, sourceBus: isaBus.id })
      : [];
  const lintBus = isaBus?.id ?? 0;
  const localInterrupts: MpLocalInterrupt[] = config.localInterrupts
    ? [...config.localInterrupts]
    : [
        // LINT0 is the 8259's ExtINT input of the BSP (virtual-wire mode), LINT1 the NMI of every
        // LAPIC: MP spec 1.4 §5.1 default configurations, and what Firecracker and qboot write.
        { type: "ExtINT", polarity: "conforming", trigger: "conforming", sourceBus: lintBus, sourceIrq: 0, destApic: bspApic ?? 0, destLint: 0 },
        { type: "NMI", polarity: "conforming", trigger: "conforming", sourceBus: lintBus, sourceIrq: 0, destApic: MP_APIC_ALL, destLint: 1 },
      ];
  return {
    address: config.address,
    specRevision: config.specRevision ?? 4,
    imcrPresent: config.imcrPresent ?? false,
    oemId: config.oemId ?? DEFAULT_OEM_ID,
    productId: config.productId ?? DEFAULT_OEM_ID,
    lapicAddress: config.lapicAddress ?? DEFAULT_LAPIC_ADDRESS,
    processors,
    buses,
    ioApics,
    ioInterrupts,
    localInterrupts,
  };
}

/** Base-table length (configuration header plus entries) of a complete table. */
function baseLength(t: EncoderTable): number {
  return (
    MP_SIZES.header +
    cpuCount(t) * MP_SIZES.processor +
    t.buses.length * MP_SIZES.bus +
    t.ioApics.length * MP_SIZES.ioApic +
    t.ioInterrupts.length * MP_SIZES.ioInterrupt +
    t.localInterrupts.length * MP_SIZES.localInterrupt
  );
}

/**
 * The number of bytes {@link encodeMpTable} writes for `config`: the 16-byte floating pointer,
 * the 44-byte header and every entry. A board uses it to choose where the table goes.
 *
 * @param config - a configuration or a complete table
 * @returns the size in bytes
 * @throws MptableError for a bad CPU list (see {@link resolveMpTableConfig})
 * @example
 * ```ts
 * mpTableSize({ address: 0x9fc00, cpus: 2 }); // 16 + 44 + 2*20 + 8 + 8 + 16*8 + 2*8 = 260
 * ```
 */
export function mpTableSize(config: MpTableConfig): number {
  return MP_SIZES.floatingPointer + baseLength(resolveTable(config, true));
}

function checkIrqFields(list: string, i: number, e: MpIoInterrupt | MpLocalInterrupt): void {
  if (typeof e !== "object" || e === null) throw new MptableError("invalid-argument", `${list}[${i}]`, "expected an object");
  checkEntryKey(list, i, "type", e.type, MP_IRQ_TYPE);
  checkEntryKey(list, i, "polarity", e.polarity, MP_IRQ_POLARITY);
  checkEntryKey(list, i, "trigger", e.trigger, MP_IRQ_TRIGGER);
  checkEntryInt(list, i, "sourceBus", e.sourceBus, 0, 0xff);
  checkEntryInt(list, i, "sourceIrq", e.sourceIrq, 0, 0xff);
  checkEntryInt(list, i, "destApic", e.destApic, 0, 0xff);
}

/**
 * Checks a complete table against the MP specification and Linux's expectations, throwing the
 * first problem found. {@link encodeMpTable} calls it; call it yourself to validate a table
 * built by hand or decoded from elsewhere.
 *
 * Checks: 1..254 processors with distinct APIC ids 0..254 and exactly one enabled bootstrap
 * processor; I/O APIC ids distinct from each other and from every processor; bus ids distinct;
 * interrupt entries that name a listed bus and a listed IOAPIC (or 0xff) / LAPIC (or 0xff); LINT
 * 0 or 1; strings of printable ASCII within 8 / 12 / 6 characters; integer fields within their
 * widths; a non-zero LAPIC address; a 16-byte aligned address; the whole table below 1 MiB.
 *
 * @param t - the complete table
 * @throws MptableError naming the field and the limit
 * @example
 * ```ts
 * validateMpTable(resolveMpTableConfig({ address: 0x9fc00, cpus: 4 })); // no throw
 * ```
 */
export function validateMpTable(t: MpTable): void {
  // A number here is not the encoder's CPU count: an MpTable lists its processors.
  if (!Array.isArray(t.processors)) throw new MptableError("invalid-argument", "processors", `expected an array, got ${typeof t.processors}`);
  validateTable(t);
}

/** {@link validateMpTable} for either form of a table; a CPU count was checked by the resolver. */
function validateTable(t: EncoderTable): void {
  checkInt("address", t.address, 0, MP_LIMIT_1MIB - 1);
  if (t.address % 16 !== 0) {
    throw new MptableError("misaligned", "address", `expected a multiple of 16 (Linux scans in 16-byte steps), got 0x${t.address.toString(16)}`);
  }
  if (t.specRevision !== 1 && t.specRevision !== 4) {
    throw new MptableError("out-of-range", "specRevision", `expected 1 or 4, got ${String(t.specRevision)}`);
  }
  checkBool("imcrPresent", t.imcrPresent);
  asciiField("oemId", t.oemId, 8);
  asciiField("productId", t.productId, 12);
  checkInt("lapicAddress", t.lapicAddress, 0, 0xffffffff);
  if (t.lapicAddress === 0) throw new MptableError("null-lapic", "lapicAddress", "expected a non-zero address (Linux rejects 0)");

  for (const key of ["buses", "ioApics", "ioInterrupts", "localInterrupts"] as const) {
    if (!Array.isArray(t[key])) throw new MptableError("invalid-argument", key, `expected an array, got ${typeof t[key]}`);
  }
  // The processor holding each APIC id, -1 for none: an array rather than a Map, which cost a
  // quarter of the encoder's time at 254 CPUs. Every id looked up is checked to be 0..0xff first.
  const cpuOfApicId = new Array<number>(256).fill(-1);
  if (typeof t.processors === "number") {
    // A counted table: n processors with APIC ids 0..n-1, the first the BSP (processorsOf).
    for (let i = 0; i < t.processors; i++) cpuOfApicId[i] = i;
  } else {
    validateProcessors(t.processors, cpuOfApicId);
  }

  const busIds = new Set<number>();
  t.buses.forEach((b, i) => {
    const f = `buses[${i}]`;
    if (typeof b !== "object" || b === null) throw new MptableError("invalid-argument", f, "expected an object");
    const id = checkInt(`${f}.id`, b.id, 0, 0xff);
    if (busIds.has(id)) throw new MptableError("out-of-range", `${f}.id`, `bus id ${id} is listed twice`);
    busIds.add(id);
    asciiField(`${f}.type`, b.type, 6);
    if (b.type.length === 0 || b.type !== b.type.trimEnd()) {
      throw new MptableError("bad-string", `${f}.type`, `expected 1..6 characters without trailing blanks, got ${JSON.stringify(b.type)}`);
    }
  });

  const ioApicIds = new Set<number>();
  t.ioApics.forEach((a, i) => {
    const f = `ioApics[${i}]`;
    if (typeof a !== "object" || a === null) throw new MptableError("invalid-argument", f, "expected an object");
    const id = checkInt(`${f}.id`, a.id, 0, 0xff);
    const cpu = cpuOfApicId[id] as number;
    if (cpu >= 0) throw new MptableError("apic-id-conflict", `${f}.id`, `IOAPIC id ${id} equals the APIC id of processors[${cpu}]`);
    if (ioApicIds.has(id)) throw new MptableError("duplicate-apic-id", `${f}.id`, `IOAPIC id ${id} is listed twice`);
    ioApicIds.add(id);
    checkInt(`${f}.version`, a.version, 0, 0xff);
    checkBool(`${f}.usable`, a.usable);
    checkInt(`${f}.address`, a.address, 0, 0xffffffff);
  });

  t.ioInterrupts.forEach((e, i) => {
    checkIrqFields("ioInterrupts", i, e);
    checkEntryInt("ioInterrupts", i, "destPin", e.destPin, 0, 0xff);
    if (!busIds.has(e.sourceBus)) throw new MptableError("out-of-range", `ioInterrupts[${i}].sourceBus`, `expected a listed bus id, got ${e.sourceBus}`);
    if (e.destApic !== MP_APIC_ALL && !ioApicIds.has(e.destApic)) {
      throw new MptableError("out-of-range", `ioInterrupts[${i}].destApic`, `expected a listed IOAPIC id or 0xff, got ${e.destApic}`);
    }
  });
  t.localInterrupts.forEach((e, i) => {
    checkIrqFields("localInterrupts", i, e);
    checkEntryInt("localInterrupts", i, "destLint", e.destLint, 0, 1);
    if (!busIds.has(e.sourceBus)) throw new MptableError("out-of-range", `localInterrupts[${i}].sourceBus`, `expected a listed bus id, got ${e.sourceBus}`);
    if (e.destApic !== MP_APIC_ALL && (cpuOfApicId[e.destApic] as number) < 0) {
      throw new MptableError("out-of-range", `localInterrupts[${i}].destApic`, `expected a processor's APIC id or 0xff, got ${e.destApic}`);
    }
  });

  const length = baseLength(t);
  if (length > 0xffff) throw new MptableError("out-of-range", "header.length", `expected at most 65535 bytes, got ${length}`);
  const end = t.address + MP_SIZES.floatingPointer + length;
  if (end > MP_LIMIT_1MIB) {
    throw new MptableError(
      "above-1mib",
      "address",
      `the table [0x${t.address.toString(16)}, 0x${end.toString(16)}) must end at or below 0x100000; the last address that fits is 0x${(MP_LIMIT_1MIB - MP_SIZES.floatingPointer - length).toString(16)}`,
    );
  }
}

/**
 * Checks a list of processors (1..254, distinct APIC ids below 0xff, one enabled BSP) and records
 * in `cpuOfApicId` which processor holds each APIC id.
 */
function validateProcessors(processors: readonly MpProcessor[], cpuOfApicId: number[]): void {
  const n = processors.length;
  if (n < 1) throw new MptableError("no-cpus", "cpus", `expected 1..${MP_MAX_CPUS}, got ${n}`);
  if (n > MP_MAX_CPUS) throw new MptableError("too-many-cpus", "cpus", `expected 1..${MP_MAX_CPUS}, got ${n}`);
  // Field names (`processors[3].apicId`) are built only for a message: a 254-CPU table has ~1500
  // fields, and naming each one up front was most of the encoder's time.
  let bsps = 0;
  processors.forEach((p, i) => {
    if (typeof p !== "object" || p === null) throw new MptableError("invalid-argument", `processors[${i}]`, "expected an object");
    // 0xff is the xAPIC broadcast id, so a CPU can never have it.
    const id = checkEntryInt("processors", i, "apicId", p.apicId, 0, 0xfe);
    const prev = cpuOfApicId[id] as number;
    if (prev >= 0) throw new MptableError("duplicate-apic-id", `processors[${i}].apicId`, `APIC id ${id} is already used by processors[${prev}]`);
    cpuOfApicId[id] = i;
    checkEntryInt("processors", i, "apicVersion", p.apicVersion, 0, 0xff);
    checkEntryBool("processors", i, "enabled", p.enabled);
    checkEntryBool("processors", i, "bootstrap", p.bootstrap);
    checkEntryInt("processors", i, "signature", p.signature, 0, 0xffffffff);
    checkEntryInt("processors", i, "featureFlags", p.featureFlags, 0, 0xffffffff);
    if (p.bootstrap) {
      bsps++;
      if (!p.enabled) throw new MptableError("bsp-count", `processors[${i}].enabled`, "expected the bootstrap processor to be enabled, got false");
    }
  });
  if (bsps !== 1) throw new MptableError("bsp-count", "processors", `expected exactly 1 bootstrap processor, got ${bsps}`);
}

/**
 * Writes an I/O or local interrupt entry: both are 8 bytes, laid out alike up to the last byte,
 * the destination IOAPIC pin (`mpc_intsrc.dstirq`) or LAPIC LINT (`mpc_lintsrc.destapiclint`).
 */
function writeInterrupt(w: SummingWriter, o: number, type: number, e: MpIoInterrupt | MpLocalInterrupt, last: number): void {
  w.u8(o, type);
  w.u8(o + 1, MP_IRQ_TYPE[e.type]);
  w.u16(o + 2, MP_IRQ_POLARITY[e.polarity] | MP_IRQ_TRIGGER[e.trigger]);
  w.u8(o + 4, e.sourceBus);
  w.u8(o + 5, e.sourceIrq);
  w.u8(o + 6, e.destApic);
  w.u8(o + 7, last);
}

/**
 * Writes an MPTable into `out` at `offset`, without allocating: the floating pointer, then the
 * configuration table right after it (its `physptr` is `address + 16`). Both checksums are set and
 * the header's entry count is the number of base entries (MP spec 1.4 §4.2; Firecracker counted
 * the floating pointer too, one more than the spec's count).
 *
 * @param config - the table's address and CPUs, plus optional overrides
 * @param out - the destination
 * @param offset - where in `out` the floating pointer goes; default 0
 * @returns the number of bytes written ({@link mpTableSize})
 * @throws MptableError for a bad configuration (see {@link validateMpTable}), or `out-of-range`
 *   when `out` is too small
 * @example
 * ```ts
 * const ram = new Uint8Array(0x100000);
 * const n = encodeMpTableInto({ address: 0x9fc00, cpus: 2 }, ram, 0x9fc00);
 * ```
 */
export function encodeMpTableInto(config: MpTableConfig, out: Uint8Array, offset = 0): number {
  const t = resolveTable(config, true);
  validateTable(t);
  if (!(out instanceof Uint8Array)) throw new MptableError("invalid-argument", "out", "expected a Uint8Array");
  const size = MP_SIZES.floatingPointer + baseLength(t);
  checkInt("offset", offset, 0, Math.max(0, out.length - size));
  if (offset + size > out.length) {
    throw new MptableError("out-of-range", "out", `expected room for ${size} bytes at offset ${offset}, got ${out.length - offset}`);
  }
  const b = out.subarray(offset, offset + size);
  b.fill(0);
  writeTable(t, b);
  return size;
}

/** Writes a processor entry (MP spec 1.4 §4.3.1; struct mpc_cpu). */
function writeProcessor(
  w: SummingWriter,
  o: number,
  apicId: number,
  apicVersion: number,
  enabled: boolean,
  bootstrap: boolean,
  signature: number,
  featureFlags: number,
): void {
  w.u8(o, MP_ENTRY_TYPE.processor);
  w.u8(o + 1, apicId);
  w.u8(o + 2, apicVersion);
  w.u8(o + 3, (enabled ? MP_CPU_FLAG.enabled : 0) | (bootstrap ? MP_CPU_FLAG.bootProcessor : 0));
  w.u32(o + 4, signature);
  w.u32(o + 8, featureFlags);
}

/** Writes a resolved, validated table into `b`, which is zeroed and exactly its size. */
function writeTable(t: EncoderTable, b: Uint8Array): void {
  const length = b.length - MP_SIZES.floatingPointer;
  const w = new SummingWriter(b);

  // Floating pointer (MP spec 1.4 §4.1; struct mpf_intel).
  w.u32(0, MP_FLOATING_SIGNATURE);
  w.u32(4, t.address + MP_SIZES.floatingPointer);
  w.u8(8, 1); // length in 16-byte paragraphs
  w.u8(9, t.specRevision);
  // Byte 10 is the checksum, set below.
  w.u8(11, 0); // feature1: 0 = a configuration table is present
  w.u8(12, t.imcrPresent ? 0x80 : 0);
  const pointerChecksum = w.takeChecksum();

  // Configuration table header (MP spec 1.4 §4.2; struct mpc_table).
  const h = MP_SIZES.floatingPointer;
  w.u32(h, MP_TABLE_SIGNATURE);
  w.u16(h + 4, length);
  w.u8(h + 6, t.specRevision);
  w.bytes(h + 8, asciiField("oemId", t.oemId, 8));
  w.bytes(h + 16, asciiField("productId", t.productId, 12));
  const entries = cpuCount(t) + t.buses.length + t.ioApics.length + t.ioInterrupts.length + t.localInterrupts.length;
  w.u16(h + 34, entries);
  w.u32(h + 36, t.lapicAddress);
  // Bytes 40..43: extended table length and checksum, left 0 (no extended entries).

  let o = h + MP_SIZES.header;
  if (typeof t.processors === "number") {
    // One entry written, then copied n-1 times; only the APIC id and the BSP flag differ.
    const n = t.processors;
    writeProcessor(w, o, 0, DEFAULT_LAPIC_VERSION, true, false, DEFAULT_CPU_SIGNATURE, DEFAULT_CPU_FEATURES);
    w.repeat(o, MP_SIZES.processor, n);
    w.overwrite(o + 3, MP_CPU_FLAG.enabled | MP_CPU_FLAG.bootProcessor);
    for (let i = 1; i < n; i++) w.overwrite(o + i * MP_SIZES.processor + 1, i);
    o += n * MP_SIZES.processor;
  } else {
    for (const p of t.processors) {
      writeProcessor(w, o, p.apicId, p.apicVersion, p.enabled, p.bootstrap, p.signature, p.featureFlags);
      o += MP_SIZES.processor;
    }
  }
  for (const bus of t.buses) {
    w.u8(o, MP_ENTRY_TYPE.bus);
    w.u8(o + 1, bus.id);
    w.bytes(o + 2, asciiField("buses.type", bus.type, 6));
    o += MP_SIZES.bus;
  }
  for (const a of t.ioApics) {
    w.u8(o, MP_ENTRY_TYPE.ioApic);
    w.u8(o + 1, a.id);
    w.u8(o + 2, a.version);
    w.u8(o + 3, a.usable ? MP_IOAPIC_USABLE : 0);
    w.u32(o + 4, a.address);
    o += MP_SIZES.ioApic;
  }
  for (const e of t.ioInterrupts) {
    writeInterrupt(w, o, MP_ENTRY_TYPE.ioInterrupt, e, e.destPin);
    o += MP_SIZES.ioInterrupt;
  }
  for (const e of t.localInterrupts) {
    writeInterrupt(w, o, MP_ENTRY_TYPE.localInterrupt, e, e.destLint);
    o += MP_SIZES.localInterrupt;
  }

  // Checksums, each making its structure's bytes sum to 0: the configuration table's (it has no
  // extended part, whose checksum would have to come first) and the floating pointer's, which
  // does not cover the table. The writer summed the bytes as it stored them.
  b[h + 7] = w.takeChecksum();
  b[10] = pointerChecksum;
}

/**
 * Encodes an MPTable: the bytes to place at `config.address` in guest memory, the floating
 * pointer followed by the configuration table.
 *
 * @param config - the table's address and CPUs, plus optional overrides (see {@link MpTableConfig})
 * @returns the bytes, {@link mpTableSize} long
 * @throws MptableError naming the field and the limit, e.g. `cpus: expected 1..254, got 300`
 * @example
 * ```ts
 * import { encodeMpTable } from "@microvm/mptable";
 * const bytes = encodeMpTable({ address: 0x9fc00, cpus: 2 });
 * // place `bytes` at guest-physical 0x9fc00 and mark [0x9fc00, 0xa0000) reserved in the E820 map
 * ```
 */
export function encodeMpTable(config: MpTableConfig): Uint8Array {
  const t = resolveTable(config, true);
  validateTable(t);
  const out = new Uint8Array(MP_SIZES.floatingPointer + baseLength(t));
  writeTable(t, out);
  return out;
}
