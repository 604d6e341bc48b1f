/**
 * The package's ioctl numbers and struct codecs against the kernel headers: a C program
 * (test/vectors/kvm-abi.c) compiled with gcc prints the numbers and offsets; the codecs are
 * checked by placing distinct markers at the C offsets and decoding them, and the VM ioctl
 * encoders (src/structs.ts) by comparing their bytes with structs built at the C offsets.
 * Skipped without gcc, except the encoders' argument checks at the end.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { IOCTL, KVM_CAP, KVM_EXIT, MP_STATE, VM_ABI } from "../src/constants.ts";
import { decodeExit } from "../src/exits.ts";
import { decodeFpu, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeMsrs, encodeRegsInto, encodeSregsInto } from "../src/registers.ts";
import {
  encodeIdentityMapAddress,
  encodeIoeventfd,
  encodeIrqLevel,
  encodeIrqRouting,
  encodeIrqfd,
  encodeMemoryRegion,
  encodeMsi,
  encodePitConfig,
  type GsiRoute,
} from "../src/structs.ts";

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

/** One field of a struct built from the header: the kvm-abi.c key of its offset, its width, its value. */
type Field = readonly [key: string, width: 4 | 8, value: number | bigint];

/**
 * The bytes a struct must have according to the header: `size` zero bytes with each field's marker
 * written little-endian at its C offset (plus `base`, for an entry inside a larger struct).
 * `zero` names the fields the encoder must leave zero; they must not overlap a marker.
 */
function cStruct(size: number, fields: readonly Field[], zero: readonly string[] = [], base = 0, into?: Uint8Array): Uint8Array {
  const b = into ?? new Uint8Array(size);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const used: [number, number, string][] = [];
  for (const [key, width, value] of fields) {
    const o = base + A(key);
    for (const [s, e, k] of used) if (o < e && s < o + width) throw new Error(`${key} overlaps ${k}`);
    used.push([o, o + width, key]);
    if (width === 8) v.setBigUint64(o, BigInt(value), true);
    else v.setUint32(o, Number(value), true);
  }
  for (const key of zero) {
    const o = base + A(key);
    for (const [s, e, k] of used) if (o < e && s < o + 4) throw new Error(`${key} (left zero) overlaps ${k}`);
  }
  return b;
}

