import { IOCTL, KVM_API_VERSION } from "./constants.js";
import { KvmError, errnoName, ioctlError } from "./errors.js";
import { CPUID_ENTRY_SIZE, decodeCpuid2, type CpuidEntry } from "./registers.js";
import { E2BIG, EACCES, ENOENT, EPERM, O_RDWR_CLOEXEC, sys } from "./sys.js";
import { Vm } from "./vm.js";

/** @internal The error for a failed open of the KVM device, by errno. */
export function openError(path: string, errno: number): KvmError {
  if (errno === ENOENT) {
    return new KvmError("device-missing", `open ${path} failed: ENOENT (errno 2): the KVM device does not exist; load kvm_intel or kvm_amd, enable virtualization (or nested virtualization), or pass the device into the container`, { syscall: "open", errno });
  }
  if (errno === EACCES || errno === EPERM) {
    return new KvmError("permission-denied", `open ${path} failed: ${errnoName(errno)} (errno ${errno}): no permission; add this user to the \`kvm\` group (usermod -aG kvm $USER) and log in again, or run as root`, { syscall: "open", errno });
  }
  return new KvmError("syscall-failed", `open ${path} failed: ${errnoName(errno)} (errno ${errno})`, { syscall: "open", errno });
}

/**
 * The default KVM device path.
 *
 * @example
 * ```ts
 * const kvm = Kvm.open(KVM_DEVICE);
 * ```
 */
export const KVM_DEVICE: string = "/dev/kvm";

/**
 * The KVM system handle: an open `/dev/kvm`. It answers system ioctls (API version, capabilities,
 * supported CPUID, MSR list) and creates VMs.
 *
 * @example
 * ```ts
 * const kvm = Kvm.open();
 * console.log(kvm.apiVersion, kvm.checkExtension(KVM_CAP.IRQFD));
 * const vm = kvm.createVm();
 * ```
 */
export class Kvm {
  /** The `/dev/kvm` fd. */
  readonly fd: number;
  /** The API version (`KVM_GET_API_VERSION`); always 12 once opened. */
  readonly apiVersion: number;
  #closed = false;
  #mmapSize: number | undefined;
  #cpuid: readonly CpuidEntry[] | undefined;

  private constructor(fd: number, apiVersion: number) {
    this.fd = fd;
    this.apiVersion = apiVersion;
  }

  /**
   * Opens the KVM device and checks the API version.
   *
   * @param path - The device, `/dev/kvm` by default.
   * @returns The system handle.
   * @throws {@link KvmError} `device-missing` when the device does not exist, `permission-denied`
   * when this user may not open it (add the user to the `kvm` group), `api-version` when the
   * kernel speaks another API, `unsupported` on a non-Linux or non-x86_64 host.
   * @example
   * ```ts
   * const kvm = Kvm.open();
   * ```
   */
  static open(path: string = KVM_DEVICE): Kvm {
    const s = sys();
    const fd = s.open(path, O_RDWR_CLOEXEC);
    if (fd < 0) throw openError(path, -fd);
    const v = s.ioctlVal(fd, IOCTL.KVM_GET_API_VERSION, 0);
    if (v !== KVM_API_VERSION) {
      s.close(fd);
      if (v < 0) throw ioctlError("KVM_GET_API_VERSION", -v);
      throw new KvmError("api-version", `KVM_GET_API_VERSION: expected ${KVM_API_VERSION}, got ${v}`, { syscall: "KVM_GET_API_VERSION" });
    }
    return new Kvm(fd, v);
  }

