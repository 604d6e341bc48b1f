// The QEMU engine's command line, as data (qemuInvocation), and what planMachine decides for the
// QEMU platform. Pure: nothing is started here (qemu-mtree.test.ts runs QEMU on these plans).
import { readFileSync } from "node:fs";
import { buildPvhRom, decodePvhRom, pvhEntryState } from "@microvm/pvh";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { buildGuests } from "../../../test/guests/harness.ts";
import { errorOf } from "./helpers.js";
import {
  isMicrovmError,
  KVM_PLATFORM,
  planMachine,
  qemuInvocation,
  qemuPlatform,
  QEMU_BIOS_SIZE,
  type DeviceConfig,
  type MachineConfig,
  type MachinePlan,
  type QemuInvocation,
} from "../src/index.js";

let kernel: Uint8Array;
beforeAll(async () => {
  kernel = new Uint8Array(readFileSync((await buildGuests()).elf64));
});

const TCG = qemuPlatform({ accel: "tcg" });
const DIR = "/run/microvm-test";
const qemuPlan = (c: Omit<MachineConfig, "kernel" | "platform"> = {}): MachinePlan => planMachine({ kernel, platform: TCG, ...c });


/** QEMU's option syntax (util/qemu-option.c): comma-separated, a doubled comma is a comma. */
function splitOpts(value: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === ",") {
      if (value[i + 1] === ",") {
        cur += ",";
        i++;
      } else {
        parts.push(cur);
        cur = "";
      }
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/** An option value as its leading word (a driver or type name) and its key=value pairs. */
function parseOpt(value: string): { head: string; kv: Map<string, string> } {
  const [head = "", ...rest] = splitOpts(value);
  return { head, kv: new Map(rest.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as [string, string])) };
}

/** Every value of option `name` (e.g. all `-device` values). */
function valuesOf(inv: QemuInvocation, name: string): string[] {
  const out: string[] = [];
  inv.args.forEach((a, i) => {
    if (a === name) out.push(inv.args[i + 1] as string);
  });
  return out;
}

function fileAt(inv: QemuInvocation, path: string): Uint8Array {
  const f = inv.files.find((x) => `${DIR}/${x.name}` === path);
  if (!f) throw new Error(`no file of the invocation is at ${path}`);
  return f.bytes;
}

function romOf(inv: QemuInvocation): Uint8Array {
  const bios = valuesOf(inv, "-bios");
  expect(bios).toHaveLength(1);
  return fileAt(inv, bios[0] as string);
}

