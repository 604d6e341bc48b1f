/**
 * The vCPU worker's entry: runs one vCPU for the worker's whole life, calling `KVM_RUN`
 * synchronously on this thread (never through a thread pool), and serves exits with the handler
 * module loaded here. Protocol with the owner: see protocol.ts and vcpu-thread.ts.
 *
 * @internal
 */
import { parentPort } from "node:worker_threads";
import { CMD_STOP, serializeError, type VcpuEndReason, type VcpuWorkerData, type WorkerMessage } from "./protocol.js";
import { sys } from "./sys.js";
import { Vcpu } from "./vcpu.js";
import { VcpuLoop } from "./vcpu-loop.js";

const port = parentPort!;
const s = sys();
const tid = s.gettid();

function post(m: WorkerMessage): void {
  port.postMessage(m);
}

/** Runs one vCPU until its run ends; the worker then waits for the next job (see pool.ts). */
async function runJob(wd: VcpuWorkerData): Promise<void> {
  const vcpu = Vcpu.attach(wd.vcpu);
  const loop = new VcpuLoop(vcpu, new Int32Array(wd.control));
  const end = (): void => loop.ended();
  try {
    await loop.load(wd.handler, wd.ram, wd.data);
  } catch (e) {
    end();
    post({ type: "error", error: serializeError(e) });
    return;
  }
  const fd = wd.vcpu.fd;
  const completePending = (): void => {
    if (!loop.preparePendingCompletion()) return;
    s.run(fd); // -EINTR once the pending operation is complete
    loop.pendingCompleted();
  };
  let reason: VcpuEndReason | undefined;

  loop.started(tid);
  const t0 = process.hrtime.bigint();
  try {
    for (;;) {
      const step = loop.serve(s.run(fd));
      if (step === "end") {
        reason = loop.reason;
        break;
      }
      // A paused worker parks in Atomics.wait (no CPU, and KVM_RUN stays on this thread).
      if (step === "interrupted" && (await loop.command((c, i, v) => Atomics.wait(c, i, v))) === CMD_STOP) {
        reason = "host";
        break;
      }
    }
  } catch (e) {
    try {
      completePending(); // a handler threw during an I/O exit: finish the instruction first
    } catch {
      // the error being reported is the handler's
    }
    end();
    post({ type: "error", error: serializeError(e) });
    return;
  }
  if (reason === "handler") completePending();
  const runTimeNs = Number(process.hrtime.bigint() - t0);
  const result = loop.result(reason as VcpuEndReason);
  end();
  post({ type: "done", ...result, runTimeNs });
}

port.on("message", (m: { type: "job"; data: VcpuWorkerData }) => {
  if (m.type === "job") void runJob(m.data);
});
