/**
 * Pure encoders of the argument structs of the VM ioctls (include/uapi/linux/kvm.h, Linux 6.1):
 * each takes plain values and returns the struct's bytes, little-endian, every field it does not
 * name left zero (flags, pads, `devid`, `resamplefd`). No syscalls here; {@link Vm} passes the
 * bytes to the ioctl. Sizes, offsets and flag values come from `VM_ABI` (constants.ts), and
 * test/abi.test.ts checks every encoder's output byte for byte against the installed header,
 * through test/vectors/kvm-abi.c.
 *
 * Each encoder checks the values it writes against the field's range and throws a
 * {@link KvmError} naming the field and the limit (`out-of-range`, or `invalid-argument` for a
 * wrong type or an unknown enum value). The rules that are {@link Vm}'s own (page alignment, the
 * 4 GiB region limit, used slots) stay in vm.ts.
 */
import { VM_ABI } from "./constants.js";
import { KvmError } from "./errors.js";
import { toU64, toUint } from "./registers.js";

const { memoryRegion: MR, pitConfig: PIT, irqLevel: IL, msi: MSI, irqRouting: RT, irqRoutingEntry: RE, irqfd: IRQFD, ioeventfd: IOEV } = VM_ABI;

/** Checks a file descriptor: an integer 0..2^31-1 (both `__u32 fd` and `__s32 fd` take it as is). */
function fdValue(v: number, field: string): number {
  toUint(v, 32, field);
  if (v > 0x7fffffff) throw new KvmError("out-of-range", `${field}: expected a file descriptor 0..2147483647, got ${v}`);
  return v;
}

/** A new zeroed struct of `size` bytes and a little-endian view on it. */
function struct(size: number): [Uint8Array, DataView] {
  const b = new Uint8Array(size);
  return [b, new DataView(b.buffer)];
}

/**
 * The fields of a `struct kvm_userspace_memory_region` (`KVM_SET_USER_MEMORY_REGION`).
 *
 * @example
 * ```ts
 * const region: MemoryRegionFields = { slot: 1, guestPhysAddr: 0x1_0000_0000n, memorySize: 0x4000_0000, userspaceAddr: host };
 * ```
 */
export interface MemoryRegionFields {
  /** `slot` (u32): the slot id in bits 15:0, the address space in bits 31:16. */ readonly slot: number;
  /** Sets `KVM_MEM_READONLY` in `flags`. */ readonly readOnly?: boolean | undefined;
  /** `guest_phys_addr` (u64). */ readonly guestPhysAddr: bigint | number;
  /** `memory_size` (u64); 0 deletes the slot. */ readonly memorySize: bigint | number;
  /** `userspace_addr` (u64): the host address of the mapping. */ readonly userspaceAddr: bigint | number;
}

/**
 * Encodes a `struct kvm_userspace_memory_region` (32 bytes), the argument of
 * `KVM_SET_USER_MEMORY_REGION`.
 *
 * @param region - Slot, read-only flag, guest address, size and host address.
 * @returns The struct's bytes.
 * @throws {@link KvmError} `out-of-range` for a slot over 2^32-1 or an address or size over
 * 2^64-1, `invalid-argument` for a non-integer.
 * @example
 * ```ts
 * const add = encodeMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: host });
 * const remove = encodeMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0, userspaceAddr: host });
 * ```
 */
export function encodeMemoryRegion(region: MemoryRegionFields): Uint8Array {
  const [b, v] = struct(MR.size);
  v.setUint32(MR.slot, toUint(region.slot, 32, "slot"), true);
  v.setUint32(MR.flags, region.readOnly === true ? VM_ABI.memReadonly : 0, true);
  v.setBigUint64(MR.guestPhysAddr, toU64(region.guestPhysAddr, "guestPhysAddr"), true);
  v.setBigUint64(MR.memorySize, toU64(region.memorySize, "memorySize"), true);
  v.setBigUint64(MR.userspaceAddr, toU64(region.userspaceAddr, "userspaceAddr"), true);
  return b;
}