/** The u32 at the header's offset of `key` (plus `base`). */
const u32At = (b: Uint8Array, key: string, base = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(base + A(key), true);

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

  it("every size, offset and flag the struct encoders write (VM_ABI) equals the header's", () => {
    // structs.ts lays out the VM ioctl arguments with VM_ABI only; the tests below compare its output.
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

  // The encoders of structs.ts, against structs built from the header's offsets with a distinct
  // marker in every field: a wrong offset (in VM_ABI or in an encoder), a wrong size, a field
  // written twice or a stray byte makes the two differ.

  it("encodeMemoryRegion: kvm_userspace_memory_region at the header's offsets and size", () => {
    const fields = { slot: 0x01020304, guestPhysAddr: 0x1112_1314_1516_1000n, memorySize: 0x0000_0021_2223_4000n, userspaceAddr: 0x7f31_3233_3435_6000n };
    const expected = (flags: number): Uint8Array =>
      cStruct(A("sizeof kvm_userspace_memory_region"), [
        ["memregion.slot", 4, fields.slot],
        ["memregion.flags", 4, flags],
        ["memregion.guest_phys_addr", 8, fields.guestPhysAddr],
        ["memregion.memory_size", 8, fields.memorySize],
        ["memregion.userspace_addr", 8, fields.userspaceAddr],
      ]);
    expect(encodeMemoryRegion({ ...fields, readOnly: true })).toEqual(expected(A("KVM_MEM_READONLY")));
    expect(encodeMemoryRegion(fields)).toEqual(expected(0));
    // Deleting a slot: memory_size 0, numbers accepted for the u64 fields.
    expect(encodeMemoryRegion({ slot: 7, guestPhysAddr: 0x10000, memorySize: 0, userspaceAddr: 0x7000_0000 })).toEqual(
      cStruct(A("sizeof kvm_userspace_memory_region"), [
        ["memregion.slot", 4, 7],
        ["memregion.guest_phys_addr", 8, 0x10000n],
        ["memregion.userspace_addr", 8, 0x7000_0000n],
      ], ["memregion.flags", "memregion.memory_size"]),
    );
  });

  it("encodeIdentityMapAddress: one little-endian __u64", () => {
    const b = encodeIdentityMapAddress(0x0102_0304_0506_0708n);
    expect(b.length).toBe(A("sizeof __u64"));
    expect([...b]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect([...encodeIdentityMapAddress(0xfffbc000)]).toEqual([0x00, 0xc0, 0xfb, 0xff, 0, 0, 0, 0]);
  });

  it("encodePitConfig: kvm_pit_config.flags and the header's size", () => {
    expect(encodePitConfig({ speakerDummy: true })).toEqual(cStruct(A("sizeof kvm_pit_config"), [["pit.flags", 4, A("KVM_PIT_SPEAKER_DUMMY")]]));
    expect(encodePitConfig({ speakerDummy: false })).toEqual(new Uint8Array(A("sizeof kvm_pit_config")));
  });

  it("encodeIrqLevel: kvm_irq_level at the header's offsets and size", () => {
    const size = A("sizeof kvm_irq_level");
    expect(encodeIrqLevel({ irq: 0x01020304, level: true })).toEqual(cStruct(size, [["irqlevel.irq", 4, 0x01020304], ["irqlevel.level", 4, 1]]));
    expect(encodeIrqLevel({ irq: 0x01020304, level: 1 })).toEqual(cStruct(size, [["irqlevel.irq", 4, 0x01020304], ["irqlevel.level", 4, 1]]));
    expect(encodeIrqLevel({ irq: 9, level: false })).toEqual(cStruct(size, [["irqlevel.irq", 4, 9]], ["irqlevel.level"]));
  });

  it("encodeMsi: kvm_msi at the header's offsets and size, flags and devid zero", () => {
    expect(encodeMsi({ address: 0x1122_3344_fee0_5000n, data: 0x0102_4031 })).toEqual(
      cStruct(A("sizeof kvm_msi"), [
        ["msi.address_lo", 4, 0xfee0_5000],
        ["msi.address_hi", 4, 0x1122_3344],
        ["msi.data", 4, 0x0102_4031],
      ], ["msi.flags", "msi.devid"]),
    );
  });

  it("encodeIrqRouting: kvm_irq_routing and its entries at the header's offsets and sizes", () => {
    const routes: GsiRoute[] = [
      { gsi: 0x0101, kind: "irqchip", chip: "pic-master", pin: 0x0102 },
      { gsi: 0x0201, kind: "irqchip", chip: "pic-slave", pin: 0x0202 },
      { gsi: 0x0301, kind: "irqchip", chip: "ioapic", pin: 0x0302 },
      { gsi: 0x0401, kind: "msi", address: 0x0403_0404_fee0_4000n, data: 0x0405 },
    ];
    const entry = A("sizeof kvm_irq_routing_entry");
    const expected = cStruct(A("routing.entries") + routes.length * entry, [["routing.nr", 4, routes.length]], ["routing.flags"]);
    const chip = { "pic-master": A("KVM_IRQCHIP_PIC_MASTER"), "pic-slave": A("KVM_IRQCHIP_PIC_SLAVE"), ioapic: A("KVM_IRQCHIP_IOAPIC") };
    routes.forEach((r, i) => {
      const base = A("routing.entries") + i * entry;
      const fields: Field[] =
        r.kind === "irqchip"
          ? [["route.gsi", 4, r.gsi], ["route.type", 4, A("KVM_IRQ_ROUTING_IRQCHIP")], ["route.irqchip", 4, chip[r.chip]], ["route.pin", 4, r.pin]]
          : [
              ["route.gsi", 4, r.gsi],
              ["route.type", 4, A("KVM_IRQ_ROUTING_MSI")],
              ["route.msi.address_lo", 4, 0xfee0_4000],
              ["route.msi.address_hi", 4, 0x0403_0404],
              ["route.msi.data", 4, r.data],
            ];
      cStruct(0, fields, ["route.flags"], base, expected);
    });
    const b = encodeIrqRouting(routes);
    expect(b).toEqual(expected);
    // The irqchip and msi members both start at the union u.
    expect([u32At(b, "route.u", A("routing.entries")), u32At(b, "route.u", A("routing.entries") + 3 * entry)]).toEqual([chip["pic-master"], 0xfee0_4000]);
    expect(encodeIrqRouting([])).toEqual(new Uint8Array(A("sizeof kvm_irq_routing")));
  });

  it("encodeIrqfd: kvm_irqfd at the header's offsets and size, resamplefd zero", () => {
    const size = A("sizeof kvm_irqfd");
    expect(encodeIrqfd({ fd: 0x0a0b0c0d, gsi: 0x01020304, deassign: true })).toEqual(
      cStruct(size, [["irqfd.fd", 4, 0x0a0b0c0d], ["irqfd.gsi", 4, 0x01020304], ["irqfd.flags", 4, A("KVM_IRQFD_FLAG_DEASSIGN")]], ["irqfd.resamplefd"]),
    );
    expect(encodeIrqfd({ fd: 5, gsi: 9 })).toEqual(cStruct(size, [["irqfd.fd", 4, 5], ["irqfd.gsi", 4, 9]], ["irqfd.flags", "irqfd.resamplefd"]));
  });

  it("encodeIoeventfd: kvm_ioeventfd at the header's offsets and size, with each flag", () => {
    const size = A("sizeof kvm_ioeventfd");
    const flag = (...names: string[]): number => names.reduce((f, n) => f | A(`KVM_IOEVENTFD_FLAG_${n}`), 0);
    expect(encodeIoeventfd({ space: "mmio", address: 0x99aa_bbcc_d000_0050n, length: 8, datamatch: 0x1122_3344_5566_7788n, fd: 0x0a0b0c0d, deassign: true })).toEqual(
      cStruct(size, [
        ["ioeventfd.datamatch", 8, 0x1122_3344_5566_7788n],
        ["ioeventfd.addr", 8, 0x99aa_bbcc_d000_0050n],
        ["ioeventfd.len", 4, 8],
        ["ioeventfd.fd", 4, 0x0a0b0c0d],
        ["ioeventfd.flags", 4, flag("DATAMATCH", "DEASSIGN")],
      ]),
    );
    expect(encodeIoeventfd({ space: "pio", address: 0x3f8, length: 1, fd: 6 })).toEqual(
      cStruct(size, [
        ["ioeventfd.addr", 8, 0x3f8n],
        ["ioeventfd.len", 4, 1],
        ["ioeventfd.fd", 4, 6],
        ["ioeventfd.flags", 4, flag("PIO")],
      ], ["ioeventfd.datamatch"]),
    );
    // datamatch 0 is still a datamatch.
    expect(u32At(encodeIoeventfd({ space: "pio", address: 0x80, length: 2, datamatch: 0, fd: 6 }), "ioeventfd.flags")).toBe(flag("PIO", "DATAMATCH"));
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

describe("struct encoders: argument checks (no gcc needed)", () => {
  const err = (code: string, message: RegExp) => expect.objectContaining({ name: "KvmError", code, message: expect.stringMatching(message) });

  it("name the field and the limit", () => {
    const host = 0x7f00_0000_0000n;
    expect(() => encodeMemoryRegion({ slot: 2 ** 32, guestPhysAddr: 0, memorySize: 0, userspaceAddr: host })).toThrow(err("out-of-range", /^slot: expected 0\.\.4294967295, got 4294967296$/));
    expect(() => encodeMemoryRegion({ slot: 0, guestPhysAddr: 2n ** 64n, memorySize: 0, userspaceAddr: host })).toThrow(err("out-of-range", /^guestPhysAddr: expected 0\.\.2\^64-1/));
    expect(() => encodeMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: -1, userspaceAddr: host })).toThrow(err("out-of-range", /^memorySize: expected 0\.\.2\^53-1/));
    expect(() => encodeIdentityMapAddress(-1n)).toThrow(err("out-of-range", /^identityMapAddress: expected 0\.\.2\^64-1, got -1$/));
    expect(() => encodeIrqLevel({ irq: 1.5, level: true })).toThrow(err("invalid-argument", /^irq: expected an integer, got 1\.5$/));
    expect(() => encodeMsi({ address: 0xfee00000, data: 2 ** 32 })).toThrow(err("out-of-range", /^data: expected 0\.\.4294967295/));
    expect(() => encodeMsi({ address: 2n ** 64n, data: 0 })).toThrow(err("out-of-range", /^address: expected 0\.\.2\^64-1/));
    expect(() => encodeIrqfd({ fd: 2 ** 31, gsi: 0 })).toThrow(err("out-of-range", /^fd: expected a file descriptor 0\.\.2147483647, got 2147483648$/));
    expect(() => encodeIrqfd({ fd: 3, gsi: -1 })).toThrow(err("out-of-range", /^gsi: expected 0\.\.4294967295, got -1$/));
  });

  it("GSI routes: the route's index in every message, unknown chips and kinds refused", () => {
    const ok: GsiRoute = { gsi: 0, kind: "irqchip", chip: "ioapic", pin: 2 };
    expect(() => encodeIrqRouting([ok, { gsi: 1, kind: "irqchip", chip: "ioapic", pin: 2 ** 32 }])).toThrow(err("out-of-range", /^routes\[1\]\.pin: expected 0\.\.4294967295/));
    expect(() => encodeIrqRouting([ok, ok, { gsi: -1, kind: "msi", address: 0, data: 0 }])).toThrow(err("out-of-range", /^routes\[2\]\.gsi: expected 0\.\.4294967295/));
    expect(() => encodeIrqRouting([{ gsi: 0, kind: "msi", address: 2n ** 64n, data: 0 }])).toThrow(err("out-of-range", /^routes\[0\]\.address: expected 0\.\.2\^64-1/));
    expect(() => encodeIrqRouting([{ gsi: 0, kind: "msi", address: 0, data: 1.5 }])).toThrow(err("invalid-argument", /^routes\[0\]\.data: expected an integer/));
    // An inherited property name is not a controller.
    for (const chip of ["pic", "toString", "constructor", "__proto__"]) {
      const bad = { gsi: 0, kind: "irqchip", chip, pin: 0 } as unknown as GsiRoute;
      expect(() => encodeIrqRouting([bad])).toThrow(err("invalid-argument", new RegExp(`^routes\\[0\\]\\.chip: expected pic-master, pic-slave or ioapic, got ${chip}$`)));
    }
    const kind = { gsi: 0, kind: "ioapic" } as unknown as GsiRoute;
    expect(() => encodeIrqRouting([kind])).toThrow(err("invalid-argument", /^routes\[0\]\.kind: expected "irqchip" or "msi"$/));
  });

  it("ioeventfd: space, length, port range and datamatch", () => {
    const o = { space: "pio", address: 0x80, length: 1, fd: 3 } as const;
    expect(() => encodeIoeventfd({ ...o, space: "io" as "pio" })).toThrow(err("invalid-argument", /^space: expected "pio" or "mmio", got io$/));
    expect(() => encodeIoeventfd({ ...o, length: 3 as 1 })).toThrow(err("out-of-range", /^length: expected 0, 1, 2, 4 or 8, got 3$/));
    expect(() => encodeIoeventfd({ ...o, address: 0x10000 })).toThrow(err("out-of-range", /^address: expected a port 0\.\.0xffff, got 0x10000$/));
    expect(encodeIoeventfd({ ...o, space: "mmio", address: 0x10000 }).length).toBe(64); // only ports are limited
    expect(() => encodeIoeventfd({ ...o, datamatch: -1 })).toThrow(err("out-of-range", /^datamatch: expected 0\.\.2\^53-1/));
    expect(() => encodeIoeventfd({ ...o, fd: -1 })).toThrow(err("out-of-range", /^fd: expected 0\.\.4294967295, got -1$/));
  });

  it("structs.ts is pure (no syscalls, no Node APIs) and vm.ts builds no struct itself", () => {
    const src = (f: string): string => readFileSync(fileURLToPath(new URL(`../src/${f}`, import.meta.url)), "utf8");
    const imports = [...src("structs.ts").matchAll(/^import .* from "(.+)";$/gm)].map((m) => m[1]);
    expect(imports.sort()).toEqual(["./constants.js", "./errors.js", "./registers.js"]);
    expect(src("structs.ts")).not.toMatch(/\bsys\(|node:|process\.|Buffer\b/);
    expect(src("vm.ts")).not.toMatch(/DataView|VM_ABI/);
  });
});
