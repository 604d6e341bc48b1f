import { KvmError } from "./errors.js";
import type { CpuidEntry } from "./registers.js";

/**
 * Options of {@link normalizeCpuid}.
 *
 * @example
 * ```ts
 * const opts: CpuidNormalizeOptions = { vcpuId: 0, vcpuCount: 2 };
 * vcpu.setCpuid(normalizeCpuid(kvm.supportedCpuid(), opts));
 * ```
 */
export interface CpuidNormalizeOptions {
  /** This vCPU's index; it becomes its initial APIC id (leaf 1) and x2APIC id (leaves 0xB, 0x1F). */
  readonly vcpuId: number;
  /** How many vCPUs the VM has (1..4096). */
  readonly vcpuCount: number;
}

/** `KVM_CPUID_FLAG_SIGNIFCANT_INDEX` (arch/x86/include/uapi/asm/kvm.h). */
const SIGNIFICANT_INDEX = 1;
/** "KVMKVMKVM\0\0\0" as three little-endian u32s (Documentation/virt/kvm/x86/cpuid.rst). */
const KVM_SIGNATURE = [0x4b4d564b, 0x564b4d56, 0x4d] as const;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function topologyLeaf(fn: number, index: number, id: number, count: number): CpuidEntry {
  // Intel SDM vol. 2A, CPUID leaf 0BH/1FH: EAX[4:0] = bits to shift the x2APIC id to get the next
  // level's id, EBX[15:0] = logical processors at this level, ECX[7:0] = level number,
  // ECX[15:8] = level type (1 SMT, 2 core, 0 invalid), EDX = x2APIC id. One thread per core, so
  // the SMT level has 0 shift bits and one processor; the core level spans every vCPU.
  // Firecracker does the same (src/vmm/src/cpu_config/x86_64/cpuid/normalize.rs).
  if (index === 0) return { function: fn, index, flags: SIGNIFICANT_INDEX, eax: 0, ebx: 1, ecx: (1 << 8) | 0, edx: id >>> 0 };
  if (index === 1) {
    const shift = Math.log2(nextPow2(count));
    return { function: fn, index, flags: SIGNIFICANT_INDEX, eax: shift, ebx: count, ecx: (2 << 8) | 1, edx: id >>> 0 };
  }
  return { function: fn, index, flags: SIGNIFICANT_INDEX, eax: 0, ebx: 0, ecx: index & 0xff, edx: id >>> 0 };
}

/**
 * Normalizes a CPUID table (usually {@link Kvm.supportedCpuid}) for one vCPU, the way Firecracker
 * and QEMU do before `KVM_SET_CPUID2`:
 *
 * - leaf 1: EBX[31:24] = initial APIC id = `vcpuId`, EBX[23:16] = logical processors
 *   (next power of two of `vcpuCount`), EBX[15:8] = CLFLUSH line size 8 (64 bytes), ECX bit 31
 *   (hypervisor) set, EDX bit 28 (HTT) set when there is more than one vCPU;
 * - leaves 0xB and 0x1F (when present, or 0xB when the maximum basic leaf reaches it): one SMT and
 *   one core level, EDX = x2APIC id = `vcpuId` in every subleaf;
 * - leaf 0x8000001E (AMD), when present: EAX = extended APIC id = `vcpuId`;
 * - leaves 0x40000000/0x40000001: the KVM signature "KVMKVMKVM" (Documentation/virt/kvm/x86/cpuid.rst),
 *   added when missing.
 *
 * The input is not modified.
 *
 * @param entries - The CPUID table to start from.
 * @param options - This vCPU's id and the VM's vCPU count.
 * @returns A new table for `KVM_SET_CPUID2`.
 * @throws {@link KvmError} `out-of-range` when `vcpuCount` is not 1..4096 or `vcpuId` not below it.
 * @example
 * ```ts
 * const cpuid = normalizeCpuid(kvm.supportedCpuid(), { vcpuId: 1, vcpuCount: 2 });
 * vcpu.setCpuid(cpuid);
 * ```
 */
export function normalizeCpuid(entries: readonly CpuidEntry[], options: CpuidNormalizeOptions): CpuidEntry[] {
  const { vcpuId, vcpuCount } = options;
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > 4096) {
    throw new KvmError("out-of-range", `vcpuCount: expected 1..4096, got ${vcpuCount}`);
  }
  if (!Number.isInteger(vcpuId) || vcpuId < 0 || vcpuId >= vcpuCount) {
    throw new KvmError("out-of-range", `vcpuId: expected 0..${vcpuCount - 1}, got ${vcpuId}`);
  }
  const maxBasic = entries.find((e) => e.function === 0)?.eax ?? 0;
  const out: CpuidEntry[] = [];
  const topo = new Map<number, Set<number>>([[0xb, new Set()], [0x1f, new Set()]]);
  for (const e of entries) {
    if (e.function === 1) {
      const ebx = ((e.ebx & 0xff) | (8 << 8) | ((nextPow2(vcpuCount) & 0xff) << 16) | ((vcpuId & 0xff) << 24)) >>> 0;
      const ecx = (e.ecx | (1 << 31)) >>> 0;
      const edx = (vcpuCount > 1 ? e.edx | (1 << 28) : e.edx & ~(1 << 28)) >>> 0;
      out.push({ ...e, ebx, ecx, edx });
    } else if (e.function === 0xb || e.function === 0x1f) {
      topo.get(e.function)?.add(e.index);
      out.push(topologyLeaf(e.function, e.index, vcpuId, vcpuCount));
    } else if (e.function === 0x8000001e) {
      out.push({ ...e, eax: vcpuId >>> 0 });
    } else if (e.function === 0x40000000) {
      out.push({ ...e, eax: Math.max(e.eax, 0x40000001) >>> 0, ebx: KVM_SIGNATURE[0], ecx: KVM_SIGNATURE[1], edx: KVM_SIGNATURE[2] });
    } else {
      out.push({ ...e });
    }
  }
  for (const [fn, seen] of topo) {
    const wanted = fn === 0xb ? maxBasic >= 0xb || seen.size > 0 : seen.size > 0;
    if (!wanted) continue;
    for (const index of [0, 1]) if (!seen.has(index)) out.push(topologyLeaf(fn, index, vcpuId, vcpuCount));
  }
  if (!out.some((e) => e.function === 0x40000000)) {
    out.push({ function: 0x40000000, index: 0, flags: 0, eax: 0x40000001, ebx: KVM_SIGNATURE[0], ecx: KVM_SIGNATURE[1], edx: KVM_SIGNATURE[2] });
  }
  if (!out.some((e) => e.function === 0x40000001)) {
    out.push({ function: 0x40000001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 });
  }
  return out;
}
