/**
 * The nested-KVM lane (docs/testing.md): runs a job inside a QEMU guest under TCG, whose emulated
 * CPU has AMD's SVM (`-cpu max`), so that Debian's cloud kernel loads kvm_amd and the guest has a
 * working /dev/kvm, on any host. The host's root is shared into the guest with virtiofs (QEMU's
 * virtiofsd) and the job runs in a chroot of it, in this very checkout, with the host's Node.
 *
 *   tsx scripts/nested/lane.ts vitest [vitest args…]   run vitest in the guest (its summary merged)
 *   tsx scripts/nested/lane.ts exec CMD [ARGS…]         run a command in the guest
 * Options before the verb: --timeout-min N (default 40), --smp N (2), --mem-mib N (4096),
 * --summary-with FILE (a host summary JSON to merge into the final line), --env NAME=VALUE (for the
 * job; repeatable), --quiet (no console echo).
 *
 * Every line of the guest's console is echoed with a `[nested]` prefix as it arrives, so the lane
 * never runs silently. Exit status: the job's; 2 when the lane itself could not run (the reason is
 * printed). QEMU and virtiofsd are stopped on every path, and the job's directory is removed.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatSummary, type Summary } from "../../test/summary-reporter.ts";
import { hostTsc } from "../../packages/microvm/src/node/host-tsc.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const argv = process.argv.slice(2);
const opt = { timeoutMin: 40, smp: 2, memMib: 4096, summaryWith: undefined as string | undefined, quiet: false, env: [] as string[] };
while (argv[0]?.startsWith("--")) {
  const f = argv.shift() as string;
  if (f === "--quiet") opt.quiet = true;
  else if (f === "--timeout-min") opt.timeoutMin = Number(argv.shift());
  else if (f === "--smp") opt.smp = Number(argv.shift());
  else if (f === "--mem-mib") opt.memMib = Number(argv.shift());
  else if (f === "--summary-with") opt.summaryWith = argv.shift();
  else if (f === "--env") {
    const kv = argv.shift() ?? "";
    if (!/^[A-Z_][A-Z0-9_]*=/.test(kv)) fatal(`--env: expected NAME=VALUE, got ${JSON.stringify(kv)}`);
    opt.env.push(kv);
  }
  else fatal(`unknown option ${f}`);
}
const verb = argv.shift();
if (verb !== "vitest" && verb !== "exec") fatal("usage: lane.ts [options] vitest [args…] | exec CMD [args…]");
if (verb === "exec" && argv.length === 0) fatal("exec: no command");

function fatal(why: string): never {
  process.stderr.write(`[nested] lane: ${why}\n`);
  process.exit(2);
}

/** A POSIX shell word. */
const q = (w: string): string => `'${w.replace(/'/g, "'\\''")}'`;

