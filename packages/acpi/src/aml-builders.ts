import { AcpiError } from "./errors.js";
import { checkU64, describe } from "./bytes.js";
import { eisaId } from "./aml.js";
import type {
  AmlData,
  AmlDevice,
  AmlInteger,
  AmlMethod,
  AmlName,
  AmlPackage,
  AmlResourceTemplate,
  AmlScope,
  AmlString,
  AmlBuffer,
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
 * `Method (path, argCount, serialized) { Return (value) }`.
 *
 * @param path - the name
 * @param returns - the constant it returns, or undefined for an empty method
 * @param options - argument count (0..7), serialization, sync level (0..15); default 0, not serialized, 0
 * @returns the node
 * @example
 * ```ts
 * amlMethod("_STA", 0x0f);
 * ```
 */
export function amlMethod(
  path: string,
  returns?: AmlDataLike,
  options: { readonly argCount?: number; readonly serialized?: boolean; readonly syncLevel?: number } = {},
): AmlMethod {
  const m: AmlMethod = { kind: "method", path, argCount: options.argCount ?? 0, serialized: options.serialized ?? false, syncLevel: options.syncLevel ?? 0 };
  return returns === undefined ? m : { ...m, returns: data(returns) };
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