/**
 * Encodes the `__u64` that `KVM_SET_IDENTITY_MAP_ADDR` points at (8 bytes).
 *
 * @param address - The guest-physical address of the identity-map page.
 * @returns The u64's bytes.
 * @throws {@link KvmError} `out-of-range` over 2^64-1 (or 2^53-1 as a number), `invalid-argument`
 * for another type; the message names `identityMapAddress`.
 * @example
 * ```ts
 * encodeIdentityMapAddress(0xfffbc000); // Uint8Array [0x00, 0xc0, 0xfb, 0xff, 0, 0, 0, 0]
 * ```
 */
export function encodeIdentityMapAddress(address: bigint | number): Uint8Array {
  const [b, v] = struct(VM_ABI.identityMapAddress.size);
  v.setBigUint64(0, toU64(address, "identityMapAddress"), true);
  return b;
}

/**
 * Encodes a `struct kvm_pit_config` (64 bytes), the argument of `KVM_CREATE_PIT2`.
 *
 * @param config - `speakerDummy` sets `KVM_PIT_SPEAKER_DUMMY` (port 0x61 emulated in the kernel).
 * @returns The struct's bytes.
 * @example
 * ```ts
 * const pit = encodePitConfig({ speakerDummy: true }); // flags = 1, the rest zero
 * ```
 */
export function encodePitConfig(config: { readonly speakerDummy: boolean }): Uint8Array {
  const [b, v] = struct(PIT.size);
  v.setUint32(PIT.flags, config.speakerDummy ? VM_ABI.pitSpeakerDummy : 0, true);
  return b;
}

/**
 * Encodes a `struct kvm_irq_level` (8 bytes), the argument of `KVM_IRQ_LINE`.
 *
 * @param line - The GSI (`irq`, u32) and its level (high for true or 1).
 * @returns The struct's bytes.
 * @throws {@link KvmError} `out-of-range` for an `irq` over 2^32-1, `invalid-argument` for a
 * non-integer.
 * @example
 * ```ts
 * const raise = encodeIrqLevel({ irq: 4, level: true });
 * const lower = encodeIrqLevel({ irq: 4, level: false });
 * ```
 */
export function encodeIrqLevel(line: { readonly irq: number; readonly level: boolean | 0 | 1 }): Uint8Array {
  const [b, v] = struct(IL.size);
  v.setUint32(IL.irq, toUint(line.irq, 32, "irq"), true);
  v.setUint32(IL.level, line.level ? 1 : 0, true);
  return b;
}

/**
 * Encodes a `struct kvm_msi` (32 bytes), the argument of `KVM_SIGNAL_MSI`: the address split into
 * `address_lo` and `address_hi`, `data`; `flags` and `devid` zero.
 *
 * @param msi - The MSI address (u64) and data (u32).
 * @returns The struct's bytes.
 * @throws {@link KvmError} `out-of-range` for an `address` over 2^64-1 or `data` over 2^32-1,
 * `invalid-argument` for a wrong type.
 * @example
 * ```ts
 * const msi = encodeMsi({ address: 0xfee00000, data: 0x31 }); // vector 0x31 to APIC 0
 * ```
 */
export function encodeMsi(msi: { readonly address: bigint | number; readonly data: number }): Uint8Array {
  const [b, v] = struct(MSI.size);
  const a = toU64(msi.address, "address");
  v.setUint32(MSI.addressLo, Number(a & 0xffffffffn), true);
  v.setUint32(MSI.addressHi, Number(a >> 32n), true);
  v.setUint32(MSI.data, toUint(msi.data, 32, "data"), true);
  return b;
}

/**
 * One GSI route (`struct kvm_irq_routing_entry`): the GSI goes to a pin of an in-kernel interrupt
 * controller, or is delivered as an MSI.
 *
 * @example
 * ```ts
 * const toPin2: GsiRoute = { gsi: 0, kind: "irqchip", chip: "ioapic", pin: 2 }; // QEMU's IRQ0 override
 * ```
 */
