// The device-kind table (src/devices/): every consumer (the command line and its help, the plan,
// the QEMU command line, the qtree check, the KVM engine's I/O setup) is driven by DEVICE_KINDS,
// so a kind that is in the table is everywhere, and no file outside src/devices/ names a kind.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCommandLine, SUPPORTED_FLAGS } from "../src/cli/args.js";
import {
  compareQtree,
  DEVICE_KINDS,
  deviceKind,
  planMachine,
  qemuInvocation,
  qemuPlatform,
  VIRTIO_DEVICE_ID,
  type DeviceConfig,
  type VirtioKind,
} from "../src/index.js";
import { errorOf, tinyKernel, HALT_FOREVER } from "./helpers.js";

const kernel = tinyKernel(HALT_FOREVER);
const TCG = qemuPlatform({ accel: "tcg" });

/** A configuration of each kind that the QEMU engine runs with QEMU's own device model. */
const SAMPLE: Record<VirtioKind, DeviceConfig> = {
  net: { kind: "net", backend: { type: "user" } },
  blk: { kind: "blk", backend: { type: "file", path: "/tmp/disk.img" } },
  console: { kind: "console" },
  rng: { kind: "rng" },
};

/** The command line that attaches one device of each of a kind's `-device` drivers. */
const CLI: Record<VirtioKind, string[]> = {
  net: ["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"],
  blk: ["-drive", "id=d0,file=/tmp/disk.img,format=raw,if=none", "-device", "virtio-blk-device,drive=d0"],
  console: ["-chardev", "pty,id=c0", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=c0"],
  rng: ["-device", "virtio-rng-device"],
};

describe("the device-kind table", () => {
  it("holds each kind once, with the virtio device id of virtio 1.2 §5 (net 1, blk 2, console 3, rng 4)", () => {
    expect(DEVICE_KINDS.map((k) => [k.kind, k.virtioId])).toEqual([
      ["net", 1],
      ["blk", 2],
      ["console", 3],
      ["rng", 4],
    ]);
    expect(VIRTIO_DEVICE_ID).toEqual({ net: 1, blk: 2, console: 3, rng: 4 });
    expect(new Set(DEVICE_KINDS.flatMap((k) => k.cli.drivers)).size).toBe(DEVICE_KINDS.flatMap((k) => k.cli.drivers).length);
  });

  it("deviceKind names the kinds there are when asked for one that is not", () => {
    expect(deviceKind("rng").virtioId).toBe(4);
    expect(errorOf(() => deviceKind("vsock"))).toEqual({ code: "invalid-argument", message: 'kind: expected one of net, blk, console, rng, got "vsock"' });
  });

  describe.each(DEVICE_KINDS.map((k) => [k.kind, k] as const))("%s", (name, kind) => {
    it("its -device drivers are in --help and parse into a device of this kind", () => {
      for (const driver of kind.cli.drivers) expect(SUPPORTED_FLAGS.some(([f, arg]) => f === "-device" && arg.startsWith(driver))).toBe(true);
      const cmd = parseCommandLine(["-M", "microvm", "-kernel", "k", "-no-user-config", ...CLI[name]], {});
      expect(cmd.action === "run" && cmd.config.devices.map((d) => d.kind)).toEqual([name]);
    });

    it("the plan puts it on a transport with its device id in the command line and the listing", () => {
      const plan = planMachine({ kernel, devices: [{ kind: name }] });
      const t = plan.transports.find((x) => x.device);
      expect(t?.device?.kind).toBe(name);
      expect(t?.device?.deviceId).toBe(kind.virtioId);
    });

    it("the QEMU engine gives QEMU its device type on the planned bus, and the qtree check expects that type", () => {
      const plan = planMachine({ kernel, devices: [SAMPLE[name]], platform: TCG });
      const inv = qemuInvocation(plan, { accel: "tcg", dir: "/run/x", devices: [SAMPLE[name]], userNet: "slirp" });
      const t = plan.transports.find((x) => x.device) as (typeof plan.transports)[number];
      const device = inv.args.filter((a, i) => inv.args[i - 1] === "-device").find((a) => a.startsWith(kind.qemuType));
      expect(device).toContain(`bus=virtio-mmio-bus.${t.index}`);
      const proxy = (dev: string): string =>
        plan.transports
          .map((x) => [`  dev: virtio-mmio, id ""`, `    force-legacy = false`, `    mmio ${x.base.toString(16).padStart(16, "0")}/0000000000000200`, `    bus: virtio-mmio-bus.${x.index}`, ...(x === t ? [`      dev: ${dev}, id "${t.device?.id}"`] : [])].join("\n"))
          .join("\n");
      expect(compareQtree(plan, proxy(kind.qemuType), false)).toBeUndefined();
      // Negative control: another kind's type at that place is a difference.
      const other = DEVICE_KINDS.find((k) => k.kind !== name)?.qemuType as string;
      expect(compareQtree(plan, proxy(other), false)).toMatch(new RegExp(`QEMU has ${other} .*the plan has ${kind.qemuType}`));
    });
  });

  it("no file of the board outside src/devices/ names a device kind: the table is the one place", () => {
    const src = join(import.meta.dirname, "..", "src");
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const n of readdirSync(dir)) {
        const p = join(dir, n);
        if (statSync(p).isDirectory()) {
          if (n !== "devices") walk(p);
        } else if (n.endsWith(".ts")) files.push(p);
      }
    };
    walk(src);
    // A kind name in code: a switch case, a comparison or a kind: property (doc comments aside).
    const pattern = /(case |kind [!=]== |kind: )"(blk|net|console|rng)"/;
    // The standalone vhost-user daemon takes its kind from its own command line; user-net.ts is the
    // `user` net backend (passt), which belongs to the backend, not the device.
    const allowed = new Set(["vhost-user-cli.ts", "user-net.ts"]);
    const offenders = files.filter((f) => !allowed.has(f.split("/").pop() as string)).flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => !/^\s*(\*|\/\/)/.test(l) && pattern.test(l))
        .map((l) => `${f.slice(src.length + 1)}: ${l.trim()}`),
    );
    expect(offenders).toEqual([]);
    // The check itself can fail: a switch on kinds, as machine.ts had one, is caught.
    expect(pattern.test('    case "blk":')).toBe(true);
    expect(pattern.test('const model = d.kind === "blk" ? a : b;')).toBe(true);
    expect(pattern.test('if (s.role !== "console") continue;')).toBe(false);
  });
});
