import { constants as osConstants } from "node:os";
import { CodedError, codedErrorGuard, type ErrorCodes } from "@microvm/errors";

/**
 * The stable error codes of {@link KvmError}.
 *
 * - `device-missing`: `/dev/kvm` does not exist (no KVM module, or a container without the device).
 * - `permission-denied`: `/dev/kvm` exists but this user may not open it (not in the `kvm` group).
 * - `api-version`: `KVM_GET_API_VERSION` did not return 12.
 * - `unsupported`: a required capability (`KVM_CHECK_EXTENSION`) is missing.
 * - `ioctl-failed`: an ioctl returned -1; the message names the ioctl and the errno.
 * - `syscall-failed`: another system call (`mmap`, `eventfd`, `epoll_*`, ...) failed.
 * - `invalid-argument`: an argument has the wrong type (the TypeError-like code).
 * - `out-of-range`: an argument is outside its range (the RangeError-like code).
 * - `closed`: the object (system handle, VM, vCPU, eventfd, thread) was already closed.
 * - `vcpu-busy`: a vCPU ioctl was asked from the main thread while the vCPU's worker may sit in
 *   `KVM_RUN` (it would block on the vCPU mutex); pause the thread first.
 * - `msr-partial`: `KVM_GET_MSRS`/`KVM_SET_MSRS` processed fewer MSRs than asked.
 * - `thread-failed`: a vCPU or I/O worker failed to start, or its handler module threw.
 * - `signal-in-use`: the kick signal already has a handler that is not ours.
 *
 * @example
 * ```ts
 * const code: KvmErrorCode = "permission-denied";
 * ```
 */
export type KvmErrorCode =
  | "device-missing"
  | "permission-denied"
  | "api-version"
  | "unsupported"
  | "ioctl-failed"
  | "syscall-failed"
  | "invalid-argument"
  | "out-of-range"
  | "closed"
  | "vcpu-busy"
  | "msr-partial"
  | "thread-failed"
  | "signal-in-use";

// Every code, checked against the union by the compiler (one missing or extra does not compile).
const CODES: ErrorCodes<KvmErrorCode> = {
  "device-missing": true,
  "permission-denied": true,
  "api-version": true,
  "unsupported": true,
  "ioctl-failed": true,
  "syscall-failed": true,
  "invalid-argument": true,
  "out-of-range": true,
  "closed": true,
  "vcpu-busy": true,
  "msr-partial": true,
  "thread-failed": true,
  "signal-in-use": true,
};

/**
 * Options of the {@link KvmError} constructor.
 *
 * @example
 * ```ts
 * new KvmError("ioctl-failed", "KVM_RUN failed: EFAULT (errno 14)", { syscall: "KVM_RUN", errno: 14 });
 * ```
 */
export interface KvmErrorOptions {
  /** The ioctl or system call that failed, e.g. `KVM_RUN` or `mmap`. */
  readonly syscall?: string;
  /** The errno it returned. */
  readonly errno?: number;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

const errnoNames: Map<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, n]) => [n, name] as [number, string]),
);

/**
 * The symbolic name of an errno value (`EINTR` for 4), or `errno N` when unknown.
 *
 * @param errno - The errno number.
 * @returns Its name from Node's `os.constants.errno`.
 * @example
 * ```ts
 * errnoName(4); // "EINTR"
 * ```
 */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/**
 * The one error class of `@microvm/kvm`. `code` is stable; `syscall` and `errno` say which ioctl
 * or system call failed and how. Check with {@link isKvmError} rather than `instanceof`, since two
 * copies of the package may be loaded (for example one per worker bundle).
 *
 * @example
 * ```ts
 * try {
 *   Kvm.open();
 * } catch (e) {
 *   if (isKvmError(e) && e.code === "permission-denied") console.error(e.message);
 * }
 * ```
 */
export class KvmError extends CodedError<KvmErrorCode> {
  /** The ioctl or system call that failed, when one did. */
  readonly syscall: string | undefined;
  /** The errno of that call, when one failed. */
  readonly errno: number | undefined;

  /**
   * Creates an error. The message should name the field or ioctl and the limit or errno.
   *
   * @param code - The stable code.
   * @param message - A message naming what failed.
   * @param options - The failing syscall, its errno and a cause.
   * @example
   * ```ts
   * throw new KvmError("out-of-range", "slot: expected 0..32763, got 40000");
   * ```
   */
  constructor(code: KvmErrorCode, message: string, options: KvmErrorOptions = {}) {
    super("KvmError", code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.syscall = options.syscall;
    this.errno = options.errno;
  }
}

const guard = codedErrorGuard<KvmError>("KvmError", CODES);

/**
 * Whether `e` is a {@link KvmError}, checked by `name` and `code` (not `instanceof`), so errors from
 * another copy of the package, or rebuilt after crossing a worker boundary, are recognised.
 *
 * @param e - Any thrown value.
 * @returns `true` when `e` is a KvmError with a known code.
 * @example
 * ```ts
 * if (isKvmError(e) && e.code === "device-missing") console.log("no /dev/kvm here");
 * ```
 */
export function isKvmError(e: unknown): e is KvmError {
  return guard(e);
}

/** @internal Builds the error for a failed ioctl: `KVM_RUN failed: EINTR (errno 4)`. */
export function ioctlError(name: string, errno: number, what = ""): KvmError {
  return new KvmError("ioctl-failed", `${name}${what ? ` (${what})` : ""} failed: ${errnoName(errno)} (errno ${errno})`, {
    syscall: name,
    errno,
  });
}

/** @internal Builds the error for a failed system call. */
export function syscallError(name: string, errno: number, what = ""): KvmError {
  return new KvmError("syscall-failed", `${name}${what ? ` (${what})` : ""} failed: ${errnoName(errno)} (errno ${errno})`, {
    syscall: name,
    errno,
  });
}

/** @internal The error for a thread whose handler module failed: `vCPU 0 thread: Error: …`. */
export function threadFailed(what: string, e: unknown): KvmError {
  return new KvmError("thread-failed", `${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
}
