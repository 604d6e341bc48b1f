// User networking rows of `pnpm bench`: guest-to-host TCP throughput through passt, our KVM engine
// (virtio-net in this process, the stream backend on the I/O thread, passt on a socket pair)
// against QEMU with KVM running the same plan with QEMU's own virtio-net and `-netdev stream` to the
// same kind of passt, same guest (the recipe kernel with /init-net sending 64 MiB of zeros to a
// server of this process through the gateway). The host side counts the bytes from the first to
// the last and closes first. Hardware KVM only: under TCG both sides would be QEMU's, and a
// nested, emulated KVM does not boot Linux in useful time (MICROVM_LINUX_E2E=1 opts in, as for the
// Linux end-to-end tests).
import { createServer, type AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import type { BenchCase } from "../../../bench/harness.ts";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { netInitramfs, recipe } from "../test/linux-net-guest.ts";
import { createMachine, kvmUnavailableReason, passtUnavailableReason } from "../src/index.js";

const MIB = 64;
const LIMIT_MS = 180_000;

async function throughput(engine: "kvm" | "qemu"): Promise<number> {
  const r = recipe() as { vmlinux: string; initramfs: string };
  const want = MIB * 1024 * 1024;
  let first = 0n;
  let last = 0n;
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((res) => (done = res));
  const server = createServer((s) => {
    s.on("data", (b: Buffer) => {
      if (got === 0) first = process.hrtime.bigint();
      got += b.length;
      if (got >= want) {
        last = process.hrtime.bigint();
        s.end();
        done();
      }
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  const port = (server.address() as AddressInfo).port;
  const m = await createMachine({
    kernel: readFileSync(r.vmlinux),
    initrd: netInitramfs(r.initramfs),
    engine,
    accel: "kvm",
    cpus: 1,
    memory: 256 * 1024 * 1024,
    legacy: true,
    cmdline: `console=ttyS0 reboot=t panic=-1 rdinit=/init-net mvnet.port=${port} mvnet.send=${MIB}`,
    devices: [{ kind: "net", backend: { type: "user" } }],
  });
  const timer = setTimeout(() => void m.stop(), LIMIT_MS);
  let serial = "";
  for await (const c of m.serial()) serial += Buffer.from(c).toString("latin1");
  await m.done;
  clearTimeout(timer);
  server.close();
  if (got < want || last === 0n) throw new Error(`${engine}: the host got ${got} of ${want} bytes; guest said: ${serial.split("\n").filter((l) => l.startsWith("mvnet:")).join(" | ")}`);
  await finished;
  return got / 1e6 / (Number(last - first) / 1e9);
}

export const cases: BenchCase[] = [
  {
    name: `guest-to-host TCP through passt, ${MIB} MiB (KVM engine vs QEMU -netdev stream)`,
    unit: "MB/s",
    better: "higher",
    reference: "QEMU (accel kvm) running the same plan, its virtio-net on -netdev stream to passt",
    goal: ">= 1.0",
    reps: 5,
    warmup: 1,
    skip: () =>
      kvmUnavailableReason() ??
      (process.env["MICROVM_LINUX_E2E"] === "1" ? undefined : "opt-in: MICROVM_LINUX_E2E=1 on a host with hardware KVM (a nested, emulated KVM does not boot Linux in useful time)") ??
      (qemuAvailable() ? undefined : "qemu-system-x86_64 not found") ??
      passtUnavailableReason() ??
      (recipe() ? undefined : "the recipe kernel is not built (bash scripts/linux/build-kernel.sh builds it)"),
    ours: () => throughput("kvm"),
    ref: () => throughput("qemu"),
  },
];
