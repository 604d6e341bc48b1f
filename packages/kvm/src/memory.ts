import { KvmError } from "./errors.js";
import { sys } from "./sys.js";

/**
 * A guest RAM region as plain data: what another thread needs to view the same memory.
 *
 * @example
 * ```ts
 * const desc: RamDescriptor = vm.ramDescriptors()[0]!;
 * // in a worker: viewRam(desc).bytes
 * ```
 */
export interface RamDescriptor {
  /** The memory slot (`kvm_userspace_memory_region.slot`). */ readonly slot: number;
  /** Guest-physical start address. */ readonly guestAddress: bigint;
  /** Size in bytes (a multiple of 4096). */ readonly size: number;
  /** Host virtual address of the mapping (process-wide). */ readonly hostAddress: bigint;
  /** Whether the slot is read-only to the guest (`KVM_MEM_READONLY`). */ readonly readOnly: boolean;
}

/**
 * A guest RAM region with a zero-copy view of its bytes on the current thread. Every thread that
 * calls {@link viewRam} with the same descriptor sees the same memory: the mapping is one
 * anonymous private `MAP_NORESERVE` mapping in the process, and the views are external
 * ArrayBuffers over its address.
 *
 * @example
 * ```ts
 * const ram: RamRegion = vm.addRam({ guestAddress: 0, size: 1 << 20 });
 * ram.bytes.set([0xf4], 0x1000);
 * ```
 */
export interface RamRegion extends RamDescriptor {
  /** An ArrayBuffer over the mapping (no copy). Invalid once the VM is closed. */ readonly buffer: ArrayBuffer;
  /** `new Uint8Array(buffer)`. */ readonly bytes: Uint8Array;
}

/**
 * Views a RAM region on the calling thread (any worker), with no copy.
 *
 * The view must not be used after the VM is closed (the mapping is gone and an access faults the
 * process); {@link Vm.close} stops the VM's threads before unmapping.
 *
 * @param desc - A region or its descriptor, e.g. from {@link Vm.ramDescriptors}.
 * @returns The region with `buffer` and `bytes` on this thread.
 * @throws {@link KvmError} `invalid-argument` for a malformed descriptor.
 * @example
 * ```ts
 * // in a worker
 * const [ram] = workerData.ram.map(viewRam);
 * ram.bytes[0x1000] = 0xf4; // hlt
 * ```
 */
export function viewRam(desc: RamDescriptor): RamRegion {
  if (typeof desc !== "object" || desc === null || typeof desc.hostAddress !== "bigint" || !Number.isInteger(desc.size)) {
    throw new KvmError("invalid-argument", "ram descriptor: expected { slot, guestAddress, size, hostAddress: bigint }");
  }
  const buffer = sys().view(desc.hostAddress, desc.size);
  return {
    slot: desc.slot,
    guestAddress: desc.guestAddress,
    size: desc.size,
    hostAddress: desc.hostAddress,
    readOnly: desc.readOnly,
    buffer,
    bytes: new Uint8Array(buffer),
  };
}

/** @internal Strips the views off a region. */
export function describeRam(r: RamDescriptor): RamDescriptor {
  return { slot: r.slot, guestAddress: r.guestAddress, size: r.size, hostAddress: r.hostAddress, readOnly: r.readOnly };
}
