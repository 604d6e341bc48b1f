import { KvmError } from "./errors.js";
import { EventFd } from "./eventfd.js";
import type { RamDescriptor } from "./memory.js";
import { CONTROL_SLOTS, setState, STATE, STATE_ENDED, STATE_RUNNING, STATE_STARTING, TID, type IoCommand, type IoWorkerData, type SerializedError } from "./protocol.js";
import { acquireWorker, releaseWorker, workerThreads } from "./pool.js";
import { handlerModule, workerEntry } from "./worker-url.js";
import { startInlineIo } from "./io-inline.js";

/**
 * Options of {@link Vm.startIoThread}.
 *
 * @example
 * ```ts
 * const opts: IoThreadOptions = { handler: "/abs/path/virtio.js", data: { kick: kick.fd } };
 * const io = await vm.startIoThread(opts);
 * ```
 */
export interface IoThreadOptions {
  /**
   * The device module, loaded on the I/O thread: an absolute path or `file:` URL of a module with
   * a named export `createIoHandler` ({@link IoHandlerFactory}).
   */
  readonly handler: string | URL;
  /** Data for the module (structured-cloned; SharedArrayBuffers are shared). Pass fds as numbers. */
  readonly data?: unknown;
  /**
   * Where the module runs (default `worker`): a worker sleeping in `epoll_wait`, or `inline`, on
   * this thread, its fds watched by this thread's event loop (no worker, ~10 MiB less; `data` is
   * passed as it is). With vCPUs on native threads (their exits served here too), an inline
   * module answers their {@link DeviceMailbox} calls directly.
   */
  readonly thread?: "worker" | "inline";
}

/**
 * The I/O thread: a worker that sleeps in `epoll_wait` on eventfds (ioeventfds, a tap, stdin) and
 * runs device code from its handler module when one becomes readable. It has no timers and does
 * not poll, so it uses no CPU while nothing happens. Interrupts go back to the guest through irqfd
 * eventfds, written from this thread.
 *
 * @example
 * ```ts
 * const kick = vm.ioeventfd({ space: "pio", address: 0x80, length: 1 });
 * const io = await vm.startIoThread({ handler: "/abs/devices.js", data: { kick: kick.fd } });
 * io.send({ hello: 1 }); // delivered to the module's onMessage on the I/O thread
 * await io.stop();
 * ```
 */
export class IoThread {
  /** The worker's OS thread id (for `/proc/self/task/<tid>/stat`). */
  readonly tid: number;
  /** Settles when the worker has exited; rejects with `thread-failed` if the module threw. */
  readonly done: Promise<void>;
  /** Delivers a message or the stop to the module, on its thread. */
  readonly #deliver: (m: IoCommand) => void;
  readonly #ctrl: Int32Array;

  private constructor(tid: number, deliver: (m: IoCommand) => void, ctrl: Int32Array, done: Promise<void>) {
    this.tid = tid;
    this.#deliver = deliver;
    this.#ctrl = ctrl;
    this.done = done;
  }

  /**
   * Starts an I/O worker; prefer {@link Vm.startIoThread}, which also stops it at teardown.
   *
   * @param ram - RAM descriptors to view in the worker.
   * @param options - Module and data.
   * @returns The thread once its module is loaded and it waits in epoll.
   * @throws {@link KvmError} `thread-failed` if the worker or module fails to start.
   * @example
   * ```ts
   * const io = await IoThread.start(vm.ramDescriptors(), { handler: url });
   * ```
   */
  static async start(ram: readonly RamDescriptor[], options: IoThreadOptions): Promise<IoThread> {
    if (options.thread !== undefined && options.thread !== "worker" && options.thread !== "inline") {
      throw new KvmError("invalid-argument", `thread: expected "worker" or "inline", got ${String(options.thread)}`);
    }
    if (options.thread === "inline") {
      const ctrl = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
      const io = await startInlineIo(ram, await handlerModule(options.handler), options.data, ctrl);
      return new IoThread(io.tid, io.deliver, ctrl, io.done);
    }
    const [entry, handler] = await Promise.all([workerEntry("io-worker"), handlerModule(options.handler)]);
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const ctrl = new Int32Array(control);
    const wake = EventFd.create();
    const { port1, port2 } = new (workerThreads().MessageChannel)();
    const wd: IoWorkerData = { ram, control, wakeFd: wake.fd, handler, data: options.data, port: port2 };
    const worker = acquireWorker(entry, "io");
    const done = new Promise<void>((resolve, reject) => {
      const finish = (err: KvmError | undefined, reusable: boolean): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        setState(ctrl, STATE_ENDED);
        port1.close();
        wake.close();
        if (reusable) releaseWorker(worker);
        if (err) reject(err);
        else resolve();
      };
      const onMessage = (m: { type: "done" } | { type: "error"; error: SerializedError }): void => {
        finish(m.type === "error" ? new KvmError("thread-failed", `I/O thread: ${m.error.name}: ${m.error.message}`) : undefined, true);
      };
      const onError = (e: unknown): void => {
        finish(new KvmError("thread-failed", `I/O thread: ${e instanceof Error ? e.message : String(e)}`, { cause: e }), false);
      };
      const onExit = (code: number): void => {
        finish(new KvmError("thread-failed", `I/O thread exited with code ${code}`), false);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
    worker.postMessage({ type: "job", data: wd }, [port2]);
    done.catch(() => {});
    for (;;) {
      const st = Atomics.load(ctrl, STATE);
      if (st !== STATE_STARTING) break;
      const w = Atomics.waitAsync(ctrl, STATE, STATE_STARTING);
      if (w.async) await w.value;
    }
    if (Atomics.load(ctrl, STATE) !== STATE_RUNNING) {
      await done;
      throw new KvmError("thread-failed", "I/O thread ended before it started");
    }
    const deliver = (m: IoCommand): void => {
      port1.postMessage(m);
      wake.signal();
    };
    return new IoThread(Atomics.load(ctrl, TID), deliver, ctrl, done);
  }

  /**
   * Sends a message to the module's `onMessage`, on the I/O thread (wakes `epoll_wait` through the
   * wake-up eventfd).
   *
   * @param message - Any structured-cloneable value.
   * @throws {@link KvmError} `closed` once the thread has ended.
   * @example
   * ```ts
   * io.send({ watch: tapFd });
   * ```
   */
  send(message: unknown): void {
    if (Atomics.load(this.#ctrl, STATE) === STATE_ENDED) throw new KvmError("closed", "send: the I/O thread has ended");
    this.#deliver({ type: "message", data: message });
  }

  /**
   * Stops the thread (after its current callback) and waits for the worker to exit.
   *
   * @returns Resolves when the worker has exited.
   * @throws {@link KvmError} `thread-failed` if the module had thrown.
   * @example
   * ```ts
   * await io.stop();
   * ```
   */
  stop(): Promise<void> {
    if (Atomics.load(this.#ctrl, STATE) !== STATE_ENDED) this.#deliver({ type: "stop" });
    return this.done;
  }
}
