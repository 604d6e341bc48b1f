import type { Worker } from "node:worker_threads";
import { KvmError } from "./errors.js";
import type { VcpuExit } from "./exits.js";
import type { RamDescriptor } from "./memory.js";
import type { Regs, Sregs } from "./registers.js";
import {
  CMD,
  CMD_PAUSE,
  CMD_RUN,
  CMD_STOP,
  CONTROL_SLOTS,
  EXITS,
  setState,
  STATE,
  STATE_ENDED,
  STATE_PAUSED,
  STATE_RUNNING,
  STATE_STARTING,
  STARTED,
  TID,
  type SerializedError,
  type VcpuEndReason,
  type VcpuWorkerData,
  type WorkerMessage,
} from "./protocol.js";
import { sys } from "./sys.js";
import type { Vcpu } from "./vcpu.js";
import { acquireWorker, releaseWorker } from "./pool.js";
import { handlerModule, workerEntry } from "./worker-url.js";
import { startNativeVcpu } from "./native-vcpu.js";

export type { VcpuEndReason } from "./protocol.js";

/**
 * Options of {@link Vm.startVcpu}.
 *
 * @example
 * ```ts
 * const opts: VcpuThreadOptions = { handler: new URL("./devices.js", import.meta.url), data: { uart: sab } };
 * const thread = await vm.startVcpu(vcpu, opts);
 * ```
 */
export interface VcpuThreadOptions {
  /**
   * The handler module, loaded on the vCPU's thread: an absolute path or a `file:` URL of a module
   * with a named export `createVcpuHandler` ({@link VcpuHandlerFactory}). `.ts` modules work when
   * running from source (they are bundled with esbuild).
   */
  readonly handler: string | URL;
  /** Data for the handler (structured-cloned; SharedArrayBuffers inside it are shared, not copied). */
  readonly data?: unknown;
  /**
   * Where `KVM_RUN` runs (default `worker`):
   * - `worker`: a Node worker thread for the vCPU, which also serves its exits: no exit leaves
   *   the thread, and the worker costs ~9 MiB of resident memory (its own V8 isolate).
   * - `native`: a native thread of a few dozen bytes of machine code, created without a worker;
   *   the handler module is loaded on *this* thread and serves every exit from its event loop
   *   (`data` is passed as it is, not cloned). A few KiB instead of a worker, for two thread
   *   wake-ups more per exit: for vCPUs that exit rarely, or for many small VMs in one process.
   *   Linux on x86-64 only (it needs one executable page).
   */
  readonly thread?: "worker" | "native";
}

/**
 * How a vCPU thread's run loop ended.
 *
 * @example
 * ```ts
 * const result: VcpuRunResult = await thread.done;
 * console.log(result.reason, result.exits, result.runTimeNs / result.exits, "ns per exit");
 * ```
 */
export interface VcpuRunResult {
  /**
   * Why it ended: `hlt` (HLT exit not continued), `shutdown` (triple fault), `fail-entry`,
   * `internal-error`, `system-event`, `unhandled` (another exit reason), `handler` (the handler
   * called `ctx.stop()`), `host` ({@link VcpuThread.stop}).
   */
  readonly reason: VcpuEndReason;
  /** Exits to userspace served by the thread (kicks not counted). */
  readonly exits: number;
  /** Nanoseconds from the first `KVM_RUN` to the end of the loop, measured on the vCPU thread. */
  readonly runTimeNs: number;
  /** The exit that ended the run, for exit-caused ends. */
  readonly exit?: VcpuExit;
  /** The message given to `ctx.stop()`, for `handler` ends. */
  readonly message?: string;
  /** The general registers at the end, for `shutdown`, `fail-entry`, `internal-error` and `unhandled` ends. */
  readonly regs?: Regs;
  /** The special registers at the end, for the same ends as `regs`. */
  readonly sregs?: Sregs;
}

let kickSignal = 0;
const lastWorker = new WeakMap<Vcpu, Worker>();

/** The signal used to kick vCPU threads out of KVM_RUN: SIGRTMIN + 2, with a native no-op handler. */
function kickSig(): number {
  if (kickSignal === 0) {
    const s = sys();
    const sig = s.sigrtmin() + 2;
    s.installKickHandler(sig);
    kickSignal = sig;
  }
  return kickSignal;
}

/** Refuses the vCPU's ioctls on the owner's thread while its thread runs it (they would block on its mutex). */
function guardWhileRunning(vcpu: Vcpu, ctrl: Int32Array, kind: "worker" | "native"): void {
  vcpu.setGuard(() => {
    const st = Atomics.load(ctrl, STATE);
    return st === STATE_PAUSED || st === STATE_ENDED ? undefined : `is running on its ${kind} thread`;
  });
}

function toKvmError(e: SerializedError, what: string): KvmError {
  const err = new KvmError("thread-failed", `${what}: ${e.name}: ${e.message}`);
  if (e.stack) err.stack = `${err.name}: ${err.message}\n--- on the worker ---\n${e.stack}`;
  return err;
}

