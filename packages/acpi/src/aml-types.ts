/**
 * A `Memory32Fixed` resource descriptor (ACPI 6.4 §6.4.3.4, large item 0x06, 12 bytes).
 *
 * @example
 * ```ts
 * const window: Memory32FixedDescriptor = { type: "memory32-fixed", writable: true, base: 0xfeb00000, length: 0x200 };
 * ```
 */
export interface Memory32FixedDescriptor {
  /** The descriptor kind. */
  readonly type: "memory32-fixed";
  /** Information bit 0: read/write (true) or read-only. */
  readonly writable: boolean;
  /** Base address, a u32. */
  readonly base: number;
  /** Window length in bytes, a u32. */
  readonly length: number;
}

/**
 * An `IO` port resource descriptor (ACPI 6.4 §6.4.2.5, small item 0x08, 8 bytes).
 *
 * @example
 * ```ts
 * const com1: IoDescriptor = { type: "io", decode16: true, min: 0x3f8, max: 0x3f8, alignment: 1, length: 8 };
 * ```
 */
export interface IoDescriptor {
  /** The descriptor kind. */
  readonly type: "io";
  /** Information bit 0: the device decodes 16 address bits (true) or 10. */
  readonly decode16: boolean;
  /** Lowest base address, a u16. */
  readonly min: number;
  /** Highest base address, a u16. */
  readonly max: number;
  /** Base alignment, a u8. */
  readonly alignment: number;
  /** Number of ports, a u8. */
  readonly length: number;
}

/**
 * An `Interrupt` (extended interrupt) resource descriptor (ACPI 6.4 §6.4.3.6, large item 0x09),
 * without a resource source.
 *
 * @example
 * ```ts
 * const gsi: InterruptDescriptor = { type: "interrupt", consumer: true, trigger: "level", polarity: "active-high", shared: false, wakeCapable: false, interrupts: [24] };
 * ```
 */
export interface InterruptDescriptor {
  /** The descriptor kind. */
  readonly type: "interrupt";
  /** Flags bit 0: the device consumes (true) or produces the interrupt. */
  readonly consumer: boolean;
  /** Flags bit 1: edge (1) or level (0) triggered. */
  readonly trigger: "edge" | "level";
  /** Flags bit 2: active low (1) or high (0). */
  readonly polarity: "active-high" | "active-low";
  /** Flags bit 3: shared. */
  readonly shared: boolean;
  /** Flags bit 4: wake capable. */
  readonly wakeCapable: boolean;
  /** The interrupt numbers (GSIs), 1..255 of them, each a u32. */
  readonly interrupts: readonly number[];
}

/**
 * A resource descriptor of a ResourceTemplate.
 *
 * @example
 * ```ts
 * const d: ResourceDescriptor = { type: "memory32-fixed", writable: true, base: 0xfeb00000, length: 0x200 };
 * ```
 */
export type ResourceDescriptor = Memory32FixedDescriptor | IoDescriptor | InterruptDescriptor;

/**
 * An AML integer (`ZeroOp`, `OneOp`, `OnesOp` or `BytePrefix`..`QWordPrefix`, ACPI 6.4 §20.2.3).
 *
 * @example
 * ```ts
 * const i: AmlInteger = { kind: "integer", value: 0x0fn };
 * ```
 */
export interface AmlInteger {
  /** The node kind. */
  readonly kind: "integer";
  /** The value, 0..2^64-1. */
  readonly value: bigint;
}

/**
 * An AML string (`StringPrefix`, ASCII 0x01..0x7f, NUL-terminated).
 *
 * @example
 * ```ts
 * const s: AmlString = { kind: "string", value: "LNRO0005" };
 * ```
 */
export interface AmlString {
  /** The node kind. */
  readonly kind: "string";
  /** The characters, each 0x01..0x7f. */
  readonly value: string;
}

/**
 * An AML buffer (`BufferOp`) holding plain bytes.
 *
 * @example
 * ```ts
 * const b: AmlBuffer = { kind: "buffer", bytes: new Uint8Array([1, 2, 3]) };
 * ```
 */
export interface AmlBuffer {
  /** The node kind. */
  readonly kind: "buffer";
  /** The bytes. */
  readonly bytes: Uint8Array;
}

