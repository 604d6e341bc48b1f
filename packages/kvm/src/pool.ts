/**
 * Reusable worker threads.
 *
 * Each worker that loads koffi keeps about 3.3 MiB of mappings (its call stack and heap) that are
 * never released when the worker exits (koffi 3 never frees its per-isolate InstanceData), and
 * Node keeps a little more. Creating and ending a worker per VM therefore grows the process's
 * mappings without bound. Instead, a worker whose job ended waits, unreferenced, for the next job
 * of the same kind. This keeps KVM's rule: a vCPU is run by one thread for its whole life; a thread
 * may run several vCPUs one after the other (the first `KVM_RUN` of a new vCPU claims it at no
 * cost, see virt/kvm/kvm_main.c `kvm_vcpu_ioctl`). The pool never holds more workers than the
 * peak number of jobs that ran at once.
 *
 * @internal
 */
import { createRequire } from "node:module";
import type { Worker } from "node:worker_threads";

let threads: typeof import("node:worker_threads") | undefined;
/**
 * `node:worker_threads`, loaded on first use: a process whose vCPUs and devices run without
 * workers (native vCPU threads, an inline I/O module) never loads it (about 0.7 MiB).
 *
 * @internal
 */
export function workerThreads(): typeof import("node:worker_threads") {
  // A built-in resolves the same from any path ("/"): no import.meta.url, whose CommonJS shim makes
  // and parses a file URL.
  threads ??= createRequire("/")("node:worker_threads") as typeof import("node:worker_threads");
  return threads;
}

interface Pooled {
  readonly worker: Worker;
  busy: boolean;
  dead: boolean;
}

const pools = new Map<string, Pooled[]>();

/**
 * The old-generation limit of each pooled worker's JavaScript heap, in MiB. A vCPU or I/O worker
 * holds exit handlers and device models; guest RAM, rings and disk buffers are ArrayBuffers
 * outside this heap. Without a limit a worker's heap is sized as the main thread's (from the host's
 * memory), and V8 lets a heap grow by a larger factor after each collection the larger its maximum
 * is, from the smallest factor at a 256 MiB maximum to the largest at 2 GiB on 64-bit hosts (V8
 * src/heap/heap-controller.h, `BaseControllerTrait` kMinSize/kMaxSize): measured on a 2-core nested-KVM host
 * (2026-12-07), a run of the test guest with two vCPU workers and the I/O worker peaked at 87.7 MiB
 * without it and 80.3 MiB with 256 (128: 80.4, 512: 85.1), with the same blk throughput.
 *
 * @internal
 */
export const WORKER_HEAP_MIB = 256;

/** Takes an idle worker for `entry`, or starts one. The caller posts its job and calls {@link releaseWorker} after. */
export function acquireWorker(entry: string, name: string, preferred?: Worker): Worker {
  let pool = pools.get(entry);
  if (!pool) {
    pool = [];
    pools.set(entry, pool);
  }
  const idle = pool.find((p) => !p.busy && !p.dead && p.worker === preferred) ?? pool.find((p) => !p.busy && !p.dead);
  if (idle) {
    idle.busy = true;
    idle.worker.ref();
    return idle.worker;
  }
  const worker = new (workerThreads().Worker)(new URL(entry), { name, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MIB } });
  const p: Pooled = { worker, busy: true, dead: false };
  pool.push(p);
  worker.on("exit", () => {
    p.dead = true;
    const list = pools.get(entry);
    if (list) list.splice(list.indexOf(p), 1);
  });
  // An idle worker must not keep the process alive; errors are reported through each job.
  worker.on("error", () => {});
  return worker;
}

/** Returns a worker whose job has ended to the pool. */
export function releaseWorker(worker: Worker): void {
  for (const pool of pools.values()) {
    const p = pool.find((x) => x.worker === worker);
    if (p) {
      p.busy = false;
      worker.unref();
      return;
    }
  }
}

/**
 * Ends every idle pooled worker (they are not in `KVM_RUN`, so `terminate()` works). Mostly for
 * tools that want the process's thread list clean; each ended worker leaves its koffi memory behind.
 *
 * @returns Resolves when they have exited.
 * @example
 * ```ts
 * await releaseIdleWorkers();
 * ```
 */
export async function releaseIdleWorkers(): Promise<void> {
  const idle = [...pools.values()].flat().filter((p) => !p.busy && !p.dead);
  for (const p of idle) p.dead = true;
  await Promise.all(idle.map((p) => p.worker.terminate()));
}
