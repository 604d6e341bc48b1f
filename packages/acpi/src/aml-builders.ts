import { AcpiError } from "./errors.js";
import { checkInt, checkU64, describe } from "./bytes.js";
import { eisaId } from "./aml.js";
import type {
  AmlArg,
  AmlBinaryOp,
  AmlData,
  AmlDevice,
  AmlExpression,
  AmlField,
  AmlFieldAccess,
  AmlFieldEntry,
  AmlFieldLockRule,
  AmlFieldUpdateRule,
  AmlIf,
  AmlInteger,
  AmlLNot,
  AmlLocal,
  AmlLogicalOp,
  AmlMethod,
  AmlName,
  AmlNamedField,
  AmlNotify,
  AmlOperationRegion,
  AmlPackage,
  AmlRef,
  AmlRegionSpace,
  AmlReservedField,
  AmlResourceTemplate,
  AmlReturn,
  AmlScope,
  AmlStatement,
  AmlStore,
  AmlString,
  AmlBuffer,
  AmlTarget,
  AmlTerm,
  InterruptDescriptor,
  IoDescriptor,
  Memory32FixedDescriptor,
  ResourceDescriptor,
} from "./aml-types.js";

/**
 * What the builders accept where a data object goes: a data object, or a number or bigint (an
 * integer) or a string.
 *
 * @example
 * ```ts
 * const values: AmlDataLike[] = [5, 0n, "GED", amlInteger(1)];
 * ```
 */
export type AmlDataLike = AmlData | number | bigint | string;

function data(v: AmlDataLike): AmlData {
  if (typeof v === "number" || typeof v === "bigint") return amlInteger(v);
  if (typeof v === "string") return amlString(v);
  return v;
}

/**
 * An integer data object.
 *
 * @param value - 0..2^64-1, as a number or bigint
 * @returns the node
 * @throws AcpiError `out-of-range` / `invalid-argument`
 * @example
 * ```ts
 * amlInteger(0x3f8); // { kind: "integer", value: 0x3f8n }
 * ```
 */
export function amlInteger(value: number | bigint): AmlInteger {
  return { kind: "integer", value: checkU64("AML.integer", value) };
}

/**
 * A string data object.
 *
 * @param value - ASCII characters 0x01..0x7f
 * @returns the node
 * @example
 * ```ts
 * amlString("LNRO0005");
 * ```
 */
export function amlString(value: string): AmlString {
  return { kind: "string", value };
}

/**
 * A buffer of plain bytes.
 *
 * @param bytes - the contents
 * @returns the node
 * @example
 * ```ts
 * amlBuffer(new Uint8Array([1, 2]));
 * ```
 */
export function amlBuffer(bytes: Uint8Array): AmlBuffer {
  return { kind: "buffer", bytes };
}

/**
 * A package of data objects (numbers and strings are wrapped).
 *
 * @param elements - up to 255 elements
 * @returns the node
 * @example
 * ```ts
 * amlName("_S5_", amlPackage([5, 0]));
 * ```
 */
export function amlPackage(elements: readonly AmlDataLike[]): AmlPackage {
  return { kind: "package", elements: elements.map(data) };
}

/**
 * `Scope (path) { … }`.
 *
 * @param path - a name path such as `\_SB`
 * @param body - the terms inside
 * @returns the node
 * @example
 * ```ts
 * amlScope("\\_SB", [amlDevice("COM1", [amlHid("PNP0501")])]);
 * ```
 */
export function amlScope(path: string, body: readonly AmlTerm[]): AmlScope {
  return { kind: "scope", path, body };
}

/**
 * `Device (path) { … }`.
 *
 * @param path - a name, e.g. `VR00`
 * @param body - the terms inside (`_HID`, `_UID`, `_CRS`…)
 * @returns the node
 * @example
 * ```ts
 * amlDevice("VR00", [amlHid("LNRO0005"), amlUid(0)]);
 * ```
 */
export function amlDevice(path: string, body: readonly AmlTerm[]): AmlDevice {
  return { kind: "device", path, body };
}

/**
 * `Name (path, value)`; numbers and strings are wrapped.
 *
 * @param path - the name
 * @param value - the value
 * @returns the node
 * @example
 * ```ts
 * amlName("_CCA", 1);
 * ```
 */
export function amlName(path: string, value: AmlDataLike): AmlName {
  return { kind: "name", path, value: data(value) };
}

