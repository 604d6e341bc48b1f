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
 * `Method (path, argCount, serialized, syncLevel) { body; Return (returns) }` (ACPI 6.4 §20.2.5.2,
 * `MethodOp` 0x14).
 *
 * The method's TermList is `body` (if any) followed by `Return (returns)` (if any): `returns` is
 * shorthand for a trailing Return of a constant. A method with neither is empty. {@link decodeAml}
 * gives the canonical form: a last statement `Return (data object)` comes back as `returns`, and
 * `body` is left out when no statement precedes it; so `{ body: [amlReturn(1)] }` and
 * `{ returns: amlInteger(1) }` are the same bytes and decode to the latter.
 *
 * @example
 * ```ts
 * const sta: AmlMethod = { kind: "method", path: "_STA", argCount: 0, serialized: false, syncLevel: 0, returns: { kind: "integer", value: 0x0fn } };
 * const evt: AmlMethod = { kind: "method", path: "_EVT", argCount: 1, serialized: true, syncLevel: 0, body: [{ kind: "notify", object: { kind: "ref", path: "PWRB" }, value: { kind: "integer", value: 0x80n } }] };
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
  /** Statements run in order (ACPI 6.4 §20.2.5.3–4); absent for a method that only returns a constant or is empty. */
  readonly body?: readonly AmlStatement[];
  /** A constant returned after `body`, as a final `Return (returns)`; absent when there is none. */
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
export type AmlTerm = AmlScope | AmlDevice | AmlName | AmlMethod | AmlOperationRegion | AmlField;

/**
 * An operation region's address space (ACPI 6.4 §20.2.5.2 `RegionSpace`, ASL's keywords):
 * SystemMemory 0x00, SystemIO 0x01, PCI_Config 0x02, EmbeddedControl 0x03, SMBus 0x04,
 * SystemCMOS 0x05, PciBarTarget 0x06, IPMI 0x07, GeneralPurposeIO 0x08, GenericSerialBus 0x09,
 * PCC 0x0a. The OEM-defined spaces 0x80..0xff are not modelled.
 *
 * @example
 * ```ts
 * const space: AmlRegionSpace = "SystemMemory";
 * ```
 */
export type AmlRegionSpace =
  | "SystemMemory"
  | "SystemIO"
  | "PCI_Config"
  | "EmbeddedControl"
  | "SMBus"
  | "SystemCMOS"
  | "PciBarTarget"
  | "IPMI"
  | "GeneralPurposeIO"
  | "GenericSerialBus"
  | "PCC";

/**
 * `OperationRegion (path, space, offset, length)` (ACPI 6.4 §20.2.5.2 `DefOpRegion`, `OpRegionOp`
 * 0x5b 0x80): a window of an address space that fields name parts of. Offset and length are
 * constants (the grammar allows any integer TermArg; this model writes and reads constants).
 *
 * @example
 * ```ts
 * const ereg: AmlOperationRegion = { kind: "operation-region", path: "EREG", space: "SystemMemory", offset: 0xfea00000n, length: 4n };
 * ```
 */
export interface AmlOperationRegion {
  /** The node kind. */
  readonly kind: "operation-region";
  /** A name path. */
  readonly path: string;
  /** The address space. */
  readonly space: AmlRegionSpace;
  /** The region's first address (byte offset) in the space, 0..2^64-1; in SystemIO the region ends by 0x10000. */
  readonly offset: bigint;
  /** The region's length in bytes, 1..0xffffffff (ACPICA keeps it as a u32 and warns on 0). */
  readonly length: bigint;
}

/**
 * A Field's access type (ACPI 6.4 §20.2.5.2 `FieldFlags` bits 0–3).
 *
 * @example
 * ```ts
 * const access: AmlFieldAccess = "DWordAcc";
 * ```
 */
export type AmlFieldAccess = "AnyAcc" | "ByteAcc" | "WordAcc" | "DWordAcc" | "QWordAcc" | "BufferAcc";

/**
 * A Field's lock rule (ACPI 6.4 §20.2.5.2 `FieldFlags` bit 4): whether accesses take the global lock.
 *
 * @example
 * ```ts
 * const lock: AmlFieldLockRule = "NoLock";
 * ```
 */
export type AmlFieldLockRule = "NoLock" | "Lock";

/**
 * A Field's update rule (ACPI 6.4 §20.2.5.2 `FieldFlags` bits 5–6): what a write puts in the bits
 * of the access unit outside the field.
 *
 * @example
 * ```ts
 * const update: AmlFieldUpdateRule = "WriteAsZeros";
 * ```
 */
export type AmlFieldUpdateRule = "Preserve" | "WriteAsOnes" | "WriteAsZeros";

/**
 * A named field unit of a Field (ACPI 6.4 §20.2.5.2 `NamedField := NameSeg PkgLength`, the
 * PkgLength encoding holding the width in bits).
 *
 * @example
 * ```ts
 * const esel: AmlNamedField = { kind: "named", name: "ESEL", bits: 32 };
 * ```
 */
export interface AmlNamedField {
  /** The entry kind. */
  readonly kind: "named";
  /** One NameSeg of 1..4 characters (padded with `_`), no path prefix. */
  readonly name: string;
  /** The width in bits, 1..268435455 (2^28 - 1, the largest PkgLength). */
  readonly bits: number;
}

/**
 * Unnamed bits skipped in a Field (ACPI 6.4 §20.2.5.2 `ReservedField := 0x00 PkgLength`; ASL's
 * `, 8` or what `Offset (n)` compiles to).
 *
 * @example
 * ```ts
 * const gap: AmlReservedField = { kind: "reserved", bits: 8 };
 * ```
 */
export interface AmlReservedField {
  /** The entry kind. */
  readonly kind: "reserved";
  /** The number of bits skipped, 1..268435455. */
  readonly bits: number;
}

/**
 * An entry of a Field's FieldList. AccessField, ExtendedAccessField and ConnectField are not modelled.
 *
 * @example
 * ```ts
 * const entries: AmlFieldEntry[] = [{ kind: "reserved", bits: 8 }, { kind: "named", name: "ESEL", bits: 8 }];
 * ```
 */
export type AmlFieldEntry = AmlNamedField | AmlReservedField;

/**
 * `Field (region, accessType, lockRule, updateRule) { entries }` (ACPI 6.4 §20.2.5.2 `DefField`,
 * `FieldOp` 0x5b 0x81): names bit ranges of an operation region, laid out one after the other
 * from bit 0. The field units' bit offsets must stay below 2^32 (ACPICA dsfield.c rejects more).
 *
 * @example
 * ```ts
 * const f: AmlField = { kind: "field", region: "EREG", accessType: "DWordAcc", lockRule: "NoLock", updateRule: "WriteAsZeros", entries: [{ kind: "named", name: "ESEL", bits: 32 }] };
 * ```
 */
export interface AmlField {
  /** The node kind. */
  readonly kind: "field";
  /** The name path of the operation region. */
  readonly region: string;
  /** FieldFlags bits 0–3. */
  readonly accessType: AmlFieldAccess;
  /** FieldFlags bit 4. */
  readonly lockRule: AmlFieldLockRule;
  /** FieldFlags bits 5–6. */
  readonly updateRule: AmlFieldUpdateRule;
  /** The field units and gaps, in order. */
  readonly entries: readonly AmlFieldEntry[];
}

/**
 * `Local0`..`Local7` (ACPI 6.4 §20.2.6.2, `Local0Op` 0x60..`Local7Op` 0x67): a method's local variable.
 *
 * @example
 * ```ts
 * const local0: AmlLocal = { kind: "local", index: 0 };
 * ```
 */
export interface AmlLocal {
  /** The node kind. */
  readonly kind: "local";
  /** 0..7. */
  readonly index: number;
}

/**
 * `Arg0`..`Arg6` (ACPI 6.4 §20.2.6.1, `Arg0Op` 0x68..`Arg6Op` 0x6e): a method's argument.
 *
 * @example
 * ```ts
 * const arg0: AmlArg = { kind: "arg", index: 0 };
 * ```
 */
export interface AmlArg {
  /** The node kind. */
  readonly kind: "arg";
  /** 0..6. */
  readonly index: number;
}

/**
 * A reference to a named object by its NameString (ACPI 6.4 §20.2.2 `SimpleName`): a field unit
 * such as `ESEL`, a device such as `PWRB`, a `Name`. Written as the bare NameString, which AML
 * also uses for a method invocation; this model never writes arguments after it, and the decoder
 * reads a bare NameString as a reference with no arguments (it has no namespace to tell a method
 * with arguments apart).
 *
 * @example
 * ```ts
 * const esel: AmlRef = { kind: "ref", path: "ESEL" };
 * ```
 */
export interface AmlRef {
  /** The node kind. */
  readonly kind: "ref";
  /** A name path, e.g. `ESEL` or `\_SB.PWRB`. */
  readonly path: string;
}

/**
 * Where a result goes (ACPI 6.4 §20.2.2 `SuperName`/`SimpleName`): a local, an argument or a named object.
 *
 * @example
 * ```ts
 * const t: AmlTarget = { kind: "local", index: 1 };
 * ```
 */
export type AmlTarget = AmlLocal | AmlArg | AmlRef;

/**
 * An integer operation with an optional target (ACPI 6.4 §20.2.5.4): `And` (`AndOp` 0x7b), `Or`
 * (0x7d), `ShiftLeft` (0x79), `ShiftRight` (0x7a), `Operand Operand Target`; the target is
 * NullName (0x00) when absent. Usable as an expression and, for its side effect on the target,
 * as a statement.
 *
 * @example
 * ```ts
 * const masked: AmlBinaryOp = { kind: "and", left: { kind: "local", index: 0 }, right: { kind: "integer", value: 2n } };
 * ```
 */
export interface AmlBinaryOp {
  /** The operation. */
  readonly kind: "and" | "or" | "shift-left" | "shift-right";
  /** The first operand. */
  readonly left: AmlExpression;
  /** The second operand (the shift count for shifts). */
  readonly right: AmlExpression;
  /** Where the result is also stored; absent for none. */
  readonly target?: AmlTarget;
}

/**
 * A logical operation on two operands, true (Ones) or false (Zero) (ACPI 6.4 §20.2.5.4):
 * `LEqual` (`LEqualOp` 0x93), `LGreater` (0x94), `LLess` (0x95), `LAnd` (0x90), `LOr` (0x91).
 *
 * @example
 * ```ts
 * const isTwo: AmlLogicalOp = { kind: "lequal", left: { kind: "local", index: 0 }, right: { kind: "integer", value: 2n } };
 * ```
 */
export interface AmlLogicalOp {
  /** The operation. */
  readonly kind: "lequal" | "lgreater" | "lless" | "land" | "lor";
  /** The first operand. */
  readonly left: AmlExpression;
  /** The second operand. */
  readonly right: AmlExpression;
}

/**
 * `LNot (operand)` (ACPI 6.4 §20.2.5.4, `LnotOp` 0x92).
 *
 * @example
 * ```ts
 * const none: AmlLNot = { kind: "lnot", operand: { kind: "arg", index: 0 } };
 * ```
 */
export interface AmlLNot {
  /** The node kind. */
  readonly kind: "lnot";
  /** The operand. */
  readonly operand: AmlExpression;
}

/**
 * A value a statement reads (ACPI 6.4 §20.2.5 `TermArg`): a data object, a local, an argument, a
 * named object, or an operation.
 *
 * @example
 * ```ts
 * const e: AmlExpression = { kind: "lequal", left: { kind: "and", left: { kind: "local", index: 0 }, right: { kind: "integer", value: 2n } }, right: { kind: "integer", value: 2n } };
 * ```
 */
export type AmlExpression = AmlData | AmlLocal | AmlArg | AmlRef | AmlBinaryOp | AmlLogicalOp | AmlLNot;

/**
 * `Store (source, target)`, ASL+ `target = source` (ACPI 6.4 §20.2.5.4, `StoreOp` 0x70).
 *
 * @example
 * ```ts
 * const s: AmlStore = { kind: "store", source: { kind: "ref", path: "ESEL" }, target: { kind: "local", index: 0 } };
 * ```
 */
export interface AmlStore {
  /** The node kind. */
  readonly kind: "store";
  /** The value. */
  readonly source: AmlExpression;
  /** Where it goes. */
  readonly target: AmlTarget;
}

/**
 * `Return (value)` (ACPI 6.4 §20.2.5.3, `ReturnOp` 0xa4).
 *
 * @example
 * ```ts
 * const r: AmlReturn = { kind: "return", value: { kind: "local", index: 0 } };
 * ```
 */
export interface AmlReturn {
  /** The node kind. */
  readonly kind: "return";
  /** The value returned. */
  readonly value: AmlExpression;
}

/**
 * `If (predicate) { body } Else { else }` (ACPI 6.4 §20.2.5.3 `DefIfElse`, `IfOp` 0xa0 and
 * `ElseOp` 0xa1, each with a PkgLength).
 *
 * @example
 * ```ts
 * const i: AmlIf = { kind: "if", predicate: { kind: "arg", index: 0 }, body: [{ kind: "return", value: { kind: "integer", value: 1n } }] };
 * ```
 */
export interface AmlIf {
  /** The node kind. */
  readonly kind: "if";
  /** The condition, an integer (non-zero is true). */
  readonly predicate: AmlExpression;
  /** The statements run when it holds. */
  readonly body: readonly AmlStatement[];
  /** The statements run otherwise; absent for no Else (an empty array writes an empty Else). */
  readonly else?: readonly AmlStatement[];
}

/**
 * `Notify (object, value)` (ACPI 6.4 §20.2.5.3, `NotifyOp` 0x86), e.g. 0x80 to a power button
 * (ACPI 6.4 §5.6.6).
 *
 * @example
 * ```ts
 * const n: AmlNotify = { kind: "notify", object: { kind: "ref", path: "PWRB" }, value: { kind: "integer", value: 0x80n } };
 * ```
 */
export interface AmlNotify {
  /** The node kind. */
  readonly kind: "notify";
  /** The device, processor or thermal zone notified. */
  readonly object: AmlTarget;
  /** The notification value. */
  readonly value: AmlExpression;
}

/**
 * A statement of a method body: Store, Return, If/Else, Notify, or an integer operation kept for
 * its target.
 *
 * @example
 * ```ts
 * const s: AmlStatement = { kind: "store", source: { kind: "arg", index: 0 }, target: { kind: "local", index: 0 } };
 * ```
 */
export type AmlStatement = AmlStore | AmlReturn | AmlIf | AmlNotify | AmlBinaryOp;