  /**
   * Why KVM cannot be used here, or `undefined` when it can: opens and closes the device. Tests use
   * it to report KVM tests as skipped with the reason.
   *
   * @param path - The device, `/dev/kvm` by default.
   * @returns A human-readable reason, or `undefined`.
   * @example
   * ```ts
   * const why = Kvm.unavailableReason();
   * describe.skipIf(why !== undefined)(`KVM (${why ?? "available"})`, () => {});
   * ```
   */
  static unavailableReason(path: string = KVM_DEVICE): string | undefined {
    try {
      Kvm.open(path).close();
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  #check(op: string): void {
    if (this.#closed) throw new KvmError("closed", `${op}: the KVM handle is closed`);
  }

  /**
   * `KVM_CHECK_EXTENSION`: 0 when a capability is missing, otherwise 1 or a capability-specific
   * number (e.g. the vCPU limit for {@link KVM_CAP}.MAX_VCPUS).
   *
   * @param cap - A `KVM_CAP_*` number, see {@link KVM_CAP}.
   * @returns The capability's value.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * if (!kvm.checkExtension(KVM_CAP.IMMEDIATE_EXIT)) throw new Error("too old");
   * ```
   */
  checkExtension(cap: number): number {
    this.#check("KVM_CHECK_EXTENSION");
    const r = sys().ioctlVal(this.fd, IOCTL.KVM_CHECK_EXTENSION, cap);
    if (r < 0) throw ioctlError("KVM_CHECK_EXTENSION", -r, `cap ${cap}`);
    return r;
  }

  /**
   * The size of a vCPU's `kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`).
   *
   * @returns Bytes (12288 on current x86 kernels).
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * kvm.vcpuMmapSize(); // 12288
   * ```
   */
  vcpuMmapSize(): number {
    this.#check("KVM_GET_VCPU_MMAP_SIZE");
    if (this.#mmapSize === undefined) {
      const r = sys().ioctlVal(this.fd, IOCTL.KVM_GET_VCPU_MMAP_SIZE, 0);
      if (r < 0) throw ioctlError("KVM_GET_VCPU_MMAP_SIZE", -r);
      this.#mmapSize = r;
    }
    return this.#mmapSize;
  }

  /**
   * The CPUID leaves KVM can expose (`KVM_GET_SUPPORTED_CPUID`), to normalize per vCPU with
   * {@link normalizeCpuid}.
   *
   * @returns A fresh copy of the entries.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * const leaf0 = kvm.supportedCpuid().find((e) => e.function === 0);
   * ```
   */
  supportedCpuid(): CpuidEntry[] {
    this.#check("KVM_GET_SUPPORTED_CPUID");
    if (!this.#cpuid) {
      // Grow until it fits: E2BIG means the array was too small (api.rst "KVM_GET_SUPPORTED_CPUID").
      for (let cap = 128; ; cap *= 2) {
        const b = new Uint8Array(8 + cap * CPUID_ENTRY_SIZE);
        new DataView(b.buffer).setUint32(0, cap, true);
        const r = sys().ioctlPtr(this.fd, IOCTL.KVM_GET_SUPPORTED_CPUID, b);
        if (r === -E2BIG && cap < 8192) continue;
        if (r < 0) throw ioctlError("KVM_GET_SUPPORTED_CPUID", -r);
        this.#cpuid = decodeCpuid2(b);
        break;
      }
    }
    return this.#cpuid.map((e) => ({ ...e }));
  }

  /**
   * The MSRs KVM can save and restore (`KVM_GET_MSR_INDEX_LIST`).
   *
   * @returns MSR indices.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * kvm.msrIndexList().includes(0x10); // IA32_TSC
   * ```
   */
  msrIndexList(): number[] {
    this.#check("KVM_GET_MSR_INDEX_LIST");
    // First call with nmsrs = 0: E2BIG, and the kernel writes the needed count back (api.rst).
    const probe = new Uint8Array(4);
    const r0 = sys().ioctlPtr(this.fd, IOCTL.KVM_GET_MSR_INDEX_LIST, probe);
    if (r0 < 0 && r0 !== -E2BIG) throw ioctlError("KVM_GET_MSR_INDEX_LIST", -r0);
    const n = new DataView(probe.buffer).getUint32(0, true);
    const b = new Uint8Array(4 + 4 * n);
    const v = new DataView(b.buffer);
    v.setUint32(0, n, true);
    const r = sys().ioctlPtr(this.fd, IOCTL.KVM_GET_MSR_INDEX_LIST, b);
    if (r < 0) throw ioctlError("KVM_GET_MSR_INDEX_LIST", -r);
    const count = v.getUint32(0, true);
    return Array.from({ length: count }, (_, i) => v.getUint32(4 + 4 * i, true));
  }

  /**
   * Creates a VM (`KVM_CREATE_VM`, machine type 0).
   *
   * @returns The VM. Close it with {@link Vm.close}.
   * @throws {@link KvmError} `ioctl-failed`, `closed`.
   * @example
   * ```ts
   * const vm = kvm.createVm();
   * ```
   */
  createVm(): Vm {
    this.#check("KVM_CREATE_VM");
    const fd = sys().ioctlVal(this.fd, IOCTL.KVM_CREATE_VM, 0);
    if (fd < 0) throw ioctlError("KVM_CREATE_VM", -fd);
    return new Vm(this, fd);
  }

  /**
   * Closes `/dev/kvm`. VMs created from it stay valid (they hold their own fds). Idempotent.
   *
   * @throws {@link KvmError} `syscall-failed` if close(2) fails.
   * @example
   * ```ts
   * kvm.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    sys().close(this.fd);
  }
}