/**
 * `Method (path, argCount, serialized) { … }`: a method returning a constant (`returns`), or one
 * running statements (an array, the `body`), or an empty one.
 *
 * @param path - the name
 * @param returnsOrBody - the constant it returns; or its statements (built with {@link amlStore},
 *   {@link amlIf}, {@link amlNotify}, {@link amlReturn}…); or undefined for an empty method
 * @param options - argument count (0..7), serialization, sync level (0..15); default 0, not serialized, 0
 * @returns the node
 * @example
 * ```ts
 * amlMethod("_STA", 0x0f);
 * amlMethod("_EVT", [amlNotify("PWRB", 0x80)], { argCount: 1, serialized: true });
 * ```
 */
export function amlMethod(
  path: string,
  returnsOrBody?: AmlDataLike | readonly AmlStatement[],
  options: { readonly argCount?: number; readonly serialized?: boolean; readonly syncLevel?: number } = {},
): AmlMethod {
  const m: AmlMethod = { kind: "method", path, argCount: options.argCount ?? 0, serialized: options.serialized ?? false, syncLevel: options.syncLevel ?? 0 };
  if (returnsOrBody === undefined) return m;
  if (Array.isArray(returnsOrBody)) return { ...m, body: returnsOrBody as readonly AmlStatement[] };
  return { ...m, returns: data(returnsOrBody as AmlDataLike) };
}

/**
 * `Name (_HID, …)`: an EISA id such as `PNP0501` is compressed to an integer ({@link eisaId}), any
 * other id (`LNRO0005`, `ACPI0013`) stays a string, as ACPI 6.4 §6.1.5 allows.
 *
 * @param id - the hardware id
 * @returns the node
 * @example
 * ```ts
 * amlHid("PNP0501"); // Name (_HID, EISAID ("PNP0501"))
 * amlHid("LNRO0005"); // Name (_HID, "LNRO0005")
 * ```
 */
export function amlHid(id: string): AmlName {
  if (typeof id !== "string") throw new AcpiError("invalid-argument", "AML._HID", `expected a string, got ${describe(id)}`);
  return amlName("_HID", /^[A-Z]{3}[0-9A-F]{4}$/.test(id) ? amlInteger(eisaId(id)) : amlString(id));
}

/**
 * `Name (_UID, uid)` (ACPI 6.4 §6.1.12).
 *
 * @param uid - an integer or a string
 * @returns the node
 * @example
 * ```ts
 * amlUid(3);
 * ```
 */
export function amlUid(uid: number | bigint | string): AmlName {
  return amlName("_UID", uid);
}

/**
 * `Method (_STA) { Return (status) }` (ACPI 6.4 §6.3.7); 0x0f is present, enabled, shown,
 * functioning.
 *
 * @param status - the status bits; default 0x0f
 * @returns the node
 * @example
 * ```ts
 * amlSta(); // Method (_STA) { Return (0x0F) }
 * ```
 */
export function amlSta(status: number = 0x0f): AmlMethod {
  return amlMethod("_STA", status);
}

/**
 * `Name (_CCA, One|Zero)` (ACPI 6.4 §6.2.17): whether DMA is cache-coherent.
 *
 * @param coherent - default true
 * @returns the node
 * @example
 * ```ts
 * amlCca(true);
 * ```
 */
export function amlCca(coherent: boolean = true): AmlName {
  return amlName("_CCA", coherent ? 1 : 0);
}

/**
 * A resource template (`ResourceTemplate () { … }`).
 *
 * @param descriptors - the descriptors
 * @returns the node
 * @example
 * ```ts
 * resourceTemplate([memory32Fixed(0xfeb00000, 0x200), extendedInterrupt([24])]);
 * ```
 */
export function resourceTemplate(descriptors: readonly ResourceDescriptor[]): AmlResourceTemplate {
  return { kind: "resources", descriptors };
}

/**
 * `Name (_CRS, ResourceTemplate () { … })` (ACPI 6.4 §6.2.2).
 *
 * @param descriptors - the descriptors
 * @returns the node
 * @example
 * ```ts
 * amlCrs([ioPort(0x3f8, 8), extendedInterrupt([4], { trigger: "edge" })]);
 * ```
 */
export function amlCrs(descriptors: readonly ResourceDescriptor[]): AmlName {
  return amlName("_CRS", resourceTemplate(descriptors));
}

