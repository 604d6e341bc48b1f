// What the `microvm` bin loads, per command (docs/performance.md, "Start-up and footprint"): the
// built bin is run with a preload that records every CommonJS module, every ES module resolved
// (on any thread), every native library mapped into the process and Node's own modules, and the
// test asserts which of them each command needed; and the bin's compile cache (src/cli.ts) is
// written, used and rejected as it should. Nothing here is timed.
//
// A file of ours is named by what it defines (`function createQemuMachine(`, …), not by its
// hashed chunk name. The negative controls show that the recorder sees what it must: a process
// writing through process.stdout loads `net`; a pty loads the pty backend and koffi's native
// library; the in-process engine loads koffi, @microvm/kvm, its worker entries and our handler
// modules (vcpu-handler.js and io-handler.js, by path from dist/).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@microvm/kvm";
import { qemuAvailable } from "../../../test/guests/harness.ts";
import { SAY_HI, tinyKernel } from "./helpers.js";

const PKG = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(PKG, "dist");
const BIN = join(DIST, "cli.cjs");
const kvmMissing = Kvm.unavailableReason(process.env["MICROVM_KVM_DEVICE"] ?? "/dev/kvm");
const qemuMissing = qemuAvailable() ? undefined : "qemu-system-x86_64 not found";