// ---- the guest's kernel and initramfs -----------------------------------------------------------
const build = spawnSync("bash", [join(root, "scripts/nested/build-lane.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
if (build.status !== 0) fatal(`scripts/nested/build-lane.sh failed (status ${build.status})`);
const paths = Object.fromEntries(build.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
const kernel = paths["kernel"];
const initramfs = paths["initramfs"];
if (!kernel || !initramfs) fatal(`unexpected output of build-lane.sh: ${build.stdout}`);
for (const p of ["/usr/lib/qemu/virtiofsd", "/usr/bin/qemu-system-x86_64"]) if (!existsSync(p)) fatal(`${p} is missing (Debian packages qemu-system-x86, qemu-system-common)`);

// The guest runs under TCG with no kvmclock: Linux must be told the TSC rate, or it may hang in
// its calibration (tsc_early_khz=, Documentation/admin-guide/kernel-parameters.txt).
// The host's rate, from the same source the QEMU engine uses (packages/microvm/src/node/host-tsc.ts).
const tsc = hostTsc();
if ("unknown" in tsc) fatal(`the host's TSC rate: ${tsc.unknown}`);
const tscKhz = tsc.khz;

// ---- the job -------------------------------------------------------------------------------------
const jobDir = join(root, ".cache", "nested", `job-${process.pid}-${Date.now()}`);
mkdirSync(jobDir, { recursive: true });
const summaryFile = join(jobDir, "summary.json");
const command =
  verb === "vitest"
    ? // Everything runs 10 to 50 times slower there (a hypervisor on an emulated CPU): the suite's
      // per-test limits, made for a host, are raised.
      ["node", join(root, "node_modules/vitest/vitest.mjs"), "run", ...argv, "--testTimeout=900000", "--hookTimeout=900000", "--reporter=verbose", `--reporter=${join(root, "test/summary-reporter.ts")}`]
    : argv;
writeFileSync(
  join(jobDir, "run.sh"),
  [
    // The console is a tty: CI=1 and TERM=dumb keep vitest from redrawing its progress on it.
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=1 TERM=dumb MICROVM_NESTED=1",
    // The guest's own temporary files (sockets too) stay in the guest: a tmpfs the init mounted.
    "export TMPDIR=/dev/shm",
    `export MICROVM_SUMMARY_JSON=${q(summaryFile)}`,
    ...opt.env.map((kv) => `export ${kv.slice(0, kv.indexOf("="))}=${q(kv.slice(kv.indexOf("=") + 1))}`),
    `cd ${q(root)} || exit 97`,
    // Under TCG, KVM's enabling and disabling of SVM on every CPU, done whenever the first VM is
    // created or the last one destroyed, now and then never completes (seen as a hang within a
    // few dozen create/destroy cycles): a VM held open for the whole job keeps it enabled.
    `python3 -c 'import fcntl, os, time; kvm = os.open("/dev/kvm", os.O_RDWR); vm = fcntl.ioctl(kvm, 0xAE01, 0); time.sleep(1 << 30)' & holder=$!`,
    `${command.map(q).join(" ")}; status=$?`,
    "kill $holder 2>/dev/null",
    "exit $status",
  ].join("\n") + "\n",
);

// ---- virtiofsd and QEMU ---------------------------------------------------------------------------
const sockDir = mkdtempSync(join(tmpdir(), "microvm-nested-"));
const sock = join(sockDir, "vfs.sock");
const children: ChildProcess[] = [];
let cleaned = false;
const cleanup = (): void => {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(sockDir, { recursive: true, force: true });
  rmSync(jobDir, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => process.exit(130));

// The default sandbox (namespaces + pivot_root) fails in a container; chroot works there.
const vfs = spawn("/usr/lib/qemu/virtiofsd", [`--socket-path=${sock}`, "-o", "source=/", "-o", "cache=none", "-o", "sandbox=chroot"], { stdio: ["ignore", "ignore", "pipe"] });
children.push(vfs);
let vfsErr = "";
vfs.stderr?.on("data", (d: Buffer) => (vfsErr = (vfsErr + d.toString()).slice(-2000)));
for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
if (!existsSync(sock)) fatal(`virtiofsd did not create its socket: ${vfsErr.trim() || "no message"}`);

const mem = `${opt.memMib}M`;
const qemuArgs = [
  "-M", "microvm,acpi=on,memory-backend=mem", "-accel", "tcg", "-cpu", "max", "-smp", String(opt.smp), "-m", mem,
  "-object", `memory-backend-memfd,id=mem,size=${mem},share=on`,
  // virtiofsd (libvhost-user) supports virtio 1 only: microvm's transports must be modern.
  "-global", "virtio-mmio.force-legacy=false",
  "-chardev", `socket,id=vfs,path=${sock}`, "-device", "vhost-user-fs-device,chardev=vfs,tag=host",
  "-kernel", kernel, "-initrd", initramfs,
  "-append", `console=ttyS0 reboot=t panic=-1 quiet tsc_early_khz=${tscKhz} lane.job=${join(jobDir, "run.sh")}`,
  "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
];
const t0 = performance.now();
const qemu = spawn("qemu-system-x86_64", qemuArgs, { stdio: ["ignore", "pipe", "pipe"] });
children.push(qemu);
let ready = false;
let exitCode: number | undefined;
let laneError: string | undefined;
const tail: string[] = [];
let partial = "";
qemu.stdout?.on("data", (d: Buffer) => {
  const text = partial + d.toString("utf8");
  const lines = text.split("\n");
  partial = lines.pop() ?? "";
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    tail.push(line);
    if (tail.length > 40) tail.shift();
    if (!opt.quiet) process.stdout.write(`[nested] ${line}\n`);
    // The job may leave a terminal escape (vitest's cursor) at the start of the init's line.
    const plain = line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
    if (plain.startsWith("lane-ready:")) ready = true;
    const e = /^lane-exit: (\d+)$/.exec(plain);
    if (e) exitCode = Number(e[1]);
    const le = /^lane-error: (.*)/.exec(plain);
    if (le) laneError = le[1];
  }
});
let qemuErr = "";
qemu.stderr?.on("data", (d: Buffer) => (qemuErr = (qemuErr + d.toString()).slice(-2000)));
const timer = setTimeout(() => {
  laneError = `timed out after ${opt.timeoutMin} min`;
  qemu.kill("SIGKILL");
}, opt.timeoutMin * 60_000);
await new Promise((r) => qemu.on("close", r));
clearTimeout(timer);
const secs = ((performance.now() - t0) / 1000).toFixed(0);

// ---- the outcome ---------------------------------------------------------------------------------
if (!ready || exitCode === undefined || laneError !== undefined || exitCode >= 90) {
  const why = laneError ?? (!ready ? "the guest never got its /dev/kvm and the shared tree" : "the guest ended without reporting the job's status");
  process.stderr.write(`[nested] lane FAILED after ${secs} s: ${why}\n`);
  if (opt.quiet) for (const l of tail) process.stderr.write(`[nested] ${l}\n`);
  if (qemuErr.trim()) process.stderr.write(`[nested] qemu: ${qemuErr.trim()}\n`);
  if (vfsErr.trim()) process.stderr.write(`[nested] virtiofsd: ${vfsErr.trim()}\n`);
  process.exit(2);
}
process.stdout.write(`[nested] the job ended with status ${exitCode} after ${secs} s (guest boot and Node included)\n`);
if (verb === "vitest") {
  if (!existsSync(summaryFile)) fatal("vitest in the guest wrote no summary");
  const nested = JSON.parse(readFileSync(summaryFile, "utf8")) as Summary;
  const mark = (s: Summary, tag: string): Summary => ({
    ...s,
    skipsByReason: s.skipsByReason.map(([r, n]) => [`${tag}${r}`, n] as const),
    failures: s.failures.map((f) => `${tag}${f}`),
  });
  const parts = [mark(nested, "[nested] ")];
  if (opt.summaryWith && existsSync(opt.summaryWith)) parts.unshift(JSON.parse(readFileSync(opt.summaryWith, "utf8")) as Summary);
  const merged: Summary = {
    passed: parts.reduce((a, s) => a + s.passed, 0),
    failed: parts.reduce((a, s) => a + s.failed, 0),
    skipped: parts.reduce((a, s) => a + s.skipped, 0),
    skipsByReason: parts.flatMap((s) => s.skipsByReason),
    failures: parts.flatMap((s) => s.failures),
  };
  process.stdout.write(`\n${opt.summaryWith ? "host and nested lane together" : "the nested lane"}:\n`);
  for (const l of formatSummary(merged)) process.stdout.write(`${l}\n`);
  process.exit(merged.failed > 0 ? 1 : exitCode);
}
process.exit(exitCode);