/** The loader blobs: address and bytes. */
function loadersOf(inv: QemuInvocation): { addr: bigint; bytes: Uint8Array; kv: Map<string, string> }[] {
  return valuesOf(inv, "-device")
    .map(parseOpt)
    .filter((d) => d.head === "loader")
    .map((d) => ({ addr: BigInt(d.kv.get("addr") as string), bytes: fileAt(inv, d.kv.get("file") as string), kv: d.kv }));
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Where each non-empty plan blob (placements and the MPTable) is in the invocation: a loader whose
 * file has exactly its bytes at its address, or the ROM at the address's offset in the low window.
 */
function whereIsEachBlob(plan: MachinePlan, inv: QemuInvocation): Map<string, "loader" | "rom" | "missing"> {
  const rom = romOf(inv);
  const loaders = loadersOf(inv);
  const blobs = [
    ...plan.boot.placements.map((p) => ({ name: `${p.kind}@${p.address.toString(16)}`, address: BigInt(p.address), bytes: p.bytes })),
    { name: "MPTable", address: BigInt(plan.mptable.address), bytes: plan.mptable.bytes },
  ].filter((b) => b.bytes.length > 0);
  const out = new Map<string, "loader" | "rom" | "missing">();
  for (const b of blobs) {
    if (loaders.some((l) => l.addr === b.address && equalBytes(l.bytes, b.bytes))) out.set(b.name, "loader");
    else if (b.address >= 0xf0000n && b.address < 0x100000n && equalBytes(rom.subarray(Number(b.address - 0xf0000n), Number(b.address - 0xf0000n) + b.bytes.length), b.bytes)) out.set(b.name, "rom");
    else out.set(b.name, "missing");
  }
  return out;
}

/** Which of rip, rbx (start_info) and the GDT base the ROM sets otherwise than the plan says. */
function romMismatches(plan: MachinePlan, rom: Uint8Array): string[] {
  const d = decodePvhRom(rom);
  const startInfo = plan.boot.placements.find((p) => p.kind === "start_info");
  const gdt = plan.boot.placements.find((p) => p.kind === "gdt");
  const out: string[] = [];
  if (d.rip !== plan.boot.entry.regs.rip) out.push("rip");
  if (startInfo === undefined || d.regs.rbx !== BigInt(startInfo.address)) out.push("rbx");
  if (gdt === undefined || d.gdt.base !== BigInt(gdt.address)) out.push("gdt");
  return out;
}

describe("qemuInvocation: the machine", () => {
  it.each([false, true])("legacy=%s: -M microvm with acpi=off, pic=on, pit=on, and isa-serial on iff legacy", (legacy) => {
    const plan = qemuPlan({ legacy, cpus: 3, memory: 256 << 20 });
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR });
    const m = valuesOf(inv, "-M");
    expect(m).toHaveLength(1);
    const { head, kv } = parseOpt(m[0] as string);
    expect(head).toBe("microvm");
    expect(kv.get("acpi")).toBe("off");
    expect(kv.get("pic")).toBe("on");
    expect(kv.get("pit")).toBe("on");
    expect(kv.get("rtc")).toBe("off");
    expect(kv.get("isa-serial")).toBe(legacy ? "on" : "off");
    expect(kv.get("x-option-roms")).toBe("off");
    expect(kv.get("auto-kernel-cmdline")).toBe("off");
    expect(valuesOf(inv, "-accel")).toEqual(["tcg"]);
    expect(valuesOf(inv, "-m")).toEqual([`${256 << 20}B`]);
    expect(valuesOf(inv, "-smp")).toEqual(["3"]);
    expect(inv.args).toContain("-S");
    expect(inv.args).toContain("-nodefaults");
    expect(valuesOf(inv, "-global")).toContain("ioapic.version=0x11");
    expect(inv.binary).toBe("qemu-system-x86_64");
    // the control channel, and the UART's iff legacy: connected sockets QEMU inherits, no socket files
    expect(inv.channels).toEqual(legacy ? [{ role: "qmp", fd: 3 }, { role: "serial", fd: 4 }] : [{ role: "qmp", fd: 3 }]);
    expect(inv.sockets).toEqual([]);
    expect(valuesOf(inv, "-chardev")).toEqual(legacy ? ["socket,id=microvm-qmp,fd=3", "socket,id=microvm-serial,fd=4"] : ["socket,id=microvm-qmp,fd=3"]);
    expect(valuesOf(inv, "-mon")).toEqual(["chardev=microvm-qmp,mode=control"]);
    expect(valuesOf(inv, "-serial")).toEqual(legacy ? ["chardev:microvm-serial"] : []);
  });

  it("passes the ROM as -bios: its entry state is the plan's (rip = entry, rbx = start_info, GDT)", () => {
    const plan = qemuPlan({ cmdline: "console=ttyS0", legacy: true });
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR });
    const rom = romOf(inv);
    expect(rom.length).toBe(QEMU_BIOS_SIZE);
    expect(romMismatches(plan, rom)).toEqual([]);
    expect(decodePvhRom(rom).rip).toBe(BigInt(plan.kernel.entry));
    expect(inv.files.map((f) => f.name)).toContain("rom.bin");
  });

  it("negative control: the ROM check sees a ROM made for another entry state", () => {
    const plan = qemuPlan();
    const gdt = plan.boot.placements.find((p) => p.kind === "gdt")?.address ?? 0n;
    const otherEntry = buildPvhRom({ state: pvhEntryState({ entry: 0x200000, startInfo: 0x6000, gdtAddress: gdt }), size: QEMU_BIOS_SIZE });
    expect(romMismatches(plan, otherEntry)).toEqual(["rip"]);
    const otherStartInfo = buildPvhRom({ state: pvhEntryState({ entry: plan.boot.entry.regs.rip, startInfo: 0x8000, gdtAddress: gdt }), size: QEMU_BIOS_SIZE });
    expect(romMismatches(plan, otherStartInfo)).toEqual(["rbx"]);
  });

  it("places every plan blob as a loader with the same bytes, the MPTable at 0x9fc00 with 1 CPU", () => {
    const initrd = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
    const plan = qemuPlan({ cpus: 1, legacy: true, cmdline: "console=ttyS0 quiet", initrd });
    expect(plan.mptable.address).toBe(0x9fc00);
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR });
    const where = whereIsEachBlob(plan, inv);
    expect([...where.values()].every((w) => w === "loader"), JSON.stringify([...where])).toBe(true);
    expect([...where.keys()]).toEqual(expect.arrayContaining(["MPTable", expect.stringMatching(/^initrd@/), expect.stringMatching(/^cmdline@/), expect.stringMatching(/^start_info@/)]));
    // and nothing else is loaded: one loader per blob, every file is the ROM or a loader's
    const loaders = loadersOf(inv);
    expect(loaders).toHaveLength(where.size);
    expect(inv.files).toHaveLength(where.size + 1);
    for (const l of loaders) expect(l.kv.get("force-raw")).toBe("on");
  });

  it("puts the MPTable of 60 CPUs (in the F-segment at 0xf0000) inside the ROM at offset addr - 0xf0000", () => {
    const plan = qemuPlan({ cpus: 60 });
    expect(plan.mptable.address).toBe(0xf0000);
    expect(plan.mptable.bytes.length).toBeGreaterThan(0x400);
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR });
    const where = whereIsEachBlob(plan, inv);
    expect(where.get("MPTable")).toBe("rom");
    for (const [name, w] of where) if (name !== "MPTable") expect(w, name).toBe("loader");
    const rom = romOf(inv);
    const off = plan.mptable.address - 0xf0000;
    expect(rom.subarray(off, off + plan.mptable.bytes.length)).toEqual(plan.mptable.bytes);
    expect(String.fromCharCode(...rom.subarray(off, off + 4))).toBe("_MP_");
    expect(loadersOf(inv).some((l) => l.addr === 0xf0000n)).toBe(false);
    // and the ROM still decodes to the plan's entry
    expect(decodePvhRom(rom).rip).toBe(plan.boot.entry.regs.rip);
  });

  it("negative control: the blob check sees a loader whose bytes differ from the plan's", () => {
    const plan = qemuPlan();
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR });
    const si = plan.boot.placements.find((p) => p.kind === "start_info");
    const tampered: QemuInvocation = {
      ...inv,
      files: inv.files.map((f) => (equalBytes(f.bytes, si?.bytes ?? new Uint8Array()) ? { ...f, bytes: f.bytes.map((b, i) => (i === 0 ? b ^ 1 : b)) } : f)),
    };
    expect(whereIsEachBlob(plan, tampered).get(`start_info@${si?.address.toString(16)}`)).toBe("missing");
  });

  it("escapes a comma in a path as ,, (directory and blk file)", () => {
    const devices: DeviceConfig[] = [{ kind: "blk", backend: { type: "file", path: "/srv/disk,1.img", readOnly: true } }, { kind: "console" }];
    const plan = qemuPlan({ legacy: true, devices });
    const inv = qemuInvocation(plan, { accel: "tcg", dir: "/tmp/a,b/", devices });
    expect(valuesOf(inv, "-drive")).toEqual(["id=blk0-drive,file=/srv/disk,,1.img,format=raw,if=none,readonly=on"]);
    expect(parseOpt(valuesOf(inv, "-drive")[0] as string).kv.get("file")).toBe("/srv/disk,1.img");
    // the channels are inherited fds: no path in them
    expect(valuesOf(inv, "-chardev")).toEqual(["socket,id=microvm-qmp,fd=3", "socket,id=microvm-serial,fd=4", "socket,id=console0-chr,fd=5"]);
    for (const l of valuesOf(inv, "-device").filter((d) => d.startsWith("loader,"))) {
      expect(l).toMatch(/^loader,file=\/tmp\/a,,b\/blob\d+\.bin,addr=0x[0-9a-f]+,force-raw=on$/);
      expect(parseOpt(l).kv.get("file")).toMatch(/^\/tmp\/a,b\/blob\d+\.bin$/);
    }
    // -bios takes a plain file name, not an option list: no escaping
    expect(valuesOf(inv, "-bios")).toEqual(["/tmp/a,b/rom.bin"]);
  });
});

