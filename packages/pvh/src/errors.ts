import { CodedError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Every error this package throws is a {@link PvhError} with one of these stable codes.
 *
 * ELF image problems (from {@link readPvhKernel}):
 * - `not-elf`: too short for an ELF header, or the magic `7f 45 4c 46` is absent.
 * - `wrong-class`: `EI_CLASS` is neither 1 (ELF32) nor 2 (ELF64).
 * - `big-endian`: `EI_DATA` is not 1 (little-endian); x86 images are little-endian.
 * - `bad-header`: another header field is malformed (`EI_VERSION`, `e_phentsize`, `e_phnum`).
 * - `wrong-machine`: `e_machine` is neither 3 (EM_386) nor 62 (EM_X86_64).
 * - `phdrs-outside-file`: the program header table does not lie inside the file.
 * - `segment-outside-file`: a segment's file bytes (`p_offset`, `p_filesz`) do not lie inside the file.
 * - `memsz-less-than-filesz`: a `PT_LOAD` segment has `p_memsz < p_filesz`.
 * - `address-overflow`: `p_paddr + p_memsz` does not fit in 64 bits.
 * - `no-load-segments`: no `PT_LOAD` segment with a non-zero `p_memsz`.
 * - `segments-overlap`: two `PT_LOAD` segments share physical memory.
 * - `segment-outside-ram`: a segment does not fit in any of the caller's RAM ranges.
 * - `no-pvh-note`: no `XEN_ELFNOTE_PHYS32_ENTRY` note in any `PT_NOTE` segment.
 * - `note-overrun`: a note's header, name or descriptor runs past the end of its `PT_NOTE` segment
 *   before the PVH note was found (after it, such bytes are ignored), or the PVH note's own does.
 * - `notes-too-large`: the `PT_NOTE` segments together are larger than the file (they overlap);
 *   this bounds the work a hostile image can cause.
 * - `bad-pvh-note`: the PVH note's descriptor is shorter than 4 bytes.
 * - `entry-above-4g`: the PVH entry point does not fit in 32 bits.
 * - `entry-not-loaded`: the PVH entry point is not inside the file bytes of any `PT_LOAD` segment.
 *
 * Argument and codec problems:
 * - `invalid-argument`: an argument has the wrong type (the `TypeError` kind).
 * - `out-of-range`: a number is outside its field's range (the `RangeError` kind).
 * - `truncated`: a decoder was given fewer bytes than the structure needs.
 * - `bad-magic`: `hvm_start_info.magic` is not `0x336ec578`.
 * - `unsupported-version`: `hvm_start_info.version` is 0 (KVM guests need version 1).
 * - `reserved-not-zero`: a reserved field that must be zero is not.
 * - `too-many-entries`: more memory-map entries than {@link MAX_MEMMAP_ENTRIES}.
 * - `cmdline-too-long`: the command line and its NUL exceed {@link MAX_CMDLINE_BYTES}.
 * - `address-limit`: a placement ends above the limit for what it holds (1 GiB or 4 GiB).
 * - `placements-overlap`: two placements (or a placement and an occupied region) share bytes.
 * - `outside-ram`: a placement is not inside one RAM entry of the memory map.
 *
 * Boot ROM problems (from {@link buildPvhRom} and {@link decodePvhRom}):
 * - `entry-state-unsupported`: the entry state is not one the ROM can establish (a segment that
 *   loading its GDT descriptor would not give, a 64-bit register, paging or long mode on).
 * - `rom-layout`: a blob lies outside the ROM's windows or over its code.
 * - `not-pvh-rom`: a byte of the image is not the ROM template's.
 *
 * @example
 * ```ts
 * import { isPvhError, readPvhKernel, type PvhErrorCode } from "@microvm/pvh";
 * let code: PvhErrorCode | undefined;
 * try {
 *   readPvhKernel(new Uint8Array(4));
 * } catch (e) {
 *   if (isPvhError(e)) code = e.code; // "not-elf"
 * }
 * ```
 */
export type PvhErrorCode =
  | "not-elf"
  | "wrong-class"
  | "big-endian"
  | "bad-header"
  | "wrong-machine"
  | "phdrs-outside-file"
  | "segment-outside-file"
  | "memsz-less-than-filesz"
  | "address-overflow"
  | "no-load-segments"
  | "segments-overlap"
  | "segment-outside-ram"
  | "no-pvh-note"
  | "note-overrun"
  | "notes-too-large"
  | "bad-pvh-note"
  | "entry-above-4g"
  | "entry-not-loaded"
  | "invalid-argument"
  | "out-of-range"
  | "truncated"
  | "bad-magic"
  | "unsupported-version"
  | "reserved-not-zero"
  | "too-many-entries"
  | "cmdline-too-long"
  | "address-limit"
  | "placements-overlap"
  | "outside-ram"
  | "entry-state-unsupported"
  | "rom-layout"
  | "not-pvh-rom";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<PvhErrorCode> = {
  "not-elf": true,
  "wrong-class": true,
  "big-endian": true,
  "bad-header": true,
  "wrong-machine": true,
  "phdrs-outside-file": true,
  "segment-outside-file": true,
  "memsz-less-than-filesz": true,
  "address-overflow": true,
  "no-load-segments": true,
  "segments-overlap": true,
  "segment-outside-ram": true,
  "no-pvh-note": true,
  "note-overrun": true,
  "notes-too-large": true,
  "bad-pvh-note": true,
  "entry-above-4g": true,
  "entry-not-loaded": true,
  "invalid-argument": true,
  "out-of-range": true,
  "truncated": true,
  "bad-magic": true,
  "unsupported-version": true,
  "reserved-not-zero": true,
  "too-many-entries": true,
  "cmdline-too-long": true,
  "address-limit": true,
  "placements-overlap": true,
  "outside-ram": true,
  "entry-state-unsupported": true,
  "rom-layout": true,
  "not-pvh-rom": true,
};

/**
 * The one error class of `@microvm/pvh`. `code` is stable and machine-readable; `message` names
 * the field, the limit and the value found.
 *
 * Check it with {@link isPvhError} rather than `instanceof`: two copies of the package may be
 * loaded side by side.
 *
 * @example
 * ```ts
 * import { PvhError } from "@microvm/pvh";
 * const e = new PvhError("out-of-range", "flags: expected 0..0xffffffff, got -1");
 * console.log(e.name, e.code); // "PvhError" "out-of-range"
 * ```
 */
export class PvhError extends CodedError<PvhErrorCode> {
  /**
   * Creates an error.
   *
   * @param code - the stable code.
   * @param message - names the field, the limit and the value found.
   * @throws never.
   * @example
   * ```ts
   * import { PvhError } from "@microvm/pvh";
   * throw new PvhError("cmdline-too-long", "cmdline: expected at most 2048 bytes with its NUL, got 3000");
   * ```
   */
  constructor(code: PvhErrorCode, message: string) {
    super("PvhError", code, message);
  }
}

const guard = codedErrorGuard<PvhError>("PvhError", CODES);

/**
 * Tells whether `e` is a {@link PvhError}, by its `name` and a known `code` (not `instanceof`,
 * so it works across copies of the package).
 *
 * @param e - any thrown value.
 * @returns `true` when `e` is a `PvhError`.
 * @throws never.
 * @example
 * ```ts
 * import { decodeStartInfo, isPvhError } from "@microvm/pvh";
 * try {
 *   decodeStartInfo(new Uint8Array(56));
 * } catch (e) {
 *   if (isPvhError(e) && e.code === "bad-magic") console.log("not a start_info");
 * }
 * ```
 */
export function isPvhError(e: unknown): e is PvhError {
  return guard(e);
}