/**
 * `Memory32Fixed (ReadWrite|ReadOnly, base, length)`.
 *
 * @param base - the base address
 * @param length - the window length
 * @param writable - default true
 * @returns the descriptor
 * @example
 * ```ts
 * memory32Fixed(0xfeb00000, 0x200);
 * ```
 */
export function memory32Fixed(base: number, length: number, writable: boolean = true): Memory32FixedDescriptor {
  return { type: "memory32-fixed", writable, base, length };
}

/**
 * `IO (Decode16, base, base, alignment, length)`: a fixed port range.
 *
 * @param base - the first port
 * @param length - the number of ports
 * @param alignment - default 1
 * @returns the descriptor
 * @example
 * ```ts
 * ioPort(0x3f8, 8);
 * ```
 */
export function ioPort(base: number, length: number, alignment: number = 1): IoDescriptor {
  return { type: "io", decode16: true, min: base, max: base, alignment, length };
}

/**
 * `Interrupt (ResourceConsumer, trigger, polarity, Exclusive|Shared) { … }`: an extended
 * interrupt descriptor.
 *
 * @param interrupts - the GSIs
 * @param options - trigger (default `level`), polarity (default `active-high`), shared, wake capable, consumer (default true)
 * @returns the descriptor
 * @example
 * ```ts
 * extendedInterrupt([24]); // level, active high, exclusive
 * ```
 */
export function extendedInterrupt(
  interrupts: readonly number[],
  options: Partial<Omit<InterruptDescriptor, "type" | "interrupts">> = {},
): InterruptDescriptor {
  return {
    type: "interrupt",
    consumer: options.consumer ?? true,
    trigger: options.trigger ?? "level",
    polarity: options.polarity ?? "active-high",
    shared: options.shared ?? false,
    wakeCapable: options.wakeCapable ?? false,
    interrupts: [...interrupts],
  };
}

// ---- Operation regions, fields and method bodies ----

/**
 * What the statement builders accept where an expression goes: an expression node, or a number or
 * bigint (an integer) or a string (a string data object, not a name: use {@link amlRef} for names).
 *
 * @example
 * ```ts
 * const operands: AmlExpressionLike[] = [2, 0x80n, "text", amlLocal(0), amlRef("ESEL")];
 * ```
 */
export type AmlExpressionLike = AmlExpression | number | bigint | string;

/**
 * What the builders accept where a target goes (Store's destination, Notify's object, an
 * operation's result): a local, an argument, a ref, or a string, taken as a name path.
 *
 * @example
 * ```ts
 * const targets: AmlTargetLike[] = [amlLocal(1), amlArg(0), "PWRB", amlRef("\\_SB.PWRB")];
 * ```
 */
export type AmlTargetLike = AmlTarget | string;

function expr(v: AmlExpressionLike): AmlExpression {
  if (typeof v === "number" || typeof v === "bigint") return amlInteger(v);
  if (typeof v === "string") return amlString(v);
  return v;
}

function target(v: AmlTargetLike): AmlTarget {
  return typeof v === "string" ? amlRef(v) : v;
}

/**
 * `OperationRegion (path, space, offset, length)` (ACPI 6.4 §20.2.5.2).
 *
 * @param path - the region's name, e.g. `EREG`
 * @param space - the address space, e.g. `SystemMemory`, `SystemIO`
 * @param offset - the first address, 0..2^64-1
 * @param length - the length in bytes, 1..0xffffffff (checked with the offset by the encoder)
 * @returns the node
 * @throws AcpiError `out-of-range` / `invalid-argument` for an offset or length that is not a u64
 * @example
 * ```ts
 * amlOperationRegion("EREG", "SystemMemory", 0xfea00000, 4);
 * ```
 */
export function amlOperationRegion(path: string, space: AmlRegionSpace, offset: number | bigint, length: number | bigint): AmlOperationRegion {
  return { kind: "operation-region", path, space, offset: checkU64("AML.operationRegion.offset", offset), length: checkU64("AML.operationRegion.length", length) };
}

/**
 * `Field (region, accessType, lockRule, updateRule) { entries }` (ACPI 6.4 §20.2.5.2).
 *
 * @param region - the operation region's name path
 * @param accessType - `AnyAcc`, `ByteAcc`, `WordAcc`, `DWordAcc`, `QWordAcc` or `BufferAcc`
 * @param lockRule - `NoLock` or `Lock`
 * @param updateRule - `Preserve`, `WriteAsOnes` or `WriteAsZeros`
 * @param entries - the field units and gaps, from bit 0 ({@link amlNamedField}, {@link amlReservedField})
 * @returns the node
 * @example
 * ```ts
 * amlField("EREG", "DWordAcc", "NoLock", "WriteAsZeros", [amlNamedField("ESEL", 32)]);
 * ```
 */