export type GsiRoute =
  | {
      /** The GSI. */ readonly gsi: number;
      /** Discriminant: a controller pin. */ readonly kind: "irqchip";
      /** Which controller (`KVM_IRQCHIP_PIC_MASTER` 0, `PIC_SLAVE` 1, `IOAPIC` 2). */ readonly chip: "pic-master" | "pic-slave" | "ioapic";
      /** The pin. */ readonly pin: number;
    }
  | {
      /** The GSI. */ readonly gsi: number;
      /** Discriminant: an MSI. */ readonly kind: "msi";
      /** MSI address (0xfee00000 | destination << 12 for x86). */ readonly address: bigint | number;
      /** MSI data (the vector in bits 7:0). */ readonly data: number;
    };

/**
 * Encodes a `struct kvm_irq_routing` with its entries, the argument of `KVM_SET_GSI_ROUTING`:
 * `nr`, `flags` 0, then one 48-byte `kvm_irq_routing_entry` per route (`gsi`, `type`
 * `KVM_IRQ_ROUTING_IRQCHIP` or `_MSI`, and the union `u`: `irqchip` and `pin`, or the MSI's
 * `address_lo`, `address_hi` and `data`).
 *
 * @param routes - Every route, in order.
 * @returns The struct's bytes: the 8-byte header and `routes.length` entries.
 * @throws {@link KvmError} `out-of-range` for a `gsi`, `pin` or `data` over 2^32-1 or an `address`
 * over 2^64-1, `invalid-argument` for an unknown `kind` or `chip`; the message names the route,
 * e.g. `routes[3].pin`.
 * @example
 * ```ts
 * const table = encodeIrqRouting([
 *   { gsi: 0, kind: "irqchip", chip: "ioapic", pin: 2 },
 *   { gsi: 24, kind: "msi", address: 0xfee00000, data: 0x40 },
 * ]);
 * ```
 */
export function encodeIrqRouting(routes: readonly GsiRoute[]): Uint8Array {
  const [b, v] = struct(RT.entries + routes.length * RE.size);
  v.setUint32(RT.nr, routes.length, true);
  const chips: Readonly<Record<string, number>> = VM_ABI.irqchip;
  routes.forEach((r, i) => {
    const o = RT.entries + i * RE.size;
    v.setUint32(o + RE.gsi, toUint(r.gsi, 32, `routes[${i}].gsi`), true);
    if (r.kind === "irqchip") {
      const name = r.chip as string;
      const chip = Object.hasOwn(chips, name) ? chips[name] : undefined;
      if (chip === undefined) throw new KvmError("invalid-argument", `routes[${i}].chip: expected pic-master, pic-slave or ioapic, got ${String(r.chip)}`);
      v.setUint32(o + RE.type, VM_ABI.routingType.irqchip, true);
      v.setUint32(o + RE.irqchip, chip, true);
      v.setUint32(o + RE.pin, toUint(r.pin, 32, `routes[${i}].pin`), true);
    } else if (r.kind === "msi") {
      const a = toU64(r.address, `routes[${i}].address`);
      v.setUint32(o + RE.type, VM_ABI.routingType.msi, true);
      v.setUint32(o + RE.msiAddressLo, Number(a & 0xffffffffn), true);
      v.setUint32(o + RE.msiAddressHi, Number(a >> 32n), true);
      v.setUint32(o + RE.msiData, toUint(r.data, 32, `routes[${i}].data`), true);
    } else {
      throw new KvmError("invalid-argument", `routes[${i}].kind: expected "irqchip" or "msi"`);
    }
  });
  return b;
}

/**
 * Encodes a `struct kvm_irqfd` (32 bytes), the argument of `KVM_IRQFD`: `fd`, `gsi`, and `flags`
 * `KVM_IRQFD_FLAG_DEASSIGN` when unbinding; `resamplefd` zero.
 *
 * @param irqfd - The eventfd, the GSI, and whether to unbind.
 * @returns The struct's bytes.
 * @throws {@link KvmError} `out-of-range` for an `fd` over 2^31-1 or a `gsi` over 2^32-1,
 * `invalid-argument` for a non-integer.
 * @example
 * ```ts
 * const bind = encodeIrqfd({ fd: efd.fd, gsi: 5 });
 * const unbind = encodeIrqfd({ fd: efd.fd, gsi: 5, deassign: true });
 * ```
 */
