/**
 * Decoding `struct kvm_run` exits into typed values, and answering reads.
 *
 * Offsets (include/uapi/linux/kvm.h `struct kvm_run`): immediate_exit u8 @1, exit_reason u32 @8,
 * the exit union @32: io {direction u8 @32, size u8 @33, port u16 @34, count u32 @36,
 * data_offset u64 @40}; mmio {phys_addr u64 @32, data u8[8] @40, len u32 @48, is_write u8 @52};
 * fail_entry {hardware_entry_failure_reason u64 @32, cpu u32 @40}; internal {suberror u32 @32,
 * ndata u32 @36, data u64[16] @40}; system_event {type u32 @32, ndata u32 @36, data u64[16] @40}.
 */
import { KvmError } from "./errors.js";

/**
 * A port I/O exit (`KVM_EXIT_IO`): `in`/`out`, `ins`/`outs` (then `count` > 1).
 *
 * @example
 * ```ts
 * const handler: VcpuHandler = {
 *   io: (exit: IoExit) => (exit.direction === "in" && exit.port === 0x64 ? 0 : undefined),
 * };
 * ```
 */
export interface IoExit {
  /** Discriminant. */ readonly kind: "io";
  /** `in` (the guest reads; answer it) or `out` (the guest wrote `data`). */ readonly direction: "in" | "out";
  /** The port. */ readonly port: number;
  /** Access size in bytes: 1, 2 or 4. */ readonly size: 1 | 2 | 4;
  /** Number of accesses (more than 1 for `rep ins`/`rep outs`). */ readonly count: number;
  /**
   * The data, `size * count` bytes, a live view into the vCPU's kvm_run mapping (valid only until
   * the vCPU re-enters). For `out` it holds what the guest wrote; for `in` the answer goes here.
   */
  readonly data: Uint8Array;
  /** For `out`: the first value written, little-endian; 0 for `in`. */ readonly value: number;
}

/**
 * An MMIO exit (`KVM_EXIT_MMIO`): an access to guest-physical memory with no memory slot.
 *
 * @example
 * ```ts
 * const handler: VcpuHandler = {
 *   mmio: (exit: MmioExit) => (exit.isWrite ? undefined : 0x74726976), // "virt"
 * };
 * ```
 */
export interface MmioExit {
  /** Discriminant. */ readonly kind: "mmio";
  /** `true` for a write, `false` for a read (answer it). */ readonly isWrite: boolean;
  /** Guest-physical address. */ readonly address: bigint;
  /** Access length in bytes (1..8). */ readonly length: number;
  /** The data, `length` bytes, a live view into kvm_run (valid until re-entry). */ readonly data: Uint8Array;
  /** For a write: the value written, little-endian; 0n for a read. */ readonly value: bigint;
}

/**
 * `KVM_EXIT_HLT`: the guest halted (only without an in-kernel irqchip).
 *
 * @example
 * ```ts
 * const handler: VcpuHandler = { hlt: (_exit: HltExit) => true }; // keep running
 * ```
 */
export interface HltExit {
  /** Discriminant. */ readonly kind: "hlt";
}

/**
 * `KVM_EXIT_SHUTDOWN`: a triple fault (or another shutdown condition).
 *
 * @example
 * ```ts
 * const result = await thread.done;
 * if (result.exit?.kind === "shutdown") console.log("triple fault");
 * ```
 */
export interface ShutdownExit {
  /** Discriminant. */ readonly kind: "shutdown";
}

/**
 * `KVM_EXIT_FAIL_ENTRY`: the hardware refused to enter the guest.
 *
 * @example
 * ```ts
 * const e = vcpu.run();
 * if (e.kind === "fail-entry") console.error(`entry failed: 0x${e.reason.toString(16)}`);
 * ```
 */
export interface FailEntryExit {
  /** Discriminant. */ readonly kind: "fail-entry";
  /** `hardware_entry_failure_reason` (VMX exit reason or SVM exit code). */ readonly reason: bigint;
  /** The physical CPU it happened on. */ readonly cpu: number;
}

/**
 * `KVM_EXIT_INTERNAL_ERROR`: KVM could not handle something, e.g. an instruction it cannot emulate.
 *
 * @example
 * ```ts
 * const e = vcpu.run();
 * if (e.kind === "internal-error" && e.suberror === 1) console.error("emulation failure", e.data);
 * ```
 */