/**
 * An AML buffer holding a resource template: the descriptors and an End Tag with its checksum
 * (ACPI 6.4 §6.4.2.9; ASL's `ResourceTemplate () { … }`).
 *
 * @example
 * ```ts
 * const r: AmlResourceTemplate = { kind: "resources", descriptors: [{ type: "io", decode16: true, min: 0x3f8, max: 0x3f8, alignment: 1, length: 8 }] };
 * ```
 */
export interface AmlResourceTemplate {
  /** The node kind. */
  readonly kind: "resources";
  /** The descriptors, without the End Tag. */
  readonly descriptors: readonly ResourceDescriptor[];
}

/**
 * An AML package (`PackageOp`, up to 255 elements).
 *
 * @example
 * ```ts
 * const s5: AmlPackage = { kind: "package", elements: [{ kind: "integer", value: 5n }, { kind: "integer", value: 0n }] };
 * ```
 */
export interface AmlPackage {
  /** The node kind. */
  readonly kind: "package";
  /** The elements. */
  readonly elements: readonly AmlData[];
}

/**
 * A data object: what a `Name` holds, a package element, or what a method returns.
 *
 * @example
 * ```ts
 * const d: AmlData = { kind: "string", value: "GED" };
 * ```
 */
export type AmlData = AmlInteger | AmlString | AmlBuffer | AmlResourceTemplate | AmlPackage;

/**
 * `Scope (path) { body }` (ACPI 6.4 §20.2.5.1, `ScopeOp` 0x10).
 *
 * @example
 * ```ts
 * const sb: AmlScope = { kind: "scope", path: "\\_SB_", body: [] };
 * ```
 */
export interface AmlScope {
  /** The node kind. */
  readonly kind: "scope";
  /** A name path, e.g. `\_SB_` or `\_SB_.VR00`; segments shorter than 4 are padded with `_`. */
  readonly path: string;
  /** The terms inside. */
  readonly body: readonly AmlTerm[];
}

/**
 * `Device (path) { body }` (ACPI 6.4 §20.2.5.2, `DeviceOp` 0x5b 0x82).
 *
 * @example
 * ```ts
 * const dev: AmlDevice = { kind: "device", path: "VR00", body: [] };
 * ```
 */
export interface AmlDevice {
  /** The node kind. */
  readonly kind: "device";
  /** A name path. */
  readonly path: string;
  /** The terms inside. */
  readonly body: readonly AmlTerm[];
}

/**
 * `Name (path, value)` (ACPI 6.4 §20.2.5.1, `NameOp` 0x08).
 *
 * @example
 * ```ts
 * const uid: AmlName = { kind: "name", path: "_UID", value: { kind: "integer", value: 0n } };
 * ```
 */
export interface AmlName {
  /** The node kind. */
  readonly kind: "name";
  /** A name path. */
  readonly path: string;
  /** The value. */
  readonly value: AmlData;
}

/**
 * `Method (path, argCount, serialized, syncLevel) { Return (value) }` (ACPI 6.4 §20.2.5.2,
 * `MethodOp` 0x14): a method returning a constant, or an empty one.
 *
 * @example
 * ```ts
 * const sta: AmlMethod = { kind: "method", path: "_STA", argCount: 0, serialized: false, syncLevel: 0, returns: { kind: "integer", value: 0x0fn } };
 * ```
 */
export interface AmlMethod {
  /** The node kind. */
  readonly kind: "method";
  /** A name path. */
  readonly path: string;
  /** Number of arguments, 0..7 (MethodFlags bits 0–2). */
  readonly argCount: number;
  /** MethodFlags bit 3. */
  readonly serialized: boolean;
  /** MethodFlags bits 4–7, 0..15. */
  readonly syncLevel: number;
  /** What the method returns; absent for an empty method. */
  readonly returns?: AmlData;
}

/**
 * A term of a definition block's term list.
 *
 * @example
 * ```ts
 * const t: AmlTerm = { kind: "scope", path: "\\_SB_", body: [{ kind: "device", path: "COM1", body: [] }] };
 * ```
 */
export type AmlTerm = AmlScope | AmlDevice | AmlName | AmlMethod;