/**
 * A vCPU running on its own worker thread for its whole life. The worker calls `KVM_RUN`
 * synchronously and serves exits with the handler module loaded there, so no exit costs a
 * cross-thread round trip.
 *
 * Pause, resume and stop kick the vCPU out of `KVM_RUN` the way Firecracker does: write the
 * command to shared memory, set `kvm_run.immediate_exit`, then `tgkill` the vCPU thread with a
 * real-time signal whose handler is a native no-op (so no JavaScript runs in signal context).
 * `KVM_RUN` returns `EINTR` and the worker reads the command. `worker.terminate()` is never relied
 * on: it cannot interrupt `KVM_RUN`.
 *
 * @example
 * ```ts
 * const t = await vm.startVcpu(vcpu, { handler: "/abs/path/handler.js" });
 * await t.pause();
 * console.log(vcpu.getRegs().rip); // allowed while paused
 * t.resume();
 * const result = await t.stop();
 * ```
 */
export class VcpuThread {
  /** The vCPU. Its methods work on this thread only while the thread is paused or ended. */
  readonly vcpu: Vcpu;
  /** The worker's OS thread id (for `/proc/self/task/<tid>`). */
  readonly tid: number;
  /** Settles when the worker has ended: resolves with the result, or rejects with `thread-failed`. */
  readonly done: Promise<VcpuRunResult>;
  readonly #ctrl: Int32Array;

  private constructor(vcpu: Vcpu, tid: number, ctrl: Int32Array, done: Promise<VcpuRunResult>) {
    this.vcpu = vcpu;
    this.tid = tid;
    this.#ctrl = ctrl;
    this.done = done;
  }

