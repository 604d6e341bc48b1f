import { constants as osConstants } from "node:os";

/**
 * The stable error codes of {@link KvmError}.
 *
 * - `DEVICE_MISSING`: `/dev/kvm` does not exist (no KVM module, or a container without the device).
 * - `PERMISSION_DENIED`: `/dev/kvm` exists but this user may not open it (not in the `kvm` group).
 * - `API_VERSION`: `KVM_GET_API_VERSION` did not return 12.
 * - `UNSUPPORTED`: a required capability (`KVM_CHECK_EXTENSION`) is missing.
 * - `IOCTL_FAILED`: an ioctl returned -1; the message names the ioctl and the errno.
 * - `SYSCALL_FAILED`: another system call (`mmap`, `eventfd`, `epoll_*`, ...) failed.
 * - `INVALID_ARGUMENT`: an argument has the wrong type (the TypeError-like code).
 * - `OUT_OF_RANGE`: an argument is outside its range (the RangeError-like code).
 * - `CLOSED`: the object (system handle, VM, vCPU, eventfd, thread) was already closed.
 * - `VCPU_BUSY`: a vCPU ioctl was asked from the main thread while the vCPU's worker may sit in
 *   `KVM_RUN` (it would block on the vCPU mutex); pause the thread first.
 * - `MSR_PARTIAL`: `KVM_GET_MSRS`/`KVM_SET_MSRS` processed fewer MSRs than asked.
 * - `THREAD_FAILED`: a vCPU or I/O worker failed to start, or its handler module threw.
 * - `SIGNAL_IN_USE`: the kick signal already has a handler that is not ours.
 *
 * @example
 * ```ts
 * const code: KvmErrorCode = "PERMISSION_DENIED";
 * ```
 */
export type KvmErrorCode =
  | "DEVICE_MISSING"
  | "PERMISSION_DENIED"
  | "API_VERSION"
  | "UNSUPPORTED"
  | "IOCTL_FAILED"
  | "SYSCALL_FAILED"
  | "INVALID_ARGUMENT"
  | "OUT_OF_RANGE"
  | "CLOSED"
  | "VCPU_BUSY"
  | "MSR_PARTIAL"
  | "THREAD_FAILED"
  | "SIGNAL_IN_USE";

/**
 * Options of the {@link KvmError} constructor.
 *
 * @example
 * ```ts
 * new KvmError("IOCTL_FAILED", "KVM_RUN failed: EFAULT (errno 14)", { syscall: "KVM_RUN", errno: 14 });
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
 *   if (isKvmError(e) && e.code === "PERMISSION_DENIED") console.error(e.message);
 * }
 * ```
 */
export class KvmError extends Error {
  /** The stable code; see {@link KvmErrorCode}. */
  readonly code: KvmErrorCode;
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
   * throw new KvmError("OUT_OF_RANGE", "slot: expected 0..32763, got 40000");
   * ```
   */
  constructor(code: KvmErrorCode, message: string, options: KvmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KvmError";
    this.code = code;
    this.syscall = options.syscall;
    this.errno = options.errno;
  }
}

const codes: ReadonlySet<string> = new Set<KvmErrorCode>([
  "DEVICE_MISSING",
  "PERMISSION_DENIED",
  "API_VERSION",
  "UNSUPPORTED",
  "IOCTL_FAILED",
  "SYSCALL_FAILED",
  "INVALID_ARGUMENT",
  "OUT_OF_RANGE",
  "CLOSED",
  "VCPU_BUSY",
  "MSR_PARTIAL",
  "THREAD_FAILED",
  "SIGNAL_IN_USE",
]);

/**
 * Whether `e` is a {@link KvmError}, checked by `name` and `code` (not `instanceof`), so errors from
 * another copy of the package, or rebuilt after crossing a worker boundary, are recognised.
 *
 * @param e - Any thrown value.
 * @returns `true` when `e` is a KvmError with a known code.
 * @example
 * ```ts
 * if (isKvmError(e) && e.code === "DEVICE_MISSING") console.log("no /dev/kvm here");
 * ```
 */
export function isKvmError(e: unknown): e is KvmError {
  if (typeof e !== "object" || e === null) return false;
  const o = e as { name?: unknown; code?: unknown };
  return o.name === "KvmError" && typeof o.code === "string" && codes.has(o.code);
}

/** @internal Builds the error for a failed ioctl: `KVM_RUN failed: EINTR (errno 4)`. */
export function ioctlError(name: string, errno: number, what = ""): KvmError {
  return new KvmError("IOCTL_FAILED", `${name}${what ? ` (${what})` : ""} failed: ${errnoName(errno)} (errno ${errno})`, {
    syscall: name,
    errno,
  });
}

/** @internal Builds the error for a failed system call. */
export function syscallError(name: string, errno: number, what = ""): KvmError {
  return new KvmError("SYSCALL_FAILED", `${name}${what ? ` (${what})` : ""} failed: ${errnoName(errno)} (errno ${errno})`, {
    syscall: name,
    errno,
  });
}