export interface InternalErrorExit {
  /** Discriminant. */ readonly kind: "internal-error";
  /** `KVM_INTERNAL_ERROR_*`: 1 emulation, 2 simultaneous exception, 3 delivery event, 4 unexpected exit reason. */
  readonly suberror: number;
  /** The `ndata` words of extra data. */ readonly data: readonly bigint[];
}

/**
 * `KVM_EXIT_SYSTEM_EVENT`: the guest asked for shutdown (1), reset (2) or reported a crash (3).
 *
 * @example
 * ```ts
 * const e = vcpu.run();
 * if (e.kind === "system-event" && e.type === 2) console.log("guest asked for a reset");
 * ```
 */
export interface SystemEventExit {
  /** Discriminant. */ readonly kind: "system-event";
  /** `KVM_SYSTEM_EVENT_*`: 1 SHUTDOWN, 2 RESET, 3 CRASH, ... */ readonly type: number;
  /** The `ndata` words of extra data. */ readonly data: readonly bigint[];
}

/**
 * `KVM_RUN` returned `EINTR`: the vCPU was kicked (signal or `immediate_exit`).
 *
 * @example
 * ```ts
 * const e = vcpu.run();
 * if (e.kind === "interrupted") console.log("kicked");
 * ```
 */
export interface InterruptedExit {
  /** Discriminant. */ readonly kind: "interrupted";
}

/**
 * Any other exit reason, given raw (see {@link KVM_EXIT}).
 *
 * @example
 * ```ts
 * const e = vcpu.run();
 * if (e.kind === "other" && e.reason === KVM_EXIT.IRQ_WINDOW_OPEN) console.log("window open");
 * ```
 */
export interface OtherExit {
  /** Discriminant. */ readonly kind: "other";
  /** The raw `exit_reason`. */ readonly reason: number;
}

/**
 * A decoded vCPU exit. Switch on `kind`.
 *
 * @example
 * ```ts
 * function describe(e: VcpuExit): string {
 *   return e.kind === "io" ? `${e.direction} port 0x${e.port.toString(16)}` : e.kind;
 * }
 * ```
 */
export type VcpuExit =
  | IoExit
  | MmioExit
  | HltExit
  | ShutdownExit
  | FailEntryExit
  | InternalErrorExit
  | SystemEventExit
  | InterruptedExit
  | OtherExit;

/**
 * The answer to a read exit: a number or bigint (written little-endian in the access size, and for
 * `rep ins` repeated `count` times), or the raw bytes. Nothing (`undefined`) reads as all-ones, like
 * an unassigned port or bus on real hardware (QEMU `unassigned_io_read` does the same).
 *
 * @example
 * ```ts
 * const answer: ReadAnswer = 0xff; // an absent UART reads as 0xff
 * ```
 */
export type ReadAnswer = number | bigint | Uint8Array | undefined | void;

const HLT: HltExit = Object.freeze({ kind: "hlt" });
const SHUTDOWN: ShutdownExit = Object.freeze({ kind: "shutdown" });
/** @internal */
export const INTERRUPTED: InterruptedExit = Object.freeze({ kind: "interrupted" });

function words(v: DataView): bigint[] {
  const n = Math.min(v.getUint32(36, true), 16);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(v.getBigUint64(40 + i * 8, true));
  return out;
}

/**
 * @internal Returns a decoder for the exits of one kvm_run mapping. `u8` and `v` view the whole
 * mapping (io data lives at `data_offset`, on the second page). The `data` views are cached per
 * offset and length, so a hot exit path allocates only the exit object: `data` is documented as
 * valid until the vCPU re-enters, and the same view is handed out again next time.
 */
export function exitDecoder(u8: Uint8Array, v: DataView): () => VcpuExit {
  // In practice io.data_offset is always the second page and lengths are small: index by length.
  let ioOff = -1;
  let ioViews: (Uint8Array | undefined)[] = [];
  const mmioViews: (Uint8Array | undefined)[] = [];
  const view = (off: number, len: number): Uint8Array => {
    if (off === 40) return (mmioViews[len] ??= u8.subarray(40, 40 + len));
    if (off !== ioOff) {
      ioOff = off;
      ioViews = [];
    }
    if (len > 64) return u8.subarray(off, off + len);
    return (ioViews[len] ??= u8.subarray(off, off + len));
  };
  return () => decode(u8, v, view);
}