  /**
   * Starts a worker for `vcpu`; prefer {@link Vm.startVcpu}, which also tracks the thread for
   * teardown.
   *
   * @param vcpu - The vCPU (created and configured on this thread).
   * @param ram - The VM's RAM descriptors, viewed in the worker.
   * @param options - Handler module and data.
   * @returns The thread, once its run loop has started.
   * @throws {@link KvmError} `thread-failed` when the worker or handler fails to start.
   * @example
   * ```ts
   * const t = await VcpuThread.start(vcpu, vm.ramDescriptors(), { handler: url });
   * ```
   */
  static async start(vcpu: Vcpu, ram: readonly RamDescriptor[], options: VcpuThreadOptions): Promise<VcpuThread> {
    kickSig(); // installs the process-wide kick handler before any vCPU can need a kick
    if (options.thread !== undefined && options.thread !== "worker" && options.thread !== "native") {
      throw new KvmError("invalid-argument", `thread: expected "worker" or "native", got ${String(options.thread)}`);
    }
    if (options.thread === "native") return VcpuThread.startNative(vcpu, ram, options);
    const [entry, handler] = await Promise.all([workerEntry("vcpu-worker"), handlerModule(options.handler)]);
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const ctrl = new Int32Array(control);
    const wd: VcpuWorkerData = { vcpu: vcpu.descriptor, ram, control, handler, data: options.data };
    guardWhileRunning(vcpu, ctrl, "worker");
    // Prefer the worker that ran this vCPU before (a restarted vCPU then keeps its thread).
    const worker = acquireWorker(entry, "vcpu", lastWorker.get(vcpu));
    lastWorker.set(vcpu, worker);
    let started: (v: void) => void = () => {};
    let failedToStart: (e: unknown) => void = () => {};
    const ready = new Promise<void>((res, rej) => {
      started = res;
      failedToStart = rej;
    });
    const done = new Promise<VcpuRunResult>((resolve, reject) => {
      const finish = (o: { ok: VcpuRunResult } | { err: KvmError }): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        setState(ctrl, STATE_ENDED);
        vcpu.setGuard(undefined);
        if ("ok" in o) {
          releaseWorker(worker);
          resolve(o.ok);
        } else reject(o.err);
      };
      const onMessage = (m: WorkerMessage): void => {
        if (m.type === "done") {
          const { type: _t, ...result } = m;
          finish({ ok: result });
        } else {
          releaseWorker(worker);
          finish({ err: toKvmError(m.error, `vCPU ${vcpu.id} thread`) });
        }
      };
      const onError = (e: unknown): void => {
        finish({ err: new KvmError("thread-failed", `vCPU ${vcpu.id} thread: ${e instanceof Error ? e.message : String(e)}`, { cause: e }) });
      };
      const onExit = (code: number): void => {
        finish({ err: new KvmError("thread-failed", `vCPU ${vcpu.id} thread exited with code ${code} and no result`) });
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
    worker.postMessage({ type: "job", data: wd });
    // Mark the rejection handled here; callers see it through `done` / `start`.
    done.catch(() => {});
    void (async () => {
      for (;;) {
        const st = Atomics.load(ctrl, STATE);
        if (st !== STATE_STARTING) break;
        const w = Atomics.waitAsync(ctrl, STATE, STATE_STARTING);
        if (w.async) await w.value;
      }
      // A guest may run and end before this notices RUNNING: the start succeeded if the run loop
      // began (its outcome, even an error, is `done`'s), and failed if the handler module did not load.
      if (Atomics.load(ctrl, STATE) !== STATE_ENDED || Atomics.load(ctrl, STARTED) === 1) started();
      else done.then(() => started(), failedToStart);
    })();
    await ready;
    return new VcpuThread(vcpu, Atomics.load(ctrl, TID), ctrl, done);
  }

  /** The `native` kind of {@link VcpuThread.start}. */
  private static async startNative(vcpu: Vcpu, ram: readonly RamDescriptor[], options: VcpuThreadOptions): Promise<VcpuThread> {
    const ctrl = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
    const url = await handlerModule(options.handler);
    guardWhileRunning(vcpu, ctrl, "native");
    let started;
    try {
      started = await startNativeVcpu(vcpu, ram, url, options.data, ctrl);
    } catch (e) {
      vcpu.setGuard(undefined);
      throw e;
    }
    const done = started.done.finally(() => vcpu.setGuard(undefined));
    done.catch(() => {});
    return new VcpuThread(vcpu, started.tid, ctrl, done);
  }

  /**
   * `running`, `paused` or `ended`.
   *
   * @example
   * ```ts
   * if (t.state === "paused") t.resume();
   * ```
   */
  get state(): "starting" | "running" | "paused" | "ended" {
    const st = Atomics.load(this.#ctrl, STATE);
    return st === STATE_RUNNING ? "running" : st === STATE_PAUSED ? "paused" : st === STATE_ENDED ? "ended" : "starting";
  }

  /**
   * Exits to userspace served so far (updated by the vCPU thread at each exit).
   *
   * @example
   * ```ts
   * console.log(t.exitCount);
   * ```
   */
  get exitCount(): number {
    return Atomics.load(this.#ctrl, EXITS) >>> 0;
  }

  #kick(): void {
    this.vcpu.immediateExit = true;
    const s = sys();
    s.tgkill(s.getpid(), this.tid, kickSig());
  }

  async #waitState(pred: (st: number) => boolean): Promise<void> {
    for (;;) {
      const st = Atomics.load(this.#ctrl, STATE);
      if (pred(st)) return;
      const w = Atomics.waitAsync(this.#ctrl, STATE, st);
      if (w.async) await w.value;
    }
  }

  /**
   * Pauses the vCPU: kicks it out of `KVM_RUN` and parks its thread (in `Atomics.wait`, using no
   * CPU). Guest state stays in the kernel untouched; while paused the {@link VcpuThread.vcpu}
   * methods work from this thread.
   *
   * @returns Resolves once the vCPU is parked (or the thread has ended).
   * @example
   * ```ts
   * await t.pause();
   * const regs = t.vcpu.getRegs();
   * t.resume();
   * ```
   */
  async pause(): Promise<void> {
    if (Atomics.load(this.#ctrl, STATE) === STATE_ENDED) return;
    Atomics.store(this.#ctrl, CMD, CMD_PAUSE);
    this.#kick();
    // Also settles if resume() or stop() replaced the command before the vCPU parked.
    await this.#waitState((st) => st === STATE_PAUSED || st === STATE_ENDED || Atomics.load(this.#ctrl, CMD) !== CMD_PAUSE);
  }

  /**
   * Resumes a paused vCPU. Does nothing if it is not paused.
   *
   * @example
   * ```ts
   * t.resume();
   * ```
   */
  resume(): void {
    if (Atomics.load(this.#ctrl, CMD) !== CMD_PAUSE) return;
    Atomics.store(this.#ctrl, CMD, CMD_RUN);
    Atomics.notify(this.#ctrl, CMD);
    Atomics.notify(this.#ctrl, STATE); // wakes a pause() still waiting for the vCPU to park
  }

  /**
   * Stops the vCPU for good: kicks it out of `KVM_RUN` (or wakes it if paused), lets the worker
   * return, and waits for the worker to exit. The vCPU itself stays open (the VM closes it).
   *
   * @returns The run result (reason `host`, unless the run had already ended otherwise).
   * @throws {@link KvmError} `thread-failed` if the thread had failed.
   * @example
   * ```ts
   * const { reason } = await t.stop(); // "host"
   * ```
   */
  stop(): Promise<VcpuRunResult> {
    if (Atomics.load(this.#ctrl, STATE) !== STATE_ENDED) {
      Atomics.store(this.#ctrl, CMD, CMD_STOP);
      Atomics.notify(this.#ctrl, CMD);
      Atomics.notify(this.#ctrl, STATE);
      if (Atomics.load(this.#ctrl, STATE) !== STATE_ENDED) this.#kick();
    }
    return this.done;
  }
}