export function encodeIrqfd(irqfd: { readonly fd: number; readonly gsi: number; readonly deassign?: boolean | undefined }): Uint8Array {
  const [b, v] = struct(IRQFD.size);
  v.setUint32(IRQFD.fd, fdValue(irqfd.fd, "fd"), true);
  v.setUint32(IRQFD.gsi, toUint(irqfd.gsi, 32, "gsi"), true);
  v.setUint32(IRQFD.flags, irqfd.deassign === true ? VM_ABI.irqfdDeassign : 0, true);
  return b;
}

/**
 * The fields of a `struct kvm_ioeventfd` (`KVM_IOEVENTFD`).
 *
 * @example
 * ```ts
 * const kick: IoeventfdFields = { space: "mmio", address: 0xd0000050, length: 4, fd: efd.fd };
 * ```
 */
export interface IoeventfdFields {
  /** `pio` sets `KVM_IOEVENTFD_FLAG_PIO` (a port); `mmio` a guest-physical address. */ readonly space: "pio" | "mmio";
  /** `addr` (u64): the port (0..0xffff) or address. */ readonly address: bigint | number;
  /** `len`: 1, 2, 4 or 8 (0 for MMIO matches any length). */ readonly length: 0 | 1 | 2 | 4 | 8;
  /** `datamatch` (u64); given, it sets `KVM_IOEVENTFD_FLAG_DATAMATCH`. */ readonly datamatch?: bigint | number | undefined;
  /** `fd`: the eventfd to signal. */ readonly fd: number;
  /** Sets `KVM_IOEVENTFD_FLAG_DEASSIGN` (unregister). */ readonly deassign?: boolean | undefined;
}

/**
 * Encodes a `struct kvm_ioeventfd` (64 bytes), the argument of `KVM_IOEVENTFD`: `datamatch`,
 * `addr`, `len`, `fd` and `flags` (`KVM_IOEVENTFD_FLAG_PIO`, `_DATAMATCH`, `_DEASSIGN`).
 *
 * @param ioeventfd - Space, address, length, optional datamatch, eventfd, unregister.
 * @returns The struct's bytes.
 * @throws {@link KvmError} `invalid-argument` for a `space` other than `pio` or `mmio`,
 * `out-of-range` for a `length` other than 0, 1, 2, 4 or 8, a port over 0xffff, an `address` or
 * `datamatch` over 2^64-1 or an `fd` over 2^31-1.
 * @example
 * ```ts
 * // virtio-mmio QueueNotify of transport 0, and port 0x80 only for writes of 0x42
 * const kick = encodeIoeventfd({ space: "mmio", address: 0xd0000050, length: 4, fd: efd.fd });
 * const post = encodeIoeventfd({ space: "pio", address: 0x80, length: 1, datamatch: 0x42, fd: efd.fd });
 * ```
 */
export function encodeIoeventfd(ioeventfd: IoeventfdFields): Uint8Array {
  const o = ioeventfd;
  if (o.space !== "pio" && o.space !== "mmio") throw new KvmError("invalid-argument", `space: expected "pio" or "mmio", got ${String(o.space)}`);
  if (![0, 1, 2, 4, 8].includes(o.length)) throw new KvmError("out-of-range", `length: expected 0, 1, 2, 4 or 8, got ${o.length}`);
  const addr = toU64(o.address, "address");
  if (o.space === "pio" && addr > 0xffffn) throw new KvmError("out-of-range", `address: expected a port 0..0xffff, got 0x${addr.toString(16)}`);
  const [b, v] = struct(IOEV.size);
  const F = VM_ABI.ioeventfdFlag;
  let flags = (o.deassign === true ? F.deassign : 0) | (o.space === "pio" ? F.pio : 0);
  if (o.datamatch !== undefined) {
    v.setBigUint64(IOEV.datamatch, toU64(o.datamatch, "datamatch"), true);
    flags |= F.datamatch;
  }
  v.setBigUint64(IOEV.addr, addr, true);
  v.setUint32(IOEV.len, o.length, true);
  v.setInt32(IOEV.fd, fdValue(o.fd, "fd"), true);
  v.setUint32(IOEV.flags, flags, true);
  return b;
}