describe("qemuInvocation: devices", () => {
  it("puts each device on bus=virtio-mmio-bus.<its transport index>, with its backend", () => {
    const devices: DeviceConfig[] = [
      { kind: "rng", slot: 7 },
      { kind: "net", slot: 2, backend: { type: "tap", fd: 42 }, mac: "52:54:00:12:34:56" },
      { kind: "blk", backend: { type: "file", path: "/srv/root.img" } },
      { kind: "console", slot: 4 },
      { kind: "net", id: "uplink", backend: { type: "tap", fd: 43 } },
    ];
    const plan = qemuPlan({ devices });
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR, devices });
    const byId = new Map(valuesOf(inv, "-device").map(parseOpt).filter((d) => d.kv.has("id")).map((d) => [d.kv.get("id"), d]));
    expect(plan.transports.filter((t) => t.device).map((t) => [t.device?.id, t.index])).toEqual([
      ["blk0", 0],
      ["uplink", 1],
      ["net0", 2],
      ["console0", 4],
      ["rng0", 7],
    ]);
    for (const t of plan.transports) {
      if (!t.device) continue;
      expect(byId.get(t.device.id)?.kv.get("bus"), t.device.id).toBe(`virtio-mmio-bus.${t.index}`);
    }
    expect(byId.get("rng0")?.head).toBe("virtio-rng-device");
    expect(byId.get("rng0")?.kv.get("rng")).toBe("rng0-rng");
    expect(valuesOf(inv, "-object")).toEqual(["rng-random,id=rng0-rng,filename=/dev/urandom"]);
    expect(byId.get("blk0")?.head).toBe("virtio-blk-device");
    expect(valuesOf(inv, "-drive")).toEqual(["id=blk0-drive,file=/srv/root.img,format=raw,if=none"]);
    expect(byId.get("console0")?.head).toBe("virtio-serial-device");
    expect(valuesOf(inv, "-device")).toContain("virtconsole,chardev=console0-chr,bus=console0.0");
    // the console's channel comes after the taps and the control channel
    expect(inv.channels).toEqual([{ role: "qmp", fd: 5 }, { role: "console", device: "console0", fd: 6 }]);
    expect(valuesOf(inv, "-chardev")).toContain("socket,id=console0-chr,fd=6");
    // the taps: inherited fds, numbered from 3 in transport order
    expect(byId.get("net0")?.kv.get("mac")).toBe("52:54:00:12:34:56");
    expect(byId.get("uplink")?.kv.has("mac")).toBe(false);
    expect(inv.fds).toEqual([43, 42]);
    expect(valuesOf(inv, "-netdev")).toEqual(["tap,id=uplink-net,fd=3,vhost=off", "tap,id=net0-net,fd=4,vhost=off"]);
    expect(byId.get("uplink")?.kv.get("netdev")).toBe("uplink-net");
    // virtio-mmio version 2 (the default) on every transport
    expect(valuesOf(inv, "-global")).toContain("virtio-mmio.force-legacy=false");
  });

  it("gives a net device with backend user a -netdev stream on an inherited socket to passt, after the taps' fds", () => {
    const devices: DeviceConfig[] = [
      { kind: "net", slot: 5, backend: { type: "user", hostfwd: [{ protocol: "tcp", hostPort: 2222, guestPort: 22 }] }, mac: "52:54:00:00:00:01" },
      { kind: "net", backend: { type: "tap", fd: 17 } },
      { kind: "net", backend: { type: "user" } },
    ];
    const inv = qemuInvocation(qemuPlan({ devices }), { accel: "tcg", dir: DIR, devices });
    // The tap is fd 3; the two passt sockets follow it, in transport order (net0 is on slot 5).
    expect(inv.fds).toEqual([17]);
    expect(inv.streams.map((s) => [s.device, s.index, s.fd])).toEqual([
      ["net2", 2, 4],
      ["net0", 0, 5],
    ]);
    expect(valuesOf(inv, "-netdev").sort()).toEqual([
      "stream,id=net0-net,server=off,addr.type=fd,addr.str=5",
      "stream,id=net2-net,server=off,addr.type=fd,addr.str=4",
      "tap,id=net1-net,fd=3,vhost=off",
    ]);
    expect(valuesOf(inv, "-device")).toContain("virtio-net-device,netdev=net0-net,bus=virtio-mmio-bus.5,id=net0,mac=52:54:00:00:00:01");
    // the control channel comes last, after the passt sockets
    expect(inv.channels).toEqual([{ role: "qmp", fd: 6 }]);
    expect(valuesOf(inv, "-chardev")).toEqual(["socket,id=microvm-qmp,fd=6"]);
  });

  it("with userNet slirp, gives a user device QEMU's own -netdev user with its forwards, inheriting nothing", () => {
    const devices: DeviceConfig[] = [
      {
        kind: "net",
        backend: { type: "user", hostfwd: [{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }, { protocol: "udp", hostPort: 5353, guestPort: 53 }] },
      },
    ];
    const inv = qemuInvocation(qemuPlan({ devices }), { accel: "tcg", dir: DIR, devices, userNet: "slirp" });
    expect(valuesOf(inv, "-netdev")).toEqual(["user,id=net0-net,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53"]);
    expect(inv.fds).toEqual([]);
    expect(inv.streams).toEqual([]);
  });

  it("any placement of devices on slots gives each its transport's bus (property)", () => {
    const kinds = fc.array(fc.constantFrom("rng" as const, "console" as const, "blk" as const), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(kinds, fc.infiniteStream(fc.boolean()), fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 8, maxLength: 8 }), (ks, pin, order) => {
        const pins = ks.map(() => pin.next().value as boolean);
        const devices: DeviceConfig[] = ks.map((kind, i) => {
          const slot = pins[i] ? { slot: order[i] as number } : {};
          return kind === "blk" ? { kind, backend: { type: "file", path: `/d${i}.img` }, ...slot } : { kind, ...slot };
        });
        const plan = qemuPlan({ devices });
        const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR, devices });
        const buses = new Map(valuesOf(inv, "-device").map(parseOpt).filter((d) => d.head.startsWith("virtio-")).map((d) => [d.kv.get("id"), d.kv.get("bus")]));
        expect(buses.size).toBe(ks.length);
        devices.forEach((d, i) => {
          const t = plan.transports.find((x) => x.device?.configIndex === i);
          expect(t).toBeDefined();
          if (pins[i]) expect(t?.index).toBe(order[i]);
          expect(buses.get(t?.device?.id)).toBe(`virtio-mmio-bus.${t?.index}`);
        });
      }),
      { numRuns: 100 },
    );
  });

  it("sets no force-legacy=false for virtio-mmio version 1, and refuses mixed versions naming them", () => {
    const v1: DeviceConfig[] = [{ kind: "rng" }, { kind: "console" }];
    const plan = qemuPlan({ devices: v1 });
    expect(valuesOf(qemuInvocation(plan, { accel: "tcg", dir: DIR, devices: v1, virtioVersion: 1 }), "-global")).not.toContain("virtio-mmio.force-legacy=false");
    const explicit1: DeviceConfig[] = [{ kind: "rng", version: 1 }, { kind: "console", version: 1 }];
    expect(valuesOf(qemuInvocation(plan, { accel: "tcg", dir: DIR, devices: explicit1, virtioVersion: 2 }), "-global")).not.toContain("virtio-mmio.force-legacy=false");
    const mixed: DeviceConfig[] = [{ kind: "rng", version: 1 }, { kind: "console", version: 2 }];
    const e = errorOf(() => qemuInvocation(plan, { accel: "tcg", dir: DIR, devices: mixed }));
    expect(e.code).toBe("engine");
    expect(e.message).toMatch(/^virtio versions: /);
    // a device's own version against the machine's default
    const e2 = errorOf(() => qemuInvocation(plan, { accel: "tcg", dir: DIR, devices: [{ kind: "rng", version: 2 }, { kind: "console" }], virtioVersion: 1 }));
    expect(e2.code).toBe("engine");
    expect(e2.message).toMatch(/^virtio versions: /);
  });

  const refusals: [string, DeviceConfig, RegExp][] = [
    ["a RAM disk on a legacy transport (vhost-user needs virtio 1.0)", { kind: "blk", version: 1, backend: { type: "memory", buffer: new SharedArrayBuffer(4096) } }, /^device blk0: a device served over vhost-user needs a virtio 1\.0 transport \(version 2\)/],
    ["an rng module on a legacy transport", { kind: "rng", id: "entropy", version: 1, backend: { type: "module", module: "/opt/rng.js" } }, /^device entropy: a device served over vhost-user needs a virtio 1\.0 transport/],
  ];
  it.each(refusals)("refuses %s with code engine, naming the device", (_, device, message) => {
    const devices = [{ kind: "rng", slot: 6, version: device.version ?? 2 } as DeviceConfig, device];
    const plan = qemuPlan({ devices });
    const e = errorOf(() => qemuInvocation(plan, { accel: "tcg", dir: DIR, devices }));
    expect(e.code).toBe("engine");
    expect(e.message).toMatch(message);
    expect(e.message).toContain("QEMU");
  });

  it("puts a console on a JS module backend on a socket chardev this process serves, as a stream or fd console", () => {
    for (const backend of [{ type: "module", module: "/opt/con.js" }, { type: "stream" }, { type: "fd", fd: 1 }] as const) {
      const devices: DeviceConfig[] = [{ kind: "console", id: "con", backend }];
      const inv = qemuInvocation(qemuPlan({ devices }), { accel: "tcg", dir: DIR, devices });
      expect(inv.channels.filter((x) => x.role === "console")).toEqual([{ role: "console", device: "con", fd: 4 }]);
      expect(valuesOf(inv, "-chardev")).toContain("socket,id=con-chr,fd=4");
      expect(valuesOf(inv, "-device")).toContain("virtconsole,chardev=con-chr,bus=con.0");
    }
  });

  it("serves the in-process backends: blk memory/fd/module and an rng module over vhost-user (shared memfd RAM named microvm.ram), the ARP responder and a net module on -netdev stream", () => {
    const devices: DeviceConfig[] = [
      { kind: "blk", backend: { type: "memory", buffer: new SharedArrayBuffer(4096) } },
      { kind: "blk", id: "disk", backend: { type: "module", module: "/opt/disk.js" } },
      { kind: "blk", backend: { type: "fd", fd: 9, size: 4096 } },
      { kind: "rng", id: "entropy", backend: { type: "module", module: "/opt/rng.js" } },
      { kind: "net" },
      { kind: "net", id: "lan", backend: { type: "module", module: "/opt/net.js" } },
      { kind: "rng" },
    ];
    const plan = qemuPlan({ devices, memory: 256 * 1024 * 1024 });
    const inv = qemuInvocation(plan, { accel: "tcg", dir: DIR, devices });
    const devs = valuesOf(inv, "-device");
    expect(devs.filter((d) => d.startsWith("vhost-user-blk,"))).toHaveLength(3);
    expect(devs.filter((d) => d.startsWith("vhost-user-rng,chardev=entropy-vu,"))).toHaveLength(1);
    expect(devs.filter((d) => d.startsWith("virtio-rng-device,"))).toHaveLength(1); // crypto stays QEMU's
    expect(valuesOf(inv, "-chardev").filter((c) => c.startsWith("socket,id=disk-vu,path="))).toEqual([`socket,id=disk-vu,path=${DIR}/vhost-disk.sock`]);
    expect(valuesOf(inv, "-netdev")).toEqual([`stream,id=net0-net,server=off,addr.type=unix,addr.path=${DIR}/net-net0.sock`, `stream,id=lan-net,server=off,addr.type=unix,addr.path=${DIR}/net-lan.sock`]);
    expect(inv.sockets.filter((x) => x.role === "vhost-user").map((x) => [x.device, x.configIndex])).toEqual([["blk0", 0], ["disk", 1], ["blk2", 2], ["entropy", 3]]);
    expect(inv.sockets.filter((x) => x.role === "net-stream").map((x) => [x.device, x.configIndex])).toEqual([["net0", 4], ["lan", 5]]);
    expect(valuesOf(inv, "-object")).toContain(`memory-backend-memfd,id=microvm.ram,size=${256 * 1024 * 1024}B,share=on`);
    expect(valuesOf(inv, "-M")[0]).toMatch(/,memory-backend=microvm\.ram$/);
    expect(valuesOf(inv, "-global")).toContain("virtio-mmio.force-legacy=false");
    // negative control: without a vhost-user device RAM stays QEMU's own
    const plain = qemuInvocation(qemuPlan({ devices: [{ kind: "net" }] }), { accel: "tcg", dir: DIR, devices: [{ kind: "net" }] });
    expect(valuesOf(plain, "-object")).toEqual([]);
    expect(valuesOf(plain, "-M")[0]).not.toMatch(/memory-backend/);
  });
});

