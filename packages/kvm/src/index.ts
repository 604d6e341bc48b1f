/**
 * @packageDocumentation
 * `@microvm/kvm` (work in progress).
 */

/** The package's version. */
export const VERSION: string = "0.1.0";