/** @internal Decodes the exit in a kvm_run mapping (uncached views; see {@link exitDecoder}). */
export function decodeExit(u8: Uint8Array, v: DataView): VcpuExit {
  return decode(u8, v, (off, len) => u8.subarray(off, off + len));
}

function decode(u8: Uint8Array, v: DataView, view: (off: number, len: number) => Uint8Array): VcpuExit {
  const reason = v.getUint32(8, true);
  switch (reason) {
    case 2: {
      const size = u8[33] as 1 | 2 | 4;
      const count = v.getUint32(36, true);
      const off = v.getUint32(40, true); // data_offset (a u64; always within the mapping, so < 2^32)
      const out = u8[32] === 1;
      // The kernel always points inside the mapping; anything else decodes as empty data, never a throw.
      const len = size * count;
      const ok = off + len <= u8.length && (size === 1 || size === 2 || size === 4);
      const data = ok ? view(off, len) : u8.subarray(0, 0);
      const value = out && ok && count > 0 ? (size === 1 ? u8[off]! : size === 2 ? v.getUint16(off, true) : v.getUint32(off, true)) : 0;
      return { kind: "io", direction: out ? "out" : "in", port: v.getUint16(34, true), size, count, data, value };
    }
    case 6: {
      const length = v.getUint32(48, true);
      const isWrite = u8[52] !== 0;
      const data = view(40, Math.min(length, 8));
      let value = 0n;
      if (isWrite) for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]!);
      return { kind: "mmio", isWrite, address: v.getBigUint64(32, true), length, data, value };
    }
    case 5:
      return HLT;
    case 8:
      return SHUTDOWN;
    case 9:
      return { kind: "fail-entry", reason: v.getBigUint64(32, true), cpu: v.getUint32(40, true) };
    case 17:
      return { kind: "internal-error", suberror: v.getUint32(32, true), data: words(v) };
    case 24:
      return { kind: "system-event", type: v.getUint32(32, true), data: words(v) };
    case 10:
      return INTERRUPTED;
    default:
      return { kind: "other", reason };
  }
}

/**
 * Writes the answer to a read exit into its data (before re-entering the vCPU). Writes are left
 * alone.
 *
 * @param exit - An `io` exit with direction `in`, or an `mmio` read; other exits are ignored.
 * @param answer - See {@link ReadAnswer}.
 * @throws {@link KvmError} `invalid-argument` when the answer is not a number, bigint or Uint8Array.
 * @example
 * ```ts
 * const exit = vcpu.run();
 * if (exit.kind === "io" && exit.direction === "in") answerRead(exit, 0x42);
 * ```
 */
export function answerRead(exit: VcpuExit, answer: ReadAnswer): void {
  let data: Uint8Array;
  let unit: number;
  if (exit.kind === "io" && exit.direction === "in") {
    data = exit.data;
    unit = exit.size;
  } else if (exit.kind === "mmio" && !exit.isWrite) {
    data = exit.data;
    unit = data.length;
  } else return;
  if (answer === undefined) {
    data.fill(0xff);
  } else if (typeof answer === "number") {
    const lo = answer >>> 0;
    const hi = unit > 4 ? Math.floor(answer / 2 ** 32) >>> 0 : 0;
    for (let o = 0; o < data.length; o += unit) {
      for (let i = 0; i < unit; i++) data[o + i] = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
    }
  } else if (typeof answer === "bigint") {
    for (let o = 0; o < data.length; o += unit) {
      let x = answer;
      for (let i = 0; i < unit; i++) {
        data[o + i] = Number(x & 0xffn);
        x >>= 8n;
      }
    }
  } else if (answer instanceof Uint8Array) {
    data.fill(0);
    data.set(answer.subarray(0, data.length));
  } else {
    throw new KvmError("invalid-argument", `read answer: expected a number, bigint or Uint8Array, got ${typeof answer}`);
  }
}