describe("qemuInvocation: plans it refuses", () => {
  it("refuses custom regions (device models in this process) with code engine, naming the region, before anything starts", () => {
    const io = qemuPlan({ customRegions: [{ name: "my-dev", space: "io", base: 0x600, size: 2 }] });
    const e = errorOf(() => qemuInvocation(io, { accel: "tcg", dir: DIR }));
    expect(e.code).toBe("engine");
    expect(e.message).toMatch(/^custom region my-dev: .*I\/O 0x600/);
    const mmio = qemuPlan({ customRegions: [{ name: "my-mmio", space: "memory", base: 0xd0010000, size: 0x1000 }] });
    expect(errorOf(() => qemuInvocation(mmio, { accel: "tcg", dir: DIR })).message).toMatch(/^custom region my-mmio: .*memory 0xd0010000/);
    // positive control: the legacy UART and the transports are QEMU's own devices, not custom regions
    expect(() => qemuInvocation(qemuPlan({ legacy: true }), { accel: "tcg", dir: DIR })).not.toThrow();
  });

  it("refuses a plan made for KVM_PLATFORM with code engine, naming the platform", () => {
    const e = errorOf(() => qemuInvocation(planMachine({ kernel, platform: KVM_PLATFORM }), { accel: "tcg", dir: DIR }));
    expect(e.code).toBe("engine");
    expect(e.message).toMatch(/^platform: the plan describes the kvm platform/);
    // the default platform is KVM's
    expect(errorOf(() => qemuInvocation(planMachine({ kernel }), { accel: "tcg", dir: DIR })).code).toBe("engine");
  });

  it("refuses memory that is not a multiple of 8 KiB with code engine, naming the field", () => {
    const e = errorOf(() => qemuInvocation(qemuPlan({ memory: (128 << 20) + 4096 }), { accel: "tcg", dir: DIR }));
    expect(e.code).toBe("engine");
    expect(e.message).toMatch(/^memory: .*8192/);
    // the positive control: a multiple of 8 KiB that is not a multiple of 1 MiB is fine
    expect(valuesOf(qemuInvocation(qemuPlan({ memory: (128 << 20) + 8192 }), { accel: "tcg", dir: DIR }), "-m")).toEqual([`${(128 << 20) + 8192}B`]);
  });
});

