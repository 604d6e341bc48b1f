import { CodedError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * Every way the machine can refuse a configuration or stop with an error, as a stable code.
 *
 * - `invalid-argument`: a value of the wrong type or shape.
 * - `out-of-range`: a number outside its range; the message names the field and the range.
 * - `overlap`: two regions of an address space, or two placements in guest memory, overlap.
 * - `too-many-devices`: more virtio devices than transports.
 * - `kernel`: the kernel image was rejected (the message carries the loader's reason).
 * - `not-found`: a file that was named does not exist or cannot be read.
 * - `kvm`: the KVM backend failed (the message carries the ioctl and errno).
 * - `guest`: the guest stopped the machine in a way that is an error (e.g. an emulation failure).
 * - `state`: an operation that the machine's current state does not allow (start twice, …).
 * - `engine`: the chosen engine cannot run this board (a backend QEMU cannot reach, QEMU missing
 *   or refusing its command line) or failed to start.
 * - `platform-mismatch`: the engine builds another machine than the plan describes (QEMU's own
 *   `info mtree` differs from the plan's listing).
 * - `backend`: a device backend's helper program (passt for `user` networking) is missing,
 *   refused its arguments (a forwarded port already taken), or did not start.
 *
 * @example
 * ```ts
 * const code: MicrovmErrorCode = "too-many-devices";
 * ```
 */
export type MicrovmErrorCode =
  | "invalid-argument"
  | "out-of-range"
  | "overlap"
  | "too-many-devices"
  | "kernel"
  | "not-found"
  | "kvm"
  | "guest"
  | "state"
  | "engine"
  | "platform-mismatch"
  | "backend";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<MicrovmErrorCode> = {
  "invalid-argument": true,
  "out-of-range": true,
  "overlap": true,
  "too-many-devices": true,
  "kernel": true,
  "not-found": true,
  "kvm": true,
  "guest": true,
  "state": true,
  "engine": true,
  "platform-mismatch": true,
  "backend": true,
};

/**
 * The error type of `@microvm/microvm`, with a stable `code` and a message that names the field
 * and the limit (`cpus: expected 1..254, got 0`).
 *
 * @example
 * ```ts
 * try {
 *   planMachine({ kernel, cpus: 0 });
 * } catch (e) {
 *   if (isMicrovmError(e)) console.error(`${e.code}: ${e.message}`);
 * }
 * ```
 */
export class MicrovmError extends CodedError<MicrovmErrorCode> {
  /**
   * Creates an error.
   *
   * @param code - the stable code
   * @param message - what was expected and what was found, naming the field
   * @param options - the underlying error, if any
   */
  constructor(code: MicrovmErrorCode, message: string, options?: { cause?: unknown }) {
    super("MicrovmError", code, message, options);
  }
}

const guard = codedErrorGuard<MicrovmError>("MicrovmError", CODES);

/**
 * Tells whether `e` is a {@link MicrovmError}, by name and code rather than `instanceof`.
 *
 * @param e - any thrown value
 * @returns true for a MicrovmError
 * @example
 * ```ts
 * if (isMicrovmError(e) && e.code === "not-found") process.exitCode = 1;
 * ```
 */
export function isMicrovmError(e: unknown): e is MicrovmError {
  return guard(e);
}