export function amlField(
  region: string,
  accessType: AmlFieldAccess,
  lockRule: AmlFieldLockRule,
  updateRule: AmlFieldUpdateRule,
  entries: readonly AmlFieldEntry[],
): AmlField {
  return { kind: "field", region, accessType, lockRule, updateRule, entries };
}

/**
 * A named field unit `name, bits` of a Field.
 *
 * @param name - one NameSeg of 1..4 characters
 * @param bits - the width in bits, 1..268435455
 * @returns the entry
 * @throws AcpiError `out-of-range` for a width of 0 or above 2^28 - 1
 * @example
 * ```ts
 * amlNamedField("ESEL", 32);
 * ```
 */
export function amlNamedField(name: string, bits: number): AmlNamedField {
  return { kind: "named", name, bits: checkInt("AML.field.bits", bits, 1, 268435455) };
}

/**
 * Bits skipped in a Field (`, bits` in ASL; `Offset (n)` compiles to one).
 *
 * @param bits - the number of bits, 1..268435455
 * @returns the entry
 * @throws AcpiError `out-of-range` for 0 or above 2^28 - 1
 * @example
 * ```ts
 * amlReservedField(8);
 * ```
 */
export function amlReservedField(bits: number): AmlReservedField {
  return { kind: "reserved", bits: checkInt("AML.field.bits", bits, 1, 268435455) };
}

/**
 * `Local0`..`Local7`.
 *
 * @param n - 0..7
 * @returns the node
 * @throws AcpiError `out-of-range` above 7
 * @example
 * ```ts
 * amlLocal(0); // Local0
 * ```
 */
export function amlLocal(n: number): AmlLocal {
  return { kind: "local", index: checkInt("AML.local", n, 0, 7) };
}

/**
 * `Arg0`..`Arg6`.
 *
 * @param n - 0..6
 * @returns the node
 * @throws AcpiError `out-of-range` above 6
 * @example
 * ```ts
 * amlArg(0); // Arg0
 * ```
 */
export function amlArg(n: number): AmlArg {
  return { kind: "arg", index: checkInt("AML.arg", n, 0, 6) };
}

/**
 * A reference to a named object (a field unit, a device, a Name) by its path.
 *
 * @param path - a name path such as `ESEL` or `\_SB.PWRB`
 * @returns the node
 * @example
 * ```ts
 * amlRef("ESEL");
 * ```
 */
export function amlRef(path: string): AmlRef {
  return { kind: "ref", path };
}

/**
 * `Store (source, target)`, ASL+ `target = source`.
 *
 * @param source - the value
 * @param dest - where it goes; a string is a name path
 * @returns the node
 * @example
 * ```ts
 * amlStore(amlRef("ESEL"), amlLocal(0)); // Local0 = ESEL
 * ```
 */
export function amlStore(source: AmlExpressionLike, dest: AmlTargetLike): AmlStore {
  return { kind: "store", source: expr(source), target: target(dest) };
}

/**
 * `Return (value)`.
 *
 * @param value - the value returned
 * @returns the node
 * @example
 * ```ts
 * amlReturn(amlLocal(0));
 * ```
 */
export function amlReturn(value: AmlExpressionLike): AmlReturn {
  return { kind: "return", value: expr(value) };
}

/**
 * `If (predicate) { body }`, with `Else { elseBody }` when `elseBody` is given.
 *
 * @param predicate - the condition
 * @param body - the statements run when it is non-zero
 * @param elseBody - the statements run otherwise
 * @returns the node
 * @example
 * ```ts
 * amlIf(amlLEqual(amlAnd(amlLocal(0), 2), 2), [amlNotify("PWRB", 0x80)]);
 * ```
 */
export function amlIf(predicate: AmlExpressionLike, body: readonly AmlStatement[], elseBody?: readonly AmlStatement[]): AmlIf {
  const node: AmlIf = { kind: "if", predicate: expr(predicate), body };
  return elseBody === undefined ? node : { ...node, else: elseBody };
}

/**
 * `Notify (object, value)`.
 *
 * @param object - the device notified; a string is a name path
 * @param value - the notification value, e.g. 0x80
 * @returns the node
 * @example
 * ```ts
 * amlNotify("PWRB", 0x80);
 * ```
 */
