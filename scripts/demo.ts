/**
 * The main job (`./run demo`): boot the demo machine, with no root and no files of its own.
 *
 * The board is QEMU's `-M microvm,legacy` with 2 vCPUs and 128 MiB, running the project's PVH test
 * guest (guests/build/guest64.elf, built here with `make -C guests` when missing). Every device
 * kind is on, each with an in-process backend: virtio-blk on a RAM disk, virtio-console into a
 * stream, virtio-rng from crypto.getRandomValues, virtio-net on an in-process ARP responder
 * standing in for the host at 10.0.2.2, plus the legacy 16550A UART and the 0x64 reset port. The
 * initrd is built in memory too.
 *
 * The guest checks the machine the way Linux would see it and prints a report on the UART; the
 * demo prints that report, then per-phase timings from the process start.
 *
 * Engines (docs/engines.md): where /dev/kvm opens, the in-process KVM engine runs it as above.
 * Elsewhere (or with `./run demo --engine qemu`) the QEMU engine runs the same board under TCG,
 * with the same backends: the RAM disk is our virtio-blk device model served to QEMU's
 * vhost-user-blk, the ARP responder sits behind QEMU's virtio-net on a `-netdev stream` socket,
 * the console stream behind QEMU's virtconsole (docs/vhost-user.md); only the entropy is QEMU's
 * own virtio-rng reading the host's. The demo says which engine ran it.
 *
 * The same machine from the command line (needs root for the tap):
 *   pnpm microvm -M microvm,legacy -smp 2 -kernel guests/build/guest64.elf -nodefaults \
 *     -device virtio-rng-device -serial stdio
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const t = (): number => performance.now(); // ms since the process started (perf_hooks timeOrigin)
const tStart = t();
const root = fileURLToPath(new URL("..", import.meta.url));
const guest = `${root}guests/build/guest64.elf`;
if (!existsSync(guest)) {
  console.error("[demo] building the test guests (make -C guests)");
  const r = spawnSync("make", ["-s", "-C", `${root}guests`], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("[demo] the guest build failed: it needs gcc, ld and make (./run installs them as root)");
    process.exit(1);
  }
}
const tGuestReady = t();

// Import the built package (./run builds it first) so the vCPU and I/O handlers load as plain JS.
const { createMachine, isMicrovmError, resolveEngine } = (await import(`${root}packages/microvm/dist/index.js`)) as typeof import("../packages/microvm/src/index.js");
const tLoaded = t();

/** FNV-1a 32 (docs/test-guests.md), what the guest computes over what it reads. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}
/** Deterministic bytes (xorshift32). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const CPUS = 2;
const MEM_MIB = 128;
const DISK_SECTORS = 128;
const WRITE_SECTOR = 5;
const disk = new SharedArrayBuffer(DISK_SECTORS * 512);
new Uint8Array(disk).set(pattern(DISK_SECTORS * 512, 0x1234));
const initrd = pattern(5000, 0xbeef);
const hex = (n: number): string => `0x${n.toString(16)}`;
const cmdline = [
  "console=ttyS0",
  `microvm.expect_cpus=${CPUS}`,
  `microvm.mem_mib=${MEM_MIB}`,
  "microvm.memmap_sorted=1",
  `microvm.initrd_sum=${hex(fnv1a(initrd))}`,
  `microvm.initrd_size=${initrd.length}`,
  `microvm.blk_sum=${hex(fnv1a(new Uint8Array(disk, 0, 1024)))}`,
  `microvm.blk_sectors=${DISK_SECTORS}`,
  `microvm.blk_write=${WRITE_SECTOR}`,
  "microvm.virtio_devices=4",
  "microvm.net_arp=10.0.2.2",
  "microvm.net_arp_mac=52:55:0a:00:02:02",
  "microvm.uart=1",
].join(" ");

const engineArg = process.argv.indexOf("--engine");
const wanted = engineArg >= 0 ? process.argv[engineArg + 1] : "auto";
if (wanted !== "kvm" && wanted !== "qemu" && wanted !== "auto") {
  console.error(`[demo] --engine: expected kvm, qemu or auto, got ${String(wanted)}`);
  process.exit(2);
}
const chosen = resolveEngine({ engine: wanted, ...(wanted === "qemu" ? { accel: "tcg" as const } : {}) });
if (chosen.why) console.error(`[demo] ${chosen.why}: running the demo on the QEMU engine with TCG`);
const onQemu = chosen.engine === "qemu";
let machine;
try {
  machine = await createMachine({
    kernel: readFileSync(guest),
    cpus: CPUS,
    memory: MEM_MIB * 1024 * 1024,
    legacy: true,
    initrd,
    cmdline,
    engine: chosen.engine,
    ...(onQemu ? { accel: chosen.accel } : {}),
    devices: [
      { kind: "blk", backend: { type: "memory", buffer: disk } },
      { kind: "console", backend: { type: "stream" } },
      { kind: "rng", backend: { type: "crypto" } },
      { kind: "net", backend: { type: "arp-responder", ips: ["10.0.2.2"], mac: "52:55:0a:00:02:02" } },
    ],
  });
} catch (e) {
  console.error(`[demo] the machine could not start: ${isMicrovmError(e) ? `${e.code}: ${e.message}` : String(e)}`);
  process.exit(1);
}
const tBuilt = t();

let tFirstOutput: number | undefined;
let report = "";
const consoleDone = (async () => {
  for await (const _ of machine.console()) void _; // the same report, on the virtio console: drained
})();
for await (const chunk of machine.serial()) {
  tFirstOutput ??= t();
  const text = Buffer.from(chunk).toString("latin1");
  report += text;
  process.stdout.write(text);
}
const end = await machine.done;
const tDone = t();
await consoleDone;

const after = new Uint8Array(disk);
const written = after.subarray(WRITE_SECTOR * 512, WRITE_SECTOR * 512 + 512).every((b, i) => b === ((i * 7 + WRITE_SECTOR + 0x5a) & 0xff));
const summary = /^summary pass=(\d+) fail=(\d+) result=(\w+)$/m.exec(report);
const ms = (x: number | undefined): string => (x === undefined ? "—" : `${x.toFixed(1).padStart(8)} ms`);
console.log("");
console.log(
  onQemu
    ? `demo machine on the QEMU engine (accel ${chosen.accel}): -M microvm,legacy, ${CPUS} vCPUs, ${MEM_MIB} MiB; virtio blk (RAM disk, our device model over vhost-user), console (stream), rng (QEMU's, host entropy), net (ARP responder, over -netdev stream); 16550A UART; no 0x64 reset port (QEMU's microvm has no i8042)`
    : `demo machine on the KVM engine: -M microvm,legacy, ${CPUS} vCPUs, ${MEM_MIB} MiB; virtio blk (RAM disk), console (stream), rng (crypto), net (ARP responder); 16550A UART`,
);
console.log(`the guest ended by: ${end.reason}${end.message ? ` (${end.message})` : ""}; report: ${summary ? `${summary[1]} checks passed, ${summary[2]} failed, ${summary[3]}` : "no summary (truncated)"}; sector ${WRITE_SECTOR} written to the RAM disk: ${written ? "yes" : "no"}`);
console.log("timings (from the process start):");
console.log(`  process start         ${ms(0)}`);
console.log(`  script running        ${ms(tStart)}`);
console.log(`  modules loaded        ${ms(tLoaded)}${tGuestReady - tStart > 50 ? `  (guest build ${(tGuestReady - tStart).toFixed(0)} ms)` : ""}`);
console.log(`  machine started       ${ms(tBuilt)}`);
console.log(`  first guest output    ${ms(tFirstOutput)}`);
console.log(`  guest done            ${ms(tDone)}`);
process.exit(end.reason === "triple-fault" && summary?.[3] === "PASS" && written ? 0 : 1);
