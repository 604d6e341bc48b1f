/**
 * The package's ioctl numbers and struct codecs against the kernel headers: a C program
 * (test/vectors/kvm-abi.c) compiled with gcc prints the numbers and offsets; the codecs are
 * checked by placing distinct markers at the C offsets and decoding them. Skipped without gcc.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { IOCTL, KVM_CAP, KVM_EXIT, MP_STATE, VM_ABI } from "../src/constants.ts";
import { decodeExit } from "../src/exits.ts";
import { decodeFpu, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeMsrs, encodeRegsInto, encodeSregsInto } from "../src/registers.ts";

let abi: Record<string, number> | undefined;
let why = "";
try {
  const dir = mkdtempSync(join(tmpdir(), "kvm-abi-"));
  const exe = join(dir, "kvm-abi");
  execFileSync("gcc", ["-o", exe, fileURLToPath(new URL("./vectors/kvm-abi.c", import.meta.url))], { stdio: "pipe" });
  abi = JSON.parse(execFileSync(exe, { encoding: "utf8" })) as Record<string, number>;
} catch (e) {
  why = e instanceof Error ? e.message.split("\n")[0]! : String(e);
}
const A = (k: string): number => {
  const v = abi?.[k];
  if (v === undefined) throw new Error(`kvm-abi.c did not print ${k}`);
  return v;
};

describe.skipIf(abi === undefined)(`KVM ABI against the kernel headers${abi ? "" : ` [skipped: gcc/headers unavailable: ${why}]`}`, () => {
  it("every ioctl number equals the header's", () => {
    for (const [name, value] of Object.entries(IOCTL)) expect([name, value]).toEqual([name, A(name)]);
  });

  it("exit reasons, capabilities and MP states equal the header's", () => {
    expect(KVM_EXIT.IO).toBe(A("KVM_EXIT_IO"));
    expect(KVM_EXIT.MMIO).toBe(A("KVM_EXIT_MMIO"));
    expect(KVM_EXIT.HLT).toBe(A("KVM_EXIT_HLT"));
    expect(KVM_EXIT.SHUTDOWN).toBe(A("KVM_EXIT_SHUTDOWN"));
    expect(KVM_EXIT.FAIL_ENTRY).toBe(A("KVM_EXIT_FAIL_ENTRY"));
    expect(KVM_EXIT.INTR).toBe(A("KVM_EXIT_INTR"));
    expect(KVM_EXIT.INTERNAL_ERROR).toBe(A("KVM_EXIT_INTERNAL_ERROR"));
    expect(KVM_EXIT.SYSTEM_EVENT).toBe(A("KVM_EXIT_SYSTEM_EVENT"));
    expect(KVM_CAP.IRQFD).toBe(A("KVM_CAP_IRQFD"));
    expect(KVM_CAP.IOEVENTFD).toBe(A("KVM_CAP_IOEVENTFD"));
    expect(KVM_CAP.IMMEDIATE_EXIT).toBe(A("KVM_CAP_IMMEDIATE_EXIT"));
    expect(KVM_CAP.PIT2).toBe(A("KVM_CAP_PIT2"));
    expect(MP_STATE.UNINITIALIZED).toBe(A("KVM_MP_STATE_UNINITIALIZED"));
    expect(MP_STATE.RUNNABLE).toBe(A("KVM_MP_STATE_RUNNABLE"));
  });

  it("kvm_regs: each register decodes from and encodes to the header's offset", () => {
    const names = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"] as const;
    const b = new Uint8Array(A("sizeof kvm_regs"));
    const v = new DataView(b.buffer);
    names.forEach((n, i) => v.setBigUint64(A(`regs.${n}`), 0x1000n + BigInt(i), true));
    const regs = decodeRegs(b);
    names.forEach((n, i) => expect([n, regs[n]]).toEqual([n, 0x1000n + BigInt(i)]));
    const out = new Uint8Array(b.length);
    encodeRegsInto(regs, out);
    expect(out).toEqual(b);
  });

  it("kvm_sregs and kvm_segment: fields decode from and encode to the header's offsets", () => {
    const b = new Uint8Array(A("sizeof kvm_sregs"));
    const v = new DataView(b.buffer);
    const segs = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
    segs.forEach((n, i) => {
      const o = A(`sregs.${n}`);
      v.setBigUint64(o + A("segment.base"), 0x10000n * BigInt(i + 1), true);
      v.setUint32(o + A("segment.limit"), 0x100 + i, true);
      v.setUint16(o + A("segment.selector"), 8 * i, true);
      v.setUint8(o + A("segment.type"), 0xb);
      v.setUint8(o + A("segment.present"), 1);
      v.setUint8(o + A("segment.dpl"), 3);
      v.setUint8(o + A("segment.db"), 1);
      v.setUint8(o + A("segment.s"), 1);
      v.setUint8(o + A("segment.l"), i & 1);
      v.setUint8(o + A("segment.g"), 1);
      v.setUint8(o + A("segment.avl"), 1);
      v.setUint8(o + A("segment.unusable"), 0);
    });
    v.setBigUint64(A("sregs.gdt") + A("dtable.base"), 0x500n, true);
    v.setUint16(A("sregs.gdt") + A("dtable.limit"), 31, true);
    v.setBigUint64(A("sregs.idt") + A("dtable.base"), 0x520n, true);
    v.setUint16(A("sregs.idt") + A("dtable.limit"), 7, true);
    const crs = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apicBase"] as const;
    crs.forEach((n, i) => v.setBigUint64(A(`sregs.${n}`), 0xc0de00n + BigInt(i), true));
    for (let i = 0; i < 4; i++) v.setBigUint64(A("sregs.interruptBitmap") + 8 * i, BigInt(i + 7), true);
    const s = decodeSregs(b);
    segs.forEach((n, i) => {
      expect(s[n]).toEqual({ base: 0x10000n * BigInt(i + 1), limit: 0x100 + i, selector: 8 * i, type: 0xb, present: 1, dpl: 3, db: 1, s: 1, l: i & 1, g: 1, avl: 1, unusable: 0 });
    });
    expect(s.gdt).toEqual({ base: 0x500n, limit: 31 });
    expect(s.idt).toEqual({ base: 0x520n, limit: 7 });
    crs.forEach((n, i) => expect(s[n]).toBe(0xc0de00n + BigInt(i)));
    expect(s.interruptBitmap).toEqual([7n, 8n, 9n, 10n]);
    const out = new Uint8Array(b.length);
    encodeSregsInto(s, out);
    expect(out).toEqual(b);
  });

  it("kvm_fpu, kvm_cpuid_entry2 and kvm_msrs follow the header's offsets", () => {
    const f = new Uint8Array(A("sizeof kvm_fpu"));
    const fv = new DataView(f.buffer);
    fv.setUint16(A("fpu.fcw"), 0x37f, true);
    fv.setUint16(A("fpu.fsw"), 0x1234, true);
    fv.setUint8(A("fpu.ftwx"), 0x56);
    fv.setUint16(A("fpu.lastOpcode"), 0x789, true);
    fv.setBigUint64(A("fpu.lastIp"), 0xabcdefn, true);
    fv.setBigUint64(A("fpu.lastDp"), 0xfedcban, true);
    fv.setUint32(A("fpu.mxcsr"), 0x1f80, true);
    f[A("fpu.fpr")] = 0x11;
    f[A("fpu.xmm") + 255] = 0x22;
    const fpu = decodeFpu(f);
    expect([fpu.fcw, fpu.fsw, fpu.ftwx, fpu.lastOpcode, fpu.lastIp, fpu.lastDp, fpu.mxcsr]).toEqual([0x37f, 0x1234, 0x56, 0x789, 0xabcdefn, 0xfedcban, 0x1f80]);
    expect([fpu.fpr[0], fpu.xmm[255]]).toEqual([0x11, 0x22]);

    const size = A("sizeof kvm_cpuid_entry2");
    const c = encodeCpuid2([{ function: 1, index: 2, flags: 3, eax: 4, ebx: 5, ecx: 6, edx: 7 }]);
    expect(c.length).toBe(A("cpuid2.entries") + size);
    const cv = new DataView(c.buffer, A("cpuid2.entries"));
    expect(["function", "index", "flags", "eax", "ebx", "ecx", "edx"].map((k) => cv.getUint32(A(`cpuid.${k}`), true))).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const m = encodeMsrs([{ index: 0x1a0, value: 0x1122334455667788n }]);
    expect(m.length).toBe(A("msrs.entries") + A("sizeof kvm_msr_entry"));
    const mv = new DataView(m.buffer, A("msrs.entries"));
    expect(mv.getUint32(A("msr.index"), true)).toBe(0x1a0);
    expect(mv.getBigUint64(A("msr.data"), true)).toBe(0x1122334455667788n);
    expect(decodeMsrs(m, 1)).toEqual([{ index: 0x1a0, value: 0x1122334455667788n }]);
  });

  it("every size, offset and flag vm.ts writes (VM_ABI) equals the header's", () => {
    // vm.ts lays out the VM ioctl arguments with VM_ABI only, so this compares what it writes.
    // Each leaf of VM_ABI names its counterpart in kvm-abi.c's output; none may be left out.
    const header: Record<string, string> = {
      "memoryRegion.size": "sizeof kvm_userspace_memory_region",
      "memoryRegion.slot": "memregion.slot",
      "memoryRegion.flags": "memregion.flags",
      "memoryRegion.guestPhysAddr": "memregion.guest_phys_addr",
      "memoryRegion.memorySize": "memregion.memory_size",
      "memoryRegion.userspaceAddr": "memregion.userspace_addr",
      memReadonly: "KVM_MEM_READONLY",
      "identityMapAddress.size": "sizeof __u64",
      "pitConfig.size": "sizeof kvm_pit_config",
      "pitConfig.flags": "pit.flags",
      pitSpeakerDummy: "KVM_PIT_SPEAKER_DUMMY",
      "irqLevel.size": "sizeof kvm_irq_level",
      "irqLevel.irq": "irqlevel.irq",
      "irqLevel.level": "irqlevel.level",
      "msi.size": "sizeof kvm_msi",
      "msi.addressLo": "msi.address_lo",
      "msi.addressHi": "msi.address_hi",
      "msi.data": "msi.data",
      "irqRouting.nr": "routing.nr",
      "irqRouting.entries": "routing.entries",
      "irqRoutingEntry.size": "sizeof kvm_irq_routing_entry",
      "irqRoutingEntry.gsi": "route.gsi",
      "irqRoutingEntry.type": "route.type",
      "irqRoutingEntry.irqchip": "route.irqchip",
      "irqRoutingEntry.pin": "route.pin",
      "irqRoutingEntry.msiAddressLo": "route.msi.address_lo",
      "irqRoutingEntry.msiAddressHi": "route.msi.address_hi",
      "irqRoutingEntry.msiData": "route.msi.data",
      "routingType.irqchip": "KVM_IRQ_ROUTING_IRQCHIP",
      "routingType.msi": "KVM_IRQ_ROUTING_MSI",
      "irqchip.pic-master": "KVM_IRQCHIP_PIC_MASTER",
      "irqchip.pic-slave": "KVM_IRQCHIP_PIC_SLAVE",
      "irqchip.ioapic": "KVM_IRQCHIP_IOAPIC",
      "irqfd.size": "sizeof kvm_irqfd",
      "irqfd.fd": "irqfd.fd",
      "irqfd.gsi": "irqfd.gsi",
      "irqfd.flags": "irqfd.flags",
      irqfdDeassign: "KVM_IRQFD_FLAG_DEASSIGN",
      "ioeventfd.size": "sizeof kvm_ioeventfd",
      "ioeventfd.datamatch": "ioeventfd.datamatch",
      "ioeventfd.addr": "ioeventfd.addr",
      "ioeventfd.len": "ioeventfd.len",
      "ioeventfd.fd": "ioeventfd.fd",
      "ioeventfd.flags": "ioeventfd.flags",
      "ioeventfdFlag.datamatch": "KVM_IOEVENTFD_FLAG_DATAMATCH",
      "ioeventfdFlag.pio": "KVM_IOEVENTFD_FLAG_PIO",
      "ioeventfdFlag.deassign": "KVM_IOEVENTFD_FLAG_DEASSIGN",
    };
    const leaves: [string, number][] = [];
    for (const [k, v] of Object.entries(VM_ABI)) {
      if (typeof v === "number") leaves.push([k, v]);
      else for (const [f, n] of Object.entries(v)) leaves.push([`${k}.${f}`, n]);
    }
    expect(leaves.map(([k]) => k).sort()).toEqual(Object.keys(header).sort());
    for (const [k, v] of leaves) expect([k, v]).toEqual([k, A(header[k]!)]);
    // The union inside kvm_irq_routing_entry starts where irqchip and msi.address_lo are.
    expect([A("route.u"), A("route.u")]).toEqual([VM_ABI.irqRoutingEntry.irqchip, VM_ABI.irqRoutingEntry.msiAddressLo]);
  });

  it("kvm_run exits decode from the header's offsets", () => {
    const run = new Uint8Array(8192);
    const v = new DataView(run.buffer);
    // io: out of 2 x 2 bytes to port 0x3f8, data on the second page.
    v.setUint32(A("run.exit_reason"), A("KVM_EXIT_IO"), true);
    v.setUint8(A("run.io.direction"), 1);
    v.setUint8(A("run.io.size"), 2);
    v.setUint16(A("run.io.port"), 0x3f8, true);
    v.setUint32(A("run.io.count"), 2, true);
    v.setBigUint64(A("run.io.data_offset"), 4096n, true);
    v.setUint16(4096, 0xbeef, true);
    v.setUint16(4098, 0xcafe, true);
    const io = decodeExit(run, v);
    expect(io).toMatchObject({ kind: "io", direction: "out", port: 0x3f8, size: 2, count: 2, value: 0xbeef });
    expect(io.kind === "io" && [...io.data]).toEqual([0xef, 0xbe, 0xfe, 0xca]);
    // mmio write of 4 bytes.
    run.fill(0, 0, 4096);
    v.setUint32(A("run.exit_reason"), A("KVM_EXIT_MMIO"), true);
    v.setBigUint64(A("run.mmio.phys_addr"), 0xd0000070n, true);
    v.setUint32(A("run.mmio.data"), 0x12345678, true);
    v.setUint32(A("run.mmio.len"), 4, true);
    v.setUint8(A("run.mmio.is_write"), 1);
    expect(decodeExit(run, v)).toMatchObject({ kind: "mmio", isWrite: true, address: 0xd0000070n, length: 4, value: 0x12345678n });
    // fail entry, internal error, system event.
    run.fill(0, 0, 4096);
    v.setUint32(A("run.exit_reason"), A("KVM_EXIT_FAIL_ENTRY"), true);
    v.setBigUint64(A("run.fail_entry.reason"), 0x80000021n, true);
    v.setUint32(A("run.fail_entry.cpu"), 1, true);
    expect(decodeExit(run, v)).toEqual({ kind: "fail-entry", reason: 0x80000021n, cpu: 1 });
    run.fill(0, 0, 4096);
    v.setUint32(A("run.exit_reason"), A("KVM_EXIT_INTERNAL_ERROR"), true);
    v.setUint32(A("run.internal.suberror"), 1, true);
    v.setUint32(A("run.internal.ndata"), 2, true);
    v.setBigUint64(A("run.internal.data"), 5n, true);
    v.setBigUint64(A("run.internal.data") + 8, 6n, true);
    expect(decodeExit(run, v)).toEqual({ kind: "internal-error", suberror: 1, data: [5n, 6n] });
    run.fill(0, 0, 4096);
    v.setUint32(A("run.exit_reason"), A("KVM_EXIT_SYSTEM_EVENT"), true);
    v.setUint32(A("run.system_event.type"), 2, true);
    v.setUint32(A("run.system_event.ndata"), 1, true);
    v.setBigUint64(A("run.system_event.data"), 9n, true);
    expect(decodeExit(run, v)).toEqual({ kind: "system-event", type: 2, data: [9n] });
    expect(A("run.immediate_exit")).toBe(1); // the kick writes byte 1 of the mapping
  });
});