export function amlNotify(object: AmlTargetLike, value: AmlExpressionLike): AmlNotify {
  return { kind: "notify", object: target(object), value: expr(value) };
}

function binary(kind: AmlBinaryOp["kind"], left: AmlExpressionLike, right: AmlExpressionLike, dest: AmlTargetLike | undefined): AmlBinaryOp {
  const node: AmlBinaryOp = { kind, left: expr(left), right: expr(right) };
  return dest === undefined ? node : { ...node, target: target(dest) };
}

/**
 * `And (left, right, target)`: bitwise and.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @param dest - where the result is also stored; default none (NullName)
 * @returns the node
 * @example
 * ```ts
 * amlAnd(amlLocal(0), 2); // Local0 & 2
 * ```
 */
export function amlAnd(left: AmlExpressionLike, right: AmlExpressionLike, dest?: AmlTargetLike): AmlBinaryOp {
  return binary("and", left, right, dest);
}

/**
 * `Or (left, right, target)`: bitwise or.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @param dest - where the result is also stored; default none (NullName)
 * @returns the node
 * @example
 * ```ts
 * amlOr(amlLocal(0), 1, amlLocal(0)); // Local0 |= 1
 * ```
 */
export function amlOr(left: AmlExpressionLike, right: AmlExpressionLike, dest?: AmlTargetLike): AmlBinaryOp {
  return binary("or", left, right, dest);
}

/**
 * `ShiftLeft (value, count, target)`.
 *
 * @param value - the value
 * @param count - the number of bits
 * @param dest - where the result is also stored; default none (NullName)
 * @returns the node
 * @example
 * ```ts
 * amlShiftLeft(1, amlArg(0)); // 1 << Arg0
 * ```
 */
export function amlShiftLeft(value: AmlExpressionLike, count: AmlExpressionLike, dest?: AmlTargetLike): AmlBinaryOp {
  return binary("shift-left", value, count, dest);
}

/**
 * `ShiftRight (value, count, target)`.
 *
 * @param value - the value
 * @param count - the number of bits
 * @param dest - where the result is also stored; default none (NullName)
 * @returns the node
 * @example
 * ```ts
 * amlShiftRight(amlLocal(0), 4); // Local0 >> 4
 * ```
 */
export function amlShiftRight(value: AmlExpressionLike, count: AmlExpressionLike, dest?: AmlTargetLike): AmlBinaryOp {
  return binary("shift-right", value, count, dest);
}

function logical(kind: AmlLogicalOp["kind"], left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return { kind, left: expr(left), right: expr(right) };
}

/**
 * `LEqual (left, right)`, ASL+ `left == right`.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @returns the node
 * @example
 * ```ts
 * amlLEqual(amlAnd(amlLocal(0), 2), 2); // (Local0 & 2) == 2
 * ```
 */
export function amlLEqual(left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return logical("lequal", left, right);
}

/**
 * `LGreater (left, right)`, ASL+ `left > right`.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @returns the node
 * @example
 * ```ts
 * amlLGreater(amlArg(0), 5);
 * ```
 */
export function amlLGreater(left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return logical("lgreater", left, right);
}

/**
 * `LLess (left, right)`, ASL+ `left < right`.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @returns the node
 * @example
 * ```ts
 * amlLLess(amlArg(0), 5);
 * ```
 */
export function amlLLess(left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return logical("lless", left, right);
}

/**
 * `LAnd (left, right)`, ASL+ `left && right`.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @returns the node
 * @example
 * ```ts
 * amlLAnd(amlArg(0), amlArg(1));
 * ```
 */
export function amlLAnd(left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return logical("land", left, right);
}

/**
 * `LOr (left, right)`, ASL+ `left || right`.
 *
 * @param left - the first operand
 * @param right - the second operand
 * @returns the node
 * @example
 * ```ts
 * amlLOr(amlArg(0), amlArg(1));
 * ```
 */
export function amlLOr(left: AmlExpressionLike, right: AmlExpressionLike): AmlLogicalOp {
  return logical("lor", left, right);
}

/**
 * `LNot (operand)`, ASL+ `!operand`.
 *
 * @param operand - the operand
 * @returns the node
 * @example
 * ```ts
 * amlLNot(amlArg(0));
 * ```
 */
export function amlLNot(operand: AmlExpressionLike): AmlLNot {
  return { kind: "lnot", operand: expr(operand) };
}
