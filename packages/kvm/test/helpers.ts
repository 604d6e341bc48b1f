/**
 * Test helpers: the KVM availability check (tests report as skipped with the reason when
 * /dev/kvm cannot be opened) and guest set-up from the register API.
 */
import { fileURLToPath } from "node:url";
import { Kvm, type Vcpu, type Vm } from "../src/index.ts";

/**
 * Why KVM tests cannot run here, or undefined. `MICROVM_KVM_DEVICE=/dev/nothing` simulates a
 * machine without KVM (the suites then report as skipped, with the reason).
 */
export const kvmUnavailable: string | undefined = Kvm.unavailableReason(process.env.MICROVM_KVM_DEVICE ?? "/dev/kvm");

/** A suite title that says why it is skipped when it is. */
export function kvmTitle(title: string): string {
  return kvmUnavailable === undefined ? title : `${title} [skipped: ${kvmUnavailable}]`;
}

/** Absolute path of a handler fixture. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Real mode at 0:`rip` (flat CS base 0). */
export function realMode(vcpu: Vcpu, rip = 0x1000): void {
  vcpu.setSregs({ cs: { base: 0, selector: 0 } });
  vcpu.setRegs({ rip, rflags: 2 });
}

/** Writes a flat GDT at 0x500 (null, code, data) into RAM. `code` is the raw code descriptor. */
function writeGdt(ram: Uint8Array, code: bigint): void {
  const v = new DataView(ram.buffer, ram.byteOffset);
  v.setBigUint64(0x500, 0n, true);
  v.setBigUint64(0x508, code, true);
  v.setBigUint64(0x510, 0x00cf93000000ffffn, true); // flat 4 GiB data, read/write, accessed
}

const flatData = { base: 0, limit: 0xffffffff, selector: 0x10, type: 3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };

/**
 * 32-bit protected mode with paging off, flat segments, as PVH boot wants (Firecracker's
 * setup_sregs, PVH branch): GDT at 0x500, cr0 = PE|ET, and `idtLimit` (0 = no IDT at all).
 */
export function protectedMode32(vcpu: Vcpu, ram: Uint8Array, rip: number, idtLimit = 0): void {
  writeGdt(ram, 0x00cf9b000000ffffn);
  vcpu.setSregs({
    cs: { base: 0, limit: 0xffffffff, selector: 0x08, type: 0xb, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 },
    ds: flatData, es: flatData, fs: flatData, gs: flatData, ss: flatData,
    gdt: { base: 0x500, limit: 23 },
    idt: { base: 0x520, limit: idtLimit },
    cr0: 0x11,
    cr4: 0,
    efer: 0,
  });
  vcpu.setRegs({ rip, rflags: 2, rsp: 0x8000 });
}

/**
 * 64-bit long mode: identity-mapped first 4 GiB with 2 MiB pages (PML4 0x9000, PDPT 0xa000,
 * PDs 0xb000-0xe000), GDT at 0x500 with a 64-bit code segment, EFER.LME|LMA, CR4.PAE, CR0.PG|PE.
 */
export function longMode64(vcpu: Vcpu, ram: Uint8Array, rip: number, idt: { base: number; limit: number }): void {
  const v = new DataView(ram.buffer, ram.byteOffset);
  v.setBigUint64(0x9000, 0xa000n | 3n, true);
  for (let i = 0; i < 4; i++) {
    v.setBigUint64(0xa000 + i * 8, BigInt(0xb000 + i * 0x1000) | 3n, true);
    for (let j = 0; j < 512; j++) {
      v.setBigUint64(0xb000 + i * 0x1000 + j * 8, (BigInt(i * 512 + j) << 21n) | 0x83n, true); // P|RW|PS
    }
  }
  writeGdt(ram, 0x00af9b000000ffffn); // L=1 code
  vcpu.setSregs({
    cs: { base: 0, limit: 0xffffffff, selector: 0x08, type: 0xb, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 },
    ds: flatData, es: flatData, fs: flatData, gs: flatData, ss: flatData,
    gdt: { base: 0x500, limit: 23 },
    idt,
    cr3: 0x9000,
    cr4: 0x20,
    cr0: 0x80000011,
    efer: 0x500,
  });
  vcpu.setRegs({ rip, rflags: 2, rsp: 0x8000 });
}

/** Creates a VM with RAM at 0 and the TSS set. */
export function newVm(kvm: Kvm, ramSize = 0x200000): { vm: Vm; ram: Uint8Array } {
  const vm = kvm.createVm();
  vm.setTssAddress();
  const region = vm.addRam({ guestAddress: 0, size: ramSize });
  return { vm, ram: region.bytes };
}

/** Waits until `pred()` holds, re-checking on every change of `arr[index]` (or every 10 ms). */
export async function waitFor(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