describe("planMachine on the QEMU platform", () => {
  it("has 8 transports at 0xfeb00000 + i*0x200 on GSIs 5 + i, announced on the command line", () => {
    const plan = qemuPlan({ devices: [{ kind: "rng" }, { kind: "console", slot: 7 }], cmdline: "console=ttyS0" });
    expect(plan.transports.map((t) => [t.base, t.gsi])).toEqual(Array.from({ length: 8 }, (_, i) => [0xfeb00000n + BigInt(i) * 0x200n, 5 + i]));
    expect(plan.cmdline).toBe("console=ttyS0 virtio_mmio.device=512@0xfeb00000:5 virtio_mmio.device=512@0xfeb00e00:12");
    expect(plan.platform.name).toBe("qemu-7.2/tcg");
    expect(qemuPlatform({ accel: "kvm" }).name).toBe("qemu-7.2/kvm");
  });

  it("routes IRQ0 to IOAPIC pin 2 (forced), and refuses irq0Override: false", () => {
    const plan = qemuPlan();
    const irq0 = plan.mptable.table.ioInterrupts.filter((e) => e.sourceIrq === 0);
    expect(irq0.map((e) => e.destPin)).toEqual([2]);
    expect(plan.gsiRoutes.find((r) => r.gsi === 0)?.ioapicPin).toBe(2);
    // the KVM platform's default is the identity
    expect(planMachine({ kernel }).gsiRoutes.find((r) => r.gsi === 0)?.ioapicPin).toBe(0);
    expect(qemuPlan({ irq0Override: true }).gsiRoutes.find((r) => r.gsi === 0)?.ioapicPin).toBe(2);
    const e = errorOf(() => qemuPlan({ irq0Override: false }));
    expect(e.code).toBe("invalid-argument");
    expect(e.message).toMatch(/^irq0Override: the qemu-7.2\/tcg platform wires ISA IRQ0 to IOAPIC pin 2/);
  });

  it.each([
    ["virtioBase", { virtioBase: 0xd0000000n }],
    ["virtioGsiBase", { virtioGsiBase: 10 }],
    ["virtioTransports", { virtioTransports: 4 }],
  ] as const)("refuses a layout override of %s, which the platform fixes", (field, layout) => {
    const e = errorOf(() => qemuPlan({ layout }));
    expect(e.code).toBe("invalid-argument");
    expect(e.message).toMatch(new RegExp(`^layout\\.${field}: the qemu-7.2/tcg platform fixes it at`));
  });

  it("accepts a layout override equal to the platform's value, and one of a field it does not fix", () => {
    expect(qemuPlan({ layout: { virtioBase: 0xfeb00000n } }).transports[0]?.base).toBe(0xfeb00000n);
    const plan = qemuPlan({ layout: { ioapicVersion: 0x20 } });
    expect(plan.mptable.table.ioApics.map((a) => a.version)).toEqual([0x20]);
    expect(valuesOf(qemuInvocation(plan, { accel: "tcg", dir: DIR }), "-global")).toContain("ioapic.version=0x20");
    const e = errorOf(() => qemuPlan({ transports: 4 }));
    expect(e.code).toBe("invalid-argument");
    expect(e.message).toMatch(/^transports: the qemu-7.2\/tcg platform has 8/);
  });

  it("on KVM_PLATFORM, a layout override moves the transports, the command line and the listing", () => {
    const devices = [{ kind: "rng" as const }, { kind: "console" as const, slot: 3 }];
    const moved = planMachine({ kernel, platform: KVM_PLATFORM, layout: { virtioBase: 0xd1000000n }, devices });
    expect(moved.transports.map((t) => t.base)).toEqual(Array.from({ length: 8 }, (_, i) => 0xd1000000n + BigInt(i) * 0x200n));
    expect(moved.cmdline).toBe("virtio_mmio.device=512@0xd1000000:5 virtio_mmio.device=512@0xd1000600:8");
    expect(moved.listing.filter((l) => l.includes("virtio-mmio"))[0]?.trim()).toBe("00000000d1000000-00000000d10001ff (prio 0, i/o): virtio-mmio");
    // negative control: without the override they are at 0xd0000000
    const seed = planMachine({ kernel, platform: KVM_PLATFORM, devices });
    expect(seed.cmdline).toBe("virtio_mmio.device=512@0xd0000000:5 virtio_mmio.device=512@0xd0000600:8");
  });
});