/** Builds the package when a source file is newer than the bin (as cli.test.ts does). */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => statSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs));
  if (existsSync(BIN) && existsSync(join(DIST, "cli.js")) && statSync(join(DIST, "cli.js")).mtimeMs >= newest(join(PKG, "src"))) return;
  const r = spawnSync("pnpm", ["-s", "run", "build"], { cwd: PKG, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the CLI failed:\n${r.stdout}${r.stderr}`);
}

// The recorder: a CommonJS preload (--require) that wraps Module._load, registers an ES module
// resolve hook (which runs for the main thread and the workers) and, at exit, lists the .node
// files mapped into the process.
const HOOKS = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.MICROVM_LOADED_LOG, "esm " + r.url + "\\n");
  return r;
}
`;
const PRELOAD = `const { appendFileSync, readFileSync } = require("node:fs");
const Module = require("node:module");
const out = process.env.MICROVM_LOADED_LOG;
// The hooks run on a thread of their own, which loads Node's stream and net modules.
if (process.env.MICROVM_LOADED_ESM !== "0") Module.register(require("node:url").pathToFileURL(__dirname + "/hooks.mjs"));
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const r = load.apply(this, arguments);
  try { appendFileSync(out, "cjs " + Module._resolveFilename(request, parent, isMain) + "\\n"); } catch {}
  return r;
};
process.on("exit", () => {
  const builtins = [...process.moduleLoadList]; // before worker_threads (and its stream) is loaded here
  if (!require("node:worker_threads").isMainThread) return;
  for (const l of readFileSync("/proc/self/maps", "utf8").split("\\n")) {
    const m = /\\s(\\/\\S+\\.node)$/.exec(l);
    if (m) appendFileSync(out, "native " + m[1] + "\\n");
  }
  for (const m of builtins) appendFileSync(out, "builtin " + m + "\\n");
  // With --allow-natives-syntax: can V8 still optimise a function (bit 4 of the status: TurboFan)?
  if (process.env.MICROVM_V8_PROBE === "1") {
    const status = new Function("f", "%PrepareFunctionForOptimization(f); f(1); f(2); %OptimizeFunctionOnNextCall(f); f(3); return %GetOptimizationStatus(f);")((a) => a * 2 + 1);
    appendFileSync(out, "turbofan " + ((status & 16) !== 0) + "\\n");
  }
});
`;

/** What one run loaded. */
interface Loaded {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Files of ours (packages/microvm/dist), as paths relative to dist/. */
  readonly ours: readonly string[];
  /** What those files define, by marker (see ROLES). */
  readonly roles: ReadonlySet<string>;
  /** Every module file outside Node (CommonJS or ES module), absolute paths or URLs. */
  readonly files: readonly string[];
  /** ES modules resolved (file: URLs). */
  readonly esm: readonly string[];
  /** Native libraries (.node) mapped. */
  readonly native: readonly string[];
  /** Node's own modules (process.moduleLoadList), e.g. `NativeModule net`. */
  readonly builtins: readonly string[];
  /** With MICROVM_V8_PROBE=1: whether V8 optimised a function at exit (`true`/`false`). */
  readonly turbofan: readonly string[];
}

/** What a file of ours is, by a definition it holds (identifiers are kept in dist/). */
const ROLES: readonly (readonly [string, string])[] = [
  ["function parseCommandLine(", "command line"],
  ["function planMachine(", "planner"],
  ["function planSurface(", "surface"],
  ["function encodeAcpiTables(", "encoders"],
  ["function formatPlan(", "plan printer"],
  ["function qemuInvocation(", "qemu command line"],
  ["function createQemuMachine(", "qemu engine"],
  ["function createKvmMachine(", "kvm engine"],
  ["function createVcpuHandler(", "vcpu handler"],
  ["function createIoHandler(", "io handler"],
  ["function openPty(", "pty backend"],
  ["function openTap(", "tap backend"],
  ["function openImage(", "image backend"],
  ["function enterRawMode(", "terminal"],
  // @microvm/virtio-mmio's device models, bundled into a CLI chunk (minified) or in the library build
  ["var BlkDevice=class", "virtio device models"],
  ["var BlkDevice = class", "virtio device models"],
];

let dir = "";

function run(args: readonly string[], env: Record<string, string> = {}, nodeArgs: readonly string[] = []): Loaded {
  // MICROVM_LOADED_ESM=0: without the ES module hook (which starts a thread), for Node's own modules.
  const log = join(dir, `loaded-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, "");
  const r = spawnSync(process.execPath, [...nodeArgs, "--require", join(dir, "preload.cjs"), BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, HOME: "/nonexistent", XDG_CONFIG_HOME: "/nonexistent", MICROVM_LOADED_LOG: log, ...env },
    timeout: process.env["MICROVM_NESTED"] === "1" ? 600_000 : 60_000,
  });
  const lines = [...new Set(readFileSync(log, "utf8").split("\n").filter(Boolean))];
  const strip = (kind: string): string[] => lines.filter((l) => l.startsWith(`${kind} `)).map((l) => l.slice(kind.length + 1));
  const esm = strip("esm").filter((u) => u.startsWith("file:"));
  const files = [...new Set([...strip("cjs").filter((p) => p.startsWith("/")), ...esm.map((u) => fileURLToPath(u))])];
  const ours = files.filter((f) => f.startsWith(`${DIST}/`)).map((f) => f.slice(DIST.length + 1)).sort();
  const roles = new Set<string>();
  for (const f of ours) {
    const text = readFileSync(join(DIST, f), "utf8");
    for (const [marker, role] of ROLES) if (text.includes(marker)) roles.add(role);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ours, roles, files, esm, native: strip("native"), builtins: strip("builtin"), turbofan: strip("turbofan") };
}

/** The command line's chunk of this build (dist/cli-command-line-<hash>.cjs). */
function commandLineChunk(): string {
  const names = readdirSync(DIST).filter((n) => /^cli-command-line-[A-Z0-9]+\.cjs$/.test(n));
  expect(names.length, "one command line chunk in dist/").toBe(1);
  return join(DIST, names[0] as string);
}

const isKoffi = (f: string): boolean => /[/\\]koffi[/\\@]|koffi\.node$|@koromix/.test(f);
const isKvmPackage = (f: string): boolean => /packages\/kvm\/|@microvm\/kvm\//.test(f);

/** Nothing of a backend: no koffi, no native library, no @microvm/kvm, no engine, no device backend. */
function expectNoBackend(l: Loaded): void {
  expect(l.files.filter(isKoffi)).toEqual([]);
  expect(l.native).toEqual([]);
  expect(l.files.filter(isKvmPackage)).toEqual([]);
  for (const role of ["qemu engine", "kvm engine", "vcpu handler", "io handler", "pty backend", "tap backend", "image backend", "terminal"]) {
    expect(l.roles.has(role), role).toBe(false);
  }
}

describe("what the microvm bin loads", () => {
  let kernel = "";
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), "microvm-startup-"));
    writeFileSync(join(dir, "hooks.mjs"), HOOKS);
    writeFileSync(join(dir, "preload.cjs"), PRELOAD);
    kernel = join(dir, "hi.elf");
    writeFileSync(kernel, tinyKernel(SAY_HI));
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the bin is CommonJS (no ES module loader at start-up) and package.json names it", () => {
    const pkg = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")) as { bin: Record<string, string> };
    expect(pkg.bin["microvm"]).toBe("./dist/cli.cjs");
    expect(readFileSync(BIN, "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it.each([["--version"], ["--help"]])("%s loads dist/cli.cjs (and for --help the command line's chunk) and nothing else: no package, no ES module, no stdout stream", (flag) => {
    const l = run([flag]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(flag === "--version" ? /^microvm \d+\.\d+\.\d+\n$/ : /-M microvm/);
    // --version is answered by the bin itself; anything else loads the command line's chunk first
    expect(l.files).toEqual(flag === "--version" ? [BIN] : [BIN, commandLineChunk()]);
    expect(l.esm).toEqual([]);
    expectNoBackend(l);
    // The output goes out with write(2): process.stdout (a net.Socket on a pipe) is never made.
    const plain = run([flag], { MICROVM_LOADED_ESM: "0" });
    expect(plain.stdout).toBe(l.stdout);
    expect(plain.builtins.length).toBeGreaterThan(0);
    expect(plain.builtins.filter((b) => /^NativeModule (net|tty|stream)$/.test(b))).toEqual([]);
  });

  it("negative control: the same recorder sees the stream modules of a process that writes through process.stdout", () => {
    const log = join(dir, "control.log");
    writeFileSync(log, "");
    const r = spawnSync(process.execPath, ["--require", join(dir, "preload.cjs"), "-e", "process.stdout.write('x\\n')"], { encoding: "utf8", env: { ...process.env, MICROVM_LOADED_LOG: log, MICROVM_LOADED_ESM: "0" } });
    expect(r.stdout).toBe("x\n");
    expect(readFileSync(log, "utf8")).toMatch(/^builtin NativeModule net$/m);
  });

  it("an error on the command line loads nothing more than --help; --version among other flags takes the command line's path", () => {
    const l = run(["-vga", "std"]);
    expect(l.code).toBe(1);
    expect(l.stderr).toMatch(/^microvm: -vga: unsupported option/);
    expect(l.files).toEqual([BIN, commandLineChunk()]);
    expect([...l.roles]).toEqual(["command line"]);
    // the bin answers --version alone only: with another flag, the command line decides (QEMU's rule)
    const mixed = run(["-M", "microvm", "--version"]);
    expect(mixed.stdout).toMatch(/^microvm \d+\.\d+\.\d+\n$/);
    expect(mixed.files).toEqual([BIN, commandLineChunk()]);
  });

  it.each([["kvm"], ["qemu"]])("--info-mtree on the %s engine loads the surface alone: no planner, no encoder, no backend", (engine) => {
    const l = run(["-M", "microvm,legacy", "--info-mtree", "--engine", engine, ...(engine === "qemu" ? ["-accel", "tcg"] : [])]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain("(prio 0, i/o): serial");
    expect(l.roles.has("surface")).toBe(true);
    // The planner and its encoders (PVH, MPTable, ACPI) are for a board with a kernel.
    expect(l.roles.has("planner")).toBe(false);
    expect(l.roles.has("encoders")).toBe(false);
    expect(l.esm).toEqual([]);
    expectNoBackend(l);
  });

  it("--print-plan (QEMU engine, blk, rng, user net) loads the planner and QEMU's command line, and no backend", () => {
    const img = join(dir, "disk.img");
    writeFileSync(img, new Uint8Array(64 * 512));
    const l = run(["-M", "microvm", "--print-plan", "--engine", "qemu", "-accel", "tcg", "-kernel", kernel,
      "-drive", `id=d0,file=${img},format=raw,if=none`, "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device",
      "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/^qemu: qemu-system-x86_64 /m);
    for (const role of ["planner", "encoders", "plan printer", "qemu command line"]) expect(l.roles.has(role), role).toBe(true);
    expect(l.esm).toEqual([]);
    expectNoBackend(l);
  });

  it("--print-plan on the kvm engine loads no backend either", () => {
    const l = run(["-M", "microvm,legacy", "--print-plan", "--engine", "kvm", "-kernel", kernel]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/^engine: kvm$/m);
    expectNoBackend(l);
  });

  it("the compile cache: a first --info-mtree writes one V8 cache per chunk it loaded, the next run uses them (same output), MICROVM_COMPILE_CACHE=0 writes none", () => {
    const cache = join(dir, "v8-cache");
    const args = ["-M", "microvm", "--info-mtree"];
    const first = run(args, { MICROVM_COMPILE_CACHE: cache });
    expect(first.code, first.stderr).toBe(0);
    const chunks = first.ours.filter((f) => f.startsWith("cli-"));
    expect(chunks.length).toBeGreaterThan(0);
    expect(readdirSync(cache).sort()).toEqual(chunks.map((c) => `${c}.v8`).sort());
    const stamps = readdirSync(cache).map((f) => statSync(join(cache, f)).mtimeMs);
    const second = run(args, { MICROVM_COMPILE_CACHE: cache });
    expect(second.stdout).toBe(first.stdout);
    expect(second.ours).toEqual(first.ours);
    // Accepted caches are not rewritten.
    expect(readdirSync(cache).map((f) => statSync(join(cache, f)).mtimeMs)).toEqual(stamps);
    // A corrupt cache is rejected by V8: the chunk compiles as usual and its cache is written anew.
    const victim = readdirSync(cache)[0] as string;
    writeFileSync(join(cache, victim), "not a code cache");
    // Another build's caches (chunk names this dist does not have): a month-old one is removed
    // when caches are next written, a fresh one (another install, maybe in use) is kept; so is a
    // month-old cache of one of this build's chunks (it is current). A temporary file left by a
    // killed writer goes after a day.
    const month = Date.now() / 1000 - 30 * 86_400;
    const planted = { oldForeign: "cli-chunk-GONE1234.cjs.v8", newForeign: "cli-chunk-NEW12345.cjs.v8", oldTmp: `${victim}.999999.tmp` };
    for (const n of Object.values(planted)) writeFileSync(join(cache, n), "x");
    utimesSync(join(cache, planted.oldForeign), month, month);
    utimesSync(join(cache, planted.oldTmp), month, month);
    const current = readdirSync(cache).find((n) => n !== victim && !Object.values(planted).includes(n)) as string;
    utimesSync(join(cache, current), month, month);
    const third = run(args, { MICROVM_COMPILE_CACHE: cache });
    expect(third.stdout).toBe(first.stdout);
    expect(readFileSync(join(cache, victim)).length).toBeGreaterThan(100);
    expect(readdirSync(cache).sort()).toEqual([...chunks.map((c) => `${c}.v8`), planted.newForeign].sort());
    const off = join(dir, "v8-off");
    const none = run(args, { MICROVM_COMPILE_CACHE: "0", XDG_CACHE_HOME: off });
    expect(none.stdout).toBe(first.stdout);
    expect(existsSync(off)).toBe(false);
  });

  describe.skipIf(qemuMissing !== undefined)(`a run on the QEMU engine${qemuMissing ? ` (skipped: ${qemuMissing})` : ""}`, () => {
    it("loads the QEMU engine, and neither koffi nor the KVM engine, its workers or the device backends", () => {
      const l = run(["-M", "microvm,legacy", "-accel", "tcg", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toBe("hi\n");
      expect(l.roles.has("qemu engine")).toBe(true);
      expect(l.files.filter(isKoffi)).toEqual([]);
      expect(l.native).toEqual([]);
      expect(l.files.filter(isKvmPackage)).toEqual([]);
      // a board without virtio devices needs none of the device models (QEMU has its own)
      for (const role of ["kvm engine", "vcpu handler", "io handler", "pty backend", "tap backend", "image backend", "terminal", "virtio device models"]) {
        expect(l.roles.has(role), role).toBe(false);
      }
      expect(l.esm).toEqual([]);
    });

    it("every chunk the run loads is compiled from the compile cache (a chunk holding an import() is not; negative control: --footprint small's own chunk, which holds one)", () => {
      const args = ["-M", "microvm,legacy", "-accel", "tcg", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"];
      const cache = join(dir, "v8-cache-qemu");
      const l = run(args, { MICROVM_COMPILE_CACHE: cache });
      expect(l.code, l.stderr).toBe(0);
      const chunks = l.ours.filter((f) => f.startsWith("cli-"));
      expect(chunks.length).toBeGreaterThan(2);
      expect(readdirSync(cache).sort()).toEqual(chunks.map((c) => `${c}.v8`).sort());
      const small = run([...args, "--footprint", "small"], { MICROVM_COMPILE_CACHE: join(dir, "v8-cache-small") });
      expect(small.code, small.stderr).toBe(0);
      const uncached = small.ours.filter((f) => f.startsWith("cli-") && !readdirSync(join(dir, "v8-cache-small")).includes(`${f}.v8`));
      expect(uncached).toEqual([expect.stringMatching(/^cli-footprint-[A-Z0-9]+\.cjs$/)]);
    });

    it("--footprint small: V8 runs the machine without its optimising compiler (negative control: without the flag, the same probe is optimised)", () => {
      const args = ["-M", "microvm,legacy", "-accel", "tcg", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"];
      const small = run([...args, "--footprint", "small"], { MICROVM_V8_PROBE: "1", MICROVM_LOADED_ESM: "0" }, ["--allow-natives-syntax"]);
      expect(small.code, small.stderr).toBe(0);
      expect(small.stdout).toBe("hi\n");
      expect(small.turbofan).toEqual(["false"]);
      const plain = run(args, { MICROVM_V8_PROBE: "1", MICROVM_LOADED_ESM: "0" }, ["--allow-natives-syntax"]);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.turbofan).toEqual(["true"]);
    });

    it("negative control: a -chardev pty loads the pty backend, the libc bindings and koffi's native library", () => {
      const l = run(["-M", "microvm,legacy", "-accel", "tcg", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio",
        "-chardev", "pty,id=c0", "-device", "virtio-serial-device", "-device", "virtconsole,chardev=c0"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stderr).toMatch(/^char device redirected to \/dev\/pts\/\d+ \(label c0\)$/m);
      for (const role of ["qemu engine", "pty backend"]) expect(l.roles.has(role), role).toBe(true);
      expect(l.files.filter(isKoffi).length).toBeGreaterThan(0);
      expect(l.native.filter(isKoffi).length).toBe(1);
      expect(l.roles.has("kvm engine")).toBe(false);
    });
  });

  describe.skipIf(kvmMissing !== undefined)(`a run on the in-process (KVM) engine${kvmMissing ? ` (skipped: ${kvmMissing})` : ""}`, () => {
    it("negative control: loads koffi, @microvm/kvm with its worker entries, and our handler modules from dist/ by path", () => {
      const l = run(["-M", "microvm,legacy", "--engine", "kvm", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio", "-device", "virtio-rng-device"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toBe("hi\n");
      expect(l.roles.has("kvm engine")).toBe(true);
      expect(l.roles.has("qemu engine")).toBe(false);
      expect(l.native.filter(isKoffi).length).toBe(1);
      expect(l.files.filter((f) => isKvmPackage(f) && /(vcpu|io)-worker\.js$/.test(f)).length).toBe(2);
      // The handler modules are the library build's ES modules, found next to the engine's chunk.
      expect(l.ours).toEqual(expect.arrayContaining(["vcpu-handler.js", "io-handler.js"]));
      // the I/O thread serves the rng with @microvm/virtio-mmio's device models (the package's own build)
      expect(l.files.filter((f) => /[/\\]virtio-mmio[/\\]dist[/\\]/.test(f)).length).toBeGreaterThan(0);
      for (const role of ["pty backend", "tap backend", "image backend", "terminal"]) expect(l.roles.has(role), role).toBe(false);
    }, 600_000);

    it("--vcpu-threads native: the handler modules on this thread, no worker entry, and neither child_process nor crypto loaded", () => {
      const l = run(["-M", "microvm,legacy", "--engine", "kvm", "--vcpu-threads", "native", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio", "-device", "virtio-rng-device"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toBe("hi\n");
      expect(l.ours).toEqual(expect.arrayContaining(["vcpu-handler.js", "io-handler.js"]));
      expect(l.files.filter((f) => isKvmPackage(f) && /(vcpu|io)-worker\.js$/.test(f))).toEqual([]);
      // (worker_threads itself is loaded by the recorder's module hooks, which run on a worker.)
      for (const m of ["child_process", "crypto"]) expect(l.builtins, m).not.toContain(`NativeModule ${m}`);
    }, 600_000);

    it("--footprint small runs the vCPUs on native threads unless --vcpu-threads says otherwise", () => {
      const args = ["-M", "microvm,legacy", "--engine", "kvm", "--footprint", "small", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio", "-device", "virtio-rng-device"];
      const small = run(args, { MICROVM_V8_PROBE: "1" }, ["--allow-natives-syntax"]);
      expect(small.code, small.stderr).toBe(0);
      expect(small.stdout).toBe("hi\n");
      expect(small.turbofan).toEqual(["false"]);
      expect(small.files.filter((f) => isKvmPackage(f) && /(vcpu|io)-worker\.js$/.test(f))).toEqual([]);
      const workers = run([...args, "--vcpu-threads", "worker"]);
      expect(workers.code, workers.stderr).toBe(0);
      expect(workers.files.filter((f) => isKvmPackage(f) && /(vcpu|io)-worker\.js$/.test(f)).length).toBe(2);
    }, 600_000);

    it("a board without virtio devices starts no I/O thread: the vCPU worker only", () => {
      const l = run(["-M", "microvm,legacy", "--engine", "kvm", "-m", "64m", "-kernel", kernel, "-nodefaults", "-no-user-config", "-serial", "stdio"]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toBe("hi\n");
      expect(l.files.filter((f) => isKvmPackage(f) && /vcpu-worker\.js$/.test(f)).length).toBe(1);
      expect(l.files.filter((f) => isKvmPackage(f) && /io-worker\.js$/.test(f))).toEqual([]);
      expect(l.ours).toContain("vcpu-handler.js");
      expect(l.ours).not.toContain("io-handler.js");
    }, 600_000);
  });
});
